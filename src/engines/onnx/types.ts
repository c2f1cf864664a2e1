/**
 * The inference engine's contract, in the Open Inference Protocol's (KServe v2) terms so the serving
 * layer never sees onnxruntime types. Another runtime would implement the same interface.
 */

/** KServe v2 tensor datatypes. */
export type Datatype = 'BOOL' | 'UINT8' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

/** A model input or output as its signature declares it; -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Row-major tensor data: a typed array for numbers (BigInt64Array for INT64), booleans as Uint8Array, BYTES as strings. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | string[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

export interface InferenceEngine {
  readonly signature: ModelSignature;
  /** Runs one inference off the caller's thread; rejects with a clear message on a runtime failure. */
  infer(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]>;
  /** Stops the engine's worker threads and releases the model. */
  close(): Promise<void>;
}

export interface EngineOptions {
  /** worker_threads that each hold a session; requests go to the least busy one. */
  workers: number;
  /** onnxruntime intra-op threads per session: 1 by default so workers × threads fits the cores. */
  intraOpThreads?: number;
}
