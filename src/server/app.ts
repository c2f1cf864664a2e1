import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { TrellisError, type ErrorCode, HTTP_STATUS } from '../core/errors';
import { fieldsOfQuery, parseJsonBody, toJson, type Fields } from './input';
import { hostAllowed, tokenAccepted, type GuardOptions } from './guard';
import type { Router } from './router';
import type { ServerTelemetry } from './telemetry';

export interface AppOptions {
  router: Router;
  guard: GuardOptions;
  telemetry: ServerTelemetry;
  /** Largest JSON body accepted; artifact uploads stream and are not bound by it. */
  maxJsonBytes: number;
  log: (line: string) => void;
}

/**
 * Paths any caller may reach without a token: liveness and readiness only, nothing that reads data
 * (Kubernetes probes cannot send a token).
 */
const OPEN_PATHS = new Set(['/health', '/v2/health/live', '/v2/health/ready']);

const EMPTY_REPLY = '{}';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // Most writes answer `{}`: skip the serialiser for them.
  const text = typeof body === 'string' ? body : isEmptyObject(body) ? EMPTY_REPLY : toJson(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, code: ErrorCode, message: string, status = HTTP_STATUS[code]): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error_code: code, message });
}

/** Plain 'data'/'end' listeners: an async iterator over the request costs measurably more per small request. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(declared, limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(size, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const tooLarge = (size: number, limit: number) =>
  new TrellisError('REQUEST_LIMIT_EXCEEDED', `Request body of ${size} bytes exceeds the limit of ${limit} bytes. Split the request (MLflow's batch limits: 1000 metrics, 100 params, 100 tags).`);

export interface App {
  server: Server;
  /** Requests being answered now, event streams excluded: what a graceful shutdown waits for. */
  inFlight(): number;
  /** Listens on host:port (0 picks a free one) and returns the port and the base URL. */
  listen(host: string, port: number): Promise<{ port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish (up to `drainMs`), then closes every connection. */
  drainAndClose(drainMs?: number): Promise<void>;
}

const DRAIN_MS = 5_000;

/** Long-lived responses that a shutdown ends instead of waiting for. */
const STREAMING_ROUTES = new Set(['/api/trellis/events']);

/** The HTTP pipeline: host check, token, routing, errors as MLflow's `{error_code, message}`, metrics. */
export function createApp(options: AppOptions): App {
  const { router, guard, telemetry } = options;
  let inFlight = 0;
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const started = process.hrtime.bigint();
    inFlight++;
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.on('close', done);
    const method = req.method ?? 'GET';
    let routeName = 'unmatched';
    res.on('finish', () => {
      telemetry.observe(routeName, method, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });

    if (!hostAllowed(req.headers.host, guard)) {
      sendError(res, 'PERMISSION_DENIED', `Host '${req.headers.host ?? ''}' is not allowed: use 127.0.0.1, localhost or an IP address (DNS rebinding protection).`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://trellis');
    if (!OPEN_PATHS.has(url.pathname) && !tokenAccepted(req, guard)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendError(res, 'UNAUTHENTICATED', 'This server requires "Authorization: Bearer <token>" (set MLFLOW_TRACKING_TOKEN; the token is in .trellis/server.json).');
      return;
    }
    const match = router.lookup(method, url.pathname);
    if (!match) {
      sendError(res, 'ENDPOINT_NOT_FOUND', `No API endpoint at ${method} ${url.pathname}.`);
      return;
    }
    if (!match.route) {
      res.setHeader('Allow', match.allowed.join(', '));
      sendError(res, 'BAD_REQUEST', `Method ${method} is not allowed on ${url.pathname}; use ${match.allowed.join(' or ')}.`, 405);
      return;
    }
    const route = match.route;
    routeName = route.name;
    if (STREAMING_ROUTES.has(route.name)) done();
    let fields: Promise<Fields> | undefined;
    // Like MLflow: a GET with a query string reads it; anything else reads a JSON body, and a bodiless
    // DELETE (curl) falls back to the query string. A POST must say application/json: HTML forms and
    // simple cross-origin requests cannot, so a web page cannot drive the API (CSRF).
    const readFields = () =>
      (fields ??= (method === 'GET' || method === 'HEAD') && url.search !== ''
        ? Promise.resolve(fieldsOfQuery(url.searchParams))
        : Promise.resolve().then(() => {
            if (method === 'POST') requireJsonContentType(req);
            return readBody(req, options.maxJsonBytes).then((text) =>
              text.trim() === '' && method === 'DELETE' ? fieldsOfQuery(url.searchParams) : parseJsonBody(text),
            );
          }));
    Promise.resolve()
      .then(() => route.handler({ req, res, url, subpath: safeDecode(match.subpath), fields: readFields }))
      .then((result) => {
        if (result !== undefined) sendJson(res, 200, result);
      })
      .catch((err: unknown) => {
        if (err instanceof TrellisError) {
          sendError(res, err.code, err.message);
        } else {
          options.log(`error in ${method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`);
          sendError(res, 'INTERNAL_ERROR', `Internal error: ${(err as Error).message}`);
        }
      });
  });
  return {
    server,
    inFlight: () => inFlight,
    async listen(host, port) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      const bound = (server.address() as AddressInfo).port;
      return { port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
    },
    async drainAndClose(drainMs = DRAIN_MS) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + drainMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      server.closeAllConnections();
      await closed;
    },
  };
}

function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const _key in value) return false;
  return true;
}

function requireJsonContentType(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new TrellisError(
      'INVALID_PARAMETER_VALUE',
      `Bad Request. Content-Type must be one of [application/json]. Got '${type || 'none'}'.`,
    );
  }
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw new TrellisError('INVALID_PARAMETER_VALUE', `Invalid percent-encoding in path '${path}'.`);
  }
}
