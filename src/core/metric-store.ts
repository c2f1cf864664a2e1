import type { Db } from './db';
import { invalidParameter } from './errors';
import type Database from 'better-sqlite3';
import { byStepThenSeq, evenlySpaced, minMaxEnvelope, splitEvenly, type SeriesPoint } from './downsample';

/** One logged value of a metric, as MLflow's `Metric` message carries it. */
export interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Bits of a point id that hold its position in the series (see metric_points in migrations.ts). */
const SEQ_BITS = 28;
const SERIES_SPAN = 2 ** SEQ_BITS;
/** The rowid of a series' point `seq`; the ids of one series are [base, base + SERIES_SPAN). */
const pointId = (seriesId: number, seq: number): number => seriesId * SERIES_SPAN + seq;

/** Points per block summary: 1M points become ~1k summaries, few enough to read in a millisecond. */
export const BLOCK_SIZE = 1024;
/**
 * Rows per multi-row INSERT, largest first: one statement step for 64 rows instead of 64 steps cuts
 * per-row overhead by about half, and the smaller sizes keep a batch's remainder off the 1-row path.
 */
const INSERT_SIZES = [64, 16, 4, 1] as const;
/** Up to this many points in range, a downsampled read buckets raw points (full detail when zoomed in). */
const RAW_READ_LIMIT = 65_536;
/** MLflow's cap on points returned per run by one history read. */
const HISTORY_LIMIT = 25_000;

interface SeriesRow {
  series_id: number;
  count: number;
  latest_value: number | null;
  latest_timestamp: number;
  latest_step: number;
  max_step: number;
  max_timestamp: number;
}

interface BlockRow {
  block: number;
  n: number;
  step_min: number;
  step_max: number;
  min_seq: number | null;
  min_step: number | null;
  min_timestamp: number | null;
  min_value: number | null;
  max_seq: number | null;
  max_step: number | null;
  max_timestamp: number | null;
  max_value: number | null;
}

const pointKey = (step: number, timestamp: number, value: number): string => `${step}:${timestamp}:${value}`;

/** Drops repeats inside one batch; a batch in strictly increasing (step, timestamp) order has none. */
function withoutRepeats(points: MetricPoint[]): MetricPoint[] {
  let increasing = true;
  for (let i = 1; i < points.length && increasing; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    increasing = b.step > a.step || (b.step === a.step && b.timestamp > a.timestamp);
  }
  if (increasing) return points;
  const seen = new Set<string>();
  return points.filter((p) => {
    const k = pointKey(p.step, p.timestamp, p.value);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** SQLite has no NaN: it is stored as NULL and read back as NaN. */
const toSql = (v: number): number | null => (Number.isNaN(v) ? null : v);
const fromSql = (v: number | null): number => (v === null ? NaN : v);

/** MLflow's rule for the latest value of a key: the greatest (step, timestamp), then the greater value. */
function isNewer(p: MetricPoint, s: SeriesRow): boolean {
  if (p.step !== s.latest_step) return p.step > s.latest_step;
  if (p.timestamp !== s.latest_timestamp) return p.timestamp > s.latest_timestamp;
  return !Number.isNaN(p.value) && (s.latest_value === null || p.value > s.latest_value);
}

/**
 * Append-only store of metric series. Callers wrap `append` in their own transaction so a batch is
 * written whole or not at all.
 */
export class MetricStore {
  private readonly selectSeries: Database.Statement<[string, string], SeriesRow>;
  private readonly insertSeries: Database.Statement;
  private readonly updateSeries: Database.Statement;
  private readonly inserts: { size: number; statement: Database.Statement; args: (number | null)[] }[];
  private readonly upsertBlock: Database.Statement;

  constructor(private readonly db: Db) {
    this.selectSeries = db.prepare(
      'SELECT series_id, count, latest_value, latest_timestamp, latest_step, max_step, max_timestamp FROM metric_series WHERE run_uuid = ? AND key = ?',
    );
    this.insertSeries = db.prepare(
      'INSERT INTO metric_series (run_uuid, key, count, latest_value, latest_timestamp, latest_step, max_step, max_timestamp) VALUES (?, ?, 0, ?, ?, ?, ?, ?)',
    );
    this.updateSeries = db.prepare(
      'UPDATE metric_series SET count = ?, latest_value = ?, latest_timestamp = ?, latest_step = ?, max_step = ?, max_timestamp = ? WHERE series_id = ?',
    );
    const row = '(?, ?, ?, ?)';
    this.inserts = INSERT_SIZES.map((size) => ({
      size,
      statement: db.prepare(`INSERT INTO metric_points (id, step, timestamp, value) VALUES ${Array(size).fill(row).join(', ')}`),
      args: new Array<number | null>(size * 4),
    }));
    // Folds a summary of new points into the stored one in a single statement (no read first); on equal
    // extremes the stored (earlier) point is kept.
    this.upsertBlock = db.prepare(
      `INSERT INTO metric_blocks
       (series_id, block, n, step_min, step_max, min_seq, min_step, min_timestamp, min_value, max_seq, max_step, max_timestamp, max_value)
       VALUES (@series_id, @block, @n, @step_min, @step_max, @min_seq, @min_step, @min_timestamp, @min_value, @max_seq, @max_step, @max_timestamp, @max_value)
       ON CONFLICT (series_id, block) DO UPDATE SET
         n = n + excluded.n,
         step_min = min(step_min, excluded.step_min),
         step_max = max(step_max, excluded.step_max),
         (min_seq, min_step, min_timestamp, min_value) = (
           SELECT CASE WHEN c THEN excluded.min_seq ELSE min_seq END, CASE WHEN c THEN excluded.min_step ELSE min_step END,
                  CASE WHEN c THEN excluded.min_timestamp ELSE min_timestamp END, CASE WHEN c THEN excluded.min_value ELSE min_value END
           FROM (SELECT excluded.min_value IS NOT NULL AND (min_value IS NULL OR excluded.min_value < min_value) AS c)),
         (max_seq, max_step, max_timestamp, max_value) = (
           SELECT CASE WHEN c THEN excluded.max_seq ELSE max_seq END, CASE WHEN c THEN excluded.max_step ELSE max_step END,
                  CASE WHEN c THEN excluded.max_timestamp ELSE max_timestamp END, CASE WHEN c THEN excluded.max_value ELSE max_value END
           FROM (SELECT excluded.max_value IS NOT NULL AND (max_value IS NULL OR excluded.max_value > max_value) AS c))`,
    );
  }

  /** Appends points to the run's series, keeping each key's order. Must run inside a transaction. */
  append(runId: string, points: readonly MetricPoint[]): void {
    const byKey = new Map<string, MetricPoint[]>();
    for (const p of points) {
      const list = byKey.get(p.key);
      if (list) list.push(p);
      else byKey.set(p.key, [p]);
    }
    for (const [key, list] of byKey) this.appendSeries(runId, key, list);
  }

  private appendSeries(runId: string, key: string, batch: MetricPoint[]): void {
    let series = this.selectSeries.get(runId, key);
    let points = withoutRepeats(batch);
    if (series) {
      points = this.withoutStored(series, points);
      if (points.length === 0) return;
    } else {
      const first = points[0]!;
      const id = Number(
        this.insertSeries.run(runId, key, toSql(first.value), first.timestamp, first.step, first.step, first.timestamp).lastInsertRowid,
      );
      series = {
        series_id: id, count: 0, latest_value: toSql(first.value), latest_timestamp: first.timestamp, latest_step: first.step,
        max_step: first.step, max_timestamp: first.timestamp,
      };
    }
    const id = series.series_id;
    const start = series.count;
    this.insertPoints(id, start, points);

    const next = { ...series };
    for (const p of points) {
      if (isNewer(p, next)) {
        next.latest_step = p.step;
        next.latest_timestamp = p.timestamp;
        next.latest_value = toSql(p.value);
      }
      if (p.step > next.max_step) next.max_step = p.step;
      if (p.timestamp > next.max_timestamp) next.max_timestamp = p.timestamp;
    }
    this.updateSeries.run(start + points.length, next.latest_value, next.latest_timestamp, next.latest_step, next.max_step, next.max_timestamp, id);
    this.updateBlocks(id, start, points);
  }

  /**
   * Drops points identical to stored ones (a client retrying a batch whose reply it lost), as MLflow's
   * store ignores a repeated (key, value, timestamp, step). A point beyond the series' largest step or
   * timestamp cannot be a repeat, so ordinary logging never reads back.
   */
  private withoutStored(series: SeriesRow, points: MetricPoint[]): MetricPoint[] {
    const suspects = points.filter((p) => p.step <= series.max_step && p.timestamp <= series.max_timestamp);
    if (suspects.length === 0) return points;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of suspects) {
      lo = Math.min(lo, p.step);
      hi = Math.max(hi, p.step);
    }
    const stored = new Set(
      this.db
        .prepare<[number, number, number], { step: number; timestamp: number; value: number | null }>(
          `SELECT p.step, p.timestamp, p.value FROM metric_blocks b JOIN metric_points p
             ON p.id >= b.series_id * ${SERIES_SPAN} + b.block * ${BLOCK_SIZE} AND p.id < b.series_id * ${SERIES_SPAN} + (b.block + 1) * ${BLOCK_SIZE}
           WHERE b.series_id = ? AND b.step_max >= ? AND b.step_min <= ?`,
        )
        .all(series.series_id, lo, hi)
        .map((r) => pointKey(r.step, r.timestamp, fromSql(r.value))),
    );
    return points.filter((p) => !stored.has(pointKey(p.step, p.timestamp, p.value)));
  }

  private insertPoints(id: number, start: number, points: MetricPoint[]): void {
    if (start + points.length > SERIES_SPAN) {
      throw invalidParameter(`A metric series holds at most ${SERIES_SPAN} points; this batch would take it to ${start + points.length}. Log under a new key.`);
    }
    const base = pointId(id, start);
    let i = 0;
    for (const { size, statement, args } of this.inserts) {
      for (; i + size <= points.length; i += size) {
        for (let j = 0; j < size; j++) {
          const p = points[i + j]!;
          const o = j * 4;
          args[o] = base + i + j;
          args[o + 1] = p.step;
          args[o + 2] = p.timestamp;
          args[o + 3] = toSql(p.value);
        }
        statement.run(args);
      }
    }
  }

  /** Summarises the new points per block and folds each summary into the stored one. */
  private updateBlocks(id: number, start: number, points: MetricPoint[]): void {
    let seq = start;
    let i = 0;
    while (i < points.length) {
      const block = Math.floor(seq / BLOCK_SIZE);
      const end = Math.min(points.length, i + (BLOCK_SIZE - (seq % BLOCK_SIZE)));
      const row: BlockRow = {
        block, n: 0, step_min: points[i]!.step, step_max: points[i]!.step,
        min_seq: null, min_step: null, min_timestamp: null, min_value: null,
        max_seq: null, max_step: null, max_timestamp: null, max_value: null,
      };
      for (; i < end; i++, seq++) {
        const p = points[i]!;
        row.n++;
        if (p.step < row.step_min) row.step_min = p.step;
        if (p.step > row.step_max) row.step_max = p.step;
        if (Number.isNaN(p.value)) continue;
        if (row.min_value === null || p.value < row.min_value) {
          row.min_value = p.value; row.min_seq = seq; row.min_step = p.step; row.min_timestamp = p.timestamp;
        }
        if (row.max_value === null || p.value > row.max_value) {
          row.max_value = p.value; row.max_seq = seq; row.max_step = p.step; row.max_timestamp = p.timestamp;
        }
      }
      this.upsertBlock.run({ series_id: id, ...row });
    }
  }

  seriesId(runId: string, key: string): number | undefined {
    return this.selectSeries.get(runId, key)?.series_id;
  }

  /** Points of a series in the order they were logged, from `offset`, at most `limit` (all when absent). */
  history(runId: string, key: string, offset: number, limit = -1): MetricPoint[] {
    const id = this.seriesId(runId, key);
    if (id === undefined) return [];
    return this.db
      .prepare<[number, number, number], { step: number; timestamp: number; value: number | null }>(
        'SELECT step, timestamp, value FROM metric_points WHERE id >= ? AND id < ? ORDER BY id LIMIT ?',
      )
      .all(pointId(id, offset), pointId(id + 1, 0), limit)
      .map((r) => ({ key, step: r.step, timestamp: r.timestamp, value: fromSql(r.value) }));
  }

  /**
   * At most `maxPoints` points of a series within [startStep, endStep] that keep its min/max envelope:
   * every local extreme at the resolution asked for survives, so spikes never vanish from a chart.
   * Reads block summaries for the interior and raw points only for blocks cut by the range.
   */
  downsample(runId: string, key: string, range: { startStep?: number; endStep?: number; maxPoints: number }): SeriesPoint[] {
    const id = this.seriesId(runId, key);
    if (id === undefined) return [];
    const lo = range.startStep ?? Number.MIN_SAFE_INTEGER;
    const hi = range.endStep ?? Number.MAX_SAFE_INTEGER;
    const blocks = this.db
      .prepare<[number, number, number], BlockRow>(
        'SELECT * FROM metric_blocks WHERE series_id = ? AND step_max >= ? AND step_min <= ? ORDER BY block',
      )
      .all(id, lo, hi);
    const inRange = blocks.reduce((n, b) => n + b.n, 0);
    const rawOf = this.db.prepare<[number, number, number, number, number], { seq: number; step: number; timestamp: number; value: number | null }>(
      'SELECT id - ? AS seq, step, timestamp, value FROM metric_points WHERE id >= ? AND id < ? AND step >= ? AND step <= ? ORDER BY id',
    );
    const raw = (b: BlockRow): SeriesPoint[] =>
      rawOf
        .all(pointId(id, 0), pointId(id, b.block * BLOCK_SIZE), pointId(id, (b.block + 1) * BLOCK_SIZE), lo, hi)
        .map((r) => ({ seq: r.seq, step: r.step, timestamp: r.timestamp, value: fromSql(r.value) }));

    if (inRange <= range.maxPoints) return blocks.flatMap(raw).sort(byStepThenSeq);
    const groups = Math.floor(range.maxPoints / 2);
    if (inRange <= RAW_READ_LIMIT) return minMaxEnvelope(splitEvenly(blocks.flatMap(raw), groups));
    // Long ranges: each whole block contributes its stored min and max; blocks cut by the range, their raw points.
    const perBlock = blocks.map((b) => (b.step_min >= lo && b.step_max <= hi ? summaryPoints(b) : raw(b)));
    return minMaxEnvelope(splitEvenly(perBlock, groups).map((g) => g.flat()));
  }

  /**
   * MLflow's `get-history-bulk-interval`, step for step: the distinct steps of the runs' series in
   * [startStep, endStep] (default [0, last step]) thinned to `maxSteps` evenly spaced ones plus the last,
   * each run's first and last step added, and every point of each run at those steps.
   */
  sampledSteps(runIds: readonly string[], key: string, range: { startStep?: number; endStep?: number; maxSteps: number }): (MetricPoint & { run_id: string })[] {
    const series = runIds.flatMap((run) => {
      const id = this.seriesId(run, key);
      return id === undefined ? [] : [{ run, id }];
    });
    if (series.length === 0) return [];
    const ids = JSON.stringify(series.map((s) => s.id));
    const stepsOf = this.db.prepare<[number, number], number>('SELECT DISTINCT step FROM metric_points WHERE id >= ? AND id < ?').pluck();
    const distinct = new Set<number>();
    for (const { id } of series) for (const step of stepsOf.all(pointId(id, 0), pointId(id + 1, 0))) distinct.add(step);
    const allSteps = [...distinct].sort((a, b) => a - b);
    const start = range.startStep ?? 0;
    const end = range.endStep ?? allSteps[allSteps.length - 1] ?? 0;
    const extremes = this.db
      .prepare('SELECT min(step_min) AS lo, max(step_max) AS hi FROM metric_blocks WHERE series_id IN (SELECT value FROM json_each(?)) GROUP BY series_id')
      .all(ids) as { lo: number; hi: number }[];
    const inRange = allSteps.filter((step) => step >= start && step <= end);
    const chosen = new Set(inRange.length > range.maxSteps ? [...evenlySpaced(inRange, range.maxSteps)] : inRange);
    for (const { lo, hi } of extremes) {
      for (const step of [lo, hi]) if (step >= start && step <= end) chosen.add(step);
    }
    const wanted = JSON.stringify([...chosen].sort((a, b) => a - b));
    const at = this.db.prepare<[number, number, string], { step: number; timestamp: number; value: number | null }>(
      `SELECT step, timestamp, value FROM metric_points WHERE id >= ? AND id < ? AND step IN (SELECT value FROM json_each(?))
       ORDER BY step, timestamp, value LIMIT ${HISTORY_LIMIT}`,
    );
    return series.flatMap(({ run, id }) =>
      at.all(pointId(id, 0), pointId(id + 1, 0), wanted).map((r) => ({ key, run_id: run, step: r.step, timestamp: r.timestamp, value: fromSql(r.value) })),
    );
  }
}

function summaryPoints(b: BlockRow): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  if (b.min_seq !== null) out.push({ seq: b.min_seq, step: b.min_step!, timestamp: b.min_timestamp!, value: b.min_value! });
  if (b.max_seq !== null && b.max_seq !== b.min_seq) {
    out.push({ seq: b.max_seq, step: b.max_step!, timestamp: b.max_timestamp!, value: b.max_value! });
  }
  return out;
}
