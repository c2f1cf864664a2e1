// Dynamic batching on the real ONNX engine (onnxruntime in worker threads) with the real MLP fixture:
// concurrent single-row requests are batched into fewer engine runs and each gets the output the plain-JS
// reference computes for its own input; and through the serving server, a fixed-batch model is served
// unbatched with one note at load.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore } from '../../src/core/store';
import { loadOnnxModel } from '../../src/engines/onnx/onnx-engine';
import type { InferenceEngine, Tensor } from '../../src/engines/onnx/types';
import { DynamicBatcher } from '../../src/services/serving/batcher';
import { startServingServer } from '../../src/server/serving-server';
import { fixedBatchModel, mlpModel, MLP_INPUT, MLP_OUTPUT, writeModel } from '../fixtures/onnx-models';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const tmp = tempDir('trellis-batching-');
after(() => tmp.cleanup());

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-4, `${label}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test('64 concurrent single-row requests: fewer engine runs, each reply computed from its own input', async () => {
  const mlp = mlpModel();
  const engine = await loadOnnxModel(writeModel(tmp.dir, mlp.name, mlp.bytes), { workers: 2 });
  const runs: number[] = [];
  // The real engine, with its runs counted.
  const counted: InferenceEngine = {
    signature: engine.signature,
    infer: (inputs, names) => {
      runs.push(inputs[0]!.shape[0]!);
      return engine.infer(inputs, names);
    },
    close: () => engine.close(),
  };
  try {
    assert.equal(DynamicBatcher.supports(engine.signature), true);
    const batcher = new DynamicBatcher(counted, { maxBatchSize: 16, maxQueueDelayUs: 2_000, maxQueueSize: 128, timeoutMs: 30_000, maxConcurrentBatches: 2 });
    const requests = Array.from({ length: 64 }, (_, i) => mlp.inputs(1, 1000 + i));
    const replies = await Promise.all(requests.map((r) => batcher.submit([{ name: 'x', datatype: 'FP32', shape: r.x!.shape, data: r.x!.data }])));
    replies.forEach((out: Tensor[], i) => {
      assert.equal(out.length, 1);
      assert.equal(out[0]!.name, 'y');
      assert.deepEqual(out[0]!.shape, [1, MLP_OUTPUT]);
      assertClose(out[0]!.data as Float32Array, mlp.reference(requests[i]!).y!.data as Float32Array, `request ${i}`);
    });
    assert.ok(runs.length < 64, `batches formed: ${runs.length} engine runs for 64 requests`);
    assert.equal(runs.reduce((a, b) => a + b, 0), 64);
    assert.ok(runs.every((n) => n <= 16), `no run above maxBatchSize: ${runs.join(',')}`);
    const s = batcher.stats();
    assert.equal(s.batches, runs.length);
    assert.equal(s.requests, 64);
    assert.equal(s.queueDepth, 0);
    await batcher.close();
  } finally {
    await engine.close();
  }
});

test('the serving server batches a dynamic-batch model and turns batching off, once, for a fixed one', async () => {
  const dir = join(tmp.dir, 'serve');
  const store = openStore(dir);
  const mlp = mlpModel();
  const fixed = fixedBatchModel();
  await registerModel(store, 'mlp', mlp.bytes);
  await registerModel(store, 'fixed', fixed.bytes);
  store.close();
  const lines: string[] = [];
  const server = await startServingServer({
    dataDir: dir,
    models: ['mlp/1', 'fixed/1', 'fixed'],
    workers: 1,
    announce: false,
    version: 'test',
    batching: { maxBatchSize: 8, maxQueueDelayUs: 2_000 },
    log: (line) => lines.push(line),
  });
  try {
    const batcher = server.modelServer.get('mlp', '1').pool.replicas[0]!.batcher;
    assert.ok(batcher, 'the MLP is batched');
    assert.equal(server.modelServer.get('fixed', '1').pool.replicas[0]!.batcher, undefined);
    assert.deepEqual(
      lines.filter((l) => l.includes('batching off')),
      ['batching off for fixed version 1: batch dimension is fixed'],
    );
    const inputs = Array.from({ length: 12 }, (_, i) => mlp.inputs(1, 50 + i));
    const replies = await Promise.all(
      inputs.map(async (x) => {
        const res = await fetch(`${server.url}/v2/models/mlp/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data: [...(x.x!.data as Float32Array)] }] }),
        });
        assert.equal(res.status, 200);
        return (await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
      }),
    );
    replies.forEach((r, i) => {
      assert.deepEqual(r.outputs[0]!.shape, [1, MLP_OUTPUT]);
      assertClose(r.outputs[0]!.data, mlp.reference(inputs[i]!).y!.data as Float32Array, `http request ${i}`);
    });
    const stats = batcher.stats();
    assert.equal(stats.requests, 12);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    // Every engine run is one observation of the batch-size histogram, and its rows add up to the requests.
    assert.match(metrics, new RegExp(`trellis_batch_size_count\\{model="mlp",version="1"\\} ${stats.batches}\n`));
    assert.match(metrics, /trellis_batch_size_sum\{model="mlp",version="1"\} 12\n/);
    assert.match(metrics, /trellis_inference_queue_seconds_count\{model="mlp",version="1"\} 12\n/);
  } finally {
    await server.close();
  }
});
