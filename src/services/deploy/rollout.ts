/**
 * Where a Deployment's rollout stands, decided from the API objects alone (the Deployment, its
 * ReplicaSets, their Pods and the Events about them) at a given time: pure functions, so every decision
 * is tested from recorded objects. A failure says what went wrong in Kubernetes' words and what to do.
 */
import type { IDeployment, IEvent, IPod, IReplicaSet } from './k8s-types';

export type FailureReason =
  | 'ImagePullBackOff'
  | 'CrashLoopBackOff'
  | 'Unschedulable'
  | 'CreateContainerConfigError'
  | 'ProgressDeadlineExceeded'
  | 'ReplicaFailure';

export interface RolloutCounts {
  desired: number;
  updated: number;
  ready: number;
  available: number;
}

export type RolloutDecision = RolloutCounts & {
  /** Warning events about these objects, oldest first, as `Pod/name Reason: message`. */
  warnings: string[];
} & (
    | { state: 'progressing'; message: string }
    | { state: 'ready'; message: string }
    | { state: 'failed'; reason: FailureReason; pod?: string; message: string; fix: string }
    | { state: 'timed-out'; message: string; fix: string }
  );

export interface RolloutObjects {
  deployment: IDeployment;
  replicaSets: IReplicaSet[];
  pods: IPod[];
  events: IEvent[];
}

export interface RolloutClock {
  /** When the rollout was started (ms since the epoch). */
  startedAt: number;
  now: number;
  timeoutMs: number;
}

const REVISION = 'deployment.kubernetes.io/revision';

export function decideRollout(objects: RolloutObjects, clock: RolloutClock): RolloutDecision {
  const d = objects.deployment;
  const name = d.metadata?.name ?? '?';
  const namespace = d.metadata?.namespace ?? 'default';
  const counts: RolloutCounts = {
    desired: d.spec?.replicas ?? 1,
    updated: d.status?.updatedReplicas ?? 0,
    ready: d.status?.readyReplicas ?? 0,
    available: d.status?.availableReplicas ?? 0,
  };
  const pods = currentPods(objects);
  const warnings = warningEvents(objects.events, new Set([name, ...objects.replicaSets.map((r) => r.metadata?.name ?? ''), ...pods.map((p) => p.metadata?.name ?? '')]));
  const base = { ...counts, warnings };

  const observed = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1);
  const total = d.status?.replicas ?? 0;
  if (observed && counts.updated === counts.desired && counts.ready === counts.desired && counts.available === counts.desired && total === counts.desired) {
    return { ...base, state: 'ready', message: `${name}: ${counts.ready}/${counts.desired} replicas ready` };
  }

  for (const pod of pods) {
    const failure = podFailure(pod, objects.events, namespace);
    if (failure) return { ...base, state: 'failed', pod: pod.metadata?.name, ...failure };
  }

  const conditions = d.status?.conditions ?? [];
  const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (replicaFailure) {
    return {
      ...base,
      state: 'failed',
      reason: 'ReplicaFailure',
      message: `${name} cannot create its pods: ${replicaFailure.message ?? replicaFailure.reason ?? ''}`.trim(),
      fix: 'The namespace refuses the pods (a ResourceQuota, LimitRange or Pod Security admission): adjust the resources or the namespace\'s policy.',
    };
  }
  const progressing = conditions.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return {
      ...base,
      state: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: `${name} made no progress within its deadline: ${progressing.message ?? ''}`.trim(),
      fix: `See why its pods are not ready: kubectl -n ${namespace} describe pods -l trellis.version=${d.metadata?.labels?.['trellis.version'] ?? ''}`,
    };
  }

  if (clock.now - clock.startedAt >= clock.timeoutMs) {
    return {
      ...base,
      state: 'timed-out',
      message: `${name} was not ready within ${Math.round(clock.timeoutMs / 1000)} s (${counts.ready}/${counts.desired} replicas ready)`,
      fix: 'Give it longer with --timeout (a large model loads slowly), or look at its pods and events (`trellis deploy status`).',
    };
  }
  return { ...base, state: 'progressing', message: `${name}: ${counts.ready}/${counts.desired} ready, ${counts.updated} updated${pendingNote(pods)}` };
}

/** The pods of the newest ReplicaSet of the Deployment (a rolling update's old pods are not this rollout's). */
export function currentPods(objects: RolloutObjects): IPod[] {
  const uid = objects.deployment.metadata?.uid;
  const owned = objects.replicaSets.filter((rs) => !uid || rs.metadata?.ownerReferences?.some((o) => o.uid === uid));
  const newest = owned.reduce<IReplicaSet | undefined>(
    (best, rs) => (Number(rs.metadata?.annotations?.[REVISION] ?? 0) > Number(best?.metadata?.annotations?.[REVISION] ?? -1) ? rs : best),
    undefined,
  );
  if (!newest?.metadata?.uid) return objects.pods;
  return objects.pods.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === newest.metadata!.uid));
}

type PodFailure = { reason: FailureReason; message: string; fix: string };

function podFailure(pod: IPod, events: IEvent[], namespace: string): PodFailure | undefined {
  const name = pod.metadata?.name ?? '?';
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const waiting = s.state?.waiting;
    if (!waiting) continue;
    if (waiting.reason === 'ImagePullBackOff' || waiting.reason === 'InvalidImageName') {
      // kubelet follows the registry's answer with a bare "Error: ErrImagePull": the answer is what helps.
      const failed = eventsFor(events, name).filter((e) => e.reason === 'Failed');
      const pullEvent = (failed.filter((e) => !/^Error: /.test(e.message ?? '')).at(-1) ?? failed.at(-1))?.message;
      return {
        reason: 'ImagePullBackOff',
        message: `Pod ${name} cannot pull ${s.image}: ${pullEvent ?? waiting.message ?? waiting.reason}`,
        fix:
          'Check that the tag exists in the registry, that the cluster\'s nodes can reach the registry (127.0.0.1 or localhost is each node itself, not this machine), ' +
          'and for a private registry set pullSecret in trellis.clusters to a docker-registry Secret in the namespace (kubectl create secret docker-registry).',
      };
    }
    if (waiting.reason === 'CrashLoopBackOff') {
      const last = s.lastState?.terminated;
      const oom = last?.reason === 'OOMKilled';
      const exit = last ? ` (last exit: code ${last.exitCode}${last.reason ? `, ${last.reason}` : ''}${last.message ? `: ${last.message.trim()}` : ''})` : '';
      return {
        reason: 'CrashLoopBackOff',
        message: `Pod ${name}: container ${s.name} keeps exiting, restarted ${s.restartCount} times${exit}`,
        fix: oom
          ? 'It ran out of memory: raise resources.limits.memory in trellis.clusters (the model and its workers must fit).'
          : `Read its output: kubectl -n ${namespace} logs ${name} -c ${s.name} --previous`,
      };
    }
    if (waiting.reason === 'CreateContainerConfigError') {
      return {
        reason: 'CreateContainerConfigError',
        message: `Pod ${name}: container ${s.name} cannot be created: ${waiting.message ?? waiting.reason}`,
        fix: 'A Secret or ConfigMap it needs is missing: `trellis deploy` creates the model\'s token Secret; apply again, or create the one named above.',
      };
    }
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (pod.status?.phase === 'Pending' && scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const podEvents = eventsFor(events, name);
    // The cluster autoscaler is adding a node for it: that is progress, not a failure.
    if (podEvents.some((e) => e.reason === 'TriggeredScaleUp') && !podEvents.some((e) => e.reason === 'NotTriggerScaleUp')) return undefined;
    const why = podEvents.filter((e) => e.reason === 'FailedScheduling').at(-1)?.message ?? scheduled.message ?? '';
    return { reason: 'Unschedulable', message: `Pod ${name} cannot be scheduled: ${why}`, fix: unschedulableFix(why) };
  }
  return undefined;
}

function unschedulableFix(why: string): string {
  if (/nvidia\.com\/gpu/.test(why)) return 'No node has that many free GPUs: lower --gpus (gpusPerReplica), add GPU nodes with the NVIDIA device plugin, or free GPUs.';
  if (/Insufficient (cpu|memory)/.test(why)) return 'No node has room for the requests: lower resources.requests in trellis.clusters, use fewer --replicas, or add nodes.';
  if (/taint|affinity|selector/i.test(why)) return 'The nodes\' taints or the pod\'s node selection exclude every node: check the nodes\' taints and labels.';
  if (/persistentvolumeclaim|volume/i.test(why)) return 'A volume cannot be bound: check the cluster\'s storage.';
  return 'See the scheduler\'s reason above and the nodes (`kubectl describe nodes`).';
}

function eventsFor(events: IEvent[], name: string): IEvent[] {
  return sortEvents(events.filter((e) => e.involvedObject?.name === name));
}

function sortEvents(events: IEvent[]): IEvent[] {
  const when = (e: IEvent) => Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? 0)) || 0;
  return [...events].sort((a, b) => when(a) - when(b));
}

function warningEvents(events: IEvent[], names: Set<string>): string[] {
  return sortEvents(events.filter((e) => e.type === 'Warning' && names.has(e.involvedObject?.name ?? '')))
    .map((e) => `${e.involvedObject?.kind ?? ''}/${e.involvedObject?.name ?? ''} ${e.reason ?? ''}: ${(e.message ?? '').trim()}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}`);
}

function pendingNote(pods: IPod[]): string {
  const pending = pods.filter((p) => p.status?.phase === 'Pending').length;
  return pending ? `, ${pending} pending` : '';
}

/** One progress line for a decision: what a terminal shows while it waits. */
export function describeDecision(d: RolloutDecision): string {
  if (d.state === 'failed') return `failed (${d.reason}): ${d.message}\n  what to do: ${d.fix}`;
  if (d.state === 'timed-out') return `timed out: ${d.message}\n  what to do: ${d.fix}`;
  return d.message;
}
