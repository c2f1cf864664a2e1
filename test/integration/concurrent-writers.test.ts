// Many processes writing to one server, and many processes reading its SQLite file while it writes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestPlatform, tempDir, type TestPlatform } from '../support/platform';
import { REPO, runProcess, sleep, type Finished } from '../fixtures/processes';

const WRITERS = 8;
const BATCHES = 50;
const POINTS = 1000; // per batch: 500 of `loss`, 500 of `acc`
const PER_KEY = POINTS / 2;

interface WriterReport {
  run_id: string | null;
  acked: number;
  failures: { batch: number; status: number; body: string }[];
}

function writer(url: string, experimentId: string, batches: number): Promise<Finished> {
  return runProcess(process.execPath, [join(REPO, 'test/fixtures/log-writer.mjs'), url, experimentId, String(batches), String(POINTS), '2'], {
    timeoutMs: 60_000,
  });
}

function report(run: Finished): WriterReport {
  assert.equal(run.code, 0, `writer exited ${run.code}: ${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as WriterReport;
}

/** Checks every point of a writer's run through the HTTP API: full histories and latest values. */
async function assertRunComplete(p: TestPlatform, runId: string, batches: number): Promise<void> {
  const n = batches * PER_KEY;
  for (const key of ['loss', 'acc']) {
    const h = await p.mlflow('GET', 'metrics/get-history', { run_id: runId, metric_key: key });
    assert.equal(h.status, 200);
    const points = h.body.metrics as { key: string; step: number; value: number }[];
    assert.equal(points.length, n, `run ${runId} ${key}: ${points.length} points, expected ${n}`);
    const steps = new Set(points.map((m) => m.step));
    assert.equal(steps.size, n, `run ${runId} ${key}: duplicate steps`);
    for (let s = 0; s < n; s += 997) assert.ok(steps.has(s), `run ${runId} ${key}: step ${s} missing`);
    assert.ok(steps.has(n - 1));
    const expected = (step: number) => (key === 'loss' ? 1 / (1 + step) : step / n);
    for (const m of points) {
      if (m.value !== expected(m.step)) assert.fail(`run ${runId} ${key} step ${m.step}: value ${m.value}, expected ${expected(m.step)}`);
    }
  }
  const got = await p.mlflow('GET', 'runs/get', { run_id: runId });
  assert.equal(got.status, 200);
  const latest = Object.fromEntries((got.body.run.data.metrics as { key: string; step: number; value: number }[]).map((m) => [m.key, m]));
  assert.equal(latest.loss?.step, n - 1);
  assert.equal(latest.loss?.value, 1 / n);
  assert.equal(latest.acc?.step, n - 1);
  assert.equal(latest.acc?.value, (n - 1) / n);
}

describe('8 writer processes on one server', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(() => p.stop());

  test(`each logs ${BATCHES} batches × ${POINTS} points into its own run: every request 200, every point stored`, async () => {
    const exp = await p.mlflow('POST', 'experiments/create', { name: 'concurrent-writers' });
    assert.equal(exp.status, 200);
    const experimentId = exp.body.experiment_id as string;

    const reports = (await Promise.all(Array.from({ length: WRITERS }, () => writer(p.server.url, experimentId, BATCHES)))).map(report);

    for (const r of reports) {
      assert.deepEqual(r.failures, [], `a writer had failed requests: ${JSON.stringify(r.failures.slice(0, 3))}`);
      assert.equal(r.acked, BATCHES);
      assert.ok(r.run_id);
    }
    const runIds = reports.map((r) => r.run_id!);
    assert.equal(new Set(runIds).size, WRITERS, 'each writer has its own run');

    for (const runId of runIds) await assertRunComplete(p, runId, BATCHES);

    const search = await p.mlflow('POST', 'runs/search', { experiment_ids: [experimentId], max_results: 100 });
    assert.equal(search.status, 200);
    assert.deepEqual(new Set((search.body.runs as any[]).map((r) => r.info.run_id)), new Set(runIds));
    const total = p.server.store.db.prepare('SELECT count(*) FROM metric_points').pluck().get();
    assert.equal(total, WRITERS * BATCHES * POINTS);
  });
});

describe('8 reader processes on the SQLite file while the server writes', () => {
  let p: TestPlatform;
  const scratch = tempDir('trellis-readers-');
  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => {
    await p.stop();
    scratch.cleanup();
  });

  test('openStore() readers never fail and only ever see whole batches (WAL snapshots)', async () => {
    const exp = await p.mlflow('POST', 'experiments/create', { name: 'readers' });
    const experimentId = exp.body.experiment_id as string;
    const stopFile = join(scratch.dir, 'stop');
    const readers = Array.from({ length: 8 }, () =>
      runProcess(process.execPath, ['--import', 'tsx', join(REPO, 'test/fixtures/store-reader.ts'), p.dataDir, experimentId, String(POINTS), stopFile], {
        timeoutMs: 60_000,
      }),
    );
    // Writers start once every reader is reading, so reads and writes overlap.
    let settled = 0;
    readers.forEach((r) => r.finally(() => settled++).catch(() => {}));
    while (readdirSync(scratch.dir).filter((f) => f.startsWith('stop.ready.')).length < readers.length && settled === 0) await sleep(20);
    const batches = 30;
    const writers = Array.from({ length: 4 }, () => writer(p.server.url, experimentId, batches));
    const writerReports = (await Promise.all(writers)).map(report);
    writeFileSync(stopFile, '');
    const readerRuns = await Promise.all(readers);

    // Both sides are checked before asserting, so a failure names everything that went wrong.
    const problems: string[] = [];
    for (const r of writerReports) {
      if (r.failures.length) problems.push(`writer: ${r.failures.length} of ${batches} log-batch requests failed, e.g. ${JSON.stringify(r.failures[0])}`);
    }
    for (const run of readerRuns) {
      if (run.code !== 0) {
        problems.push(`reader exited ${run.code}: ${run.stderr.slice(0, 500)}`);
        continue;
      }
      const lines = run.stdout.trim().split('\n');
      const r = JSON.parse(lines[lines.length - 1]!) as { opens: number; reads: number; errors: string[]; inconsistencies: string[] };
      if (r.errors.length) problems.push(`reader: ${r.errors.length} failed rounds, e.g. ${r.errors[0]!.split('\n')[0]}`);
      if (r.inconsistencies.length) problems.push(`reader saw: ${r.inconsistencies[0]}`);
      if (r.opens < 3 || r.reads === 0) problems.push(`reader did too little: ${JSON.stringify(r)}`);
    }
    assert.deepEqual(problems, []);
    for (const r of writerReports) await assertRunComplete(p, r.run_id!, batches);
  });
});
