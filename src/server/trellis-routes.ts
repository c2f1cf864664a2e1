import type { ServerResponse } from 'node:http';
import type { Store } from '../core/store';
import type { ChangeEvent, ChangeFeed } from '../core/events';
import type { Router } from './router';
import type { ServerTelemetry } from './telemetry';
import { int64, requiredStr } from './input';
import { invalidParameter } from '../core/errors';

const API = '/api/trellis';
/** Metric events of one run are folded into one per window: a training loop logs far faster than a UI redraws. */
const METRIC_EVENT_WINDOW_MS = 500;
const HEARTBEAT_MS = 15_000;

export interface ServerInfo {
  version: string;
  pid: number;
  dataDir: string;
}

export function mountTrellisRoutes(router: Router, store: Store, telemetry: ServerTelemetry, info: ServerInfo): void {
  router.on('GET', '/health', (ctx) => {
    ctx.res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
  });
  router.on('GET', `${API}/info`, () => info);
  router.on('GET', '/metrics', async (ctx) => {
    const body = await telemetry.registry.metrics();
    ctx.res.writeHead(200, { 'Content-Type': telemetry.registry.contentType }).end(body);
  });

  // The series a chart draws: at most max_points points keeping the min/max envelope of [start_step, end_step].
  router.on('GET', `${API}/metrics/downsample`, async (ctx) => {
    const f = await ctx.fields();
    const runId = requiredStr(f, 'run_id');
    store.runs.info(runId);
    const maxPoints = int64(f, 'max_points') ?? 2000;
    if (maxPoints < 2 || maxPoints > 100_000) throw invalidParameter(`max_points must be between 2 and 100000, got ${maxPoints}.`);
    const points = store.runs.metrics.downsample(runId, requiredStr(f, 'metric_key'), {
      startStep: int64(f, 'start_step'),
      endStep: int64(f, 'end_step'),
      maxPoints,
    });
    return { points: points.map(({ step, timestamp, value }) => ({ step, timestamp, value })) };
  });

  mountEventStream(router, store.changes);
}

/** GET /api/trellis/events: the feed's changes as server-sent events. */
export function mountEventStream(router: Router, feed: ChangeFeed): void {
  router.on('GET', `${API}/events`, (ctx) => {
    streamEvents(ctx.res, feed);
    return undefined;
  });
}

/** Server-sent events of store changes; `metrics.logged` coalesced per run so a fast loop cannot flood a client. */
function streamEvents(res: ServerResponse, feed: ChangeFeed): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.write(': connected\n\n');
  const send = (event: ChangeEvent) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  const pendingKeys = new Map<string, Set<string>>();
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = () => {
    flushTimer = undefined;
    for (const [run_id, keys] of pendingKeys) send({ type: 'metrics.logged', run_id, keys: [...keys] });
    pendingKeys.clear();
  };
  const unsubscribe = feed.subscribe((event) => {
    if (event.type !== 'metrics.logged') return send(event);
    const keys = pendingKeys.get(event.run_id) ?? new Set<string>();
    event.keys.forEach((k) => keys.add(k));
    pendingKeys.set(event.run_id, keys);
    flushTimer ??= setTimeout(flush, METRIC_EVENT_WINDOW_MS);
  });
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
  res.on('close', () => {
    unsubscribe();
    clearInterval(heartbeat);
    if (flushTimer) clearTimeout(flushTimer);
  });
}
