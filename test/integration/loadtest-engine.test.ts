// The load test engine against real HTTP servers on 127.0.0.1 written here: counts, bounds, errors by
// kind, templates checked by the server, worker merging, reply framing, and the open/closed difference
// under a stalling server (coordinated omission) computed from the server's own schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as esbuild from 'esbuild';
import { runLoadTest } from '../../src/services/loadtest/engine';
import { createSchedule } from '../../src/services/loadtest/schedule';
import { decodeHistogram } from '../../src/services/loadtest/histogram';
import { REFUSED_RETRY_MS } from '../../src/services/loadtest/worker';
import type { LoadTestPlan, LoadTestProgress, LoadTestResult, RequestSpec } from '../../src/services/loadtest/types';

interface TestServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

async function httpServer(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rawServer(onConnection: (socket: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const execFileAsync = promisify(execFile);

const get = (url: string, extra: Partial<RequestSpec> = {}): RequestSpec => ({ method: 'GET', url, headers: {}, ...extra });

function closed(request: RequestSpec, model: { connections: number; durationMs?: number; requests?: number }, workers = 1, timeoutMs = 5000): LoadTestPlan {
  return { request, model: { kind: 'closed', ...model }, workers, timeoutMs };
}

function open(request: RequestSpec, stages: { durationMs: number; targetRps: number }[], maxConnections: number, workers = 1, timeoutMs = 5000): LoadTestPlan {
  return { request, model: { kind: 'open', stages, maxConnections }, workers, timeoutMs };
}

const errorTotal = (r: LoadTestResult) => Object.values(r.errors).reduce<number>((a, b) => a + (b ?? 0), 0);

/** Invariants every result keeps: requests = ok + errors; latency samples = replies; per-second sums = totals. */
function assertConsistent(r: LoadTestResult) {
  assert.equal(r.requests, r.ok + errorTotal(r), 'requests = ok + errors');
  const transport = (r.errors.timeout ?? 0) + (r.errors.refused ?? 0) + (r.errors.reset ?? 0) + (r.errors.other ?? 0);
  assert.equal(r.latency.count, r.requests - transport, 'a latency for every reply');
  assert.equal(decodeHistogram(r.histogram).totalCount, r.latency.count, 'the encoded histogram holds every sample');
  assert.equal(r.perSecond.reduce((a, s) => a + s.requests, 0), r.requests, 'per-second requests add up');
  assert.equal(r.perSecond.reduce((a, s) => a + s.errors, 0), errorTotal(r), 'per-second errors add up');
  r.perSecond.forEach((s, i) => assert.equal(s.second, i));
}

/** Nearest-rank percentile of raw values. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] ?? 0;
}

test('closed model: a request-count bound is exact, and two workers merge their figures', async () => {
  let seen = 0;
  const srv = await httpServer((_req, res) => {
    seen++;
    res.end('hello');
  });
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 8, requests: 1000 }, 2));
    assert.equal(r.requests, 1000);
    assert.equal(seen, 1000);
    assert.equal(r.ok, 1000);
    assert.deepEqual(r.errors, {});
    assert.equal(r.latency.count, 1000);
    assert.equal(r.late, 0);
    assert.equal(r.unsent, 0);
    assert.ok(r.latency.p50 > 0 && r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max);
    assert.ok(r.throughputRps > 0);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('closed model: a duration bound stops sending on time, with progress about every second', async () => {
  let seen = 0;
  const srv = await httpServer((_req, res) => {
    seen++;
    res.end('x');
  });
  try {
    const progress: LoadTestProgress[] = [];
    const timeoutMs = 2000;
    const r = await runLoadTest(closed(get(srv.url), { connections: 4, durationMs: 1200 }, 1, timeoutMs), {
      onProgress: (p) => progress.push(p),
    });
    assert.equal(r.requests, seen);
    assert.ok(r.requests > 0);
    assert.equal(r.ok, r.requests);
    // It sends until 1.2 s, and the last replies come back within their timeout.
    assert.ok(r.durationMs >= 1200 && r.durationMs < 1200 + timeoutMs, `durationMs ${r.durationMs}`);
    assert.equal(r.perSecond.length, 2);
    assertConsistent(r);
    assert.ok(progress.length >= 1, 'progress reported');
    assert.ok(progress[0]!.requests > 0 && progress[0]!.requests <= r.requests);
    assert.equal(progress[0]!.rps, r.perSecond[0]!.requests, 'progress rps is the closed second');
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.requests >= progress[i - 1]!.requests);
  } finally {
    await srv.close();
  }
});

test('open model: every scheduled arrival is sent or counted unsent, numbered across two workers', async () => {
  const seqs: number[] = [];
  const srv = await httpServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seqs.push(Number(body));
      res.end('ok');
    });
  });
  try {
    const stages = [{ durationMs: 1000, targetRps: 300 }];
    const r = await runLoadTest(open({ method: 'POST', url: srv.url, headers: {}, body: { template: '{{seq}}' } }, stages, 20, 2));
    const total = createSchedule(stages).total;
    assert.equal(total, 300);
    assert.equal(r.requests + r.unsent, total);
    assert.equal(r.requests, seqs.length);
    assert.equal(r.ok, r.requests);
    assert.equal(new Set(seqs).size, seqs.length, 'each arrival sent once');
    assert.ok(seqs.every((s) => Number.isInteger(s) && s >= 1 && s <= total), 'seq numbers 1..total');
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('open model: requests that find no free connection are late, measured from their schedule; the rest are unsent', async () => {
  const delayMs = 100;
  const srv = await httpServer((_req, res) => {
    setTimeout(() => res.end('slow'), delayMs);
  });
  try {
    // 100/s for 1 s over 2 connections that each take ≥ 100 ms per request: at most ~20 can go.
    const r = await runLoadTest(open(get(srv.url), [{ durationMs: 1000, targetRps: 100 }], 2));
    assert.equal(r.requests + r.unsent, 100);
    assert.ok(r.unsent > 0, 'the queue left at the end is counted');
    assert.ok(r.requests >= 3 && r.requests <= 22, `requests ${r.requests}`);
    // Arrivals 0 and 1 find the two connections free; every later one waited for a reply first.
    assert.equal(r.late, r.requests - 2);
    assert.equal(r.ok, r.requests);
    // The j-th request (scheduled at 10·j ms) cannot leave before floor(j/2)·100 ms, and takes ≥ 100 ms:
    // measured from its schedule, the last one sent took at least this long.
    const j = r.requests - 1;
    const lowerBound = Math.floor(j / 2) * delayMs + delayMs - 10 * j;
    assert.ok(r.latency.max >= lowerBound - 1, `max ${r.latency.max} < ${lowerBound}`);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('errors by kind: status codes', async () => {
  let n = 0;
  let fives = 0;
  const srv = await httpServer((_req, res) => {
    n++;
    if (n % 3 === 0) {
      fives++;
      res.statusCode = 500;
    } else if (n % 7 === 0) {
      res.statusCode = 302;
      res.setHeader('location', '/elsewhere');
    }
    res.end('body');
  });
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 3, requests: 90 }));
    assert.equal(r.requests, 90);
    assert.equal(fives, 30);
    assert.deepEqual(r.errors, { status_500: 30 });
    assert.equal(r.ok, 60, '2xx and 3xx are ok');
    assert.equal(r.latency.count, 90, 'error replies have latencies too');
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('errors by kind: connection reset', async () => {
  const srv = await rawServer((s) => s.once('data', () => s.resetAndDestroy()));
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 2, requests: 20 }));
    assert.equal(r.requests, 20);
    assert.deepEqual(r.errors, { reset: 20 });
    assert.equal(r.ok, 0);
    assert.equal(r.latency.count, 0);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('errors by kind: connection refused (closed port), without a busy retry loop', async () => {
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const url = `http://127.0.0.1:${port}/`;
  const r = await runLoadTest(closed(get(url), { connections: 2, requests: 10 }));
  assert.deepEqual(r.errors, { refused: 10 });
  assert.equal(r.requests, 10);
  assertConsistent(r);
  // By duration: each connection waits REFUSED_RETRY_MS before trying again, so the count is bounded.
  const connections = 2;
  const durationMs = 300;
  const d = await runLoadTest(closed(get(url), { connections, durationMs }));
  assert.ok((d.errors.refused ?? 0) >= connections, 'every connection tried');
  assert.ok((d.errors.refused ?? 0) <= connections * (durationMs / REFUSED_RETRY_MS + 1), `refused ${d.errors.refused}: a busy retry loop`);
  assert.equal(d.requests, d.errors.refused);
});

test('errors by kind: a reply that is not HTTP is "other"', async () => {
  const srv = await rawServer((s) => s.on('data', () => s.write('SSH-2.0-OpenSSH\r\n\r\n')));
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 1, requests: 5 }));
    assert.deepEqual(r.errors, { other: 5 });
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('errors by kind: timeout', async () => {
  const held: http.ServerResponse[] = [];
  const srv = await httpServer((_req, res) => {
    held.push(res); // never answered
  });
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 2, requests: 4 }, 1, 150));
    assert.deepEqual(r.errors, { timeout: 4 });
    assert.equal(held.length, 4, 'each timed-out request was received');
    assert.equal(r.latency.count, 0);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('templates vary per request, as the server sees them; headers and methods go out as given', async () => {
  const bodies: any[] = [];
  const problems: string[] = [];
  const srv = await httpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method !== 'PUT') problems.push(`method ${req.method}`);
      if (req.url !== '/v2/models/m/infer?x=1') problems.push(`url ${req.url}`);
      if (req.headers['x-trace'] !== 'abc') problems.push('header missing');
      if (req.headers['content-type'] !== 'application/json') problems.push('content-type');
      if (Number(req.headers['content-length']) !== Buffer.byteLength(body)) problems.push('content-length');
      try {
        bodies.push(JSON.parse(body));
      } catch {
        problems.push(`not JSON: ${body}`);
      }
      res.end('{}');
    });
  });
  try {
    const rows = ['alpha', 'beta', 'gamma'];
    const r = await runLoadTest(
      closed(
        {
          method: 'put',
          url: `${srv.url}v2/models/m/infer?x=1`,
          headers: { 'X-Trace': 'abc', 'Content-Type': 'application/json', 'Content-Length': '999' },
          body: { template: '{"seq":{{seq}},"id":"{{uuid}}","n":{{random_int:5:9}},"x":{{random_float:0:1}},"row":"{{row}}","s":"é"}', rows },
        },
        { connections: 4, requests: 60 },
        2,
      ),
    );
    assert.deepEqual(problems, []);
    assert.equal(r.ok, 60);
    assert.equal(bodies.length, 60);
    // The two workers number their requests 1,3,5… and 2,4,6…: together exactly 1..60.
    assert.deepEqual(bodies.map((b) => b.seq).sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1));
    assert.equal(new Set(bodies.map((b) => b.id)).size, 60);
    for (const b of bodies) {
      assert.match(b.id, /^[0-9a-f-]{36}$/);
      assert.ok(Number.isInteger(b.n) && b.n >= 5 && b.n <= 9);
      assert.ok(b.x >= 0 && b.x < 1);
      assert.equal(b.row, rows[(b.seq - 1) % 3]);
      assert.equal(b.s, 'é');
    }
    assert.ok(new Set(bodies.map((b) => b.n)).size > 1, 'random values vary');
  } finally {
    await srv.close();
  }
});

test('replies are framed right: split packets, chunked, close-delimited, 204, 1xx, HTTP/1.0, HEAD', async () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Each reply is written in pieces cut at awkward places, with pauses so they arrive separately.
  const replies: string[][] = [
    ['HTT', 'P/1.1 200 OK\r\nConte', 'nt-Len', 'gth: 1', '0\r\nX-A: b\r\n\r\n01234', '56789'],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n', '5;ext=1\r\nhel', 'lo\r\n', 'A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n', '\r\n'],
    ['HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye', 'CLOSE'],
    ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', 'CLOSE'],
    ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', 'CLOSE'],
    ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok'],
  ];
  let served = 0;
  const srv = await rawServer((s) => {
    let pending = '';
    let busy = Promise.resolve();
    s.on('data', (d) => {
      pending += d.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        const reply = replies[served++ % replies.length]!;
        busy = busy.then(async () => {
          for (const piece of reply) {
            if (piece === 'CLOSE') s.end();
            else if (!s.destroyed) s.write(piece);
            await sleep(3);
          }
        });
      }
    });
  });
  try {
    const r = await runLoadTest(closed(get(srv.url), { connections: 1, requests: replies.length * 3 }));
    assert.equal(served, replies.length * 3);
    assert.deepEqual(r.errors, { status_404: 3 });
    assert.equal(r.ok, replies.length * 3 - 3);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
  // HEAD: the reply announces a body it does not carry.
  const head = await httpServer((_req, res) => {
    res.setHeader('content-length', '1000');
    res.end();
  });
  try {
    const r = await runLoadTest(closed(get(head.url, { method: 'HEAD' }), { connections: 2, requests: 20 }));
    assert.equal(r.ok, 20);
    assert.deepEqual(r.errors, {});
  } finally {
    await head.close();
  }
});

test('an abort ends the test early and still returns what was measured', async () => {
  const srv = await httpServer((_req, res) => res.end('ok'));
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const started = performance.now();
    const r = await runLoadTest(open(get(srv.url), [{ durationMs: 20_000, targetRps: 50 }], 10), { signal: ac.signal });
    assert.ok(performance.now() - started < 10_000, 'it did not run its 20 s');
    assert.ok(r.requests > 0 && r.requests < 1000, `requests ${r.requests}`);
    assert.ok(r.durationMs < 10_000);
    assertConsistent(r);
  } finally {
    await srv.close();
  }
});

test('plans are checked before anything starts', async () => {
  const ok = get('http://127.0.0.1:9/');
  const bad: LoadTestPlan[] = [
    closed(get('https://127.0.0.1/'), { connections: 1, requests: 1 }),
    closed(get('not a url'), { connections: 1, requests: 1 }),
    closed(ok, { connections: 0, requests: 1 }),
    closed(ok, { connections: 1 }),
    closed(ok, { connections: 1, requests: 1 }, 0),
    closed(ok, { connections: 1, requests: 1 }, 1, 0),
    closed(get('http://127.0.0.1:9/', { body: { template: '{{nope}}' } }), { connections: 1, requests: 1 }),
    closed(get('http://127.0.0.1:9/', { headers: { 'Bad Name': 'x' } }), { connections: 1, requests: 1 }),
    closed(get('http://127.0.0.1:9/', { headers: { 'X-A': 'a\r\nInjected: 1' } }), { connections: 1, requests: 1 }),
    open(ok, [{ durationMs: 0, targetRps: 5 }], 1),
    open(ok, [{ durationMs: 1000, targetRps: 5 }], 0),
  ];
  for (const plan of bad) await assert.rejects(runLoadTest(plan), /./, JSON.stringify(plan));
});

test('the engine bundled by esbuild finds its bundled worker next to it (as in dist/)', async () => {
  const srv = await httpServer((_req, res) => res.end('ok'));
  const dir = mkdtempSync(join(tmpdir(), 'trellis-loadtest-bundle-'));
  try {
    const root = join(__dirname, '..', '..');
    const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'silent' } as const;
    await esbuild.build({
      ...common,
      stdin: {
        contents: `import { runLoadTest } from './src/services/loadtest/engine';
runLoadTest(JSON.parse(process.argv[2])).then((r) => console.log(JSON.stringify(r)));`,
        resolveDir: root,
        loader: 'ts',
      },
      outfile: join(dir, 'cli.js'),
    });
    await esbuild.build({ ...common, entryPoints: [join(root, 'src/services/loadtest/worker.ts')], outfile: join(dir, 'loadtest-worker.js') });
    const plan = closed(get(srv.url), { connections: 2, requests: 50 }, 2);
    // Plain node, no tsx; asynchronously, since this thread serves the requests.
    const { stdout } = await execFileAsync(process.execPath, [join(dir, 'cli.js'), JSON.stringify(plan)], { cwd: dir });
    const r = JSON.parse(stdout) as LoadTestResult;
    assert.equal(r.requests, 50);
    assert.equal(r.ok, 50);
    assertConsistent(r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await srv.close();
  }
});

test('coordinated omission: a stalling server shows in the open model p99, not in the closed one', async () => {
  // The server freezes for S ms at the start of every P ms of its clock: a request arriving in a stall
  // is answered when the stall ends. Held time per request is logged from the server's own schedule.
  const S = 500;
  const P = 1500;
  const runMs = 2 * P;
  let holds: number[] = [];
  const epoch = performance.now();
  const srv = await httpServer((_req, res) => {
    const phase = (performance.now() - epoch) % P;
    const hold = phase < S ? S - phase : 0;
    holds.push(hold);
    // Node truncates timer delays and may fire up to 1 ms early: round up so no reply beats its stall's end.
    if (hold > 0) setTimeout(() => res.end('late'), Math.ceil(hold) + 1);
    else res.end('ok');
  });
  try {
    // Open model, 1000/s: a third of the arrivals land in a stall, held a uniform 0..S ms, so the p99 is
    // about S − 1% × P (485 ms here). Only 4 connections: in a stall they are all held, and the arrivals
    // behind them wait client-side (late) and go out when it ends. Measured from their send, those would
    // look fast and the p99 would miss the stall (4 × 3 stalls are < 1% of 3000); measured from their
    // schedule, as here, they show it.
    const rate = 1000;
    const openRun = await runLoadTest(open(get(srv.url), [{ durationMs: runMs, targetRps: rate }], 4, 2));
    const openHolds = holds;
    holds = [];
    assert.deepEqual(openRun.errors, {});
    assert.ok(openRun.late > 0.1 * openRun.requests, `late ${openRun.late}: the stalls must have held every connection`);
    assert.equal(openRun.requests, openHolds.length);
    assert.equal(openRun.requests + openRun.unsent, (rate * runMs) / 1000);
    // Each latency counts from the schedule, before the server saw the request, to a reply sent after its
    // hold: so every percentile is at least the same percentile of the server's holds...
    const heldP99 = percentile(openHolds, 99);
    assert.ok(openRun.latency.p99 >= heldP99, `open p99 ${openRun.latency.p99} < server-held p99 ${heldP99}`);
    // ...and the server's schedule puts that near the stall length.
    const expectedP99 = S - 0.01 * P;
    assert.ok(openRun.latency.p99 >= 0.8 * expectedP99, `open p99 ${openRun.latency.p99} ≪ ${expectedP99}`);
    assert.ok(openRun.latency.p99 < 2 * S, `open p99 ${openRun.latency.p99}`);

    // Closed model, 2 connections: during a stall each connection waits on one request, so only
    // 2 requests per stall are slow, out of thousands; its p99 misses the stall entirely.
    const connections = 2;
    const closedRun = await runLoadTest(closed(get(srv.url), { connections, durationMs: runMs }));
    assert.deepEqual(closedRun.errors, {});
    assert.equal(closedRun.requests, holds.length);
    const stalls = Math.ceil(runMs / P) + 1;
    const slowAtMost = connections * stalls;
    assert.ok(holds.filter((h) => h > S / 2).length <= slowAtMost, 'only one held request per connection per stall');
    assert.ok(closedRun.requests >= 100 * slowAtMost, `too few requests (${closedRun.requests}) for a p99 to tell`);
    assert.ok(closedRun.latency.max >= 0.8 * S, `the stall did hit the closed run (max ${closedRun.latency.max})`);
    assert.ok(closedRun.latency.p99 < S / 3, `closed p99 ${closedRun.latency.p99} should miss the ${S} ms stalls`);
    assert.ok(openRun.latency.p99 > 2 * closedRun.latency.p99);
  } finally {
    await srv.close();
  }
});
