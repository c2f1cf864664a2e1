/**
 * Sampled inference logging for feedback loops: a share of the requests a model server answers is
 * written to the tracker, as one run per serving session in the experiment `inference-logs`: each
 * sampled request as a JSON line in the artifact `inferences.jsonl` (a summary of each input, the
 * outputs, the latency) and its latency as the metric `latency_ms`. Records are buffered and written
 * once a second in one transaction, so logging never waits on the database in the request path.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArtifactStore } from '../../core/artifacts';
import type { Metric } from '../../core/entities';
import type { Store } from '../../core/store';
import { LIMITS } from '../../core/validation';
import type { Tensor } from '../../engines/onnx/types';
import { experimentNamed } from '../tracking/named-experiment';

export const INFERENCE_LOG_EXPERIMENT = 'inference-logs';
export const INFERENCE_LOG_FILE = 'inferences.jsonl';
/** Outputs up to this many elements are logged whole; larger ones as a summary. */
const WHOLE_OUTPUT_ELEMENTS = 256;
/** Leading input values kept beside the summary. */
const INPUT_HEAD = 8;

export interface TensorSummary {
  name: string;
  datatype: string;
  shape: number[];
  mean?: number;
  min?: number;
  max?: number;
  head: (number | string)[];
}

export interface InferenceRecord {
  time: number;
  model: string;
  version: string;
  latency_ms: number;
  inputs: TensorSummary[];
  outputs: (TensorSummary | { name: string; datatype: string; shape: number[]; data: (number | string)[] })[];
}

/** A sampled request whose inputs were summarised; `done` completes it with the outputs (latency: since `sample`). */
export interface SampledInference {
  done(outputs: Tensor[]): void;
}

export interface InferenceLogOptions {
  store: Store;
  /** Share of requests logged, 0 < rate ≤ 1. */
  sampleRate: number;
  /** What this server serves (the run's name and a param). */
  refs: string[];
  flushMs?: number;
  random?: () => number;
  log?: (line: string) => void;
}

export class InferenceLog {
  readonly runId: string;
  private readonly file: string;
  private buffer: InferenceRecord[] = [];
  private logged = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: InferenceLogOptions) {
    const { store, sampleRate, refs } = options;
    if (!(sampleRate > 0 && sampleRate <= 1)) throw new Error(`The inference log sample rate must be in (0, 1], got ${sampleRate}.`);
    const experimentId = experimentNamed(store, INFERENCE_LOG_EXPERIMENT, 'restore it (or delete it permanently) to log inferences in it, or serve without --log-inferences.');
    const run = store.runs.create({
      experiment_id: experimentId,
      run_name: `serve ${refs.join(' ')}`.slice(0, 250),
      tags: [
        { key: 'trellis.kind', value: 'inference-log' },
        { key: 'trellis.serving.pid', value: String(process.pid) },
      ],
    });
    this.runId = run.info.run_id;
    store.runs.logBatch(this.runId, { params: [
      { key: 'sample_rate', value: String(sampleRate) },
      { key: 'models', value: refs.join(',').slice(0, LIMITS.paramValueLength) },
    ] });
    this.file = store.artifacts.resolve(`${ArtifactStore.relativeOfUri(run.info.artifact_uri)!}/${INFERENCE_LOG_FILE}`);
    mkdirSync(dirname(this.file), { recursive: true });
    this.timer = setInterval(() => this.flushSafely(), options.flushMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Decides whether this request is logged; if so, summarises its inputs now (the engine may hand their
   * buffers to a worker thread) and returns the record to complete.
   */
  sample(model: { name: string; version: string }, inputs: Tensor[]): SampledInference | undefined {
    if (this.closed || (this.options.random ?? Math.random)() >= this.options.sampleRate) return undefined;
    const summaries = inputs.map((t) => summarize(t));
    const time = Date.now();
    const started = performance.now();
    return {
      done: (outputs) => {
        if (this.closed) return;
        this.buffer.push({
          time,
          model: model.name,
          version: model.version,
          latency_ms: performance.now() - started,
          inputs: summaries,
          outputs: outputs.map((t) => (t.data.length <= WHOLE_OUTPUT_ELEMENTS ? { name: t.name, datatype: t.datatype, shape: t.shape, data: values(t.data, t.data.length) } : summarize(t))),
        });
      },
    };
  }

  /** Writes buffered records: JSON lines appended to the artifact, latencies as metrics (one transaction). */
  flush(): void {
    if (this.buffer.length === 0) return;
    const records = this.buffer;
    this.buffer = [];
    appendFileSync(this.file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const metrics: Metric[] = records.map((r) => ({ key: 'latency_ms', value: r.latency_ms, timestamp: r.time, step: this.logged++ }));
    for (let i = 0; i < metrics.length; i += LIMITS.metricsPerBatch) this.options.store.runs.logBatch(this.runId, { metrics: metrics.slice(i, i + LIMITS.metricsPerBatch) });
  }

  private flushSafely(): void {
    try {
      this.flush();
    } catch (err) {
      // Logging is best effort: a busy or full disk must not take serving down.
      this.options.log?.(`inference log: ${(err as Error).message}`);
    }
  }

  /** Writes what is buffered and ends the run (FINISHED). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flushSafely();
    this.options.store.runs.update(this.runId, { status: 'FINISHED', end_time: Date.now() });
  }
}

function summarize(t: Tensor): TensorSummary {
  const out: TensorSummary = { name: t.name, datatype: t.datatype, shape: [...t.shape], head: values(t.data, INPUT_HEAD) };
  if (Array.isArray(t.data) || t.data.length === 0) return out;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < t.data.length; i++) {
    const v = Number(t.data[i]);
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { ...out, mean: sum / t.data.length, min, max };
}

function values(data: Tensor['data'], count: number): (number | string)[] {
  const n = Math.min(count, data.length);
  const out: (number | string)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    out[i] = typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}
