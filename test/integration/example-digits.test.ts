// examples/digits end to end: real PyTorch training in the real training image (built locally by
// scripts/build-training-image.sh, no registry) on the real Docker engine, started by the built CLI's
// `trellis run` against a real platform server process; then the run's status, params, per-epoch metrics
// and the ONNX model it logged, loaded and run in onnxruntime-node.
// The image build takes about 2.5 minutes the first time on a machine (CI runs .ci/build-images before
// the tests); afterwards the script finds the image and returns at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOnnxModel } from '../../src/engines/onnx/onnx-engine';
import { testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { CLI, REPO, ensureBuilt, runProcess, startServerProcess, type ServerProcess } from '../fixtures/processes';

const IMAGE = 'trellis-examples/pytorch:bookworm';
const EXAMPLE_DIR = join(REPO, 'examples', 'digits');
const EPOCHS = 6;
const LR = '0.01';

describe('examples/digits through trellis run', () => {
  const { dir, cleanup } = tempDir('trellis-digits-');
  const dataDir = join(dir, 'data');
  let server: ServerProcess | undefined;
  let runId = '';
  let experimentId = '';
  let output = '';

  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${server!.info.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${server!.info.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${method} ${path}: ${text}`);
    return JSON.parse(text);
  };

  before(async () => {
    ensureBuilt();
    const { host } = await testDockerEngine();
    const built = await runProcess('bash', [join(REPO, 'scripts', 'build-training-image.sh')], {
      env: { ...process.env, DOCKER_HOST: host },
      timeoutMs: 15 * 60_000,
    });
    assert.equal(built.code, 0, `scripts/build-training-image.sh failed:\n${built.stdout}\n${built.stderr}`);
    server = await startServerProcess(dataDir);

    // Only the arguments choose the platform: no TRELLIS_* variable from the caller's shell.
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host };
    delete env.TRELLIS_URL;
    delete env.TRELLIS_TOKEN;
    delete env.TRELLIS_DATA_DIR;
    const run = await runProcess(
      process.execPath,
      [CLI, '-d', dataDir, 'run', '--experiment', 'digits', '--image', IMAGE, '--param', `lr=${LR}`, '--param', `epochs=${EPOCHS}`,
        '--', 'python3', 'train.py', '--lr', '{{lr}}', '--epochs', '{{epochs}}'],
      { cwd: EXAMPLE_DIR, env, timeoutMs: 5 * 60_000 },
    );
    output = run.stdout + run.stderr;
    assert.equal(run.code, 0, `trellis run exited ${run.code}:\n${output}\nserver:\n${server.stderr()}`);

    experimentId = (await api('GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=digits')).experiment.experiment_id;
    const { runs } = await api('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [experimentId] });
    assert.equal(runs?.length, 1, `one run in experiment digits, got ${JSON.stringify(runs)}`);
    runId = runs[0].info.run_id;
  });

  after(async () => {
    await server?.stop('SIGTERM');
    cleanup();
  });

  test('the container ran to the end with its output streamed to the caller, and the run is FINISHED', async () => {
    assert.match(output, new RegExp(`epoch ${EPOCHS}/${EPOCHS}: train_loss [\\d.]+ test_accuracy [\\d.]+`));
    assert.match(output, /logged artifact model\/model\.onnx/);
    const { run } = await api('GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`);
    assert.equal(run.info.status, 'FINISHED', `run ${JSON.stringify(run.info)}, tags ${JSON.stringify(run.data.tags)}`);
    const log = await fetch(`${server!.info.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/logs/stdout.log`, {
      headers: { authorization: `Bearer ${server!.info.token}` },
    });
    assert.equal(log.status, 200, 'the container output is kept as the artifact logs/stdout.log');
    assert.match(await log.text(), new RegExp(`epoch ${EPOCHS}/${EPOCHS}: `));
  });

  test('params: those of trellis run and those the script logged, the same strings', async () => {
    const { run } = await api('GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`);
    const params = Object.fromEntries((run.data.params ?? []).map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.equal(params.lr, LR);
    assert.equal(params.epochs, String(EPOCHS));
    assert.equal(params.hidden, '64');
  });

  test('test_accuracy and train_loss have one point per epoch; the model learned (last accuracy > 0.8)', async () => {
    for (const key of ['test_accuracy', 'train_loss']) {
      const { metrics } = await api('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=${key}`);
      const steps = metrics.map((m: { step: number }) => Number(m.step)).sort((a: number, b: number) => a - b);
      assert.deepEqual(steps, Array.from({ length: EPOCHS }, (_, i) => i + 1), `${key} steps`);
      if (key === 'test_accuracy') {
        const last = metrics.find((m: { step: number }) => Number(m.step) === EPOCHS).value;
        assert.ok(last > 0.8 && last <= 1, `last test_accuracy ${last}`);
      }
    }
  });

  test('model/model.onnx loads in onnxruntime with a dynamic batch and gives 10 logits per row for a batch of 3', async () => {
    const { files } = await api('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${experimentId}/${runId}/artifacts/model`);
    assert.ok(files?.some((f: { path: string }) => f.path.endsWith('model.onnx')), `artifacts under model/: ${JSON.stringify(files)}`);
    const res = await fetch(`${server!.info.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/model.onnx`, {
      headers: { authorization: `Bearer ${server!.info.token}` },
    });
    assert.equal(res.status, 200);
    const modelPath = join(dir, 'model.onnx');
    writeFileSync(modelPath, Buffer.from(await res.arrayBuffer()));

    const engine = await loadOnnxModel(modelPath, { workers: 1 });
    try {
      assert.deepEqual(engine.signature.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }]);
      assert.deepEqual(engine.signature.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }]);
      const batch = 3;
      const data = new Float32Array(batch * 64).map((_, i) => ((i * 7) % 17) / 16);
      const [logits] = await engine.infer([{ name: 'input', datatype: 'FP32', shape: [batch, 64], data }]);
      assert.deepEqual(logits!.shape, [batch, 10]);
      assert.equal(logits!.data.length, batch * 10);
      assert.ok(Array.from(logits!.data as Float32Array).every(Number.isFinite), 'finite logits');
    } finally {
      await engine.close();
    }
  });
});
