/** Series as charts draw them: x from the chosen axis, y fit for the chosen scale, several aligned on one x. */
import type { SeriesPoints, StepRange } from '../../src/protocol/common';
import type { XAxis } from '../../src/protocol/run-dashboard';

export interface XY {
  x: number[];
  y: (number | null)[];
}

/** Step axis: the step; time axis: wall-clock seconds (uPlot's time scale unit). */
export function toXY(points: SeriesPoints, axis: XAxis): XY {
  return { x: axis === 'step' ? [...points.steps] : points.timestamps.map((t) => t / 1000), y: [...points.values] };
}

/** A log scale cannot draw zero or negative values: they become gaps instead of breaking the scale. */
export function forLogScale(y: readonly (number | null)[]): (number | null)[] {
  return y.map((v) => (v !== null && v > 0 ? v : null));
}

/**
 * Several series on one sorted x (uPlot's data layout): the union of their x values, each series null
 * where it has no point. Repeated x within one series keep their last value.
 */
export function alignSeries(series: readonly XY[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const y: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    s.x.forEach((x, i) => (y[index.get(x)!] = s.y[i] ?? null));
    return y;
  });
  return [xs, ...ys];
}

/**
 * The step range to fetch in detail after a zoom to [xMin, xMax] on `axis`. On the time axis the bounds
 * map to the steps logged at those times (the points on either side, so the edges stay drawn).
 */
export function zoomStepRange(xMin: number, xMax: number, axis: XAxis, shown: SeriesPoints): StepRange {
  if (axis === 'step') return { startStep: Math.floor(xMin), endStep: Math.ceil(xMax) };
  const t0 = xMin * 1000;
  const t1 = xMax * 1000;
  let start: number | undefined;
  let end: number | undefined;
  shown.timestamps.forEach((t, i) => {
    const step = shown.steps[i]!;
    if (t <= t0) start = start === undefined ? step : Math.max(start, step);
    if (t >= t1) end = end === undefined ? step : Math.min(end, step);
  });
  return { ...(start !== undefined ? { startStep: start } : {}), ...(end !== undefined ? { endStep: end } : {}) };
}

/** Fewer points than the envelope could hold: the series is whole, zooming needs no detail from the server. */
export function isWhole(points: SeriesPoints, range: StepRange, maxPoints: number): boolean {
  return range.startStep === undefined && range.endStep === undefined && points.steps.length < Math.min(64, maxPoints / 2);
}
