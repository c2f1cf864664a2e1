// Jobs the platform refuses, each with an error that says what was wrong and what to do, and none of
// them leaving a run (or an experiment) behind: engine down, image missing, bad mount, GPUs on an engine
// without any, malformed requests. Then a build from a folder, and a build that fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPlatformServer, type PlatformServer } from '../../src/server/platform-server';
import { ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';

let image = '';
let server: PlatformServer;
let down: PlatformServer;
let dataDir = '';
const cleanups: (() => void)[] = [];

const post = async (target: PlatformServer, body: unknown) => {
  const res = await fetch(`${target.url}/api/trellis/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};
const job = (fields: Record<string, unknown>) => ({ experiment_name: 'refused', image, command: ['true'], ...fields });
const runCount = (target: PlatformServer) =>
  target.store.db.prepare('SELECT COUNT(*) FROM runs').pluck().get() as number;
const experimentCount = (target: PlatformServer) => target.store.db.prepare('SELECT COUNT(*) FROM experiments').pluck().get() as number;

before(async () => {
  const engine = await testDockerEngine();
  image = await ensureBusyboxImage(engine.docker);
  const a = tempDir('trellis-jobs-bad-');
  const b = tempDir('trellis-jobs-down-');
  cleanups.push(a.cleanup, b.cleanup);
  dataDir = a.dir;
  server = await startPlatformServer({ dataDir, version: 'test', log: () => {} });
  down = await startPlatformServer({ dataDir: b.dir, version: 'test', log: () => {}, jobs: { dockerHost: `unix://${join(b.dir, 'no-engine.sock')}` } });
});
after(async () => {
  await server.close();
  await down.close();
  cleanups.forEach((c) => c());
});

describe('refused before anything is created', () => {
  test('engine down: 503 saying no engine answers and how to start or point at one', async () => {
    const r = await post(down, job({}));
    assert.equal(r.status, 503);
    assert.equal(r.body.error_code, 'TEMPORARILY_UNAVAILABLE');
    assert.match(r.body.message, /No Docker engine answers at .*no-engine\.sock/);
    assert.match(r.body.message, /DOCKER_HOST/);
    assert.equal(runCount(down), 0);
  });

  test('image missing: 404 naming the image and how to get it', async () => {
    const r = await post(server, job({ image: 'trellis-test/no-such-image:1' }));
    assert.equal(r.status, 404);
    assert.match(r.body.message, /'trellis-test\/no-such-image:1' is not on this engine.*[Bb]uild it/);
  });

  test('a mount source that does not exist, or a target Trellis uses', async () => {
    const missing = await post(server, job({ mounts: [{ source: join(dataDir, 'nope'), target: '/data' }] }));
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /mount path '.*nope' does not exist on this machine/);
    const relative = await post(server, job({ mounts: [{ source: 'data', target: '/data' }] }));
    assert.match(relative.body.message, /must be absolute/);
    const taken = await post(server, job({ mounts: [{ source: dataDir, target: '/outputs' }] }));
    assert.equal(taken.status, 400);
    assert.match(taken.body.message, /\/outputs is where Trellis mounts the outputs/);
  });

  test('GPUs asked of an engine without any: refused, saying how to run on the CPU', async () => {
    const r = await post(server, job({ gpus: 'all' }));
    assert.equal(r.status, 400);
    assert.match(r.body.message, /--gpus all asks for GPUs, but the Docker engine at .* has none \(no nvidia runtime/);
    assert.match(r.body.message, /Run without --gpus to train on the CPU/);
    const bad = await post(server, job({ gpus: 'lots' }));
    assert.match(bad.body.message, /--gpus 'lots': 'lots' is not a GPU count/);
  });

  test('malformed requests say which field and how to write it', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ command: [] }, /'command'/],
      [{ command: 'echo hi' }, /'command'/],
      [{ image: undefined }, /exactly one of 'image'/],
      [{ build: dataDir }, /exactly one of 'image'/],
      [{ experiment_name: undefined }, /--experiment/],
      [{ env: { MLFLOW_RUN_ID: 'x' } }, /--env MLFLOW_RUN_ID is set by Trellis/],
      [{ env: { 'BAD-NAME': 'x' } }, /environment variable name 'BAD-NAME'/],
      [{ memory: 'lots' }, /--memory 'lots' is not a size/],
      [{ memory: '1m' }, /below Docker's minimum/],
      [{ cpus: '-1' }, /--cpus '-1' must be a number above 0/],
      [{ command: ['train', '--lr', '{{lr}}'] }, /uses \{\{lr\}\} but no --param lr/],
      [{ params: { 'bad key!': '1' } }, /param names may only contain/],
    ];
    for (const [fields, message] of cases) {
      const r = await post(server, job(fields));
      assert.equal(r.status, 400, JSON.stringify(fields));
      assert.match(r.body.message, message, JSON.stringify(fields));
    }
  });

  test('nothing above left a run or an experiment', () => {
    assert.equal(runCount(server), 0);
    assert.equal(experimentCount(server), 1, 'only the Default experiment');
  });

  test('unknown jobs and endpoints', async () => {
    const res = await fetch(`${server.url}/api/trellis/jobs/0123456789abcdef`);
    assert.equal(res.status, 404);
    const status = await fetch(`${server.url}/api/trellis/jobs?status=DONE`);
    assert.match(((await status.json()) as any).message, /Invalid status 'DONE'/);
    const action = await fetch(`${server.url}/api/trellis/jobs/abc/restart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(action.status, 400);
  });
});

describe('--build', () => {
  test('builds the image from the folder, streams the build and runs the job in it', async () => {
    const context = join(dataDir, '..', `ctx-${Date.now()}`);
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nRUN echo built > /built.txt\n`);
    const r = await post(server, { experiment_name: 'built', build: context, command: ['cat', '/built.txt'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const text = await (await fetch(`${server.url}/api/trellis/jobs/${r.body.job.job_id}/logs?follow=true`)).text();
    const records = text.trim().split('\n').map((l) => JSON.parse(l));
    const end = records.pop();
    assert.equal(end.job.status, 'FINISHED', text);
    assert.ok(records.some((l) => l.stream === 'trellis' && /^Step 2\/2 : RUN echo built/.test(l.line)), text);
    assert.deepEqual(records.filter((l) => l.stream === 'stdout').map((l) => l.line), ['built']);
    assert.match(end.job.image, /^trellis\/ctx-\d+:latest$/);
    await (await testDockerEngine()).docker.getImage(end.job.image).remove();
  });

  test('a build that fails fails the run with the build\'s error', async () => {
    const context = join(dataDir, '..', `broken-${Date.now()}`);
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nRUN exit 7\n`);
    const r = await post(server, { experiment_name: 'built', build: context, command: ['true'] });
    const text = await (await fetch(`${server.url}/api/trellis/jobs/${r.body.job.job_id}/logs?follow=true`)).text();
    const end = JSON.parse(text.trim().split('\n').pop()!);
    assert.equal(end.job.status, 'FAILED');
    assert.match(end.job.error, /the image build failed/);
    const none = await post(server, { experiment_name: 'built', build: dataDir, command: ['true'] });
    assert.match(none.body.message, /there is no Dockerfile in it/);
  });
});
