// Model serving end to end: real ONNX models registered through the store, a real serving server on
// 127.0.0.1:0 running onnxruntime in worker threads, KServe v2 over real HTTP, and the built CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/core/store';
import type { TensorData } from '../../src/engines/onnx/types';
import { KServeError, splitBinaryBody, tensorBytes } from '../../src/services/serving/kserve-codec';
import { ModelServer } from '../../src/services/serving/model-server';
import { parseModelRef, resolveModelRef } from '../../src/services/serving/model-resolver';
import { endpointsDir, findEndpoint, type EndpointFile } from '../../src/core/endpoint-files';
import { startServingServer, type ServingServer } from '../../src/server/serving-server';
import { fixedBatchModel, identityModel, mixedTypesModel, mlpModel, twoInputModel, type FixtureTensors } from '../fixtures/onnx-models';
import { CLI, ensureBuilt, REPO, sleep } from '../fixtures/processes';
import { tempDir } from '../support/platform';
import { registerModel } from '../support/models';

interface Reply {
  status: number;
  headers: Headers;
  raw: Buffer;
  body: any;
}

const MAX_BODY = 1024 * 1024;

const plain = (data: TensorData): unknown[] => (data instanceof BigInt64Array ? Array.from(data, String) : Array.from(data as ArrayLike<number>));

/** KServe request inputs from fixture tensors, flat (or nested by rows when asked). */
function kserveInputs(sig: { name: string; datatype: string }[], tensors: FixtureTensors, nested = false): unknown[] {
  return sig.map(({ name, datatype }) => {
    const t = tensors[name]!;
    let data: unknown[] = plain(t.data);
    if (nested && t.shape.length === 2) {
      const cols = t.shape[1]!;
      data = Array.from({ length: t.shape[0]! }, (_, r) => data.slice(r * cols, (r + 1) * cols));
    }
    return { name, datatype, shape: t.shape, data };
  });
}

function assertClose(actual: number[], expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('KServe v2 serving', () => {
  const { dir, cleanup } = tempDir('trellis-serving-');
  let store: Store;
  let server: ServingServer;
  const mlp1 = mlpModel({ seed: 1 });
  const mlp2 = mlpModel({ seed: 2 });
  const fixed = fixedBatchModel();
  const mixed = mixedTypesModel();
  const two = twoInputModel();
  const identity = identityModel();

  const call = async (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const raw = Buffer.from(await res.arrayBuffer());
    let parsed: unknown = raw.toString('utf8');
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      /* binary or text */
    }
    return { status: res.status, headers: res.headers, raw, body: parsed };
  };
  const get = (path: string) => call('GET', path);
  const infer = (model: string, body: unknown, path = `/v2/models/${model}/infer`) =>
    call('POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json' });
  const refused = (r: Reply, status: number, ...patterns: RegExp[]) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body), ['error'], `a KServe error body is {"error"}: ${JSON.stringify(r.body)}`);
    for (const p of patterns) assert.match(r.body.error, p);
  };

  before(async () => {
    store = openStore(dir);
    await registerModel(store, 'mlp', mlp1.bytes);
    await registerModel(store, 'mlp', mlp2.bytes, { alias: 'champion' });
    await registerModel(store, 'fixed', fixed.bytes);
    await registerModel(store, 'mixed', mixed.bytes, { file: 'mixed.onnx' });
    await registerModel(store, 'two', two.bytes, { alias: 'prod' });
    await registerModel(store, 'identity', identity.bytes);
    server = await startServingServer({
      dataDir: dir,
      models: ['mlp@champion', 'mlp/1', 'fixed/1', 'mixed', 'two@prod', 'identity'],
      workers: 1,
      maxBodyBytes: MAX_BODY,
      maxInFlight: 2,
      version: 'test',
      log: () => {},
    });
  });
  after(async () => {
    await server?.close();
    store?.close();
    cleanup();
  });

  describe('GET routes', () => {
    test('server metadata, liveness and readiness', async () => {
      const meta = await get('/v2');
      assert.equal(meta.status, 200);
      assert.deepEqual(meta.body, { name: 'trellis', version: 'test', extensions: ['binary_tensor_data'] });
      const live = await get('/v2/health/live');
      assert.equal(live.status, 200);
      assert.deepEqual(live.body, { live: true });
      const ready = await get('/v2/health/ready');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { ready: true });
      assert.equal((await get('/health')).status, 200);
    });

    test('model metadata lists the served versions (the alias\'s first), platform and tensor specs with -1 for dynamic dims', async () => {
      const r = await get('/v2/models/mlp');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, {
        name: 'mlp',
        versions: ['2', '1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 784] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 10] }],
      });
      const mixedMeta = await get('/v2/models/mixed');
      assert.deepEqual(mixedMeta.body.inputs, mixed.signature.inputs);
      assert.deepEqual(mixedMeta.body.outputs, mixed.signature.outputs);
      assert.deepEqual((await get('/v2/models/fixed')).body.inputs, [{ name: 'x', datatype: 'FP32', shape: [1, 4] }]);
    });

    test('model and version readiness and version metadata', async () => {
      const ready = await get('/v2/models/mlp/ready');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { name: 'mlp', ready: true });
      const v1 = await get('/v2/models/mlp/versions/1');
      assert.equal(v1.status, 200);
      assert.deepEqual(v1.body.versions, ['1']);
      assert.equal(v1.body.platform, 'onnxruntime_onnx');
      const v1ready = await get('/v2/models/mlp/versions/1/ready');
      assert.equal(v1ready.status, 200);
      assert.deepEqual(v1ready.body, { name: 'mlp', version: '1', ready: true });
    });

    test('unknown model, unknown version and unknown routes are 404 {"error"}', async () => {
      refused(await get('/v2/models/nope'), 404, /Model 'nope' is not served here; served models: mlp, fixed, mixed, two, identity/);
      refused(await get('/v2/models/nope/ready'), 404, /nope/);
      refused(await infer('nope', { inputs: [] }), 404, /Model 'nope' is not served/);
      refused(await get('/v2/models/mlp/versions/9'), 404, /Model 'mlp' version 9 is not served here; served versions: 2, 1/);
      refused(await infer('mlp', { inputs: [] }, '/v2/models/mlp/versions/9/infer'), 404, /version 9/);
      refused(await get('/v2/models/mlp/frobnicate'), 404, /No KServe v2 endpoint/);
      refused(await get('/v2/nothing'), 404, /No KServe v2 endpoint at GET \/v2\/nothing/);
    });

    test('a wrong method is 405 {"error"} with Allow', async () => {
      const r = await get('/v2/models/mlp/infer');
      refused(r, 405, /use POST/);
      assert.equal(r.headers.get('allow'), 'POST');
      refused(await call('POST', '/v2/models/mlp'), 405, /use GET/);
      refused(await call('POST', '/v2/health/ready'), 405, /use GET/);
    });
  });

  describe('inference', () => {
    for (const batch of [1, 16]) {
      for (const nested of [false, true]) {
        test(`MLP batch ${batch}, ${nested ? 'nested' : 'flat'} data, equals the JS reference`, async () => {
          const inputs = mlp2.inputs(batch, 40 + batch);
          const r = await infer('mlp', { id: `req-${batch}`, inputs: kserveInputs(mlp2.signature.inputs, inputs, nested) });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(r.headers.get('content-type'), 'application/json');
          assert.equal(r.body.model_name, 'mlp');
          assert.equal(r.body.model_version, '2');
          assert.equal(r.body.id, `req-${batch}`);
          assert.equal(r.body.outputs.length, 1);
          const y = r.body.outputs[0];
          assert.deepEqual({ name: y.name, datatype: y.datatype, shape: y.shape }, { name: 'y', datatype: 'FP32', shape: [batch, 10] });
          assertClose(y.data, mlp2.reference(inputs).y!.data as Float32Array, 1e-4, 'y');
        });
      }
    }

    test('versions/{v}/infer runs that version; the bare name runs the alias\'s version', async () => {
      const inputs = mlp1.inputs(3);
      const body = { inputs: kserveInputs(mlp1.signature.inputs, inputs) };
      const v1 = await infer('mlp', body, '/v2/models/mlp/versions/1/infer');
      assert.equal(v1.status, 200, JSON.stringify(v1.body));
      assert.equal(v1.body.model_version, '1');
      assertClose(v1.body.outputs[0].data, mlp1.reference(inputs).y!.data as Float32Array, 1e-4, 'v1 y');
      const v2 = await infer('mlp', body);
      assert.equal(v2.body.model_version, '2');
      assertClose(v2.body.outputs[0].data, mlp2.reference(inputs).y!.data as Float32Array, 1e-4, 'v2 y');
      assert.ok(Math.abs(v1.body.outputs[0].data[0] - v2.body.outputs[0].data[0]) > 1e-6, 'the two versions have different weights');
    });

    test('FP64, INT64 (beyond 2^53, sent as strings) and BOOL: exact results', async () => {
      const inputs = mixed.inputs(6);
      const expected = mixed.reference(inputs);
      const r = await infer('mixed', { inputs: kserveInputs(mixed.signature.inputs, inputs) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const out = Object.fromEntries(r.body.outputs.map((o: any) => [o.name, o]));
      assert.deepEqual(out.f64_out.data, Array.from(expected.f64_out!.data as Float64Array));
      assert.deepEqual(out.flags_out.data, Array.from(expected.flags_out!.data as Uint8Array, (v) => v === 1));
      assert.equal(out.i64_out.datatype, 'INT64');
      // INT64 values are exact JSON numbers in the text, even beyond 2^53.
      const text = r.raw.toString('utf8');
      const i64Text = /"name":"i64_out","datatype":"INT64","shape":\[6\],"data":\[([-\d,]*)\]/.exec(text)?.[1];
      assert.deepEqual(i64Text?.split(',').map(BigInt), Array.from(expected.i64_out!.data as BigInt64Array));
    });

    test('requested outputs only, in the order asked', async () => {
      const inputs = mixed.inputs(2);
      const r = await infer('mixed', { inputs: kserveInputs(mixed.signature.inputs, inputs), outputs: [{ name: 'flags_out' }, { name: 'f64_out' }] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.outputs.map((o: any) => o.name), ['flags_out', 'f64_out']);
    });

    test('a two-input model', async () => {
      const inputs = two.inputs(4);
      const r = await infer('two', { inputs: kserveInputs(two.signature.inputs, inputs, true) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertClose(r.body.outputs[0].data, two.reference(inputs).sum!.data as Float32Array, 1e-3, 'sum');
      refused(await infer('two', { inputs: kserveInputs(two.signature.inputs, inputs).slice(0, 1) }), 400, /Missing input 'b' \(FP32 \[-1,3\]\)/);
    });

    test('a fixed-batch model serves batch 1 and refuses batch 2 with a clear message', async () => {
      const inputs = fixed.inputs(1);
      const r = await infer('fixed', { inputs: kserveInputs(fixed.signature.inputs, inputs) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertClose(r.body.outputs[0].data, fixed.reference(inputs).y!.data as Float32Array, 1e-5, 'y');
      const two = Array.from({ length: 8 }, (_, i) => i / 8);
      refused(
        await infer('fixed', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: two }] }),
        400,
        /input 'x': dimension 0 of shape \[2,4\] must be 1/,
        /batch size is fixed at 1/,
      );
    });

    test('binary tensor input gives the same result as JSON; binary outputs come back as raw bytes', async () => {
      const inputs = mlp2.inputs(4);
      const x = inputs.x!.data as Float32Array;
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [4, 784], parameters: { binary_data_size: x.byteLength } }] }));
      const body = Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]);
      const r = await call('POST', '/v2/models/mlp/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
      assert.equal(r.status, 200, r.raw.toString());
      const viaJson = await infer('mlp', { inputs: kserveInputs(mlp2.signature.inputs, inputs) });
      assert.deepEqual(r.body.outputs, viaJson.body.outputs);

      const headerOut = Buffer.from(
        JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'x', datatype: 'FP32', shape: [4, 784], parameters: { binary_data_size: x.byteLength } }] }),
      );
      const rb = await call('POST', '/v2/models/mlp/infer', Buffer.concat([headerOut, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]), {
        'inference-header-content-length': String(headerOut.length),
      });
      assert.equal(rb.status, 200);
      assert.equal(rb.headers.get('content-type'), 'application/octet-stream');
      const split = splitBinaryBody(rb.raw, Number(rb.headers.get('inference-header-content-length')));
      const y = split.tensors.get('y')!;
      assert.equal(y.length, 4 * 10 * 4);
      const values = Array.from({ length: 40 }, (_, i) => y.readFloatLE(i * 4));
      assert.deepEqual(values, viaJson.body.outputs[0].data);
    });
  });

  test('every datatype round-trips through JSON and through binary tensors (FP16 rounded to half precision)', async () => {
    const inputs = identity.inputs(7);
    const expected = identity.reference(inputs);
    const json = await infer('identity', { inputs: kserveInputs(identity.signature.inputs, inputs) });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    for (const out of json.body.outputs as any[]) {
      const want = expected[out.name]!;
      assert.deepEqual(out.shape, want.shape, out.name);
      if (out.datatype === 'INT64') continue; // beyond 2^53: checked exactly below
      const values = out.datatype === 'BOOL' ? Array.from(want.data as Uint8Array, (v) => v === 1) : plain(want.data);
      // JSON.stringify writes -0 as 0 on the way in; the binary round trip below keeps it.
      const positiveZero = (list: unknown[]) => list.map((v) => (v === 0 ? 0 : v));
      assert.deepEqual(positiveZero(out.data), positiveZero(values), out.name);
    }
    // Binary both ways: the bytes that come back are the bytes of the reference.
    const specs = identity.signature.inputs;
    const bytesOf = (name: string, data: TensorData) => {
      const dt = specs.find((sp) => sp.name === name)!.datatype;
      return tensorBytes({ name, datatype: dt, shape: [7], data });
    };
    const parts = specs.map((sp) => bytesOf(sp.name, inputs[sp.name]!.data));
    const header = Buffer.from(
      JSON.stringify({
        parameters: { binary_data_output: true },
        inputs: specs.map((sp, i) => ({ name: sp.name, datatype: sp.datatype, shape: [7], parameters: { binary_data_size: parts[i]!.length } })),
      }),
    );
    const r = await call('POST', '/v2/models/identity/infer', Buffer.concat([header, ...parts]), { 'inference-header-content-length': String(header.length) });
    assert.equal(r.status, 200, r.raw.toString());
    const split = splitBinaryBody(r.raw, Number(r.headers.get('inference-header-content-length')));
    for (const out of identity.signature.outputs) {
      assert.deepEqual(split.tensors.get(out.name), bytesOf(out.name.replace('out_', 'in_'), expected[out.name]!.data), out.name);
    }
  });

  describe('bad input: 400 {"error"} naming the input and what was expected', () => {
    const row = () => Array.from({ length: 784 }, (_, i) => i / 784);
    test('wrong datatype', async () => {
      refused(await infer('mlp', { inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 784], data: row().map(() => 1) }] }), 400, /input 'x': expected datatype FP32, got INT64/);
    });
    test('wrong shape: rank, fixed dimension, element count', async () => {
      refused(await infer('mlp', { inputs: [{ name: 'x', datatype: 'FP32', shape: [784], data: row() }] }), 400, /input 'x': expected shape \[-1,784\] \(rank 2\), got \[784\] \(rank 1\)/);
      refused(await infer('mlp', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 783], data: row().slice(1) }] }), 400, /input 'x': dimension 1 .* must be 784/);
      refused(await infer('mlp', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 784], data: row() }] }), 400, /input 'x': shape \[2,784\] needs 1568 values, got 784/);
    });
    test('missing and extra inputs', async () => {
      refused(await infer('mlp', { inputs: [] }), 400, /Missing input 'x' \(FP32 \[-1,784\]\)/);
      refused(
        await infer('mlp', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 784], data: row() }, { name: 'extra', datatype: 'FP32', shape: [1], data: [1] }] }),
        400,
        /Unexpected input 'extra': the model's inputs are x/,
      );
    });
    test('non-numeric data', async () => {
      const data: unknown[] = row();
      data[10] = 'ten';
      refused(await infer('mlp', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 784], data }] }), 400, /input 'x': expected FP32 numbers, got "ten" at index 10/);
      refused(await infer('mixed', { inputs: [{ name: 'f64', datatype: 'FP64', shape: [1], data: [1] }, { name: 'i64', datatype: 'INT64', shape: [1], data: [1.5] }, { name: 'flags', datatype: 'BOOL', shape: [1], data: [true] }] }), 400, /input 'i64': expected INT64 integers, got 1.5/);
      refused(await infer('mixed', { inputs: [{ name: 'f64', datatype: 'FP64', shape: [1], data: [1] }, { name: 'i64', datatype: 'INT64', shape: [1], data: [1] }, { name: 'flags', datatype: 'BOOL', shape: [1], data: ['yes'] }] }), 400, /input 'flags': expected BOOL values/);
    });
    test('malformed JSON, an empty body, a body that is not an object', async () => {
      refused(await infer('mlp', '{"inputs": [{"name": "x", '), 400, /Malformed JSON/);
      refused(await infer('mlp', ''), 400, /The request body is empty/);
      refused(await infer('mlp', '[1,2,3]'), 400, /must be a JSON object/);
    });
    test('a form content type is refused (415): a web page cannot post inferences', async () => {
      refused(await call('POST', '/v2/models/mlp/infer', '{"inputs":[]}', { 'content-type': 'text/plain' }), 415, /application\/json/);
    });
    test('a body over the limit is 413 {"error"}, declared or streamed', async () => {
      const big = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 784], data: row() }], pad: 'x'.repeat(MAX_BODY) });
      refused(await infer('mlp', big), 413, /exceeds the limit of 1048576 bytes/);
      // Chunked, without a Content-Length: refused once the bytes read pass the limit.
      const streamed = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const url = new URL(server.url);
        const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/v2/models/mlp/infer', headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent <= MAX_BODY + chunk.length) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.equal(streamed.status, 413);
      assert.match(streamed.body.error, /exceeds the limit/);
      // The server still answers afterwards.
      assert.equal((await get('/v2/health/live')).status, 200);
    });
  });

  test('beyond the in-flight limit the model answers 503 with Retry-After; admitted requests still complete', async () => {
    const url = new URL(server.url);
    const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }));
    // Two uploads that stop halfway hold both admissions (maxInFlight: 2) deterministically.
    const slow = [0, 1].map(() => {
      const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/v2/models/fixed/infer', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } });
      const reply = new Promise<{ status: number; body: any }>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
      });
      req.write(body.subarray(0, 10));
      return { req, reply };
    });
    const model = server.modelServer.get('fixed');
    for (let i = 0; model.inFlight < 2 && i < 500; i++) await sleep(10);
    assert.equal(model.inFlight, 2);
    const r = await infer('fixed', JSON.parse(body.toString()));
    refused(r, 503, /Model 'fixed' version 1 is overloaded: 2 requests in flight \(the limit is 2\)/);
    assert.equal(r.headers.get('retry-after'), '1');
    // Another model is not affected.
    assert.equal((await infer('two', { inputs: kserveInputs(two.signature.inputs, two.inputs(1)) })).status, 200);
    for (const s of slow) s.req.end(body.subarray(10));
    const replies = await Promise.all(slow.map((s) => s.reply));
    assert.deepEqual(replies.map((x) => x.status), [200, 200]);
    assert.equal(model.inFlight, 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /trellis_inference_requests_total\{model="fixed",version="1",outcome="overloaded"\} 1/);
    assert.match(metrics, /trellis_inference_requests_total\{model="mlp",version="2",outcome="ok"\} \d+/);
  });

  test('the endpoint file announces the server (mode 0600) and findEndpoint locates a model by reference', () => {
    const path = join(endpointsDir(dir), `${process.pid}.json`);
    assert.equal(server.endpointFile, path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const info = JSON.parse(readFileSync(path, 'utf8')) as EndpointFile;
    assert.equal(info.pid, process.pid);
    assert.equal(info.url, server.url);
    assert.equal(info.version, 'test');
    assert.deepEqual(
      info.models.map((m) => [m.name, m.version, m.ref]),
      [
        ['mlp', '2', 'mlp@champion'],
        ['mlp', '1', 'mlp/1'],
        ['fixed', '1', 'fixed/1'],
        ['mixed', '1', 'mixed'],
        ['two', '1', 'two@prod'],
        ['identity', '1', 'identity'],
      ],
    );
    assert.equal(info.models[1]!.infer_url, `${server.url}/v2/models/mlp/versions/1/infer`);
    assert.equal(findEndpoint(dir, 'mlp@champion')?.model.version, '2');
    assert.equal(findEndpoint(dir, 'models:/mlp/1')?.model.version, '1');
    assert.equal(findEndpoint(dir, 'two')?.model.ref, 'two@prod');
    assert.equal(findEndpoint(dir, 'mlp@other'), undefined);
  });

  test('a model server is not ready while a model loads or after close; a second reference to a version shares its engine', async () => {
    const models = new ModelServer({ resolve: (ref) => resolveModelRef(store, ref), workers: 1 });
    assert.equal(models.ready(), true);
    const loading = models.load('two@prod');
    assert.equal(models.ready(), false);
    const first = await loading;
    assert.equal(models.ready(), true);
    const again = await models.load('two/1');
    assert.equal(again, first);
    assert.deepEqual(first.refs, ['two@prod', 'two/1']);
    const release = models.acquire(first);
    assert.equal(first.inFlight, 1);
    release();
    release();
    assert.equal(first.inFlight, 0, 'a release is counted once');
    await models.close();
    assert.equal(models.ready(), false);
    assert.throws(() => models.acquire(first), (e: unknown) => e instanceof KServeError && e.status === 503);
    await assert.rejects(models.load('two@prod'), /closed/);
  });

  describe('model references and bad model files', () => {
    test('references parse; malformed ones are refused clearly', () => {
      assert.deepEqual(parseModelRef('mnist@champion'), { name: 'mnist', kind: 'alias', alias: 'champion' });
      assert.deepEqual(parseModelRef('models:/team/mnist/3'), { name: 'team/mnist', kind: 'version', version: '3' });
      assert.deepEqual(parseModelRef('mnist'), { name: 'mnist', kind: 'latest' });
      assert.throws(() => parseModelRef('mnist/abc'), /the version after '\/' must be a positive whole number, got 'abc'/);
      assert.throws(() => parseModelRef('mnist@'), /both the name and the alias/);
      assert.throws(() => parseModelRef(' '), /Empty model reference/);
    });

    test('unknown model, alias and version; the latest version by default', () => {
      assert.throws(() => resolveModelRef(store, 'ghost@x'), /Model 'ghost' is not registered/);
      assert.throws(() => resolveModelRef(store, 'mlp@staging'), /Model 'mlp' has no alias 'staging' \(its aliases: @champion → 2\)/);
      assert.throws(() => resolveModelRef(store, 'mlp/7'), /Model 'mlp' has no version 7 \(its versions: 1, 2\)/);
      const latest = resolveModelRef(store, 'mlp');
      assert.equal(latest.version, '2');
      assert.ok(latest.path.endsWith(join('model', 'model.onnx')));
      assert.ok(resolveModelRef(store, 'mixed').path.endsWith('mixed.onnx'), 'a folder with one .onnx file');
    });

    test('a corrupt or non-ONNX model file fails to load with a clear message naming the model', async () => {
      await registerModel(store, 'corrupt', Buffer.from('this is not a protobuf at all, just text'), { alias: 'x' });
      await registerModel(store, 'truncated', mlp1.bytes.subarray(0, 5000), { alias: 'x' });
      for (const ref of ['corrupt@x', 'truncated@x']) {
        await assert.rejects(
          startServingServer({ dataDir: dir, models: [ref], announce: false, version: 'test', log: () => {} }),
          (err: Error) => {
            assert.match(err.message, new RegExp(`Cannot serve model '${ref.split('@')[0]}' version 1 \\(${ref}\\)`));
            assert.match(err.message, /not a valid ONNX model|could not be loaded/);
            return true;
          },
        );
      }
    });

    test('a version whose source holds no .onnx file, or is outside the artifact store, is refused', async () => {
      await registerModel(store, 'pickled', Buffer.from('not onnx'), { file: 'model.pkl' });
      assert.throws(() => resolveModelRef(store, 'pickled/1'), /model 'pickled' version 1: no \.onnx file in its source folder/);
      store.registry.createModel('elsewhere');
      store.registry.createVersion({ name: 'elsewhere', source: 's3://bucket/model' });
      assert.throws(() => resolveModelRef(store, 'elsewhere/1'), /its source 's3:\/\/bucket\/model' is not in this platform's artifact store/);
      await assert.rejects(startServingServer({ dataDir: dir, models: ['pickled'], announce: false, version: 'test', log: () => {} }), /no \.onnx file/);
    });
  });
});

describe('trellis serve (built CLI)', () => {
  const { dir, cleanup } = tempDir('trellis-serve-cli-');
  before(async () => {
    ensureBuilt();
    const store = openStore(dir);
    try {
      await registerModel(store, 'digits', mlpModel({ seed: 3 }).bytes, { alias: 'champion' });
    } finally {
      store.close();
    }
  });
  after(() => cleanup());

  test('serve --model NAME@champion --port 0 writes its endpoint file, answers readiness and inference, and removes the file on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, '-d', dir, 'serve', '--model', 'digits@champion', '--port', '0', '--workers', '1'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const file = join(endpointsDir(dir), `${child.pid}.json`);
      for (let i = 0; !existsSync(file) && i < 1500; i++) {
        if (child.exitCode !== null) break;
        await sleep(10);
      }
      assert.ok(existsSync(file), `no endpoint file; output:\n${output}`);
      const info = JSON.parse(readFileSync(file, 'utf8')) as EndpointFile;
      assert.equal(info.pid, child.pid);
      assert.deepEqual(info.models.map((m) => [m.name, m.version, m.ref]), [['digits', '1', 'digits@champion']]);
      const ready = await fetch(`${info.url}/v2/health/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { ready: true });
      const res = await fetch(`${info.url}/v2/models/digits/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 784], data: new Array(784).fill(0.5) }] }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as any;
      assert.deepEqual(body.outputs[0].shape, [1, 10]);
      assert.match(output, new RegExp(`POST ${info.url.replace(/[.]/g, '\\.')}/v2/models/digits/versions/1/infer`));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.equal(existsSync(file), false, 'the endpoint file is removed on shutdown');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('serve with an unknown alias exits 1 with a clear message', async () => {
    const child = spawn(process.execPath, [CLI, '-d', dir, 'serve', '--model', 'digits@nope', '--port', '0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(stderr, /Model 'digits' has no alias 'nope' \(its aliases: @champion → 1\)/);
  });
});
