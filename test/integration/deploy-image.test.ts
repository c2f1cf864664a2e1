// The model image on the real private dockerd: built from the real serving image plus the version's
// seed data directory, pushed with per-layer progress to a real registry (Debian's docker-registry,
// distribution v2, on 127.0.0.1 with its own config and storage), read back through the registry's HTTP
// API; then run the way the Deployment runs it (non-root, read-only root filesystem, no capabilities, no
// new privileges, the init container's copy, the server's command and the probe from the manifest).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { openStore } from '../../src/core/store';
import { VERSION } from '../../src/core/version';
import { ensureServingImage } from '../../src/services/containers/serving-image';
import { parseCluster } from '../../src/services/deploy/cluster-config';
import { modelManifests, type Manifest } from '../../src/services/deploy/manifests';
import { ensureModelImage, pushImage, splitTag, type PushProgress } from '../../src/services/deploy/model-image';
import { resolveModelRef } from '../../src/services/serving/model-resolver';
import { mlpModel } from '../fixtures/onnx-models';
import { ensureBuilt, REPO } from '../fixtures/processes';
import { testDockerEngine } from '../support/docker-engine';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';
import { startLocalRegistry, type LocalRegistry } from '../fixtures/k8s/local-registry';

const tmp = tempDir('trellis-deploy-image-');
let registry: LocalRegistry | undefined;
let registryAddr = '';
let docker: Docker;
let modelPath = '';
let servingImage = '';

before(async () => {
  ensureBuilt();
  docker = (await testDockerEngine()).docker;
  registry = await startLocalRegistry(join(tmp.dir, 'registry'));
  registryAddr = registry.address;
  const store = openStore(join(tmp.dir, 'data'));
  await registerModel(store, 'Digits MLP', mlpModel().bytes, { alias: 'prod' });
  await registerModel(store, 'Digits MLP', mlpModel().bytes, { alias: 'prod' });
  modelPath = resolveModelRef(store, 'Digits MLP@prod').path;
  store.close();
  servingImage = (await ensureServingImage(docker, { projectRoot: REPO, version: VERSION })).image;
});

after(async () => {
  registry?.stop();
  const images = await docker.listImages({ filters: { label: ['trellis.model=Digits MLP'] } });
  for (const i of images) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  tmp.cleanup();
});

const MODEL = () => ({ name: 'Digits MLP', version: '2', path: modelPath });

test('build and push to a local registry: per-layer progress, the tag in tags/list, the manifest digest the push reported', { timeout: 120_000 }, async () => {
  const built = await ensureModelImage(docker, { baseImage: servingImage, registry: `${registryAddr}/ml`, model: MODEL() });
  assert.match(built.image, new RegExp(`^${registryAddr.replace(/\./g, '\\.')}/ml/trellis-serving/digits-mlp-[0-9a-f]{6}:v2-${built.digest.slice(0, 12)}$`));
  const labels = (await docker.getImage(built.id).inspect()).Config.Labels;
  assert.equal(labels['trellis.model-digest'], `sha256:${built.digest}`);
  assert.equal((await docker.getImage(built.id).inspect()).Config.User, '65532:65532');

  const updates: PushProgress[] = [];
  const digest = await pushImage(docker, built.image, { onProgress: (p) => updates.push(p) });
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  const layers = updates.at(-1)!.layers;
  // The serving image's layer and the seed layer.
  assert.equal(layers.length, 2, JSON.stringify(layers));
  for (const l of layers) assert.equal(l.status, 'Pushed', JSON.stringify(l));
  assert.ok(updates.some((u) => u.layers.some((l) => l.status === 'Pushing' && l.current > 0 && l.total > 0)), 'byte progress while pushing');

  const { repository, tag } = splitTag(built.image);
  const name = repository.slice(registryAddr.length + 1);
  const tags = (await (await fetch(`http://${registryAddr}/v2/${name}/tags/list`)).json()) as { name: string; tags: string[] };
  assert.deepEqual(tags, { name, tags: [tag] });
  const manifest = await fetch(`http://${registryAddr}/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get('docker-content-digest'), digest);
  const body = (await manifest.json()) as { layers: unknown[] };
  assert.equal(body.layers.length, 2);

  // Unchanged model and base: the image is reused and the registry already has every layer.
  const again = await ensureModelImage(docker, { baseImage: servingImage, registry: `${registryAddr}/ml`, model: MODEL() });
  assert.deepEqual([again.built, again.id], [false, built.id]);
  const second: PushProgress[] = [];
  assert.equal(await pushImage(docker, built.image, { onProgress: (p) => second.push(p) }), digest);
  assert.ok(second.at(-1)!.layers.every((l) => l.status === 'Layer already exists'), JSON.stringify(second.at(-1)));
});

test('the image runs as the Deployment runs it: non-root, read-only root, no capabilities; seed copy, server and probe from the manifest', { timeout: 120_000 }, async () => {
  const { image } = await ensureModelImage(docker, { baseImage: servingImage, registry: `${registryAddr}/ml`, model: MODEL() });
  const cluster = parseCluster({ name: 'dev', namespace: 'ml', registry: `${registryAddr}/ml` });
  const deployment = modelManifests({ cluster, modelName: 'Digits MLP', stable: { version: '2', image, replicas: 1 }, traffic: 'replicas' }).find((m) => m.kind === 'Deployment') as Extract<Manifest, { kind: 'Deployment' }>;
  const pod = deployment.spec!.template.spec!;
  const [seed] = pod.initContainers!;
  const [server] = pod.containers;
  const token = 'a'.repeat(48);
  // An emptyDir is world-writable; a host folder stands in for it here.
  const data = join(tmp.dir, 'emptydir');
  mkdirSync(data);
  chmodSync(data, 0o777);
  const hostConfig = {
    ReadonlyRootfs: true,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Binds: [`${data}:/data`],
    Tmpfs: { '/tmp': '' },
  };
  const user = `${pod.securityContext!.runAsUser}:${pod.securityContext!.runAsGroup}`;
  const names: string[] = [];
  const run = async (cmd: string[], env: string[] = []) => {
    const c = await docker.createContainer({ Image: image, Cmd: cmd, Entrypoint: [], User: user, Env: env, HostConfig: hostConfig, Labels: { 'trellis.test': 'deploy-image' } });
    names.push(c.id);
    await c.start();
    return c;
  };
  try {
    const copy = await run(seed!.command!);
    assert.equal((await copy.wait()).StatusCode, 0, 'the init container copies the seed data');
    // Kubernetes expands $(TRELLIS_TOKEN) from the container's env; the Secret gives the value.
    const command = server!.command!.map((a) => a.replace('$(TRELLIS_TOKEN)', token));
    const srv = await run(command, [`TRELLIS_TOKEN=${token}`]);
    // kubelet probes the pod's IP with a plain GET (no token, Host = the IP): the container's bridge IP here.
    const ip = ((await srv.inspect()).NetworkSettings as unknown as { IPAddress: string }).IPAddress;
    const port = server!.ports![0]!.containerPort;
    const get = (path: string) => fetch(`http://${ip}:${port}${path}`).then((r) => r.status, () => -1);
    let ready = -1;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      const state = (await srv.inspect()).State;
      if (!state.Running) {
        const logs = (await srv.logs({ stdout: true, stderr: true })).toString();
        assert.fail(`the server exited (${state.ExitCode}): ${logs}`);
      }
      ready = await get(server!.readinessProbe!.httpGet!.path!);
      if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(ready, 200, 'the readiness probe passes');
    assert.equal(await get(server!.livenessProbe!.httpGet!.path!), 200, 'the liveness probe passes');
    // It is the real server, guarding its data: the model's metadata needs the token.
    assert.equal(await get('/v2/models/Digits%20MLP'), 401);
  } finally {
    for (const id of names) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  }
});
