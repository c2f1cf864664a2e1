/**
 * The load test engine: runs a LoadTestPlan on worker_threads and merges what they measured.
 *
 * Every worker (also when there is one: the caller's event loop stays free) connects its connections,
 * then all start at one instant t0 of the process-wide monotonic clock. Closed model: each connection
 * sends its next request when the last reply arrives; latency counts from the actual send. Open model:
 * the schedule's arrivals are dealt out in turn to the workers; latency counts from each request's
 * scheduled time, so a stalled server shows up in full (no coordinated omission); a request that finds
 * no free connection waits and is counted `late`; arrivals still waiting when the schedule ends are
 * counted `unsent`.
 *
 * Bounds: a closed test stops sending at its duration or request count (10 minutes at most when only a
 * count is given), an open one at the end of its schedule; requests in flight then get until their
 * timeout. A hard cap of (duration + timeout + 5 s) ends the test whatever happens, and `signal` ends it
 * early: requests in flight are then abandoned (not counted) and the rest is returned.
 *
 * Latency is recorded for every reply (any status); a request without one (timeout, refused, reset,
 * other) counts only as an error. `requests` = `ok` + all errors. `perSecond` buckets requests by the
 * second (from t0) in which they completed; progress reports, for the second just closed, its requests
 * (`rps`) and p99, with the running totals.
 *
 * Limits: http:// only (local endpoints; no TLS); at most as many workers as connections are started.
 * Open-model timing is as precise as a thread's event loop allows (see worker.ts): sends are typically
 * within tens of µs of schedule up to several thousand requests/s per worker; any lag counts in latency.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { invalidParameter } from '../../core/errors';
import { addBuckets, createHistogram, encodeHistogram, mergeHistograms, summarize, type Histogram } from './histogram';
import { parseTarget } from './http-connection';
import { validateStages } from './parse';
import { compileTemplate } from './template';
import type { ErrorKind, LoadTestPlan, LoadTestProgress, LoadTestResult, SecondSample } from './types';
import {
  DEFAULT_MAX_DURATION_MS,
  type EngineToWorker,
  type WorkerInit,
  type WorkerSecond,
  type WorkerToEngine,
  type WorkerTotals,
} from './worker';

export interface RunLoadTestOptions {
  /** About once a second while the test runs. */
  onProgress?: (p: LoadTestProgress) => void;
  /** Ends the test early; what was measured so far is returned. */
  signal?: AbortSignal;
}

/** How long after `start` the workers begin (they are all connected by then). */
const START_DELAY_MS = 20;
/** Progress for second k is given this long after it closes, once the workers' reports are in. */
const PROGRESS_LAG_MS = 100;
/** …or at most this long, if a worker is too busy to report. */
const MAX_PROGRESS_LAG_MS = 1000;
/** After asking workers to stop, how long to wait for their figures before terminating them. */
const STOP_GRACE_MS = 2000;

/** Checks a plan; throws INVALID_PARAMETER_VALUE naming the problem. */
export function validatePlan(plan: LoadTestPlan): void {
  if (!plan.request || typeof plan.request.method !== 'string' || !/^[A-Za-z]+$/.test(plan.request.method)) {
    throw invalidParameter(`Invalid request method ${JSON.stringify(plan.request?.method)}`);
  }
  try {
    parseTarget(plan.request.url);
  } catch (err) {
    throw invalidParameter(`Invalid URL ${JSON.stringify(plan.request.url)}: ${(err as Error).message}`);
  }
  const { body } = plan.request;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) compileTemplate(body);
  for (const [k, v] of Object.entries(plan.request.headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw invalidParameter(`Invalid header name ${JSON.stringify(k)}`);
    if (/[\r\n]/.test(v)) throw invalidParameter(`Header ${k} contains a line break`);
  }
  if (!Number.isInteger(plan.workers) || plan.workers < 1) throw invalidParameter(`workers must be an integer ≥ 1 (got ${plan.workers})`);
  if (!(plan.timeoutMs > 0) || !Number.isFinite(plan.timeoutMs)) throw invalidParameter(`timeoutMs must be > 0 (got ${plan.timeoutMs})`);
  const m = plan.model;
  if (m.kind === 'closed') {
    if (!Number.isInteger(m.connections) || m.connections < 1) throw invalidParameter(`connections must be an integer ≥ 1 (got ${m.connections})`);
    if (m.durationMs === undefined && m.requests === undefined) throw invalidParameter('A closed model needs a duration, a request count, or both');
    if (m.durationMs !== undefined && !(m.durationMs > 0 && Number.isFinite(m.durationMs))) throw invalidParameter(`durationMs must be > 0 (got ${m.durationMs})`);
    if (m.requests !== undefined && !(Number.isInteger(m.requests) && m.requests >= 1)) throw invalidParameter(`requests must be an integer ≥ 1 (got ${m.requests})`);
  } else if (m.kind === 'open') {
    validateStages(m.stages);
    if (!Number.isInteger(m.maxConnections) || m.maxConnections < 1) throw invalidParameter(`maxConnections must be an integer ≥ 1 (got ${m.maxConnections})`);
  } else {
    throw invalidParameter(`Unknown load model ${JSON.stringify((m as { kind?: unknown }).kind)}`);
  }
}

/** How the worker module is found: next to a bundle (dist/loadtest-worker.js) or as TypeScript source under tsx. */
function workerEntry(): { filename: string; eval: boolean } {
  const bundled = join(__dirname, 'loadtest-worker.js');
  if (existsSync(bundled)) return { filename: bundled, eval: false };
  const js = join(__dirname, 'worker.js');
  if (existsSync(js)) return { filename: js, eval: false };
  const ts = join(__dirname, 'worker.ts');
  if (existsSync(ts)) {
    // Node 20 does not pass tsx's loader hooks on to worker threads: register them in the worker first.
    const tsx = createRequire(__filename).resolve('tsx/cjs');
    return { filename: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});`, eval: true };
  }
  throw new Error(`The load test worker is missing (looked for ${bundled} and ${ts})`);
}

interface WorkerState {
  worker: Worker;
  totals: WorkerTotals;
  /** Every second's buckets received: the worker's samples, should it never send its total. */
  secondBuckets: number[][];
  histogram: string | null;
  /** Every second up to this one is reported. */
  lastSecond: number;
  endMs: number;
  done: boolean;
}

const emptyTotals = (): WorkerTotals => ({ requests: 0, ok: 0, errors: {}, late: 0, unsent: 0 });

export async function runLoadTest(plan: LoadTestPlan, options: RunLoadTestOptions = {}): Promise<LoadTestResult> {
  validatePlan(plan);
  const { onProgress, signal } = options;
  const model = plan.model;
  const count = Math.min(plan.workers, model.kind === 'open' ? model.maxConnections : model.connections);
  const entry = workerEntry();
  const seconds = new SecondMerger();

  const states: WorkerState[] = [];
  let failure: Error | null = null;
  let forced = false;
  let settle: () => void = () => {};
  const allDone = new Promise<void>((resolve) => (settle = resolve));
  let readyCount = 0;
  let onAllReady: () => void = () => {};
  const allReady = new Promise<void>((resolve) => (onAllReady = resolve));
  const sealSeconds = () => seconds.seal(Math.min(...states.map((s) => (s.done ? Infinity : s.lastSecond))));
  const terminateAll = () => {
    for (const s of states) {
      if (!s.done) {
        s.done = true;
        void s.worker.terminate();
      }
    }
    onAllReady();
    settle();
  };
  const fail = (err: Error) => {
    failure ??= err;
    terminateAll();
  };

  for (let index = 0; index < count; index++) {
    const init: WorkerInit = { trellisLoadTestWorker: true, plan, index, count };
    const worker = new Worker(entry.filename, { eval: entry.eval, workerData: init, stdout: false, stderr: false });
    const state: WorkerState = { worker, totals: emptyTotals(), secondBuckets: [], histogram: null, lastSecond: -1, endMs: 0, done: false };
    states.push(state);
    worker.on('message', (msg: WorkerToEngine) => {
      if (state.done) return;
      switch (msg.type) {
        case 'ready':
          if (++readyCount === count) onAllReady();
          break;
        case 'second':
          state.totals = msg.totals;
          state.lastSecond = msg.through;
          seconds.add(msg.data);
          if (msg.data.buckets.length > 0) state.secondBuckets.push(msg.data.buckets);
          sealSeconds();
          break;
        case 'done':
          state.totals = msg.totals;
          for (const sec of msg.seconds) seconds.add(sec);
          state.histogram = msg.histogram;
          state.endMs = msg.endMs;
          state.done = true;
          void worker.terminate();
          sealSeconds();
          if (states.every((s) => s.done)) settle();
          break;
        case 'fatal':
          fail(new Error(`Load test worker ${index} failed: ${msg.message}`));
          break;
      }
    });
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => {
      if (!state.done) fail(new Error(`Load test worker ${index} exited (code ${code}) before reporting`));
    });
  }

  // Stopping: ask the workers for what they have; terminate those that do not answer in time.
  let graceTimer: NodeJS.Timeout | null = null;
  const stopAll = () => {
    for (const s of states) if (!s.done) s.worker.postMessage({ type: 'stop' } satisfies EngineToWorker);
    graceTimer ??= setTimeout(() => {
      forced = states.some((s) => !s.done);
      terminateAll();
    }, STOP_GRACE_MS);
  };
  signal?.addEventListener('abort', stopAll, { once: true });
  const boundMs = model.kind === 'open' ? model.stages.reduce((a, st) => a + st.durationMs, 0) : (model.durationMs ?? DEFAULT_MAX_DURATION_MS);
  // Workers stop themselves at (duration + timeout + 5 s); this is the backstop if one cannot.
  const hardCap = setTimeout(stopAll, plan.timeoutMs * 2 + boundMs + START_DELAY_MS + 6000);
  let progressTimer: NodeJS.Timeout | null = null;
  try {
    await allReady;
    if (failure) throw failure;
    const t0 = process.hrtime.bigint() + BigInt(START_DELAY_MS * 1e6);
    const startedAt = Date.now() + START_DELAY_MS;
    for (const s of states) s.worker.postMessage({ type: 'start', t0 } satisfies EngineToWorker);
    if (signal?.aborted) stopAll();

    // Progress just after each second of the test closes, once every worker has reported it.
    if (onProgress) {
      let k = 1;
      const report = () => {
        const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
        if (elapsedMs < k * 1000 + MAX_PROGRESS_LAG_MS && !states.every((s) => s.done || s.lastSecond >= k - 1)) {
          progressTimer = setTimeout(report, 20);
          return;
        }
        const totals = states.map((s) => s.totals);
        const last = seconds.get(k - 1);
        try {
          onProgress({
            elapsedMs,
            requests: sum(totals.map((t) => t.requests)),
            errors: sum(totals.map((t) => errorCount(t.errors))),
            rps: last.requests,
            p99: last.p99,
          });
        } catch {
          /* a progress printer's problem must not end the test */
        }
        k = Math.max(k + 1, Math.floor(elapsedMs / 1000) + 1);
        progressTimer = setTimeout(report, Math.max(10, k * 1000 + PROGRESS_LAG_MS - elapsedMs));
      };
      progressTimer = setTimeout(report, START_DELAY_MS + 1000 + PROGRESS_LAG_MS);
    }

    await allDone;
    if (failure) throw failure;

    const totals = states.map((s) => s.totals);
    const errors: Partial<Record<ErrorKind, number>> = {};
    for (const t of totals) for (const [k, v] of Object.entries(t.errors)) errors[k as ErrorKind] = (errors[k as ErrorKind] ?? 0) + v;
    const histogram = mergeHistograms(states.flatMap((s) => (s.histogram !== null ? [s.histogram] : [])));
    // A worker that had to be terminated sent no total histogram: its closed seconds hold its samples.
    for (const s of states) if (s.histogram === null) for (const b of s.secondBuckets) addBuckets(histogram, b);
    const requests = sum(totals.map((t) => t.requests));
    const endMs = Math.max(0, ...states.map((s) => s.endMs));
    const durationMs = forced ? Math.max(endMs, Date.now() - startedAt) : endMs;
    return {
      startedAt,
      durationMs,
      requests,
      ok: sum(totals.map((t) => t.ok)),
      errors,
      late: sum(totals.map((t) => t.late)),
      unsent: sum(totals.map((t) => t.unsent)),
      throughputRps: durationMs > 0 ? (requests * 1000) / durationMs : 0,
      latency: summarize(histogram),
      perSecond: seconds.samples(),
      histogram: encodeHistogram(histogram),
    };
  } finally {
    clearTimeout(hardCap);
    if (graceTimer) clearTimeout(graceTimer);
    if (progressTimer) clearTimeout(progressTimer);
    signal?.removeEventListener('abort', stopAll);
    terminateAll();
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const errorCount = (errors: Record<string, number>) => sum(Object.values(errors));

/**
 * Per-second figures of all workers, merged by second index. A second's histograms are merged as they
 * come and dropped once every worker is past it (sealed), so a long test keeps only a few in memory.
 */
class SecondMerger {
  private readonly open = new Map<number, { requests: number; errors: number; hist: Histogram | null }>();
  private readonly sealed = new Map<number, SecondSample>();

  add(sec: WorkerSecond): void {
    const late = this.sealed.get(sec.second);
    if (late) {
      // Cannot happen with the workers' protocol (each reports a second once, in order); keep the counts.
      late.requests += sec.requests;
      late.errors += sec.errors;
      return;
    }
    let e = this.open.get(sec.second);
    if (!e) {
      e = { requests: 0, errors: 0, hist: null };
      this.open.set(sec.second, e);
    }
    e.requests += sec.requests;
    e.errors += sec.errors;
    if (sec.buckets.length > 0) addBuckets((e.hist ??= createHistogram()), sec.buckets);
  }

  /** No more data will come for seconds ≤ `upTo`. */
  seal(upTo: number): void {
    for (const [i, e] of this.open) {
      if (i > upTo) continue;
      this.sealed.set(i, sample(i, e.requests, e.errors, e.hist));
      this.open.delete(i);
    }
  }

  /** Requests and p99 (ms) of one second, as far as the workers have reported it. */
  get(second: number): { requests: number; p99: number } {
    const done = this.sealed.get(second);
    if (done) return done;
    const e = this.open.get(second);
    return e ? sample(second, e.requests, e.errors, e.hist) : { requests: 0, p99: 0 };
  }

  /** Every second from 0 to the last one with requests. */
  samples(): SecondSample[] {
    this.seal(Infinity);
    let last = -1;
    for (const [i, s] of this.sealed) if (s.requests > 0 && i > last) last = i;
    const out: SecondSample[] = [];
    for (let i = 0; i <= last; i++) out.push(this.sealed.get(i) ?? { second: i, requests: 0, errors: 0, p50: 0, p99: 0 });
    return out;
  }
}

function sample(second: number, requests: number, errors: number, h: Histogram | null): SecondSample {
  const has = h !== null && h.totalCount > 0;
  return { second, requests, errors, p50: has ? h.getValueAtPercentile(50) / 1000 : 0, p99: has ? h.getValueAtPercentile(99) / 1000 : 0 };
}
