// Trellis's serving image on the real private dockerd: built from this machine's node, dist/ and the
// native modules with no registry, reused while its inputs are unchanged, and able to run the CLI and a
// real onnxruntime inference inside a container that has no network.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { VERSION } from '../../src/core/version';
import { ensureServingImage, INPUTS_LABEL, servingImageFiles, servingImageHash } from '../../src/services/containers/serving-image';
import { testDockerEngine } from '../support/docker-engine';
import { ensureBuilt, REPO } from '../fixtures/processes';
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
