/** The load-test report's headline figures and how each compares with a baseline. */
import type { RunSummary } from '../src/protocol/common';

export interface SummaryFigure {
  key: string;
  label: string;
  unit: string;
  value: number | null;
  baseline?: number | null;
  /** (value − baseline) / baseline in percent; null when either is missing or the baseline is 0. */
  changePct?: number | null;
  verdict?: 'better' | 'worse' | 'same';
}

/** Summary metrics record.ts logs, in report order, and which way is better. */
const FIGURES: [key: string, label: string, unit: string, better: 'higher' | 'lower'][] = [
  ['throughput_rps', 'Throughput', 'req/s', 'higher'],
  ['latency_p50_ms', 'p50', 'ms', 'lower'],
  ['latency_p99_ms', 'p99', 'ms', 'lower'],
  ['latency_p999_ms', 'p99.9', 'ms', 'lower'],
  ['latency_max_ms', 'max', 'ms', 'lower'],
  ['error_rate', 'Error rate', '%', 'lower'],
  ['requests', 'Requests', '', 'higher'],
  ['late', 'Late', '', 'lower'],
];

const metric = (run: RunSummary, key: string): number | null => {
  const v = run.latest.find((m) => m.key === key)?.value;
  return v === undefined || !Number.isFinite(v) ? null : key === 'error_rate' ? v * 100 : v;
};

export function summaryFigures(test: RunSummary, baseline?: RunSummary): SummaryFigure[] {
  return FIGURES.map(([key, label, unit, better]) => {
    const value = metric(test, key);
    if (!baseline) return { key, label, unit, value };
    const base = metric(baseline, key);
    const changePct = value === null || base === null || base === 0 ? null : ((value - base) / base) * 100;
    let verdict: SummaryFigure['verdict'];
    if (value !== null && base !== null) verdict = value === base ? 'same' : (value > base) === (better === 'higher') ? 'better' : 'worse';
    return { key, label, unit, value, baseline: base, changePct, ...(verdict ? { verdict } : {}) };
  });
}
