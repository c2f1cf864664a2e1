/**
 * The statistics of drift monitoring, on plain numbers: quantile bin edges, bin and category counts,
 * the Population Stability Index and the two-sample Kolmogorov–Smirnov test. No allocation in the
 * counting functions: the monitor calls them for every feature on every scrape with reused buffers.
 */

/**
 * Floor for a proportion in PSI. An empty bin on either side would make ln(a/e) infinite; flooring both
 * proportions at 1e-4 (0.01 %, the usual choice) keeps PSI finite and makes a bin that went from empty to
 * 1 % of the rows count ≈ 0.046, the same order as its real weight.
 */
export const PSI_EPSILON = 1e-4;

/**
 * PSI = Σ (a − e) · ln(a / e) over the bins, with e the reference and a the live proportion (each
 * floored at PSI_EPSILON). Rule of thumb: < 0.1 stable, 0.1–0.2 a moderate shift, > 0.2 a real shift.
 * `liveCounts` are raw counts out of `liveTotal`; both arrays have one entry per bin.
 */
export function psiFromCounts(reference: ArrayLike<number>, liveCounts: ArrayLike<number>, liveTotal: number): number {
  if (reference.length !== liveCounts.length) throw new Error(`psi: ${reference.length} reference bins but ${liveCounts.length} live bins`);
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const e = Math.max(reference[i]!, PSI_EPSILON);
    const a = Math.max(liveTotal > 0 ? liveCounts[i]! / liveTotal : 0, PSI_EPSILON);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * Interior bin edges at the reference's quantiles i/bins (i = 1 … bins−1), each the midpoint between the
 * two sorted values around the cut so that a live value equal to a reference value falls where the
 * reference's did. Bins are right-closed: bin 0 is (−∞, e₁], bin j is (eⱼ, eⱼ₊₁], the last (e_last, +∞).
 * Equal edges (ties: many rows share a value) collapse into one, so a feature may get fewer bins; the
 * reference proportions are counted afterwards, never assumed to be 1/bins.
 */
export function quantileEdges(sorted: ArrayLike<number>, bins: number): number[] {
  const n = sorted.length;
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const k = Math.round((i * n) / bins);
    if (k <= 0 || k >= n) continue;
    // Halves first: the midpoint of two values near Number.MAX_VALUE must not overflow.
    const edge = sorted[k - 1]! / 2 + sorted[k]! / 2;
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/** Adds the ascending values[0 … n) into out[bin] (out has edges.length + 1 entries, zeroed by the caller). O(n + bins). */
export function countSortedIntoBins(edges: ArrayLike<number>, sorted: ArrayLike<number>, n: number, out: Float64Array): void {
  let bin = 0;
  for (let i = 0; i < n; i++) {
    const v = sorted[i]!;
    while (bin < edges.length && edges[bin]! < v) bin++;
    out[bin]!++;
  }
}

/**
 * Adds values[0 … n) into out[index of the value in `categories`] (ascending, distinct), or into
 * out[categories.length], the "other" bucket, for a value the reference never had. O(n · log categories).
 */
export function countCategories(categories: ArrayLike<number>, values: ArrayLike<number>, n: number, out: Float64Array): void {
  const k = categories.length;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    let lo = 0;
    let hi = k;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (categories[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    out[lo < k && categories[lo] === v ? lo : k]!++;
  }
}

/**
 * Two-sample Kolmogorov–Smirnov statistic D = sup |F_a(x) − F_b(x)| of two ascending samples, exact on the
 * samples: the empirical CDFs are compared after every distinct value, ties stepping both at once.
 */
export function ksStatistic(a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number): number {
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < na && j < nb) {
    const x = a[i]! <= b[j]! ? a[i]! : b[j]!;
    while (i < na && a[i]! <= x) i++;
    while (j < nb && b[j]! <= x) j++;
    const gap = Math.abs(i / na - j / nb);
    if (gap > d) d = gap;
  }
  return d;
}

/**
 * Asymptotic p-value of D for samples of sizes n and m: Q_KS(λ) with λ = (√nₑ + 0.12 + 0.11/√nₑ)·D and
 * nₑ = nm/(n+m), Stephens' small-sample correction as in Numerical Recipes (§14.3). Good from nₑ ≈ 4 up.
 */
export function ksPValue(d: number, n: number, m: number): number {
  if (n <= 0 || m <= 0) return 1;
  const ne = Math.sqrt((n * m) / (n + m));
  return kolmogorovQ((ne + 0.12 + 0.11 / ne) * d);
}

/**
 * Q_KS(λ) = P(K > λ) of the Kolmogorov distribution. Two series, each fast where the other is slow:
 * 1 − (√(2π)/λ) Σ exp(−(2j−1)²π²/(8λ²)) for small λ, 2 Σ (−1)^(j−1) exp(−2j²λ²) for large λ.
 */
export function kolmogorovQ(lambda: number): number {
  if (!(lambda > 0)) return 1;
  let sum = 0;
  if (lambda < 1.18) {
    const c = (Math.PI * Math.PI) / (8 * lambda * lambda);
    for (let j = 1; j <= 20; j++) {
      const term = Math.exp(-(2 * j - 1) * (2 * j - 1) * c);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return clamp01(1 - (Math.sqrt(2 * Math.PI) / lambda) * sum);
  }
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += j % 2 === 1 ? term : -term;
    if (term < 1e-17) break;
  }
  return clamp01(2 * sum);
}

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);

/** `size` values spread evenly over an ascending array (the midpoint of each of `size` equal slices): keeps the shape of the distribution. */
export function evenSample(sorted: ArrayLike<number>, size: number): number[] {
  const n = sorted.length;
  if (n <= size) return Array.from(sorted);
  const out = new Array<number>(size);
  for (let i = 0; i < size; i++) out[i] = sorted[Math.floor(((i + 0.5) * n) / size)]!;
  return out;
}
