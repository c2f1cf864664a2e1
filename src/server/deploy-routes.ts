import type { Store } from '../core/store';
import { invalidParameter } from '../core/errors';
import { listDeployments, type DeploymentSummary } from '../services/deploy/record';
import { bool, int64, str } from './input';
import type { Router } from './router';

const API = '/api/trellis/deployments';

/**
 * Deployments to Kubernetes clusters as the tracker recorded them (experiment `deployments`), for the
 * extension's Clusters view:
 *   GET {API}   ?cluster, ?model, ?latest=true (only the newest per cluster and model), ?max_results
 *   → { deployments: [{run_id, action, cluster, namespace, model, version, image, replicas, gpus,
 *        canaryPercent, result, message, startedAt, endedAt, id, name, status}] }, newest first;
 *   id, name and status are what every control-API listing has (run id, `MODEL vVERSION`, the result).
 * Live cluster state and actions go through the CLI (`trellis deploy status|promote|rollback --json`),
 * which reads the workspace's cluster settings and kubeconfig.
 */
export function mountDeployRoutes(router: Router, store: Store): void {
  router.on('GET', API, async (ctx) => {
    const f = await ctx.fields();
    const max = int64(f, 'max_results') ?? 1000;
    if (max < 1 || max > 50_000) throw invalidParameter(`max_results must be between 1 and 50000, got ${max}.`);
    const cluster = str(f, 'cluster');
    const model = str(f, 'model');
    let deployments = listDeployments(store, { ...(cluster ? { cluster } : {}), ...(model ? { model } : {}) });
    if (bool(f, 'latest')) deployments = newestPerModel(deployments);
    return { deployments: deployments.slice(0, max).map((d) => ({ ...d, id: d.run_id, name: `${d.model} v${d.version}`, status: d.result })) };
  });
}

function newestPerModel(list: DeploymentSummary[]): DeploymentSummary[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = JSON.stringify([d.cluster, d.model]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
