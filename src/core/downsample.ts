/** A stored point of a series, with its position in logging order. */
export interface SeriesPoint {
  seq: number;
  step: number;
  timestamp: number;
  value: number;
}

/** Splits `items` into at most `groups` contiguous runs whose lengths differ by at most one. */
export function splitEvenly<T>(items: readonly T[], groups: number): T[][] {
  const count = Math.max(1, Math.min(groups, items.length));
  const out: T[][] = [];
  for (let g = 0; g < count; g++) {
    out.push(items.slice(Math.floor((g * items.length) / count), Math.floor(((g + 1) * items.length) / count)));
  }
  return out;
}

/**
 * The min/max envelope: the lowest and the highest point of each group (one point when they are the
 * same), in step order. NaN points carry no extreme and are skipped. At most 2 points per group.
 */
export function minMaxEnvelope(groups: readonly (readonly SeriesPoint[])[]): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const group of groups) {
    let min: SeriesPoint | undefined;
    let max: SeriesPoint | undefined;
    for (const p of group) {
      if (Number.isNaN(p.value)) continue;
      if (!min || p.value < min.value) min = p;
      if (!max || p.value > max.value) max = p;
    }
    if (!min || !max) continue;
    if (min === max) out.push(min);
    else if (min.seq < max.seq) out.push(min, max);
    else out.push(max, min);
  }
  return out.sort(byStepThenSeq);
}

export const byStepThenSeq = (a: SeriesPoint, b: SeriesPoint): number => a.step - b.step || a.seq - b.seq;

/**
 * MLflow's step sampling: `max` items at even intervals over a sorted list, plus the last one
 * (so up to `max + 1` items). Shorter lists come back whole.
 */
export function evenlySpaced<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const interval = items.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.floor(i * interval)]!);
  out.push(items[items.length - 1]!);
  return out;
}
