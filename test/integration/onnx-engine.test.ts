// The ONNX engine on real onnxruntime sessions in real worker_threads, with real models built by
// test/fixtures/onnx-models.ts: signatures, results against plain-JS references, every datatype, the
// worker pool under concurrency, the caller's event loop during a long inference, bad models and bad
// requests, a crashing worker, close(), and the engine bundled by esbuild with its bundled worker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { onnx } from 'onnx-proto';
import { TrellisError, type ErrorCode } from '../../src/core/errors';
import { roundToFloat16 } from '../../src/engines/onnx/datatypes';
import { loadOnnxModel, type OnnxEngine } from '../../src/engines/onnx/onnx-engine';
import type { Tensor, TensorData } from '../../src/engines/onnx/types';
import { prng } from '../support/prng';
import { tempDir } from '../support/platform';
import {
  encodeModel,
  fixedBatchModel,
  heavyModel,
  identityModel,
  intAttr,
  mixedTypesModel,
  mlpModel,
  node,
  twoInputModel,
  valueInfo,
  writeModel,
  type FixtureTensors,
  type ModelFixture,
} from '../fixtures/onnx-models';

const execFileAsync = promisify(execFile);
const root = join(__dirname, '..', '..');
const tmp = tempDir('trellis-onnx-');

const fixtures = {
  mlp: mlpModel(),
  softmax: mlpModel({ softmax: true, seed: 2 }),
  fixed: fixedBatchModel(),
  mixed: mixedTypesModel(),
  two: twoInputModel(),
  identity: identityModel(),
};
type Name = keyof typeof fixtures;
const paths = {} as Record<Name, string>;
const engines = {} as Record<Name, OnnxEngine>;

before(async () => {
  for (const [key, f] of Object.entries(fixtures)) paths[key as Name] = writeModel(tmp.dir, f.name, f.bytes);
  // From files, except one from bytes; the MLP with two workers (the pool tests use it).
  await Promise.all(
    (Object.keys(fixtures) as Name[]).map(async (key) => {
      const source = key === 'softmax' ? fixtures.softmax.bytes : paths[key];
      engines[key] = await loadOnnxModel(source, { workers: key === 'mlp' ? 2 : 1 });
    }),
  );
});

after(async () => {
  await Promise.all(Object.values(engines).map((e) => e.close()));
  tmp.cleanup();
});

/** The fixture's inputs as engine tensors, in signature order. */
function tensors(f: ModelFixture, inputs: FixtureTensors): Tensor[] {
  return f.signature.inputs.map((s) => ({ name: s.name, datatype: s.datatype, shape: inputs[s.name]!.shape, data: inputs[s.name]!.data }));
}

/** Copies of the inputs: the engine may detach the arrays it is given. */
function copy(inputs: FixtureTensors): FixtureTensors {
  return Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));
}

function assertClose(actual: TensorData, expected: TensorData, tolerance: number, label: string): void {
  assert.equal(actual.constructor, expected.constructor, `${label}: ${actual.constructor.name}`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  assert.ok(worst <= tolerance, `${label}: max |diff| ${worst} > ${tolerance}`);
}

/** Same class, same length, every element identical (Object.is: -0 and exact bits count). */
function assertSame(actual: TensorData, expected: TensorData, label: string): void {
  assert.equal(actual.constructor, expected.constructor, `${label}: ${actual.constructor.name}`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) assert.ok(Object.is(actual[i], expected[i]), `${label}[${i}]: ${String(actual[i])} ≠ ${String(expected[i])}`);
}

function rejectsWith(code: ErrorCode, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TrellisError, `not a TrellisError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

/** Runs the MLP fixture on `batch` rows of seed `seed` and checks the result against the reference. */
async function checkMlp(engine: OnnxEngine, f: ModelFixture, batch: number, seed: number): Promise<void> {
  const inputs = f.inputs(batch, seed);
  const expected = f.reference(inputs);
  const [y, ...rest] = await engine.infer(tensors(f, copy(inputs)));
  assert.equal(rest.length, 0);
  assert.equal(y!.name, 'y');
  assert.equal(y!.datatype, 'FP32');
  assert.deepEqual(y!.shape, [batch, 10]);
  assertClose(y!.data, expected.y!.data, 1e-5, `batch ${batch} seed ${seed}`);
}

test('each model reports its signature: names, KServe datatypes, shapes with -1 for dynamic dims', () => {
  for (const [key, f] of Object.entries(fixtures)) assert.deepEqual(engines[key as Name].signature, f.signature, key);
  assert.deepEqual(engines.mlp.signature.inputs[0]!.shape, [-1, 784]);
  assert.deepEqual(engines.fixed.signature.inputs[0]!.shape, [1, 4]);
  // The signature is the engine's: frozen, not to be edited by a caller.
  assert.throws(() => (engines.mlp.signature.inputs[0]!.shape as number[]).push(1));
});

test('MLP results equal the JS reference within 1e-5 for batch sizes 1, 7 and 64 (with and without Softmax)', async () => {
  for (const batch of [1, 7, 64]) {
    await checkMlp(engines.mlp, fixtures.mlp, batch, batch);
    await checkMlp(engines.softmax, fixtures.softmax, batch, 100 + batch);
  }
  const [p] = await engines.softmax.infer(tensors(fixtures.softmax, fixtures.softmax.inputs(3)));
  for (let r = 0; r < 3; r++) {
    const row = (p!.data as Float32Array).subarray(r * 10, r * 10 + 10);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
});

test('the fixed-batch and two-input models compute their references; outputNames selects outputs', async () => {
  const fixed = fixtures.fixed;
  const fi = fixed.inputs(1);
  const [y] = await engines.fixed.infer(tensors(fixed, copy(fi)));
  assert.deepEqual(y!.shape, [1, 3]);
  assertClose(y!.data, fixed.reference(fi).y!.data, 1e-5, 'fixed');

  const two = fixtures.two;
  const ti = two.inputs(5);
  const [sum] = await engines.two.infer(tensors(two, copy(ti)).reverse()); // inputs in any order
  assert.deepEqual(sum!.shape, [5, 3]);
  assertClose(sum!.data, two.reference(ti).sum!.data, 1e-4, 'sum');

  const mixed = fixtures.mixed;
  const mi = mixed.inputs(4);
  const expected = mixed.reference(mi);
  // A subset, in the caller's order (onnxruntime-node 1.23 itself mislabels such runs: the engine must not).
  for (const names of [['flags_out', 'i64_out'], ['i64_out'], ['f64_out', 'flags_out']]) {
    const outs = await engines.mixed.infer(tensors(mixed, copy(mi)), names);
    assert.deepEqual(outs.map((o) => o.name), names);
    for (const o of outs) assertSame(o.data, expected[o.name]!.data, o.name);
  }
});

test('every datatype round-trips exactly (FP16 rounded to half precision, INT64 beyond 2^53, -0, UTF-8 strings)', async () => {
  const f = fixtures.identity;
  const inputs = f.inputs(12);
  const expected = f.reference(inputs);
  const outs = await engines.identity.infer(tensors(f, inputs));
  assert.deepEqual(outs.map((o) => o.name), f.signature.outputs.map((s) => s.name));
  for (const out of outs) {
    const spec = f.signature.outputs.find((s) => s.name === out.name)!;
    assert.equal(out.datatype, spec.datatype, out.name);
    assert.deepEqual(out.shape, [12], out.name);
    if (out.datatype === 'BYTES') assert.deepEqual(out.data, expected[out.name]!.data);
    else assertSame(out.data, expected[out.name]!.data, out.name);
  }
  const fp16 = outs.find((o) => o.datatype === 'FP16')!.data as Float32Array;
  assert.equal(fp16[3], 0.0999755859375); // 0.1 as a half
  assert.ok(Object.is(fp16[5], -0));
  const i64 = outs.find((o) => o.datatype === 'INT64')!.data as BigInt64Array;
  assert.equal(i64[0], -(2n ** 63n));
  assert.equal(i64[1], 2n ** 63n - 1n);
});

test('FP64, INT64 and BOOL through real ops (Cast, Add, Not) equal the reference exactly', async () => {
  const f = fixtures.mixed;
  const inputs = f.inputs(33);
  const expected = f.reference(inputs);
  const outs = await engines.mixed.infer(tensors(f, copy(inputs)));
  assert.deepEqual(outs.map((o) => [o.name, o.datatype]), [['f64_out', 'FP64'], ['i64_out', 'INT64'], ['flags_out', 'BOOL']]);
  for (const out of outs) assertSame(out.data, expected[out.name]!.data, out.name);
  assert.ok((inputs.i64!.data as BigInt64Array).some((v) => v > 2n ** 53n), 'the inputs exercise INT64 beyond doubles');
});

test("FP16 from onnxruntime's own Cast matches this engine's half rounding", async () => {
  const bytes = encodeModel(
    onnx.GraphProto.create({
      name: 'cast_fp16',
      node: [node('Cast', ['x'], ['h'], [intAttr('to', onnx.TensorProto.DataType.FLOAT16)])],
      input: [valueInfo('x', 'FP32', ['n'])],
      output: [valueInfo('h', 'FP16', ['n'])],
    }),
  );
  const engine = await loadOnnxModel(bytes, { workers: 1 });
  try {
    assert.deepEqual(engine.signature.outputs, [{ name: 'h', datatype: 'FP16', shape: [-1] }]);
    const rand = prng(9);
    const x = new Float32Array(20_000).map(() => (rand() - 0.5) * 2 ** (Math.floor(rand() * 44) - 28));
    x.set([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, 65519, 65520, -0, 1e9]);
    const expected = x.map(roundToFloat16);
    const [h] = await engine.infer([{ name: 'x', datatype: 'FP32', shape: [x.length], data: x }]);
    assertSame(h!.data, expected, 'h');
  } finally {
    await engine.close();
  }
});

test('two workers serve concurrent requests: dealt to the least busy, each reply matches its own input', async () => {
  const f = fixtures.mlp;
  const before = engines.mlp.stats();
  assert.equal(before.length, 2);
  const requests = Array.from({ length: 24 }, (_, i) => {
    const batch = 1 + (i % 6);
    const inputs = f.inputs(batch, 1000 + i); // distinct inputs
    return { batch, expected: f.reference(inputs).y!.data, pending: engines.mlp.infer(tensors(f, inputs)) };
  });
  const outstanding = engines.mlp.stats().map((s) => s.outstanding);
  assert.deepEqual(outstanding, [12, 12], 'dealt evenly while all are outstanding');
  const replies = await Promise.all(requests.map((r) => r.pending));
  replies.forEach(([y], i) => {
    assert.deepEqual(y!.shape, [requests[i]!.batch, 10]);
    assertClose(y!.data, requests[i]!.expected, 1e-5, `request ${i}`);
  });
  const after = engines.mlp.stats();
  for (let w = 0; w < 2; w++) {
    assert.equal(after[w]!.completed - before[w]!.completed, 12, `worker ${w}`);
    assert.equal(after[w]!.outstanding, 0);
    assert.equal(after[w]!.threadId, before[w]!.threadId);
  }
  assert.notEqual(after[0]!.threadId, after[1]!.threadId);
});

test('input arrays that own their buffer are transferred (detached); views into larger buffers are copied', async () => {
  const f = fixtures.mlp;
  const inputs = f.inputs(2, 77);
  const expected = f.reference(inputs).y!.data;
  const own = (inputs.x!.data as Float32Array).slice();
  const big = new Float32Array(own.length + 16);
  big.set(own, 8);
  const view = big.subarray(8, 8 + own.length);
  const [a] = await engines.mlp.infer([{ name: 'x', datatype: 'FP32', shape: [2, 784], data: own }]);
  const [b] = await engines.mlp.infer([{ name: 'x', datatype: 'FP32', shape: [2, 784], data: view }]);
  assertClose(a!.data, expected, 1e-5, 'transferred');
  assertClose(b!.data, expected, 1e-5, 'copied');
  assert.equal(own.length, 0, 'the whole-buffer input went to the worker');
  assert.equal(view.length, 2 * 784, 'the view is intact');
  assert.equal(big.length, 2 * 784 + 16);
});

test("the caller's event loop keeps running while a long inference runs", async () => {
  const f = heavyModel({ width: 256, depth: 64 });
  const engine = await loadOnnxModel(f.bytes, { workers: 1 });
  try {
    // Correct on a small batch first (the JS reference is slow).
    const small = f.inputs(2);
    const [s] = await engine.infer(tensors(f, copy(small)));
    assertClose(s!.data, f.reference(small).y!.data, 1e-3, 'heavy');
    // About 2 GFLOP per 256 rows: long enough for a 1 ms timer to fire many times, on any machine,
    // if (and only if) the inference runs off this thread.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const [y] = await engine.infer(tensors(f, f.inputs(1024)));
      assert.deepEqual(y!.shape, [1024, 256]);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 5, `the timer fired ${ticks} times during the inference`);
  } finally {
    await engine.close();
  }
});

test('a corrupt or non-ONNX model fails to load with a message that says so', async () => {
  const invalid = (pattern: RegExp) => rejectsWith('INVALID_PARAMETER_VALUE', pattern);
  const truncated = fixtures.mlp.bytes.slice(0, 200);
  await assert.rejects(loadOnnxModel(truncated, { workers: 2 }), invalid(/^The model \(200 bytes\) is not a valid ONNX model: .*protobuf parsing failed/i));
  const rand = prng(3);
  const garbage = writeModel(tmp.dir, 'garbage.onnx', new Uint8Array(4096).map(() => Math.floor(rand() * 256)));
  await assert.rejects(loadOnnxModel(garbage, { workers: 2 }), invalid(/garbage\.onnx is not a valid ONNX model: .*protobuf parsing failed/i));
  const text = join(tmp.dir, 'model.onnx');
  writeFileSync(text, 'this is a text file, not a model\n');
  await assert.rejects(loadOnnxModel(text, { workers: 1 }), invalid(new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a valid ONNX model: `)));
  const json = writeModel(tmp.dir, 'model.json', new TextEncoder().encode('{"model": "mlp"}'));
  await assert.rejects(loadOnnxModel(json, { workers: 1 }), invalid(/model\.json is not a valid ONNX model/));
  const empty = writeModel(tmp.dir, 'empty.onnx', new Uint8Array(0));
  await assert.rejects(loadOnnxModel(empty, { workers: 1 }), invalid(/empty\.onnx is not a valid ONNX model: the file is empty/));
  await assert.rejects(loadOnnxModel(new Uint8Array(0), { workers: 1 }), invalid(/not a valid ONNX model/));
  await assert.rejects(loadOnnxModel(join(tmp.dir, 'missing.onnx'), { workers: 1 }), rejectsWith('RESOURCE_DOES_NOT_EXIST', /missing\.onnx does not exist/));
  const folder = join(tmp.dir, 'folder.onnx');
  mkdirSync(folder);
  await assert.rejects(loadOnnxModel(folder, { workers: 1 }), invalid(/folder\.onnx is not a file/));
});

test('a well-formed model onnxruntime cannot run, or one with types the engine does not serve, is refused', async () => {
  const unknownOp = encodeModel(
    onnx.GraphProto.create({ name: 'u', node: [node('NoSuchOp', ['x'], ['y'])], input: [valueInfo('x', 'FP32', [2])], output: [valueInfo('y', 'FP32', [2])] }),
  );
  await assert.rejects(loadOnnxModel(unknownOp, { workers: 1 }), rejectsWith('INVALID_PARAMETER_VALUE', /^The model \(\d+ bytes\) is not a valid ONNX model: .*No Op registered for NoSuchOp/));
  const dangling = encodeModel(
    onnx.GraphProto.create({ name: 'd', node: [node('Add', ['x', 'zz'], ['y'])], input: [valueInfo('x', 'FP32', [2])], output: [valueInfo('y', 'FP32', [2])] }),
  );
  await assert.rejects(loadOnnxModel(dangling, { workers: 1 }), rejectsWith('INVALID_PARAMETER_VALUE', /is not a valid ONNX model: .*'zz'/));
  const u16 = (name: string) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.UINT16, shape: { dim: [{ dimValue: 2 }] } } } });
  const u16Model = encodeModel(onnx.GraphProto.create({ name: 'u16', node: [node('Identity', ['u'], ['v'])], input: [u16('u')], output: [u16('v')] }));
  await assert.rejects(
    loadOnnxModel(u16Model, { workers: 1 }),
    rejectsWith('INVALID_PARAMETER_VALUE', /cannot be served: u has the unsupported tensor type "uint16"/),
  );
  for (const options of [{ workers: 0 }, { workers: 1.5 }, { workers: 1000 }, { workers: 1, intraOpThreads: 0 }]) {
    await assert.rejects(loadOnnxModel(paths.two, options), rejectsWith('INVALID_PARAMETER_VALUE', /workers|intraOpThreads/), JSON.stringify(options));
  }
});

test('bad requests passed straight to the engine reject with a clear error, and the engine keeps serving', async () => {
  const f = fixtures.mlp;
  const x = (shape: number[], data: TensorData = new Float32Array(shape.reduce((a, b) => a * b, 1))): Tensor => ({ name: 'x', datatype: 'FP32', shape, data });
  const invalid = (pattern: RegExp) => rejectsWith('INVALID_PARAMETER_VALUE', pattern);
  const mlp = engines.mlp;
  await assert.rejects(mlp.infer([x([2, 783])]), invalid(/Input x has shape \[2, 783\] but the model expects \[-1, 784\]/));
  await assert.rejects(mlp.infer([x([784])]), invalid(/Input x has shape \[784\] but the model expects \[-1, 784\]/));
  await assert.rejects(mlp.infer([{ ...x([1, 784]), datatype: 'FP64', data: new Float64Array(784) }]), invalid(/Input x has datatype FP64 but the model expects FP32/));
  await assert.rejects(mlp.infer([x([1, 784], new Float64Array(784))]), invalid(/Input x \(FP32\) needs its data as a Float32Array, not Float64Array/));
  await assert.rejects(mlp.infer([x([1, 784], Array(784).fill(0) as unknown as TensorData)]), invalid(/needs its data as a Float32Array, not Array/));
  await assert.rejects(mlp.infer([x([2, 784], new Float32Array(784))]), invalid(/shape \[2, 784\] \(1568 elements\) but 784 values/));
  await assert.rejects(mlp.infer([x([-1, 784], new Float32Array(784))]), invalid(/invalid shape \[-1,784\]/));
  await assert.rejects(mlp.infer([x([1.5, 784], new Float32Array(784))]), invalid(/invalid shape \[1.5,784\]/));
  await assert.rejects(mlp.infer([{ ...x([1, 784]), datatype: 'FLOAT' as 'FP32' }]), invalid(/unknown datatype "FLOAT"/));
  await assert.rejects(mlp.infer([{ ...x([1, 784]), name: 'input' }]), invalid(/Unknown input "input"; the model's inputs are x/));
  await assert.rejects(mlp.infer([x([1, 784]), x([1, 784])]), invalid(/Input x is given more than once/));
  await assert.rejects(mlp.infer([]), invalid(/Missing input x/));
  await assert.rejects(mlp.infer([x([1, 784])], ['logits']), invalid(/Unknown output "logits"; the model's outputs are y/));
  await assert.rejects(engines.fixed.infer([x([2, 4])]), invalid(/Input x has shape \[2, 4\] but the model expects \[1, 4\]/));
  await assert.rejects(engines.two.infer([{ name: 'a', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) }]), invalid(/Missing input b/));
  // Valid against the signature, refused by onnxruntime itself (a + b with batch 2 and 3 cannot broadcast).
  await assert.rejects(
    engines.two.infer([
      { name: 'a', datatype: 'FP32', shape: [2, 3], data: new Float32Array(6) },
      { name: 'b', datatype: 'FP32', shape: [3, 3], data: new Float32Array(9) },
    ]),
    invalid(/^Inference failed: .+/),
  );
  // Nothing crashed: same threads, still correct.
  await checkMlp(mlp, f, 3, 5);
  const ti = fixtures.two.inputs(2);
  const [sum] = await engines.two.infer(tensors(fixtures.two, copy(ti)));
  assertClose(sum!.data, fixtures.two.reference(ti).sum!.data, 1e-4, 'sum');
  for (const e of [mlp, engines.two]) assert.ok(e.stats().every((s) => s.restarts === 0 && s.state === 'ready'));
});

test('a worker that crashes rejects its outstanding requests and is replaced', async () => {
  const f = fixtures.mlp;
  const engine = await loadOnnxModel(paths.mlp, { workers: 1 });
  try {
    const [first] = engine.stats();
    // Several long requests queue up on the only worker; the crash comes while they are outstanding.
    const requests = [1, 2, 3].map((seed) => tensors(f, f.inputs(2048, seed))); // made first: all are posted at once
    const pending = requests.map((inputs) => engine.infer(inputs));
    await engine.simulateWorkerCrash(0);
    const settled = await Promise.allSettled(pending);
    const last = settled[2]!;
    assert.equal(last.status, 'rejected', 'the last request was still queued when the worker died');
    rejectsWith('INTERNAL_ERROR', /inference worker stopped unexpectedly \(simulated worker crash\); the request was not completed/)(last.reason);
    for (const s of settled) if (s.status === 'rejected') assert.equal((s.reason as TrellisError).code, 'INTERNAL_ERROR');
    // A new worker took its place and serves correctly.
    await checkMlp(engine, f, 4, 9);
    const [now] = engine.stats();
    assert.equal(now!.restarts, 1);
    assert.equal(now!.state, 'ready');
    assert.notEqual(now!.threadId, first!.threadId);
  } finally {
    await engine.close();
  }
});

test('close() rejects outstanding requests, refuses new ones and ends the workers', async () => {
  const f = fixtures.mlp;
  const engine = await loadOnnxModel(fixtures.mlp.bytes, { workers: 2 });
  const pending = assert.rejects(engine.infer(tensors(f, f.inputs(2048))), rejectsWith('INVALID_STATE', /closed before the request completed/));
  await engine.close();
  await pending;
  await assert.rejects(engine.infer(tensors(f, f.inputs(1))), rejectsWith('INVALID_STATE', /engine is closed/));
  assert.ok(engine.stats().every((s) => s.state === 'dead'));
  await engine.close(); // again: no-op
});

test('after close() the process can exit by itself (child process, no process.exit)', async () => {
  const script = join(tmp.dir, 'exit-check.ts');
  writeFileSync(
    script,
    `import { loadOnnxModel } from ${JSON.stringify(join(root, 'src/engines/onnx/onnx-engine.ts'))};
import { twoInputModel } from ${JSON.stringify(join(root, 'test/fixtures/onnx-models.ts'))};
(async () => {
  const f = twoInputModel();
  const engine = await loadOnnxModel(f.bytes, { workers: 2 });
  const [sum] = await engine.infer([
    { name: 'a', datatype: 'FP32', shape: [1, 3], data: new Float32Array([1, 2, 3]) },
    { name: 'b', datatype: 'FP32', shape: [1, 3], data: new Float32Array([10, 20, 30]) },
  ]);
  await engine.close();
  console.log(JSON.stringify(Array.from(sum!.data as Float32Array)));
})();
`,
  );
  // A process that did not end its workers would hang here until the timeout kills it.
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], { cwd: root, timeout: 30_000 });
  assert.deepEqual(JSON.parse(stdout), [11, 22, 33]);
});

test('bundled by esbuild, the engine starts its bundled worker from next to it (as in dist/)', async () => {
  const dir = join(tmp.dir, 'bundle');
  const common: esbuild.BuildOptions = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'silent', external: ['onnxruntime-node'] };
  await esbuild.build({
    ...common,
    stdin: {
      contents: `import { loadOnnxModel } from './src/engines/onnx/onnx-engine';
(async () => {
  const engine = await loadOnnxModel(process.argv[2], { workers: 2 });
  const x = new Float32Array(JSON.parse(process.argv[3]));
  const out = await engine.infer([{ name: 'x', datatype: 'FP32', shape: [1, 4], data: x }]);
  await engine.close();
  console.log(JSON.stringify({ signature: engine.signature, y: Array.from(out[0].data) }));
})();`,
      resolveDir: root,
      loader: 'ts',
    },
    outfile: join(dir, 'cli.js'),
  });
  await esbuild.build({ ...common, entryPoints: [join(root, 'src/engines/onnx/onnx-worker.ts')], outfile: join(dir, 'onnx-worker.js') });
  const f = fixtures.fixed;
  const inputs = f.inputs(1);
  // Plain node, no tsx; onnxruntime-node is external, found through NODE_PATH as dist/ finds node_modules.
  const { stdout } = await execFileAsync(process.execPath, [join(dir, 'cli.js'), paths.fixed, JSON.stringify(Array.from(inputs.x!.data as Float32Array))], {
    cwd: dir,
    env: { ...process.env, NODE_PATH: join(root, 'node_modules') },
    timeout: 30_000,
  });
  const result = JSON.parse(stdout) as { signature: unknown; y: number[] };
  assert.deepEqual(result.signature, f.signature);
  assertClose(new Float32Array(result.y), f.reference(inputs).y!.data, 1e-5, 'bundled');
});
