/**
 * A traffic route for the requests that name a model but no version: weighted targets (a canary takes a
 * share), optionally sticky by a request header (the same header value always lands on the same target,
 * so a user sees one version), and an optional shadow that gets a copy of each request.
 */
import { KServeError } from './kserve-codec';

export interface RouteTarget {
  /** A served reference: `mnist@champion`, `mnist/3`. Aliases follow their moves. */
  ref: string;
  /** Relative weight (whole number ≥ 0). */
  weight: number;
}

export interface RouteSpec {
  targets: RouteTarget[];
  /** A reference that receives a copy of each request; its replies are measured and discarded. */
  shadow?: string;
  /** Header whose value pins a client to a target (e.g. x-user-id); random split without it. */
  stickyHeader?: string;
}

export function validateRoute(spec: RouteSpec): void {
  if (!Array.isArray(spec.targets) || spec.targets.length === 0) throw new KServeError(400, 'A route needs at least one target {ref, weight}.');
  let total = 0;
  for (const t of spec.targets) {
    if (typeof t.ref !== 'string' || t.ref === '') throw new KServeError(400, `Each route target needs a 'ref' (e.g. mnist@champion), got ${JSON.stringify(t.ref)}.`);
    if (!Number.isInteger(t.weight) || t.weight < 0 || t.weight > 1_000_000) throw new KServeError(400, `Weight of '${t.ref}' must be a whole number from 0 to 1000000, got ${JSON.stringify(t.weight)}.`);
    total += t.weight;
  }
  if (total === 0) throw new KServeError(400, 'Route weights add up to 0: give at least one target a positive weight.');
  if (spec.stickyHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(spec.stickyHeader)) {
    throw new KServeError(400, `Sticky header '${spec.stickyHeader}' is not a valid header name (letters, digits and '-').`);
  }
}

/** The target for one request: by the sticky value's hash when given, else at random, in proportion to weight. */
export function chooseTarget(spec: RouteSpec, stickyValue: string | undefined): string {
  const total = spec.targets.reduce((n, t) => n + t.weight, 0);
  // A hash spreads sticky values evenly over [0, total); the same value always gives the same point.
  let point = stickyValue === undefined ? Math.random() * total : (hash32(stickyValue) / 2 ** 32) * total;
  let last = spec.targets[0]!.ref;
  for (const t of spec.targets) {
    if (t.weight === 0) continue;
    if (point < t.weight) return t.ref;
    point -= t.weight;
    last = t.ref;
  }
  // Only floating-point rounding at the very top of the range gets here.
  return last;
}

/**
 * 32-bit FNV-1a over the UTF-16 code units, then MurmurHash3's finalizer: FNV alone leaves the high bits
 * (the ones the split reads) poorly mixed for short ids that differ in their last characters.
 */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
