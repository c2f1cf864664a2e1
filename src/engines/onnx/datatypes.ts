/**
 * Datatypes between onnxruntime and the Open Inference Protocol (KServe v2).
 *
 * Data representation (see `TensorData` in ./types): numbers as the typed array of their datatype,
 * INT64 as BigInt64Array, BOOL as Uint8Array (0/1), BYTES as strings. FP16 travels as a Float32Array
 * of its values (there is no half-precision typed array in node 20): the engine converts it to and
 * from IEEE half bits at the runtime's edge, rounding to nearest even; `float32ToFloat16Bits` and
 * `float16BitsToFloat32` are exported for a wire format that carries the raw 2-byte values.
 *
 * This module loads no native code (onnxruntime is only a type import here), so the serving layer can
 * use it in the main thread.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { invalidParameter } from '../../core/errors';
import type { Datatype, TensorData, TensorSpec } from './types';

/** The onnxruntime tensor types this engine serves. */
export type OrtTensorType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'string' | 'uint8' | 'int8' | 'int16' | 'float16';

export const ORT_TO_DATATYPE: Readonly<Record<OrtTensorType, Datatype>> = {
  float32: 'FP32',
  float64: 'FP64',
  int32: 'INT32',
  int64: 'INT64',
  bool: 'BOOL',
  string: 'BYTES',
  uint8: 'UINT8',
  int8: 'INT8',
  int16: 'INT16',
  float16: 'FP16',
};

export const DATATYPE_TO_ORT: Readonly<Record<Datatype, OrtTensorType>> = {
  FP32: 'float32',
  FP64: 'float64',
  INT32: 'int32',
  INT64: 'int64',
  BOOL: 'bool',
  BYTES: 'string',
  UINT8: 'uint8',
  INT8: 'int8',
  INT16: 'int16',
  FP16: 'float16',
};

export const DATATYPES: readonly Datatype[] = Object.keys(DATATYPE_TO_ORT) as Datatype[];

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DATATYPE_TO_ORT, value);
}

export function isOrtTensorType(value: unknown): value is OrtTensorType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ORT_TO_DATATYPE, value);
}

/** The KServe datatype of an onnxruntime tensor type; INVALID_PARAMETER_VALUE for one this engine does not serve. */
export function datatypeFromOrt(type: string): Datatype {
  if (!isOrtTensorType(type)) {
    throw invalidParameter(`Unsupported tensor type ${JSON.stringify(type)} (supported: ${Object.keys(ORT_TO_DATATYPE).join(', ')})`);
  }
  return ORT_TO_DATATYPE[type];
}

export function ortTypeOf(datatype: Datatype): OrtTensorType {
  if (!isDatatype(datatype)) throw invalidParameter(`Unknown datatype ${JSON.stringify(datatype)} (known: ${DATATYPES.join(', ')})`);
  return DATATYPE_TO_ORT[datatype];
}

export type NumericDatatype = Exclude<Datatype, 'BYTES'>;
export type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor;

/** The typed array that holds each numeric datatype's data in `TensorData` (FP16: its values in a Float32Array). */
export const TYPED_ARRAY: Readonly<Record<NumericDatatype, TypedArrayConstructor>> = {
  FP32: Float32Array,
  FP64: Float64Array,
  FP16: Float32Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  UINT8: Uint8Array,
  BOOL: Uint8Array,
};

/** The typed-array constructor of a datatype, or null for BYTES (an array of strings). */
export function typedArrayFor(datatype: Datatype): TypedArrayConstructor | null {
  if (datatype === 'BYTES') return null;
  if (!isDatatype(datatype)) throw invalidParameter(`Unknown datatype ${JSON.stringify(datatype)} (known: ${DATATYPES.join(', ')})`);
  return TYPED_ARRAY[datatype];
}

/** What a value is, for messages: the typed array's name, 'string[]', 'Array', or its typeof. */
export function describeData(data: unknown): string {
  if (ArrayBuffer.isView(data)) return (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] ?? 'DataView';
  if (Array.isArray(data)) return data.every((v) => typeof v === 'string') ? 'string[]' : 'Array';
  return data === null ? 'null' : typeof data;
}

/** Whether `data` is the representation `TensorData` prescribes for `datatype` (a Buffer counts as a Uint8Array). */
export function isDataOf(datatype: Datatype, data: unknown): data is TensorData {
  if (datatype === 'BYTES') return Array.isArray(data) && data.every((v) => typeof v === 'string');
  const ctor = typedArrayFor(datatype);
  return ctor !== null && ArrayBuffer.isView(data) && describeData(data) === ctor.name;
}

/** The element count of a shape (1 for a scalar's []). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A TensorSpec from onnxruntime's metadata of an input or output. Symbolic, unnamed and unknown
 * dimensions become -1. onnxruntime reports a tensor of unknown rank as [] (like a scalar).
 * INVALID_PARAMETER_VALUE for a non-tensor value (sequence, map) or an unsupported element type.
 */
export function toSpec(metadata: InferenceSession.ValueMetadata): TensorSpec {
  if (!metadata.isTensor) {
    throw invalidParameter(`${metadata.name} is not a tensor (sequences and maps are not supported)`);
  }
  if (!isOrtTensorType(metadata.type)) {
    throw invalidParameter(
      `${metadata.name} has the unsupported tensor type ${JSON.stringify(metadata.type)} (supported: ${Object.keys(ORT_TO_DATATYPE).join(', ')})`,
    );
  }
  const shape = metadata.shape.map((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 0 ? d : -1));
  return { name: metadata.name, datatype: ORT_TO_DATATYPE[metadata.type], shape };
}

/**
 * The ArrayBuffers of typed arrays that own their whole buffer (each once): these can go in a
 * postMessage transfer list without detaching anything else (a Buffer from node's pool, a view into a
 * larger buffer, and a SharedArrayBuffer are left out; they are copied instead).
 */
export function transferables(arrays: Iterable<TensorData>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const data of arrays) {
    if (!ArrayBuffer.isView(data)) continue;
    const buf = data.buffer;
    if (buf instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buf.byteLength && buf.byteLength > 0) out.add(buf);
  }
  return [...out];
}

/**
 * Posts a message between the engine and its workers with the tensors' buffers transferred where they
 * can be (see transferables); should one still refuse to detach (an external buffer), everything is copied.
 */
export function postTransferring(port: { postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void }, message: unknown, arrays: Iterable<TensorData> = []): void {
  const buffers = transferables(arrays);
  if (buffers.length > 0) {
    try {
      port.postMessage(message, buffers);
      return;
    } catch {
      /* copied below */
    }
  }
  port.postMessage(message);
}

// ---- FP16 ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half bits of a number, rounded to nearest even (overflow → ±Infinity, NaN kept). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf / NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding to even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // may carry into the exponent: still right (up to Inf)
  return sign | half;
}

/** The number that IEEE 754 half bits encode. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** `value` rounded to the nearest half-precision number. */
export function roundToFloat16(value: number): number {
  return fromFloat16Bits(toFloat16Bits(value));
}

export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  return out;
}

export function float16BitsToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromFloat16Bits(bits[i]!);
  return out;
}
