/**
 * Open-model arrival times (pure). The stages define a piecewise-linear rate r(t); the k-th arrival
 * (k = 0, 1, …) is due when the expected count ∫r reaches k, so a constant rate R sends at 0, 1/R, 2/R…
 * as wrk2 does. The first stage is constant at its target; each later stage ramps linearly from the
 * previous target to its own. Nothing is stored per arrival: `timeOf(k)` solves for it in O(stages),
 * so a long, fast test costs no memory.
 */
import type { OpenModel } from './types';
import { validateStages } from './parse';

export interface Schedule {
  /** All arrivals of the test. */
  readonly total: number;
  /** Length of the test in ms (sum of the stages). */
  readonly durationMs: number;
  /** When arrival k (0-based, k < total) is due, in ms from the start of the test. */
  timeOf(k: number): number;
}

interface Segment {
  startMs: number;
  durationMs: number;
  /** Rates at the segment's start and end, per second. */
  r0: number;
  r1: number;
  /** Expected arrivals before this segment and at its end. */
  before: number;
  after: number;
}

export function createSchedule(stages: OpenModel['stages']): Schedule {
  validateStages(stages);
  const segments: Segment[] = [];
  let startMs = 0;
  let count = 0;
  stages.forEach((st, i) => {
    const r0 = i === 0 ? st.targetRps : stages[i - 1]!.targetRps;
    const r1 = st.targetRps;
    const n = ((r0 + r1) / 2) * (st.durationMs / 1000);
    segments.push({ startMs, durationMs: st.durationMs, r0, r1, before: count, after: count + n });
    startMs += st.durationMs;
    count += n;
  });
  const durationMs = startMs;
  // Arrivals k = 0 … ceil(count) − 1 (those with k < count), forgiving float noise in the sum.
  const total = count <= 0 ? 0 : Math.max(0, Math.ceil(count - 1e-9 * Math.max(1, count)));
  let cursor = 0;
  const timeOf = (k: number): number => {
    if (!(k >= 0 && k < total)) throw new RangeError(`arrival ${k} is outside 0..${total - 1}`);
    // Arrivals are asked for mostly in order: start from the last segment used.
    if (k < segments[cursor]!.before) cursor = 0;
    while (cursor < segments.length - 1 && (k >= segments[cursor]!.after || segments[cursor]!.durationMs === 0)) cursor++;
    const sg = segments[cursor]!;
    const n = k - sg.before;
    if (n <= 0) return sg.startMs;
    const d = sg.durationMs / 1000;
    const a = d > 0 ? (sg.r1 - sg.r0) / d : 0;
    // n = r0·t + a·t²/2, solved in the form that stays exact for a = 0 and stable for a < 0.
    const disc = Math.max(0, sg.r0 * sg.r0 + 2 * a * n);
    const denom = sg.r0 + Math.sqrt(disc);
    const t = denom > 0 ? (2 * n) / denom : d;
    return sg.startMs + Math.min(sg.durationMs, t * 1000);
  };
  return { total, durationMs, timeOf };
}

/** How many of `total` arrivals go to worker `index` of `count` when they are dealt out in turn (k ≡ index mod count). */
export function workerShare(total: number, index: number, count: number): number {
  return total > index ? Math.ceil((total - index) / count) : 0;
}

/** Every arrival time of one worker's share (ms from the start): for tests and small plans. */
export function arrivalTimes(stages: OpenModel['stages'], index = 0, count = 1): number[] {
  const s = createSchedule(stages);
  const out: number[] = [];
  for (let k = index; k < s.total; k += count) out.push(s.timeOf(k));
  return out;
}
