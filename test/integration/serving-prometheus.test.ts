// A real Prometheus (Debian's package) scrapes a real model server: the serving series arrive in its
// database with their labels, and `promtool check metrics` passes on the same exposition.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { openStore } from '../../src/core/store';
import { startServingServer, type ServingServer } from '../../src/server/serving-server';
import { mlpModel, MLP_INPUT } from '../fixtures/onnx-models';
import { runProcess, sleep } from '../fixtures/processes';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const tmp = tempDir('trellis-prom-');
let server: ServingServer;
let prometheus: ChildProcess | undefined;
let promUrl: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

before(async () => {
  assert.ok(existsSync(PROMETHEUS), `prometheus is missing at ${PROMETHEUS}: run \`bash .ci/provision\` (Debian package prometheus)`);
  const store = openStore(tmp.dir);
  await registerModel(store, 'mlp', mlpModel().bytes, { alias: 'prod' });
  store.db.close();
  server = await startServingServer({ dataDir: tmp.dir, models: ['mlp@prod'], announce: false, version: 'test', log: () => {}, cacheBytes: 1 << 20 });
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data: new Array(MLP_INPUT).fill(0.5) }] });
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200);
  }
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const config = join(tmp.dir, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: trellis-serving', '    static_configs:', `      - targets: ['${new URL(server.url).host}']`, ''].join('\n'),
  );
  prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp.dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
});

after(async () => {
  prometheus?.kill('SIGTERM');
  await server?.close();
  tmp.cleanup();
});

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const json = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(json.status, 'success');
  return json.data.result;
}

test('Prometheus scrapes the model server: inference, latency, batching, queue and cache series with labels', async () => {
  // Wait (up to 30 s) for Prometheus to start and complete a scrape.
  let up: Awaited<ReturnType<typeof query>> = [];
  for (let i = 0; i < 150; i++) {
    try {
      up = await query('up{job="trellis-serving"}');
      if (up[0]?.value[1] === '1') break;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  assert.equal(up[0]?.value[1], '1', 'Prometheus scraped the server successfully');
  const requests = await query('trellis_inference_requests_total{model="mlp",version="1",outcome="ok"}');
  // 5 requests, 4 of them answered from the cache (the same input): 1 inference.
  assert.equal(requests[0]?.value[1], '1');
  assert.equal((await query('trellis_cache_hits_total{model="mlp",version="1"}'))[0]?.value[1], '4');
  for (const series of [
    'trellis_inference_duration_seconds_bucket{model="mlp",version="1",le="+Inf"}',
    'trellis_inference_queue_seconds_count{model="mlp",version="1"}',
    'trellis_inference_compute_seconds_count{model="mlp",version="1"}',
    'trellis_batch_size_bucket{model="mlp",version="1",le="1"}',
    'trellis_batch_queue_depth{model="mlp",version="1"}',
    'trellis_inference_in_flight{model="mlp",version="1"}',
    'trellis_replica_healthy{model="mlp",version="1",replica="local-0"}',
    'trellis_http_request_duration_seconds_count',
  ]) {
    assert.ok((await query(series)).length > 0, `Prometheus has ${series}`);
  }
  assert.equal((await query('trellis_replica_healthy{model="mlp",version="1"}'))[0]?.value[1], '1');
});

test('promtool check metrics passes on the model server exposition', async () => {
  assert.ok(existsSync(PROMTOOL), `promtool is missing at ${PROMTOOL}: run \`bash .ci/provision\``);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const res = await runProcess(PROMTOOL, ['check', 'metrics'], { input: text });
  assert.equal(res.code, 0, `promtool check metrics exited ${res.code}:\n${res.stdout}${res.stderr}`);
});
