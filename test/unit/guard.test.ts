import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { hostAllowed, tokenAccepted } from '../../src/server/guard';

const options = { token: 'secret-token', requireToken: true, allowedHosts: ['trellis.internal'] };

test('Host check: IP literals and known names pass, other names are refused (DNS rebinding)', () => {
  for (const ok of ['127.0.0.1:5000', 'localhost:80', '[::1]:5000', '172.17.0.1:5000', 'host.docker.internal:5000', 'trellis.internal']) {
    assert.equal(hostAllowed(ok, options), true, ok);
  }
  for (const bad of ['evil.example', 'evil.example:5000', 'localhost.evil.example', undefined]) assert.equal(hostAllowed(bad, options), false, String(bad));
});

test('bearer token: only the exact token passes when required', () => {
  const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;
  assert.equal(tokenAccepted(req('Bearer secret-token'), options), true);
  assert.equal(tokenAccepted(req('bearer secret-token'), options), true);
  assert.equal(tokenAccepted(req('Bearer secret-tokem'), options), false);
  assert.equal(tokenAccepted(req('Basic c2VjcmV0'), options), false);
  assert.equal(tokenAccepted(req(), options), false);
  assert.equal(tokenAccepted(req(), { ...options, requireToken: false }), true);
});
