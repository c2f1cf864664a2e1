/** The compare panel's contract: runs side by side, overlaid charts, a diff table and parallel coordinates. */
import type { CommonFromWebview, RunSummary, SeriesPoints, StepRange } from './common';
import type { XAxis } from './run-dashboard';

export interface CompareRunsState {
  runIds: string[];
  xAxis: XAxis;
  smoothing: number;
  logScale: boolean;
  onlyDifferences: boolean;
  tab: 'charts' | 'table' | 'parallel';
  /** Metric that colors the parallel-coordinates lines. */
  colorBy?: string;
}

export type CompareRunsToWebview =
  | { type: 'init'; runs: RunSummary[]; metricKeys: string[]; maxPoints: number }
  | { type: 'series'; runId: string; key: string; requestId: number; range: StepRange; points: SeriesPoints }
  | { type: 'error'; message: string };

export type CompareRunsFromWebview =
  | CommonFromWebview
  | { type: 'fetchSeries'; runId: string; key: string; requestId: number; range: StepRange; maxPoints: number }
  | { type: 'openRun'; runId: string };
