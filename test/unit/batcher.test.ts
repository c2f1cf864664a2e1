// The dynamic batcher over a small in-test engine that implements InferenceEngine honestly: it records
// every batch it receives and answers, per row, a deterministic function of that row (so a reply that
// went to the wrong request, or was split at the wrong row, is caught). No timing assertions: delays
// are either long enough to never fire in a test or only awaited.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adaptiveShouldDispatch, DynamicBatcher, LinearFit, type BatcherOptions } from '../../src/services/serving/batcher';
import { KServeError } from '../../src/services/serving/kserve-codec';
import type { InferenceEngine, ModelSignature, Tensor } from '../../src/engines/onnx/types';

const WIDTH = 3;
const NEVER_US = 60_000_000; // a delay that never fires during a test

/** y[r] = [sum(x[r]), 10·x[r][0]]: [batch, 3] → [batch, 2]. */
class RowEngine implements InferenceEngine {
  readonly batches: number[] = [];
  readonly signature: ModelSignature;
  /** While set, runs wait for `release()`. */
  private held: (() => void)[] | undefined;
  failNext = false;
  /** Answer one row for the whole batch (an output whose dim 0 is not the batch). */
  collapse = false;

  constructor(dim0 = -1, inner = WIDTH) {
    this.signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [dim0, inner] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [dim0, 2] }] };
  }
  hold(): void {
    this.held = [];
  }
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }
  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    const x = inputs[0]!;
    const rows = x.shape[0]!;
    const inner = x.shape[1]!;
    this.batches.push(rows);
    if (this.held) await new Promise<void>((resolve) => this.held!.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('engine exploded');
    }
    const data = x.data as Float32Array;
    const outRows = this.collapse ? 1 : rows;
    const y = new Float32Array(outRows * 2);
    for (let r = 0; r < outRows; r++) {
      let sum = 0;
      for (let c = 0; c < inner; c++) sum += data[r * inner + c]!;
      y[r * 2] = sum;
      y[r * 2 + 1] = 10 * data[r * inner]!;
    }
    return [{ name: 'y', datatype: 'FP32', shape: [outRows, 2], data: y }];
  }
  async close(): Promise<void> {}
}

/** A request of `rows` rows whose values identify it: row r of request id is [id, r, id·r]. */
function request(id: number, rows: number, inner = WIDTH): Tensor[] {
  const data = new Float32Array(rows * inner);
  for (let r = 0; r < rows; r++) for (let c = 0; c < inner; c++) data[r * inner + c] = [id, r, id * r][c % 3]!;
  return [{ name: 'x', datatype: 'FP32', shape: [rows, inner], data }];
}

function expected(id: number, rows: number, inner = WIDTH): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < inner; c++) sum += [id, r, id * r][c % 3]!;
    out.push(sum, 10 * id);
  }
  return out;
}

const opts = (o: Partial<BatcherOptions> = {}): BatcherOptions => ({ maxBatchSize: 32, maxQueueDelayUs: NEVER_US, maxQueueSize: 100, timeoutMs: 0, ...o });

function assertReply(out: Tensor[], id: number, rows: number, inner = WIDTH): void {
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.shape, [rows, 2]);
  assert.deepEqual([...(out[0]!.data as Float32Array)], expected(id, rows, inner), `reply to request ${id}`);
}

describe('DynamicBatcher', () => {
  test('supports() only signatures whose every input has a dynamic dim 0', () => {
    assert.equal(DynamicBatcher.supports(new RowEngine().signature), true);
    assert.equal(DynamicBatcher.supports(new RowEngine(1).signature), false);
    assert.equal(DynamicBatcher.supports({ inputs: [{ name: 's', datatype: 'FP32', shape: [] }], outputs: [] }), false);
    assert.equal(
      DynamicBatcher.supports({ inputs: [{ name: 'a', datatype: 'FP32', shape: [-1, 2] }, { name: 'b', datatype: 'FP32', shape: [4, 2] }], outputs: [] }),
      false,
    );
    assert.throws(() => new DynamicBatcher(new RowEngine(1), opts()), /dynamic batch dimension/);
  });

  test('concatenates requests of mixed sizes on dim 0 and splits each reply back to its request', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ preferredBatchSizes: [12] }));
    const sizes = [1, 3, 2, 5, 1];
    const replies = await Promise.all(sizes.map((rows, id) => batcher.submit(request(id + 1, rows))));
    assert.deepEqual(engine.batches, [12], 'one engine run of all 12 rows');
    sizes.forEach((rows, id) => assertReply(replies[id]!, id + 1, rows));
    const s = batcher.stats();
    assert.equal(s.batches, 1);
    assert.equal(s.requests, 5);
    assert.equal(s.meanBatchSize, 12);
    assert.equal(s.queueDepth, 0);
  });

  test('never exceeds maxBatchSize; a request larger than it runs alone', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ maxBatchSize: 4 }));
    const singles = Array.from({ length: 8 }, (_, i) => batcher.submit(request(i, 1)));
    const big = batcher.submit(request(100, 6));
    const threes = [batcher.submit(request(200, 3)), batcher.submit(request(201, 3))];
    (await Promise.all(singles)).forEach((out, i) => assertReply(out, i, 1));
    assertReply(await big, 100, 6);
    // 3 + 3 > 4: the first three goes as soon as the second cannot join it; the second waits for company.
    assertReply(await threes[0]!, 200, 3);
    assert.deepEqual(engine.batches, [4, 4, 6, 3]);
    assert.equal(batcher.stats().queueDepth, 1);
    await batcher.close();
    await assert.rejects(threes[1]!, (err: unknown) => err instanceof KServeError && err.status === 503 && /shutting down/.test(err.message));
    assert.ok(engine.batches.every((n) => n <= 6));
  });

  test('never mixes requests that cannot be concatenated, nor two models', async () => {
    const wide: ModelSignature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }] };
    const engine = new RowEngine();
    Object.assign(engine, { signature: wide });
    const batcher = new DynamicBatcher(engine, opts({ maxBatchSize: 4 }));
    const other = new RowEngine();
    const otherBatcher = new DynamicBatcher(other, opts({ maxBatchSize: 4 }));
    const a = [batcher.submit(request(1, 1, 3)), batcher.submit(request(2, 1, 4)), otherBatcher.submit(request(9, 2))];
    const b = [batcher.submit(request(3, 3, 3)), batcher.submit(request(4, 3, 4)), otherBatcher.submit(request(10, 2))];
    const [r1, r2, r9] = await Promise.all(a);
    const [r3, r4, r10] = await Promise.all(b);
    assertReply(r1!, 1, 1, 3);
    assertReply(r3!, 3, 3, 3);
    assertReply(r2!, 2, 1, 4);
    assertReply(r4!, 4, 3, 4);
    assertReply(r9!, 9, 2);
    assertReply(r10!, 10, 2);
    assert.deepEqual(engine.batches, [4, 4], 'width-3 rows and width-4 rows in separate runs');
    assert.deepEqual(other.batches, [4], 'the other model saw only its own requests');
  });

  test('the oldest request goes once it has waited maxQueueDelayUs', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ maxQueueDelayUs: 5_000 }));
    const replies = await Promise.all([batcher.submit(request(1, 2)), batcher.submit(request(2, 1))]);
    assertReply(replies[0]!, 1, 2);
    assertReply(replies[1]!, 2, 1);
    assert.deepEqual(engine.batches, [3], 'both requests queued before the delay ran out went together');
  });

  test('a preferred size dispatches at once', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ preferredBatchSizes: [2, 5] }));
    const first = [batcher.submit(request(1, 1)), batcher.submit(request(2, 1))];
    (await Promise.all(first)).forEach((out, i) => assertReply(out, i + 1, 1));
    const second = [batcher.submit(request(3, 4)), batcher.submit(request(4, 1))];
    (await Promise.all(second)).forEach((out, i) => assertReply(out, i + 3, i ? 1 : 4));
    const lone = batcher.submit(request(5, 1));
    assert.deepEqual(engine.batches, [2, 5]);
    await batcher.close();
    await assert.rejects(lone, /shutting down/);
    assert.deepEqual(engine.batches, [2, 5], 'close dispatched nothing');
  });

  test('a full queue refuses with 503 and Retry-After', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ maxQueueSize: 3, retryAfterSeconds: 2, label: "Model 'm' version 1" }));
    const queued = [1, 2, 3].map((id) => batcher.submit(request(id, 1)));
    await assert.rejects(batcher.submit(request(4, 1)), (err: unknown) => {
      assert.ok(err instanceof KServeError);
      assert.equal(err.status, 503);
      assert.equal(err.retryAfterSeconds, 2);
      assert.match(err.message, /Model 'm' version 1 is overloaded: the batch queue is full/);
      return true;
    });
    assert.equal(batcher.stats().rejectedFull, 1);
    assert.equal(batcher.stats().queueDepth, 3);
    await batcher.close();
    for (const q of queued) await assert.rejects(q, /shutting down/);
    await assert.rejects(batcher.submit(request(5, 1)), /shutting down/);
    assert.deepEqual(engine.batches, []);
  });

  test('a request queued past timeoutMs is refused; the running batch still answers', async () => {
    const engine = new RowEngine();
    engine.hold();
    const batcher = new DynamicBatcher(engine, opts({ maxBatchSize: 1, maxConcurrentBatches: 1, timeoutMs: 30 }));
    const running = batcher.submit(request(1, 1));
    const waiting = batcher.submit(request(2, 1));
    await assert.rejects(waiting, (err: unknown) => err instanceof KServeError && err.status === 503 && /timed out after 30 ms/.test(err.message));
    assert.equal(batcher.stats().timedOut, 1);
    engine.release();
    assertReply(await running, 1, 1);
    assert.deepEqual(engine.batches, [1], 'the timed-out request never reached the engine');
  });

  test('at most maxConcurrentBatches run; the queue fills meanwhile and goes as one batch', async () => {
    const engine = new RowEngine();
    engine.hold();
    const batcher = new DynamicBatcher(engine, opts({ maxBatchSize: 8, maxQueueDelayUs: 0, maxConcurrentBatches: 1 }));
    const first = batcher.submit(request(0, 1));
    await new Promise((r) => setTimeout(r, 5));
    const rest = Array.from({ length: 5 }, (_, i) => batcher.submit(request(i + 1, 1)));
    assert.deepEqual(engine.batches, [1]);
    engine.release();
    assertReply(await first, 0, 1);
    (await Promise.all(rest)).forEach((out, i) => assertReply(out, i + 1, 1));
    assert.deepEqual(engine.batches, [1, 5]);
  });

  test('an engine failure rejects every request of that batch; later batches run', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ preferredBatchSizes: [2] }));
    engine.failNext = true;
    const failed = [batcher.submit(request(1, 1)), batcher.submit(request(2, 1))];
    for (const f of failed) await assert.rejects(f, /engine exploded/);
    const ok = await Promise.all([batcher.submit(request(3, 1)), batcher.submit(request(4, 1))]);
    assertReply(ok[0]!, 3, 1);
    assertReply(ok[1]!, 4, 1);
  });

  test('an output that cannot be split by rows: those requests, and later ones, run alone', async () => {
    const engine = new RowEngine();
    engine.collapse = true;
    const batcher = new DynamicBatcher(engine, opts({ preferredBatchSizes: [2] }));
    const replies = await Promise.all([batcher.submit(request(1, 1)), batcher.submit(request(2, 1))]);
    assertReply(replies[0]!, 1, 1);
    assertReply(replies[1]!, 2, 1);
    assertReply(await batcher.submit(request(3, 1)), 3, 1);
    assert.deepEqual(engine.batches, [2, 1, 1, 1]);
  });

  test('close() waits for running batches and rejects queued requests', async () => {
    const engine = new RowEngine();
    engine.hold();
    const batcher = new DynamicBatcher(engine, opts({ maxBatchSize: 1, maxConcurrentBatches: 1 }));
    const running = batcher.submit(request(1, 1));
    const queued = batcher.submit(request(2, 1));
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await assert.rejects(queued, /shutting down/);
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, 'close() waits for the running batch');
    engine.release();
    assertReply(await running, 1, 1);
    await closing;
    assert.equal(closed, true);
  });
});

describe('adaptive batching', () => {
  test('LinearFit recovers time = a + b·rows by least squares', () => {
    const fit = new LinearFit(1);
    assert.equal(fit.get(), undefined);
    fit.add(4, 9);
    fit.add(4, 9);
    assert.equal(fit.get(), undefined, 'one size says nothing about the slope');
    for (const [x, y] of [
      [1, 3],
      [2, 5],
      [8, 17],
    ] as const)
      fit.add(x, y);
    const f = fit.get()!;
    assert.ok(Math.abs(f.a - 1) < 1e-9 && Math.abs(f.b - 2) < 1e-9, JSON.stringify(f));
    // Noisy points around 0.5 + 0.25·n: the fit lands near them.
    const noisy = new LinearFit(1);
    for (let n = 1; n <= 32; n++) noisy.add(n, 0.5 + 0.25 * n + (n % 2 ? 0.01 : -0.01));
    const g = noisy.get()!;
    assert.ok(Math.abs(g.a - 0.5) < 0.05 && Math.abs(g.b - 0.25) < 0.01, JSON.stringify(g));
  });

  test('the rule: wait while the queued rows would wait less than the fixed cost saved, within the delay', () => {
    const fit = { a: 2, b: 0.1 };
    const base = { fit, waitedMs: 0, maxDelayMs: 10 };
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 1, interArrivalMs: 0.5 }), false, '1 × 0.5 ms < 2 ms: wait');
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 4, interArrivalMs: 0.5 }), true, '4 × 0.5 ms ≥ 2 ms: go');
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 1, interArrivalMs: 3 }), true, 'next request later than the saving: go');
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 1, interArrivalMs: 0.5, waitedMs: 9.8 }), true, 'would pass the delay: go');
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 1, fit: undefined, interArrivalMs: 0.5 }), false, 'no fit yet: wait for the delay');
    assert.equal(adaptiveShouldDispatch({ ...base, rows: 1, interArrivalMs: undefined }), false, 'no arrival estimate: wait');
  });

  test('the batcher measures every batch into its fit, and answers correctly in adaptive mode', async () => {
    const engine = new RowEngine();
    const batcher = new DynamicBatcher(engine, opts({ adaptive: true, maxBatchSize: 4, maxQueueDelayUs: 2_000 }));
    let id = 0;
    for (const sizes of [[4], [1, 1], [2, 2], [3], [1]]) {
      const ids = sizes.map(() => ++id);
      const replies = await Promise.all(sizes.map((rows, i) => batcher.submit(request(ids[i]!, rows))));
      replies.forEach((out, i) => assertReply(out, ids[i]!, sizes[i]!));
    }
    const s = batcher.stats();
    assert.equal(s.fit.samples, s.batches);
    assert.equal(engine.batches.length, s.batches);
    assert.equal(engine.batches.reduce((a, b) => a + b, 0), 14);
    assert.ok(engine.batches.every((n) => n <= 4));
  });
});
