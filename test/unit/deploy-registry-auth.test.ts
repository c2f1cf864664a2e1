// Push credentials from the docker CLI's config.json, as `docker login` writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerConfigPath, registryAuth, registryHost } from '../../src/services/deploy/registry-auth';
import { tempDir } from '../support/platform';

test('credentials by registry host; helpers named, not run; no config means no credentials', () => {
  const tmp = tempDir('trellis-docker-config-');
  try {
    const path = join(tmp.dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        auths: {
          'registry.example.com:5000': { auth: Buffer.from('ci:s3cr:et').toString('base64') },
          'https://legacy.example.com': { auth: Buffer.from('old:pw').toString('base64') },
          'helped.example.com': {},
        },
        credsStore: 'desktop',
        credHelpers: { 'gcr.io': 'gcloud' },
      }),
    );
    assert.deepEqual(registryAuth('registry.example.com:5000/ml/team', path), { auth: { username: 'ci', password: 's3cr:et', serveraddress: 'registry.example.com:5000' } });
    assert.deepEqual(registryAuth('legacy.example.com/x', path), { auth: { username: 'old', password: 'pw', serveraddress: 'legacy.example.com' } });
    assert.deepEqual(registryAuth('gcr.io/project', path), { helper: 'docker-credential-gcloud' });
    assert.deepEqual(registryAuth('helped.example.com', path), { helper: 'docker-credential-desktop' });
    assert.equal(registryAuth('127.0.0.1:5000', path), undefined);
    assert.equal(registryAuth('127.0.0.1:5000', join(tmp.dir, 'missing.json')), undefined);
  } finally {
    tmp.cleanup();
  }
  assert.equal(registryHost('127.0.0.1:5000/ml'), '127.0.0.1:5000');
  assert.equal(dockerConfigPath({ DOCKER_CONFIG: '/cfg' }), '/cfg/config.json');
});
