// `trellis doctor` as a child process (the built CLI) against the real private dockerd and a real
// `trellis server` process: a healthy engine, an engine that is down, a socket the user may not open,
// a low-disk threshold, and the platform server running, stale and unhealthy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeServerFile } from '../../src/core/server-file';
import { testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { CLI, ensureBuilt, runProcess, startServerProcess, type Finished } from '../fixtures/processes';

interface Report {
  status: string;
  checks: { name: string; status: string; summary: string; fix: string }[];
}

const NOBODY = 65534;

/** runProcess, as another user (uid and gid), which node can do when it runs as root. */
function runAs(uid: number, args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('trellis doctor', () => {
  const data = tempDir('trellis-doctor-');
  let host = '';

  before(async () => {
    ensureBuilt();
    host = (await testDockerEngine()).host;
  });
  after(() => data.cleanup());

  const doctor = (args: string[], options: { uid?: number; dataDir?: string } = {}): Promise<Finished> => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host };
    delete env.TRELLIS_DOCKER_HOST;
    const argv = [CLI, '-d', options.dataDir ?? data.dir, 'doctor', ...args];
    return options.uid === undefined ? runProcess(process.execPath, argv, { env }) : runAs(options.uid, argv, env);
  };
  const report = (r: Finished): Report => JSON.parse(r.stdout) as Report;
  const check = (rep: Report, name: string) => rep.checks.find((c) => c.name === name)!;

  test('the real engine: reachable with its version, no GPU (warn with the fix), disk ok; exit 0', async () => {
    const r = await doctor(['--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = report(r);
    assert.equal(check(rep, 'docker-engine').status, 'ok');
    assert.match(check(rep, 'docker-engine').summary, /^Docker \d+\.\d+.*\(API 1\.\d+\)/);
    assert.equal(check(rep, 'gpu').status, 'warn');
    assert.match(check(rep, 'gpu').fix, /NVIDIA container toolkit/);
    assert.equal(check(rep, 'disk').status, 'ok');
    assert.match(check(rep, 'disk').summary, /GiB free of .* GiB at \//);
    assert.equal(check(rep, 'platform-server').status, 'warn');
    assert.equal(rep.status, 'warn');
  });

  test('a free-disk threshold above what the disk has → disk warns with how to free space', async () => {
    const rep = report(await doctor(['--json', '--min-free-disk', '1000000']));
    assert.equal(check(rep, 'disk').status, 'warn');
    assert.match(check(rep, 'disk').fix, /docker system prune/);
  });

  test('a socket path where nothing listens → FAIL engine down with the fix, exit 1 (text output)', async () => {
    const dead = join(data.dir, 'nothing.sock');
    const r = await doctor(['--docker-host', `unix://${dead}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^FAIL {2}docker-engine\\s+No Docker engine answers at unix://${dead}`, 'm'));
    assert.match(r.stdout, /fix: Start the engine/);
    assert.match(r.stdout, /^WARN {2}gpu\s+Not checked/m);
  });

  test('an address that is not one → FAIL with the forms that work; TLS without certificates → FAIL naming them', async () => {
    const bad = report(await doctor(['--json', '--docker-host', 'ftp://engine']));
    assert.equal(check(bad, 'docker-engine').status, 'fail');
    assert.match(check(bad, 'docker-engine').summary, /unknown scheme 'ftp:': use unix:\/\/, tcp:\/\/ or ssh:\/\//);
    const env = { ...process.env, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(data.dir, 'no-certs') };
    const r = await runProcess(process.execPath, [CLI, '-d', data.dir, 'doctor', '--json', '--docker-host', 'tcp://127.0.0.1:2376'], { env });
    assert.equal(r.code, 1);
    assert.match(check(report(r), 'docker-engine').summary, /lacks ca\.pem, cert\.pem, key\.pem/);
  });

  test('a socket that listens but refuses connections → engine down too', async () => {
    // A real listening socket whose listener is closed right away leaves the file with nobody accepting.
    const dir = mkdtempSync(join(tmpdir(), 'trellis-refuse-'));
    const path = join(dir, 'docker.sock');
    const server = createServer();
    await new Promise<void>((res) => server.listen(path, res));
    await new Promise<void>((res) => server.close(() => res()));
    const rep = report(await doctor(['--json', '--docker-host', `unix://${path}`]));
    assert.equal(check(rep, 'docker-engine').status, 'fail');
    assert.match(check(rep, 'docker-engine').summary, /No Docker engine answers/);
    rmSync(dir, { recursive: true, force: true });
  });

  // The suite runs as root, for whom socket permissions do not apply; the CLI is started as `nobody` instead, so
  // the kernel really refuses connect() with EACCES, as it does for a user who is not in the docker group.
  const asRoot = process.getuid?.() === 0;
  test('permission denied: a user outside the docker group on the real engine\'s socket (root:docker 0660)', { skip: !asRoot && 'needs root to start the CLI as another user' }, async () => {
    const nobodyData = mkdtempSync(join(tmpdir(), 'trellis-doctor-nobody-'));
    chmodSync(nobodyData, 0o777);
    const r = await doctor(['--json'], { uid: NOBODY, dataDir: nobodyData });
    assert.equal(r.code, 1, r.stderr);
    const engine = check(report(r), 'docker-engine');
    assert.equal(engine.status, 'fail');
    assert.match(engine.summary, /Permission denied on the Docker socket/);
    assert.match(engine.fix, /docker group/);
    rmSync(nobodyData, { recursive: true, force: true });
  });

  test('platform server: running → ok; killed (stale server.json) → warn; not answering → fail', async () => {
    const dir = tempDir('trellis-doctor-server-');
    const server = await startServerProcess(dir.dir);
    try {
      const running = check(report(await doctor(['--json'], { dataDir: dir.dir })), 'platform-server');
      assert.equal(running.status, 'ok');
      assert.ok(running.summary.includes(server.info.url));
    } finally {
      await server.stop('SIGKILL');
    }
    const stale = check(report(await doctor(['--json'], { dataDir: dir.dir })), 'platform-server');
    assert.equal(stale.status, 'warn');
    assert.match(stale.summary, /has exited \(a stale file\)/);

    // A live process (this test) announcing a URL where nothing listens.
    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((res) => closed.close(() => res()));
    writeServerFile(dir.dir, { pid: process.pid, url: `http://127.0.0.1:${port}`, token: 't', version: 'test' });
    const r = await doctor(['--json'], { dataDir: dir.dir });
    assert.equal(r.code, 1);
    const dead = check(report(r), 'platform-server');
    assert.equal(dead.status, 'fail');
    assert.match(dead.fix, new RegExp(`kill ${process.pid}`));
    dir.cleanup();
  });
});
