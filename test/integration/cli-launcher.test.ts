// The `trellis` launcher: dist/cli.js run as a program, by its `env -S` shebang (esbuild.mjs).
// NODE_EXTRA_CA_CERTS: node starts without parsing the file, and the CLI still trusts its certificates when
// it speaks TLS (a real certificate authority from openssl, a real TLS front on a real platform server).
// --no-memory-reducer: what a server started by `trellis` runs with (src/core/server-node-flags.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { CLI, ensureBuilt, runProcess } from '../fixtures/processes';
import { SERVER_NODE_FLAGS } from '../../src/core/server-node-flags';
import { startTestPlatform, tempDir, type TestPlatform } from '../support/platform';
import { DEFERRED_CA_CERTS, takeDeferredCaCerts, withExtraCaCerts } from '../../src/cli/deferred-ca-certs';

let platform: TestPlatform;
let front: tls.Server;
let httpsUrl = '';
const dir = tempDir('trellis-ca-');
const caFile = join(dir.dir, 'ca.pem');

/** A CA and a certificate it signs for localhost and 127.0.0.1 (EC keys: quick to make). */
function makeCertificates(): { key: string; cert: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir.dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Trellis test CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir.dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  return { key: readFileSync(join(dir.dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir.dir, 'server.pem'), 'utf8') };
}

before(async () => {
  ensureBuilt();
  platform = await startTestPlatform();
  const { key, cert } = makeCertificates();
  const target = new URL(platform.server.url);
  // TLS in front of the platform's plain HTTP, as a reverse proxy with a company CA's certificate would be.
  front = tls.createServer({ key, cert }, (socket) => {
    const upstream = netConnect(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  httpsUrl = `https://localhost:${(front.address() as AddressInfo).port}`;
});
after(async () => {
  front.close();
  await platform.stop();
  dir.cleanup();
});

/** The CLI as a user runs it: the file itself, through its shebang (not `node dist/cli.js`). */
const trellis = (args: string[], env: NodeJS.ProcessEnv) => runProcess(CLI, args, { env, timeoutMs: 30_000 });
const envWith = (extra: Record<string, string | undefined>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
};
const listExperiments = ['--url', '', '--token', '', 'experiments', 'list', '--json'];
const args = () => listExperiments.map((a, i) => (i === 1 ? httpsUrl : i === 3 ? platform.server.token : a));

test('the launcher defers NODE_EXTRA_CA_CERTS: a command that speaks no TLS never reads the file', async () => {
  // Node 20 warns at start-up when the file cannot be read; deferred, only a TLS connection would read it.
  const run = await trellis(['--version'], envWith({ NODE_EXTRA_CA_CERTS: join(dir.dir, 'missing.pem') }));
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /extra certs/i);
});

test('over https, the CLI trusts the certificates NODE_EXTRA_CA_CERTS names, as node would', async () => {
  const trusted = await trellis(args(), envWith({ NODE_EXTRA_CA_CERTS: caFile }));
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.ok(JSON.parse(trusted.stdout).some((e: { name: string }) => e.name === 'Default'), trusted.stdout);

  // Without the CA the same request is refused: the trust above came from the deferred file.
  const untrusted = await trellis(args(), envWith({ NODE_EXTRA_CA_CERTS: undefined }));
  assert.notEqual(untrusted.code, 0);
  assert.match(untrusted.stderr, /certificate/i);

  // Started by node directly (no launcher): node loads the file itself, same answer.
  const direct = await runProcess(process.execPath, [CLI, ...args()], { env: envWith({ NODE_EXTRA_CA_CERTS: caFile }), timeoutMs: 30_000 });
  assert.equal(direct.code, 0, direct.stderr);
});

test('an unreadable file is warned about at the first TLS connection, as node warns at start-up', async () => {
  const run = await trellis(args(), envWith({ NODE_EXTRA_CA_CERTS: join(dir.dir, 'missing.pem') }));
  assert.notEqual(run.code, 0, 'the CA is not trusted');
  assert.match(run.stderr, /Ignoring extra certs from `.*missing\.pem`, load failed/);
});

test('fetch (undici) goes through the same contexts: the extra CA is trusted there too', async () => {
  // First without it (a refused connection is not pooled, so the next fetch opens its own).
  await assert.rejects(fetch(`${httpsUrl}/health`), 'the test CA is not among the roots');
  const original = tls.createSecureContext;
  const warnings: string[] = [];
  tls.createSecureContext = withExtraCaCerts(original, caFile, (m) => warnings.push(m));
  try {
    const res = await fetch(`${httpsUrl}/health`, { headers: { connection: 'close' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    tls.createSecureContext = original;
  }
  assert.deepEqual(warnings, []);
});

test('an explicit ca replaces the roots, extra ones included, as in node: the file is not even read', () => {
  const warnings: string[] = [];
  const create = withExtraCaCerts(tls.createSecureContext, join(dir.dir, 'missing.pem'), (m) => warnings.push(m));
  create({ ca: readFileSync(caFile, 'utf8') });
  assert.deepEqual(warnings, []);
  create({});
  create({});
  assert.equal(warnings.length, 1, 'warned once');
});

test('children see NODE_EXTRA_CA_CERTS as the user set it, or unset', () => {
  const set: NodeJS.ProcessEnv = { [DEFERRED_CA_CERTS]: '/etc/company-ca.pem', NODE_EXTRA_CA_CERTS: '' };
  assert.equal(takeDeferredCaCerts(set), '/etc/company-ca.pem');
  assert.deepEqual(set, { NODE_EXTRA_CA_CERTS: '/etc/company-ca.pem' });
  const unset: NodeJS.ProcessEnv = { [DEFERRED_CA_CERTS]: '', NODE_EXTRA_CA_CERTS: '' };
  assert.equal(takeDeferredCaCerts(unset), undefined);
  assert.deepEqual(unset, {});
  const notLaunched: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/x.pem' };
  assert.equal(takeDeferredCaCerts(notLaunched), undefined);
  assert.deepEqual(notLaunched, { NODE_EXTRA_CA_CERTS: '/x.pem' });
});

test('a server started as `trellis server` runs node with the server flags', async () => {
  const data = join(dir.dir, 'server-data');
  const child = spawn(CLI, ['--data-dir', data, 'server', '--port', '0'], { stdio: 'ignore' });
  try {
    const announced = join(data, 'server.json');
    for (let i = 0; i < 200 && !existsSync(announced); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(announced), 'the server announced itself');
    // The launcher execs node in place (env -S): the child's own command line is node's.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of SERVER_NODE_FLAGS) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
