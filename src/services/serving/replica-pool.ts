/**
 * The replicas of one served model version behind one balancer: each request goes to the healthy replica
 * with the fewest outstanding requests (ties go round-robin, so idle replicas share the work). A replica
 * that fails EJECT_AFTER_FAILURES times in a row, or fails its health probe, is ejected for a while
 * (EJECT_MS, doubling on each ejection up to MAX_EJECT_MS, as Envoy's outlier detection does); after that it is let
 * back in once its probe passes, or, without a probe, on trial: one more failure ejects it again.
 * A request that failed because of its replica (not because of its input) is retried once on another
 * healthy replica: inference is idempotent, and a dying replica should not fail requests it never ran.
 */
import { TrellisError } from '../../core/errors';
import type { InferenceEngine, Tensor } from '../../engines/onnx/types';
import type { DynamicBatcher } from './batcher';
import { KServeError } from './kserve-codec';

export interface Replica {
  /** `local-0`, `local-1`…, or the remote replica's URL. */
  readonly id: string;
  readonly engine: InferenceEngine;
  /** Batches this replica's requests, when batching is on. */
  readonly batcher?: DynamicBatcher;
  /** A health check (remote replicas: GET /v2/health/ready); local replicas have none. */
  readonly probe?: () => Promise<boolean>;
}

/** Consecutive replica failures that eject it. */
const EJECT_AFTER_FAILURES = 3;
/** The first ejection's length; it doubles with each ejection in a row, up to MAX_EJECT_MS. */
const EJECT_MS = 5_000;
const MAX_EJECT_MS = 60_000;
/** How often replicas with a health probe are probed. */
const PROBE_INTERVAL_MS = 2_000;

export interface ReplicaState {
  id: string;
  outstanding: number;
  healthy: boolean;
  requests: number;
  failures: number;
  ejections: number;
}

export interface ReplicaPoolOptions {
  /** Names the model in error messages. */
  label: string;
  retryAfterSeconds?: number;
  /** Each unbatched engine run: its rows and seconds (a batcher reports its own runs). */
  onCompute?: (rows: number, seconds: number) => void;
}

interface Slot {
  replica: Replica;
  outstanding: number;
  requests: number;
  failures: number;
  consecutive: number;
  ejections: number;
  /** Ejections since its last success: the next ejection lasts longer. */
  streak: number;
  /** performance.now() until which it is ejected; 0 once it succeeded again (no longer on trial). */
  ejectedUntil: number;
  /** Ejected by a failed probe: back only when a probe passes. */
  probeFailed: boolean;
}

export class ReplicaPool {
  private readonly slots: Slot[];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    replicas: Replica[],
    private readonly options: ReplicaPoolOptions,
  ) {
    if (replicas.length === 0) throw new Error(`${options.label}: a replica pool needs at least one replica.`);
    this.slots = replicas.map((replica) => ({ replica, outstanding: 0, requests: 0, failures: 0, consecutive: 0, ejections: 0, streak: 0, ejectedUntil: 0, probeFailed: false }));
    if (replicas.some((r) => r.probe)) {
      this.timer = setInterval(() => void this.probeAll(), PROBE_INTERVAL_MS);
      this.timer.unref();
    }
  }

  get replicas(): readonly Replica[] {
    return this.slots.map((s) => s.replica);
  }

  state(): ReplicaState[] {
    const t = performance.now();
    return this.slots.map((s) => ({ id: s.replica.id, outstanding: s.outstanding, healthy: this.available(s, t), requests: s.requests, failures: s.failures, ejections: s.ejections }));
  }

  /** Runs the request on the least busy healthy replica (retried once elsewhere when that replica failed). */
  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    const first = this.pick();
    if (this.slots.length === 1) return this.runOn(first, inputs);
    // A local engine hands the tensors' buffers to its worker thread: keep a copy for the retry.
    const spare = copyTensors(inputs);
    try {
      return await this.runOn(first, inputs);
    } catch (err) {
      if (!isReplicaFault(err)) throw err;
      const other = this.pick(first, false);
      if (!other) throw err;
      return this.runOn(other, spare);
    }
  }

  private async runOn(slot: Slot, inputs: Tensor[]): Promise<Tensor[]> {
    slot.outstanding++;
    slot.requests++;
    try {
      const { batcher, engine } = slot.replica;
      let outputs: Tensor[];
      if (batcher) outputs = await batcher.submit(inputs);
      else {
        const started = performance.now();
        outputs = await engine.infer(inputs);
        this.options.onCompute?.(inputs[0]?.shape[0] ?? 1, (performance.now() - started) / 1000);
      }
      slot.consecutive = 0;
      slot.streak = 0;
      slot.ejectedUntil = 0;
      return outputs;
    } catch (err) {
      if (isReplicaFault(err)) this.failed(slot);
      throw err;
    } finally {
      slot.outstanding--;
    }
  }

  /** The least busy available replica other than `except`; throws 503 (or returns undefined) when none. */
  private pick(): Slot;
  private pick(except: Slot, orThrow: false): Slot | undefined;
  private pick(except?: Slot, orThrow = true): Slot | undefined {
    const t = performance.now();
    const n = this.slots.length;
    let best: Slot | undefined;
    let bestIndex = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      const s = this.slots[i]!;
      if (s === except || !this.available(s, t)) continue;
      if (!best || s.outstanding < best.outstanding) {
        best = s;
        bestIndex = i;
      }
    }
    if (best) {
      this.next = (bestIndex + 1) % n;
      return best;
    }
    if (!orThrow) return undefined;
    throw new KServeError(503, `${this.options.label}: no healthy replica (all ${n} ejected after failures). Retry later.`, this.options.retryAfterSeconds ?? 1);
  }

  private available(s: Slot, t: number): boolean {
    if (s.probeFailed) return false;
    return s.ejectedUntil <= t;
  }

  private failed(s: Slot): void {
    s.failures++;
    s.consecutive++;
    // On trial after an ejection (no success since), one failure is enough.
    if (s.consecutive >= EJECT_AFTER_FAILURES || s.ejectedUntil > 0) this.eject(s);
  }

  private eject(s: Slot): void {
    const length = Math.min(MAX_EJECT_MS, EJECT_MS * 2 ** Math.min(s.streak, 10));
    s.ejections++;
    s.streak++;
    s.consecutive = 0;
    s.ejectedUntil = performance.now() + length;
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s) => {
        const probe = s.replica.probe;
        if (!probe || this.closed) return;
        const ok = await probe().catch(() => false);
        if (ok) {
          if (s.probeFailed) s.ejectedUntil = 0;
          s.probeFailed = false;
        } else if (!s.probeFailed) {
          s.probeFailed = true;
          s.ejections++;
        }
      }),
    );
  }

  /** Stops probing, closes each replica's batcher (queued requests get 503) and engine. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(
      this.slots.map(async (s) => {
        await s.replica.batcher?.close();
        await s.replica.engine.close();
      }),
    );
  }
}

/**
 * Whether a failure is the replica's (it died, timed out, answered 5xx) rather than the request's (bad
 * input) or a refusal under load (503 from a full queue: busy, not broken).
 */
export function copyTensors(tensors: Tensor[]): Tensor[] {
  return tensors.map((t) => ({ ...t, shape: [...t.shape], data: t.data.slice() as Tensor['data'] }));
}

export function isReplicaFault(err: unknown): boolean {
  if (err instanceof KServeError) return err.status >= 500 && err.status !== 503;
  if (err instanceof TrellisError) return err.httpStatus >= 500 && err.httpStatus !== 503;
  return true;
}
