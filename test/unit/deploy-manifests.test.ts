// Every manifest the deploy code can produce, validated against the Kubernetes OpenAPI schemas that
// kubernetes-models 5.1.0 ships (Kubernetes v1.36's OpenAPI spec: its changelog moved to v1.36.0 in 5.0.0)
// and @kubernetes-models/gateway-api 2.0.0 (HTTPRoute v1),
// plus what the schemas cannot say: labels, security settings, probes, GPU limits, canary splits.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCluster, type ClusterConfig } from '../../src/services/deploy/cluster-config';
import { canaryReplicas, modelManifests, workersFor, type Manifest, type ModelState } from '../../src/services/deploy/manifests';
import { slug } from '../../src/services/deploy/names';

type Validator = new (data: never) => { validate(): void };
let validators: Record<string, Validator>;

before(async () => {
  const apps = await import('kubernetes-models/apps/v1');
  const core = await import('kubernetes-models/v1');
  const autoscaling = await import('kubernetes-models/autoscaling/v2');
  const policy = await import('kubernetes-models/policy/v1');
  const gateway = await import('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1');
  validators = {
    Deployment: apps.Deployment as unknown as Validator,
    Service: core.Service as unknown as Validator,
    HorizontalPodAutoscaler: autoscaling.HorizontalPodAutoscaler as unknown as Validator,
    PodDisruptionBudget: policy.PodDisruptionBudget as unknown as Validator,
    HTTPRoute: gateway.HTTPRoute as unknown as Validator,
  };
});

function validate(m: Manifest): void {
  const Model = validators[m.kind];
  assert.ok(Model, `no validator for ${m.kind}`);
  new Model(structuredClone(m) as never).validate();
}

const cluster = (extra: Record<string, unknown> = {}): ClusterConfig => parseCluster({ name: 'prod', namespace: 'ml', registry: 'registry.example.com/ml', ...extra });
const IMAGE = (v: string) => `registry.example.com/ml/trellis-serving/mnist:v${v}-0123456789ab`;

const VARIANTS: Record<string, ModelState> = {
  plain: { cluster: cluster(), modelName: 'mnist', stable: { version: '3', image: IMAGE('3'), replicas: 2 }, traffic: 'replicas' },
  gpus: { cluster: cluster({ gpusPerReplica: 2, pullSecret: 'regcred', resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '4', memory: '8Gi' } } }), modelName: 'mnist', stable: { version: '3', image: IMAGE('3'), replicas: 1 }, traffic: 'replicas' },
  'canary replica-ratio': {
    cluster: cluster(),
    modelName: 'mnist',
    stable: { version: '3', image: IMAGE('3'), replicas: 4 },
    canary: { version: '4', image: IMAGE('4'), replicas: 1, percent: 20 },
    traffic: 'replicas',
  },
  'canary HTTPRoute': {
    cluster: cluster({ gateway: { name: 'public', namespace: 'gateways' }, ingressHost: 'models.example.com' }),
    modelName: 'Digits Classifier',
    stable: { version: '7', image: IMAGE('7'), replicas: 3 },
    canary: { version: '8', image: IMAGE('8'), replicas: 1, percent: 10 },
    traffic: 'httproute',
  },
  'HPA custom metric': {
    cluster: cluster({ autoscale: { minReplicas: 2, maxReplicas: 10, metric: { name: 'trellis_inflight_requests', averageValue: '8' } } }),
    modelName: 'mnist',
    stable: { version: '3', image: IMAGE('3'), replicas: 2 },
    traffic: 'replicas',
  },
};

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

for (const [name, state] of Object.entries(VARIANTS)) {
  test(`${name}: every object is valid against the Kubernetes schemas and tied to the model and version`, () => {
    const manifests = modelManifests(state);
    for (const m of manifests) {
      validate(m);
      const meta = m.metadata!;
      assert.match(meta.name!, DNS_LABEL, `${m.kind} name`);
      assert.ok(meta.name!.length <= 63);
      assert.equal(meta.namespace, 'ml');
      for (const [k, v] of Object.entries(meta.labels ?? {})) assert.match(v, LABEL_VALUE, `${m.kind} label ${k}=${v}`);
      assert.equal(meta.labels!['app.kubernetes.io/managed-by'], 'trellis');
      assert.equal(meta.labels!['app.kubernetes.io/part-of'], 'trellis');
      assert.equal(meta.labels!['trellis.model'], slug(state.modelName));
      assert.match(meta.labels!['trellis.version']!, /^\d+$/);
      assert.equal(meta.labels!['app.kubernetes.io/version'], meta.labels!['trellis.version']);
      assert.equal(meta.annotations!['trellis.model-name'], state.modelName);
    }
    const kinds = manifests.map((m) => m.kind);
    assert.equal(kinds.filter((k) => k === 'Service').length >= 1, true);
    assert.equal(kinds.filter((k) => k === 'HorizontalPodAutoscaler').length, 1);
    assert.equal(kinds.filter((k) => k === 'PodDisruptionBudget').length, 1);
    assert.equal(kinds.filter((k) => k === 'Deployment').length, state.canary ? 2 : 1);
  });
}

const deployments = (state: ModelState) => modelManifests(state).filter((m) => m.kind === 'Deployment') as Extract<Manifest, { kind: 'Deployment' }>[];

test('the server runs non-root on a read-only root filesystem with no privileges, /tmp and /data on emptyDirs', () => {
  const [d] = deployments(VARIANTS.plain!);
  const pod = d!.spec!.template.spec!;
  assert.equal(pod.securityContext!.runAsNonRoot, true);
  assert.ok(pod.securityContext!.runAsUser! > 0);
  assert.equal(pod.automountServiceAccountToken, false);
  for (const c of [...pod.initContainers!, ...pod.containers]) {
    assert.equal(c.securityContext!.readOnlyRootFilesystem, true, c.name);
    assert.equal(c.securityContext!.allowPrivilegeEscalation, false, c.name);
    assert.deepEqual(c.securityContext!.capabilities!.drop, ['ALL'], c.name);
  }
  const server = pod.containers[0]!;
  assert.deepEqual(server.volumeMounts!.map((v) => v.mountPath).sort(), ['/data', '/tmp']);
  assert.deepEqual(pod.volumes!.map((v) => Object.keys(v).filter((k) => k !== 'name')), [['emptyDir'], ['emptyDir']]);
  // The token comes from the Secret, never from the manifest.
  assert.deepEqual(server.env![0]!.valueFrom!.secretKeyRef, { name: 'mnist-token', key: 'token' });
  assert.ok(!JSON.stringify(d).match(/[0-9a-f]{48}/));
  assert.equal(d!.spec!.replicas, 2);
});

test('readiness and liveness: kubelet HTTP probes of /v2/health/ready and /v2/health/live on the server port', () => {
  const server = deployments(VARIANTS.plain!)[0]!.spec!.template.spec!.containers[0]!;
  assert.deepEqual(server.readinessProbe!.httpGet, { path: '/v2/health/ready', port: 'http' });
  assert.deepEqual(server.livenessProbe!.httpGet, { path: '/v2/health/live', port: 'http' });
  assert.deepEqual(server.startupProbe!.httpGet, { path: '/v2/health/ready', port: 'http' });
  assert.deepEqual(server.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(server.command!.slice(0, 8), ['/usr/bin/node', '--no-memory-reducer', '/app/cli.js', '-d', '/data', 'serve', '--model', 'mnist/3'], 'a server keeps its heap between bursts (server-node-flags.ts)');
  assert.ok(server.command!.includes('mnist.ml.svc.cluster.local'), 'the Service name is an allowed Host');
});

test('GPUs: nvidia.com/gpu limits, the GPU taint tolerated, the pull secret and resources from the cluster', () => {
  const pod = deployments(VARIANTS.gpus!)[0]!.spec!.template.spec!;
  const server = pod.containers[0]!;
  assert.equal(server.resources!.limits!['nvidia.com/gpu'], '2');
  assert.deepEqual(server.resources!.requests, { cpu: '2', memory: '4Gi' });
  assert.equal(server.resources!.limits!.memory, '8Gi');
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
  assert.ok(server.command!.includes('--workers') && server.command![server.command!.indexOf('--workers') + 1] === '2');
  const plain = deployments(VARIANTS.plain!)[0]!.spec!.template.spec!;
  assert.equal(plain.containers[0]!.resources!.limits!['nvidia.com/gpu'], undefined);
  assert.equal(plain.tolerations, undefined);
});

test('canary by replica ratio: stable and canary Deployments behind the one Service that selects the model', () => {
  const state = VARIANTS['canary replica-ratio']!;
  const [stable, canary] = deployments(state);
  assert.equal(stable!.metadata!.labels!['trellis.track'], 'stable');
  assert.equal(canary!.metadata!.labels!['trellis.track'], 'canary');
  assert.deepEqual([stable!.spec!.replicas, canary!.spec!.replicas], [4, 1]);
  const services = modelManifests(state).filter((m) => m.kind === 'Service') as Extract<Manifest, { kind: 'Service' }>[];
  assert.equal(services.length, 1);
  assert.deepEqual(services[0]!.spec!.selector, { 'trellis.model': 'mnist' });
  // Each Deployment's selector picks its own version only.
  assert.equal(canary!.spec!.selector.matchLabels!['trellis.version'], '4');
  const hpa = modelManifests(state).find((m) => m.kind === 'HorizontalPodAutoscaler') as Extract<Manifest, { kind: 'HorizontalPodAutoscaler' }>;
  assert.equal(hpa.spec!.scaleTargetRef.name, 'mnist-v3', 'the HPA scales the stable version');
  assert.deepEqual(hpa.spec!.metrics![0]!.resource!.target, { type: 'Utilization', averageUtilization: 70 });
});

test('canary replica counts approximate the share and never drop to 0', () => {
  assert.deepEqual(canaryReplicas(9, 10), { replicas: 1, effectivePercent: 10 });
  assert.deepEqual(canaryReplicas(4, 20), { replicas: 1, effectivePercent: 20 });
  assert.deepEqual(canaryReplicas(1, 10), { replicas: 1, effectivePercent: 50 });
  assert.deepEqual(canaryReplicas(2, 50), { replicas: 2, effectivePercent: 50 });
});

test('canary by HTTPRoute: per-version Services, weights that sum to 100, attached to the gateway with the host', () => {
  const state = VARIANTS['canary HTTPRoute']!;
  const manifests = modelManifests(state);
  const route = manifests.find((m) => m.kind === 'HTTPRoute') as Extract<Manifest, { kind: 'HTTPRoute' }>;
  const backends = route.spec!.rules![0]!.backendRefs!;
  assert.deepEqual(backends.map((b) => [b.name, b.weight]), [[`${slug('Digits Classifier')}-v7`, 90], [`${slug('Digits Classifier')}-v8`, 10]]);
  const services = new Set(manifests.filter((m) => m.kind === 'Service').map((m) => m.metadata!.name));
  for (const b of backends) assert.ok(services.has(b.name), `backend ${b.name} is a Service of the set`);
  assert.deepEqual(route.spec!.parentRefs, [{ name: 'public', namespace: 'gateways' }]);
  assert.deepEqual(route.spec!.hostnames, ['models.example.com']);
  const server = deployments(state)[0]!.spec!.template.spec!.containers[0]!;
  assert.ok(server.command!.includes('models.example.com'), 'the ingress host is an allowed Host');
  assert.ok(server.command!.includes('Digits Classifier/7'));
});

test('HPA on a custom pods metric; PDB keeps at most one pod away', () => {
  const manifests = modelManifests(VARIANTS['HPA custom metric']!);
  const hpa = manifests.find((m) => m.kind === 'HorizontalPodAutoscaler') as Extract<Manifest, { kind: 'HorizontalPodAutoscaler' }>;
  assert.deepEqual(hpa.spec!.metrics, [{ type: 'Pods', pods: { metric: { name: 'trellis_inflight_requests' }, target: { type: 'AverageValue', averageValue: '8' } } }]);
  assert.deepEqual([hpa.spec!.minReplicas, hpa.spec!.maxReplicas], [2, 10]);
  const pdb = manifests.find((m) => m.kind === 'PodDisruptionBudget') as Extract<Manifest, { kind: 'PodDisruptionBudget' }>;
  assert.equal(pdb.spec!.maxUnavailable, 1);
  assert.deepEqual(pdb.spec!.selector!.matchLabels, { 'trellis.model': 'mnist' });
});

test('the schemas catch an invalid manifest (the validation is not a no-op)', () => {
  const [d] = deployments(VARIANTS.plain!);
  const bad = structuredClone(d!);
  (bad.spec!.template.spec!.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'eight thousand';
  assert.throws(() => validate(bad), /containerPort/);
  const noSelector = structuredClone(d!) as unknown as { spec: Record<string, unknown> };
  delete noSelector.spec.selector;
  assert.throws(() => validate(noSelector as never), /selector/);
  const route = modelManifests(VARIANTS['canary HTTPRoute']!).find((m) => m.kind === 'HTTPRoute')!;
  const badRoute = structuredClone(route) as { spec: { rules: { backendRefs: { weight: unknown }[] }[] } };
  badRoute.spec.rules[0]!.backendRefs[0]!.weight = -5;
  assert.throws(() => validate(badRoute as never), /weight/);
});

test('names: model names become DNS labels, changed ones keep a hash; workers follow the CPU request', () => {
  assert.equal(slug('mnist'), 'mnist');
  assert.match(slug('My_Model'), /^my-model-[0-9a-f]{6}$/);
  assert.notEqual(slug('My_Model'), slug('my-model'));
  assert.match(slug('9lives'), /^m-9lives-[0-9a-f]{6}$/);
  assert.ok(slug('x'.repeat(100)).length <= 40);
  assert.deepEqual(['250m', '1', '1500m', '16', undefined].map(workersFor), [1, 1, 2, 4, 1]);
});
