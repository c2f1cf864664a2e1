// GPU passthrough needs a GPU, which these machines lack; so this test runs jobs against a MOCK Docker
// engine (a small HTTP server on a unix socket answering the Engine API calls a job makes, reporting the
// nvidia runtime in /info) and checks the container create body Trellis sends: DeviceRequests exactly as
// `docker run --gpus` sends them, plus the rest of a job's container (env, mounts, labels, host-gateway).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { startPlatformServer, type PlatformServer } from '../../src/server/platform-server';
import { tempDir } from '../support/platform';

const created: any[] = [];
let mock: Server;
let server: PlatformServer;
const { dir, cleanup } = tempDir('trellis-jobs-gpu-');

/** The mock engine: just enough of the Engine API for one job that exits 0 at once. */
function mockEngine(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    const json = (body: unknown, status = 200) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const path = url.pathname;
      if (path === '/info') return json({ Runtimes: { runc: {}, nvidia: { path: 'nvidia-container-runtime' } }, DockerRootDir: dir, NCPU: 2 });
      if (path === '/version') return json({ Version: 'mock', ApiVersion: '1.41' });
      if (path.startsWith('/images/')) return json({ Id: `sha256:${'a'.repeat(64)}`, RepoDigests: [], RepoTags: ['trainer:gpu'] });
      if (path === '/networks/bridge') return json({ IPAM: { Config: [{ Subnet: '127.0.0.0/8', Gateway: '127.0.0.1' }] } });
      if (path === '/containers/json') return json([]);
      if (path === '/containers/create') {
        created.push(JSON.parse(body));
        return json({ Id: `mock${created.length}` }, 201);
      }
      const id = /^\/containers\/([^/]+)/.exec(path)?.[1];
      if (path.endsWith('/start')) return res.writeHead(204).end();
      if (path.endsWith('/attach') || path.endsWith('/logs') || path.endsWith('/stats')) return res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' }).end();
      if (path.endsWith('/wait')) return json({ StatusCode: 0 });
      if (path.endsWith('/json') && id) return json({ Id: id, State: { Status: 'exited', Running: false, ExitCode: 0, OOMKilled: false, Error: '' } });
      if (req.method === 'DELETE' && id) return res.writeHead(204).end();
      json({ message: `mock engine: no ${req.method} ${path}` }, 404);
    });
  });
}

before(async () => {
  mock = mockEngine();
  const socket = join(dir, 'mock-engine.sock');
  await new Promise<void>((resolve) => mock.listen(socket, resolve));
  server = await startPlatformServer({ dataDir: join(dir, 'data'), version: 'test', log: () => {}, jobs: { dockerHost: `unix://${socket}` } });
});
after(async () => {
  await server.close();
  mock.close();
  cleanup();
});

async function runJob(gpus: string): Promise<any> {
  const res = await fetch(`${server.url}/api/trellis/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ experiment_name: 'gpu', image: 'trainer:gpu', gpus, command: ['python3', 'train.py'], workspace: dir }),
  });
  const reply = (await res.json()) as any;
  assert.equal(res.status, 200, JSON.stringify(reply));
  await (await fetch(`${server.url}/api/trellis/jobs/${reply.job.job_id}/logs?follow=true`)).text();
  return { job: (await (await fetch(`${server.url}/api/trellis/jobs/${reply.job.job_id}`)).json() as any).job, body: created.at(-1) };
}

test('--gpus all, 2 and device=0,1 become the device requests docker run --gpus makes (driver named)', async () => {
  const request = (Count: number, DeviceIDs: string[] | null) => [{ Driver: 'nvidia', Count, DeviceIDs, Capabilities: [['gpu']], Options: {} }];
  assert.deepEqual((await runJob('all')).body.HostConfig.DeviceRequests, request(-1, null));
  assert.deepEqual((await runJob('2')).body.HostConfig.DeviceRequests, request(2, null));
  assert.deepEqual((await runJob('"device=0,1"')).body.HostConfig.DeviceRequests, request(0, ['0', '1']));
  const { job, body } = await runJob('device=0,1');
  assert.deepEqual(body.HostConfig.DeviceRequests, request(0, ['0', '1']));
  assert.equal(job.status, 'FINISHED');
  assert.equal((await (await fetch(`${server.url}/api/2.0/mlflow/runs/get?run_id=${job.run_id}`)).json() as any).run.data.tags.find((t: any) => t.key === 'trellis.job.gpus').value, 'device=0,1');
});

test('the rest of the create body: the image by ID, env for MLflow, mounts, labels and host-gateway', () => {
  const body = created[0];
  const env = Object.fromEntries(body.Env.map((e: string) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  assert.equal(body.Image, `sha256:${'a'.repeat(64)}`);
  assert.deepEqual(body.Cmd, ['python3', 'train.py']);
  assert.match(env.MLFLOW_TRACKING_URI, /^http:\/\/host\.docker\.internal:\d+$/);
  assert.match(env.MLFLOW_TRACKING_TOKEN, /^[0-9a-f]{48}$/);
  assert.notEqual(env.MLFLOW_TRACKING_TOKEN, server.token, 'containers get their own token, not the server\'s');
  assert.equal(env.MLFLOW_RUN_ID, body.Labels['trellis.run_id']);
  assert.equal(env.MLFLOW_EXPERIMENT_ID, body.Labels['trellis.experiment_id']);
  assert.deepEqual(body.HostConfig.ExtraHosts, ['host.docker.internal:host-gateway']);
  // The data directory (here <workspace>/data) is covered by an empty tmpfs.
  assert.deepEqual(body.HostConfig.Mounts.map((m: any) => [m.Type, m.Target, m.ReadOnly]), [
    ['bind', '/workspace', true],
    ['bind', '/outputs', false],
    ['tmpfs', '/workspace/data', undefined],
  ]);
  assert.equal(body.WorkingDir, '/workspace');
  assert.deepEqual(Object.keys(body.Labels).sort(), ['trellis.data_dir', 'trellis.experiment_id', 'trellis.job_id', 'trellis.kind', 'trellis.run_id']);
  assert.equal(body.Labels['trellis.data_dir'], join(dir, 'data'));
});
