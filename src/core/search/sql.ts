/**
 * Turns parsed search filters and order_by terms into parameterized SQLite queries over the schema of
 * migrations.ts. Every value and every user-supplied identifier (metric, param and tag keys) is a bound
 * parameter; only fixed column names and the closed set of comparators appear in the SQL text.
 *
 * Each builder returns a complete SELECT of the matching ids in MLflow's order; the caller appends
 * `LIMIT ? OFFSET ?`.
 */
import { invalidParameter } from '../errors';
import {
  parseExperimentFilter,
  parseModelVersionFilter,
  parseOrderBy,
  parseRegisteredModelFilter,
  parseRunFilter,
  type Clause,
  type OrderByTerm,
  type SearchEntity,
} from './filter';

export interface SqlQuery {
  sql: string;
  params: unknown[];
}

export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

/** Collects the pieces of one SELECT; join parameters precede WHERE parameters, as in the SQL text. */
class SelectBuilder {
  private readonly joins: string[] = [];
  private readonly joinParams: unknown[] = [];
  private readonly conditions: string[] = [];
  private readonly whereParams: unknown[] = [];
  private readonly orderTerms: string[] = [];
  private aliasCount = 0;

  constructor(private readonly select: string) {}

  /** A fresh table alias, so that several joins or subqueries on one table never collide. */
  alias(prefix: string): string {
    return `${prefix}${++this.aliasCount}`;
  }

  join(sql: string, ...params: unknown[]): void {
    this.joins.push(sql);
    this.joinParams.push(...params);
  }

  where(sql: string, ...params: unknown[]): void {
    this.conditions.push(sql);
    this.whereParams.push(...params);
  }

  orderBy(...terms: string[]): void {
    this.orderTerms.push(...terms);
  }

  build(): SqlQuery {
    const parts = [this.select, ...this.joins];
    if (this.conditions.length > 0) parts.push(`WHERE ${this.conditions.join('\n  AND ')}`);
    if (this.orderTerms.length > 0) parts.push(`ORDER BY ${this.orderTerms.join(', ')}`);
    return { sql: parts.join('\n'), params: [...this.joinParams, ...this.whereParams] };
  }
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/**
 * MLflow's LIKE is case-sensitive (its SQLite engine sets `PRAGMA case_sensitive_like`), with `%` and
 * `_` as the only wildcards and no escape character. That pragma is per connection and would change
 * every other LIKE of the process, so instead LIKE becomes GLOB, which is always case-sensitive:
 * `%` → `*`, `_` → `?`, and GLOB's own metacharacters are matched literally through `[x]` classes.
 * (A GLOB with a literal prefix can still use an index, as LIKE could.)
 */
export function likeToGlob(pattern: string): string {
  let glob = '';
  for (const c of pattern) {
    if (c === '%') glob += '*';
    else if (c === '_') glob += '?';
    else if (c === '*' || c === '?' || c === '[') glob += `[${c}]`;
    else glob += c;
  }
  return glob;
}

/** `<column> <comparator> <value>` for one clause. Comparators come from the parser's closed set. */
function comparison(column: string, clause: Clause): SqlQuery {
  const { comparator, value } = clause;
  switch (comparator) {
    case 'LIKE':
      return { sql: `${column} GLOB ?`, params: [likeToGlob(String(value))] };
    case 'ILIKE':
      // lower() on both sides rather than relying on LIKE's default case folding, which the
      // connection-wide case_sensitive_like pragma would silently turn off.
      return { sql: `lower(${column}) LIKE lower(?)`, params: [value] };
    case 'IN':
    case 'NOT IN': {
      const list = value as string[];
      return { sql: `${column} ${comparator} (${list.map(() => '?').join(', ')})`, params: [...list] };
    }
    default:
      return { sql: `${column} ${comparator} ?`, params: [value] };
  }
}

function lifecycleStages(viewType: ViewType): string[] | undefined {
  if (viewType === 'ACTIVE_ONLY') return ['active'];
  if (viewType === 'DELETED_ONLY') return ['deleted'];
  return undefined;
}

function direction(term: OrderByTerm): 'ASC' | 'DESC' {
  return term.ascending ? 'ASC' : 'DESC';
}

/** MLflow rejects an order_by list that names the same field twice (for runs and the registry). */
function parseOrderByList(orderBy: readonly string[], entity: SearchEntity): OrderByTerm[] {
  const seen = new Set<string>();
  return orderBy.map((clause) => {
    const term = parseOrderBy(clause, entity);
    // Keys are canonical, so aliases of one field (timestamp, last_updated_timestamp) collide too.
    const id = `${term.type}:${term.key}`;
    if (seen.has(id)) {
      throw invalidParameter(
        `\`order_by\` contains duplicate fields: [${orderBy.map((o) => `'${o}'`).join(', ')}]`,
      );
    }
    seen.add(id);
    return term;
  });
}

// ---------------------------------------------------------------------------------------------
// Runs

const RUN_COLUMNS: Readonly<Record<string, string>> = {
  run_id: 'r.run_uuid',
  run_name: 'r.name',
  status: 'r.status',
  user_id: 'r.user_id',
  artifact_uri: 'r.artifact_uri',
  start_time: 'r.start_time',
  end_time: 'r.end_time',
};
/** Run columns that may be NULL; MLflow sorts NULLs last in both directions. */
const NULLABLE_RUN_COLUMNS = new Set(['r.end_time']);

/** Stored with the dataset input; MLflow's `datasets.context` compares this input tag. */
const DATASET_CONTEXT_TAG = 'mlflow.data.context';

export interface RunSearch {
  experimentIds: readonly string[];
  viewType: ViewType;
  filter?: string;
  orderBy?: readonly string[];
}

/**
 * `SELECT r.run_uuid FROM runs r ...` for MLflow's runs/search. Default order: start_time DESC, then
 * run_uuid ASC, which MLflow also appends as tie-breakers after any order_by.
 */
export function runSearchSql(search: RunSearch): SqlQuery {
  const clauses = parseRunFilter(search.filter);
  const terms = parseOrderByList(search.orderBy ?? [], 'run');
  const q = new SelectBuilder('SELECT r.run_uuid FROM runs r');

  // Ordering joins come first in the SQL text; each is a LEFT JOIN on the unique (run_uuid, key).
  for (const term of terms) q.orderBy(...runOrderTerms(q, term));
  if (!terms.some((t) => t.type === 'attribute' && t.key === 'start_time')) q.orderBy('r.start_time DESC');
  q.orderBy('r.run_uuid ASC');

  // A single experiment is an equality so that runs(experiment_id, start_time DESC) also gives the order.
  const ids = search.experimentIds.map(experimentIdParam);
  if (ids.length === 0) q.where('0');
  else if (ids.length === 1) q.where('r.experiment_id = ?', ids[0]);
  else q.where(`r.experiment_id IN (${ids.map(() => '?').join(', ')})`, ...ids);
  const stages = lifecycleStages(search.viewType);
  if (stages) q.where('r.lifecycle_stage = ?', stages[0]);

  for (const clause of clauses) {
    const { sql, params } = runCondition(q, clause);
    q.where(sql, ...params);
  }
  return q.build();
}

/** Experiment ids are strings in MLflow's API and INTEGER here; a non-numeric id simply matches nothing. */
const experimentIdParam = (id: string): number | string => (/^\d+$/.test(id) ? Number(id) : id);

function runCondition(q: SelectBuilder, clause: Clause): SqlQuery {
  switch (clause.type) {
    case 'attribute':
      return comparison(RUN_COLUMNS[clause.key]!, clause);
    case 'metric': {
      const m = q.alias('m');
      // latest_value NULL is NaN: like IEEE NaN it satisfies only `!=`.
      const test =
        clause.comparator === '!='
          ? { sql: `(${m}.latest_value IS NULL OR ${m}.latest_value != ?)`, params: [clause.value] }
          : comparison(`${m}.latest_value`, clause);
      return {
        sql: `EXISTS (SELECT 1 FROM metric_series ${m} WHERE ${m}.run_uuid = r.run_uuid AND ${m}.key = ? AND ${test.sql})`,
        params: [clause.key, ...test.params],
      };
    }
    case 'parameter':
    case 'tag': {
      // Like MLflow, a run without the key matches no comparison, `!=` included.
      const table = clause.type === 'parameter' ? 'params' : 'tags';
      const p = q.alias(clause.type === 'parameter' ? 'p' : 't');
      const test = comparison(`${p}.value`, clause);
      return {
        sql: `EXISTS (SELECT 1 FROM ${table} ${p} WHERE ${p}.run_uuid = r.run_uuid AND ${p}.key = ? AND ${test.sql})`,
        params: [clause.key, ...test.params],
      };
    }
    case 'dataset': {
      const i = q.alias('i');
      if (clause.key === 'context') {
        const t = q.alias('c');
        const test = comparison(`json_extract(${t}.value, '$.value')`, clause);
        return {
          sql:
            `EXISTS (SELECT 1 FROM run_inputs ${i}, json_each(${i}.tags) ${t} WHERE ${i}.run_uuid = r.run_uuid ` +
            `AND json_extract(${t}.value, '$.key') = ? AND ${test.sql})`,
          params: [DATASET_CONTEXT_TAG, ...test.params],
        };
      }
      const d = q.alias('d');
      const column = clause.key === 'name' ? `${d}.name` : `${d}.digest`;
      const test = comparison(column, clause);
      return {
        sql:
          `EXISTS (SELECT 1 FROM run_inputs ${i} JOIN datasets ${d} ON ${d}.dataset_id = ${i}.dataset_id ` +
          `WHERE ${i}.run_uuid = r.run_uuid AND ${test.sql})`,
        params: test.params,
      };
    }
  }
}

/**
 * ORDER BY terms for one order_by entry. As in MLflow, runs without the metric/param/tag sort last in
 * both directions, and for metrics a NaN latest value sorts after every number but before missing.
 */
function runOrderTerms(q: SelectBuilder, term: OrderByTerm): string[] {
  const dir = direction(term);
  if (term.type === 'attribute') {
    const column = RUN_COLUMNS[term.key]!;
    return NULLABLE_RUN_COLUMNS.has(column) ? [`${column} IS NULL`, `${column} ${dir}`] : [`${column} ${dir}`];
  }
  if (term.type === 'metric') {
    const o = q.alias('o');
    q.join(`LEFT JOIN metric_series ${o} ON ${o}.run_uuid = r.run_uuid AND ${o}.key = ?`, term.key);
    return [`${o}.series_id IS NULL`, `${o}.latest_value IS NULL`, `${o}.latest_value ${dir}`];
  }
  const o = q.alias('o');
  const table = term.type === 'parameter' ? 'params' : 'tags';
  q.join(`LEFT JOIN ${table} ${o} ON ${o}.run_uuid = r.run_uuid AND ${o}.key = ?`, term.key);
  return [`${o}.value IS NULL`, `${o}.value ${dir}`];
}

// ---------------------------------------------------------------------------------------------
// Experiments

const EXPERIMENT_COLUMNS: Readonly<Record<string, string>> = {
  name: 'e.name',
  experiment_id: 'e.experiment_id',
  creation_time: 'e.creation_time',
  last_update_time: 'e.last_update_time',
};

export interface ExperimentSearch {
  viewType: ViewType;
  filter?: string;
  orderBy?: readonly string[];
}

/**
 * `SELECT e.experiment_id FROM experiments e ...`. Default order (MLflow's SQL store): creation_time
 * DESC, experiment_id ASC; after an explicit order_by, experiment_id DESC breaks ties.
 */
export function experimentSearchSql(search: ExperimentSearch): SqlQuery {
  const clauses = parseExperimentFilter(search.filter);
  const userOrder = search.orderBy ?? [];
  const terms = (userOrder.length > 0 ? userOrder : ['creation_time DESC', 'experiment_id ASC']).map((o) =>
    parseOrderBy(o, 'experiment'),
  );
  const q = new SelectBuilder('SELECT e.experiment_id FROM experiments e');

  const stages = lifecycleStages(search.viewType);
  if (stages) q.where('e.lifecycle_stage = ?', stages[0]);
  for (const clause of clauses) {
    if (clause.type === 'attribute') {
      const { sql, params } = comparison(EXPERIMENT_COLUMNS[clause.key]!, clause);
      q.where(sql, ...params);
    } else {
      const t = q.alias('t');
      const test = comparison(`${t}.value`, clause);
      q.where(
        `EXISTS (SELECT 1 FROM experiment_tags ${t} WHERE ${t}.experiment_id = e.experiment_id AND ${t}.key = ? AND ${test.sql})`,
        clause.key,
        ...test.params,
      );
    }
  }

  for (const term of terms) q.orderBy(`${EXPERIMENT_COLUMNS[term.key]!} ${direction(term)}`);
  if (!terms.some((t) => t.key === 'experiment_id')) q.orderBy('e.experiment_id DESC');
  return q.build();
}

// ---------------------------------------------------------------------------------------------
// Model registry

const REGISTERED_MODEL_COLUMNS: Readonly<Record<string, string>> = {
  name: 'm.name',
  last_updated_timestamp: 'm.last_updated_timestamp',
  creation_timestamp: 'm.creation_timestamp',
};

export interface RegistrySearch {
  filter?: string;
  orderBy?: readonly string[];
}

/** `SELECT m.name FROM registered_models m ...`, ordered by name ASC unless order_by says otherwise. */
export function registeredModelSearchSql(search: RegistrySearch): SqlQuery {
  const clauses = parseRegisteredModelFilter(search.filter);
  const terms = parseOrderByList(search.orderBy ?? [], 'registered_model');
  const q = new SelectBuilder('SELECT m.name FROM registered_models m');

  for (const clause of clauses) {
    if (clause.type === 'attribute') {
      const { sql, params } = comparison(REGISTERED_MODEL_COLUMNS[clause.key]!, clause);
      q.where(sql, ...params);
    } else {
      const t = q.alias('t');
      const test = comparison(`${t}.value`, clause);
      q.where(
        `EXISTS (SELECT 1 FROM registered_model_tags ${t} WHERE ${t}.name = m.name AND ${t}.key = ? AND ${test.sql})`,
        clause.key,
        ...test.params,
      );
    }
  }

  for (const term of terms) q.orderBy(`${REGISTERED_MODEL_COLUMNS[term.key]!} ${direction(term)}`);
  if (!terms.some((t) => t.key === 'name')) q.orderBy('m.name ASC');
  return q.build();
}

const MODEL_VERSION_COLUMNS: Readonly<Record<string, string>> = {
  name: 'v.name',
  run_id: 'v.run_id',
  source_path: 'v.source',
  version_number: 'v.version',
  creation_timestamp: 'v.creation_timestamp',
  last_updated_timestamp: 'v.last_updated_timestamp',
};

/** MLflow soft-deletes model versions into this stage; searches never return them. */
const DELETED_VERSION_STAGE = 'Deleted_Internal';

/**
 * `SELECT v.name, v.version FROM model_versions v ...`. Default order (MLflow's SQL store):
 * last_updated_timestamp DESC, name ASC, version DESC; name ASC and version DESC break ties.
 */
export function modelVersionSearchSql(search: RegistrySearch): SqlQuery {
  const clauses = parseModelVersionFilter(search.filter);
  const userOrder = search.orderBy ?? [];
  const terms = parseOrderByList(
    userOrder.length > 0 ? userOrder : ['last_updated_timestamp DESC', 'name ASC', 'version_number DESC'],
    'model_version',
  );
  const q = new SelectBuilder('SELECT v.name, v.version FROM model_versions v');

  q.where('v.current_stage != ?', DELETED_VERSION_STAGE);
  for (const clause of clauses) {
    if (clause.type === 'attribute') {
      const { sql, params } = comparison(MODEL_VERSION_COLUMNS[clause.key]!, clause);
      q.where(sql, ...params);
    } else {
      const t = q.alias('t');
      const test = comparison(`${t}.value`, clause);
      q.where(
        `EXISTS (SELECT 1 FROM model_version_tags ${t} WHERE ${t}.name = v.name AND ${t}.version = v.version ` +
          `AND ${t}.key = ? AND ${test.sql})`,
        clause.key,
        ...test.params,
      );
    }
  }

  for (const term of terms) q.orderBy(`${MODEL_VERSION_COLUMNS[term.key]!} ${direction(term)}`);
  if (!terms.some((t) => t.key === 'name')) q.orderBy('v.name ASC');
  if (!terms.some((t) => t.key === 'version_number')) q.orderBy('v.version DESC');
  return q.build();
}
