/**
 * The model host: the loaded models (name → version → engine and signature), a bounded number of
 * requests in flight per model version (beyond it callers are told to retry: 503), and readiness.
 */
import { TrellisError } from '../../core/errors';
import { loadOnnxModel } from '../../engines/onnx/onnx-engine';
import type { EngineOptions, InferenceEngine, ModelSignature, Tensor } from '../../engines/onnx/types';
import { DynamicBatcher, type BatcherOptions } from './batcher';
import { KServeError } from './kserve-codec';
import type { ResolvedModel } from './model-resolver';

export interface ServedModel {
  readonly name: string;
  readonly version: string;
  /** The references this version was loaded by (e.g. `mnist@champion`, `mnist/3`). */
  readonly refs: string[];
  readonly path: string;
  readonly signature: ModelSignature;
  readonly engine: InferenceEngine;
  /** Batches this version's requests, when batching is on and its batch dimension is dynamic. */
  readonly batcher?: DynamicBatcher;
  /** Requests admitted and not yet answered. */
  inFlight: number;
}

export type InferenceOutcome = 'ok' | 'error' | 'overloaded';

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
  /** Called after each admitted inference (and each refusal for overload), for metrics. */
  onInference?: (model: ServedModel, outcome: InferenceOutcome, seconds: number) => void;
  /** Dynamic batching per model version; off when absent or `maxBatchSize` is 1. */
  batching?: BatcherOptions;
  /** Where load-time notes go (e.g. batching turned off for a fixed batch dimension). */
  log?: (line: string) => void;
}

/** Admitted requests per worker when `maxInFlight` is not given: enough to keep the workers busy. */
const IN_FLIGHT_PER_WORKER = 16;

export class ModelServer {
  private readonly byName = new Map<string, Map<string, ServedModel>>();
  private loading = 0;
  private closed = false;
  readonly maxInFlight: number;
  private readonly retryAfter: number;

  constructor(private readonly options: ModelServerOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new Error(`workers must be a whole number ≥ 1, got ${options.workers}.`);
    this.maxInFlight = options.maxInFlight ?? Math.max(IN_FLIGHT_PER_WORKER, options.workers * IN_FLIGHT_PER_WORKER);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new Error(`maxInFlight must be a whole number ≥ 1, got ${this.maxInFlight}.`);
    this.retryAfter = options.retryAfterSeconds ?? 1;
  }

  /**
   * Resolves the reference and loads its version (once: a second reference to the same version shares
   * the engine). Rejects with a clear message when the reference, the file or the model is bad.
   */
  async load(ref: string): Promise<ServedModel> {
    if (this.closed) throw new Error('The model server is closed.');
    this.loading++;
    try {
      const resolved = this.options.resolve(ref);
      const existing = this.byName.get(resolved.name)?.get(resolved.version);
      if (existing) {
        if (!existing.refs.includes(ref)) existing.refs.push(ref);
        return existing;
      }
      const engine = await this.openEngine(resolved);
      if (this.closed) {
        await engine.close();
        throw new Error('The model server closed while the model was loading.');
      }
      // Another load of the same version may have finished meanwhile: keep the first.
      const raced = this.byName.get(resolved.name)?.get(resolved.version);
      if (raced) {
        await engine.close();
        if (!raced.refs.includes(ref)) raced.refs.push(ref);
        return raced;
      }
      const batcher = this.openBatcher(resolved, engine);
      const model: ServedModel = { name: resolved.name, version: resolved.version, refs: [ref], path: resolved.path, signature: engine.signature, engine, ...(batcher ? { batcher } : {}), inFlight: 0 };
      const versions = this.byName.get(model.name) ?? new Map<string, ServedModel>();
      versions.set(model.version, model);
      this.byName.set(model.name, versions);
      return model;
    } finally {
      this.loading--;
    }
  }

  private openBatcher(resolved: ResolvedModel, engine: InferenceEngine): DynamicBatcher | undefined {
    const batching = this.options.batching;
    if (!batching || batching.maxBatchSize <= 1) return undefined;
    if (!DynamicBatcher.supports(engine.signature)) {
      this.options.log?.(`batching off for ${resolved.name} version ${resolved.version}: batch dimension is fixed`);
      return undefined;
    }
    return new DynamicBatcher(engine, {
      maxConcurrentBatches: this.options.workers,
      retryAfterSeconds: this.retryAfter,
      ...batching,
      label: `Model '${resolved.name}' version ${resolved.version}`,
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
      this.options.onInference?.(model, 'overloaded', 0);
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
      const all = model.batcher ? await model.batcher.submit(inputs) : await model.engine.infer(inputs);
      const result = outputs === undefined ? all : outputs.map((name) => pick(all, name));
      this.options.onInference?.(model, 'ok', seconds());
      return result;
    } catch (err) {
      this.options.onInference?.(model, 'error', seconds());
      if (err instanceof KServeError) throw err;
      const status = err instanceof TrellisError ? err.httpStatus : 500;
      const message = `Inference failed for model '${model.name}' version ${model.version}: ${(err as Error).message}`;
      if (status === 503) throw new KServeError(503, message, this.retryAfter);
      throw new KServeError(status >= 400 && status < 500 ? 400 : 500, message);
    }
  }

  /** Stops one served version (or every version of the name) and releases its engine. */
  async unload(name: string, version?: string): Promise<void> {
    const versions = this.byName.get(name);
    if (!versions) return;
    const targets = version === undefined ? [...versions.values()] : [versions.get(version)].filter((m): m is ServedModel => m !== undefined);
    for (const m of targets) versions.delete(m.version);
    if (versions.size === 0) this.byName.delete(name);
    await Promise.all(targets.map((m) => closeModel(m)));
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
  await m.batcher?.close();
  await m.engine.close();
}

function pick(tensors: Tensor[], name: string): Tensor {
  const t = tensors.find((x) => x.name === name);
  if (!t) throw new Error(`the engine returned no output '${name}'`);
  return t;
}
