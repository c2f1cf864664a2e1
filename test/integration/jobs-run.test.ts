// Training jobs on the real (private) Docker engine with the busybox image: a job's container logs into
// its run through MLFLOW_TRACKING_URI, its output is streamed and saved, its outputs become artifacts,
// and its exit (0, non-zero, OOM, cancel, removed behind our back) closes the run with the right status.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPlatformServer, type PlatformServer } from '../../src/server/platform-server';
import { ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { LABEL } from '../../src/engines/docker/containers';

let image = '';
let server: PlatformServer;
let dataDir = '';
let cleanup = () => {};

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The job's log stream to its end: the lines, and the job as the last record reports it. */
async function follow(jobId: string): Promise<{ lines: { stream: string; line: string }[]; job: any }> {
  const text = await (await fetch(`${server.url}/api/trellis/jobs/${jobId}/logs?follow=true`)).text();
  const records = text.trim().split('\n').map((l) => JSON.parse(l));
  const end = records.pop();
  assert.equal(end.end, true, `the stream ends with the job: ${text}`);
  return { lines: records, job: end.job };
}

const run = async (runId: string) => (await api('GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`)).body.run;
const tag = (r: any, key: string) => r.data.tags.find((t: any) => t.key === key)?.value;
const submit = (fields: Record<string, unknown>) => api('POST', '/api/trellis/jobs', { experiment_name: 'jobs', image, ...fields });

before(async () => {
  const engine = await testDockerEngine();
  image = await ensureBusyboxImage(engine.docker);
  // The usual layout: the data directory (.trellis) inside the workspace folder.
  let workspaceRoot: string;
  ({ dir: workspaceRoot, cleanup } = tempDir('trellis-jobs-'));
  dataDir = join(workspaceRoot, '.trellis');
  server = await startPlatformServer({ dataDir, version: 'test', log: () => {}, jobs: { statsIntervalMs: 200, stopGraceSeconds: 1, maxConcurrent: 4 } });
});
after(async () => {
  await server.close();
  cleanup();
});

describe('a job that succeeds', () => {
  test('logs into its run from inside the container, streams and saves its output, and keeps its outputs', async () => {
    const workspace = join(dataDir, '..', `ws-${Date.now()}`);
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'train.sh'), 'echo "lr is $1"\n');
    execFileSync('git', ['init', '-q', workspace]);
    execFileSync('git', ['-C', workspace, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init']);
    const commit = execFileSync('git', ['-C', workspace, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    // busybox wget posts a metric with the token: proof that URI, token and run id reach the container.
    const script = [
      'sh train.sh {{lr}}',
      'echo "to stderr" >&2',
      'wget -q -O /dev/null --header "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" --header "Content-Type: application/json" ' +
        '--post-data "{\\"run_id\\":\\"$MLFLOW_RUN_ID\\",\\"key\\":\\"loss\\",\\"value\\":0.25,\\"timestamp\\":1,\\"step\\":3}" ' +
        '"$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" && echo logged',
      'echo "experiment $MLFLOW_EXPERIMENT_ID params $TRELLIS_PARAMS greeting $GREETING"',
      'touch /workspace/x 2>/dev/null && echo "workspace writable" || echo "workspace read-only"',
      'mkdir -p /outputs/model && echo weights > /outputs/model/w.txt',
      // The engine streams stats once a second: long enough for a few readings.
      'sleep 3',
    ].join('; ');
    const r = await submit({ run_name: 'ok-job', command: ['sh', '-c', script], params: { lr: '0.01' }, env: { GREETING: 'hello' }, workspace });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.job.status, 'RUNNING');
    const { lines, job } = await follow(r.body.job.job_id);

    assert.equal(job.status, 'FINISHED');
    assert.equal(job.exit_code, 0);
    const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.line);
    assert.deepEqual(out.slice(0, 2), ['lr is 0.01', 'logged']);
    assert.equal(out[2], `experiment ${job.experiment_id} params {"lr":"0.01"} greeting hello`);
    assert.equal(out[3], 'workspace read-only');
    assert.deepEqual(lines.filter((l) => l.stream === 'stderr').map((l) => l.line), ['to stderr']);

    const saved = await run(job.run_id);
    assert.equal(saved.info.status, 'FINISHED');
    assert.ok(saved.info.end_time >= saved.info.start_time);
    assert.deepEqual(saved.data.params, [{ key: 'lr', value: '0.01' }]);
    assert.deepEqual(saved.data.metrics.find((m: any) => m.key === 'loss'), { key: 'loss', value: 0.25, timestamp: 1, step: 3 });
    assert.ok(saved.data.metrics.some((m: any) => m.key === 'system/memory_mb'), 'container stats are logged as system/ metrics');
    assert.ok(saved.data.metrics.some((m: any) => m.key === 'system/cpu_percent'));
    assert.equal(tag(saved, 'trellis.job.image'), image);
    assert.match(tag(saved, 'trellis.docker.image_digest'), /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(tag(saved, 'trellis.job.command')), ['sh', '-c', script.replace('{{lr}}', '0.01')]);
    assert.equal(tag(saved, 'mlflow.source.git.commit'), commit);
    assert.equal(tag(saved, 'trellis.git.dirty'), 'true', 'train.sh is not committed');
    assert.ok(tag(saved, 'trellis.host'));

    const artifacts = readdirRecursive(join(dataDir, 'artifacts', job.experiment_id, job.run_id, 'artifacts'));
    assert.deepEqual(artifacts, ['logs/stderr.log', 'logs/stdout.log', 'model/w.txt']);
    const artifactsDir = join(dataDir, 'artifacts', job.experiment_id, job.run_id, 'artifacts');
    assert.equal(readFileSync(join(artifactsDir, 'logs/stdout.log'), 'utf8').split('\n')[0], 'lr is 0.01');
    assert.equal(readFileSync(join(artifactsDir, 'logs/stderr.log'), 'utf8'), 'to stderr\n');

    const { docker } = await testDockerEngine();
    assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL.runId}=${job.run_id}`] } }), [], 'the container is removed');
    const listed = await api('GET', `/api/trellis/jobs?experiment_id=${job.experiment_id}&status=FINISHED`);
    assert.ok(listed.body.jobs.some((j: any) => j.job_id === job.job_id));
    const savedLogs = await (await fetch(`${server.url}/api/trellis/jobs/${job.job_id}/logs`)).text();
    assert.match(savedLogs, /"line":"lr is 0.01"/, 'a finished job\'s logs are read from its artifacts');
  });

  test('POST ?follow=true answers the job as soon as its run exists, then its lines and its end; the git tags precede the start', async () => {
    const workspace = join(dataDir, '..', `ws-follow-${Date.now()}`);
    mkdirSync(workspace);
    execFileSync('git', ['init', '-q', workspace]);
    execFileSync('git', ['-C', workspace, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'init']);
    const commit = execFileSync('git', ['-C', workspace, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    // The container reads its own run first thing: the workspace's commit must already be tagged.
    const script = [
      'wget -q -O - --header "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/get?run_id=$MLFLOW_RUN_ID" ' +
        '| grep -o \'mlflow.source.git.commit","value":"[0-9a-f]*\' | grep -o \'[0-9a-f]*$\'',
      'echo done',
    ].join('; ');
    const res = await fetch(`${server.url}/api/trellis/jobs?follow=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ experiment_name: 'jobs', image, command: ['sh', '-c', script], workspace }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const records = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const first = records.shift();
    const end = records.pop();
    assert.equal(first.job.status, 'RUNNING', 'the first record is the job, as soon as its run exists');
    assert.equal(end.end, true);
    assert.equal(end.job.job_id, first.job.job_id);
    assert.equal(end.job.status, 'FINISHED');
    assert.deepEqual(records.filter((l) => l.stream === 'stdout').map((l) => l.line), [commit, 'done']);
  });

  test('a refused submit with ?follow=true answers a JSON error, not a stream', async () => {
    const r = await api('POST', '/api/trellis/jobs?follow=true', { experiment_name: 'jobs', image: 'trellis-test/no-such-image:1', command: ['true'] });
    assert.equal(r.status >= 400 && r.status < 500, true, JSON.stringify(r.body));
    assert.match(r.body.message, /no-such-image/);
  });

  test('the platform\'s data directory inside the workspace is hidden from the job', async () => {
    const r = await submit({ workspace: join(dataDir, '..'), command: ['sh', '-c', 'ls -A /workspace/.trellis | wc -l; ls -A /workspace | grep -c .'] });
    const { lines, job } = await follow(r.body.job.job_id);
    assert.equal(job.status, 'FINISHED');
    const [inDataDir, inWorkspace] = lines.filter((l) => l.stream === 'stdout').map((l) => Number(l.line));
    assert.equal(inDataDir, 0, 'no database, artifacts or tokens');
    assert.ok(inWorkspace! > 0, 'the rest of the workspace is there');
  });

  test('the tracker port for containers requires the token', async () => {
    const r = await submit({ command: ['sh', '-c', 'wget -S -O /dev/null "$MLFLOW_TRACKING_URI/api/2.0/mlflow/experiments/search?max_results=1" 2>&1 | grep HTTP/; true'] });
    const { lines, job } = await follow(r.body.job.job_id);
    assert.equal(job.status, 'FINISHED');
    assert.match(lines.map((l) => l.line).join('\n'), /401/);
  });
});

describe('a job that fails', () => {
  test('a non-zero exit is FAILED with the exit code and the last lines', async () => {
    const r = await submit({ command: ['sh', '-c', 'echo step one; echo boom >&2; exit 3'] });
    const { job } = await follow(r.body.job.job_id);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.exit_code, 3);
    assert.equal(job.error, 'exit code 3');
    const saved = await run(job.run_id);
    assert.equal(saved.info.status, 'FAILED');
    assert.equal(tag(saved, 'trellis.job.exit_code'), '3');
    // Two pipes: the engine does not keep the order between stdout and stderr.
    assert.deepEqual(tag(saved, 'trellis.job.last_log_lines').split('\n').sort(), ['boom', 'step one']);
  });

  test('an OOM kill says out of memory', async () => {
    const r = await submit({ memory: '8m', command: ['sh', '-c', 'x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done'] });
    const { job } = await follow(r.body.job.job_id);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.exit_code, 137);
    assert.match(job.error, /^out of memory: .*memory limit of 8 MiB.*--memory/);
  });

  test('a command the image lacks fails the run saying so', async () => {
    const r = await submit({ command: ['no-such-trainer', '--epochs', '1'] });
    assert.equal(r.status, 200);
    assert.equal(r.body.job.status, 'FAILED');
    assert.match(r.body.job.error, /command is not in the image .*no-such-trainer/);
    const { docker } = await testDockerEngine();
    assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL.runId}=${r.body.job.run_id}`] } }), []);
  });

  test('a container removed behind Trellis\'s back fails its run saying so', async () => {
    const r = await submit({ command: ['sh', '-c', 'echo started; sleep 30'] });
    const { docker } = await testDockerEngine();
    await docker.getContainer(r.body.job.container_id).remove({ force: true });
    const { job } = await follow(r.body.job.job_id);
    assert.equal(job.status, 'FAILED');
    assert.match(job.error, /removed outside Trellis/);
  });
});

describe('cancel and queue', () => {
  test('cancel sends SIGTERM, then SIGKILL after the grace period, and the run is KILLED', async () => {
    // sh as PID 1 ignores SIGTERM: only the SIGKILL after the 1 s grace stops it.
    const r = await submit({ command: ['sh', '-c', 'echo up; while true; do sleep 1; done'] });
    const cancelled = await api('POST', `/api/trellis/jobs/${r.body.job.job_id}/cancel`, {});
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.job.status, 'KILLED');
    assert.equal((await run(r.body.job.run_id)).info.status, 'KILLED');
    const again = await api('POST', `/api/trellis/jobs/${r.body.job.job_id}/cancel`, {});
    assert.equal(again.body.job.status, 'KILLED', 'cancelling a finished job leaves it as it is');
  });

  test('beyond the concurrency limit jobs wait SCHEDULED and start in order', async () => {
    const { dir, cleanup: done } = tempDir('trellis-queue-');
    const queued = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {}, jobs: { maxConcurrent: 1, statsIntervalMs: 200, stopGraceSeconds: 1 } });
    try {
      const post = async (name: string) => {
        const res = await fetch(`${queued.url}/api/trellis/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ experiment_name: 'q', image, run_name: name, command: ['sh', '-c', 'sleep 1'] }),
        });
        return ((await res.json()) as any).job;
      };
      const first = await post('first');
      const second = await post('second');
      const third = await post('third');
      assert.deepEqual([first.status, second.status, third.status], ['RUNNING', 'SCHEDULED', 'SCHEDULED']);
      const thirdLogs = fetch(`${queued.url}/api/trellis/jobs/${third.job_id}/logs?follow=true`).then((r) => r.text());
      const cancelled = await (await fetch(`${queued.url}/api/trellis/jobs/${third.job_id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json() as any;
      assert.equal(cancelled.job.status, 'KILLED', 'a queued job is cancelled at once');
      const followed = (await thirdLogs).trim().split('\n').map((l) => JSON.parse(l));
      assert.match(followed[0].line, /^queued: 1 jobs running, 1 waiting before this one$/);
      assert.equal(followed.at(-1).job.status, 'KILLED', 'its followers see the end');
      await fetch(`${queued.url}/api/trellis/jobs/${second.job_id}/logs?follow=true`).then((r) => r.text());
      const runs = await Promise.all([first, second].map(async (j) => ((await (await fetch(`${queued.url}/api/2.0/mlflow/runs/get?run_id=${j.run_id}`)).json()) as any).run.info));
      assert.deepEqual(runs.map((r) => r.status), ['FINISHED', 'FINISHED']);
      assert.ok(runs[1].end_time >= runs[0].end_time, 'the second started after the first ended');
    } finally {
      await queued.close();
      done();
    }
  });
});

function readdirRecursive(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? readdirRecursive(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}
