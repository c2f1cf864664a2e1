/** The axis, smoothing and log-scale controls of every view with metric charts (run dashboard, compare). */
import type { XAxis } from '../../src/protocol/run-dashboard';
import { checkbox, dropdown, slider } from '../components';

export interface ChartSettings {
  xAxis: XAxis;
  smoothing: number;
  logScale: boolean;
}

/** The three controls, showing `s`; each change goes to its callback (which saves it and redraws). */
export function chartControls(s: ChartSettings, on: { xAxis(v: XAxis): void; smoothing(v: number): void; logScale(on: boolean): void }): HTMLElement[] {
  return [
    dropdown([{ value: 'step', label: 'Step' }, { value: 'time', label: 'Wall time' }], s.xAxis, (v) => on.xAxis(v as XAxis), 'X axis'),
    slider('Smoothing', 0, 0.99, 0.01, s.smoothing, on.smoothing),
    checkbox('Log scale', s.logScale, on.logScale),
  ];
}
