import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import type Docker from 'dockerode';
import type { KeyValue, RunStatus } from '../../core/entities';
import { invalidParameter, invalidState, notFound, TrellisError } from '../../core/errors';
import { ArtifactStore } from '../../core/artifacts';
import type { Store } from '../../core/store';
import { connectDocker, type DockerConnection } from '../../engines/docker/connection';
import { engineInfo } from '../../engines/docker/engine-info';
import { engineError } from '../../engines/docker/engine-errors';
import { buildImage, requireImage } from '../../engines/docker/images';
import { bridgeGateway, containerCreateBody, LABEL } from '../../engines/docker/containers';
import { checkJobRequest, OUTPUTS_IN_CONTAINER, WORKSPACE_IN_CONTAINER, type JobSpec } from './job-spec';
import { isJobRun, JOB_TAG, jobRunIds, jobView, type JobView } from './job-records';
import { JobExecution, outputsDir, type RunnerContext } from './job-runner';
import type { LogLine } from './log-capture';
import { JobQueue } from './queue';
import { gitState } from './workspace-git';
import { reconcileJobs, type ReconcileReport } from './reconcile';

export interface JobServiceOptions {
  store: Store;
  /** Absolute; labels containers so that each platform reconciles only its own. */
  dataDir: string;
  /**
   * Starts (once) a listener of the platform's API on `address` (the Docker bridge gateway) that requires
   * `containerToken`, and returns its port; `preferredPort` first, so reattached containers keep their URI.
   */
  openContainerListener(address: string, preferredPort?: number): Promise<number>;
  /** An explicit engine address; else DOCKER_HOST, else the default socket. */
  dockerHost?: string;
  /** Jobs running at once; more wait as SCHEDULED. */
  maxConcurrent?: number;
  statsIntervalMs?: number;
  /** Seconds between a cancel's SIGTERM and its SIGKILL. */
  stopGraceSeconds?: number;
  log: (line: string) => void;
}

export const JOB_DEFAULTS = { maxConcurrent: 2, statsIntervalMs: 5_000, stopGraceSeconds: 10 } as const;

const RECONCILE_WAIT_ON_CLOSE_MS = 5_000;

/** Name the host uses for itself inside job containers (ExtraHosts host-gateway). */
const HOST_FROM_CONTAINER = 'host.docker.internal';

interface PendingJob {
  execution: JobExecution;
  spec: JobSpec;
  imageId: string;
  experimentId: string;
  /** Settles once the container has started (or failed to). */
  started?: Promise<void>;
}

/** A job the service took: its run exists; `started` settles once its container started, failed to, or was queued. */
export interface AdmittedJob {
  jobId: string;
  started: Promise<void>;
}

/** Training jobs: each a run executed in a container, queued beyond the concurrency limit. */
export class JobService {
  private connection: DockerConnection | undefined;
  private trackingPort: Promise<number> | undefined;
  /** Jobs this server looks after: queued or running. */
  private readonly active = new Map<string, JobExecution>();
  private readonly waiting = new Map<string, PendingJob>();
  private readonly queue: JobQueue<PendingJob>;
  private closed = false;
  private reconciled: Promise<ReconcileReport | undefined> | undefined;
  readonly settings: { maxConcurrent: number; statsIntervalMs: number; stopGraceSeconds: number };
  /**
   * The token containers send (MLFLOW_TRACKING_TOKEN), kept in the data directory: a container that
   * outlives its server still logs into the next one. It is not the server's own token, which containers
   * never see.
   */
  get containerToken(): string {
    this.token ??= loadOrCreateToken(join(this.options.dataDir, 'jobs', 'container-token'));
    return this.token;
  }

  private token: string | undefined;

  constructor(private readonly options: JobServiceOptions) {
    this.settings = {
      maxConcurrent: options.maxConcurrent ?? JOB_DEFAULTS.maxConcurrent,
      statsIntervalMs: options.statsIntervalMs ?? JOB_DEFAULTS.statsIntervalMs,
      stopGraceSeconds: options.stopGraceSeconds ?? JOB_DEFAULTS.stopGraceSeconds,
    };
    this.queue = new JobQueue(this.settings.maxConcurrent, (job) => this.launch(job));
  }

  /** The engine, connected on first use: a platform that never runs a job never talks to Docker. */
  engine(): DockerConnection {
    this.connection ??= connectDocker({ host: this.options.dockerHost });
    return this.connection;
  }

  runnerContext(): RunnerContext {
    return {
      store: this.options.store,
      docker: this.engine().docker,
      dataDir: this.options.dataDir,
      statsIntervalMs: this.settings.statsIntervalMs,
      stopGraceSeconds: this.settings.stopGraceSeconds,
      log: this.options.log,
    };
  }

  /**
   * Checks the request, the engine, GPUs and the image before anything is created; then creates the run
   * (RUNNING, or SCHEDULED when the limit is reached) and starts the container. Resolves once the run
   * exists, so that a caller can follow the job's output from its first line.
   */
  async admit(body: unknown): Promise<AdmittedJob> {
    if (this.closed) throw new TrellisError('TEMPORARILY_UNAVAILABLE', 'The platform server is shutting down; submit the job again once it runs.');
    const spec = checkJobRequest(body);
    const { docker, host } = this.engine();
    if (spec.gpus) {
      const info = await engineInfo(docker, { host, local: this.engine().local });
      if (!info.gpu.available) {
        throw invalidParameter(
          `--gpus ${spec.gpusText} asks for GPUs, but the Docker engine at ${host} has none (${info.gpu.detail}). ` +
            'Run without --gpus to train on the CPU, or use an engine with the NVIDIA driver and container toolkit.',
        );
      }
    }
    // A built image is built when the job starts, its output streamed with the job's; a named one must exist now.
    const image = spec.image ? await requireImage(docker, spec.image) : undefined;
    if (spec.build && !existsSync(join(spec.build.context, spec.build.dockerfile ?? 'Dockerfile'))) {
      throw invalidParameter(`--build ${spec.build.context}: there is no ${spec.build.dockerfile ?? 'Dockerfile'} in it to build the image from.`);
    }
    // Only now, with the engine, GPUs and image checked: a refused job leaves nothing behind, not even a new experiment.
    const experimentId = this.experimentOf(spec);

    const tags: KeyValue[] = [
      { key: JOB_TAG.image, value: spec.image ?? builtImageName(spec.build!.context) },
      ...(image ? [{ key: JOB_TAG.imageDigest, value: image.repoDigests[0] ?? image.id }] : []),
      ...(spec.build ? [{ key: JOB_TAG.buildContext, value: spec.build.context }] : []),
      { key: JOB_TAG.command, value: JSON.stringify(spec.command).slice(0, 5000) },
      { key: JOB_TAG.host, value: hostname() },
      { key: JOB_TAG.dockerHost, value: host },
      { key: JOB_TAG.serverPid, value: String(process.pid) },
      { key: 'mlflow.source.type', value: 'JOB' },
      ...(spec.gpusText ? [{ key: JOB_TAG.gpus, value: spec.gpusText }] : []),
      ...Object.entries(spec.tags).map(([key, value]) => ({ key, value })),
    ];
    const { store } = this.options;
    const run = store.runs.create({ experiment_id: experimentId, run_name: spec.runName, start_time: Date.now(), tags });
    const runId = run.info.run_id;
    const params = Object.entries(spec.params).map(([key, value]) => ({ key, value }));
    for (let i = 0; i < params.length; i += 100) store.runs.logBatch(runId, { params: params.slice(i, i + 100) });

    const job: PendingJob = { execution: new JobExecution(this.runnerContext(), runId, spec.memoryBytes), spec, imageId: image?.id ?? '', experimentId };
    this.track(job.execution);
    if (this.queue.add(job)) return { jobId: runId, started: job.started! };
    this.waiting.set(runId, job);
    store.runs.update(runId, { status: 'SCHEDULED' });
    job.execution.logs.add('trellis', `queued: ${this.queue.size.running} jobs running, ${this.queue.size.waiting - 1} waiting before this one`);
    return { jobId: runId, started: Promise.resolve() };
  }

  private async tagWorkspace(runId: string, workspace: string | undefined): Promise<void> {
    const git = workspace ? await gitState(workspace) : undefined;
    if (!git) return;
    try {
      this.options.store.runs.logBatch(runId, { tags: [{ key: JOB_TAG.gitCommit, value: git.commit }, { key: JOB_TAG.gitDirty, value: String(git.dirty) }] });
    } catch (err) {
      this.options.log(`job ${runId}: git tags not written (${(err as Error).message})`);
    }
  }

  get(jobId: string): JobView {
    const run = this.options.store.runs.get(jobId);
    if (!isJobRun(run)) throw notFound(`Run ${jobId} is not a job (it was not started by trellis run).`);
    return jobView(run);
  }

  list(filter: { statuses?: RunStatus[]; experimentId?: string; sweepId?: string; limit?: number } = {}): JobView[] {
    return jobRunIds(this.options.store, filter).map((id) => jobView(this.options.store.runs.get(id)));
  }

  /** Cancels a queued job at once, a running one with SIGTERM, grace, SIGKILL; a finished one is left as it is. */
  async cancel(jobId: string): Promise<JobView> {
    const view = this.get(jobId);
    if (view.status !== 'RUNNING' && view.status !== 'SCHEDULED') return view;
    const execution = this.active.get(jobId);
    if (!execution) {
      const owner = this.options.store.runs.get(jobId).data.tags.find((t) => t.key === JOB_TAG.serverPid)?.value ?? '?';
      throw invalidState(`Job ${jobId} is ${view.status} under another Trellis process (pid ${owner}): press Ctrl-C in its \`trellis run\`, or cancel it through the server that runs it.`);
    }
    const queued = this.waiting.get(jobId);
    if (queued && this.queue.remove(queued)) {
      this.waiting.delete(jobId);
      execution.logs.add('trellis', 'cancelled before it started');
      this.closeUnstarted(execution, 'cancelled before it started');
      await execution.detach();
      return this.get(jobId);
    }
    await execution.cancel();
    await execution.done;
    return this.get(jobId);
  }

  /**
   * Lines so far and every new one until the job ends (`done`), or undefined when the job is not
   * running here: its saved logs are then all there is (`savedLogs`).
   */
  followLogs(jobId: string, listener: (line: LogLine) => void): { backlog: LogLine[]; stop: () => void; done: Promise<unknown> } | undefined {
    const execution = this.active.get(jobId);
    if (!execution) return undefined;
    return { ...execution.logs.follow(listener), done: execution.done };
  }

  /** The saved stdout and stderr of a job, each in order (their interleaving is not kept). */
  savedLogs(jobId: string): LogLine[] {
    const run = this.options.store.runs.info(jobId);
    const root = ArtifactStore.relativeOfUri(run.artifact_uri);
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      let text = '';
      try {
        text = readFileSync(this.options.store.artifacts.resolve(`${root}/logs/${stream}.log`), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(0, -1)) out.push({ stream, line, time: run.end_time ?? run.start_time });
    }
    return out;
  }

  /**
   * Reconciles this data directory's containers with its open job runs (see reconcile.ts); once per
   * start. An engine that cannot be reached leaves them for a later start, and says so.
   */
  reconcile(): Promise<ReconcileReport | undefined> {
    this.reconciled ??= reconcileJobs(this, this.options.store, this.options.dataDir).catch((err: unknown) => {
      this.options.log(`jobs: could not reconcile containers with running jobs (${engineError(err).message}); they are reconciled at the next start`);
      return undefined;
    });
    return this.reconciled;
  }

  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  /** Takes over a labelled container of a RUNNING run after a restart (see reconcile.ts). */
  adopt(runId: string, container: Docker.Container, memoryLimitBytes?: number): void {
    const execution = new JobExecution(this.runnerContext(), runId, memoryLimitBytes);
    this.track(execution);
    this.queue.occupy(execution.done);
    execution.attach(container);
  }

  /** Listens for containers on the bridge gateway, on `preferredPort` when it is free. */
  async trackingUri(preferredPort?: number): Promise<string> {
    this.trackingPort ??= (async () => {
      const { docker, host } = this.engine();
      const gateway = await bridgeGateway(docker).catch((err: unknown) => {
        throw engineError(err, { host });
      });
      if (!gateway) throw invalidState(`The Docker engine at ${host} has no IPv4 bridge network, so a job's container could not reach the tracker.`);
      try {
        return await this.options.openContainerListener(gateway, preferredPort);
      } catch (err) {
        throw invalidState(
          `Cannot listen on ${gateway} (the engine's bridge gateway) for containers to reach the tracker: ${(err as Error).message}. ` +
            'Jobs need the Docker engine to run on this machine.',
        );
      }
    })();
    this.trackingPort.catch(() => (this.trackingPort = undefined));
    return `http://${HOST_FROM_CONTAINER}:${await this.trackingPort}`;
  }

  /** Stops watching running containers (the next server reattaches) and closes queued jobs' runs. */
  async close(): Promise<void> {
    this.closed = true;
    // A reconcile in progress adopts containers into this server: let it finish, but never hang a shutdown
    // on an engine that does not answer.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.reconciled, new Promise((r) => (timer = setTimeout(r, RECONCILE_WAIT_ON_CLOSE_MS)))]);
    clearTimeout(timer);
    for (const job of this.queue.drain()) this.closeUnstarted(job.execution, 'the platform server stopped before this queued job started; run it again');
    this.waiting.clear();
    await Promise.all([...this.active.values()].map((execution) => execution.detach()));
  }

  /** A queued job that will not run: its run is KILLED with the reason; detaching it then ends its followers. */
  private closeUnstarted(execution: JobExecution, reason: string): void {
    this.options.store.runs.logBatch(execution.runId, { tags: [{ key: JOB_TAG.error, value: reason }] });
    this.options.store.runs.update(execution.runId, { status: 'KILLED', end_time: Date.now() });
  }

  private track(execution: JobExecution): void {
    this.active.set(execution.runId, execution);
    void execution.done.then(() => this.active.delete(execution.runId));
  }

  private experimentOf(spec: JobSpec): string {
    const { experiments } = this.options.store;
    if (spec.experimentId) return experiments.get(spec.experimentId).experiment_id;
    try {
      return experiments.getByName(spec.experimentName).experiment_id;
    } catch (err) {
      if ((err as TrellisError).code !== 'RESOURCE_DOES_NOT_EXIST') throw err;
      return experiments.create(spec.experimentName);
    }
  }

  private launch(job: PendingJob): Promise<unknown> {
    const { execution } = job;
    const runId = execution.runId;
    this.waiting.delete(runId);
    job.started = (async () => {
      if (this.options.store.runs.info(runId).status === 'SCHEDULED') this.options.store.runs.update(runId, { status: 'RUNNING' });
      let uri: string;
      try {
        if (job.spec.build) job.imageId = await this.build(job);
        uri = await this.trackingUri();
      } catch (err) {
        await execution.failToStart((err as Error).message);
        return;
      }
      // The workspace's git state (a git process, ~7 ms) is read while the engine creates the container;
      // its tags are written before the container starts.
      await execution.start(this.createBody(job, uri), () => this.tagWorkspace(runId, job.spec.workspace));
    })();
    return job.started.then(() => execution.done);
  }

  /**
   * The platform's data directory as the container would see it through the workspace mount (it usually
   * is `.trellis` inside the workspace): hidden, so a job reads neither the database nor the tokens.
   */
  private dataDirInWorkspace(workspace: string | undefined): string[] {
    if (!workspace) return [];
    const rel = relative(workspace, this.options.dataDir);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return [];
    return [posix.join(WORKSPACE_IN_CONTAINER, ...rel.split(sep))];
  }

  /** Builds the job's image, its output shown to followers as Trellis lines; records the image's ID. */
  private async build(job: PendingJob): Promise<string> {
    const { execution, spec } = job;
    const name = builtImageName(spec.build!.context);
    execution.logs.add('trellis', `building ${name} from ${spec.build!.context}`);
    const built = await buildImage(this.engine().docker, {
      context: spec.build!.context,
      dockerfile: spec.build!.dockerfile,
      tags: [name],
      host: this.engine().host,
      onEvent: (event) => execution.logs.add('trellis', event.type === 'step' ? `Step ${event.step}/${event.total} : ${event.instruction}` : event.text),
    }).catch((err: unknown) => {
      throw new TrellisError('INVALID_PARAMETER_VALUE', `the image build failed: ${(err as Error).message}`);
    });
    this.options.store.runs.logBatch(execution.runId, { tags: [{ key: JOB_TAG.imageDigest, value: built.id }] });
    return built.id;
  }

  private createBody(job: PendingJob, trackingUri: string): Docker.ContainerCreateOptions {
    const { spec, execution } = job;
    const runId = execution.runId;
    const sweepId = spec.tags[JOB_TAG.sweepId];
    return containerCreateBody({
      name: `trellis-job-${runId.slice(0, 12)}`,
      image: job.imageId,
      command: spec.command,
      env: {
        ...spec.env,
        MLFLOW_TRACKING_URI: trackingUri,
        MLFLOW_TRACKING_TOKEN: this.containerToken,
        MLFLOW_RUN_ID: runId,
        MLFLOW_EXPERIMENT_ID: job.experimentId,
        TRELLIS_OUTPUTS_DIR: OUTPUTS_IN_CONTAINER,
        TRELLIS_PARAMS: JSON.stringify(spec.params),
      },
      labels: {
        [LABEL.kind]: 'job',
        [LABEL.runId]: runId,
        [LABEL.jobId]: runId,
        [LABEL.experimentId]: job.experimentId,
        [LABEL.dataDir]: this.options.dataDir,
        ...(sweepId ? { [LABEL.sweepId]: sweepId } : {}),
      },
      ...(spec.workspace ? { workingDir: WORKSPACE_IN_CONTAINER } : {}),
      mounts: [
        ...(spec.workspace ? [{ source: spec.workspace, target: WORKSPACE_IN_CONTAINER, readOnly: !spec.workspaceWritable }] : []),
        { source: outputsDir(this.options.dataDir, runId), target: OUTPUTS_IN_CONTAINER, readOnly: false },
        ...spec.mounts,
      ],
      hidden: this.dataDirInWorkspace(spec.workspace),
      cpus: spec.cpus,
      memoryBytes: spec.memoryBytes,
      shmSizeBytes: spec.shmSizeBytes,
      gpus: spec.gpus,
      extraHosts: [`${HOST_FROM_CONTAINER}:host-gateway`],
    });
  }
}

/** One tag per build folder (`trellis/<folder>:latest`): rebuilds reuse the engine's cache and do not pile up. */
export function builtImageName(context: string): string {
  const folder = basename(context).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'workspace';
  return `trellis/${folder}:latest`;
}

function loadOrCreateToken(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    mkdirSync(dirname(path), { recursive: true });
    const token = randomBytes(24).toString('hex');
    try {
      writeFileSync(path, token, { mode: 0o600, flag: 'wx' });
      return token;
    } catch {
      // Another server on this data directory wrote it first: use theirs.
      return readFileSync(path, 'utf8').trim();
    }
  }
}
