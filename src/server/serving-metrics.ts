/**
 * The model server's Prometheus metrics: requests by model, version and outcome; request time (queue
 * and engine); time queued for a batch; engine time per run; rows per run; queue depth; requests in
 * flight; replica health; shadow traffic; the response cache.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { InferenceOutcome, ModelServer, ServedModel, ServingObserver } from '../services/serving/model-server';
import type { FeatureDrift } from '../services/serving/drift';
import { ResponseCache } from '../services/serving/response-cache';

const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const ROWS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
const VERSION_LABELS = ['model', 'version'] as const;

export class ServingMetrics {
  private tracked: ModelServer | undefined;
  readonly observer: ServingObserver;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    const requests = new Counter({
      name: 'trellis_inference_requests_total',
      help: 'Inference requests by model, version and outcome (ok, error, overloaded).',
      labelNames: ['model', 'version', 'outcome'],
      registers,
    });
    const latency = new Histogram({
      name: 'trellis_inference_duration_seconds',
      help: 'Time from admission to reply of one inference request (batch queue and engine), by model and version.',
      labelNames: VERSION_LABELS,
      buckets: SECONDS,
      registers,
    });
    const queued = new Histogram({
      name: 'trellis_inference_queue_seconds',
      help: 'Time a request waited in the batch queue before its engine run, by model and version.',
      labelNames: VERSION_LABELS,
      buckets: SECONDS,
      registers,
    });
    const compute = new Histogram({
      name: 'trellis_inference_compute_seconds',
      help: 'Time of one engine run (a batch, or a single request), by model and version.',
      labelNames: VERSION_LABELS,
      buckets: SECONDS,
      registers,
    });
    const batchSize = new Histogram({
      name: 'trellis_batch_size',
      help: 'Rows per engine run, by model and version.',
      labelNames: VERSION_LABELS,
      buckets: ROWS,
      registers,
    });
    const shadowRequests = new Counter({
      name: 'trellis_shadow_requests_total',
      help: 'Copies of requests sent to a shadow version, by model, version and outcome (overloaded: skipped).',
      labelNames: ['model', 'version', 'outcome'],
      registers,
    });
    const shadowLatency = new Histogram({
      name: 'trellis_shadow_duration_seconds',
      help: 'Time of shadow inferences (replies discarded), by model and version.',
      labelNames: VERSION_LABELS,
      buckets: SECONDS,
      registers,
    });
    const labels = (m: ServedModel) => ({ model: m.name, version: m.version });
    this.observer = {
      inference: (m: ServedModel, outcome: InferenceOutcome, seconds: number) => {
        requests.inc({ ...labels(m), outcome });
        if (outcome !== 'overloaded') latency.observe(labels(m), seconds);
      },
      shadow: (m: ServedModel, outcome: InferenceOutcome, seconds: number) => {
        shadowRequests.inc({ ...labels(m), outcome });
        if (outcome !== 'overloaded') shadowLatency.observe(labels(m), seconds);
      },
      batch: (m: ServedModel, rows: number, queuedSeconds: number[], computeSeconds: number) => {
        const l = labels(m);
        batchSize.observe(l, rows);
        compute.observe(l, computeSeconds);
        for (const s of queuedSeconds) queued.observe(l, s);
      },
    };
    this.gauge('trellis_inference_in_flight', 'Inference requests admitted and not yet answered, by model and version.', (m) => m.inFlight);
    this.gauge('trellis_batch_queue_depth', 'Requests waiting in the batch queues of a version (all its replicas).', (m) =>
      m.pool.replicas.reduce((n, r) => n + (r.batcher?.stats().queueDepth ?? 0), 0),
    );
    const tracked = () => this.tracked;
    new Gauge({
      name: 'trellis_replica_healthy',
      help: 'Whether a replica takes requests (1) or is ejected after failures (0), by model, version and replica.',
      labelNames: ['model', 'version', 'replica'],
      registers,
      collect() {
        this.reset();
        for (const m of tracked()?.models() ?? []) for (const r of m.pool.state()) this.set({ ...labels(m), replica: r.id }, r.healthy ? 1 : 0);
      },
    });
    this.driftGauges();
    new Gauge({
      name: 'trellis_replica_outstanding',
      help: 'Requests running on a replica now, by model, version and replica (the balancer picks the lowest).',
      labelNames: ['model', 'version', 'replica'],
      registers,
      collect() {
        this.reset();
        for (const m of tracked()?.models() ?? []) for (const r of m.pool.state()) this.set({ ...labels(m), replica: r.id }, r.outstanding);
      },
    });
  }

  /**
   * Drift scores per feature of every monitored version. Each gauge awaits the monitor's time-sliced
   * scoring (cached and shared, so the three gauges of a scrape compute once), so a scrape never blocks
   * inference for the whole computation.
   */
  private driftGauges(): void {
    const tracked = () => this.tracked;
    const scored = async () =>
      Promise.all((tracked()?.models() ?? []).filter((m) => m.drift).map(async (m) => ({ m, inputs: await m.drift!.scoresAsync() })));
    const perFeature = (name: string, help: string, value: (f: FeatureDrift) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['model', 'version', 'input', 'feature'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const { m, inputs } of await scored()) {
            for (const input of inputs) {
              for (const f of input.features) {
                const v = value(f);
                if (v !== undefined) this.set({ model: m.name, version: m.version, input: input.input, feature: f.feature }, v);
              }
            }
          }
        },
      });
    perFeature('trellis_drift_psi', 'Population stability index of live against reference inputs (sliding window), per feature.', (f) => f.psi);
    perFeature('trellis_drift_ks', 'Kolmogorov-Smirnov statistic of live against reference inputs, per continuous feature.', (f) => f.ks);
    new Gauge({
      name: 'trellis_drift_features_drifted',
      help: 'Features of a version whose drift is over the threshold (PSI, or KS p-value).',
      labelNames: VERSION_LABELS,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { m, inputs } of await scored()) this.set({ model: m.name, version: m.version }, inputs.reduce((n, i) => n + i.features.filter((f) => f.drifted).length, 0));
      },
    });
  }

  /** The model server whose versions the gauges read at each scrape. */
  track(server: ModelServer): void {
    this.tracked = server;
  }

  private gauge(name: string, help: string, value: (m: ServedModel) => number): void {
    const tracked = () => this.tracked;
    new Gauge({
      name,
      help,
      labelNames: VERSION_LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const m of tracked()?.models() ?? []) this.set({ model: m.name, version: m.version }, value(m));
      },
    });
  }

  /** A response cache whose lookups and size are exported: hits and misses by model and version, bytes held. */
  cache(maxBytes: number): ResponseCache {
    const registers = [this.registry];
    const hits = new Counter({ name: 'trellis_cache_hits_total', help: 'Inference replies answered from the response cache, by model and version.', labelNames: VERSION_LABELS, registers });
    const misses = new Counter({ name: 'trellis_cache_misses_total', help: 'Valid inference requests not found in the response cache, by model and version.', labelNames: VERSION_LABELS, registers });
    const cache = new ResponseCache({ maxBytes, onLookup: (model, version, hit) => (hit ? hits : misses).inc({ model, version }) });
    new Gauge({
      name: 'trellis_cache_bytes',
      help: 'Bytes held by the response cache (reply bodies and keys).',
      registers,
      collect() {
        this.set(cache.stats().bytes);
      },
    });
    return cache;
  }
}
