import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

export interface GuardOptions {
  /** Bearer token; required on every request when `requireToken` is set. */
  token: string;
  requireToken: boolean;
  /** Host names accepted besides IP literals and localhost (e.g. host.docker.internal). */
  allowedHosts: readonly string[];
}

const LOOPBACK_NAMES = new Set(['localhost', 'host.docker.internal']);

/**
 * DNS rebinding defence: a page on evil.example that rebinds its name to 127.0.0.1 still sends
 * `Host: evil.example`. Accept IP literals and the names we know; refuse every other name.
 */
export function hostAllowed(hostHeader: string | undefined, options: GuardOptions): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d+$/, '');
  const name = host.toLowerCase();
  return isIP(name) !== 0 || LOOPBACK_NAMES.has(name) || options.allowedHosts.includes(name);
}

export function tokenAccepted(req: IncomingMessage, options: GuardOptions): boolean {
  if (!options.requireToken) return true;
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const expected = Buffer.from(options.token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');
