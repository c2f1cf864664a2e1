// The server as a real child process (`node dist/cli.js server`): killed mid-write it loses nothing it
// acknowledged and leaves no half-written batch; stopped with SIGTERM it drains, checkpoints and cleans up.
import { processAlive } from '../../src/core/server-file';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from '../support/platform';
import { request } from 'node:http';
import { ensureBuilt, openEventStream, readServerJson, sleep, startServerProcess, type ServerProcess } from '../fixtures/processes';

const KEYS = ['loss', 'acc', 'lr'];
const STEPS_PER_BATCH = 333; // each batch: steps [b*333, b*333+332] of every key (999 points), and param batch_<b>

function batchBody(runId: string, b: number, steps = STEPS_PER_BATCH) {
  const metrics = [];
  for (let i = 0; i < steps; i++) {
    const step = b * steps + i;
    for (const key of KEYS) metrics.push({ key, value: step + KEYS.indexOf(key) / 10, timestamp: 1_700_000_000_000 + step, step });
  }
  return { run_id: runId, metrics, params: [{ key: `batch_${b}`, value: String(b) }] };
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/api/2.0/mlflow/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

async function createRun(url: string): Promise<string> {
  const exp = await post(url, 'experiments/create', { name: `crash-${Date.now()}` });
  assert.equal(exp.status, 200);
  const run = await post(url, 'runs/create', { experiment_id: exp.body.experiment_id });
  assert.equal(run.status, 200);
  return run.body.run.info.run_id as string;
}

interface StoredBatches {
  /** batch → number of points stored (all keys). */
  points: Map<number, number>;
  /** batches whose param batch_<b> is stored. */
  params: Set<number>;
  integrity: string;
}

/** Reads what the database holds for a run, with better-sqlite3 directly (not through Trellis's code). */
function inspect(dbFile: string, runId: string, steps = STEPS_PER_BATCH): StoredBatches {
  const db = new Database(dbFile);
  try {
    db.pragma('busy_timeout = 10000');
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
    const rows = db
      .prepare(
        `SELECT p.step / CAST(@steps AS INTEGER) AS batch, count(*) AS n FROM metric_points p JOIN metric_series s USING (series_id)
         WHERE s.run_uuid = @runId GROUP BY 1`,
      )
      .all({ steps, runId }) as { batch: number; n: number }[];
    const params = db.prepare(`SELECT key FROM params WHERE run_uuid = ? AND key LIKE 'batch_%'`).pluck().all(runId) as string[];
    return { points: new Map(rows.map((r) => [r.batch, r.n])), params: new Set(params.map((k) => Number(k.slice('batch_'.length)))), integrity };
  } finally {
    db.close();
  }
}

/** Every batch is all there (points of every key and its param) or not there at all; acknowledged ones are there. */
function assertWholeBatches(stored: StoredBatches, sent: Set<number>, acked: Set<number>, steps = STEPS_PER_BATCH): void {
  const whole = steps * KEYS.length;
  const partial: string[] = [];
  for (const [batch, n] of stored.points) {
    if (!sent.has(batch)) partial.push(`batch ${batch} was never sent but has ${n} points`);
    else if (n !== whole) partial.push(`batch ${batch} has ${n} of ${whole} points`);
    if (!stored.params.has(batch)) partial.push(`batch ${batch} has points but not its param`);
  }
  for (const batch of stored.params) if (!stored.points.has(batch)) partial.push(`batch ${batch} has its param but no points`);
  assert.deepEqual(partial, [], 'no batch may be partly written');
  const lost = [...acked].filter((b) => stored.points.get(b) !== whole).sort((a, b) => a - b);
  assert.deepEqual(lost, [], 'every acknowledged batch must be stored');
}

/**
 * A POST whose body is sent in two halves: the server has the request (headers and half the body) before
 * `middle` runs, and the second half only after it. Resolves with the status and body of the answer.
 */
function twoPartPost(url: string, path: string, body: unknown, middle: () => Promise<void>): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json', 'content-length': payload.length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    const half = Math.floor(payload.length / 2);
    req.write(payload.subarray(0, half));
    middle().then(() => req.end(payload.subarray(half)), reject);
  });
}

describe('crash safety of the server process', () => {
  before(() => ensureBuilt());

  test('SIGKILL mid-stream: acknowledged batches survive, none is partial, integrity ok, stale server.json does not block a restart', async (t) => {
    const { dir, cleanup } = tempDir('trellis-crash-');
    t.after(cleanup);
    let server: ServerProcess | undefined = await startServerProcess(dir);
    t.after(() => server?.stop('SIGKILL'));
    const first = server.info;
    const runId = await createRun(first.url);

    const sent = new Set<number>();
    const acked = new Set<number>();
    const rejected: string[] = [];
    let next = 0;
    let killed = false;
    let inFlightAtKill = -1;
    const worker = async () => {
      while (!killed) {
        const b = next++;
        sent.add(b);
        try {
          const res = await post(first.url, 'runs/log-batch', batchBody(runId, b));
          if (res.status === 200) acked.add(b);
          else rejected.push(`batch ${b}: ${res.status} ${JSON.stringify(res.body)}`);
        } catch {
          return; // the connection died with the server
        }
        if (acked.size >= 80 && !killed) {
          killed = true;
          inFlightAtKill = sent.size - acked.size - rejected.length;
          server!.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    const exit = await server.exited;
    assert.equal(exit.signal, 'SIGKILL');
    assert.deepEqual(rejected, [], 'no batch may be rejected before the kill');
    assert.ok(inFlightAtKill >= 1, `the kill must hit requests in flight (had ${inFlightAtKill})`);

    // The dead server left its server.json behind.
    const stale = readServerJson(dir);
    assert.equal(stale?.pid, first.pid, 'server.json of the killed server is still there');
    assert.equal(processAlive(first.pid), false);

    server = await startServerProcess(dir);
    const second = server.info;
    assert.notEqual(second.pid, first.pid);
    assert.equal(readServerJson(dir)?.pid, second.pid, 'the restarted server replaced the stale server.json');
    assert.equal((await fetch(`${second.url}/health`)).status, 200);

    const stored = inspect(join(dir, 'trellis.db'), runId);
    assert.equal(stored.integrity, 'ok');
    assertWholeBatches(stored, sent, acked);

    // The restarted server answers with the same data, and the run takes new batches.
    const history = await fetch(`${second.url}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=loss`).then((r) => r.json() as Promise<any>);
    const steps = new Set((history.metrics as { step: number }[]).map((m) => m.step));
    for (const b of acked) {
      for (const s of [b * STEPS_PER_BATCH, b * STEPS_PER_BATCH + STEPS_PER_BATCH - 1]) assert.ok(steps.has(s), `step ${s} of acknowledged batch ${b} is missing over HTTP`);
    }
    assert.equal(steps.size, stored.points.size * STEPS_PER_BATCH);
    const run = await fetch(`${second.url}/api/2.0/mlflow/runs/get?run_id=${runId}`).then((r) => r.json() as Promise<any>);
    const latestLoss = (run.run.data.metrics as { key: string; step: number }[]).find((m) => m.key === 'loss');
    assert.equal(latestLoss?.step, Math.max(...steps), 'the latest value matches the stored points');
    const again = await post(second.url, 'runs/log-batch', batchBody(runId, 10_000));
    assert.equal(again.status, 200);

    const stopped = await server.stop('SIGTERM');
    assert.equal(stopped.code, 0, server.stderr());
    server = undefined;
  });

  test('SIGTERM with requests in flight: exits 0, in-flight batches whole, server.json removed, WAL checkpointed', async (t) => {
    const { dir, cleanup } = tempDir('trellis-term-');
    t.after(cleanup);
    const server = await startServerProcess(dir);
    t.after(() => server.stop('SIGKILL'));
    const { url } = server.info;
    const runId = await createRun(url);
    // An open event stream (as the extension keeps) must not hold the shutdown up.
    const { stream } = await openEventStream(`${url}/api/trellis/events`);
    t.after(() => stream.close());

    const steps = STEPS_PER_BATCH;
    const sent = new Set<number>();
    const acked = new Set<number>();
    const answers: string[] = [];
    let signalled = false;
    let pendingAtSignal = -1;
    let answeredAfterSignal = 0;
    let settled = 0;
    const terminate = () => {
      if (signalled) return;
      signalled = true;
      pendingAtSignal = sent.size - acked.size - answers.length;
      server.child.kill('SIGTERM');
    };

    // A burst of batches racing the signal: each is answered 200, or refused/cut at the connection.
    const burst = () =>
      Array.from({ length: 24 }, async (_, b) => {
        sent.add(b);
        try {
          const res = await post(url, 'runs/log-batch', batchBody(runId, b, steps));
          if (signalled) answeredAfterSignal++;
          if (res.status === 200) acked.add(b);
          else answers.push(`batch ${b}: ${res.status} ${JSON.stringify(res.body)}`);
        } catch {
          /* refused or cut after the server stopped accepting: allowed, the batch must then be absent or whole */
        } finally {
          settled++;
        }
      });

    // One request the server is certainly in the middle of when SIGTERM comes: headers and half the body
    // are there, the rest follows after the signal. Draining must finish it, not cut it. The burst starts
    // meanwhile and SIGTERM goes out at its first acknowledgement.
    const slowBatch = 1000;
    sent.add(slowBatch);
    let requests: Promise<void>[] = [];
    const slow = twoPartPost(url, '/api/2.0/mlflow/runs/log-batch', batchBody(runId, slowBatch, steps), async () => {
      await sleep(150);
      requests = burst();
      while (acked.size === 0 && answers.length === 0 && settled < 24) await sleep(1);
      terminate();
      await sleep(200);
    });
    const slowAnswer = await slow;
    if (slowAnswer.status === 200) acked.add(slowBatch);
    await Promise.all(requests);
    const exit = await server.exited;
    t.diagnostic(`${pendingAtSignal} requests in flight at SIGTERM; ${answeredAfterSignal} answered after it; ${acked.size} acknowledged`);

    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; stderr:\n${server.stderr()}`);
    assert.ok(pendingAtSignal >= 1, 'SIGTERM must arrive while requests are in flight');
    assert.equal(slowAnswer.status, 200, `the request in flight at SIGTERM is finished, not cut: ${slowAnswer.text}`);
    assert.deepEqual(answers, [], 'no request in flight may be answered with an error');
    assert.equal(existsSync(join(dir, 'server.json')), false, 'server.json is removed');
    const wal = join(dir, 'trellis.db-wal');
    assert.ok(!existsSync(wal) || statSync(wal).size === 0, `the WAL is checkpointed (size ${existsSync(wal) ? statSync(wal).size : 0})`);

    const stored = inspect(join(dir, 'trellis.db'), runId, steps);
    assert.equal(stored.integrity, 'ok');
    assertWholeBatches(stored, sent, acked, steps);
  });
});
