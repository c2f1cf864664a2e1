/** Compare runs: overlaid charts per metric, a diff table, parallel coordinates. */
import { assertNever, type RunSummary, type SeriesPoints } from '../../src/protocol/common';
import type { CompareRunsFromWebview, CompareRunsState, CompareRunsToWebview } from '../../src/protocol/compare-runs';
import { append, checkbox, clear, dataGrid, dropdown, el, link, tabs, type Cell, loading, showError } from '../components';
import { chartControls } from '../charts/chart-controls';
import { LineChart, type ChartSeries } from '../charts/line-chart';
import { mixColors, paletteColor } from '../charts/colors';
import { emaSmooth } from '../charts/smoothing';
import { alignSeries, forLogScale, toXY, zoomStepRange } from '../charts/series';
import { buildAxis, chooseDimensions, type Dimension } from '../charts/parallel-axes';
import { drawParallel } from '../charts/parallel-coords';
import { onThemeChange, readChartTheme } from '../charts/theme';
import { diffRows } from '../diff';
import { connect } from '../host';
import { formatNumber } from '../format';

interface RunSeries {
  full?: SeriesPoints;
  detail?: SeriesPoints;
  pending?: number;
}

interface Slot {
  key: string;
  card: HTMLElement;
  chart?: LineChart;
  zoom?: { min: number; max: number };
  byRun: Map<string, RunSeries>;
}

const DEFAULTS: Omit<CompareRunsState, 'runIds'> = { xAxis: 'step', smoothing: 0, logScale: false, onlyDifferences: true, tab: 'charts' };

export function startCompareRuns(root: HTMLElement): void {
  let state: CompareRunsState | undefined;
  let runs: RunSummary[] = [];
  let metricKeys: string[] = [];
  let maxPoints = 2000;
  let nextRequest = 1;
  const slots = new Map<string, Slot>();
  const requests = new Map<number, 'full' | 'zoom'>();
  const views = { charts: el('section'), table: el('section'), parallel: el('section') };

  const host = connect<CompareRunsToWebview, CompareRunsFromWebview, CompareRunsState>((m) => {
    switch (m.type) {
      case 'init': {
        const ids = m.runs.map((r) => r.runId);
        const saved = host.restored();
        state = { ...DEFAULTS, ...(saved && saved.runIds?.join() === ids.join() ? saved : {}), runIds: ids };
        host.save(state);
        runs = m.runs;
        metricKeys = m.metricKeys;
        maxPoints = m.maxPoints;
        return layout();
      }
      case 'series':
        return onSeries(m.runId, m.key, m.requestId, m.points);
      case 'error':
        return showError(root, m.message);
      default:
        assertNever(m);
    }
  });

  const save = (patch: Partial<CompareRunsState>) => {
    state = { ...state!, ...patch };
    host.save(state);
  };
  const colorOf = (i: number) => paletteColor(readChartTheme().palette, i);

  function layout(): void {
    clear(root);
    const s = state!;
    const legend = el('div', { class: 'toolbar' });
    runs.forEach((r, i) => {
      const swatch = el('span', { class: 'swatch' }, '━━ ');
      swatch.style.color = colorOf(i); // CSSOM: allowed by the CSP
      legend.appendChild(el('span', {}, swatch, link(r.name, () => host.post({ type: 'openRun', runId: r.runId }), `Open the dashboard of ${r.runId}`)));
    });
    const toolbar = el(
      'div',
      { class: 'toolbar' },
      ...chartControls(s, {
        save,
        charts: () => [...slots.values()].map((slot) => slot.chart),
        forgetZoom: () => {
          for (const slot of slots.values()) {
            slot.zoom = undefined;
            slot.byRun.forEach((r) => (r.detail = undefined));
          }
        },
        redraw: redrawAll,
      }),
    );
    append(
      root,
      el('h1', {}, `Comparing ${runs.length} runs`),
      legend,
      tabs(
        [
          { id: 'charts', label: 'Charts', content: el('div', {}, toolbar, views.charts) },
          { id: 'table', label: 'Diff table', content: views.table },
          { id: 'parallel', label: 'Parallel coordinates', content: views.parallel },
        ],
        s.tab,
        (id) => {
          save({ tab: id as CompareRunsState['tab'] });
          if (id === 'parallel') renderParallel();
        },
      ),
    );
    renderCharts();
    renderTable();
    renderParallel();
  }

  const visibility = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const slot = slots.get((e.target as HTMLElement).dataset.key ?? '');
      if (e.isIntersecting && slot && !slot.chart) createChart(slot);
    }
  });

  function renderCharts(): void {
    const grid = el('div', { class: 'chart-grid' });
    for (const key of metricKeys) {
      const slot: Slot = { key, card: el('div', { class: 'chart-card', 'data-key': key }, el('h3', {}, key), el('div', { class: 'chart-body' }, loading())), byRun: new Map() };
      slots.set(key, slot);
      visibility.observe(slot.card);
      grid.appendChild(slot.card);
    }
    clear(views.charts);
    views.charts.appendChild(metricKeys.length ? grid : el('p', { class: 'muted' }, 'These runs have no metrics.'));
  }

  function createChart(slot: Slot): void {
    const body = slot.card.querySelector('.chart-body') as HTMLElement;
    clear(body);
    slot.chart = new LineChart(body, {
      xAxis: state!.xAxis,
      logScale: state!.logScale,
      onZoom: (min, max) => {
        slot.zoom = { min, max };
        for (const r of runs) {
          const shown = slot.byRun.get(r.runId);
          const points = shown?.detail ?? shown?.full;
          if (points) request(slot, r.runId, 'zoom', zoomStepRange(min, max, state!.xAxis, points));
        }
      },
      onResetZoom: () => {
        slot.zoom = undefined;
        slot.byRun.forEach((r) => (r.detail = undefined));
        draw(slot);
      },
    });
    for (const r of runs) request(slot, r.runId, 'full', {});
  }

  function request(slot: Slot, runId: string, kind: 'full' | 'zoom', range: { startStep?: number; endStep?: number }): void {
    const requestId = nextRequest++;
    const entry = slot.byRun.get(runId) ?? {};
    entry.pending = requestId;
    slot.byRun.set(runId, entry);
    requests.set(requestId, kind);
    host.post({ type: 'fetchSeries', runId, key: slot.key, requestId, range, maxPoints });
  }

  function onSeries(runId: string, key: string, requestId: number, points: SeriesPoints): void {
    const slot = slots.get(key);
    const entry = slot?.byRun.get(runId);
    const kind = requests.get(requestId);
    requests.delete(requestId);
    if (!slot || !entry || entry.pending !== requestId || !kind) return;
    if (kind === 'full') entry.full = points;
    else entry.detail = points;
    draw(slot);
  }

  function draw(slot: Slot): void {
    if (!slot.chart || !state) return;
    const s = state;
    const xy = runs.map((r) => {
      const e = slot.byRun.get(r.runId);
      const points = (slot.zoom && e?.detail) || e?.full;
      if (!points) return { x: [], y: [] };
      const { x, y } = toXY(points, s.xAxis);
      const smoothed = s.smoothing > 0 ? emaSmooth(y, s.smoothing) : y;
      return { x, y: s.logScale ? forLogScale(smoothed) : smoothed };
    });
    if (xy.every((d) => d.x.length === 0)) return;
    const [x, ...ys] = alignSeries(xy);
    const series: ChartSeries[] = runs.map((r, i) => ({ label: r.name, color: colorOf(i), values: ys[i]! }));
    slot.chart.update(x, series, slot.zoom);
  }

  function redrawAll(): void {
    for (const slot of slots.values()) draw(slot);
    renderParallel();
  }

  onThemeChange(redrawAll);

  function renderTable(): void {
    clear(views.table);
    const s = state!;
    const rows = diffRows(runs).filter((r) => !s.onlyDifferences || r.differs);
    const sectionName = { param: 'param', metric: 'metric', tag: 'tag' } as const;
    const cells: Cell[][] = rows.map((row) => [
      { text: `${sectionName[row.section]}: ${row.key}`, className: row.differs ? 'differs' : undefined },
      ...row.values.map((v, i): Cell => {
        const text = v === null ? '—' : row.section === 'metric' ? formatNumber(Number(v)) : v;
        const classes = [v === null ? 'missing' : row.differs ? 'differs' : '', i === row.lowest ? 'lowest' : '', i === row.highest ? 'highest' : ''].filter(Boolean).join(' ');
        return { text, className: classes || undefined, title: i === row.lowest ? `${v} (lowest)` : i === row.highest ? `${v} (highest)` : (v ?? 'missing') };
      }),
    ]);
    append(
      views.table,
      el('div', { class: 'toolbar' }, checkbox('Only differences', s.onlyDifferences, (on) => {
        save({ onlyDifferences: on });
        renderTable();
      })),
      rows.length ? dataGrid(['Key', ...runs.map((r) => r.name)], cells, { widths: ['2fr', ...runs.map(() => '1fr')] }) : el('p', { class: 'muted' }, 'No differences: every param, metric and tag is the same.'),
    );
  }

  function renderParallel(): void {
    if (!state) return;
    clear(views.parallel);
    const paramDims: Dimension[] = [...new Set(runs.flatMap((r) => r.params.map((p) => p.key)))].sort().map((name) => ({
      name,
      values: runs.map((r) => r.params.find((p) => p.key === name)?.value ?? null),
    }));
    const metricDims: Dimension[] = metricKeys.filter((k) => !k.startsWith('system/')).map((name) => ({
      name,
      values: runs.map((r) => r.latest.find((m) => m.key === name)?.value ?? null),
    }));
    const dims = chooseDimensions(paramDims, metricDims);
    if (dims.length === 0) {
      views.parallel.appendChild(el('p', { class: 'muted' }, 'Nothing to draw: no param differs and no metric was logged.'));
      return;
    }
    const metricNames = metricDims.map((d) => d.name);
    const colorBy = state.colorBy && metricNames.includes(state.colorBy) ? state.colorBy : metricNames[0];
    const canvas = el('canvas', { class: 'parallel', 'aria-label': `Parallel coordinates of ${dims.map((d) => d.name).join(', ')}` });
    append(
      views.parallel,
      el('div', { class: 'toolbar' }, metricNames.length
        ? dropdown(metricNames.map((n) => ({ value: n, label: `Color by ${n}` })), colorBy ?? '', (v) => {
            save({ colorBy: v });
            renderParallel();
          }, 'Color lines by')
        : null),
      canvas,
    );
    const theme = readChartTheme();
    const axes = dims.map(buildAxis);
    const colorDim = dims.findIndex((d) => d.name === colorBy);
    const colorAxis = colorDim >= 0 ? axes[colorDim] : undefined;
    const low = theme.palette[0]!;
    const high = theme.palette[1] ?? low;
    const lines = runs.map((_r, i) => {
      const v = colorDim >= 0 ? dims[colorDim]!.values[i] ?? null : null;
      const t = colorAxis && colorAxis.kind === 'numeric' && v !== null && colorAxis.max > colorAxis.min ? (Number(v) - colorAxis.min) / (colorAxis.max - colorAxis.min) : undefined;
      return { values: dims.map((d) => d.values[i] ?? null), color: t === undefined ? colorOf(i) : mixColors(low, high, t) };
    });
    // Drawn once laid out (a hidden tab has no size yet; it redraws when chosen).
    requestAnimationFrame(() => drawParallel(canvas, axes, lines, theme));
  }
}
