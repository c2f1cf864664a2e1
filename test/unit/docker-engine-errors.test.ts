// Engine failures mapped to errors that say what to do. The inputs are the exact shapes dockerode
// produced against the real private dockerd of this project's tests (captured from real failures: a
// socket with nothing behind it, a pull with no registry reachable, a GPU request on an engine without
// the NVIDIA toolkit, ...). The integration tests provoke the ones that can be provoked here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError, engineError, pullError } from '../../src/engines/docker/engine-errors';
import { gpuSupport } from '../../src/engines/docker/engine-info';

const socketError = (code: string, errno: number, address: string) =>
  Object.assign(new Error(`connect ${code} ${address}`), { errno, code, syscall: 'connect', address });
const httpError = (statusCode: number, reason: string, message: string, withJson = true) =>
  Object.assign(new Error(`(HTTP code ${statusCode}) ${reason} - ${message} `), { reason, statusCode, json: withJson ? { message } : null });

describe('engineError', () => {
  test('nothing listening on the socket → engine down, with how to start or point elsewhere', () => {
    for (const err of [socketError('ENOENT', -2, '/tmp/nothing-here.sock'), socketError('ECONNREFUSED', -111, '127.0.0.1')]) {
      const e = engineError(err, { host: 'unix:///tmp/nothing-here.sock' });
      assert.equal(e.kind, 'engine-down');
      assert.equal(e.code, 'TEMPORARILY_UNAVAILABLE');
      assert.match(e.message, /No Docker engine answers at unix:\/\/\/tmp\/nothing-here\.sock/);
      assert.match(e.message, /DOCKER_HOST/);
    }
  });

  test('EACCES on the socket → permission denied, with the docker group, sudo and DOCKER_HOST', () => {
    const e = engineError(socketError('EACCES', -13, '/var/run/docker.sock'));
    assert.equal(e.kind, 'permission-denied');
    assert.equal(e.httpStatus, 403);
    assert.match(e.message, /\/var\/run\/docker\.sock/);
    assert.match(e.message, /docker group/);
    assert.match(e.message, /sudo/);
    assert.match(e.message, /DOCKER_HOST/);
  });

  test('the engine\'s GPU error → no GPU support, run on CPU or install the toolkit', () => {
    const e = engineError(httpError(500, 'server error', 'could not select device driver "nvidia" with capabilities: [[gpu]]'));
    assert.equal(e.kind, 'no-gpu');
    assert.match(e.message, /no GPU support/);
    assert.match(e.message, /without --gpus/);
    assert.match(e.message, /NVIDIA container toolkit/);
  });

  test('a missing image is named, with build and pull as the ways out', () => {
    const e = engineError(httpError(404, 'no such container', 'No such image: nope/missing:1'), { image: 'nope/missing:1' });
    assert.equal(e.kind, 'image-missing');
    assert.equal(e.code, 'RESOURCE_DOES_NOT_EXIST');
    assert.match(e.message, /'nope\/missing:1' is not on this engine/);
  });

  test('a command missing from the image, and a bad bind mount', () => {
    const cmd = engineError(httpError(400, 'unexpected', 'failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown'));
    assert.equal(cmd.kind, 'command-not-found');
    assert.match(cmd.message, /exec: "nosuchcmd"/);
    const mount = engineError(httpError(400, 'bad parameter', 'invalid mount config for type "bind": bind source path does not exist: /nope'));
    assert.equal(mount.kind, 'bad-mount');
    assert.match(mount.message, /\/nope/);
  });

  test('a pull with no registry reachable (the HTTP error carries no json) → offline, build locally', () => {
    const err = httpError(500, 'server error', 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host', false);
    const e = engineError(err, { image: 'busybox:latest', pull: true });
    assert.equal(e.kind, 'pull-offline');
    assert.match(e.message, /Cannot pull 'busybox:latest'/);
    assert.match(e.message, /registry-1\.docker\.io/);
    assert.match(e.message, /build the image locally/i);
  });

  test('pull errors a registry gives: unknown image and missing credentials', () => {
    assert.equal(pullError('manifest for acme/x:9 not found: manifest unknown: manifest unknown', "'acme/x:9'").kind, 'pull-unknown-image');
    assert.equal(pullError("pull access denied for acme/x, repository does not exist or may require 'docker login'", "'acme/x'").kind, 'pull-unknown-image');
    const auth = pullError('unauthorized: authentication required', "'private/x'");
    assert.equal(auth.kind, 'pull-auth');
    assert.match(auth.message, /docker login/);
  });

  test('anything else keeps the engine\'s words; an EngineError passes through', () => {
    const e = engineError(httpError(409, 'conflict', 'Conflict. The container name "/x" is already in use'));
    assert.equal(e.kind, 'engine');
    assert.equal(e.code, 'BAD_REQUEST');
    assert.match(e.message, /already in use/);
    assert.equal(engineError(e), e);
    assert.ok(e instanceof EngineError);
  });
});

describe('gpuSupport', () => {
  test('this project\'s engine (runc only) has none, and says which runtimes it has', () => {
    const g = gpuSupport({ Runtimes: { 'io.containerd.runc.v2': { path: 'runc' }, runc: { path: 'runc' } }, DefaultRuntime: 'runc' });
    assert.equal(g.available, false);
    assert.match(g.detail, /no nvidia runtime \(runtimes: io\.containerd\.runc\.v2, runc\)/);
  });

  test('the nvidia runtime (NVIDIA container toolkit) means GPUs', () => {
    const g = gpuSupport({ Runtimes: { nvidia: { path: 'nvidia-container-runtime' }, runc: { path: 'runc' } } });
    assert.deepEqual([g.available, g.via], [true, 'nvidia-runtime']);
  });

  test('CDI devices an engine discovered (Docker 28 info) mean GPUs; other CDI vendors do not', () => {
    const g = gpuSupport({
      Runtimes: { runc: {} },
      CDISpecDirs: ['/etc/cdi', '/var/run/cdi'],
      DiscoveredDevices: [{ Source: 'cdi', ID: 'nvidia.com/gpu=0' }, { Source: 'cdi', ID: 'nvidia.com/gpu=all' }, { Source: 'cdi', ID: 'vendor.com/fpga=0' }],
    });
    assert.deepEqual([g.available, g.via, g.devices], [true, 'cdi', ['nvidia.com/gpu=0', 'nvidia.com/gpu=all']]);
    const none = gpuSupport({ Runtimes: { runc: {} }, CDISpecDirs: ['/etc/cdi'], DiscoveredDevices: [] });
    assert.equal(none.available, false);
    assert.match(none.detail, /no NVIDIA CDI devices discovered in \/etc\/cdi/);
  });
});
