/**
 * The Kubernetes objects of a model's desired state: one Deployment per live version (the stable one,
 * and a canary next to it), a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget shared by the
 * model, and, where canary traffic is split by the Gateway API, per-version Services and an HTTPRoute.
 * Pure functions of the plan: the same plan always gives the same objects (they are reviewed and committed).
 */
import { SERVER_NODE_FLAGS } from '../../core/server-node-flags';
import type { ClusterConfig } from './cluster-config';
import type { IContainer, IDeployment, IHorizontalPodAutoscaler, IHTTPRoute, IPodDisruptionBudget, IService } from './k8s-types';
import { ANNOTATION, LABEL, modelLabels, modelNames, versionLabels, type ModelNames, type Track } from './names';

/** The port `trellis serve` listens on in the pod. */
export const SERVER_PORT = 8080;
/** Where the image keeps the seed data directory (registry with the one version, and its model file). */
export const SEED_DIR = '/opt/trellis/seed';
/** The pod's writable data directory (an emptyDir): SQLite needs to write next to its database. */
export const DATA_DIR = '/data';
/** The user the server runs as; the image is built with USER set to it too. */
export const RUN_AS = 65532;
const NODE = '/usr/bin/node';

export interface VersionSpec {
  version: string;
  image: string;
  replicas: number;
}

export type TrafficMode = 'replicas' | 'httproute';

export interface ModelState {
  cluster: ClusterConfig;
  modelName: string;
  stable: VersionSpec;
  /** A candidate next to the stable version, receiving about `percent` of the traffic. */
  canary?: VersionSpec & { percent: number };
  /** How canary traffic is split: by replica counts behind one Service, or by HTTPRoute weights. */
  traffic: TrafficMode;
}

export type Manifest = IDeployment | IService | IHorizontalPodAutoscaler | IPodDisruptionBudget | IHTTPRoute;

/** Replica counts for a canary of about `percent` next to `stableReplicas`; never 0 (a canary must run). */
export function canaryReplicas(stableReplicas: number, percent: number): { replicas: number; effectivePercent: number } {
  const replicas = Math.max(1, Math.round((stableReplicas * percent) / Math.max(1, 100 - percent)));
  return { replicas, effectivePercent: Math.round((100 * replicas) / (replicas + stableReplicas)) };
}

/** Every object of the state, in apply order (Services before what routes to them). */
export function modelManifests(state: ModelState): Manifest[] {
  const names = modelNames(state.modelName);
  const out: Manifest[] = [service(state, names, names.shared, { [LABEL.model]: names.model })];
  if (state.traffic === 'httproute') {
    for (const v of [state.stable, ...(state.canary ? [state.canary] : [])]) {
      out.push(service(state, names, names.forVersion(v.version), { [LABEL.model]: names.model, [LABEL.version]: v.version }));
    }
    out.push(httpRoute(state, names));
  }
  out.push(deployment(state, names, state.stable, 'stable'));
  if (state.canary) out.push(deployment(state, names, state.canary, 'canary'));
  out.push(autoscaler(state, names), disruptionBudget(state, names));
  return out;
}

function meta(state: ModelState, name: string, labels: Record<string, string>, annotations: Record<string, string> = {}) {
  return { name, namespace: state.cluster.namespace, labels, annotations: { [ANNOTATION.modelName]: state.modelName, ...annotations } };
}

function service(state: ModelState, names: ModelNames, name: string, selector: Record<string, string>): IService {
  const version = selector[LABEL.version];
  const labels = version ? versionLabels(names, version) : modelLabels(names, state.stable.version);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(state, name, labels),
    spec: { type: 'ClusterIP', selector, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  };
}

function httpRoute(state: ModelState, names: ModelNames): IHTTPRoute {
  const gateway = state.cluster.gateway!;
  const canary = state.canary;
  const backends = [{ name: names.forVersion(state.stable.version), port: 80, weight: 100 - (canary?.percent ?? 0) }];
  if (canary) backends.push({ name: names.forVersion(canary.version), port: 80, weight: canary.percent });
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(state, names.shared, modelLabels(names, state.stable.version), canary ? { [ANNOTATION.canaryPercent]: String(canary.percent) } : {}),
    spec: {
      parentRefs: [{ name: gateway.name, ...(gateway.namespace ? { namespace: gateway.namespace } : {}) }],
      ...(state.cluster.ingressHost ? { hostnames: [state.cluster.ingressHost] } : {}),
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: backends }],
    },
  };
}

function deployment(state: ModelState, names: ModelNames, v: VersionSpec, track: Track): IDeployment {
  const { cluster } = state;
  const podLabels = versionLabels(names, v.version);
  const annotations: Record<string, string> = { [ANNOTATION.image]: v.image };
  if (track === 'canary' && state.canary) annotations[ANNOTATION.canaryPercent] = String(state.canary.percent);
  const gpus = cluster.gpusPerReplica;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(state, names.forVersion(v.version), { ...podLabels, [LABEL.track]: track }, annotations),
    spec: {
      replicas: v.replicas,
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: 600,
      // Selects by model and version only: the track changes on promote, and a selector cannot.
      selector: { matchLabels: { [LABEL.model]: names.model, [LABEL.version]: v.version } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: podLabels, annotations: { [ANNOTATION.modelName]: state.modelName } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
          ...(cluster.pullSecret ? { imagePullSecrets: [{ name: cluster.pullSecret }] } : {}),
          ...(gpus > 0 ? { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } : {}),
          initContainers: [seedContainer(state, v)],
          containers: [serverContainer(state, names, v)],
          volumes: [
            { name: 'data', emptyDir: {} },
            { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };
}

const containerSecurity = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/**
 * Copies the image's seed data directory into the pod's writable one: the root filesystem is read-only
 * and the image has no shell, so node copies it.
 */
function seedContainer(state: ModelState, v: VersionSpec): IContainer {
  return {
    name: 'seed-data',
    image: v.image,
    command: [NODE, '-e', `require('fs').cpSync(${JSON.stringify(SEED_DIR)}, ${JSON.stringify(DATA_DIR)}, { recursive: true })`],
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    securityContext: containerSecurity,
    volumeMounts: [{ name: 'data', mountPath: DATA_DIR }],
  };
}

/**
 * kubelet's own HTTP probes: the server answers /v2/health/* without the bearer token (they say nothing
 * about the data), and accepts the pod IP the probe sends as its Host.
 */
function healthProbe(path: string) {
  return { httpGet: { path, port: 'http' }, timeoutSeconds: 3 };
}

function serverContainer(state: ModelState, names: ModelNames, v: VersionSpec): IContainer {
  const { cluster } = state;
  const svc = names.shared;
  const ns = cluster.namespace;
  // The server refuses unknown Host names (DNS rebinding defence): the Service's in-cluster names are known.
  const hosts = [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`, ...(cluster.ingressHost ? [cluster.ingressHost] : [])];
  const gpus = cluster.gpusPerReplica;
  return {
    name: 'server',
    image: v.image,
    command: [NODE, ...SERVER_NODE_FLAGS, '/app/cli.js', '-d', DATA_DIR, 'serve', '--model', `${state.modelName}/${v.version}`, '--host', '0.0.0.0', '--port', String(SERVER_PORT),
      '--workers', String(workersFor(cluster.requests.cpu)), '--token', '$(TRELLIS_TOKEN)', '--allow-host', ...hosts],
    env: [
      { name: 'TRELLIS_TOKEN', valueFrom: { secretKeyRef: { name: names.tokenSecret, key: 'token' } } },
      { name: 'NODE_ENV', value: 'production' },
    ],
    ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
    startupProbe: { ...healthProbe('/v2/health/ready'), periodSeconds: 2, failureThreshold: 90 },
    readinessProbe: { ...healthProbe('/v2/health/ready'), periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...healthProbe('/v2/health/live'), periodSeconds: 10, failureThreshold: 3 },
    resources: {
      requests: { ...cluster.requests },
      limits: { ...cluster.limits, ...(gpus > 0 ? { 'nvidia.com/gpu': String(gpus) } : {}) },
    },
    securityContext: containerSecurity,
    volumeMounts: [{ name: 'data', mountPath: DATA_DIR }, { name: 'tmp', mountPath: '/tmp' }],
  };
}

/** Inference workers from the CPU request: one per requested core, 1 to 4 (node sees the node's cores, not the pod's). */
export function workersFor(cpu: string | undefined): number {
  if (!cpu) return 1;
  const cores = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
  return Math.max(1, Math.min(4, Math.ceil(Number.isFinite(cores) ? cores : 1)));
}

function autoscaler(state: ModelState, names: ModelNames): IHorizontalPodAutoscaler {
  const a = state.cluster.autoscale;
  const min = a?.minReplicas ?? state.stable.replicas;
  const max = Math.max(min, a?.maxReplicas ?? state.stable.replicas * 3);
  const metric = a?.metric
    ? { type: 'Pods', pods: { metric: { name: a.metric.name }, target: { type: 'AverageValue', averageValue: a.metric.averageValue } } }
    : { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a?.cpuUtilization ?? 70 } } };
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(state, names.shared, modelLabels(names, state.stable.version)),
    spec: {
      // The stable version scales; a canary keeps its replica count so its share stays what was asked.
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: names.forVersion(state.stable.version) },
      minReplicas: min,
      maxReplicas: max,
      metrics: [metric],
    },
  };
}

function disruptionBudget(state: ModelState, names: ModelNames): IPodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(state, names.shared, modelLabels(names, state.stable.version)),
    spec: {
      // One pod at a time, whatever the count: a single-replica model must not block node drains forever.
      maxUnavailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
      selector: { matchLabels: { [LABEL.model]: names.model } },
    },
  };
}

/** `deployment-mnist-v3.yaml`: one file per object, named by kind and name. */
export function manifestFileName(m: Manifest): string {
  return `${m.kind.toLowerCase()}-${m.metadata!.name}.yaml`;
}
