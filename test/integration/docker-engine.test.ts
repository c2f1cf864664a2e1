// The engine adapter against the real private dockerd: connectDocker reaches it through DOCKER_HOST and
// through an explicit host, engineInfo reads its version, resources, GPU support and data-root disk, and
// a socket with nothing behind it fails with the engine-down error.
import { after, describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { connectDocker } from '../../src/engines/docker/connection';
import { engineInfo } from '../../src/engines/docker/engine-info';
import { EngineError } from '../../src/engines/docker/engine-errors';
import { testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';

/** Forwards each connection to the engine's unix socket: the same engine, reached over tcp (or TLS). */
function forwardTo(socketPath: string) {
  return (client: Socket) => {
    const engine = netConnect(socketPath);
    client.pipe(engine).pipe(client);
    client.on('error', () => engine.destroy());
    engine.on('error', () => client.destroy());
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return (server.address() as { port: number }).port;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as `dockerd --tlsverify` setups use. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', name);
  key('ca-key.pem');
  openssl('req', '-x509', '-new', '-key', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=trellis-test-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['server', 'server.ext'], ['client', 'client.ext']] as const) {
    key(`${name}-key.pem`);
    openssl('req', '-new', '-key', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '1', '-extfile', ext);
  }
}

describe('docker engine adapter', () => {
  let host = '';
  let socketPath = '';
  const servers: Server[] = [];
  before(async () => {
    host = (await testDockerEngine()).host;
    socketPath = host.slice('unix://'.length);
  });
  after(() => {
    for (const s of servers) s.close();
  });

  test('tcp://: the engine API over TCP', async () => {
    const server = createServer(forwardTo(socketPath));
    servers.push(server);
    const port = await listen(server);
    const tcp = connectDocker({ host: `tcp://127.0.0.1:${port}`, env: {} });
    assert.equal(tcp.local, false);
    const info = await engineInfo(tcp.docker, { local: tcp.local, host: tcp.host });
    assert.equal(info.freeDiskBytes, undefined, 'a remote engine\'s disk is not measured from here');
    assert.equal((await tcp.docker.info()).ID, (await connectDocker({ host, env: {} }).docker.info()).ID);
  });

  test('tcp:// with DOCKER_TLS_VERIFY: mutual TLS with the certificates in DOCKER_CERT_PATH; a wrong CA fails saying so', async () => {
    const dir = tempDir('trellis-tls-');
    makeCertificates(dir.dir);
    const read = (name: string) => readFileSync(join(dir.dir, name));
    // As dockerd --tlsverify: only clients with a certificate from the CA get in.
    const server = createTlsServer({ key: read('server-key.pem'), cert: read('server-cert.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true }, forwardTo(socketPath));
    servers.push(server);
    const port = await listen(server);
    const certPath = join(dir.dir, 'client');
    mkdirSync(certPath);
    copyFileSync(join(dir.dir, 'ca.pem'), join(certPath, 'ca.pem'));
    copyFileSync(join(dir.dir, 'client-cert.pem'), join(certPath, 'cert.pem'));
    copyFileSync(join(dir.dir, 'client-key.pem'), join(certPath, 'key.pem'));
    const env = { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath };
    const tls = connectDocker({ host: `tcp://127.0.0.1:${port}`, env });
    assert.equal(tls.host, `tcp://127.0.0.1:${port}`);
    const info = await engineInfo(tls.docker, { local: tls.local, host: tls.host });
    assert.match(info.version, /^\d+\.\d+/);

    // The client trusts another CA (its own self-signed server cert): the engine's certificate is refused.
    const otherCa = join(dir.dir, 'other');
    mkdirSync(otherCa);
    makeCertificates(otherCa);
    copyFileSync(join(otherCa, 'ca.pem'), join(certPath, 'ca.pem'));
    const wrong = connectDocker({ host: `tcp://127.0.0.1:${port}`, env });
    await assert.rejects(engineInfo(wrong.docker, { local: false, host: wrong.host }), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.equal(err.kind, 'tls', err.engineMessage);
      assert.match(err.message, /DOCKER_CERT_PATH/);
      return true;
    });
    dir.cleanup();
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
