// The response cache end to end: a real serving server with onnxruntime, an MLP registered through the
// store, KServe v2 over real HTTP, and the cache's counters on /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/core/store';
import { startServingServer, type ServingServer } from '../../src/server/serving-server';
import { mlpModel } from '../fixtures/onnx-models';
import { tempDir } from '../support/platform';
import { registerModel } from '../support/models';

describe('serving with a response cache', () => {
  const { dir, cleanup } = tempDir('trellis-serving-cache-');
  let store: Store;
  let server: ServingServer;
  const mlp = mlpModel({ seed: 3 });

  const infer = async (body: unknown) => {
    const res = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const metrics = async () => (await (await fetch(`${server.url}/metrics`)).text());
  const sample = (text: string, name: string, labels = ''): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  const request = (seed: number, id?: string) => {
    const x = mlp.inputs(2, seed).x!;
    return { ...(id !== undefined ? { id } : {}), inputs: [{ name: 'x', datatype: 'FP32', shape: x.shape, data: Array.from(x.data as Float32Array) }] };
  };
  const labels = '{model="mlp",version="1"}';

  before(async () => {
    store = openStore(dir);
    await registerModel(store, 'mlp', mlp.bytes);
    server = await startServingServer({ dataDir: dir, models: ['mlp'], workers: 1, cacheBytes: 1024 * 1024, announce: false, version: 'test', log: () => {} });
  });
  after(async () => {
    await server?.close();
    store?.close();
    cleanup();
  });

  test('the same request twice: the second is a hit with identical outputs and its own id; other inputs miss', async () => {
    const before = await metrics();
    assert.equal(sample(before, 'trellis_cache_bytes'), 0);
    const first = await infer(request(1, 'first'));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.id, 'first');
    const afterFirst = await metrics();
    assert.equal(sample(afterFirst, 'trellis_cache_misses_total', labels), 1);
    assert.equal(sample(afterFirst, 'trellis_cache_hits_total', labels), 0);
    assert.ok(sample(afterFirst, 'trellis_cache_bytes') > 0, 'the reply is held');

    const second = await infer(request(1, 'second'));
    assert.equal(second.status, 200);
    assert.equal(second.body.id, 'second', 'a cached reply carries the current request id');
    assert.deepEqual(second.body.outputs, first.body.outputs);
    assert.deepEqual({ ...second.body, id: 'first' }, first.body);
    const noId = await infer(request(1));
    assert.equal('id' in noId.body, false, 'no id asked, none given');
    assert.deepEqual(noId.body.outputs, first.body.outputs);
    const afterHits = await metrics();
    assert.equal(sample(afterHits, 'trellis_cache_hits_total', labels), 2);
    assert.equal(sample(afterHits, 'trellis_cache_misses_total', labels), 1);
    // The engine ran once: the inference counter moved for the miss only.
    assert.equal(sample(afterHits, 'trellis_inference_requests_total', '{model="mlp",version="1",outcome="ok"}'), 1);

    const other = await infer(request(2, 'other'));
    assert.equal(other.status, 200);
    assert.notDeepEqual(other.body.outputs, first.body.outputs);
    const expected = mlp.reference(mlp.inputs(2, 2)).y!.data as Float32Array;
    other.body.outputs[0].data.forEach((v: number, i: number) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `y[${i}]`));
    const afterOther = await metrics();
    assert.equal(sample(afterOther, 'trellis_cache_misses_total', labels), 2);
    assert.equal(sample(afterOther, 'trellis_cache_hits_total', labels), 2);
    assert.ok(sample(afterOther, 'trellis_cache_bytes') > sample(afterFirst, 'trellis_cache_bytes'));
  });

  test('an invalid request (400) is neither looked up nor cached', async () => {
    const m0 = await metrics();
    const bad = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] };
    for (let i = 0; i < 2; i++) {
      const r = await infer(bad);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body), ['error']);
    }
    const m1 = await metrics();
    for (const name of ['trellis_cache_hits_total', 'trellis_cache_misses_total']) assert.equal(sample(m1, name, labels), sample(m0, name, labels), name);
    assert.equal(sample(m1, 'trellis_cache_bytes'), sample(m0, 'trellis_cache_bytes'));
  });
});
