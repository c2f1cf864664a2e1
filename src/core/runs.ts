import { inWriteTransaction, type Db } from './db';
import type { ChangeFeed } from './events';
import type { ExperimentStore } from './experiments';
import type { DatasetInput, KeyValue, Metric, Page, Run, RunInfo, RunStatus, ViewType } from './entities';
import { RUN_STATUSES } from './entities';
import { invalidParameter, notFound } from './errors';
import { newRunId, randomRunName } from './ids';
import { MetricStore } from './metric-store';
import { validateBatchSize, validateKey, validateValueLength } from './validation';
import { runSearchSql } from './search/sql';
import { decodePageToken, encodePageToken } from './search/page-token';

interface RunRow {
  run_uuid: string;
  experiment_id: number;
  name: string;
  user_id: string;
  status: RunStatus;
  start_time: number;
  end_time: number | null;
  lifecycle_stage: 'active' | 'deleted';
  artifact_uri: string;
}

export interface LogBatch {
  metrics?: Metric[];
  params?: KeyValue[];
  tags?: KeyValue[];
}

const RUN_NAME_TAG = 'mlflow.runName';

export class RunStore {
  readonly metrics: MetricStore;
  private readonly selectRun;
  private readonly selectParam;
  private readonly insertParam;
  private readonly upsertTag;
  private readonly renameRun;
  private readonly writeBatch;

  constructor(
    private readonly db: Db,
    private readonly experiments: ExperimentStore,
    private readonly changes: ChangeFeed,
  ) {
    this.metrics = new MetricStore(db);
    this.selectRun = db.prepare<[string], RunRow>('SELECT * FROM runs WHERE run_uuid = ?');
    this.selectParam = db.prepare<[string, string], { value: string }>('SELECT value FROM params WHERE run_uuid = ? AND key = ?');
    this.insertParam = db.prepare('INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)');
    this.upsertTag = db.prepare('INSERT OR REPLACE INTO tags (run_uuid, key, value) VALUES (?, ?, ?)');
    this.renameRun = db.prepare('UPDATE runs SET name = ? WHERE run_uuid = ?');
    this.writeBatch = db.transaction((runUuid: string, params: Map<string, string>, tags: KeyValue[], metrics: Metric[]) => {
      for (const [key, value] of params) {
        const old = this.selectParam.get(runUuid, key);
        if (old === undefined) this.insertParam.run(runUuid, key, value);
        else if (old.value !== value) {
          throw invalidParameter(
            `Changing param values is not allowed. Param with key='${key}' was already logged with value='${old.value}' for run ID='${runUuid}'. Attempted logging new value '${value}'.`,
          );
        }
      }
      this.writeTags(runUuid, tags);
      if (metrics.length) this.metrics.append(runUuid, metrics);
    });
  }

  create(req: { experiment_id?: unknown; user_id?: string; run_name?: string; start_time?: number; tags?: KeyValue[] }): Run {
    const exp = this.experiments.get(req.experiment_id ?? '0');
    if (exp.lifecycle_stage !== 'active') {
      throw invalidParameter(`The experiment ${exp.experiment_id} must be in the 'active' state. Current state is deleted.`);
    }
    const tags = req.tags ?? [];
    const tagName = tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    if (req.run_name && tagName && req.run_name !== tagName) {
      throw invalidParameter(`Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${req.run_name}', mlflow.runName='${tagName}').`);
    }
    const name = req.run_name || tagName || randomRunName();
    const runId = newRunId();
    const artifactUri = `${exp.artifact_location}/${runId}/artifacts`;
    inWriteTransaction(this.db, () => {
      this.db
        .prepare(
          `INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
           VALUES (?, ?, ?, ?, 'RUNNING', ?, 'active', ?)`,
        )
        .run(runId, Number(exp.experiment_id), name, req.user_id ?? '', req.start_time ?? Date.now(), artifactUri);
      this.writeTags(runId, [...tags.filter((t) => t.key !== RUN_NAME_TAG), { key: RUN_NAME_TAG, value: name }]);
    });
    this.changes.emit({ type: 'run.created', run_id: runId, experiment_id: exp.experiment_id });
    return this.get(runId);
  }

  get(runId: unknown): Run {
    return this.hydrate([this.row(runId)])[0]!;
  }

  info(runId: unknown): RunInfo {
    return toInfo(this.row(runId));
  }

  update(runId: unknown, req: { status?: unknown; end_time?: number; run_name?: string }): RunInfo {
    const row = this.activeRow(runId);
    if (req.status !== undefined && !RUN_STATUSES.includes(req.status as RunStatus)) {
      throw invalidParameter(`Invalid value '${String(req.status)}' for parameter 'status': expected one of ${RUN_STATUSES.join(', ')}.`);
    }
    inWriteTransaction(this.db, () => {
      if (req.status !== undefined) this.db.prepare('UPDATE runs SET status = ? WHERE run_uuid = ?').run(req.status, row.run_uuid);
      if (req.end_time !== undefined) this.db.prepare('UPDATE runs SET end_time = ? WHERE run_uuid = ?').run(req.end_time, row.run_uuid);
      if (req.run_name) this.writeTags(row.run_uuid, [{ key: RUN_NAME_TAG, value: req.run_name }]);
    });
    this.emitUpdated(row);
    return this.info(row.run_uuid);
  }

  setLifecycle(runId: unknown, stage: 'active' | 'deleted'): void {
    const row = this.row(runId);
    this.db
      .prepare('UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?')
      .run(stage, stage === 'deleted' ? Date.now() : null, row.run_uuid);
    this.emitUpdated(row);
  }

  /**
   * MLflow's write rules in one transaction: the whole batch is validated first and then written whole,
   * so a rejected batch leaves nothing behind. Params are immutable, tags overwrite, metrics append.
   */
  logBatch(runId: unknown, batch: LogBatch): void {
    const metrics = batch.metrics ?? [];
    const params = batch.params ?? [];
    const tags = batch.tags ?? [];
    validateBatchSize(metrics.length, params.length, tags.length);
    const checkedKeys = new Set<string>();
    for (const m of metrics) validateMetric(m, checkedKeys);
    for (const p of params) {
      validateKey('param', p.key);
      validateValueLength('param', p.key, p.value);
    }
    for (const t of tags) {
      validateKey('tag', t.key);
      validateValueLength('tag', t.key, t.value);
    }
    const seen = new Map<string, string>();
    for (const p of params) {
      const prior = seen.get(p.key);
      if (prior !== undefined && prior !== p.value) {
        throw invalidParameter(`Duplicate parameter keys have been submitted: '${p.key}' with values '${prior}' and '${p.value}'. Please ensure the request contains only one value per key.`);
      }
      seen.set(p.key, p.value);
    }
    const row = this.activeRow(runId);
    // BEGIN IMMEDIATE, as inWriteTransaction; built once because this is the hot path of every logging client.
    this.writeBatch.immediate(row.run_uuid, seen, tags, metrics);
    if (metrics.length) this.changes.emit({ type: 'metrics.logged', run_id: row.run_uuid, keys: [...new Set(metrics.map((m) => m.key))] });
    if (params.length || tags.length) this.emitUpdated(row);
  }

  deleteTag(runId: unknown, key: unknown): void {
    const row = this.activeRow(runId);
    const result = this.db.prepare('DELETE FROM tags WHERE run_uuid = ? AND key = ?').run(row.run_uuid, String(key));
    if (result.changes === 0) throw notFound(`No tag with name: ${String(key)} in run with id ${row.run_uuid}`);
    this.emitUpdated(row);
  }

  logInputs(runId: unknown, inputs: DatasetInput[]): void {
    const row = this.activeRow(runId);
    inWriteTransaction(this.db, () => {
      for (const input of inputs) {
        const d = input.dataset;
        for (const field of ['name', 'digest', 'source_type', 'source'] as const) {
          if (typeof d?.[field] !== 'string' || d[field] === '') throw invalidParameter(`Missing value for required parameter 'datasets.dataset.${field}'.`);
        }
        this.db
          .prepare(
            `INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (experiment_id, name, digest) DO NOTHING`,
          )
          .run(row.experiment_id, d.name, d.digest, d.source_type, d.source, d.schema ?? null, d.profile ?? null);
        const { dataset_id } = this.db
          .prepare('SELECT dataset_id FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?')
          .get(row.experiment_id, d.name, d.digest) as { dataset_id: number };
        this.db
          .prepare('INSERT OR REPLACE INTO run_inputs (run_uuid, dataset_id, tags) VALUES (?, ?, ?)')
          .run(row.run_uuid, dataset_id, JSON.stringify(input.tags ?? []));
      }
    });
    this.emitUpdated(row);
  }

  search(options: { experimentIds: string[]; filter?: string; orderBy?: string[]; viewType?: ViewType; maxResults?: number; pageToken?: string }): Page<Run> {
    const maxResults = options.maxResults ?? 1000;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50_000) {
      throw invalidParameter(`Invalid value ${maxResults} for parameter 'max_results' supplied. It must be at most 50000 and at least 1.`);
    }
    const offset = decodePageToken(options.pageToken);
    const { sql, params } = runSearchSql({
      experimentIds: options.experimentIds,
      viewType: options.viewType ?? 'ACTIVE_ONLY',
      filter: options.filter,
      orderBy: options.orderBy,
    });
    const ids = this.db.prepare(`${sql} LIMIT ? OFFSET ?`).pluck().all(...params, maxResults + 1, offset) as string[];
    const page = ids.slice(0, maxResults);
    const rows = this.db
      .prepare('SELECT * FROM runs WHERE run_uuid IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(page)) as RunRow[];
    const byId = new Map(rows.map((r) => [r.run_uuid, r]));
    const items = this.hydrate(page.map((id) => byId.get(id)!));
    return { items, ...(ids.length > maxResults ? { next_page_token: encodePageToken(offset + maxResults) } : {}) };
  }

  private writeTags(runId: string, tags: KeyValue[]): void {
    for (const t of tags) {
      this.upsertTag.run(runId, t.key, t.value);
      if (t.key === RUN_NAME_TAG) this.renameRun.run(t.value, runId);
    }
  }

  private row(runId: unknown): RunRow {
    if (typeof runId !== 'string' || runId === '') throw invalidParameter(`Missing value for required parameter 'run_id'.`);
    const row = this.selectRun.get(runId);
    if (!row) throw notFound(`Run with id=${runId} not found`);
    return row;
  }

  /** Writes go only to active runs, as in MLflow. */
  private activeRow(runId: unknown): RunRow {
    const row = this.row(runId);
    if (row.lifecycle_stage !== 'active') {
      throw invalidParameter(`The run ${row.run_uuid} must be in the 'active' state. Current state is ${row.lifecycle_stage}.`);
    }
    return row;
  }

  private emitUpdated(row: RunRow): void {
    this.changes.emit({ type: 'run.updated', run_id: row.run_uuid, experiment_id: String(row.experiment_id) });
  }

  /** Params, tags, latest metrics and inputs of many runs in four queries, not four per run. */
  private hydrate(rows: RunRow[]): Run[] {
    const ids = JSON.stringify(rows.map((r) => r.run_uuid));
    const inIds = 'run_uuid IN (SELECT value FROM json_each(?))';
    const group = <T extends { run_uuid: string }>(list: T[]) => {
      const map = new Map<string, T[]>();
      for (const item of list) {
        const l = map.get(item.run_uuid);
        if (l) l.push(item);
        else map.set(item.run_uuid, [item]);
      }
      return map;
    };
    const params = group(this.db.prepare(`SELECT run_uuid, key, value FROM params WHERE ${inIds}`).all(ids) as (KeyValue & { run_uuid: string })[]);
    const tags = group(this.db.prepare(`SELECT run_uuid, key, value FROM tags WHERE ${inIds}`).all(ids) as (KeyValue & { run_uuid: string })[]);
    const metrics = group(
      this.db
        .prepare(`SELECT run_uuid, key, latest_value AS value, latest_timestamp AS timestamp, latest_step AS step FROM metric_series WHERE ${inIds}`)
        .all(ids) as { run_uuid: string; key: string; value: number | null; timestamp: number; step: number }[],
    );
    const inputs = group(
      this.db
        .prepare(
          `SELECT i.run_uuid, i.tags, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
           FROM run_inputs i JOIN datasets d USING (dataset_id) WHERE i.${inIds}`,
        )
        .all(ids) as ({ run_uuid: string; tags: string; schema: string | null; profile: string | null } & Omit<DatasetInput['dataset'], 'schema' | 'profile'>)[],
    );
    const kv = (l: (KeyValue & { run_uuid: string })[] | undefined) => (l ?? []).map(({ key, value }) => ({ key, value }));
    return rows.map((r) => ({
      info: toInfo(r),
      data: {
        metrics: (metrics.get(r.run_uuid) ?? []).map((m) => ({ key: m.key, value: m.value ?? NaN, timestamp: m.timestamp, step: m.step })),
        params: kv(params.get(r.run_uuid)),
        tags: kv(tags.get(r.run_uuid)),
      },
      inputs: {
        dataset_inputs: (inputs.get(r.run_uuid) ?? []).map((i) => ({
          tags: JSON.parse(i.tags) as KeyValue[],
          dataset: {
            name: i.name, digest: i.digest, source_type: i.source_type, source: i.source,
            ...(i.schema !== null ? { schema: i.schema } : {}),
            ...(i.profile !== null ? { profile: i.profile } : {}),
          },
        })),
      },
    }));
  }
}

function toInfo(r: RunRow): RunInfo {
  return {
    run_id: r.run_uuid,
    run_uuid: r.run_uuid,
    run_name: r.name,
    experiment_id: String(r.experiment_id),
    user_id: r.user_id,
    status: r.status,
    start_time: r.start_time,
    ...(r.end_time !== null ? { end_time: r.end_time } : {}),
    artifact_uri: r.artifact_uri,
    lifecycle_stage: r.lifecycle_stage,
  };
}

/** `checkedKeys`: a batch repeats a few keys many times; each distinct key is validated once. */
function validateMetric(m: Metric, checkedKeys: Set<string>): void {
  if (!checkedKeys.has(m.key)) {
    validateKey('metric', m.key);
    checkedKeys.add(m.key);
  }
  if (typeof m.value !== 'number') {
    throw invalidParameter(`Got invalid value ${JSON.stringify(m.value)} for metric '${m.key}' (timestamp=${m.timestamp}). Please specify value as a valid double (64-bit floating point).`);
  }
  if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0) {
    throw invalidParameter(`Got invalid timestamp ${JSON.stringify(m.timestamp)} for metric '${m.key}' (value=${m.value}). Timestamp must be a nonnegative long (64-bit integer).`);
  }
  if (!Number.isSafeInteger(m.step)) {
    throw invalidParameter(`Got invalid step ${JSON.stringify(m.step)} for metric '${m.key}' (value=${m.value}). Step must be a valid long (64-bit integer).`);
  }
}
