/**
 * HdrHistogram's percentile distribution text (histogram.hgrm, values in milliseconds) as chart data:
 * the latency-by-percentile curve HdrHistogram's plotter draws, and a request-count histogram.
 */

export interface PercentileRow {
  value: number;
  percentile: number;
  totalCount: number;
}

/** The distribution's rows (comment and header lines skipped), in file order. */
export function parseHgrm(text: string): PercentileRow[] {
  const rows: PercentileRow[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const cols = line.trim().split(/\s+/).map(Number);
    if (cols.length < 3 || cols.slice(0, 3).some((n) => !Number.isFinite(n))) continue;
    rows.push({ value: cols[0]!, percentile: cols[1]!, totalCount: cols[2]! });
  }
  return rows;
}

/**
 * Latency against 1/(1 − percentile) (so 90%, 99%, 99.9% are evenly spaced on a log axis). The last
 * row (percentile 1, an infinite x) is left out.
 */
export function percentileCurve(rows: readonly PercentileRow[]): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (const r of rows) {
    if (r.percentile >= 1) continue;
    const inv = 1 / (1 - r.percentile);
    if (x.length && inv <= x[x.length - 1]!) continue; // repeated percentiles add nothing to the curve
    x.push(inv);
    y.push(r.value);
  }
  return { x, y };
}

/** `2` → `50%`, `1000` → `99.9%`: the percentile an x of the curve stands for. */
export function percentileLabel(inv: number): string {
  if (!(inv >= 1)) return '';
  const p = (1 - 1 / inv) * 100;
  return `${Number(p.toPrecision(p >= 99 ? 5 : 3))}%`;
}

/**
 * Requests per latency bucket: the counts between consecutive rows, placed in `buckets` buckets evenly
 * spaced on a log scale between the lowest and the highest latency. `edges` has one more entry than `counts`.
 */
export function latencyHistogram(rows: readonly PercentileRow[], buckets: number): { edges: number[]; counts: number[] } {
  const positive = rows.filter((r) => r.value > 0);
  if (positive.length === 0 || buckets < 1) return { edges: [], counts: [] };
  const lo = Math.min(...positive.map((r) => r.value));
  const hi = Math.max(...positive.map((r) => r.value));
  const n = hi > lo ? buckets : 1;
  const ratio = hi > lo ? Math.pow(hi / lo, 1 / n) : 1;
  const edges = Array.from({ length: n + 1 }, (_, i) => (i === n ? hi : lo * Math.pow(ratio, i)));
  const counts = new Array<number>(n).fill(0);
  let previous = 0;
  for (const r of rows) {
    const added = r.totalCount - previous;
    previous = Math.max(previous, r.totalCount);
    if (added <= 0 || r.value <= 0) continue;
    const i = hi > lo ? Math.min(n - 1, Math.floor(Math.log(r.value / lo) / Math.log(ratio))) : 0;
    counts[Math.max(0, i)]! += added;
  }
  return { edges, counts };
}

/** Ticks of the percentile axis: 0%, 50%, 90%, 99%, 99.9%... (x = 1, 2, 10, 100, 1000...) within [min, max]. */
export function percentileTicks(min: number, max: number): number[] {
  const ticks = [1, 2];
  for (let x = 10; x <= max * 1.0001; x *= 10) ticks.push(x);
  return ticks.filter((x) => x >= min * 0.9999 && x <= max * 1.0001);
}
