// Recording load tests as runs: recordLoadTest on a real store, POST /api/trellis/loadtests on a real
// server (validation included), and compareLoadTests over the runs as the API returns them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/core/store';
import { TrellisError } from '../../src/core/errors';
import { createHistogram, encodeHistogram, recordMicros, summarize } from '../../src/services/loadtest/histogram';
import { recordLoadTest, planParams, PER_SECOND_METRICS, type LoadTestRunParams } from '../../src/services/loadtest/record';
import { compareLoadTests } from '../../src/services/loadtest/compare';
import { evaluateThresholds, parseThresholds } from '../../src/services/loadtest/thresholds';
import type { LoadTestResult } from '../../src/services/loadtest/types';
import { startTestPlatform, tempDir, type TestPlatform } from '../support/platform';

const STARTED = 1_760_000_000_000;

/** A result with real histograms: `n` latencies of `base`, `base+1`, … µs spread over 3 seconds. */
function makeResult(n: number, baseUs: number, errors: LoadTestResult['errors'] = {}): LoadTestResult {
  const all = createHistogram();
  const perSecond = [0, 1, 2].map((second) => {
    const h = createHistogram();
    for (let i = second; i < n; i += 3) {
      recordMicros(h, baseUs + i);
      recordMicros(all, baseUs + i);
    }
    const s = summarize(h);
    return { second, requests: h.totalCount, errors: second === 1 ? 2 : 0, p50: s.p50, p99: s.p99 };
  });
  const errorCount = Object.values(errors).reduce<number>((a, b) => a + (b ?? 0), 0);
  return {
    startedAt: STARTED,
    durationMs: 2500,
    requests: n + errorCount,
    ok: n,
    errors,
    late: 3,
    unsent: 1,
    throughputRps: (n + errorCount) / 2.5,
    latency: summarize(all),
    perSecond,
    histogram: encodeHistogram(all),
  };
}

const closedParams: LoadTestRunParams = planParams({
  request: { method: 'GET', url: 'http://127.0.0.1:8080/predict', headers: {} },
  model: { kind: 'closed', connections: 8, durationMs: 30_000, requests: 1000 },
  workers: 2,
  timeoutMs: 10_000,
});
const openParams: LoadTestRunParams = planParams({
  request: { method: 'POST', url: 'http://127.0.0.1:8080/predict', headers: {}, body: '{}' },
  model: { kind: 'open', stages: [{ durationMs: 30_000, targetRps: 100 }, { durationMs: 60_000, targetRps: 500 }], maxConnections: 64 },
  workers: 1,
  timeoutMs: 5_000,
});

describe('recordLoadTest on a real store', () => {
  const { dir, cleanup } = tempDir('trellis-loadtest-record-');
  let store: Store;
  before(() => {
    store = openStore(dir);
  });
  after(() => {
    store.close();
    cleanup();
  });

  test('params, per-second series, summary metrics, tags, status and artifacts', async () => {
    const result = makeResult(300, 1000, { status_500: 4, timeout: 1 });
    const verdicts = evaluateThresholds(parseThresholds(['p99<50ms', 'errors<1%']), result);
    const rec = await recordLoadTest(store, { target: 'http://127.0.0.1:8080/predict', params: closedParams, result, verdicts });

    const exp = store.experiments.getByName('load-tests');
    assert.equal(rec.experiment_id, exp.experiment_id);
    const run = store.runs.get(rec.run_id);
    assert.equal(run.info.experiment_id, exp.experiment_id);
    assert.equal(run.info.run_name, 'loadtest 127.0.0.1:8080/predict 2025-10-09 08:53:20');
    assert.equal(run.info.start_time, STARTED);
    assert.equal(run.info.end_time, STARTED + 2500);
    // errors<1% fails (5 of 305), so the run is FAILED and the verdict tags say which.
    assert.equal(run.info.status, 'FAILED');

    const params = Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));
    assert.deepEqual(params, {
      target: 'http://127.0.0.1:8080/predict', mode: 'closed', method: 'GET', connections: '8', duration_s: '30',
      max_requests: '1000', workers: '2', timeout_s: '10',
    });

    const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
    assert.equal(tags['trellis.loadtest'], 'true');
    assert.equal(tags['trellis.threshold.p99_lt_50ms'], 'pass');
    assert.equal(tags['trellis.threshold.errors_lt_1pct'], 'fail');

    const latest = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
    assert.equal(latest.requests, 305);
    assert.equal(latest.ok, 300);
    assert.equal(latest.errors_total, 5);
    assert.ok(Math.abs(latest.error_rate! - 5 / 305) < 1e-12);
    assert.equal(latest.late, 3);
    assert.equal(latest.unsent, 1);
    assert.equal(latest.throughput_rps, 122);
    assert.equal(latest.latency_p99_ms, result.latency.p99);
    assert.equal(latest.latency_p999_ms, result.latency.p999);
    assert.equal(latest.latency_max_ms, result.latency.max);
    assert.equal(latest.latency_mean_ms, result.latency.mean);

    for (const key of PER_SECOND_METRICS) {
      const history = store.runs.metrics.history(rec.run_id, key, 0);
      assert.deepEqual(history.map((p) => p.step), [0, 1, 2], key);
      assert.deepEqual(history.map((p) => p.timestamp), [STARTED, STARTED + 1000, STARTED + 2000], key);
    }
    assert.deepEqual(store.runs.metrics.history(rec.run_id, 'rps', 0).map((p) => p.value), [100, 100, 100]);
    assert.deepEqual(store.runs.metrics.history(rec.run_id, 'errors', 0).map((p) => p.value), [0, 2, 0]);
    assert.deepEqual(store.runs.metrics.history(rec.run_id, 'interval_p99_ms', 0).map((p) => p.value), result.perSecond.map((s) => s.p99));

    const base = join(dir, 'artifacts', exp.experiment_id, rec.run_id, 'artifacts');
    const hgrm = readFileSync(join(base, 'histogram.hgrm'), 'utf8');
    assert.match(hgrm, /Value\s+Percentile\s+TotalCount/);
    assert.match(hgrm, /Total count\s+=\s+300\]/);
    // Values in milliseconds: the largest latency is 1299 µs.
    assert.match(hgrm, /Max\s+=\s+1\.299,/);
    assert.deepEqual(JSON.parse(readFileSync(join(base, 'result.json'), 'utf8')), result);
  });

  test('the experiment is reused; open-model params; interrupted runs are KILLED; a given name is used', async () => {
    const first = await recordLoadTest(store, { target: 'http://127.0.0.1:8080/predict', params: openParams, result: makeResult(30, 500), name: 'ramp A' });
    const second = await recordLoadTest(store, {
      target: 'http://127.0.0.1:8080/predict', params: openParams, result: makeResult(30, 500), interrupted: true, model: 'digits@champion',
    });
    assert.equal(first.experiment_id, second.experiment_id);
    assert.equal(store.experiments.search({ filter: "name = 'load-tests'" }).items.length, 1);
    const a = store.runs.get(first.run_id);
    assert.equal(a.info.run_name, 'ramp A');
    assert.equal(a.info.status, 'FINISHED');
    const params = Object.fromEntries(a.data.params.map((p) => [p.key, p.value]));
    assert.equal(params.mode, 'open');
    assert.equal(params.stages, '30s:100,1m:500');
    assert.equal(params.duration_s, '90');
    assert.equal(params.connections, '64');
    assert.equal(params.rate, undefined);
    const b = store.runs.get(second.run_id);
    assert.equal(b.info.status, 'KILLED');
    assert.ok(b.data.tags.some((t) => t.key === 'trellis.loadtest.interrupted' && t.value === 'true'));
    assert.ok(b.data.params.some((p) => p.key === 'model' && p.value === 'digits@champion'));
  });

  test('a corrupt histogram is refused before anything is written', async () => {
    const before = store.runs.search({ experimentIds: [store.experiments.getByName('load-tests').experiment_id] }).items.length;
    await assert.rejects(
      recordLoadTest(store, { target: 'http://127.0.0.1/', params: closedParams, result: { ...makeResult(10, 100), histogram: 'not-a-histogram' } }),
      (e: unknown) => e instanceof TrellisError && e.code === 'INVALID_PARAMETER_VALUE' && /result\.histogram/.test(e.message),
    );
    const afterCount = store.runs.search({ experimentIds: [store.experiments.getByName('load-tests').experiment_id] }).items.length;
    assert.equal(afterCount, before);
  });

  test('a deleted load-tests experiment gives a clear error instead of a run in a deleted experiment', async () => {
    const { dir: other, cleanup: cleanupOther } = tempDir('trellis-loadtest-deleted-');
    const s = openStore(other);
    try {
      const id = s.experiments.create('load-tests');
      s.experiments.setLifecycle(id, 'deleted');
      await assert.rejects(
        recordLoadTest(s, { target: 'http://127.0.0.1/', params: closedParams, result: makeResult(10, 100) }),
        (e: unknown) => e instanceof TrellisError && e.code === 'RESOURCE_CONFLICT' && /'load-tests' is deleted/.test(e.message),
      );
    } finally {
      s.close();
      cleanupOther();
    }
  });
});

describe('POST /api/trellis/loadtests and compare', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => p.stop());

  const body = (result: LoadTestResult, extra: Record<string, unknown> = {}) => ({
    target: 'http://127.0.0.1:8080/predict',
    params: closedParams,
    result,
    verdicts: evaluateThresholds(parseThresholds(['p99<50ms']), result),
    ...extra,
  });

  test('records a run and answers its ids; compare reads two such runs', async () => {
    const fast = await p.api('POST', '/api/trellis/loadtests', body(makeResult(300, 1000)));
    assert.equal(fast.status, 200, JSON.stringify(fast.body));
    assert.match(fast.body.run_id, /^[0-9a-f]{32}$/);
    const slow = await p.api('POST', '/api/trellis/loadtests', body(makeResult(150, 3000, { timeout: 3 }), { name: 'slow' }));
    assert.equal(slow.status, 200, JSON.stringify(slow.body));
    assert.equal(slow.body.experiment_id, fast.body.experiment_id);

    const get = async (id: string) => (await p.mlflow('GET', 'runs/get', { run_id: id })).body.run;
    const a = await get(fast.body.run_id);
    const b = await get(slow.body.run_id);
    assert.equal(b.info.run_name, 'slow');
    const cmp = compareLoadTests(a, b);
    assert.equal(cmp.a.run_id, fast.body.run_id);
    const row = (m: string) => cmp.rows.find((r) => r.metric === m)!;
    assert.equal(row('latency_p99_ms').better, 'a');
    assert.ok(row('latency_p99_ms').delta! > 1.5); // about 1.30 ms → 3.15 ms
    assert.equal(row('throughput_rps').better, 'a'); // 120 → 61.2 req/s
    assert.ok(Math.abs(row('throughput_rps').deltaPct! - -49) < 1e-9);
    assert.equal(row('errors_total').a, 0);
    assert.equal(row('errors_total').b, 3);
    assert.equal(row('errors_total').deltaPct, null); // from 0: no percentage
    assert.equal(row('late').better, 'same');
    assert.ok(cmp.params.every((x) => x.same));

    const plain = (await p.mlflow('POST', 'runs/create', { experiment_id: '0' })).body.run;
    assert.throws(() => compareLoadTests(a, plain), /is not a load test/);
  });

  test('NaN sent as null (JSON.stringify) is accepted', async () => {
    const r = makeResult(30, 100);
    const json = JSON.parse(JSON.stringify({ ...body(r), result: { ...r, latency: { ...r.latency, stddev: NaN } } }));
    assert.equal(json.result.latency.stddev, null);
    const res = await p.api('POST', '/api/trellis/loadtests', json);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('bad bodies are 400s naming the field', async () => {
    const good = body(makeResult(30, 100));
    const cases: [unknown, RegExp][] = [
      [{ ...good, target: undefined }, /'target'.*non-empty string/],
      [{ ...good, params: { ...closedParams, mode: 'sideways' } }, /'params\.mode'.*'open' or 'closed'/],
      [{ ...good, params: { ...closedParams, connections: -1 } }, /'params\.connections'.*integer ≥ 0/],
      [{ ...good, result: { ...good.result, perSecond: 'lots' } }, /'result\.perSecond'/],
      [{ ...good, result: { ...good.result, perSecond: [{ second: 0, requests: 1, errors: 0, p50: 'x', p99: 1 }] } }, /'result\.perSecond\[0\]\.p50'.*a number/],
      [{ ...good, result: { ...good.result, errors: { teapot: 1 } } }, /'result\.errors'.*error kinds/],
      [{ ...good, result: { ...good.result, latency: undefined } }, /'result\.latency'.*an object/],
      [{ ...good, result: { ...good.result, histogram: 42 } }, /'result\.histogram'/],
      [{ ...good, result: { ...good.result, histogram: 'garbage' } }, /'result\.histogram'/],
      [{ ...good, verdicts: [{ expression: 'p99<1ms', actual: 1, pass: 'yes' }] }, /'verdicts\[0\]\.pass'.*true or false/],
      [{ ...good, interrupted: 'no' }, /'interrupted'/],
    ];
    for (const [b, why] of cases) {
      const res = await p.api('POST', '/api/trellis/loadtests', b);
      assert.equal(res.status, 400, `${why}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(res.body.message, why);
    }
    // None of them left a run behind.
    const exp = (await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: 'load-tests' })).body.experiment;
    const runs = (await p.mlflow('POST', 'runs/search', { experiment_ids: [exp.experiment_id] })).body.runs ?? [];
    assert.equal(runs.length, 3);
  });
});
