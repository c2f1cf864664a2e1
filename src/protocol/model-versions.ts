/** The model versions panel's contract: a registered model's versions, their lineage and actions. */
import type { CommonFromWebview } from './common';

export interface ModelVersionsState {
  model: string;
  /** The version whose details (signature) are shown. */
  selected?: string;
}

export interface TensorSpec {
  name: string;
  /** ONNX element type, e.g. FLOAT, INT64. */
  datatype: string;
  /** -1 for a dynamic dimension (its symbolic name, when it has one, is in `dimNames`). */
  shape: number[];
  dimNames?: (string | null)[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Where it was read from, e.g. `model/model.onnx`. */
  source: string;
}

export interface VersionRow {
  version: string;
  aliases: string[];
  status: string;
  stage: string;
  createdAt: number;
  source: string;
  description: string;
  runId?: string;
  runName?: string;
  runStatus?: string;
  /** Latest values of the source run's key metrics (see `metricKeys` of the model message). */
  metrics: Record<string, number>;
}

export type ModelVersionsToWebview =
  | { type: 'model'; name: string; description: string; versions: VersionRow[]; metricKeys: string[]; canServe: boolean }
  | { type: 'signature'; version: string; signature: ModelSignature | null; reason?: string }
  | { type: 'error'; message: string };

export type ModelVersionsFromWebview =
  | CommonFromWebview
  | { type: 'selectVersion'; version: string }
  | { type: 'openRun'; runId: string }
  /** Asks for an alias name in the editor, then points it at `version`. */
  | { type: 'setAlias'; version: string }
  | { type: 'removeAlias'; alias: string }
  | { type: 'serve'; version: string }
  | { type: 'refresh' };
