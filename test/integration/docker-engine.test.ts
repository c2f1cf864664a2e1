// The engine adapter against the real private dockerd: connectDocker reaches it through DOCKER_HOST and
// through an explicit host, engineInfo reads its version, resources, GPU support and data-root disk, and
// a socket with nothing behind it fails with the engine-down error.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectDocker } from '../../src/engines/docker/connection';
import { engineInfo } from '../../src/engines/docker/engine-info';
import { EngineError } from '../../src/engines/docker/engine-errors';
import { testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';

describe('docker engine adapter', () => {
  let host = '';
  before(async () => {
    host = (await testDockerEngine()).host;
  });

  test('DOCKER_HOST and an explicit host reach the same engine', async () => {
    const fromEnv = connectDocker({ env: { DOCKER_HOST: host } });
    const explicit = connectDocker({ host, env: { DOCKER_HOST: 'tcp://127.0.0.1:1' } });
    assert.equal(fromEnv.host, host);
    assert.equal(explicit.host, host);
    assert.equal((await explicit.docker.info()).ID, (await fromEnv.docker.info()).ID);
  });

  test('engineInfo: version, API, platform, resources, no GPU here, free disk of the data root', async () => {
    const { docker, local } = connectDocker({ host });
    const info = await engineInfo(docker, { local, host });
    assert.match(info.version, /^\d+\.\d+/);
    assert.match(info.apiVersion, /^1\.\d+$/);
    assert.equal(info.osType, 'linux');
    assert.ok(info.cpus >= 1);
    assert.ok(info.memoryBytes > 0);
    assert.ok(info.runtimes.includes('runc'));
    assert.equal(info.gpu.available, false, 'these machines have no GPU: the engine has no nvidia runtime');
    assert.ok(info.dockerRootDir.length > 0);
    assert.ok(info.freeDiskBytes !== undefined && info.freeDiskBytes > 0);
    assert.ok(info.totalDiskBytes! >= info.freeDiskBytes!);
  });

  test('a socket path where nothing listens → engine down, naming the address', async () => {
    const tmp = tempDir();
    const dead = `unix://${join(tmp.dir, 'docker.sock')}`;
    const { docker, local } = connectDocker({ host: dead });
    await assert.rejects(engineInfo(docker, { local, host: dead }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(err.kind, 'engine-down');
      assert.ok(err.message.includes(dead));
      return true;
    });
    tmp.cleanup();
  });
});
