/**
 * `trellis deploy` end to end: plan from what runs, write the manifests into the workspace, build and
 * push the model image, apply, watch the rollout, then remove what the new state replaced, or roll back
 * on failure when asked; every action is recorded in the tracker's `deployments` experiment.
 */
import type Docker from 'dockerode';
import type { Store } from '../../core/store';
import type { KubeClient } from '../../engines/kubernetes/kube-client';
import type { BuildEvent } from '../../engines/docker/images';
import type { ClusterConfig } from './cluster-config';
import { applyState, connectCluster, gatewayApiServed, readCurrentState, readRolloutObjects, removeModel, removeVersions, watchRollout } from './cluster-ops';
import { currentFromHistory, planDeploy, planPromote, planRollback, type CurrentState, type Plan } from './deploy-plan';
import { manifestDir, writeManifests, type WrittenManifests } from './manifest-files';
import { modelManifests } from './manifests';
import { ensureModelImage, fileDigest, modelImageTag, pushImage, type PushProgress } from './model-image';
import { modelNames } from './names';
import { registryAuth, registryHost } from './registry-auth';
import { listDeployments, recordDeployment, type DeployAction, type DeployResult, type DeploymentSummary } from './record';
import type { IDeployment } from './k8s-types';
import { decideRollout, type RolloutDecision } from './rollout';

export interface DeployContext {
  store: Store;
  /** The workspace the manifests are written into (deploy/<cluster>/<model>/). */
  workspace: string;
  cluster: ClusterConfig;
  onLine: (line: string) => void;
  /** The cluster's client; connected from the cluster's kubeconfig context when absent. */
  client?: KubeClient;
}

export interface DeployOutcome {
  plan: Plan;
  manifests: WrittenManifests;
  image: string;
  result: DeployResult | 'dry-run';
  decision?: RolloutDecision;
  record?: DeploymentSummary;
}

export interface DeployModelOptions {
  model: { name: string; version: string; path: string };
  replicas: number;
  canaryPercent?: number;
  timeoutMs: number;
  rollbackOnFailure: boolean;
  dryRun: boolean;
  /** The engine that builds and pushes the image; not used by a dry run. */
  docker?: () => { docker: Docker; host?: string };
  /** Ensures the serving image and returns its name (trellis/serving:<version>). */
  baseImage?: (docker: Docker) => Promise<string>;
  onBuild?: (e: BuildEvent) => void;
  onPush?: (p: PushProgress) => void;
}

export async function deployModel(ctx: DeployContext, options: DeployModelOptions): Promise<DeployOutcome> {
  const { cluster, onLine } = ctx;
  const digest = await fileDigest(options.model.path);
  const image = modelImageTag(cluster.registry, options.model.name, options.model.version, digest);
  if (cluster.gpusPerReplica > 0) {
    onLine(`note: ${cluster.gpusPerReplica} nvidia.com/gpu per replica are reserved, but the serving image runs onnxruntime's CPU provider (its CUDA binaries are left out): the model runs on the CPU`);
  }
  const request = { cluster, modelName: options.model.name, version: options.model.version, image, replicas: options.replicas, ...(options.canaryPercent !== undefined ? { canaryPercent: options.canaryPercent } : {}) };

  if (options.dryRun) {
    // No cluster is read: what runs is taken from the tracker's records, and a configured gateway is assumed served.
    const current = currentFromHistory(listDeployments(ctx.store), cluster.name, options.model.name);
    const plan = planDeploy({ ...request, gatewayApi: Boolean(cluster.gateway) }, current);
    if (current.stable) onLine(`dry run: version ${current.stable.version} taken as the stable one, from the tracker's last recorded deployment`);
    plan.notes.forEach(onLine);
    return { plan, manifests: write(ctx, plan), image, result: 'dry-run' };
  }

  const client = ctx.client ?? connectCluster(cluster);
  const current = await readCurrentState(client, cluster, options.model.name);
  const gatewayApi = cluster.gateway ? await gatewayApiServed(client) : false;
  if (cluster.gateway && !gatewayApi) onLine(`the cluster does not serve the Gateway API (gateway.networking.k8s.io/v1): canary traffic follows the replica ratio`);
  const plan = planDeploy({ ...request, gatewayApi }, current);
  plan.notes.forEach(onLine);
  const manifests = write(ctx, plan);

  if (!options.docker || !options.baseImage) throw new Error('deployModel: docker and baseImage are needed to build the image');
  const action: DeployAction = options.canaryPercent !== undefined ? 'canary' : 'deploy';
  const attempt = { action, image, canaryPercent: options.canaryPercent };
  const startedAt = Date.now();
  try {
    const { docker, host } = options.docker();
    const base = await options.baseImage(docker);
    const built = await ensureModelImage(docker, { baseImage: base, registry: cluster.registry, model: options.model, ...(options.onBuild ? { onEvent: options.onBuild } : {}), ...(host ? { host } : {}) });
    onLine(`${built.built ? 'built' : 'reusing'} ${image}`);
    const found = registryAuth(cluster.registry);
    if (found && 'helper' in found) onLine(`the credentials for ${registryHost(cluster.registry)} are kept by ${found.helper}, which Trellis does not run: pushing without them`);
    const auth = found && 'auth' in found ? found.auth : undefined;
    const pushed = await pushImage(docker, image, { ...(options.onPush ? { onProgress: options.onPush } : {}), ...(auth ? { auth } : {}), ...(host ? { host } : {}) });
    onLine(`pushed ${image} (${pushed})`);
  } catch (err) {
    recordFailure(ctx, plan, attempt, startedAt, err);
    throw err;
  }
  return rollOut(ctx, client, plan, manifests, { ...attempt, timeoutMs: options.timeoutMs, rollbackOnFailure: options.rollbackOnFailure, current });
}

/** A deployment that failed before its rollout could be watched (build, push, apply): recorded as failed. */
function recordFailure(ctx: DeployContext, plan: Plan, o: { action: DeployAction; image: string; canaryPercent?: number | undefined }, startedAt: number, err: unknown): void {
  recordDeployment(ctx.store, {
    action: o.action,
    cluster: ctx.cluster.name,
    namespace: ctx.cluster.namespace,
    model: plan.state.modelName,
    version: plan.rollout.version,
    image: o.image,
    replicas: plan.rollout.replicas,
    gpus: ctx.cluster.gpusPerReplica,
    ...(o.canaryPercent !== undefined ? { canaryPercent: o.canaryPercent } : {}),
    result: 'failed',
    message: (err as Error).message ?? String(err),
    startedAt,
    endedAt: Date.now(),
  });
}

export async function promote(ctx: DeployContext, modelName: string, options: { timeoutMs: number }): Promise<DeployOutcome> {
  const client = ctx.client ?? connectCluster(ctx.cluster);
  const current = await readCurrentState(client, ctx.cluster, modelName);
  const plan = planPromote(ctx.cluster, modelName, current, ctx.cluster.gateway ? await gatewayApiServed(client) : false);
  plan.notes.forEach(ctx.onLine);
  return rollOut(ctx, client, plan, write(ctx, plan), { action: 'promote', image: plan.rollout.image, timeoutMs: options.timeoutMs, rollbackOnFailure: false, current });
}

export async function rollback(ctx: DeployContext, modelName: string, options: { timeoutMs: number }): Promise<DeployOutcome> {
  const client = ctx.client ?? connectCluster(ctx.cluster);
  const current = await readCurrentState(client, ctx.cluster, modelName);
  const plan = planRollback(ctx.cluster, modelName, current, listDeployments(ctx.store), ctx.cluster.gateway ? await gatewayApiServed(client) : false);
  plan.notes.forEach(ctx.onLine);
  return rollOut(ctx, client, plan, write(ctx, plan), { action: 'rollback', image: plan.rollout.image, timeoutMs: options.timeoutMs, rollbackOnFailure: false, current });
}

function write(ctx: DeployContext, plan: Plan): WrittenManifests {
  const written = writeManifests(manifestDir(ctx.workspace, ctx.cluster.name, plan.state.modelName), modelManifests(plan.state));
  ctx.onLine(`wrote ${written.files.length} manifests to ${written.dir}${written.removed.length ? ` (removed ${written.removed.length} no longer wanted)` : ''}`);
  return written;
}

async function rollOut(
  ctx: DeployContext,
  client: KubeClient,
  plan: Plan,
  manifests: WrittenManifests,
  o: { action: DeployAction; image: string; timeoutMs: number; rollbackOnFailure: boolean; current: CurrentState; canaryPercent?: number | undefined },
): Promise<DeployOutcome> {
  const { cluster, onLine } = ctx;
  const { modelName } = plan.state;
  const startedAt = Date.now();
  try {
    await applyState(client, plan.state, onLine);
  } catch (err) {
    recordFailure(ctx, plan, o, startedAt, err);
    throw err;
  }
  const decision = await watchRollout(client, cluster.namespace, modelNames(modelName).forVersion(plan.rollout.version), { timeoutMs: o.timeoutMs, onLine });
  let result: DeployResult;
  if (decision.state === 'ready') {
    await removeVersions(client, cluster, modelName, plan.prune, onLine);
    result = 'ready';
  } else if (o.rollbackOnFailure) {
    onLine(`rolling back: ${decision.message}`);
    if (plan.previous) {
      await applyState(client, plan.previous, onLine);
      const keep = new Set([plan.previous.stable.version, plan.previous.canary?.version]);
      if (!keep.has(plan.rollout.version)) await removeVersions(client, cluster, modelName, [plan.rollout.version], onLine);
      write(ctx, { ...plan, state: plan.previous });
    } else {
      await removeModel(client, cluster, plan.state, onLine);
    }
    result = 'rolled-back';
  } else {
    result = decision.state === 'timed-out' ? 'timed-out' : 'failed';
  }
  const message = decision.state === 'failed' || decision.state === 'timed-out' ? `${decision.message} — ${decision.fix}` : decision.message;
  const record = recordDeployment(ctx.store, {
    action: o.action,
    cluster: cluster.name,
    namespace: cluster.namespace,
    model: modelName,
    version: plan.rollout.version,
    image: o.image,
    replicas: plan.rollout.replicas,
    gpus: cluster.gpusPerReplica,
    ...(o.canaryPercent !== undefined ? { canaryPercent: o.canaryPercent } : {}),
    result,
    message,
    startedAt,
    endedAt: Date.now(),
  });
  return { plan, manifests, image: o.image, result, decision, record };
}

export interface VersionStatus {
  model: string;
  version: string;
  track: string;
  image: string;
  deployment: string;
  decision: RolloutDecision;
}

/** Every Trellis-managed version on the cluster (or of one model), with where its rollout stands. */
export async function clusterStatus(ctx: Pick<DeployContext, 'cluster' | 'client'>, modelName?: string): Promise<VersionStatus[]> {
  const client = ctx.client ?? connectCluster(ctx.cluster);
  const ns = ctx.cluster.namespace;
  const selector = [`app.kubernetes.io/managed-by=trellis`, ...(modelName ? [`trellis.model=${modelNames(modelName).model}`] : [])].join(',');
  const deployments = await client.list<IDeployment>('apps/v1', 'Deployment', ns, { labelSelector: selector });
  const out: VersionStatus[] = [];
  for (const d of deployments) {
    const name = d.metadata?.name ?? '';
    const objects = await readRolloutObjects(client, ns, name);
    if (!objects) continue;
    out.push({
      model: d.metadata?.annotations?.['trellis.model-name'] ?? d.metadata?.labels?.['trellis.model'] ?? '',
      version: d.metadata?.labels?.['trellis.version'] ?? '',
      track: d.metadata?.labels?.['trellis.track'] ?? '',
      image: d.spec?.template?.spec?.containers?.[0]?.image ?? '',
      deployment: name,
      // A status read has no deadline of its own: only the cluster's (progressDeadlineSeconds) applies.
      decision: decideRollout(objects, { startedAt: Date.now(), now: Date.now(), timeoutMs: Number.POSITIVE_INFINITY }),
    });
  }
  return out;
}
