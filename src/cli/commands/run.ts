import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { TrellisClient } from '../../client/trellis-client';
import { parseKeyValues, parseMountFlag, type JobRequest } from '../../services/jobs/job-spec';
import type { JobView } from '../../services/jobs/job-records';
import type { LogLine as JobLogLine } from '../../services/jobs/log-capture';
import { connect, type GlobalOptions } from '../connect';

/** The options `trellis run` and `trellis sweep` share: what runs, where, with what. */
export interface JobOptions {
  experiment: string;
  name?: string;
  image?: string;
  build?: string;
  gpus?: string;
  cpus?: string;
  memory?: string;
  shmSize?: string;
  env: string[];
  mount: string[];
  param: string[];
  workspace?: string;
  workspaceRw?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addJobOptions(command: Command): Command {
  return command
    .requiredOption('-e, --experiment <name-or-id>', 'experiment of the run (created when a name is new)')
    .option('--image <image>', 'image to run (already on the engine)')
    .option('--build <dir>', 'build the image from DIR/Dockerfile first')
    .option('--gpus <request>', 'GPUs as `docker run --gpus`: all, a count, or device=0,1')
    .option('--cpus <n>', 'CPU limit, e.g. 1.5')
    .option('--memory <size>', 'memory limit, e.g. 512m or 4g; going past it is an OOM kill')
    .option('--shm-size <size>', 'size of /dev/shm, e.g. 1g (PyTorch data loaders need more than the 64m default)')
    .option('--env <KEY=VALUE>', 'environment variable for the container (repeatable)', collect, [])
    .option('--mount <SRC:DST[:ro]>', 'bind mount a host path (repeatable)', collect, [])
    .option('--param <key=value>', 'run param, in the container as TRELLIS_PARAMS and {{key}} in the command (repeatable)', collect, [])
    .option('--workspace <dir>', 'folder mounted at /workspace (read-only), the working directory; its git commit is recorded', '.')
    .option('--workspace-rw', 'mount the workspace read-write');
}

/** The job request of the flags; relative paths are taken from the current directory. */
export function jobRequest(opts: JobOptions, command: string[], extra: { params?: Record<string, string>; tags?: Record<string, string> } = {}): JobRequest {
  const cwd = process.cwd();
  return {
    ...(/^\d+$/.test(opts.experiment) ? { experiment_id: opts.experiment } : { experiment_name: opts.experiment }),
    run_name: opts.name,
    image: opts.image,
    build: opts.build === undefined ? undefined : resolve(cwd, opts.build),
    command,
    gpus: opts.gpus,
    cpus: opts.cpus,
    memory: opts.memory,
    shm_size: opts.shmSize,
    env: parseKeyValues('--env', opts.env),
    mounts: opts.mount.map((m) => parseMountFlag(m, cwd)),
    params: { ...parseKeyValues('--param', opts.param), ...extra.params },
    tags: extra.tags,
    workspace: resolve(cwd, opts.workspace ?? '.'),
    workspace_writable: opts.workspaceRw === true,
  };
}

/** The process exit code a job's end maps to, as `docker run` passes the container's through. */
export function exitCodeOf(job: JobView): number {
  if (job.status === 'FINISHED') return 0;
  if (job.status === 'KILLED') return 130;
  return job.exit_code && job.exit_code > 0 && job.exit_code < 256 ? job.exit_code : 1;
}

export function describeEnd(job: JobView): string {
  if (job.status === 'RUNNING' || job.status === 'SCHEDULED') {
    return `the server stopped watching job ${job.job_id} while ${job.status}; the next server start picks it up (trellis jobs logs -f ${job.job_id})`;
  }
  const exit = job.exit_code !== undefined ? ` (exit ${job.exit_code})` : '';
  return `job ${job.job_id} ${job.status}${exit}${job.error && job.status !== 'FINISHED' ? `: ${job.error}` : ''}`;
}

/** Prints a job's line: the container's stdout to stdout, its stderr and Trellis's notes to stderr. */
export function printJobLine(l: JobLogLine): void {
  if (l.stream === 'stdout') process.stdout.write(`${l.line}\n`);
  else process.stderr.write(l.stream === 'trellis' ? `[trellis] ${l.line}\n` : `${l.line}\n`);
}

/** Prints a job's lines live, until it ends. */
export async function streamJob(client: TrellisClient, jobId: string, signal?: AbortSignal): Promise<JobView> {
  return client.followJobLogs(jobId, printJobLine, { follow: true, signal });
}

export function runCommand(program: Command, globals: () => GlobalOptions): void {
  addJobOptions(
    program
      .command('run')
      .description('Run a training command in a container, tracked as a run (logs streamed live; Ctrl-C cancels)')
      .option('-n, --name <name>', 'run name'),
  )
    .argument('<command...>', 'the command to run in the container, after --')
    // Flags after the command are the command's own (`-- python3 train.py --lr 0.1`, or without the --).
    .passThroughOptions()
    .addHelpText(
      'after',
      '\nExample: trellis run --experiment mnist --image trainer:latest --param lr=0.01 -- python3 train.py --lr {{lr}}\n' +
        'Inside the container: MLFLOW_TRACKING_URI, MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID and MLFLOW_TRACKING_TOKEN point an MLflow\n' +
        'client at this run; files written to /outputs become the run\'s artifacts; the workspace is at /workspace.',
    )
    .action(async (command: string[], opts: JobOptions) => {
      const { client, release } = await connect(globals());
      let code = 1;
      try {
        // One request submits and follows: the container's first line comes back on the submit's own stream.
        let jobId: string | undefined;
        // A Ctrl-C before the server named the job cancels it as soon as it does.
        let cancelOnceNamed = false;
        const ids = () => (jobId ? [jobId] : ((cancelOnceNamed = true), []));
        const end = await withCancelOnInterrupt(client, ids, () =>
          client.runJob(jobRequest(opts, command), {
            onSubmitted: (job) => {
              jobId = job.job_id;
              process.stderr.write(`[trellis] job ${job.job_id} (run ${job.run_name}, experiment ${job.experiment_id}) ${job.status}\n`);
              if (cancelOnceNamed) client.cancelJob(jobId).catch((err: Error) => process.stderr.write(`[trellis] cancel failed: ${err.message}\n`));
            },
            onLine: printJobLine,
          }),
        );
        process.stderr.write(`[trellis] ${describeEnd(end)}\n`);
        code = exitCodeOf(end);
      } finally {
        await release();
      }
      process.exitCode = code;
    });
}

/** Ctrl-C once asks the platform to cancel the job and waits for it to stop; twice leaves at once. */
export async function withCancelOnInterrupt<T>(client: TrellisClient, jobId: string | (() => string[]), body: () => Promise<T>): Promise<T> {
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('[trellis] cancelling (SIGTERM, then SIGKILL after the grace period); Ctrl-C again to stop waiting\n');
    const ids = typeof jobId === 'string' ? [jobId] : jobId();
    for (const id of ids) client.cancelJob(id).catch((err: Error) => process.stderr.write(`[trellis] cancel failed: ${err.message}\n`));
  };
  process.on('SIGINT', onInterrupt);
  try {
    return await body();
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
