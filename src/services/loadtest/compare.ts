/**
 * Two recorded load tests side by side: their summary metrics with the change from A to B and which
 * is better (lower latency, errors, late and unsent; higher throughput), and the params that differ.
 * Pure: it reads two runs as the API returns them.
 */
import type { Run } from '../../core/entities';
import { invalidParameter } from '../../core/errors';
import { LOADTEST_TAG } from './record';

export interface CompareRow {
  metric: string;
  a: number | null;
  b: number | null;
  /** b − a; null when either is missing. */
  delta: number | null;
  /** (b − a) / a in percent; null when either is missing or a is 0. */
  deltaPct: number | null;
  better: 'a' | 'b' | 'same';
}

export interface ParamRow {
  param: string;
  a: string | null;
  b: string | null;
  same: boolean;
}

export interface LoadTestComparison {
  a: { run_id: string; run_name: string };
  b: { run_id: string; run_name: string };
  rows: CompareRow[];
  params: ParamRow[];
}

/** Summary metrics in report order and which direction is better. */
const METRICS: [string, 'lower' | 'higher'][] = [
  ['throughput_rps', 'higher'],
  ['latency_p50_ms', 'lower'],
  ['latency_p90_ms', 'lower'],
  ['latency_p95_ms', 'lower'],
  ['latency_p99_ms', 'lower'],
  ['latency_p999_ms', 'lower'],
  ['latency_max_ms', 'lower'],
  ['latency_mean_ms', 'lower'],
  ['latency_stddev_ms', 'lower'],
  ['error_rate', 'lower'],
  ['errors_total', 'lower'],
  ['late', 'lower'],
  ['unsent', 'lower'],
  ['requests', 'higher'],
];

const PARAMS = ['target', 'model', 'mode', 'method', 'connections', 'rate', 'stages', 'duration_s', 'max_requests', 'workers', 'timeout_s'];

function metricOf(run: Run, key: string): number | null {
  const m = run.data.metrics.find((x) => x.key === key);
  if (!m) return null;
  const v = typeof m.value === 'number' ? m.value : Number(m.value);
  return Number.isNaN(v) ? null : v;
}

const paramOf = (run: Run, key: string): string | null => run.data.params.find((p) => p.key === key)?.value ?? null;

function assertLoadTest(run: Run, label: string): void {
  if (!run.data.tags.some((t) => t.key === LOADTEST_TAG && t.value === 'true')) {
    throw invalidParameter(`Run ${run.info.run_id} (${label}) is not a load test: it has no '${LOADTEST_TAG}' tag. Compare runs of the 'load-tests' experiment.`);
  }
}

export function compareLoadTests(a: Run, b: Run): LoadTestComparison {
  assertLoadTest(a, 'A');
  assertLoadTest(b, 'B');
  const rows: CompareRow[] = [];
  for (const [metric, direction] of METRICS) {
    const va = metricOf(a, metric);
    const vb = metricOf(b, metric);
    if (va === null && vb === null) continue;
    const delta = va !== null && vb !== null ? vb - va : null;
    const deltaPct = delta !== null && va !== 0 ? (delta / Math.abs(va!)) * 100 : null;
    let better: CompareRow['better'] = 'same';
    if (delta !== null && delta !== 0) better = (delta < 0) === (direction === 'lower') ? 'b' : 'a';
    rows.push({ metric, a: va, b: vb, delta, deltaPct, better });
  }
  const params: ParamRow[] = [];
  for (const param of PARAMS) {
    const pa = paramOf(a, param);
    const pb = paramOf(b, param);
    if (pa === null && pb === null) continue;
    params.push({ param, a: pa, b: pb, same: pa === pb });
  }
  return {
    a: { run_id: a.info.run_id, run_name: a.info.run_name },
    b: { run_id: b.info.run_id, run_name: b.info.run_name },
    rows,
    params,
  };
}
