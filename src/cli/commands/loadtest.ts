import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { processAlive, readServerFile } from '../../core/server-file';
import { formatDurationMs, formatStages, parseDuration, parseStages } from '../../services/loadtest/parse';
import { compileTemplate } from '../../services/loadtest/template';
import { errorRatePct, evaluateThresholds, parseThresholds, totalErrors, type ThresholdVerdict } from '../../services/loadtest/thresholds';
import type { RecordedLoadTest } from '../../services/loadtest/record';
import type { CompareRow } from '../../services/loadtest/compare';
import type { LoadTestPlan, LoadTestProgress, LoadTestResult, OpenModel, RequestSpec } from '../../services/loadtest/types';
import { connect, type Connection, type GlobalOptions } from '../connect';
import { print, table } from '../format';
import { wholeNumber } from '../flags';

/** Hard bounds: every test stops by itself. */
export const MAX_DURATION_MS = 3_600_000;
export const MAX_REQUESTS = 100_000_000;
const MAX_CONNECTIONS = 10_000;
const MAX_WORKERS = 64;
const MAX_TIMEOUT_MS = 600_000;
const DEFAULT_CONNECTIONS = 10;
const DEFAULT_OPEN_CONNECTIONS = 100;
const DEFAULT_DURATION_MS = 10_000;
const DEFAULT_TIMEOUT = '10s';
/** Without a TTY (CI logs), one progress line every this long. */
const PLAIN_PROGRESS_EVERY_MS = 5_000;

interface LoadtestOptions {
  model?: string;
  method?: string;
  header?: string[];
  body?: string;
  bodyFile?: string;
  template?: string;
  rows?: string;
  connections?: string;
  rate?: string;
  stages?: string;
  duration?: string;
  requests?: string;
  workers?: string;
  timeout?: string;
  threshold?: string[];
  allowRemote?: boolean;
  name?: string;
  record: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function positiveNumber(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new Error(`${flag} must be a number > 0 and ≤ ${max}, got '${text}'.`);
  return n;
}

function duration(flag: string, text: string, max: number): number {
  const ms = parseDuration(text);
  if (ms <= 0) throw new Error(`${flag} must be longer than 0, got '${text}'.`);
  if (ms > max) throw new Error(`${flag} ${text} exceeds the limit of ${formatDurationMs(max)}.`);
  return ms;
}

function readBytes(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
}

const readText = (flag: string, path: string): string => readBytes(flag, path).toString('utf8');

/** A body file's bytes as they are, as text when they are UTF-8 (a binary protocol's body is not). */
function bodyOfFile(path: string): { body: string | Uint8Array; text?: string } {
  const bytes = readBytes('--body-file', path);
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { body: text, text };
  } catch {
    return { body: new Uint8Array(bytes) };
  }
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    const name = at > 0 ? line.slice(0, at).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`-H '${line}': expected 'Name: value', e.g. -H 'Content-Type: application/json'.`);
    headers[name.toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

/** Requests an open model schedules in all: the first stage is constant, later ones ramp linearly. */
function scheduledRequests(stages: OpenModel['stages']): number {
  let previous = stages[0]?.targetRps ?? 0;
  let total = 0;
  for (const s of stages) {
    total += ((previous + s.targetRps) / 2) * (s.durationMs / 1000);
    previous = s.targetRps;
  }
  return total;
}

/** The plan a command line asks for, every bound checked before any traffic. */
export function buildPlan(url: string, opts: LoadtestOptions): LoadTestPlan {
  const bodySources = [opts.body !== undefined && '--body', opts.bodyFile !== undefined && '--body-file', opts.template !== undefined && '--template'].filter(Boolean);
  if (bodySources.length > 1) throw new Error(`Give one of --body, --body-file and --template, not ${bodySources.join(' and ')}.`);
  if (opts.rows !== undefined && opts.template === undefined) throw new Error('--rows feeds {{row}} in a --template: give --template too.');

  let body: RequestSpec['body'];
  let bodyText: string | undefined;
  if (opts.body !== undefined) body = bodyText = opts.body;
  else if (opts.bodyFile !== undefined) ({ body, text: bodyText } = bodyOfFile(opts.bodyFile));
  else if (opts.template !== undefined) {
    const template = opts.template.startsWith('@') ? readText('--template', opts.template.slice(1)) : opts.template;
    const rows = opts.rows !== undefined ? readText('--rows', opts.rows).split(/\r?\n/).filter((l) => l !== '') : undefined;
    if (rows !== undefined && rows.length === 0) throw new Error(`--rows ${opts.rows} has no lines.`);
    body = rows ? { template, rows } : { template };
    compileTemplate(body); // a bad placeholder fails now, not on the first request
    bodyText = template;
  }
  const method = (opts.method ?? (body !== undefined ? 'POST' : 'GET')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new Error(`-X ${opts.method}: not an HTTP method.`);
  const headers = parseHeaders(opts.header ?? []);
  if (bodyText !== undefined && headers['content-type'] === undefined && /^\s*[[{]/.test(bodyText)) headers['content-type'] = 'application/json';

  const workers = opts.workers !== undefined ? wholeNumber('--workers', opts.workers, 1, MAX_WORKERS) : 1;
  const timeoutMs = duration('--timeout', opts.timeout ?? DEFAULT_TIMEOUT, MAX_TIMEOUT_MS);
  const connections = opts.connections !== undefined ? wholeNumber('-c/--connections', opts.connections, 1, MAX_CONNECTIONS) : undefined;
  const requests = opts.requests !== undefined ? wholeNumber('-n/--requests', opts.requests, 1, MAX_REQUESTS) : undefined;
  const durationMs = opts.duration !== undefined ? duration('-d/--duration', opts.duration, MAX_DURATION_MS) : undefined;
  if (opts.rate !== undefined && opts.stages !== undefined) throw new Error('Give --rate (one constant rate) or --stages (a schedule), not both.');

  let model: LoadTestPlan['model'];
  if (opts.rate !== undefined || opts.stages !== undefined) {
    let stages: OpenModel['stages'];
    if (opts.stages !== undefined) {
      if (durationMs !== undefined) throw new Error('--stages sets the duration (the sum of its stages): drop -d.');
      if (requests !== undefined) throw new Error('-n bounds -c or --rate tests; with --stages the schedule sets the count.');
      stages = parseStages(opts.stages);
    } else {
      const rate = positiveNumber('--rate', opts.rate!, MAX_REQUESTS);
      // At a constant rate a request count is a duration: n requests take n / rate seconds.
      const forCount = requests !== undefined ? Math.ceil((requests / rate) * 1000) : undefined;
      const ms = Math.min(durationMs ?? forCount ?? DEFAULT_DURATION_MS, forCount ?? Infinity);
      if (ms > MAX_DURATION_MS) throw new Error(`-n ${requests} at --rate ${rate} would take ${formatDurationMs(ms)}, beyond the limit of ${formatDurationMs(MAX_DURATION_MS)}.`);
      stages = [{ durationMs: ms, targetRps: rate }];
    }
    const total = stages.reduce((sum, s) => sum + s.durationMs, 0);
    if (total > MAX_DURATION_MS) throw new Error(`The stages last ${formatDurationMs(total)}, beyond the limit of ${formatDurationMs(MAX_DURATION_MS)}.`);
    const scheduled = scheduledRequests(stages);
    if (scheduled > MAX_REQUESTS) throw new Error(`The schedule sends about ${Math.round(scheduled)} requests, beyond the limit of ${MAX_REQUESTS}.`);
    model = { kind: 'open', stages, maxConnections: connections ?? DEFAULT_OPEN_CONNECTIONS };
  } else {
    model = {
      kind: 'closed',
      connections: connections ?? DEFAULT_CONNECTIONS,
      // Both bounds always: a request count alone still stops at the time limit, and the other way round.
      durationMs: durationMs ?? (requests !== undefined ? MAX_DURATION_MS : DEFAULT_DURATION_MS),
      requests: requests ?? MAX_REQUESTS,
    };
  }
  return { request: { method, url, headers, ...(body !== undefined ? { body } : {}) }, model, workers, timeoutMs };
}

const ms = (v: number): string => (!Number.isFinite(v) ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(1));
const pct = (v: number): string => `${v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(2)}%`;
const rate = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

function describePlan(plan: LoadTestPlan): string {
  const m = plan.model;
  const what =
    m.kind === 'closed'
      ? `closed model, ${m.connections} connection${m.connections === 1 ? '' : 's'}, up to ${formatDurationMs(m.durationMs ?? MAX_DURATION_MS)}${m.requests !== undefined && m.requests < MAX_REQUESTS ? ` or ${m.requests} requests` : ''}`
      : `open model, ${m.stages.length === 1 ? `${m.stages[0]!.targetRps} req/s for ${formatDurationMs(m.stages[0]!.durationMs)}` : `stages ${formatStages(m.stages)}`}, up to ${m.maxConnections} connections`;
  return `${plan.request.method} ${plan.request.url} — ${what}${plan.workers > 1 ? `, ${plan.workers} workers` : ''}`;
}

/** The live line on stderr: rewritten in place on a terminal, a plain line every 5 s otherwise. */
function progressPrinter(stream: NodeJS.WriteStream): { update(p: LoadTestProgress): void; done(): void } {
  const tty = stream.isTTY === true;
  let lastPlain = 0;
  let shown = false;
  const line = (p: LoadTestProgress) =>
    `${(p.elapsedMs / 1000).toFixed(1).padStart(6)}s  ${rate(p.rps).padStart(7)} req/s  p99 ${ms(p.p99)} ms  errors ${p.errors}${p.requests > 0 ? ` (${pct((p.errors / p.requests) * 100)})` : ''}  requests ${p.requests}`;
  return {
    update(p) {
      if (tty) {
        stream.write(`\r\x1b[K${line(p)}`);
        shown = true;
      } else if (p.elapsedMs - lastPlain >= PLAIN_PROGRESS_EVERY_MS) {
        lastPlain = p.elapsedMs;
        stream.write(`${line(p)}\n`);
      }
    },
    done() {
      if (tty && shown) stream.write('\r\x1b[K');
    },
  };
}

function report(plan: LoadTestPlan, result: LoadTestResult, verdicts: ThresholdVerdict[], recorded: (RecordedLoadTest & { experiment: string }) | undefined, interrupted: boolean): string {
  const errors = totalErrors(result.errors);
  const l = result.latency;
  const lines = [
    describePlan(plan),
    '',
    `${result.requests} requests in ${(result.durationMs / 1000).toFixed(2)} s: ${rate(result.throughputRps)} req/s, ${result.ok} ok, ${errors} errors (${pct(errorRatePct(result))})${interrupted ? '  [interrupted]' : ''}`,
    '',
    'Latency (ms)',
    table(['P50', 'P90', 'P95', 'P99', 'P99.9', 'MAX', 'MEAN', 'STDDEV'], [[l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean, l.stddev].map((v) => (l.count === 0 ? '-' : ms(v)))]),
  ];
  if (errors > 0) {
    const kinds = Object.entries(result.errors).filter(([, n]) => (n ?? 0) > 0).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0));
    lines.push('', 'Errors', table(['KIND', 'COUNT'], kinds.map(([k, n]) => [k, n])));
  }
  if (plan.model.kind === 'open' || result.late > 0 || result.unsent > 0) {
    lines.push('', `Late ${result.late} (sent after their scheduled time), unsent ${result.unsent} (scheduled, not sent before the end)`);
  }
  if (verdicts.length > 0) {
    lines.push('', 'Thresholds', table(['THRESHOLD', 'MEASURED', 'RESULT'], verdicts.map((v) => [v.expression, v.detail ?? String(v.actual), v.pass ? 'pass' : 'FAIL'])));
  }
  lines.push('', recorded ? `Recorded run ${recorded.run_id} in experiment ${recorded.experiment} (${recorded.experiment_id}).` : 'Not recorded (--no-record).');
  return lines.join('\n');
}

export function loadtestCommand(program: Command, globals: () => GlobalOptions): void {
  const loadtest = program
    .command('loadtest')
    .description('Load-test a local HTTP endpoint (closed or open model), gate on thresholds and record the result as a run of the load-tests experiment')
    .argument('[url]', 'endpoint to test: loopback or the Trellis server by default (see --allow-remote)')
    .option('--model <ref>', 'a model served by `trellis serve`, NAME@ALIAS or NAME/VERSION: bodies are made from its signature (random, or --rows FILE of JSON rows)')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with a body)')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collect)
    .option('--body <text>', 'request body')
    .option('--body-file <path>', 'request body from a file, sent byte for byte (binary bodies too)')
    .option('--template <text|@file>', 'body template: {{seq}} {{uuid}} {{random_int:lo:hi}} {{random_float:lo:hi}} {{row}}')
    .option('--rows <file>', 'lines for {{row}} in --template, cycled; with --model, JSON rows of input values')
    .option('-c, --connections <n>', `closed model: connections (default ${DEFAULT_CONNECTIONS}); with --rate/--stages: most connections (default ${DEFAULT_OPEN_CONNECTIONS})`)
    .option('--rate <n>', 'open model: requests per second at constant arrival')
    .option('--stages <spec>', 'open model: rate stages, e.g. 30s:100,60s:500 (ramps linearly between targets)')
    .option('-d, --duration <duration>', `how long to run, e.g. 30s, 2m (default ${formatDurationMs(DEFAULT_DURATION_MS)}; at most ${formatDurationMs(MAX_DURATION_MS)})`)
    .option('-n, --requests <n>', `stop after this many requests (at most ${MAX_REQUESTS})`)
    .option('--workers <n>', `worker threads sharing the load (default 1, at most ${MAX_WORKERS})`)
    .option('--timeout <duration>', `a request without a reply after this long is a timeout error (default ${DEFAULT_TIMEOUT})`)
    .option('--threshold <expr>', "pass/fail gate, e.g. 'p99<50ms', 'errors<1%', 'rps>1000', 'late<1%' (repeatable; exit 2 when one fails)", collect)
    .option('--allow-remote', 'allow a target that is neither loopback nor the Trellis server')
    .option('--name <name>', 'run name (default: loadtest <host/path> <time>)')
    .option('--no-record', 'do not record the test as a run')
    .option('--json', 'print the result, verdicts and run id as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  trellis loadtest http://127.0.0.1:8080/predict -c 32 -d 30s',
        "  trellis loadtest http://127.0.0.1:8080/predict --rate 500 -d 1m --threshold 'p99<50ms' --threshold 'errors<1%'",
        "  trellis loadtest http://127.0.0.1:8080/predict --stages 30s:100,60s:500 --template '{\"id\": {{seq}}}'",
        '  trellis loadtest compare <run-a> <run-b>',
        '',
        'Exit codes: 0 all thresholds pass, 2 a threshold failed (named on stderr), 1 an error,',
        '130 interrupted (Ctrl-C: what was measured is still reported, and recorded as a KILLED run).',
        'Options of trellis itself (-d/--data-dir, --url, --token) go before `loadtest`; here -d is the duration.',
      ].join('\n'),
    )
    .action(async (url: string | undefined, opts: LoadtestOptions) => {
      // Loaded here, not at the CLI's start (see esbuild.mjs): DNS and sockets for the target check, the artifact store.
      const [{ checkTarget }, { planParams, LOADTEST_EXPERIMENT }] = await Promise.all([
        import('../../services/loadtest/target-safety.js'),
        import('../../services/loadtest/record.js'),
      ]);
      const g = globals();
      const thresholds = parseThresholds(opts.threshold ?? []);
      let plan: LoadTestPlan;
      if (opts.model !== undefined) {
        if (url) throw new Error('Give either the endpoint URL or --model, not both.');
        if (opts.body !== undefined || opts.bodyFile !== undefined || opts.template !== undefined) {
          throw new Error('--model makes the request bodies from the model signature (--rows FILE gives sample rows instead): drop --body, --body-file and --template.');
        }
        const { modelTarget } = await import('./loadtest-model.js');
        const target = await modelTarget(resolve(g.dataDir), opts.model, opts.rows);
        url = target.url;
        const base = buildPlan(url, { ...opts, rows: undefined, method: 'POST' });
        plan = { ...base, request: { ...base.request, headers: { ...target.headers, ...base.request.headers }, body: { template: '{{row}}', rows: target.bodies } } };
      } else {
        if (!url) throw new Error('Give the endpoint to test, e.g. trellis loadtest http://127.0.0.1:8080/predict, or --model NAME@ALIAS (see trellis loadtest --help).');
        plan = buildPlan(url, opts);
      }

      // Refuse a target before any traffic, and before anything is started.
      const announced = g.url ? undefined : readServerFile(resolve(g.dataDir));
      const trellisUrl = g.url ?? (announced && processAlive(announced.pid) ? announced.url : undefined);
      await checkTarget(url, { allowRemote: !!opts.allowRemote, ...(trellisUrl ? { trellisUrl } : {}) });

      // Connect first, so an unreachable platform fails now and not after the test.
      const connection: Connection | undefined = opts.record ? await connect(g) : undefined;
      try {
        const controller = new AbortController();
        let interrupted = false;
        const onSigint = () => {
          if (interrupted) process.exit(130);
          interrupted = true;
          process.stderr.write('\nInterrupted: stopping the test and reporting what was measured (Ctrl-C again to quit at once)…\n');
          controller.abort();
        };
        process.on('SIGINT', onSigint);
        if (!opts.json) process.stderr.write(`${describePlan(plan)}\n`);
        const progress = progressPrinter(process.stderr);
        let result: LoadTestResult;
        try {
          // Loaded here, not at the CLI's start (see esbuild.mjs): the engine, its workers' code and HDR histograms.
          const { runLoadTest } = await import('../../services/loadtest/engine.js');
          result = await runLoadTest(plan, { onProgress: (p) => progress.update(p), signal: controller.signal });
        } finally {
          progress.done();
          process.off('SIGINT', onSigint);
        }

        const verdicts = evaluateThresholds(thresholds, result);
        const params = planParams(plan);
        let recorded: (RecordedLoadTest & { experiment: string }) | undefined;
        let recordError: Error | undefined;
        if (connection) {
          try {
            const run = await connection.client.recordLoadTest({
              target: url,
              ...(opts.model ? { model: opts.model } : {}),
              params,
              result,
              verdicts,
              ...(opts.name ? { name: opts.name } : {}),
              ...(interrupted ? { interrupted } : {}),
            });
            recorded = { ...run, experiment: LOADTEST_EXPERIMENT };
          } catch (err) {
            recordError = err as Error;
          }
        }
        print({ target: url, params, result, verdicts, run_id: recorded?.run_id ?? null, experiment_id: recorded?.experiment_id ?? null, interrupted }, !!opts.json, () =>
          report(plan, result, verdicts, recorded, interrupted),
        );
        if (recordError) throw new Error(`the test ran but could not be recorded: ${recordError.message}`);

        const failed = verdicts.filter((v) => !v.pass);
        for (const v of failed) process.stderr.write(`threshold failed: ${v.expression} (${v.detail ?? v.actual})\n`);
        process.exitCode = failed.length > 0 ? 2 : interrupted ? 130 : 0;
      } finally {
        await connection?.release();
      }
      // Nothing should be left running; if something is, it must not keep a CI job waiting.
      setTimeout(() => process.exit(), 2_000).unref();
    });

  loadtest
    .command('compare <run-a> <run-b>')
    .description('Compare two recorded load tests: summary metrics, deltas and which is better, and their params')
    .option('--json', 'print JSON')
    .action(async (runA: string, runB: string, opts: { json?: boolean }) => {
      const { compareLoadTests } = await import('../../services/loadtest/compare.js');
      const { client, release } = await connect(globals());
      try {
        const [a, b] = await Promise.all([client.getRun(runA), client.getRun(runB)]);
        const cmp = compareLoadTests(a, b);
        print(cmp, !!opts.json, () => {
          const cell = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4));
          const delta = (r: CompareRow) => (r.delta === null ? '-' : `${r.delta > 0 ? '+' : ''}${cell(r.delta)}`);
          const deltaPct = (r: CompareRow) => (r.deltaPct === null ? '-' : `${r.deltaPct > 0 ? '+' : ''}${r.deltaPct.toFixed(1)}%`);
          return [
            `A  ${cmp.a.run_id}  ${cmp.a.run_name}`,
            `B  ${cmp.b.run_id}  ${cmp.b.run_name}`,
            '',
            table(['METRIC', 'A', 'B', 'DELTA', 'DELTA%', 'BETTER'], cmp.rows.map((r) => [r.metric, cell(r.a), cell(r.b), delta(r), deltaPct(r), r.better === 'same' ? '=' : r.better.toUpperCase()])),
            '',
            'Params',
            table(['PARAM', 'A', 'B', ''], cmp.params.map((p) => [p.param, p.a ?? '-', p.b ?? '-', p.same ? '' : '≠'])),
          ].join('\n');
        });
      } finally {
        await release();
      }
    });
}
