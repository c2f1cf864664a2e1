import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/core/store';
import { BLOCK_SIZE, type MetricPoint } from '../../src/core/metric-store';
import { tempDir } from '../support/platform';

function withRun(fn: (store: ReturnType<typeof openStore>, runId: string) => void): void {
  const { dir, cleanup } = tempDir();
  const store = openStore(dir);
  try {
    const run = store.runs.create({ experiment_id: '0' });
    fn(store, run.info.run_id);
  } finally {
    store.close();
    cleanup();
  }
}

const series = (n: number, f: (i: number) => number, key = 'loss'): MetricPoint[] =>
  Array.from({ length: n }, (_, i) => ({ key, step: i, timestamp: 1000 + i, value: f(i) }));

test('history returns every point in logging order, NaN and infinities intact', () => {
  withRun((store, runId) => {
    const points = [...series(5, (i) => i / 2), { key: 'loss', step: 5, timestamp: 2000, value: NaN }, { key: 'loss', step: 6, timestamp: 2001, value: Infinity }, { key: 'loss', step: 7, timestamp: 2002, value: -Infinity }];
    store.runs.logBatch(runId, { metrics: points });
    const back = store.runs.metrics.history(runId, 'loss', 0);
    assert.equal(back.length, 8);
    assert.ok(Number.isNaN(back[5]!.value));
    assert.equal(back[6]!.value, Infinity);
    assert.equal(back[7]!.value, -Infinity);
    assert.deepEqual(back.slice(0, 5).map((p) => p.value), [0, 0.5, 1, 1.5, 2]);
    assert.deepEqual(store.runs.metrics.history(runId, 'loss', 2, 2).map((p) => p.step), [2, 3]);
  });
});

test('the latest value is the one with the greatest (step, timestamp), whatever the logging order', () => {
  withRun((store, runId) => {
    store.runs.logBatch(runId, { metrics: [{ key: 'acc', step: 5, timestamp: 10, value: 0.5 }] });
    store.runs.logBatch(runId, { metrics: [{ key: 'acc', step: 3, timestamp: 99, value: 0.9 }] });
    store.runs.logBatch(runId, { metrics: [{ key: 'acc', step: 5, timestamp: 11, value: 0.7 }] });
    const latest = store.runs.get(runId).data.metrics.find((m) => m.key === 'acc');
    assert.deepEqual(latest, { key: 'acc', step: 5, timestamp: 11, value: 0.7 });
  });
});

test('downsample of a long series keeps its min/max envelope within max points', () => {
  withRun((store, runId) => {
    const n = 200_000;
    // A slow sine with two spikes the chart must not lose.
    const value = (i: number) => (i === 123_457 ? 50 : i === 77_777 ? -50 : Math.sin(i / 5000));
    for (let i = 0; i < n; i += 1000) store.runs.logBatch(runId, { metrics: series(1000, (j) => value(i + j)).map((p, j) => ({ ...p, step: i + j })) });
    const out = store.runs.metrics.downsample(runId, 'loss', { maxPoints: 2000 });
    assert.ok(out.length <= 2000 && out.length > 100, `got ${out.length} points`);
    assert.ok(out.some((p) => p.value === 50 && p.step === 123_457), 'the max spike survives');
    assert.ok(out.some((p) => p.value === -50 && p.step === 77_777), 'the min spike survives');
    for (let i = 1; i < out.length; i++) assert.ok(out[i]!.step >= out[i - 1]!.step, 'sorted by step');
    // Every bucket's extremes: the envelope of any window of the output brackets the raw data there.
    const zoom = store.runs.metrics.downsample(runId, 'loss', { startStep: 100_000, endStep: 100_999, maxPoints: 2000 });
    assert.equal(zoom.length, 1000, 'a zoomed range smaller than max points comes back raw');
    assert.equal(zoom[0]!.step, 100_000);
    const mid = store.runs.metrics.downsample(runId, 'loss', { startStep: 78 * BLOCK_SIZE + 7, endStep: 150_003, maxPoints: 500 });
    assert.ok(mid.length <= 500);
    assert.ok(mid.every((p) => p.step >= 78 * BLOCK_SIZE + 7 && p.step <= 150_003), 'nothing outside the range');
    assert.ok(mid.some((p) => p.value === 50), 'spike inside the range kept');
    assert.ok(!mid.some((p) => p.value === -50), 'spike outside the range dropped');
  });
});

test('a rejected batch writes none of its items', () => {
  withRun((store, runId) => {
    store.runs.logBatch(runId, { params: [{ key: 'lr', value: '0.1' }] });
    assert.throws(
      () => store.runs.logBatch(runId, { metrics: series(10, (i) => i), params: [{ key: 'lr', value: '0.2' }], tags: [{ key: 't', value: 'x' }] }),
      /Changing param values is not allowed/,
    );
    const run = store.runs.get(runId);
    assert.equal(run.data.metrics.length, 0);
    assert.equal(run.data.tags.find((t) => t.key === 't'), undefined);
    assert.equal(store.runs.metrics.history(runId, 'loss', 0).length, 0);
  });
});

test('block summaries stay right across batches that straddle block boundaries', () => {
  withRun((store, runId) => {
    const all: MetricPoint[] = series(3 * BLOCK_SIZE + 17, (i) => ((i * 7919) % 1000) - 500);
    for (let i = 0; i < all.length; i += 333) store.runs.logBatch(runId, { metrics: all.slice(i, i + 333) });
    const rows = store.db.prepare('SELECT block, n, min_value, max_value FROM metric_blocks ORDER BY block').all() as { block: number; n: number; min_value: number; max_value: number }[];
    assert.equal(rows.length, 4);
    rows.forEach((row) => {
      const slice = all.slice(row.block * BLOCK_SIZE, (row.block + 1) * BLOCK_SIZE).map((p) => p.value);
      assert.equal(row.n, slice.length);
      assert.equal(row.min_value, Math.min(...slice));
      assert.equal(row.max_value, Math.max(...slice));
    });
  });
});
