/** The run dashboard: one chart per metric (lazily, as they scroll into view), params and tags, artifacts, logs. */
import { assertNever, isSystemMetric, type ArtifactEntry, type RunSummary, type SeriesPoints, type StepRange } from '../../src/protocol/common';
import type { LogTail, RunDashboardFromWebview, RunDashboardState, RunDashboardToWebview } from '../../src/protocol/run-dashboard';
import { append, clear, dataGrid, el, link, showError, tabs, tag, textField, button, loading } from '../components';
import { chartControls } from '../charts/chart-controls';
import { LineChart } from '../charts/line-chart';
import { withAlpha } from '../charts/colors';
import { emaSmooth } from '../charts/smoothing';
import { forLogScale, isWhole, toXY, zoomStepRange } from '../charts/series';
import { onThemeChange, readChartTheme } from '../charts/theme';
import { connect, type Host } from '../host';
import { formatBytes, formatDuration, formatNumber, formatTime } from '../format';

interface ChartSlot {
  key: string;
  card: HTMLElement;
  chart?: LineChart;
  full?: SeriesPoints;
  fullWhole?: boolean;
  /** Drag-zoomed x range and, once fetched, the detail of its steps. */
  zoom?: { min: number; max: number };
  detail?: SeriesPoints;
  /** The newest request for this chart; older answers are dropped. */
  pending?: number;
}

const DEFAULTS: Omit<RunDashboardState, 'runId'> = { xAxis: 'step', smoothing: 0, logScale: false, tab: 'metrics', filter: '' };

export function startRunDashboard(root: HTMLElement): void {
  let state: RunDashboardState | undefined;
  let run: RunSummary | undefined;
  let metricKeys: string[] = [];
  let maxPoints = 4000;
  let openedAt = 0;
  let firstPaintDone = false;
  let nextRequest = 1;
  const slots = new Map<string, ChartSlot>();
  const requests = new Map<number, { key: string; kind: 'full' | 'zoom' }>();
  let artifacts: ArtifactEntry[] = [];
  let logs: LogTail[] = [];
  const views = { header: el('header', { class: 'run-header' }), metrics: el('section'), system: el('section'), params: el('section'), artifacts: el('section'), logs: el('section') };

  const host: Host<RunDashboardFromWebview, RunDashboardState> = connect<RunDashboardToWebview, RunDashboardFromWebview, RunDashboardState>((m) => {
    switch (m.type) {
      case 'init': {
        // A second `init` gives this page another run (a dashboard that follows the runs opened): its
        // view settings stay, the last run's charts and requests go.
        const previous = state;
        if (previous) forgetRun();
        const restored = host.restored();
        const settings = previous ?? (restored?.runId === m.run.runId ? restored : undefined);
        state = { ...DEFAULTS, ...settings, runId: m.run.runId };
        host.save(state);
        run = m.run;
        metricKeys = m.metricKeys;
        maxPoints = m.maxPoints;
        openedAt = m.openedAt;
        for (const { key, points } of m.series) {
          slots.set(key, slotFor(key));
          onSeries(key, 0, {}, points);
        }
        layout();
        return;
      }
      case 'run':
        run = m.run;
        if (m.metricKeys.join('\n') !== metricKeys.join('\n')) {
          metricKeys = m.metricKeys;
          renderCharts();
        }
        renderHeader();
        renderParams();
        slots.forEach(renderTitle);
        return;
      case 'series':
        return onSeries(m.key, m.requestId, m.range, m.points);
      case 'metricsLogged':
        for (const key of m.keys) {
          const slot = slots.get(key);
          if (slot?.chart) requestFull(slot);
        }
        return;
      case 'artifacts':
        artifacts = m.files;
        return renderArtifacts();
      case 'logs':
        logs = m.logs;
        return renderLogs();
      case 'error':
        return showError(root, m.message);
      default:
        assertNever(m);
    }
  });

  const save = (patch: Partial<RunDashboardState>) => {
    if (!state) return;
    state = { ...state, ...patch };
    host.save(state);
  };


  function forgetRun(): void {
    for (const slot of slots.values()) {
      slot.chart?.destroy();
      visibility.unobserve(slot.card);
    }
    slots.clear();
    requests.clear();
    artifacts = [];
    logs = [];
    firstPaintDone = false;
    delete document.body.dataset.firstPaintMs;
  }

  function layout(): void {
    clear(root);
    const s = state!;
    const toolbar = el(
      'div',
      { class: 'toolbar' },
      ...chartControls(s, {
        save,
        charts: () => [...slots.values()].map((slot) => slot.chart),
        forgetZoom: () => {
          for (const slot of slots.values()) {
            slot.zoom = undefined;
            slot.detail = undefined;
          }
        },
        redraw: redrawAll,
      }),
      textField('Filter metrics', s.filter, (v) => {
        save({ filter: v });
        renderCharts();
      }),
    );
    append(
      root,
      views.header,
      tabs(
        [
          { id: 'metrics', label: 'Metrics', content: el('div', {}, toolbar, views.metrics) },
          { id: 'system', label: 'System', content: views.system },
          { id: 'params', label: 'Params & tags', content: views.params },
          { id: 'artifacts', label: 'Artifacts', content: views.artifacts },
          { id: 'logs', label: 'Logs', content: views.logs },
        ],
        s.tab,
        (id) => save({ tab: id as RunDashboardState['tab'] }),
      ),
    );
    renderHeader();
    renderCharts();
    renderParams();
    renderArtifacts();
    renderLogs();
  }

  function renderHeader(): void {
    if (!run) return;
    const r = run;
    clear(views.header);
    const duration = (r.endTime ?? (r.status === 'RUNNING' ? Date.now() : r.startTime)) - r.startTime;
    append(
      views.header,
      el('h1', {}, r.name),
      tag(r.status, 'Run status'),
      el('span', { class: 'muted' }, `run ${r.runId} · experiment ${r.experimentId} · started ${formatTime(r.startTime)} · ${formatDuration(duration)}`),
    );
  }

  // Charts are made when their card scrolls into view: a run with hundreds of metrics opens as fast as one with a few.
  const visibility = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const slot = slots.get((e.target as HTMLElement).dataset.key ?? '');
      if (slot && !slot.chart) createChart(slot);
    }
  });

  function renderCharts(): void {
    const filter = state?.filter.trim().toLowerCase() ?? '';
    const shown = metricKeys.filter((k) => k.toLowerCase().includes(filter));
    for (const [key, slot] of slots) {
      if (!metricKeys.includes(key)) {
        slot.chart?.destroy();
        slots.delete(key);
      }
    }
    for (const [container, keys, empty] of [
      [views.metrics, shown.filter((k) => !isSystemMetric(k)), filter ? 'No metric matches the filter.' : 'This run has no metrics yet.'],
      [views.system, metricKeys.filter(isSystemMetric), 'No system metrics (keys starting with system/) were logged.'],
    ] as const) {
      const grid = el('div', { class: 'chart-grid' });
      for (const key of keys) {
        const slot = slots.get(key) ?? slotFor(key);
        slots.set(key, slot);
        grid.appendChild(slot.card);
      }
      clear(container);
      container.appendChild(grid);
      if (keys.length === 0) container.appendChild(el('p', { class: 'muted' }, empty));
    }
  }

  function slotFor(key: string): ChartSlot {
    const slot = { key, card: el('div', { class: 'chart-card', 'data-key': key }, el('h3', {}, key), el('div', { class: 'chart-body' }, loading())) };
    visibility.observe(slot.card);
    return slot;
  }

  function createChart(slot: ChartSlot): void {
    const body = slot.card.querySelector('.chart-body') as HTMLElement;
    clear(body);
    slot.chart = new LineChart(body, {
      xAxis: state!.xAxis,
      logScale: state!.logScale,
      onZoom: (min, max) => zoomTo(slot, min, max),
      onResetZoom: () => {
        slot.zoom = undefined;
        slot.detail = undefined;
        draw(slot);
      },
      onFirstPaint: (points) => firstPaint(slot, body, points),
    });
    if (slot.full) draw(slot);
    else requestFull(slot);
  }

  function firstPaint(slot: ChartSlot, body: HTMLElement, points: number): void {
    if (firstPaintDone) return;
    firstPaintDone = true;
    const sinceOpenMs = Date.now() - openedAt;
    const sinceNavigationMs = performance.now();
    body.dataset.firstPaintMs = String(Math.round(sinceOpenMs));
    document.body.dataset.firstPaintMs = String(Math.round(sinceOpenMs));
    console.log(`[trellis] first chart paint: ${Math.round(sinceOpenMs)} ms after opening, ${Math.round(sinceNavigationMs)} ms after navigation (${points} points of ${slot.key})`);
    host.post({ type: 'firstPaint', key: slot.key, points, sinceOpenMs, sinceNavigationMs });
  }

  function request(slot: ChartSlot, kind: 'full' | 'zoom', range: StepRange): void {
    const requestId = nextRequest++;
    slot.pending = requestId;
    requests.set(requestId, { key: slot.key, kind });
    host.post({ type: 'fetchSeries', key: slot.key, requestId, range, maxPoints });
  }

  const requestFull = (slot: ChartSlot) => request(slot, 'full', {});

  function zoomTo(slot: ChartSlot, min: number, max: number): void {
    slot.zoom = { min, max };
    const shown = slot.detail ?? slot.full;
    if (!shown || slot.fullWhole) return; // every point is here already: uPlot zooms on its own
    request(slot, 'zoom', zoomStepRange(min, max, state!.xAxis, shown));
  }

  function onSeries(key: string, requestId: number, range: StepRange, points: SeriesPoints): void {
    const slot = slots.get(key);
    if (!slot) return;
    const asked = requests.get(requestId);
    requests.delete(requestId);
    if (requestId !== 0 && (!asked || requestId !== slot.pending)) return; // superseded
    if (requestId === 0 || asked?.kind === 'full') {
      slot.full = points;
      slot.fullWhole = isWhole(points, range, maxPoints);
      if (slot.zoom && !slot.fullWhole) return; // keep the detail on screen; the envelope waits for the zoom-out
    } else {
      slot.detail = points;
    }
    if (slot.chart) draw(slot);
  }

  function draw(slot: ChartSlot): void {
    const points = (slot.zoom && slot.detail) || slot.full;
    if (!slot.chart || !points || !state) return;
    const theme = readChartTheme();
    const color = theme.palette[0]!;
    const { x, y: raw } = toXY(points, state.xAxis);
    const y = state.logScale ? forLogScale(raw) : raw;
    const series =
      state.smoothing > 0
        ? [
            { label: 'raw', color: withAlpha(color, 0.3), values: y, width: 1 },
            { label: `smoothed (${state.smoothing.toFixed(2)})`, color, values: state.logScale ? forLogScale(emaSmooth(raw, state.smoothing)) : emaSmooth(raw, state.smoothing) },
          ]
        : [{ label: slot.key, color, values: y }];
    slot.chart.update(x, series, slot.zoom);
    renderTitle(slot);
  }

  /** The metric's name and latest value. */
  function renderTitle(slot: ChartSlot): void {
    const latest = run?.latest.find((m) => m.key === slot.key);
    slot.card.querySelector('h3')!.textContent = latest ? `${slot.key}  ${formatNumber(latest.value)} @ ${latest.step}` : slot.key;
  }

  function redrawAll(): void {
    for (const slot of slots.values()) draw(slot);
  }

  onThemeChange(redrawAll);

  function renderParams(): void {
    if (!run) return;
    clear(views.params);
    const kv = (items: { key: string; value: string }[]) => dataGrid(['Key', 'Value'], items.map((p) => [p.key, p.value]), { widths: ['1fr', '2fr'] });
    const latest = [...run.latest].sort((a, b) => a.key.localeCompare(b.key));
    append(
      views.params,
      el('h2', {}, `Params (${run.params.length})`),
      run.params.length ? kv(run.params) : el('p', { class: 'muted' }, 'No params.'),
      el('h2', {}, `Tags (${run.tags.length})`),
      run.tags.length ? kv(run.tags) : el('p', { class: 'muted' }, 'No tags.'),
      el('h2', {}, `Latest metrics (${latest.length})`),
      latest.length
        ? dataGrid(['Metric', 'Value', 'Step', 'Time'], latest.map((m) => [m.key, formatNumber(m.value), String(m.step), formatTime(m.timestamp)]))
        : el('p', { class: 'muted' }, 'No metrics.'),
    );
  }

  function renderArtifacts(): void {
    clear(views.artifacts);
    if (artifacts.length === 0) {
      views.artifacts.appendChild(el('p', { class: 'muted' }, 'No artifacts.'));
      return;
    }
    const rows = artifacts.map((f) => {
      const depth = f.path.split('/').length - 1;
      const name = f.path.split('/').pop() ?? f.path;
      const label = el('span', { class: 'artifact' }, f.isDir ? '▸ ' : '');
      label.style.paddingLeft = `${depth * 1.2}em`; // CSSOM, which the CSP allows (style attributes it does not)
      label.appendChild(f.isDir ? document.createTextNode(`${name}/`) : link(name, () => host.post({ type: 'openArtifact', path: f.path }), `Open ${f.path}`));
      return [{ text: f.path, node: label }, f.isDir ? '' : formatBytes(f.size)];
    });
    views.artifacts.appendChild(dataGrid(['Path', 'Size'], rows, { widths: ['3fr', '1fr'] }));
  }

  function renderLogs(): void {
    clear(views.logs);
    append(views.logs, el('div', { class: 'toolbar' }, button('Refresh', () => host.post({ type: 'refreshLogs' }))));
    if (logs.length === 0) {
      views.logs.appendChild(el('p', { class: 'muted' }, 'No logs: the run has no logs/*.log artifacts.'));
      return;
    }
    for (const log of logs) {
      const pre = el('pre', { class: 'log-tail' }, `${log.truncated ? '…\n' : ''}${log.lines.join('\n')}`);
      append(views.logs, el('h3', {}, log.path), pre);
      requestAnimationFrame(() => (pre.scrollTop = pre.scrollHeight)); // a tail: the newest lines in view
    }
  }
}
