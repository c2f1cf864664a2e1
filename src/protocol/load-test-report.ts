/** The load-test report's contract: one recorded load test (a run of `load-tests`) and an optional baseline. */
import type { CommonFromWebview, RunSummary, SeriesPoints } from './common';

export interface LoadTestReportState {
  runId: string;
  baselineId?: string;
  tab: 'overview' | 'latency' | 'errors';
}

/** One recorded test: the run, its per-second series, its histogram text and its result's error counts. */
export interface LoadTestData {
  run: RunSummary;
  /** Per-second series by metric key: rps, errors, interval_p50_ms, interval_p99_ms. */
  series: Record<string, SeriesPoints>;
  /** HdrHistogram's percentile distribution (histogram.hgrm), milliseconds; absent when not recorded. */
  hgrm?: string;
  /** Errors by kind (timeout, refused, status_503, ...), from result.json. */
  errors: Record<string, number>;
  /** Threshold verdicts from the run's `trellis.threshold.*` tags. */
  verdicts: { threshold: string; pass: boolean }[];
}

export interface BaselineChoice {
  runId: string;
  name: string;
  startTime: number;
  target?: string;
}

export type LoadTestReportToWebview =
  | { type: 'report'; test: LoadTestData; baseline?: LoadTestData; choices: BaselineChoice[] }
  | { type: 'error'; message: string };

export type LoadTestReportFromWebview =
  | CommonFromWebview
  | { type: 'setBaseline'; runId: string | null }
  | { type: 'openRun'; runId: string };
