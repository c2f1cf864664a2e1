import type { ChangeEvent } from '../../core/events';
import type { ServedModelView, TrellisClient } from '../../client/trellis-client';
import { readEndpointFiles } from '../../core/endpoint-files';
import { intervalStats, parsePrometheus, versionKey, type IntervalStats, type PromSample } from '../../protocol/prometheus';
import { ResourceTree, type ResourceNode } from './resource-trees';

/** While the view is visible and something is served, p99/rps are re-derived this often. */
const LIVE_INTERVAL_MS = 5000;
/** The shortest window rates are taken over. */
const MIN_WINDOW_MS = 1000;

/** The platform host's inference URL of a served version (KServe v2). */
export const inferUrl = (platformUrl: string, m: { name: string; version: string }): string =>
  `${platformUrl}/v2/models/${encodeURIComponent(m.name)}/versions/${encodeURIComponent(m.version)}/infer`;

const fmt = (v: number | null, unit: string): string | undefined => (v === null ? undefined : `${v < 10 ? v.toFixed(2) : v.toFixed(0)}${unit}`);

/**
 * What is served: versions loaded into the platform's own model host (replicas, health, live p99 and
 * rps from consecutive scrapes of its /metrics), and servers `trellis serve` announced in the data
 * directory. Serving has no change events of its own: the serve/stop/load-test commands refresh it,
 * alias moves (which re-point served references) refresh it through the event stream, and a visible
 * view re-derives its live figures every LIVE_INTERVAL_MS.
 */
export class EndpointsTree extends ResourceTree {
  private previous: { at: number; samples: PromSample[] } | undefined;
  private live: NodeJS.Timeout | undefined;
  private servedCount = 0;
  private shown = new Map<string, IntervalStats>();

  protected affectedBy(e: ChangeEvent): boolean {
    return e.type === 'serving.changed' || e.type === 'alias.moved' || e.type === 'drift.alert';
  }

  /** The view's visibility: live figures are scraped only while someone looks. */
  setVisible(visible: boolean): void {
    if (this.live) clearInterval(this.live);
    this.live = visible ? setInterval(() => this.servedCount > 0 && this.refresh(), LIVE_INTERVAL_MS) : undefined;
  }

  override dispose(): void {
    this.setVisible(false);
    super.dispose();
  }

  protected async roots(): Promise<ResourceNode[]> {
    const client = this.platform.client;
    if (!client) return [];
    const served = await client.servedModels();
    this.servedCount = served.length;
    const stats = served.length ? await this.liveStats(client) : new Map<string, IntervalStats>();
    const announced = readEndpointFiles(this.platform.dataDir);
    return [
      ...served.map((m) => servedNode(client.url, m, stats.get(versionKey({ model: m.name, version: m.version })))),
      ...(await Promise.all(announced.map(announcedNode))),
    ];
  }

  /**
   * Per version, the rates between the previous scrape and this one (none on the first). A listing
   * sooner than MIN_WINDOW_MS after the last scrape shows the figures of that window again, so a burst
   * of redraws neither shrinks the window to nothing nor scrapes the server each time.
   */
  private async liveStats(client: TrellisClient): Promise<Map<string, IntervalStats>> {
    const now = Date.now();
    const before = this.previous;
    if (before && now - before.at < MIN_WINDOW_MS) return this.shown;
    let samples: PromSample[];
    try {
      samples = parsePrometheus(await client.metricsText());
    } catch {
      return new Map(); // figures are extra: the listing still shows
    }
    this.previous = { at: now, samples };
    this.shown = before ? intervalStats(before.samples, samples, (now - before.at) / 1000) : new Map();
    return this.shown;
  }
}

function servedNode(platformUrl: string, m: ServedModelView, stats: IntervalStats | undefined): ResourceNode {
  const healthy = m.replicas.filter((r) => r.healthy).length;
  const figures = !stats ? [] : stats.rps > 0 ? [`p99 ${fmt(stats.p99, ' ms') ?? '-'}`, `${fmt(stats.rps, ' req/s')}`] : ['idle'];
  return {
    kind: 'resource',
    contextValue: 'servedModel',
    label: `${m.name} v${m.version}`,
    description: [healthy === m.replicas.length ? 'ready' : `${healthy}/${m.replicas.length} healthy`, ...figures, m.refs.filter((r) => r.includes('@')).join(' ')].filter(Boolean).join(' · '),
    tooltip: `${inferUrl(platformUrl, m)}\nreferences: ${m.refs.join(', ')}\n${m.replicas.length} replica(s), ${m.in_flight} request(s) in flight${m.drift_monitored ? '\ndrift monitored' : ''}`,
    icon: healthy === m.replicas.length ? 'radio-tower' : 'warning',
    served: m,
    children: m.replicas.map((r) => ({
      kind: 'resource',
      contextValue: 'replica',
      label: r.id,
      description: `${r.healthy ? 'healthy' : 'ejected'} · ${r.requests} requests · ${r.failures} failures · ${r.outstanding} in flight`,
      icon: r.healthy ? 'pass' : 'error',
    })),
  };
}

async function announcedNode(e: ReturnType<typeof readEndpointFiles>[number]): Promise<ResourceNode> {
  return {
    kind: 'resource',
    contextValue: 'endpoint',
    label: new URL(e.url).host,
    description: (await ready(e.url)) ? 'ready' : 'not ready',
    tooltip: `${e.url} (trellis serve, pid ${e.pid})`,
    icon: 'radio-tower',
    url: e.url,
    pid: e.pid,
    children: e.models.map((m) => ({ kind: 'resource', contextValue: 'endpointModel', label: `${m.name} v${m.version}`, description: m.ref, icon: 'package', url: e.url, modelRef: m.ref })),
  };
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}
