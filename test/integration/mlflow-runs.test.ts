// MLflow REST API: runs, metrics, params, tags, inputs, histories and run search, written from MLflow's
// service.proto and handlers (see the protocol reference), not from Trellis's implementation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectError, expectOk, unique } from '../support/replies';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;

async function createExperiment(name = unique('exp')): Promise<string> {
  return expectOk(await p.mlflow('POST', 'experiments/create', { name })).experiment_id;
}

async function createRun(fields: Record<string, unknown> = {}): Promise<any> {
  return expectOk(await p.mlflow('POST', 'runs/create', { start_time: Date.now(), ...fields })).run;
}

const getRun = async (runId: string) => expectOk(await p.mlflow('GET', 'runs/get', { run_id: runId })).run;

const kv = (list: any[] | undefined): Record<string, string> => Object.fromEntries((list ?? []).map((t: any) => [t.key, t.value]));

const metricsOf = (run: any): Record<string, any> => Object.fromEntries((run.data?.metrics ?? []).map((m: any) => [m.key, m]));

async function history(runId: string, key: string): Promise<any[]> {
  return expectOk(await p.mlflow('GET', 'metrics/get-history', { run_id: runId, metric_key: key })).metrics ?? [];
}

const logMetric = async (runId: string, key: string, value: unknown, timestamp: unknown, step?: unknown) =>
  p.mlflow('POST', 'runs/log-metric', { run_id: runId, key, value, timestamp, ...(step === undefined ? {} : { step }) });

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.stop();
});

describe('runs/create', () => {
  test('returns the created Run: ids, name, status, times, artifact_uri shape, tags and empty inputs', async () => {
    const exp = await createExperiment();
    const res = expectOk(
      await p.mlflow('POST', 'runs/create', {
        experiment_id: exp,
        user_id: 'alice',
        run_name: 'first-run',
        start_time: 1700000000123,
        tags: [{ key: 'mlflow.user', value: 'alice' }, { key: 'team', value: 'vision' }],
      }),
    );
    const { info, data } = res.run;
    assert.match(info.run_id, /^[0-9a-f]{32}$/, 'uuid4 hex, lowercase');
    assert.equal(info.run_uuid, info.run_id);
    assert.equal(info.run_name, 'first-run');
    assert.equal(info.experiment_id, exp);
    assert.equal(info.user_id, 'alice');
    assert.equal(info.status, 'RUNNING');
    assert.equal(info.start_time, 1700000000123);
    assert.equal(info.end_time, undefined, 'end_time is omitted while running');
    assert.equal(info.lifecycle_stage, 'active');
    assert.equal(info.artifact_uri, `mlflow-artifacts:/${exp}/${info.run_id}/artifacts`);
    assert.deepEqual(kv(data.tags), { 'mlflow.user': 'alice', team: 'vision', 'mlflow.runName': 'first-run' });
    assert.ok('inputs' in res.run, 'inputs is always present');
    assert.deepEqual(res.run.inputs.dataset_inputs ?? [], []);
    assert.deepEqual(data.metrics ?? [], []);
    assert.deepEqual(data.params ?? [], []);
  });

  test('the mlflow.runName tag alone names the run', async () => {
    const run = await createRun({ tags: [{ key: 'mlflow.runName', value: 'from-tag' }] });
    assert.equal(run.info.run_name, 'from-tag');
    assert.equal(kv(run.data.tags)['mlflow.runName'], 'from-tag');
  });

  test('run_name and an equal mlflow.runName tag are fine; different values are a 400 naming both', async () => {
    const run = await createRun({ run_name: 'same', tags: [{ key: 'mlflow.runName', value: 'same' }] });
    assert.equal(run.info.run_name, 'same');
    assert.equal((run.data.tags as any[]).filter((t) => t.key === 'mlflow.runName').length, 1);
    expectError(
      await p.mlflow('POST', 'runs/create', { run_name: 'a', tags: [{ key: 'mlflow.runName', value: 'b' }] }),
      400,
      'INVALID_PARAMETER_VALUE',
      /run_name.*mlflow\.runName|mlflow\.runName.*run_name/s,
    );
  });

  test('without any name the run gets a generated <adjective>-<noun>-<n> name, mirrored into the tag', async () => {
    const run = await createRun();
    assert.match(run.info.run_name, /^[a-z]+-[a-z]+-\d{1,3}$/);
    assert.equal(kv(run.data.tags)['mlflow.runName'], run.info.run_name);
  });

  test('no experiment_id means the Default experiment "0"', async () => {
    const run = await createRun();
    assert.equal(run.info.experiment_id, '0');
    assert.equal(run.info.artifact_uri, `mlflow-artifacts:/0/${run.info.run_id}/artifacts`);
  });

  test('unknown experiment is 404; a deleted experiment is 400', async () => {
    expectError(await p.mlflow('POST', 'runs/create', { experiment_id: '31337', start_time: 1 }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const exp = await createExperiment();
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: exp }));
    expectError(await p.mlflow('POST', 'runs/create', { experiment_id: exp, start_time: 1 }), 400, 'INVALID_PARAMETER_VALUE', /active/);
  });

  test('start_time may be an int64 string', async () => {
    const run = await createRun({ start_time: '1700000000999' });
    assert.equal(run.info.start_time, 1700000000999);
  });
});

describe('runs/get', () => {
  test('by run_id and by run_uuid; unknown run is 404 RESOURCE_DOES_NOT_EXIST', async () => {
    const run = await createRun({ run_name: 'gettable' });
    assert.equal((await getRun(run.info.run_id)).info.run_name, 'gettable');
    const viaUuid = expectOk(await p.mlflow('GET', 'runs/get', { run_uuid: run.info.run_id })).run;
    assert.equal(viaUuid.info.run_id, run.info.run_id);
    const r = await getRun(run.info.run_id);
    assert.ok(r.data && r.inputs, 'data and inputs are always present');
    expectError(await p.mlflow('GET', 'runs/get', { run_id: 'f'.repeat(32) }), 404, 'RESOURCE_DOES_NOT_EXIST', /f{32}/);
    expectError(await p.mlflow('GET', 'runs/get', {}), 400, 'INVALID_PARAMETER_VALUE', /'run_(id|uuid)'/);
  });

  test('a missing run id is reported as run_id, not the deprecated run_uuid', async () => {
    expectError(await p.mlflow('GET', 'runs/get', {}), 400, 'INVALID_PARAMETER_VALUE', /'run_id'/);
    expectError(await p.mlflow('POST', 'runs/log-metric', { key: 'm', value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /'run_id'/);
  });
});

describe('runs/update', () => {
  test('sets status and end_time and returns run_info', async () => {
    const run = await createRun({ run_name: 'upd' });
    const body = expectOk(await p.mlflow('POST', 'runs/update', { run_id: run.info.run_id, run_uuid: run.info.run_id, status: 'FINISHED', end_time: 1700000009999 }));
    assert.equal(body.run_info.run_id, run.info.run_id);
    assert.equal(body.run_info.run_uuid, run.info.run_id);
    assert.equal(body.run_info.status, 'FINISHED');
    assert.equal(body.run_info.end_time, 1700000009999);
    assert.equal(body.run_info.run_name, 'upd');
    const got = await getRun(run.info.run_id);
    assert.equal(got.info.status, 'FINISHED');
    assert.equal(got.info.end_time, 1700000009999);
  });

  test('run_name alone renames (and updates the mlflow.runName tag) without touching status', async () => {
    const run = await createRun({ run_name: 'before' });
    const body = expectOk(await p.mlflow('POST', 'runs/update', { run_id: run.info.run_id, run_name: 'after' }));
    assert.equal(body.run_info.run_name, 'after');
    assert.equal(body.run_info.status, 'RUNNING');
    const got = await getRun(run.info.run_id);
    assert.equal(got.info.run_name, 'after');
    assert.equal(kv(got.data.tags)['mlflow.runName'], 'after');
  });

  test('accepts run_uuid alone, every RunStatus, and rejects unknown statuses', async () => {
    const run = await createRun();
    for (const status of ['SCHEDULED', 'FAILED', 'KILLED', 'RUNNING', 'FINISHED']) {
      assert.equal(expectOk(await p.mlflow('POST', 'runs/update', { run_uuid: run.info.run_id, status })).run_info.status, status);
    }
    expectError(await p.mlflow('POST', 'runs/update', { run_id: run.info.run_id, status: 'DONE' }), 400, 'INVALID_PARAMETER_VALUE', /status/);
    expectError(await p.mlflow('POST', 'runs/update', { run_id: 'e'.repeat(32), status: 'FINISHED' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('runs/delete and runs/restore; writes to deleted runs', () => {
  test('delete and restore flip lifecycle_stage; both are idempotent; deleted runs stay readable', async () => {
    const run = await createRun();
    const id = run.info.run_id;
    expectOk(await p.mlflow('POST', 'runs/delete', { run_id: id }));
    assert.equal((await getRun(id)).info.lifecycle_stage, 'deleted');
    expectOk(await p.mlflow('POST', 'runs/delete', { run_id: id }));
    expectOk(await p.mlflow('POST', 'runs/restore', { run_id: id }));
    assert.equal((await getRun(id)).info.lifecycle_stage, 'active');
    expectOk(await p.mlflow('POST', 'runs/restore', { run_id: id }));
    expectError(await p.mlflow('POST', 'runs/delete', { run_id: 'd'.repeat(32) }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('every write to a deleted run is a 400 INVALID_PARAMETER_VALUE and writes nothing', async () => {
    const run = await createRun();
    const id = run.info.run_id;
    expectOk(await p.mlflow('POST', 'runs/set-tag', { run_id: id, key: 'keep', value: 'me' }));
    expectOk(await p.mlflow('POST', 'runs/delete', { run_id: id }));
    const attempts: [string, Record<string, unknown>][] = [
      ['runs/log-metric', { run_id: id, key: 'm', value: 1, timestamp: 1, step: 0 }],
      ['runs/log-parameter', { run_id: id, key: 'p', value: 'v' }],
      ['runs/set-tag', { run_id: id, key: 't', value: 'v' }],
      ['runs/delete-tag', { run_id: id, key: 'keep' }],
      ['runs/log-batch', { run_id: id, metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }], params: [{ key: 'p', value: 'v' }] }],
      ['runs/update', { run_id: id, status: 'FINISHED', end_time: 5 }],
      ['runs/log-inputs', { run_id: id, datasets: [{ dataset: { name: 'd', digest: 'x', source_type: 'local', source: '/d' } }] }],
    ];
    for (const [path, fields] of attempts) {
      expectError(await p.mlflow('POST', path, fields), 400, 'INVALID_PARAMETER_VALUE', /active/);
    }
    const got = await getRun(id);
    assert.deepEqual(got.data.metrics ?? [], []);
    assert.deepEqual(got.data.params ?? [], []);
    assert.equal(kv(got.data.tags).keep, 'me');
    assert.equal(kv(got.data.tags).t, undefined);
    assert.equal(got.info.status, 'RUNNING');
    assert.deepEqual(got.inputs.dataset_inputs ?? [], []);
    assert.deepEqual(await history(id, 'm'), []);
  });
});

describe('runs/log-metric', () => {
  let runId: string;
  before(async () => {
    runId = (await createRun()).info.run_id;
  });

  test('logs a value; step defaults to 0 and is emitted; run_uuid + run_id accepted', async () => {
    expectOk(await p.mlflow('POST', 'runs/log-metric', { run_id: runId, run_uuid: runId, key: 'plain', value: 0.25, timestamp: 1700000000000 }));
    const [m] = await history(runId, 'plain');
    assert.deepEqual(m, { key: 'plain', value: 0.25, timestamp: 1700000000000, step: 0 });
    const latest = metricsOf(await getRun(runId)).plain;
    assert.deepEqual(latest, { key: 'plain', value: 0.25, timestamp: 1700000000000, step: 0 });
  });

  test('NaN, Infinity and -Infinity sent as protobuf strings', async () => {
    expectOk(await logMetric(runId, 'nan_s', 'NaN', 10, 0));
    expectOk(await logMetric(runId, 'inf_s', 'Infinity', 10, 0));
    expectOk(await logMetric(runId, 'ninf_s', '-Infinity', 10, 0));
    assert.equal((await history(runId, 'nan_s'))[0].value, 'NaN');
    // MLflow's SQL store returns ±1.7976931348623157e308 for infinities, its FileStore ±Infinity.
    assert.ok(['Infinity', Number.MAX_VALUE].includes((await history(runId, 'inf_s'))[0].value));
    assert.ok(['-Infinity', -Number.MAX_VALUE].includes((await history(runId, 'ninf_s'))[0].value));
    const latest = metricsOf(await getRun(runId));
    assert.equal(latest.nan_s.value, 'NaN');
    assert.ok(['Infinity', Number.MAX_VALUE].includes(latest.inf_s.value));
  });

  test('bare NaN / Infinity / -Infinity tokens, as Python json.dumps writes them', async () => {
    for (const [key, token] of [['nan_b', 'NaN'], ['inf_b', 'Infinity'], ['ninf_b', '-Infinity']] as const) {
      const body = `{"run_id": "${runId}", "key": "${key}", "value": ${token}, "timestamp": 20, "step": 1}`;
      expectOk(await p.api('POST', '/api/2.0/mlflow/runs/log-metric', body));
    }
    // A string that merely contains the token is left alone.
    expectOk(await p.api('POST', '/api/2.0/mlflow/runs/set-tag', `{"run_id": "${runId}", "key": "note", "value": "NaN and Infinity"}`));
    const nan = await history(runId, 'nan_b');
    assert.equal(nan.length, 1);
    assert.equal(nan[0].value, 'NaN');
    assert.equal(nan[0].step, 1);
    assert.equal(nan[0].timestamp, 20);
    assert.ok(['Infinity', Number.MAX_VALUE].includes((await history(runId, 'inf_b'))[0].value));
    assert.ok(['-Infinity', -Number.MAX_VALUE].includes((await history(runId, 'ninf_b'))[0].value));
    assert.equal(kv((await getRun(runId)).data.tags).note, 'NaN and Infinity');
  });

  test('bare tokens inside log-batch metrics', async () => {
    const body = `{"run_id": "${runId}", "metrics": [{"key": "bb", "value": NaN, "timestamp": 1, "step": 0}, {"key": "bb", "value": -Infinity, "timestamp": 2, "step": 1}]}`;
    expectOk(await p.api('POST', '/api/2.0/mlflow/runs/log-batch', body));
    const h = await history(runId, 'bb');
    assert.equal(h.length, 2);
    assert.deepEqual(h.map((m) => m.step).sort(), [0, 1]);
    assert.equal(h.find((m) => m.step === 0).value, 'NaN');
  });

  test('int64 timestamps and steps as numbers and as strings come back as numbers', async () => {
    expectOk(await logMetric(runId, 'ints', 1, '1700000000456', '42'));
    expectOk(await logMetric(runId, 'ints', 2, 4102444800000, 9007199254740991));
    expectOk(await logMetric(runId, 'ints', 3, 5, -7));
    expectOk(await logMetric(runId, 'ints', '4.5', 6, 0));
    const h = await history(runId, 'ints');
    const byValue = Object.fromEntries(h.map((m) => [m.value, m]));
    assert.equal(byValue[1].timestamp, 1700000000456);
    assert.equal(byValue[1].step, 42);
    assert.equal(byValue[2].timestamp, 4102444800000);
    assert.equal(byValue[2].step, 9007199254740991);
    assert.equal(byValue[3].step, -7, 'negative steps are allowed');
    assert.equal(byValue[4.5].timestamp, 6, 'a numeric string value is parsed');
  });

  test('an identical (key, value, timestamp, step) logged twice is stored once', async () => {
    expectOk(await logMetric(runId, 'dup', 1.5, 100, 3));
    expectOk(await logMetric(runId, 'dup', 1.5, 100, 3));
    assert.equal((await history(runId, 'dup')).length, 1);
  });

  test('missing and mistyped fields are 400s naming the field', async () => {
    expectError(await p.mlflow('POST', 'runs/log-metric', { run_id: runId, key: 'm', timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /'value'/);
    expectError(await p.mlflow('POST', 'runs/log-metric', { run_id: runId, key: 'm', value: 1 }), 400, 'INVALID_PARAMETER_VALUE', /'timestamp'/);
    expectError(await p.mlflow('POST', 'runs/log-metric', { run_id: runId, value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
    expectError(await p.mlflow('POST', 'runs/log-metric', { key: 'm', value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', /'run_(id|uuid)'/);
    expectError(await logMetric(runId, 'm', 'abc', 1), 400, 'INVALID_PARAMETER_VALUE', /'value'/);
    expectError(await logMetric(runId, 'm', 1, 'yesterday'), 400, 'INVALID_PARAMETER_VALUE', /'timestamp'/);
    expectError(await logMetric(runId, 'm', 1, 1.5), 400, 'INVALID_PARAMETER_VALUE', /'timestamp'/);
    expectError(await logMetric(runId, 'm', 1, 1, 'two'), 400, 'INVALID_PARAMETER_VALUE', /'step'/);
    expectError(await logMetric(runId, 'm', true, 1), 400, 'INVALID_PARAMETER_VALUE', /'value'/);
    assert.deepEqual(await history(runId, 'm'), []);
  });

  test('a negative timestamp is rejected', async () => {
    expectError(await logMetric(runId, 'neg_ts', 1, -1), 400, 'INVALID_PARAMETER_VALUE', /timestamp/i);
  });

  test('metric names: allowed characters and no path tricks', async () => {
    expectOk(await logMetric(runId, 'a/b c.d-e_f:g', 1, 1));
    for (const bad of ['bad!name', '../up', '/abs', 'a//b', 'a/./b', 'trailing/']) {
      expectError(await logMetric(runId, bad, 1, 1), 400, 'INVALID_PARAMETER_VALUE');
    }
    expectError(await logMetric(runId, 'k'.repeat(251), 1, 1), 400, 'INVALID_PARAMETER_VALUE');
    expectOk(await logMetric(runId, 'k'.repeat(250), 1, 1));
  });

  test('an unknown run is 404', async () => {
    expectError(await logMetric('c'.repeat(32), 'm', 1, 1), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('latest metric value', () => {
  test('run.data.metrics holds the value with the greatest (step, timestamp), not the last logged', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(await logMetric(id, 'lat', 1, 100, 5));
    expectOk(await logMetric(id, 'lat', 2, 200, 3)); // later timestamp, lower step
    expectOk(await logMetric(id, 'lat', 3, 50, 5)); // same step, earlier timestamp
    let latest = metricsOf(await getRun(id)).lat;
    assert.deepEqual(latest, { key: 'lat', value: 1, timestamp: 100, step: 5 });
    expectOk(await logMetric(id, 'lat', 4, 101, 5)); // same step, later timestamp
    expectOk(await logMetric(id, 'lat', 9, 999, 4));
    latest = metricsOf(await getRun(id)).lat;
    assert.deepEqual(latest, { key: 'lat', value: 4, timestamp: 101, step: 5 });
    // The same rule inside one batch, in any order.
    expectOk(
      await p.mlflow('POST', 'runs/log-batch', {
        run_id: id,
        metrics: [
          { key: 'b', value: 30, timestamp: 5, step: 7 },
          { key: 'b', value: 10, timestamp: 9, step: 2 },
          { key: 'b', value: 20, timestamp: 1, step: 7 },
        ],
      }),
    );
    assert.equal(metricsOf(await getRun(id)).b.value, 30);
    assert.equal((await history(id, 'lat')).length, 5);
  });
});

describe('runs/log-parameter', () => {
  test('params are immutable: the same value again is fine, a different value is 400 INVALID_PARAMETER_VALUE', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, key: 'lr', value: '0.1' }));
    expectOk(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, run_uuid: id, key: 'lr', value: '0.1' }));
    expectError(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, key: 'lr', value: '0.2' }), 400, 'INVALID_PARAMETER_VALUE', /lr/);
    assert.deepEqual((await getRun(id)).data.params, [{ key: 'lr', value: '0.1' }]);
  });

  test('an empty string is a valid value', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, key: 'empty', value: '' }));
    assert.deepEqual(kv((await getRun(id)).data.params), { empty: '' });
  });

  test('missing key and bad key names are rejected', async () => {
    const id = (await createRun()).info.run_id;
    expectError(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
    expectError(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, key: 'bad*key', value: 'v' }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'runs/log-parameter', { run_id: 'b'.repeat(32), key: 'k', value: 'v' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('runs/set-tag and runs/delete-tag', () => {
  test('set-tag upserts; delete-tag removes; deleting a missing tag is 404', async () => {
    const id = (await createRun({ run_name: 'tagged' })).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/set-tag', { run_id: id, key: 'k', value: 'one' }));
    expectOk(await p.mlflow('POST', 'runs/set-tag', { run_uuid: id, key: 'k', value: 'two' }));
    expectOk(await p.mlflow('POST', 'runs/set-tag', { run_id: id, key: 'empty', value: '' }));
    let tags = kv((await getRun(id)).data.tags);
    assert.equal(tags.k, 'two');
    assert.equal(tags.empty, '');
    expectOk(await p.mlflow('POST', 'runs/delete-tag', { run_id: id, key: 'k' }));
    tags = kv((await getRun(id)).data.tags);
    assert.equal(tags.k, undefined);
    assert.equal(tags['mlflow.runName'], 'tagged');
    expectError(await p.mlflow('POST', 'runs/delete-tag', { run_id: id, key: 'k' }), 404, 'RESOURCE_DOES_NOT_EXIST', /k/);
    expectError(await p.mlflow('POST', 'runs/delete-tag', { run_id: id }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
  });

  test('setting mlflow.runName renames the run', async () => {
    const id = (await createRun({ run_name: 'old-name' })).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/set-tag', { run_id: id, key: 'mlflow.runName', value: 'new-name' }));
    assert.equal((await getRun(id)).info.run_name, 'new-name');
  });
});

describe('runs/log-batch', () => {
  const metric = (i: number, key = 'bm') => ({ key, value: i, timestamp: 1000 + i, step: i });

  test('writes metrics, params and tags; the last value of a duplicated tag key wins', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(
      await p.mlflow('POST', 'runs/log-batch', {
        run_id: id,
        metrics: [metric(0), metric(1), { key: 'other', value: 5, timestamp: 7 }],
        params: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }],
        tags: [{ key: 't', value: 'first' }, { key: 't', value: 'second' }],
      }),
    );
    const run = await getRun(id);
    assert.deepEqual(kv(run.data.params), { a: '1', b: '2' });
    assert.equal(kv(run.data.tags).t, 'second');
    assert.equal(metricsOf(run).bm.value, 1);
    assert.equal(metricsOf(run).other.step, 0);
    assert.equal((await history(id, 'bm')).length, 2);
    // An empty batch is fine.
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: id }));
  });

  test('exactly at the limits is accepted: 1000 metrics; 100 params + 100 tags; key 250; param value 6000; tag value 5000', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: id, metrics: Array.from({ length: 1000 }, (_, i) => metric(i, 'many')) }));
    assert.equal((await history(id, 'many')).length, 1000);
    expectOk(
      await p.mlflow('POST', 'runs/log-batch', {
        run_id: id,
        params: Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: String(i) })),
        tags: Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: String(i) })),
      }),
    );
    expectOk(
      await p.mlflow('POST', 'runs/log-batch', {
        run_id: id,
        metrics: [{ key: 'm'.repeat(250), value: 1, timestamp: 1 }],
        params: [{ key: 'P'.repeat(250), value: 'v'.repeat(6000) }],
        tags: [{ key: 'T'.repeat(250), value: 'w'.repeat(5000) }],
      }),
    );
    const run = await getRun(id);
    assert.equal(kv(run.data.params)['P'.repeat(250)]!.length, 6000);
    assert.equal(kv(run.data.tags)['T'.repeat(250)]!.length, 5000);
  });

  // Each rejected batch also carries valid items; none of them may be written.
  const valid = () => ({
    metrics: [{ key: 'good_metric', value: 1, timestamp: 1, step: 0 }],
    params: [{ key: 'good_param', value: 'x' }],
    tags: [{ key: 'good_tag', value: 'y' }],
  });
  const rejected: [string, (v: ReturnType<typeof valid>) => Record<string, unknown>, RegExp][] = [
    ['1001 metrics', (v) => ({ ...v, metrics: [...v.metrics, ...Array.from({ length: 1000 }, (_, i) => metric(i))] }), /1000.*metrics|metrics.*1000/s],
    ['101 params', (v) => ({ ...v, params: [...v.params, ...Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: 'v' }))] }), /100.*params|params.*100/s],
    ['101 tags', (v) => ({ ...v, tags: [...v.tags, ...Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'v' }))] }), /100.*tags|tags.*100/s],
    [
      '1001 items in total',
      (v) => ({
        metrics: [...v.metrics, ...Array.from({ length: 800 }, (_, i) => metric(i))],
        params: [...v.params, ...Array.from({ length: 99 }, (_, i) => ({ key: `p${i}`, value: 'v' }))],
        tags: [...v.tags, ...Array.from({ length: 99 }, (_, i) => ({ key: `t${i}`, value: 'v' }))],
      }),
      /1000/,
    ],
    ['a 251-character metric key', (v) => ({ ...v, metrics: [...v.metrics, { key: 'm'.repeat(251), value: 1, timestamp: 1 }] }), /key|name/i],
    ['a 251-character param key', (v) => ({ ...v, params: [...v.params, { key: 'p'.repeat(251), value: 'v' }] }), /key|name/i],
    ['a 251-character tag key', (v) => ({ ...v, tags: [...v.tags, { key: 't'.repeat(251), value: 'v' }] }), /key|name/i],
    ['a 6001-character param value', (v) => ({ ...v, params: [...v.params, { key: 'long', value: 'v'.repeat(6001) }] }), /param.*value|value.*param/is],
    ['a 5001-character tag value', (v) => ({ ...v, tags: [...v.tags, { key: 'long', value: 'v'.repeat(5001) }] }), /tag.*value|value.*tag/is],
    ['a metric without a timestamp', (v) => ({ ...v, metrics: [...v.metrics, { key: 'nots', value: 1 }] }), /timestamp/],
    ['a metric without a value', (v) => ({ ...v, metrics: [...v.metrics, { key: 'noval', timestamp: 1 }] }), /value/],
    ['a param without a key', (v) => ({ ...v, params: [...v.params, { value: 'v' }] }), /key/],
    ['a bad metric name', (v) => ({ ...v, metrics: [...v.metrics, { key: 'no*stars', value: 1, timestamp: 1 }] }), /no\*stars/],
    ['duplicate param keys with different values', (v) => ({ ...v, params: [...v.params, { key: 'd', value: '1' }, { key: 'd', value: '2' }] }), /d/],
  ];
  for (const [what, build, message] of rejected) {
    test(`${what} → 400 INVALID_PARAMETER_VALUE, and nothing of the batch is written`, async () => {
      const id = (await createRun()).info.run_id;
      expectError(await p.mlflow('POST', 'runs/log-batch', { run_id: id, ...build(valid()) }), 400, 'INVALID_PARAMETER_VALUE', message);
      const run = await getRun(id);
      assert.deepEqual(run.data.metrics ?? [], []);
      assert.deepEqual(run.data.params ?? [], []);
      assert.deepEqual(Object.keys(kv(run.data.tags)), ['mlflow.runName']);
      assert.deepEqual(await history(id, 'good_metric'), []);
      assert.deepEqual(await history(id, 'bm'), []);
    });
  }

  test('changing an existing param in a batch is rejected and writes none of the batch', async () => {
    const id = (await createRun()).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/log-parameter', { run_id: id, key: 'fixed', value: '1' }));
    expectError(
      await p.mlflow('POST', 'runs/log-batch', { run_id: id, ...valid(), params: [{ key: 'new_one', value: 'n' }, { key: 'fixed', value: '2' }] }),
      400,
      'INVALID_PARAMETER_VALUE',
      /fixed/,
    );
    const run = await getRun(id);
    assert.deepEqual(kv(run.data.params), { fixed: '1' });
    assert.equal(kv(run.data.tags).good_tag, undefined);
    assert.deepEqual(await history(id, 'good_metric'), []);
    // Re-logging the same value in a batch is fine.
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: id, params: [{ key: 'fixed', value: '1' }] }));
  });

  test('run_id is required and an unknown run is 404', async () => {
    expectError(await p.mlflow('POST', 'runs/log-batch', valid()), 400, 'INVALID_PARAMETER_VALUE', /'run_id'/);
    expectError(await p.mlflow('POST', 'runs/log-batch', { run_id: 'a'.repeat(32), ...valid() }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('runs/log-inputs', () => {
  const dataset = { name: 'mnist', digest: 'abc123', source_type: 'local', source: '/data/mnist.csv', schema: '{"cols":[]}', profile: '{"rows":10}' };

  test('datasets appear in run.inputs.dataset_inputs with their tags; logging the same one again does not duplicate it', async () => {
    const id = (await createRun()).info.run_id;
    const input = { tags: [{ key: 'mlflow.data.context', value: 'training' }], dataset };
    expectOk(await p.mlflow('POST', 'runs/log-inputs', { run_id: id, datasets: [input] }));
    expectOk(await p.mlflow('POST', 'runs/log-inputs', { run_id: id, datasets: [input] }));
    expectOk(
      await p.mlflow('POST', 'runs/log-inputs', {
        run_id: id,
        datasets: [{ dataset: { name: 'extra', digest: 'd2', source_type: 'http', source: 'https://x/y' } }],
      }),
    );
    const inputs = (await getRun(id)).inputs.dataset_inputs as any[];
    assert.equal(inputs.length, 2);
    const mnist = inputs.find((d) => d.dataset.name === 'mnist');
    assert.deepEqual(mnist.dataset, dataset);
    assert.deepEqual(mnist.tags, [{ key: 'mlflow.data.context', value: 'training' }]);
    const extra = inputs.find((d) => d.dataset.name === 'extra');
    assert.deepEqual(extra.dataset, { name: 'extra', digest: 'd2', source_type: 'http', source: 'https://x/y' });
    // The same dataset on a second run is independent.
    const other = (await createRun()).info.run_id;
    expectOk(await p.mlflow('POST', 'runs/log-inputs', { run_id: other, datasets: [{ dataset }] }));
    assert.equal((await getRun(other)).inputs.dataset_inputs.length, 1);
  });

  test('a dataset missing a required field is 400 and nothing is written', async () => {
    const id = (await createRun()).info.run_id;
    const { name: _name, ...noName } = dataset;
    expectError(await p.mlflow('POST', 'runs/log-inputs', { run_id: id, datasets: [{ dataset }, { dataset: noName }] }), 400, 'INVALID_PARAMETER_VALUE', /name/);
    assert.deepEqual((await getRun(id)).inputs.dataset_inputs ?? [], []);
  });
});

describe('metrics/get-history', () => {
  let id: string;
  before(async () => {
    id = (await createRun()).info.run_id;
    expectOk(
      await p.mlflow('POST', 'runs/log-batch', {
        run_id: id,
        metrics: Array.from({ length: 7 }, (_, i) => ({ key: 'loss', value: 1 / (i + 1), timestamp: 1000 + i, step: i })),
      }),
    );
  });

  test('without max_results: the full history, no token', async () => {
    const body = expectOk(await p.mlflow('GET', 'metrics/get-history', { run_id: id, metric_key: 'loss' }));
    assert.equal(body.metrics.length, 7);
    assert.equal(body.next_page_token, undefined);
    assert.deepEqual(body.metrics.map((m: any) => m.step), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(body.metrics[0], { key: 'loss', value: 1, timestamp: 1000, step: 0 });
    // run_uuid works too; the Python client's max_results=25000 returns everything in one page.
    const big = expectOk(await p.mlflow('GET', 'metrics/get-history', { run_uuid: id, metric_key: 'loss', max_results: 25000 }));
    assert.equal(big.metrics.length, 7);
    assert.equal(big.next_page_token, undefined);
  });

  test('pages with max_results + page_token, in (timestamp, step) order, until no token', async () => {
    const steps: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = expectOk(
        await p.mlflow('GET', 'metrics/get-history', { run_id: id, metric_key: 'loss', max_results: 3, ...(token ? { page_token: token } : {}) }),
      );
      assert.ok(body.metrics.length <= 3);
      steps.push(...body.metrics.map((m: any) => m.step));
      token = body.next_page_token;
      pages++;
      assert.ok(pages < 10);
    } while (token);
    assert.deepEqual(steps, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(pages, 3);
  });

  test('an unknown key is empty; an unknown run is 404; missing fields and bad tokens are 400', async () => {
    const body = expectOk(await p.mlflow('GET', 'metrics/get-history', { run_id: id, metric_key: 'nope' }));
    assert.deepEqual(body.metrics ?? [], []);
    expectError(await p.mlflow('GET', 'metrics/get-history', { run_id: '9'.repeat(32), metric_key: 'loss' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'metrics/get-history', { run_id: id }), 400, 'INVALID_PARAMETER_VALUE', /'metric_key'/);
    expectError(await p.mlflow('GET', 'metrics/get-history', { metric_key: 'loss' }), 400, 'INVALID_PARAMETER_VALUE', /run_id|run_uuid/);
    expectError(await p.mlflow('GET', 'metrics/get-history', { run_id: id, metric_key: 'loss', max_results: 2, page_token: '%%%' }), 400, 'INVALID_PARAMETER_VALUE');
  });
});

describe('metrics/get-history-bulk-interval', () => {
  let r1: string;
  let r2: string;
  let r3: string;
  before(async () => {
    r1 = (await createRun()).info.run_id;
    r2 = (await createRun()).info.run_id;
    r3 = (await createRun()).info.run_id;
    // r1: steps 0..9, plus a second value at step 3. r2: steps 0, 5, 10, 15, 20. r3: steps -2..1.
    const m1 = Array.from({ length: 10 }, (_, s) => ({ key: 'acc', value: s, timestamp: 100 + s, step: s }));
    m1.push({ key: 'acc', value: 33, timestamp: 500, step: 3 });
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: r1, metrics: m1 }));
    const m2 = [0, 5, 10, 15, 20].map((s) => ({ key: 'acc', value: s * 10, timestamp: 200 + s, step: s }));
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: r2, metrics: m2 }));
    const m3 = [-2, -1, 0, 1].map((s) => ({ key: 'acc', value: s, timestamp: 300, step: s }));
    expectOk(await p.mlflow('POST', 'runs/log-batch', { run_id: r3, metrics: m3 }));
  });

  const bulk = (fields: Record<string, unknown>) => p.mlflow('GET', 'metrics/get-history-bulk-interval', { metric_key: 'acc', ...fields });
  const stepsOf = (metrics: any[], run: string) => metrics.filter((m) => m.run_id === run).map((m) => m.step);

  test('under max_results every value is returned, tagged with run_id, grouped by run in request order, by step', async () => {
    const body = expectOk(await bulk({ run_ids: [r2, r1] }));
    const metrics = body.metrics as any[];
    assert.equal(metrics.length, 16);
    assert.deepEqual(stepsOf(metrics, r2), [0, 5, 10, 15, 20]);
    assert.deepEqual(stepsOf(metrics, r1), [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(metrics.map((m) => m.run_id), [...Array(5).fill(r2), ...Array(11).fill(r1)]);
    const atThree = metrics.filter((m) => m.run_id === r1 && m.step === 3);
    assert.deepEqual(atThree.map((m) => m.value), [3, 33], 'all values at a kept step, by timestamp');
    assert.deepEqual(metrics[0], { key: 'acc', value: 0, timestamp: 200, step: 0, run_id: r2 });
  });

  test('max_results samples evenly over the union of steps and keeps each run\'s min and max step', async () => {
    // One run, steps 0..9, max 3: indices 0, 3, 6 plus the last step -> {0, 3, 6, 9}.
    let body = expectOk(await bulk({ run_ids: [r1], max_results: 3 }));
    assert.deepEqual(stepsOf(body.metrics, r1), [0, 3, 3, 6, 9]);
    // Both runs: union {0..10, 15, 20} (13 steps), max 3: indices 0, 4, 8 and the last -> {0, 4, 8, 20},
    // plus the runs' min/max {0, 9, 20} -> steps [0, 4, 8, 9, 20].
    body = expectOk(await bulk({ run_ids: [r1, r2], max_results: 3 }));
    assert.deepEqual(stepsOf(body.metrics, r1), [0, 4, 8, 9]);
    assert.deepEqual(stepsOf(body.metrics, r2), [0, 20]);
  });

  test('start_step / end_step bound the window (inclusive); min/max outside it are dropped', async () => {
    // all steps of r1 within [2, 7] = 2..7 (6 steps), max 2: indices 2, 5 and the last (7) -> {2, 5, 7}.
    let body = expectOk(await bulk({ run_ids: [r1], start_step: 2, end_step: 7, max_results: 2 }));
    assert.deepEqual(stepsOf(body.metrics, r1), [2, 5, 7]);
    body = expectOk(await bulk({ run_ids: [r1, r2], start_step: 4, end_step: 10 }));
    assert.deepEqual(stepsOf(body.metrics, r1), [4, 5, 6, 7, 8, 9]);
    assert.deepEqual(stepsOf(body.metrics, r2), [5, 10]);
    // start == end is allowed.
    body = expectOk(await bulk({ run_ids: [r1], start_step: 5, end_step: 5 }));
    assert.deepEqual(stepsOf(body.metrics, r1), [5]);
  });

  test('without a window the range starts at step 0, so negative steps are not returned', async () => {
    const body = expectOk(await bulk({ run_ids: [r3] }));
    assert.deepEqual(stepsOf(body.metrics, r3), [0, 1]);
    const windowed = expectOk(await bulk({ run_ids: [r3], start_step: -2, end_step: 1 }));
    assert.deepEqual(stepsOf(windowed.metrics, r3), [-2, -1, 0, 1]);
  });

  test('unknown runs and unknown keys contribute nothing', async () => {
    const body = expectOk(await bulk({ run_ids: ['0'.repeat(32), r2] }));
    assert.deepEqual(stepsOf(body.metrics, r2), [0, 5, 10, 15, 20]);
    assert.equal(body.metrics.length, 5);
    const none = expectOk(await bulk({ run_ids: [r1], metric_key: 'missing' }));
    assert.deepEqual(none.metrics ?? [], []);
  });

  test('validation: run_ids required and at most 100, metric_key required, max_results in [1, 2500], both or neither window bound, start <= end', async () => {
    expectError(await bulk({}), 400, 'INVALID_PARAMETER_VALUE', /run_ids/);
    expectError(await bulk({ run_ids: Array.from({ length: 101 }, (_, i) => `run${i}`) }), 400, 'INVALID_PARAMETER_VALUE', /at most 100 run_ids/);
    expectOk(await bulk({ run_ids: Array.from({ length: 100 }, (_, i) => `run${i}`) }));
    expectError(await p.mlflow('GET', 'metrics/get-history-bulk-interval', { run_ids: [r1] }), 400, 'INVALID_PARAMETER_VALUE', /'metric_key'/);
    expectError(await bulk({ run_ids: [r1], max_results: 0 }), 400, 'INVALID_PARAMETER_VALUE', /max_results must be between 1 and 2500/);
    expectError(await bulk({ run_ids: [r1], max_results: 2501 }), 400, 'INVALID_PARAMETER_VALUE', /max_results must be between 1 and 2500/);
    expectOk(await bulk({ run_ids: [r1], max_results: 2500 }));
    expectError(await bulk({ run_ids: [r1], start_step: 1 }), 400, 'INVALID_PARAMETER_VALUE', /both must be specified/);
    expectError(await bulk({ run_ids: [r1], end_step: 1 }), 400, 'INVALID_PARAMETER_VALUE', /both must be specified/);
    expectError(await bulk({ run_ids: [r1], start_step: 5, end_step: 4 }), 400, 'INVALID_PARAMETER_VALUE', /start_step=5 and end_step=4/);
  });
});

describe('runs/search', () => {
  let exp: string;
  const ids: Record<string, string> = {};
  before(async () => {
    exp = await createExperiment();
    const make = async (name: string, start: number, extra: { params?: any[]; tags?: any[]; metrics?: any[]; user?: string }) => {
      const run = await createRun({ experiment_id: exp, run_name: name, start_time: start, user_id: extra.user ?? 'alice' });
      ids[name] = run.info.run_id;
      expectOk(
        await p.mlflow('POST', 'runs/log-batch', { run_id: run.info.run_id, params: extra.params ?? [], tags: extra.tags ?? [], metrics: extra.metrics ?? [] }),
      );
    };
    await make('alpha', 1000, {
      params: [{ key: 'lr', value: '0.1' }, { key: 'model', value: 'CNN' }],
      tags: [{ key: 'team', value: 'Vision' }],
      metrics: [{ key: 'acc', value: 0.5, timestamp: 1, step: 0 }, { key: 'acc', value: 0.9, timestamp: 2, step: 1 }],
    });
    await make('beta', 2000, {
      params: [{ key: 'lr', value: '0.01' }, { key: 'model', value: 'cnn-large' }],
      tags: [{ key: 'team', value: 'vision' }],
      metrics: [{ key: 'acc', value: 0.95, timestamp: 1, step: 0 }, { key: 'acc', value: 0.7, timestamp: 2, step: 1 }],
      user: 'bob',
    });
    await make('gamma', 3000, {
      params: [{ key: 'lr', value: '0.1' }],
      metrics: [{ key: 'val loss', value: 0.3, timestamp: 1, step: 0 }],
    });
    await make('delta', 4000, {});
    await make('epsilon', 5000, { params: [{ key: 'lr', value: '0.1' }] });
    expectOk(await p.mlflow('POST', 'runs/update', { run_id: ids.gamma, status: 'FINISHED', end_time: 3500 }));
    expectOk(await p.mlflow('POST', 'runs/delete', { run_id: ids.epsilon }));
  });

  const search = async (fields: Record<string, unknown>) => expectOk(await p.mlflow('POST', 'runs/search', { experiment_ids: [exp], ...fields }));
  const names = (body: any): string[] => (body.runs ?? []).map((r: any) => r.info.run_name);
  const find = async (filter: string, extra: Record<string, unknown> = {}) => names(await search({ filter, ...extra }));

  test('no filter: active runs, newest start_time first, with full Run objects', async () => {
    const body = await search({});
    assert.deepEqual(names(body), ['delta', 'gamma', 'beta', 'alpha']);
    const alpha = body.runs.find((r: any) => r.info.run_name === 'alpha');
    assert.equal(alpha.info.run_id, ids.alpha);
    assert.equal(alpha.info.experiment_id, exp);
    assert.deepEqual(kv(alpha.data.params), { lr: '0.1', model: 'CNN' });
    assert.equal(metricsOf(alpha).acc.value, 0.9, 'data.metrics holds the latest value');
    assert.ok(alpha.inputs);
  });

  test('metric comparisons use the latest value; runs lacking the metric never match', async () => {
    assert.deepEqual(await find('metrics.acc > 0.8'), ['alpha']);
    assert.deepEqual(await find('metrics.acc >= 0.7'), ['beta', 'alpha']);
    assert.deepEqual(await find('metric.acc = 0.7'), ['beta']);
    assert.deepEqual(await find('metrics.acc != 0.9'), ['beta']);
    assert.deepEqual(await find('metrics.acc <= 0.7'), ['beta']);
    assert.deepEqual(await find('metrics.acc < 0.7'), []);
  });

  test('params: =, != (only runs that have it), LIKE is case-sensitive, ILIKE is not', async () => {
    assert.deepEqual(await find("params.lr = '0.1'"), ['gamma', 'alpha']);
    assert.deepEqual(await find("params.lr != '0.1'"), ['beta']);
    assert.deepEqual(await find("params.model LIKE 'cnn%'"), ['beta']);
    assert.deepEqual(await find("params.model ILIKE 'cnn%'"), ['beta', 'alpha']);
    assert.deepEqual(await find("params.model LIKE '_NN'"), ['alpha']);
    assert.deepEqual(await find("param.model = 'cnn'"), []);
    assert.deepEqual(await find("parameters.model = 'CNN'"), ['alpha']);
  });

  test('tags, including mlflow.runName with backticks and double quotes', async () => {
    assert.deepEqual(await find("tags.team = 'vision'"), ['beta']);
    assert.deepEqual(await find("tags.team ILIKE 'VISION'"), ['beta', 'alpha']);
    assert.deepEqual(await find("tags.`mlflow.runName` = 'beta'"), ['beta']);
    assert.deepEqual(await find('tags."mlflow.runName" = \'gamma\''), ['gamma']);
    assert.deepEqual(await find("tag.team LIKE 'V%'"), ['alpha']);
  });

  test('quoted keys with spaces, quoted values in double quotes', async () => {
    assert.deepEqual(await find('metrics.`val loss` < 1'), ['gamma']);
    assert.deepEqual(await find('metrics."val loss" < 1'), ['gamma']);
    assert.deepEqual(await find('params.`lr` = "0.01"'), ['beta']);
  });

  test('attributes: run_name, status, user_id, start_time; bare names are attributes', async () => {
    assert.deepEqual(await find("attributes.run_name = 'alpha'"), ['alpha']);
    assert.deepEqual(await find("run_name = 'alpha'"), ['alpha']);
    assert.deepEqual(await find("attributes.run_name LIKE '%ta'"), ['delta', 'beta']);
    assert.deepEqual(await find("attributes.run_name ILIKE 'ALP%'"), ['alpha']);
    assert.deepEqual(await find("attributes.`run name` = 'alpha'"), ['alpha']);
    assert.deepEqual(await find("attributes.status = 'FINISHED'"), ['gamma']);
    assert.deepEqual(await find("attributes.status != 'FINISHED'"), ['delta', 'beta', 'alpha']);
    assert.deepEqual(await find("attr.user_id = 'bob'"), ['beta']);
    assert.deepEqual(await find('attributes.start_time >= 2000 AND attributes.start_time < 4000'), ['gamma', 'beta']);
    assert.deepEqual(await find('attributes.created > 3000'), ['delta']);
    assert.deepEqual(await find('attributes.end_time = 3500'), ['gamma']);
  });

  test('run_id IN / NOT IN', async () => {
    assert.deepEqual(await find(`attributes.run_id IN ('${ids.alpha}', '${ids.beta}')`), ['beta', 'alpha']);
    assert.deepEqual(await find(`attributes.run_id IN ('${ids.gamma}')`), ['gamma']);
    assert.deepEqual(await find(`attributes.run_id NOT IN ('${ids.alpha}', '${ids.beta}')`), ['delta', 'gamma']);
    assert.deepEqual(await find(`run_id = '${ids.delta}'`), ['delta']);
  });

  test('clauses joined by AND (any case)', async () => {
    assert.deepEqual(await find("params.lr = '0.1' and metrics.acc > 0.5"), ['alpha']);
    assert.deepEqual(await find("params.lr = '0.1' AND tags.team = 'Vision' AND attributes.run_name = 'alpha'"), ['alpha']);
    assert.deepEqual(await find("params.lr = '0.1' AND attributes.status = 'RUNNING'"), ['alpha']);
  });

  test('run_view_type: DELETED_ONLY and ALL', async () => {
    assert.deepEqual(names(await search({ run_view_type: 'DELETED_ONLY' })), ['epsilon']);
    assert.deepEqual(names(await search({ run_view_type: 'ALL' })), ['epsilon', 'delta', 'gamma', 'beta', 'alpha']);
    assert.deepEqual(await find("params.lr = '0.1'", { run_view_type: 'ALL' }), ['epsilon', 'gamma', 'alpha']);
  });

  test('order_by a metric: runs lacking it come last in both directions', async () => {
    assert.deepEqual(names(await search({ order_by: ['metrics.acc DESC'] })), ['alpha', 'beta', 'delta', 'gamma']);
    assert.deepEqual(names(await search({ order_by: ['metrics.acc ASC'] })), ['beta', 'alpha', 'delta', 'gamma']);
    assert.deepEqual(names(await search({ order_by: ['metrics.acc'] })), ['beta', 'alpha', 'delta', 'gamma']);
  });

  test('order_by params, attributes, several keys', async () => {
    assert.deepEqual(names(await search({ order_by: ['params.lr ASC'] })), ['beta', 'gamma', 'alpha', 'delta']);
    assert.deepEqual(names(await search({ order_by: ['attributes.start_time ASC'] })), ['alpha', 'beta', 'gamma', 'delta']);
    assert.deepEqual(names(await search({ order_by: ['run_name DESC'] })), ['gamma', 'delta', 'beta', 'alpha']);
    assert.deepEqual(names(await search({ order_by: ['params.lr DESC', 'attributes.start_time ASC'] })), ['alpha', 'gamma', 'beta', 'delta']);
    // Binary string order: 'vision' > 'Vision'.
    assert.deepEqual(names(await search({ order_by: ['tags.team desc'] })), ['beta', 'alpha', 'delta', 'gamma']);
    assert.deepEqual(names(await search({ order_by: ['tags.team ASC'] })), ['alpha', 'beta', 'delta', 'gamma']);
  });

  test('pages with max_results and next_page_token, covering every run exactly once', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = await search({ max_results: 3, ...(token ? { page_token: token } : {}) });
      assert.ok(names(body).length <= 3);
      seen.push(...names(body));
      token = body.next_page_token;
      pages++;
      assert.ok(pages < 10);
    } while (token);
    assert.deepEqual(seen, ['delta', 'gamma', 'beta', 'alpha']);
    const first = await search({ max_results: 3 });
    assert.equal(typeof first.next_page_token, 'string', 'a full page carries a token');
  });

  test('several experiments at once; no experiment_ids means no runs', async () => {
    const other = await createExperiment();
    await createRun({ experiment_id: other, run_name: 'elsewhere', start_time: 9000 });
    assert.deepEqual(names(await search({ experiment_ids: [exp, other], max_results: 2 })), ['elsewhere', 'delta']);
    assert.deepEqual(names(expectOk(await p.mlflow('POST', 'runs/search', { experiment_ids: [] }))), []);
  });

  test('bad filters, order_by clauses, view types, page tokens and max_results are 400 INVALID_PARAMETER_VALUE', async () => {
    const bad = async (fields: Record<string, unknown>, message?: RegExp) =>
      expectError(await p.mlflow('POST', 'runs/search', { experiment_ids: [exp], ...fields }), 400, 'INVALID_PARAMETER_VALUE', message);
    await bad({ filter: 'params.lr = 0.1' }, /quoted/);
    await bad({ filter: "metrics.acc > 'high'" }, /numeric/);
    await bad({ filter: "foo.bar = 'x'" }, /entity type/i);
    await bad({ filter: "attributes.nope = 'x'" }, /attribute/i);
    await bad({ filter: "params.lr = '0.1' OR params.lr = '0.01'" });
    await bad({ filter: "(params.lr = '0.1')" });
    await bad({ filter: "params.lr IN ('0.1')" });
    await bad({ filter: "params.lr = '0.1'; tags.x = 'y'" });
    await bad({ filter: 'metrics.acc >' });
    await bad({ order_by: ['metrics.acc SIDEWAYS'] });
    await bad({ order_by: ['nope.acc'] });
    await bad({ run_view_type: 'EVERYTHING' });
    await bad({ page_token: 'garbage!!' }, /page token/i);
    await bad({ max_results: 50001 });
  });
});
