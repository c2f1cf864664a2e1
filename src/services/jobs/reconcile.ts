import type { Run } from '../../core/entities';
import { processAlive } from '../../core/server-file';
import type { Store } from '../../core/store';
import { LABEL, listLabelled, removeContainer } from '../../engines/docker/containers';
import { JOB_TAG, jobRunIds } from './job-records';
import type { JobService } from './job-service';

export interface ReconcileReport {
  reattached: string[];
  /** Runs closed because their container was gone. */
  closed: string[];
  /** Containers removed because their run was already closed (or deleted). */
  removed: string[];
}

const OPEN = ['RUNNING', 'SCHEDULED'] as const;

/**
 * After a restart (or a crash), matches this data directory's labelled containers with its open job
 * runs: a live or exited container is adopted (an exited one closes at once with its exit code), a run
 * whose container is gone is closed FAILED saying so, a container whose run is closed is removed. Jobs a
 * live server process looks after are left to it.
 */
export async function reconcileJobs(service: JobService, store: Store, dataDir: string): Promise<ReconcileReport> {
  const report: ReconcileReport = { reattached: [], closed: [], removed: [] };
  // A platform that never ran a job never needs the engine.
  if (jobRunIds(store, { limit: 1 }).length === 0) return report;
  const { docker } = service.engine();
  const containers = await listLabelled(docker, { [LABEL.kind]: 'job', [LABEL.dataDir]: dataDir });
  const seen = new Set<string>();
  for (const info of containers) {
    const runId = info.Labels[LABEL.runId] ?? '';
    const run = runOrUndefined(store, runId);
    const container = docker.getContainer(info.Id);
    if (!run || !OPEN.includes(run.info.status as (typeof OPEN)[number]) || run.info.lifecycle_stage !== 'active') {
      await removeContainer(container);
      report.removed.push(info.Id);
      continue;
    }
    seen.add(runId);
    if (lookedAfterElsewhere(run) || service.isActive(runId)) continue;
    const details = await container.inspect();
    if (details.State.Running) {
      // The container's MLFLOW_TRACKING_URI names the old listener's port: listen there again if it is free.
      const uri = details.Config.Env.find((e) => e.startsWith('MLFLOW_TRACKING_URI='));
      const port = Number(/:(\d+)\/?$/.exec(uri ?? '')?.[1]) || undefined;
      await service.trackingUri(port).catch(() => undefined);
    }
    service.adopt(runId, container, details.HostConfig.Memory || undefined);
    report.reattached.push(runId);
  }
  for (const runId of jobRunIds(store, { statuses: [...OPEN] })) {
    if (seen.has(runId)) continue;
    const run = store.runs.get(runId);
    if (lookedAfterElsewhere(run) || service.isActive(runId)) continue;
    const reason =
      run.info.status === 'SCHEDULED'
        ? 'the platform server stopped before this queued job started; run it again'
        : 'its container is gone: it was removed while no Trellis server was watching, so its exit status is unknown';
    store.runs.logBatch(runId, { tags: [{ key: JOB_TAG.error, value: reason }] });
    store.runs.update(runId, { status: 'FAILED', end_time: Date.now() });
    report.closed.push(runId);
  }
  return report;
}

function runOrUndefined(store: Store, runId: string): Run | undefined {
  try {
    return store.runs.get(runId);
  } catch {
    return undefined;
  }
}

/** Another server process that is still alive runs this job (e.g. a `trellis run` with its own in-process server). */
function lookedAfterElsewhere(run: Run): boolean {
  const pid = Number(run.data.tags.find((t) => t.key === JOB_TAG.serverPid)?.value);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid);
}
