/**
 * Tracker benchmark: each figure beside a reference measured in the same run, as a ratio.
 *
 *   npm run bench            (= node esbuild.mjs && node --import tsx bench/tracker.ts)
 *   node --import tsx bench/tracker.ts [--phases=ingest,insert,reads] [--profile]
 *
 * The server under test runs pinned to core 0 and the load generator to core 1, so they never share a
 * core; in-process work (store inserts, seeding, reference SQL) runs pinned to core 0 as well. A figure
 * and its reference are measured in turns (slices A B B A …, or round robin for latencies) so that the
 * noise of a shared machine falls on both and the ratio stays meaningful even when the figure moves.
 * --profile runs the server with --cpu-prof (one server per ingest figure) and prints where its time goes.
 * Prints every figure with its target, reference, ratio and command, then a summary table, and writes
 * bench/results/tracker.json. Exits 0 even when a target is missed; misses are marked MISS.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { SERVER_NODE_FLAGS } from '../src/core/server-node-flags';
import {
  REPO_ROOT, killAll, onCleanup, procStatusBytes, runBenchmark, runJson, startServer, type ServerHandle,
} from './lib/common';
import type { LatencyResult, LatencySpec, ThroughputResult, ThroughputSpec } from './lib/load';
import type { InsertResult, InsertSpec, ReadsResult, ReadsSpec, SeedResult, SeedSpec } from './lib/store-work';
import { printSummary, summarize } from './lib/cpu-profile';

// ---------------------------------------------------------------------------------------------
// Sizes (the whole run stays under ~3 minutes)

const SERVER_CORE = 0;
const CLIENT_CORE = 1;
const WARMUP_S = 1;
const DURATION_S = 5;
/** Throughput phases alternate the measured and the reference side in slices of this length. */
const SLICE_S = 1;
const INSERT_SLICE_S = 0.5;
/** Above this share of core wait a figure is flagged NOISY. */
const NOISY = 0.1;
const BATCH_POINTS = 1000;
const WRITERS = 8;
const SERIES_POINTS = 1_000_000;
const SEARCH_RUNS = 10_000;
const MAX_POINTS = 2000;
const READ_ITERATIONS = 30;
const SEARCH_FILTER = "metrics.acc > 0.5 AND params.optimizer = 'adam'";
const SEARCH_ORDER = ['metrics.acc DESC'];

const args = process.argv.slice(2);
const PROFILE = args.includes('--profile');
const phasesArg = args.find((a) => a.startsWith('--phases='));
const PHASES = new Set((phasesArg ? phasesArg.slice('--phases='.length) : 'ingest,insert,reads').split(','));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'prof');

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  id: number;
  name: string;
  /** The name in the summary table. */
  short: string;
  unit: string;
  value: number;
  /** The target and whether higher or lower is better. */
  target: number;
  better: 'higher' | 'lower';
  reference: number;
  referenceName: string;
  ratio: number;
  ratioName: string;
  /**
   * Share of the measurement the measured processes spent runnable but waiting for their core, i.e.
   * taken by other processes on the machine (NaN: not applicable). High: the absolute figure is
   * depressed by noise; the ratio, measured in turns with the reference, much less so.
   */
  wait: number;
  /** Further conditions of the figure (0 errors, min/max kept); all must hold for a PASS. */
  checks: { name: string; ok: boolean }[];
  pass: boolean;
  command: string;
  referenceCommand: string;
  details: Record<string, unknown>;
}

const figures: Figure[] = [];

function addFigure(f: Omit<Figure, 'pass' | 'checks' | 'ratio'> & { checks?: Figure['checks'] }): Figure {
  const meets = f.better === 'higher' ? f.value >= f.target : f.value <= f.target;
  const checks = f.checks ?? [];
  const figure: Figure = { ...f, checks, ratio: f.value / f.reference, pass: meets && checks.every((c) => c.ok) };
  figures.push(figure);
  printFigure(figure);
  return figure;
}

const fmtNum = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(n);

function fmtValue(n: number, unit: string): string {
  switch (unit) {
    case 'points/s':
    case 'requests/s':
      return `${fmtNum(n)} ${unit}`;
    case 'ms':
      return `${fmtNum(n, 2)} ms`;
    case 'MB':
      return `${fmtNum(n, 1)} MB`;
    default:
      return `${n} ${unit}`;
  }
}

function printFigure(f: Figure): void {
  const verdict = f.pass ? 'PASS' : 'MISS';
  console.log(`\n[${f.id}] ${f.name}  — ${verdict}`);
  console.log(`    measured : ${fmtValue(f.value, f.unit)}`);
  console.log(`    target   : ${f.better === 'higher' ? '≥' : '≤'} ${fmtValue(f.target, f.unit)}`);
  console.log(`    reference: ${fmtValue(f.reference, f.unit)}  (${f.referenceName})`);
  console.log(`    ratio    : ${fmtNum(f.ratio, 3)}  (${f.ratioName})`);
  for (const c of f.checks) console.log(`    check    : ${c.ok ? 'ok  ' : 'MISS'} ${c.name}`);
  if (!Number.isNaN(f.wait)) {
    console.log(`    core wait: ${pct(f.wait)} of the time runnable but waiting for the core${f.wait > NOISY ? '  — NOISY: other processes took the core' : ''}`);
  }
  for (const [k, v] of Object.entries(f.details)) console.log(`    ${k.padEnd(9)}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  console.log(`    command  : ${f.command}`);
  console.log(`    ref. cmd : ${f.referenceCommand}`);
}

function printSummaryTable(): void {
  const rows = figures.map((f) => [
    String(f.id),
    f.short,
    fmtValue(f.value, f.unit),
    `${f.better === 'higher' ? '≥' : '≤'} ${fmtValue(f.target, f.unit)}`,
    fmtValue(f.reference, f.unit),
    fmtNum(f.ratio, 3),
    Number.isNaN(f.wait) ? '-' : pct(f.wait),
    f.pass ? 'PASS' : 'MISS',
  ]);
  const head = ['#', 'figure', 'measured', 'target', 'reference', 'ratio', 'core wait', 'verdict'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  console.log('\nSummary');
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  const misses = figures.filter((f) => !f.pass).map((f) => f.id);
  console.log(misses.length ? `\nMISS: figure(s) ${misses.join(', ')}` : '\nAll targets met.');
  const noisy = figures.filter((f) => f.wait > NOISY).map((f) => f.id);
  if (noisy.length) {
    console.log(
      `NOISY: figure(s) ${noisy.join(', ')} lost more than ${pct(NOISY)} of their time to other processes on their core ("core wait"):` +
        ' their absolute values are depressed; the ratios, measured in turns with the references, much less. Rerun on a quiet machine.',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

const root = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
onCleanup(() => rmSync(root, { recursive: true, force: true }));

const tsx = (script: string, ...rest: string[]) => ['--import', 'tsx', script, ...rest];

async function startTrellis(dataDir: string, profileName?: string): Promise<ServerHandle> {
  const prof = profileName ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, profileName)}`] : [];
  // Node's flags as the `trellis` launcher and the extension start the platform server (src/core/server-node-flags.ts).
  return startServer(SERVER_CORE, [...prof, ...SERVER_NODE_FLAGS, 'dist/cli.js', '-d', dataDir, 'server', '--port', '0'], dataDir, 'trellis server');
}

/** The bare server, bundled like dist/cli.js so that neither carries tsx's loader (fair RSS). */
async function startBare(dataDir: string): Promise<ServerHandle> {
  const outfile = join(root, 'bare-server.js');
  if (!existsSync(outfile)) {
    await esbuild.build({
      entryPoints: [join(REPO_ROOT, 'bench', 'lib', 'bare-server.ts')],
      bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'warning',
    });
  }
  return startServer(SERVER_CORE, [outfile, dataDir], dataDir, 'bare server');
}

async function load<T>(spec: ThroughputSpec | LatencySpec, env: NodeJS.ProcessEnv): Promise<{ result: T; command: string }> {
  return runJson<T>(CLIENT_CORE, tsx('bench/lib/load.ts', JSON.stringify(spec)), 'load', env);
}

async function api(server: ServerHandle, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.token}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function createRun(server: ServerHandle, name: string): Promise<string> {
  const { run } = (await api(server, 'runs/create', { experiment_id: '0', run_name: name, start_time: Date.now() })) as { run: { info: { run_id: string } } };
  return run.info.run_id;
}

const mb = (bytes: number) => bytes / (1024 * 1024);

/** The V8 heap as the server's own /metrics reports it (read after the RSS, which this request may move). */
async function heapOf(server: ServerHandle): Promise<string> {
  try {
    const text = await (await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${server.token}` } })).text();
    const metric = (name: string) => Number(new RegExp(`^trellis_${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    return `V8 heap used ${fmtNum(mb(metric('nodejs_heap_size_used_bytes')), 1)} MB of ${fmtNum(mb(metric('nodejs_heap_size_total_bytes')), 1)} MB, external ${fmtNum(mb(metric('nodejs_external_memory_bytes')), 1)} MB (from /metrics)`;
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  }
}
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

function profileReport(name: string, what = 'the trellis server'): void {
  const dir = join(PROFILE_DIR, name);
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    printSummary(`CPU profile of ${what}, ${name} (${join('bench/results/prof', name, file)})`, summarize(join(dir, file), 20));
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: ingest over HTTP (figures 1, 2, 3 and 5)

async function ingestPhase(): Promise<void> {
  const dataDir = join(root, 'ingest');
  const bareDir = join(root, 'bare');
  let trellis: ServerHandle | undefined;
  let bare: ServerHandle | undefined;
  const servers = () => [trellis, bare].filter((s): s is ServerHandle => s !== undefined);
  try {
    bare = await startBare(bareDir);
    trellis = await startTrellis(dataDir, PROFILE ? 'fig1-log-batch' : undefined);

    // One generator drives both servers, which take turns in slices (A B B A …): both see the same machine.
    const pair = async (kind: ThroughputSpec['kind'], runIds: string[]) => {
      const target = (name: string, s: ServerHandle) => ({ name, host: s.host, port: s.port, pid: s.pid });
      const spec: ThroughputSpec = {
        mode: 'throughput', targets: [target('bare', bare!), target('trellis', trellis!)],
        kind, runIds, pointsPerRequest: kind === 'log-batch' ? BATCH_POINTS : 1,
        warmupS: WARMUP_S, durationS: DURATION_S, sliceS: SLICE_S,
      };
      const { result, command } = await load<Record<string, ThroughputResult>>(spec, { BENCH_TOKENS: JSON.stringify({ trellis: trellis!.token }) });
      const reference = `the same generator run, target "bare" in turns with "trellis"; the bare server: ${bare!.command}`;
      return { own: { ...result.trellis!, command }, ref: { ...result.bare!, command: reference } };
    };
    const loadDetails = (own: ThroughputResult, ref: ThroughputResult) => ({
      'trellis': `${fmtNum(own.requestsPerS)} req/s, ${own.requests} requests in ${own.windowS.toFixed(2)} s (${own.slices} slices), p50 ${own.latencyMs.p50.toFixed(3)} ms, p99 ${own.latencyMs.p99.toFixed(3)} ms, errors ${own.errors}/${own.totalRequests}`,
      'bare': `${fmtNum(ref.requestsPerS)} req/s, p50 ${ref.latencyMs.p50.toFixed(3)} ms, p99 ${ref.latencyMs.p99.toFixed(3)} ms, errors ${ref.errors}/${ref.totalRequests}`,
      'cpu': `server ${pct(own.serverCpu)} / client ${pct(own.clientCpu)} of a core (bare: server ${pct(ref.serverCpu)} / client ${pct(ref.clientCpu)})`,
      'wait': `server ${pct(own.serverWait)} / client ${pct(own.clientWait)} of the time waiting for their cores (bare: ${pct(ref.serverWait)} / ${pct(ref.clientWait)})`,
      'body': `${fmtNum(own.requestBytes)} bytes per request (headers included)`,
      'server': trellis!.command,
      ...(own.errorSample ? { 'error': own.errorSample } : {}),
    });

    // 1. log-batch, 1,000 points per request, one connection.
    {
      const runId = await createRun(trellis, 'bench-log-batch');
      const { own, ref } = await pair('log-batch', [runId]);
      addFigure({
        id: 1, short: 'log-batch HTTP, 1,000 pts/req, 1 conn', name: 'log-batch over HTTP, 1,000 points/request, 1 connection', unit: 'points/s',
        value: own.pointsPerS, target: 200_000, better: 'higher',
        reference: ref.pointsPerS, referenceName: 'bare node:http server: read body, JSON.parse, answer {}',
        ratioName: 'trellis / bare',
        checks: [{ name: `0 errors (${own.errors})`, ok: own.errors === 0 }],
        wait: Math.max(own.serverWait, own.clientWait),
        command: own.command, referenceCommand: ref.command, details: loadDetails(own, ref),
      });
    }
    if (PROFILE) {
      await trellis.stop();
      trellis = await startTrellis(dataDir, 'fig2-log-metric');
    }

    // 2. log-metric, one point per request, one connection.
    {
      const runId = await createRun(trellis, 'bench-log-metric');
      const { own, ref } = await pair('log-metric', [runId]);
      addFigure({
        id: 2, short: 'log-metric HTTP, 1 pt/req, 1 conn', name: 'log-metric over HTTP, 1 point/request, 1 connection', unit: 'requests/s',
        value: own.requestsPerS, target: 5_000, better: 'higher',
        reference: ref.requestsPerS, referenceName: 'bare node:http server, same body',
        ratioName: 'trellis / bare',
        checks: [{ name: `0 errors (${own.errors})`, ok: own.errors === 0 }],
        wait: Math.max(own.serverWait, own.clientWait),
        command: own.command, referenceCommand: ref.command, details: loadDetails(own, ref),
      });
    }
    if (PROFILE) {
      await trellis.stop();
      trellis = await startTrellis(dataDir, 'fig3-writers');
    }

    // 3. 8 writers, each log-batching into its own run.
    {
      const runIds: string[] = [];
      for (let i = 0; i < WRITERS; i++) runIds.push(await createRun(trellis, `bench-writer-${i}`));
      const { own, ref } = await pair('log-batch', runIds);
      addFigure({
        id: 3, short: '8 writers, log-batch HTTP, own runs', name: `${WRITERS} concurrent writers, log-batch of 1,000 points, own run each`, unit: 'points/s',
        value: own.pointsPerS, target: 300_000, better: 'higher',
        reference: ref.pointsPerS, referenceName: `bare node:http server, same ${WRITERS} connections and bodies`,
        ratioName: 'trellis / bare',
        checks: [{ name: `0 errors: non-200 or failed requests = ${own.errors} of ${own.totalRequests}`, ok: own.errors === 0 }],
        wait: Math.max(own.serverWait, own.clientWait),
        command: own.command, referenceCommand: ref.command, details: loadDetails(own, ref),
      });
    }

    // 5. Resident memory after the load.
    {
      const rss = procStatusBytes(trellis.pid, 'VmRSS');
      const bareRss = procStatusBytes(bare.pid, 'VmRSS');
      const parts = (pid: number) =>
        `anon ${fmtNum(mb(procStatusBytes(pid, 'RssAnon')), 1)} MB, file ${fmtNum(mb(procStatusBytes(pid, 'RssFile')), 1)} MB, shmem ${fmtNum(mb(procStatusBytes(pid, 'RssShmem')), 1)} MB, peak ${fmtNum(mb(procStatusBytes(pid, 'VmHWM')), 1)} MB`;
      const trellisParts = parts(trellis.pid);
      const bareParts = parts(bare.pid);
      addFigure({
        id: 5, short: 'server VmRSS after figures 1–3', name: 'server resident memory (VmRSS) after figures 1–3', unit: 'MB',
        value: mb(rss), target: 150, better: 'lower',
        reference: mb(bareRss), referenceName: 'bare server RSS after the same load',
        ratioName: 'trellis / bare', wait: NaN,
        command: `grep VmRSS /proc/${trellis.pid}/status   # ${trellis.command}`,
        referenceCommand: `grep VmRSS /proc/${bare.pid}/status   # ${bare.command}`,
        details: {
          trellis: trellisParts,
          bare: bareParts,
          heap: await heapOf(trellis),
          ...(PROFILE ? { note: 'with --profile the trellis server was restarted before figure 3: this RSS is after figure 3 only' } : {}),
        },
      });
    }
  } finally {
    await Promise.all(servers().map((s) => s.stop()));
  }
  if (PROFILE) for (const name of ['fig1-log-batch', 'fig2-log-metric', 'fig3-writers']) profileReport(name);
}

// ---------------------------------------------------------------------------------------------
// Phase 2: in-process batched insert (figure 4)

async function insertPhase(): Promise<void> {
  const spec: InsertSpec = { mode: 'insert', dir: join(root, 'insert'), pointsPerBatch: BATCH_POINTS, warmupS: WARMUP_S, durationS: DURATION_S, sliceS: INSERT_SLICE_S };
  const prof = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, 'fig4-insert')}`] : [];
  const { result, command } = await runJson<InsertResult>(SERVER_CORE, [...prof, ...tsx('bench/lib/store-work.ts', JSON.stringify(spec))], 'insert');
  addFigure({
    id: 4, short: 'in-process logBatch, 1,000-pt batches', name: 'in-process logBatch, 1,000-point batches, one run (no HTTP)', unit: 'points/s',
    value: result.store.pointsPerS, target: 1_000_000, better: 'higher',
    reference: result.raw.pointsPerS,
    referenceName: 'raw better-sqlite3: plain table (series_id, step, timestamp, value), one prepared INSERT per row, 1 transaction per 1,000 rows, WAL + synchronous=NORMAL',
    ratioName: 'store / raw',
    wait: result.store.wait,
    command, referenceCommand: `${command}   (same process, in turns with the store)`,
    details: {
      store: `${fmtNum(result.store.points)} points in ${result.store.windowS.toFixed(2)} s over ${result.store.slices} slices (after ${WARMUP_S} s warm-up; ${fmtNum(result.store.totalPoints)} in the run); the process got ${pct(result.store.cpu)} of its core and waited for it ${pct(result.store.wait)} of the time`,
      raw: `${fmtNum(result.raw.points)} points in ${result.raw.windowS.toFixed(2)} s over ${result.raw.slices} slices; the process got ${pct(result.raw.cpu)} of its core and waited for it ${pct(result.raw.wait)} of the time`,
    },
  });
  if (PROFILE) profileReport('fig4-insert', 'the insert process (store, then raw reference)');
}

// ---------------------------------------------------------------------------------------------
// Phase 3: reads (figures 6 and 7)

interface SearchRun {
  info: { run_id: string };
  data: { metrics?: { key: string; value: number }[]; params?: { key: string; value: string }[] };
}

async function readsPhase(): Promise<void> {
  const dataDir = join(root, 'reads');
  const seedSpec: SeedSpec = { mode: 'seed', dir: dataDir, seriesPoints: SERIES_POINTS, searchRuns: SEARCH_RUNS };
  const { result: seed, command: seedCommand } = await runJson<SeedResult>(SERVER_CORE, tsx('bench/lib/store-work.ts', JSON.stringify(seedSpec)), 'seed');
  console.log(
    `\nseeded ${fmtNum(seed.points)} points in ${seed.seedSeconds.series.toFixed(1)} s and ${fmtNum(seed.searchRuns)} runs in ${seed.seedSeconds.runs.toFixed(1)} s` +
      ` (global min ${seed.min.value} at step ${seed.min.step}, max ${seed.max.value} at step ${seed.max.step}): ${seedCommand}`,
  );

  const bucket = Math.ceil(SERIES_POINTS / (MAX_POINTS / 2));
  const readsSpec: ReadsSpec = {
    mode: 'reads', dir: dataDir, runId: seed.runId, key: seed.key, bucket, maxPoints: MAX_POINTS,
    searchExperimentId: seed.searchExperimentId, filter: SEARCH_FILTER, orderBy: SEARCH_ORDER, warmup: 3, iterations: READ_ITERATIONS,
  };
  const { result: inProc, command: readsCommand } = await runJson<ReadsResult>(SERVER_CORE, tsx('bench/lib/store-work.ts', JSON.stringify(readsSpec)), 'reads');

  const trellis = await startTrellis(dataDir, PROFILE ? 'reads' : undefined);
  let http: LatencyResult;
  let httpCommand: string;
  const q = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
  try {
    const spec: LatencySpec = {
      mode: 'latency', host: trellis.host, port: trellis.port, pid: trellis.pid,
      requests: [
        {
          name: 'downsample', method: 'GET', warmup: 3, iterations: READ_ITERATIONS,
          path: `/api/trellis/metrics/downsample?${q({ run_id: seed.runId, metric_key: seed.key, max_points: MAX_POINTS })}`,
        },
        {
          // Its own group, last: it scans the whole series, which would disturb the other timings.
          name: 'bulk-interval', group: 'mlflow-bulk', method: 'GET', warmup: 1, iterations: 10,
          path: `/api/2.0/mlflow/metrics/get-history-bulk-interval?${q({ run_ids: seed.runId, metric_key: seed.key, max_results: MAX_POINTS })}`,
        },
        {
          name: 'search-filtered', method: 'POST', warmup: 3, iterations: READ_ITERATIONS, path: '/api/2.0/mlflow/runs/search',
          body: { experiment_ids: [seed.searchExperimentId], filter: SEARCH_FILTER, order_by: SEARCH_ORDER, max_results: 100 },
        },
        {
          name: 'search-unfiltered', method: 'POST', warmup: 3, iterations: READ_ITERATIONS, path: '/api/2.0/mlflow/runs/search',
          body: { experiment_ids: [seed.searchExperimentId], max_results: 100 },
        },
      ],
    };
    ({ result: http, command: httpCommand } = await load<LatencyResult>(spec, { BENCH_TOKEN: trellis.token }));
  } finally {
    await trellis.stop();
  }

  // 6. Downsampled read of the 1M-point series.
  {
    const d = http.downsample!;
    const points = (JSON.parse(d.lastBody) as { points?: { step: number; value: number }[] }).points ?? [];
    const has = (p: { step: number; value: number }) => points.some((x) => x.step === p.step && x.value === p.value);
    const bulk = http['bulk-interval']!;
    const bulkPoints = ((JSON.parse(bulk.lastBody) as { metrics?: unknown[] }).metrics ?? []).length;
    const non200 = d.status.filter((s) => s !== 200).length;
    addFigure({
      id: 6, short: 'downsample 1M pts → ≤2000, HTTP p50', name: `downsampled read, 1M-point series → ≤ ${MAX_POINTS} points (HTTP), median`, unit: 'ms',
      value: d.p50, target: 30, better: 'lower',
      reference: inProc.naive.p50, referenceName: `naive SQL in process: SELECT step/${bucket} b, min(value), max(value) FROM metric_points WHERE series_id=? GROUP BY b (median)`,
      ratioName: 'trellis HTTP / naive SQL in process',
      wait: Math.max(d.serverWait, d.clientWait),
      checks: [
        { name: `p95 ${d.p95.toFixed(2)} ms ≤ 30 ms`, ok: d.p95 <= 30 },
        { name: `${points.length} points returned ≤ ${MAX_POINTS}`, ok: points.length > 0 && points.length <= MAX_POINTS },
        { name: `global min ${seed.min.value} at step ${seed.min.step} is among them`, ok: has(seed.min) },
        { name: `global max ${seed.max.value} at step ${seed.max.step} is among them`, ok: has(seed.max) },
        { name: `all ${d.status.length} reads answered 200 (${non200} did not)`, ok: non200 === 0 },
      ],
      command: httpCommand, referenceCommand: readsCommand,
      details: {
        latency: `median ${d.p50.toFixed(2)} ms, p95 ${d.p95.toFixed(2)} ms over ${d.ms.length} reads`,
        naive: `median ${inProc.naive.p50.toFixed(2)} ms, p95 ${inProc.naive.p95.toFixed(2)} ms, ${inProc.naive.rows} buckets`,
        inproc: `store.runs.metrics.downsample without HTTP: median ${inProc.downsample.p50.toFixed(2)} ms, p95 ${inProc.downsample.p95.toFixed(2)} ms, ${inProc.downsample.points} points`,
        'bulk (info)': `metrics/get-history-bulk-interval max_results=${MAX_POINTS}: median ${bulk.p50.toFixed(1)} ms, p95 ${bulk.p95.toFixed(1)} ms over ${bulk.ms.length} reads, ${bulkPoints} points, status ${[...new Set(bulk.status)].join('/')}`,
      },
    });
  }

  // 7. runs/search over 10,000 runs.
  {
    const f = http['search-filtered']!;
    const u = http['search-unfiltered']!;
    const runs = (JSON.parse(f.lastBody) as { runs?: SearchRun[] }).runs ?? [];
    const unfilteredRuns = ((JSON.parse(u.lastBody) as { runs?: unknown[] }).runs ?? []).length;
    const acc = (r: SearchRun) => r.data.metrics?.find((m) => m.key === 'acc')?.value ?? NaN;
    const optimizer = (r: SearchRun) => r.data.params?.find((p) => p.key === 'optimizer')?.value;
    const sorted = runs.every((r, i) => i === 0 || acc(runs[i - 1]!) >= acc(r));
    const expected = Math.min(100, seed.expectedMatches);
    addFigure({
      id: 7, short: 'runs/search 10k runs, filtered, HTTP p50', name: `runs/search over ${fmtNum(SEARCH_RUNS)} runs, metrics+params filter, order by metric, 100 (HTTP), median`, unit: 'ms',
      value: f.p50, target: 50, better: 'lower',
      reference: u.p50, referenceName: 'the same request with no filter and the default order (median)',
      ratioName: 'filtered / unfiltered',
      wait: Math.max(f.serverWait, f.clientWait),
      checks: [
        { name: `p95 ${f.p95.toFixed(2)} ms ≤ 50 ms`, ok: f.p95 <= 50 },
        { name: `${runs.length} runs returned, expected ${expected} (${seed.expectedMatches} match)`, ok: runs.length === expected },
        { name: 'every run has acc > 0.5 and optimizer = adam', ok: runs.every((r) => acc(r) > 0.5 && optimizer(r) === 'adam') },
        { name: 'ordered by acc descending', ok: sorted },
        { name: `unfiltered returned ${unfilteredRuns} runs (100 expected)`, ok: unfilteredRuns === 100 },
      ],
      command: httpCommand, referenceCommand: httpCommand,
      details: {
        filter: `${SEARCH_FILTER}; order_by ${SEARCH_ORDER.join(', ')}; max_results 100`,
        latency: `filtered median ${f.p50.toFixed(2)} ms, p95 ${f.p95.toFixed(2)} ms; unfiltered median ${u.p50.toFixed(2)} ms, p95 ${u.p95.toFixed(2)} ms (${f.ms.length} reads each)`,
        inproc: `store.runs.search without HTTP: filtered median ${inProc.searchFiltered.p50.toFixed(2)} ms, unfiltered median ${inProc.searchUnfiltered.p50.toFixed(2)} ms`,
        bytes: `response ${fmtNum(f.lastBody.length)} bytes filtered, ${fmtNum(u.lastBody.length)} unfiltered`,
      },
    });
  }
  if (PROFILE) profileReport('reads');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `node esbuild.mjs` first (npm run bench does).');
  const started = Date.now();
  console.log(`Trellis tracker benchmark — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}`);
  if (PROFILE) {
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    console.log('--profile: the trellis server runs with --cpu-prof (timings include the profiler overhead)');
  }
  try {
    if (PHASES.has('ingest')) await ingestPhase();
    if (PHASES.has('insert')) await insertPhase();
    if (PHASES.has('reads')) await readsPhase();
  } finally {
    killAll();
  }
  figures.sort((a, b) => a.id - b.id);
  printSummaryTable();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'tracker.json');
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'tracker',
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        profile: PROFILE,
        seconds: (Date.now() - started) / 1000,
        figures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\n${figures.length} figures in ${((Date.now() - started) / 1000).toFixed(0)} s; written to ${out}`);
}

runBenchmark(main);
