/**
 * The load generator, run in its own process pinned to its own core:
 *   node --import tsx bench/lib/load.ts '<JSON spec>'
 * Prints one JSON line with the result. Bearer tokens come from $BENCH_TOKENS ({"<target>": "<token>"})
 * and $BENCH_TOKEN (for latency specs), kept off the command line.
 *
 * Specs:
 *  - throughput: for each target server, `runIds.length` keep-alive connections, each sending
 *    pre-built requests back to back (one in flight per connection). The targets take turns in
 *    slices, A B B A A B…, after a warm-up slice each, so that a noisy neighbour or a drift of the
 *    machine falls on every target alike and their ratio stays meaningful. A slice ends when its
 *    time is up and the requests in flight have been answered. Non-200 answers are counted over
 *    all slices, warm-up included.
 *  - latency: requests sent one at a time on one connection, round robin, timing each.
 */
import { performance } from 'node:perf_hooks';
import { procCpuSeconds, procSchedSeconds, quantile, median } from './common';
import { buildRequest, RawConnection } from './raw-http';
import { logBatchRequest, logMetricRequest, type PatchableRequest } from './bodies';

export interface ThroughputSpec {
  mode: 'throughput';
  targets: { name: string; host: string; port: number; /** To read the server's CPU time. */ pid: number }[];
  kind: 'log-batch' | 'log-metric';
  /** One run per connection (connections = runIds.length), the same runs on every target. */
  runIds: string[];
  pointsPerRequest: number;
  warmupS: number;
  /** Counted seconds per target, in slices of sliceS. */
  durationS: number;
  sliceS: number;
}

export interface ThroughputResult {
  connections: number;
  requestBytes: number;
  slices: number;
  windowS: number;
  requests: number;
  points: number;
  requestsPerS: number;
  pointsPerS: number;
  /** Non-200 answers and failed requests over the whole phase (warm-up included). */
  errors: number;
  errorSample?: string;
  totalRequests: number;
  latencyMs: { p50: number; p99: number };
  /** CPU used over the counted slices, as a share of one core. */
  clientCpu: number;
  serverCpu: number;
  /** Time runnable but waiting for the core (other processes on it), as a share of the counted slices. */
  clientWait: number;
  serverWait: number;
}

export interface LatencySpec {
  mode: 'latency';
  host: string;
  port: number;
  /** The server's pid, to read how long it waited for its core. */
  pid: number;
  /**
   * Requests of one group run round robin (so noise falls on each alike); groups run one after the
   * other, so a heavy request cannot disturb (cache, GC) the timings of another group.
   */
  requests: { name: string; group?: string; method: 'GET' | 'POST'; path: string; body?: unknown; iterations: number; warmup: number }[];
}

export interface LatencyTimes {
  ms: number[];
  p50: number;
  p95: number;
  status: number[];
  lastBody: string;
  /** Time the server and the client were runnable but waiting for their cores, as a share of this group's run. */
  serverWait: number;
  clientWait: number;
}

export type LatencyResult = Record<string, LatencyTimes>;

function tokenHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function throughput(spec: ThroughputSpec): Promise<Record<string, ThroughputResult>> {
  const tokens = JSON.parse(process.env.BENCH_TOKENS ?? '{}') as Record<string, string>;
  const states = await Promise.all(
    spec.targets.map(async (t) => {
      const target = { host: t.host, port: t.port, headers: tokenHeaders(tokens[t.name]) };
      const requests: PatchableRequest[] = spec.runIds.map((runId, i) =>
        spec.kind === 'log-batch' ? logBatchRequest(target, runId, spec.pointsPerRequest, i + 1) : logMetricRequest(target, runId, i + 1),
      );
      const connections = await Promise.all(spec.runIds.map(() => RawConnection.open(t.host, t.port)));
      return {
        t, requests, connections, broken: false, slices: 0, windowS: 0, answered: 0, points: 0, total: 0, errors: 0,
        errorSample: undefined as string | undefined, latencies: [] as number[], clientCpuS: 0, serverCpuS: 0,
        clientWaitS: 0, serverWaitS: 0,
      };
    }),
  );
  type State = (typeof states)[number];

  const slice = async (s: State, seconds: number, counted: boolean): Promise<void> => {
    let stop = false;
    const timer = setTimeout(() => (stop = true), seconds * 1000);
    const cpu0 = process.cpuUsage();
    const server0 = procCpuSeconds(s.t.pid);
    const sched0 = { client: procSchedSeconds(process.pid), server: procSchedSeconds(s.t.pid) };
    const t0 = performance.now();
    const loop = async (c: number) => {
      const conn = s.connections[c]!;
      const req = s.requests[c]!;
      while (!stop && !s.broken) {
        const bytes = req.next();
        const sent = performance.now();
        try {
          const res = await conn.send(bytes);
          s.total++;
          if (res.status !== 200) {
            s.errors++;
            s.errorSample ??= `HTTP ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`;
          } else if (counted) {
            s.answered++;
            s.points += req.points;
            s.latencies.push(performance.now() - sent);
          }
        } catch (err) {
          s.errors++;
          s.errorSample ??= (err as Error).message;
          s.broken = true;
        }
      }
    };
    await Promise.all(s.connections.map((_, c) => loop(c)));
    clearTimeout(timer);
    if (!counted) return;
    s.slices++;
    s.windowS += (performance.now() - t0) / 1000;
    s.serverCpuS += procCpuSeconds(s.t.pid) - server0;
    s.clientWaitS += procSchedSeconds(process.pid).wait - sched0.client.wait;
    s.serverWaitS += procSchedSeconds(s.t.pid).wait - sched0.server.wait;
    const cpu = process.cpuUsage(cpu0);
    s.clientCpuS += (cpu.user + cpu.system) / 1e6;
  };

  for (const s of states) await slice(s, spec.warmupS, false);
  const slices = Math.max(1, Math.round(spec.durationS / spec.sliceS));
  for (let i = 0; i < slices; i++) {
    for (const s of i % 2 === 0 ? states : [...states].reverse()) await slice(s, spec.sliceS, true);
  }
  for (const s of states) for (const c of s.connections) c.close();

  const out: Record<string, ThroughputResult> = {};
  for (const s of states) {
    out[s.t.name] = {
      connections: s.connections.length,
      requestBytes: s.requests[0]!.bytes,
      slices: s.slices,
      windowS: s.windowS,
      requests: s.answered,
      points: s.points,
      requestsPerS: s.answered / s.windowS,
      pointsPerS: s.points / s.windowS,
      errors: s.errors,
      ...(s.errorSample ? { errorSample: s.errorSample } : {}),
      totalRequests: s.total,
      latencyMs: { p50: median(s.latencies), p99: quantile(s.latencies, 0.99) },
      clientCpu: s.clientCpuS / s.windowS,
      serverCpu: s.serverCpuS / s.windowS,
      clientWait: s.clientWaitS / s.windowS,
      serverWait: s.serverWaitS / s.windowS,
    };
  }
  return out;
}

async function latency(spec: LatencySpec): Promise<LatencyResult> {
  const conn = await RawConnection.open(spec.host, spec.port);
  const built = spec.requests.map((r) => ({
    ...r,
    bytes: buildRequest(r.method, spec.host, spec.port, r.path, r.body === undefined ? undefined : JSON.stringify(r.body), tokenHeaders(process.env.BENCH_TOKEN)).bytes,
  }));
  const out: LatencyResult = {};
  for (const r of built) out[r.name] = { ms: [], p50: NaN, p95: NaN, status: [], lastBody: '', serverWait: NaN, clientWait: NaN };
  const round = async (group: typeof built, i: number): Promise<void> => {
    for (const r of group) {
      if (i >= r.warmup + r.iterations) continue;
      const t0 = performance.now();
      const res = await conn.send(r.bytes);
      const ms = performance.now() - t0;
      const o = out[r.name]!;
      if (i >= r.warmup) {
        o.ms.push(ms);
        o.status.push(res.status);
      }
      if (i === r.warmup + r.iterations - 1) o.lastBody = res.body.toString('utf8');
    }
  };
  const groups = [...new Set(built.map((r) => r.group ?? ''))].map((g) => built.filter((r) => (r.group ?? '') === g));
  for (const group of groups) {
    // Warm-up rounds first, then the timed ones.
    const rounds = Math.max(...group.map((r) => r.warmup + r.iterations));
    const warmup = Math.max(...group.map((r) => r.warmup));
    let t0 = 0;
    let sched0 = { client: procSchedSeconds(process.pid), server: procSchedSeconds(spec.pid) };
    for (let i = 0; i < rounds; i++) {
      if (i === warmup) {
        t0 = performance.now();
        sched0 = { client: procSchedSeconds(process.pid), server: procSchedSeconds(spec.pid) };
      }
      await round(group, i);
    }
    const wall = (performance.now() - t0) / 1000;
    for (const r of group) {
      out[r.name]!.serverWait = (procSchedSeconds(spec.pid).wait - sched0.server.wait) / wall;
      out[r.name]!.clientWait = (procSchedSeconds(process.pid).wait - sched0.client.wait) / wall;
    }
  }
  conn.close();
  for (const o of Object.values(out)) {
    o.p50 = median(o.ms);
    o.p95 = quantile(o.ms, 0.95);
  }
  return out;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ThroughputSpec | LatencySpec;
  const result = spec.mode === 'throughput' ? await throughput(spec) : await latency(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
