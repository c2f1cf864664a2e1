/**
 * KServe v2 / Open Inference Protocol REST routes under /v2. Errors are the protocol's `{"error": "..."}`
 * (not MLflow's shape): 400 bad request, 404 unknown model or route, 405, 413 body over the limit,
 * 415 form content types, 503 overloaded (with Retry-After) or not ready. These handlers read their own
 * bodies (streamed, with the limit) and answer every error themselves.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrellisError } from '../core/errors';
import {
  decodeInferenceRequest,
  encodeInferenceResponse,
  INFERENCE_HEADER,
  KServeError,
  modelMetadata,
  parseRequestBody,
  serverMetadata,
} from '../services/serving/kserve-codec';
import type { ModelServer, ServedModel } from '../services/serving/model-server';
import type { InferenceLog } from '../services/serving/inference-log';
import { ResponseCache, withId } from '../services/serving/response-cache';
import type { Handler, RequestContext, Router } from './router';

export interface KServeRouteOptions {
  /** Largest request body accepted (JSON header and binary data together). */
  maxBodyBytes?: number;
  /** Reported by `GET /v2`. */
  version?: string;
  log?: (line: string) => void;
  /** Successful replies cached by model, version and inputs (off when absent). */
  cache?: ResponseCache;
  /** Sampled requests written to the tracker (off when absent). */
  inferenceLog?: InferenceLog;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
const MODELS = '/v2/models/';
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Content types a web page may send cross-site without a preflight: never an inference request. */
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

export function mountKServeRoutes(router: Router, models: ModelServer, options: KServeRouteOptions = {}): void {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const kserve = (fn: (ctx: RequestContext) => Promise<void> | void): Handler => async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      sendKServeError(ctx.req, ctx.res, err, log);
    }
    return undefined;
  };

  /** An exact GET route that answers other methods with the protocol's 405. */
  const get = (path: string, fn: (ctx: RequestContext) => void) =>
    router.on(ALL_METHODS, path, kserve((ctx) => {
      if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') {
        ctx.res.setHeader('Allow', 'GET, HEAD');
        throw new KServeError(405, `Method ${ctx.req.method} is not allowed on ${path}; use GET.`);
      }
      fn(ctx);
    }));
  get('/v2', (ctx) => send(ctx.res, 200, serverMetadata(options.version ?? '0.0.0')));
  get('/v2/health/live', (ctx) => send(ctx.res, 200, { live: true }));
  get('/v2/health/ready', (ctx) => send(ctx.res, models.ready() ? 200 : 503, { ready: models.ready() }));
  router.on(ALL_METHODS, '/v2/*', kserve((ctx) => {
    throw new KServeError(404, `No KServe v2 endpoint at ${ctx.req.method} ${ctx.url.pathname}.`);
  }));

  router.on(ALL_METHODS, `${MODELS}*`, kserve(async (ctx) => {
    const method = ctx.req.method === 'HEAD' ? 'GET' : (ctx.req.method ?? 'GET');
    const parts = ctx.url.pathname.slice(MODELS.length).split('/').map(decodeSegment);
    const [name, ...rest] = parts;
    if (!name) throw new KServeError(404, `No model name in ${ctx.url.pathname}: use /v2/models/{name}.`);
    let version: string | undefined;
    let action = rest;
    if (rest[0] === 'versions') {
      version = rest[1];
      if (!version) throw new KServeError(404, `No version in ${ctx.url.pathname}: use /v2/models/${name}/versions/{version}.`);
      action = rest.slice(2);
    }
    const verb = action.length === 0 ? 'metadata' : action.length === 1 && (action[0] === 'ready' || action[0] === 'infer') ? action[0] : undefined;
    if (!verb) throw new KServeError(404, `No KServe v2 endpoint at ${ctx.req.method} ${ctx.url.pathname}.`);
    const wanted = verb === 'infer' ? 'POST' : 'GET';
    if (method !== wanted) {
      ctx.res.setHeader('Allow', wanted === 'GET' ? 'GET, HEAD' : 'POST');
      throw new KServeError(405, `Method ${ctx.req.method} is not allowed on ${ctx.url.pathname}; use ${wanted}.`);
    }
    if (verb === 'infer') {
      // Without a version, the model's traffic route picks one (canary weights, sticky header, shadow).
      const header = (h: string) => {
        const v = ctx.req.headers[h.toLowerCase()];
        return Array.isArray(v) ? v[0] : v;
      };
      const { model, shadow } = version === undefined ? models.route(name, header) : { model: models.get(name, version), shadow: undefined };
      await infer(ctx, models, model, shadow, maxBody, options);
      return;
    }
    const model = models.get(name, version);
    if (verb === 'metadata') {
      send(ctx.res, 200, modelMetadata(model.name, version === undefined ? models.versions(model.name) : [model.version], model.signature));
    } else {
      const ready = models.ready();
      send(ctx.res, ready ? 200 : 503, { name: model.name, ...(version !== undefined ? { version: model.version } : {}), ready });
    }
  }));
}

async function infer(ctx: RequestContext, models: ModelServer, model: ServedModel, shadow: ServedModel | undefined, maxBody: number, options: KServeRouteOptions): Promise<void> {
  const { cache, inferenceLog } = options;
  const headerLength = ctx.req.headers[INFERENCE_HEADER];
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (headerLength === undefined && FORM_TYPES.has(type)) {
    throw new KServeError(415, `Content-Type ${type} is not accepted: send the request as application/json (curl: -H 'Content-Type: application/json').`);
  }
  const release = models.acquire(model);
  try {
    const body = await readBody(ctx.req, maxBody);
    const { header, binary } = parseRequestBody(body, Array.isArray(headerLength) ? headerLength[0] : headerLength);
    const request = decodeInferenceRequest(header, model.signature, binary);
    if (shadow) models.shadow(shadow, request.inputs);
    // Before inference: the engine may hand the input buffers over to its worker thread.
    model.drift?.observe(request.inputs);
    const key = cache ? ResponseCache.key(model.name, model.version, request) : undefined;
    const cached = cache && key !== undefined ? cache.get(key) : undefined;
    let encoded;
    if (cached) {
      encoded = withId(cached, request.id);
    } else {
      const sampled = inferenceLog?.sample(model, request.inputs);
      const outputs = await models.infer(model, request.inputs, request.outputs);
      sampled?.done(outputs);
      // Encoded without the id when cached (the id is no part of the key), then given this request's.
      const reply = encodeInferenceResponse({
        modelName: model.name,
        modelVersion: model.version,
        ...(request.id !== undefined && !cache ? { id: request.id } : {}),
        outputs,
        binaryOutputs: request.binaryOutputs,
      });
      if (cache && key !== undefined) cache.set(key, reply);
      encoded = cache ? withId(reply, request.id) : reply;
    }
    ctx.res.writeHead(200, { ...encoded.headers, 'Content-Length': encoded.body.length });
    ctx.res.end(encoded.body);
  } finally {
    release();
  }
}

/** The body, streamed, refused with 413 as soon as it (or its declared length) passes the limit. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(`${declared} bytes`, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(`more than ${limit} bytes`, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

const tooLarge = (size: string, limit: number) =>
  new KServeError(413, `The request body of ${size} exceeds the limit of ${limit} bytes (${(limit / 1024 / 1024).toFixed(1)} MiB): send smaller batches, or raise the server's --max-body.`);

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new KServeError(400, `Invalid percent-encoding in path segment '${segment}'.`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** `{"error": message}` with the error's status; the connection closes when the body was not read to the end. */
export function sendKServeError(req: IncomingMessage, res: ServerResponse, err: unknown, log: (line: string) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let status = 500;
  let message: string;
  if (err instanceof KServeError) {
    status = err.status;
    message = err.message;
    if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
  } else if (err instanceof TrellisError) {
    status = err.httpStatus;
    message = err.message;
  } else {
    log(`error in ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
    message = `Internal error: ${(err as Error).message}`;
  }
  // A body left unread (413, or refused before reading) would otherwise be read to its end to reuse the connection.
  if (!req.complete) res.setHeader('Connection', 'close');
  send(res, status, { error: message });
}
