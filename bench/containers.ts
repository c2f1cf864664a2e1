/**
 * Container benchmark: `trellis run` beside `docker run` of the same cached image, measured in the same run.
 *
 *   npm run bench:containers   (= node esbuild.mjs && node --import tsx bench/containers.ts)
 *   node --import tsx bench/containers.ts [--quick]
 *
 * The engine is the tests' private dockerd on its own socket (test/support/docker-engine.ts; never the
 * machine's default engine), the image trellis-test/busybox (ensureBusyboxImage: imported once, cached).
 * A platform server (`trellis server` of dist/cli.js) runs pinned to core 0; every caller (the trellis
 * CLI, Debian's /usr/bin/docker) is pinned to core 1; dockerd, containerd, the shims and the containers
 * run unpinned (they belong to the engine: both sides use them alike). This harness, which stamps each
 * line of the caller's stdout as it arrives, runs unpinned too.
 *
 *   1. First line: from spawning the caller to the container's first stdout line ("first") arriving on
 *      the caller's stdout, for
 *        trellis     trellis run --experiment bench --image trellis-test/busybox -- sh -c 'echo first; …'
 *                    (dist/cli.js run as a program, as npm's `trellis` is: through its launcher shebang)
 *                    against the running server (found through the data directory's server.json),
 *        in-process  the same with no server running: the CLI starts one in its own process (connect.ts),
 *        docker      docker -H unix://<private socket> run --rm --name trellis-bench-N trellis-test/busybox sh -c 'echo first; …'
 *      ROUNDS rounds, the three in rotating order. The CLIs run in a small git workspace (one committed
 *      file), as a user's project would be: trellis mounts it at /workspace and records its commit.
 *      After "first" the container prints its realtime clock (busybox adjtimex, µs): with the engine's
 *      container events (create, attach, start: stamped by dockerd with the same kernel clock) and the
 *      run's start_time, each run's time splits into stages (where the time goes); for the trellis
 *      target this harness also follows the job's logs itself (GET …/logs?follow=true), whose lines carry
 *      the time the server got them from the engine (engine → server, then server → caller).
 *      Ratio trellis / docker of the medians, target ≤ 1.3; p90 beside.
 *   2. Log latency: a container printing its realtime clock every 10 ms (LOG_LINES lines); at the
 *      caller the delay from that time to the line's arrival on stdout; p50 / p99 of all lines of
 *      LOG_ROUNDS runs (target p99 ≤ 200 ms), docker run's the reference, rounds alternating.
 *   3. The engine's two ways to a new container's output, straight from this harness (dockerode), the
 *      same command: create, start, then GET logs?follow (what JobExecution does) against create,
 *      attach, start (what docker run does): the delay from the container's print to "first" here.
 *
 * Before the rounds: the costs that the stages are made of, measured on their own (node's start, with and
 * without NODE_EXTRA_CA_CERTS where the machine sets it; the CLI through its launcher and through `node
 * dist/cli.js`; the docker CLI's start, the workspace's git calls, an image inspection), 5 times each.
 * A run is NOISY when processes outside the benchmark (not its own, not the engine's) took more than
 * 0.1 of a core while it ran (from /proc; see OthersWatch); medians leave out NOISY runs when a target has
 * at least 5 quiet ones, and a figure is flagged NOISY otherwise. Other users' containers running on the
 * (shared) engine are counted and shown. Prints each figure beside its reference, the ratio and the
 * commands, then a summary table; writes bench/results/containers.json. Exits 0 even when a target is
 * missed (marked MISS).
 *
 * --quick: 3 rounds, one log run of 100 lines each, 4 engine rounds: to check that the bench works end to end.
 */
import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from '../src/core/server-node-flags';
import { openStore } from '../src/core/store';
import { BUSYBOX_IMAGE, ensureBusyboxImage, testDockerEngine } from '../test/support/docker-engine';
import { median, onCleanup, quantile, REPO_ROOT, runBenchmark, startServer, table, type ServerHandle } from './lib/common';
import {
  CLOCK_LINE, OthersWatch, clockLoop, clockMs, engineFirstLine, ensureEngine, eventOf, nowMs, otherContainers, spawnTimed, watchEngineEvents,
  type EngineEvent, type TimedProcess,
} from './lib/container-tools';

// ---------------------------------------------------------------------------------------------
// Sizes

const QUICK = process.argv.includes('--quick');
const SERVER_CORE = 0;
const CALLER_CORE = 1;
const ROUNDS = QUICK ? 3 : 15;
const LOG_ROUNDS = QUICK ? 1 : 3;
const LOG_LINES = QUICK ? 100 : 300;
const LOG_PERIOD_MS = 10;
/** Containers per way of reading a first line straight from the engine (logs after start, attach before). */
const ENGINE_PATH_ROUNDS = QUICK ? 4 : 10;
/** Each cost measured on its own this many times. */
const COST_REPEATS = 5;
/** Above this many cores' worth of CPU taken by processes outside the benchmark, a run is NOISY. */
const NOISY = 0.1;
/** Medians use only quiet runs when a target has at least this many. */
const MIN_QUIET = 5;
const TARGET_RATIO = 1.3;
const TARGET_P99_MS = 200;
/** A caller that has not finished by then is killed and its run counted as failed. */
const RUN_TIMEOUT_MS = 60_000;
const DOCKER_CLI = '/usr/bin/docker';
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

type Target = 'trellis' | 'in-process' | 'docker';
const TARGETS: Target[] = ['trellis', 'in-process', 'docker'];
/** The log latency runs: the platform server's path and the engine's own. */
const LOG_TARGETS: Target[] = ['trellis', 'docker'];

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtMs = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const fmtNum = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

// ---------------------------------------------------------------------------------------------
// Setup

interface Setup {
  docker: Docker;
  host: string;
  root: string;
  workspace: string;
  serverDataDir: string;
  inProcessDataDir: string;
  server: ServerHandle;
  /** The engine's events since the start, or since it was last started again. */
  events: EngineEvent[];
  stopEvents(): void;
}

let names = 0;
/** Every container this benchmark started, by name: other containers on the engine are someone else's. */
const ourNames = new Set<string>();

function callerArgv(s: Setup, target: Target, command: string[]): { argv: string[]; name?: string } {
  if (target === 'docker') {
    const name = `trellis-bench-${process.pid}-${names++}`;
    ourNames.add(name);
    return { argv: [DOCKER_CLI, '-H', s.host, 'run', '--rm', '--name', name, BUSYBOX_IMAGE, ...command], name };
  }
  const dataDir = target === 'trellis' ? s.serverDataDir : s.inProcessDataDir;
  // dist/cli.js run as a program, as the `trellis` npm installs is: through its shebang (the launcher).
  return { argv: [CLI, '--data-dir', dataDir, 'run', '--experiment', 'bench', '--image', BUSYBOX_IMAGE, '--', ...command] };
}

/** A project folder as a user's would be: a git work tree with one committed file. */
function makeWorkspace(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.sh'), 'echo training\n');
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...a], { stdio: 'ignore' });
  git('init', '-q');
  git('add', 'train.sh');
  git('commit', '-q', '-m', 'workspace');
}

// ---------------------------------------------------------------------------------------------
// One caller run

interface CallerRun {
  target: Target;
  round: number;
  phase: 'first-line' | 'log-latency';
  command: string;
  /** nowMs() at the spawn of the caller. */
  t0: number;
  /** ms since the spawn of the caller. */
  firstLineMs?: number;
  exitCode: number | null;
  error?: string;
  /** Cores' worth of CPU other processes took meanwhile. */
  noise: number;
  otherContainers: number;
  /** Stages, ms since the spawn (absent where not seen). */
  marks: Partial<Record<Mark, number>>;
  jobId?: string;
  /** Failed because the shared engine went away meanwhile: run again, kept in the JSON, in no figure. */
  discarded?: boolean;
  /** log-latency: delay of each clock line (ms), in print order, and how many lines arrived. */
  delays?: number[];
  steadyDelays?: number[];
  linesSeen?: number;
}

type Mark = 'runCreated' | 'containerCreated' | 'attached' | 'started' | 'printed' | 'serverGotLine' | 'jobNamed' | 'firstLine' | 'exited';
const MARK_LABELS: Record<Mark, string> = {
  runCreated: 'run created (start_time)',
  containerCreated: 'container created (engine event)',
  attached: 'attached (engine event)',
  started: 'container started (engine event)',
  printed: 'printed in the container (its clock)',
  serverGotLine: 'the server got the line from the engine (LogLine.time, whole ms)',
  jobNamed: 'the job named at the caller (the submit stream\'s first record)',
  firstLine: 'first line at the caller',
  exited: 'caller exited',
};

const runs: CallerRun[] = [];
/** Phase 3: delay from the container's print to "first" at this harness, per way of reading. */
const enginePaths: Record<'logs' | 'attach', number[]> = { logs: [], attach: [] };

async function runCaller(s: Setup, target: Target, round: number, phase: CallerRun['phase'], command: string[]): Promise<CallerRun> {
  const { argv, name } = callerArgv(s, target, command);
  const watch = new OthersWatch();
  const proc: TimedProcess = spawnTimed(CALLER_CORE, argv, { cwd: s.workspace });
  const timer = setTimeout(() => proc.kill(), RUN_TIMEOUT_MS);
  // Beside the CLI, this harness follows the job's logs too: each line carries the time the server got
  // it from the engine, which splits the way of a line in two (engine → server, server → caller).
  const serverGotFirst = target === 'trellis'
    ? proc.waitLine((l) => l.stream === 'stderr' && JOB_LINE.test(l.text)).then((l) => (l ? serverLineTime(s, JOB_LINE.exec(l.text)![1]!, 'first') : undefined))
    : Promise.resolve(undefined);
  const first = await proc.waitLine((l) => l.stream === 'stdout' && l.text === 'first');
  const exit = await proc.exited;
  clearTimeout(timer);
  const noise = watch.read();
  const since = (at: number | undefined) => (at === undefined ? undefined : at - proc.t0);
  const run: CallerRun = {
    target, round, phase, command: proc.command, t0: proc.t0, exitCode: exit.code, noise, marks: {},
    otherContainers: await otherContainers(s.docker, (c) => c.Names.some((n) => ourNames.has(n.replace(/^\//, '')))).catch(() => NaN),
  };
  if (phase === 'first-line') {
    run.firstLineMs = since(first?.at);
    if (!first) run.error = `no "first" line; exit ${exit.code}; output: ${proc.lines.map((l) => l.text).join(' | ').slice(0, 500)}`;
  }
  run.marks.firstLine = since(first?.at);
  run.marks.exited = since(exit.at);
  const clockLines = proc.lines.filter((l) => l.stream === 'stdout' && clockMs(l.text) !== undefined);
  run.marks.printed = since(clockLines.length ? clockMs(clockLines[0]!.text) : undefined);
  run.marks.serverGotLine = since(await serverGotFirst);
  const submitted = proc.lines.find((l) => l.stream === 'stderr' && JOB_LINE.test(l.text));
  let containerName = name;
  if (submitted) {
    run.marks.jobNamed = since(submitted.at);
    run.jobId = JOB_LINE.exec(submitted.text)![1];
    containerName = `trellis-job-${run.jobId!.slice(0, 12)}`;
    ourNames.add(containerName);
  }
  if (target !== 'docker' && !submitted && !run.error) run.error = `no job line on stderr; exit ${exit.code}`;
  if (exit.code !== 0 && !run.error) run.error = `exit ${exit.code}: ${proc.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join(' | ').slice(0, 500)}`;
  if (containerName) {
    for (const [mark, action] of [['containerCreated', 'create'], ['attached', 'attach'], ['started', 'start']] as const) {
      run.marks[mark] = since(eventOf(s.events, containerName, action)?.at);
    }
  }
  if (target === 'trellis' && run.jobId) {
    const res = await fetch(`${s.server.url}/api/trellis/jobs/${run.jobId}`, { headers: { authorization: `Bearer ${s.server.token}` } });
    if (res.ok) run.marks.runCreated = since(((await res.json()) as { job: { start_time: number } }).job.start_time);
  }
  if (phase === 'log-latency') {
    const delays = clockLines.map((l) => l.at - clockMs(l.text)!);
    const firstPrinted = clockLines.length ? clockMs(clockLines[0]!.text)! : 0;
    run.delays = delays;
    // Lines printed a second or more after the first: the stream in its steady state, past the start-up.
    run.steadyDelays = clockLines.filter((l) => clockMs(l.text)! - firstPrinted >= 1000).map((l) => l.at - clockMs(l.text)!);
    run.linesSeen = clockLines.length;
    if (clockLines.length !== LOG_LINES && !run.error) run.error = `${clockLines.length} of ${LOG_LINES} clock lines arrived`;
  }
  runs.push(run);
  printRun(run);
  return run;
}

/** The line `trellis run` prints once the job is submitted. */
const JOB_LINE = /^\[trellis\] job ([0-9a-f]{32}) /;

/** When the platform server got the job's first line `text` from the engine (its LogLine.time), from GET …/logs?follow=true. */
async function serverLineTime(s: Setup, jobId: string, text: string): Promise<number | undefined> {
  const abort = new AbortController();
  try {
    const res = await fetch(`${s.server.url}/api/trellis/jobs/${jobId}/logs?follow=true`, { headers: { authorization: `Bearer ${s.server.token}` }, signal: abort.signal });
    if (!res.ok || !res.body) return undefined;
    let buffered = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += Buffer.from(chunk).toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const part of parts) {
        const record = JSON.parse(part) as { line?: string; stream?: string; time?: number };
        if (record.stream === 'stdout' && record.line === text) return record.time;
      }
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    abort.abort();
  }
}

/**
 * A run; run once more when it failed because the engine stopped meanwhile (the tests' private engine is
 * shared: a test run stops it when it ends) and was started again.
 */
async function measure(s: Setup, target: Target, round: number, phase: CallerRun['phase'], command: string[]): Promise<CallerRun> {
  if (await ensureEngine(s.docker, s.host)) await followEventsAgain(s);
  const run = await runCaller(s, target, round, phase, command);
  if (!run.error || !(await ensureEngine(s.docker, s.host))) return run;
  await followEventsAgain(s);
  run.discarded = true;
  console.log(`           ^ the engine had stopped (another test run ended): started again, this run discarded and run again`);
  return runCaller(s, target, round, phase, command);
}

/** The event stream ends with the engine that sent it. */
async function followEventsAgain(s: Setup): Promise<void> {
  s.stopEvents();
  const watcher = await watchEngineEvents(s.docker);
  s.events = watcher.events;
  s.stopEvents = watcher.stop;
}

function printRun(r: CallerRun): void {
  const head = `  ${r.phase === 'first-line' ? 'round' : 'log run'} ${String(r.round + 1).padStart(2)}  ${r.target.padEnd(10)}`;
  const noise = `others ${fmtNum(r.noise, 2)} cores${r.noise > NOISY ? ' NOISY' : ''}${r.otherContainers ? `, ${r.otherContainers} other containers on the engine` : ''}`;
  if (r.error) console.log(`${head} FAILED: ${r.error}  (${noise})`);
  else if (r.phase === 'first-line') {
    const m = r.marks;
    const parts = (['runCreated', 'containerCreated', 'attached', 'started', 'printed', 'serverGotLine', 'jobNamed'] as Mark[]).filter((k) => m[k] !== undefined).map((k) => `${k} ${fmtNum(m[k]!, 0)}`);
    console.log(`${head} first line ${fmtMs(r.firstLineMs)}  [${parts.join(', ')}]  (${noise})`);
  } else {
    console.log(`${head} ${r.linesSeen} lines, delay p50 ${fmtMs(quantile(r.delays!, 0.5))} p99 ${fmtMs(quantile(r.delays!, 0.99))} max ${fmtMs(Math.max(...r.delays!))}; steady p99 ${fmtMs(quantile(r.steadyDelays!, 0.99))}  (${noise})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Costs measured on their own

interface Cost {
  name: string;
  command: string;
  medianMs: number;
  samplesMs: number[];
}

async function timeIt(times: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = nowMs();
    await fn();
    out.push(nowMs() - t);
  }
  return out;
}

async function measureCosts(s: Setup): Promise<Cost[]> {
  const costs: Cost[] = [];
  const add = (name: string, command: string, samplesMs: number[]) => {
    costs.push({ name, command, samplesMs, medianMs: median(samplesMs) });
    console.log(`  ${name.padEnd(58)} ${fmtMs(median(samplesMs)).padStart(9)}  (${samplesMs.map((v) => v.toFixed(0)).join(', ')})  ${command}`);
  };
  const runToEnd = async (core: number, argv: string[]) => {
    const p = spawnTimed(core, argv, { cwd: s.workspace });
    const { code } = await p.exited;
    if (code !== 0) throw new Error(`${p.command} exited with ${code}: ${p.lines.map((l) => l.text).join('\n')}`);
  };
  const bareNode = [process.execPath, '-e', '0'];
  add('node starts, no script (node -e 0), core 1', bareNode.join(' '), await timeIt(COST_REPEATS, () => runToEnd(CALLER_CORE, bareNode)));
  if (process.env.NODE_EXTRA_CA_CERTS) {
    // What the launcher saves where the machine sets it: Node 20 parses the file at every start.
    const withoutCa = ['env', '-u', 'NODE_EXTRA_CA_CERTS', ...bareNode];
    add('node starts without NODE_EXTRA_CA_CERTS, core 1', withoutCa.join(' '), await timeIt(COST_REPEATS, () => runToEnd(CALLER_CORE, withoutCa)));
  }
  const cliVersion = [CLI, '--version'];
  add('trellis --version (the launcher: dist/cli.js as a program), core 1', cliVersion.join(' '), await timeIt(COST_REPEATS, () => runToEnd(CALLER_CORE, cliVersion)));
  const nodeCliVersion = [process.execPath, CLI, '--version'];
  add('node dist/cli.js --version (no launcher), core 1', nodeCliVersion.join(' '), await timeIt(COST_REPEATS, () => runToEnd(CALLER_CORE, nodeCliVersion)));
  const dockerVersion = [DOCKER_CLI, '--version'];
  add('the docker CLI starts (docker --version), core 1', dockerVersion.join(' '), await timeIt(COST_REPEATS, () => runToEnd(CALLER_CORE, dockerVersion)));
  // What JobService.admit runs (workspace-git.ts) while the container is being created: one git process.
  const status = (dir: string) => ['git', '-C', dir, 'status', '--porcelain=v2', '--branch', '--untracked-files=normal'];
  add('git status of the workspace, core 0', status(s.workspace).join(' '), await timeIt(COST_REPEATS, () => runToEnd(SERVER_CORE, status(s.workspace))));
  add('git status of this repository, core 0', status(REPO_ROOT).join(' '), await timeIt(COST_REPEATS, () => runToEnd(SERVER_CORE, status(REPO_ROOT))));
  add('image inspect (dockerode, from this harness)', `GET /images/${BUSYBOX_IMAGE}/json`, await timeIt(COST_REPEATS, () => s.docker.getImage(BUSYBOX_IMAGE).inspect()));
  add('platform health check (fetch, from this harness)', `GET ${s.server.url}/health`, await timeIt(COST_REPEATS, () => fetch(`${s.server.url}/health`).then((r) => r.arrayBuffer())));
  return costs;
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  id: string;
  name: string;
  short: string;
  value: number;
  reference: number;
  referenceName: string;
  ratio: number;
  ratioName: string;
  target?: { of: 'ratio' | 'value'; bound: number };
  verdict: 'PASS' | 'MISS' | 'INFO';
  noisy: boolean;
  command: string;
  referenceCommand: string;
  details: Record<string, string>;
}

const figures: Figure[] = [];

function addFigure(f: Omit<Figure, 'verdict' | 'ratio'>, ok: boolean): void {
  const ratio = f.value / f.reference;
  let verdict: Figure['verdict'] = ok ? 'INFO' : 'MISS';
  if (f.target) verdict = ok && (f.target.of === 'ratio' ? ratio : f.value) <= f.target.bound ? 'PASS' : 'MISS';
  const figure = { ...f, ratio, verdict };
  figures.push(figure);
  console.log(`\n[${f.id}] ${f.name}  — ${verdict}${f.noisy ? ' (NOISY)' : ''}`);
  console.log(`    trellis  : ${fmtMs(f.value)}`);
  console.log(`    reference: ${fmtMs(f.reference)}  (${f.referenceName})`);
  console.log(`    ratio    : ${fmtNum(ratio, 3)}  (${f.ratioName})${f.target ? `; target: ${f.target.of} ≤ ${f.target.bound}${f.target.of === 'value' ? ' ms' : ''}` : ''}`);
  for (const [k, v] of Object.entries(f.details)) console.log(`    ${k.padEnd(9)}: ${v}`);
  console.log(`    command  : ${f.command}`);
  console.log(`    ref. cmd : ${f.referenceCommand}`);
}

/** The runs a figure uses: the quiet good ones when there are enough, else every good one. */
function used(target: Target, phase: CallerRun['phase']): { runs: CallerRun[]; noisy: boolean } {
  const good = runs.filter((r) => r.target === target && r.phase === phase && !r.error && !r.discarded);
  const quiet = good.filter((r) => r.noise <= NOISY);
  return quiet.length >= (phase === 'first-line' ? MIN_QUIET : 1) ? { runs: quiet, noisy: false } : { runs: good, noisy: good.length > 0 };
}

interface FirstLineSummary {
  target: Target;
  runs: number;
  failed: number;
  usedRuns: number;
  noisy: boolean;
  p50: number;
  p90: number;
  min: number;
  max: number;
  /** Medians of each mark over the runs used, ms since the spawn. */
  marks: Partial<Record<Mark, number>>;
  noiseMedian: number;
  command: string;
}

function firstLineSummary(target: Target): FirstLineSummary {
  const all = runs.filter((r) => r.target === target && r.phase === 'first-line' && !r.discarded);
  const { runs: use, noisy } = used(target, 'first-line');
  const values = use.map((r) => r.firstLineMs!);
  const marks: FirstLineSummary['marks'] = {};
  for (const k of Object.keys(MARK_LABELS) as Mark[]) {
    const seen = use.map((r) => r.marks[k]).filter((v): v is number => v !== undefined);
    if (seen.length) marks[k] = median(seen);
  }
  return {
    target, runs: all.length, failed: all.filter((r) => r.error).length, usedRuns: use.length, noisy,
    p50: median(values), p90: quantile(values, 0.9), min: Math.min(...values), max: Math.max(...values), marks,
    noiseMedian: median(all.map((r) => r.noise)), command: all[0]?.command ?? '',
  };
}

/** Stage durations from the medians of consecutive marks, in the order they happen. */
function stages(s: FirstLineSummary): string {
  const order: Mark[] = s.target === 'docker' ? ['containerCreated', 'attached', 'started', 'printed', 'firstLine'] : ['runCreated', 'containerCreated', 'started', 'printed', 'serverGotLine', 'jobNamed', 'firstLine'];
  let prev = 0;
  let prevName = 'spawn';
  const parts: string[] = [];
  // In time order: the engine sends its start event once the container's process is already running,
  // so the container's first print often comes before it.
  const seen = order.filter((k) => s.marks[k] !== undefined).sort((a, b) => s.marks[a]! - s.marks[b]!);
  for (const k of seen) {
    const at = s.marks[k]!;
    parts.push(`${prevName} → ${MARK_LABELS[k]} ${fmtMs(at - prev)}`);
    prev = at;
    prevName = k;
  }
  return parts.join('; ');
}

function logSummary(target: Target): { p50: number; p99: number; max: number; steadyP99: number; lines: number; expected: number; noisy: boolean; command: string } {
  const { runs: use, noisy } = used(target, 'log-latency');
  const delays = use.flatMap((r) => r.delays!);
  const steady = use.flatMap((r) => r.steadyDelays!);
  const mine = runs.filter((r) => r.target === target && r.phase === 'log-latency' && !r.discarded);
  return {
    p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), max: Math.max(...delays), steadyP99: quantile(steady, 0.99),
    lines: mine.reduce((a, r) => a + (r.linesSeen ?? 0), 0), expected: mine.length * LOG_LINES, noisy, command: mine[0]?.command ?? '',
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  for (const [what, ok, hint] of [
    ['dist/cli.js', existsSync(CLI), 'run `node esbuild.mjs` first (npm run bench:containers does)'],
    [DOCKER_CLI, existsSync(DOCKER_CLI), 'install Debian\'s docker.io (bash .ci/provision)'],
    ['taskset', existsSync('/usr/bin/taskset'), 'install util-linux'],
    ['2 cores', cpus().length >= 2, `the server runs on core ${SERVER_CORE}, the callers on core ${CALLER_CORE}`],
  ] as const) {
    if (!ok) {
      console.error(`bench/containers: ${what} is missing: ${hint}.`);
      process.exit(1);
    }
  }
  const { docker, host } = await testDockerEngine();
  await ensureBusyboxImage(docker);
  const engineVersion = await docker.version();
  const root = mkdtempSync(join(tmpdir(), 'trellis-bench-containers-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  const workspace = join(root, 'workspace');
  makeWorkspace(workspace);
  const serverDataDir = join(root, 'server-data');
  const inProcessDataDir = join(root, 'in-process-data');
  mkdirSync(serverDataDir);
  mkdirSync(inProcessDataDir);
  const watcher = await watchEngineEvents(docker);
  // Node's flags as the `trellis` launcher and the extension start the platform server (src/core/server-node-flags.ts).
  const server = await startServer(SERVER_CORE, [...SERVER_NODE_FLAGS, CLI, '--data-dir', serverDataDir, 'server', '--port', '0'], serverDataDir, 'trellis server');
  const s: Setup = { docker, host, root, workspace, serverDataDir, inProcessDataDir, server, events: watcher.events, stopEvents: watcher.stop };
  const firstCommand = ['sh', '-c', `echo first; ${CLOCK_LINE}`];
  const logCommand = ['sh', '-c', `echo first; ${clockLoop(LOG_LINES, LOG_PERIOD_MS)}`];

  console.log(
    `Container benchmark — node ${process.version}, Docker engine ${engineVersion.Version} (${host}, private), ${cpus().length} cores (${cpus()[0]?.model ?? '?'});` +
      ` platform server on core ${SERVER_CORE} (${server.command}), callers on core ${CALLER_CORE}, dockerd unpinned; image ${BUSYBOX_IMAGE} (cached);` +
      ` ${ROUNDS} first-line rounds, ${LOG_ROUNDS} log runs of ${LOG_LINES} lines every ${LOG_PERIOD_MS} ms${QUICK ? ' (--quick)' : ''}`,
  );
  let costs: Cost[] = [];
  try {
    console.log('\n== Costs on their own (medians of 5)');
    costs = await measureCosts(s);
    console.log('\n== Warm-up (one run of each, not counted: the first job opens the containers\' listener)');
    for (const t of TARGETS) {
      const r = await measure(s, t, -1, 'first-line', firstCommand);
      for (const warm of runs.filter((x) => x.round === -1)) runs.splice(runs.indexOf(warm), 1);
      if (r.error) throw new Error(`the warm-up run of ${t} failed: ${r.error}`);
    }
    console.log(`\n== First line: ${ROUNDS} rounds in rotating order`);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < TARGETS.length; i++) await measure(s, TARGETS[(i + round) % TARGETS.length]!, round, 'first-line', firstCommand);
    }
    console.log(`\n== Log latency: ${LOG_ROUNDS} run(s) each, alternating, a clock line every ${LOG_PERIOD_MS} ms`);
    for (let round = 0; round < LOG_ROUNDS; round++) {
      for (let i = 0; i < LOG_TARGETS.length; i++) await measure(s, LOG_TARGETS[(i + round) % LOG_TARGETS.length]!, round, 'log-latency', logCommand);
    }
    console.log(`\n== The engine's two ways to a first line, from this harness (dockerode), ${ENGINE_PATH_ROUNDS} rounds alternating`);
    for (let round = 0; round < ENGINE_PATH_ROUNDS; round++) {
      for (const mode of round % 2 ? (['attach', 'logs'] as const) : (['logs', 'attach'] as const)) {
        await ensureEngine(s.docker, s.host);
        const name = `trellis-bench-${process.pid}-${names++}`;
        ourNames.add(name);
        const delay = await engineFirstLine(s.docker, BUSYBOX_IMAGE, name, firstCommand, mode).catch((err: Error) => {
          console.log(`  ${mode} FAILED: ${err.message}`);
          return undefined;
        });
        if (delay !== undefined) enginePaths[mode].push(delay);
      }
    }
    for (const mode of ['logs', 'attach'] as const) {
      console.log(`  ${mode.padEnd(6)} printed → "first" here: p50 ${fmtMs(median(enginePaths[mode]))}, p90 ${fmtMs(quantile(enginePaths[mode], 0.9))}, max ${fmtMs(Math.max(...enginePaths[mode]))}  (${enginePaths[mode].map((v) => v.toFixed(0)).join(', ')})`);
    }
  } finally {
    s.stopEvents();
    await server.stop();
  }
  // The in-process runs' start_time: their server lived and died inside each CLI; the store keeps it.
  const store = openStore(inProcessDataDir);
  try {
    for (const r of runs) {
      if (r.target !== 'in-process' || !r.jobId) continue;
      r.marks.runCreated = store.runs.info(r.jobId).start_time - r.t0;
    }
  } finally {
    store.close();
  }

  const summaries = TARGETS.map(firstLineSummary);
  const [tr, inProc, dk] = summaries as [FirstLineSummary, FirstLineSummary, FirstLineSummary];
  const costLine = costs.map((c) => `${c.name} ${fmtMs(c.medianMs)}`).join('; ');
  const firstFigure = (id: string, a: FirstLineSummary, label: string) =>
    addFigure(
      {
        id, short: `first line, ${label}`, name: `trellis run (${label}) → the container's first line on the caller's stdout, vs docker run`,
        value: a.p50, reference: dk.p50, referenceName: `docker run --rm (Debian ${DOCKER_CLI}, engine ${engineVersion.Version}) → its first line, same run`,
        ratioName: 'trellis / docker, medians', target: { of: 'ratio', bound: TARGET_RATIO }, noisy: a.noisy || dk.noisy,
        command: a.command, referenceCommand: dk.command,
        details: {
          trellis: `p50 ${fmtMs(a.p50)}, p90 ${fmtMs(a.p90)}, min ${fmtMs(a.min)}, max ${fmtMs(a.max)} (${a.usedRuns} of ${a.runs} runs used, ${a.failed} failed)`,
          docker: `p50 ${fmtMs(dk.p50)}, p90 ${fmtMs(dk.p90)}, min ${fmtMs(dk.min)}, max ${fmtMs(dk.max)} (${dk.usedRuns} of ${dk.runs} runs used, ${dk.failed} failed)`,
          'p90 ratio': fmtNum(a.p90 / dk.p90, 3),
          stages: stages(a),
          'docker st': stages(dk),
          noise: `median ${fmtNum(a.noiseMedian, 2)} cores (trellis), ${fmtNum(dk.noiseMedian, 2)} (docker) taken by processes outside the benchmark`,
          costs: costLine,
        },
      },
      a.failed === 0 && dk.failed === 0 && a.usedRuns > 0 && dk.usedRuns > 0,
    );
  firstFigure('1', tr, 'platform server running');
  firstFigure('1b', inProc, 'in-process server');
  const lt = logSummary('trellis');
  const ld = logSummary('docker');
  addFigure(
    {
      id: '2', short: 'log line delay p99', name: `delay from a line printed in the container (every ${LOG_PERIOD_MS} ms) to its arrival on the caller's stdout, p99`,
      value: lt.p99, reference: ld.p99, referenceName: 'docker run --rm, the same container command, same run', ratioName: 'trellis / docker, p99',
      target: { of: 'value', bound: TARGET_P99_MS }, noisy: lt.noisy || ld.noisy, command: lt.command, referenceCommand: ld.command,
      details: {
        trellis: `p50 ${fmtMs(lt.p50)}, p99 ${fmtMs(lt.p99)}, max ${fmtMs(lt.max)}; lines printed ≥ 1 s after the first: p99 ${fmtMs(lt.steadyP99)} (${lt.lines} of ${lt.expected} lines arrived)`,
        docker: `p50 ${fmtMs(ld.p50)}, p99 ${fmtMs(ld.p99)}, max ${fmtMs(ld.max)}; lines printed ≥ 1 s after the first: p99 ${fmtMs(ld.steadyP99)} (${ld.lines} of ${ld.expected} lines arrived)`,
        'per run': LOG_TARGETS.map((t) => `${t} p99 ${runs.filter((r) => r.target === t && r.phase === 'log-latency' && !r.discarded && r.delays?.length).map((r) => `${fmtNum(quantile(r.delays!, 0.99), 1)} ms (others ${fmtNum(r.noise, 2)} cores)`).join(', ')}`).join('; '),
        clock: 'busybox adjtimex in the container (µs, the kernel realtime clock), performance.timeOrigin + now() at the harness',
      },
    },
    lt.lines === lt.expected && ld.lines === ld.expected,
  );

  console.log('\nSummary');
  console.log(
    table(
      ['#', 'figure', 'trellis', 'reference', 'ratio', 'target', 'noise', 'verdict'],
      figures.map((f) => [f.id, f.short, fmtMs(f.value), fmtMs(f.reference), fmtNum(f.ratio, 3), f.target ? `${f.target.of} ≤ ${f.target.bound}` : '-', f.noisy ? 'NOISY' : 'quiet', f.verdict]),
      2,
    ),
  );
  console.log('\nFirst line, stage marks (medians, ms since the caller was spawned):');
  const markKeys = Object.keys(MARK_LABELS) as Mark[];
  console.log(table(['target', 'p50', 'p90', ...markKeys], summaries.map((x) => [x.target, fmtNum(x.p50, 1), fmtNum(x.p90, 1), ...markKeys.map((k) => fmtNum(x.marks[k] ?? NaN, 1))])));
  const misses = figures.filter((f) => f.verdict === 'MISS').map((f) => f.id);
  console.log(misses.length ? `\nMISS: figure(s) ${misses.join(', ')}` : '\nAll targets met.');
  if (figures.some((f) => f.noisy)) {
    console.log(`NOISY: processes outside the benchmark took more than ${NOISY} of a core during most runs: absolute times are inflated; rerun on a quiet machine.`);
  }
  if (QUICK) console.log('--quick: few rounds: a check that the bench works, not figures to quote.');

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'containers.json');
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'containers', date: new Date().toISOString(), quick: QUICK, cpu: cpus()[0]?.model, cores: cpus().length,
        versions: { node: process.version, engine: engineVersion.Version },
        // Node 20 parses this file at each start unless the launcher defers it (src/cli/deferred-ca-certs.ts).
        nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS ?? null,
        settings: { serverCore: SERVER_CORE, callerCore: CALLER_CORE, rounds: ROUNDS, logRounds: LOG_ROUNDS, logLines: LOG_LINES, logPeriodMs: LOG_PERIOD_MS, noisy: NOISY, targets: { ratio: TARGET_RATIO, p99Ms: TARGET_P99_MS } },
        seconds: (Date.now() - started) / 1000, serverCommand: server.command, figures, firstLine: summaries, costs, enginePathsMs: enginePaths, runs,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\n${runs.length} runs in ${((Date.now() - started) / 1000).toFixed(0)} s; written to ${out}`);
}

runBenchmark(main);
