/**
 * What every panel's webview and the extension share. The webview imports only src/protocol: it never
 * sees the client, the store or `vscode`, so the contracts here are the whole of what crosses over.
 */

/** The view type of each panel, as registered with VS Code and listed in package.json's activation events. */
export const VIEW_TYPES = {
  runDashboard: 'trellis.runDashboard',
  compareRuns: 'trellis.compareRuns',
  modelVersions: 'trellis.modelVersions',
  loadTestReport: 'trellis.loadTestReport',
  endpointMonitor: 'trellis.endpointMonitor',
} as const;

export type PanelKind = keyof typeof VIEW_TYPES;

export const PANEL_KINDS = Object.keys(VIEW_TYPES) as PanelKind[];

export function isPanelKind(value: unknown): value is PanelKind {
  return typeof value === 'string' && (PANEL_KINDS as string[]).includes(value);
}

export interface KeyValue {
  key: string;
  value: string;
}

/** A run as a panel shows it: MLflow's Run flattened to what the UI reads. */
export interface RunSummary {
  runId: string;
  name: string;
  experimentId: string;
  status: string;
  startTime: number;
  endTime?: number;
  params: KeyValue[];
  /** User tags; MLflow's own `mlflow.*` tags are left out. */
  tags: KeyValue[];
  /** The latest value of each metric. */
  latest: { key: string; value: number; step: number; timestamp: number }[];
}

/** Points of one metric, column-wise (what a chart draws). NaN travels as null. */
export interface SeriesPoints {
  steps: number[];
  timestamps: number[];
  values: (number | null)[];
}

/** An inclusive step range; an open side reaches the end of the series. */
export interface StepRange {
  startStep?: number;
  endStep?: number;
}

export interface ArtifactEntry {
  path: string;
  isDir: boolean;
  size?: number;
}

/** Messages every panel's webview may send. */
export type CommonFromWebview =
  /** The script runs and listens: the extension sends nothing before this. */
  | { type: 'ready' }
  /** A failure inside the webview, for the extension's log. */
  | { type: 'webviewError'; message: string };

/** Metric keys of system telemetry (CPU, memory, GPU), charted apart from the model's metrics. */
export const SYSTEM_METRIC_PREFIX = 'system/';

export const isSystemMetric = (key: string): boolean => key.startsWith(SYSTEM_METRIC_PREFIX);

/** Compile-time proof that a switch handled every message; at run time, a clear error for a stray one. */
export function assertNever(value: never, what = 'message'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
