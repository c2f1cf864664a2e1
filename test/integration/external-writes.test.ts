// Writes by other processes reach the platform's event stream: another SQLite connection (as the CLI or
// a deploy would have) commits, and the server sends `store.changed`; its own writes never do. And the
// KServe health paths answer without the token that everything else beyond loopback needs (Kubernetes
// probes cannot send one), while model data still needs it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/core/store';
import { startServingServer } from '../../src/server/serving-server';
import { mlpModel } from '../fixtures/onnx-models';
import { openEventStream, sleep } from '../fixtures/processes';
import { registerModel } from '../support/models';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;
before(async () => {
  p = await startTestPlatform();
});
after(() => p.stop());

test('a commit by another connection becomes a store.changed event; the server\'s own writes do not', async () => {
  const events = await openEventStream(`${p.server.url}/api/trellis/events`);
  try {
    await p.mlflow('POST', 'experiments/create', { name: 'through-the-server' });
    await events.stream.waitFor((e) => e.event === 'experiment.created');
    await sleep(1500);
    assert.equal(events.stream.events.filter((e) => e.event === 'store.changed').length, 0, 'own writes are announced by their own events only');
    const other = openStore(p.dataDir);
    other.experiments.create('from-another-process');
    other.db.close();
    const changed = await events.stream.waitFor((e) => e.event === 'store.changed', 5_000);
    assert.deepEqual(changed.data, { type: 'store.changed' });
  } finally {
    events.stream.close();
  }
});

test('beyond loopback, /v2/health/live and /v2/health/ready answer without the token; model data does not', async () => {
  const store = openStore(p.dataDir);
  await registerModel(store, 'mlp', mlpModel().bytes, { alias: 'prod' });
  store.db.close();
  const server = await startServingServer({ dataDir: p.dataDir, models: ['mlp@prod'], host: '0.0.0.0', token: 'secret-token', announce: false, version: 'test', log: () => {} });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    assert.equal((await fetch(`${base}/v2/health/live`)).status, 200);
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
    assert.equal((await fetch(`${base}/v2/models/mlp`)).status, 401);
    assert.equal((await fetch(`${base}/v2/models/mlp`, { headers: { authorization: 'Bearer secret-token' } })).status, 200);
  } finally {
    await server.close();
  }
});
