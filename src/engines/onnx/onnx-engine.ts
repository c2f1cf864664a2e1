/**
 * The ONNX inference engine: a pool of worker_threads (./onnx-worker.ts) that each hold their own
 * onnxruntime session, behind the runtime-neutral `InferenceEngine` of ./types.
 *
 * Loading: the first worker creates its session and reports the model's signature; a file or bytes
 * that onnxruntime cannot load fail `loadOnnxModel` with INVALID_PARAMETER_VALUE ("<model> is not a
 * valid ONNX model: <onnxruntime's reason>") before any other worker starts. The others then load the
 * same model; `loadOnnxModel` resolves once all of them are ready. A path is read by onnxruntime in each
 * worker; bytes are copied to each worker. (The main thread loads onnxruntime-node's addon but runs no
 * session: see pinRuntime.)
 *
 * Serving: `infer` checks the request against the signature (names, datatypes, data representation,
 * element counts, fixed dimensions) and rejects a bad one with INVALID_PARAMETER_VALUE without
 * bothering a worker; a valid one goes to the worker with the fewest outstanding requests (ready
 * workers first), which runs them in order. Input typed arrays that own their whole ArrayBuffer are
 * transferred, not copied: after `infer` they are detached (length 0) in the caller; a view into a
 * larger buffer (a Buffer from node's pool, a subarray) is copied instead. Outputs come back transferred.
 * An error of onnxruntime while running rejects with INVALID_PARAMETER_VALUE ("Inference failed: …").
 *
 * Failures: a worker that dies (an uncaught exception, out of memory) rejects its outstanding requests with
 * INTERNAL_ERROR (none is left pending) and is replaced by a fresh one, which loads the model again; a
 * replacement that cannot load the model is not replaced again, and when no worker is left `infer`
 * rejects with TEMPORARILY_UNAVAILABLE. `close()` rejects what is outstanding with INVALID_STATE and
 * has each worker end itself once its run in progress (if any) is over; it resolves when all have exited.
 * Until then the workers keep the process alive.
 *
 * Workers are never ended with `worker.terminate()`: node stopping a thread while onnxruntime-node runs
 * native code on it aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'"). For the same reason a process should `await engine.close()` before `process.exit()`
 * while inferences may be running.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { TrellisError, invalidParameter, invalidState, notFound } from '../../core/errors';
import { DATATYPES, describeData, elementCount, isDataOf, isDatatype, postTransferring } from './datatypes';
import type { EngineToWorker, OnnxWorkerInit, WorkerToEngine } from './onnx-worker';
import type { EngineOptions, InferenceEngine, ModelSignature, Tensor } from './types';

/** At most this many workers per engine. */
export const MAX_WORKERS = 64;

export interface WorkerStats {
  index: number;
  threadId: number;
  state: 'starting' | 'ready' | 'dead';
  /** Requests sent to this worker and not answered yet. */
  outstanding: number;
  /** Requests this worker answered (results and errors). */
  completed: number;
  /** How many workers held this place before this one (each replaced after dying). */
  restarts: number;
}

/** How the worker module is found: next to a bundle (dist/onnx-worker.js) or compiled JS, or as TypeScript source under tsx. */
function workerEntry(): { filename: string; eval: boolean } {
  const js = join(__dirname, 'onnx-worker.js');
  if (existsSync(js)) return { filename: js, eval: false };
  const ts = join(__dirname, 'onnx-worker.ts');
  if (existsSync(ts)) {
    // Node 20 does not pass tsx's loader hooks on to worker threads: register them in the worker first.
    const tsx = createRequire(__filename).resolve('tsx/cjs');
    return { filename: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});`, eval: true };
  }
  throw new Error(`The ONNX inference worker is missing (looked for ${js} and ${ts})`);
}

function checkOptions(options: EngineOptions): { workers: number; intraOpThreads: number } {
  const workers = options?.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw invalidParameter(`workers must be an integer from 1 to ${MAX_WORKERS} (got ${workers})`);
  }
  const intraOpThreads = options.intraOpThreads ?? 1;
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
    throw invalidParameter(`intraOpThreads must be an integer ≥ 1 (got ${options.intraOpThreads})`);
  }
  return { workers, intraOpThreads };
}

interface ModelSource {
  model: string | Uint8Array;
  /** How messages name the model: its path as given, or "The model (N bytes)". */
  label: string;
}

async function modelSource(model: string | Uint8Array): Promise<ModelSource> {
  if (typeof model === 'string') {
    let size: number;
    try {
      const st = await stat(model);
      if (!st.isFile()) throw invalidParameter(`Model ${model} is not a file`);
      size = st.size;
    } catch (err) {
      if (err instanceof TrellisError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`Model file ${model} does not exist`);
      throw invalidParameter(`Cannot read model file ${model}: ${(err as Error).message}`);
    }
    if (size === 0) throw invalidParameter(`${model} is not a valid ONNX model: the file is empty`);
    return { model: resolve(model), label: model };
  }
  if (!(model instanceof Uint8Array)) throw invalidParameter('The model must be a file path or a Uint8Array of ONNX bytes');
  if (model.byteLength === 0) throw invalidParameter('The model is not a valid ONNX model: it has no bytes');
  // A copy of our own: the caller may reuse its buffer while the workers (and later replacements) load.
  return { model: model.slice(), label: `The model (${model.byteLength} bytes)` };
}

function loadError(label: string, msg: Extract<WorkerToEngine, { type: 'load-failed' }>): TrellisError {
  if (msg.stage === 'signature') return invalidParameter(`${label} cannot be served: ${msg.reason}`);
  if (/protobuf|pars(e|ing)|invalid model|invalid_graph|invalid_protobuf|no graph/i.test(msg.reason)) {
    return invalidParameter(`${label} is not a valid ONNX model: ${msg.reason}`);
  }
  return invalidParameter(`${label} could not be loaded by onnxruntime: ${msg.reason}`);
}

const fmtShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Checks an inference request against a signature; returns the output names to compute (all of the
 * signature's, in its order, when `outputNames` is absent or empty). Throws INVALID_PARAMETER_VALUE
 * naming the first problem. A signature shape [] (a scalar, or a tensor of unknown rank: onnxruntime
 * reports both so) does not constrain the shape.
 */
export function checkInferenceRequest(signature: ModelSignature, inputs: readonly Tensor[], outputNames?: readonly string[]): string[] {
  if (!Array.isArray(inputs)) throw invalidParameter('inputs must be an array of tensors');
  const specs = new Map(signature.inputs.map((s) => [s.name, s]));
  const seen = new Set<string>();
  for (const t of inputs) {
    if (t === null || typeof t !== 'object' || typeof t.name !== 'string') throw invalidParameter('Each input must be a tensor with a name');
    const spec = specs.get(t.name);
    if (!spec) {
      throw invalidParameter(`Unknown input ${JSON.stringify(t.name)}; the model's inputs are ${signature.inputs.map((s) => s.name).join(', ')}`);
    }
    if (seen.has(t.name)) throw invalidParameter(`Input ${t.name} is given more than once`);
    seen.add(t.name);
    if (!isDatatype(t.datatype)) throw invalidParameter(`Input ${t.name} has the unknown datatype ${JSON.stringify(t.datatype)} (known: ${DATATYPES.join(', ')})`);
    if (t.datatype !== spec.datatype) throw invalidParameter(`Input ${t.name} has datatype ${t.datatype} but the model expects ${spec.datatype}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d: number) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalidParameter(`Input ${t.name} has an invalid shape ${JSON.stringify(t.shape)}: dimensions must be integers ≥ 0`);
    }
    if (spec.shape.length > 0) {
      const fits = t.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === t.shape[i]);
      if (!fits) throw invalidParameter(`Input ${t.name} has shape ${fmtShape(t.shape)} but the model expects ${fmtShape(spec.shape)} (-1: any size)`);
    }
    if (!isDataOf(t.datatype, t.data)) {
      const want = t.datatype === 'BYTES' ? 'an array of strings' : `a ${t.datatype === 'FP16' ? 'Float32Array (FP16 values)' : describeTypedArray(t.datatype)}`;
      throw invalidParameter(`Input ${t.name} (${t.datatype}) needs its data as ${want}, not ${describeData(t.data)}`);
    }
    const count = elementCount(t.shape);
    if (t.data.length !== count) {
      throw invalidParameter(`Input ${t.name} has shape ${fmtShape(t.shape)} (${count} elements) but ${t.data.length} values`);
    }
  }
  const missing = signature.inputs.filter((s) => !seen.has(s.name)).map((s) => s.name);
  if (missing.length > 0) throw invalidParameter(`Missing input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);

  if (outputNames === undefined || outputNames.length === 0) return signature.outputs.map((s) => s.name);
  if (!Array.isArray(outputNames)) throw invalidParameter('outputNames must be an array of output names');
  const known = new Set(signature.outputs.map((s) => s.name));
  const wanted = new Set<string>();
  for (const name of outputNames) {
    if (!known.has(name)) {
      throw invalidParameter(`Unknown output ${JSON.stringify(name)}; the model's outputs are ${signature.outputs.map((s) => s.name).join(', ')}`);
    }
    if (wanted.has(name)) throw invalidParameter(`Output ${name} is requested more than once`);
    wanted.add(name);
  }
  return [...wanted];
}

function describeTypedArray(datatype: Exclude<Tensor['datatype'], 'BYTES'>): string {
  return { FP32: 'Float32Array', FP64: 'Float64Array', INT8: 'Int8Array', INT16: 'Int16Array', INT32: 'Int32Array', INT64: 'BigInt64Array', UINT8: 'Uint8Array', BOOL: 'Uint8Array (0/1)', FP16: 'Float32Array' }[datatype];
}

function deepFreeze(signature: ModelSignature): ModelSignature {
  for (const list of [signature.inputs, signature.outputs]) {
    for (const s of list) Object.freeze(Object.freeze(s).shape);
    Object.freeze(list);
  }
  return Object.freeze(signature);
}

interface Pending {
  resolve: (outputs: Tensor[]) => void;
  reject: (err: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker;
  threadId: number;
  state: 'starting' | 'ready' | 'dead';
  pending: Map<number, Pending>;
  completed: number;
  restarts: number;
  /** Set when the engine ends this worker itself: its exit is then no crash. */
  expectedExit: boolean;
  /** Resolves with the worker's signature once its session is ready; rejects if it cannot load. */
  ready: Promise<ModelSignature>;
  exited: Promise<void>;
}

export class OnnxEngine implements InferenceEngine {
  private sig: ModelSignature | null = null;
  private readonly slots: Slot[] = [];
  private readonly entry = workerEntry();
  private nextId = 0;
  private closed = false;
  private closing: Promise<void> | null = null;

  /** Use `loadOnnxModel`. */
  constructor(
    private readonly source: ModelSource,
    private readonly options: { workers: number; intraOpThreads: number },
  ) {}

  get signature(): ModelSignature {
    if (!this.sig) throw invalidState('The model is not loaded yet');
    return this.sig;
  }

  /** Starts the workers: the first one alone (it validates the model and gives the signature), then the rest. */
  async start(): Promise<void> {
    try {
      this.sig = deepFreeze(await this.spawn(0, 0).ready);
      const rest: Promise<ModelSignature>[] = [];
      for (let i = 1; i < this.options.workers; i++) rest.push(this.spawn(i, 0).ready);
      await Promise.all(rest);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  infer(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
    try {
      if (this.closed) throw invalidState('The inference engine is closed');
      const outputs = checkInferenceRequest(this.signature, inputs, outputNames);
      const slot = this.pick();
      if (!slot) throw new TrellisError('TEMPORARILY_UNAVAILABLE', 'No inference worker is running: the model could not be reloaded after its workers died');
      const id = ++this.nextId;
      // Only the contract's fields travel (anything else on the objects could fail to clone).
      const message: EngineToWorker = {
        type: 'infer',
        id,
        inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape], data: t.data })),
        outputs,
      };
      return new Promise<Tensor[]>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        try {
          postTransferring(slot.worker, message, inputs.map((t) => t.data));
        } catch (err) {
          slot.pending.delete(id);
          reject(invalidParameter(`The inputs cannot be sent to the inference worker: ${(err as Error).message}`));
        }
      });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Per worker: state, outstanding and completed requests, restarts. */
  stats(): WorkerStats[] {
    return this.slots.map((s) => ({
      index: s.index,
      threadId: s.threadId,
      state: s.state,
      outstanding: s.pending.size,
      completed: s.completed,
      restarts: s.restarts,
    }));
  }

  /**
   * Fault drill (tests): worker `index` throws an uncaught exception as soon as it reads this (after its
   * run in progress, if any): its outstanding requests reject and a replacement starts. Resolves once the
   * worker has exited.
   */
  async simulateWorkerCrash(index: number): Promise<void> {
    const slot = this.slots[index];
    if (!slot || slot.state === 'dead') throw invalidParameter(`No running worker ${index}`);
    slot.worker.postMessage({ type: 'crash' } satisfies EngineToWorker);
    await slot.exited;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const err = invalidState('The inference engine was closed before the request completed');
      for (const s of this.slots) {
        s.expectedExit = true;
        this.rejectAll(s, err);
      }
      // Each worker ends itself once its run in progress is over (see onnx-worker.ts: no terminate()).
      for (const s of this.slots) s.worker.postMessage({ type: 'close' } satisfies EngineToWorker);
      await Promise.all(this.slots.map((s) => s.exited));
    })();
    return this.closing;
  }

  private pick(): Slot | null {
    let best: Slot | null = null;
    for (const s of this.slots) {
      if (s.state === 'dead') continue;
      if (
        !best ||
        (s.state === 'ready' && best.state !== 'ready') ||
        (s.state === best.state && s.pending.size < best.pending.size)
      ) {
        best = s;
      }
    }
    return best;
  }

  private rejectAll(slot: Slot, err: Error): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) p.reject(err);
  }

  private spawn(index: number, restarts: number): Slot {
    const init: OnnxWorkerInit = { trellisOnnxWorker: true, model: this.source.model, intraOpThreads: this.options.intraOpThreads };
    const worker = new Worker(this.entry.filename, { eval: this.entry.eval, workerData: init });
    let onReady: (s: ModelSignature) => void = () => {};
    let onLoadFailed: (e: Error) => void = () => {};
    let onExit: () => void = () => {};
    const slot: Slot = {
      index,
      worker,
      threadId: worker.threadId,
      state: 'starting',
      pending: new Map(),
      completed: 0,
      restarts,
      expectedExit: false,
      ready: new Promise<ModelSignature>((res, rej) => {
        onReady = res;
        onLoadFailed = rej;
      }),
      exited: new Promise<void>((res) => (onExit = res)),
    };
    slot.ready.catch(() => {}); // a replacement's failure is handled through its state; start() awaits the first ones
    this.slots[index] = slot;
    let lastError: Error | null = null;

    worker.on('message', (msg: WorkerToEngine) => {
      switch (msg.type) {
        case 'ready':
          if (slot.state === 'starting') slot.state = 'ready';
          onReady(msg.signature);
          break;
        case 'load-failed': {
          // A replacement that cannot load what its predecessor ran (the file changed?) is the server's fault.
          const err =
            restarts === 0
              ? loadError(this.source.label, msg)
              : new TrellisError('INTERNAL_ERROR', `A replacement inference worker could not load the model: ${loadError(this.source.label, msg).message}`);
          slot.state = 'dead';
          slot.expectedExit = true;
          onLoadFailed(err);
          this.rejectAll(slot, err);
          worker.postMessage({ type: 'close' } satisfies EngineToWorker);
          break;
        }
        case 'result':
        case 'error': {
          const p = slot.pending.get(msg.id);
          if (!p) return;
          slot.pending.delete(msg.id);
          slot.completed++;
          if (msg.type === 'result') p.resolve(msg.outputs);
          else p.reject(invalidParameter(`Inference failed: ${msg.message}`));
          break;
        }
      }
    });
    // A reply that cannot be deserialized loses its request id: end the worker as if it had crashed,
    // which rejects all it had, and replace it.
    worker.on('messageerror', (err) => {
      lastError = err;
      worker.postMessage({ type: 'crash' } satisfies EngineToWorker);
    });
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', (code) => {
      const wasReady = slot.state === 'ready';
      slot.state = 'dead';
      onExit();
      if (slot.expectedExit || this.closed) {
        this.rejectAll(slot, invalidState('The inference engine was closed before the request completed'));
        onLoadFailed(invalidState('The inference engine was closed while the model was loading'));
        return;
      }
      const reason = lastError ? lastError.message : `exit code ${code}`;
      const err = new TrellisError('INTERNAL_ERROR', `The inference worker stopped unexpectedly (${reason}); the request was not completed`);
      onLoadFailed(new TrellisError('INTERNAL_ERROR', `The inference worker stopped while loading the model (${reason})`));
      this.rejectAll(slot, err);
      // Replace a worker that had been serving; one that died while loading would likely die again.
      if (wasReady && this.slots[index] === slot) this.spawn(index, restarts + 1);
    });
    return slot;
  }
}

let runtimePinned = false;

/**
 * Loads onnxruntime-node's native addon in this thread too, once. Node unloads an addon when the last
 * thread that loaded it exits, and loading it again in a new thread then fails ("Module did not
 * self-register"): without this, a replacement worker, or any worker of a model loaded after the last
 * engine closed, could not start. The main thread runs no inference; only the library stays mapped.
 */
function pinRuntime(): void {
  if (runtimePinned) return;
  try {
    createRequire(__filename)('onnxruntime-node');
  } catch (err) {
    throw invalidState(`onnxruntime-node cannot be loaded: ${(err as Error).message}`);
  }
  runtimePinned = true;
}

/**
 * Loads an ONNX model (a file path, or the model's bytes) into a pool of `options.workers` inference
 * threads. Rejects with INVALID_PARAMETER_VALUE for a model onnxruntime cannot load or that has inputs
 * or outputs this engine cannot serve, RESOURCE_DOES_NOT_EXIST for a missing file.
 */
export async function loadOnnxModel(model: string | Uint8Array, options: EngineOptions): Promise<OnnxEngine> {
  const opts = checkOptions(options);
  const source = await modelSource(model);
  pinRuntime();
  const engine = new OnnxEngine(source, opts);
  await engine.start();
  return engine;
}
