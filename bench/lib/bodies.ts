/**
 * Request bodies of the ingest benchmarks, built once and patched in place per request: each step and
 * timestamp sits in a fixed-width slot (the number, then spaces: JSON allows whitespace after a
 * value, and MLflow's Python client sends `": "` and `", "` separators anyway), so a request with
 * new, increasing steps costs the generator a few microseconds instead of a JSON.stringify.
 */
import { buildRequest, type RawRequest } from './raw-http';
import { seededRandom } from './common';

/** The keys a training loop logs at every step. */
export const METRIC_KEYS = ['loss', 'accuracy', 'learning_rate', 'grad_norm'] as const;

const STEP_WIDTH = 10;
const TIMESTAMP_WIDTH = 13;
const SPACE = 0x20;

/** A plausible value of `key` at `step` (noise from `rand`). */
export function metricValue(key: string, step: number, rand: () => number): number {
  switch (key) {
    case 'loss':
      return 2.3 * Math.exp(-step / 20_000) + 0.05 + 0.02 * rand();
    case 'accuracy':
      return Math.min(1, 0.1 + 0.85 * (1 - Math.exp(-step / 15_000)) + 0.01 * rand());
    case 'learning_rate':
      return 3e-4 * Math.max(0.01, 1 - step / 1_000_000);
    default:
      return 0.5 + 4 * rand();
  }
}

/** Writes `n` (a non-negative integer) left-aligned in `width` bytes, padded with spaces. */
function writeSlot(buf: Buffer, offset: number, width: number, n: number): void {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  if (digits > width) throw new Error(`${n} does not fit a ${width}-digit slot`);
  let x = n;
  for (let i = digits - 1; i >= 0; i--) {
    buf[offset + i] = 0x30 + (x % 10);
    x = Math.floor(x / 10);
  }
  buf.fill(SPACE, offset + digits, offset + width);
}

/** A request whose steps and timestamps are rewritten before each send. */
export class PatchableRequest {
  private sent = 0;

  constructor(
    private readonly request: RawRequest,
    /** Offsets of the step slots in the body, one per point. */
    private readonly stepSlots: number[],
    private readonly timestampSlots: number[],
    /** Steps per request: point i of request n is at step n * stepsPerRequest + floor(i / keys). */
    private readonly stepsPerRequest: number,
    private readonly keysPerStep: number,
  ) {}

  get points(): number {
    return this.stepSlots.length;
  }

  get bytes(): number {
    return this.request.bytes.length;
  }

  /** The bytes of the next request (the same buffer, patched: send it only after the previous reply). */
  next(): Buffer {
    const buf = this.request.bytes;
    const base = this.request.bodyOffset;
    const firstStep = this.sent++ * this.stepsPerRequest;
    const now = Date.now();
    for (let i = 0; i < this.stepSlots.length; i++) {
      writeSlot(buf, base + this.stepSlots[i]!, STEP_WIDTH, firstStep + Math.floor(i / this.keysPerStep));
      writeSlot(buf, base + this.timestampSlots[i]!, TIMESTAMP_WIDTH, now);
    }
    return buf;
  }
}

interface Target {
  host: string;
  port: number;
  headers: Record<string, string>;
}

/** Builds `{"run_id": …, <fields>}` around points, recording the slot offsets. */
function build(target: Target, path: string, runId: string, points: number, single: boolean, seed: number): PatchableRequest {
  const rand = seededRandom(seed);
  const stepSlot = `0${' '.repeat(STEP_WIDTH - 1)}`;
  const timestamp = String(Date.now());
  if (timestamp.length !== TIMESTAMP_WIDTH) throw new Error('Date.now() is not 13 digits');
  const stepSlots: number[] = [];
  const timestampSlots: number[] = [];
  let text = `{"run_id":"${runId}",`;
  const keysPerStep = single ? 1 : Math.min(points, METRIC_KEYS.length);
  const point = (i: number): string => {
    const key = METRIC_KEYS[i % keysPerStep]!;
    const value = metricValue(key, Math.floor(i / keysPerStep), rand);
    let s = `"key":"${key}","value":${value},"timestamp":`;
    timestampSlots.push(text.length + s.length);
    s += `${timestamp},"step":`;
    stepSlots.push(text.length + s.length);
    return `${s}${stepSlot}`;
  };
  if (single) {
    text += `${point(0)}}`;
  } else {
    text += '"metrics":[';
    for (let i = 0; i < points; i++) {
      if (i > 0) text += ',';
      text += '{';
      text += `${point(i)}}`;
    }
    text += ']}';
  }
  JSON.parse(text); // the template must be valid JSON
  const request = buildRequest('POST', target.host, target.port, path, text, target.headers);
  return new PatchableRequest(request, stepSlots, timestampSlots, Math.ceil(points / keysPerStep), keysPerStep);
}

/** `runs/log-batch` with `points` metrics over METRIC_KEYS (points / 4 steps per request). */
export function logBatchRequest(target: Target, runId: string, points: number, seed = 1): PatchableRequest {
  return build(target, '/api/2.0/mlflow/runs/log-batch', runId, points, false, seed);
}

/** `runs/log-metric`: one `loss` point per request, one step further each time. */
export function logMetricRequest(target: Target, runId: string, seed = 1): PatchableRequest {
  return build(target, '/api/2.0/mlflow/runs/log-metric', runId, 1, true, seed);
}
