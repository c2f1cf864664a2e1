/** Parallel coordinates on a canvas: one vertical axis per dimension, one polyline per run. */
import { axisPosition, type Axis } from './parallel-axes';
import type { ChartTheme } from './theme';

export interface ParallelLine {
  values: (string | number | null)[];
  color: string;
}

const PAD = { top: 34, bottom: 28, side: 60 };

const tick = (v: number) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

export function drawParallel(canvas: HTMLCanvasElement, axes: Axis[], lines: ParallelLine[], theme: ChartTheme): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  if (!ctx || axes.length === 0) return;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  ctx.font = theme.font;
  const x = (i: number) => (axes.length === 1 ? width / 2 : PAD.side + (i * (width - 2 * PAD.side)) / (axes.length - 1));
  const y = (p: number) => PAD.top + (1 - p) * (height - PAD.top - PAD.bottom);

  ctx.lineWidth = 1.5;
  for (const line of lines) {
    ctx.strokeStyle = line.color;
    ctx.beginPath();
    let drawing = false;
    axes.forEach((axis, i) => {
      const p = axisPosition(axis, line.values[i] ?? null);
      if (p === null) {
        drawing = false; // a missing value breaks the line rather than inventing one
        return;
      }
      if (drawing) ctx.lineTo(x(i), y(p));
      else ctx.moveTo(x(i), y(p));
      drawing = true;
    });
    ctx.stroke();
  }

  ctx.strokeStyle = theme.foreground;
  ctx.fillStyle = theme.foreground;
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  axes.forEach((axis, i) => {
    ctx.beginPath();
    ctx.moveTo(x(i), y(0));
    ctx.lineTo(x(i), y(1));
    ctx.stroke();
    ctx.fillText(axis.name.length > 24 ? `${axis.name.slice(0, 23)}…` : axis.name, x(i), PAD.top - 18);
    const labels: [string, number][] =
      axis.kind === 'numeric'
        ? [[tick(axis.max), 1], [tick(axis.min), 0]]
        : axis.categories.map((c, k) => [c.length > 14 ? `${c.slice(0, 13)}…` : c, axis.categories.length === 1 ? 0.5 : k / (axis.categories.length - 1)]);
    for (const [text, p] of labels) ctx.fillText(text, x(i), p === 1 ? y(p) - 4 : p === 0 ? y(p) + 14 : y(p) - 3);
  });
}
