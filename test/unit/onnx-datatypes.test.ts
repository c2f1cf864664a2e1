// The ONNX engine's datatype layer: onnxruntime ⇄ KServe v2 names, data representations, signatures
// from onnxruntime metadata, transfer lists, and FP16 conversion checked over all 65536 half values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrellisError } from '../../src/core/errors';
import {
  DATATYPE_TO_ORT,
  DATATYPES,
  ORT_TO_DATATYPE,
  datatypeFromOrt,
  describeData,
  elementCount,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fromFloat16Bits,
  isDataOf,
  ortTypeOf,
  roundToFloat16,
  toFloat16Bits,
  toSpec,
  transferables,
  typedArrayFor,
} from '../../src/engines/onnx/datatypes';
import type { Datatype } from '../../src/engines/onnx/types';

const invalid = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof TrellisError, String(err));
  assert.equal(err.code, 'INVALID_PARAMETER_VALUE');
  assert.match(err.message, pattern);
  return true;
};

test('the ten onnxruntime tensor types map one to one onto KServe datatypes', () => {
  const expected: Record<string, Datatype> = {
    float32: 'FP32', float64: 'FP64', float16: 'FP16', int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', bool: 'BOOL', string: 'BYTES',
  };
  assert.deepEqual({ ...ORT_TO_DATATYPE }, expected);
  for (const [ort, dt] of Object.entries(expected)) {
    assert.equal(DATATYPE_TO_ORT[dt], ort);
    assert.equal(datatypeFromOrt(ort), dt);
    assert.equal(ortTypeOf(dt), ort);
  }
  assert.deepEqual([...DATATYPES].sort(), Object.values(expected).sort());
});

test('types the engine does not serve are refused by name', () => {
  for (const t of ['uint16', 'uint32', 'uint64', 'int4', 'FP32', '']) assert.throws(() => datatypeFromOrt(t), invalid(new RegExp(`Unsupported tensor type "${t}"`)));
  assert.throws(() => ortTypeOf('UINT16' as Datatype), invalid(/Unknown datatype "UINT16"/));
  assert.throws(() => typedArrayFor('FP8' as Datatype), invalid(/Unknown datatype "FP8"/));
});

test('each datatype has its typed array; BYTES has none', () => {
  assert.equal(typedArrayFor('FP32'), Float32Array);
  assert.equal(typedArrayFor('FP64'), Float64Array);
  assert.equal(typedArrayFor('FP16'), Float32Array); // values, not half bits
  assert.equal(typedArrayFor('INT8'), Int8Array);
  assert.equal(typedArrayFor('INT16'), Int16Array);
  assert.equal(typedArrayFor('INT32'), Int32Array);
  assert.equal(typedArrayFor('INT64'), BigInt64Array);
  assert.equal(typedArrayFor('UINT8'), Uint8Array);
  assert.equal(typedArrayFor('BOOL'), Uint8Array);
  assert.equal(typedArrayFor('BYTES'), null);
});

test('isDataOf accepts exactly the representation of each datatype', () => {
  assert.ok(isDataOf('FP32', new Float32Array(2)));
  assert.ok(!isDataOf('FP32', new Float64Array(2)));
  assert.ok(!isDataOf('FP32', [1, 2]));
  assert.ok(isDataOf('FP16', new Float32Array(2)));
  assert.ok(!isDataOf('FP16', new Uint16Array(2)));
  assert.ok(isDataOf('INT64', new BigInt64Array(1)));
  assert.ok(!isDataOf('INT64', new BigUint64Array(1)));
  assert.ok(!isDataOf('INT64', new Int32Array(1)));
  assert.ok(isDataOf('UINT8', Buffer.from([1, 2])), 'a Buffer is a Uint8Array');
  assert.ok(isDataOf('BOOL', new Uint8Array([0, 1])));
  assert.ok(!isDataOf('BOOL', new Int8Array(1)));
  assert.ok(!isDataOf('UINT8', new Uint8ClampedArray(1)));
  assert.ok(isDataOf('BYTES', ['a', '']));
  assert.ok(isDataOf('BYTES', []));
  assert.ok(!isDataOf('BYTES', ['a', 1]));
  assert.ok(!isDataOf('INT32', null));
  assert.equal(describeData(new Float64Array(1)), 'Float64Array');
  assert.equal(describeData(Buffer.alloc(1)), 'Uint8Array');
  assert.equal(describeData(['x']), 'string[]');
  assert.equal(describeData([1]), 'Array');
  assert.equal(describeData(undefined), 'undefined');
});

test('toSpec: symbolic, unnamed and unknown dimensions become -1; fixed ones stay', () => {
  assert.deepEqual(toSpec({ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 784] }), { name: 'x', datatype: 'FP32', shape: [-1, 784] });
  assert.deepEqual(toSpec({ name: 'y', isTensor: true, type: 'int64', shape: ['', 3, 'seq'] }), { name: 'y', datatype: 'INT64', shape: [-1, 3, -1] });
  assert.deepEqual(toSpec({ name: 'z', isTensor: true, type: 'bool', shape: [1, 4] }), { name: 'z', datatype: 'BOOL', shape: [1, 4] });
  assert.deepEqual(toSpec({ name: 's', isTensor: true, type: 'string', shape: [] }), { name: 's', datatype: 'BYTES', shape: [] });
  assert.deepEqual(toSpec({ name: 'h', isTensor: true, type: 'float16', shape: [-1 as number, 0] }), { name: 'h', datatype: 'FP16', shape: [-1, 0] });
});

test('toSpec refuses non-tensors and unsupported element types, naming the value', () => {
  assert.throws(() => toSpec({ name: 'seq', isTensor: false }), invalid(/seq is not a tensor/));
  assert.throws(() => toSpec({ name: 'u', isTensor: true, type: 'uint16', shape: [2] }), invalid(/u has the unsupported tensor type "uint16"/));
});

test('elementCount', () => {
  assert.equal(elementCount([]), 1);
  assert.equal(elementCount([7, 784]), 7 * 784);
  assert.equal(elementCount([3, 0, 2]), 0);
});

test('transferables: only whole, unshared ArrayBuffers, each once', () => {
  const whole = new Float32Array(4);
  const view = new Float32Array(new ArrayBuffer(64), 16, 4);
  const prefix = new Float32Array(new ArrayBuffer(64), 0, 4);
  const pooled = Buffer.from('abc'); // a slice of node's shared pool
  const shared = new Int32Array(new SharedArrayBuffer(16));
  const sameBuffer = new Uint8Array(whole.buffer);
  const empty = new Float32Array(0);
  const list = transferables([whole, view, prefix, pooled, shared, sameBuffer, ['s'], empty]);
  assert.deepEqual(list, [whole.buffer]);
});

test('FP16: known encodings, rounding to nearest even, overflow, subnormals, signs and NaN', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest half
    [65519.99, 0x7bff], // still rounds down
    [65520, 0x7c00], // rounds up to Infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
    [3 * 2 ** -26, 0x0001], // 0.75 of the smallest subnormal: rounds up
    [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even (2)
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: ties to even
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: ties to even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway
    [0.1, 0x2e66],
  ];
  for (const [value, bits] of cases) assert.equal(toFloat16Bits(value), bits, `${value} → 0x${bits.toString(16)}`);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  assert.equal(toFloat16Bits(NaN) & 0x7c00, 0x7c00);
  assert.equal(roundToFloat16(0.1), 0.0999755859375);
  assert.ok(Object.is(roundToFloat16(-0), -0));
  assert.equal(fromFloat16Bits(0x7c00), Infinity);
  assert.equal(fromFloat16Bits(0x03ff), 1023 * 2 ** -24);
});

test('FP16: every one of the 65536 bit patterns decodes and re-encodes to itself (NaNs stay NaN)', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const values = float16BitsToFloat32(all);
  const back = float32ToFloat16Bits(values);
  for (let bits = 0; bits < 65536; bits++) {
    const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
    if (isNaN) assert.ok(Number.isNaN(values[bits]!), `0x${bits.toString(16)}`);
    else assert.equal(back[bits], bits, `0x${bits.toString(16)} → ${values[bits]}`);
  }
});

test('FP16: rounding a float32 picks the nearest half (checked against neighbours)', () => {
  // For many values between halves, the chosen half is at least as near as either neighbour.
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 20000; i++) {
    const v = Math.fround((rand() - 0.5) * 2 ** (Math.floor(rand() * 40) - 24));
    const bits = toFloat16Bits(v);
    const h = fromFloat16Bits(bits);
    const d = Math.abs(h - v);
    for (const nb of [bits - 1, bits + 1]) {
      if ((nb & 0x7fff) >= 0x7c00 || nb < 0 || (nb & 0x8000) !== (bits & 0x8000)) continue;
      assert.ok(d <= Math.abs(fromFloat16Bits(nb) - v), `${v}: 0x${bits.toString(16)}`);
    }
  }
});
