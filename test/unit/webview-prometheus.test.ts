import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { histogramQuantile, intervalStats, parsePrometheus } from '../../webview/prometheus';

test('the exposition format parses into samples with labels (escapes and +Inf included)', () => {
  const samples = parsePrometheus(
    '# HELP x help\n# TYPE x counter\nx{model="a",version="1",note="say \\"hi\\""} 3\nup 1\nh_bucket{le="+Inf"} 7\n',
  );
  assert.deepEqual(samples, [
    { name: 'x', labels: { model: 'a', version: '1', note: 'say "hi"' }, value: 3 },
    { name: 'up', labels: {}, value: 1 },
    { name: 'h_bucket', labels: { le: '+Inf' }, value: 7 },
  ]);
});

test('histogram quantiles interpolate inside the bucket, as PromQL does', () => {
  const buckets = [{ le: 0.1, count: 50 }, { le: 0.2, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(histogramQuantile(0.5, buckets), 0.1);
  assert.ok(Math.abs(histogramQuantile(0.75, buckets)! - 0.15) < 1e-12);
  assert.equal(histogramQuantile(0.5, [{ le: Infinity, count: 0 }]), null);
  // In the +Inf bucket: the highest finite bound.
  assert.equal(histogramQuantile(0.99, [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }]), 0.1);
});

/** Real prom-client text with the serving server's metric names, before and after some traffic. */
async function scrapes() {
  const registry = new Registry();
  const requests = new Counter({ name: 'trellis_inference_requests_total', help: 'h', labelNames: ['model', 'version', 'outcome'], registers: [registry] });
  const latency = new Histogram({ name: 'trellis_inference_duration_seconds', help: 'h', labelNames: ['model', 'version'], buckets: [0.001, 0.01, 0.1], registers: [registry] });
  const batch = new Histogram({ name: 'trellis_batch_size', help: 'h', labelNames: ['model', 'version'], buckets: [1, 8, 64], registers: [registry] });
  const outstanding = new Gauge({ name: 'trellis_replica_outstanding', help: 'h', labelNames: ['model', 'version', 'replica'], registers: [registry] });
  const l = { model: 'digits', version: '2' };
  requests.inc({ ...l, outcome: 'ok' }, 100);
  latency.observe(l, 0.005);
  const before = parsePrometheus(await registry.metrics());
  requests.inc({ ...l, outcome: 'ok' }, 18);
  requests.inc({ ...l, outcome: 'error' }, 2);
  for (let i = 0; i < 20; i++) latency.observe(l, i < 10 ? 0.0005 : 0.05);
  batch.observe(l, 4);
  batch.observe(l, 8);
  outstanding.set({ ...l, replica: 'r1' }, 3);
  outstanding.set({ ...l, replica: 'r2' }, 1);
  return { before, after: parsePrometheus(await registry.metrics()) };
}

test('two scrapes give the rate, error share, percentiles, batch size and in-flight requests of the interval', async () => {
  const { before, after } = await scrapes();
  const stats = intervalStats(before, after, 2).get('digits/2')!;
  assert.equal(stats.rps, 10); // 20 requests in 2 s
  assert.equal(stats.errorShare, 0.1);
  // Half the interval's requests at 0.5 ms, half at 50 ms: p50 lies in the first bucket, p99 in (10 ms, 100 ms].
  assert.ok(stats.p50! <= 1, `p50 ${stats.p50}`);
  assert.ok(stats.p99! > 10 && stats.p99! <= 100, `p99 ${stats.p99}`);
  assert.equal(stats.batchMean, 6);
  assert.equal(stats.inFlight, 4);
});

test('a counter that went down (the server restarted) counts from zero instead of going negative', async () => {
  const { before, after } = await scrapes();
  const stats = intervalStats(after, before, 1).get('digits/2')!;
  assert.ok(stats.rps >= 0);
});
