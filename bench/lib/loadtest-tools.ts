/**
 * What bench/loadtest.ts drives: its own nginx (never the system one) and the load generators, each
 * pinned to one core and watched through /proc while it runs, and the parsers of what each prints.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { delimiter, join } from 'node:path';
import { REPO_ROOT, onCleanup, sleep } from './common';

// ---------------------------------------------------------------------------------------------
// Processes

const live = new Set<ChildProcess>();
let cleanupHooked = false;

/** Every process started here is SIGKILLed when the benchmark exits, Ctrl-C included. */
function track(child: ChildProcess): void {
  live.add(child);
  child.on('exit', () => live.delete(child));
  if (cleanupHooked) return;
  cleanupHooked = true;
  onCleanup(() => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    live.clear();
  });
}

export const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The absolute path of an executable on PATH (sbin directories included: nginx lives there), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** CPU time of every thread of a process so far, by thread id (from /proc/<pid>/task/<tid>/schedstat). */
export function readThreads(pid: number): Map<string, { run: number; wait: number }> | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out = new Map<string, { run: number; wait: number }>();
  for (const tid of tids) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      out.set(tid, { run: run! / 1e9, wait: wait! / 1e9 });
    } catch {
      /* the thread just ended */
    }
  }
  return out;
}

/** Run and wait seconds of one (single-threaded) process, e.g. nginx without a master. */
export function readProcess(pid: number): { run: number; wait: number } {
  const threads = readThreads(pid);
  let run = 0;
  let wait = 0;
  for (const t of threads?.values() ?? []) {
    run += t.run;
    wait += t.wait;
  }
  return { run, wait };
}

export interface ToolRun {
  label: string;
  /** The command line as a user would type it to reproduce the run. */
  command: string;
  pid: number;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** From spawn to the last reading of its threads. */
  wallS: number;
  /** CPU seconds all its threads ran, and seconds they were runnable but waited for their core. */
  cpuS: number;
  waitS: number;
  /** cpuS / wallS: share of one core. */
  cpu: number;
  /** waitS / wallS: share of the time a thread of it waited for the core (other processes had it). */
  wait: number;
  /**
   * The same two shares over the load itself: the last `loadS` seconds before it ended, less 0.3 s at
   * each end (startup and shutdown left out); the whole life when the run is too short for that.
   */
  loadCpu: number;
  loadWait: number;
}

/**
 * Runs `argv` under `taskset -c core` (taskset execs, so the pid is the tool's) to completion, reading
 * its threads' CPU and core wait every `sampleMs` (a thread's last reading counts once it has ended).
 */
export async function runPinned(core: number, argv: string[], label: string, options: { timeoutMs: number; loadS: number; display?: string[] }): Promise<ToolRun> {
  const child = spawn('taskset', ['-c', String(core), ...argv], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('taskset could not be started (is util-linux installed?)');
  track(child);
  const pid = child.pid;
  const command = ['taskset', '-c', String(core), ...(options.display ?? argv)].map(shellQuote).join(' ');
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const spawnedAt = performance.now();
  let lastAt = spawnedAt;
  const threads = new Map<string, { run: number; wait: number }>();
  /** (time, CPU s, wait s) of all threads so far, ended ones included, at each reading. */
  const timeline: { at: number; run: number; wait: number }[] = [];
  const sample = () => {
    const now = readThreads(pid);
    if (!now || now.size === 0) return;
    for (const [tid, t] of now) threads.set(tid, t);
    lastAt = performance.now();
    let run = 0;
    let wait = 0;
    for (const t of threads.values()) {
      run += t.run;
      wait += t.wait;
    }
    timeline.push({ at: lastAt, run, wait });
  };
  const sampler = setInterval(sample, 100);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearInterval(sampler);
  clearTimeout(killer);
  let cpuS = 0;
  let waitS = 0;
  for (const t of threads.values()) {
    cpuS += t.run;
    waitS += t.wait;
  }
  const wallS = Math.max(1e-3, (lastAt - spawnedAt) / 1000);
  let loadCpu = cpuS / wallS;
  let loadWait = waitS / wallS;
  const from = timeline.find((p) => p.at >= lastAt - (options.loadS - 0.3) * 1000);
  const to = [...timeline].reverse().find((p) => p.at <= lastAt - 300);
  if (from && to && to.at - from.at >= 500) {
    loadCpu = (to.run - from.run) / ((to.at - from.at) / 1000);
    loadWait = (to.wait - from.wait) / ((to.at - from.at) / 1000);
  }
  return { label, command, pid, code, signal, timedOut, stdout, stderr, wallS, cpuS, waitS, cpu: cpuS / wallS, wait: waitS / wallS, loadCpu, loadWait };
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface Nginx {
  pid: number;
  port: number;
  url: string;
  command: string;
  conf: string;
  /** Requests nginx has served so far (stub_status), not counting the status request itself. */
  served(): Promise<number>;
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** GET on a fresh connection (no keep-alive: it must not linger beside the generators'). */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** The fixed reply: small, so the test measures request handling, not bandwidth. */
export const NGINX_BODY = 'ok\n';

/**
 * Starts nginx from its own config in `dir`: no daemon, no master, one process pinned to `core`,
 * logs and temp files in `dir`, no access log, keep-alive connections never closed by request count.
 */
export async function startNginx(nginxBin: string, dir: string, core: number): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      'master_process off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${join(dir, 'client_body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      '  keepalive_requests 1000000000;',
      '  keepalive_timeout 120s;',
      '  server {',
      `    listen 127.0.0.1:${port} backlog=4096;`,
      '    location = /nginx_status { stub_status; }',
      `    location / { default_type text/plain; return 200 "${NGINX_BODY.replace(/\n/g, '\\n')}"; }`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const argv = [nginxBin, '-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')];
  const child = spawn('taskset', ['-c', String(core), ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('taskset could not be started (is util-linux installed?)');
  track(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}/`;
  const log = () => `${output}${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited (${child.exitCode ?? child.signalCode}) before it answered:\n${log()}`);
    try {
      const res = await httpGet(url, 500);
      if (res.status === 200 && res.body === NGINX_BODY) break;
      throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(res.body)}`);
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not answer on ${url} within 10 s (${(err as Error).message}):\n${log()}`);
      }
      await sleep(50);
    }
  }
  return {
    pid: child.pid,
    port,
    url,
    conf,
    command: ['taskset', '-c', String(core), ...argv].map(shellQuote).join(' '),
    async served() {
      const res = await httpGet(`http://127.0.0.1:${port}/nginx_status`);
      const m = /accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(res.body);
      if (!m) throw new Error(`unexpected stub_status reply: ${res.body}`);
      return Number(m[3]) - 1;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// wrk's Lua scripts

/** LuaJIT's FFI gives the script a monotonic clock in ms (wrk's Lua has none finer than a second). */
const LUA_CLOCK = `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local bench_ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, bench_ts) -- CLOCK_MONOTONIC
  return tonumber(bench_ts.tv_sec) * 1000 + tonumber(bench_ts.tv_nsec) / 1e6
end
`;

/** done(): the exact figures (µs) on one line, for the parser. */
const LUA_DONE = `function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_WRK {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.3f,"stdev":%.3f,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
`;

/** Only done(): wrk's hot path is unchanged (no request/response/delay hook). */
export function wrkDoneScript(): string {
  return `-- bench/loadtest.ts: report exact latency percentiles\n${LUA_DONE}`;
}

/**
 * Paces wrk (4.1 has no fixed-rate mode) to `rate` requests/s in all: request k (over all of the
 * thread's connections) is due at t0 + k / rate, and delay() — asked before each request on a
 * connection — returns the ms until the next due slot. Each of the C connections then sends about
 * rate / C per second, the arrivals spread over the period (to wrk's 1 ms timer resolution), and a late
 * reply does not lower the rate (the next slot is simply sooner). wrk measures latency from the write.
 */
export function wrkPaceScript(rate: number): string {
  return `-- bench/loadtest.ts: pace wrk to ${rate} requests/s in all
${LUA_CLOCK}
local per_ms = ${rate} / 1000
local t0 = nil
local k = 0
function delay()
  local now = now_ms()
  if t0 == nil then t0 = now end
  local due = t0 + k / per_ms
  k = k + 1
  local d = due - now
  if d <= 0.5 then return 0 end
  return math.floor(d + 0.5)
end
${LUA_DONE}`;
}

// ---------------------------------------------------------------------------------------------
// Parsers: every generator's figures in the same shape

export interface Latency {
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface GeneratorResult {
  requests: number;
  durationS: number;
  rps: number;
  errors: number;
  /** Undefined where the tool's resolution makes it meaningless (autocannon: whole ms). */
  latency?: Latency;
  extra: Record<string, unknown>;
}

function wrkTime(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    case 'm':
      return v * 60_000;
    case 'h':
      return v * 3_600_000;
    default:
      throw new Error(`unknown wrk time unit ${unit}`);
  }
}

const wrkCount = (value: string, suffix: string): number => Number(value) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 }[suffix] ?? NaN);

/** wrk's text output (with --latency), and the BENCH_WRK line of our done() hook when present. */
export function parseWrk(stdout: string): GeneratorResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!total || !rps) throw new Error(`wrk printed no totals:\n${stdout}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const errors = (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(stdout);
    return m ? wrkTime(m[1]!, m[2]!) : NaN;
  };
  const stats = /^\s+Latency\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)/m.exec(stdout);
  let latency: Latency = { p50: pct(50), p90: pct(90), p99: pct(99), max: stats ? wrkTime(stats[5]!, stats[6]!) : NaN };
  const extra: Record<string, unknown> = {};
  const reqSec = /^\s+Req\/Sec\s+([\d.]+)([kMG]?)/m.exec(stdout);
  if (reqSec) extra.reqSecAvg = wrkCount(reqSec[1]!, reqSec[2]!);
  const done = /^BENCH_WRK (\{.*\})$/m.exec(stdout);
  let requests = Number(total[1]);
  let durationS = wrkTime(total[2]!, total[3]!) / 1000;
  if (done) {
    const d = JSON.parse(done[1]!) as {
      requests: number;
      duration_us: number;
      errors: Record<string, number>;
      latency_us: { min: number; max: number; mean: number; p50: number; p90: number; p99: number; p999: number };
    };
    requests = d.requests;
    durationS = d.duration_us / 1e6;
    const l = d.latency_us;
    latency = { p50: l.p50 / 1000, p90: l.p90 / 1000, p99: l.p99 / 1000, max: l.max / 1000 };
    extra.latencyUs = l;
    extra.errorKinds = d.errors;
  }
  return { requests, durationS, rps: Number(rps[1]), errors, latency, extra };
}

interface AutocannonJson {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number; sent: number };
  latency: { p50: number; p90: number; p99: number; max: number };
}

/** autocannon --json (its latencies are whole milliseconds: too coarse here, kept only as extra). */
export function parseAutocannon(stdout: string): GeneratorResult {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`autocannon printed no JSON:\n${stdout}`);
  const j = JSON.parse(line) as AutocannonJson;
  return {
    requests: j.requests.total,
    durationS: j.duration,
    rps: j.requests.total / j.duration,
    errors: j.errors + j.timeouts + j.non2xx,
    extra: { requestsAveragePerSecond: j.requests.average, sent: j.requests.sent, latencyMsWholeMs: j.latency },
  };
}

interface TrellisJson {
  result: {
    requests: number;
    ok: number;
    durationMs: number;
    throughputRps: number;
    errors: Record<string, number>;
    late: number;
    unsent: number;
    latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number; count: number };
    perSecond: { second: number; requests: number; p50: number; p99: number }[];
  };
}

/** `trellis loadtest --json`. */
export function parseTrellis(stdout: string): GeneratorResult {
  let j: TrellisJson;
  try {
    j = JSON.parse(stdout) as TrellisJson;
  } catch {
    throw new Error(`trellis loadtest printed no JSON:\n${stdout}`);
  }
  const r = j.result;
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const l = r.latency;
  return {
    requests: r.requests,
    durationS: r.durationMs / 1000,
    rps: r.throughputRps,
    errors,
    latency: { p50: l.p50, p90: l.p90, p99: l.p99, max: l.max },
    extra: { late: r.late, unsent: r.unsent, p999: l.p999, mean: l.mean, errorKinds: r.errors, perSecondP99: r.perSecond.map((x) => x.p99) },
  };
}

/** The first line a tool prints for its version (stdout or stderr), or '?'. */
export function versionOf(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '?';
}
