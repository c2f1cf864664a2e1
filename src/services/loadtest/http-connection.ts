/**
 * A lean HTTP/1.1 keep-alive client connection for the load generator. It writes request bytes
 * serialised once (or per request for templates) and parses replies byte by byte straight out of a read
 * buffer shared by every connection of the thread (net's `onread`), so a reply costs no allocation: the
 * parser keeps only the status, the framing headers (Content-Length, Transfer-Encoding: chunked,
 * Connection) and counters, and skips bodies without copying them. One request is in flight per
 * connection (no pipelining), as wrk and autocannon do by default.
 *
 * Framing: Content-Length, chunked (extensions and trailers skipped), or read-until-close when neither
 * is given; HEAD requests and 1xx/204/304 replies have no body; interim 1xx replies are skipped.
 * `Connection: close` (or HTTP/1.0 without keep-alive) closes the connection after the reply.
 */
import * as net from 'node:net';

/** Why a request got no reply. */
export type TransportError = 'refused' | 'reset' | 'other';

export interface ConnectionEvents {
  /** A complete reply to the request in flight. `conn` is idle again (or closed if the server asked). */
  onResponse(conn: HttpConnection, status: number): void;
  /** The request in flight failed without a reply; `conn` is closed. */
  onFailure(conn: HttpConnection, kind: TransportError): void;
  /** The connection closed while no request was in flight (server idle timeout, or a failed pre-connect). */
  onIdleClose(conn: HttpConnection): void;
  /** A connection opened with `connect()` and no request yet is up and idle. */
  onOpen(conn: HttpConnection): void;
}

export const CLOSED = 0;
export const CONNECTING = 1;
export const IDLE = 2;
export const BUSY = 3;

// Parser states.
const P_STATUS = 0;
const P_LINE_START = 1;
const P_NAME = 2;
const P_VALUE = 3;
const P_HEADERS_LF = 4;
const P_BODY = 5;
const P_BODY_EOF = 6;
const P_CHUNK_SIZE = 7;
const P_CHUNK_EXT = 8;
const P_CHUNK_DATA = 9;
const P_CHUNK_DATA_END = 10;
const P_TRAILER_START = 11;
const P_TRAILER = 12;
const P_DONE = 13;

// Header names we care about (lower case), as byte arrays, and a bit for each.
const H_CL = 1;
const H_TE = 2;
const H_CONN = 4;
const NAME_CL = bytes('content-length');
const NAME_TE = bytes('transfer-encoding');
const NAME_CONN = bytes('connection');
const TOK_CHUNKED = bytes('chunked');
const TOK_CLOSE = bytes('close');
const TOK_KEEPALIVE = bytes('keep-alive');

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const CR = 13;
const LF = 10;
const SP = 32;
const TAB = 9;
const COLON = 58;

/** Matches one token (case-insensitively) inside a header value; `at` = bytes matched so far, -1 = failed. */
function stepToken(tok: Uint8Array, at: number, lower: number): number {
  if (at < 0) return -1;
  if (at < tok.length && tok[at] === lower) return at + 1;
  return -1;
}

export class HttpConnection {
  state = CLOSED;
  /** Owner's bookkeeping for the request in flight (send time, scheduled time, arrival index…). */
  sentAt = 0;
  scheduledAt = 0;
  /** Index in the owner's table of connections. */
  readonly id: number;

  private socket: net.Socket | null = null;
  private lastErrorCode: string | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly readBuffer: Buffer;
  private readonly events: ConnectionEvents;
  private readonly headRequests: boolean;

  // Parser state of the reply in progress.
  private p = P_STATUS;
  private lineAt = 0;
  private status = 0;
  private http10 = false;
  private cand = 0;
  private nameAt = 0;
  private header = 0;
  private contentLength = -1;
  private clDigits = 0;
  private chunked = false;
  private teAt = 0;
  private closeAt = 0;
  private keepAliveAt = 0;
  private connClose = false;
  private connKeepAlive = false;
  private remaining = 0;
  private chunkDigits = 0;
  private malformed = false;

  constructor(id: number, host: string, port: number, readBuffer: Buffer, events: ConnectionEvents, headRequests = false) {
    this.id = id;
    this.host = host;
    this.port = port;
    this.readBuffer = readBuffer;
    this.events = events;
    this.headRequests = headRequests;
  }

  /** Opens the connection; requests may be sent at once (they are written when it is up). */
  connect(): void {
    if (this.socket) return;
    this.lastErrorCode = undefined;
    this.state = CONNECTING;
    const s = net.connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: {
        buffer: this.readBuffer,
        callback: (n: number, buf: Uint8Array) => {
          if (this.socket === s) this.parse(buf, n);
          return true;
        },
      },
    });
    this.socket = s;
    s.on('connect', () => {
      if (this.socket === s && this.state === CONNECTING) {
        this.state = IDLE;
        this.events.onOpen(this);
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (this.socket === s) this.lastErrorCode = err.code ?? 'ERROR';
    });
    s.on('close', () => {
      if (this.socket === s) this.closed();
    });
  }

  /** Sends one request: the connection must be idle, connecting or just opened with `connect()`. */
  send(request: Uint8Array): void {
    if (!this.socket) this.connect();
    this.state = BUSY;
    this.p = P_STATUS;
    this.lineAt = 0;
    this.status = 0;
    this.socket!.write(request);
  }

  /** Closes the connection at once; nothing is reported for a request in flight (the owner accounts for it). */
  destroy(): void {
    const s = this.socket;
    this.socket = null;
    this.state = CLOSED;
    if (s) s.destroy();
  }

  get connected(): boolean {
    return this.state === IDLE || this.state === BUSY;
  }

  private closed(): void {
    const wasBusy = this.state === BUSY;
    const code = this.lastErrorCode;
    this.socket = null;
    this.state = CLOSED;
    if (wasBusy) {
      if (this.p === P_BODY_EOF && code === undefined) {
        // A reply framed by the end of the connection is complete now.
        this.p = P_DONE;
        this.events.onResponse(this, this.status);
      } else {
        this.events.onFailure(this, classify(code));
      }
    } else {
      this.events.onIdleClose(this);
    }
  }

  private fail(): void {
    // A reply we cannot parse: the connection is unusable.
    const s = this.socket;
    this.socket = null;
    this.state = CLOSED;
    if (s) s.destroy();
    this.events.onFailure(this, 'other');
  }

  private startHeaders(): void {
    this.cand = 0;
    this.header = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.malformed = false;
  }

  /** Parses `n` bytes of `buf` (the shared read buffer). */
  private parse(buf: Uint8Array, n: number): void {
    if (this.state !== BUSY) return; // Bytes nobody asked for: ignored.
    let i = 0;
    while (i < n) {
      switch (this.p) {
        case P_STATUS: {
          // "HTTP/1.1 200 Reason\r\n": check the version, take the 3 digits, skip the rest.
          while (i < n) {
            const c = buf[i++]!;
            const at = this.lineAt++;
            if (c === LF) {
              if (this.status < 100 || at < 12) return this.fail();
              this.p = P_LINE_START;
              this.startHeaders();
              break;
            }
            if (at < 5) {
              if (c !== 'HTTP/'.charCodeAt(at)) return this.fail();
            } else if (at === 7) {
              this.http10 = c === 48; // '0' in HTTP/1.0
            } else if (at >= 9 && at <= 11) {
              if (c < 48 || c > 57) return this.fail();
              this.status = this.status * 10 + (c - 48);
            }
          }
          break;
        }
        case P_LINE_START: {
          const c = buf[i]!;
          if (c === CR) {
            i++;
            this.p = P_HEADERS_LF;
            break;
          }
          if (c === LF) {
            i++;
            if (this.endOfHeaders()) return;
            break;
          }
          const lower = c | 0x20;
          this.cand = lower === 99 /* c */ ? H_CL | H_CONN : lower === 116 /* t */ ? H_TE : 0;
          this.nameAt = 0;
          this.p = P_NAME;
          break;
        }
        case P_NAME: {
          while (i < n) {
            const c = buf[i++]!;
            if (c === COLON) {
              const len = this.nameAt;
              const cand = this.cand;
              this.header =
                cand & H_CL && len === NAME_CL.length ? H_CL : cand & H_CONN && len === NAME_CONN.length ? H_CONN : cand & H_TE && len === NAME_TE.length ? H_TE : 0;
              this.clDigits = 0;
              this.teAt = 0;
              this.closeAt = 0;
              this.keepAliveAt = 0;
              if (this.header === H_CL) this.contentLength = 0;
              this.p = P_VALUE;
              break;
            }
            if (c === LF) {
              // A line without a colon: tolerate it (it carries nothing we use).
              this.p = P_LINE_START;
              break;
            }
            if (this.cand !== 0) {
              const lower = c | 0x20;
              const at = this.nameAt;
              let cand = this.cand;
              if (cand & H_CL && NAME_CL[at] !== lower) cand &= ~H_CL;
              if (cand & H_CONN && NAME_CONN[at] !== lower) cand &= ~H_CONN;
              if (cand & H_TE && NAME_TE[at] !== lower) cand &= ~H_TE;
              this.cand = cand;
            }
            this.nameAt++;
          }
          break;
        }
        case P_VALUE: {
          const header = this.header;
          if (header === 0) {
            // Skip to the end of the line.
            const end = indexOfLF(buf, i, n);
            if (end < 0) {
              i = n;
            } else {
              i = end + 1;
              this.p = P_LINE_START;
            }
            break;
          }
          while (i < n) {
            const c = buf[i++]!;
            if (c === LF) {
              this.endOfValue();
              this.p = P_LINE_START;
              break;
            }
            if (c === CR || c === SP || c === TAB) continue;
            if (header === H_CL) {
              if (c >= 48 && c <= 57) {
                this.contentLength = this.contentLength * 10 + (c - 48);
                this.clDigits++;
              } else {
                this.malformed = true;
              }
            } else {
              const lower = c | 0x20;
              if (c === 44 /* , */) {
                this.endOfToken();
              } else if (header === H_TE) {
                this.teAt = stepToken(TOK_CHUNKED, this.teAt, lower);
              } else {
                this.closeAt = stepToken(TOK_CLOSE, this.closeAt, lower);
                this.keepAliveAt = stepToken(TOK_KEEPALIVE, this.keepAliveAt, c === 45 ? 45 : lower);
              }
            }
          }
          break;
        }
        case P_HEADERS_LF: {
          if (buf[i++] !== LF) return this.fail();
          if (this.endOfHeaders()) return;
          break;
        }
        case P_BODY: {
          const avail = n - i;
          if (avail < this.remaining) {
            this.remaining -= avail;
            i = n;
          } else {
            i += this.remaining;
            this.remaining = 0;
            this.complete();
            return;
          }
          break;
        }
        case P_BODY_EOF:
          return; // Everything until the server closes is body.
        case P_CHUNK_SIZE: {
          while (i < n) {
            const c = buf[i++]!;
            if (c === LF) {
              if (this.chunkDigits === 0) return this.fail();
              if (this.remaining === 0) {
                this.p = P_TRAILER_START;
              } else {
                this.p = P_CHUNK_DATA;
              }
              break;
            }
            if (c === CR || c === SP || c === TAB) continue;
            if (c === 59 /* ; */) {
              this.p = P_CHUNK_EXT;
              break;
            }
            const v = hexValue(c);
            if (v < 0) return this.fail();
            this.remaining = this.remaining * 16 + v;
            this.chunkDigits++;
          }
          break;
        }
        case P_CHUNK_EXT: {
          const end = indexOfLF(buf, i, n);
          if (end < 0) {
            i = n;
          } else {
            i = end + 1;
            if (this.chunkDigits === 0) return this.fail();
            this.p = this.remaining === 0 ? P_TRAILER_START : P_CHUNK_DATA;
          }
          break;
        }
        case P_CHUNK_DATA: {
          const avail = n - i;
          if (avail < this.remaining) {
            this.remaining -= avail;
            i = n;
          } else {
            i += this.remaining;
            this.remaining = 0;
            this.p = P_CHUNK_DATA_END;
          }
          break;
        }
        case P_CHUNK_DATA_END: {
          // The CRLF after a chunk's data.
          const c = buf[i++]!;
          if (c === LF) {
            this.p = P_CHUNK_SIZE;
            this.chunkDigits = 0;
            this.remaining = 0;
          } else if (c !== CR) {
            return this.fail();
          }
          break;
        }
        case P_TRAILER_START: {
          const c = buf[i++]!;
          if (c === LF) {
            this.complete();
            return;
          }
          if (c !== CR) this.p = P_TRAILER;
          break;
        }
        case P_TRAILER: {
          const end = indexOfLF(buf, i, n);
          if (end < 0) {
            i = n;
          } else {
            i = end + 1;
            this.p = P_TRAILER_START;
          }
          break;
        }
        default:
          return; // P_DONE: extra bytes after a reply are ignored.
      }
    }
  }

  private endOfToken(): void {
    if (this.teAt === TOK_CHUNKED.length) this.chunked = true;
    else if (this.header === H_TE) this.chunked = false; // only the last coding counts
    if (this.closeAt === TOK_CLOSE.length) this.connClose = true;
    if (this.keepAliveAt === TOK_KEEPALIVE.length) this.connKeepAlive = true;
    this.teAt = 0;
    this.closeAt = 0;
    this.keepAliveAt = 0;
  }

  private endOfValue(): void {
    if (this.header === H_CL) {
      if (this.clDigits === 0) this.malformed = true;
    } else {
      this.endOfToken();
    }
  }

  /** Decides how the body is framed; returns true when the reply ended (or failed) here. */
  private endOfHeaders(): boolean {
    const st = this.status;
    if (st < 200 && st !== 101) {
      // Interim reply (100 Continue, 103 Early Hints): the real one follows.
      this.p = P_STATUS;
      this.lineAt = 0;
      this.status = 0;
      return false;
    }
    if (this.headRequests || st === 204 || st === 304 || st === 101) {
      this.complete();
      return true;
    }
    if (this.chunked) {
      this.p = P_CHUNK_SIZE;
      this.remaining = 0;
      this.chunkDigits = 0;
      return false;
    }
    if (this.contentLength >= 0) {
      if (this.malformed) {
        this.fail();
        return true;
      }
      if (this.contentLength === 0) {
        this.complete();
        return true;
      }
      this.remaining = this.contentLength;
      this.p = P_BODY;
      return false;
    }
    this.p = P_BODY_EOF;
    return false;
  }

  private complete(): void {
    this.p = P_DONE;
    const keep = this.http10 ? this.connKeepAlive && !this.connClose : !this.connClose;
    if (keep && this.status !== 101) {
      this.state = IDLE;
    } else {
      const s = this.socket;
      this.socket = null;
      this.state = CLOSED;
      if (s) s.destroy();
    }
    this.events.onResponse(this, this.status);
  }
}

function indexOfLF(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === LF) return i;
  return -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function classify(code: string | undefined): TransportError {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case undefined: // closed by the peer before a full reply
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset';
    default:
      return 'other';
  }
}

/** Host and port of an http:// URL, and the request target (path and query). */
export function parseTarget(url: string): { host: string; port: number; hostHeader: string; path: string } {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`Only http:// URLs can be load tested (got ${u.protocol}//)`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port ? Number(u.port) : 80, hostHeader: u.host, path: `${u.pathname}${u.search}` || '/' };
}

/** The bytes of a request head: request line, Host (unless given), the headers, and Content-Length for a body. */
export function serializeHead(method: string, path: string, hostHeader: string, headers: Record<string, string>, bodyLength: number | null): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  const names = new Set(Object.keys(headers).map((k) => k.toLowerCase()));
  if (!names.has('host')) head += `Host: ${hostHeader}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new Error(`Header ${JSON.stringify(k)} contains a line break`);
    if (k.toLowerCase() === 'content-length') continue; // computed from the body
    head += `${k}: ${v}\r\n`;
  }
  if (bodyLength !== null) head += `Content-Length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}
