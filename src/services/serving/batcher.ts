/**
 * The dynamic batcher: one per served model version. Requests whose inputs all have a dynamic batch
 * dimension (dim 0) wait briefly in a bounded queue, are concatenated along dim 0 into one engine run,
 * and the outputs are split back by each request's row count, so each reply goes to its own request.
 * A batcher wraps exactly one engine (one model version), so batches never mix models or versions.
 *
 * When a batch goes (the first rule that holds):
 *   - the queued rows fill `maxBatchSize` (or the next request would not fit; a request larger than
 *     `maxBatchSize` runs alone);
 *   - the oldest request has waited `maxQueueDelayUs`;
 *   - the rows reach a preferred batch size: at once, or in adaptive mode when waiting is not worth it;
 *   - adaptive mode (without preferred sizes): when waiting is not worth it (see `adaptiveShouldDispatch`).
 * At most `maxConcurrentBatches` batches run at once (the engine's workers); while they are busy the
 * queue keeps filling, which is where batching pays off under load.
 */
import type { InferenceEngine, ModelSignature, Tensor, TensorData } from '../../engines/onnx/types';
import { KServeError } from './kserve-codec';

export interface BatcherOptions {
  /** Most rows (dim 0) in one engine run; a single larger request runs alone. */
  maxBatchSize: number;
  /** Longest time the oldest queued request waits for a batch to fill, in microseconds. */
  maxQueueDelayUs: number;
  /** Batch sizes to dispatch as soon as the queued rows reach one (adaptive: when waiting is not worth it). */
  preferredBatchSizes?: number[];
  /** Requests queued at once; beyond it `submit` rejects with 503. */
  maxQueueSize: number;
  /** A request still queued after this long is rejected (503 with Retry-After); 0: never. */
  timeoutMs: number;
  /** Decide to wait or dispatch from a fit of measured batch time against size, within the delay. */
  adaptive?: boolean;
  /** Batches running at once (default: no limit). */
  maxConcurrentBatches?: number;
  /** Seconds a 503 asks the client to wait (default 1). */
  retryAfterSeconds?: number;
  /** Names the model in error messages. */
  label?: string;
  /** After each engine run: its rows, how long each of its requests waited in the queue, and the run's time (ms). */
  onBatch?: (rows: number, waitedMs: number[], computeMs: number) => void;
}

/** The `trellis serve` defaults. */
export const DEFAULT_BATCHING: BatcherOptions = { maxBatchSize: 32, maxQueueDelayUs: 500, maxQueueSize: 1024, timeoutMs: 30_000 };

export interface BatcherStats {
  /** Engine runs made by the batcher. */
  batches: number;
  requests: number;
  rows: number;
  /** Mean rows per batch (0 before the first). */
  meanBatchSize: number;
  /** Requests waiting now. */
  queueDepth: number;
  rejectedFull: number;
  timedOut: number;
  /** The current fit time(ms) = a + b·rows (adaptive), from `samples` batches. */
  fit: { a: number; b: number; samples: number };
}

interface Pending {
  inputs: Tensor[];
  rows: number;
  /** Requests with different keys (input names, datatypes, inner dims) cannot be concatenated. */
  key: string;
  enqueuedAt: number;
  resolve: (outputs: Tensor[]) => void;
  reject: (err: Error) => void;
}

/**
 * Weighted least squares y = a + b·x with exponential forgetting (recent batches count more, so the
 * fit follows a machine whose speed changes).
 */
export class LinearFit {
  private w = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;
  samples = 0;

  constructor(private readonly decay = 0.98) {}

  add(x: number, y: number): void {
    const d = this.decay;
    this.w = this.w * d + 1;
    this.sx = this.sx * d + x;
    this.sy = this.sy * d + y;
    this.sxx = this.sxx * d + x * x;
    this.sxy = this.sxy * d + x * y;
    this.samples++;
  }

  /** The fit, or undefined until two different sizes were measured. */
  get(): { a: number; b: number } | undefined {
    const det = this.w * this.sxx - this.sx * this.sx;
    if (this.samples < 2 || det <= 1e-9 * Math.max(1, this.w * this.sxx)) return undefined;
    const b = (this.w * this.sxy - this.sx * this.sy) / det;
    const a = (this.sy - b * this.sx) / this.w;
    return { a, b };
  }
}

/**
 * The adaptive rule. With `rows` queued, the fit time(n) = a + b·n says each batch costs a fixed `a`
 * beyond its per-row cost. Waiting for one more request (expected in `interArrivalMs`, the measured
 * mean gap between arrivals) lets it share this batch's fixed cost instead of paying `a` again in a
 * batch of its own, and costs each of the `rows` queued rows that wait: `rows × interArrivalMs` in
 * all. So wait only while `rows × interArrivalMs < a` and the wait still ends within the delay bound;
 * otherwise dispatch now. Without a fit or an arrival estimate yet: wait (up to the delay, as without
 * adaptive mode), which also gives the fit batches of varied sizes to learn from.
 */
export function adaptiveShouldDispatch(p: { rows: number; fit: { a: number; b: number } | undefined; interArrivalMs: number | undefined; waitedMs: number; maxDelayMs: number }): boolean {
  if (!p.fit || p.interArrivalMs === undefined) return false;
  if (p.waitedMs + p.interArrivalMs > p.maxDelayMs) return true;
  return p.rows * p.interArrivalMs >= Math.max(0, p.fit.a);
}

const now = (): number => performance.now();

export class DynamicBatcher {
  private readonly queue: Pending[] = [];
  private readonly preferred: Set<number>;
  private readonly maxDelayMs: number;
  private readonly maxConcurrent: number;
  private readonly retryAfter: number;
  private readonly fit = new LinearFit();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = 0;
  private idle: (() => void)[] = [];
  private closed = false;
  /** Set when a batched output could not be split by rows: from then on requests run alone. */
  private unsplittable = false;
  private lastArrival: number | undefined;
  private interArrival: number | undefined;
  private counts = { batches: 0, requests: 0, rows: 0, rejectedFull: 0, timedOut: 0 };

  /** False when some input has no dynamic dim 0 (a fixed batch dimension, or a scalar): do not batch. */
  static supports(signature: ModelSignature): boolean {
    return signature.inputs.length > 0 && signature.inputs.every((t) => t.shape.length > 0 && t.shape[0] === -1);
  }

  constructor(
    private readonly engine: InferenceEngine,
    private readonly options: BatcherOptions,
  ) {
    const whole = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${v}.`);
    };
    whole('maxBatchSize', options.maxBatchSize, 1);
    whole('maxQueueSize', options.maxQueueSize, 1);
    if (!(options.maxQueueDelayUs >= 0)) throw new Error(`maxQueueDelayUs must be ≥ 0, got ${options.maxQueueDelayUs}.`);
    if (!(options.timeoutMs >= 0)) throw new Error(`timeoutMs must be ≥ 0, got ${options.timeoutMs}.`);
    for (const p of options.preferredBatchSizes ?? []) {
      whole('a preferred batch size', p, 1);
      if (p > options.maxBatchSize) throw new Error(`preferred batch size ${p} is larger than maxBatchSize ${options.maxBatchSize}.`);
    }
    if (!DynamicBatcher.supports(engine.signature)) throw new Error(`${this.label()}: batching needs a dynamic batch dimension (dim 0) on every input.`);
    this.preferred = new Set(options.preferredBatchSizes ?? []);
    this.maxDelayMs = options.maxQueueDelayUs / 1000;
    this.maxConcurrent = options.maxConcurrentBatches ?? Infinity;
    this.retryAfter = options.retryAfterSeconds ?? 1;
  }

  /** Runs the request in a batch; resolves with its own outputs (all of them, in the engine's order). */
  submit(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.closed) return Promise.reject(new KServeError(503, `${this.label()} is shutting down.`, this.retryAfter));
    const rows = inputs[0]?.shape[0];
    // Nothing to concatenate on (no inputs, a scalar, disagreeing dim 0, no rows): the engine decides.
    if (this.unsplittable || rows === undefined || rows < 1 || inputs.some((t) => t.shape.length === 0 || t.shape[0] !== rows)) return this.engine.infer(inputs);
    if (this.queue.length >= this.options.maxQueueSize) {
      this.counts.rejectedFull++;
      return Promise.reject(
        new KServeError(503, `${this.label()} is overloaded: the batch queue is full (${this.queue.length} requests waiting). Retry later.`, this.retryAfter),
      );
    }
    const t = now();
    if (this.lastArrival !== undefined) {
      const gap = t - this.lastArrival;
      this.interArrival = this.interArrival === undefined ? gap : 0.8 * this.interArrival + 0.2 * gap;
    }
    this.lastArrival = t;
    const key = inputs.map((x) => `${x.name}:${x.datatype}:${x.shape.slice(1).join('x')}`).join('|');
    return new Promise<Tensor[]>((resolve, reject) => {
      this.queue.push({ inputs, rows, key, enqueuedAt: t, resolve, reject });
      this.pump();
    });
  }

  stats(): BatcherStats {
    const f = this.fit.get();
    return {
      ...this.counts,
      meanBatchSize: this.counts.batches ? this.counts.rows / this.counts.batches : 0,
      queueDepth: this.queue.length,
      fit: { a: f?.a ?? 0, b: f?.b ?? 0, samples: this.fit.samples },
    };
  }

  /** Rejects every queued request (503) and refuses new ones; resolves once running batches finish. Leaves the engine open. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    for (const p of this.queue.splice(0)) p.reject(new KServeError(503, `${this.label()} is shutting down.`, this.retryAfter));
    if (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private label(): string {
    return this.options.label ?? 'the model';
  }

  /** Rejects timed-out requests, dispatches every batch that is due, and sets the timer for the next check. */
  private pump(): void {
    if (this.closed) return;
    const t = now();
    if (this.options.timeoutMs > 0) {
      // The queue stays in arrival order, so the timed-out requests are at its front.
      while (this.queue.length > 0 && t - this.queue[0]!.enqueuedAt >= this.options.timeoutMs) {
        const p = this.queue.shift()!;
        this.counts.timedOut++;
        p.reject(new KServeError(503, `${this.label()}: the request timed out after ${this.options.timeoutMs} ms waiting in the batch queue. Retry later.`, this.retryAfter));
      }
    }
    while (this.queue.length > 0 && this.running < this.maxConcurrent) {
      const batch = this.due(t);
      if (!batch) break;
      for (const p of batch) this.queue.splice(this.queue.indexOf(p), 1);
      void this.run(batch);
    }
    this.schedule();
  }

  /** The batch to dispatch now, or undefined to keep waiting. */
  private due(t: number): Pending[] | undefined {
    const head = this.queue[0]!;
    const max = this.options.maxBatchSize;
    if (head.rows >= max || this.unsplittable) return [head];
    const batch = [head];
    let rows = head.rows;
    let full = false;
    for (let i = 1; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (p.key !== head.key) continue;
      if (rows + p.rows > max) {
        full = true;
        break;
      }
      batch.push(p);
      rows += p.rows;
    }
    if (full || rows >= max) return batch;
    const waited = t - head.enqueuedAt;
    if (waited >= this.maxDelayMs) return batch;
    const atPreferred = this.preferred.has(rows);
    if (!this.options.adaptive) return atPreferred ? batch : undefined;
    if (this.preferred.size > 0 && !atPreferred) return undefined;
    const go = adaptiveShouldDispatch({ rows, fit: this.fit.get(), interArrivalMs: this.interArrival, waitedMs: waited, maxDelayMs: this.maxDelayMs });
    return go ? batch : undefined;
  }

  private schedule(): void {
    let at = Infinity;
    const head = this.queue[0];
    if (head) {
      // While every batch slot is busy, the next check comes when a batch finishes (or a timeout is due).
      if (this.running < this.maxConcurrent) at = head.enqueuedAt + this.maxDelayMs;
      if (this.options.timeoutMs > 0) at = Math.min(at, head.enqueuedAt + this.options.timeoutMs);
    }
    if (at === this.timerAt) return;
    this.clearTimer();
    if (at === Infinity) return;
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, at - now()),
    );
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private async run(batch: Pending[]): Promise<void> {
    this.running++;
    const rows = batch.reduce((n, p) => n + p.rows, 0);
    this.counts.batches++;
    this.counts.requests += batch.length;
    this.counts.rows += rows;
    try {
      const inputs = batch.length === 1 ? batch[0]!.inputs : batch[0]!.inputs.map((t, i) => concat(batch.map((p) => p.inputs[i]!), rows));
      const started = now();
      const outputs = await this.engine.infer(inputs);
      const computeMs = now() - started;
      this.fit.add(rows, computeMs);
      this.options.onBatch?.(rows, batch.map((p) => started - p.enqueuedAt), computeMs);
      if (batch.length === 1) batch[0]!.resolve(outputs);
      else if (outputs.every((o) => o.shape.length > 0 && o.shape[0] === rows)) {
        let offset = 0;
        for (const p of batch) {
          p.resolve(outputs.map((o) => sliceRows(o, offset, p.rows)));
          offset += p.rows;
        }
      } else {
        // An output without the batch on dim 0 cannot be split: run these alone, and every later request too.
        this.unsplittable = true;
        await Promise.all(batch.map((p) => this.engine.infer(p.inputs).then(p.resolve, p.reject)));
      }
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
    } finally {
      this.running--;
      if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
      this.pump();
    }
  }
}

type AnyArrayCtor = new (n: number) => Exclude<TensorData, string[]>;

/** The tensors (same name, datatype and inner dims) stacked along dim 0. */
function concat(parts: Tensor[], rows: number): Tensor {
  const first = parts[0]!;
  const shape = [rows, ...first.shape.slice(1)];
  if (Array.isArray(first.data)) return { name: first.name, datatype: first.datatype, shape, data: parts.flatMap((p) => p.data as string[]) };
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = new (first.data.constructor as AnyArrayCtor)(total);
  let offset = 0;
  for (const p of parts) {
    (data as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.data as ArrayLike<number | bigint>, offset);
    offset += p.data.length;
  }
  return { name: first.name, datatype: first.datatype, shape, data };
}

/** Rows [start, start + count) of a tensor whose dim 0 is the batch (a copy, not a view of the batch). */
function sliceRows(t: Tensor, start: number, count: number): Tensor {
  const rowSize = t.shape[0]! === 0 ? 0 : t.data.length / t.shape[0]!;
  const shape = [count, ...t.shape.slice(1)];
  return { name: t.name, datatype: t.datatype, shape, data: t.data.slice(start * rowSize, (start + count) * rowSize) as TensorData };
}
