// The statistics of drift monitoring against hand-computed values and known properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countCategories,
  countSortedIntoBins,
  evenSample,
  kolmogorovQ,
  ksPValue,
  ksStatistic,
  psiFromCounts,
  PSI_EPSILON,
  quantileEdges,
} from '../../src/services/serving/drift-stats';

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);

test('PSI of hand-computed proportions', () => {
  // (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5)
  close(psiFromCounts([0.5, 0.5], [25, 75], 100), 0.274653072167, 1e-12, 'two bins');
  // (0.2 − 0.5)·ln(0.2/0.5) + 0 + (0.5 − 0.2)·ln(0.5/0.2)
  close(psiFromCounts([0.5, 0.3, 0.2], [20, 30, 50], 100), 0.549774439124, 1e-12, 'three categories');
  assert.equal(psiFromCounts([0.1, 0.2, 0.7], [10, 20, 70], 100), 0, 'identical proportions');
  // PSI is symmetric in its two distributions.
  close(psiFromCounts([0.25, 0.75], [50, 50], 100), psiFromCounts([0.5, 0.5], [25, 75], 100), 1e-15, 'symmetry');
});

test('PSI floors an empty bin at PSI_EPSILON instead of going infinite', () => {
  assert.equal(PSI_EPSILON, 1e-4);
  // Reference [1, 0], live [0.5, 0.5]: (0.5 − 1)·ln 0.5 + (0.5 − 1e-4)·ln(0.5 / 1e-4)
  close(psiFromCounts([1, 0], [50, 50], 100), 4.604318466669, 1e-9, 'empty reference bin');
  close(psiFromCounts([0.5, 0.5], [100, 0], 100), 4.604318466669, 1e-9, 'empty live bin');
  assert.throws(() => psiFromCounts([0.5, 0.5], [1, 2, 3], 6), /2 reference bins but 3 live bins/);
});

test('quantile edges of distinct values cut equal shares at the midpoints', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  const edges = quantileEdges(sorted, 10);
  assert.deepEqual(edges, [10.5, 20.5, 30.5, 40.5, 50.5, 60.5, 70.5, 80.5, 90.5]);
  const counts = new Float64Array(10);
  countSortedIntoBins(edges, sorted, sorted.length, counts);
  assert.deepEqual([...counts], Array(10).fill(10));
});

test('quantile edges collapse on ties; bins are right-closed', () => {
  // 50 zeros then 1 … 50: the cuts at 10 %, …, 40 % all fall on 0 and merge into one edge.
  const sorted = [...Array(50).fill(0), ...Array.from({ length: 50 }, (_, i) => i + 1)];
  const edges = quantileEdges(sorted, 10);
  assert.deepEqual(edges, [0, 0.5, 10.5, 20.5, 30.5, 40.5]);
  const counts = new Float64Array(edges.length + 1);
  countSortedIntoBins(edges, sorted, sorted.length, counts);
  assert.deepEqual([...counts], [50, 0, 10, 10, 10, 10, 10], 'the zeros all land in (−∞, 0]');
  // A constant feature: one edge at the constant, everything at or below it.
  assert.deepEqual(quantileEdges(Array(30).fill(7), 10), [7]);
  // Counting the first n values only, from a larger buffer.
  const partial = new Float64Array(2);
  countSortedIntoBins([5], [1, 5, 6, 100], 3, partial);
  assert.deepEqual([...partial], [2, 1]);
});

test('categories count exact matches; anything else goes to "other"', () => {
  const out = new Float64Array(4);
  countCategories([0, 1, 2], [0, 1, 1, 2, 3, -1, 1.5], 7, out);
  assert.deepEqual([...out], [1, 2, 1, 3]);
});

test('KS statistic: hand-computed, with ties stepping both CDFs at once', () => {
  assert.equal(ksStatistic([1, 2, 3, 4], 4, [3, 4, 5, 6], 4), 0.5);
  // At x = 1: F_a = 2/3, F_b = 1/3; at x = 2 both reach 1. Stepping one sample at a time would report 2/3.
  close(ksStatistic([1, 1, 2], 3, [1, 2, 2], 3), 1 / 3, 1e-15, 'ties');
  assert.equal(ksStatistic([1, 2, 3], 3, [1, 2, 3], 3), 0, 'identical samples');
  assert.equal(ksStatistic([1, 2], 2, [5, 6, 7], 3), 1, 'disjoint samples');
  assert.equal(ksStatistic([1, 2, 3], 3, [2.5], 1), ksStatistic([2.5], 1, [1, 2, 3], 3), 'symmetric');
});

test('Kolmogorov distribution: the tabulated critical values', () => {
  close(kolmogorovQ(1.2238), 0.1, 5e-4, 'α = 0.10');
  close(kolmogorovQ(1.3581), 0.05, 5e-4, 'α = 0.05');
  close(kolmogorovQ(1.6276), 0.01, 5e-4, 'α = 0.01');
  close(kolmogorovQ(3), 2 * Math.exp(-18), 1e-12, 'tail ≈ 2e^(−2λ²)');
  assert.equal(kolmogorovQ(0), 1);
  close(kolmogorovQ(0.2), 1, 1e-9, 'small λ');
  close(kolmogorovQ(0.3), 1 - (Math.sqrt(2 * Math.PI) / 0.3) * Math.exp(-(Math.PI ** 2) / 0.72), 1e-12, 'first term of the small-λ series');
  // The two series meet at the switch point.
  close(kolmogorovQ(1.18 - 1e-12), kolmogorovQ(1.18), 1e-10, 'continuity at 1.18');
});

test('KS p-value: large for a small D, tiny for a large one, 1 for empty samples', () => {
  assert.ok(ksPValue(0.02, 1000, 1000) > 0.9);
  assert.ok(ksPValue(0.3, 1000, 1000) < 1e-20);
  // D at the 5 % critical value for n = m = 1000 (≈ 1.358·√(2/1000)) gives p ≈ 0.05.
  close(ksPValue(1.3581 * Math.sqrt(2 / 1000), 1000, 1000), 0.05, 3e-3, 'critical value');
  assert.equal(ksPValue(0.5, 0, 10), 1);
});

test('even samples keep the shape of the distribution', () => {
  const sorted = Array.from({ length: 10_000 }, (_, i) => i);
  const sample = evenSample(sorted, 1000);
  assert.equal(sample.length, 1000);
  assert.equal(sample[0], 5);
  assert.equal(sample[999], 9995);
  assert.ok(sample.every((v, i) => i === 0 || v > sample[i - 1]!));
  assert.deepEqual(evenSample([1, 2, 3], 1000), [1, 2, 3], 'a short array is kept whole');
});
