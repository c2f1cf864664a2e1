/**
 * A canvas chart on uPlot (it draws hundreds of thousands of points interactively): theme colors,
 * step/time/linear x, linear or log y, drag to zoom (the view fetches detail for the new range),
 * double-click to zoom out, first-paint callback for the open-to-paint measurement.
 */
import uPlot from 'uplot';
import { readChartTheme } from './theme';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  width?: number;
  dash?: number[];
  /** Drawn as bars (histograms) instead of a line. */
  bars?: boolean;
}

export interface ChartOptions {
  /** `time`: x in epoch seconds, labelled as dates; `step` and `linear`: plain numbers. */
  xAxis: 'step' | 'time' | 'linear';
  logScale?: boolean;
  logX?: boolean;
  height?: number;
  xLabel?: string;
  yLabel?: string;
  /** Formats x values on the axis and in the legend (e.g. percentiles). */
  xFormat?: (x: number) => string;
  /** Where the x ticks go, when the scale's own choice does not suit (e.g. at 50%, 90%, 99%...). */
  xTicks?: (min: number, max: number) => number[];
  onZoom?: (min: number, max: number) => void;
  onResetZoom?: () => void;
  /** Once, when data was first drawn: the number of x values. */
  onFirstPaint?: (points: number) => void;
}

const DEFAULT_HEIGHT = 220;

/** A y axis wide enough for its longest tick label (uPlot's default cuts long numbers). */
const axisSize = (_u: uPlot, values: string[] | null): number => 20 + 8 * Math.max(3, ...(values ?? []).map((v) => String(v).length));

export class LineChart {
  private plot: uPlot | undefined;
  private signature = '';
  private painted = false;
  private readonly resize = new ResizeObserver(() => this.fit());

  constructor(
    readonly container: HTMLElement,
    private options: ChartOptions,
  ) {
    container.classList.add('chart');
    this.resize.observe(container);
  }

  setOptions(options: Partial<ChartOptions>): void {
    this.options = { ...this.options, ...options };
    this.signature = ''; // scales and axes change: rebuild on the next update
  }

  /** Draws `series` over `x` (sorted); `zoom` pins the x range (a detail fetch covers about that range). */
  update(x: number[], series: ChartSeries[], zoom?: { min: number; max: number }): void {
    const theme = readChartTheme();
    const signature = JSON.stringify([theme, series.map((s) => [s.label, s.color, s.width, s.dash, s.bars])]);
    const data: uPlot.AlignedData = [x, ...series.map((s) => s.values)];
    if (!this.plot || signature !== this.signature) {
      this.plot?.destroy();
      this.plot = new uPlot(this.plotOptions(series, theme), data, this.container);
      this.signature = signature;
    } else {
      this.plot.setData(data);
    }
    if (zoom) this.plot.setScale('x', zoom);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private fit(): void {
    const width = this.container.clientWidth;
    if (this.plot && width > 0 && Math.abs(width - this.plot.width) > 1) this.plot.setSize({ width, height: this.options.height ?? DEFAULT_HEIGHT });
  }

  private plotOptions(series: ChartSeries[], theme: ReturnType<typeof readChartTheme>): uPlot.Options {
    const o = this.options;
    const axis = (label?: string): uPlot.Axis => ({
      stroke: theme.foreground,
      font: theme.font,
      labelFont: theme.font,
      grid: { stroke: theme.grid, width: 0.5 },
      ticks: { stroke: theme.grid, width: 0.5 },
      ...(label ? { label } : {}),
    });
    // Room between x ticks for labels like 1,000,000; y axes as wide as their longest label.
    const xAxis: uPlot.Axis = { ...axis(o.xLabel), space: 90 };
    const yAxis: uPlot.Axis = { ...axis(o.yLabel), size: axisSize };
    if (o.xFormat) {
      const format = o.xFormat;
      xAxis.values = (_u, ticks) => ticks.map(format);
    }
    if (o.xTicks) {
      const ticks = o.xTicks;
      xAxis.splits = (_u, _i, min, max) => ticks(min, max);
    }
    return {
      width: this.container.clientWidth || 600,
      height: o.height ?? DEFAULT_HEIGHT,
      scales: {
        x: { time: o.xAxis === 'time', ...(o.logX ? { distr: 3 } : {}) },
        y: o.logScale ? { distr: 3 } : {},
      },
      axes: [xAxis, yAxis],
      series: [
        o.xFormat ? { value: (_u, v) => (v === null ? '' : o.xFormat!(v)) } : {},
        ...series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          spanGaps: true,
          points: { show: false },
          ...(s.dash ? { dash: s.dash } : {}),
          ...(s.bars ? { paths: uPlot.paths.bars!({ size: [0.9, 40] }), fill: s.color } : {}),
        })),
      ],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        bind: {
          dblclick: () => () => {
            this.options.onResetZoom?.();
            return null;
          },
        },
      },
      legend: { live: true },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, 'x');
            const max = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            u.setScale('x', { min, max });
            this.options.onZoom?.(min, max);
          },
        ],
        draw: [
          (u) => {
            const points = u.data[0]?.length ?? 0;
            if (this.painted || points === 0) return;
            this.painted = true;
            // The canvas is drawn; the next frame puts it on screen.
            requestAnimationFrame(() => this.options.onFirstPaint?.(points));
          },
        ],
      },
    };
  }
}
