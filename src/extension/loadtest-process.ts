import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorSpec } from '../engines/onnx/types';
import { randomInferenceBodies } from '../services/loadtest/model-requests';
import { serverRuntime } from './platform-process';

/** How the load is applied: a constant arrival rate (open model) or a fixed number of busy connections (closed). */
export type LoadShape = { kind: 'rate'; rps: number } | { kind: 'connections'; connections: number };

export interface LoadTestRequest {
  /** What to test: the platform host's inference URL of a version, or a model a `trellis serve` process announced. */
  target: { kind: 'url'; url: string; inputs: TensorSpec[] } | { kind: 'model'; ref: string };
  shape: LoadShape;
  /** `trellis loadtest -d` syntax: 10s, 1m. */
  duration: string;
  /** `trellis loadtest --threshold` expressions: p99<50ms, errors<1%. */
  thresholds: string[];
  name: string;
}

export interface LoadTestOutcome {
  runId: string | null;
  /** The CLI's exit: 0 pass, 2 a threshold failed, 130 interrupted (what was measured is still recorded). */
  exitCode: number;
  failedThresholds: string[];
  rps: number;
  p99: number;
}

/** Distinct random bodies cycled through: enough that the response cache cannot answer them all. */
const BODIES = 256;

/** The argv of `trellis loadtest` for a request; `rowsFile` holds the bodies of a URL target. */
export function loadTestArgs(req: LoadTestRequest, rowsFile?: string): string[] {
  const args = ['loadtest'];
  if (req.target.kind === 'model') args.push('--model', req.target.ref);
  else args.push(req.target.url, '-X', 'POST', '-H', 'Content-Type: application/json', '--template', '{{row}}', '--rows', rowsFile!);
  if (req.shape.kind === 'rate') args.push('--rate', String(req.shape.rps));
  else args.push('-c', String(req.shape.connections));
  args.push('-d', req.duration, '--name', req.name, '--json');
  for (const t of req.thresholds) args.push('--threshold', t);
  return args;
}

/**
 * Runs `trellis loadtest` in its own process (the load generator must not share the extension host's
 * event loop), which records the test as a run of the `load-tests` experiment. Aborting sends SIGINT: the
 * CLI stops, reports what it measured and records the run as KILLED.
 */
export async function runLoadTestProcess(
  cli: string,
  platform: { dataDir: string; url: string },
  req: LoadTestRequest,
  options: { signal?: AbortSignal; log: (line: string) => void },
): Promise<LoadTestOutcome> {
  const scratch = mkdtempSync(join(tmpdir(), 'trellis-loadtest-'));
  try {
    let rowsFile: string | undefined;
    if (req.target.kind === 'url') {
      rowsFile = join(scratch, 'bodies.jsonl');
      writeFileSync(rowsFile, randomInferenceBodies(req.target.inputs, BODIES).join('\n') + '\n');
    }
    const { command, env } = serverRuntime();
    const argv = [cli, '--data-dir', platform.dataDir, '--url', platform.url, ...loadTestArgs(req, rowsFile)];
    options.log(`load test: ${command} ${argv.join(' ')}`);
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (c, signal) => resolve({ code: c ?? (signal ? 130 : 1), stdout: out, stderr: err }));
      options.signal?.addEventListener('abort', () => child.kill('SIGINT'), { once: true });
    });
    if (stderr.trim()) options.log(`load test output:\n${stderr.trimEnd()}`);
    let report: { run_id?: string | null; result?: { throughputRps?: number; latency?: { p99?: number } }; verdicts?: { expression: string; pass: boolean }[] };
    try {
      report = JSON.parse(stdout);
    } catch {
      const why = stderr.trim().split('\n').filter((l) => !/^\s*[\d.]+s\s/.test(l)).slice(-3).join(' ');
      throw new Error(`trellis loadtest failed (exit ${code}): ${why || 'no output'}`);
    }
    return {
      runId: report.run_id ?? null,
      exitCode: code,
      failedThresholds: (report.verdicts ?? []).filter((v) => !v.pass).map((v) => v.expression),
      rps: report.result?.throughputRps ?? 0,
      p99: report.result?.latency?.p99 ?? NaN,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
