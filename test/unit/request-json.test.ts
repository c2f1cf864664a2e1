// The fast request reader against JSON.parse, the reference: the same structure, and FP32 data bit for bit
// the same float32 values, on random and adversarial numbers (values at float32 rounding boundaries, 17+
// digits, exponents, subnormals, negative zero); and undefined (fall back) on everything outside its subset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NumberRun, readRequestJson } from '../../src/services/serving/request-json';
import { decodeInferenceRequest, parseRequestBody } from '../../src/services/serving/kserve-codec';
import { prng } from '../support/prng';

const rand = prng(42);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 after `f` (toward +∞ for positive f). */
function nextFloat(f: number): number {
  f32[0] = f;
  u32[0] = u32[0]! + 1;
  return f32[0]!;
}

function numbersOf(texts: string[]): NumberRun {
  const body = Buffer.from(`{"data": [${texts.join(', ')}]}`);
  const read = readRequestJson(body) as { data: NumberRun };
  assert.ok(read.data instanceof NumberRun, `fast path for ${body.toString().slice(0, 80)}`);
  return read.data;
}

function assertSameFloat32(texts: string[]): void {
  const fast = numbersOf(texts).toFloat32();
  const reference = Float32Array.from(JSON.parse(`[${texts.join(',')}]`) as number[]);
  for (let i = 0; i < texts.length; i++) {
    assert.ok(Object.is(fast[i], reference[i]), `${texts[i]}: fast ${fast[i]} vs JSON.parse ${reference[i]}`);
  }
}

test('FP32 data is bit for bit what JSON.parse + Float32Array gives, on 200,000 numbers of every kind', () => {
  const texts: string[] = [];
  for (let i = 0; i < 40_000; i++) {
    // float32 values as clients print them (17 significant digits), doubles, short decimals, integers.
    texts.push(String(Math.fround(rand() * 2 - 1)));
    texts.push(String((rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20)));
    texts.push((rand() * 1000).toFixed(Math.floor(rand() * 8)));
    texts.push(String(Math.floor(rand() * 2 ** 40) - 2 ** 39));
    // At and next to float32 rounding boundaries: the midpoint between two floats, and a hair either side.
    const f = Math.fround(rand() * 10 ** Math.floor(rand() * 12 - 6));
    const mid = (f + nextFloat(f)) / 2;
    const pick = Math.floor(rand() * 3);
    texts.push((pick === 0 ? mid : pick === 1 ? mid * (1 + 2 ** -52) : mid * (1 - 2 ** -52)).toPrecision(17 + Math.floor(rand() * 4)));
  }
  texts.push('0', '-0', '0.0', '1e-45', '1.4e-45', '3.4028234663852886e38', '1E+2', '-2.5e-3', '123456789012345678901234567890', '0.000000000000000000000000000001');
  for (let i = 0; i < texts.length; i += 5000) assertSameFloat32(texts.slice(i, i + 5000));
});

test('the structure is what JSON.parse gives; nested data is flattened with its dimensions', () => {
  const text = ' {"id" : "a\u00e9", "inputs":[{"name":"x","shape":[2, 3],"datatype":"FP32","parameters":{"k":true,"n":null},"data":[[1,2,3],[4,5.5,-6e2]]}], "outputs":[{"name":"y"}] } ';
  const read = readRequestJson(Buffer.from(text)) as { inputs: { data: NumberRun }[] };
  const run = read.inputs[0]!.data;
  assert.deepEqual(run.dims, [2, 3]);
  assert.deepEqual(run.numbers(), [1, 2, 3, 4, 5.5, -600]);
  const reference = JSON.parse(text) as { inputs: { data: unknown }[] };
  reference.inputs[0]!.data = run;
  assert.deepEqual(read, reference);
});

test('anything outside the subset falls back (undefined), so JSON.parse gives the result or the error', () => {
  for (const text of [
    '{"name": "a\\"b"}', // escapes
    '{"data": [1, NaN]}', // Python's bare NaN
    '{"data": [1, "2"]}', // strings in data
    '{"data": [[1, 2], [3]]}', // ragged
    '{"data": [[[1]], [2]]}', // numbers at two depths
    '{"data": [1, [2]]}',
    '{"data": [01]}', // leading zero
    '{"data": [1.]}',
    '{"data": [-]}',
    '{"data": [1e]}',
    '{"data": [true]}',
    '{"a": 1,}',
    '{"a": 1} x',
    '{"__proto__": {"polluted": 1}}',
    '',
  ]) {
    assert.equal(readRequestJson(Buffer.from(text)), undefined, text);
  }
});

test('through the codec: fast and JSON.parse paths give the same tensors and the same errors', () => {
  const signature = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 3] }, { name: 'i', datatype: 'INT64' as const, shape: [-1] }], outputs: [] };
  const body = { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [0.1, 0.2, 0.3, 1e-8, 3.5, -7] }, { name: 'i', shape: [2], datatype: 'INT64', data: [5, -9] }] };
  const fast = decodeInferenceRequest(parseRequestBody(Buffer.from(JSON.stringify(body))).header, signature);
  const slow = decodeInferenceRequest(body, signature);
  assert.deepEqual(fast, slow);
  const bad = (data: unknown, shape: number[]) => {
    const req = { inputs: [{ name: 'x', shape, datatype: 'FP32', data }, body.inputs[1]] };
    const message = (f: () => unknown) => assert.throws(f, (e: Error) => (messages.push(e.message), true));
    const messages: string[] = [];
    message(() => decodeInferenceRequest(parseRequestBody(Buffer.from(JSON.stringify(req))).header, signature));
    message(() => decodeInferenceRequest(req, signature));
    assert.equal(messages[0], messages[1]);
    return messages[0]!;
  };
  assert.match(bad([1, 2], [2, 3]), /needs 6 values, got 2/);
  assert.match(bad([[1, 2], [3, 4], [5, 6]], [2, 3]), /nested data has dimensions \[3,2\] but the shape is \[2,3\]/);
  assert.match(bad([1, 2, 3, 4, 5, 4e38], [2, 3]), /FP32 numbers \(at most/);
});
