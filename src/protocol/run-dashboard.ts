/** The run dashboard's contract: one run's charts, params, tags, artifacts and log tail. */
import type { ArtifactEntry, CommonFromWebview, RunSummary, SeriesPoints, StepRange } from './common';

export type XAxis = 'step' | 'time';

/** The webview's persisted state (vscode.setState), which the serializer hands back after a reload. */
export interface RunDashboardState {
  runId: string;
  xAxis: XAxis;
  /** EMA weight in [0, 1): 0 draws the raw series. */
  smoothing: number;
  logScale: boolean;
  tab: 'metrics' | 'system' | 'params' | 'artifacts' | 'logs';
  filter: string;
}

export interface LogTail {
  path: string;
  lines: string[];
  /** Earlier lines were left out. */
  truncated: boolean;
}

export type RunDashboardToWebview =
  /**
   * The first message after `ready`; `openedAt` (epoch ms) is when the command opened the panel. It
   * carries the full-range series of the first charts, so the first paint waits on no round trip.
   */
  | { type: 'init'; openedAt: number; run: RunSummary; metricKeys: string[]; maxPoints: number; series: { key: string; points: SeriesPoints }[] }
  /** Status, params, tags or the metric keys changed (the run is live). */
  | { type: 'run'; run: RunSummary; metricKeys: string[] }
  /** Points of one metric over `range`: the answer to `fetchSeries` (same requestId) or a live push (requestId 0). */
  | { type: 'series'; key: string; requestId: number; range: StepRange; points: SeriesPoints }
  /** New points were logged to these metrics: the webview refetches what it shows. */
  | { type: 'metricsLogged'; keys: string[] }
  | { type: 'artifacts'; files: ArtifactEntry[] }
  | { type: 'logs'; logs: LogTail[] }
  | { type: 'error'; message: string };

export type RunDashboardFromWebview =
  | CommonFromWebview
  /** Points of a metric over a step range, downsampled by the server to at most `maxPoints` (min/max envelope). */
  | { type: 'fetchSeries'; key: string; requestId: number; range: StepRange; maxPoints: number }
  /** The first chart with data was drawn: timings for the extension's log and the e2e suite. */
  | { type: 'firstPaint'; key: string; points: number; sinceOpenMs: number; sinceNavigationMs: number }
  | { type: 'openArtifact'; path: string }
  | { type: 'refreshLogs' };
