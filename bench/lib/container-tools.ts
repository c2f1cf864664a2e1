/**
 * Helpers of bench/containers.ts: a pinned process whose output lines are stamped as they arrive, the
 * engine's container events (create, attach, start) with their nanosecond times, a container command
 * that prints the kernel's realtime clock, and the CPU that processes outside the benchmark took.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { LogDemuxer } from '../../src/engines/docker/containers';
import { onCleanup } from './common';

/**
 * The realtime clock in milliseconds with sub-millisecond resolution: Date.now() has whole
 * milliseconds only. timeOrigin is the realtime at this process's start, performance.now() monotonic
 * since; over a benchmark of minutes the two drift apart by microseconds at most.
 */
export const nowMs = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Timed processes

export interface StampedLine {
  stream: 'stdout' | 'stderr';
  text: string;
  /** nowMs() when the chunk that completed the line arrived. */
  at: number;
}

export interface TimedProcess {
  /** nowMs() just before spawn. */
  t0: number;
  command: string;
  lines: StampedLine[];
  /** Resolves with the first line (of either stream) that `match` accepts (undefined when the process exits first). */
  waitLine(match: (line: StampedLine) => boolean): Promise<StampedLine | undefined>;
  exited: Promise<{ code: number | null; at: number }>;
  kill(): void;
}

const live = new Set<ChildProcess>();
let hooked = false;

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Starts `argv` pinned to `core` (taskset execs, so the pid is the program's) and stamps each line of
 * its output on arrival. Killed when the benchmark exits, however it exits.
 */
export function spawnTimed(core: number, argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): TimedProcess {
  if (!hooked) {
    hooked = true;
    onCleanup(() => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  const lines: StampedLine[] = [];
  const waiters: { match: (l: StampedLine) => boolean; resolve: (l: StampedLine | undefined) => void }[] = [];
  const t0 = nowMs();
  const child = spawn('taskset', ['-c', String(core), ...argv], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const follow = (stream: 'stdout' | 'stderr', from: Readable) => {
    let partial = '';
    from.setEncoding('utf8').on('data', (chunk: string) => {
      const at = nowMs();
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        const line = { stream, text, at };
        lines.push(line);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.match(line)) waiters.splice(i, 1)[0]!.resolve(line);
        }
      }
    });
  };
  follow('stdout', child.stdout!);
  follow('stderr', child.stderr!);
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('close', (code) => {
      live.delete(child);
      for (const w of waiters.splice(0)) w.resolve(undefined);
      resolve({ code, at: nowMs() });
    }),
  );
  return {
    t0,
    command: ['taskset', '-c', String(core), ...argv].map(shellQuote).join(' '),
    lines,
    waitLine(match) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(undefined);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

// ---------------------------------------------------------------------------------------------
// In the container

/**
 * A busybox shell loop that prints the kernel's realtime clock in microseconds since the epoch
 * (`adjtimex` reads it; busybox's date has no %N), `count` lines `periodMs` apart. Containers share
 * the host's kernel clock, so a line's number compared with nowMs() at the caller is its delay. The
 * number is read before awk formats and prints it: a line's measured delay includes that (about a
 * millisecond), never less than the real one.
 */
export function clockLoop(count: number, periodMs: number): string {
  return `i=0; while [ $i -lt ${count} ]; do ${CLOCK_LINE}; usleep ${periodMs * 1000}; i=$((i+1)); done`;
}

/** One line: `<µs since the epoch>`. */
export const CLOCK_LINE = `adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf "%d%06d\\n", s, u}'`;

/** A clock line's value in milliseconds, or undefined when the line is not one. */
export function clockMs(text: string): number | undefined {
  return /^\d{16}$/.test(text) ? Number(text) / 1000 : undefined;
}

// ---------------------------------------------------------------------------------------------
// Engine events

export interface EngineEvent {
  action: string;
  /** Container ID. */
  id: string;
  name: string;
  labels: Record<string, string>;
  /** The engine's time of the event, in milliseconds since the epoch (from timeNano). */
  at: number;
}

/**
 * Container events of the engine from now on (`docker events`): the engine stamps them with its own
 * realtime clock, the same kernel clock as nowMs() here.
 */
export async function watchEngineEvents(docker: Docker): Promise<{ events: EngineEvent[]; stop(): void }> {
  const stream = (await docker.getEvents({ filters: { type: ['container'] } })) as unknown as Readable;
  const events: EngineEvent[] = [];
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const text of parts) {
      if (!text.trim()) continue;
      const e = JSON.parse(text) as { Action: string; id: string; timeNano: number; Actor?: { Attributes?: Record<string, string> } };
      const attributes = e.Actor?.Attributes ?? {};
      events.push({ action: e.Action, id: e.id, name: attributes.name ?? '', labels: attributes, at: e.timeNano / 1e6 });
    }
  });
  stream.on('error', () => {});
  return { events, stop: () => stream.destroy() };
}

/** The first event of `action` for the container named `name`. */
export const eventOf = (events: EngineEvent[], name: string, action: string): EngineEvent | undefined =>
  events.find((e) => e.name === name && e.action.split(':')[0] === action);

// ---------------------------------------------------------------------------------------------
// Noise: CPU that processes outside the benchmark took

interface ProcCpu {
  ppid: number;
  comm: string;
  /** Start time (clock ticks since boot): with the pid, it names one process, whatever it execs. */
  start: number;
  /** Own plus reaped children's CPU, in clock ticks. */
  ticks: number;
}

/** USER_HZ, the unit of /proc/stat and /proc/<pid>/stat: 100 on Linux, whatever the kernel's HZ. */
const TICKS_PER_S = 100;
/** The engine's own processes: their CPU is part of what is measured, wherever it runs. */
const ENGINE_COMMS = /^(dockerd|containerd|containerd-shim.*|runc|docker-proxy|docker|docker-init)$/;

function readProcs(): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... starttime(19).
      out.set(Number(entry), { ppid: Number(f[1]), comm, start: Number(f[19]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      /* exited while read */
    }
  }
  return out;
}

/** Pids of this benchmark and of the engine, with every descendant (the containers' processes too). */
function benchPids(procs: Map<number, ProcCpu>): Set<number> {
  const ours = new Set<number>();
  const isOurs = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (ours.has(p) || p === process.pid) return true;
      const info = procs.get(p);
      if (!info) return false;
      if (ENGINE_COMMS.test(info.comm)) return true;
      p = info.ppid;
    }
    return false;
  };
  for (const pid of procs.keys()) if (isOurs(pid)) ours.add(pid);
  return ours;
}

/** Ticks all cores spent running tasks (user, nice, system) or had stolen, from /proc/stat. */
function machineBusyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[0]! + f[1]! + f[2]! + (f[7] ?? 0);
}

/**
 * Cores' worth of CPU that processes outside the benchmark took over a window (1.0 = one full core):
 * the machine's busy time less that of the benchmark's processes and the engine's (each counted with
 * the children it reaped; a process that started meanwhile with all its CPU). Time of the engine's
 * shims that exit meanwhile (init reaps them) counts as others': a few milliseconds. Processes of other
 * containers on the same engine count as the benchmark's: `otherContainers` says when there were any.
 */
export class OthersWatch {
  private readonly before = readProcs();
  private readonly busy0 = machineBusyTicks();
  private readonly at0 = nowMs();

  read(): number {
    const busy = machineBusyTicks() - this.busy0;
    const after = readProcs();
    let ours = 0;
    for (const pid of benchPids(after)) {
      const now = after.get(pid)!;
      const was = this.before.get(pid);
      ours += was && was.start === now.start ? Math.max(0, now.ticks - was.ticks) : now.ticks;
    }
    return Math.max(0, busy - ours) / TICKS_PER_S / ((nowMs() - this.at0) / 1000);
  }
}

/** Containers running on the engine that this benchmark did not start (other users of a shared engine). */
export async function otherContainers(docker: Docker, ours: (c: Docker.ContainerInfo) => boolean): Promise<number> {
  const running = await docker.listContainers();
  return running.filter((c) => !ours(c)).length;
}

// ---------------------------------------------------------------------------------------------
// The engine

const answers = (docker: Docker): Promise<boolean> => docker.ping().then(() => true, () => false);

/**
 * Makes sure the tests' private engine answers, starting it again when it does not: it is shared, and a
 * test run (test/run.mjs) stops it when it ends, whoever else is using it. Started as
 * test/support/docker-engine.ts starts it (same socket, data and exec roots: the image is still there).
 * True when it had to be started; an engine given by DOCKER_HOST elsewhere is never started here.
 */
export async function ensureEngine(docker: Docker, host: string): Promise<boolean> {
  if (await answers(docker)) return false;
  const socket = host.replace(/^unix:\/\//, '');
  if (!host.startsWith('unix://') || basename(dirname(socket)) !== 'trellis-test-dockerd') {
    throw new Error(`the Docker engine at ${host} does not answer, and it is not the tests' private engine, which this benchmark may start`);
  }
  const dir = dirname(socket);
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find(existsSync);
  if (!dockerd) throw new Error('dockerd is not installed: run `bash .ci/provision` (Debian package docker.io)');
  const start = () => {
    const child = spawn(
      dockerd,
      ['--host', host, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid')],
      // Its own session, as the tests start it: it serves the tests that run next too.
      { detached: true, stdio: 'ignore' },
    );
    child.unref();
    return child;
  };
  let child = start();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await answers(docker)) return true;
    // An engine still stopping (test/run.mjs waits up to 20 s for that) holds the pidfile: the new one
    // exits at once. Start again once it is gone.
    if (child.exitCode !== null || child.signalCode !== null) child = start();
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the private dockerd did not answer on ${socket} within 30 s`);
}

/**
 * The two ways a client can read a new container's output, timed from the container's own print:
 *   'logs'    create, start, then GET /containers/ID/logs?follow=1 (what JobExecution.watch does);
 *   'attach'  create, POST /containers/ID/attach?stream=1, then start (what `docker run` does).
 * The container runs `command`, which must print "first" and then a CLOCK_LINE. Returns the delay from
 * that clock line's time to the arrival of "first" here (ms), or undefined when "first" never came.
 */
export async function engineFirstLine(docker: Docker, image: string, name: string, command: string[], mode: 'logs' | 'attach'): Promise<number | undefined> {
  const container = await docker.createContainer({ name, Image: image, Cmd: command, Tty: false, AttachStdout: true, AttachStderr: true });
  try {
    let firstAt: number | undefined;
    let printed: number | undefined;
    const demux = new LogDemuxer((stream, line) => {
      if (stream !== 'stdout') return;
      if (line === 'first') firstAt ??= nowMs();
      printed ??= clockMs(line);
    });
    const read = (stream: Readable) =>
      new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => demux.push(chunk));
        for (const event of ['end', 'close', 'error']) stream.on(event, () => resolve());
      });
    let ended: Promise<void>;
    if (mode === 'attach') {
      ended = read((await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable);
      await container.start();
    } else {
      await container.start();
      ended = read((await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as Readable);
    }
    await container.wait();
    await Promise.race([ended, new Promise((r) => setTimeout(r, 2_000))]);
    return firstAt !== undefined && printed !== undefined ? firstAt - printed : undefined;
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}
