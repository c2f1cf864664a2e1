/**
 * Shared helpers of the benchmarks: processes pinned to one core (and always killed), the server.json
 * handshake, /proc readings (RSS, CPU time) and statistics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];
let exitHooked = false;

/** Kills every child still alive (SIGKILL) and runs the registered cleanups; safe to call twice. */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
  while (cleanups.length) {
    try {
      cleanups.pop()!();
    } catch {
      /* best effort */
    }
  }
}

/** Runs a benchmark's main: no child process is left behind; a failure is printed and exits 1 at once. */
export function runBenchmark(main: () => Promise<void>): void {
  main().then(killAll, (err: unknown) => {
    console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
    killAll();
    process.exit(1);
  });
}

/** Registers something to undo on exit, Ctrl-C included (temp dirs). */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
  hookExit();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: killing benchmark processes\n`);
      killAll();
      process.exit(130);
    });
  }
}

export interface Pinned {
  child: ChildProcess;
  pid: number;
  /** The command line, as a user would type it to reproduce the process. */
  command: string;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Starts `node <args>` pinned to one CPU core with taskset (taskset execs, so the pid is node's).
 * The child is killed when this process exits, however it exits.
 */
export function spawnPinned(core: number, nodeArgs: string[], options: { env?: NodeJS.ProcessEnv; echoStderr?: string } = {}): Pinned {
  hookExit();
  const child = spawn('taskset', ['-c', String(core), process.execPath, ...nodeArgs], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (options.echoStderr) process.stderr.write(d.replace(/^(?=.)/gm, `[${options.echoStderr}] `));
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  if (child.pid === undefined) throw new Error('taskset could not be started (is util-linux installed?)');
  return {
    child,
    pid: child.pid,
    command: ['taskset', '-c', String(core), 'node', ...nodeArgs].map(shellQuote).join(' '),
    exited,
    stdout: () => out,
    stderr: () => err,
  };
}

/** Runs a pinned node script to completion and parses the JSON object on its last stdout line. */
export async function runJson<T>(
  core: number,
  nodeArgs: string[],
  label: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ result: T; command: string }> {
  const p = spawnPinned(core, nodeArgs, { echoStderr: label, ...(env ? { env } : {}) });
  const code = await p.exited;
  const lines = p.stdout().trim().split('\n');
  if (code !== 0) throw new Error(`${label} exited with ${code}:\n${p.stderr()}${p.stdout()}`);
  try {
    return { result: JSON.parse(lines[lines.length - 1]!) as T, command: p.command };
  } catch {
    throw new Error(`${label} printed no JSON result:\n${p.stdout()}\n${p.stderr()}`);
  }
}

export interface ServerHandle {
  pid: number;
  url: string;
  host: string;
  port: number;
  token: string;
  command: string;
  proc: Pinned;
  /** SIGTERM (graceful: drain, checkpoint), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a server process pinned to `core` that announces itself in `<dataDir>/server.json`
 * ({pid, url, token}) and waits for that file.
 */
export async function startServer(core: number, nodeArgs: string[], dataDir: string, label: string): Promise<ServerHandle> {
  const proc = spawnPinned(core, nodeArgs);
  const file = join(dataDir, 'server.json');
  const deadline = Date.now() + 20_000;
  let info: { pid: number; url: string; token: string } | undefined;
  while (!info) {
    if (proc.child.exitCode !== null) throw new Error(`${label} exited with ${proc.child.exitCode} before it was ready:\n${proc.stderr()}`);
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`${label} wrote no ${file} within 20 s:\n${proc.stderr()}`);
    }
    if (existsSync(file)) {
      try {
        info = JSON.parse(readFileSync(file, 'utf8')) as typeof info;
      } catch {
        /* half written: retry */
      }
    }
    if (!info) await sleep(25);
  }
  if (info.pid !== proc.pid) throw new Error(`${label}: server.json names pid ${info.pid}, expected ${proc.pid}`);
  const url = new URL(info.url);
  return {
    pid: proc.pid,
    url: info.url,
    host: url.hostname,
    port: Number(url.port),
    token: info.token,
    command: proc.command,
    proc,
    async stop(graceMs = 10_000) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** A Markdown table, columns from `rightFrom` on right-aligned (the benches' summaries). */
export function table(head: string[], rows: string[][], rightFrom = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// /proc

/** A `VmXxx:` line of /proc/<pid>/status, in bytes. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile' | 'RssShmem'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used (all its threads), from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/**
 * Seconds the process's main thread (the one running JavaScript and SQLite) has spent on a CPU, and
 * runnable but waiting for one, from /proc/<pid>/schedstat. On a pinned core, waiting is time that
 * other threads on that core took: mostly other processes, a noisy neighbour, measured.
 */
export function procSchedSeconds(pid: number): { run: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run: run! / 1e9, wait: wait! / 1e9 };
  } catch {
    return { run: NaN, wait: NaN };
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** The q-quantile (0..1) by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** A deterministic pseudo-random generator, so every run logs the same data. */
export { prng as seededRandom } from '../../test/support/prng';
