// Sampled inference logging to the tracker: a real model server writes the requests it samples into a
// run of `inference-logs` (JSON lines artifact + latency metric), and the run ends FINISHED on close.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ArtifactStore } from '../../src/core/artifacts';
import { openStore } from '../../src/core/store';
import { startServingServer } from '../../src/server/serving-server';
import { INFERENCE_LOG_EXPERIMENT, INFERENCE_LOG_FILE, InferenceLog } from '../../src/services/serving/inference-log';
import { mlpModel, MLP_INPUT } from '../fixtures/onnx-models';
import { cli, ensureBuilt } from '../fixtures/processes';
import { prng } from '../support/prng';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const tmp = tempDir('trellis-inflog-');
after(() => tmp.cleanup());

test('every sampled request becomes a JSON line (input summary, outputs, latency) and a latency point', async () => {
  const store = openStore(tmp.dir);
  await registerModel(store, 'mlp', mlpModel().bytes, { alias: 'prod' });
  const server = await startServingServer({ dataDir: tmp.dir, models: ['mlp@prod'], announce: false, version: 'test', log: () => {}, logInferences: 1 });
  const replies: number[][] = [];
  for (let i = 0; i < 6; i++) {
    const data = new Array(MLP_INPUT).fill(i / 10);
    const res = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data }] }) });
    assert.equal(res.status, 200);
    replies.push(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data);
  }
  const runId = server.inferenceLogRun!;
  assert.ok(runId);
  await server.close();

  const run = store.runs.get(runId);
  assert.equal(run.info.status, 'FINISHED');
  assert.equal(run.info.experiment_id, store.experiments.getByName(INFERENCE_LOG_EXPERIMENT).experiment_id);
  assert.equal(run.data.params?.find((p) => p.key === 'sample_rate')?.value, '1');
  const file = store.artifacts.resolve(`${ArtifactStore.relativeOfUri(run.info.artifact_uri)!}/${INFERENCE_LOG_FILE}`);
  const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(records.length, 6);
  records.forEach((r, i) => {
    assert.equal(r.model, 'mlp');
    assert.equal(r.version, '1');
    assert.ok(r.latency_ms > 0);
    assert.deepEqual(r.inputs[0].shape, [1, MLP_INPUT]);
    assert.ok(Math.abs(r.inputs[0].mean - i / 10) < 1e-6, `input mean ${r.inputs[0].mean}`);
    assert.equal(r.inputs[0].head.length, 8);
    assert.deepEqual(r.outputs[0].shape, [1, 10]);
    r.outputs[0].data.forEach((v: number, k: number) => assert.ok(Math.abs(v - replies[i]![k]!) < 1e-6));
  });
  assert.equal(store.runs.metrics.history(runId, 'latency_ms', 0).length, 6);
  store.db.close();
});

test('the sample rate is honoured (seeded: 25 % of 2000 requests)', () => {
  const dir = tempDir('trellis-inflog-rate-');
  const store = openStore(dir.dir);
  try {
    const log = new InferenceLog({ store, sampleRate: 0.25, refs: ['m/1'], random: prng(7) });
    const t = { name: 'x', datatype: 'FP32' as const, shape: [1, 2], data: new Float32Array([1, 3]) };
    let sampled = 0;
    for (let i = 0; i < 2000; i++) {
      const s = log.sample({ name: 'm', version: '1' }, [t]);
      if (s) {
        sampled++;
        s.done([t]);
      }
    }
    log.close();
    // σ ≈ 19.4: ±5σ around 500.
    assert.ok(sampled > 403 && sampled < 597, `${sampled} sampled`);
    assert.equal(store.runs.metrics.history(log.runId, 'latency_ms', 0).length, sampled);
  } finally {
    store.db.close();
    dir.cleanup();
  }
});

test('trellis serve --log-inferences refuses a rate outside (0, 1] with what to give', async () => {
  ensureBuilt();
  const res = await cli(tmp.dir, 'serve', '--model', 'mlp@prod', '--log-inferences', '5');
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /--log-inferences must be a share of requests in \(0, 1\], e\.g\. 0\.01/);
});
