/**
 * Pass/fail thresholds in the style of k6 (`--threshold 'p99<50ms'`), checked against a finished test so
 * a CI pipeline can gate on the exit code. Parsing happens before any traffic: a typo fails at once, with
 * the grammar in the message, instead of after a ten-minute test.
 */
import type { ErrorKind, LoadTestResult } from './types';

export type ThresholdMetric = 'p50' | 'p90' | 'p95' | 'p99' | 'p999' | 'max' | 'mean' | 'errors' | 'rps' | 'late';
export type ThresholdOp = '<' | '<=' | '>' | '>=';
/** The unit a limit is written in: a time for latency, `%` or a plain count for errors and late, none for rps. */
export type ThresholdUnit = 'us' | 'ms' | 's' | '%' | '';

export interface Threshold {
  /** As the user wrote it, trimmed. */
  expression: string;
  metric: ThresholdMetric;
  op: ThresholdOp;
  /** The limit in `unit`. */
  value: number;
  unit: ThresholdUnit;
}

export interface ThresholdVerdict {
  expression: string;
  /** The measured value in the threshold's own unit (ms for `p99<50ms`, % for `errors<1%`); NaN when nothing was measured. */
  actual: number;
  pass: boolean;
  /** e.g. `p99 = 3.21 ms`, for reports. */
  detail?: string;
}

export class ThresholdError extends Error {
  constructor(
    message: string,
    /** The message without the grammar reminder, for listing several bad expressions. */
    readonly reason = message,
  ) {
    super(message);
    this.name = 'ThresholdError';
  }
}

const LATENCY = ['p50', 'p90', 'p95', 'p99', 'p999', 'max', 'mean'] as const;
type LatencyMetric = (typeof LATENCY)[number];
const isLatency = (m: ThresholdMetric): m is LatencyMetric => (LATENCY as readonly string[]).includes(m);

/** Spellings accepted besides the canonical names: k6's `p(99)`, `p99.9`, `avg`, `error`, `rate`. */
const ALIASES: Record<string, ThresholdMetric> = {
  'p(50)': 'p50', 'p(90)': 'p90', 'p(95)': 'p95', 'p(99)': 'p99', 'p(99.9)': 'p999', 'p99.9': 'p999',
  med: 'p50', median: 'p50', avg: 'mean', error: 'errors', error_rate: 'errors', reqs: 'rps',
};

const US_PER: Record<'us' | 'ms' | 's', number> = { us: 1, ms: 1_000, s: 1_000_000 };

export const THRESHOLD_HELP =
  "a threshold is '<metric> <op> <value>': latency p50 p90 p95 p99 p999 max mean with a unit us, ms or s (e.g. 'p99<50ms'); " +
  "errors as a rate 'errors<1%' or a count 'errors<10'; throughput 'rps>1000'; open-model late requests 'late<1%' or 'late<5'; " +
  'operators < <= > >=';

const PATTERN = /^\s*([a-z][a-z0-9_.()]*)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(us|µs|ms|s|%)?\s*$/i;

/** Parses one expression; throws ThresholdError naming what is allowed. */
export function parseThreshold(expression: string): Threshold {
  const text = expression.trim();
  const bad = (why: string) => {
    const reason = `Invalid threshold '${expression}': ${why}.`;
    return new ThresholdError(`${reason} Allowed: ${THRESHOLD_HELP}.`, reason);
  };
  if (text === '') throw bad('it is empty');
  const m = PATTERN.exec(text);
  if (!m) {
    if (/==|!=|=/.test(text)) throw bad("'=' comparisons are not supported");
    throw bad("expected '<metric> <op> <value>'");
  }
  const name = m[1]!.toLowerCase();
  const metric = (ALIASES[name] ?? name) as ThresholdMetric;
  const op = m[2] as ThresholdOp;
  const value = Number(m[3]);
  const unit = (m[4]?.toLowerCase().replace('µs', 'us') ?? '') as ThresholdUnit;
  if (!Number.isFinite(value)) throw bad(`'${m[3]}' is not a number`);

  if (isLatency(metric)) {
    if (unit === '') throw bad(`a latency limit needs a unit: us, ms or s (e.g. '${metric}${op}${value}ms')`);
    if (unit === '%') throw bad(`a latency limit is a time (us, ms or s), not a percentage`);
  } else if (metric === 'errors' || metric === 'late') {
    if (unit !== '' && unit !== '%') throw bad(`'${metric}' takes a percentage ('${metric}<1%') or a count ('${metric}<10'), not a time`);
    if (unit === '%' && value > 100) throw bad(`a percentage cannot exceed 100`);
  } else if (metric === 'rps') {
    if (unit !== '') throw bad(`'rps' takes a plain number of requests per second (e.g. 'rps>1000')`);
  } else {
    throw bad(`unknown metric '${m[1]}'`);
  }
  return { expression: text, metric, op, value, unit };
}

/** Parses every expression, reporting all the bad ones at once. */
export function parseThresholds(expressions: readonly string[]): Threshold[] {
  const out: Threshold[] = [];
  const errors: ThresholdError[] = [];
  for (const e of expressions) {
    try {
      out.push(parseThreshold(e));
    } catch (err) {
      if (!(err instanceof ThresholdError)) throw err;
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new ThresholdError(`${errors.map((e) => e.reason).join('\n')}\nAllowed: ${THRESHOLD_HELP}.`);
  return out;
}

export const totalErrors = (errors: LoadTestResult['errors']): number =>
  Object.values(errors as Record<ErrorKind, number | undefined>).reduce<number>((sum, n) => sum + (n ?? 0), 0);

/** Errors as a percentage of the requests that completed or failed; 0 when there were none. */
export function errorRatePct(result: LoadTestResult): number {
  const errors = totalErrors(result.errors);
  const denominator = Math.max(result.requests, result.ok + errors);
  return denominator === 0 ? 0 : (errors / denominator) * 100;
}

/** The measured value a threshold compares, in the threshold's unit. */
function measure(t: Threshold, result: LoadTestResult): number {
  if (isLatency(t.metric)) {
    if (result.latency.count === 0) return NaN;
    const ms = result.latency[t.metric];
    return (ms * 1_000) / US_PER[t.unit as 'us' | 'ms' | 's'];
  }
  switch (t.metric) {
    case 'rps':
      return result.throughputRps;
    case 'errors':
      return t.unit === '%' ? errorRatePct(result) : totalErrors(result.errors);
    case 'late': {
      if (t.unit !== '%') return result.late;
      const scheduled = result.requests + result.unsent;
      return scheduled === 0 ? 0 : (result.late / scheduled) * 100;
    }
    default:
      return NaN;
  }
}

function compare(actual: number, op: ThresholdOp, limit: number): boolean {
  if (Number.isNaN(actual)) return false;
  switch (op) {
    case '<':
      return actual < limit;
    case '<=':
      return actual <= limit;
    case '>':
      return actual > limit;
    case '>=':
      return actual >= limit;
  }
}

const round = (v: number): string => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString());

/** A latency threshold fails when nothing was measured: an empty test must not pass `p99<50ms`. */
export function evaluateThresholds(thresholds: readonly Threshold[], result: LoadTestResult): ThresholdVerdict[] {
  return thresholds.map((t) => {
    const actual = measure(t, result);
    const shownUnit = t.unit === '' ? '' : t.unit === '%' ? '%' : ` ${t.unit}`;
    const detail = Number.isNaN(actual) ? `${t.metric}: no latency measured` : `${t.metric} = ${round(actual)}${shownUnit}`;
    return { expression: t.expression, actual, pass: compare(actual, t.op, t.value), detail };
  });
}

const OP_WORDS: Record<ThresholdOp, string> = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };

/**
 * A tag key for a verdict. MLflow keys allow only letters, digits, `_ - . : /` and spaces, so the operator
 * and `%` are spelled out: `p99<50ms` → `trellis.threshold.p99_lt_50ms`, `errors<1%` → `trellis.threshold.errors_lt_1pct`.
 */
export function thresholdTagKey(expression: string): string {
  let body: string;
  try {
    const t = parseThreshold(expression);
    body = `${t.metric}_${OP_WORDS[t.op]}_${t.value}${t.unit === '%' ? 'pct' : t.unit}`;
  } catch {
    body = expression
      .replace(/<=/g, '_le_').replace(/>=/g, '_ge_').replace(/</g, '_lt_').replace(/>/g, '_gt_').replace(/%/g, 'pct')
      .replace(/[^\w.-]+/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '');
  }
  return `trellis.threshold.${body || 'expression'}`.slice(0, 250);
}
