/**
 * A standalone model server: KServe v2 inference for registered model versions, on the same HTTP
 * pipeline as the platform server (Host check, bearer token beyond loopback, /metrics, /health). It reads
 * the registry once to resolve and load its models, then serves from memory; it announces itself in
 * `<dataDir>/endpoints/<pid>.json` so other tools (the load tester's `--model`) find a live endpoint.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Counter, Gauge, Histogram } from 'prom-client';
import { databasePath, openStore } from '../core/store';
import { processAlive } from '../core/server-file';
import { DEFAULT_BATCHING, type BatcherOptions } from '../services/serving/batcher';
import { ModelServer, type ServedModel } from '../services/serving/model-server';
import { resolveModelRef } from '../services/serving/model-resolver';
import { ResponseCache } from '../services/serving/response-cache';
import { createApp } from './app';
import { isLoopback } from './guard';
import { DEFAULT_MAX_BODY_BYTES, mountKServeRoutes } from './kserve-routes';
import { Router } from './router';
import { ServerTelemetry } from './telemetry';

export interface ServingServerOptions {
  dataDir: string;
  /** Model references: NAME@ALIAS, NAME/VERSION or NAME (latest). */
  models: string[];
  host?: string;
  port?: number;
  /** Inference worker threads per model version. */
  workers?: number;
  intraOpThreads?: number;
  /** Largest request body (JSON and binary tensor data). */
  maxBodyBytes?: number;
  /** Requests admitted at once per model version; beyond it, 503 with Retry-After. */
  maxInFlight?: number;
  /** Dynamic batching (defaults: DEFAULT_BATCHING, on); `false` or `maxBatchSize: 1` turns it off. */
  batching?: Partial<BatcherOptions> | false;
  /** Cache successful inference replies, up to this many bytes (LRU); off when absent. */
  cacheBytes?: number;
  /** A fixed token; otherwise a random one. Required of clients only when bound beyond loopback. */
  token?: string;
  allowedHosts?: string[];
  /** Write `<dataDir>/endpoints/<pid>.json` (default true). */
  announce?: boolean;
  version: string;
  log?: (line: string) => void;
}

export interface EndpointModel {
  name: string;
  version: string;
  /** The first reference it was loaded by. */
  ref: string;
  refs: string[];
  infer_url: string;
}

/** `<dataDir>/endpoints/<pid>.json`. */
export interface EndpointFile {
  pid: number;
  url: string;
  token: string;
  models: EndpointModel[];
  version: string;
}

export interface ServingServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly models: EndpointModel[];
  readonly modelServer: ModelServer;
  /** The endpoint file, when announced. */
  readonly endpointFile?: string;
  /** Stops accepting, lets in-flight requests finish, closes the engines, removes the endpoint file. */
  close(): Promise<void>;
}


export const endpointsDir = (dataDir: string): string => join(dataDir, 'endpoints');

export async function startServingServer(options: ServingServerOptions): Promise<ServingServer> {
  if (options.models.length === 0) throw new Error('No model to serve: give at least one NAME@ALIAS, NAME/VERSION or NAME.');
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const token = options.token ?? randomBytes(24).toString('hex');
  const telemetry = new ServerTelemetry(databasePath(options.dataDir));
  const metrics = inferenceMetrics(telemetry);

  const store = openStore(options.dataDir);
  const modelServer = new ModelServer({
    resolve: (ref) => resolveModelRef(store, ref),
    workers: options.workers ?? 1,
    ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
    onInference: metrics.observe,
    ...(options.batching !== false ? { batching: { ...DEFAULT_BATCHING, ...options.batching } } : {}),
    log,
  });
  try {
    for (const ref of options.models) await modelServer.load(ref);
  } catch (err) {
    await modelServer.close();
    throw err;
  } finally {
    // Everything is in memory now; a reader needs no checkpoint (the platform server may be writing).
    store.db.close();
  }
  metrics.track(modelServer);

  const cache = options.cacheBytes !== undefined ? cacheMetrics(telemetry, options.cacheBytes) : undefined;
  const router = new Router();
  mountKServeRoutes(router, modelServer, { maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, version: options.version, log, ...(cache ? { cache } : {}) });
  router.on('GET', '/health', (ctx) => {
    ctx.res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
  });
  router.on('GET', '/metrics', async (ctx) => {
    const body = await telemetry.registry.metrics();
    ctx.res.writeHead(200, { 'Content-Type': telemetry.registry.contentType }).end(body);
  });

  const app = createApp({
    router,
    telemetry,
    log,
    // Inference routes read their own bodies with maxBodyBytes; nothing else here reads one.
    maxJsonBytes: 1024 * 1024,
    guard: { token, requireToken: !isLoopback(host), allowedHosts: options.allowedHosts ?? [] },
  });
  let bound: { port: number; url: string };
  try {
    bound = await app.listen(host, options.port ?? 0);
  } catch (err) {
    await modelServer.close();
    throw err;
  }
  const { port, url } = bound;
  const models = modelServer.models().map((m) => endpointModel(url, m));
  const announce = options.announce ?? true;
  const endpointFile = announce ? writeEndpointFile(options.dataDir, { pid: process.pid, url, token, models, version: options.version }) : undefined;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token,
    models,
    modelServer,
    ...(endpointFile ? { endpointFile } : {}),
    close: () =>
      (closing ??= (async () => {
        if (endpointFile) removeEndpointFile(endpointFile, url);
        await app.drainAndClose();
        await modelServer.close();
      })()),
  };
}

function endpointModel(url: string, m: ServedModel): EndpointModel {
  return {
    name: m.name,
    version: m.version,
    ref: m.refs[0]!,
    refs: [...m.refs],
    infer_url: `${url}/v2/models/${encodeURIComponent(m.name)}/versions/${encodeURIComponent(m.version)}/infer`,
  };
}

/** Prometheus metrics of inference: requests by outcome, engine latency, requests in flight. */
function inferenceMetrics(telemetry: ServerTelemetry) {
  const requests = new Counter({
    name: 'trellis_inference_requests_total',
    help: 'Inference requests by model, version and outcome (ok, error, overloaded).',
    labelNames: ['model', 'version', 'outcome'],
    registers: [telemetry.registry],
  });
  const latency = new Histogram({
    name: 'trellis_inference_duration_seconds',
    help: 'Time the engine took to run one inference, by model and version.',
    labelNames: ['model', 'version'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [telemetry.registry],
  });
  let tracked: ModelServer | undefined;
  new Gauge({
    name: 'trellis_inference_in_flight',
    help: 'Inference requests admitted and not yet answered, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
    collect() {
      this.reset();
      for (const m of tracked?.models() ?? []) this.set({ model: m.name, version: m.version }, m.inFlight);
    },
  });
  new Gauge({
    name: 'trellis_batch_queue_depth',
    help: 'Requests waiting in the dynamic batcher, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
    collect() {
      this.reset();
      for (const m of tracked?.models() ?? []) if (m.batcher) this.set({ model: m.name, version: m.version }, m.batcher.stats().queueDepth);
    },
  });
  new Gauge({
    name: 'trellis_batch_size_mean',
    help: 'Mean rows per engine run made by the dynamic batcher, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
    collect() {
      this.reset();
      for (const m of tracked?.models() ?? []) if (m.batcher) this.set({ model: m.name, version: m.version }, m.batcher.stats().meanBatchSize);
    },
  });
  new Gauge({
    name: 'trellis_batches_total',
    help: 'Engine runs made by the dynamic batcher, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
    collect() {
      this.reset();
      for (const m of tracked?.models() ?? []) if (m.batcher) this.set({ model: m.name, version: m.version }, m.batcher.stats().batches);
    },
  });
  return {
    observe: (m: ServedModel, outcome: string, seconds: number) => {
      requests.inc({ model: m.name, version: m.version, outcome });
      if (outcome !== 'overloaded') latency.observe({ model: m.name, version: m.version }, seconds);
    },
    track: (server: ModelServer) => {
      tracked = server;
    },
  };
}

/** A response cache whose lookups and size are exported: hits and misses by model and version, bytes held. */
function cacheMetrics(telemetry: ServerTelemetry, maxBytes: number): ResponseCache {
  const hits = new Counter({
    name: 'trellis_cache_hits_total',
    help: 'Inference replies answered from the response cache, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
  });
  const misses = new Counter({
    name: 'trellis_cache_misses_total',
    help: 'Valid inference requests not found in the response cache, by model and version.',
    labelNames: ['model', 'version'],
    registers: [telemetry.registry],
  });
  const cache = new ResponseCache({
    maxBytes,
    onLookup: (model, version, hit) => (hit ? hits : misses).inc({ model, version }),
  });
  new Gauge({
    name: 'trellis_cache_bytes',
    help: 'Bytes held by the response cache (reply bodies and keys).',
    registers: [telemetry.registry],
    collect() {
      this.set(cache.stats().bytes);
    },
  });
  return cache;
}

// ---------------------------------------------------------------------------------------------------
// Endpoint files.

/** Writes `<dataDir>/endpoints/<pid>.json` atomically, mode 0600 (it holds the token). */
export function writeEndpointFile(dataDir: string, info: EndpointFile): string {
  const dir = endpointsDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${info.pid}.json`);
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** Removes the file if it still describes this endpoint. */
function removeEndpointFile(path: string, url: string): void {
  try {
    if ((JSON.parse(readFileSync(path, 'utf8')) as EndpointFile).url !== url) return;
  } catch {
    return;
  }
  rmSync(path, { force: true });
}

/** The endpoint files of live processes (files of dead ones are skipped, not removed). */
export function readEndpointFiles(dataDir: string): EndpointFile[] {
  let names: string[];
  try {
    names = readdirSync(endpointsDir(dataDir)).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: EndpointFile[] = [];
  for (const name of names) {
    try {
      const info = JSON.parse(readFileSync(join(endpointsDir(dataDir), name), 'utf8')) as EndpointFile;
      if (Number.isInteger(info.pid) && processAlive(info.pid) && typeof info.url === 'string' && Array.isArray(info.models)) out.push(info);
    } catch {
      /* half-written or foreign: skip */
    }
  }
  return out;
}

/**
 * A live endpoint serving the reference: the same reference string first (`mnist@champion`), else the
 * same name and version (`mnist/3`), else, for a bare name, any version of it.
 */
export function findEndpoint(dataDir: string, ref: string): { endpoint: EndpointFile; model: EndpointModel } | undefined {
  const endpoints = readEndpointFiles(dataDir);
  const all = endpoints.flatMap((endpoint) => endpoint.models.map((model) => ({ endpoint, model })));
  const bare = ref.replace(/^models:\/+/, '');
  const byRef = all.find((e) => e.model.refs.includes(ref) || e.model.refs.includes(bare));
  if (byRef) return byRef;
  const m = /^(.+)\/(\d+)$/.exec(bare);
  if (m) return all.find((e) => e.model.name === m[1] && e.model.version === m[2]);
  if (!bare.includes('@')) return all.find((e) => e.model.name === bare);
  return undefined;
}
