// A real Docker engine for the tests: DOCKER_HOST when it is set, otherwise a private dockerd on its own
// socket (never the machine's default engine), started on first use and shared by every test file of a
// run. test/run.mjs stops the private one when the run ends.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import tar from 'tar-fs';

const PRIVATE_ENGINE_DIR = join(tmpdir(), 'trellis-test-dockerd');
const socketPath = join(PRIVATE_ENGINE_DIR, 'docker.sock');

export interface TestDockerEngine {
  docker: Docker;
  /** The DOCKER_HOST value that reaches this engine, for child processes (the CLI, the server). */
  host: string;
}

let engine: Promise<TestDockerEngine> | undefined;

/** The engine the tests run against; starts the private one when needed (about 2 s). */
export function testDockerEngine(): Promise<TestDockerEngine> {
  engine ??= connect();
  return engine;
}

async function connect(): Promise<TestDockerEngine> {
  const host = process.env.DOCKER_HOST || `unix://${socketPath}`;
  const docker = new Docker(host.startsWith('unix://') ? { socketPath: host.slice('unix://'.length) } : undefined);
  if (!process.env.DOCKER_HOST && !(await answers(docker))) await startPrivateEngine(docker);
  process.env.DOCKER_HOST = host;
  return { docker, host };
}

async function answers(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

async function startPrivateEngine(docker: Docker): Promise<void> {
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find(existsSync);
  if (!dockerd) throw new Error('dockerd is not installed: run `bash .ci/provision` (Debian package docker.io)');
  mkdirSync(PRIVATE_ENGINE_DIR, { recursive: true });
  const child = spawn(
    dockerd,
    [
      '--host', `unix://${socketPath}`,
      '--data-root', join(PRIVATE_ENGINE_DIR, 'data'),
      '--exec-root', join(PRIVATE_ENGINE_DIR, 'exec'),
      '--pidfile', join(PRIVATE_ENGINE_DIR, 'docker.pid'),
    ],
    // Its own session, so it outlives this test file and serves the next ones; run.mjs stops it.
    { detached: true, stdio: ['ignore', 'ignore', 'ignore'] },
  );
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await answers(docker)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the private dockerd did not answer on ${socketPath} within 30 s`);
}

export const BUSYBOX_IMAGE = 'trellis-test/busybox:latest';

/**
 * A tiny image made locally (no registry is reachable): Debian's static busybox with its applets linked
 * into /bin, so `sh -c`, `echo`, `sleep` and `cat` work. Imported once per engine.
 */
export async function ensureBusyboxImage(docker: Docker): Promise<string> {
  try {
    await docker.getImage(BUSYBOX_IMAGE).inspect();
    return BUSYBOX_IMAGE;
  } catch {
    /* not there yet */
  }
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw new Error('busybox is not installed: run `bash .ci/provision` (Debian package busybox-static)');
  const root = mkdtempSync(join(tmpdir(), 'trellis-busybox-'));
  try {
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'tmp'));
    copyFileSync(busybox, join(root, 'bin', 'busybox'));
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(root, 'bin', applet));
    const [repo, tag] = BUSYBOX_IMAGE.split(':');
    const stream = await docker.importImage(tar.pack(root) as unknown as NodeJS.ReadableStream, { repo, tag, changes: ['ENV PATH=/bin', 'CMD ["sh"]'] });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
    return BUSYBOX_IMAGE;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
