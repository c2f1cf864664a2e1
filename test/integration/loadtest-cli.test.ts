// `trellis loadtest` as users run it: the built CLI (`node dist/cli.js`) as a child process against a small
// HTTP server in this process on 127.0.0.1:0, recording into a temp data directory. Only loopback
// traffic; every test is bounded by a short duration or a request count.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store';
import { tempDir } from '../support/platform';
import { cli, ensureBuilt, type Finished } from '../fixtures/processes';

/** The target: `/ok` answers 200, `/fail` 500; it counts requests and keeps bodies. */
interface Target {
  url: string;
  requests: number;
  bodies: string[];
  /** The same bodies as the bytes that arrived. */
  raw: Buffer[];
  methods: Set<string>;
  /** Requests that carried `X-Test: yes`. */
  tagged: number;
  close(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const t = { requests: 0, bodies: [] as string[], raw: [] as Buffer[], methods: new Set<string>(), tagged: 0 };
  const server: Server = createServer((req, res) => {
    t.requests++;
    t.methods.add(req.method ?? '');
    if (req.headers['x-test'] === 'yes') t.tagged++;
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length) {
        t.raw.push(body);
        t.bodies.push(body.toString('utf8'));
      }
      res.writeHead(req.url?.startsWith('/fail') ? 500 : 200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(t, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

const exited = (r: Finished, code: number, what: string) =>
  assert.equal(r.code, code, `${what} exited ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
const runIdOf = (stdout: string): string => {
  const m = /Recorded run ([0-9a-f]{32}) in experiment load-tests/.exec(stdout);
  assert.ok(m, `no recorded run id in:\n${stdout}`);
  return m[1]!;
};

describe('trellis loadtest', () => {
  const { dir, cleanup } = tempDir('trellis-loadtest-cli-');
  let target: Target;
  const recorded: Record<string, string> = {};

  before(async () => {
    ensureBuilt();
    target = await startTarget();
  });
  after(async () => {
    await target.close();
    cleanup();
  });

  /** The store as the CLI left it (each CLI run closes its in-process server and the database). */
  const withStore = <T>(fn: (store: ReturnType<typeof openStore>) => T): T => {
    const store = openStore(dir);
    try {
      return fn(store);
    } finally {
      store.close();
    }
  };

  test('closed model: runs its bound, passes its thresholds (exit 0) and records the run', async () => {
    const before = target.requests;
    const r = await cli(dir, 'loadtest', `${target.url}/ok`, '-c', '2', '-d', '1s', '--timeout', '2s',
      '--threshold', 'p99<5s', '--threshold', 'errors<1%', '--threshold', 'rps>1', '--name', 'closed run');
    exited(r, 0, 'closed run');
    const runId = (recorded.closed = runIdOf(r.stdout));
    assert.match(r.stdout, /req\/s/);
    assert.match(r.stdout, /P50\s+P90\s+P95\s+P99\s+P99\.9\s+MAX\s+MEAN\s+STDDEV/);
    assert.match(r.stdout, /p99<5s\s+p99 = .* s\s+pass/);
    assert.match(r.stdout, /errors<1%\s+errors = 0%\s+pass/);
    assert.match(r.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/ok — closed model, 2 connections/);
    assert.ok(target.requests > before, 'the target saw the traffic');

    withStore((store) => {
      const exp = store.experiments.getByName('load-tests');
      const run = store.runs.get(runId);
      assert.equal(run.info.experiment_id, exp.experiment_id);
      assert.equal(run.info.run_name, 'closed run');
      assert.equal(run.info.status, 'FINISHED');
      const params = Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));
      assert.equal(params.target, `${target.url}/ok`);
      assert.equal(params.mode, 'closed');
      assert.equal(params.connections, '2');
      assert.equal(params.duration_s, '1');
      assert.equal(params.method, 'GET');
      assert.equal(params.workers, '1');
      const latest = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
      assert.ok(latest.requests! > 0 && latest.requests! <= target.requests - before, `requests ${latest.requests}`);
      assert.equal(latest.error_rate, 0);
      for (const key of ['rps', 'errors', 'interval_p50_ms', 'interval_p99_ms']) {
        const history = store.runs.metrics.history(runId, key, 0);
        assert.ok(history.length >= 1, `per-second ${key}`);
        assert.deepEqual(history.map((p) => p.step), history.map((_p, i) => i), `${key} steps are the seconds`);
      }
      const sumRps = store.runs.metrics.history(runId, 'rps', 0).reduce((a, p) => a + p.value, 0);
      assert.equal(sumRps, latest.requests, 'the per-second counts add up to the total');
      const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
      assert.equal(tags['trellis.loadtest'], 'true');
      assert.equal(tags['trellis.threshold.p99_lt_5s'], 'pass');
      assert.equal(tags['trellis.threshold.errors_lt_1pct'], 'pass');
      assert.equal(tags['trellis.threshold.rps_gt_1'], 'pass');
      const files = readdirSync(join(dir, 'artifacts', exp.experiment_id, runId, 'artifacts')).sort();
      assert.deepEqual(files, ['histogram.hgrm', 'result.json']);
    });
  });

  test('open model with a template body: --json parses, each request gets its own {{seq}}, the schedule is the bound', async () => {
    const bodiesBefore = target.bodies.length;
    const r = await cli(dir, 'loadtest', `${target.url}/ok`, '--rate', '40', '-d', '1s', '--timeout', '2s',
      '--template', '{"seq": {{seq}}, "x": {{random_int:1:6}}}', '-H', 'X-Test: yes', '--json');
    exited(r, 0, 'open run');
    const out = JSON.parse(r.stdout);
    recorded.open = out.run_id;
    assert.match(out.run_id, /^[0-9a-f]{32}$/);
    assert.equal(out.params.mode, 'open');
    assert.equal(out.params.rate, 40);
    assert.equal(out.params.method, 'POST');
    assert.deepEqual(out.verdicts, []);
    const res = out.result;
    assert.ok(res.requests > 0);
    assert.ok(res.requests + res.unsent <= 40, `40 arrivals scheduled, got ${res.requests} sent + ${res.unsent} unsent`);
    assert.ok(res.durationMs < 1000 + 2000 + 5000, `the engine's hard cap (duration + timeout + 5 s): ${res.durationMs} ms`);
    assert.equal(typeof res.histogram, 'string');
    assert.ok(Array.isArray(res.perSecond));

    const bodies = target.bodies.slice(bodiesBefore).map((b) => JSON.parse(b));
    assert.equal(bodies.length, res.requests);
    const seqs = new Set(bodies.map((b) => b.seq));
    assert.equal(seqs.size, bodies.length, 'every request had its own {{seq}}');
    assert.ok(bodies.every((b) => Number.isInteger(b.x) && b.x >= 1 && b.x <= 6));
    assert.equal(target.tagged, res.requests, 'every request carried the -H header');
    assert.ok(target.methods.has('POST'), 'a body makes the default method POST');

    withStore((store) => {
      const params = Object.fromEntries(store.runs.get(out.run_id).data.params.map((p) => [p.key, p.value]));
      assert.equal(params.mode, 'open');
      assert.equal(params.rate, '40');
    });
  });

  test('-n bounds a closed test by request count; --no-record records nothing', async () => {
    const before = target.requests;
    const runsBefore = withStore((s) => s.runs.search({ experimentIds: [s.experiments.getByName('load-tests').experiment_id] }).items.length);
    const r = await cli(dir, 'loadtest', `${target.url}/ok`, '-n', '25', '-c', '3', '--no-record', '--json');
    exited(r, 0, '-n 25');
    const out = JSON.parse(r.stdout);
    assert.equal(out.run_id, null);
    assert.equal(out.result.requests, 25);
    assert.equal(target.requests - before, 25, 'the target saw exactly 25 requests');
    const runsAfter = withStore((s) => s.runs.search({ experimentIds: [s.experiments.getByName('load-tests').experiment_id] }).items.length);
    assert.equal(runsAfter, runsBefore);
  });

  test('a failing threshold exits 2 and is named on stderr; the run is recorded as FAILED', async () => {
    const r = await cli(dir, 'loadtest', `${target.url}/fail`, '-n', '30', '-c', '2', '--threshold', 'p99<1us', '--threshold', 'errors<=100%');
    exited(r, 2, 'failing threshold');
    assert.match(r.stderr, /threshold failed: p99<1us \(p99 = \d+ us\)/);
    assert.doesNotMatch(r.stderr, /threshold failed: errors<=100%/);
    assert.match(r.stdout, /Errors\n.*\n.*\nstatus_500\s+30/);
    const runId = (recorded.failed = runIdOf(r.stdout));
    withStore((store) => {
      const run = store.runs.get(runId);
      assert.equal(run.info.status, 'FAILED');
      const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
      assert.equal(tags['trellis.threshold.p99_lt_1us'], 'fail');
      assert.equal(tags['trellis.threshold.errors_le_100pct'], 'pass');
      const latest = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
      assert.equal(latest.error_rate, 1);
    });
  });

  test('compare prints both runs, their metrics and the deltas', async () => {
    assert.ok(recorded.closed && recorded.failed, 'the earlier tests recorded runs');
    const r = await cli(dir, 'loadtest', 'compare', recorded.closed!, recorded.failed!);
    exited(r, 0, 'compare');
    assert.match(r.stdout, new RegExp(`^A\\s+${recorded.closed}\\s+closed run`, 'm'));
    assert.match(r.stdout, new RegExp(`^B\\s+${recorded.failed}`, 'm'));
    assert.match(r.stdout, /^METRIC\s+A\s+B\s+DELTA\s+DELTA%\s+BETTER/m);
    assert.match(r.stdout, /^error_rate\s+0\s+1\s+\+1\s+-\s+A$/m);
    assert.match(r.stdout, /^latency_p99_ms\s+\S+\s+\S+\s+[+-]?\S+\s+[+-]?[\d.]+%\s+(A|B|=)$/m);
    assert.match(r.stdout, /^target\s+\S+\/ok\s+\S+\/fail\s+≠$/m);

    const j = await cli(dir, 'loadtest', 'compare', recorded.closed!, recorded.failed!, '--json');
    exited(j, 0, 'compare --json');
    const cmp = JSON.parse(j.stdout);
    assert.equal(cmp.a.run_id, recorded.closed);
    const errorRate = cmp.rows.find((x: any) => x.metric === 'error_rate');
    assert.deepEqual([errorRate.a, errorRate.b, errorRate.delta, errorRate.better], [0, 1, 1, 'a']);
  });

  test('a remote target is refused before any traffic or any start-up, with what to add', async () => {
    const { dir: fresh, cleanup: cleanupFresh } = tempDir('trellis-loadtest-remote-');
    try {
      const r = await cli(fresh, 'loadtest', 'http://10.1.2.3/', '-d', '1s');
      exited(r, 1, 'remote target');
      assert.match(r.stderr, /Refusing to load-test http:\/\/10\.1\.2\.3\/: '10\.1\.2\.3' is not a loopback address/);
      assert.match(r.stderr, /add --allow-remote/);
      assert.deepEqual(readdirSync(fresh), [], 'no platform was started, nothing was written');
    } finally {
      cleanupFresh();
    }
  });

  test('--model with no endpoint serving it, and bad input, fail before any traffic', async () => {
    const before = target.requests;
    const m = await cli(dir, 'loadtest', '--model', 'digits@champion');
    exited(m, 1, '--model');
    assert.match(m.stderr, /No running endpoint serves digits@champion/);

    const cases: [string[], RegExp][] = [
      [['--threshold', 'p99<50'], /Invalid threshold 'p99<50': a latency limit needs a unit/],
      [['-d', '2h'], /-d\/--duration 2h exceeds the limit of 1h/],
      [['-n', '100000001'], /-n\/--requests must be a whole number from 1 to 100000000/],
      [['--rate', '10', '--stages', '1s:10'], /--rate .* or --stages .*, not both/],
      [['--stages', '1s:10', '-d', '5s'], /--stages sets the duration/],
      [['--body', 'x', '--body-file', 'y'], /one of --body, --body-file and --template/],
      [['--template', '{{nope}}'], /nope/],
      [['-H', 'no colon'], /-H 'no colon': expected 'Name: value'/],
      [['-c', '0'], /-c\/--connections must be a whole number from 1/],
    ];
    for (const [args, why] of cases) {
      const r = await cli(dir, 'loadtest', `${target.url}/ok`, ...args);
      exited(r, 1, args.join(' '));
      assert.match(r.stderr, why);
    }
    assert.equal(target.requests, before, 'none of them sent a request');
  });

  test('--body-file and --rows read files; a missing file is a clear error', async () => {
    const bodyFile = join(dir, 'body.json');
    writeFileSync(bodyFile, '{"from": "file"}');
    const rows = join(dir, 'rows.txt');
    writeFileSync(rows, 'alpha\nbeta\n');
    const bodiesBefore = target.bodies.length;
    const f = await cli(dir, 'loadtest', `${target.url}/ok`, '-n', '3', '-c', '1', '--body-file', bodyFile, '--no-record');
    exited(f, 0, '--body-file');
    const t = await cli(dir, 'loadtest', `${target.url}/ok`, '-n', '4', '-c', '1', '--template', 'row={{row}}', '--rows', rows, '--no-record');
    exited(t, 0, '--rows');
    const bodies = target.bodies.slice(bodiesBefore);
    assert.deepEqual(bodies.slice(0, 3), ['{"from": "file"}', '{"from": "file"}', '{"from": "file"}']);
    assert.deepEqual(bodies.slice(3).sort(), ['row=alpha', 'row=alpha', 'row=beta', 'row=beta']);
    const missing = await cli(dir, 'loadtest', `${target.url}/ok`, '--body-file', join(dir, 'nope.json'));
    exited(missing, 1, 'missing body file');
    assert.match(missing.stderr, /--body-file: cannot read .*nope\.json: ENOENT/);
    assert.ok(!existsSync(join(dir, 'nope.json')));
  });

  test('--body-file sends a binary body byte for byte (not decoded as text)', async () => {
    // Every byte value, then bytes that are not UTF-8: a KServe binary tensor body is such a file.
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xc3, 0x28, 0xff, 0xfe])]);
    const bodyFile = join(dir, 'tensor.bin');
    writeFileSync(bodyFile, bytes);
    const before = target.raw.length;
    const r = await cli(dir, 'loadtest', `${target.url}/ok`, '-n', '2', '-c', '1', '-H', 'Content-Type: application/octet-stream', '--body-file', bodyFile, '--no-record');
    exited(r, 0, 'binary --body-file');
    const sent = target.raw.slice(before);
    assert.equal(sent.length, 2);
    for (const body of sent) assert.ok(body.equals(bytes), `the server got ${body.length} bytes, not the file's ${bytes.length} as they are`);
  });

  test('--help lists the options and the exit codes', async () => {
    const r = await cli(dir, 'loadtest', '--help');
    exited(r, 0, '--help');
    for (const flag of ['--model', '-X, --method', '-H, --header', '--body', '--body-file', '--template', '--rows', '-c, --connections', '--rate', '--stages',
      '-d, --duration', '-n, --requests', '--workers', '--timeout', '--threshold', '--allow-remote', '--name', '--no-record', '--json']) {
      assert.match(r.stdout, new RegExp(`^\\s+${flag.replace(/[-]/g, '\\-')}\\b`, 'm'), flag);
    }
    assert.match(r.stdout, /compare \[options\] <run-a> <run-b>/);
    assert.match(r.stdout, /Exit codes: 0 all thresholds pass, 2 a threshold failed/);
  });
});
