// Cluster settings (trellis.clusters with flags over them) and what deploy / canary / promote / rollback
// change, from the versions that run now: pure planning, no cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clustersFromSettings, parseCluster, resolveCluster, stripJsonComments } from '../../src/services/deploy/cluster-config';
import { currentFromHistory, planDeploy, planPromote, planRollback } from '../../src/services/deploy/deploy-plan';
import type { DeploymentSummary } from '../../src/services/deploy/record';
import { tempDir } from '../support/platform';

const cluster = parseCluster({ name: 'prod', namespace: 'ml', registry: 'registry.example.com/ml', replicas: 3 });
const img = (v: string) => `registry.example.com/ml/trellis-serving/mnist:v${v}-0123456789ab`;
const req = { cluster, modelName: 'mnist', version: '4', image: img('4'), replicas: 3, gatewayApi: false };

test('settings.json with comments and trailing commas; flags override; a missing cluster says how to add one', () => {
  const tmp = tempDir('trellis-deploy-settings-');
  try {
    mkdirSync(join(tmp.dir, '.vscode'));
    writeFileSync(
      join(tmp.dir, '.vscode', 'settings.json'),
      `{
  // clusters for trellis deploy
  "editor.tabSize": 2, /* "trellis.clusters": "not this" */
  "trellis.clusters": [
    { "name": "prod", "context": "gke-prod", "namespace": "ml", "registry": "europe-docker.pkg.dev/p/ml", "gpusPerReplica": 1,
      "resources": { "requests": { "cpu": "2" } }, "url": "http://x//y", },
  ],
}`,
    );
    const entries = clustersFromSettings(tmp.dir);
    assert.throws(() => resolveCluster(entries, 'prod'), /unknown key 'url'/);
    delete (entries[0] as Record<string, unknown>).url;
    const c = resolveCluster(entries, 'prod', { namespace: 'staging', replicas: 2 });
    assert.deepEqual([c.context, c.namespace, c.registry, c.gpusPerReplica, c.replicas], ['gke-prod', 'staging', 'europe-docker.pkg.dev/p/ml', 1, 2]);
    assert.deepEqual(c.requests, { cpu: '2', memory: '512Mi' });
    assert.throws(() => resolveCluster(entries, 'dev'), /No cluster 'dev' in trellis\.clusters \(configured: prod\).*--registry/);
    assert.equal(resolveCluster(entries, 'dev', { registry: '127.0.0.1:5000' }).namespace, 'default');
  } finally {
    tmp.cleanup();
  }
  assert.equal(stripJsonComments('{"a": "http://x", // c\n "b": [1,],}'), '{"a": "http://x", \n "b": [1]}');
});

test('bad cluster settings name the field and the fix', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ name: 'a' }, /no "registry"/],
    [{ name: 'a', registry: 'https://reg.example.com' }, /not HOST\[:PORT\]\[\/PATH\]/],
    [{ name: 'a', registry: 'r.io', namespace: 'ML_Team' }, /namespace 'ML_Team' is not a valid Kubernetes namespace/],
    [{ name: 'a', registry: 'r.io', resources: { limits: { memory: 'lots' } } }, /'lots' is not a Kubernetes quantity/],
    [{ name: 'a', registry: 'r.io', resources: { limits: { 'nvidia.com/gpu': '1' } } }, /gpusPerReplica/],
    [{ name: 'a', registry: 'r.io', gpusPerReplica: -1 }, /gpusPerReplica \(--gpus\) must be a whole number from 0 to 16/],
    [{ name: 'a', registry: 'r.io', autoscale: { minReplicas: 5, maxReplicas: 2 } }, /maxReplicas \(2\) is below minReplicas \(5\)/],
    [{ name: 'a', registry: 'r.io', autoscale: { metric: { name: 'rps' } } }, /averageValue/],
    [{ name: 'a', registry: 'r.io', gateway: 'public' }, /"gateway" must be/],
  ];
  for (const [raw, message] of bad) assert.throws(() => parseCluster(raw), message, JSON.stringify(raw));
});

test('a plain deploy replaces every other version once ready, and can go back to what ran', () => {
  const plan = planDeploy(req, { stable: { version: '3', image: img('3'), replicas: 3 }, canary: { version: '5', image: img('5'), replicas: 1, percent: 10 } });
  assert.equal(plan.state.stable.version, '4');
  assert.equal(plan.state.canary, undefined);
  assert.deepEqual(plan.prune, ['3', '5']);
  assert.equal(plan.previous?.stable.version, '3');
  assert.equal(plan.previous?.canary?.version, '5');
  const first = planDeploy(req, {});
  assert.deepEqual([first.prune, first.previous], [[], undefined]);
});

test('a canary goes next to the stable version: replica ratio without a gateway, HTTPRoute weights with one', () => {
  const current = { stable: { version: '3', image: img('3'), replicas: 3 } };
  const ratio = planDeploy({ ...req, canaryPercent: 25 }, current);
  assert.equal(ratio.state.traffic, 'replicas');
  assert.deepEqual([ratio.state.stable.version, ratio.state.canary?.version, ratio.state.canary?.replicas], ['3', '4', 1]);
  assert.match(ratio.notes[0]!, /1 canary and 3 stable replicas behind one Service ≈ 25% of requests/);
  assert.deepEqual(ratio.prune, []);

  const withGateway = parseCluster({ name: 'prod', namespace: 'ml', registry: 'r.io', gateway: { name: 'public' } });
  const weights = planDeploy({ ...req, cluster: withGateway, canaryPercent: 10, gatewayApi: true }, current);
  assert.equal(weights.state.traffic, 'httproute');
  assert.match(weights.notes[0]!, /90% to version 3, 10% to version 4/);
  // A configured gateway on a cluster without the Gateway API falls back to the ratio.
  assert.equal(planDeploy({ ...req, cluster: withGateway, canaryPercent: 10, gatewayApi: false }, current).state.traffic, 'replicas');

  assert.throws(() => planDeploy({ ...req, canaryPercent: 10 }, {}), /No stable version of mnist runs on cluster prod.*without --canary first/);
  assert.throws(() => planDeploy({ ...req, version: '3', canaryPercent: 10 }, current), /already the stable version/);
  assert.throws(() => planDeploy({ ...req, canaryPercent: 100 }, current), /from 1 to 99/);
});

test('promote makes the canary stable at the stable replica count; rollback removes the canary', () => {
  const current = { stable: { version: '3', image: img('3'), replicas: 3 }, canary: { version: '4', image: img('4'), replicas: 1, percent: 25 } };
  const promoted = planPromote(cluster, 'mnist', current, false);
  assert.deepEqual(promoted.state.stable, { version: '4', image: img('4'), replicas: 3 });
  assert.equal(promoted.state.canary, undefined);
  assert.deepEqual(promoted.prune, ['3']);
  assert.throws(() => planPromote(cluster, 'mnist', { stable: current.stable }, false), /no canary on cluster prod to promote/);

  const back = planRollback(cluster, 'mnist', current, [], false);
  assert.deepEqual([back.state.stable.version, back.state.canary, back.prune], ['3', undefined, ['4']]);
});

test('rollback without a canary returns to the version deployed before, as the tracker recorded it', () => {
  const rec = (version: string, result: DeploymentSummary['result'], action: DeploymentSummary['action'] = 'deploy', cl = 'prod'): DeploymentSummary => ({
    run_id: `r${version}${result}`, action, cluster: cl, namespace: 'ml', model: 'mnist', version, image: img(version), result, startedAt: Number(version), endedAt: Number(version) + 1,
  });
  // Newest first, as listDeployments returns them.
  const history = [rec('4', 'ready'), rec('3', 'failed'), rec('2', 'ready', 'canary'), rec('9', 'ready', 'deploy', 'staging'), rec('1', 'ready')];
  const plan = planRollback(cluster, 'mnist', { stable: { version: '4', image: img('4'), replicas: 3 } }, history, false);
  assert.deepEqual(plan.state.stable, { version: '1', image: img('1'), replicas: 3 });
  assert.deepEqual(plan.prune, ['4']);
  assert.throws(() => planRollback(cluster, 'mnist', { stable: { version: '4', image: img('4'), replicas: 3 } }, [rec('4', 'ready')], false), /No earlier version/);
  assert.throws(() => planRollback(cluster, 'mnist', {}, history, false), /does not run on cluster prod/);
  assert.deepEqual(currentFromHistory(history, 'prod', 'mnist').stable?.version, '4');
  assert.deepEqual(currentFromHistory(history, 'dev', 'mnist'), {});
});
