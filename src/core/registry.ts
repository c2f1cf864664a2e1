import { inWriteTransaction, type Db } from './db';
import type { ChangeFeed } from './events';
import type { KeyValue, ModelVersion, ModelVersionStage, Page, RegisteredModel } from './entities';
import { MODEL_VERSION_STAGES } from './entities';
import { alreadyExists, invalidParameter, notFound } from './errors';
import { validateAlias, validateKey, validateValueLength } from './validation';
import { modelVersionSearchSql, registeredModelSearchSql } from './search/sql';
import { decodePageToken, encodePageToken } from './search/page-token';

interface ModelRow {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
}

interface VersionRow {
  name: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  user_id: string;
  current_stage: ModelVersionStage;
  source: string;
  run_id: string;
  run_link: string;
  status: ModelVersion['status'];
  status_message: string;
}

/** The model registry: registered models, their numbered versions, aliases, tags and (legacy) stages. */
export class Registry {
  constructor(
    private readonly db: Db,
    private readonly changes: ChangeFeed,
  ) {}

  createModel(name: unknown, tags: KeyValue[] = [], description = ''): RegisteredModel {
    const n = requireName(name);
    tags.forEach(checkTag);
    inWriteTransaction(this.db, () => {
      if (this.db.prepare('SELECT 1 FROM registered_models WHERE name = ?').get(n)) {
        throw alreadyExists(`Registered Model (name=${n}) already exists.`);
      }
      const now = Date.now();
      this.db.prepare('INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, description) VALUES (?, ?, ?, ?)').run(n, now, now, description);
      const insert = this.db.prepare('INSERT OR REPLACE INTO registered_model_tags VALUES (?, ?, ?)');
      for (const t of tags) insert.run(n, t.key, t.value);
    });
    this.changes.emit({ type: 'model.updated', name: n });
    return this.getModel(n);
  }

  getModel(name: unknown): RegisteredModel {
    return this.hydrateModels([this.modelRow(name)])[0]!;
  }

  renameModel(name: unknown, newName: unknown): RegisteredModel {
    const row = this.modelRow(name);
    const target = requireName(newName, 'new_name');
    if (this.db.prepare('SELECT 1 FROM registered_models WHERE name = ?').get(target)) {
      throw alreadyExists(`Registered Model (name=${target}) already exists.`);
    }
    // Versions, tags and aliases follow through ON UPDATE CASCADE.
    this.db.prepare('UPDATE registered_models SET name = ?, last_updated_timestamp = ? WHERE name = ?').run(target, Date.now(), row.name);
    this.changes.emit({ type: 'model.updated', name: target });
    return this.getModel(target);
  }

  updateModel(name: unknown, description: unknown): RegisteredModel {
    const row = this.modelRow(name);
    this.db.prepare('UPDATE registered_models SET description = ?, last_updated_timestamp = ? WHERE name = ?').run(String(description ?? ''), Date.now(), row.name);
    this.changes.emit({ type: 'model.updated', name: row.name });
    return this.getModel(row.name);
  }

  deleteModel(name: unknown): void {
    const row = this.modelRow(name);
    this.db.prepare('DELETE FROM registered_models WHERE name = ?').run(row.name);
    this.changes.emit({ type: 'model.updated', name: row.name });
  }

  searchModels(options: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Page<RegisteredModel> {
    const max = checkMaxResults(options.maxResults ?? 100, 1000);
    const offset = decodePageToken(options.pageToken);
    const { sql, params } = registeredModelSearchSql({ filter: options.filter, orderBy: options.orderBy });
    const names = this.db.prepare(`${sql} LIMIT ? OFFSET ?`).pluck().all(...params, max + 1, offset) as string[];
    const rows = names.slice(0, max).map((n) => this.modelRow(n));
    return { items: this.hydrateModels(rows), ...(names.length > max ? { next_page_token: encodePageToken(offset + max) } : {}) };
  }

  /** The newest version in each stage asked for (all stages when none is named). */
  latestVersions(name: unknown, stages: string[] = []): ModelVersion[] {
    const row = this.modelRow(name);
    const wanted = stages.length ? stages.map(parseStage) : [...MODEL_VERSION_STAGES];
    const rows = this.db
      .prepare(
        `SELECT * FROM model_versions v WHERE name = ? AND version = (
           SELECT max(version) FROM model_versions w WHERE w.name = v.name AND w.current_stage = v.current_stage)`,
      )
      .all(row.name) as VersionRow[];
    return this.hydrateVersions(rows.filter((r) => wanted.includes(r.current_stage)).sort((a, b) => a.version - b.version));
  }

  setModelTag(name: unknown, key: unknown, value: unknown): void {
    const row = this.modelRow(name);
    const tag = checkTag({ key: key as string, value: String(value ?? '') });
    this.db.prepare('INSERT OR REPLACE INTO registered_model_tags VALUES (?, ?, ?)').run(row.name, tag.key, tag.value);
    this.changes.emit({ type: 'model.updated', name: row.name });
  }

  deleteModelTag(name: unknown, key: unknown): void {
    const row = this.modelRow(name);
    // Deleting a tag that is not there is a no-op, as in MLflow.
    this.db.prepare('DELETE FROM registered_model_tags WHERE name = ? AND key = ?').run(row.name, String(key));
    this.changes.emit({ type: 'model.updated', name: row.name });
  }

  setAlias(name: unknown, alias: unknown, version: unknown): void {
    const a = validateAlias(alias);
    const v = this.versionRow(name, version);
    this.db.prepare('INSERT OR REPLACE INTO registered_model_aliases VALUES (?, ?, ?)').run(v.name, a, v.version);
    this.changes.emit({ type: 'alias.moved', name: v.name, alias: a, version: String(v.version) });
  }

  deleteAlias(name: unknown, alias: unknown): void {
    const row = this.modelRow(name);
    this.db.prepare('DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?').run(row.name, String(alias));
    this.changes.emit({ type: 'alias.moved', name: row.name, alias: String(alias), version: null });
  }

  versionByAlias(name: unknown, alias: unknown): ModelVersion {
    const row = this.modelRow(name);
    const hit = this.db.prepare('SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?').get(row.name, String(alias)) as
      | { version: number }
      | undefined;
    // MLflow answers an unknown alias with INVALID_PARAMETER_VALUE (400), not 404.
    if (!hit) throw invalidParameter(`Registered model alias ${String(alias)} not found.`);
    return this.getVersion(row.name, hit.version);
  }

  createVersion(req: { name: unknown; source: unknown; run_id?: string; tags?: KeyValue[]; run_link?: string; description?: string }): ModelVersion {
    const model = this.modelRow(req.name);
    if (typeof req.source !== 'string' || req.source === '') throw invalidParameter(`Missing value for required parameter 'source'.`);
    const source = checkSource(req.source);
    const tags = (req.tags ?? []).map(checkTag);
    const version = inWriteTransaction(this.db, () => {
      const next = (this.db.prepare('SELECT max_version + 1 AS v FROM registered_models WHERE name = ?').get(model.name) as { v: number }).v;
      const now = Date.now();
      this.db
        .prepare(
          `INSERT INTO model_versions (name, version, creation_timestamp, last_updated_timestamp, description, source, run_id, run_link, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'READY')`,
        )
        .run(model.name, next, now, now, req.description ?? '', source, req.run_id ?? '', req.run_link ?? '');
      const insert = this.db.prepare('INSERT INTO model_version_tags VALUES (?, ?, ?, ?)');
      for (const t of tags) insert.run(model.name, next, t.key, t.value);
      this.db.prepare('UPDATE registered_models SET max_version = ?, last_updated_timestamp = ? WHERE name = ?').run(next, now, model.name);
      return next;
    });
    this.changes.emit({ type: 'model_version.created', name: model.name, version: String(version) });
    return this.getVersion(model.name, version);
  }

  getVersion(name: unknown, version: unknown): ModelVersion {
    return this.hydrateVersions([this.versionRow(name, version)])[0]!;
  }

  updateVersion(name: unknown, version: unknown, description: unknown): ModelVersion {
    const v = this.versionRow(name, version);
    this.db
      .prepare('UPDATE model_versions SET description = ?, last_updated_timestamp = ? WHERE name = ? AND version = ?')
      .run(String(description ?? ''), Date.now(), v.name, v.version);
    this.emitVersion(v);
    return this.getVersion(v.name, v.version);
  }

  deleteVersion(name: unknown, version: unknown): void {
    const v = this.versionRow(name, version);
    this.db.prepare('DELETE FROM model_versions WHERE name = ? AND version = ?').run(v.name, v.version);
    this.emitVersion(v);
  }

  /** Legacy stages, kept for old clients; moving into Staging/Production can archive the others there. */
  transitionStage(name: unknown, version: unknown, stage: unknown, archiveExisting: boolean): ModelVersion {
    const v = this.versionRow(name, version);
    const target = parseStage(stage);
    if (archiveExisting && target !== 'Staging' && target !== 'Production') {
      throw invalidParameter(`Model version transition cannot archive existing model versions because '${target}' is not an Active stage. Valid stages are ['Staging', 'Production']`);
    }
    const now = Date.now();
    inWriteTransaction(this.db, () => {
      if (archiveExisting) {
        this.db
          .prepare(`UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = ? WHERE name = ? AND current_stage = ? AND version != ?`)
          .run(now, v.name, target, v.version);
      }
      this.db
        .prepare('UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ? WHERE name = ? AND version = ?')
        .run(target, now, v.name, v.version);
    });
    this.emitVersion(v);
    return this.getVersion(v.name, v.version);
  }

  setVersionTag(name: unknown, version: unknown, key: unknown, value: unknown): void {
    const v = this.versionRow(name, version);
    const tag = checkTag({ key: key as string, value: String(value ?? '') });
    this.db.prepare('INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?)').run(v.name, v.version, tag.key, tag.value);
    this.emitVersion(v);
  }

  deleteVersionTag(name: unknown, version: unknown, key: unknown): void {
    const v = this.versionRow(name, version);
    this.db.prepare('DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?').run(v.name, v.version, String(key));
    this.emitVersion(v);
  }

  searchVersions(options: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Page<ModelVersion> {
    const max = checkMaxResults(options.maxResults ?? 10_000, 200_000);
    const offset = decodePageToken(options.pageToken);
    const { sql, params } = modelVersionSearchSql({ filter: options.filter, orderBy: options.orderBy });
    const keys = this.db.prepare(`${sql} LIMIT ? OFFSET ?`).all(...params, max + 1, offset) as { name: string; version: number }[];
    const rows = keys.slice(0, max).map((k) => this.versionRow(k.name, k.version));
    return { items: this.hydrateVersions(rows), ...(keys.length > max ? { next_page_token: encodePageToken(offset + max) } : {}) };
  }

  private emitVersion(v: VersionRow): void {
    this.changes.emit({ type: 'model_version.updated', name: v.name, version: String(v.version) });
  }

  private modelRow(name: unknown): ModelRow {
    const n = requireName(name);
    const row = this.db.prepare('SELECT * FROM registered_models WHERE name = ?').get(n) as ModelRow | undefined;
    if (!row) throw notFound(`Registered Model with name=${n} not found`);
    return row;
  }

  private versionRow(name: unknown, version: unknown): VersionRow {
    const n = requireName(name);
    const v = typeof version === 'number' ? version : Number(typeof version === 'string' && /^\d+$/.test(version) ? version : NaN);
    if (!Number.isInteger(v)) {
      throw invalidParameter(`Parameter 'version' must be an integer, got '${String(version ?? '')}'.`);
    }
    const row = this.db.prepare('SELECT * FROM model_versions WHERE name = ? AND version = ?').get(n, v) as VersionRow | undefined;
    if (!row) throw notFound(`Model Version (name=${n}, version=${v}) not found`);
    return row;
  }

  private hydrateModels(rows: ModelRow[]): RegisteredModel[] {
    return rows.map((r) => ({
      name: r.name,
      creation_timestamp: r.creation_timestamp,
      last_updated_timestamp: r.last_updated_timestamp,
      description: r.description,
      latest_versions: this.latestVersions(r.name),
      tags: this.db.prepare('SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key').all(r.name) as KeyValue[],
      aliases: (this.db.prepare('SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias').all(r.name) as { alias: string; version: number }[]).map(
        (a) => ({ alias: a.alias, version: String(a.version) }),
      ),
    }));
  }

  private hydrateVersions(rows: VersionRow[]): ModelVersion[] {
    const tagsOf = this.db.prepare('SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key');
    const aliasesOf = this.db.prepare('SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias').pluck();
    return rows.map((r) => ({
      name: r.name,
      version: String(r.version),
      creation_timestamp: r.creation_timestamp,
      last_updated_timestamp: r.last_updated_timestamp,
      user_id: r.user_id,
      current_stage: r.current_stage,
      description: r.description,
      source: r.source,
      run_id: r.run_id,
      status: r.status,
      status_message: r.status_message,
      tags: tagsOf.all(r.name, r.version) as KeyValue[],
      run_link: r.run_link,
      aliases: aliasesOf.all(r.name, r.version) as string[],
    }));
  }
}

function requireName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidParameter(`Missing value for required parameter '${field}'. Registered model names must be non-empty strings.`);
  }
  return name;
}

/** A source with '..' segments (after any number of URL-decodings) could point anywhere: refused, as MLflow does. */
function checkSource(source: string): string {
  let decoded = source;
  for (let i = 0; i < 5; i++) {
    const next = safeDecode(decoded);
    if (next === decoded) break;
    decoded = next;
  }
  if (decoded.split(/[\\/]/).includes('..')) {
    throw invalidParameter(`Invalid model version source: '${source}'. Provide an absolute path or URI without relative path references ('..').`);
  }
  return source;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function checkTag(t: KeyValue): KeyValue {
  validateKey('tag', t.key);
  validateValueLength('tag', t.key, t.value);
  return t;
}

function parseStage(stage: unknown): ModelVersionStage {
  const hit = MODEL_VERSION_STAGES.find((s) => s.toLowerCase() === String(stage ?? '').toLowerCase());
  if (!hit) throw invalidParameter(`Invalid Model Version stage: ${String(stage)}. Value must be one of ${MODEL_VERSION_STAGES.join(', ')}.`);
  return hit;
}

function checkMaxResults(value: number, limit: number): number {
  if (!Number.isInteger(value) || value < 1 || value > limit) {
    throw invalidParameter(`Invalid value for max_results. It must be at most ${limit}, but got value ${value}`);
  }
  return value;
}
