/**
 * The model host: the loaded models (name → version → replicas and signature), a bounded number of
 * requests in flight per model version (beyond it callers are told to retry: 503), readiness, traffic
 * routes between the versions of a name (weighted canary, sticky by a header, shadow), and alias moves
 * picked up without dropping a request: the new version loads first, takes the alias, and the old one
 * finishes what it admitted before its engines close (it drains).
 */
import { TrellisError } from '../../core/errors';
import { loadOnnxModel } from '../../engines/onnx/onnx-engine';
import type { EngineOptions, InferenceEngine, ModelSignature, Tensor } from '../../engines/onnx/types';
import { DynamicBatcher, type BatcherOptions } from './batcher';
import { KServeError } from './kserve-codec';
import type { ResolvedModel } from './model-resolver';
import { RemoteEngine } from './remote-engine';
import type { DriftMonitor } from './drift';
import { copyTensors, ReplicaPool, type Replica } from './replica-pool';
import { chooseTarget, validateRoute, type RouteSpec } from './traffic-route';

export interface ServedModel {
  readonly name: string;
  readonly version: string;
  /** The references this version was loaded by (e.g. `mnist@champion`, `mnist/3`). */
  readonly refs: string[];
  readonly path: string;
  readonly signature: ModelSignature;
  /** Its replicas (local engine pools, or remote KServe servers) behind least-outstanding balancing. */
  readonly pool: ReplicaPool;
  /** Served by remote replicas of a fixed version: alias moves do not apply to it. */
  readonly pinned: boolean;
  /** Compares live inputs with the version's reference profile, when it has one. */
  readonly drift?: DriftMonitor;
  /** Requests admitted and not yet answered. */
  inFlight: number;
}

export type InferenceOutcome = 'ok' | 'error' | 'overloaded';

/** Where the serving layer reports what it measures (the server turns these into Prometheus metrics). */
export interface ServingObserver {
  /** After each admitted inference (and each refusal for overload): outcome and seconds, queue included. */
  inference?(model: ServedModel, outcome: InferenceOutcome, seconds: number): void;
  /** After each shadow inference, whose reply is discarded. */
  shadow?(model: ServedModel, outcome: InferenceOutcome, seconds: number): void;
  /** Each engine run: rows, seconds each request waited in the batch queue, and the run's seconds. */
  batch?(model: ServedModel, rows: number, queuedSeconds: number[], computeSeconds: number): void;
}

/** An alias that now names another version: `ref` moved from version `from` to `to`. */
export interface AliasMove {
  ref: string;
  name: string;
  from: string;
  to: string;
}

export interface LoadOptions {
  /** Serve through these KServe v2 servers (e.g. serving containers) instead of local engines. */
  replicaUrls?: string[];
  /** Bearer token the remote replicas require. */
  token?: string;
}

export interface ModelServerOptions {
  /** Reference → registered version and its ONNX file (e.g. `(ref) => resolveModelRef(store, ref)`). */
  resolve: (ref: string) => ResolvedModel;
  /** Engine worker threads per model version. */
  workers: number;
  intraOpThreads?: number;
  /** Requests admitted at once per model version (reading the body, waiting for and running inference). */
  maxInFlight?: number;
  /** Seconds a 503 asks the client to wait. */
  retryAfterSeconds?: number;
  /** The engine factory; onnxruntime by default. */
  loadEngine?: (path: string, options: EngineOptions) => Promise<InferenceEngine>;
  /** Local replicas per model version, each with its own engine pool of `workers` (default 1). */
  replicas?: number;
  observer?: ServingObserver;
  /** A drift monitor for a newly loaded version (from its reference profile), or none. */
  drift?: (model: { name: string; version: string }) => Promise<DriftMonitor | undefined>;
  /** Dynamic batching per replica; off when absent or `maxBatchSize` is 1. */
  batching?: BatcherOptions;
  /** Told when the set of served versions changes (a load, an unload, an alias move). */
  onChange?: () => void;
  /** Where load-time notes go (e.g. batching turned off for a fixed batch dimension). */
  log?: (line: string) => void;
}

/**
 * Admitted requests per version when `maxInFlight` is not given: enough to keep every worker busy with
 * a few requests (unbatched) or a few full batches (batched) waiting behind the running one, and never
 * fewer than 64, so a client pool of common size is queued rather than refused.
 */
function defaultMaxInFlight(o: ModelServerOptions): number {
  const workers = o.workers * (o.replicas ?? 1);
  const perWorker = o.batching && o.batching.maxBatchSize > 1 ? 4 * o.batching.maxBatchSize : 16;
  return Math.max(64, workers * perWorker);
}

export class ModelServer {
  private readonly byName = new Map<string, Map<string, ServedModel>>();
  private readonly routes = new Map<string, RouteSpec>();
  private loading = 0;
  private closed = false;
  readonly maxInFlight: number;
  private readonly retryAfter: number;

  constructor(private readonly options: ModelServerOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new Error(`workers must be a whole number ≥ 1, got ${options.workers}.`);
    this.maxInFlight = options.maxInFlight ?? defaultMaxInFlight(options);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new Error(`maxInFlight must be a whole number ≥ 1, got ${this.maxInFlight}.`);
    this.retryAfter = options.retryAfterSeconds ?? 1;
  }

  /**
   * Resolves the reference and loads its version (once: a second reference to the same version shares
   * the replicas). Rejects with a clear message when the reference, the file or the model is bad.
   */
  async load(ref: string, options: LoadOptions = {}): Promise<ServedModel> {
    if (this.closed) throw new Error('The model server is closed.');
    this.loading++;
    try {
      return await this.loadResolved(this.options.resolve(ref), options);
    } finally {
      this.loading--;
    }
  }

  private async loadResolved(resolved: ResolvedModel, options: LoadOptions): Promise<ServedModel> {
    const ref = resolved.ref;
    const existing = this.byName.get(resolved.name)?.get(resolved.version);
    if (existing) {
      if (!existing.refs.includes(ref)) existing.refs.push(ref);
      return existing;
    }
    const pool = await this.openPool(resolved, options);
    let drift: DriftMonitor | undefined;
    try {
      drift = await this.options.drift?.({ name: resolved.name, version: resolved.version });
    } catch (err) {
      await pool.close();
      throw err;
    }
    const discard = async () => {
      drift?.close();
      await pool.close();
    };
    if (this.closed) {
      await discard();
      throw new Error('The model server closed while the model was loading.');
    }
    // Another load of the same version may have finished meanwhile: keep the first.
    const raced = this.byName.get(resolved.name)?.get(resolved.version);
    if (raced) {
      await discard();
      if (!raced.refs.includes(ref)) raced.refs.push(ref);
      return raced;
    }
    const model: ServedModel = {
      name: resolved.name,
      version: resolved.version,
      refs: [ref],
      path: resolved.path,
      signature: pool.replicas[0]!.engine.signature,
      pool,
      pinned: (options.replicaUrls?.length ?? 0) > 0,
      ...(drift ? { drift } : {}),
      inFlight: 0,
    };
    holder.set(pool, model);
    const versions = this.byName.get(model.name) ?? new Map<string, ServedModel>();
    versions.set(model.version, model);
    this.byName.set(model.name, versions);
    this.options.onChange?.();
    return model;
  }

  /** The replicas of a version: remote servers when URLs are given, else `replicas` local engine pools. */
  private async openPool(resolved: ResolvedModel, options: LoadOptions): Promise<ReplicaPool> {
    const label = `Model '${resolved.name}' version ${resolved.version}`;
    const replicas: Replica[] = [];
    try {
      if (options.replicaUrls?.length) {
        for (const url of options.replicaUrls) {
          const engine = await RemoteEngine.open({ url, model: resolved.name, version: resolved.version, ...(options.token ? { token: options.token } : {}) });
          replicas.push({ id: url, engine, probe: () => engine.ready() });
        }
      } else {
        const count = this.options.replicas ?? 1;
        for (let i = 0; i < count; i++) {
          const engine = await this.openEngine(resolved);
          const batcher = this.openBatcher(resolved, engine, i === 0, () => holder.get(pool));
          replicas.push({ id: `local-${i}`, engine, ...(batcher ? { batcher } : {}) });
        }
      }
    } catch (err) {
      await Promise.all(replicas.map((r) => r.engine.close()));
      if (err instanceof TrellisError) throw err;
      throw new TrellisError('INVALID_PARAMETER_VALUE', `Cannot serve ${label.toLowerCase()} (${resolved.ref}): ${(err as Error).message}`);
    }
    const observer = this.options.observer;
    const pool: ReplicaPool = new ReplicaPool(replicas, {
      label,
      retryAfterSeconds: this.retryAfter,
      onCompute: (rows, seconds) => {
        const model = holder.get(pool);
        // An unbatched run is a batch of the request's own rows that never queued.
        if (model) observer?.batch?.(model, rows, [0], seconds);
      },
    });
    return pool;
  }

  private openBatcher(resolved: ResolvedModel, engine: InferenceEngine, sayWhy: boolean, model: () => ServedModel | undefined): DynamicBatcher | undefined {
    const batching = this.options.batching;
    if (!batching || batching.maxBatchSize <= 1) return undefined;
    if (!DynamicBatcher.supports(engine.signature)) {
      if (sayWhy) this.options.log?.(`batching off for ${resolved.name} version ${resolved.version}: batch dimension is fixed`);
      return undefined;
    }
    const observer = this.options.observer;
    return new DynamicBatcher(engine, {
      maxConcurrentBatches: this.options.workers,
      retryAfterSeconds: this.retryAfter,
      ...batching,
      label: `Model '${resolved.name}' version ${resolved.version}`,
      ...(observer?.batch
        ? {
            onBatch: (rows: number, waitedMs: number[], computeMs: number) => {
              const m = model();
              if (m) observer.batch!(m, rows, waitedMs.map((w) => w / 1000), computeMs / 1000);
            },
          }
        : {}),
    });
  }

  private async openEngine(resolved: ResolvedModel): Promise<InferenceEngine> {
    const load = this.options.loadEngine ?? loadOnnxModel;
    try {
      return await load(resolved.path, { workers: this.options.workers, ...(this.options.intraOpThreads ? { intraOpThreads: this.options.intraOpThreads } : {}) });
    } catch (err) {
      const message = `Cannot serve model '${resolved.name}' version ${resolved.version} (${resolved.ref}): ${(err as Error).message}`;
      throw new TrellisError(err instanceof TrellisError ? err.code : 'INVALID_PARAMETER_VALUE', message);
    }
  }

  /**
   * Resolves every reference again (aliases may have moved, `NAME` may have a newer latest version) and
   * moves each moved reference to its new version, loading it first. A version left with no reference
   * stops taking requests at once and closes after its admitted requests are answered.
   */
  async refresh(): Promise<AliasMove[]> {
    if (this.closed) return [];
    const moves: AliasMove[] = [];
    this.loading++;
    try {
      for (const model of this.models()) {
        if (model.pinned) continue;
        for (const ref of [...model.refs]) {
          let resolved: ResolvedModel;
          try {
            resolved = this.options.resolve(ref);
          } catch (err) {
            // The alias was removed or the version deleted: keep serving what was loaded, and say so.
            this.options.log?.(`${ref}: keeps version ${model.version} (${(err as Error).message})`);
            continue;
          }
          if (resolved.version === model.version) continue;
          const target = await this.loadResolved(resolved, {});
          model.refs.splice(model.refs.indexOf(ref), 1);
          moves.push({ ref, name: model.name, from: model.version, to: target.version });
          if (model.refs.length === 0) this.retire(model);
        }
      }
    } finally {
      this.loading--;
    }
    return moves;
  }

  /** Takes a version out of service: unreachable from now on, closed once its admitted requests finish. */
  private retire(model: ServedModel): void {
    const versions = this.byName.get(model.name);
    versions?.delete(model.version);
    if (versions?.size === 0) this.byName.delete(model.name);
    this.options.onChange?.();
    void (async () => {
      while (model.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      await closeModel(model);
      this.options.log?.(`${model.name} version ${model.version} drained and closed`);
    })();
  }

  /** The served version: the given one, or the first version loaded under the name. */
  find(name: string, version?: string): ServedModel | undefined {
    const versions = this.byName.get(name);
    if (!versions) return undefined;
    return version === undefined ? versions.values().next().value : versions.get(version);
  }

  /** Like `find`, but a 404 KServeError naming what is served when there is no such model or version. */
  get(name: string, version?: string): ServedModel {
    const versions = this.byName.get(name);
    if (!versions) {
      const served = [...this.byName.keys()];
      throw new KServeError(404, `Model '${name}' is not served here${served.length ? `; served models: ${served.join(', ')}` : ''}.`);
    }
    const model = this.find(name, version);
    if (!model) throw new KServeError(404, `Model '${name}' version ${version} is not served here; served versions: ${[...versions.keys()].join(', ')}.`);
    return model;
  }

  /**
   * Sets how requests that name no version are split between the versions of `name`: targets are
   * references (aliases follow their moves), weights relative; the sticky header keeps a client on one
   * target; a shadow gets a copy of each request whose reply is measured and discarded.
   */
  setRoute(name: string, spec: RouteSpec): void {
    validateRoute(spec);
    for (const ref of [...spec.targets.map((t) => t.ref), ...(spec.shadow ? [spec.shadow] : [])]) {
      if (!this.byRef(name, ref)) throw new KServeError(400, `Route for '${name}': '${ref}' is not a served reference of that model; served: ${this.models().filter((m) => m.name === name).flatMap((m) => m.refs).join(', ') || 'none'}.`);
    }
    this.routes.set(name, spec);
  }

  clearRoute(name: string): void {
    this.routes.delete(name);
  }

  /** Each routed name with its targets and the version each reference names now. */
  routeTable(): { name: string; spec: RouteSpec; versions: Record<string, string | undefined> }[] {
    return [...this.routes].map(([name, spec]) => ({
      name,
      spec,
      versions: Object.fromEntries([...spec.targets.map((t) => t.ref), ...(spec.shadow ? [spec.shadow] : [])].map((ref) => [ref, this.byRef(name, ref)?.version])),
    }));
  }

  /**
   * The version a request for `name` without a version goes to, and the shadow that gets a copy. 404 when
   * nothing of that name is served.
   */
  route(name: string, header: (name: string) => string | undefined): { model: ServedModel; shadow?: ServedModel } {
    const spec = this.routes.get(name);
    if (!spec) return { model: this.get(name) };
    const ref = chooseTarget(spec, spec.stickyHeader ? header(spec.stickyHeader) : undefined);
    const model = this.byRef(name, ref) ?? this.get(name);
    const shadow = spec.shadow ? this.byRef(name, spec.shadow) : undefined;
    return shadow && shadow !== model ? { model, shadow } : { model };
  }

  private byRef(name: string, ref: string): ServedModel | undefined {
    for (const m of this.byName.get(name)?.values() ?? []) if (m.refs.includes(ref)) return m;
    return undefined;
  }

  /** Every served version, in load order. */
  models(): ServedModel[] {
    return [...this.byName.values()].flatMap((v) => [...v.values()]);
  }

  versions(name: string): string[] {
    return [...(this.byName.get(name)?.keys() ?? [])];
  }

  /** Ready: not closed and no model still loading. */
  ready(): boolean {
    return !this.closed && this.loading === 0;
  }

  /**
   * Admits one request to the model, or refuses it with 503 (Retry-After) when `maxInFlight` are
   * already admitted. Call the returned function once the request is answered.
   */
  acquire(model: ServedModel): () => void {
    if (this.closed) throw new KServeError(503, 'The server is shutting down.', this.retryAfter);
    if (model.inFlight >= this.maxInFlight) {
      this.options.observer?.inference?.(model, 'overloaded', 0);
      throw new KServeError(
        503,
        `Model '${model.name}' version ${model.version} is overloaded: ${model.inFlight} requests in flight (the limit is ${this.maxInFlight}). Retry later.`,
        this.retryAfter,
      );
    }
    model.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      model.inFlight--;
    };
  }

  /**
   * Runs inference and returns the requested outputs in the order asked (all, in the signature's order,
   * by default). An engine failure becomes a KServeError with the engine's message (400 for a request
   * the engine refuses, 503 when it has no worker left, 500 otherwise).
   */
  async infer(model: ServedModel, inputs: Tensor[], outputs?: string[]): Promise<Tensor[]> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      // All outputs are fetched and the requested ones picked here: onnxruntime-node 1.23 mislabels the
      // results of a fetch list that is not a prefix of the model's outputs.
      const all = await model.pool.infer(inputs);
      const result = outputs === undefined ? all : outputs.map((name) => pick(all, name));
      this.options.observer?.inference?.(model, 'ok', seconds());
      return result;
    } catch (err) {
      this.options.observer?.inference?.(model, 'error', seconds());
      if (err instanceof KServeError) throw err;
      const status = err instanceof TrellisError ? err.httpStatus : 500;
      const message = `Inference failed for model '${model.name}' version ${model.version}: ${(err as Error).message}`;
      if (status === 503) throw new KServeError(503, message, this.retryAfter);
      throw new KServeError(status >= 400 && status < 500 ? 400 : 500, message);
    }
  }

  /**
   * Runs a copy of a request on the shadow version in the background; its outcome and time are reported,
   * its reply discarded. Skipped (reported as overloaded) when the shadow has no room: a shadow never
   * takes capacity from live traffic's 503 budget.
   */
  shadow(model: ServedModel, inputs: Tensor[]): void {
    const observer = this.options.observer;
    if (this.closed || model.inFlight >= this.maxInFlight) {
      observer?.shadow?.(model, 'overloaded', 0);
      return;
    }
    model.inFlight++;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    // A copy: the primary's engine may hand its tensors' buffers over to a worker thread.
    model.pool.infer(copyTensors(inputs)).then(
      () => observer?.shadow?.(model, 'ok', seconds()),
      () => observer?.shadow?.(model, 'error', seconds()),
    ).finally(() => model.inFlight--);
  }

  /** Stops serving one version (or every version of the name): new requests get 404, admitted ones finish. */
  unload(name: string, version?: string): ServedModel[] {
    const targets = this.models().filter((m) => m.name === name && (version === undefined || m.version === version));
    for (const m of targets) this.retire(m);
    return targets;
  }

  /** Not ready from now on; closes every engine. */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.models();
    this.byName.clear();
    await Promise.all(all.map((m) => closeModel(m)));
  }
}

async function closeModel(m: ServedModel): Promise<void> {
  m.drift?.close();
  await m.pool.close();
}

/** The served model a pool belongs to (set once the model exists; the pool's callbacks read it). */
const holder = new WeakMap<ReplicaPool, ServedModel>();

function pick(tensors: Tensor[], name: string): Tensor {
  const t = tensors.find((x) => x.name === name);
  if (!t) throw new Error(`the engine returned no output '${name}'`);
  return t;
}
