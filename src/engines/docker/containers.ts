import { networkInterfaces } from 'node:os';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { DeviceRequest } from './gpu-request';

/** Labels every Trellis container carries: the platform finds its own containers by them after a restart. */
export const LABEL = {
  kind: 'trellis.kind',
  runId: 'trellis.run_id',
  jobId: 'trellis.job_id',
  experimentId: 'trellis.experiment_id',
  dataDir: 'trellis.data_dir',
  sweepId: 'trellis.sweep_id',
} as const;

export interface BindMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  workingDir?: string;
  mounts: BindMount[];
  /** Container paths covered by an empty tmpfs, hiding what a bind mount would show there. */
  hidden?: string[];
  /** Whole CPUs, e.g. 1.5. */
  cpus?: number;
  memoryBytes?: number;
  shmSizeBytes?: number;
  gpus?: DeviceRequest;
  /** `host:address` entries; `host.docker.internal:host-gateway` lets the container reach the platform. */
  extraHosts?: string[];
}

/** The create body `docker run` would send for the same options. */
export function containerCreateBody(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.command,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: spec.labels,
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    Tty: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      // Type 'bind' (not Binds): a missing source is an error instead of an empty folder created as root.
      Mounts: [
        ...spec.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
        ...(spec.hidden ?? []).map((target) => ({ Type: 'tmpfs' as const, Source: '', Target: target })),
      ],
      ExtraHosts: spec.extraHosts ?? [],
      ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
      // Swap as large as memory means no swap: going past the limit is an OOM kill, not a slow crawl.
      ...(spec.memoryBytes ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
      ...(spec.shmSizeBytes ? { ShmSize: spec.shmSizeBytes } : {}),
      // DeviceIDs null as the Docker CLI sends it; dockerode's types only know undefined.
      ...(spec.gpus ? { DeviceRequests: [spec.gpus as unknown as Docker.DeviceRequest] } : {}),
    },
  };
}

export type StreamName = 'stdout' | 'stderr';

/**
 * Splits Docker's multiplexed log stream (8-byte frame headers: stream type, 3 zero bytes, a big-endian
 * length) into lines per stream. A line is handed on as soon as its frame arrives; a partial line waits
 * for its end, or for `flush` when the stream closes.
 */
export class LogDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly partial: Record<StreamName, string> = { stdout: '', stderr: '' };
  private static readonly MAX_LINE = 64 * 1024;

  constructor(private readonly onLine: (stream: StreamName, line: string) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const stream: StreamName = this.pending[0] === 2 ? 'stderr' : 'stdout';
      this.text(stream, this.pending.subarray(8, 8 + size).toString('utf8'));
      this.pending = this.pending.subarray(8 + size);
    }
  }

  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.onLine(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private text(stream: StreamName, text: string): void {
    const lines = (this.partial[stream] + text).split('\n');
    this.partial[stream] = lines.pop()!;
    for (const line of lines) this.onLine(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
    if (this.partial[stream].length > LogDemuxer.MAX_LINE) {
      this.onLine(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }
}

/**
 * The container's output from now on, attached before it starts (as `docker run` does), so the first
 * lines arrive as they are written instead of when a log reader catches up after the start.
 */
export async function attachOutput(container: Docker.Container, signal: AbortSignal): Promise<Readable> {
  return (await container.attach({ stream: true, stdout: true, stderr: true, abortSignal: signal } as Docker.ContainerAttachOptions)) as unknown as Readable;
}

/** Follows a container's output from its first line until it exits (or `signal` aborts). */
export async function followLogs(container: Docker.Container, onLine: (stream: StreamName, line: string) => void, signal: AbortSignal): Promise<void> {
  const stream = (await container.logs({ follow: true, stdout: true, stderr: true, abortSignal: signal })) as unknown as Readable;
  await readOutput(stream, onLine, signal);
}

/** Demultiplexes an attach or log stream into lines until it ends or `signal` aborts. */
export async function readOutput(stream: Readable, onLine: (stream: StreamName, line: string) => void, signal: AbortSignal): Promise<void> {
  const demux = new LogDemuxer(onLine);
  await new Promise<void>((resolve) => {
    const done = () => {
      demux.flush();
      resolve();
    };
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
    signal.addEventListener('abort', () => stream.destroy(), { once: true });
  });
}

export interface StatsSample {
  /** 100 % = one full CPU, as `docker stats` shows it. */
  cpuPercent: number;
  /** Usage less the page cache, as `docker stats` shows it. */
  memoryBytes: number;
}

/**
 * The engine's stats stream (one reading a second, each with the previous CPU counters, so CPU % needs no
 * state here) until the container stops or `signal` aborts.
 */
export async function streamStats(container: Docker.Container, onSample: (sample: StatsSample) => void, signal: AbortSignal): Promise<void> {
  const stream = (await container.stats({ stream: true, abortSignal: signal } as { stream: true })) as unknown as Readable;
  let buffered = '';
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        let stats: Docker.ContainerStats;
        try {
          stats = JSON.parse(line) as Docker.ContainerStats;
        } catch {
          continue; // not a reading (an engine's stray line): skip it rather than fail the job's watch
        }
        onSample(statsSample(stats));
      }
    });
    for (const event of ['end', 'close', 'error']) stream.on(event, () => resolve());
    signal.addEventListener('abort', () => stream.destroy(), { once: true });
  });
}

export function statsSample(s: Docker.ContainerStats): StatsSample {
  const mem = s.memory_stats ?? {};
  const stats = (mem.stats ?? {}) as Record<string, number>;
  const cache = stats.total_inactive_file ?? stats.inactive_file ?? stats.cache ?? 0;
  const cpu = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const system = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  return {
    cpuPercent: cpu > 0 && system > 0 ? (cpu / system) * cpus * 100 : 0,
    memoryBytes: Math.max(0, (mem.usage ?? 0) - cache),
  };
}

export interface ExitState {
  exitCode: number;
  oomKilled: boolean;
  /** The engine's own error for a container that could not run (e.g. no nvidia runtime). */
  error: string;
}

/** Waits for the container to stop; undefined when it was removed (`docker rm -f`) meanwhile. */
export async function waitForExit(container: Docker.Container, signal: AbortSignal): Promise<ExitState | undefined> {
  await container.wait({ abortSignal: signal }).catch((err: unknown) => {
    if (!isNoSuchContainer(err)) throw err;
  });
  let state = await exitState(container);
  // The engine may report the exit before it has processed the kernel's OOM event: a SIGKILL (137) is
  // looked at again for a moment before it is taken as a plain kill.
  for (let i = 0; i < OOM_RECHECKS && state?.exitCode === 137 && !state.oomKilled; i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = await exitState(container);
  }
  return state;
}

const OOM_RECHECKS = 10;

export async function exitState(container: Docker.Container): Promise<ExitState | undefined> {
  try {
    const info = await container.inspect();
    // A forced removal kills first: the wait returns while the engine is still removing it.
    if (info.State.Status === 'removing') return undefined;
    return { exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled, error: info.State.Error ?? '' };
  } catch (err) {
    if (isNoSuchContainer(err)) return undefined;
    throw err;
  }
}

/** SIGTERM, then SIGKILL after `graceSeconds` (the engine's stop); a container already gone is fine. */
export async function stopContainer(container: Docker.Container, graceSeconds: number): Promise<void> {
  await container.stop({ t: graceSeconds }).catch((err: unknown) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 304 && !isNoSuchContainer(err)) throw err;
  });
}

export async function removeContainer(container: Docker.Container): Promise<void> {
  await container.remove({ force: true }).catch((err: unknown) => {
    const status = (err as { statusCode?: number }).statusCode;
    // 409: a removal is already in progress.
    if (!isNoSuchContainer(err) && status !== 409) throw err;
  });
}

/** Containers (running or not) that carry every one of these labels. */
export async function listLabelled(docker: Docker, labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } });
}

export const isNoSuchContainer = (err: unknown): boolean => (err as { statusCode?: number }).statusCode === 404;

/**
 * The host's address on the engine's default bridge, where a server must listen for containers to reach
 * it through `host.docker.internal:host-gateway`. Engines do not always fill in IPAM's Gateway (20.10 does
 * not for the default bridge); then it is this machine's address inside the bridge's subnet.
 */
export async function bridgeGateway(docker: Docker): Promise<string | undefined> {
  const network = await docker.getNetwork('bridge').inspect();
  const configs: { Subnet?: string; Gateway?: string }[] = network.IPAM?.Config ?? [];
  const ipv4 = configs.find((c) => c.Subnet?.includes('.'));
  if (ipv4?.Gateway) return ipv4.Gateway;
  if (!ipv4?.Subnet) return undefined;
  const [base, bits] = ipv4.Subnet.split('/') as [string, string];
  const inSubnet = (address: string) => (ipToInt(address) >>> (32 - Number(bits))) === (ipToInt(base) >>> (32 - Number(bits)));
  for (const addresses of Object.values(networkInterfaces())) {
    const hit = addresses?.find((a) => a.family === 'IPv4' && inSubnet(a.address));
    if (hit) return hit.address;
  }
  // Node lists only interfaces that are up and running, and a bridge without containers has no carrier;
  // the engine's IPAM gives the gateway the subnet's first address.
  return intToIp(ipToInt(base) + 1);
}

const intToIp = (n: number): string => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');

const ipToInt = (ip: string): number => ip.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
