/**
 * One load-generating thread. The engine starts `plan.workers` of these with worker_threads; each takes
 * its share of the load (closed: its share of the connections and of the request budget; open: every
 * n-th arrival of the schedule and its share of the connections), records latencies in its own HDR
 * histograms and reports them encoded, for the engine to merge exactly.
 *
 * Protocol: the worker connects its connections and posts `ready`; the engine posts `start` with the
 * common start time t0 (process.hrtime, shared by all threads); the worker posts a `second` message as
 * each second of the test closes, then `done`. `stop` ends it early (abort): in-flight requests are
 * abandoned, not counted.
 *
 * Timing: open-model arrivals are dispatched by a loop that sleeps with setTimeout while the next
 * arrival is more than 2 ms away and polls with setImmediate (I/O still runs between polls) when it is
 * closer, so sends are typically within tens of µs of their schedule; whatever the jitter, latency
 * counts from the scheduled time, so a late timer shows up in the figures instead of hiding.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { BUSY, CLOSED, HttpConnection, IDLE, parseTarget, serializeHead, type ConnectionEvents, type TransportError } from './http-connection';
import { createHistogram, encodeHistogram, recordMicros, toBuckets, type Histogram } from './histogram';
import { createSchedule, type Schedule } from './schedule';
import { compileTemplate } from './template';
import type { LoadTestPlan } from './types';

/** Cap on the time bound of a closed test given only a request count (it must still stop by itself). */
export const DEFAULT_MAX_DURATION_MS = 10 * 60_000;
/** After a refused connection, a closed-model connection waits this long before trying again. */
export const REFUSED_RETRY_MS = 10;

export interface WorkerInit {
  trellisLoadTestWorker: true;
  plan: LoadTestPlan;
  index: number;
  count: number;
}

/** One closed second of one worker (requests and errors by completion time). */
export interface WorkerSecond {
  second: number;
  requests: number;
  errors: number;
  /** Latencies recorded in that second, as histogram buckets (see `toBuckets`). */
  buckets: number[];
}

export interface WorkerTotals {
  requests: number;
  ok: number;
  errors: Record<string, number>;
  late: number;
  unsent: number;
}

export type EngineToWorker = { type: 'start'; t0: bigint } | { type: 'stop' };
export type WorkerToEngine =
  | { type: 'ready' }
  /** `data` is the second just closed; the seconds after it up to `through` had nothing in them. */
  | { type: 'second'; data: WorkerSecond; through: number; totals: WorkerTotals }
  | { type: 'done'; totals: WorkerTotals; histogram: string; endMs: number; seconds: WorkerSecond[] }
  | { type: 'fatal'; message: string };

/** Splits `total` into `count` near-equal integer shares; share `index`. */
export function share(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}

/** The request bytes for request number `seq`. */
export function requestFactory(plan: LoadTestPlan): { bytes: (seq: number) => Uint8Array; host: string; port: number; head: boolean } {
  const { request } = plan;
  const method = request.method.toUpperCase();
  const target = parseTarget(request.url);
  const headers = request.headers ?? {};
  const body = request.body;
  const wantsLength = body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH';
  const base = { host: target.host, port: target.port, head: method === 'HEAD' };
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array || compileTemplate(body).constant) {
    const bodyBytes =
      body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength)
        : Buffer.from(body === undefined ? '' : typeof body === 'string' ? body : compileTemplate(body).render(1), 'utf8');
    const head = serializeHead(method, target.path, target.hostHeader, headers, wantsLength ? bodyBytes.length : null);
    const fixed = Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]);
    return { ...base, bytes: () => fixed };
  }
  const tpl = compileTemplate(body);
  // Everything up to the Content-Length line is fixed: keep it, and add the length and body per request.
  const head = serializeHead(method, target.path, target.hostHeader, headers, null).slice(0, -2);
  return {
    ...base,
    bytes: (seq) => {
      const text = tpl.render(seq);
      return Buffer.from(`${head}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`, 'utf8');
    },
  };
}

export class LoadRunner implements ConnectionEvents {
  private readonly plan: LoadTestPlan;
  private readonly index: number;
  private readonly count: number;
  private readonly post: (msg: WorkerToEngine) => void;
  private readonly bytes: (seq: number) => Uint8Array;
  private readonly conns: HttpConnection[] = [];
  private readonly open: boolean;
  private readonly schedule: Schedule | null;
  private readonly timeoutMs: number;
  /** Local performance.now() of the test's start, and of the end of sending. */
  private t0 = 0;
  private sendUntil = 0;
  private started = false;
  private stopping = false;
  private finished = false;
  private onFinished: (() => void) | null = null;

  // Totals.
  private requests = 0;
  private ok = 0;
  private readonly errors: Record<string, number> = {};
  private late = 0;
  private unsent = 0;
  private readonly total: Histogram = createHistogram();

  // The second being filled.
  private second = 0;
  private secRequests = 0;
  private secErrors = 0;
  private readonly secHist: Histogram = createHistogram();
  private readonly pendingSeconds: WorkerSecond[] = [];

  // Closed model.
  private sent = 0;
  private readonly maxRequests: number;
  private nextSeq: number;

  // Open model: arrivals index .. total step count; [queueHead, nextArrival) are due but not sent.
  private nextArrival: number;
  private queueHead: number;
  private readonly idle: HttpConnection[] = [];
  private readonly spare: HttpConnection[] = [];
  private readonly inIdle: Uint8Array;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private housekeeping: NodeJS.Timeout | null = null;
  private hardCap: NodeJS.Timeout | null = null;

  constructor(init: Pick<WorkerInit, 'plan' | 'index' | 'count'>, post: (msg: WorkerToEngine) => void) {
    this.plan = init.plan;
    this.index = init.index;
    this.count = init.count;
    this.post = post;
    this.timeoutMs = init.plan.timeoutMs;
    const req = requestFactory(init.plan);
    this.bytes = req.bytes;
    const model = init.plan.model;
    this.open = model.kind === 'open';
    const connections = share(model.kind === 'open' ? model.maxConnections : model.connections, this.index, this.count);
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    for (let i = 0; i < connections; i++) this.conns.push(new HttpConnection(i, req.host, req.port, readBuffer, this, req.head));
    this.inIdle = new Uint8Array(connections);
    this.schedule = model.kind === 'open' ? createSchedule(model.stages) : null;
    this.maxRequests = model.kind === 'closed' && model.requests !== undefined ? share(model.requests, this.index, this.count) : Infinity;
    this.nextSeq = this.index + 1;
    this.nextArrival = this.index;
    this.queueHead = this.index;
  }

  /**
   * Opens every connection; resolves when each is up or has failed (failures are retried with the first
   * request), or after the request timeout, whichever comes first.
   */
  prepare(): Promise<void> {
    let pending = this.conns.length;
    if (pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.onPrepared = null;
        resolve();
      }, this.timeoutMs);
      this.onPrepared = () => {
        if (--pending === 0) {
          clearTimeout(timer);
          this.onPrepared = null;
          resolve();
        }
      };
      for (const c of this.conns) c.connect();
    });
  }

  private onPrepared: (() => void) | null = null;

  /** Starts at `t0` (local performance.now() time, possibly a little in the future). Resolves when done. */
  run(t0: number): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.t0 = t0;
    const model = this.plan.model;
    const durationMs = model.kind === 'open' ? this.schedule!.durationMs : (model.durationMs ?? DEFAULT_MAX_DURATION_MS);
    this.sendUntil = t0 + durationMs;
    const done = new Promise<void>((resolve) => (this.onFinished = resolve));
    const tickMs = Math.max(5, Math.min(50, this.timeoutMs / 10));
    this.housekeeping = setInterval(() => this.houseKeep(), tickMs);
    this.hardCap = setTimeout(() => this.stop(), this.sendUntil - performance.now() + this.timeoutMs + 5000);
    const begin = () => {
      this.timer = null;
      this.started = true;
      if (this.stopping) return;
      if (this.open) {
        this.loop();
      } else {
        for (const c of this.conns) if (this.canSend()) this.sendClosed(c);
        this.maybeFinish();
      }
    };
    const wait = t0 - performance.now();
    if (wait > 2) {
      this.timer = setTimeout(() => this.spinUntil(t0, begin), wait - 2);
    } else {
      this.spinUntil(t0, begin);
    }
    return done;
  }

  private spinUntil(at: number, then: () => void): void {
    if (performance.now() >= at) {
      then();
      return;
    }
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.spinUntil(at, then);
    });
  }

  /** Ends early: sending stops, requests in flight are abandoned. */
  stop(): void {
    if (this.finished) return;
    this.stopping = true;
    if (this.open && this.started) this.advanceArrivals(performance.now());
    this.finish();
  }

  // ---- events from connections -------------------------------------------------------------

  onOpen(conn: HttpConnection): void {
    if (this.onPrepared) this.onPrepared();
    if (this.open && !this.inIdle[conn.id]) {
      this.makeFree(conn);
      if (this.started) this.drainQueue(performance.now());
    }
  }

  onResponse(conn: HttpConnection, status: number): void {
    const now = performance.now();
    this.record(now, now - (this.open ? conn.scheduledAt : conn.sentAt), status);
    this.next(conn, now);
  }

  onFailure(conn: HttpConnection, kind: TransportError): void {
    const now = performance.now();
    this.recordError(now, kind);
    if (!this.open && kind === 'refused' && this.canSend(now)) {
      setTimeout(() => {
        if (this.canSend() && conn.state === CLOSED) this.sendClosed(conn);
        else this.maybeFinish();
      }, REFUSED_RETRY_MS);
      return;
    }
    this.next(conn, now);
  }

  onIdleClose(conn: HttpConnection): void {
    if (this.onPrepared) this.onPrepared();
    if (!this.open) {
      // Closed model: the server dropped an idle keep-alive connection; the next request reopens it.
      if (this.started && this.canSend()) this.sendClosed(conn);
      else this.maybeFinish();
      return;
    }
    if (this.inIdle[conn.id]) {
      const at = this.idle.indexOf(conn);
      if (at >= 0) this.idle.splice(at, 1);
      this.inIdle[conn.id] = 0;
    }
    this.makeFree(conn);
  }

  /** After a request on `conn` ended one way or another. */
  private next(conn: HttpConnection, now: number): void {
    if (this.finished) return;
    if (this.open) {
      this.makeFree(conn);
      this.drainQueue(now);
      this.maybeFinish();
    } else if (this.canSend(now)) {
      this.sendClosed(conn);
    } else {
      this.maybeFinish();
    }
  }

  // ---- recording -------------------------------------------------------------------------------

  private rollSecond(now: number): void {
    const sec = Math.floor((now - this.t0) / 1000);
    if (sec > this.second) this.closeSecond(sec);
  }

  private closeSecond(nextSecond: number): void {
    const data: WorkerSecond = {
      second: this.second,
      requests: this.secRequests,
      errors: this.secErrors,
      buckets: this.secHist.totalCount > 0 ? toBuckets(this.secHist) : [],
    };
    this.secHist.reset();
    this.secRequests = 0;
    this.secErrors = 0;
    this.second = nextSecond;
    if (this.finished) this.pendingSeconds.push(data);
    else this.post({ type: 'second', data, through: nextSecond - 1, totals: this.totals() });
  }

  private record(now: number, latencyMs: number, status: number): void {
    this.rollSecond(now);
    this.requests++;
    this.secRequests++;
    const us = latencyMs * 1000;
    recordMicros(this.total, us);
    recordMicros(this.secHist, us);
    if (status >= 200 && status < 400) {
      this.ok++;
    } else {
      const kind = `status_${status}`;
      this.errors[kind] = (this.errors[kind] ?? 0) + 1;
      this.secErrors++;
    }
  }

  private recordError(now: number, kind: string): void {
    this.rollSecond(now);
    this.requests++;
    this.secRequests++;
    this.secErrors++;
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
  }

  private totals(): WorkerTotals {
    return { requests: this.requests, ok: this.ok, errors: { ...this.errors }, late: this.late, unsent: this.unsent };
  }

  /** Periodic: timeouts, closing seconds nobody completed a request in. */
  private houseKeep(): void {
    const now = performance.now();
    if (this.started) this.rollSecond(now);
    const limit = now - this.timeoutMs;
    for (const c of this.conns) {
      if (c.state === BUSY && c.sentAt <= limit) {
        c.destroy();
        this.recordError(now, 'timeout');
        this.next(c, now);
      }
    }
    if (!this.open && !this.stopping && this.started && now >= this.sendUntil) this.maybeFinish();
  }

  // ---- closed model ----------------------------------------------------------------------------

  private canSend(now = performance.now()): boolean {
    return !this.stopping && !this.finished && this.sent < this.maxRequests && now < this.sendUntil;
  }

  private sendClosed(conn: HttpConnection): void {
    const seq = this.nextSeq;
    this.nextSeq += this.count;
    this.sent++;
    const bytes = this.bytes(seq);
    conn.sentAt = performance.now();
    conn.send(bytes);
  }

  // ---- open model --------------------------------------------------------------------------------

  private makeFree(conn: HttpConnection): void {
    if (conn.state === IDLE) {
      if (!this.inIdle[conn.id]) {
        this.inIdle[conn.id] = 1;
        this.idle.push(conn);
      }
    } else if (conn.state === CLOSED) {
      this.spare.push(conn);
    }
  }

  /** A connection free to send now: an idle open one first, else a closed one to reopen. */
  private takeFree(): HttpConnection | null {
    const c = this.idle.pop();
    if (c) {
      this.inIdle[c.id] = 0;
      return c;
    }
    while (this.spare.length > 0) {
      const s = this.spare.pop()!;
      if (s.state === CLOSED) return s;
    }
    return null;
  }

  private sendOpen(conn: HttpConnection, k: number): void {
    const bytes = this.bytes(k + 1);
    conn.scheduledAt = this.t0 + this.schedule!.timeOf(k);
    conn.sentAt = performance.now();
    conn.send(bytes);
  }

  /** Moves every arrival due by `now` into the queue or onto a free connection. */
  private advanceArrivals(now: number): void {
    const s = this.schedule!;
    const rel = now - this.t0;
    while (this.nextArrival < s.total && s.timeOf(this.nextArrival) <= rel) {
      const k = this.nextArrival;
      this.nextArrival += this.count;
      if (this.queueHead === k && !this.stopping) {
        const c = this.takeFree();
        if (c) {
          this.queueHead = this.nextArrival;
          this.sendOpen(c, k);
        }
      }
    }
  }

  /** Sends queued (late) arrivals while connections are free. */
  private drainQueue(now: number): void {
    if (this.stopping || now >= this.sendUntil) return;
    while (this.queueHead < this.nextArrival) {
      const c = this.takeFree();
      if (!c) return;
      const k = this.queueHead;
      this.queueHead += this.count;
      this.late++;
      this.sendOpen(c, k);
    }
  }

  private loop = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.finished || this.stopping) return;
    const now = performance.now();
    this.advanceArrivals(now);
    this.drainQueue(now);
    const s = this.schedule!;
    if (now >= this.sendUntil) {
      // The schedule is over (every arrival is due by now): what is still queued was never sent.
      this.advanceArrivals(Infinity);
      this.unsent += this.queuedCount();
      this.queueHead = this.nextArrival;
      this.maybeFinish();
      return;
    }
    if (this.nextArrival >= s.total && this.queueHead >= this.nextArrival) {
      // Every arrival is sent: the test ends with the last reply.
      this.maybeFinish();
      return;
    }
    const nextAt = this.nextArrival < s.total ? this.t0 + s.timeOf(this.nextArrival) : this.sendUntil;
    const wait = nextAt - performance.now();
    if (wait > 2) this.timer = setTimeout(this.loop, wait - 1.5);
    else this.immediate = setImmediate(this.loop);
  };

  private queuedCount(): number {
    return this.nextArrival > this.queueHead ? Math.ceil((this.nextArrival - this.queueHead) / this.count) : 0;
  }

  // ---- the end -----------------------------------------------------------------------------------

  private maybeFinish(): void {
    if (this.finished || !this.started) return;
    if (this.open) {
      if (this.nextArrival < this.schedule!.total || this.queueHead < this.nextArrival) return;
    } else if (this.canSend()) {
      return;
    }
    for (const c of this.conns) if (c.state === BUSY) return;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    const now = performance.now();
    if (this.open) this.unsent += this.queuedCount();
    this.queueHead = this.nextArrival;
    this.finished = true;
    for (const t of [this.housekeeping, this.hardCap]) if (t) clearInterval(t);
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    for (const c of this.conns) c.destroy();
    if (this.started) this.closeSecond(this.second + 1);
    this.post({
      type: 'done',
      totals: this.totals(),
      histogram: encodeHistogram(this.total),
      endMs: this.started ? Math.max(0, now - this.t0) : 0,
      seconds: this.pendingSeconds.splice(0),
    });
    this.onFinished?.();
  }
}

/** The worker thread's entry: runs when this module is loaded as a load-test worker. */
function workerMain(): void {
  const init = workerData as WorkerInit;
  const port = parentPort!;
  const post = (msg: WorkerToEngine) => port.postMessage(msg);
  let runner: LoadRunner;
  try {
    runner = new LoadRunner(init, post);
  } catch (err) {
    post({ type: 'fatal', message: (err as Error).message });
    return;
  }
  port.on('message', (msg: EngineToWorker) => {
    if (msg.type === 'stop') {
      runner.stop();
    } else if (msg.type === 'start') {
      // t0 is on the process-wide monotonic clock; translate it to this thread's performance.now().
      const t0 = performance.now() + Number(msg.t0 - process.hrtime.bigint()) / 1e6;
      void runner.run(t0);
    }
  });
  runner.prepare().then(() => post({ type: 'ready' }));
}

if (!isMainThread && (workerData as WorkerInit | undefined)?.trellisLoadTestWorker === true) workerMain();
