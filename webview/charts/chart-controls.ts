/** The axis, smoothing and log-scale controls of every view with metric charts (run dashboard, compare). */
import type { XAxis } from '../../src/protocol/run-dashboard';
import { checkbox, dropdown, slider } from '../components';
import type { LineChart } from './line-chart';

export interface ChartSettings {
  xAxis: XAxis;
  smoothing: number;
  logScale: boolean;
}

/** What the controls act on: the view's saved settings and its charts. */
export interface ChartsOfView {
  save(patch: Partial<ChartSettings>): void;
  /** The view's charts (undefined: not created yet). */
  charts(): Iterable<LineChart | undefined>;
  /** Drops every chart's zoom and fetched detail: on another x axis they mean nothing. */
  forgetZoom(): void;
  redraw(): void;
}

/** The three controls, showing `s`; a change is saved, given to the charts that take it, and redrawn. */
export function chartControls(s: ChartSettings, view: ChartsOfView): HTMLElement[] {
  return [
    dropdown([{ value: 'step', label: 'Step' }, { value: 'time', label: 'Wall time' }], s.xAxis, (value) => {
      const xAxis = value as XAxis;
      view.save({ xAxis });
      view.forgetZoom();
      for (const chart of view.charts()) chart?.setOptions({ xAxis });
      view.redraw();
    }, 'X axis'),
    slider('Smoothing', 0, 0.99, 0.01, s.smoothing, (smoothing) => {
      view.save({ smoothing });
      view.redraw();
    }),
    checkbox('Log scale', s.logScale, (logScale) => {
      view.save({ logScale });
      for (const chart of view.charts()) chart?.setOptions({ logScale });
      view.redraw();
    }),
  ];
}
