import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelSignature, Tensor } from '../../src/engines/onnx/types';
import {
  decodeInferenceRequest,
  encodeInferenceResponse,
  KServeError,
  modelMetadata,
  parseByteSize,
  parseRequestBody,
  serverMetadata,
  splitBinaryBody,
  tensorBytes,
} from '../../src/services/serving/kserve-codec';

const MLP: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 784] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 10] }],
};
const FIXED: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2] }],
};
const MIXED: ModelSignature = {
  inputs: [
    { name: 'a', datatype: 'FP64', shape: [-1, 3] },
    { name: 'b', datatype: 'INT64', shape: [-1] },
    { name: 'c', datatype: 'BOOL', shape: [-1, 2] },
    { name: 'i', datatype: 'INT32', shape: [-1] },
  ],
  outputs: [
    { name: 'sum', datatype: 'FP64', shape: [-1] },
    { name: 'flags', datatype: 'BOOL', shape: [-1, 2] },
    { name: 'count', datatype: 'INT64', shape: [-1] },
  ],
};
const TEXT: ModelSignature = {
  inputs: [{ name: 's', datatype: 'BYTES', shape: [-1] }],
  outputs: [{ name: 'n', datatype: 'INT32', shape: [-1] }],
};

const range = (n: number, f = (i: number) => i / 100) => Array.from({ length: n }, (_, i) => f(i));
const x = (shape: number[], data: unknown, extra: Record<string, unknown> = {}) => ({ name: 'x', datatype: 'FP32', shape, data, ...extra });
const decode = (body: unknown, sig = MLP, binary?: Buffer) => decodeInferenceRequest(body, sig, binary);

/** Asserts a 400 KServeError whose message matches every pattern. */
function refused(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KServeError, `expected a KServeError, got ${String(err)}`);
    assert.equal(err.status, 400);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

const mixedBody = (over: Record<string, unknown> = {}) => ({
  inputs: [
    { name: 'a', datatype: 'FP64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] },
    { name: 'b', datatype: 'INT64', shape: [2], data: [7, -8] },
    { name: 'c', datatype: 'BOOL', shape: [2, 2], data: [true, false, 1, 0] },
    { name: 'i', datatype: 'INT32', shape: [2], data: [1, -2] },
  ].map((inp): Record<string, unknown> => (over[inp.name] ? { ...inp, ...(over[inp.name] as object) } : inp)),
});

describe('decoding: data', () => {
  test('flat and nested row-major data decode to the same Float32Array', () => {
    const flat = range(2 * 784);
    const nested = [flat.slice(0, 784), flat.slice(784)];
    const a = decode({ inputs: [x([2, 784], flat)] });
    const b = decode({ inputs: [x([2, 784], nested)] });
    assert.ok(a.inputs[0]!.data instanceof Float32Array);
    assert.deepEqual(a.inputs[0]!.shape, [2, 784]);
    assert.deepEqual(b.inputs[0], a.inputs[0]);
    assert.equal((a.inputs[0]!.data as Float32Array)[785], Math.fround(7.85));
  });

  test('nested data deeper than needed flattens when the count matches; a ragged array is refused', () => {
    const sig: ModelSignature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2, 2] }], outputs: MLP.outputs };
    const d = decode({ inputs: [x([1, 2, 2], [[[1, 2], [3, 4]]])] }, sig);
    assert.deepEqual(Array.from(d.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
    // Depth 2 for rank 3: accepted as long as the count is right (as Triton does).
    const partial = decode({ inputs: [x([1, 2, 2], [[1, 2], [3, 4]])] }, sig);
    assert.deepEqual(Array.from(partial.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
    refused(() => decode({ inputs: [x([1, 2, 2], [[[1, 2], [3]]])] }, sig), /input 'x'/, /ragged/, /data\[0\]\[1\] has 1 items, expected 2/);
    refused(() => decode({ inputs: [x([1, 2, 2], [[[1, 2], 3]])] }, sig), /input 'x'/, /ragged/);
    refused(() => decode({ inputs: [x([2, 784], [range(784), [...range(783), [1]]])] }), /input 'x'/, /ragged/);
  });

  test('nested dimensions must be the shape when the depth is the rank', () => {
    const sig: ModelSignature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], outputs: MLP.outputs };
    refused(() => decode({ inputs: [x([3, 2], [[1, 2, 3], [4, 5, 6]])] }, sig), /input 'x': nested data has dimensions \[2,3\] but the shape is \[3,2\]/);
  });

  test('element count must be the product of the shape', () => {
    refused(() => decode({ inputs: [x([2, 784], range(1500))] }), /input 'x': shape \[2,784\] needs 1568 values, got 1500/);
    refused(() => decode({ inputs: [x([1, 784], range(785))] }), /needs 784 values, got 785/);
  });

  test('an empty batch (shape [0, 784], no values) is accepted', () => {
    const d = decode({ inputs: [x([0, 784], [])] });
    assert.equal(d.inputs[0]!.data.length, 0);
  });

  test('non-numeric data for FP32 names the input, the index and the value', () => {
    const data = range(784);
    (data as unknown[])[3] = 'abc';
    refused(() => decode({ inputs: [x([1, 784], data)] }), /input 'x': expected FP32 numbers, got "abc" at index 3/);
    (data as unknown[])[3] = null;
    refused(() => decode({ inputs: [x([1, 784], data)] }), /input 'x'/, /null at index 3/);
    refused(() => decode({ inputs: [x([1, 784], 'not an array')] }), /input 'x': 'data' must be an array/);
  });

  test('FP32 refuses values beyond its range; NaN/Infinity as strings (and Python bare tokens) are accepted', () => {
    refused(() => decode({ inputs: [x([1, 4], [1, 2, 3, 1e39])] }, FIXED), /input 'x': expected FP32 numbers \(at most/, /index 3/);
    const d = decode({ inputs: [x([1, 4], ['NaN', 'Infinity', '-Infinity', 1])] }, FIXED);
    const v = Array.from(d.inputs[0]!.data as Float32Array);
    assert.ok(Number.isNaN(v[0]));
    assert.deepEqual(v.slice(1), [Infinity, -Infinity, 1]);
    const { header } = parseRequestBody(Buffer.from('{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[NaN,-Infinity,Infinity,2]}]}'));
    const p = Array.from(decode(header, FIXED).inputs[0]!.data as Float32Array);
    assert.ok(Number.isNaN(p[0]));
    assert.deepEqual(p.slice(1), [-Infinity, Infinity, 2]);
  });

  test('FP64, INT64, BOOL and INT32 decode to their typed arrays', () => {
    const d = decode(mixedBody(), MIXED);
    assert.deepEqual(d.inputs.map((t) => t.name), ['a', 'b', 'c', 'i']);
    assert.ok(d.inputs[0]!.data instanceof Float64Array);
    assert.deepEqual(Array.from(d.inputs[0]!.data as Float64Array), [1, 2, 3, 4, 5, 6.5]);
    assert.ok(d.inputs[1]!.data instanceof BigInt64Array);
    assert.deepEqual(Array.from(d.inputs[1]!.data as BigInt64Array), [7n, -8n]);
    assert.ok(d.inputs[2]!.data instanceof Uint8Array);
    assert.deepEqual(Array.from(d.inputs[2]!.data as Uint8Array), [1, 0, 1, 0]);
    assert.ok(d.inputs[3]!.data instanceof Int32Array);
  });

  test('INT64: strings of digits carry exact values, the full range; unsafe JSON numbers and out-of-range values are refused', () => {
    const d = decode(mixedBody({ b: { data: ['9223372036854775807', '-9223372036854775808'] } }), MIXED);
    assert.deepEqual(Array.from(d.inputs[1]!.data as BigInt64Array), [2n ** 63n - 1n, -(2n ** 63n)]);
    refused(() => decode(mixedBody({ b: { data: [1, 2 ** 60] } }), MIXED), /input 'b'/, /2\^53/, /string of digits/, /index 1/);
    refused(() => decode(mixedBody({ b: { data: ['9223372036854775808', 1] } }), MIXED), /input 'b': expected INT64 integers from -9223372036854775808 to 9223372036854775807/);
    refused(() => decode(mixedBody({ b: { data: [1.5, 1] } }), MIXED), /input 'b': expected INT64 integers, got 1.5 at index 0/);
    refused(() => decode(mixedBody({ b: { data: [true, 1] } }), MIXED), /input 'b': expected INT64 integers, got true/);
  });

  test('INT32 refuses fractions and out-of-range values', () => {
    refused(() => decode(mixedBody({ i: { data: [1, 0.5] } }), MIXED), /input 'i': expected INT32 integers from -2147483648 to 2147483647, got 0.5 at index 1/);
    refused(() => decode(mixedBody({ i: { data: [2 ** 31, 0] } }), MIXED), /input 'i'/, /2147483648 at index 0/);
  });

  test('BOOL accepts true/false and 1/0 only', () => {
    refused(() => decode(mixedBody({ c: { data: [true, false, 2, 0] } }), MIXED), /input 'c': expected BOOL values \(true\/false or 1\/0\), got 2 at index 2/);
    refused(() => decode(mixedBody({ c: { data: [true, 'false', 1, 0] } }), MIXED), /input 'c'/, /"false" at index 1/);
  });

  test('FP16 travels as a Float32Array of its values: JSON numbers within ±65504, binary as half bits', () => {
    const sig: ModelSignature = { inputs: [{ name: 'h', datatype: 'FP16', shape: [-1] }], outputs: [{ name: 'o', datatype: 'FP16', shape: [-1] }] };
    const d = decode({ inputs: [{ name: 'h', datatype: 'FP16', shape: [3], data: [1.5, -2, 65504] }] }, sig);
    assert.ok(d.inputs[0]!.data instanceof Float32Array);
    assert.deepEqual(Array.from(d.inputs[0]!.data as Float32Array), [1.5, -2, 65504]);
    refused(() => decode({ inputs: [{ name: 'h', datatype: 'FP16', shape: [1], data: [70000] }] }, sig), /input 'h': expected FP16 numbers \(at most ±65504\), got 70000 at index 0/);
    // 1.5 = 0x3e00, -2 = 0xc000 in IEEE half.
    const half = Buffer.from(new Uint16Array([0x3e00, 0xc000]).buffer);
    const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'h', datatype: 'FP16', shape: [2], parameters: { binary_data_size: 4 } }] }));
    const p = parseRequestBody(Buffer.concat([json, half]), String(json.length));
    assert.deepEqual(Array.from(decode(p.header, sig, p.binary).inputs[0]!.data as Float32Array), [1.5, -2]);
    const out = tensorBytes({ name: 'o', datatype: 'FP16', shape: [2], data: new Float32Array([1.5, -2]) });
    assert.deepEqual([out.readUInt16LE(0), out.readUInt16LE(2)], [0x3e00, 0xc000]);
  });

  test('BYTES takes strings', () => {
    const d = decode({ inputs: [{ name: 's', datatype: 'BYTES', shape: [2], data: ['héllo', ''] }] }, TEXT);
    assert.deepEqual(d.inputs[0]!.data, ['héllo', '']);
    refused(() => decode({ inputs: [{ name: 's', datatype: 'BYTES', shape: [2], data: ['a', 3] }] }, TEXT), /input 's': expected BYTES values as strings, got 3 at index 1/);
  });
});

describe('decoding: names, datatypes and shapes', () => {
  test('wrong datatype names the input, the expected and the given type', () => {
    refused(() => decode({ inputs: [{ ...x([1, 784], range(784)), datatype: 'INT64' }] }), /input 'x': expected datatype FP32, got INT64/);
    refused(() => decode({ inputs: [{ ...x([1, 784], range(784)), datatype: 'FLOAT' }] }), /input 'x': expected datatype FP32, got FLOAT \(not a KServe v2 datatype\)/);
    refused(() => decode({ inputs: [{ name: 'x', shape: [1, 784], data: range(784) }] }), /input 'x': 'datatype' is required: expected FP32/);
  });

  test('wrong rank, wrong fixed dimension, malformed shapes', () => {
    refused(() => decode({ inputs: [x([784], range(784))] }), /input 'x': expected shape \[-1,784\] \(rank 2\), got \[784\] \(rank 1\)/);
    refused(() => decode({ inputs: [x([1, 783], range(783))] }), /input 'x': dimension 1 of shape \[1,783\] must be 784/);
    refused(() => decode({ inputs: [x([1, -1], range(784))] }), /input 'x': 'shape' must be an array of non-negative integers like \[1,784\], got \[1,-1\]/);
    refused(() => decode({ inputs: [x('1,784' as never, range(784))] }), /input 'x': 'shape' must be an array/);
    refused(() => decode({ inputs: [{ name: 'x', datatype: 'FP32', data: range(784) }] }), /input 'x': 'shape' must be an array/);
  });

  test('a fixed batch dimension accepts its size and refuses another, saying the batch is fixed', () => {
    const ok = decode({ inputs: [x([1, 4], [1, 2, 3, 4])] }, FIXED);
    assert.deepEqual(ok.inputs[0]!.shape, [1, 4]);
    refused(() => decode({ inputs: [x([2, 4], range(8))] }, FIXED), /input 'x': dimension 0 of shape \[2,4\] must be 1/, /batch size is fixed at 1/);
  });

  test('missing, extra and duplicate inputs', () => {
    refused(() => decode({ inputs: [] }), /Missing input 'x' \(FP32 \[-1,784\]\)/);
    const two = mixedBody();
    two.inputs.splice(1, 2);
    refused(() => decode(two, MIXED), /Missing inputs 'b' \(INT64 \[-1\]\), 'c' \(BOOL \[-1,2\]\)/);
    refused(() => decode({ inputs: [x([1, 784], range(784)), { ...x([1], [1]), name: 'z' }] }), /Unexpected input 'z': the model's inputs are x \(FP32 \[-1,784\]\)/);
    refused(() => decode({ inputs: [x([1, 784], range(784)), x([1, 784], range(784))] }), /Input 'x' is given more than once/);
    refused(() => decode({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] }), /inputs\[0\] needs a 'name'/, /x/);
    refused(() => decode({ inputs: [x([1, 784], undefined)] }), /input 'x': 'data' is required \(a flat or nested row-major array of 784 FP32 values\)/);
  });

  test('the request must be an object with an inputs array; id a string; parameters an object', () => {
    refused(() => decode([1, 2]), /must be a JSON object/);
    refused(() => decode(null), /must be a JSON object/);
    refused(() => decode({}), /'inputs' must be an array/, /x \(FP32 \[-1,784\]\)/);
    refused(() => decode({ inputs: { x: 1 } }), /'inputs' must be an array/);
    refused(() => decode({ id: 5, inputs: [x([1, 784], range(784))] }), /'id' must be a string/);
    refused(() => decode({ parameters: [], inputs: [x([1, 784], range(784))] }), /'parameters' must be an object/);
    refused(() => decode({ inputs: [5] }), /inputs\[0\] must be an object/);
  });

  test('requested outputs: known, unique, in the order asked', () => {
    const d = decode({ ...mixedBody(), id: 'r1', outputs: [{ name: 'count' }, { name: 'sum' }] }, MIXED);
    assert.equal(d.id, 'r1');
    assert.deepEqual(d.outputs, ['count', 'sum']);
    assert.equal(decode(mixedBody(), MIXED).outputs, undefined);
    refused(() => decode({ ...mixedBody(), outputs: [{ name: 'nope' }] }, MIXED), /Unknown output 'nope': the model's outputs are sum, flags, count/);
    refused(() => decode({ ...mixedBody(), outputs: [{ name: 'sum' }, { name: 'sum' }] }, MIXED), /Output 'sum' is requested more than once/);
    refused(() => decode({ ...mixedBody(), outputs: 'sum' }, MIXED), /'outputs' must be an array/);
  });
});

describe('request body', () => {
  test('malformed JSON and an empty body are 400 with a clear message', () => {
    assert.throws(() => parseRequestBody(Buffer.from('{"inputs": [')), (e: unknown) => e instanceof KServeError && e.status === 400 && /Malformed JSON/.test(e.message));
    assert.throws(() => parseRequestBody(Buffer.from('  ')), /The request body is empty/);
    assert.deepEqual(parseRequestBody(Buffer.from('{"a":1}')), { header: { a: 1 } });
  });

  test('Inference-Header-Content-Length splits the JSON header from the binary data, and is checked', () => {
    const json = Buffer.from('{"a":1}');
    const { header, binary } = parseRequestBody(Buffer.concat([json, Buffer.from([1, 2, 3])]), String(json.length));
    assert.deepEqual(header, { a: 1 });
    assert.deepEqual([...binary!], [1, 2, 3]);
    assert.throws(() => parseRequestBody(json, '100'), /Inference-Header-Content-Length is 100 but the body has only 7 bytes/);
    assert.throws(() => parseRequestBody(json, 'x'), /must be a whole number of bytes/);
  });
});

describe('binary tensor data', () => {
  const binaryBody = (inputs: { meta: Record<string, unknown>; bytes: Buffer }[], extra: Record<string, unknown> = {}) => {
    const json = Buffer.from(JSON.stringify({ ...extra, inputs: inputs.map((i) => ({ ...i.meta, parameters: { binary_data_size: i.bytes.length } })) }));
    return { body: Buffer.concat([json, ...inputs.map((i) => i.bytes)]), headerLength: String(json.length) };
  };
  const le = (arr: ArrayBufferView) => Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);

  test('FP32 input as raw little-endian bytes decodes to the same values as JSON', () => {
    const values = new Float32Array(range(784, (i) => Math.sin(i)));
    const { body, headerLength } = binaryBody([{ meta: { name: 'x', datatype: 'FP32', shape: [1, 784] }, bytes: le(values) }]);
    const { header, binary } = parseRequestBody(body, headerLength);
    const d = decode(header, MLP, binary);
    assert.deepEqual(d.inputs[0]!.data, values);
    const viaJson = decode({ inputs: [x([1, 784], Array.from(values))] });
    assert.deepEqual(d.inputs[0]!.data, viaJson.inputs[0]!.data);
  });

  test('several binary inputs are read in request order, mixed with a JSON one (unaligned offsets copied)', () => {
    const a = new Float64Array([1, 2, 3, 4, 5, 6]);
    const b = new BigInt64Array([2n ** 62n, -3n]);
    const c = Buffer.from([1, 0, 7, 0]); // nonzero reads as true
    const json = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'c', datatype: 'BOOL', shape: [2, 2], parameters: { binary_data_size: 4 } },
          { name: 'i', datatype: 'INT32', shape: [2], data: [3, 4] },
          { name: 'a', datatype: 'FP64', shape: [2, 3], parameters: { binary_data_size: 48 } },
          { name: 'b', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
        ],
      }),
    );
    const body = Buffer.concat([json, c, le(a), le(b)]);
    const { header, binary } = parseRequestBody(body, String(json.length));
    const d = decode(header, MIXED, binary);
    assert.deepEqual(d.inputs.map((t) => t.name), ['a', 'b', 'c', 'i']);
    assert.deepEqual(Array.from(d.inputs[0]!.data as Float64Array), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(d.inputs[1]!.data as BigInt64Array), [2n ** 62n, -3n]);
    assert.deepEqual(Array.from(d.inputs[2]!.data as Uint8Array), [1, 0, 1, 0]);
    assert.deepEqual(Array.from(d.inputs[3]!.data as Int32Array), [3, 4]);
  });

  test('BYTES binary: 4-byte little-endian lengths + UTF-8', () => {
    const t: Tensor = { name: 's', datatype: 'BYTES', shape: [3], data: ['ab', '', 'ü'] };
    const { body, headerLength } = binaryBody([{ meta: { name: 's', datatype: 'BYTES', shape: [3] }, bytes: tensorBytes(t) }]);
    const { header, binary } = parseRequestBody(body, headerLength);
    assert.deepEqual(decode(header, TEXT, binary).inputs[0]!.data, ['ab', '', 'ü']);
    const short = binaryBody([{ meta: { name: 's', datatype: 'BYTES', shape: [3] }, bytes: tensorBytes(t).subarray(0, 9) }]);
    const p = parseRequestBody(short.body, short.headerLength);
    refused(() => decode(p.header, TEXT, p.binary), /input 's': BYTES binary data is truncated/);
  });

  test('a size that does not fit the shape, data beyond the inputs, data without the header, data and binary together', () => {
    const bytes = le(new Float32Array(783));
    const wrong = binaryBody([{ meta: { name: 'x', datatype: 'FP32', shape: [1, 784] }, bytes }]);
    let p = parseRequestBody(wrong.body, wrong.headerLength);
    refused(() => decode(p.header, MLP, p.binary), /input 'x': shape \[1,784\] of FP32 needs 3136 bytes of binary data \(784 × 4\), got 3132/);

    const good = binaryBody([{ meta: { name: 'x', datatype: 'FP32', shape: [1, 784] }, bytes: le(new Float32Array(784)) }]);
    p = parseRequestBody(Buffer.concat([good.body, Buffer.alloc(8)]), good.headerLength);
    refused(() => decode(p.header, MLP, p.binary), /8 bytes of binary data that no input claims/);

    p = parseRequestBody(good.body.subarray(0, Number(good.headerLength)));
    refused(() => decode(p.header, MLP), /input 'x': binary_data_size is set but the request has no binary data/);

    p = parseRequestBody(good.body.subarray(0, Number(good.headerLength) + 100), good.headerLength);
    refused(() => decode(p.header, MLP, p.binary), /input 'x': binary_data_size 3136 runs past the end of the binary data \(100 bytes left\)/);

    const both = binaryBody([{ meta: { name: 'x', datatype: 'FP32', shape: [1, 784], data: range(784) }, bytes: le(new Float32Array(784)) }]);
    p = parseRequestBody(both.body, both.headerLength);
    refused(() => decode(p.header, MLP, p.binary), /input 'x': give either 'data' or parameters.binary_data_size, not both/);
  });

  test('binary outputs are asked for per request or per output', () => {
    assert.deepEqual([...decode({ ...mixedBody(), parameters: { binary_data_output: true } }, MIXED).binaryOutputs].sort(), ['count', 'flags', 'sum']);
    const some = decode({ ...mixedBody(), outputs: [{ name: 'sum', parameters: { binary_data: true } }, { name: 'count' }] }, MIXED);
    assert.deepEqual([...some.binaryOutputs], ['sum']);
    const allButOne = decode({ ...mixedBody(), parameters: { binary_data_output: true }, outputs: [{ name: 'sum', parameters: { binary_data: false } }, { name: 'flags' }] }, MIXED);
    assert.deepEqual([...allButOne.binaryOutputs].sort(), ['count', 'flags']);
    refused(() => decode({ ...mixedBody(), parameters: { binary_data_output: 'yes' } }, MIXED), /binary_data_output must be true or false/);
  });
});

describe('encoding', () => {
  const outputs: Tensor[] = [
    { name: 'sum', datatype: 'FP64', shape: [2], data: new Float64Array([1.5, -2]) },
    { name: 'flags', datatype: 'BOOL', shape: [1, 2], data: new Uint8Array([1, 0]) },
    { name: 'count', datatype: 'INT64', shape: [3], data: new BigInt64Array([5n, 2n ** 62n + 1n, -(2n ** 63n)]) },
  ];

  test('JSON response: model name and version, id, flat data, BOOL as true/false, INT64 exact', () => {
    const r = encodeInferenceResponse({ modelName: 'm', modelVersion: '3', id: 'req-1', outputs });
    assert.equal(r.headers['Content-Type'], 'application/json');
    const text = r.body.toString('utf8');
    assert.match(text, /"data":\[5,4611686018427387905,-9223372036854775808\]/);
    const body = JSON.parse(text);
    assert.deepEqual(body.outputs.slice(0, 2), [
      { name: 'sum', datatype: 'FP64', shape: [2], data: [1.5, -2] },
      { name: 'flags', datatype: 'BOOL', shape: [1, 2], data: [true, false] },
    ]);
    assert.equal(body.model_name, 'm');
    assert.equal(body.model_version, '3');
    assert.equal(body.id, 'req-1');
    assert.deepEqual(body.outputs[2].data.slice(0, 1), [5]);
    assert.equal('id' in JSON.parse(encodeInferenceResponse({ modelName: 'm', modelVersion: '3', outputs }).body.toString()), false);
  });

  test('FP32 values and non-finite numbers', () => {
    const r = encodeInferenceResponse({ modelName: 'm', modelVersion: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [4], data: new Float32Array([0.5, NaN, -Infinity, -0]) }] });
    assert.deepEqual(JSON.parse(r.body.toString()).outputs[0].data, [0.5, 'NaN', '-Infinity', -0]);
  });

  test('binary outputs: JSON header with binary_data_size, then the raw bytes in output order', () => {
    const r = encodeInferenceResponse({ modelName: 'm', modelVersion: '3', outputs, binaryOutputs: new Set(['sum', 'count']) });
    assert.equal(r.headers['Content-Type'], 'application/octet-stream');
    const { header, tensors } = splitBinaryBody(r.body, Number(r.headers['Inference-Header-Content-Length']));
    const outs = header.outputs as any[];
    assert.deepEqual(outs[0], { name: 'sum', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } });
    assert.deepEqual(outs[1].data, [true, false]);
    const sum = tensors.get('sum')!;
    assert.deepEqual([sum.readDoubleLE(0), sum.readDoubleLE(8)], [1.5, -2]);
    const count = tensors.get('count')!;
    assert.equal(count.length, 24);
    assert.equal(count.readBigInt64LE(8), 2n ** 62n + 1n);
    assert.equal(r.body.length, Number(r.headers['Inference-Header-Content-Length']) + 40);
  });
});

describe('metadata and sizes', () => {
  test('model metadata per the Open Inference Protocol', () => {
    assert.deepEqual(modelMetadata('mnist', ['2'], MLP), {
      name: 'mnist',
      versions: ['2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 784] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 10] }],
    });
    assert.deepEqual(serverMetadata('1.2.3'), { name: 'trellis', version: '1.2.3', extensions: ['binary_tensor_data'] });
  });

  test('parseByteSize', () => {
    assert.equal(parseByteSize('64mb'), 64 * 1024 * 1024);
    assert.equal(parseByteSize('512KiB'), 512 * 1024);
    assert.equal(parseByteSize('1048576'), 1048576);
    assert.equal(parseByteSize('1.5k'), 1536);
    assert.throws(() => parseByteSize('lots'), /not a size/);
    assert.throws(() => parseByteSize('0'), /at least 1 byte/);
  });
});
