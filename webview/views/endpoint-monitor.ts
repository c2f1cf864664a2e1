/** A model server, live: rps, p50/p99, batch size and in-flight requests per version; canary split; drift per feature. */
import { assertNever } from '../../src/protocol/common';
import type { DriftInfo, EndpointMonitorFromWebview, EndpointMonitorState, EndpointMonitorToWebview, RouteInfo } from '../../src/protocol/endpoint-monitor';
import { append, clear, dataGrid, dropdown, el, type Cell, showError } from '../components';
import { LineChart, type ChartSeries } from '../charts/line-chart';
import { alignSeries } from '../charts/series';
import { paletteColor } from '../charts/colors';
import { onThemeChange, readChartTheme } from '../charts/theme';
import { connect } from '../host';
import { formatNumber } from '../format';
import { intervalStats, parsePrometheus, type IntervalStats, type PromSample } from '../prometheus';

/** Ten minutes at the default 2 s interval. */
const HISTORY = 300;

interface Point {
  at: number;
  stats: Map<string, IntervalStats>;
}

const FIGURES: { id: string; title: string; value: (s: IntervalStats) => number | null }[] = [
  { id: 'rps', title: 'Requests per second', value: (s) => s.rps },
  { id: 'p50', title: 'Latency p50 (ms)', value: (s) => s.p50 },
  { id: 'p99', title: 'Latency p99 (ms)', value: (s) => s.p99 },
  { id: 'batch', title: 'Mean batch size (rows per engine run)', value: (s) => s.batchMean },
  { id: 'inflight', title: 'Requests in flight', value: (s) => s.inFlight },
];

export function startEndpointMonitor(root: HTMLElement): void {
  let state: EndpointMonitorState | undefined;
  let target = '';
  let previous: { at: number; samples: PromSample[] } | undefined;
  const history: Point[] = [];
  let routes: RouteInfo[] | null = null;
  let drift: DriftInfo[] | null = null;
  const charts = new Map<string, LineChart>();
  const views = { header: el('header'), charts: el('div', { class: 'chart-grid' }), routes: el('section'), drift: el('section') };
  let laidOut = false;

  const host = connect<EndpointMonitorToWebview, EndpointMonitorFromWebview, EndpointMonitorState>((m) => {
    switch (m.type) {
      case 'target': {
        const saved = host.restored();
        const url = m.platform ? undefined : m.url;
        state = { ...(url ? { url } : {}), ...(saved?.url === url && saved?.model ? { model: saved.model } : {}) };
        host.save(state);
        target = m.url;
        if (!laidOut) layout();
        return;
      }
      case 'sample': {
        const samples = parsePrometheus(m.metrics);
        if (previous) {
          history.push({ at: m.at, stats: intervalStats(previous.samples, samples, (m.at - previous.at) / 1000) });
          if (history.length > HISTORY) history.shift();
        }
        previous = { at: m.at, samples };
        routes = m.routes;
        drift = m.drift;
        return render();
      }
      case 'error':
        return showError(root, m.message);
      default:
        assertNever(m);
    }
  });

  onThemeChange(() => render());

  function layout(): void {
    laidOut = true;
    clear(root);
    append(root, views.header, views.charts, el('h2', {}, 'Traffic split'), views.routes, el('h2', {}, 'Drift per feature'), views.drift);
    for (const f of FIGURES) {
      const body = el('div', { class: 'chart-body' });
      views.charts.appendChild(el('div', { class: 'chart-card', 'data-figure': f.id }, el('h3', {}, f.title), body));
      charts.set(f.id, new LineChart(body, { xAxis: 'time', height: 180 }));
    }
    render();
  }

  function versionKeys(): string[] {
    const keys = new Set<string>();
    for (const p of history) for (const k of p.stats.keys()) keys.add(k);
    return [...keys].filter((k) => !state?.model || k.startsWith(`${state.model}/`)).sort();
  }

  function render(): void {
    if (!state || !laidOut) return;
    const s = state;
    const models = [...new Set(history.flatMap((p) => [...p.stats.keys()].map((k) => k.split('/')[0]!)))].sort();
    clear(views.header);
    const latest = history.at(-1);
    append(
      views.header,
      el('h1', {}, 'Endpoint monitor'),
      el('p', { class: 'muted' }, `${target} · ${latest ? `updated ${new Date(latest.at).toLocaleTimeString()}` : 'waiting for two scrapes…'}`),
      el('div', { class: 'toolbar' }, dropdown([{ value: '', label: 'All models' }, ...models.map((m) => ({ value: m, label: m }))], s.model ?? '', (v) => {
        state = { ...(s.url ? { url: s.url } : {}), ...(v ? { model: v } : {}) };
        host.save(state);
        host.post({ type: 'selectModel', model: v || null });
        render();
      }, 'Model')),
    );
    const keys = versionKeys();
    const palette = readChartTheme().palette;
    for (const f of FIGURES) {
      const chart = charts.get(f.id)!;
      if (history.length === 0 || keys.length === 0) continue;
      const [x, ...ys] = alignSeries(keys.map((k) => {
        const pts = history.filter((p) => p.stats.has(k));
        return { x: pts.map((p) => p.at / 1000), y: pts.map((p) => f.value(p.stats.get(k)!)) };
      }));
      const series: ChartSeries[] = keys.map((k, i) => ({ label: k, color: paletteColor(palette, i), values: ys[i]! }));
      chart.update(x, series);
    }
    renderRoutes();
    renderDrift();
  }

  function renderRoutes(): void {
    clear(views.routes);
    const shown = (routes ?? []).filter((r) => !state?.model || r.name === state.model);
    if (routes === null) return void views.routes.appendChild(el('p', { class: 'muted' }, 'This server has no traffic routes API.'));
    if (shown.length === 0) return void views.routes.appendChild(el('p', { class: 'muted' }, 'No routes: each model name answers with the version it was loaded as.'));
    const rows: Cell[][] = shown.flatMap((r) => {
      const total = r.targets.reduce((n, t) => n + t.weight, 0) || 1;
      const targets = r.targets.map((t): Cell[] => [r.name, t.ref, t.version ?? '—', `${formatNumber((100 * t.weight) / total)}%`]);
      return r.shadow ? [...targets, [r.name, r.shadow.ref, r.shadow.version ?? '—', 'shadow']] : targets;
    });
    views.routes.appendChild(dataGrid(['Model', 'Target', 'Version', 'Share'], rows));
  }

  function renderDrift(): void {
    clear(views.drift);
    const shown = (drift ?? []).filter((d) => !state?.model || d.name === state.model);
    if (drift === null) return void views.drift.appendChild(el('p', { class: 'muted' }, 'This server has no drift API.'));
    if (shown.length === 0) return void views.drift.appendChild(el('p', { class: 'muted' }, 'No version is monitored for drift (it needs a reference profile at registration).'));
    const rows: Cell[][] = [];
    for (const d of shown) {
      for (const input of d.inputs) {
        if (!input.scored) rows.push([`${d.name}/${d.version}`, input.input, `collecting (${input.rows} rows)`, '', '', '']);
        for (const f of input.features) {
          rows.push([
            `${d.name}/${d.version}`,
            `${input.input}.${f.feature}`,
            { text: formatNumber(f.psi), className: f.drifted ? 'fail' : undefined },
            f.ks === undefined ? '—' : formatNumber(f.ks),
            f.pValue === undefined ? '—' : formatNumber(f.pValue),
            { text: f.drifted ? 'drifted' : 'ok', className: f.drifted ? 'fail' : 'pass' },
          ]);
        }
      }
    }
    views.drift.appendChild(dataGrid(['Version', 'Feature', 'PSI', 'KS', 'p-value', 'Verdict'], rows));
  }
}
