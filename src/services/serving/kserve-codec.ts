/**
 * The Open Inference Protocol (KServe v2) REST codec: inference requests in, engine tensors out, and back.
 * Pure: no I/O, no engine. Every request is checked against the model's signature (input names, datatype,
 * shape, element count, element types) and every refusal is a `KServeError` whose message names the input
 * and says what was expected. Supports JSON tensors (flat or nested row-major) and the binary tensor data
 * extension (`Inference-Header-Content-Length`: a JSON header followed by raw little-endian tensor bytes).
 * FP16 values are carried as a Float32Array of their values, as the engine expects; on the wire as JSON
 * numbers or, in binary, as IEEE half bits.
 */
import type { Datatype, ModelSignature, Tensor, TensorData, TensorSpec } from '../../engines/onnx/types';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../engines/onnx/datatypes';
import { NumberRun, readRequestJson } from './request-json';

/** An error answered as KServe's `{"error": "..."}` with this HTTP status (400, 404, 413, 503…). */
export class KServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds for a `Retry-After` header (503 overloaded). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'KServeError';
  }
}

export const badRequest = (message: string): KServeError => new KServeError(400, message);

/** The header that announces the binary tensor data extension: the JSON header's length in bytes. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/** The model platform name KServe and Triton use for ONNX Runtime. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

/** What a decoded inference request asks for. */
export interface DecodedRequest {
  id?: string;
  /** Tensors in the signature's input order. */
  inputs: Tensor[];
  /** Requested outputs (names), or undefined for all of them in the signature's order. */
  outputs?: string[];
  /** Output names to send as binary data (the request's `binary_data_output` or an output's `binary_data`). */
  binaryOutputs: Set<string>;
}

/** Bytes per element; BYTES (variable) is 0. */
export const ELEMENT_BYTES: Record<Datatype, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: 0,
};

const DATATYPES = new Set(Object.keys(ELEMENT_BYTES));
const FP32_MAX = 3.4028234663852886e38;
const FP16_MAX = 65504;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
};
const SPECIAL_FLOATS: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

export const formatShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;
const describe = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const specText = (s: TensorSpec): string => `${s.name} (${s.datatype} ${formatShape(s.shape)})`;

// ---------------------------------------------------------------------------------------------------
// Body: JSON, or the binary extension's JSON header followed by tensor bytes.

/**
 * Splits a request body into its JSON header and (binary extension) the bytes after it.
 * `headerLength` is the `Inference-Header-Content-Length` header's value, if sent.
 */
export function parseRequestBody(body: Buffer, headerLength?: string): { header: unknown; binary?: Buffer } {
  let jsonBytes = body;
  let binary: Buffer | undefined;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^\s*\d+\s*$/.test(headerLength) || !Number.isSafeInteger(n)) {
      throw badRequest(`Inference-Header-Content-Length must be a whole number of bytes, got '${headerLength}'.`);
    }
    if (n > body.length) {
      throw badRequest(`Inference-Header-Content-Length is ${n} but the body has only ${body.length} bytes.`);
    }
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  const header = readRequestJson(jsonBytes) ?? parseJsonText(jsonBytes.toString('utf8'));
  return { header, ...(binary ? { binary } : {}) };
}

/** JSON.parse; on failure, once more with Python's bare NaN/Infinity tokens read as strings. */
function parseJsonText(text: string): unknown {
  if (text.trim() === '') throw badRequest('The request body is empty: send a JSON object {"inputs": [{"name", "shape", "datatype", "data"}]}.');
  try {
    return JSON.parse(text);
  } catch (err) {
    const relaxed = quoteSpecialFloats(text);
    if (relaxed !== text) {
      try {
        return JSON.parse(relaxed);
      } catch {
        /* report the original error */
      }
    }
    throw badRequest(`Malformed JSON in the request body: ${(err as Error).message}.`);
  }
}

/** `NaN`, `Infinity`, `-Infinity` outside strings → `"NaN"`… (Python's json writes them bare). */
function quoteSpecialFloats(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : `"${m}"`));
}

// ---------------------------------------------------------------------------------------------------
// Request → tensors.

/** Checks an inference request against the signature and converts its inputs to engine tensors. */
export function decodeInferenceRequest(header: unknown, signature: ModelSignature, binary?: Buffer): DecodedRequest {
  if (!isObject(header)) {
    throw badRequest(`The request body must be a JSON object {"inputs": [...]}, got ${Array.isArray(header) ? 'an array' : describe(header)}.`);
  }
  const id = header.id;
  if (id !== undefined && typeof id !== 'string') throw badRequest(`'id' must be a string, got ${describe(id)}.`);
  const params = header.parameters;
  if (params !== undefined && !isObject(params)) throw badRequest(`'parameters' must be an object, got ${describe(params)}.`);
  const binaryAll = flag(params, 'binary_data_output', 'the request');

  const rawInputs = header.inputs;
  if (!Array.isArray(rawInputs)) {
    throw badRequest(`'inputs' must be an array of tensors {"name", "shape", "datatype", "data"}; the model expects ${signature.inputs.map(specText).join(', ')}.`);
  }
  const specs = new Map(signature.inputs.map((s) => [s.name, s]));
  const given = new Map<string, Record<string, unknown>>();
  rawInputs.forEach((item, i) => {
    if (!isObject(item)) throw badRequest(`inputs[${i}] must be an object {"name", "shape", "datatype", "data"}, got ${describe(item)}.`);
    if (typeof item.name !== 'string') throw badRequest(`inputs[${i}] needs a 'name' (string): the model's inputs are ${[...specs.keys()].join(', ')}.`);
    if (!specs.has(item.name)) {
      throw badRequest(`Unexpected input '${item.name}': the model's inputs are ${signature.inputs.map(specText).join(', ')}.`);
    }
    if (given.has(item.name)) throw badRequest(`Input '${item.name}' is given more than once.`);
    given.set(item.name, item);
  });
  const missing = signature.inputs.filter((s) => !given.has(s.name));
  if (missing.length > 0) {
    throw badRequest(`Missing input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `'${s.name}' (${s.datatype} ${formatShape(s.shape)})`).join(', ')}.`);
  }

  // Binary data is laid out in the order of the request's inputs.
  const tensors = new Map<string, Tensor>();
  let offset = 0;
  for (const item of given.values()) {
    const spec = specs.get(item.name as string)!;
    const p = item.parameters;
    if (p !== undefined && !isObject(p)) throw badRequest(`input '${spec.name}': 'parameters' must be an object, got ${describe(p)}.`);
    const size = p?.binary_data_size;
    let bytes: Buffer | undefined;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw badRequest(`input '${spec.name}': binary_data_size must be a whole number of bytes, got ${describe(size)}.`);
      }
      if (!binary) {
        throw badRequest(`input '${spec.name}': binary_data_size is set but the request has no binary data (send the Inference-Header-Content-Length header with the JSON header's length).`);
      }
      if (offset + size > binary.length) {
        throw badRequest(`input '${spec.name}': binary_data_size ${size} runs past the end of the binary data (${binary.length - offset} bytes left).`);
      }
      bytes = binary.subarray(offset, offset + size);
      offset += size;
    }
    tensors.set(spec.name, decodeInput(item, spec, bytes));
  }
  if (binary && offset !== binary.length) {
    throw badRequest(`The request has ${binary.length - offset} bytes of binary data that no input claims (set parameters.binary_data_size on each binary input).`);
  }

  let outputs: string[] | undefined;
  const binaryOutputs = new Set<string>(binaryAll ? signature.outputs.map((o) => o.name) : []);
  if (header.outputs !== undefined) {
    if (!Array.isArray(header.outputs)) throw badRequest(`'outputs' must be an array of {"name"}, got ${describe(header.outputs)}.`);
    const known = new Set(signature.outputs.map((o) => o.name));
    outputs = [];
    for (const [i, o] of header.outputs.entries()) {
      if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${i}] must be an object with a 'name' (string), got ${describe(o)}.`);
      if (!known.has(o.name)) throw badRequest(`Unknown output '${o.name}': the model's outputs are ${[...known].join(', ')}.`);
      if (outputs.includes(o.name)) throw badRequest(`Output '${o.name}' is requested more than once.`);
      if (o.parameters !== undefined && !isObject(o.parameters)) throw badRequest(`output '${o.name}': 'parameters' must be an object.`);
      const wantsBinary = flag(o.parameters as Record<string, unknown> | undefined, 'binary_data', `output '${o.name}'`);
      if (wantsBinary === true) binaryOutputs.add(o.name);
      else if (wantsBinary === false) binaryOutputs.delete(o.name);
      outputs.push(o.name);
    }
    if (outputs.length === 0) outputs = undefined;
  }
  return {
    ...(id !== undefined ? { id } : {}),
    inputs: signature.inputs.map((s) => tensors.get(s.name)!),
    ...(outputs ? { outputs } : {}),
    binaryOutputs,
  };
}

function flag(params: Record<string, unknown> | undefined, key: string, owner: string): boolean | undefined {
  const v = params?.[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${owner}: parameters.${key} must be true or false, got ${describe(v)}.`);
  return v;
}

/** One input: datatype, shape against the signature, then its data (JSON or binary) against the shape. */
function decodeInput(item: Record<string, unknown>, spec: TensorSpec, bytes: Buffer | undefined): Tensor {
  const name = spec.name;
  const datatype = item.datatype;
  if (typeof datatype !== 'string') throw badRequest(`input '${name}': 'datatype' is required: expected ${spec.datatype}.`);
  if (datatype !== spec.datatype) {
    const known = DATATYPES.has(datatype) ? '' : ` (not a KServe v2 datatype)`;
    throw badRequest(`input '${name}': expected datatype ${spec.datatype}, got ${datatype}${known}.`);
  }
  const shape = checkShape(name, item.shape, spec);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) throw badRequest(`input '${name}': shape ${formatShape(shape)} has too many elements.`);

  let data: TensorData;
  if (bytes) {
    if (item.data !== undefined) throw badRequest(`input '${name}': give either 'data' or parameters.binary_data_size, not both.`);
    data = decodeBinary(name, spec.datatype, bytes, count, shape);
  } else {
    if (item.data === undefined) throw badRequest(`input '${name}': 'data' is required (a flat or nested row-major array of ${count} ${spec.datatype} values).`);
    if (item.data instanceof NumberRun) return { name, datatype: spec.datatype, shape, data: fromNumberRun(name, spec.datatype, item.data, shape, count) };
    const flat = flatten(name, item.data, shape);
    if (flat.length !== count) {
      throw badRequest(`input '${name}': shape ${formatShape(shape)} needs ${count} values, got ${flat.length}.`);
    }
    data = convert(name, spec.datatype, flat);
  }
  return { name, datatype: spec.datatype, shape, data };
}

function checkShape(name: string, raw: unknown, spec: TensorSpec): number[] {
  if (!Array.isArray(raw) || !raw.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw badRequest(`input '${name}': 'shape' must be an array of non-negative integers like ${formatShape(spec.shape.map((d) => (d < 0 ? 1 : d)))}, got ${describe(raw)}.`);
  }
  const shape = raw as number[];
  if (shape.length !== spec.shape.length) {
    throw badRequest(`input '${name}': expected shape ${formatShape(spec.shape)} (rank ${spec.shape.length}), got ${formatShape(shape)} (rank ${shape.length}).`);
  }
  spec.shape.forEach((want, i) => {
    if (want >= 0 && shape[i] !== want) {
      const batch = i === 0 ? `; the model's batch size is fixed at ${want}` : '';
      throw badRequest(`input '${name}': dimension ${i} of shape ${formatShape(shape)} must be ${want} (the model's shape is ${formatShape(spec.shape)}, -1 is free)${batch}.`);
    }
  });
  return shape;
}

/**
 * Flat data as is; nested data flattened row-major after checking it is regular (every array at one
 * depth has the same length, and scalars only at the deepest level). When its depth equals the shape's
 * rank its dimensions must be the shape.
 */
function flatten(name: string, data: unknown, shape: number[]): unknown[] {
  if (!Array.isArray(data)) throw badRequest(`input '${name}': 'data' must be an array (flat or nested row-major), got ${describe(data)}.`);
  if (data.length === 0 || !Array.isArray(data[0])) return data;
  const dims: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) dims.push(level.length);
  const out: unknown[] = [];
  const walk = (node: unknown[], depth: number, path: string): void => {
    if (node.length !== dims[depth]) {
      throw badRequest(`input '${name}': nested data is ragged: data${path} has ${node.length} items, expected ${dims[depth]}.`);
    }
    if (depth === dims.length - 1) {
      for (let i = 0; i < node.length; i++) {
        if (Array.isArray(node[i])) throw badRequest(`input '${name}': nested data is ragged: data${path}[${i}] is an array, expected a value.`);
        out.push(node[i]);
      }
      return;
    }
    for (let i = 0; i < node.length; i++) {
      const child = node[i];
      if (!Array.isArray(child)) throw badRequest(`input '${name}': nested data is ragged: data${path}[${i}] is ${describe(child)}, expected an array.`);
      walk(child, depth + 1, `${path}[${i}]`);
    }
  };
  walk(data, 0, '');
  if (dims.length === shape.length && dims.some((d, i) => d !== shape[i])) {
    throw badRequest(`input '${name}': nested data has dimensions ${formatShape(dims)} but the shape is ${formatShape(shape)}.`);
  }
  return out;
}

/**
 * The fast reader's numbers (see request-json.ts), checked as `flatten` checks nested data. FP32 goes
 * straight from the bytes to float32; a value at the edge of its range, and every other datatype, goes
 * through `convert` for the same checks and messages as JSON.parse'd data.
 */
function fromNumberRun(name: string, datatype: Datatype, run: NumberRun, shape: number[], count: number): TensorData {
  if (run.dims.length > 1 && run.dims.length === shape.length && run.dims.some((d, i) => d !== shape[i])) {
    throw badRequest(`input '${name}': nested data has dimensions ${formatShape(run.dims)} but the shape is ${formatShape(shape)}.`);
  }
  if (run.length !== count) throw badRequest(`input '${name}': shape ${formatShape(shape)} needs ${count} values, got ${run.length}.`);
  if (datatype === 'FP32') {
    const out = run.toFloat32();
    let inRange = true;
    for (let i = 0; i < out.length && inRange; i++) inRange = Math.abs(out[i]!) < FP32_MAX;
    if (inRange) return out;
  }
  return convert(name, datatype, run.numbers());
}

/** JSON values → a typed array (or strings), refusing any value the datatype cannot hold. */
function convert(name: string, datatype: Datatype, flat: unknown[]): TensorData {
  const n = flat.length;
  const bad = (i: number, expected: string): KServeError =>
    badRequest(`input '${name}': expected ${expected}, got ${describe(flat[i])} at index ${i}.`);
  switch (datatype) {
    case 'FP16':
    case 'FP32':
    case 'FP64': {
      const out = datatype === 'FP64' ? new Float64Array(n) : new Float32Array(n);
      const max = datatype === 'FP16' ? FP16_MAX : datatype === 'FP32' ? FP32_MAX : Infinity;
      for (let i = 0; i < n; i++) {
        let v = flat[i];
        if (typeof v === 'string' && v in SPECIAL_FLOATS) v = SPECIAL_FLOATS[v];
        if (typeof v !== 'number') throw bad(i, `${datatype} numbers`);
        if (Number.isFinite(v) && Math.abs(v) > max) throw bad(i, `${datatype} numbers (at most ±${max})`);
        out[i] = v;
      }
      return out;
    }
    case 'UINT8':
    case 'INT8':
    case 'INT16':
    case 'INT32': {
      const [lo, hi] = INT_RANGE[datatype]!;
      const out =
        datatype === 'UINT8' ? new Uint8Array(n) : datatype === 'INT8' ? new Int8Array(n) : datatype === 'INT16' ? new Int16Array(n) : new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(i, `${datatype} integers from ${lo} to ${hi}`);
        out[i] = v;
      }
      return out;
    }
    case 'INT64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        let b: bigint;
        if (typeof v === 'number' && Number.isInteger(v)) {
          if (!Number.isSafeInteger(v)) {
            throw bad(i, `INT64 integers; beyond ±(2^53-1) a JSON number loses precision, so send it as a string of digits or as binary data,`);
          }
          b = BigInt(v);
        } else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) {
          b = BigInt(v);
        } else {
          throw bad(i, 'INT64 integers');
        }
        if (b < INT64_MIN || b > INT64_MAX) throw bad(i, `INT64 integers from ${INT64_MIN} to ${INT64_MAX}`);
        out[i] = b;
      }
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (v === true || v === 1) out[i] = 1;
        else if (v !== false && v !== 0) throw bad(i, 'BOOL values (true/false or 1/0)');
      }
      return out;
    }
    case 'BYTES': {
      for (let i = 0; i < n; i++) if (typeof flat[i] !== 'string') throw bad(i, 'BYTES values as strings');
      return flat as string[];
    }
  }
}

/** Raw little-endian bytes → a typed array (copied: the slice may be unaligned). */
function decodeBinary(name: string, datatype: Datatype, bytes: Buffer, count: number, shape: number[]): TensorData {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) throw badRequest(`input '${name}': BYTES binary data is truncated: element ${out.length} has an incomplete 4-byte length.`);
      const len = bytes.readUInt32LE(at);
      at += 4;
      if (at + len > bytes.length) throw badRequest(`input '${name}': BYTES binary data is truncated: element ${out.length} declares ${len} bytes, ${bytes.length - at} left.`);
      out.push(bytes.toString('utf8', at, at + len));
      at += len;
    }
    if (out.length !== count) throw badRequest(`input '${name}': shape ${formatShape(shape)} needs ${count} values, got ${out.length} in the binary data.`);
    return out;
  }
  const size = ELEMENT_BYTES[datatype];
  if (bytes.length !== count * size) {
    throw badRequest(`input '${name}': shape ${formatShape(shape)} of ${datatype} needs ${count * size} bytes of binary data (${count} × ${size}), got ${bytes.length}.`);
  }
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  switch (datatype) {
    case 'FP32':
      return new Float32Array(buffer);
    case 'FP64':
      return new Float64Array(buffer);
    case 'INT8':
      return new Int8Array(buffer);
    case 'INT16':
      return new Int16Array(buffer);
    case 'INT32':
      return new Int32Array(buffer);
    case 'INT64':
      return new BigInt64Array(buffer);
    case 'BOOL':
      return new Uint8Array(buffer).map((b) => (b === 0 ? 0 : 1));
    case 'UINT8':
      return new Uint8Array(buffer);
    case 'FP16':
      return float16BitsToFloat32(new Uint16Array(buffer));
  }
}

// ---------------------------------------------------------------------------------------------------
// Tensors → response.

export interface EncodedResponse {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * `{model_name, model_version, id?, outputs: [{name, datatype, shape, data}]}` with flat data; outputs in
 * `binaryOutputs` are sent as raw little-endian bytes after the JSON header (`parameters.binary_data_size`,
 * `Inference-Header-Content-Length`). INT64 values are JSON numbers, exact (beyond 2^53 too).
 */
export function encodeInferenceResponse(r: {
  modelName: string;
  modelVersion: string;
  id?: string;
  outputs: Tensor[];
  binaryOutputs?: ReadonlySet<string>;
}): EncodedResponse {
  const parts: Buffer[] = [];
  const outputs = r.outputs.map((t) => {
    const head = `"name":${JSON.stringify(t.name)},"datatype":${JSON.stringify(t.datatype)},"shape":${JSON.stringify(t.shape)}`;
    if (r.binaryOutputs?.has(t.name)) {
      const bytes = tensorBytes(t);
      parts.push(bytes);
      return `{${head},"parameters":{"binary_data_size":${bytes.length}}}`;
    }
    return `{${head},"data":${jsonData(t)}}`;
  });
  const json =
    `{"model_name":${JSON.stringify(r.modelName)},"model_version":${JSON.stringify(r.modelVersion)}` +
    (r.id !== undefined ? `,"id":${JSON.stringify(r.id)}` : '') +
    `,"outputs":[${outputs.join(',')}]}`;
  const header = Buffer.from(json, 'utf8');
  if (parts.length === 0) return { body: header, headers: { 'Content-Type': 'application/json' } };
  return {
    body: Buffer.concat([header, ...parts]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}

/** A JSON number (-0 kept); NaN and ±Infinity as strings, as the rest of the server writes them. */
const number = (v: number): string => (Object.is(v, -0) ? '-0' : Number.isFinite(v) ? String(v) : `"${v}"`);

function jsonData(t: Tensor): string {
  const d = t.data;
  if (Array.isArray(d)) return JSON.stringify(d);
  if (d instanceof BigInt64Array) return `[${Array.from(d, (v) => v.toString()).join(',')}]`;
  if (t.datatype === 'BOOL') return `[${Array.from(d as Uint8Array, (v) => (v ? 'true' : 'false')).join(',')}]`;
  if (d instanceof Float32Array || d instanceof Float64Array) return `[${Array.from(d, number).join(',')}]`;
  return `[${(d as Int32Array).join(',')}]`;
}

/** A tensor's binary form: raw little-endian values; BYTES as 4-byte little-endian lengths + UTF-8. */
export function tensorBytes(t: Tensor): Buffer {
  const d = t.data;
  if (Array.isArray(d)) {
    return Buffer.concat(
      d.flatMap((s) => {
        const b = Buffer.from(s, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        return [len, b];
      }),
    );
  }
  const raw = t.datatype === 'FP16' ? float32ToFloat16Bits(d as Float32Array) : d;
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/**
 * Splits a binary-extension response (or request) into its JSON header and the bytes of each tensor
 * that has `parameters.binary_data_size`, in order; for clients and tests.
 */
export function splitBinaryBody(body: Buffer, headerLength: number): { header: Record<string, unknown>; tensors: Map<string, Buffer> } {
  const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as Record<string, unknown>;
  const tensors = new Map<string, Buffer>();
  let at = headerLength;
  type Entry = { name: string; parameters?: { binary_data_size?: number } };
  const entries = [...((header.outputs as Entry[] | undefined) ?? []), ...((header.inputs as Entry[] | undefined) ?? [])];
  for (const t of entries) {
    const size = t.parameters?.binary_data_size;
    if (size === undefined) continue;
    tensors.set(t.name, body.subarray(at, at + size));
    at += size;
  }
  return { header, tensors };
}

// ---------------------------------------------------------------------------------------------------
// Metadata.

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** `GET /v2/models/{m}`: the model's name, versions, platform and tensor metadata (-1 = dynamic). */
export function modelMetadata(name: string, versions: string[], signature: ModelSignature): ModelMetadata {
  const spec = (s: TensorSpec): TensorSpec => ({ name: s.name, datatype: s.datatype, shape: [...s.shape] });
  return { name, versions, platform: ONNX_PLATFORM, inputs: signature.inputs.map(spec), outputs: signature.outputs.map(spec) };
}

/** `GET /v2`: the server's name, version and protocol extensions. */
export function serverMetadata(version: string): { name: string; version: string; extensions: string[] } {
  return { name: 'trellis', version, extensions: ['binary_tensor_data'] };
}

// ---------------------------------------------------------------------------------------------------

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `64mb`, `512KiB`, `1048576` → bytes (binary units: 1 kb = 1024 bytes). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`'${text}' is not a size: use a number of bytes or a number with kb, mb or gb (e.g. 64mb).`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new Error(`'${text}' is not a usable size: it must be at least 1 byte.`);
  return bytes;
}
