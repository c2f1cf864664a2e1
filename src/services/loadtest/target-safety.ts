/**
 * What a load test may hit. A load generator pointed at someone else's service is a denial-of-service
 * tool, so by default only loopback targets and the Trellis server's own host are allowed; anything
 * else needs an explicit `--allow-remote`. The check runs before any traffic is sent.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface TargetCheckOptions {
  /** The user said `--allow-remote`: any http(s) target is allowed. */
  allowRemote: boolean;
  /** The Trellis server this CLI talks to: its host is always allowed (its own endpoints). */
  trellisUrl?: string;
  /** Name resolution; `dns.lookup` (the system resolver, /etc/hosts included) unless given. */
  lookup?: (hostname: string) => Promise<string[]>;
}

export interface TargetCheck {
  url: URL;
  /** The host as written, without IPv6 brackets. */
  host: string;
  /** The addresses the host resolved to (the host itself for an IP literal; empty when not resolved). */
  addresses: string[];
  /** Why the target is allowed. */
  reason: 'loopback' | 'trellis' | 'allow-remote';
}

export class TargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefusedError';
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x.y.z, also as ::ffff:7f00:1); 0.0.0.0 and :: are not. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const kind = isIP(a);
  if (kind === 4) return a.startsWith('127.');
  if (kind !== 6) return false;
  const groups = expandIPv6(a);
  if (!groups) return false;
  const zeros = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (zeros(7) && groups[7] === 1) return true;
  return zeros(5) && groups[5] === 0xffff && groups[6]! >> 8 === 127;
}

/** The eight 16-bit groups of an IPv6 address, a dotted IPv4 tail included. */
function expandIPv6(a: string): number[] | undefined {
  let text = a;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  const groups = [...left, ...fill, ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

const bare = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase();

const systemLookup = async (hostname: string): Promise<string[]> =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((r) => r.address);

/**
 * Resolves the target's host and decides. A name counts as loopback only when every address it resolves
 * to is loopback (the connection may go to any of them). Throws TargetRefusedError with what to add.
 */
export async function checkTarget(target: string, options: TargetCheckOptions): Promise<TargetCheck> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new TargetRefusedError(`Invalid target URL '${target}': give an absolute http:// or https:// URL, e.g. http://127.0.0.1:8080/predict.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TargetRefusedError(`Invalid target URL '${target}': only http:// and https:// targets can be load-tested (got ${url.protocol}).`);
  }
  const host = bare(url.hostname);
  if (options.allowRemote) return { url, host, addresses: isIP(host) ? [host] : [], reason: 'allow-remote' };

  if (options.trellisUrl) {
    let trellisHost: string | undefined;
    try {
      trellisHost = bare(new URL(options.trellisUrl).hostname);
    } catch {
      trellisHost = undefined;
    }
    if (trellisHost && trellisHost === host) return { url, host, addresses: isIP(host) ? [host] : [], reason: 'trellis' };
  }

  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await (options.lookup ?? systemLookup)(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new TargetRefusedError(`Cannot resolve the target host '${host}' (${code}): check the URL ${url.href}.`);
    }
  }
  if (addresses.length > 0 && addresses.every(isLoopbackAddress)) return { url, host, addresses, reason: 'loopback' };

  const resolved = isIP(host) ? '' : ` (it resolves to ${addresses.join(', ') || 'no address'})`;
  const ownHost = options.trellisUrl ? ` nor the Trellis server's host (${safeHost(options.trellisUrl)})` : '';
  throw new TargetRefusedError(
    `Refusing to load-test ${url.href}: '${host}'${resolved} is not a loopback address (127.0.0.0/8, ::1, localhost)${ownHost}. ` +
      'Load tests target local endpoints by default; if you own this endpoint and mean to put load on it, add --allow-remote.',
  );
}

function safeHost(u: string): string {
  try {
    return new URL(u).host;
  } catch {
    return u;
  }
}
