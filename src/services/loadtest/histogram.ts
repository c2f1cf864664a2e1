/**
 * Latency histograms: HdrHistogram (hdr-histogram-js, pure-JS build) recording microseconds with 3
 * significant digits, so every percentile is within 0.1% of the value a sort of the raw samples gives.
 * Histograms travel between threads in HdrHistogram's compressed base64 encoding; adding decoded
 * histograms is exact (counts per bucket add up), so merging workers loses nothing.
 */
import type { Histogram, JsHistogram } from 'hdr-histogram-js';
import { invalidParameter } from '../../core/errors';
import type { LatencySummary } from './types';

export type { Histogram };

/**
 * Required on first use, not imported: initialising hdr-histogram-js costs ~15 ms, which every CLI command
 * would pay at start-up (the load-test command and the tracker's records import this module).
 */
let hdrModule: typeof import('hdr-histogram-js') | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hdr = (): typeof import('hdr-histogram-js') => (hdrModule ??= require('hdr-histogram-js') as typeof import('hdr-histogram-js'));

/** Highest latency tracked without resizing: 60 s in µs (the histogram grows past it if it must). */
export const HIGHEST_TRACKABLE_US = 60_000_000;
export const SIGNIFICANT_DIGITS = 3;

export function createHistogram(): Histogram {
  return hdr().build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    useWebAssembly: false,
  });
}

/** Records a latency given in microseconds (rounded; negatives, which a clock cannot give, count as 0). */
export function recordMicros(h: Histogram, us: number): void {
  h.recordValue(us > 0 ? Math.round(us) : 0);
}

export function encodeHistogram(h: Histogram): string {
  return hdr().encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr().decodeFromCompressedBase64(encoded, 32, false);
}

/** One histogram holding every sample of the given ones (encoded or not); the inputs are left as they are. */
export function mergeHistograms(parts: Iterable<Histogram | string>): Histogram {
  const out = createHistogram();
  for (const p of parts) {
    const h = typeof p === 'string' ? decodeHistogram(p) : p;
    if (h.totalCount > 0) out.add(h);
  }
  return out;
}

/**
 * The non-empty buckets as flat [value, count, value, count…] (value: the bucket's lowest value): an
 * exact and cheap form for a thread's per-second histograms (no compression pause in the sender).
 */
export function toBuckets(h: Histogram): number[] {
  const js = h as unknown as JsHistogram;
  const out: number[] = [];
  const n = js.countsArrayLength;
  for (let i = 0; i < n; i++) {
    const c = js.getCountAtIndex(i);
    if (c > 0) out.push(js.valueFromIndex(i), c);
  }
  return out;
}

/** Adds buckets from `toBuckets` to `h`: each lands in the very bucket it came from. */
export function addBuckets(h: Histogram, buckets: ArrayLike<number>): void {
  for (let i = 0; i + 1 < buckets.length; i += 2) h.recordValueWithCount(buckets[i]!, buckets[i + 1]!);
}

const ms = (us: number) => us / 1000;

/** The figures of a histogram in milliseconds (all zero when it is empty). */
export function summarize(h: Histogram): LatencySummary {
  const count = h.totalCount;
  if (count === 0) return { count: 0, mean: 0, stddev: 0, min: 0, max: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 };
  return {
    count,
    mean: ms(h.mean),
    stddev: ms(h.stdDeviation),
    min: ms(h.getValueAtPercentile(0)),
    max: ms(h.getValueAtPercentile(100)),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
  };
}

/** HdrHistogram's text percentile distribution (the `.hgrm` format), values in milliseconds. */
export function histogramText(encoded: string): string {
  if (encoded === '') return '(no latencies were recorded)\n';
  let histogram: Histogram;
  try {
    histogram = decodeHistogram(encoded);
  } catch (err) {
    throw invalidParameter(`Invalid value for 'result.histogram': not an HdrHistogram in compressed base64 (${(err as Error).message}).`);
  }
  try {
    // The engine records microseconds; the .hgrm convention (and HdrHistogram's plotter) is milliseconds.
    return histogram.outputPercentileDistribution(5, 1000);
  } finally {
    histogram.destroy();
  }
}
