import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateThresholds,
  parseThreshold,
  parseThresholds,
  thresholdTagKey,
  ThresholdError,
} from '../../src/services/loadtest/thresholds';
import type { LoadTestResult } from '../../src/services/loadtest/types';
import { validateKey } from '../../src/core/validation';

function result(overrides: Partial<LoadTestResult> = {}): LoadTestResult {
  return {
    startedAt: 1_700_000_000_000,
    durationMs: 10_000,
    requests: 1000,
    ok: 990,
    errors: { timeout: 4, status_500: 6 },
    late: 20,
    unsent: 0,
    throughputRps: 100,
    latency: { count: 1000, mean: 4, stddev: 1, min: 0.5, max: 80, p50: 3, p90: 6, p95: 8, p99: 12.5, p999: 40 },
    perSecond: [],
    histogram: '',
    ...overrides,
  };
}

test('latency thresholds parse with us, ms and s, and k6 spellings', () => {
  assert.deepEqual(parseThreshold('p99<50ms'), { expression: 'p99<50ms', metric: 'p99', op: '<', value: 50, unit: 'ms' });
  assert.deepEqual(parseThreshold(' p95 <= 0.2 s '), { expression: 'p95 <= 0.2 s', metric: 'p95', op: '<=', value: 0.2, unit: 's' });
  assert.equal(parseThreshold('p(99)<50ms').metric, 'p99');
  assert.equal(parseThreshold('p99.9<100ms').metric, 'p999');
  assert.equal(parseThreshold('avg<3ms').metric, 'mean');
  assert.equal(parseThreshold('MAX<1s').metric, 'max');
  assert.equal(parseThreshold('p50<800us').unit, 'us');
  assert.equal(parseThreshold('p50<800µs').unit, 'us');
});

test('errors, rps and late thresholds parse as rates or counts', () => {
  assert.deepEqual(parseThreshold('errors<1%'), { expression: 'errors<1%', metric: 'errors', op: '<', value: 1, unit: '%' });
  assert.equal(parseThreshold('errors<10').unit, '');
  assert.deepEqual(parseThreshold('rps>1000'), { expression: 'rps>1000', metric: 'rps', op: '>', value: 1000, unit: '' });
  assert.equal(parseThreshold('late<0.5%').value, 0.5);
  assert.equal(parseThreshold('late<=5').op, '<=');
});

test('bad expressions are refused with a message naming what is allowed', () => {
  const cases: [string, RegExp][] = [
    ['p99', /expected '<metric> <op> <value>'/],
    ['p98<50ms', /unknown metric 'p98'/],
    ['p99<50', /needs a unit: us, ms or s/],
    ['p99<5%', /a time \(us, ms or s\), not a percentage/],
    ['rps>1000ms', /'rps' takes a plain number/],
    ['errors<5ms', /percentage .* or a count/],
    ['errors<150%', /cannot exceed 100/],
    ['p99==50ms', /'=' comparisons are not supported/],
    ['p99<fastms', /expected '<metric> <op> <value>'/],
    ['', /empty/],
  ];
  for (const [expr, why] of cases) {
    assert.throws(
      () => parseThreshold(expr),
      (e: unknown) => e instanceof ThresholdError && why.test(e.message) && /Allowed: .*p50 p90 p95 p99 p999 max mean.*operators < <= > >=/.test(e.message),
      expr,
    );
  }
});

test('parseThresholds reports every bad expression at once', () => {
  assert.throws(() => parseThresholds(['p99<50ms', 'p98<1ms', 'rps>5s']), (e: unknown) => {
    const msg = (e as Error).message;
    return msg.includes("Invalid threshold 'p98<1ms'") && msg.includes("Invalid threshold 'rps>5s'") && !msg.includes("Invalid threshold 'p99<50ms'") && msg.match(/Allowed:/g)?.length === 1;
  });
  assert.equal(parseThresholds(['p99<50ms', 'errors<1%']).length, 2);
});

test('verdicts compare the measured value in the threshold unit', () => {
  const r = result();
  const verdicts = evaluateThresholds(parseThresholds(['p99<50ms', 'p99<12ms', 'p99<=12.5ms', 'p99<1us', 'p50<0.01s', 'max<79ms', 'mean>=4ms']), r);
  assert.deepEqual(verdicts.map((v) => v.pass), [true, false, true, false, true, false, true]);
  assert.equal(verdicts[0]!.actual, 12.5);
  assert.equal(verdicts[3]!.actual, 12_500); // in microseconds, as the threshold is written
  assert.equal(verdicts[4]!.actual, 0.003);
  assert.match(verdicts[0]!.detail!, /p99 = 12\.5 ms/);
});

test('errors as a rate of all requests or as a count; rps; late as a rate of scheduled requests', () => {
  const r = result();
  const [rate, rateFail, count, countFail, rps, rpsFail, late, lateCount] = evaluateThresholds(
    parseThresholds(['errors<1.5%', 'errors<1%', 'errors<=10', 'errors<10', 'rps>99', 'rps>100', 'late<2.5%', 'late<20']),
    r,
  );
  assert.equal(rate!.actual, 1); // 10 errors of 1000 requests
  assert.equal(rate!.pass, true);
  assert.equal(rateFail!.pass, false);
  assert.equal(count!.actual, 10);
  assert.equal(count!.pass, true);
  assert.equal(countFail!.pass, false);
  assert.equal(rps!.pass, true);
  assert.equal(rpsFail!.pass, false);
  assert.equal(late!.actual, 2);
  assert.equal(late!.pass, true);
  assert.equal(lateCount!.pass, false);
});

test('an empty test fails latency thresholds instead of passing them vacuously', () => {
  const empty = result({
    requests: 0, ok: 0, errors: {}, late: 0, throughputRps: 0,
    latency: { count: 0, mean: 0, stddev: 0, min: 0, max: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 },
  });
  const [p99, errors] = evaluateThresholds(parseThresholds(['p99<50ms', 'errors<1%']), empty);
  assert.equal(p99!.pass, false);
  assert.ok(Number.isNaN(p99!.actual));
  assert.match(p99!.detail!, /no latency measured/);
  assert.equal(errors!.pass, true);
  assert.equal(errors!.actual, 0);
});

test('verdict tag keys are valid MLflow tag keys and distinct per expression', () => {
  const exprs = ['p99<50ms', 'p99<=50ms', 'errors<1%', 'errors<1', 'rps>1000', 'late>=0.5%', 'p(99.9)<1s', 'not a threshold <>%/..'];
  const keys = exprs.map(thresholdTagKey);
  assert.equal(keys[0], 'trellis.threshold.p99_lt_50ms');
  assert.equal(keys[2], 'trellis.threshold.errors_lt_1pct');
  assert.equal(new Set(keys).size, keys.length);
  for (const k of keys) assert.equal(validateKey('tag', k), k);
});
