// Trellis's serving image on the real private dockerd: built from this machine's node, dist/ and the
// native modules with no registry, reused while its inputs are unchanged, and able to run the CLI and a
// real onnxruntime inference inside a container that has no network. Then serving containers of it:
// replicas on their own loopback ports running the real `trellis serve`, health-gated, listed, stopped,
// and the failures (missing model file, GPUs on an engine without them, a server that exits).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { VERSION } from '../../src/core/version';
import { ensureServingImage, INPUTS_LABEL, servingImageFiles, servingImageHash } from '../../src/services/containers/serving-image';
import { listServingContainers, servingFromDataDir, startServingContainers, stopServingContainers, type ServingSource } from '../../src/services/containers/serving-containers';
import { EngineError } from '../../src/engines/docker/engine-errors';
import { openStore } from '../../src/core/store';
import { resolveModelRef } from '../../src/services/serving/model-resolver';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';
import { testDockerEngine } from '../support/docker-engine';
import { CLI, ensureBuilt, REPO, runProcess } from '../fixtures/processes';
import { twoInputModel, writeModel } from '../fixtures/onnx-models';

/** Runs a command in a container of `image` to completion; stdout and stderr demultiplexed. */
async function runInContainer(docker: Docker, image: string, cmd: string[], binds: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const container = await docker.createContainer({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none', Binds: binds } });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const raw = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    const out = { stdout: '', stderr: '' };
    // The log stream's frames: [stream, 0, 0, 0, size (4 bytes BE)] then the payload.
    for (let i = 0; i + 8 <= raw.length; ) {
      const size = raw.readUInt32BE(i + 4);
      out[raw[i] === 2 ? 'stderr' : 'stdout'] += raw.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return { code: StatusCode, ...out };
  } finally {
    await container.remove({ force: true });
  }
}

describe('serving image', () => {
  let docker: Docker;
  let image = '';

  before(async () => {
    ensureBuilt();
    docker = (await testDockerEngine()).docker;
    image = (await ensureServingImage(docker, { projectRoot: REPO, version: VERSION })).image;
  });

  test('holds node, the bundles, this platform\'s onnxruntime CPU binaries only, and the libraries ldd lists', () => {
    const targets = servingImageFiles(REPO).map((f) => f.target);
    for (const t of ['/usr/bin/node', '/app/cli.js', '/app/onnx-worker.js', '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node', '/app/node_modules/bindings/bindings.js']) {
      assert.ok(targets.includes(t), `${t} in the image`);
    }
    assert.ok(targets.some((t) => t.startsWith(`/app/node_modules/onnxruntime-node/bin/napi-v6/linux/${process.arch}/`)));
    assert.ok(!targets.some((t) => /onnxruntime-node\/bin\/napi-v6\/(darwin|win32)/.test(t)), 'no other platforms\' binaries');
    assert.ok(!targets.some((t) => t.includes('better-sqlite3/deps/')), 'no SQLite sources');
    assert.ok(targets.some((t) => /\/libc\.so\.6$/.test(t)));
    assert.ok(targets.some((t) => /ld-linux/.test(t)), 'the dynamic loader');
  });

  test('is reused while its inputs are the same, and carries their hash', async () => {
    const again = await ensureServingImage(docker, { projectRoot: REPO, version: VERSION });
    assert.equal(again.built, false);
    assert.equal(again.image, `trellis/serving:${VERSION}`);
    const labels = (await docker.getImage(again.id).inspect()).Config.Labels ?? {};
    assert.equal(labels[INPUTS_LABEL], again.inputsHash);
    assert.equal(labels['trellis.version'], VERSION);
  });

  test('the inputs hash covers file contents: one changed byte changes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-hash-'));
    writeFileSync(join(dir, 'a'), 'one');
    const files = [{ source: join(dir, 'a'), target: '/app/a' }];
    const before = servingImageHash(files);
    assert.equal(servingImageHash(files), before);
    writeFileSync(join(dir, 'a'), 'onf');
    assert.notEqual(servingImageHash(files), before);
  });

  test('runs `node /app/cli.js --version` with no network', async () => {
    const r = await runInContainer(docker, image, ['node', '/app/cli.js', '--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  });

  test('runs a real onnxruntime inference and opens SQLite inside the container', async () => {
    const modelDir = mkdtempSync(join(tmpdir(), 'trellis-model-'));
    writeModel(modelDir, 'model', twoInputModel().bytes);
    const script = `
      const ort = require('onnxruntime-node');
      const Database = require('better-sqlite3');
      (async () => {
        const s = await ort.InferenceSession.create('/model/model.onnx');
        const t = (v) => new ort.Tensor('float32', Float32Array.from(v), [1, 3]);
        const out = await s.run({ a: t([1, 2, 3]), b: t([10, 20, 30]) });
        const db = new Database(':memory:');
        console.log(JSON.stringify({ sum: Array.from(out.sum.data), sqlite: db.prepare('select sqlite_version() v').get().v }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await runInContainer(docker, image, ['node', '-e', script], [`${modelDir}:/model:ro`]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { sum: number[]; sqlite: string };
    assert.deepEqual(result.sum, [11, 22, 33]);
    assert.match(result.sqlite, /^3\.\d+/);
  });
});

describe('serving containers', () => {
  let docker: Docker;
  let image = '';
  const data = tempDir('trellis-serving-data-');
  let modelFile = '';
  const adder = { name: 'adder', version: '1' };
  const source = () => servingFromDataDir(data.dir, adder);

  before(async () => {
    ensureBuilt();
    docker = (await testDockerEngine()).docker;
    image = (await ensureServingImage(docker, { projectRoot: REPO, version: VERSION })).image;
    const store = openStore(data.dir);
    await registerModel(store, 'adder', twoInputModel().bytes);
    modelFile = resolveModelRef(store, 'adder/1').path;
    assert.ok(modelFile.startsWith(join(data.dir, 'artifacts')), 'the model lies under the artifacts, mounted read-only');
    store.db.close();
  });
  after(async () => {
    await stopServingContainers(docker, { model: 'adder' }, 1);
    data.cleanup();
  });

  const infer = async (url: string, token: string) => {
    const t = (name: string, data: number[]) => ({ name, shape: [1, 3], datatype: 'FP32', data });
    const res = await fetch(`${url}/v2/models/adder/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ inputs: [t('a', [1, 2, 3]), t('b', [10, 20, 30])] }),
    });
    const body = (await res.json()) as { outputs: { name: string; data: number[] }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.outputs.find((o) => o.name === 'sum')!.data;
  };

  test('two replicas: each on its own 127.0.0.1 port, labelled, ready before reported, serving; list and stop', async () => {
    const replicas = await startServingContainers(docker, { image, model: adder, source: source(), replicas: 2 });
    assert.equal(replicas.length, 2);
    const urls = replicas.map((r) => r.url!);
    assert.equal(new Set(urls).size, 2, 'a port per replica');
    for (const url of urls) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const r of replicas) assert.deepEqual(await infer(r.url!, r.token), [11, 22, 33]);

    const inspect = await docker.getContainer(replicas[0]!.id).inspect();
    assert.equal(inspect.Config.Labels?.['trellis.kind'], 'serving');
    assert.equal(inspect.Config.Labels?.['trellis.model'], 'adder');
    assert.equal(inspect.Config.Labels?.['trellis.version'], '1');
    const artifacts = inspect.Mounts.find((m) => m.Destination === '/data/artifacts');
    assert.ok(artifacts && artifacts.RW === false, 'the models (artifacts) are mounted read-only');
    assert.equal(inspect.HostConfig.PortBindings?.['8080/tcp']?.[0]?.HostIp, '127.0.0.1');
    assert.equal(inspect.HostConfig.RestartPolicy?.Name, 'unless-stopped', 'restarted by the engine once it was ready');
    assert.deepEqual(Object.keys(inspect.HostConfig.Tmpfs ?? {}), ['/data/endpoints']);
    assert.ok(!existsSync(join(data.dir, 'endpoints')) || readdirSync(join(data.dir, 'endpoints')).length === 0, 'container pids are not announced on the host');

    const listed = await listServingContainers(docker, { model: 'adder' });
    assert.deepEqual(listed.map((r) => [r.endpoint, r.replica, r.status]), [[replicas[0]!.endpoint, 0, 'running'], [replicas[0]!.endpoint, 1, 'running']]);

    const stopped = await stopServingContainers(docker, { endpoint: replicas[0]!.endpoint }, 5);
    assert.equal(stopped.length, 2);
    assert.deepEqual(await listServingContainers(docker, { model: 'adder' }), []);
    await assert.rejects(fetch(`${urls[0]}/v2/health/ready`), 'the port is closed once stopped');
  });

  test('CLI: `trellis endpoints start --model adder/1 --replicas 2`, list, stop', async () => {
    const { host } = await testDockerEngine();
    const env = { ...process.env, DOCKER_HOST: host };
    const trellis = (...args: string[]) => runProcess(process.execPath, [CLI, '-d', data.dir, 'endpoints', ...args], { env, timeoutMs: 90_000 });
    const started = await trellis('start', '--model', 'adder/1', '--replicas', '2', '--json');
    assert.equal(started.code, 0, started.stderr);
    const replicas = JSON.parse(started.stdout) as { endpoint: string; url: string; token: string }[];
    assert.equal(replicas.length, 2);
    assert.match(started.stderr, /replica 1 of adder\/1 ready at http:\/\/127\.0\.0\.1:\d+/);
    for (const r of replicas) assert.deepEqual(await infer(r.url, r.token), [11, 22, 33]);

    const listed = await trellis('list', '--model', 'adder');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ENDPOINT\s+MODEL\s+VERSION\s+REPLICA\s+URL\s+STATUS/);
    assert.equal(listed.stdout.split('\n').filter((l) => l.startsWith(replicas[0]!.endpoint)).length, 2);

    const stopped = await trellis('stop', replicas[0]!.endpoint, '--grace', '2');
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /^stopped 2 containers: /);
    const again = await trellis('stop', replicas[0]!.endpoint);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /no serving containers match endpoint/);

    const unknown = await trellis('start', '--model', 'nosuch@champion');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Model 'nosuch' is not registered/);
  });

  test('a replica removed behind Trellis\'s back is simply not listed; stop of the rest still works', async () => {
    const [replica] = await startServingContainers(docker, { image, model: adder, source: source(), replicas: 1 });
    await docker.getContainer(replica!.id).remove({ force: true });
    assert.deepEqual(await listServingContainers(docker, { endpoint: replica!.endpoint }), []);
    assert.deepEqual(await stopServingContainers(docker, { endpoint: replica!.endpoint }), []);
  });

  test('a data directory that does not exist → a mount error, and no container is left', async () => {
    const missing = join(data.dir, 'no-such-dir');
    const model = { name: 'adder', version: '9' };
    await assert.rejects(startServingContainers(docker, { image, model, source: servingFromDataDir(missing, model), replicas: 2 }), (err: unknown) => {
      assert.ok(err instanceof EngineError, String(err));
      assert.equal(err.kind, 'bad-mount');
      assert.ok(err.message.includes(missing));
      return true;
    });
    assert.deepEqual(await listServingContainers(docker, { model: 'adder', version: '9' }), []);
  });

  test('--gpus on an engine without GPU support fails before anything is created, saying how to run on CPU', async () => {
    const before = (await docker.listContainers({ all: true })).length;
    await assert.rejects(startServingContainers(docker, { image, model: adder, source: source(), replicas: 1, gpus: 'all' }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(err.kind, 'no-gpu');
      assert.match(err.message, /no container was started/);
      assert.match(err.message, /without --gpus/);
      return true;
    });
    assert.equal((await docker.listContainers({ all: true })).length, before);
    await assert.rejects(startServingContainers(docker, { image, model: adder, source: source(), replicas: 1, gpus: 'device=' }), /empty device ID/);
  });

  test('a server that exits before it is ready → its exit code and last log lines, and every replica removed', async () => {
    const failing: ServingSource = { ...source(), command: () => ['node', '-e', 'console.error("model failed to load: bad bytes"); process.exit(3)'] };
    await assert.rejects(startServingContainers(docker, { image, model: adder, source: failing, replicas: 2 }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.match(err.message, /exited \(code 3\) before it was ready: model failed to load: bad bytes/);
      return true;
    });
    assert.deepEqual(await listServingContainers(docker, { model: 'adder' }), []);
  });
});
