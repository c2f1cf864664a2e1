// DriftMonitor on seeded data: scores for same and shifted distributions, categorical and constant
// features, the ring buffer's wrap-around, caching, skipped tensors, and alerts with hysteresis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReferenceProfile, type ReferenceTable } from '../../src/services/serving/drift-profile';
import { DriftMonitor, type DriftAlert, type InputDrift } from '../../src/services/serving/drift';
import type { ReferenceProfile } from '../../src/core/drift-references';
import type { Tensor } from '../../src/engines/onnx/types';
import { prng } from '../support/prng';

/** Standard normal values (Box–Muller) from a seeded uniform source. */
function normals(rand: () => number, n: number, mean = 0, sd = 1): number[] {
  return Array.from({ length: n }, () => mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

/** Rows of [normal, normal, class id in {0,1,2} with shares .5/.3/.2, constant 0]. */
function mixedRows(seed: number, n: number, shift = 0): number[][] {
  const rand = prng(seed);
  const a = normals(rand, n, shift);
  const b = normals(rand, n, 10, 2);
  return a.map((x, i) => {
    const u = rand();
    return [x, b[i]!, u < 0.5 ? 0 : u < 0.8 ? 1 : 2, 0];
  });
}

function table(input: string, rows: number[][]): ReferenceTable {
  const width = rows[0]!.length;
  return { input, featureNames: Array.from({ length: width }, (_, i) => `${input}[${i}]`), rows: rows.length, values: Float64Array.from(rows.flat()) };
}

const tensor = (name: string, rows: number[][]): Tensor => ({ name, datatype: 'FP32', shape: [rows.length, rows[0]!.length], data: Float32Array.from(rows.flat()) });
const column = (values: number[]): number[][] => values.map((v) => [v]);
const profileOf = (tables: ReferenceTable[]): ReferenceProfile => buildReferenceProfile('m', '1', tables, 'test');
const features = (scores: InputDrift[], input = 'x'): Record<string, any> => Object.fromEntries(scores.find((s) => s.input === input)!.features.map((f) => [f.feature, f]));

const reference = profileOf([table('x', mixedRows(1, 5000))]);

test('the reference profile: continuous, categorical and constant features', () => {
  const kinds = reference.inputs[0]!.features.map((f) => f.kind);
  assert.deepEqual(kinds, ['continuous', 'continuous', 'categorical', 'categorical']);
  const constant = reference.inputs[0]!.features[3]!;
  assert.ok(constant.kind === 'categorical');
  assert.deepEqual(constant.categories, [0]);
  assert.deepEqual(constant.proportions, [1]);
});

test('live rows from the reference distribution score low', () => {
  const monitor = new DriftMonitor(reference);
  monitor.observe([tensor('x', mixedRows(2, 1000))]);
  const f = features(monitor.scores());
  for (const name of ['x[0]', 'x[1]']) {
    assert.ok(f[name].psi < 0.05, `${name} psi ${f[name].psi}`);
    assert.ok(f[name].ks < 0.06, `${name} ks ${f[name].ks}`);
    assert.ok(f[name].pValue > 0.01, `${name} p ${f[name].pValue}`);
    assert.equal(f[name].rows, 1000);
  }
  assert.ok(f['x[2]'].psi < 0.05, `categorical psi ${f['x[2]'].psi}`);
  assert.equal(f['x[2]'].ks, undefined, 'no KS for a categorical feature');
  assert.equal(f['x[3]'].psi, 0, 'a constant that stays constant');
  assert.deepEqual(monitor.drifted(), []);
});

test('a shifted mean scores high on PSI and KS; only that feature drifts', () => {
  const monitor = new DriftMonitor(reference);
  monitor.observe([tensor('x', mixedRows(3, 1000, 1))]);
  const f = features(monitor.scores());
  assert.ok(f['x[0]'].psi > 0.5, `psi ${f['x[0]'].psi}`);
  // The KS distance of N(0,1) and N(1,1) is 2Φ(0.5) − 1 ≈ 0.383.
  assert.ok(f['x[0]'].ks > 0.3 && f['x[0]'].ks < 0.46, `ks ${f['x[0]'].ks}`);
  assert.ok(f['x[0]'].pValue < 1e-10, `p ${f['x[0]'].pValue}`);
  assert.deepEqual(
    monitor.drifted().map((d) => `${d.input}/${d.feature}`),
    ['x/x[0]'],
  );
});

test('categorical features: PSI over the categories, unseen values in "other"', () => {
  const monitor = new DriftMonitor(reference, { windowRows: 100, minRows: 100 });
  // Shares .2/.3/.5 instead of .5/.3/.2 (hand-computed PSI 0.549774…); x[3] gets 10 % of a value it never had.
  const rows = Array.from({ length: 100 }, (_, i) => [0, 10, i < 20 ? 0 : i < 50 ? 1 : 2, i < 10 ? 1 : 0]);
  monitor.observe([tensor('x', rows)]);
  const f = features(monitor.scores());
  // The reference shares are sampled (≈ .5/.3/.2), so compare with the PSI against those exact shares.
  const ref = (reference.inputs[0]!.features[2] as { proportions: number[] }).proportions;
  const expected = [0.2, 0.3, 0.5].reduce((s, a, i) => s + (a - ref[i]!) * Math.log(a / ref[i]!), 0);
  assert.ok(Math.abs(f['x[2]'].psi - expected) < 1e-9, `${f['x[2]'].psi} vs ${expected}`);
  assert.ok(Math.abs(expected - 0.5498) < 0.05);
  // Constant 0 in the reference, 10 % "other" live: (0.9 − 1)·ln 0.9 + (0.1 − 1e-4)·ln(0.1 / 1e-4).
  assert.ok(Math.abs(f['x[3]'].psi - 0.700620803936) < 1e-9, `constant psi ${f['x[3]'].psi}`);
  assert.equal(f['x[3]'].kind, 'categorical');
});

test('an input is scored only once its window holds minRows rows', () => {
  const monitor = new DriftMonitor(reference, { minRows: 50 });
  monitor.observe([tensor('x', mixedRows(4, 49))]);
  assert.deepEqual(monitor.scores(), [{ input: 'x', rows: 49, scored: false, features: [] }]);
  monitor.observe([tensor('x', mixedRows(5, 1))]);
  assert.equal(monitor.scores()[0]!.scored, true);
  assert.equal(monitor.scores()[0]!.features.length, 4);
});

test('the ring buffer keeps the newest windowRows rows, across calls and within one large batch', () => {
  const ref = profileOf([table('c', column([...Array(50).fill(0), ...Array(50).fill(1)]))]);
  const monitor = new DriftMonitor(ref, { windowRows: 4, minRows: 4 });
  const psi = () => monitor.scores()[0]!.features[0]!.psi;
  monitor.observe([tensor('c', column([0, 0, 0, 0]))]);
  assert.ok(psi() > 4, 'all zeros against a 50/50 reference');
  monitor.observe([tensor('c', column([1, 1]))]);
  assert.equal(psi(), 0, 'the window wrapped: 0, 0, 1, 1');
  monitor.observe([tensor('c', column([1, 1]))]);
  assert.ok(psi() > 4, 'all ones now');
  monitor.observe([tensor('c', column([0, 0, 0, 0, 0, 0, 0, 1, 1, 0]))]);
  // Only the last four rows of the batch (0, 1, 1, 0) stay.
  assert.equal(psi(), 0);
  assert.equal(monitor.scores()[0]!.rows, 4);
});

test('scores are cached until new rows arrive', () => {
  const monitor = new DriftMonitor(reference);
  monitor.observe([tensor('x', mixedRows(6, 200))]);
  const first = monitor.scores();
  assert.equal(monitor.scores(), first);
  monitor.observe([tensor('x', mixedRows(7, 1))]);
  assert.notEqual(monitor.scores(), first);
  assert.equal(monitor.scores()[0]!.rows, 201);
});

test('numeric datatypes are read as numbers; BYTES, unknown inputs and misfit tensors are skipped', () => {
  const ref = profileOf([table('ids', column(Array.from({ length: 100 }, (_, i) => i % 3)))]);
  const warnings: string[] = [];
  const monitor = new DriftMonitor(ref, { minRows: 3, windowRows: 3, onWarning: (m) => warnings.push(m) });
  monitor.observe([{ name: 'ids', datatype: 'INT64', shape: [3], data: BigInt64Array.from([0n, 1n, 2n]) }]);
  assert.ok(monitor.scores()[0]!.features[0]!.psi < 0.01, 'INT64 values match the categories');
  const before = monitor.scores();
  monitor.observe([
    { name: 'ids', datatype: 'BYTES', shape: [1], data: ['a'] },
    { name: 'other', datatype: 'FP32', shape: [1], data: Float32Array.from([5]) },
    { name: 'ids', datatype: 'INT32', shape: [1, 2], data: Int32Array.from([7, 7]) },
    { name: 'ids', datatype: 'INT32', shape: [2, 2], data: Int32Array.from([7, 7, 7, 7]) },
  ]);
  assert.equal(monitor.scores(), before, 'nothing was added');
  assert.equal(warnings.length, 1, 'one warning per input, not per request');
  assert.match(warnings[0]!, /skips input 'ids': its rows have 2 values but the reference profile has 1 features/);
  monitor.observe([{ name: 'ids', datatype: 'BOOL', shape: [3, 1], data: Uint8Array.from([1, 1, 1]) }]);
  assert.ok(monitor.scores()[0]!.features[0]!.psi > 1, 'BOOL rows counted as 1s');
});

test('alerts fire on an upward crossing and again only after falling under threshold × 0.8', () => {
  const ref = profileOf([table('c', column([...Array(50).fill(0), ...Array(50).fill(1)]))]);
  const monitor = new DriftMonitor(ref, { windowRows: 100, minRows: 100 });
  const alerts: DriftAlert[] = [];
  monitor.onAlert((a) => alerts.push(a));
  monitor.close(); // scored by hand below, not by the timer
  const share = (zeros: number) => monitor.observe([tensor('c', column([...Array(zeros).fill(0), ...Array(100 - zeros).fill(1)]))]);
  const psi = () => monitor.scores()[0]!.features[0]!.psi;

  share(100);
  assert.ok(psi() > 4);
  assert.equal(alerts.length, 1);
  assert.deepEqual({ ...alerts[0], psi: undefined }, { model: 'm', version: '1', input: 'c', feature: 'c[0]', psi: undefined, ks: undefined, pValue: undefined });
  share(72); // PSI ≈ 0.208: still drifted, already alerted
  assert.ok(psi() > 0.2);
  assert.equal(alerts.length, 1);
  share(70); // PSI ≈ 0.169: under the threshold but not under 0.16, so not re-armed
  assert.ok(psi() > 0.16 && psi() < 0.2, `psi ${psi()}`);
  share(72);
  psi();
  assert.equal(alerts.length, 1, 'no alert without falling under 0.8 × threshold');
  share(50); // PSI 0: re-armed
  assert.equal(psi(), 0);
  share(72);
  psi();
  assert.equal(alerts.length, 2);
  assert.ok(Math.abs(alerts[1]!.psi - 0.2077815539) < 1e-9, `psi ${alerts[1]!.psi}`);
});

test('with a listener, new rows are scored without a scrape; a failing listener does not stop the others', async () => {
  const ref = profileOf([table('c', column([...Array(50).fill(0), ...Array(50).fill(1)]))]);
  const warnings: string[] = [];
  const monitor = new DriftMonitor(ref, { windowRows: 100, minRows: 100, evaluateIntervalMs: 0, onWarning: (m) => warnings.push(m) });
  const alerts: DriftAlert[] = [];
  monitor.onAlert(() => {
    throw new Error('stream closed');
  });
  const unsubscribe = monitor.onAlert((a) => alerts.push(a));
  monitor.observe([tensor('c', column(Array(100).fill(0)))]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]!.feature, 'c[0]');
  assert.match(warnings.join('\n'), /alert listener of m version 1 failed: stream closed/);
  unsubscribe();
  monitor.close();
});

test('bad options are refused with what was expected', () => {
  assert.throws(() => new DriftMonitor(reference, { windowRows: 0 }), /windowRows must be a whole number ≥ 1/);
  assert.throws(() => new DriftMonitor(reference, { windowRows: 10, minRows: 20 }), /minRows must be a whole number from 1 to windowRows \(10\)/);
  assert.throws(() => new DriftMonitor(reference, { rearmRatio: 1.5 }), /rearmRatio must be in \(0, 1\]/);
});

test('scoresAsync gives the same scores as scores(), in slices, and shares the cache', async () => {
  const a = new DriftMonitor(reference);
  const b = new DriftMonitor(reference);
  const rows = mixedRows(8, 500, 0.3);
  a.observe([tensor('x', rows)]);
  b.observe([tensor('x', rows)]);
  const sliced = await a.scoresAsync(0); // a zero budget yields between every two features
  assert.deepEqual(sliced, b.scores());
  assert.equal(a.scores(), sliced, 'the sliced result is the cached one');
  assert.equal(await a.scoresAsync(), sliced);
});
