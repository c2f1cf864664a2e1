/**
 * The engine alone, the reference of bench/serving.ts: onnxruntime-node `session.run` of a model in this
 * process — no HTTP, no JSON, no worker thread — with the session options of `trellis serve`'s workers
 * (one intra-op thread, sequential). Run pinned to one core:
 *   taskset -c 0 node --import tsx bench/lib/raw-engine.ts '<JSON spec>'
 * Runs are sequential (one in flight, as one worker does): each makes its input tensor and awaits the
 * run. Prints one JSON line: runs and rows per second, run latency, CPU, the core's share other
 * processes took, RSS, and the first row's outputs (the caller checks them against the reference).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { median, procStatusBytes, quantile } from './common';
import { CoreWatch } from './core-watch';

export interface RawEngineSpec {
  model: string;
  /** batch × features float32 values, little-endian (the caller knows their reference outputs). */
  inputFile: string;
  input: string;
  features: number;
  batch: number;
  core: number;
  warmupS: number;
  durationS: number;
}

export interface RawEngineResult {
  batch: number;
  runs: number;
  rows: number;
  seconds: number;
  runsPerS: number;
  rowsPerS: number;
  runMs: { p50: number; p99: number };
  /** CPU of this process as a share of its core, and the share other processes took. */
  cpu: number;
  others: number;
  rssBytes: number;
  firstRow: number[];
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as RawEngineSpec;
  const session = await ort.InferenceSession.create(spec.model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const bytes = readFileSync(spec.inputFile);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (data.length !== spec.batch * spec.features) throw new Error(`${spec.inputFile} holds ${data.length} floats, expected ${spec.batch} × ${spec.features}`);
  const dims = [spec.batch, spec.features];
  const run = async () => session.run({ [spec.input]: new ort.Tensor('float32', data, dims) });

  const warmEnd = performance.now() + spec.warmupS * 1000;
  let firstRow: number[] = [];
  while (performance.now() < warmEnd) {
    const out = await run();
    const y = Object.values(out)[0]!.data as Float32Array;
    firstRow = Array.from(y.subarray(0, y.length / spec.batch));
  }

  const watch = new CoreWatch(spec.core, process.pid);
  const cpu0 = process.cpuUsage();
  const ms: number[] = [];
  const t0 = performance.now();
  const end = t0 + spec.durationS * 1000;
  for (let now = t0; now < end; ) {
    await run();
    const after = performance.now();
    ms.push(after - now);
    now = after;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result: RawEngineResult = {
    batch: spec.batch,
    runs: ms.length,
    rows: ms.length * spec.batch,
    seconds,
    runsPerS: ms.length / seconds,
    rowsPerS: (ms.length * spec.batch) / seconds,
    runMs: { p50: median(ms), p99: quantile(ms, 0.99) },
    cpu: (cpu.user + cpu.system) / 1e6 / seconds,
    others: watch.read().others,
    rssBytes: procStatusBytes(process.pid, 'VmRSS'),
    firstRow,
  };
  await session.release();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
