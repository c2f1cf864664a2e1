import type { Run, RunStatus } from '../../core/entities';
import type { Store } from '../../core/store';

/**
 * A job is a run executed in a container: the job's id is its run's id, and what a job is (image,
 * command, container, exit) is kept in the run's tags, so jobs outlive the server that started them.
 */
export const JOB_TAG = {
  image: 'trellis.job.image',
  imageDigest: 'trellis.docker.image_digest',
  buildContext: 'trellis.job.build_context',
  command: 'trellis.job.command',
  containerId: 'trellis.job.container_id',
  exitCode: 'trellis.job.exit_code',
  error: 'trellis.job.error',
  lastLines: 'trellis.job.last_log_lines',
  /** The server process looking after the container; another server leaves the job alone while it lives. */
  serverPid: 'trellis.job.server_pid',
  gpus: 'trellis.job.gpus',
  host: 'trellis.host',
  dockerHost: 'trellis.docker.host',
  gitCommit: 'mlflow.source.git.commit',
  gitDirty: 'trellis.git.dirty',
  sweepId: 'trellis.sweep_id',
} as const;

export interface JobView {
  job_id: string;
  run_id: string;
  experiment_id: string;
  run_name: string;
  status: RunStatus;
  image: string;
  command: string[];
  container_id?: string;
  exit_code?: number;
  error?: string;
  sweep_id?: string;
  start_time: number;
  end_time?: number;
}

export function jobView(run: Run): JobView {
  const tag = (key: string) => run.data.tags.find((t) => t.key === key)?.value;
  const exit = tag(JOB_TAG.exitCode);
  let command: string[] = [];
  try {
    command = JSON.parse(tag(JOB_TAG.command) ?? '[]') as string[];
  } catch {
    /* a tag edited by hand: show no command rather than fail the listing */
  }
  return {
    job_id: run.info.run_id,
    run_id: run.info.run_id,
    experiment_id: run.info.experiment_id,
    run_name: run.info.run_name,
    status: run.info.status,
    image: tag(JOB_TAG.image) ?? '',
    command,
    ...(tag(JOB_TAG.containerId) ? { container_id: tag(JOB_TAG.containerId) } : {}),
    ...(exit !== undefined ? { exit_code: Number(exit) } : {}),
    ...(tag(JOB_TAG.error) ? { error: tag(JOB_TAG.error) } : {}),
    ...(tag(JOB_TAG.sweepId) ? { sweep_id: tag(JOB_TAG.sweepId) } : {}),
    start_time: run.info.start_time,
    ...(run.info.end_time ? { end_time: run.info.end_time } : {}),
  };
}

export const isJobRun = (run: Run): boolean => run.data.tags.some((t) => t.key === JOB_TAG.image);

/** Ids of job runs (active lifecycle), newest first; optionally only some statuses, one experiment or one sweep. */
export function jobRunIds(store: Store, filter: { statuses?: RunStatus[]; experimentId?: string; sweepId?: string; limit?: number } = {}): string[] {
  const where = [`r.lifecycle_stage = 'active'`, `EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ?)`];
  const args: unknown[] = [JOB_TAG.image];
  if (filter.statuses?.length) {
    where.push(`r.status IN (SELECT value FROM json_each(?))`);
    args.push(JSON.stringify(filter.statuses));
  }
  if (filter.experimentId !== undefined) {
    where.push('r.experiment_id = ?');
    args.push(Number(filter.experimentId));
  }
  if (filter.sweepId !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM tags s WHERE s.run_uuid = r.run_uuid AND s.key = ? AND s.value = ?)`);
    args.push(JOB_TAG.sweepId, filter.sweepId);
  }
  args.push(filter.limit ?? 1000);
  return store.db
    .prepare(`SELECT r.run_uuid FROM runs r WHERE ${where.join(' AND ')} ORDER BY r.start_time DESC, r.run_uuid LIMIT ?`)
    .pluck()
    .all(...args) as string[];
}
