// Restart safety: a server killed (SIGKILL) mid-job, or stopped while its containers run, and a new one
// started on the same data directory. It reattaches to live containers (which keep logging into their
// runs), closes runs whose container exited or vanished with the right status, closes queued runs, and
// removes containers whose run is already closed. No run stays RUNNING; no container is left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { startPlatformServer, type PlatformServer } from '../../src/server/platform-server';
import { ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { ensureBuilt, startServerProcess } from '../fixtures/processes';
import { LABEL } from '../../src/engines/docker/containers';
import { openStore } from '../../src/core/store';

let image = '';
let docker: Docker;
const cleanups: (() => void)[] = [];

const post = async (url: string, token: string, path: string, body: unknown) => {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return (await res.json()) as any;
};
const runInfo = (server: PlatformServer, runId: string) => server.store.runs.get(runId);
const tag = (run: { data: { tags: { key: string; value: string }[] } }, key: string) => run.data.tags.find((t) => t.key === key)?.value;
const containersOf = async (dataDir: string) => docker.listContainers({ all: true, filters: { label: [`${LABEL.dataDir}=${dataDir}`] } });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function followToEnd(server: PlatformServer, jobId: string): Promise<{ lines: string[]; job: any }> {
  const text = await (await fetch(`${server.url}/api/trellis/jobs/${jobId}/logs?follow=true`)).text();
  const records = text.trim().split('\n').map((l) => JSON.parse(l));
  const end = records.pop();
  return { lines: records.map((r) => r.line), job: end.job };
}

before(async () => {
  ensureBuilt();
  ({ docker } = await testDockerEngine());
  image = await ensureBusyboxImage(docker);
});
after(() => cleanups.forEach((c) => c()));

test('a server killed mid-job: the next one reattaches, closes vanished and queued jobs, and the container keeps logging', async () => {
  const { dir, cleanup } = tempDir('trellis-reconcile-');
  cleanups.push(cleanup);
  const first = await startServerProcess(dir);
  const submit = (command: string) => post(first.info.url, first.info.token, '/api/trellis/jobs', { experiment_name: 'crash', image, command: ['sh', '-c', command] });
  // Logs a metric only after the restart: it reaches the new server through the same URI and token.
  const live = (await submit(
    'echo before; while [ ! -e /outputs/go ]; do sleep 0.1; done; ' +
      'wget -q -O /dev/null --header "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" --header "Content-Type: application/json" ' +
      '--post-data "{\\"run_id\\":\\"$MLFLOW_RUN_ID\\",\\"key\\":\\"after_restart\\",\\"value\\":1,\\"timestamp\\":1,\\"step\\":0}" ' +
      '"$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" && echo logged; echo done > /outputs/result.txt',
  )).job;
  const vanished = (await submit('sleep 60')).job;
  const queued = (await submit('true')).job;
  assert.deepEqual([live.status, vanished.status, queued.status], ['RUNNING', 'RUNNING', 'SCHEDULED'], 'two run at once by default');

  await first.stop('SIGKILL');
  await docker.getContainer(vanished.container_id).remove({ force: true });

  const second = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {}, jobs: { statsIntervalMs: 200 } });
  try {
    const report = await second.jobs.reconcile();
    assert.deepEqual(report?.reattached, [live.run_id]);
    assert.deepEqual(new Set(report?.closed), new Set([vanished.run_id, queued.run_id]));

    const gone = runInfo(second, vanished.run_id);
    assert.equal(gone.info.status, 'FAILED');
    assert.match(tag(gone, 'trellis.job.error') ?? '', /container is gone/);
    const neverStarted = runInfo(second, queued.run_id);
    assert.equal(neverStarted.info.status, 'FAILED');
    assert.match(tag(neverStarted, 'trellis.job.error') ?? '', /stopped before this queued job started/);

    // Let the live job finish: it waits for this file in its outputs folder.
    const outputs = join(dir, 'jobs', live.run_id, 'outputs');
    assert.ok(existsSync(outputs));
    writeFileSync(join(outputs, 'go'), '');
    const { lines, job } = await followToEnd(second, live.job_id);
    assert.equal(job.status, 'FINISHED', lines.join('\n'));
    assert.deepEqual(lines.filter((l) => l === 'before' || l === 'logged'), ['before', 'logged']);
    const finished = runInfo(second, live.run_id);
    assert.ok(finished.data.metrics.some((m) => m.key === 'after_restart'), 'the reattached container logged into its run');
    assert.equal(tag(finished, 'trellis.job.server_pid'), String(process.pid));
    assert.ok(existsSync(join(dir, 'artifacts', live.experiment_id, live.run_id, 'artifacts', 'result.txt')));
    assert.deepEqual(await containersOf(dir), [], 'no container is left');
  } finally {
    await second.close();
  }
});

test('a container that exited while no server watched closes its run by exit code; an orphan container is removed', async () => {
  const { dir, cleanup } = tempDir('trellis-reconcile-');
  cleanups.push(cleanup);
  const first = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {} });
  const exited = (await post(first.url, first.token, '/api/trellis/jobs', { experiment_name: 'stopped', image, command: ['sh', '-c', 'sleep 0.5; echo bye; exit 4'] })).job;
  // A graceful stop leaves running containers alone, for the next server.
  await first.close();
  await waitFor('the container to exit', async () => (await docker.getContainer(exited.container_id).inspect()).State.Status === 'exited');

  // An orphan: a labelled container whose run is already closed (a crash between closing and removing).
  const store = openStore(dir);
  const closedRun = store.runs.create({ experiment_id: exited.experiment_id, tags: [{ key: 'trellis.job.image', value: image }] });
  store.runs.update(closedRun.info.run_id, { status: 'FINISHED', end_time: Date.now() });
  store.close();
  const orphan = await docker.createContainer({
    Image: image,
    Cmd: ['true'],
    Labels: { [LABEL.kind]: 'job', [LABEL.dataDir]: dir, [LABEL.runId]: closedRun.info.run_id },
  });

  const second = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {} });
  try {
    const report = await second.jobs.reconcile();
    assert.deepEqual(report?.removed, [orphan.id]);
    assert.deepEqual(report?.reattached, [exited.run_id]);
    const { lines, job } = await followToEnd(second, exited.job_id);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.exit_code, 4);
    assert.ok(lines.includes('bye'));
    assert.equal(runInfo(second, closedRun.info.run_id).info.status, 'FINISHED', 'a closed run stays as it was');
    assert.deepEqual(await containersOf(dir), []);
  } finally {
    await second.close();
  }
});
