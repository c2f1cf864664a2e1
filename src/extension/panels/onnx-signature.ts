/**
 * A model's inputs and outputs read straight from its ONNX file: a small protobuf walk over
 * ModelProto.graph (onnx.proto3), so the extension needs neither onnxruntime nor a protobuf library.
 * Weights (initializers) are skipped by length, never decoded.
 */
import type { ModelSignature, TensorSpec } from '../../protocol/model-versions';

const ELEM_TYPES = [
  'UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL', 'FLOAT16', 'DOUBLE',
  'UINT32', 'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16',
];

interface Field {
  no: number;
  wire: number;
  /** Varints (and fixed ints) as numbers; length-delimited fields as their bytes. */
  int?: number;
  bytes?: Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) yield { no, wire, int: varint() };
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error('truncated field');
      yield { no, wire, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : '');
const sub = (buf: Uint8Array, no: number): Uint8Array[] => [...fields(buf)].filter((f) => f.no === no && f.bytes).map((f) => f.bytes!);

/** Signed int64 varints of negative dims come back as huge numbers; ONNX uses them for unknown dims. */
const dimValue = (n: number) => (n > Number.MAX_SAFE_INTEGER ? -1 : n);

function tensorSpec(valueInfo: Uint8Array): TensorSpec {
  let name = '';
  let datatype = 'UNDEFINED';
  const shape: number[] = [];
  const dimNames: (string | null)[] = [];
  for (const f of fields(valueInfo)) {
    if (f.no === 1) name = text(f.bytes);
    if (f.no !== 2 || !f.bytes) continue;
    const tensorType = sub(f.bytes, 1)[0];
    if (!tensorType) {
      datatype = 'NON_TENSOR';
      continue;
    }
    for (const t of fields(tensorType)) {
      if (t.no === 1 && t.int !== undefined) datatype = ELEM_TYPES[t.int] ?? `TYPE_${t.int}`;
      if (t.no === 2 && t.bytes) {
        for (const dim of sub(t.bytes, 1)) {
          let value = -1;
          let param: string | null = null;
          for (const d of fields(dim)) {
            if (d.no === 1 && d.int !== undefined) value = dimValue(d.int);
            if (d.no === 2) param = text(d.bytes);
          }
          shape.push(value);
          dimNames.push(param);
        }
      }
    }
  }
  return { name, datatype, shape, ...(dimNames.some((d) => d !== null) ? { dimNames } : {}) };
}

/** The graph's inputs (without initializers, which older exporters also list as inputs) and outputs. */
export function readOnnxSignature(model: Uint8Array, source: string): ModelSignature {
  let graph: Uint8Array | undefined;
  try {
    graph = sub(model, 7)[0];
    if (graph) {
      const initializers = new Set(sub(graph, 5).map((t) => text(sub(t, 8)[0])));
      return {
        inputs: sub(graph, 11).map(tensorSpec).filter((s) => !initializers.has(s.name)),
        outputs: sub(graph, 12).map(tensorSpec),
        source,
      };
    }
  } catch (err) {
    throw new Error(`${source} is not a readable ONNX model (${(err as Error).message}).`);
  }
  throw new Error(`${source} is not an ONNX model: it has no graph.`);
}
