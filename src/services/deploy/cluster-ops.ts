/**
 * The cluster-facing part of deploy, kept thin: read what runs, apply a state (server-side apply), remove
 * versions, and watch a rollout until the pure decision in rollout.ts says it is done.
 */
import { randomBytes } from 'node:crypto';
import { KubeClient } from '../../engines/kubernetes/kube-client';
import { loadKubeConnection } from '../../engines/kubernetes/kubeconfig';
import type { ClusterConfig } from './cluster-config';
import type { CurrentState } from './deploy-plan';
import type { IDeployment, IEvent, IPod, IReplicaSet } from './k8s-types';
import { modelManifests, type ModelState } from './manifests';
import { ANNOTATION, LABEL, modelLabels, modelNames } from './names';
import { decideRollout, describeDecision, type RolloutDecision } from './rollout';

export function connectCluster(cluster: ClusterConfig): KubeClient {
  return new KubeClient(loadKubeConnection({ ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}), ...(cluster.context ? { context: cluster.context } : {}) }));
}

/** The stable and canary versions of a model, from its Deployments' labels and annotations. */
export async function readCurrentState(client: KubeClient, cluster: ClusterConfig, modelName: string): Promise<CurrentState> {
  const deployments = await client.list<IDeployment>('apps/v1', 'Deployment', cluster.namespace, { labelSelector: `${LABEL.model}=${modelNames(modelName).model}` });
  return currentStateOf(deployments);
}

export function currentStateOf(deployments: IDeployment[]): CurrentState {
  const state: CurrentState = {};
  for (const d of deployments) {
    const labels = d.metadata?.labels ?? {};
    const version = labels[LABEL.version];
    const image = d.metadata?.annotations?.[ANNOTATION.image] ?? d.spec?.template?.spec?.containers?.[0]?.image;
    if (!version || !image) continue;
    const spec = { version, image, replicas: d.spec?.replicas ?? 1 };
    if (labels[LABEL.track] === 'canary') state.canary = { ...spec, percent: Number(d.metadata?.annotations?.[ANNOTATION.canaryPercent] ?? 0) };
    else state.stable = spec;
  }
  return state;
}

export async function gatewayApiServed(client: KubeClient): Promise<boolean> {
  return client.servesApi('gateway.networking.k8s.io/v1');
}

/**
 * The model's bearer-token Secret, created once with a random token: kept out of the manifest files (they
 * are committed) and never rotated by a later apply.
 */
export async function ensureTokenSecret(client: KubeClient, state: ModelState): Promise<boolean> {
  const names = modelNames(state.modelName);
  const ns = state.cluster.namespace;
  if (await client.get('v1', 'Secret', ns, names.tokenSecret)) return false;
  await client.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: names.tokenSecret, namespace: ns, labels: modelLabels(names, state.stable.version) },
    type: 'Opaque',
    stringData: { token: randomBytes(24).toString('hex') },
  });
  return true;
}

export async function applyState(client: KubeClient, state: ModelState, onLine: (line: string) => void): Promise<void> {
  if (await ensureTokenSecret(client, state)) onLine(`created Secret ${modelNames(state.modelName).tokenSecret} (the serving token)`);
  for (const m of modelManifests(state)) {
    await client.apply(m as never);
    onLine(`applied ${m.kind} ${m.metadata!.namespace}/${m.metadata!.name}`);
  }
}

/** Removes versions' Deployments (their pods with them) and per-version Services. */
export async function removeVersions(client: KubeClient, cluster: ClusterConfig, modelName: string, versions: string[], onLine: (line: string) => void): Promise<void> {
  const names = modelNames(modelName);
  for (const version of versions) {
    const name = names.forVersion(version);
    if (await client.delete('apps/v1', 'Deployment', cluster.namespace, name)) onLine(`deleted Deployment ${cluster.namespace}/${name}`);
    await client.delete('v1', 'Service', cluster.namespace, name);
  }
}

/** Removes every object of a model (a first deploy that failed, with rollback asked). */
export async function removeModel(client: KubeClient, cluster: ClusterConfig, state: ModelState, onLine: (line: string) => void): Promise<void> {
  for (const m of modelManifests(state).reverse()) {
    if (await client.delete(m.apiVersion, m.kind, cluster.namespace, m.metadata!.name!)) onLine(`deleted ${m.kind} ${cluster.namespace}/${m.metadata!.name}`);
  }
}

export async function readRolloutObjects(client: KubeClient, namespace: string, deploymentName: string) {
  const deployment = await client.get<IDeployment>('apps/v1', 'Deployment', namespace, deploymentName);
  if (!deployment) return undefined;
  const selector = Object.entries(deployment.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const [replicaSets, pods, events] = await Promise.all([
    client.list<IReplicaSet>('apps/v1', 'ReplicaSet', namespace, { labelSelector: selector }),
    client.list<IPod>('v1', 'Pod', namespace, { labelSelector: selector }),
    client.list<IEvent>('v1', 'Event', namespace),
  ]);
  return { deployment, replicaSets, pods, events };
}

/**
 * Follows a rollout until ready, failed or timed out: re-reads on every pod change the watch reports, and
 * every few seconds in any case; prints a line whenever the picture changes.
 */
export async function watchRollout(
  client: KubeClient,
  namespace: string,
  deploymentName: string,
  options: { timeoutMs: number; onLine: (line: string) => void; pollMs?: number },
): Promise<RolloutDecision> {
  const startedAt = Date.now();
  const abort = new AbortController();
  let wake: () => void = () => undefined;
  const watching = client
    .watch<IPod>('v1', 'Pod', namespace, { labelSelector: `app.kubernetes.io/instance=${deploymentName}` }, () => wake(), abort.signal)
    .catch(() => undefined); // the poll below still runs when the watch is refused or ends
  let last = '';
  try {
    for (;;) {
      const objects = await readRolloutObjects(client, namespace, deploymentName);
      const now = Date.now();
      const decision: RolloutDecision = objects
        ? decideRollout(objects, { startedAt, now, timeoutMs: options.timeoutMs })
        : { state: 'failed', reason: 'ReplicaFailure', message: `Deployment ${namespace}/${deploymentName} is gone`, fix: 'Something deleted it while it rolled out; deploy again.', desired: 0, updated: 0, ready: 0, available: 0, warnings: [] };
      const line = [describeDecision(decision), ...decision.warnings.slice(-3).map((w) => `  ${w}`)].join('\n');
      if (line !== last) options.onLine(line);
      last = line;
      if (decision.state !== 'progressing') return decision;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs ?? 3000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    abort.abort();
    await watching;
  }
}
