/**
 * A finished load test as a tracked run in the experiment `load-tests`: params for what was asked,
 * per-second series for charts, summary metrics for tables, search and compare, threshold verdicts as
 * tags, and the full histogram and result as artifacts. Everything goes through the store's own APIs
 * (MLflow's validation and limits included), so a load-test run is an ordinary run to every client.
 */
import { Readable } from 'node:stream';
import type { Store } from '../../core/store';
import type { KeyValue, Metric } from '../../core/entities';
import { ArtifactStore } from '../../core/artifacts';
import { TrellisError } from '../../core/errors';
import { LIMITS } from '../../core/validation';
import { experimentNamed } from '../tracking/named-experiment';
import type { LoadTestPlan, LoadTestResult } from './types';
import { errorRatePct, thresholdTagKey, totalErrors, type ThresholdVerdict } from './thresholds';
import { formatStages } from './parse';

export const LOADTEST_EXPERIMENT = 'load-tests';
export const LOADTEST_TAG = 'trellis.loadtest';

/** What was asked of a test, as logged in the run's params. */
export interface LoadTestRunParams {
  mode: 'open' | 'closed';
  method: string;
  workers: number;
  timeout_ms: number;
  /** Closed: the time bound; open: the length of the schedule. */
  duration_ms: number;
  /** Closed: the request bound. */
  max_requests?: number;
  /** Closed: connections; open: the most connections used to keep the schedule. */
  connections: number;
  /** Open model at one constant rate. */
  rate?: number;
  /** Open model with several stages, as `30s:100,60s:500`. */
  stages?: string;
}

/**
 * The per-second series (step = second of the test, timestamp = its start), charted by the UI. Latency
 * per second is `interval_p50_ms`/`interval_p99_ms`, not `latency_p50_ms`/`latency_p99_ms`: those keys
 * hold the whole test's figures, and one key cannot be both (a run's latest value would be the last second).
 */
export const PER_SECOND_METRICS = ['rps', 'errors', 'interval_p50_ms', 'interval_p99_ms'] as const;

/** Summary metrics, logged once (step 0): what run tables, search and `loadtest compare` read. */
export const SUMMARY_METRICS = [
  'throughput_rps',
  'latency_p50_ms',
  'latency_p90_ms',
  'latency_p95_ms',
  'latency_p99_ms',
  'latency_p999_ms',
  'latency_max_ms',
  'latency_mean_ms',
  'latency_stddev_ms',
  'error_rate',
  'errors_total',
  'late',
  'unsent',
  'requests',
  'ok',
  'duration_s',
] as const;

export interface RecordLoadTestInput {
  target: string;
  model?: string;
  /** Run name; `loadtest <host/path> <time>` when absent. */
  name?: string;
  params: LoadTestRunParams;
  result: LoadTestResult;
  verdicts?: ThresholdVerdict[];
  /** Stopped early (Ctrl-C): recorded as KILLED, with what was measured until then. */
  interrupted?: boolean;
}

export interface RecordedLoadTest {
  run_id: string;
  experiment_id: string;
}

/** The params of a plan, as `recordLoadTest` logs them. */
export function planParams(plan: LoadTestPlan): LoadTestRunParams {
  const common = { method: plan.request.method, workers: plan.workers, timeout_ms: plan.timeoutMs };
  const m = plan.model;
  if (m.kind === 'closed') {
    return {
      mode: 'closed', ...common, connections: m.connections, duration_ms: m.durationMs ?? 0,
      ...(m.requests !== undefined ? { max_requests: m.requests } : {}),
    };
  }
  const duration = m.stages.reduce((sum, s) => sum + s.durationMs, 0);
  const constant = m.stages.length === 1;
  return {
    mode: 'open', ...common, connections: m.maxConnections, duration_ms: duration,
    ...(constant ? { rate: m.stages[0]!.targetRps } : { stages: formatStages(m.stages) }),
  };
}

/** `loadtest 127.0.0.1:8080/predict 2025-01-31 12:00:00`. */
export function defaultRunName(target: string, startedAt: number): string {
  let where = target;
  try {
    const u = new URL(target);
    where = `${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    /* not a URL: use it as written */
  }
  const when = new Date(startedAt).toISOString().replace('T', ' ').slice(0, 19);
  return `loadtest ${where} ${when}`;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

function runParams(input: RecordLoadTestInput): KeyValue[] {
  const p = input.params;
  const out: [string, string | number | undefined][] = [
    ['target', input.target],
    ['model', input.model],
    ['mode', p.mode],
    ['method', p.method],
    ['connections', p.connections],
    ['rate', p.rate],
    ['stages', p.stages],
    ['duration_s', p.duration_ms / 1000],
    ['max_requests', p.max_requests],
    ['workers', p.workers],
    ['timeout_s', p.timeout_ms / 1000],
  ];
  return out
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined && kv[1] !== '')
    .map(([key, value]) => ({ key, value: clip(String(value), LIMITS.paramValueLength) }));
}

function perSecondMetrics(result: LoadTestResult): Metric[] {
  const start = Math.round(result.startedAt);
  const out: Metric[] = [];
  for (const s of result.perSecond) {
    const timestamp = start + s.second * 1000;
    const values: Record<(typeof PER_SECOND_METRICS)[number], number> = {
      // Requests completed in that second. The last second is usually partial (often only the requests
      // in flight at the end), so it reads low; scaling it up would turn a few stragglers into a spike.
      rps: s.requests,
      errors: s.errors,
      interval_p50_ms: s.p50,
      interval_p99_ms: s.p99,
    };
    for (const key of PER_SECOND_METRICS) out.push({ key, value: values[key], timestamp, step: s.second });
  }
  return out;
}

function summaryMetrics(result: LoadTestResult, timestamp: number): Metric[] {
  const l = result.latency;
  const values: Record<(typeof SUMMARY_METRICS)[number], number> = {
    throughput_rps: result.throughputRps,
    latency_p50_ms: l.p50,
    latency_p90_ms: l.p90,
    latency_p95_ms: l.p95,
    latency_p99_ms: l.p99,
    latency_p999_ms: l.p999,
    latency_max_ms: l.max,
    latency_mean_ms: l.mean,
    latency_stddev_ms: l.stddev,
    error_rate: errorRatePct(result) / 100,
    errors_total: totalErrors(result.errors),
    late: result.late,
    unsent: result.unsent,
    requests: result.requests,
    ok: result.ok,
    duration_s: result.durationMs / 1000,
  };
  return SUMMARY_METRICS.map((key) => ({ key, value: values[key], timestamp, step: 0 }));
}

function runTags(input: RecordLoadTestInput): KeyValue[] {
  const tags: KeyValue[] = [
    { key: LOADTEST_TAG, value: 'true' },
    { key: `${LOADTEST_TAG}.target`, value: clip(input.target, LIMITS.tagValueLength) },
  ];
  if (input.model) tags.push({ key: `${LOADTEST_TAG}.model`, value: clip(input.model, LIMITS.tagValueLength) });
  if (input.interrupted) tags.push({ key: `${LOADTEST_TAG}.interrupted`, value: 'true' });
  for (const v of input.verdicts ?? []) tags.push({ key: thresholdTagKey(v.expression), value: v.pass ? 'pass' : 'fail' });
  return tags;
}

/** Splits metrics, params and tags into batches within MLflow's per-request limits. */
function* batches(metrics: Metric[], params: KeyValue[], tags: KeyValue[]): Generator<{ metrics: Metric[]; params: KeyValue[]; tags: KeyValue[] }> {
  for (let i = 0; i < params.length; i += LIMITS.paramsPerBatch) yield { metrics: [], params: params.slice(i, i + LIMITS.paramsPerBatch), tags: [] };
  for (let i = 0; i < tags.length; i += LIMITS.tagsPerBatch) yield { metrics: [], params: [], tags: tags.slice(i, i + LIMITS.tagsPerBatch) };
  for (let i = 0; i < metrics.length; i += LIMITS.metricsPerBatch) yield { metrics: metrics.slice(i, i + LIMITS.metricsPerBatch), params: [], tags: [] };
}

/**
 * Records a finished test as a run of `load-tests`. The run, its params, metrics and tags are written in
 * one transaction; then the artifacts; then the status: FINISHED, FAILED when a threshold failed, KILLED
 * when the test was interrupted.
 * If writing an artifact fails, the run is marked FAILED and the error is thrown.
 */
export async function recordLoadTest(store: Store, input: RecordLoadTestInput): Promise<RecordedLoadTest> {
  const { result } = input;
  const experimentId = experimentNamed(store, LOADTEST_EXPERIMENT, 'restore it (or delete it permanently) to record load tests in it, or pass --no-record.');
  const startedAt = Math.max(0, Math.round(result.startedAt));
  const endedAt = startedAt + Math.max(0, Math.round(result.durationMs));
  const runName = input.name?.trim() || defaultRunName(input.target, startedAt);
  // Built before anything is written: a bad histogram leaves no half-recorded run behind.
  // Loaded here: the CLI's loadtest command imports this module for its names, and HdrHistogram is
  // ~300 KB of its start-up chunk otherwise (see esbuild.mjs).
  const { histogramText } = await import('./histogram.js');
  const hgrm = histogramText(result.histogram);
  const resultJson = `${JSON.stringify(result, null, 2)}\n`;

  const run = store.db.transaction(() => {
    const created = store.runs.create({ experiment_id: experimentId, run_name: runName, start_time: startedAt });
    const metrics = [...perSecondMetrics(result), ...summaryMetrics(result, endedAt)];
    for (const batch of batches(metrics, runParams(input), runTags(input))) store.runs.logBatch(created.info.run_id, batch);
    return created;
  })();
  const runId = run.info.run_id;

  const failedThreshold = (input.verdicts ?? []).some((v) => !v.pass);
  try {
    const base = ArtifactStore.relativeOfUri(run.info.artifact_uri);
    if (base === undefined) {
      throw new TrellisError('INVALID_STATE', `Run ${runId} stores artifacts at ${run.info.artifact_uri}, which this server does not serve; cannot write the load-test artifacts.`);
    }
    await store.artifacts.write(`${base}/histogram.hgrm`, Readable.from([Buffer.from(hgrm)]));
    await store.artifacts.write(`${base}/result.json`, Readable.from([Buffer.from(resultJson)]));
  } catch (err) {
    store.runs.update(runId, { status: 'FAILED', end_time: endedAt });
    throw err;
  }
  store.runs.update(runId, { status: input.interrupted ? 'KILLED' : failedThreshold ? 'FAILED' : 'FINISHED', end_time: endedAt });
  return { run_id: runId, experiment_id: experimentId };
}
