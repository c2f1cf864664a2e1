/**
 * An optional cache of successful inference replies: LRU (a Map kept in recency order), bounded in bytes,
 * keyed by model, version and a SHA-256 of the canonical request (inputs' names, datatypes, shapes and
 * data bytes; the requested and binary outputs). The request id is not part of the key: replies are
 * stored without one and a hit is given the current request's id (`withId`).
 */
import { createHash } from 'node:crypto';
import type { Tensor } from '../../engines/onnx/types';
import { tensorBytes, type EncodedResponse } from './kserve-codec';

export interface ResponseCacheOptions {
  /** Most bytes held (reply bodies and keys); an entry larger than this is not stored. */
  maxBytes: number;
  /** Called on each lookup, for metrics. */
  onLookup?: (model: string, version: string, hit: boolean) => void;
}

export interface CacheStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
  evictions: number;
}

/** What a cache key is made of: a decoded request's tensors and output choices. */
export interface CacheableRequest {
  inputs: readonly Tensor[];
  outputs?: readonly string[];
  binaryOutputs?: ReadonlySet<string>;
}

interface Entry {
  reply: EncodedResponse;
  size: number;
}

const SEP = '\0';

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private hits = 0;
  private misses = 0;
  private bytes = 0;
  private evictions = 0;
  readonly maxBytes: number;

  constructor(private readonly options: ResponseCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) throw new Error(`maxBytes must be a whole number ≥ 1, got ${options.maxBytes}.`);
    this.maxBytes = options.maxBytes;
  }

  /** `model \0 version \0 sha256(canonical inputs and requested outputs)`. */
  static key(model: string, version: string, request: CacheableRequest): string {
    const h = createHash('sha256');
    const field = (b: Buffer | string) => {
      const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(buf.length));
      h.update(len);
      h.update(buf);
    };
    field(`inputs:${request.inputs.length}`);
    for (const t of request.inputs) {
      field(t.name);
      field(t.datatype);
      field(JSON.stringify(t.shape));
      field(tensorBytes(t));
    }
    field(request.outputs === undefined ? '*' : JSON.stringify(request.outputs));
    field(JSON.stringify([...(request.binaryOutputs ?? [])].sort()));
    return `${model}${SEP}${version}${SEP}${h.digest('hex')}`;
  }

  /** The stored reply (made most recent), counting a hit or a miss. */
  get(key: string): EncodedResponse | undefined {
    const entry = this.entries.get(key);
    const [model = '', version = ''] = key.split(SEP);
    if (!entry) {
      this.misses++;
      this.options.onLookup?.(model, version, false);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    this.options.onLookup?.(model, version, true);
    return entry.reply;
  }

  /** Stores a successful reply (encoded without an id); evicts least recently used entries to fit. */
  set(key: string, reply: EncodedResponse): boolean {
    const size = reply.body.length + Buffer.byteLength(key, 'utf8');
    this.delete(key);
    if (size > this.maxBytes) return false;
    while (this.bytes + size > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evictions++;
    }
    this.entries.set(key, { reply, size });
    this.bytes += size;
    return true;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Keys, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, bytes: this.bytes, entries: this.entries.size, evictions: this.evictions };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}

const OUTPUTS_MARK = Buffer.from(',"outputs":[', 'utf8');

/**
 * A reply encoded without an id, given `id` (inserted before `"outputs"`; the binary extension's header
 * length adjusted). Inside a JSON string a `"` is escaped, so the first `,"outputs":[` is the member's.
 */
export function withId(reply: EncodedResponse, id: string | undefined): EncodedResponse {
  if (id === undefined) return reply;
  const headerLength = reply.headers['Inference-Header-Content-Length'];
  const jsonEnd = headerLength !== undefined ? Number(headerLength) : reply.body.length;
  const at = reply.body.subarray(0, jsonEnd).indexOf(OUTPUTS_MARK);
  if (at < 0) throw new Error('Not an encoded inference reply: no "outputs" member.');
  const idPart = Buffer.from(`,"id":${JSON.stringify(id)}`, 'utf8');
  const body = Buffer.concat([reply.body.subarray(0, at), idPart, reply.body.subarray(at)]);
  const headers = { ...reply.headers };
  if (headerLength !== undefined) headers['Inference-Header-Content-Length'] = String(jsonEnd + idPart.length);
  return { body, headers };
}
