import { statSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's own Prometheus metrics: requests, latency, database size, and the process (memory, CPU). */
export class ServerTelemetry {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly latency: Histogram<'route'>;

  constructor(databaseFile: string) {
    collectDefaultMetrics({ register: this.registry, prefix: 'trellis_' });
    // These three are gauges whose names end in _total, which promtool (rightly) rejects as counter names.
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
      this.registry.removeSingleMetric(`trellis_nodejs_${name}`);
    }
    this.requests = new Counter({
      name: 'trellis_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'trellis_http_request_duration_seconds',
      help: 'Time from request to response, by route pattern.',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'trellis_database_size_bytes',
      help: 'Size of the SQLite database, its write-ahead log included.',
      registers: [this.registry],
      collect() {
        this.set(sizeOf(databaseFile) + sizeOf(`${databaseFile}-wal`));
      },
    });
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
