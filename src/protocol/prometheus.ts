/**
 * Shared by the endpoint monitor (webview) and the Endpoints view (extension): pure, no DOM, no Node.
 *
 * Live serving figures from two consecutive scrapes of a model server's Prometheus text: request rate,
 * error share, latency percentiles (from histogram bucket deltas, as PromQL's histogram_quantile), mean
 * batch size and requests in flight, per model version.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of the text exposition format; comments, HELP and TYPE lines skipped. */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** `name/version`: the unit the monitor charts. */
export const versionKey = (labels: Record<string, string>): string => `${labels.model ?? '?'}/${labels.version ?? '?'}`;

/**
 * The q-quantile of a histogram from its cumulative buckets (upper bound → count), interpolating
 * linearly inside the bucket as Prometheus does; the highest finite bound when it falls in +Inf.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

export interface IntervalStats {
  /** Requests per second answered (any outcome). */
  rps: number;
  /** Share of requests that failed or were refused as overloaded, 0..1; null without requests. */
  errorShare: number | null;
  /** Latency percentiles over the interval, in milliseconds. */
  p50: number | null;
  p99: number | null;
  /** Mean rows per engine run over the interval. */
  batchMean: number | null;
  /** Requests running on the version's replicas at the second scrape. */
  inFlight: number;
}

type Index = Map<string, PromSample[]>;

const byName = (samples: PromSample[]): Index => {
  const index: Index = new Map();
  for (const s of samples) index.set(s.name, [...(index.get(s.name) ?? []), s]);
  return index;
};

/** Per model version, what happened between two scrapes `seconds` apart (counters reset by a restart count from zero). */
export function intervalStats(before: PromSample[], after: PromSample[], seconds: number): Map<string, IntervalStats> {
  const a = byName(before);
  const b = byName(after);
  const delta = (name: string, match: (l: Record<string, string>) => boolean): number => {
    const sum = (idx: Index) => (idx.get(name) ?? []).filter((s) => match(s.labels)).reduce((n, s) => n + s.value, 0);
    const d = sum(b) - sum(a);
    return d < 0 ? sum(b) : d;
  };
  const keys = new Set((b.get('trellis_inference_requests_total') ?? []).map((s) => versionKey(s.labels)));
  for (const s of b.get('trellis_replica_outstanding') ?? []) keys.add(versionKey(s.labels));
  const out = new Map<string, IntervalStats>();
  const dt = Math.max(seconds, 1e-3);
  for (const key of keys) {
    const mine = (l: Record<string, string>) => versionKey(l) === key;
    const requests = delta('trellis_inference_requests_total', mine);
    const failed = delta('trellis_inference_requests_total', (l) => mine(l) && l.outcome !== 'ok');
    const les = [...new Set((b.get('trellis_inference_duration_seconds_bucket') ?? []).filter((s) => mine(s.labels)).map((s) => s.labels.le ?? ''))];
    const buckets = les.map((le) => ({
      le: le === '+Inf' ? Infinity : Number(le),
      count: delta('trellis_inference_duration_seconds_bucket', (l) => mine(l) && l.le === le),
    }));
    const ms = (v: number | null) => (v === null ? null : v * 1000);
    const runs = delta('trellis_batch_size_count', mine);
    out.set(key, {
      rps: requests / dt,
      errorShare: requests > 0 ? failed / requests : null,
      p50: ms(histogramQuantile(0.5, buckets)),
      p99: ms(histogramQuantile(0.99, buckets)),
      batchMean: runs > 0 ? delta('trellis_batch_size_sum', mine) / runs : null,
      inFlight: (b.get('trellis_replica_outstanding') ?? []).filter((s) => mine(s.labels)).reduce((n, s) => n + s.value, 0),
    });
  }
  return out;
}
