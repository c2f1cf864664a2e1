/**
 * Load generator benchmark: `trellis loadtest` beside autocannon (npm) and wrk (Debian), same run.
 *
 *   npm run bench:loadtest   (= node esbuild.mjs && node --import tsx bench/loadtest.ts)
 *   node --import tsx bench/loadtest.ts [--profile]
 *
 * The target is our own nginx (Debian nginx-light; its own config in a temp dir: one process, no master,
 * no access log, a fixed 3-byte body) pinned to core 0; every generator runs pinned to core 1, one at a
 * time, with one thread of load (trellis: 1 worker; autocannon: its default, no workers; wrk: -t1).
 *
 *   1. Maximum requests/s, closed model, 50 connections, 5 s, 3 rounds with the tools in rotating order
 *      (A B C, B C A, C A B): the median of each tool, its spread, and trellis / autocannon (target
 *      ≥ 1.2) and trellis / wrk (goal ≥ 0.6).
 *   2. The latency a generator adds, at a fixed 5,000 requests/s (far below saturation): trellis' open
 *      model (--rate, latency from each request's scheduled time) against wrk paced to the same total
 *      rate by a Lua delay() script (latency from the actual write); 3 alternating rounds.
 *   3. The round trip each generator sees with one connection, closed model (trellis -c 1, wrk -c1).
 *
 * Each generator's CPU and core wait (runnable but waiting for core 1: other processes took it) are
 * read from /proc/<pid>/task/<tid>/schedstat while it runs, nginx's likewise for core 0. A run in which
 * either waited more than 10 % of the time (NOISY: a shared machine) is run again at once (at most 3
 * times in phase 1, twice in 2 and in 3; the discarded runs stay in the JSON), and the medians leave out
 * NOISY runs when a tool has quiet ones (the figure is flagged NOISY otherwise); nginx's stub_status
 * counts the requests it served, as a check on what each tool reports. --profile runs trellis with
 * --cpu-prof in phase 1 and prints where its worker thread's time goes (the figures then include the
 * profiler's overhead). Prints each figure beside its reference, ratio and commands, then a summary
 * table; writes bench/results/loadtest.json. Exits 0 even when a target is missed (marked MISS).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { killAll, median, onCleanup, REPO_ROOT, runBenchmark, table } from './lib/common';
import { printSummary, summarize } from './lib/cpu-profile';
import {
  parseAutocannon, parseTrellis, parseWrk, readProcess, runPinned, startNginx, versionOf, which, wrkDoneScript, wrkPaceScript,
  type GeneratorResult, type Latency, type Nginx, type ToolRun,
} from './lib/loadtest-tools';

// ---------------------------------------------------------------------------------------------
// Sizes (the whole run stays under ~2 minutes)

const NGINX_CORE = 0;
const GENERATOR_CORE = 1;
const CONNECTIONS = 50;
/** A wrk run before the first figure, not counted. */
const WARMUP_S = 1;
const DURATION_S = 5;
const ROUNDS = 3;
const RATE = 5000;
const RATE_DURATION_S = 5;
const RATE_ROUNDS = 3;
const C1_DURATION_S = 2;
const C1_ROUNDS = 3;
/** Above this share of core wait (a generator on core 1 or nginx on core 0) a run is NOISY. */
const NOISY = 0.1;
/** A NOISY run is run again at once, at most this many times per phase (the noisy one is kept in the JSON, marked discarded). */
const REPEATS_THROUGHPUT = 3;
const REPEATS_LATENCY = 2;
const TARGET_VS_AUTOCANNON = 1.2;
const GOAL_VS_WRK = 0.6;
/** A paced run must reach its rate within this share. */
const RATE_TOLERANCE = 0.02;

const PROFILE = process.argv.slice(2).includes('--profile');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'prof', 'loadtest');

type Tool = 'trellis' | 'autocannon' | 'wrk';
const TOOLS: Tool[] = ['trellis', 'autocannon', 'wrk'];

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtNum = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(n);
const pct = (x: number, digits = 0): string => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '-');
const fmtMs = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : '-');
const signedMs = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)} ms` : '-');

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  id: string;
  name: string;
  short: string;
  unit: 'requests/s' | 'ms';
  /** trellis. */
  value: number;
  reference: number;
  referenceName: string;
  ratio: number;
  ratioName: string;
  /** value − reference (latency figures: what trellis adds beyond the reference). */
  delta: number;
  /** The ratio the issue asks for; absent: reported for information. */
  target?: { ratio: number; kind: 'target' | 'goal' };
  checks: { name: string; ok: boolean }[];
  verdict: 'PASS' | 'MISS' | 'INFO';
  /** The largest median core wait of the two generators (core 1) and of nginx during their runs (core 0). */
  wait: number;
  command: string;
  referenceCommand: string;
  details: Record<string, string>;
}

const figures: Figure[] = [];

function addFigure(f: Omit<Figure, 'verdict' | 'ratio' | 'delta'>): Figure {
  const ratio = f.value / f.reference;
  const ok = f.checks.every((c) => c.ok);
  const verdict = f.target ? (ratio >= f.target.ratio && ok ? 'PASS' : 'MISS') : ok ? 'INFO' : 'MISS';
  const figure: Figure = { ...f, ratio, delta: f.value - f.reference, verdict };
  figures.push(figure);
  printFigure(figure);
  return figure;
}

const fmtValue = (n: number, unit: Figure['unit']): string => (unit === 'ms' ? fmtMs(n) : `${fmtNum(n)} req/s`);

function printFigure(f: Figure): void {
  console.log(`\n[${f.id}] ${f.name}  — ${f.verdict}`);
  console.log(`    trellis  : ${fmtValue(f.value, f.unit)}`);
  console.log(`    reference: ${fmtValue(f.reference, f.unit)}  (${f.referenceName})`);
  console.log(`    ratio    : ${fmtNum(f.ratio, 3)}  (${f.ratioName})${f.target ? `, ${f.target.kind} ≥ ${f.target.ratio}` : ''}`);
  if (f.unit === 'ms') console.log(`    added    : ${signedMs(f.delta)}  (trellis − reference: the latency trellis adds beyond it)`);
  for (const c of f.checks) console.log(`    check    : ${c.ok ? 'ok  ' : 'MISS'} ${c.name}`);
  console.log(`    core wait: ${pct(f.wait)} of the load time a generator thread (core ${GENERATOR_CORE}) or nginx (core ${NGINX_CORE}) waited for its core${f.wait > NOISY ? '  — NOISY: other processes took the core' : ''}`);
  for (const [k, v] of Object.entries(f.details)) console.log(`    ${k.padEnd(9)}: ${v}`);
  console.log(`    command  : ${f.command}`);
  console.log(`    ref. cmd : ${f.referenceCommand}`);
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Measured {
  tool: Tool;
  phase: 'throughput' | 'rate' | 'c1';
  round: number;
  /** A NOISY round run again: this run is kept in the JSON but not in any figure. */
  discarded?: boolean;
  command: string;
  ok: boolean;
  error?: string;
  result?: GeneratorResult;
  /** The generator process: CPU and core wait, whole life and over the load. */
  proc: Pick<ToolRun, 'pid' | 'wallS' | 'cpuS' | 'waitS' | 'cpu' | 'wait' | 'loadCpu' | 'loadWait' | 'code' | 'signal' | 'timedOut'>;
  /** CPU seconds of the generator per request, in µs (startup included). */
  cpuUsPerRequest: number;
  nginx: { served: number; rps: number; cpu: number; wait: number };
}

const runs: Measured[] = [];
let nginx: Nginx;
let root: string;
let dataDir: string;
let wrkBin: string;
let autocannonJs: string;

interface Spec {
  tool: Tool;
  phase: Measured['phase'];
  round: number;
  durationS: number;
  connections: number;
  /** trellis open model / wrk paced to this total rate. */
  rate?: number;
  /** wrk: a Lua script in the temp dir. */
  script?: string;
  profileDir?: string;
}

function argvOf(spec: Spec): { argv: string[]; display: string[]; parse: (stdout: string) => GeneratorResult } {
  const url = nginx.url;
  switch (spec.tool) {
    case 'trellis': {
      const prof = spec.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`] : [];
      const model = spec.rate !== undefined ? ['--rate', String(spec.rate)] : [];
      const rest = ['dist/cli.js', '-d', dataDir, 'loadtest', url, ...model, '-c', String(spec.connections), '-d', `${spec.durationS}s`, '--no-record', '--json'];
      return { argv: [process.execPath, ...prof, ...rest], display: ['node', ...prof, ...rest], parse: parseTrellis };
    }
    case 'autocannon': {
      const rest = ['-c', String(spec.connections), '-d', String(spec.durationS), '--json', url];
      // What `npx autocannon` runs, without npm's process in between (its pid is autocannon's).
      return { argv: [process.execPath, autocannonJs, ...rest], display: ['node', relative(REPO_ROOT, autocannonJs), ...rest], parse: parseAutocannon };
    }
    case 'wrk': {
      const rest = ['-t1', `-c${spec.connections}`, `-d${spec.durationS}s`, '--latency', ...(spec.script ? ['-s', spec.script] : []), url];
      return { argv: [wrkBin, ...rest], display: ['wrk', ...rest], parse: parseWrk };
    }
  }
}

async function measure(spec: Spec): Promise<Measured> {
  const { argv, display, parse } = argvOf(spec);
  const servedBefore = await nginx.served();
  const nginxBefore = readProcess(nginx.pid);
  const run = await runPinned(GENERATOR_CORE, argv, spec.tool, { timeoutMs: (spec.durationS + 30) * 1000, loadS: spec.durationS, display });
  const nginxAfter = readProcess(nginx.pid);
  const served = (await nginx.served()) - servedBefore;
  let result: GeneratorResult | undefined;
  let error: string | undefined;
  if (run.code !== 0) {
    error = `${spec.tool} ${run.timedOut ? 'timed out' : `exited with ${run.code ?? run.signal}`}: ${run.stderr.trim().slice(-500)}`;
  } else {
    try {
      result = parse(run.stdout);
    } catch (err) {
      error = (err as Error).message.slice(0, 800);
    }
  }
  const loadS = result?.durationS ?? spec.durationS;
  const m: Measured = {
    tool: spec.tool,
    phase: spec.phase,
    round: spec.round,
    command: run.command,
    ok: result !== undefined,
    ...(error ? { error } : {}),
    ...(result ? { result } : {}),
    proc: {
      pid: run.pid, wallS: run.wallS, cpuS: run.cpuS, waitS: run.waitS, cpu: run.cpu, wait: run.wait,
      loadCpu: run.loadCpu, loadWait: run.loadWait, code: run.code, signal: run.signal, timedOut: run.timedOut,
    },
    cpuUsPerRequest: result && result.requests > 0 ? (run.cpuS / result.requests) * 1e6 : NaN,
    nginx: { served, rps: served / loadS, cpu: (nginxAfter.run - nginxBefore.run) / loadS, wait: (nginxAfter.wait - nginxBefore.wait) / loadS },
  };
  runs.push(m);
  printRun(m);
  return m;
}

function printRun(m: Measured): void {
  const head = `  round ${m.round + 1}  ${m.tool.padEnd(10)}`;
  if (!m.result) {
    console.log(`${head} FAILED: ${m.error}`);
    return;
  }
  const r = m.result;
  const lat = r.latency ? `  p50 ${fmtMs(r.latency.p50)} p99 ${fmtMs(r.latency.p99)}` : '';
  const noisy = isNoisy(m) ? '  NOISY' : '';
  console.log(
    `${head} ${fmtNum(r.rps).padStart(9)} req/s  (${fmtNum(r.requests)} in ${r.durationS.toFixed(2)} s, ${r.errors} errors)${lat}` +
      `  CPU ${pct(m.proc.loadCpu)} wait ${pct(m.proc.loadWait)}${noisy}, ${m.cpuUsPerRequest.toFixed(2)} µs CPU/req` +
      `  | nginx ${pct(m.nginx.cpu)} CPU, wait ${pct(m.nginx.wait)}, served ${fmtNum(m.nginx.served)}`,
  );
}

const ok = (ms: Measured[]): (Measured & { result: GeneratorResult })[] =>
  ms.filter((m): m is Measured & { result: GeneratorResult } => m.result !== undefined && !m.discarded);
const kept = (ms: Measured[]): Measured[] => ms.filter((m) => !m.discarded);
/** A generator (with --profile: other than trellis, whose profiler thread shares its core) or nginx waited too long for its core. */
const isNoisy = (m: Measured): boolean => (m.proc.loadWait > NOISY && !(PROFILE && m.tool === 'trellis')) || m.nginx.wait > NOISY;

/** Repeats of NOISY runs left in the current phase. */
let repeatsLeft = 0;

/**
 * Measures one run; a NOISY one (other processes took a core) is run again at once while the phase has
 * repeats left, and the noisy attempt is kept in the JSON, marked discarded.
 */
async function measureQuiet(spec: Spec): Promise<Measured> {
  for (;;) {
    const m = await measure(spec);
    if (!isNoisy(m) || repeatsLeft <= 0) return m;
    repeatsLeft--;
    m.discarded = true;
    console.log(`           ^ NOISY (${spec.tool} waited ${pct(m.proc.loadWait)} for core ${GENERATOR_CORE}, nginx ${pct(m.nginx.wait)} for core ${NGINX_CORE}): discarded, run again (${repeatsLeft} repeats left in this phase)`);
  }
}

/** The runs a figure uses: the successful ones that were not NOISY, or all successful ones when every one was. */
function used(ms: Measured[]): (Measured & { result: GeneratorResult })[] {
  const good = ok(ms);
  const quiet = good.filter((m) => !isNoisy(m));
  return quiet.length > 0 ? quiet : good;
}
const med = (ms: Measured[], f: (m: Measured & { result: GeneratorResult }) => number): number => median(used(ms).map(f));

// ---------------------------------------------------------------------------------------------
// 1. Maximum requests/s

interface ToolSummary {
  tool: Tool;
  runs: number;
  failed: number;
  /** Runs in the medians, and NOISY ones left out of them (there were quiet ones). */
  usedRuns: number;
  noisyLeftOut: number;
  medianRps: number;
  minRps: number;
  maxRps: number;
  /** (max − min) / median. */
  spread: number;
  cpu: number;
  wait: number;
  nginxWait: number;
  cpuUsPerRequest: number;
  nginxCpu: number;
  nginxRps: number;
  errors: number;
  /** |requests the tool reports − requests nginx served| / served, worst round. */
  countGap: number;
  command: string;
}

function summarizeTool(tool: Tool, all: Measured[]): ToolSummary {
  const mine = kept(all.filter((m) => m.tool === tool));
  const good = ok(mine);
  const use = used(mine);
  const rps = use.map((m) => m.result.rps);
  const medianRps = median(rps);
  return {
    tool,
    runs: mine.length,
    failed: mine.length - good.length,
    usedRuns: use.length,
    noisyLeftOut: good.length - use.length,
    medianRps,
    minRps: Math.min(...rps),
    maxRps: Math.max(...rps),
    spread: (Math.max(...rps) - Math.min(...rps)) / medianRps,
    cpu: med(mine, (m) => m.proc.loadCpu),
    wait: med(mine, (m) => m.proc.loadWait),
    nginxWait: med(mine, (m) => m.nginx.wait),
    cpuUsPerRequest: med(mine, (m) => m.cpuUsPerRequest),
    nginxCpu: med(mine, (m) => m.nginx.cpu),
    nginxRps: med(mine, (m) => m.nginx.rps),
    errors: good.reduce((a, m) => a + m.result.errors, 0),
    countGap: Math.max(0, ...good.map((m) => Math.abs(m.result.requests - m.nginx.served) / Math.max(1, m.nginx.served))),
    command: mine[0]?.command ?? '',
  };
}

let throughputSummaries: ToolSummary[] = [];

async function throughputPhase(): Promise<void> {
  console.log(`\n== 1. Maximum requests/s: closed model, ${CONNECTIONS} connections, ${DURATION_S} s, ${ROUNDS} rounds in rotating order`);
  repeatsLeft = REPEATS_THROUGHPUT;
  const phase: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = TOOLS.map((_, i) => TOOLS[(i + round) % TOOLS.length]!);
    for (const tool of order) {
      const profileDir = PROFILE && tool === 'trellis' ? join(PROFILE_DIR, `round-${round + 1}`) : undefined;
      phase.push(await measureQuiet({ tool, phase: 'throughput', round, durationS: DURATION_S, connections: CONNECTIONS, ...(profileDir ? { profileDir } : {}) }));
    }
  }
  throughputSummaries = TOOLS.map((t) => summarizeTool(t, phase));
  const [trellis, autocannon, wrk] = throughputSummaries as [ToolSummary, ToolSummary, ToolSummary];

  console.log(`\nPer generator (medians of the quiet runs; CPU and core wait over the load, on core ${GENERATOR_CORE}):`);
  console.log(throughputTable());

  const perRound = (ref: Tool) =>
    Array.from({ length: ROUNDS }, (_, r) => {
      const a = ok(phase).find((m) => m.tool === 'trellis' && m.round === r);
      const b = ok(phase).find((m) => m.tool === ref && m.round === r);
      return a && b ? `${fmtNum(a.result.rps / b.result.rps, 3)}${isNoisy(a) || isNoisy(b) ? '*' : ''}` : '-';
    }).join(', ') + (ok(phase).some(isNoisy) ? ' (* a NOISY run)' : '');
  const nginxNote = (s: ToolSummary) => `nginx ${pct(s.nginxCpu)} of core ${NGINX_CORE} busy, served ${fmtNum(s.nginxRps)} req/s (stub_status)`;
  const bound = (s: ToolSummary) => (s.nginxCpu >= 0.95 ? 'nginx-bound (nginx ≥ 95% of its core)' : s.cpu >= 0.95 ? 'generator-bound (generator ≥ 95% of its core)' : 'neither core saturated');
  const checks = [
    { name: `trellis: ${trellis.errors} errors in ${trellis.runs - trellis.failed}/${trellis.runs} rounds`, ok: trellis.errors === 0 && trellis.failed === 0 && trellis.runs > 0 },
    { name: `trellis' request count within 1% of what nginx served (worst round ${pct(trellis.countGap, 2)})`, ok: trellis.countGap <= 0.01 },
  ];
  const details = (ref: ToolSummary): Record<string, string> => ({
    trellis: `median ${fmtNum(trellis.medianRps)} req/s of ${trellis.usedRuns} runs${trellis.noisyLeftOut ? ` (${trellis.noisyLeftOut} NOISY left out)` : ''}, ${fmtNum(trellis.minRps)}–${fmtNum(trellis.maxRps)} (spread ${pct(trellis.spread, 1)}); CPU ${pct(trellis.cpu)}, ${trellis.cpuUsPerRequest.toFixed(2)} µs CPU/request; ${nginxNote(trellis)}; ${bound(trellis)}`,
    [ref.tool]: `median ${fmtNum(ref.medianRps)} req/s of ${ref.usedRuns} runs${ref.noisyLeftOut ? ` (${ref.noisyLeftOut} NOISY left out)` : ''}, ${fmtNum(ref.minRps)}–${fmtNum(ref.maxRps)} (spread ${pct(ref.spread, 1)}); CPU ${pct(ref.cpu)}, ${ref.cpuUsPerRequest.toFixed(2)} µs CPU/request; ${nginxNote(ref)}; ${bound(ref)}; ${ref.errors} errors`,
    rounds: `trellis / ${ref.tool} per round: ${perRound(ref.tool)}`,
    'CPU/req': `trellis / ${ref.tool} CPU per request: ${fmtNum(trellis.cpuUsPerRequest / ref.cpuUsPerRequest, 3)} (lower is leaner; independent of which core saturates)`,
    nginx: nginx.command,
  });
  addFigure({
    id: '1', short: `max req/s vs autocannon, -c ${CONNECTIONS}`, name: `maximum requests/s, closed model, ${CONNECTIONS} connections, one thread: trellis vs autocannon`, unit: 'requests/s',
    value: trellis.medianRps, reference: autocannon.medianRps, referenceName: `${versions.autocannon} (npm), default single thread, same connections and duration`,
    ratioName: 'trellis / autocannon', target: { ratio: TARGET_VS_AUTOCANNON, kind: 'target' },
    checks, wait: Math.max(trellis.wait, autocannon.wait, trellis.nginxWait, autocannon.nginxWait), command: trellis.command, referenceCommand: `${autocannon.command}   (what \`taskset -c ${GENERATOR_CORE} npx autocannon -c ${CONNECTIONS} -d ${DURATION_S} --json URL\` runs, without npm's process in between)`,
    details: details(autocannon),
  });
  addFigure({
    id: '2', short: `max req/s vs wrk, -c ${CONNECTIONS}`, name: `maximum requests/s, closed model, ${CONNECTIONS} connections, one thread: trellis vs wrk`, unit: 'requests/s',
    value: trellis.medianRps, reference: wrk.medianRps, referenceName: `${versions.wrk}, -t1`,
    ratioName: 'trellis / wrk', target: { ratio: GOAL_VS_WRK, kind: 'goal' },
    checks, wait: Math.max(trellis.wait, wrk.wait, trellis.nginxWait, wrk.nginxWait), command: trellis.command, referenceCommand: wrk.command,
    details: details(wrk),
  });
}

function throughputTable(): string {
  return table(
    ['generator', 'runs used', 'median req/s', 'min', 'max', 'spread', 'CPU', 'core wait', 'µs CPU/req', 'nginx CPU', 'nginx wait', 'nginx req/s', 'errors'],
    throughputSummaries.map((s) => [
      s.tool, `${s.usedRuns}/${s.runs}`, fmtNum(s.medianRps), fmtNum(s.minRps), fmtNum(s.maxRps), pct(s.spread, 1), pct(s.cpu), `${pct(s.wait)}${s.wait > NOISY ? ' NOISY' : ''}`,
      s.cpuUsPerRequest.toFixed(2), pct(s.nginxCpu), `${pct(s.nginxWait)}${s.nginxWait > NOISY ? ' NOISY' : ''}`, fmtNum(s.nginxRps), `${s.errors}${s.failed ? ` (+${s.failed} failed runs)` : ''}`,
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Latency: at a fixed rate, and with one connection

interface LatencySummaryRow {
  tool: Tool;
  runs: number;
  failed: number;
  usedRuns: number;
  noisyLeftOut: number;
  rps: number;
  /** Medians over the runs used; max: the largest of them. */
  latency: Latency;
  wait: number;
  nginxWait: number;
  cpu: number;
  errors: number;
  command: string;
  extra: string;
}

function summarizeLatency(tool: Tool, all: Measured[]): LatencySummaryRow {
  const mine = kept(all.filter((m) => m.tool === tool));
  const good = used(mine).filter((m) => m.result.latency);
  const lat = (f: (l: Latency) => number) => median(good.map((m) => f(m.result.latency!)));
  const late = good.reduce((a, m) => a + Number(m.result.extra.late ?? 0), 0);
  const unsent = good.reduce((a, m) => a + Number(m.result.extra.unsent ?? 0), 0);
  return {
    tool,
    runs: mine.length,
    failed: mine.length - ok(mine).length,
    usedRuns: good.length,
    noisyLeftOut: ok(mine).length - good.length,
    rps: median(good.map((m) => m.result.rps)),
    latency: { p50: lat((l) => l.p50), p90: lat((l) => l.p90), p99: lat((l) => l.p99), max: Math.max(...good.map((m) => m.result.latency!.max)) },
    wait: median(good.map((m) => m.proc.loadWait)),
    nginxWait: median(good.map((m) => m.nginx.wait)),
    cpu: median(good.map((m) => m.proc.loadCpu)),
    errors: ok(mine).reduce((a, m) => a + m.result.errors, 0),
    command: mine[0]?.command ?? '',
    extra: tool === 'trellis' ? `late ${late}, unsent ${unsent}` : '',
  };
}

const latencySummaries: Record<string, LatencySummaryRow[]> = {};

const leftOut = (rows: { tool: Tool; noisyLeftOut: number }[]): string => {
  const out = rows.filter((r) => r.noisyLeftOut > 0).map((r) => `${r.tool} ${r.noisyLeftOut}`);
  return out.length ? `; NOISY runs left out (quiet ones exist): ${out.join(', ')}` : '';
};

/** trellis' p99 in each second of the runs used, the median over them. */
function perSecondP99(phase: Measured[]): number[] {
  const series = used(phase).filter((m) => m.tool === 'trellis').map((m) => (m.result.extra.perSecondP99 as number[] | undefined) ?? []);
  const n = Math.max(0, ...series.map((s) => s.length));
  return Array.from({ length: n }, (_, i) => median(series.flatMap((s) => (s[i] !== undefined ? [s[i]!] : []))));
}

function latencyTable(rows: LatencySummaryRow[]): string {
  return table(
    ['generator', 'runs used', 'req/s', 'p50', 'p90', 'p99', 'max', 'CPU', 'core wait', 'nginx wait', 'errors'],
    rows.map((s) => [
      s.tool, `${s.usedRuns}/${s.runs}`, fmtNum(s.rps), fmtMs(s.latency.p50), fmtMs(s.latency.p90), fmtMs(s.latency.p99), fmtMs(s.latency.max), pct(s.cpu),
      `${pct(s.wait)}${s.wait > NOISY ? ' NOISY' : ''}`, `${pct(s.nginxWait)}${s.nginxWait > NOISY ? ' NOISY' : ''}`, String(s.errors),
    ]),
  );
}

async function latencyPhase(kind: 'rate' | 'c1'): Promise<void> {
  const isRate = kind === 'rate';
  const count = isRate ? RATE_ROUNDS : C1_ROUNDS;
  const durationS = isRate ? RATE_DURATION_S : C1_DURATION_S;
  const connections = isRate ? CONNECTIONS : 1;
  const script = join(root, isRate ? 'pace.lua' : 'done.lua');
  writeFileSync(script, isRate ? wrkPaceScript(RATE) : wrkDoneScript());
  console.log(
    isRate
      ? `\n== 2. Latency at a fixed ${fmtNum(RATE)} requests/s, ${CONNECTIONS} connections, ${durationS} s, ${count} rounds alternating (trellis open model; wrk paced by ${script})`
      : `\n== 3. Round trip with one connection, closed model, ${durationS} s, ${count} rounds alternating`,
  );
  const pair: Tool[] = ['trellis', 'wrk'];
  repeatsLeft = REPEATS_LATENCY;
  const phase: Measured[] = [];
  for (let round = 0; round < count; round++) {
    for (const tool of round % 2 === 0 ? pair : [...pair].reverse()) {
      phase.push(
        await measureQuiet({ tool, phase: kind, round, durationS, connections, ...(isRate && tool === 'trellis' ? { rate: RATE } : {}), ...(tool === 'wrk' ? { script } : {}) }),
      );
    }
  }
  const rows = pair.map((t) => summarizeLatency(t, phase));
  latencySummaries[kind] = rows;
  const [trellis, wrk] = rows as [LatencySummaryRow, LatencySummaryRow];
  console.log(`\n${isRate ? `At ${fmtNum(RATE)} requests/s` : 'One connection'} (medians of the quiet runs; max: the largest of them):`);
  console.log(latencyTable(rows));

  const checks = [
    { name: `errors: trellis ${trellis.errors}, wrk ${wrk.errors}; failed runs: ${trellis.failed + wrk.failed}`, ok: trellis.errors === 0 && wrk.errors === 0 && trellis.failed + wrk.failed === 0 },
    ...(isRate
      ? [
          { name: `trellis sent ${fmtNum(trellis.rps)} req/s, within ${pct(RATE_TOLERANCE)} of ${fmtNum(RATE)} (${trellis.extra})`, ok: Math.abs(trellis.rps / RATE - 1) <= RATE_TOLERANCE },
          { name: `wrk paced to ${fmtNum(wrk.rps)} req/s, within ${pct(RATE_TOLERANCE)} of ${fmtNum(RATE)}`, ok: Math.abs(wrk.rps / RATE - 1) <= RATE_TOLERANCE },
        ]
      : []),
  ];
  const lat = (s: LatencySummaryRow) => `p50 ${fmtMs(s.latency.p50)}, p90 ${fmtMs(s.latency.p90)}, p99 ${fmtMs(s.latency.p99)}, max ${fmtMs(s.latency.max)}; ${fmtNum(s.rps)} req/s; CPU ${pct(s.cpu)}`;
  const details = (p: 'p50' | 'p99'): Record<string, string> => ({
    trellis: `${lat(trellis)}${trellis.extra ? `; ${trellis.extra}` : ''}`,
    wrk: lat(wrk),
    'p90/max': `trellis − wrk: p90 ${signedMs(trellis.latency.p90 - wrk.latency.p90)}, max ${signedMs(trellis.latency.max - wrk.latency.max)}`,
    rounds: `${p} of the runs used: trellis ${used(phase).filter((m) => m.tool === 'trellis').map((m) => fmtMs(m.result.latency![p])).join(', ')}; wrk ${used(phase).filter((m) => m.tool === 'wrk').map((m) => fmtMs(m.result.latency![p])).join(', ')}${leftOut(rows)}`,
    ...(isRate ? { 'by second': `trellis p99 per second of the test (median of the runs used): ${perSecondP99(phase).map((v, i) => `s${i} ${fmtMs(v)}`).join(', ')} (s0 includes the worker's JIT warm-up; wrk is compiled)` } : {}),
    measures: isRate
      ? 'trellis: from each request\'s scheduled time (its own timer lag counts); wrk: from the write of each request (its delay() timer lag does not count)'
      : 'both from the write of each request to the end of its reply',
  });
  const base = isRate
    ? { name: `latency at a fixed ${fmtNum(RATE)} requests/s, ${CONNECTIONS} connections (trellis --rate vs wrk paced by Lua delay())`, short: `fixed ${fmtNum(RATE)}/s` }
    : { name: 'round trip with one connection, closed model (trellis -c 1 vs wrk -t1 -c1)', short: 'closed, 1 conn' };
  const id = isRate ? '3' : '4';
  for (const [suffix, p] of [['a', 'p50'], ['b', 'p99']] as const) {
    addFigure({
      id: `${id}${suffix}`, short: `${base.short}: ${p}`, name: `${base.name}, ${p}`, unit: 'ms',
      value: trellis.latency[p], reference: wrk.latency[p], referenceName: `${versions.wrk}${isRate ? `, ${CONNECTIONS} connections paced to ${fmtNum(RATE)}/s in all` : ', -t1 -c1'}`,
      ratioName: 'trellis / wrk', checks, wait: Math.max(trellis.wait, wrk.wait, trellis.nginxWait, wrk.nginxWait),
      command: trellis.command, referenceCommand: wrk.command, details: details(p),
    });
  }
}

// ---------------------------------------------------------------------------------------------

function printSummaryTable(): void {
  const rows = figures.map((f) => [
    f.id,
    f.short,
    fmtValue(f.value, f.unit),
    fmtValue(f.reference, f.unit),
    `${fmtNum(f.ratio, 3)} ${f.ratioName.replace('trellis / ', '× ')}`,
    f.unit === 'ms' ? signedMs(f.delta) : '',
    f.target ? `${f.target.kind} ≥ ${f.target.ratio}` : '-',
    `${pct(f.wait)}${f.wait > NOISY ? ' NOISY' : ''}`,
    f.verdict,
  ]);
  console.log('\nSummary');
  console.log(table(['#', 'figure', 'trellis', 'reference', 'ratio', 'trellis − ref', 'target', 'core wait', 'verdict'], rows, 2));
  console.log('\nThroughput by generator (closed model, medians of the quiet runs):');
  console.log(throughputTable());
  for (const [kind, rows2] of Object.entries(latencySummaries)) {
    console.log(`\n${kind === 'rate' ? `Latency at ${fmtNum(RATE)} requests/s` : 'Latency with one connection'}:`);
    console.log(latencyTable(rows2));
  }
  const misses = figures.filter((f) => f.verdict === 'MISS').map((f) => f.id);
  console.log(misses.length ? `\nMISS: figure(s) ${misses.join(', ')}` : '\nAll targets met.');
  const noisy = figures.filter((f) => f.wait > NOISY).map((f) => f.id);
  if (noisy.length) {
    console.log(
      `NOISY: figure(s) ${noisy.join(', ')}: a generator or nginx lost more than ${pct(NOISY)} of its load time waiting for its core (other processes):` +
        ' absolute figures are depressed; the ratios, measured in alternating rounds, much less. Rerun on a quiet machine.',
    );
  }
  if (figures.find((f) => f.id === '1')?.verdict === 'MISS' && !PROFILE) console.log('Rerun with --profile to see where trellis\' worker spends its time.');
}

function profileReport(): void {
  if (!existsSync(PROFILE_DIR)) return;
  for (const round of readdirSync(PROFILE_DIR).sort()) {
    const files = readdirSync(join(PROFILE_DIR, round)).filter((f) => f.endsWith('.cpuprofile'));
    // One profile per thread: the main thread mostly waits; the worker does the load.
    const summaries = files.map((f) => ({ f, s: summarize(join(PROFILE_DIR, round, f), 25) })).sort((a, b) => b.s.busyMs - a.s.busyMs);
    const top = summaries[0];
    if (top) printSummary(`CPU profile of trellis loadtest's busiest thread, phase 1 ${round} (${relative(REPO_ROOT, join(PROFILE_DIR, round, top.f))})`, top.s);
  }
  console.log(
    '\n(In these profiles "native" is the socket I/O: writeBuffer is the write(2) of each request, which on loopback also runs' +
      ' the kernel\'s delivery to nginx; compare the generators\' µs CPU/request above, which counts the same for wrk and autocannon.)',
  );
}

const versions = { nginx: '?', wrk: '?', autocannon: '?', node: process.version };

async function main(): Promise<void> {
  const started = Date.now();
  const nginxBin = which('nginx');
  const wrk = which('wrk');
  if (!nginxBin || !wrk || !which('taskset')) {
    console.error(
      `bench/loadtest: ${[!nginxBin && 'nginx', !wrk && 'wrk', !which('taskset') && 'taskset'].filter(Boolean).join(', ')} missing.` +
        ' Run `bash .ci/provision --bench` (installs Debian\'s nginx-light and wrk).',
    );
    process.exit(1);
  }
  wrkBin = wrk;
  try {
    autocannonJs = require.resolve('autocannon/autocannon.js', { paths: [REPO_ROOT] });
  } catch {
    console.error('bench/loadtest: autocannon is missing from node_modules: run `npm ci` (it is a devDependency).');
    process.exit(1);
  }
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js')) || !existsSync(join(REPO_ROOT, 'dist', 'loadtest-worker.js'))) {
    console.error('bench/loadtest: dist/cli.js is missing: run `node esbuild.mjs` first (npm run bench:loadtest does).');
    process.exit(1);
  }
  if (cpus().length < 2) {
    console.error(`bench/loadtest: needs 2 cores (nginx on core ${NGINX_CORE}, the generator on core ${GENERATOR_CORE}); this machine has ${cpus().length}.`);
    process.exit(1);
  }
  versions.nginx = versionOf([nginxBin, '-v']).replace(/^nginx version:\s*/, '');
  versions.wrk = versionOf([wrk, '-v']).replace(/\s*Copyright.*$/, '');
  versions.autocannon = `autocannon ${(JSON.parse(readFileSync(join(autocannonJs, '..', 'package.json'), 'utf8')) as { version: string }).version}`;

  root = mkdtempSync(join(tmpdir(), 'trellis-bench-loadtest-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  dataDir = join(root, 'trellis-data');
  mkdirSync(dataDir);
  if (PROFILE) rmSync(PROFILE_DIR, { recursive: true, force: true });

  console.log(
    `Load generator benchmark — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); ${versions.nginx} on core ${NGINX_CORE}, generators on core ${GENERATOR_CORE}; ${versions.wrk}; ${versions.autocannon}`,
  );
  if (PROFILE) console.log('--profile: trellis runs with --cpu-prof in phase 1 (its figures include the profiler overhead, and its sampling thread shows as core wait)');
  try {
    nginx = await startNginx(nginxBin, join(root, 'nginx'), NGINX_CORE);
    console.log(`nginx: ${nginx.command}  (${nginx.url}, config ${nginx.conf})`);
    // Not counted: lets this process's own start-up (tsx compiling, unpinned) settle before the first figure.
    const warm = await runPinned(GENERATOR_CORE, [wrkBin, '-t1', `-c${CONNECTIONS}`, `-d${WARMUP_S}s`, nginx.url], 'warm-up', { timeoutMs: 30_000, loadS: WARMUP_S });
    if (warm.code !== 0) throw new Error(`the warm-up wrk run failed (${warm.code ?? warm.signal}): ${warm.stderr}${warm.stdout}`);
    await throughputPhase();
    await latencyPhase('rate');
    await latencyPhase('c1');
  } finally {
    await nginx?.stop();
    killAll();
  }
  printSummaryTable();
  if (PROFILE) profileReport();

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'loadtest.json');
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'loadtest',
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        versions,
        settings: {
          nginxCore: NGINX_CORE, generatorCore: GENERATOR_CORE, connections: CONNECTIONS, durationS: DURATION_S, rounds: ROUNDS,
          rate: RATE, rateDurationS: RATE_DURATION_S, rateRounds: RATE_ROUNDS, c1DurationS: C1_DURATION_S, c1Rounds: C1_ROUNDS,
          targetVsAutocannon: TARGET_VS_AUTOCANNON, goalVsWrk: GOAL_VS_WRK, noisy: NOISY, repeatsThroughput: REPEATS_THROUGHPUT,
          repeatsLatency: REPEATS_LATENCY, profile: PROFILE,
        },
        seconds: (Date.now() - started) / 1000,
        figures,
        throughput: throughputSummaries,
        latency: latencySummaries,
        runs,
      },
      null,
      2,
    )}\n`,
  );
  const discarded = runs.filter((m) => m.discarded).length;
  console.log(`\n${figures.length} figures from ${runs.length - discarded} generator runs${discarded ? ` (+${discarded} NOISY runs discarded and run again)` : ''} in ${((Date.now() - started) / 1000).toFixed(0)} s; written to ${out}`);
}

runBenchmark(main);
