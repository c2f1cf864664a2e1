// `trellis deploy` through the built CLI: --dry-run writes the manifests into the workspace
// (deploy/<cluster>/<model>/*.yaml, read back with `yaml`) from the cluster settings in
// .vscode/settings.json, canaries planned from the tracker's records, bad input refused with what to do;
// and the recorded deployments served to the Clusters view by GET /api/trellis/deployments.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { openStore } from '../../src/core/store';
import { slug } from '../../src/services/deploy/names';
import { listDeployments, recordDeployment, type DeploymentRecord } from '../../src/services/deploy/record';
import { mlpModel } from '../fixtures/onnx-models';
import { CLI, ensureBuilt, runProcess, type Finished } from '../fixtures/processes';
import { registerModel } from '../support/models';
import { startTestPlatform, tempDir } from '../support/platform';

const tmp = tempDir('trellis-deploy-cli-');
const data = join(tmp.dir, 'data');
const workspace = join(tmp.dir, 'ws');
const MODEL = 'Digits MLP';
const dir = () => join(workspace, 'deploy', 'staging', slug(MODEL));

const deploy = (...args: string[]): Promise<Finished> => {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: join(tmp.dir, 'no-kubeconfig') };
  delete env.TRELLIS_URL;
  return runProcess(process.execPath, [CLI, '-d', data, 'deploy', ...args], { cwd: workspace, env });
};

const record = (rec: Partial<DeploymentRecord>): void => {
  const store = openStore(data);
  try {
    recordDeployment(store, {
      action: 'deploy', cluster: 'staging', namespace: 'ml', model: MODEL, version: '1', image: 'registry.example.com/ml/trellis-serving/x:v1-0123456789ab',
      replicas: 3, result: 'ready', startedAt: Date.now() - 60_000, endedAt: Date.now() - 30_000, ...rec,
    });
  } finally {
    store.close();
  }
};

function readManifests(): { file: string; doc: any; text: string }[] {
  return readdirSync(dir())
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir(), file), 'utf8');
      return { file, doc: parse(text), text };
    });
}

before(async () => {
  ensureBuilt();
  const store = openStore(data);
  await registerModel(store, MODEL, mlpModel().bytes);
  await registerModel(store, MODEL, mlpModel().bytes, { alias: 'prod' });
  store.close();
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  writeFileSync(
    join(workspace, '.vscode', 'settings.json'),
    JSON.stringify({
      'trellis.clusters': [
        { name: 'staging', context: 'kind-staging', namespace: 'ml', registry: 'registry.example.com/ml', gpusPerReplica: 1, replicas: 3, autoscale: { minReplicas: 3, maxReplicas: 9, cpuUtilization: 60 } },
      ],
    }),
  );
});
after(() => tmp.cleanup());

test('--dry-run writes the Service, Deployment, HPA and PDB as YAML, labelled with the model and version; nothing is recorded', { timeout: 60_000 }, async () => {
  const r = await deploy(`${MODEL}@prod`, '--cluster', 'staging', '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Digits MLP version 2 → cluster staging \(namespace ml\), dry run/);
  assert.match(r.stderr, /note: 1 nvidia\.com\/gpu per replica are reserved, but the serving image runs onnxruntime's CPU provider/);
  assert.match(r.stdout, /^dry-run: Digits MLP version 2 \(registry\.example\.com\/ml\/trellis-serving\/digits-mlp-[0-9a-f]{6}:v2-[0-9a-f]{12}\)/);
  const docs = readManifests();
  assert.deepEqual(docs.map((d) => d.doc.kind).sort(), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  for (const { file, doc, text } of docs) {
    assert.ok(text.startsWith('# Written by `trellis deploy`'), file);
    assert.equal(file, `${doc.kind.toLowerCase()}-${doc.metadata.name}.yaml`);
    assert.equal(doc.metadata.namespace, 'ml');
    assert.equal(doc.metadata.labels['trellis.model'], slug(MODEL), file);
    assert.equal(doc.metadata.labels['trellis.version'], '2', file);
    assert.equal(doc.metadata.labels['app.kubernetes.io/managed-by'], 'trellis', file);
  }
  const deployment = docs.find((d) => d.doc.kind === 'Deployment')!.doc;
  assert.equal(deployment.spec.replicas, 3);
  assert.equal(deployment.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], '1');
  assert.equal(deployment.spec.template.metadata.labels['trellis.version'], '2');
  const hpa = docs.find((d) => d.doc.kind === 'HorizontalPodAutoscaler')!.doc;
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics[0].resource.target.averageUtilization], [3, 9, 60]);
  // Flags over the settings.
  const flagged = await deploy(`${MODEL}/1`, '--cluster', 'staging', '--dry-run', '--replicas', '2', '--gpus', '0', '--namespace', 'ml-dev');
  assert.equal(flagged.code, 0, flagged.stderr);
  const d1 = readManifests().find((d) => d.doc.kind === 'Deployment')!.doc;
  assert.deepEqual([d1.metadata.name, d1.metadata.namespace, d1.spec.replicas, d1.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']], [`${slug(MODEL)}-v1`, 'ml-dev', 2, undefined]);
  assert.ok(!existsSync(join(dir(), `deployment-${slug(MODEL)}-v2.yaml`)), 'the folder holds the new desired state only');
  const store = openStore(data);
  assert.deepEqual(listDeployments(store), []);
  store.close();
});

test('a canary dry run puts the version next to the stable one the tracker recorded; the YAML shows both tracks', { timeout: 60_000 }, async () => {
  const refused = await deploy(`${MODEL}/2`, '--cluster', 'staging', '--dry-run', '--canary', '25');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /No stable version of Digits MLP runs on cluster staging to put a canary next to: deploy one without --canary first/);

  record({ version: '1', replicas: 3 });
  const r = await deploy(`${MODEL}/2`, '--cluster', 'staging', '--dry-run', '--canary', '25%');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /canary by replica ratio: 1 canary and 3 stable replicas behind one Service ≈ 25% of requests/);
  assert.match(r.stderr, /dry run: version 1 taken as the stable one, from the tracker's last recorded deployment/);
  const deployments = readManifests().filter((d) => d.doc.kind === 'Deployment').map((d) => d.doc);
  assert.deepEqual(deployments.map((d) => [d.metadata.labels['trellis.version'], d.metadata.labels['trellis.track'], d.spec.replicas]).sort(), [['1', 'stable', 3], ['2', 'canary', 1]]);
  const hpa = readManifests().find((d) => d.doc.kind === 'HorizontalPodAutoscaler')!.doc;
  assert.equal(hpa.spec.scaleTargetRef.name, `${slug(MODEL)}-v1`);
});

test('bad input is refused before anything is written, saying what to do', { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [[`${MODEL}@prod`, '--cluster', 'nope', '--dry-run'], /No cluster 'nope' in trellis\.clusters \(configured: staging\)\. Add it to \.vscode\/settings\.json .* or give --registry/],
    [[`${MODEL}/2`, '--dry-run'], /--cluster is required/],
    [[MODEL, '--cluster', 'staging', '--dry-run'], /Deploy a definite version: NAME@ALIAS or NAME\/VERSION, got 'Digits MLP'/],
    [[`${MODEL}/9`, '--cluster', 'staging', '--dry-run'], /Model 'Digits MLP' has no version 9 \(its versions: 1, 2\)/],
    [[`${MODEL}/2`, '--cluster', 'staging', '--dry-run', '--canary', '150'], /--canary must be a whole number from 1 to 99/],
    [[`${MODEL}/2`, '--cluster', 'staging', '--dry-run', '--timeout', 'soon'], /duration/i],
    [[`${MODEL}/2`, '--cluster', 'adhoc', '--registry', 'https://x', '--dry-run'], /registry 'https:\/\/x' is not HOST\[:PORT\]\[\/PATH\]/],
    [['status', '--cluster', 'staging'], /Cannot read the kubeconfig .*no-kubeconfig \(ENOENT\)\. Set KUBECONFIG/],
  ];
  for (const [args, message] of cases) {
    const r = await deploy(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  // An ad-hoc cluster from flags works without settings.
  const adhoc = await deploy(`${MODEL}/2`, '--cluster', 'adhoc', '--registry', '127.0.0.1:5000', '--dry-run');
  assert.equal(adhoc.code, 0, adhoc.stderr);
  assert.ok(existsSync(join(workspace, 'deploy', 'adhoc', slug(MODEL), `deployment-${slug(MODEL)}-v2.yaml`)));
});

test('GET /api/trellis/deployments: recorded deployments newest first, by cluster and model, the newest per model', async () => {
  const platform = await startTestPlatform();
  try {
    const base = { action: 'deploy' as const, namespace: 'ml', image: 'r.io/trellis-serving/m:v1-0123456789ab', startedAt: 1_000 };
    recordDeployment(platform.server.store, { ...base, cluster: 'prod', model: 'a', version: '1', result: 'ready', endedAt: 2_000 });
    recordDeployment(platform.server.store, { ...base, cluster: 'prod', model: 'a', version: '2', result: 'rolled-back', message: 'Pod x cannot pull', startedAt: 3_000, endedAt: 4_000 });
    recordDeployment(platform.server.store, { ...base, cluster: 'dev', model: 'a', version: '2', result: 'ready', startedAt: 5_000, endedAt: 6_000 });
    const all = await platform.api('GET', '/api/trellis/deployments');
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.deployments.map((d: any) => `${d.cluster}/${d.version}/${d.result}`), ['dev/2/ready', 'prod/2/rolled-back', 'prod/1/ready']);
    const prod = await platform.api('GET', '/api/trellis/deployments?cluster=prod&latest=true');
    assert.deepEqual(prod.body.deployments.map((d: any) => [d.version, d.result, d.message, d.startedAt, d.endedAt]), [['2', 'rolled-back', 'Pod x cannot pull', 3_000, 4_000]]);
    // The fields every control-API listing has, for the Clusters view.
    const [latest] = prod.body.deployments;
    assert.deepEqual([latest.id, latest.name, latest.status], [latest.run_id, 'a v2', 'rolled-back']);
    // The runs are ordinary tracker runs: FAILED for a rolled-back deployment.
    const experiment = await platform.mlflow('GET', 'experiments/get-by-name', { experiment_name: 'deployments' });
    const runs = await platform.mlflow('POST', 'runs/search', { experiment_ids: [experiment.body.experiment.experiment_id] });
    assert.deepEqual(runs.body.runs.map((r: any) => r.info.status).sort(), ['FAILED', 'FINISHED', 'FINISHED']);
    assert.equal((await platform.api('GET', '/api/trellis/deployments?max_results=0')).status, 400);
  } finally {
    await platform.stop();
  }
});
