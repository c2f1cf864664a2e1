/** A recorded load test: figures and verdicts, throughput and percentiles over time, latency distribution, errors, a baseline. */
import { assertNever, type SeriesPoints } from '../../src/protocol/common';
import type { LoadTestData, LoadTestReportFromWebview, LoadTestReportState, LoadTestReportToWebview, BaselineChoice } from '../../src/protocol/load-test-report';
import { append, clear, dataGrid, dropdown, el, link, tabs, type Cell, showError } from '../components';
import { LineChart, type ChartSeries } from '../charts/line-chart';
import { alignSeries } from '../charts/series';
import { latencyHistogram, parseHgrm, percentileCurve, percentileLabel, percentileTicks } from '../charts/hgrm';
import { onThemeChange, readChartTheme } from '../charts/theme';
import { connect } from '../host';
import { formatNumber, formatTime } from '../format';
import { summaryFigures } from '../loadtest-summary';

const HISTOGRAM_BUCKETS = 24;

export function startLoadTestReport(root: HTMLElement): void {
  let state: LoadTestReportState | undefined;
  let report: { test: LoadTestData; baseline?: LoadTestData; choices: BaselineChoice[] } | undefined;
  const charts: LineChart[] = [];
  let askedSavedBaseline = false;

  const host = connect<LoadTestReportToWebview, LoadTestReportFromWebview, LoadTestReportState>((m) => {
    switch (m.type) {
      case 'report': {
        const saved = host.restored();
        const baselineId = m.baseline?.run.runId;
        state = { tab: 'overview', ...(saved?.runId === m.test.run.runId ? saved : {}), ...state, runId: m.test.run.runId };
        // After a reload the extension does not know the chosen baseline: ask for it once.
        if (!askedSavedBaseline && state.baselineId && !baselineId && m.choices.some((c) => c.runId === state!.baselineId)) {
          askedSavedBaseline = true;
          host.post({ type: 'setBaseline', runId: state.baselineId });
        }
        askedSavedBaseline = true;
        report = m;
        host.save(state);
        return render();
      }
      case 'error':
        return showError(root, m.message);
      default:
        assertNever(m);
    }
  });

  onThemeChange(() => render());

  function render(): void {
    if (!report || !state) return;
    for (const c of charts.splice(0)) c.destroy();
    clear(root);
    const { test, baseline, choices } = report;
    const s = state;
    const run = test.run;
    const target = run.params.find((p) => p.key === 'target')?.value ?? '';
    const options = [{ value: '', label: 'No baseline' }, ...choices.map((c) => ({ value: c.runId, label: `${c.name} · ${formatTime(c.startTime)}` }))];
    append(
      root,
      el('h1', {}, run.name),
      el('p', { class: 'muted' }, `${target} · ${run.status} · started ${formatTime(run.startTime)} · `, link('open run', () => host.post({ type: 'openRun', runId: run.runId }))),
      el('div', { class: 'toolbar' }, el('span', {}, 'Compare with'), dropdown(options, baseline?.run.runId ?? '', (v) => {
        state = { ...state!, ...(v ? { baselineId: v } : { baselineId: undefined }) };
        host.save(state);
        host.post({ type: 'setBaseline', runId: v || null });
      }, 'Baseline')),
    );
    const overview = el('section');
    const latency = el('section');
    const errors = el('section');
    root.appendChild(
      tabs(
        [
          { id: 'overview', label: 'Overview', content: overview },
          { id: 'latency', label: 'Latency distribution', content: latency },
          { id: 'errors', label: `Errors (${formatNumber(Object.values(test.errors).reduce((a, b) => a + b, 0))})`, content: errors },
        ],
        s.tab,
        (id) => {
          state = { ...state!, tab: id as LoadTestReportState['tab'] };
          host.save(state);
        },
      ),
    );
    renderOverview(overview, test, baseline);
    renderLatency(latency, test, baseline);
    renderErrors(errors, test, baseline);
  }

  function figureCards(test: LoadTestData, baseline?: LoadTestData): HTMLElement {
    const cards = el('div', { class: 'cards' });
    for (const f of summaryFigures(test.run, baseline?.run)) {
      const delta =
        f.baseline === undefined
          ? null
          : el('div', { class: `delta ${f.verdict ?? ''}` }, f.changePct === null || f.changePct === undefined ? `baseline ${formatNumber(f.baseline)}` : `${f.changePct >= 0 ? '+' : ''}${f.changePct.toFixed(1)}% vs ${formatNumber(f.baseline)}`);
      cards.appendChild(el('div', { class: 'stat', 'data-key': f.key }, el('div', { class: 'muted' }, f.label), el('div', { class: 'value' }, `${formatNumber(f.value)} ${f.unit}`), delta));
    }
    return cards;
  }

  function renderOverview(view: HTMLElement, test: LoadTestData, baseline?: LoadTestData): void {
    append(view, figureCards(test, baseline));
    if (test.verdicts.length) {
      append(
        view,
        el('h2', {}, 'Thresholds'),
        dataGrid(['Threshold', 'Verdict'], test.verdicts.map((v): Cell[] => [v.threshold, { text: v.pass ? 'pass' : 'fail', className: v.pass ? 'pass' : 'fail' }]), { widths: ['3fr', '1fr'] }),
      );
    }
    const grid = el('div', { class: 'chart-grid' });
    view.appendChild(grid);
    overTime(grid, 'Throughput (requests/s)', test, baseline, [['rps', 'rps']]);
    overTime(grid, 'Latency percentiles per second (ms)', test, baseline, [['interval_p50_ms', 'p50'], ['interval_p99_ms', 'p99']]);
  }

  /** Per-second series against the second of the test; a baseline's are dashed. */
  function overTime(grid: HTMLElement, title: string, test: LoadTestData, baseline: LoadTestData | undefined, keys: [string, string][]): void {
    const palette = readChartTheme().palette;
    const sources: { points: SeriesPoints | undefined; label: string; color: string; dash?: number[] }[] = [];
    keys.forEach(([key, label], i) => {
      const color = palette[i % palette.length]!;
      sources.push({ points: test.series[key], label, color });
      if (baseline) sources.push({ points: baseline.series[key], label: `${label} (baseline)`, color, dash: [6, 4] });
    });
    const present = sources.filter((s) => s.points && s.points.steps.length > 0);
    const body = el('div', { class: 'chart-body' });
    grid.appendChild(el('div', { class: 'chart-card wide' }, el('h3', {}, title), body));
    if (present.length === 0) {
      body.appendChild(el('p', { class: 'muted' }, 'No per-second data was recorded.'));
      return;
    }
    const [x, ...ys] = alignSeries(present.map((s) => ({ x: s.points!.steps, y: s.points!.values })));
    const chart = new LineChart(body, { xAxis: 'linear', xLabel: 'second', onResetZoom: () => chart.update(x, series) });
    const series: ChartSeries[] = present.map((s, i) => ({ label: s.label, color: s.color, values: ys[i]!, ...(s.dash ? { dash: s.dash } : {}) }));
    chart.update(x, series);
    charts.push(chart);
  }

  function renderLatency(view: HTMLElement, test: LoadTestData, baseline?: LoadTestData): void {
    if (!test.hgrm) {
      view.appendChild(el('p', { class: 'muted' }, 'No latency histogram was recorded (histogram.hgrm is missing).'));
      return;
    }
    const palette = readChartTheme().palette;
    const rows = parseHgrm(test.hgrm);
    const baseRows = baseline?.hgrm ? parseHgrm(baseline.hgrm) : undefined;
    const grid = el('div', { class: 'chart-grid' });
    view.appendChild(grid);

    const curves = [{ label: 'latency', rows, color: palette[0]! }, ...(baseRows ? [{ label: 'baseline', rows: baseRows, color: palette[1] ?? palette[0]!, dash: [6, 4] }] : [])];
    const [x, ...ys] = alignSeries(curves.map((c) => {
      const curve = percentileCurve(c.rows);
      return { x: curve.x, y: curve.y };
    }));
    const curveBody = el('div', { class: 'chart-body' });
    grid.appendChild(el('div', { class: 'chart-card wide' }, el('h3', {}, 'Latency by percentile (ms)'), curveBody));
    const curveChart = new LineChart(curveBody, { xAxis: 'linear', logX: true, xFormat: percentileLabel, xTicks: percentileTicks, xLabel: 'percentile', onResetZoom: () => curveChart.update(x, curveSeries) });
    const curveSeries: ChartSeries[] = curves.map((c, i) => ({ label: c.label, color: c.color, values: ys[i]!, ...('dash' in c ? { dash: c.dash } : {}) }));
    curveChart.update(x, curveSeries);
    charts.push(curveChart);

    const histogram = latencyHistogram(rows, HISTOGRAM_BUCKETS);
    const histBody = el('div', { class: 'chart-body' });
    grid.appendChild(el('div', { class: 'chart-card wide' }, el('h3', {}, 'Requests by latency (ms, log buckets)'), histBody));
    const mids = histogram.counts.map((_c, i) => Math.sqrt(histogram.edges[i]! * histogram.edges[i + 1]!));
    const histChart = new LineChart(histBody, { xAxis: 'linear', logX: true, xLabel: 'latency (ms)', onResetZoom: () => histChart.update(mids, histSeries) });
    const histSeries: ChartSeries[] = [{ label: 'requests', color: palette[0]!, values: histogram.counts, bars: true }];
    histChart.update(mids, histSeries);
    charts.push(histChart);
  }

  function renderErrors(view: HTMLElement, test: LoadTestData, baseline?: LoadTestData): void {
    const kinds = [...new Set([...Object.keys(test.errors), ...Object.keys(baseline?.errors ?? {})])].sort();
    if (kinds.length === 0) view.appendChild(el('p', { class: 'muted' }, 'No errors.'));
    else {
      view.appendChild(
        dataGrid(
          ['Kind', 'Count', ...(baseline ? ['Baseline'] : [])],
          kinds.map((k) => [k, formatNumber(test.errors[k] ?? 0), ...(baseline ? [formatNumber(baseline.errors[k] ?? 0)] : [])]),
        ),
      );
    }
    const grid = el('div', { class: 'chart-grid' });
    view.appendChild(grid);
    overTime(grid, 'Errors per second', test, baseline, [['errors', 'errors']]);
  }
}
