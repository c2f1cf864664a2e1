import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrivalTimes, createSchedule, workerShare } from '../../src/services/loadtest/schedule';

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

test('a constant rate sends at 0, 1/R, 2/R … and nothing at the end of the stage', () => {
  const times = arrivalTimes([{ durationMs: 1000, targetRps: 100 }]);
  assert.equal(times.length, 100);
  times.forEach((t, k) => close(t, k * 10));
  const s = createSchedule([{ durationMs: 2500, targetRps: 3 }]);
  assert.equal(s.total, 8); // 7.5 expected arrivals: k = 0 … 7 are due before 2.5 s
  assert.equal(s.durationMs, 2500);
  close(s.timeOf(7), 7000 / 3);
});

test('a ramp follows the integral of the linear rate', () => {
  // 0 → 100/s over 1 s: n(t) = 50 t², so arrival k is due at sqrt(k / 50) s; 50 arrivals in all.
  const times = arrivalTimes([{ durationMs: 0, targetRps: 0 }, { durationMs: 1000, targetRps: 100 }]);
  assert.equal(times.length, 50);
  times.forEach((t, k) => close(t, Math.sqrt(k / 50) * 1000, 1e-6));
});

test('ramping down, constant first stage, and count per window match the rate', () => {
  const s = createSchedule([{ durationMs: 1000, targetRps: 100 }, { durationMs: 1000, targetRps: 0 }]);
  assert.equal(s.total, 150);
  const times = arrivalTimes([{ durationMs: 1000, targetRps: 100 }, { durationMs: 1000, targetRps: 0 }]);
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, 'arrival times never go back');
  assert.ok(times.every((t) => t >= 0 && t < 2000));
  // 1.0–1.5 s: the rate falls 100 → 50, so 37.5 arrivals are expected there.
  const inWindow = times.filter((t) => t >= 1000 && t < 1500).length;
  assert.ok(inWindow === 37 || inWindow === 38, `got ${inWindow}`);
  assert.equal(times.filter((t) => t < 1000).length, 100);
});

test('a zero-rate stage sends nothing during its time, and rates can jump with 0-length stages', () => {
  const stages = [
    { durationMs: 1000, targetRps: 10 },
    { durationMs: 0, targetRps: 0 },
    { durationMs: 1000, targetRps: 0 },
    { durationMs: 0, targetRps: 20 },
    { durationMs: 1000, targetRps: 20 },
  ];
  const times = arrivalTimes(stages);
  assert.equal(times.length, 30);
  assert.equal(times.filter((t) => t < 1000).length, 10);
  assert.equal(times.filter((t) => t >= 1000 && t < 2000).length, 0);
  assert.equal(times.filter((t) => t >= 2000).length, 20);
  close(times[10]!, 2000);
  close(times[11]!, 2050);
});

test('workers share the schedule in turn: their arrivals together are the whole schedule', () => {
  const stages = [{ durationMs: 700, targetRps: 50 }, { durationMs: 1300, targetRps: 333 }];
  const all = arrivalTimes(stages);
  const s = createSchedule(stages);
  assert.equal(all.length, s.total);
  for (const n of [1, 2, 3, 7]) {
    const parts = Array.from({ length: n }, (_, w) => arrivalTimes(stages, w, n));
    parts.forEach((p, w) => assert.equal(p.length, workerShare(s.total, w, n)));
    assert.equal(parts.reduce((a, p) => a + p.length, 0), s.total);
    const merged = parts.flat().sort((a, b) => a - b);
    assert.deepEqual(merged, [...all].sort((a, b) => a - b));
  }
  assert.equal(workerShare(2, 5, 8), 0);
});

test('arrival times are monotonic and counts match the rate integral for many random plans', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 50; trial++) {
    const stages = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => ({
      durationMs: Math.floor(rnd() * 2000),
      targetRps: Math.floor(rnd() * 500),
    }));
    stages[0]!.durationMs += 1;
    const s = createSchedule(stages);
    let expected = 0;
    stages.forEach((st, i) => (expected += ((st.targetRps + (i === 0 ? st.targetRps : stages[i - 1]!.targetRps)) / 2) * (st.durationMs / 1000)));
    assert.equal(s.total, Math.ceil(expected - 1e-9 * Math.max(1, expected)));
    let prev = -1;
    for (let k = 0; k < s.total; k++) {
      const t = s.timeOf(k);
      assert.ok(t >= prev - 1e-9 && t <= s.durationMs, `trial ${trial}: arrival ${k} at ${t} after ${prev}`);
      prev = t;
    }
  }
});

test('out-of-range arrivals and invalid stages are refused', () => {
  const s = createSchedule([{ durationMs: 100, targetRps: 10 }]);
  assert.equal(s.total, 1);
  assert.throws(() => s.timeOf(1), RangeError);
  assert.throws(() => s.timeOf(-1), RangeError);
  assert.throws(() => createSchedule([]), /at least one stage/);
  assert.throws(() => createSchedule([{ durationMs: 0, targetRps: 10 }]), /0 ms/);
  assert.throws(() => createSchedule([{ durationMs: 100, targetRps: -1 }]), /rate/);
  assert.equal(createSchedule([{ durationMs: 1000, targetRps: 0 }]).total, 0);
});
