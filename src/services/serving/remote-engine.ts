/**
 * A replica that is another KServe v2 server (a serving container, or a `trellis serve` elsewhere),
 * behind the same InferenceEngine contract as a local onnxruntime pool, so the replica pool balances
 * both alike. Requests go as JSON over keep-alive HTTP; replies are checked against the replica's own
 * signature (read from its metadata when the engine opens).
 */
import { Agent, request as httpRequest } from 'node:http';
import type { InferenceEngine, ModelSignature, Tensor, TensorSpec } from '../../engines/onnx/types';
import { decodeInferenceRequest, KServeError } from './kserve-codec';

export interface RemoteReplicaOptions {
  /** Base URL of the replica, e.g. http://127.0.0.1:9001. */
  url: string;
  model: string;
  version: string;
  /** Bearer token the replica asks for (containers bind beyond loopback and require one). */
  token?: string;
  /** A request taking longer fails (and counts against the replica). */
  timeoutMs?: number;
}

interface Reply {
  status: number;
  body: Buffer;
}

export class RemoteEngine implements InferenceEngine {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly base: URL;
  private readonly inferPath: string;

  private constructor(
    private readonly options: RemoteReplicaOptions,
    readonly signature: ModelSignature,
  ) {
    this.base = new URL(options.url);
    this.inferPath = `${modelPath(options)}/infer`;
  }

  /** Reads the replica's signature; rejects with what went wrong when the replica does not serve the version. */
  static async open(options: RemoteReplicaOptions): Promise<RemoteEngine> {
    const probe = new RemoteEngine(options, { inputs: [], outputs: [] });
    try {
      const reply = await probe.call('GET', modelPath(options));
      if (reply.status !== 200) throw new Error(`replica ${options.url} answered ${reply.status} for model '${options.model}' version ${options.version}: ${reply.body.toString('utf8').slice(0, 200)}`);
      const meta = JSON.parse(reply.body.toString('utf8')) as { inputs?: TensorSpec[]; outputs?: TensorSpec[] };
      if (!Array.isArray(meta.inputs) || !Array.isArray(meta.outputs)) throw new Error(`replica ${options.url} sent model metadata without inputs and outputs`);
      return new RemoteEngine(options, { inputs: meta.inputs, outputs: meta.outputs });
    } finally {
      probe.agent.destroy();
    }
  }

  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    const body = JSON.stringify({
      inputs: inputs.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, data: jsonData(t) })),
    });
    const reply = await this.call('POST', this.inferPath, body);
    const text = reply.body.toString('utf8');
    if (reply.status !== 200) {
      let message = text.slice(0, 500);
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? message;
      } catch {
        /* not JSON: the raw text says it */
      }
      // 4xx: the request's fault, reported as such; anything else: the replica's.
      throw new KServeError(reply.status >= 400 && reply.status < 500 && reply.status !== 429 ? 400 : 502, `replica ${this.options.url}: ${message}`);
    }
    const parsed = JSON.parse(text) as { outputs?: unknown };
    // A reply has the request's shape with outputs for inputs: decode it against the output signature.
    return decodeInferenceRequest({ inputs: parsed.outputs }, { inputs: this.signature.outputs, outputs: [] }).inputs;
  }

  /** The replica's readiness (GET /v2/health/ready answers 200). */
  async ready(): Promise<boolean> {
    try {
      return (await this.call('GET', '/v2/health/ready')).status === 200;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private call(method: string, path: string, body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = httpRequest({ host: this.base.hostname, port: this.base.port, path, method, headers, agent: this.agent, timeout: this.options.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`replica ${this.options.url} did not answer within ${this.options.timeoutMs ?? 30_000} ms`)));
      req.on('error', (err) => reject(new KServeError(502, `replica ${this.options.url} failed: ${err.message}`)));
      req.end(body);
    });
  }
}

const modelPath = (o: RemoteReplicaOptions) => `/v2/models/${encodeURIComponent(o.model)}/versions/${encodeURIComponent(o.version)}`;

/** Tensor data as the protocol's JSON wants it: numbers (int64 too), booleans for BOOL. */
function jsonData(t: Tensor): (number | string | boolean)[] {
  if (t.datatype === 'BOOL') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  return Array.from(t.data as ArrayLike<number | bigint | string>, (v) => (typeof v === 'bigint' ? Number(v) : v));
}
