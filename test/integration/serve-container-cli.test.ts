// `trellis serve --container --replicas 2` end to end on the real private dockerd: two serving containers
// of the real image behind the CLI's own server, which balances them (fewest outstanding requests); the
// containers are removed when the server stops. Bad combinations of flags are refused before anything starts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openStore } from '../../src/core/store';
import { listServingContainers } from '../../src/services/containers/serving-containers';
import { mlpModel, MLP_INPUT } from '../fixtures/onnx-models';
import { CLI, cli, ensureBuilt } from '../fixtures/processes';
import { testDockerEngine } from '../support/docker-engine';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const tmp = tempDir('trellis-serve-container-');
let dockerHost = '';

before(async () => {
  ensureBuilt();
  dockerHost = (await testDockerEngine()).host;
  const store = openStore(tmp.dir);
  await registerModel(store, 'mlp', mlpModel().bytes, { alias: 'prod' });
  store.db.close();
});
after(() => tmp.cleanup());

test('two container replicas behind one endpoint: requests spread over both, containers removed on SIGTERM', { timeout: 240_000 }, async () => {
  const child = spawn(process.execPath, [CLI, '-d', tmp.dir, 'serve', '--model', 'mlp@prod', '--container', '--replicas', '2', '--port', '0'], {
    env: { ...process.env, DOCKER_HOST: dockerHost },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    for (let i = 0; i < 2400 && !/serving on (http:\/\/\S+)/.test(out); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /serving on (http:\/\/\S+)/.exec(out)?.[1];
    assert.ok(url, `the server came up:\n${out}\n${err}`);
    assert.match(out, /balancing 2 containers: http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+/);
    const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data: new Array(MLP_INPUT).fill(0.25) }] });
    const replies = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const res = await fetch(`${url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        return { status: res.status, body: (await res.json()) as { model_version?: string; outputs?: { shape: number[] }[] } };
      }),
    );
    assert.ok(replies.every((r) => r.status === 200 && r.body.model_version === '1'), JSON.stringify(replies.find((r) => r.status !== 200)));
    assert.deepEqual(replies[0]!.body.outputs![0]!.shape, [1, 10]);
    const models = (await (await fetch(`${url}/api/trellis/serving/models`)).json()) as { models: { replicas: { id: string; requests: number; healthy: boolean }[] }[] };
    const replicas = models.models[0]!.replicas;
    assert.equal(replicas.length, 2);
    assert.ok(replicas.every((r) => r.healthy && r.requests > 0), `both containers served: ${JSON.stringify(replicas)}`);
    assert.equal((await listServingContainers((await testDockerEngine()).docker, { model: 'mlp' })).length, 2);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  }
  assert.deepEqual(await listServingContainers((await testDockerEngine()).docker, { model: 'mlp' }), [], 'the containers are gone');
});

test('--container refuses what it cannot do, before starting anything', async () => {
  const two = await cli(tmp.dir, 'serve', '--model', 'mlp@prod', 'mlp/1', '--container');
  assert.notEqual(two.code, 0);
  assert.match(two.stderr, /--container serves one model version; got 2/);
  const canary = await cli(tmp.dir, 'serve', '--model', 'mlp@prod', '--container', '--canary', 'mlp/1:10');
  assert.match(canary.stderr, /cannot be combined with --canary/);
  const gpus = await cli(tmp.dir, 'serve', '--model', 'mlp@prod', '--gpus', 'all');
  assert.match(gpus.stderr, /--gpus needs --container/);
});
