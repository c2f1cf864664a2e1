/**
 * A standalone model server: KServe v2 inference for registered model versions, on the same HTTP
 * pipeline as the platform server (Host check, bearer token beyond loopback, /metrics, /health). It
 * resolves and loads its models from the registry, serves them from memory, and watches the registry
 * for alias moves; it announces itself in `<dataDir>/endpoints/<pid>.json` so other tools (the load
 * tester's `--model`) find a live endpoint.
 */
import { randomBytes } from 'node:crypto';
import { removeEndpointFile, writeEndpointFile, type EndpointFile, type EndpointModel } from '../core/endpoint-files';
import { watchExternalWrites } from '../core/external-writes';
import { databasePath, openStore } from '../core/store';
import type { BatcherOptions } from '../services/serving/batcher';
import type { ModelServer, ServedModel } from '../services/serving/model-server';
import type { RouteSpec } from '../services/serving/traffic-route';
import { InferenceLog } from '../services/serving/inference-log';
import { createApp } from './app';
import { isLoopback } from './guard';
import { Router } from './router';
import { logMoves, ServingHost } from './serving-host';
import { ServerTelemetry } from './telemetry';
import { mountEventStream } from './trellis-routes';

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
  /** Local replicas per version, each an engine pool of `workers` threads (default 1). */
  replicas?: number;
  /** Serve the models through these KServe v2 servers (e.g. serving containers) instead of local engines. */
  remoteReplicas?: { urls: string[]; token?: string };
  /** Traffic routes by model name (canary weights, sticky header, shadow); their references are loaded too. */
  routes?: Record<string, RouteSpec>;
  /** How often the registry is checked for alias moves, in ms (default 1000; 0: never). */
  aliasCheckMs?: number;
  /** Log this share of requests (0 < rate ≤ 1) to the tracker, in experiment `inference-logs`. */
  logInferences?: number;
  /** A fixed token; otherwise a random one. Required of clients only when bound beyond loopback. */
  token?: string;
  allowedHosts?: string[];
  /** Write `<dataDir>/endpoints/<pid>.json` (default true). */
  announce?: boolean;
  version: string;
  log?: (line: string) => void;
}

export interface ServingServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly models: EndpointModel[];
  readonly modelServer: ModelServer;
  /** The endpoint file, when announced. */
  readonly endpointFile?: string;
  /** The run that sampled inferences are logged to, when on. */
  readonly inferenceLogRun?: string;
  /** Stops accepting, lets in-flight requests finish, closes the engines, removes the endpoint file. */
  close(): Promise<void>;
}



export async function startServingServer(options: ServingServerOptions): Promise<ServingServer> {
  if (options.models.length === 0) throw new Error('No model to serve: give at least one NAME@ALIAS, NAME/VERSION or NAME.');
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const token = options.token ?? randomBytes(24).toString('hex');
  const telemetry = new ServerTelemetry(databasePath(options.dataDir));
  const store = openStore(options.dataDir);
  // Set once listening: tools that find this endpoint by reference must see every load and alias move.
  let announceNow = () => {};
  const serving = new ServingHost({
    store,
    registry: telemetry.registry,
    workers: options.workers ?? 1,
    ...(options.replicas ? { replicas: options.replicas } : {}),
    ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
    ...(options.batching !== undefined ? { batching: options.batching } : {}),
    ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    onChange: () => announceNow(),
    version: options.version,
    log,
  });
  const modelServer = serving.modelServer;
  const routes = Object.entries(options.routes ?? {});
  const refs = [...new Set([...options.models, ...routes.flatMap(([, r]) => [...r.targets.map((t) => t.ref), ...(r.shadow ? [r.shadow] : [])])])];
  const remote = options.remoteReplicas;
  try {
    for (const ref of refs) await modelServer.load(ref, remote ? { replicaUrls: remote.urls, ...(remote.token ? { token: remote.token } : {}) } : {});
    for (const [name, spec] of routes) modelServer.setRoute(name, spec);
  } catch (err) {
    await serving.close();
    store.db.close();
    throw err;
  }

  const inferenceLog = options.logInferences ? new InferenceLog({ store, sampleRate: options.logInferences, refs, log }) : undefined;
  const router = new Router();
  serving.mount(router, inferenceLog);
  mountEventStream(router, store.changes);
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
    inferenceLog?.close();
    await serving.close();
    store.db.close();
    throw err;
  }
  const { port, url } = bound;
  const models = modelServer.models().map((m) => endpointModel(url, m));
  const announce = options.announce ?? true;
  const endpointInfo = (): EndpointFile => ({ pid: process.pid, url, token, models: modelServer.models().map((m) => endpointModel(url, m)), version: options.version });
  const endpointFile = announce ? writeEndpointFile(options.dataDir, endpointInfo()) : undefined;
  if (endpointFile) announceNow = () => writeEndpointFile(options.dataDir, endpointInfo());
  // Alias moves are commits by other processes (the CLI, the platform server): re-resolve on each.
  const stopWatching = watchExternalWrites(store.db, options.aliasCheckMs ?? 1000, () =>
    modelServer.refresh().then((moves) => logMoves(moves, log), (err: Error) => log(`alias check failed: ${err.message}`)),
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token,
    models,
    modelServer,
    ...(endpointFile ? { endpointFile } : {}),
    ...(inferenceLog ? { inferenceLogRun: inferenceLog.runId } : {}),
    close: () =>
      (closing ??= (async () => {
        if (endpointFile) removeEndpointFile(endpointFile, url);
        stopWatching();
        announceNow = () => {};
        await app.drainAndClose();
        inferenceLog?.close();
        await serving.close();
        store.db.close();
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
