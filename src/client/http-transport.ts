import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/**
 * HTTP for the platform's clients on node:http rather than fetch: Node 20 compiles undici on the first
 * fetch() of a process (about 45 ms, measured on these machines), a cost every short CLI command paid
 * before its first byte went out. node:http is part of Node's start-up snapshot.
 */

export interface HttpResponse {
  status: number;
  ok: boolean;
  headers: IncomingHttpHeaders;
  /** The body as it arrives (chunks); read it once, through this or through text()/bytes(). */
  body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** One request; resolves at the response's headers, rejects when no response comes (refused, reset, aborted). */
export function send(url: string, init: HttpRequest = {}): Promise<HttpResponse> {
  const target = new URL(url);
  // node:https (TLS, crypto) only for an https:// server: the workspace's own is plain HTTP on loopback.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const request = target.protocol === 'https:' ? (require('node:https') as typeof import('node:https')).request : httpRequest;
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
  return new Promise((resolve, reject) => {
    const req = request(target, { method: init.method ?? 'GET', headers, signal: init.signal }, (res) => resolve(response(res)));
    req.on('error', reject);
    req.end(init.body);
  });
}

function response(res: IncomingMessage): HttpResponse {
  const status = res.statusCode ?? 0;
  const bytes = async (): Promise<Uint8Array> => {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: res.headers,
    body: res,
    bytes,
    text: async () => Buffer.from(await bytes()).toString('utf8'),
  };
}
