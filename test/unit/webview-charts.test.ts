import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emaSmooth } from '../../webview/charts/smoothing';
import { alignSeries, forLogScale, isWhole, toXY, zoomStepRange } from '../../webview/charts/series';
import { mixColors, parseColor, withAlpha } from '../../webview/charts/colors';

test('EMA smoothing is debiased: a constant series stays constant from its first point', () => {
  assert.deepEqual(emaSmooth([5, 5, 5, 5], 0.9).map((v) => Number(v!.toFixed(10))), [5, 5, 5, 5]);
});

test('EMA smoothing follows TensorBoard: weighted towards the past, gaps kept and skipped', () => {
  const out = emaSmooth([0, 10, null, 10], 0.5);
  assert.equal(out[0], 0);
  // last = 0*0.5 + 0.5*10 = 5; debias = 0.5*0.5 + 0.5 = 0.75 → 6.667
  assert.ok(Math.abs(out[1]! - 20 / 3) < 1e-9);
  assert.equal(out[2], null);
  // last = 5*0.5 + 5 = 7.5; debias = 0.75*0.5 + 0.5 = 0.875 → 8.571
  assert.ok(Math.abs(out[3]! - 7.5 / 0.875) < 1e-9);
});

test('EMA weight 0 returns the raw values; NaN and Infinity become gaps', () => {
  assert.deepEqual(emaSmooth([1, 2, 3], 0), [1, 2, 3]);
  assert.deepEqual(emaSmooth([1, NaN, Infinity, 1], 0.5), [1, null, null, 1]);
});

const points = { steps: [0, 10, 20, 30], timestamps: [1000, 2000, 3000, 4000], values: [4, -1, 0, null] };

test('x comes from the step or the wall clock (seconds, uPlot time scale)', () => {
  assert.deepEqual(toXY(points, 'step').x, [0, 10, 20, 30]);
  assert.deepEqual(toXY(points, 'time').x, [1, 2, 3, 4]);
  assert.deepEqual(toXY(points, 'time').y, [4, -1, 0, null]);
});

test('a log scale turns zero and negative values into gaps', () => {
  assert.deepEqual(forLogScale([4, -1, 0, null, 0.5]), [4, null, null, null, 0.5]);
});

test('series with different x values align on their sorted union, null where absent', () => {
  const [x, a, b] = alignSeries([
    { x: [0, 2, 4], y: [1, 2, 3] },
    { x: [1, 2], y: [10, 20] },
  ]);
  assert.deepEqual(x, [0, 1, 2, 4]);
  assert.deepEqual(a, [1, null, 2, 3]);
  assert.deepEqual(b, [null, 10, 20, null]);
});

test('a zoom on the step axis asks for the whole steps it covers', () => {
  assert.deepEqual(zoomStepRange(10.4, 19.6, 'step', points), { startStep: 10, endStep: 20 });
});

test('a zoom on the time axis asks for the steps logged at its edges (points on either side kept)', () => {
  // 2.5 s .. 3.2 s: the last point at or before 2.5 s is step 10, the first at or after 3.2 s is step 30.
  assert.deepEqual(zoomStepRange(2.5, 3.2, 'time', points), { startStep: 10, endStep: 30 });
  // Beyond the data on the right: the range stays open there.
  assert.deepEqual(zoomStepRange(2.5, 9, 'time', points), { startStep: 10 });
});

test('only a short full-range answer counts as the whole series (an envelope never has fewer than 64 points)', () => {
  assert.equal(isWhole(points, {}, 4000), true);
  assert.equal(isWhole(points, { startStep: 0 }, 4000), false);
  const long = { steps: new Array(100).fill(0), timestamps: new Array(100).fill(0), values: new Array(100).fill(0) };
  assert.equal(isWhole(long, {}, 4000), false);
});

test('theme colors parse in the syntaxes VS Code themes use', () => {
  assert.deepEqual(parseColor('#3794ff'), [0x37, 0x94, 0xff, 1]);
  assert.deepEqual(parseColor('#fff'), [255, 255, 255, 1]);
  assert.deepEqual(parseColor('#00000080'), [0, 0, 0, 128 / 255]);
  assert.deepEqual(parseColor('rgba(1, 2, 3, 0.5)'), [1, 2, 3, 0.5]);
  assert.equal(parseColor('var(--x)'), undefined);
});

test('a faint copy of a theme color keeps its hue; an unreadable one comes back unchanged', () => {
  assert.equal(withAlpha('#3794ff', 0.3), 'rgba(55, 148, 255, 0.3)');
  assert.equal(withAlpha('rgba(10, 20, 30, 0.5)', 0.5), 'rgba(10, 20, 30, 0.25)');
  assert.equal(withAlpha('canvastext', 0.5), 'canvastext');
});

test('mixing two theme colors interpolates each channel and clamps t', () => {
  assert.equal(mixColors('#000000', '#ffffff', 0.5), 'rgba(128, 128, 128, 1)');
  assert.equal(mixColors('#000000', '#ffffff', 2), 'rgba(255, 255, 255, 1)');
});
