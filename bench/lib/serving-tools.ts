/**
 * What bench/serving.ts drives: the MLP registered in a temp data dir, the servers it compares (`trellis
 * serve`, the bare Node server, a Python server), each pinned to one core, the load generator run
 * (`trellis loadtest`) pinned to the other, and the readings that tell whether another process took a
 * core meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { SERVER_NODE_FLAGS } from '../../src/core/server-node-flags';
import { openStore } from '../../src/core/store';
import { MLP_INPUT, MLP_OUTPUT } from '../../test/fixtures/onnx-models';
import { registerModel } from '../../test/support/models';
import { REPO_ROOT, onCleanup, procStatusBytes, sleep, spawnPinned, startServer, type Pinned } from './common';
import { CoreWatch } from './core-watch';
import { parseTrellis, runPinned, shellQuote, type GeneratorResult, type ToolRun } from './loadtest-tools';

export const MODEL_NAME = 'mlp';
export const MODEL_ALIAS = 'bench';

// ---------------------------------------------------------------------------------------------
// The model and its requests

/** Registers the model's bytes as version 1 of `mlp`, alias `bench`, in `dataDir` (a fresh SQLite file). */
export async function registerMlp(dataDir: string, bytes: Uint8Array): Promise<string> {
  const store = openStore(dataDir);
  try {
    return await registerModel(store, MODEL_NAME, bytes, { alias: MODEL_ALIAS });
  } finally {
    store.close();
  }
}

/** The KServe v2 JSON request every server gets: one row of 784 floats (JSON numbers, as a client's `tolist()` writes them). */
export function kserveRequestBody(row: Float32Array): string {
  if (row.length !== MLP_INPUT) throw new Error(`a request row must hold ${MLP_INPUT} floats, got ${row.length}`);
  return JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data: Array.from(row) }] });
}

/**
 * The same request in the protocol's binary tensor extension: a JSON header naming the input and its
 * byte size, then the row's float32 bytes (little-endian); sent with `Inference-Header-Content-Length`.
 */
export function kserveBinaryRequest(row: Float32Array): { body: Buffer; headerLength: number } {
  if (row.length !== MLP_INPUT) throw new Error(`a request row must hold ${MLP_INPUT} floats, got ${row.length}`);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', parameters: { binary_data_size: row.byteLength } }] }));
  return { body: Buffer.concat([header, Buffer.from(row.buffer, row.byteOffset, row.byteLength)]), headerLength: header.length };
}

/** The 10 logits of a KServe v2 JSON reply, or an error saying what the reply was. */
export function logitsOf(reply: string): number[] {
  let data: unknown;
  try {
    data = (JSON.parse(reply) as { outputs?: { data?: unknown }[] }).outputs?.[0]?.data;
  } catch {
    throw new Error(`the reply is not JSON: ${reply.slice(0, 200)}`);
  }
  const flat = Array.isArray(data) ? (data.flat(2) as unknown[]) : [];
  if (flat.length !== MLP_OUTPUT || !flat.every((v) => typeof v === 'number')) {
    throw new Error(`the reply holds no ${MLP_OUTPUT} logits in outputs[0].data: ${reply.slice(0, 300)}`);
  }
  return flat as number[];
}

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? max : Infinity;
};

/** POST a body (JSON unless `headers` say otherwise) on a fresh connection (no keep-alive: it must not linger beside the generator's). */
export function postJson(url: string, body: string | Buffer, timeoutMs = 5000, headers: Record<string, string> = { 'Content-Type': 'application/json' }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, timeout: timeoutMs, headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET on a fresh connection. */
export function getText(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Servers

export interface Served {
  label: string;
  pid: number;
  /** Where the generator POSTs. */
  inferUrl: string;
  /** The command line, as a user would type it to reproduce the server. */
  command: string;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * `trellis serve --model mlp@bench --port 0 <extra>` pinned to `core`, ready once it has announced
 * itself in `<dataDir>/endpoints/<pid>.json` (the model is loaded by then).
 */
export async function startTrellisServe(core: number, dataDir: string, extra: string[], label: string): Promise<Served> {
  // Node's flags as the `trellis` launcher and every server Trellis starts pass them (src/core/server-node-flags.ts).
  const proc: Pinned = spawnPinned(core, [...SERVER_NODE_FLAGS, 'dist/cli.js', '-d', dataDir, 'serve', '--model', `${MODEL_NAME}@${MODEL_ALIAS}`, '--port', '0', ...extra]);
  const file = join(dataDir, 'endpoints', `${proc.pid}.json`);
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    if (proc.child.exitCode !== null) throw new Error(`${label} exited with ${proc.child.exitCode} before it was ready:\n${proc.stderr()}`);
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`${label} wrote no ${file} within 30 s:\n${proc.stderr()}`);
    }
    if (existsSync(file)) {
      try {
        url = (JSON.parse(readFileSync(file, 'utf8')) as { url: string }).url;
      } catch {
        /* half written: retry */
      }
    }
    if (!url) await sleep(50);
  }
  return { label, pid: proc.pid, inferUrl: `${url}/v2/models/${MODEL_NAME}/infer`, command: proc.command, stop: () => stopChild(proc.child, proc.exited, 10_000) };
}

/**
 * The bare Node server (bench/lib/bare-server.ts) answering `replyFile`'s bytes, bundled like
 * dist/cli.js so that neither carries tsx's loader (a fair RSS).
 */
export async function startBareServer(core: number, dir: string, replyFile: string): Promise<Served> {
  const outfile = join(dir, 'bare-server.js');
  await esbuild.build({
    entryPoints: [join(REPO_ROOT, 'bench', 'lib', 'bare-server.ts')],
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'warning',
  });
  const server = await startServer(core, [outfile, dir, replyFile], dir, 'bare server');
  return { label: 'bare node:http', pid: server.pid, inferUrl: `${server.url}/v2/models/${MODEL_NAME}/infer`, command: server.command, stop: () => server.stop(3000) };
}

/**
 * Any other server (the Python reference) pinned to `core`: `argv` runs under `taskset -c core`. It is
 * ready once it has printed a line matching `announce` (group 1: its base URL, e.g. `listening on
 * (http://\S+)`) and a POST of `probeBody` to `<base><inferPath>` answers 200 (imports of torch take seconds).
 */
export async function startPinnedServer(
  core: number,
  argv: string[],
  options: { label: string; announce: RegExp; inferPath: string; probeBody: string; readyTimeoutMs: number },
): Promise<Served> {
  const child = spawn('taskset', ['-c', String(core), ...argv], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error('taskset could not be started (is util-linux installed?)');
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const command = ['taskset', '-c', String(core), ...argv].map(shellQuote).join(' ');
  const deadline = Date.now() + options.readyTimeoutMs;
  let inferUrl: string | undefined;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${options.label} exited (${child.exitCode ?? child.signalCode}) before it answered:\n${output.slice(-2000)}`);
    const base = options.announce.exec(output)?.[1];
    try {
      if (!base) throw new Error(`it printed no line matching ${options.announce}`);
      inferUrl = `${base.replace(/\/$/, '')}${options.inferPath}`;
      const res = await postJson(inferUrl, options.probeBody, 2000);
      if (res.status === 200) break;
      throw new Error(`POST ${inferUrl}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${options.label} was not ready within ${options.readyTimeoutMs / 1000} s (${(err as Error).message}):\n${output.slice(-2000)}`);
      }
      await sleep(200);
    }
  }
  return { label: options.label, pid: child.pid, inferUrl, command, stop: () => stopChild(child, exited, 5000) };
}

// ---------------------------------------------------------------------------------------------
// Memory

export interface Memory {
  /** Resident now, and at its peak (VmHWM), in bytes. */
  rss: number;
  hwm: number;
}

export function memoryOf(pid: number): Memory {
  return { rss: procStatusBytes(pid, 'VmRSS'), hwm: procStatusBytes(pid, 'VmHWM') };
}

// ---------------------------------------------------------------------------------------------
// The load generator

export interface LoadSpec {
  url: string;
  bodyFile: string;
  /** Request headers beyond the generator's own (`Name: value`). */
  headers?: string[];
  connections: number;
  durationS: number;
  /** A data dir with no server in it: `trellis loadtest --no-record` then touches nothing. */
  dataDir: string;
}

export interface LoadRun {
  command: string;
  ok: boolean;
  error?: string;
  result?: GeneratorResult;
  /** The generator on its core: CPU and time waiting for that core (other processes), over the load. */
  generator: Pick<ToolRun, 'pid' | 'loadCpu' | 'loadWait' | 'code' | 'timedOut'>;
  /** The server's core over the run: share other processes took, and the server's own CPU. */
  serverCore: { others: number; own: number };
}

/** `trellis loadtest <url> --body-file F -c N -d Ds --no-record --json`, pinned to `core`, while watching the server's core. */
export async function runLoad(core: number, server: { pid: number; core: number }, spec: LoadSpec): Promise<LoadRun> {
  const rest = [
    'dist/cli.js', '-d', spec.dataDir, 'loadtest', spec.url, '--body-file', spec.bodyFile, ...(spec.headers ?? []).flatMap((h) => ['-H', h]),
    '-c', String(spec.connections), '-d', `${spec.durationS}s`, '--no-record', '--json',
  ];
  const watch = new CoreWatch(server.core, server.pid);
  const run = await runPinned(core, [process.execPath, ...rest], 'trellis loadtest', { timeoutMs: (spec.durationS + 30) * 1000, loadS: spec.durationS, display: ['node', ...rest] });
  const serverCore = watch.read();
  let result: GeneratorResult | undefined;
  let error: string | undefined;
  if (run.code !== 0) {
    error = `trellis loadtest ${run.timedOut ? 'timed out' : `exited with ${run.code ?? run.signal}`}: ${run.stderr.trim().slice(-500)}`;
  } else {
    try {
      result = parseTrellis(run.stdout);
    } catch (err) {
      error = (err as Error).message.slice(0, 800);
    }
  }
  return {
    command: run.command,
    ok: result !== undefined,
    ...(error ? { error } : {}),
    ...(result ? { result } : {}),
    generator: { pid: run.pid, loadCpu: run.loadCpu, loadWait: run.loadWait, code: run.code, timedOut: run.timedOut },
    serverCore,
  };
}

/**
 * Rows and engine runs the dynamic batcher has made so far, from `trellis serve`'s /metrics (the
 * trellis_batch_size histogram: sum = rows, count = runs); NaN when the server does not report them.
 */
export async function batchCounters(inferUrl: string): Promise<{ rows: number; runs: number }> {
  try {
    const res = await getText(`${new URL(inferUrl).origin}/metrics`);
    const sample = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(res.body)?.[1] ?? NaN);
    return { rows: sample('trellis_batch_size_sum'), runs: sample('trellis_batch_size_count') };
  } catch {
    return { rows: NaN, runs: NaN };
  }
}
