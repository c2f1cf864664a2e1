import { createReadStream, promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { RunStatus, KeyValue } from '../../core/entities';
import { ArtifactStore } from '../../core/artifacts';
import type { Store } from '../../core/store';
import { attachOutput, followLogs, readOutput, removeContainer, stopContainer, waitForExit, type ExitState, type StreamName } from '../../engines/docker/containers';
import { engineError } from '../../engines/docker/engine-errors';
import { JOB_TAG } from './job-records';
import { LogCapture } from './log-capture';
import { StatsSampler } from './stats-sampler';

export interface RunnerContext {
  store: Store;
  docker: Docker;
  dataDir: string;
  statsIntervalMs: number;
  stopGraceSeconds: number;
  log: (line: string) => void;
}

/** Where a job's outputs folder lives on the host while it runs (mounted at /outputs). */
export const outputsDir = (dataDir: string, runId: string): string => join(dataDir, 'jobs', runId, 'outputs');

/** How a job ended, as the run records it. */
export interface JobOutcome {
  status: RunStatus;
  exitCode?: number;
  error?: string;
}

/**
 * One job's container from start (or reattach) to its end: output streamed to the run's logs, stats
 * logged as metrics, and at the exit the outputs copied into the run's artifacts, the run closed with
 * the status the exit means, and the container removed. Nothing else touches the container.
 */
export class JobExecution {
  readonly logs: LogCapture;
  /** Resolves once the run is closed, or once the server detaches (the container then keeps running). */
  readonly done: Promise<JobOutcome | undefined>;
  private resolveDone!: (outcome: JobOutcome | undefined) => void;
  private container: Docker.Container | undefined;
  private readonly abort = new AbortController();
  private cancelRequested = false;
  private finishing = false;
  private readonly artifactRoot: string;

  constructor(
    private readonly ctx: RunnerContext,
    readonly runId: string,
    /** Written in failure messages, e.g. 'the memory limit of 8 MiB'. */
    private readonly memoryLimitBytes?: number,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const run = ctx.store.runs.info(runId);
    this.artifactRoot = ArtifactStore.relativeOfUri(run.artifact_uri) ?? `${run.experiment_id}/${runId}/artifacts`;
    this.logs = new LogCapture({
      stdout: ctx.store.artifacts.resolve(`${this.artifactRoot}/logs/stdout.log`),
      stderr: ctx.store.artifacts.resolve(`${this.artifactRoot}/logs/stderr.log`),
    });
  }

  /**
   * Creates and starts the container; `beforeStart` runs while the engine creates it and settles before
   * the start (the run's last tags). The output is read from before the start, as `docker run` does, so
   * a first line reaches followers as soon as the engine passes it on. A failure closes the run as FAILED
   * with the engine's reason.
   */
  async start(body: Docker.ContainerCreateOptions, beforeStart?: () => Promise<void>): Promise<void> {
    let output: Readable | undefined;
    let outputEnded: Promise<void> | undefined;
    try {
      await fsp.mkdir(outputsDir(this.ctx.dataDir, this.runId), { recursive: true });
      const creating = this.ctx.docker.createContainer(body);
      const prepared = beforeStart?.();
      this.container = await creating;
      this.setTags([{ key: JOB_TAG.containerId, value: this.container.id }]);
      if (this.cancelRequested) return void (await this.finish(undefined));
      output = await attachOutput(this.container, this.abort.signal);
      outputEnded = readOutput(output, (stream, line) => this.logs.add(stream, line), this.abort.signal);
      await prepared;
      await this.container.start();
      // A cancel that came while the container was being started found nothing running yet to stop.
      if (this.cancelRequested) await stopContainer(this.container, this.ctx.stopGraceSeconds);
    } catch (err) {
      output?.destroy();
      await this.finish(undefined, engineError(err, { image: body.Image }).message);
      return;
    }
    this.watch(outputEnded);
  }

  /** Closes the run as FAILED when the container cannot even be created (e.g. no way to reach the tracker). */
  async failToStart(reason: string): Promise<void> {
    await this.finish(undefined, reason);
  }

  /** Takes over a container a previous server started (running or already exited). */
  attach(container: Docker.Container): void {
    this.container = container;
    this.setTags([{ key: JOB_TAG.containerId, value: container.id }, { key: JOB_TAG.serverPid, value: String(process.pid) }]);
    this.watch();
  }

  /** SIGTERM, a grace period, SIGKILL; the run ends KILLED. */
  async cancel(): Promise<void> {
    this.cancelRequested = true;
    this.logs.add('trellis', `cancelling: SIGTERM, then SIGKILL after ${this.ctx.stopGraceSeconds} s`);
    if (this.container) await stopContainer(this.container, this.ctx.stopGraceSeconds);
  }

  /**
   * Stops watching and leaves the container running, for the next server to reattach to; a job already
   * being closed is closed first (the store must outlive that).
   */
  async detach(): Promise<void> {
    if (this.finishing) {
      await this.done;
      return;
    }
    this.abort.abort();
    this.resolveDone(undefined);
    await this.logs.close();
  }

  /** Follows the container to its exit; `outputEnded` when its output is read already (attached before the start), else its log stream (a reattach). */
  private watch(outputEnded?: Promise<void>): void {
    const container = this.container!;
    const signal = this.abort.signal;
    const sampler = new StatsSampler(container, this.ctx.statsIntervalMs, (metrics) => {
      try {
        this.ctx.store.runs.logBatch(this.runId, { metrics });
      } catch {
        /* the run was deleted meanwhile: nothing to log into */
      }
    });
    sampler.start();
    const onLine = (stream: StreamName, line: string) => this.logs.add(stream, line);
    const logsEnded = (outputEnded ?? followLogs(container, onLine, signal)).catch(() => {});
    waitForExit(container, signal)
      .then(async (exit) => {
        sampler.stop();
        // The log stream ends at the exit too; wait for its last lines, but never hang on it.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([logsEnded, new Promise((r) => (timer = setTimeout(r, 2_000)))]);
        clearTimeout(timer);
        await this.finish(exit);
      })
      .catch(async (err: unknown) => {
        sampler.stop();
        if (signal.aborted) return;
        this.ctx.log(`job ${this.runId}: lost the engine while waiting (${(err as Error).message}); the next server start reconciles it`);
        await this.detach();
      });
  }

  private async finish(exit: ExitState | undefined, startError?: string): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    const outcome = this.outcome(exit, startError);
    if (outcome.error) this.logs.add('trellis', outcome.error);
    await this.logs.close();
    const tags: KeyValue[] = [];
    if (outcome.exitCode !== undefined) tags.push({ key: JOB_TAG.exitCode, value: String(outcome.exitCode) });
    if (outcome.error) tags.push({ key: JOB_TAG.error, value: outcome.error.slice(0, 5000) });
    const tail = this.logs.tail();
    if (outcome.status === 'FAILED' && tail) tags.push({ key: JOB_TAG.lastLines, value: tail.slice(-5000) });
    // Each step on its own: a file that cannot be copied must not keep the run open.
    const attempt = async (what: string, step: () => unknown) => {
      try {
        await step();
      } catch (err) {
        this.ctx.log(`job ${this.runId}: ${what}: ${(err as Error).message}`);
      }
    };
    await attempt('outputs not copied into the artifacts', () => this.collectOutputs());
    // The run is closed before the container goes: a crash in between leaves an orphan the next start
    // removes, never a RUNNING run without its container.
    await attempt('could not close its run', () => {
      this.setTags(tags);
      this.ctx.store.runs.update(this.runId, { status: outcome.status, end_time: Date.now() });
    });
    if (this.container) await attempt('container not removed', () => removeContainer(this.container!));
    await attempt('outputs folder not removed', () => fsp.rm(join(this.ctx.dataDir, 'jobs', this.runId), { recursive: true, force: true }));
    this.resolveDone(outcome);
  }

  private outcome(exit: ExitState | undefined, startError?: string): JobOutcome {
    if (this.cancelRequested) return { status: 'KILLED', ...(exit ? { exitCode: exit.exitCode } : {}), error: 'cancelled: stopped on request' };
    if (startError) return { status: 'FAILED', error: `the container did not start: ${startError}` };
    if (!exit) return { status: 'FAILED', error: `the container ${this.container?.id.slice(0, 12) ?? ''} was removed outside Trellis before its exit was seen` };
    if (exit.exitCode === 0) return { status: 'FINISHED', exitCode: 0 };
    if (exit.oomKilled) {
      const limit = this.memoryLimitBytes ? `its memory limit of ${Math.round(this.memoryLimitBytes / 1024 ** 2)} MiB` : 'the memory available';
      return { status: 'FAILED', exitCode: exit.exitCode, error: `out of memory: the container was killed (exit ${exit.exitCode}) after using ${limit}; raise --memory or use less` };
    }
    return { status: 'FAILED', exitCode: exit.exitCode, error: `exit code ${exit.exitCode}${exit.error ? `: ${exit.error}` : ''}` };
  }

  /** Regular files of the outputs folder become the run's artifacts; links are skipped (they could point anywhere). */
  private async collectOutputs(): Promise<void> {
    const root = outputsDir(this.ctx.dataDir, this.runId);
    const walk = async (dir: string): Promise<void> => {
      const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) await this.ctx.store.artifacts.write(`${this.artifactRoot}/${relative(root, full)}`, createReadStream(full));
      }
    };
    await walk(root);
  }

  private setTags(tags: KeyValue[]): void {
    if (tags.length) this.ctx.store.runs.logBatch(this.runId, { tags });
  }
}
