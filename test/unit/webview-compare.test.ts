import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunSummary } from '../../src/protocol/common';
import { diffRows } from '../../webview/diff';
import { axisPosition, buildAxis, chooseDimensions } from '../../webview/charts/parallel-axes';

const run = (id: string, params: Record<string, string>, metrics: Record<string, number>, tags: Record<string, string> = {}): RunSummary => ({
  runId: id,
  name: id,
  experimentId: '1',
  status: 'FINISHED',
  startTime: 0,
  params: Object.entries(params).map(([key, value]) => ({ key, value })),
  tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
  latest: Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: 0 })),
});

test('the diff table marks rows whose values differ, a missing value included', () => {
  const rows = diffRows([run('a', { lr: '0.1', opt: 'adam' }, { loss: 0.5 }), run('b', { lr: '0.2', opt: 'adam' }, { loss: 0.5, acc: 0.9 })]);
  const row = (key: string) => rows.find((r) => r.key === key)!;
  assert.deepEqual(row('lr'), { section: 'param', key: 'lr', values: ['0.1', '0.2'], differs: true });
  assert.equal(row('opt').differs, false);
  assert.equal(row('loss').differs, false);
  assert.deepEqual(row('acc').values, [null, '0.9']);
  assert.equal(row('acc').differs, true);
});

test('the diff table orders params, then metrics, then tags, keys sorted within each', () => {
  const rows = diffRows([run('a', { b: '1', a: '1' }, { z: 1 }, { t: 'x' })]);
  assert.deepEqual(rows.map((r) => `${r.section}:${r.key}`), ['param:a', 'param:b', 'metric:z', 'tag:t']);
});

test('differing metrics name their lowest and highest run', () => {
  const rows = diffRows([run('a', {}, { loss: 0.3 }), run('b', {}, { loss: 0.1 }), run('c', {}, { loss: 0.9 })]);
  assert.equal(rows[0]!.lowest, 1);
  assert.equal(rows[0]!.highest, 2);
});

test('parallel axes are numeric when every value is a number, categorical otherwise', () => {
  assert.deepEqual(buildAxis({ name: 'lr', values: ['0.1', 0.3, null] }), { name: 'lr', kind: 'numeric', min: 0.1, max: 0.3 });
  assert.deepEqual(buildAxis({ name: 'opt', values: ['sgd', 'adam', 'sgd'] }), { name: 'opt', kind: 'categorical', categories: ['adam', 'sgd'] });
});

test('a value sits on its axis between 0 and 1; missing values have no position', () => {
  const lr = buildAxis({ name: 'lr', values: [0.1, 0.3] });
  assert.ok(Math.abs(axisPosition(lr, 0.2)! - 0.5) < 1e-9);
  assert.equal(axisPosition(lr, null), null);
  const opt = buildAxis({ name: 'opt', values: ['a', 'b', 'c'] });
  assert.equal(axisPosition(opt, 'c'), 1);
  assert.equal(axisPosition(opt, 'zzz'), null);
  assert.equal(axisPosition(buildAxis({ name: 'flat', values: [2, 2] }), 2), 0.5);
});

test('parallel coordinates keep only params that vary, and metrics someone logged', () => {
  const dims = chooseDimensions(
    [{ name: 'same', values: ['1', '1'] }, { name: 'lr', values: ['1', '2'] }, { name: 'half', values: ['1', null] }],
    [{ name: 'loss', values: [1, 2] }, { name: 'never', values: [null, null] }],
  );
  assert.deepEqual(dims.map((d) => d.name), ['lr', 'half', 'loss']);
});
