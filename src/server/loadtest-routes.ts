import type { Store } from '../core/store';
import { invalidParameter } from '../core/errors';
import type { Router } from './router';
import type { Fields } from './input';
import { recordLoadTest, type LoadTestRunParams, type RecordLoadTestInput } from '../services/loadtest/record';
import type { ErrorKind, LatencySummary, LoadTestResult, SecondSample } from '../services/loadtest/types';
import type { ThresholdVerdict } from '../services/loadtest/thresholds';

const API = '/api/trellis/loadtests';

/**
 * Load-test results recorded through the platform: the CLI (and the extension) run the test, then post
 * the result here, and the platform writes it as a run of the `load-tests` experiment.
 */
export function mountLoadTestRoutes(router: Router, store: Store): void {
  router.on('POST', API, async (ctx) => recordLoadTest(store, parseRecordBody(await ctx.fields())));
}

const bad = (path: string, expected: string, value: unknown) =>
  invalidParameter(
    `Invalid value ${value === undefined ? '(missing)' : JSON.stringify(value)?.slice(0, 80)} for '${path}' in the load-test record: expected ${expected}.`,
  );

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'an object', v);
  return v as Obj;
}

function text(o: Obj, key: string, path: string, optional = false): string | undefined {
  const v = o[key];
  if ((v === undefined || v === null) && optional) return undefined;
  if (typeof v !== 'string' || (!optional && v === '')) throw bad(`${path}${key}`, optional ? 'a string' : 'a non-empty string', v);
  return v;
}

/**
 * A double as JSON carries it: a number, `null` (JSON.stringify's NaN) or protobuf's "NaN"/"Infinity"
 * strings. Counts must be integers ≥ 0.
 */
function number(o: Obj, key: string, path: string, kind: 'double' | 'count' = 'double'): number {
  const v = o[key];
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (v === null && kind === 'double') n = NaN;
  else if (typeof v === 'string' && kind === 'double' && ['NaN', 'Infinity', '-Infinity'].includes(v)) n = Number(v);
  if (n === undefined || (kind === 'count' && !(Number.isSafeInteger(n) && n >= 0))) {
    throw bad(`${path}${key}`, kind === 'count' ? 'an integer ≥ 0' : 'a number', v);
  }
  return n;
}

function optionalCount(o: Obj, key: string, path: string): number | undefined {
  return o[key] === undefined || o[key] === null ? undefined : number(o, key, path, 'count');
}

function parseParams(v: unknown): LoadTestRunParams {
  const p = obj(v, 'params');
  const mode = p.mode;
  if (mode !== 'open' && mode !== 'closed') throw bad('params.mode', "'open' or 'closed'", mode);
  const params: LoadTestRunParams = {
    mode,
    method: text(p, 'method', 'params.')!,
    workers: number(p, 'workers', 'params.', 'count'),
    timeout_ms: number(p, 'timeout_ms', 'params.', 'count'),
    duration_ms: number(p, 'duration_ms', 'params.', 'count'),
    connections: number(p, 'connections', 'params.', 'count'),
  };
  const maxRequests = optionalCount(p, 'max_requests', 'params.');
  if (maxRequests !== undefined) params.max_requests = maxRequests;
  if (p.rate !== undefined && p.rate !== null) {
    const rate = number(p, 'rate', 'params.');
    if (!(rate >= 0 && Number.isFinite(rate))) throw bad('params.rate', 'a finite number ≥ 0', p.rate);
    params.rate = rate;
  }
  const stages = text(p, 'stages', 'params.', true);
  if (stages !== undefined) params.stages = stages;
  return params;
}

const LATENCY_FIELDS: (keyof LatencySummary)[] = ['count', 'mean', 'stddev', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'p999'];
const ERROR_KIND = /^(timeout|refused|reset|other|status_\d{3})$/;

function parseResult(v: unknown): LoadTestResult {
  const r = obj(v, 'result');
  const latencyIn = obj(r.latency, 'result.latency');
  const latency = {} as LatencySummary;
  for (const f of LATENCY_FIELDS) latency[f] = number(latencyIn, f, 'result.latency.', f === 'count' ? 'count' : 'double');

  const errorsIn = obj(r.errors, 'result.errors');
  const errors: LoadTestResult['errors'] = {};
  for (const kind of Object.keys(errorsIn)) {
    if (!ERROR_KIND.test(kind)) throw bad(`result.errors`, "error kinds timeout, refused, reset, other or status_<code>", kind);
    errors[kind as ErrorKind] = number(errorsIn, kind, 'result.errors.', 'count');
  }

  if (!Array.isArray(r.perSecond)) throw bad('result.perSecond', 'a list of per-second samples', r.perSecond);
  const perSecond: SecondSample[] = r.perSecond.map((item: unknown, i) => {
    const s = obj(item, `result.perSecond[${i}]`);
    const at = `result.perSecond[${i}].`;
    return {
      second: number(s, 'second', at, 'count'),
      requests: number(s, 'requests', at, 'count'),
      errors: number(s, 'errors', at, 'count'),
      p50: number(s, 'p50', at),
      p99: number(s, 'p99', at),
    };
  });

  const startedAt = number(r, 'startedAt', 'result.');
  if (!(Number.isFinite(startedAt) && startedAt >= 0)) throw bad('result.startedAt', 'a time in ms since the epoch', r.startedAt);
  const durationMs = number(r, 'durationMs', 'result.');
  if (!(Number.isFinite(durationMs) && durationMs >= 0)) throw bad('result.durationMs', 'a duration in ms ≥ 0', r.durationMs);
  const histogram = r.histogram;
  if (typeof histogram !== 'string') throw bad('result.histogram', 'an HdrHistogram in compressed base64 (a string)', histogram);
  return {
    startedAt,
    durationMs,
    requests: number(r, 'requests', 'result.', 'count'),
    ok: number(r, 'ok', 'result.', 'count'),
    errors,
    late: number(r, 'late', 'result.', 'count'),
    unsent: number(r, 'unsent', 'result.', 'count'),
    throughputRps: number(r, 'throughputRps', 'result.'),
    latency,
    perSecond,
    histogram,
  };
}

function parseVerdicts(v: unknown): ThresholdVerdict[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('verdicts', 'a list of {expression, actual, pass}', v);
  return v.map((item: unknown, i) => {
    const o = obj(item, `verdicts[${i}]`);
    const pass = o.pass;
    if (typeof pass !== 'boolean') throw bad(`verdicts[${i}].pass`, 'true or false', pass);
    const detail = text(o, 'detail', `verdicts[${i}].`, true);
    return {
      expression: text(o, 'expression', `verdicts[${i}].`)!,
      actual: number(o, 'actual', `verdicts[${i}].`),
      pass,
      ...(detail !== undefined ? { detail } : {}),
    };
  });
}

/** The body of POST /api/trellis/loadtests, checked field by field; a 400 names the first bad field. */
export function parseRecordBody(f: Fields): RecordLoadTestInput {
  const target = text(f, 'target', '')!;
  const input: RecordLoadTestInput = {
    target,
    params: parseParams(f.params),
    result: parseResult(f.result),
    verdicts: parseVerdicts(f.verdicts),
  };
  const model = text(f, 'model', '', true);
  if (model) input.model = model;
  const name = text(f, 'name', '', true);
  if (name) input.name = name;
  if (f.interrupted !== undefined && f.interrupted !== null) {
    if (typeof f.interrupted !== 'boolean') throw bad('interrupted', 'true or false', f.interrupted);
    input.interrupted = f.interrupted;
  }
  return input;
}
