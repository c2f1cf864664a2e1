/**
 * The tracker's and registry's entities. Field names are MLflow's (service.proto, model_registry.proto):
 * the domain here is MLflow's data model, so one shape travels from SQLite to the wire unchanged.
 */
export interface KeyValue {
  key: string;
  value: string;
}

export type LifecycleStage = 'active' | 'deleted';
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
export const RUN_STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: LifecycleStage;
  creation_time: number;
  last_update_time: number;
  tags: KeyValue[];
}

export interface RunInfo {
  run_id: string;
  /** Deprecated duplicate of run_id that MLflow still sends. */
  run_uuid: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: RunStatus;
  start_time: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: LifecycleStage;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface Dataset {
  name: string;
  digest: string;
  source_type: string;
  source: string;
  schema?: string;
  profile?: string;
}

export interface DatasetInput {
  tags: KeyValue[];
  dataset: Dataset;
}

export interface Run {
  info: RunInfo;
  data: { metrics: Metric[]; params: KeyValue[]; tags: KeyValue[] };
  inputs: { dataset_inputs: DatasetInput[] };
}

export const MODEL_VERSION_STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type ModelVersionStage = (typeof MODEL_VERSION_STAGES)[number];
export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: ModelVersionStage;
  description: string;
  source: string;
  run_id: string;
  status: ModelVersionStatus;
  status_message: string;
  tags: KeyValue[];
  run_link: string;
  aliases: string[];
}

export interface RegisteredModelAlias {
  alias: string;
  version: string;
}

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  latest_versions: ModelVersion[];
  tags: KeyValue[];
  aliases: RegisteredModelAlias[];
}

/** One page of a listing and the token for the next, absent on the last page. */
export interface Page<T> {
  items: T[];
  next_page_token?: string;
}
