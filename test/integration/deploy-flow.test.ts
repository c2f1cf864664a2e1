// The whole `trellis deploy` flow through the built CLI: the real model image built on the real private
// dockerd and pushed to a real local registry, applied to a MOCK Kubernetes API server (no cluster can run
// here; the mock plays the controllers, see fixtures/k8s/mock-api-server.ts): deploy, canary, promote,
// rollback, a failing rollout rolled back automatically, status, and every action recorded in the tracker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store';
import { slug } from '../../src/services/deploy/names';
import { listDeployments } from '../../src/services/deploy/record';
import { startLocalRegistry, type LocalRegistry } from '../fixtures/k8s/local-registry';
import { startMockApiServer, type MockApiServer } from '../fixtures/k8s/mock-api-server';
import { mlpModel } from '../fixtures/onnx-models';
import { CLI, ensureBuilt, runProcess, type Finished } from '../fixtures/processes';
import { testDockerEngine } from '../support/docker-engine';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const tmp = tempDir('trellis-deploy-flow-');
const data = join(tmp.dir, 'data');
const workspace = join(tmp.dir, 'ws');
const MODEL = 'Flow MLP';
const SLUG = slug(MODEL);
let api: MockApiServer;
let registry: LocalRegistry;
let env: NodeJS.ProcessEnv;

const trellis = (...args: string[]): Promise<Finished> => runProcess(process.execPath, [CLI, '-d', data, 'deploy', ...args], { cwd: workspace, env, timeoutMs: 120_000 });
const ok = (r: Finished, what: string): Finished => {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};
const deploymentsOnCluster = () =>
  [...api.objects.values()]
    .filter((o) => o.kind === 'Deployment')
    .map((d) => `${d.metadata.labels['trellis.version']}:${d.metadata.labels['trellis.track']}:${d.spec.replicas}`)
    .sort();
const manifestFiles = () => readdirSync(join(workspace, 'deploy', 'mock', SLUG)).filter((f) => f.startsWith('deployment-')).sort();

before(async () => {
  ensureBuilt();
  const { host } = await testDockerEngine();
  registry = await startLocalRegistry(join(tmp.dir, 'registry'));
  api = await startMockApiServer();
  const store = openStore(data);
  await registerModel(store, MODEL, mlpModel().bytes);
  await registerModel(store, MODEL, mlpModel().bytes);
  store.close();
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({
      'trellis.clusters': [
        { name: 'mock', context: 'mock', namespace: 'ml', registry: `${registry.address}/ml`, replicas: 2 },
        { name: 'gw', context: 'mock', namespace: 'gw', registry: `${registry.address}/ml`, replicas: 3, gateway: { name: 'public', namespace: 'gateways' }, ingressHost: 'models.example.com' },
      ],
    }));
  env = { ...process.env, DOCKER_HOST: host, KUBECONFIG: api.kubeconfig(tmp.dir) };
  delete env.TRELLIS_URL;
});

after(async () => {
  await api?.stop();
  registry?.stop();
  const { docker } = await testDockerEngine();
  for (const i of await docker.listImages({ filters: { label: [`trellis.model=${MODEL}`] } })) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  tmp.cleanup();
});

test('deploy, canary, promote, rollback, and a failed rollout rolled back on its own; all recorded', { timeout: 300_000 }, async () => {
  // 1. A first deploy: manifests written, image built and pushed with layer progress, applied, ready.
  const first = ok(await trellis(`${MODEL}/1`, '--cluster', 'mock'), 'deploy v1');
  assert.match(first.stderr, /wrote 4 manifests to .*deploy\/mock\/flow-mlp-[0-9a-f]{6}/);
  assert.match(first.stderr, /Step 1\/\d+ : FROM sha256:/);
  assert.match(first.stderr, /: Pushed/);
  assert.match(first.stderr, /created Secret flow-mlp-[0-9a-f]{6}-token \(the serving token\)/);
  assert.match(first.stderr, /applied Deployment ml\/flow-mlp-[0-9a-f]{6}-v1/);
  assert.match(first.stderr, /flow-mlp-[0-9a-f]{6}-v1: 2\/2 replicas ready/);
  assert.match(first.stdout, /^ready: Flow MLP version 1 \(127\.0\.0\.1:\d+\/ml\/trellis-serving\/flow-mlp-[0-9a-f]{6}:v1-[0-9a-f]{12}\)/);
  assert.deepEqual(deploymentsOnCluster(), ['1:stable:2']);
  const applied = api.requests.filter((r) => r.startsWith('PATCH')).map((r) => r.replace(/^PATCH \/apis?\/(.*\/)?namespaces\/ml\//, ''));
  assert.deepEqual(applied, [`secrets/${SLUG}-token`, `services/${SLUG}`, `deployments/${SLUG}-v1`, `horizontalpodautoscalers/${SLUG}`, `poddisruptionbudgets/${SLUG}`]);
  const image = (await fetch(`http://${registry.address}/v2/ml/trellis-serving/${SLUG}/tags/list`).then((r) => r.json())) as { tags: string[] };
  assert.deepEqual(image.tags.map((t) => t.split('-')[0]), ['v1']);

  // 2. A canary of version 2 next to it (replica ratio: the mock serves no Gateway API).
  ok(await trellis(`${MODEL}/2`, '--cluster', 'mock', '--canary', '50'), 'canary v2');
  assert.deepEqual(deploymentsOnCluster(), ['1:stable:2', '2:canary:2']);
  assert.deepEqual(manifestFiles(), [`deployment-${SLUG}-v1.yaml`, `deployment-${SLUG}-v2.yaml`]);

  // 3. Promote: version 2 is stable at the stable count; version 1 goes.
  const promoted = ok(await trellis('promote', MODEL, '--cluster', 'mock'), 'promote');
  assert.match(promoted.stderr, /deleted Deployment ml\/flow-mlp-[0-9a-f]{6}-v1/);
  assert.deepEqual(deploymentsOnCluster(), ['2:stable:2']);
  assert.deepEqual(manifestFiles(), [`deployment-${SLUG}-v2.yaml`]);

  // 4. Rollback with no canary: back to version 1, as recorded in the tracker.
  ok(await trellis('rollback', MODEL, '--cluster', 'mock'), 'rollback');
  assert.deepEqual(deploymentsOnCluster(), ['1:stable:2']);

  // 5. Version 2 again, but its image cannot be pulled: the rollout fails and is rolled back.
  const v2image = `${registry.address}/ml/trellis-serving/${SLUG}:${image.tags[0]!.replace(/^v1/, 'v2')}`;
  api.unpullable.add(v2image);
  const failed = await trellis(`${MODEL}/2`, '--cluster', 'mock', '--rollback-on-failure', '--timeout', '30s');
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /failed \(ImagePullBackOff\): Pod flow-mlp-[0-9a-f]{6}-v2-6f7d8c9b5-abcde cannot pull/);
  assert.match(failed.stderr, /what to do: Check that the tag exists in the registry/);
  assert.match(failed.stderr, /rolling back/);
  assert.match(failed.stdout, /^rolled-back: Flow MLP version 2/);
  assert.deepEqual(deploymentsOnCluster(), ['1:stable:2']);
  assert.deepEqual(manifestFiles(), [`deployment-${SLUG}-v1.yaml`], 'the files show what runs again');
  api.unpullable.clear();

  // An apply the cluster refuses (no RBAC permission) fails with what to do, and is recorded as failed.
  api.forbidApply = 'deployments.apps "x" is forbidden: User "ci" cannot patch resource "deployments" in API group "apps" in the namespace "ml"';
  const refused = await trellis(`${MODEL}/2`, '--cluster', 'mock');
  api.forbidApply = undefined;
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /error: the API server of context 'mock' .* refused: .*cannot patch resource "deployments".* needs RBAC permission/);
  assert.deepEqual(deploymentsOnCluster(), ['1:stable:2']);

  // Status from the cluster and the tracker.
  const status = JSON.parse(ok(await trellis('status', '--cluster', 'mock', '--json'), 'status').stdout);
  assert.deepEqual(status.versions.map((v: any) => [v.model, v.version, v.track, v.decision.state]), [[MODEL, '1', 'stable', 'ready']]);
  assert.deepEqual(status.history.map((h: any) => `${h.action} ${h.version} ${h.result}`), ['deploy 2 failed', 'deploy 2 rolled-back', 'rollback 1 ready', 'promote 2 ready', 'canary 2 ready', 'deploy 1 ready']);

  const store = openStore(data);
  try {
    const recorded = listDeployments(store);
    assert.equal(recorded.length, 6);
    assert.deepEqual(Object.keys(recorded[0]!).filter((k) => ['cluster', 'model', 'version', 'image', 'startedAt', 'endedAt', 'result'].includes(k)).length, 7);
    assert.match(recorded[0]!.message!, /needs RBAC permission/);
    assert.match(recorded[1]!.message!, /cannot pull/);
    const runs = store.runs.search({ experimentIds: [store.experiments.getByName('deployments').experiment_id] }).items;
    assert.deepEqual(runs.map((r) => r.info.status).sort(), ['FAILED', 'FAILED', 'FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
  } finally {
    store.close();
  }
  assert.ok(existsSync(join(workspace, 'deploy', 'mock', SLUG, `service-${SLUG}.yaml`)));
});

test('with a Gateway API gateway, a canary is split by HTTPRoute weights over per-version Services; promote leaves one backend', { timeout: 300_000 }, async () => {
  api.gatewayApi = true;
  try {
    ok(await trellis(`${MODEL}/1`, '--cluster', 'gw'), 'deploy v1 to gw');
    const canary = ok(await trellis(`${MODEL}/2`, '--cluster', 'gw', '--canary', '10'), 'canary v2 to gw');
    assert.match(canary.stderr, /canary by HTTPRoute weights: 90% to version 1, 10% to version 2/);
    const route = () => api.objects.get(`/apis/gateway.networking.k8s.io/v1/namespaces/gw/httproutes/${SLUG}`)!;
    assert.deepEqual(route().spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight]), [[`${SLUG}-v1`, 90], [`${SLUG}-v2`, 10]]);
    assert.deepEqual(route().spec.hostnames, ['models.example.com']);
    const services = () => [...api.objects.keys()].filter((k) => k.startsWith('/api/v1/namespaces/gw/services/')).map((k) => k.split('/').pop()).sort();
    assert.deepEqual(services(), [SLUG, `${SLUG}-v1`, `${SLUG}-v2`]);
    // The canary's replicas follow its weight: 10% of 3, at least 1.
    const canaryDeployment = api.objects.get(`/apis/apps/v1/namespaces/gw/deployments/${SLUG}-v2`)!;
    assert.equal(canaryDeployment.spec.replicas, 1);

    ok(await trellis('promote', MODEL, '--cluster', 'gw'), 'promote on gw');
    assert.deepEqual(route().spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight]), [[`${SLUG}-v2`, 100]]);
    assert.deepEqual(services(), [SLUG, `${SLUG}-v2`]);
    assert.equal(api.objects.get(`/apis/apps/v1/namespaces/gw/deployments/${SLUG}-v2`)!.spec.replicas, 3);
  } finally {
    api.gatewayApi = false;
  }
});
