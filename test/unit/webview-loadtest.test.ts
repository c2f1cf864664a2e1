import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunSummary } from '../../src/protocol/common';
import { histogramText } from '../../src/services/loadtest/histogram';
import { createHistogram, encodeHistogram, recordMicros } from '../../src/services/loadtest/histogram';
import { latencyHistogram, parseHgrm, percentileCurve, percentileLabel, percentileTicks } from '../../webview/charts/hgrm';
import { summaryFigures } from '../../webview/loadtest-summary';

/** A real histogram.hgrm, written the way record.ts writes it: 1000 latencies of 1..1000 ms (recorded in µs). */
function realHgrm(): string {
  const h = createHistogram();
  for (let ms = 1; ms <= 1000; ms++) recordMicros(h, ms * 1000);
  const encoded = encodeHistogram(h);
  h.destroy();
  return histogramText(encoded);
}

test('the .hgrm distribution parses into rows, comments and headers skipped', () => {
  const rows = parseHgrm(realHgrm());
  assert.ok(rows.length > 20);
  assert.equal(rows.at(-1)!.totalCount, 1000);
  assert.equal(rows.at(-1)!.percentile, 1);
  assert.ok(Math.abs(rows.at(-1)!.value - 1000) < 2, `max ${rows.at(-1)!.value}`);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.totalCount >= rows[i - 1]!.totalCount);
});

test('the percentile curve runs on 1/(1-p) and leaves out p = 1', () => {
  const curve = percentileCurve(parseHgrm(realHgrm()));
  assert.ok(curve.x.every((x) => Number.isFinite(x)));
  for (let i = 1; i < curve.x.length; i++) assert.ok(curve.x[i]! > curve.x[i - 1]!);
  // p50 of 1..1000 ms is about 500 ms
  const i50 = curve.x.findIndex((x) => x >= 2);
  assert.ok(Math.abs(curve.y[i50]! - 500) < 10, `p50 ${curve.y[i50]}`);
  assert.equal(percentileLabel(2), '50%');
  assert.equal(percentileLabel(1000), '99.9%');
});

test('the latency histogram counts every request once, in log-spaced buckets', () => {
  const { edges, counts } = latencyHistogram(parseHgrm(realHgrm()), 20);
  assert.equal(counts.length, 20);
  assert.equal(edges.length, 21);
  assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
  for (let i = 1; i < edges.length; i++) assert.ok(edges[i]! > edges[i - 1]!);
  assert.deepEqual(latencyHistogram([], 20), { edges: [], counts: [] });
});

const summary = (metrics: Record<string, number>): RunSummary => ({
  runId: 'r', name: 'r', experimentId: '1', status: 'FINISHED', startTime: 0, params: [], tags: [],
  latest: Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: 0 })),
});

test('against a baseline, higher throughput and lower latency are better', () => {
  const figures = summaryFigures(summary({ throughput_rps: 1200, latency_p99_ms: 30, error_rate: 0.02 }), summary({ throughput_rps: 1000, latency_p99_ms: 20, error_rate: 0.02 }));
  const f = (key: string) => figures.find((x) => x.key === key)!;
  assert.equal(f('throughput_rps').verdict, 'better');
  assert.ok(Math.abs(f('throughput_rps').changePct! - 20) < 1e-9);
  assert.equal(f('latency_p99_ms').verdict, 'worse');
  assert.equal(f('error_rate').verdict, 'same');
  assert.equal(f('error_rate').value, 2, 'error rate shown in percent');
  assert.equal(f('latency_p50_ms').value, null);
  assert.equal(f('latency_p50_ms').verdict, undefined);
});

test('without a baseline the figures carry no comparison', () => {
  const figures = summaryFigures(summary({ throughput_rps: 5 }));
  assert.equal(figures[0]!.value, 5);
  assert.equal('baseline' in figures[0]!, false);
});

test('the percentile axis ticks at 0%, 50%, 90%, 99%... within the drawn range', () => {
  assert.deepEqual(percentileTicks(1, 1500), [1, 2, 10, 100, 1000]);
  assert.deepEqual(percentileTicks(5, 150), [10, 100]);
  assert.equal(percentileLabel(0.5), '');
});
