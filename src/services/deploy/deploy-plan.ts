/**
 * What a deploy, a promote or a rollback changes: from what runs now (read from the cluster, or from the
 * tracker's records for a dry run) to the model's next desired state and the versions to remove once it
 * is ready. Pure functions; the cluster is only touched by cluster-ops.
 */
import { invalidParameter, invalidState } from '../../core/errors';
import type { ClusterConfig } from './cluster-config';
import { canaryReplicas, type ModelState, type TrafficMode, type VersionSpec } from './manifests';
import type { DeploymentSummary } from './record';

/** The versions of one model that run on the cluster now. */
export interface CurrentState {
  stable?: VersionSpec;
  canary?: VersionSpec & { percent: number };
}

export interface Plan {
  state: ModelState;
  /** The version whose rollout decides the outcome. */
  rollout: VersionSpec;
  /** Versions whose Deployment (and per-version Service) are removed once the rollout is ready. */
  prune: string[];
  /** The state to go back to when the rollout fails and rollback was asked; undefined: remove everything. */
  previous?: ModelState;
  /** Lines to show (e.g. the canary's effective share). */
  notes: string[];
}

export interface DeployRequest {
  cluster: ClusterConfig;
  modelName: string;
  version: string;
  image: string;
  replicas: number;
  canaryPercent?: number;
  /** Whether the cluster serves the Gateway API (HTTPRoute weights); only used with a configured gateway. */
  gatewayApi: boolean;
}

export function trafficMode(cluster: ClusterConfig, gatewayApi: boolean): TrafficMode {
  return cluster.gateway && gatewayApi ? 'httproute' : 'replicas';
}

function stateOf(cluster: ClusterConfig, modelName: string, current: CurrentState, traffic: TrafficMode): ModelState | undefined {
  if (!current.stable) return undefined;
  return { cluster, modelName, stable: current.stable, ...(current.canary ? { canary: current.canary } : {}), traffic };
}

export function planDeploy(req: DeployRequest, current: CurrentState): Plan {
  const traffic = trafficMode(req.cluster, req.gatewayApi);
  const previous = stateOf(req.cluster, req.modelName, current, traffic);
  const spec: VersionSpec = { version: req.version, image: req.image, replicas: req.replicas };
  const others = [current.stable?.version, current.canary?.version].filter((v): v is string => v !== undefined && v !== req.version);
  if (req.canaryPercent === undefined) {
    return { state: { cluster: req.cluster, modelName: req.modelName, stable: spec, traffic }, rollout: spec, prune: [...new Set(others)], ...(previous ? { previous } : {}), notes: [] };
  }
  const percent = req.canaryPercent;
  if (!(Number.isInteger(percent) && percent >= 1 && percent <= 99)) throw invalidParameter(`--canary takes a percentage from 1 to 99, got ${percent}.`);
  if (!current.stable) {
    throw invalidState(`No stable version of ${req.modelName} runs on cluster ${req.cluster.name} to put a canary next to: deploy one without --canary first.`);
  }
  if (current.stable.version === req.version) throw invalidParameter(`Version ${req.version} is already the stable version of ${req.modelName} on ${req.cluster.name}; a canary must be another version.`);
  const notes: string[] = [];
  let replicas: number;
  if (traffic === 'replicas') {
    const split = canaryReplicas(current.stable.replicas, percent);
    replicas = split.replicas;
    notes.push(
      `canary by replica ratio: ${replicas} canary and ${current.stable.replicas} stable replica${current.stable.replicas > 1 ? 's' : ''} behind one Service ≈ ${split.effectivePercent}% of requests` +
        (split.effectivePercent !== percent ? ` (${percent}% asked; configure a Gateway API gateway for exact weights)` : ''),
    );
  } else {
    replicas = Math.max(1, Math.ceil((current.stable.replicas * percent) / 100));
    notes.push(`canary by HTTPRoute weights: ${100 - percent}% to version ${current.stable.version}, ${percent}% to version ${req.version}`);
  }
  const canary = { ...spec, replicas, percent };
  const prune = current.canary && current.canary.version !== req.version ? [current.canary.version] : [];
  return { state: { cluster: req.cluster, modelName: req.modelName, stable: current.stable, canary, traffic }, rollout: canary, prune, ...(previous ? { previous } : {}), notes };
}

/** The canary becomes the stable version, at the stable version's replica count; the old stable goes. */
export function planPromote(cluster: ClusterConfig, modelName: string, current: CurrentState, gatewayApi: boolean): Plan {
  if (!current.canary || !current.stable) throw invalidState(`${modelName} has no canary on cluster ${cluster.name} to promote (trellis deploy NAME/VERSION --canary PERCENT starts one).`);
  const traffic = trafficMode(cluster, gatewayApi);
  const stable: VersionSpec = { version: current.canary.version, image: current.canary.image, replicas: current.stable.replicas };
  return {
    state: { cluster, modelName, stable, traffic },
    rollout: stable,
    prune: [current.stable.version],
    previous: stateOf(cluster, modelName, current, traffic)!,
    notes: [`version ${stable.version} becomes stable with ${stable.replicas} replica${stable.replicas > 1 ? 's' : ''}; version ${current.stable.version} is removed once it is ready`],
  };
}

/**
 * With a canary: the canary goes, the stable version stays. Without: the stable version goes back to the
 * version deployed before it, as recorded in the tracker (its image is still in the registry).
 */
export function planRollback(cluster: ClusterConfig, modelName: string, current: CurrentState, history: DeploymentSummary[], gatewayApi: boolean): Plan {
  const traffic = trafficMode(cluster, gatewayApi);
  if (current.canary && current.stable) {
    return {
      state: { cluster, modelName, stable: current.stable, traffic },
      rollout: current.stable,
      prune: [current.canary.version],
      notes: [`canary version ${current.canary.version} is removed; version ${current.stable.version} serves all requests`],
    };
  }
  if (!current.stable) throw invalidState(`${modelName} does not run on cluster ${cluster.name}: nothing to roll back.`);
  const before = history.find((d) => d.model === modelName && d.cluster === cluster.name && d.version !== current.stable!.version && d.result === 'ready' && d.action !== 'canary');
  if (!before) throw invalidState(`No earlier version of ${modelName} was deployed to ${cluster.name} (per the tracker's deployments experiment): nothing to roll back to.`);
  const stable: VersionSpec = { version: before.version, image: before.image, replicas: current.stable.replicas };
  return {
    state: { cluster, modelName, stable, traffic },
    rollout: stable,
    prune: [current.stable.version],
    previous: stateOf(cluster, modelName, current, traffic)!,
    notes: [`back to version ${before.version} (${before.image}), deployed ${new Date(before.endedAt).toISOString()}`],
  };
}

/** What runs, as the tracker last recorded it: for a dry run, which does not read the cluster. */
export function currentFromHistory(history: DeploymentSummary[], cluster: string, modelName: string): CurrentState {
  const last = history.find((d) => d.cluster === cluster && d.model === modelName && (d.result === 'ready' || d.result === 'applied') && d.action !== 'canary');
  return last ? { stable: { version: last.version, image: last.image, replicas: last.replicas ?? 1 } } : {};
}
