// Which engine address Trellis picks and the dockerode options it hands over: explicit host over
// DOCKER_HOST over the default socket; unix, tcp (with the docker CLI's TLS variables) and ssh.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDocker, DEFAULT_DOCKER_SOCKET, resolveDockerHost } from '../../src/engines/docker/connection';
import { TrellisError } from '../../src/core/errors';

describe('resolveDockerHost', () => {
  test('an explicit host wins over DOCKER_HOST, which wins over the default socket', () => {
    const env = { DOCKER_HOST: 'tcp://10.0.0.5:2375' };
    assert.deepEqual(resolveDockerHost({ host: 'unix:///run/other.sock', env }).options.socketPath, '/run/other.sock');
    // docker-modem would otherwise keep DOCKER_HOST's host beside the explicit socket, and dial tcp.
    assert.equal(resolveDockerHost({ host: 'unix:///run/other.sock', env }).options.host, undefined);
    assert.equal(resolveDockerHost({ env }).host, 'tcp://10.0.0.5:2375');
    const fallback = resolveDockerHost({ env: {} });
    assert.equal(fallback.host, `unix://${DEFAULT_DOCKER_SOCKET}`);
    assert.equal(fallback.options.socketPath, DEFAULT_DOCKER_SOCKET);
    assert.equal(fallback.local, true);
  });

  test('tcp without TLS is plain http on 2375 unless a port is given', () => {
    const r = resolveDockerHost({ host: 'tcp://docker.example:2380', env: {} });
    assert.deepEqual([r.options.protocol, r.options.host, r.options.port, r.local], ['http', 'docker.example', 2380, false]);
    assert.equal(resolveDockerHost({ host: 'docker.example', env: {} }).options.port, 2375);
  });

  test('DOCKER_TLS_VERIFY reads ca/cert/key from DOCKER_CERT_PATH and speaks https', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-certs-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), `contents of ${f}`);
    const r = resolveDockerHost({ host: 'tcp://docker.example', env: { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } });
    assert.equal(r.options.protocol, 'https');
    assert.equal(r.options.port, 2376);
    assert.equal(String(r.options.ca), 'contents of ca.pem');
    assert.equal(String(r.options.key), 'contents of key.pem');
  });

  test('DOCKER_TLS_VERIFY with missing certificates names the missing files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-certs-'));
    writeFileSync(join(dir, 'ca.pem'), 'x');
    assert.throws(
      () => resolveDockerHost({ host: 'tcp://docker.example:2376', env: { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } }),
      (err: Error) => err instanceof TrellisError && /cert\.pem, key\.pem/.test(err.message) && /DOCKER_CERT_PATH/.test(err.message),
    );
  });

  test('ssh keeps the user and uses the ssh agent', () => {
    const r = resolveDockerHost({ host: 'ssh://ops@gpu-box:2222', env: { SSH_AUTH_SOCK: '/tmp/agent.sock' } });
    assert.equal(r.host, 'ssh://ops@gpu-box:2222');
    assert.deepEqual([r.options.protocol, r.options.host, r.options.port, r.options.username], ['ssh', 'gpu-box', 2222, 'ops']);
    assert.deepEqual(r.options.sshOptions, { agent: '/tmp/agent.sock' });
  });

  test('unknown schemes and named pipes are refused with the forms that work', () => {
    assert.throws(() => resolveDockerHost({ host: 'ftp://x', env: {} }), /unknown scheme 'ftp:'.*unix:\/\/, tcp:\/\/ or ssh:\/\//);
    assert.throws(() => resolveDockerHost({ host: 'npipe:////./pipe/docker_engine', env: {} }), /named pipe/);
  });
});

describe('connectDocker', () => {
  test('an explicit host is used as given even when DOCKER_HOST and DOCKER_CERT_PATH point elsewhere (docker-modem reads them itself)', () => {
    const saved = { host: process.env.DOCKER_HOST, certs: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://10.0.0.5:2376';
    process.env.DOCKER_CERT_PATH = '/nonexistent-certs';
    try {
      const { docker, host } = connectDocker({ host: 'unix:///run/other.sock' });
      assert.equal(host, 'unix:///run/other.sock');
      const modem = docker.modem as unknown as { socketPath?: string; host?: string };
      assert.equal(modem.socketPath, '/run/other.sock');
      assert.equal(modem.host, undefined);
      assert.equal(process.env.DOCKER_HOST, 'tcp://10.0.0.5:2376', 'the environment is left as it was');
    } finally {
      if (saved.host === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved.host;
      if (saved.certs === undefined) delete process.env.DOCKER_CERT_PATH;
      else process.env.DOCKER_CERT_PATH = saved.certs;
    }
  });
});
