// Images on the real private dockerd: builds from a directory (the context filtered by .dockerignore, step
// progress and output streamed), pulls with per-layer progress from a real local registry (Debian's
// docker-registry on 127.0.0.1), and the errors of pulls that cannot succeed: no registry reachable (every
// pull from Docker Hub here), an unknown image, and a registry that wants credentials.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import { buildImage, imageIdentity, pullImage, requireImage, type BuildEvent, type PullProgress } from '../../src/engines/docker/images';
import { EngineError } from '../../src/engines/docker/engine-errors';
import { BUSYBOX_IMAGE, ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { CLI, ensureBuilt, runProcess } from '../fixtures/processes';

const REGISTRY_BIN = '/usr/bin/docker-registry';
// bcrypt of the password 'pw' (the registry's htpasswd accepts only bcrypt).
const HTPASSWD = 'tester:$2b$12$mJvQWY.vWqCV/mjJ7hUI9uetdNe1Zij8zJL46.KU6FUWWOw2Ze0We\n';

interface Registry {
  address: string;
  stop(): void;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

/** A real registry (distribution v2) on 127.0.0.1, which dockerd treats as insecure (plain http) by default. */
async function startRegistry(dir: string, options: { htpasswd?: boolean } = {}): Promise<Registry> {
  assert.ok(existsSync(REGISTRY_BIN), 'docker-registry is not installed: run `bash .ci/provision` (Debian package docker-registry)');
  const port = await freePort();
  mkdirSync(join(dir, 'data'), { recursive: true });
  const auth = options.htpasswd ? `auth:\n  htpasswd:\n    realm: trellis-test\n    path: ${join(dir, 'htpasswd')}\n` : '';
  if (options.htpasswd) writeFileSync(join(dir, 'htpasswd'), HTPASSWD);
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: trellis-test\n${auth}`);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const address = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const answered = await fetch(`http://${address}/v2/`).then(() => true, () => false);
    if (answered) return { address, stop: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not answer within 10 s');
}

function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

async function push(docker: Docker, image: string): Promise<void> {
  // An anonymous X-Registry-Auth ("{}"), as the docker CLI sends for registries without login.
  const stream = (await docker.getImage(image).push({ authconfig: { key: 'e30=' } } as never)) as unknown as NodeJS.ReadableStream;
  await new Promise<void>((res, rej) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
    const failed = out?.find((o) => o.error);
    return err || failed ? rej(err ?? new Error(failed!.error)) : res();
  }));
}

describe('docker images', () => {
  let docker: Docker;
  const tmp = tempDir('trellis-images-');
  const registries: Registry[] = [];

  before(async () => {
    docker = (await testDockerEngine()).docker;
    await ensureBusyboxImage(docker);
  });
  after(async () => {
    for (const r of registries) r.stop();
    for (const image of ['trellis-test/ctx:latest', 'trellis-test/fails:latest']) await docker.getImage(image).remove({ force: true }).catch(() => {});
    tmp.cleanup();
  });

  test('build: .dockerignore excludes (with ! exceptions and **), links are not followed, steps and output stream', async () => {
    const ctx = join(tmp.dir, 'ctx');
    const outside = join(tmp.dir, 'outside-secret.txt');
    writeFileSync(outside, 'SECRET-FROM-OUTSIDE');
    writeTree(ctx, {
      'Dockerfile': `FROM ${BUSYBOX_IMAGE}\nCOPY . /ctx\nRUN find /ctx | sort\nRUN cat /ctx/link-out || echo link-not-followed\n`,
      '.dockerignore': '# what a training workspace keeps out\n**/*.log\n!keep.log\n.venv\ndata\n!data/keep\n',
      'train.py': 'print(1)\n',
      'keep.log': 'kept\n',
      'debug.log': 'dropped\n',
      'src/deep/trace.log': 'dropped\n',
      'src/model.py': '\n',
      '.venv/lib/big.so': 'dropped\n',
      'data/keep/labels.csv': 'kept\n',
      'data/raw/huge.bin': 'dropped\n',
    });
    symlinkSync(outside, join(ctx, 'link-out'));

    const events: BuildEvent[] = [];
    const built = await buildImage(docker, { context: ctx, tags: ['trellis-test/ctx:latest'], labels: { 'trellis.test': 'images' }, noCache: true, onEvent: (e) => events.push(e) });
    assert.match(built.id, /^sha256:[0-9a-f]{64}$/);
    // The labels option adds a LABEL step at the end.
    assert.equal(built.steps, 5);
    assert.deepEqual(
      events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? `${e.step}/${e.total} ${e.instruction.split(' ')[0]}` : '')),
      ['1/5 FROM', '2/5 COPY', '3/5 RUN', '4/5 RUN', '5/5 LABEL'],
    );
    const output = events.filter((e) => e.type === 'output').map((e) => (e.type === 'output' ? e.text : ''));
    const listed = output.filter((l) => l.startsWith('/ctx'));
    assert.deepEqual(listed, [
      '/ctx', '/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/data', '/ctx/data/keep', '/ctx/data/keep/labels.csv',
      '/ctx/keep.log', '/ctx/link-out', '/ctx/src', '/ctx/src/deep', '/ctx/src/model.py', '/ctx/train.py',
    ]);
    // src/deep stays, empty: only the .log inside it is excluded (as docker build does).
    assert.ok(output.includes('link-not-followed'), 'the link is sent as a link; the file it names outside the context is not');
    assert.ok(!output.some((l) => l.includes('SECRET-FROM-OUTSIDE')));
    assert.ok(output.includes("cat: can't open '/ctx/link-out': No such file or directory"), 'stderr of a step arrives without ANSI colour codes');

    const identity = await imageIdentity(docker, 'trellis-test/ctx:latest');
    assert.equal(identity?.id, built.id);
    assert.deepEqual(identity?.repoDigests, [], 'a local build has no registry digest');
    assert.equal((await docker.getImage(built.id).inspect()).Config.Labels?.['trellis.test'], 'images');
  });

  test('build: a failing step names the step and the engine\'s words', async () => {
    const ctx = join(tmp.dir, 'fails');
    writeTree(ctx, { 'Dockerfile': `FROM ${BUSYBOX_IMAGE}\nRUN echo before\nRUN exit 3\n` });
    await assert.rejects(buildImage(docker, { context: ctx, tags: ['trellis-test/fails:latest'], noCache: true }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.match(err.message, /build failed at Step 3\/3 : RUN exit 3/);
      assert.match(err.message, /returned a non-zero code: 3/);
      return true;
    });
  });

  test('build: a base image the engine lacks and cannot pull → the pull error, naming the base image', async () => {
    const ctx = join(tmp.dir, 'from-missing');
    writeTree(ctx, { 'Dockerfile': 'FROM python:3.12-slim\nRUN echo never\n' });
    await assert.rejects(buildImage(docker, { context: ctx }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(err.kind, 'pull-offline', err.message);
      assert.match(err.message, /Cannot pull 'python:3\.12-slim' \(the base image of the Dockerfile\)/);
      return true;
    });
  });

  test('an image the engine does not have → image-missing with how to get it', async () => {
    assert.equal(await imageIdentity(docker, 'trellis-test/never-built:1'), undefined);
    await assert.rejects(requireImage(docker, 'trellis-test/never-built:1'), (err: unknown) =>
      err instanceof EngineError && err.kind === 'image-missing' && /'trellis-test\/never-built:1' is not on this engine/.test(err.message));
  });

  test('pull with no registry reachable (Docker Hub from here) → pull-offline, build locally instead', async () => {
    await assert.rejects(pullImage(docker, 'busybox'), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(err.kind, 'pull-offline');
      assert.match(err.message, /Cannot pull 'busybox:latest': the engine cannot reach its registry/);
      assert.match(err.message, /Build the image locally/);
      return true;
    });
  });

  test('pull from a real local registry: per-layer progress up to the layer sizes, then the image ID and digest', async () => {
    const registry = await startRegistry(join(tmp.dir, 'registry'));
    registries.push(registry);
    const image = `${registry.address}/trellis-test/blob:1`;
    const ctx = join(tmp.dir, 'blob');
    writeTree(ctx, { 'Dockerfile': `FROM ${BUSYBOX_IMAGE}\nCOPY blob /blob\n`, blob: randomBytes(1_000_000) });
    const built = await buildImage(docker, { context: ctx, tags: [image] });
    await push(docker, image);
    await docker.getImage(image).remove(); // the new layer goes; busybox's stays ("Already exists")

    const updates: PullProgress[] = [];
    const id = await pullImage(docker, image, { onProgress: (p) => updates.push(p) });
    assert.equal(id, built.id);
    const last = updates.at(-1)!;
    const downloaded = last.layers.find((l) => l.status === 'Pull complete');
    assert.ok(downloaded, `a layer was downloaded: ${JSON.stringify(last.layers)}`);
    assert.ok(downloaded.total > 1_000_000 && downloaded.current === downloaded.total);
    assert.ok(last.layers.some((l) => l.status === 'Already exists'));
    const seen = new Set(updates.flatMap((u) => u.layers.filter((l) => l.id === downloaded.id).map((l) => l.status)));
    for (const status of ['Pulling fs layer', 'Download complete', 'Extracting']) assert.ok(seen.has(status), `${status} in ${[...seen].join(', ')}`);
    assert.equal(last.bytesTotal, last.layers.reduce((s, l) => s + l.total, 0));
    assert.match(last.status, /Downloaded newer image/);
    assert.ok((await imageIdentity(docker, image))!.repoDigests.some((d) => d.startsWith(`${registry.address}/trellis-test/blob@sha256:`)));

    await assert.rejects(pullImage(docker, `${registry.address}/trellis-test/nothing:9`), (err: unknown) =>
      err instanceof EngineError && err.kind === 'pull-unknown-image' && err.code === 'RESOURCE_DOES_NOT_EXIST');
    await docker.getImage(image).remove({ force: true });
  });

  test('CLI: `trellis images build` streams steps to stderr and prints the ID; `images pull` offline exits 1 saying why', async () => {
    ensureBuilt();
    const { host } = await testDockerEngine();
    const env = { ...process.env, DOCKER_HOST: host };
    const ctx = join(tmp.dir, 'cli-ctx');
    writeTree(ctx, { 'build.Dockerfile': `FROM ${BUSYBOX_IMAGE}\nARG GREETING\nRUN echo "$GREETING from the build"\n` });
    const built = await runProcess(process.execPath, [CLI, 'images', 'build', ctx, '-f', 'build.Dockerfile', '-t', 'trellis-test/cli:1', '--build-arg', 'GREETING=hello', '--no-cache', '--json'], { env });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /^Step 3\/3 : RUN echo "\$GREETING from the build"$/m);
    assert.match(built.stderr, /^ {2}hello from the build$/m);
    const result = JSON.parse(built.stdout) as { id: string; tags: string[] };
    assert.equal((await imageIdentity(docker, 'trellis-test/cli:1'))?.id, result.id);

    const bad = await runProcess(process.execPath, [CLI, 'images', 'build', ctx, '--build-arg', 'NOEQUALS'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--build-arg takes KEY=VALUE, got 'NOEQUALS'/);

    const pulled = await runProcess(process.execPath, [CLI, 'images', 'pull', 'busybox:1.36'], { env });
    assert.equal(pulled.code, 1);
    assert.match(pulled.stderr, /error: Cannot pull 'busybox:1\.36': the engine cannot reach its registry/);
    await docker.getImage('trellis-test/cli:1').remove({ force: true });
  });

  test('pull from a registry that wants credentials → pull-auth (without them, and with a wrong password)', async () => {
    const registry = await startRegistry(join(tmp.dir, 'private'), { htpasswd: true });
    registries.push(registry);
    const image = `${registry.address}/private/model:1`;
    for (const auth of [undefined, { username: 'tester', password: 'wrong', serveraddress: registry.address }]) {
      await assert.rejects(pullImage(docker, image, { auth }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.kind, 'pull-auth', err.engineMessage);
        assert.match(err.message, /docker login/);
        return true;
      });
    }
    // The right password gets past authentication: the registry then says the image is not there.
    await assert.rejects(pullImage(docker, image, { auth: { username: 'tester', password: 'pw', serveraddress: registry.address } }), (err: unknown) =>
      err instanceof EngineError && err.kind === 'pull-unknown-image');
  });
});
