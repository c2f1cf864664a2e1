import { inWriteTransaction, type Db } from './db';
import type { ChangeFeed } from './events';
import type { Experiment, KeyValue, Page, ViewType } from './entities';
import { alreadyExists, invalidParameter, invalidState, notFound } from './errors';
import { validateExperimentName, validateKey, validateValueLength } from './validation';
import { experimentSearchSql } from './search/sql';
import { decodePageToken, encodePageToken } from './search/page-token';

interface ExperimentRow {
  experiment_id: number;
  name: string;
  artifact_location: string;
  lifecycle_stage: 'active' | 'deleted';
  creation_time: number;
  last_update_time: number;
}

export const DEFAULT_EXPERIMENT_ID = '0';

export class ExperimentStore {
  constructor(
    private readonly db: Db,
    private readonly changes: ChangeFeed,
  ) {
    // MLflow clients log into experiment 0 when none is named.
    const now = Date.now();
    db.prepare(
      `INSERT OR IGNORE INTO experiments (experiment_id, name, artifact_location, creation_time, last_update_time)
       VALUES (0, 'Default', 'mlflow-artifacts:/0', ?, ?)`,
    ).run(now, now);
  }

  create(name: unknown, artifactLocation?: string, tags: KeyValue[] = []): string {
    validateExperimentName(name);
    if (artifactLocation?.startsWith('runs:')) throw invalidParameter(`Artifact location cannot be a runs:/ URI. Given: '${artifactLocation}'`);
    for (const t of tags) {
      validateKey('tag', t.key);
      validateValueLength('tag', t.key, t.value);
    }
    const id = inWriteTransaction(this.db, () => {
      const existing = this.db.prepare('SELECT lifecycle_stage FROM experiments WHERE name = ?').get(name) as
        | { lifecycle_stage: string }
        | undefined;
      if (existing) {
        throw alreadyExists(
          existing.lifecycle_stage === 'deleted'
            ? `Experiment '${name}' already exists in deleted state. Restore it, or permanently delete it first.`
            : `Experiment(name=${name}) already exists.`,
        );
      }
      const now = Date.now();
      const newId = Number(
        this.db
          .prepare(
            `INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES (?, '', ?, ?)`,
          )
          .run(name, now, now).lastInsertRowid,
      );
      const location = artifactLocation || `mlflow-artifacts:/${newId}`;
      this.db.prepare('UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?').run(location, newId);
      const insertTag = this.db.prepare('INSERT OR REPLACE INTO experiment_tags VALUES (?, ?, ?)');
      for (const t of tags) insertTag.run(newId, t.key, t.value);
      return String(newId);
    });
    this.changes.emit({ type: 'experiment.created', experiment_id: id });
    return id;
  }

  get(experimentId: unknown): Experiment {
    const id = parseExperimentId(experimentId);
    const row = this.db.prepare('SELECT * FROM experiments WHERE experiment_id = ?').get(id) as ExperimentRow | undefined;
    if (!row) throw notFound(`No Experiment with id=${String(experimentId)} exists`);
    return this.hydrate([row])[0]!;
  }

  getByName(name: unknown): Experiment {
    if (typeof name !== 'string' || name === '') {
      throw invalidParameter(`Missing value for required parameter 'experiment_name'.`);
    }
    const row = this.db.prepare('SELECT * FROM experiments WHERE name = ?').get(name) as ExperimentRow | undefined;
    if (!row) throw notFound(`Could not find experiment with name '${name}'`);
    return this.hydrate([row])[0]!;
  }

  search(options: { viewType?: ViewType; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Page<Experiment> {
    const maxResults = options.maxResults ?? 1000;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50_000) {
      throw invalidParameter(`Invalid value ${maxResults} for parameter 'max_results' supplied. It must be at most 50000 and at least 1.`);
    }
    const offset = decodePageToken(options.pageToken);
    const { sql, params } = experimentSearchSql({ viewType: options.viewType ?? 'ACTIVE_ONLY', filter: options.filter, orderBy: options.orderBy });
    const ids = this.db.prepare(`${sql} LIMIT ? OFFSET ?`).pluck().all(...params, maxResults + 1, offset) as number[];
    const more = ids.length > maxResults;
    const rows = this.rowsByIds(ids.slice(0, maxResults));
    return { items: this.hydrate(rows), ...(more ? { next_page_token: encodePageToken(offset + maxResults) } : {}) };
  }

  rename(experimentId: unknown, newName: unknown): void {
    const exp = this.get(experimentId);
    validateExperimentName(newName);
    if (exp.lifecycle_stage !== 'active') throw invalidState(`Cannot rename a non-active experiment (${exp.experiment_id}). Restore it first.`);
    if (exp.name === newName) return;
    const taken = this.db.prepare('SELECT 1 FROM experiments WHERE name = ?').get(newName);
    if (taken) throw alreadyExists(`Experiment(name=${String(newName)}) already exists.`);
    this.db.prepare('UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?').run(newName, Date.now(), exp.experiment_id);
    this.changes.emit({ type: 'experiment.updated', experiment_id: exp.experiment_id });
  }

  /** Deleting or restoring an experiment does the same to its runs, as MLflow does. */
  setLifecycle(experimentId: unknown, stage: 'active' | 'deleted'): void {
    const exp = this.get(experimentId);
    // MLflow answers "does not exist" for deleting a deleted experiment or restoring an active one.
    if (exp.lifecycle_stage === stage) throw notFound(`No Experiment with id=${exp.experiment_id} exists in the '${stage === 'deleted' ? 'active' : 'deleted'}' state.`);
    const now = Date.now();
    inWriteTransaction(this.db, () => {
      this.db.prepare('UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?').run(stage, now, exp.experiment_id);
      this.db
        .prepare('UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?')
        .run(stage, stage === 'deleted' ? now : null, exp.experiment_id);
    });
    this.changes.emit({ type: 'experiment.updated', experiment_id: exp.experiment_id });
  }

  setTag(experimentId: unknown, key: unknown, value: unknown): void {
    const exp = this.get(experimentId);
    if (exp.lifecycle_stage !== 'active') throw invalidParameter(`The experiment ${exp.experiment_id} must be in the 'active' state. Current state is deleted.`);
    const k = validateKey('tag', key);
    const v = String(value ?? '');
    validateValueLength('tag', k, v);
    this.db.prepare('INSERT OR REPLACE INTO experiment_tags VALUES (?, ?, ?)').run(exp.experiment_id, k, v);
    this.changes.emit({ type: 'experiment.updated', experiment_id: exp.experiment_id });
  }

  private rowsByIds(ids: number[]): ExperimentRow[] {
    if (ids.length === 0) return [];
    const rows = this.db
      .prepare('SELECT * FROM experiments WHERE experiment_id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(ids)) as ExperimentRow[];
    const byId = new Map(rows.map((r) => [r.experiment_id, r]));
    return ids.map((id) => byId.get(id)!);
  }

  private hydrate(rows: ExperimentRow[]): Experiment[] {
    const tags = this.db
      .prepare('SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(rows.map((r) => r.experiment_id))) as { experiment_id: number; key: string; value: string }[];
    return rows.map((r) => ({
      experiment_id: String(r.experiment_id),
      name: r.name,
      artifact_location: r.artifact_location,
      lifecycle_stage: r.lifecycle_stage,
      creation_time: r.creation_time,
      last_update_time: r.last_update_time,
      tags: tags.filter((t) => t.experiment_id === r.experiment_id).map(({ key, value }) => ({ key, value })),
    }));
  }
}

/** Experiment ids are strings on the wire and integers in SQLite. */
export function parseExperimentId(id: unknown): number {
  const s = typeof id === 'number' ? String(id) : id;
  if (typeof s !== 'string' || s === '') throw invalidParameter(`Missing value for required parameter 'experiment_id'.`);
  if (!/^\d+$/.test(s)) throw notFound(`No Experiment with id=${s} exists`);
  return Number(s);
}
