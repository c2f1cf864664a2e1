/**
 * The load tester's contracts: what a test is asked to do (LoadTestPlan) and what it measured
 * (LoadTestResult). The engine produces results; the CLI prints them, gates on thresholds and records
 * them as a run; the extension will chart them.
 */

/** One request as sent: a template may vary its body per request (see `RequestTemplate`). */
export interface RequestSpec {
  method: string;
  url: string;
  headers: Record<string, string>;
  /**
   * Fixed body (text, or bytes sent as they are: a binary protocol such as KServe's tensor extension), or a
   * template whose `{{var}}` placeholders are filled per request.
   */
  body?: string | Uint8Array | RequestTemplate;
}

/** `{{seq}}` (request number), `{{uuid}}`, `{{random_int:lo:hi}}`, `{{random_float:lo:hi}}`, `{{row}}` (next line of a sample file). */
export interface RequestTemplate {
  template: string;
  /** Lines of a sample file, cycled through by `{{row}}`. */
  rows?: string[];
}

/** Open model: requests arrive on a schedule, whatever the server's speed (wrk2, k6 arrival-rate). */
export interface OpenModel {
  kind: 'open';
  /** Consecutive stages; a constant rate is one stage. Rate ramps linearly from the previous stage's target. */
  stages: { durationMs: number; targetRps: number }[];
  /** Connections available to keep the schedule; a request that finds none free waits and is counted late. */
  maxConnections: number;
}

/** Closed model: N connections, each sending its next request when the last reply arrives (wrk, autocannon). */
export interface ClosedModel {
  kind: 'closed';
  connections: number;
  durationMs?: number;
  /** Stop after this many requests in all (either bound, whichever comes first; at least one is set). */
  requests?: number;
}

export interface LoadTestPlan {
  request: RequestSpec;
  model: OpenModel | ClosedModel;
  /** worker_threads that share the load; their histograms are merged exactly. */
  workers: number;
  /** A request without a reply after this long counts as a timeout error. */
  timeoutMs: number;
}

export type ErrorKind = 'timeout' | 'refused' | 'reset' | 'other' | `status_${number}`;

/** Latency figures in milliseconds, from an HDR histogram (microsecond resolution, 3 significant digits). */
export interface LatencySummary {
  count: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
}

/** One second of the test, for charts and per-second metrics. */
export interface SecondSample {
  second: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
}

export interface LoadTestResult {
  startedAt: number;
  durationMs: number;
  requests: number;
  /** Completed requests that got a 2xx/3xx reply. */
  ok: number;
  errors: Partial<Record<ErrorKind, number>>;
  /** Open model: requests sent after their scheduled time (no free connection); still measured from the schedule. */
  late: number;
  /** Open model: scheduled requests never sent because the test's time ran out. Counted, never dropped silently. */
  unsent: number;
  throughputRps: number;
  /** Open model: from each request's scheduled send time (no coordinated omission). Closed: from its actual send. */
  latency: LatencySummary;
  perSecond: SecondSample[];
  /** The full latency histogram, HdrHistogram's compressed base64 encoding (decode with hdr-histogram-js). */
  histogram: string;
}

/** Live figures for a progress line, about once a second. */
export interface LoadTestProgress {
  elapsedMs: number;
  requests: number;
  errors: number;
  rps: number;
  p99: number;
}
