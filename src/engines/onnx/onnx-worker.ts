/**
 * One inference thread of the ONNX engine (./onnx-engine.ts starts `options.workers` of these with
 * worker_threads). Each holds its own onnxruntime session: onnxruntime-node's `run` computes on the
 * calling JS thread, so it runs here and the engine's caller keeps its event loop.
 *
 * Protocol: the worker creates its session from `workerData.model` (a file path, or the model's bytes)
 * and posts `ready` with the model's signature, or `load-failed` with onnxruntime's reason (it then
 * idles until terminated). The engine posts `infer` messages (they may arrive before `ready`: they wait
 * for the session); each gets one `result` or `error` with the same id, in order. Output buffers are
 * transferred back, not copied. `close` ends the thread from inside once the run in progress is over:
 * the engine never terminates a worker from outside, as node's `worker.terminate()` while onnxruntime
 * runs native code aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'").
 *
 * Loaded by the engine under tsx as TypeScript, or from dist/onnx-worker.js when bundled; it does
 * nothing when imported in the main thread (the engine imports only its types).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { DATATYPE_TO_ORT, datatypeFromOrt, float16BitsToFloat32, float32ToFloat16Bits, postTransferring, toSpec } from './datatypes';
import type { ModelSignature, Tensor, TensorData } from './types';

export interface OnnxWorkerInit {
  trellisOnnxWorker: true;
  /** A model file path (onnxruntime reads it), or the model's bytes (copied to each worker). */
  model: string | Uint8Array;
  intraOpThreads: number;
}

export type EngineToWorker =
  | { type: 'infer'; id: number; inputs: Tensor[]; outputs: string[] }
  /** Finish the run in progress, drop queued requests (the engine has rejected them), release the session, exit. */
  | { type: 'close' }
  /** Throw an uncaught exception at once (fault drills: the engine must replace the worker). */
  | { type: 'crash' };

export type WorkerToEngine =
  | { type: 'ready'; signature: ModelSignature }
  /** `stage`: 'load' when onnxruntime could not create a session, 'signature' when the model uses what this engine cannot serve. */
  | { type: 'load-failed'; stage: 'load' | 'signature'; reason: string }
  | { type: 'result'; id: number; outputs: Tensor[] }
  | { type: 'error'; id: number; message: string };

/** onnxruntime's messages carry line breaks and padding: one line. */
export const oneLine = (message: string): string => message.replace(/\s+/g, ' ').trim();

function toOrt(t: Tensor): ort.Tensor {
  const dims = t.shape;
  switch (t.datatype) {
    case 'FP16':
      return new ort.Tensor('float16', float32ToFloat16Bits(t.data as Float32Array), dims);
    case 'BYTES':
      return new ort.Tensor('string', t.data as string[], dims);
    default:
      return new ort.Tensor(DATATYPE_TO_ORT[t.datatype] as 'float32', t.data as Float32Array, dims);
  }
}

function fromOrt(name: string, value: ort.OnnxValue): Tensor {
  const t = value as ort.Tensor;
  const datatype = datatypeFromOrt(t.type);
  let data = t.data as TensorData | Uint16Array;
  if (datatype === 'FP16') data = float16BitsToFloat32(data as Uint16Array);
  return { name, datatype, shape: [...t.dims], data: data as TensorData };
}

async function workerMain(): Promise<void> {
  const init = workerData as OnnxWorkerInit;
  const port = parentPort!;
  const post = (msg: WorkerToEngine, arrays: TensorData[] = []) => postTransferring(port, msg, arrays);

  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  const sessionPromise: Promise<ort.InferenceSession | null> = (
    typeof init.model === 'string' ? ort.InferenceSession.create(init.model, options) : ort.InferenceSession.create(init.model, options)
  ).then(
    (session) => {
      let signature: ModelSignature;
      try {
        signature = { inputs: session.inputMetadata.map(toSpec), outputs: session.outputMetadata.map(toSpec) };
      } catch (err) {
        post({ type: 'load-failed', stage: 'signature', reason: oneLine((err as Error).message) });
        return null;
      }
      post({ type: 'ready', signature });
      return session;
    },
    (err: unknown) => {
      post({ type: 'load-failed', stage: 'load', reason: oneLine(err instanceof Error ? err.message : String(err)) });
      return null;
    },
  );

  // One request at a time, in arrival order; `close` lets the run in progress finish, drops the rest and
  // ends the thread from JS. (Terminating a thread from outside while onnxruntime runs aborts the process.)
  let chain: Promise<void> = Promise.resolve();
  let closing = false;
  const runOne = async (msg: Extract<EngineToWorker, { type: 'infer' }>): Promise<void> => {
    if (closing) return;
    const session = await sessionPromise;
    if (!session) {
      post({ type: 'error', id: msg.id, message: 'The model is not loaded' });
      return;
    }
    let outputs: Tensor[];
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of msg.inputs) feeds[t.name] = toOrt(t);
      // All outputs, then the requested ones: onnxruntime-node 1.23 mislabels the results of a run given
      // a subset of outputs as fetches (microsoft/onnxruntime#26865, fixed after 1.23.2).
      const result = await session.run(feeds, { logSeverityLevel: 4 }); // its errors go back to the caller, not to stderr
      outputs = msg.outputs.map((name) => {
        const value = result[name];
        if (value === undefined) throw new Error(`onnxruntime returned no output ${name}`);
        return fromOrt(name, value);
      });
    } catch (err) {
      post({ type: 'error', id: msg.id, message: oneLine(err instanceof Error ? err.message : String(err)) });
      return;
    }
    post({ type: 'result', id: msg.id, outputs }, outputs.map((o) => o.data));
  };

  port.on('message', (msg: EngineToWorker) => {
    switch (msg.type) {
      case 'infer':
        // Whatever fails, the request gets an answer and the chain goes on (a lost reply would hang its caller).
        chain = chain
          .then(() => runOne(msg))
          .catch((err: unknown) => post({ type: 'error', id: msg.id, message: oneLine(err instanceof Error ? err.message : String(err)) }));
        break;
      case 'close':
        closing = true;
        chain = chain.then(async () => {
          const session = await sessionPromise;
          await session?.release().catch(() => {});
          process.exit(0);
        });
        break;
      case 'crash':
        // A fault drill: an uncaught exception, as a bug in this thread would raise; requests queued behind
        // the one running (if any) are lost with the thread.
        throw new Error('simulated worker crash');
    }
  });
}

if (!isMainThread && (workerData as OnnxWorkerInit | undefined)?.trellisOnnxWorker === true) void workerMain();
