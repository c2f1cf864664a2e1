// Malformed and hostile input to the MLflow REST API: every bad request gets a deterministic 4xx with
// MLflow's `{error_code, message}` body naming what is wrong, and the server keeps serving.
// Written from MLflow's handlers and protos (see the protocol reference §0, §4, §6).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { expectError, expectOk } from '../support/replies';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;
let runId: string;
let exp: string;
const MODEL = 'bad-input-model';

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  p.api('POST', `/api/2.0/mlflow/${path}`, body, { 'content-type': 'application/json', ...headers });

async function healthy(): Promise<void> {
  const res = await fetch(`${p.server.url}/health`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'OK');
  // And the API still works.
  expectOk(await p.mlflow('GET', 'experiments/get', { experiment_id: '0' }));
}

before(async () => {
  p = await startTestPlatform();
  exp = expectOk(await p.mlflow('POST', 'experiments/create', { name: 'bad-input' })).experiment_id;
  runId = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: exp, start_time: 1 })).run.info.run_id;
  expectOk(await p.mlflow('POST', 'registered-models/create', { name: MODEL }));
});
after(async () => {
  await p.stop();
});

describe('malformed bodies', () => {
  test('malformed JSON is a 400 with a message about the JSON', async () => {
    for (const body of ['{"name": ', '{name: "x"}', "{'name': 'x'}", '{"name": "x",}', 'not json at all', '{"name": "x"} trailing']) {
      const res = await post('experiments/create', body);
      assert.equal(res.status, 400, `${body}: ${JSON.stringify(res.body)}`);
      assert.equal(typeof res.body.error_code, 'string');
      assert.match(res.body.message, /JSON/i, body);
    }
    // Nothing was created by any of them.
    const found = expectOk(await p.mlflow('POST', 'experiments/search', { max_results: 100, filter: "name = 'x'" }));
    assert.deepEqual(found.experiments ?? [], []);
  });

  test('a JSON body that is not an object is a 400', async () => {
    for (const body of ['[1, 2]', '42', 'null', 'true']) {
      const res = await post('runs/log-batch', body);
      assert.equal(res.status, 400, `${body}: ${JSON.stringify(res.body)}`);
      assert.equal(typeof res.body.error_code, 'string');
    }
  });

  test('POST with a non-JSON Content-Type is refused (MLflow: 400 "Content-Type must be one of [application/json]")', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const name = `csrf-${type.replace(/\W/g, '')}`;
      expectError(await post('experiments/create', JSON.stringify({ name }), { 'content-type': type }), 400, 'INVALID_PARAMETER_VALUE', /Content-Type/);
      expectError(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: name }), 404, 'RESOURCE_DOES_NOT_EXIST');
    }
  });

  test('application/json with a charset parameter is fine; unknown fields are ignored', async () => {
    const body = expectOk(await post('experiments/create', JSON.stringify({ name: 'charset-ok', bogus_field: { deep: [1] } }), { 'content-type': 'application/json; charset=utf-8' }));
    assert.equal(typeof body.experiment_id, 'string');
  });
});

describe('wrong types name the field', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    // string where int64 expected
    ['runs/create start_time "abc"', 'runs/create', { start_time: 'abc' }, 'start_time'],
    ['runs/update end_time "later"', 'runs/update', { end_time: 'later' }, 'end_time'],
    ['log-metric timestamp "now"', 'runs/log-metric', { key: 'm', value: 1, timestamp: 'now' }, 'timestamp'],
    ['log-metric step 1.5', 'runs/log-metric', { key: 'm', value: 1, timestamp: 1, step: 1.5 }, 'step'],
    ['log-metric timestamp 1e30', 'runs/log-metric', { key: 'm', value: 1, timestamp: 1e30 }, 'timestamp'],
    ['runs/search max_results "ten"', 'runs/search', { experiment_ids: ['0'], max_results: 'ten' }, 'max_results'],
    ['experiments/search max_results [5]', 'experiments/search', { max_results: [5] }, 'max_results'],
    // number / bool / object where string expected
    ['runs/create run_name 5', 'runs/create', { run_name: 5 }, 'run_name'],
    ['experiments/create name 123', 'experiments/create', { name: 123 }, 'name'],
    ['log-parameter value 0.5', 'runs/log-parameter', { key: 'p', value: 0.5 }, 'value'],
    ['set-tag value true', 'runs/set-tag', { key: 't', value: true }, 'value'],
    ['log-metric key {}', 'runs/log-metric', { key: {}, value: 1, timestamp: 1 }, 'key'],
    ['runs/search filter 7', 'runs/search', { experiment_ids: ['0'], filter: 7 }, 'filter'],
    // object (or scalar) where a list is expected
    ['runs/create tags {}', 'runs/create', { tags: { a: 'b' } }, 'tags'],
    ['log-batch metrics {}', 'runs/log-batch', { metrics: { key: 'm', value: 1, timestamp: 1 } }, 'metrics'],
    ['log-batch params "x"', 'runs/log-batch', { params: 'x' }, 'params'],
    ['runs/search experiment_ids {}', 'runs/search', { experiment_ids: { id: '0' } }, 'experiment_ids'],
    ['runs/search order_by "x" object list', 'runs/search', { experiment_ids: ['0'], order_by: [{ key: 'x' }] }, 'order_by'],
    ['experiments/create tags "t"', 'experiments/create', { name: 'typed-tags', tags: 't' }, 'tags'],
    // double expected
    ['log-metric value "high"', 'runs/log-metric', { key: 'm', value: 'high', timestamp: 1 }, 'value'],
    ['log-metric value [1]', 'runs/log-metric', { key: 'm', value: [1], timestamp: 1 }, 'value'],
  ];
  for (const [what, path, fields, field] of cases) {
    test(`${what} → 400 INVALID_PARAMETER_VALUE naming '${field}'`, async () => {
      const body = path.startsWith('runs/') && path !== 'runs/create' && path !== 'runs/search' ? { run_id: runId, ...fields } : fields;
      expectError(await p.mlflow('POST', path, body), 400, 'INVALID_PARAMETER_VALUE', new RegExp(`\\b${field}\\b`));
    });
  }

  test('registry: a non-boolean archive_existing_versions, a list for stages, a number for description', async () => {
    expectOk(await p.mlflow('POST', 'model-versions/create', { name: MODEL, source: 'mlflow-artifacts:/0/x/artifacts/model' }));
    expectError(
      await p.mlflow('POST', 'model-versions/transition-stage', { name: MODEL, version: '1', stage: 'Staging', archive_existing_versions: 'maybe' }),
      400,
      'INVALID_PARAMETER_VALUE',
      /archive_existing_versions/,
    );
    expectError(await p.mlflow('POST', 'registered-models/get-latest-versions', { name: MODEL, stages: { s: 1 } }), 400, 'INVALID_PARAMETER_VALUE', /stages/);
    expectError(await p.mlflow('PATCH', 'registered-models/update', { name: MODEL, description: 42 }), 400, 'INVALID_PARAMETER_VALUE', /description/);
  });

  test('nothing was written by the mistyped requests', async () => {
    const run = expectOk(await p.mlflow('GET', 'runs/get', { run_id: runId })).run;
    assert.deepEqual(run.data.metrics ?? [], []);
    assert.deepEqual(run.data.params ?? [], []);
    assert.deepEqual(run.data.tags.map((t: any) => t.key), ['mlflow.runName']);
    expectError(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: 'typed-tags' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('missing required fields', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ['POST', 'experiments/create', {}, 'name'],
    ['GET', 'experiments/get', {}, 'experiment_id'],
    ['GET', 'experiments/get-by-name', {}, 'experiment_name'],
    ['POST', 'experiments/delete', {}, 'experiment_id'],
    ['POST', 'runs/delete', {}, 'run_id'],
    ['POST', 'runs/log-batch', {}, 'run_id'],
    ['POST', 'runs/log-parameter', { run_id: 'RUN', value: 'v' }, 'key'],
    ['POST', 'runs/set-tag', { run_id: 'RUN', value: 'v' }, 'key'],
    ['POST', 'runs/log-metric', { run_id: 'RUN', key: 'm', timestamp: 1 }, 'value'],
    ['POST', 'runs/log-metric', { run_id: 'RUN', key: 'm', value: 1 }, 'timestamp'],
    ['GET', 'metrics/get-history', { run_id: 'RUN' }, 'metric_key'],
    ['GET', 'registered-models/get', {}, 'name'],
    ['POST', 'registered-models/rename', { name: MODEL }, 'new_name'],
    ['GET', 'model-versions/get', { name: MODEL }, 'version'],
    ['POST', 'model-versions/create', { name: MODEL }, 'source'],
    ['POST', 'model-versions/transition-stage', { name: MODEL, version: '1' }, 'stage'],
    ['POST', 'registered-models/alias', { name: MODEL, version: '1' }, 'alias'],
  ];
  for (const [method, path, fields, name] of cases) {
    test(`${method} ${path} without '${name}' → "Missing value for required parameter '${name}'"`, async () => {
      const withRun = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v === 'RUN' ? runId : v]));
      expectError(await p.mlflow(method, path, withRun), 400, 'INVALID_PARAMETER_VALUE', new RegExp(`Missing value for required parameter '${name}'`));
    });
  }

  test('null and "" count as missing', async () => {
    expectError(await p.mlflow('POST', 'experiments/create', { name: null }), 400, 'INVALID_PARAMETER_VALUE', /Missing value for required parameter 'name'/);
    expectError(await p.mlflow('POST', 'experiments/create', { name: '' }), 400, 'INVALID_PARAMETER_VALUE', /'name'/);
    expectError(await p.mlflow('POST', 'runs/log-parameter', { run_id: runId, key: '', value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
  });
});

describe('unknown resources, endpoints and methods', () => {
  test('unknown experiment, run, model and version are 404 RESOURCE_DOES_NOT_EXIST', async () => {
    expectError(await p.mlflow('GET', 'experiments/get', { experiment_id: '123456789' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'experiments/get', { experiment_id: 'not-a-number' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'runs/get', { run_id: '0123456789abcdef0123456789abcdef' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'runs/log-batch', { run_id: '0123456789abcdef0123456789abcdef', params: [{ key: 'a', value: 'b' }] }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'registered-models/get', { name: 'nobody' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'model-versions/get', { name: MODEL, version: '999' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('unknown endpoints are 404 ENDPOINT_NOT_FOUND with a JSON body', async () => {
    for (const path of ['/api/2.0/mlflow/nope', '/api/2.0/mlflow/runs/explode', '/api/9.9/mlflow/runs/get', '/api/2.0/mlflow/runs/get/extra', '/definitely/not/here']) {
      expectError(await p.api('GET', path), 404, 'ENDPOINT_NOT_FOUND');
      expectError(await p.api('POST', path, {}), 404, 'ENDPOINT_NOT_FOUND');
    }
  });

  test('a wrong method is 405', async () => {
    const cases: [string, string][] = [
      ['GET', 'runs/create'],
      ['PUT', 'experiments/create'],
      ['POST', 'runs/get'],
      ['DELETE', 'runs/log-batch'],
      ['POST', 'registered-models/update'],
      ['POST', 'registered-models/delete'],
      ['POST', 'model-versions/search'],
      ['GET', 'model-versions/delete'],
      ['PATCH', 'experiments/get'],
    ];
    for (const [method, path] of cases) {
      const res = await p.api(method, `/api/2.0/mlflow/${path}`, method === 'GET' ? undefined : {});
      assert.equal(res.status, 405, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  });
});

describe('oversized and abusive bodies', () => {
  const BIG = 33 * 1024 * 1024;

  test('a JSON body over 32 MiB (with Content-Length) is refused with REQUEST_LIMIT_EXCEEDED; the server keeps serving', async () => {
    const body = `{"run_id": "${runId}", "params": [{"key": "big", "value": "${'x'.repeat(BIG)}"}]}`;
    let status = 0;
    let reply: any;
    try {
      const res = await fetch(`${p.server.url}/api/2.0/mlflow/runs/log-batch`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      status = res.status;
      reply = await res.json().catch(() => undefined);
    } catch {
      // The server may answer and close before the whole body is sent; a reset is acceptable, a crash is not.
    }
    if (status !== 0) {
      assert.ok(status >= 400 && status < 500, `expected a 4xx, got ${status}`);
      assert.equal(reply?.error_code, 'REQUEST_LIMIT_EXCEEDED');
    }
    await healthy();
    const run = expectOk(await p.mlflow('GET', 'runs/get', { run_id: runId })).run;
    assert.deepEqual(run.data.params ?? [], []);
  });

  test('a chunked body over 32 MiB (no Content-Length) is cut off with REQUEST_LIMIT_EXCEEDED', async () => {
    const url = new URL(p.server.url);
    const result = await new Promise<{ status: number; text: string } | 'reset'>((resolve) => {
      const req = request(
        { host: url.hostname, port: url.port, method: 'POST', path: '/api/2.0/mlflow/runs/log-batch', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', () => resolve('reset'));
        },
      );
      req.on('error', () => resolve('reset'));
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < BIG + 2 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      req.write(`{"run_id": "${runId}", "tags": [{"key": "t", "value": "`);
      pump();
    });
    if (result !== 'reset') {
      assert.ok(result.status >= 400 && result.status < 500, `expected a 4xx, got ${result.status}`);
      assert.equal(JSON.parse(result.text).error_code, 'REQUEST_LIMIT_EXCEEDED');
    }
    await healthy();
  });

  test('a body just under the limit is read (and then judged on its content)', async () => {
    // 1001 metrics: well-formed JSON, a few hundred KiB, rejected by the batch limit, not the size limit.
    const metrics = Array.from({ length: 1001 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i }));
    expectError(await p.mlflow('POST', 'runs/log-batch', { run_id: runId, metrics }), 400, 'INVALID_PARAMETER_VALUE', /1000/);
    await healthy();
  });

  test('deeply nested JSON does not crash the server', async () => {
    const depth = 100_000;
    const res = await post('runs/log-batch', `${'['.repeat(depth)}${']'.repeat(depth)}`);
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    await healthy();
  });

  test('invalid percent-encoding and odd query strings get 4xx, not 5xx', async () => {
    const odd = [
      '/api/2.0/mlflow/runs/get?run_id=%E0%A4%A',
      '/api/2.0/mlflow/experiments/get?experiment_id=%',
      '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A',
      '/api/2.0/mlflow/metrics/get-history?run_id=&metric_key=',
    ];
    for (const path of odd) {
      const res = await p.api('GET', path);
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await healthy();
  });
});
