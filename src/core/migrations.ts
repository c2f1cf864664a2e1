/**
 * Schema migrations, applied in order and keyed on `PRAGMA user_version`: entry i takes the schema
 * from version i to i+1. Never edit a shipped entry; append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  /* 1: tracker, metric store, registry */ `
  CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
    creation_time     INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL
  );
  CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
  ) WITHOUT ROWID;

  CREATE TABLE runs (
    run_uuid        TEXT PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
    name            TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    artifact_uri    TEXT NOT NULL,
    deleted_time    INTEGER
  );
  CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time DESC);

  CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
  ) WITHOUT ROWID;
  CREATE INDEX params_by_key ON params(key, value);

  CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
  ) WITHOUT ROWID;

  -- One row per (run, metric key): the series' id, its length and its latest value by (step, timestamp),
  -- so listings and searches never touch the points.
  CREATE TABLE metric_series (
    series_id     INTEGER PRIMARY KEY,
    run_uuid      TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    count         INTEGER NOT NULL,
    latest_value  REAL,          -- NULL encodes NaN (SQLite has no NaN)
    latest_timestamp INTEGER NOT NULL,
    latest_step   INTEGER NOT NULL,
    -- Largest step and timestamp in the series: a point above either cannot repeat a stored one.
    max_step      INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    UNIQUE (run_uuid, key)
  );
  CREATE INDEX metric_series_by_key ON metric_series(key, latest_value);

  -- Points clustered by (series, append order) in the rowid itself: id = series_id * 2^28 + seq, so an
  -- append lands at the end of its series' range and a range of one series is one contiguous scan.
  -- (Measured: ~16% faster inserts than a WITHOUT ROWID table keyed on (series_id, seq).)
  -- value NULL encodes NaN.
  CREATE TABLE metric_points (
    id        INTEGER PRIMARY KEY,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL,
    series_id INTEGER GENERATED ALWAYS AS (id >> 28) VIRTUAL,
    seq       INTEGER GENERATED ALWAYS AS (id & 268435455) VIRTUAL
  );

  -- A summary per block of BLOCK_SIZE consecutive points (min/max points, step range) so a chart's
  -- downsampled read of a long series reads blocks, not points.
  CREATE TABLE metric_blocks (
    series_id INTEGER NOT NULL,
    block     INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    step_min  INTEGER NOT NULL,
    step_max  INTEGER NOT NULL,
    min_seq   INTEGER,
    min_step  INTEGER,
    min_timestamp INTEGER,
    min_value REAL,
    max_seq   INTEGER,
    max_step  INTEGER,
    max_timestamp INTEGER,
    max_value REAL,
    PRIMARY KEY (series_id, block)
  ) WITHOUT ROWID;

  CREATE TABLE datasets (
    dataset_id  INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source      TEXT NOT NULL,
    schema      TEXT,
    profile     TEXT,
    UNIQUE (experiment_id, name, digest)
  );
  CREATE TABLE run_inputs (
    run_uuid   TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES datasets(dataset_id),
    tags       TEXT NOT NULL DEFAULT '[]',  -- JSON array of {key, value}, e.g. mlflow.data.context
    PRIMARY KEY (run_uuid, dataset_id)
  ) WITHOUT ROWID;

  CREATE TABLE registered_models (
    name TEXT PRIMARY KEY,
    creation_timestamp     INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Highest version number ever given: numbers of deleted versions are never reused, as in MLflow.
    max_version INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE ON UPDATE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
  ) WITHOUT ROWID;
  CREATE TABLE model_versions (
    name    TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE ON UPDATE CASCADE,
    version INTEGER NOT NULL,
    creation_timestamp     INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    user_id        TEXT NOT NULL DEFAULT '',
    current_stage  TEXT NOT NULL DEFAULT 'None',
    source         TEXT NOT NULL,
    run_id         TEXT NOT NULL DEFAULT '',
    run_link       TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'READY',
    status_message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
  );
  CREATE INDEX model_versions_by_run ON model_versions(run_id);
  CREATE TABLE model_version_tags (
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE ON UPDATE CASCADE
  ) WITHOUT ROWID;
  CREATE TABLE registered_model_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE ON UPDATE CASCADE
  ) WITHOUT ROWID;
  `,
];
