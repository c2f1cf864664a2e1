import type { ServerResponse } from 'node:http';
import { RUN_STATUSES, type RunStatus } from '../core/entities';
import { invalidParameter } from '../core/errors';
import type { JobService } from '../services/jobs/job-service';
import type { LogLine } from '../services/jobs/log-capture';
import { bool, int64, str } from './input';
import type { RequestContext, Router } from './router';

const API = '/api/trellis/jobs';

/**
 * The jobs control API:
 *   POST {API}                 submit (body: JobRequest) → the job once its container started (or was queued);
 *                              ?follow=true answers NDJSON at once instead: {job} as soon as its run exists,
 *                              then its lines and {end: true, job} as GET …/logs?follow=true does (one round
 *                              trip from `trellis run` to the container's first line)
 *   GET  {API}                 list (?experiment_id, ?status, ?sweep_id, ?max_results)
 *   GET  {API}/ID              one job
 *   POST {API}/ID/cancel       cancel → the job once stopped
 *   GET  {API}/ID/logs         NDJSON lines {stream, line, time}; ?follow=true streams until the job ends,
 *                              then a last line {end: true, job}
 */
export function mountJobsRoutes(router: Router, jobs: JobService): void {
  router.on('POST', API, async (ctx) => {
    const admitted = await jobs.admit(await ctx.fields());
    if (ctx.url.searchParams.get('follow') === 'true') {
      streamLogs(ctx.res, jobs, admitted.jobId, true, { job: jobs.get(admitted.jobId) });
      return undefined;
    }
    await admitted.started;
    return { job: jobs.get(admitted.jobId) };
  });
  router.on('GET', API, async (ctx) => {
    const f = await ctx.fields();
    const status = str(f, 'status');
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      throw invalidParameter(`Invalid status '${status}': expected one of ${RUN_STATUSES.join(', ')}.`);
    }
    const limit = int64(f, 'max_results') ?? 1000;
    if (limit < 1 || limit > 50_000) throw invalidParameter(`max_results must be between 1 and 50000, got ${limit}.`);
    return {
      jobs: jobs.list({
        statuses: status ? [status as RunStatus] : undefined,
        experimentId: str(f, 'experiment_id'),
        sweepId: str(f, 'sweep_id'),
        limit,
      }),
    };
  });
  router.on(['GET', 'POST'], `${API}/*`, (ctx) => jobRoute(ctx, jobs));
}

async function jobRoute(ctx: RequestContext, jobs: JobService): Promise<unknown> {
  const [id = '', action, ...rest] = ctx.subpath.split('/');
  const method = ctx.req.method === 'HEAD' ? 'GET' : ctx.req.method;
  if (id === '' || rest.length > 0) throw invalidParameter(`No jobs endpoint at ${ctx.url.pathname}: use ${API}/JOB_ID, /cancel or /logs.`);
  if (action === undefined && method === 'GET') return { job: jobs.get(id) };
  if (action === 'cancel' && method === 'POST') return { job: await jobs.cancel(id) };
  if (action === 'logs' && method === 'GET') {
    const f = await ctx.fields();
    jobs.get(id);
    streamLogs(ctx.res, jobs, id, bool(f, 'follow') ?? false);
    return undefined;
  }
  throw invalidParameter(`No jobs endpoint at ${method} ${ctx.url.pathname}: use GET ${API}/JOB_ID, POST ${API}/JOB_ID/cancel or GET ${API}/JOB_ID/logs.`);
}

/**
 * One JSON object a line, written as each line arrives: a terminal shows output as the container prints it.
 * `first` goes before the lines (a submit's {job}).
 */
function streamLogs(res: ServerResponse, jobs: JobService, id: string, follow: boolean, first?: object): void {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
  if (first) res.write(`${JSON.stringify(first)}\n`);
  const write = (line: LogLine) => res.write(`${JSON.stringify(line)}\n`);
  const end = () => {
    if (res.writableEnded || res.destroyed) return;
    let job: unknown = null;
    try {
      job = jobs.get(id);
    } catch {
      /* the run was deleted while followed: the stream still ends cleanly */
    }
    res.end(`${JSON.stringify({ end: true, job })}\n`);
  };
  const live = jobs.followLogs(id, write);
  if (!live) {
    jobs.savedLogs(id).forEach(write);
    end();
    return;
  }
  live.backlog.forEach(write);
  if (!follow) {
    live.stop();
    end();
    return;
  }
  res.on('close', live.stop);
  void live.done.then(() => {
    live.stop();
    end();
  });
}
