// Live apply / status / rollback against a real cluster: these run only when KUBECONFIG names a cluster
// that answers (no Kubernetes API server can run on this machine), and otherwise skip saying so.
// The Deployment's image is one no node can pull, so the test needs no registry the cluster can reach:
// the rollout must fail as ImagePullBackOff, be reported by status, and be rolled back (removed).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient } from '../../src/engines/kubernetes/kube-client';
import { loadKubeConnection } from '../../src/engines/kubernetes/kubeconfig';
import { parseCluster } from '../../src/services/deploy/cluster-config';
import { applyState, removeModel, watchRollout } from '../../src/services/deploy/cluster-ops';
import { clusterStatus } from '../../src/services/deploy/deploy';
import type { ModelState } from '../../src/services/deploy/manifests';

let client: KubeClient | undefined;
let skip: string | false = 'KUBECONFIG is not set';

before(async () => {
  if (!process.env.KUBECONFIG) return;
  try {
    const c = new KubeClient(loadKubeConnection());
    await c.servesApi('apps/v1'); // any request: does the context reach an API server that lets it in?
    client = c;
    skip = false;
  } catch (err) {
    skip = `KUBECONFIG (${process.env.KUBECONFIG}) does not reach a cluster: ${(err as Error).message}`;
  }
});

const namespace = process.env.TRELLIS_LIVE_NAMESPACE ?? 'default';

test('live: apply, a rollout failing as ImagePullBackOff, status, rollback', { timeout: 240_000 }, async (t) => {
  if (skip) {
    t.skip(`no reachable Kubernetes cluster (${skip}); live apply/status/rollback tests run when KUBECONFIG points at one`);
    return;
  }
  const cluster = parseCluster({ name: 'live', namespace, registry: '127.0.0.1:1/trellis-live' });
  const state: ModelState = { cluster, modelName: `trellis-live-${Date.now().toString(36)}`, stable: { version: '1', image: '127.0.0.1:1/trellis-live/none:v1-000000000000', replicas: 1 }, traffic: 'replicas' };
  const lines: string[] = [];
  try {
    await applyState(client!, state, (l) => lines.push(l));
    const decision = await watchRollout(client!, namespace, `${state.modelName}-v1`, { timeoutMs: 180_000, onLine: (l) => lines.push(l) });
    assert.equal(decision.state, 'failed', lines.join('\n'));
    if (decision.state === 'failed') assert.equal(decision.reason, 'ImagePullBackOff');
    const status = await clusterStatus({ cluster, client: client! }, state.modelName);
    assert.deepEqual(status.map((s) => [s.version, s.track, s.decision.state]), [['1', 'stable', 'failed']]);
  } finally {
    await removeModel(client!, cluster, state, (l) => lines.push(l));
  }
  // Gone, or going (foreground deletion waits for the pods).
  const left = await client!.get<{ metadata?: { deletionTimestamp?: string } }>('apps/v1', 'Deployment', namespace, `${state.modelName}-v1`);
  assert.ok(!left || left.metadata?.deletionTimestamp, 'the Deployment was removed');
});
