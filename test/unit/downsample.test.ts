import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evenlySpaced, minMaxEnvelope, splitEvenly, type SeriesPoint } from '../../src/core/downsample';

const pt = (seq: number, value: number, step = seq): SeriesPoint => ({ seq, step, timestamp: seq, value });

test('splitEvenly covers every item once in at most n near-equal groups', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const groups = splitEvenly(items, 3);
  assert.equal(groups.length, 3);
  assert.deepEqual(groups.flat(), items);
  assert.ok(Math.max(...groups.map((g) => g.length)) - Math.min(...groups.map((g) => g.length)) <= 1);
  assert.equal(splitEvenly(items, 50).length, 10, 'never more groups than items');
});

test('minMaxEnvelope keeps the extremes of each group in step order and skips NaN', () => {
  const points = [pt(0, 1), pt(1, 9), pt(2, NaN), pt(3, -4), pt(4, 2), pt(5, 2)];
  const out = minMaxEnvelope([points.slice(0, 3), points.slice(3)]);
  assert.deepEqual(out.map((p) => p.value), [1, 9, -4, 2]);
  assert.deepEqual(out.map((p) => p.step), [0, 1, 3, 4]);
  assert.deepEqual(minMaxEnvelope([[pt(0, NaN)]]), [], 'an all-NaN group has no extremes');
  assert.deepEqual(minMaxEnvelope([[pt(7, 3)]]).length, 1, 'min and max the same point: emitted once');
});

test('evenlySpaced follows MLflow: max evenly spaced items plus the last', () => {
  const steps = Array.from({ length: 100 }, (_, i) => i);
  const out = evenlySpaced(steps, 10);
  assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]);
  assert.deepEqual(evenlySpaced([1, 2, 3], 10), [1, 2, 3]);
});
