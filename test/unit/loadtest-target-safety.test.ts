import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { checkTarget, isLoopbackAddress, TargetRefusedError } from '../../src/services/loadtest/target-safety';

test('loopback addresses: 127.0.0.0/8, ::1 and IPv4-mapped loopback, in every spelling', () => {
  for (const a of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::1%lo']) {
    assert.equal(isLoopbackAddress(a), true, a);
  }
  for (const a of ['10.1.2.3', '0.0.0.0', '::', '128.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '::2', 'localhost', '1.127.0.0']) {
    assert.equal(isLoopbackAddress(a), false, a);
  }
});

test('loopback IP targets are allowed without --allow-remote', async () => {
  for (const url of ['http://127.0.0.1:8080/predict', 'http://127.3.4.5/', 'http://[::1]:9000/', 'https://[::ffff:127.0.0.1]/']) {
    const c = await checkTarget(url, { allowRemote: false });
    assert.equal(c.reason, 'loopback', url);
  }
});

test('localhost is loopback because it resolves to loopback', async () => {
  const c = await checkTarget('http://localhost:3000/x', { allowRemote: false });
  assert.equal(c.reason, 'loopback');
  assert.equal(c.host, 'localhost');
  assert.ok(c.addresses.length > 0 && c.addresses.every(isLoopbackAddress), c.addresses.join(','));
});

test('a remote address is refused with a message telling to add --allow-remote, and allowed with it', async () => {
  await assert.rejects(checkTarget('http://10.1.2.3/', { allowRemote: false }), (e: unknown) => {
    assert.ok(e instanceof TargetRefusedError);
    assert.match(e.message, /Refusing to load-test http:\/\/10\.1\.2\.3\//);
    assert.match(e.message, /not a loopback address/);
    assert.match(e.message, /add --allow-remote/);
    return true;
  });
  assert.equal((await checkTarget('http://10.1.2.3/', { allowRemote: true })).reason, 'allow-remote');
  await assert.rejects(checkTarget('http://0.0.0.0:80/', { allowRemote: false }), TargetRefusedError);
  await assert.rejects(checkTarget('http://[fe80::1]/', { allowRemote: false }), TargetRefusedError);
});

test("the Trellis server's own host is allowed, and named in refusals", async () => {
  const trellisUrl = 'http://10.9.8.7:5000';
  assert.equal((await checkTarget('http://10.9.8.7:8080/v2/models/m/infer', { allowRemote: false, trellisUrl })).reason, 'trellis');
  await assert.rejects(checkTarget('http://10.9.8.6:8080/', { allowRemote: false, trellisUrl }), /nor the Trellis server's host \(10\.9\.8\.7:5000\)/);
});

test('a name counts as loopback only when every address it resolves to is loopback', async () => {
  // The machine's own name: whatever the system resolver says, the verdict must follow it.
  const name = hostname();
  let addresses: string[] = [];
  try {
    addresses = (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    /* unresolvable here: checkTarget must refuse it */
  }
  const url = `http://${name}:8080/`;
  if (addresses.length > 0 && addresses.every(isLoopbackAddress)) {
    assert.equal((await checkTarget(url, { allowRemote: false })).reason, 'loopback');
  } else {
    await assert.rejects(checkTarget(url, { allowRemote: false }), TargetRefusedError);
  }
});

test('unresolvable names, other schemes and malformed URLs are refused with a clear message', async () => {
  await assert.rejects(checkTarget('http://no-such-host.invalid/', { allowRemote: false }), /Cannot resolve the target host 'no-such-host\.invalid'/);
  await assert.rejects(checkTarget('ftp://127.0.0.1/', { allowRemote: false }), /only http:\/\/ and https:\/\//);
  await assert.rejects(checkTarget('ftp://127.0.0.1/', { allowRemote: true }), /only http:\/\/ and https:\/\//);
  await assert.rejects(checkTarget('127.0.0.1:8080', { allowRemote: false }), TargetRefusedError);
  await assert.rejects(checkTarget('not a url', { allowRemote: false }), /Invalid target URL 'not a url'/);
});
