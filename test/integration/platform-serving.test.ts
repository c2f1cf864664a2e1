// Serving inside the platform server, with drift: a version registered through the MLflow REST API with
// a drift_reference.json in its run gets a reference profile; loaded through the control API it answers
// KServe v2 on the platform's own port; live inputs like the reference score low, shifted ones raise a
// drift alert on the event stream, in the drift API and as Prometheus gauges; an alias moved through the
// MLflow API moves the served version; a malformed reference file is reported on the version, not fatal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ApiError, TrellisClient } from '../../src/client/trellis-client';
import { ArtifactStore } from '../../src/core/artifacts';
import { twoInputModel } from '../fixtures/onnx-models';
import { openEventStream, sleep } from '../fixtures/processes';
import { prng } from '../support/prng';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;
const adder = twoInputModel();
const random = prng(3);
const rows = (n: number, shift = 0) => Array.from({ length: n }, () => Array.from({ length: 3 }, () => random() * 2 - 1 + shift));

before(async () => {
  p = await startTestPlatform();
});
after(() => p.stop());

/** A run holding model/model.onnx (+ a reference file), registered as a new version through the MLflow API. */
async function registerVersion(name: string, reference?: string): Promise<string> {
  const run = (await p.mlflow('POST', 'runs/create', { experiment_id: '0' })).body.run;
  const root = ArtifactStore.relativeOfUri(run.info.artifact_uri)!;
  const store = p.server.store;
  await store.artifacts.write(`${root}/model/model.onnx`, Readable.from([Buffer.from(adder.bytes)]));
  if (reference !== undefined) await store.artifacts.write(`${root}/model/drift_reference.json`, Readable.from([Buffer.from(reference)]));
  await p.mlflow('POST', 'registered-models/create', { name }).catch(() => undefined);
  const created = await p.mlflow('POST', 'model-versions/create', { name, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body.model_version.version;
}

async function versionTag(name: string, version: string, key: string): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const v = (await p.mlflow('GET', 'model-versions/get', { name, version })).body.model_version;
    const tag = (v.tags ?? []).find((t: { key: string }) => t.key === key);
    if (tag) return tag.value;
    await sleep(30);
  }
  return undefined;
}

const inferBody = (a: number[][], b: number[][]) => ({
  inputs: [
    { name: 'a', shape: [a.length, 3], datatype: 'FP32', data: a },
    { name: 'b', shape: [b.length, 3], datatype: 'FP32', data: b },
  ],
});

test('drift: profile at registration, low scores in distribution, an alert event and gauges after a shift', async () => {
  const version = await registerVersion('adder', JSON.stringify({ inputs: { a: rows(1000), b: rows(1000) } }));
  assert.match((await versionTag('adder', version, 'trellis.drift_reference')) ?? '', /drift_reference\.json$/);

  const loaded = await p.api('POST', '/api/trellis/serving/models', { model: `adder/${version}` });
  assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  assert.equal(loaded.body.model.drift_monitored, true);
  const events = await openEventStream(`${p.server.url}/api/trellis/events`);
  try {
    for (let i = 0; i < 30; i++) {
      const a = rows(20);
      const b = rows(20);
      const res = await p.api('POST', '/v2/models/adder/infer', inferBody(a, b));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(Math.abs(res.body.outputs[0].data[0] - (a[0]![0]! + b[0]![0]!)) < 1e-5, 'the platform serves real inference');
    }
    const calm = (await p.api('GET', '/api/trellis/serving/drift')).body.models[0];
    assert.equal(calm.name, 'adder');
    const calmFeatures = calm.inputs.flatMap((i: { scored: boolean; features: { psi: number; drifted: boolean }[] }) => (assert.ok(i.scored), i.features));
    assert.equal(calmFeatures.length, 6);
    assert.ok(calmFeatures.every((f: { psi: number; drifted: boolean }) => f.psi < 0.2 && !f.drifted), JSON.stringify(calmFeatures));

    // Input a moves by +3 (its window is replaced); b keeps its distribution.
    for (let i = 0; i < 50; i++) assert.equal((await p.api('POST', '/v2/models/adder/infer', inferBody(rows(20, 3), rows(20)))).status, 200);
    const alert = await events.stream.waitFor((e) => e.event === 'drift.alert', 10_000);
    assert.equal((alert.data as { model: string }).model, 'adder');
    assert.equal((alert.data as { input: string }).input, 'a');
    assert.ok((alert.data as { psi: number }).psi >= 0.2);
    const shifted = (await p.api('GET', '/api/trellis/serving/drift')).body.models[0].inputs as { input: string; features: { psi: number; ks: number; drifted: boolean }[] }[];
    assert.ok(shifted.find((i) => i.input === 'a')!.features.every((f) => f.drifted && f.ks > 0.5), 'every feature of a drifted');
    assert.ok(shifted.find((i) => i.input === 'b')!.features.every((f) => !f.drifted), 'b did not');
    const metrics = await (await fetch(`${p.server.url}/metrics`)).text();
    const psi = [...metrics.matchAll(/^trellis_drift_psi\{model="adder",version="1",input="a",feature="[^"]+"\} (\S+)$/gm)].map((m) => Number(m[1]));
    assert.equal(psi.length, 3);
    assert.ok(psi.every((v) => v >= 0.2));
    assert.match(metrics, /^trellis_drift_features_drifted\{model="adder",version="1"\} 3$/m);
    assert.match(metrics, /^trellis_inference_requests_total\{model="adder",version="1",outcome="ok"\} 80$/m);
  } finally {
    events.stream.close();
    await p.api('DELETE', '/api/trellis/serving/models', { name: 'adder' });
  }
});

test('an alias moved through the MLflow API moves the served version of the platform', async () => {
  const v1 = await registerVersion('sum');
  const v2 = await registerVersion('sum');
  await p.mlflow('POST', 'registered-models/alias', { name: 'sum', alias: 'prod', version: v1 });
  assert.equal((await p.api('POST', '/api/trellis/serving/models', { model: 'sum@prod' })).status, 200);
  const served = async () => (await p.api('POST', '/v2/models/sum/infer', inferBody(rows(1), rows(1)))).body.model_version;
  assert.equal(await served(), v1);
  await p.mlflow('POST', 'registered-models/alias', { name: 'sum', alias: 'prod', version: v2 });
  let now = await served();
  for (let i = 0; i < 100 && now !== v2; i++) {
    await sleep(20);
    now = await served();
  }
  assert.equal(now, v2);
  const listed = (await p.api('GET', '/api/trellis/serving/models')).body.models.filter((m: { name: string }) => m.name === 'sum');
  assert.deepEqual(listed.map((m: { version: string; refs: string[] }) => [m.version, m.refs]), [[v2, ['sum@prod']]]);
  const stopped = await p.api('DELETE', '/api/trellis/serving/models', { name: 'sum' });
  assert.deepEqual(stopped.body.stopped, [{ name: 'sum', version: v2 }]);
  assert.equal((await p.api('POST', '/v2/models/sum/infer', inferBody(rows(1), rows(1)))).status, 404);
});

test('loading and stopping a version announce serving.changed on the event stream', async () => {
  await registerVersion('announced');
  const events = await openEventStream(`${p.server.url}/api/trellis/events`);
  try {
    assert.equal((await p.api('POST', '/api/trellis/serving/models', { model: 'announced/1' })).status, 200);
    await events.stream.waitFor((e) => e.event === 'serving.changed');
    const seen = events.stream.events.length;
    assert.equal((await p.api('DELETE', '/api/trellis/serving/models', { name: 'announced' })).status, 200);
    await events.stream.waitFor((e) => e.event === 'serving.changed' && events.stream.events.indexOf(e) >= seen);
  } finally {
    events.stream.close();
  }
});

test('bad requests to the serving control API say what to send', async () => {
  const missing = await p.api('POST', '/api/trellis/serving/models', {});
  assert.equal(missing.status, 400);
  assert.match(missing.body.message, /\{"model": "NAME@ALIAS"/);
  const unknown = await p.api('POST', '/api/trellis/serving/models', { model: 'nope@prod' });
  assert.equal(unknown.status, 404);
  const notServed = await p.api('DELETE', '/api/trellis/serving/models', { name: 'nope' });
  assert.equal(notServed.status, 404);
  assert.match(notServed.body.message, /not served here/);
  // The typed client reads KServe's {"error"} bodies as well as MLflow's.
  await assert.rejects(new TrellisClient(p.server.url).servedModelMetadata('nope', '1'), (e: ApiError) => e.status === 404 && /Model 'nope' is not served here/.test(e.message));
});

test('a malformed reference file does not fail the registration: the version says what is wrong', async () => {
  const version = await registerVersion('broken', '{"inputs": {"a": [[1, 2');
  const tag = await versionTag('broken', version, 'trellis.drift_reference');
  assert.match(tag ?? '', /^error: .*drift_reference\.json/);
  assert.equal((await p.mlflow('GET', 'model-versions/get', { name: 'broken', version })).status, 200);
});
