/**
 * Parallel coordinates' axes: one per dimension (a param that varies between runs, or a metric), numeric
 * when every present value is a number, else categorical (values in sorted order, evenly spaced).
 */
export type Axis =
  | { name: string; kind: 'numeric'; min: number; max: number }
  | { name: string; kind: 'categorical'; categories: string[] };

export interface Dimension {
  name: string;
  /** One value per run; null where the run lacks it. */
  values: (string | number | null)[];
}

export function buildAxis(d: Dimension): Axis {
  const present = d.values.filter((v): v is string | number => v !== null && v !== '');
  const numbers = present.map(Number);
  if (present.length > 0 && numbers.every(Number.isFinite)) {
    return { name: d.name, kind: 'numeric', min: Math.min(...numbers), max: Math.max(...numbers) };
  }
  return { name: d.name, kind: 'categorical', categories: [...new Set(present.map(String))].sort() };
}

/** Where a value sits on its axis, 0 (bottom) to 1 (top); null when missing or unknown. A flat axis puts all at the middle. */
export function axisPosition(axis: Axis, value: string | number | null): number | null {
  if (value === null || value === '') return null;
  if (axis.kind === 'numeric') {
    const n = Number(value);
    if (!Number.isFinite(n)) return null;
    return axis.max === axis.min ? 0.5 : (n - axis.min) / (axis.max - axis.min);
  }
  const i = axis.categories.indexOf(String(value));
  if (i < 0) return null;
  return axis.categories.length === 1 ? 0.5 : i / (axis.categories.length - 1);
}

/** Params whose values differ between runs (a constant param says nothing here), then every metric. */
export function chooseDimensions(params: Dimension[], metrics: Dimension[]): Dimension[] {
  const varying = params.filter((d) => new Set(d.values.map((v) => (v === null ? '\u0000' : String(v)))).size > 1);
  return [...varying, ...metrics.filter((d) => d.values.some((v) => v !== null))];
}
