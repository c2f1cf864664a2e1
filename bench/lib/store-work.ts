/**
 * In-process work of the tracker benchmark, run pinned to the server's core:
 *   node --import tsx bench/lib/store-work.ts '<JSON spec>'   → one JSON line on stdout
 *
 *  - insert: the store's batched insert (runs.logBatch, 1,000-point batches into one run) against raw
 *    better-sqlite3 inserting the same rows into a plain table, one transaction per batch.
 *  - seed: a 1,000,000-point series and 10,000 searchable runs, logged through the store.
 *  - reads: the naive GROUP BY downsample a store without block summaries would run, and (for the
 *    analysis) the store's own downsample and search called in process, without HTTP.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../../src/core/store';
import type { Metric } from '../../src/core/entities';
import { METRIC_KEYS, metricValue } from './bodies';
import { median, procSchedSeconds, quantile, seededRandom } from './common';

export interface InsertSpec {
  mode: 'insert';
  dir: string;
  pointsPerBatch: number;
  warmupS: number;
  /** Counted seconds per side, in slices of sliceS taken in turns (store, raw, raw, store, …). */
  durationS: number;
  sliceS: number;
}

export interface Rate {
  points: number;
  windowS: number;
  pointsPerS: number;
  slices: number;
  /** CPU this process got over the counted slices, as a share of one core. */
  cpu: number;
  /** Time runnable but waiting for the core (other processes on it), as a share of the counted slices. */
  wait: number;
  totalPoints: number;
}

export interface InsertResult {
  store: Rate;
  raw: Rate;
}

export interface SeedSpec {
  mode: 'seed';
  dir: string;
  seriesPoints: number;
  searchRuns: number;
}

export interface SeedResult {
  runId: string;
  key: string;
  points: number;
  min: { step: number; value: number };
  max: { step: number; value: number };
  searchExperimentId: string;
  searchRuns: number;
  /** Runs the filtered search must match (acc > 0.5 and optimizer = 'adam'). */
  expectedMatches: number;
  seedSeconds: { series: number; runs: number };
}

export interface ReadsSpec {
  mode: 'reads';
  dir: string;
  runId: string;
  key: string;
  bucket: number;
  maxPoints: number;
  searchExperimentId: string;
  filter: string;
  orderBy: string[];
  warmup: number;
  iterations: number;
}

export interface Timing {
  ms: number[];
  p50: number;
  p95: number;
}

export interface ReadsResult {
  naive: Timing & { rows: number };
  downsample: Timing & { points: number };
  searchFiltered: Timing & { runs: number };
  searchUnfiltered: Timing & { runs: number };
}

/** Reused batch objects: each call rewrites steps and timestamps (4 keys per step, like a training loop). */
function batchFiller(points: number): { batch: Metric[]; fill: (n: number) => void } {
  const rand = seededRandom(7);
  const keys = METRIC_KEYS.length;
  const batch: Metric[] = [];
  for (let i = 0; i < points; i++) {
    const key = METRIC_KEYS[i % keys]!;
    batch.push({ key, value: metricValue(key, Math.floor(i / keys), rand), timestamp: 0, step: 0 });
  }
  const stepsPerBatch = Math.ceil(points / keys);
  return {
    batch,
    fill(n) {
      const now = Date.now();
      for (let i = 0; i < points; i++) {
        const m = batch[i]!;
        m.step = n * stepsPerBatch + Math.floor(i / keys);
        m.timestamp = now;
      }
    },
  };
}

interface Side {
  insert: (n: number) => void;
  n: number;
  batches: number;
  windowS: number;
  cpuS: number;
  waitS: number;
  slices: number;
}

/** Inserts batches for `seconds`; counted slices add to the side's totals. */
function runSlice(side: Side, seconds: number, counted: boolean): void {
  const cpu0 = process.cpuUsage();
  const wait0 = procSchedSeconds(process.pid).wait;
  const t0 = performance.now();
  let batches = 0;
  let t = t0;
  while (t - t0 < seconds * 1000) {
    side.insert(side.n++);
    batches++;
    t = performance.now();
  }
  if (!counted) return;
  const cpu = process.cpuUsage(cpu0);
  side.batches += batches;
  side.windowS += (t - t0) / 1000;
  side.cpuS += (cpu.user + cpu.system) / 1e6;
  side.waitS += procSchedSeconds(process.pid).wait - wait0;
  side.slices++;
}

function insert(spec: InsertSpec): InsertResult {
  const { batch, fill } = batchFiller(spec.pointsPerBatch);
  const side = (fn: (n: number) => void): Side => ({ insert: fn, n: 0, batches: 0, windowS: 0, cpuS: 0, waitS: 0, slices: 0 });

  const store = openStore(join(spec.dir, 'store'));
  const runId = store.runs.create({ experiment_id: '0', run_name: 'insert-bench' }).info.run_id;
  const storeSide = side((n) => {
    fill(n);
    store.runs.logBatch(runId, { metrics: batch });
  });

  // The reference: what a plain table with one prepared INSERT per row costs on the same settings.
  const rawDir = join(spec.dir, 'raw');
  mkdirSync(rawDir, { recursive: true });
  const db = new Database(join(rawDir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -32000');
  db.pragma('mmap_size = 268435456');
  db.exec('CREATE TABLE points (series_id INTEGER NOT NULL, step INTEGER NOT NULL, timestamp INTEGER NOT NULL, value REAL)');
  const row = db.prepare('INSERT INTO points (series_id, step, timestamp, value) VALUES (?, ?, ?, ?)');
  const seriesOf = new Map<string, number>(METRIC_KEYS.map((k, i) => [k, i + 1]));
  const insertBatch = db.transaction((metrics: Metric[]) => {
    for (const m of metrics) row.run(seriesOf.get(m.key)!, m.step, m.timestamp, m.value);
  });
  const rawSide = side((n) => {
    fill(n);
    insertBatch(batch);
  });

  // Warm-up, then turns (store, raw, raw, store, …) so that noise and drift fall on both sides alike.
  runSlice(storeSide, spec.warmupS, false);
  runSlice(rawSide, spec.warmupS, false);
  const slices = Math.max(1, Math.round(spec.durationS / spec.sliceS));
  for (let i = 0; i < slices; i++) {
    const order = i % 2 === 0 ? [storeSide, rawSide] : [rawSide, storeSide];
    for (const s of order) runSlice(s, spec.sliceS, true);
  }
  store.close();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const rate = (s: Side): Rate => ({
    points: s.batches * spec.pointsPerBatch,
    windowS: s.windowS,
    pointsPerS: (s.batches * spec.pointsPerBatch) / s.windowS,
    slices: s.slices,
    cpu: s.cpuS / s.windowS,
    wait: s.waitS / s.windowS,
    totalPoints: s.n * spec.pointsPerBatch,
  });
  return { store: rate(storeSide), raw: rate(rawSide) };
}

const OPTIMIZERS = ['adam', 'sgd', 'adamw', 'rmsprop'];

function seed(spec: SeedSpec): SeedResult {
  const store = openStore(spec.dir);
  const rand = seededRandom(42);

  // A long training curve: decaying loss with noise, one spike up and one dip down that a chart must show.
  const t0 = performance.now();
  const runId = store.runs.create({ experiment_id: '0', run_name: 'long-run' }).info.run_id;
  const key = 'loss';
  const spikeStep = Math.floor(spec.seriesPoints * 0.612345);
  const dipStep = Math.floor(spec.seriesPoints * 0.387654);
  let min = { step: -1, value: Infinity };
  let max = { step: -1, value: -Infinity };
  const start = Date.now() - spec.seriesPoints * 10;
  const batchSize = 1000;
  for (let s0 = 0; s0 < spec.seriesPoints; s0 += batchSize) {
    const metrics: Metric[] = [];
    for (let step = s0; step < Math.min(spec.seriesPoints, s0 + batchSize); step++) {
      let value = 2.3 * Math.exp(-step / (spec.seriesPoints / 5)) + 0.05 + 0.03 * Math.sin(step / 37) + 0.02 * rand();
      if (step === spikeStep) value = 9.75;
      if (step === dipStep) value = -0.5;
      if (value < min.value) min = { step, value };
      if (value > max.value) max = { step, value };
      metrics.push({ key, value, timestamp: start + step * 10, step });
    }
    store.runs.logBatch(runId, { metrics });
  }
  const seriesSeconds = (performance.now() - t0) / 1000;

  // Runs to search: 3 params and 3 metrics each, in one transaction (the store nests its own).
  const t1 = performance.now();
  const searchExperimentId = store.experiments.create('search-bench');
  let expectedMatches = 0;
  store.db.transaction(() => {
    for (let i = 0; i < spec.searchRuns; i++) {
      const id = store.runs.create({ experiment_id: searchExperimentId, run_name: `run-${i}`, start_time: start + i * 1000 }).info.run_id;
      const optimizer = OPTIMIZERS[Math.floor(rand() * OPTIMIZERS.length)]!;
      const acc = rand();
      if (acc > 0.5 && optimizer === 'adam') expectedMatches++;
      const now = start + i * 1000 + 500;
      store.runs.logBatch(id, {
        params: [
          { key: 'optimizer', value: optimizer },
          { key: 'lr', value: String(10 ** -(2 + rand() * 3)) },
          { key: 'batch_size', value: String(2 ** (5 + Math.floor(rand() * 4))) },
        ],
        metrics: [
          { key: 'acc', value: acc, timestamp: now, step: 10 },
          { key: 'loss', value: 2 * (1 - acc) + 0.1 * rand(), timestamp: now, step: 10 },
          { key: 'f1', value: acc * (0.9 + 0.1 * rand()), timestamp: now, step: 10 },
        ],
      });
    }
  })();
  const runsSeconds = (performance.now() - t1) / 1000;
  store.close();
  return {
    runId, key, points: spec.seriesPoints, min, max, searchExperimentId, searchRuns: spec.searchRuns, expectedMatches,
    seedSeconds: { series: seriesSeconds, runs: runsSeconds },
  };
}

function timed<T>(warmup: number, iterations: number, fn: () => T): Timing & { last: T } {
  let last = fn();
  for (let i = 1; i < warmup; i++) last = fn();
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    last = fn();
    ms.push(performance.now() - t0);
  }
  return { ms, p50: median(ms), p95: quantile(ms, 0.95), last };
}

function reads(spec: ReadsSpec): ReadsResult {
  const store = openStore(spec.dir);
  const seriesId = store.runs.metrics.seriesId(spec.runId, spec.key);
  if (seriesId === undefined) throw new Error(`no series ${spec.key} in run ${spec.runId}`);
  const naiveSql = store.db.prepare(
    `SELECT step / ${spec.bucket} AS b, min(value) AS lo, max(value) AS hi FROM metric_points WHERE series_id = ? GROUP BY b`,
  );
  const naive = timed(spec.warmup, spec.iterations, () => naiveSql.all(seriesId));
  const downsample = timed(spec.warmup, spec.iterations, () =>
    store.runs.metrics.downsample(spec.runId, spec.key, { maxPoints: spec.maxPoints }),
  );
  const searchFiltered = timed(spec.warmup, spec.iterations, () =>
    store.runs.search({ experimentIds: [spec.searchExperimentId], filter: spec.filter, orderBy: spec.orderBy, maxResults: 100 }),
  );
  const searchUnfiltered = timed(spec.warmup, spec.iterations, () =>
    store.runs.search({ experimentIds: [spec.searchExperimentId], maxResults: 100 }),
  );
  store.db.close();
  const strip = <T extends { last: unknown }>({ last: _last, ...rest }: T) => rest;
  return {
    naive: { ...strip(naive), rows: naive.last.length },
    downsample: { ...strip(downsample), points: downsample.last.length },
    searchFiltered: { ...strip(searchFiltered), runs: searchFiltered.last.items.length },
    searchUnfiltered: { ...strip(searchUnfiltered), runs: searchUnfiltered.last.items.length },
  };
}

const spec = JSON.parse(process.argv[2] ?? '') as InsertSpec | SeedSpec | ReadsSpec;
const result = spec.mode === 'insert' ? insert(spec) : spec.mode === 'seed' ? seed(spec) : reads(spec);
process.stdout.write(`${JSON.stringify(result)}\n`);
