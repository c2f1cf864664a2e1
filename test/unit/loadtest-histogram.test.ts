import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addBuckets,
  createHistogram,
  decodeHistogram,
  encodeHistogram,
  mergeHistograms,
  recordMicros,
  summarize,
  toBuckets,
} from '../../src/services/loadtest/histogram';

/** Deterministic samples (µs) spread over 5 decades, with a heavy tail, like real latencies. */
function samples(n: number, seed: number): number[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, () => {
    const base = Math.round(50 * Math.exp(rnd() * 6)); // 50 µs … 20 ms
    return rnd() < 0.02 ? base * 100 : base; // 2% stalls up to 2 s
  });
}

/** Nearest-rank percentile of raw samples: the smallest value with at least p% of samples ≤ it. */
function reference(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** HdrHistogram with 3 digits reports the top of the value's bucket: never below it, at most 0.1% above. */
function withinPrecision(actualMs: number, refUs: number, what: string) {
  const actualUs = actualMs * 1000;
  assert.ok(actualUs >= refUs - 1e-6 && actualUs <= refUs * 1.001 + 1, `${what}: ${actualUs} µs vs reference ${refUs} µs`);
}

test('percentiles match a reference computed from the raw samples within HDR precision', () => {
  const raw = samples(50_000, 7);
  const h = createHistogram();
  for (const v of raw) recordMicros(h, v);
  const sorted = [...raw].sort((a, b) => a - b);
  const sum = summarize(h);
  assert.equal(sum.count, raw.length);
  withinPrecision(sum.p50, reference(sorted, 50), 'p50');
  withinPrecision(sum.p90, reference(sorted, 90), 'p90');
  withinPrecision(sum.p95, reference(sorted, 95), 'p95');
  withinPrecision(sum.p99, reference(sorted, 99), 'p99');
  withinPrecision(sum.p999, reference(sorted, 99.9), 'p99.9');
  withinPrecision(sum.max, sorted[sorted.length - 1]!, 'max');
  // min is the bottom of the smallest value's bucket.
  assert.ok(sum.min * 1000 <= sorted[0]! && sum.min * 1000 >= sorted[0]! * 0.999 - 1);
  const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
  const sd = Math.sqrt(raw.reduce((a, b) => a + (b - mean) ** 2, 0) / raw.length);
  assert.ok(Math.abs(sum.mean * 1000 - mean) <= mean * 0.001, `mean ${sum.mean * 1000} vs ${mean}`);
  assert.ok(Math.abs(sum.stddev * 1000 - sd) <= sd * 0.002, `stddev ${sum.stddev * 1000} vs ${sd}`);
});

test('merging worker histograms equals one histogram of all the samples', () => {
  const parts = [samples(10_000, 1), samples(3_000, 2), samples(25_000, 3), []];
  const whole = createHistogram();
  const encoded = parts.map((p) => {
    const h = createHistogram();
    for (const v of p) {
      recordMicros(h, v);
      recordMicros(whole, v);
    }
    return encodeHistogram(h); // as workers send them
  });
  const merged = mergeHistograms(encoded);
  assert.equal(merged.totalCount, whole.totalCount);
  assert.deepEqual(summarize(merged), summarize(whole));
  // Every bucket is the same: the full distribution prints identically (but for the raw max, which a
  // decoded histogram only knows to its bucket), and the encodings are equal.
  const table = (x: typeof whole) => x.outputPercentileDistribution().replace(/^#\[Max.*$/m, '');
  assert.equal(table(merged), table(whole));
  assert.equal(encodeHistogram(merged), encodeHistogram(whole));
  for (let p = 0; p <= 100; p += 0.5) assert.equal(merged.getValueAtPercentile(p), whole.getValueAtPercentile(p), `p${p}`);
  // And against the raw samples: the merge is still within HDR precision of the truth.
  const sorted = parts.flat().sort((a, b) => a - b);
  withinPrecision(summarize(merged).p99, reference(sorted, 99), 'merged p99');
});

test('encode/decode round-trips; empty histograms summarize to zeros; extremes are kept', () => {
  const h = createHistogram();
  assert.deepEqual(summarize(h), { count: 0, mean: 0, stddev: 0, min: 0, max: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 });
  recordMicros(h, 0);
  recordMicros(h, -3); // a clock cannot go back: counts as 0
  recordMicros(h, 1.4);
  recordMicros(h, 90_000_000); // 90 s, past the 60 s the histogram starts with
  const back = decodeHistogram(encodeHistogram(h));
  assert.equal(back.totalCount, 4);
  const s = summarize(back);
  assert.equal(s.min, 0);
  assert.ok(s.max >= 90_000 && s.max <= 90_000 * 1.001, `max ${s.max}`);
  assert.equal(back.getValueAtPercentile(50), 0);
  assert.equal(back.getValueAtPercentile(75), 1);
  assert.equal(mergeHistograms([]).totalCount, 0);
});

test('per-second buckets carry a histogram exactly: rebuilt and merged, it equals the original', () => {
  const parts = [samples(5_000, 11), samples(7_000, 12)];
  const whole = createHistogram();
  const rebuilt = createHistogram();
  for (const p of parts) {
    const h = createHistogram();
    for (const v of p) {
      recordMicros(h, v);
      recordMicros(whole, v);
    }
    const buckets = toBuckets(h);
    assert.ok(buckets.length < 2 * p.length, 'sparse: one pair per non-empty bucket');
    addBuckets(rebuilt, buckets);
  }
  assert.equal(rebuilt.totalCount, whole.totalCount);
  assert.equal(encodeHistogram(rebuilt), encodeHistogram(whole));
  assert.deepEqual(summarize(rebuilt), summarize(whole));
  assert.deepEqual(toBuckets(createHistogram()), []);
});
