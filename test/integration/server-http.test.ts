// The server's HTTP behaviour beyond the MLflow routes: Host checks, the bearer token beyond loopback,
// server.json, Prometheus /metrics (checked by promtool) and the SSE event stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestPlatform, tempDir, type TestPlatform } from '../support/platform';
import { startPlatformServer } from '../../src/server/platform-server';
import { openEventStream, parseExposition, rawRequest, runProcess, sampleValue, sleep, type Sample } from '../fixtures/processes';

const PROMTOOL = '/usr/bin/promtool';

describe('Host header check (DNS rebinding)', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  for (const host of ['evil.example', 'evil.example:80', 'localhost.evil.example', 'attacker.com:5000']) {
    test(`Host: ${host} → 403 PERMISSION_DENIED`, async () => {
      const res = await rawRequest(p.server.url, { path: '/api/2.0/mlflow/experiments/search?max_results=1', headers: { host } });
      assert.equal(res.status, 403);
      assert.equal(res.body.error_code, 'PERMISSION_DENIED');
      assert.match(res.body.message, /not allowed/);
    });
  }

  test('a refused Host gets no data, even on /health', async () => {
    const res = await rawRequest(p.server.url, { path: '/health', headers: { host: 'evil.example' } });
    assert.equal(res.status, 403);
  });

  test('127.0.0.1:port, localhost:port and [::1]:port (and without the port) are accepted', async () => {
    const port = p.server.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, '127.0.0.1', 'localhost', '[::1]', `LocalHost:${port}`]) {
      const res = await rawRequest(p.server.url, { path: '/api/2.0/mlflow/experiments/search?max_results=1', headers: { host } });
      assert.equal(res.status, 200, `Host: ${host} → ${res.status} ${res.text}`);
      assert.ok(Array.isArray(res.body.experiments));
    }
  });
});

describe('bearer token when bound beyond loopback', () => {
  let p: TestPlatform;
  let base: string;
  before(async () => {
    p = await startTestPlatform({ host: '0.0.0.0', token: 't0k' });
    base = `http://127.0.0.1:${p.server.port}`;
  });
  after(() => p.stop());

  const search = (headers: Record<string, string>) =>
    fetch(`${base}/api/2.0/mlflow/experiments/search?max_results=1`, { headers }).then(async (r) => ({
      status: r.status,
      auth: r.headers.get('www-authenticate'),
      body: (await r.json()) as any,
    }));

  test('no token → 401 UNAUTHENTICATED with WWW-Authenticate: Bearer', async () => {
    const res = await search({});
    assert.equal(res.status, 401);
    assert.equal(res.body.error_code, 'UNAUTHENTICATED');
    assert.equal(res.auth, 'Bearer');
  });

  test('wrong token (other length, same length, other scheme) → 401', async () => {
    for (const authorization of ['Bearer nope', 'Bearer t0x', 'Bearer t0k2', 'Basic dDBr', 't0k', 'Bearer ']) {
      const res = await search({ authorization });
      assert.equal(res.status, 401, `Authorization: ${authorization}`);
      assert.equal(res.body.error_code, 'UNAUTHENTICATED');
    }
  });

  test('right token → 200 (routes, event stream and /metrics alike)', async () => {
    const res = await search({ authorization: 'Bearer t0k' });
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body.experiments));
    assert.equal((await search({ authorization: 'bearer t0k' })).status, 200, 'the scheme is case-insensitive');
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer t0k' } });
    assert.equal(metrics.status, 200);
    await metrics.text();
    assert.equal((await fetch(`${base}/metrics`)).status, 401, '/metrics reads data: it needs the token');
    assert.equal((await fetch(`${base}/api/trellis/events`)).status, 401, 'the event stream needs the token');
    const { stream, status } = await openEventStream(`${base}/api/trellis/events`, { authorization: 'Bearer t0k' });
    stream.close();
    assert.equal(status, 200);
  });

  test('/health is open without a token', async () => {
    const res = await fetch(`${base}/health`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'OK');
  });

  test('the Host check still comes first: evil.example with the right token → 403', async () => {
    const res = await rawRequest(base, { path: '/api/2.0/mlflow/experiments/search', headers: { host: 'evil.example', authorization: 'Bearer t0k' } });
    assert.equal(res.status, 403);
  });
});

describe('server.json', () => {
  test('announce: true writes {pid,url,token,version} with mode 0600; close removes it', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const server = await startPlatformServer({ dataDir: dir, version: '9.9.9-test', announce: true, token: 'sekret', log: () => {} });
    let closed = false;
    t.after(() => (closed ? undefined : server.close()));
    const file = join(dir, 'server.json');
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const info = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(info, { pid: process.pid, url: server.url, token: 'sekret', version: '9.9.9-test' });
    assert.equal((await fetch(`${info.url}/health`)).status, 200, 'the announced url answers');
    await server.close();
    closed = true;
    assert.equal(existsSync(file), false);
  });

  test('without announce no server.json is written', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const server = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {} });
    assert.equal(existsSync(join(dir, 'server.json')), false);
    await server.close();
  });

  test("close leaves another server's server.json alone", async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const server = await startPlatformServer({ dataDir: dir, version: 'test', announce: true, log: () => {} });
    const other = { pid: process.pid + 1, url: 'http://127.0.0.1:1', token: 'x', version: 'other' };
    writeFileSync(join(dir, 'server.json'), JSON.stringify(other));
    await server.close();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')), other);
  });
});

describe('/metrics (Prometheus exposition)', () => {
  let p: TestPlatform;
  const scrape = async (): Promise<{ text: string; samples: Sample[]; contentType: string | null }> => {
    const res = await fetch(`${p.server.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    return { text, samples: parseExposition(text), contentType: res.headers.get('content-type') };
  };
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  test('request counters by route/method/status move with requests; the latency histogram counts them', async () => {
    const before = (await scrape()).samples;
    const exp = await p.mlflow('POST', 'experiments/create', { name: 'metrics-exp' });
    for (let i = 0; i < 3; i++) assert.equal((await p.mlflow('POST', 'runs/create', { experiment_id: exp.body.experiment_id })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await p.mlflow('GET', 'runs/get', { run_id: 'nope' })).status, 404);
    assert.equal((await p.api('GET', '/api/2.0/mlflow/no/such/route')).status, 404);
    assert.equal((await p.api('GET', '/api/2.0/mlflow/runs/create')).status, 405);
    const { samples, contentType } = await scrape();
    assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);

    const counter = 'trellis_http_requests_total';
    const delta = (labels: Record<string, string>) => sampleValue(samples, counter, labels) - sampleValue(before, counter, labels);
    assert.equal(delta({ route: '/api/2.0/mlflow/runs/create', method: 'POST', status: '200' }), 3);
    assert.equal(delta({ route: '/api/2.0/mlflow/runs/get', method: 'GET', status: '404' }), 2);
    assert.equal(delta({ route: '/api/2.0/mlflow/experiments/create', method: 'POST', status: '200' }), 1);
    assert.equal(delta({ route: 'unmatched', method: 'GET', status: '404' }), 1, 'unknown paths share one label value');
    assert.equal(delta({ route: 'unmatched', method: 'GET', status: '405' }) + delta({ route: '/api/2.0/mlflow/runs/create', method: 'GET', status: '405' }), 1);
    assert.equal(delta({ route: '/metrics', method: 'GET', status: '200' }), 1, 'the previous scrape is counted');
    assert.ok(!samples.some((s) => s.name === counter && /nope|no\/such/.test(s.labels.route ?? '')), 'raw paths never become labels');

    const hist = 'trellis_http_request_duration_seconds';
    const route = '/api/2.0/mlflow/runs/create';
    assert.equal(sampleValue(samples, `${hist}_count`, { route }) - sampleValue(before, `${hist}_count`, { route }), 3);
    assert.ok(sampleValue(samples, `${hist}_sum`, { route }) > 0);
    const buckets = samples.filter((s) => s.name === `${hist}_bucket` && s.labels.route === route);
    assert.ok(buckets.length >= 2);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'buckets are cumulative');
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    assert.equal(inf?.value, sampleValue(samples, `${hist}_count`, { route }));
  });

  test('trellis_database_size_bytes is the database size and grows as data is written', async () => {
    const before = sampleValue((await scrape()).samples, 'trellis_database_size_bytes');
    assert.ok(before > 0);
    const run = await p.mlflow('POST', 'runs/create', { experiment_id: '0' });
    const runId = run.body.run.info.run_id;
    for (let b = 0; b < 5; b++) {
      const metrics = Array.from({ length: 1000 }, (_, i) => ({ key: 'm', value: Math.random(), timestamp: 1, step: b * 1000 + i }));
      assert.equal((await p.mlflow('POST', 'runs/log-batch', { run_id: runId, metrics })).status, 200);
    }
    const after = sampleValue((await scrape()).samples, 'trellis_database_size_bytes');
    assert.ok(after > before, `size ${before} → ${after}`);
    const file = join(p.dataDir, 'trellis.db');
    const onDisk = statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    assert.equal(after, onDisk);
  });

  test('promtool parses the scraped text (no format errors)', async () => {
    assert.ok(existsSync(PROMTOOL), `promtool is missing at ${PROMTOOL}: run \`apt-get install prometheus\` (it provides /usr/bin/promtool)`);
    const { text } = await scrape();
    const res = await runProcess(PROMTOOL, ['check', 'metrics'], { input: text });
    // 0: clean; 3: lint findings only (checked by the next test); anything else: the text did not parse.
    assert.ok(res.code === 0 || res.code === 3, `promtool check metrics exited ${res.code}:\n${res.stdout}${res.stderr}`);
    assert.doesNotMatch(res.stdout + res.stderr, /error while linting|parse/i);
  });

  test('promtool check metrics passes on the scraped text', async () => {
    assert.ok(existsSync(PROMTOOL), `promtool is missing at ${PROMTOOL}: run \`apt-get install prometheus\` (it provides /usr/bin/promtool)`);
    const { text } = await scrape();
    const res = await runProcess(PROMTOOL, ['check', 'metrics'], { input: text });
    assert.equal(res.code, 0, `promtool check metrics exited ${res.code}:\n${res.stdout}${res.stderr}`);
  });
});

describe('SSE /api/trellis/events', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  test('run.created, coalesced metrics.logged, model_version.created and alias.moved arrive on the stream', async (t) => {
    const { stream, status, contentType } = await openEventStream(`${p.server.url}/api/trellis/events`);
    t.after(() => stream.close());
    assert.equal(status, 200);
    assert.match(contentType ?? '', /^text\/event-stream/);

    const created = await p.mlflow('POST', 'runs/create', { experiment_id: '0' });
    const runId = created.body.run.info.run_id as string;
    const other = (await p.mlflow('POST', 'runs/create', { experiment_id: '0' })).body.run.info.run_id as string;
    const ev = await stream.waitFor((e) => e.event === 'run.created' && e.data.run_id === runId);
    assert.deepEqual(ev.data, { type: 'run.created', run_id: runId, experiment_id: '0' });

    // 100 batches at once into one run (keys loss + k0/k1/k2), and 10 into another (key other).
    const logs = Array.from({ length: 100 }, (_, i) =>
      p.mlflow('POST', 'runs/log-batch', {
        run_id: runId,
        metrics: [
          { key: 'loss', value: i, timestamp: 1, step: i },
          { key: `k${i % 3}`, value: i, timestamp: 1, step: i },
        ],
      }),
    );
    const otherLogs = Array.from({ length: 10 }, (_, i) =>
      p.mlflow('POST', 'runs/log-batch', { run_id: other, metrics: [{ key: 'other', value: i, timestamp: 1, step: i }] }),
    );
    for (const r of await Promise.all([...logs, ...otherLogs])) assert.equal(r.status, 200);
    // The coalescing window is 500 ms: after the last answer, wait past it for the last flush.
    await stream.waitFor((e) => e.event === 'metrics.logged' && e.data.run_id === runId);
    await sleep(1200);

    const logged = stream.events.filter((e) => e.event === 'metrics.logged');
    const mine = logged.filter((e) => e.data.run_id === runId);
    assert.ok(mine.length >= 1 && mine.length <= 10, `100 batches gave ${mine.length} metrics.logged events; expected a few`);
    for (const e of mine) {
      assert.equal(e.data.type, 'metrics.logged');
      assert.equal(new Set(e.data.keys).size, e.data.keys.length, 'keys are not repeated within an event');
    }
    assert.deepEqual(new Set(mine.flatMap((e) => e.data.keys)), new Set(['loss', 'k0', 'k1', 'k2']));
    const theirs = logged.filter((e) => e.data.run_id === other);
    t.diagnostic(`metrics.logged events: ${mine.length} for 100 batches, ${theirs.length} for 10`);
    assert.ok(theirs.length >= 1 && theirs.length <= 10);
    assert.deepEqual(new Set(theirs.flatMap((e) => e.data.keys)), new Set(['other']), "one run's keys never leak into another's events");
    assert.equal(logged.length, mine.length + theirs.length);

    assert.equal((await p.mlflow('POST', 'registered-models/create', { name: 'M' })).status, 200);
    const version = await p.mlflow('POST', 'model-versions/create', { name: 'M', source: `mlflow-artifacts:/0/${runId}/artifacts/model`, run_id: runId });
    assert.equal(version.status, 200);
    const mv = await stream.waitFor((e) => e.event === 'model_version.created');
    assert.deepEqual(mv.data, { type: 'model_version.created', name: 'M', version: '1' });

    assert.equal((await p.mlflow('POST', 'registered-models/alias', { name: 'M', alias: 'champion', version: '1' })).status, 200);
    const moved = await stream.waitFor((e) => e.event === 'alias.moved');
    assert.deepEqual(moved.data, { type: 'alias.moved', name: 'M', alias: 'champion', version: '1' });

    assert.equal((await p.api('DELETE', '/api/2.0/mlflow/registered-models/alias', { name: 'M', alias: 'champion' })).status, 200);
    const removed = await stream.waitFor((e) => e.event === 'alias.moved' && e.data.version === null);
    assert.deepEqual(removed.data, { type: 'alias.moved', name: 'M', alias: 'champion', version: null });
  });

  test('two clients each get every event; a closed client stops receiving', async () => {
    const a = (await openEventStream(`${p.server.url}/api/trellis/events`)).stream;
    const b = (await openEventStream(`${p.server.url}/api/trellis/events`)).stream;
    try {
      const exp = await p.mlflow('POST', 'experiments/create', { name: 'sse-two' });
      const id = exp.body.experiment_id;
      for (const s of [a, b]) await s.waitFor((e) => e.event === 'experiment.created' && e.data.experiment_id === id);
      a.close();
      await sleep(50);
      const exp2 = await p.mlflow('POST', 'experiments/create', { name: 'sse-two-b' });
      await b.waitFor((e) => e.event === 'experiment.created' && e.data.experiment_id === exp2.body.experiment_id);
      assert.equal(a.events.filter((e) => e.event === 'experiment.created' && e.data.experiment_id === exp2.body.experiment_id).length, 0);
    } finally {
      a.close();
      b.close();
    }
  });
});
