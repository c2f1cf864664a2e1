/**
 * Page tokens for the search endpoints, in MLflow's format: base64 of `{"offset": N}`. Clients treat
 * the token as opaque, but keeping MLflow's shape means a token from one server reads on the other.
 */
import { invalidParameter } from '../errors';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}

/** The offset a page token stands for; no token (or an empty one) is the first page, offset 0. */
export function decodePageToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  // Buffer's decoder skips characters outside the alphabet instead of failing, so check first.
  if (!BASE64.test(token) || token.length % 4 === 1) {
    throw invalidParameter(`Invalid page token '${token}', could not base64-decode`);
  }
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoded);
  } catch {
    throw invalidParameter(`Invalid page token, decoded value=${decoded}`);
  }
  const offset = typeof parsed === 'object' && parsed !== null ? (parsed as { offset?: unknown }).offset : undefined;
  // MLflow writes the offset as a number and reads it back with int(), so a digit string is accepted too.
  const value = typeof offset === 'string' && /^\d+$/.test(offset) ? Number(offset) : offset;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidParameter(
      `Invalid page token, parsed value=${decoded}: expected {"offset": <non-negative integer>}`,
    );
  }
  return value;
}
