/**
 * Every deployment action as a run of the tracker experiment `deployments`: params for what was deployed
 * where (cluster, model, version, image...), tags for the result, the run's start and end for its time.
 * Ordinary runs to every client; the Clusters view and `trellis deploy status` read them back.
 */
import { TrellisError } from '../../core/errors';
import type { Run } from '../../core/entities';
import type { Store } from '../../core/store';
import { LIMITS } from '../../core/validation';
import { experimentNamed } from '../tracking/named-experiment';

export const DEPLOY_EXPERIMENT = 'deployments';
export const DEPLOY_TAG = 'trellis.deploy';

export type DeployAction = 'deploy' | 'canary' | 'promote' | 'rollback';
/** ready: rolled out; applied: applied without waiting; rolled-back: failed and undone; failed / timed-out: left as it was. */
export type DeployResult = 'ready' | 'applied' | 'failed' | 'timed-out' | 'rolled-back';

export interface DeploymentRecord {
  action: DeployAction;
  cluster: string;
  namespace: string;
  model: string;
  version: string;
  image: string;
  replicas?: number;
  gpus?: number;
  canaryPercent?: number;
  result: DeployResult;
  /** What happened, in a line (the failure and what to do, for a failure). */
  message?: string;
  startedAt: number;
  endedAt: number;
}

export interface DeploymentSummary extends DeploymentRecord {
  run_id: string;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

export function recordDeployment(store: Store, rec: DeploymentRecord): DeploymentSummary {
  const experimentId = experimentNamed(store, DEPLOY_EXPERIMENT, 'restore it (or delete it permanently) to record deployments in it.');
  const params = Object.entries({
    action: rec.action,
    cluster: rec.cluster,
    namespace: rec.namespace,
    model: rec.model,
    version: rec.version,
    image: rec.image,
    replicas: rec.replicas,
    gpus: rec.gpus,
    canary_percent: rec.canaryPercent,
  })
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([key, value]) => ({ key, value: clip(String(value), LIMITS.paramValueLength) }));
  const tags = [
    { key: `${DEPLOY_TAG}.result`, value: rec.result },
    { key: `${DEPLOY_TAG}.cluster`, value: clip(rec.cluster, LIMITS.tagValueLength) },
    { key: `${DEPLOY_TAG}.model`, value: clip(rec.model, LIMITS.tagValueLength) },
    ...(rec.message ? [{ key: `${DEPLOY_TAG}.message`, value: clip(rec.message, LIMITS.tagValueLength) }] : []),
  ];
  const ok = rec.result === 'ready' || rec.result === 'applied';
  const runId = store.db.transaction(() => {
    const run = store.runs.create({
      experiment_id: experimentId,
      run_name: `${rec.action} ${rec.model}/${rec.version} to ${rec.cluster}`,
      start_time: rec.startedAt,
    });
    store.runs.logBatch(run.info.run_id, { metrics: [], params, tags });
    store.runs.update(run.info.run_id, { status: ok ? 'FINISHED' : 'FAILED', end_time: rec.endedAt });
    return run.info.run_id;
  })();
  return { ...rec, run_id: runId };
}

/** Recorded deployments, newest first, optionally of one cluster and model. */
export function listDeployments(store: Store, filter: { cluster?: string; model?: string; max?: number } = {}): DeploymentSummary[] {
  let experimentId: string;
  try {
    experimentId = store.experiments.getByName(DEPLOY_EXPERIMENT).experiment_id;
  } catch (err) {
    if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return [];
    throw err;
  }
  const out: DeploymentSummary[] = [];
  let pageToken: string | undefined;
  do {
    const page = store.runs.search({ experimentIds: [experimentId], orderBy: ['attributes.start_time DESC'], maxResults: 1000, ...(pageToken ? { pageToken } : {}) });
    for (const run of page.items) {
      const d = fromRun(run);
      if (!d || (filter.cluster && d.cluster !== filter.cluster) || (filter.model && d.model !== filter.model)) continue;
      out.push(d);
      if (filter.max && out.length >= filter.max) return out;
    }
    pageToken = page.next_page_token;
  } while (pageToken);
  return out;
}

function fromRun(run: Run): DeploymentSummary | undefined {
  const p = Object.fromEntries(run.data.params.map((kv) => [kv.key, kv.value]));
  const t = Object.fromEntries(run.data.tags.map((kv) => [kv.key, kv.value]));
  const result = t[`${DEPLOY_TAG}.result`];
  if (!result || !p.model || !p.version) return undefined;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    run_id: run.info.run_id,
    action: p.action as DeployAction,
    cluster: p.cluster ?? '',
    namespace: p.namespace ?? '',
    model: p.model,
    version: p.version,
    image: p.image ?? '',
    ...(p.replicas !== undefined ? { replicas: num(p.replicas) } : {}),
    ...(p.gpus !== undefined ? { gpus: num(p.gpus) } : {}),
    ...(p.canary_percent !== undefined ? { canaryPercent: num(p.canary_percent) } : {}),
    result: result as DeployResult,
    ...(t[`${DEPLOY_TAG}.message`] ? { message: t[`${DEPLOY_TAG}.message`] } : {}),
    startedAt: run.info.start_time,
    endedAt: run.info.end_time ?? run.info.start_time,
  };
}
