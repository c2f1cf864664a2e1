// The response cache on its own: LRU order, the byte bound, evictions, oversized entries, and keys that
// depend on the model, version, inputs and requested outputs but not on the request id.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engines/onnx/types';
import { encodeInferenceResponse, splitBinaryBody, type EncodedResponse } from '../../src/services/serving/kserve-codec';
import { ResponseCache, withId } from '../../src/services/serving/response-cache';

const reply = (n: number): EncodedResponse => ({ body: Buffer.alloc(n, 1), headers: { 'Content-Type': 'application/json' } });
const x = (values: number[], shape = [1, values.length], name = 'x'): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(values) });
const size = (key: string, n: number) => n + Buffer.byteLength(key);

describe('ResponseCache', () => {
  test('keys: model\\0version\\0sha256; equal for equal inputs, different for any change', () => {
    const k = ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3])] });
    const [model, version, hash, ...rest] = k.split('\u0000');
    assert.deepEqual([model, version, rest], ['mlp', '2', []]);
    assert.match(hash!, /^[0-9a-f]{64}$/);
    assert.equal(ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3])] }), k);
    const others = [
      ResponseCache.key('mlp', '1', { inputs: [x([1, 2, 3])] }),
      ResponseCache.key('mlq', '2', { inputs: [x([1, 2, 3])] }),
      ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 4])] }),
      ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3], [3, 1])] }),
      ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3], [1, 3], 'z')] }),
      ResponseCache.key('mlp', '2', { inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 3], data: Int32Array.from([1, 2, 3]) }] }),
      ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3])], outputs: ['y'] }),
      ResponseCache.key('mlp', '2', { inputs: [x([1, 2, 3])], binaryOutputs: new Set(['y']) }),
    ];
    assert.equal(new Set([k, ...others]).size, others.length + 1);
  });

  test('the request id is no part of the key, and withId gives a stored reply the current id', () => {
    const request = { inputs: [x([0.5])], outputs: ['y'] };
    // A decoded request with an id: the key takes only inputs and output choices.
    assert.equal(ResponseCache.key('m', '1', { ...request, id: 'a' } as typeof request), ResponseCache.key('m', '1', { ...request, id: 'b' } as typeof request));
    const outputs = [x([7, 8], [1, 2], 'y')];
    const stored = encodeInferenceResponse({ modelName: 'm', modelVersion: '1', outputs });
    const direct = encodeInferenceResponse({ modelName: 'm', modelVersion: '1', id: 'req-"9"', outputs });
    assert.deepEqual(withId(stored, 'req-"9"'), direct);
    assert.equal(withId(stored, undefined), stored);
    // Binary outputs: the JSON header grows and its declared length with it.
    const bin = new Set(['y']);
    const storedBin = encodeInferenceResponse({ modelName: 'm', modelVersion: '1', outputs, binaryOutputs: bin });
    const directBin = encodeInferenceResponse({ modelName: 'm', modelVersion: '1', id: 'id-2', outputs, binaryOutputs: bin });
    const given = withId(storedBin, 'id-2');
    assert.deepEqual(given, directBin);
    const { header, tensors } = splitBinaryBody(given.body, Number(given.headers['Inference-Header-Content-Length']));
    assert.equal(header.id, 'id-2');
    assert.deepEqual(new Float32Array(Uint8Array.from(tensors.get('y')!).buffer), Float32Array.from([7, 8]));
  });

  test('get counts hits and misses and returns the stored reply', () => {
    const lookups: string[] = [];
    const cache = new ResponseCache({ maxBytes: 1000, onLookup: (m, v, hit) => lookups.push(`${m}/${v}:${hit}`) });
    const k = ResponseCache.key('m', '3', { inputs: [x([1])] });
    assert.equal(cache.get(k), undefined);
    const r = reply(10);
    assert.equal(cache.set(k, r), true);
    assert.equal(cache.get(k), r);
    assert.deepEqual(cache.stats(), { hits: 1, misses: 1, bytes: size(k, 10), entries: 1, evictions: 0 });
    assert.deepEqual(lookups, ['m/3:false', 'm/3:true']);
  });

  test('LRU: a get makes an entry most recent; the least recent goes first; the byte bound holds', () => {
    const keys = [1, 2, 3, 4].map((i) => ResponseCache.key('m', '1', { inputs: [x([i])] }));
    const each = size(keys[0]!, 100);
    const cache = new ResponseCache({ maxBytes: each * 3 });
    for (const k of keys.slice(0, 3)) cache.set(k, reply(100));
    assert.deepEqual(cache.keys(), keys.slice(0, 3));
    assert.ok(cache.get(keys[0]!));
    assert.deepEqual(cache.keys(), [keys[1], keys[2], keys[0]]);
    cache.set(keys[3]!, reply(100));
    assert.equal(cache.has(keys[1]!), false, 'the least recently used entry was evicted');
    assert.deepEqual(cache.keys(), [keys[2], keys[0], keys[3]]);
    assert.deepEqual(cache.stats(), { hits: 1, misses: 0, bytes: each * 3, entries: 3, evictions: 1 });
    // One entry twice the size evicts two.
    const big = ResponseCache.key('m', '1', { inputs: [x([9])] });
    cache.set(big, reply(100 + each));
    assert.deepEqual(cache.keys(), [keys[3], big]);
    assert.equal(cache.stats().evictions, 3);
    assert.ok(cache.stats().bytes <= cache.maxBytes);
  });

  test('replacing a key does not double-count its bytes or count an eviction', () => {
    const k = ResponseCache.key('m', '1', { inputs: [x([1])] });
    const cache = new ResponseCache({ maxBytes: 1000 });
    cache.set(k, reply(100));
    cache.set(k, reply(50));
    assert.deepEqual(cache.stats(), { hits: 0, misses: 0, bytes: size(k, 50), entries: 1, evictions: 0 });
  });

  test('an entry larger than maxBytes is not stored and evicts nothing', () => {
    const small = ResponseCache.key('m', '1', { inputs: [x([1])] });
    const huge = ResponseCache.key('m', '1', { inputs: [x([2])] });
    const cache = new ResponseCache({ maxBytes: 200 });
    assert.equal(cache.set(small, reply(10)), true);
    assert.equal(cache.set(huge, reply(201)), false);
    assert.equal(cache.has(huge), false);
    assert.deepEqual(cache.keys(), [small]);
    assert.equal(cache.stats().evictions, 0);
    assert.throws(() => new ResponseCache({ maxBytes: 0 }), /maxBytes/);
  });
});
