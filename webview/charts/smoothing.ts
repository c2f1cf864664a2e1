/**
 * TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled
 * towards zero. Gaps (null, NaN, ±Infinity) stay gaps and do not disturb the average.
 */
export function emaSmooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight > 0)) return [...values];
  const w = Math.min(weight, 0.999);
  let last = 0;
  let debias = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    last = last * w + (1 - w) * v;
    debias = debias * w + (1 - w);
    return last / debias;
  });
}
