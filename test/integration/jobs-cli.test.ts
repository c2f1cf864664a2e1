// `trellis run`, `trellis jobs` and `trellis sweep` as a user types them (the built CLI, its in-process
// server, the real engine): output streamed to the right stream, the container's exit code passed
// through, Ctrl-C cancelling the job, and a sweep's trials tagged and summed up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync } from 'node:fs';
import { ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import { tempDir } from '../support/platform';
import { CLI, REPO, cli, ensureBuilt } from '../fixtures/processes';

let image = '';
const { dir, cleanup } = tempDir('trellis-jobs-cli-');

before(async () => {
  ensureBuilt();
  image = await ensureBusyboxImage((await testDockerEngine()).docker);
});
after(cleanup);

/** busybox wget logging one metric of the run from inside the container. */
const logMetric = (key: string, value: string) =>
  `wget -q -O /dev/null --header "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" --header "Content-Type: application/json" ` +
  `--post-data "{\\"run_id\\":\\"$MLFLOW_RUN_ID\\",\\"key\\":\\"${key}\\",\\"value\\":${value},\\"timestamp\\":1,\\"step\\":0}" "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric"`;

test('trellis run streams stdout and stderr apart and exits with the container\'s code', async () => {
  const r = await cli(dir, 'run', '--experiment', 'cli', '--name', 'first', '--image', image, '--param', 'greeting=hello', '--env', 'WHO=world',
    '--', 'sh', '-c', 'echo "{{greeting}} $WHO"; echo oops >&2; exit 2');
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, 'hello world\n');
  assert.match(r.stderr, /^oops$/m);
  assert.match(r.stderr, /\[trellis\] job [0-9a-f]{32} \(run first, experiment \d+\) RUNNING/);
  assert.match(r.stderr, /\[trellis\] job [0-9a-f]{32} FAILED \(exit 2\): exit code 2/);

  const list = await cli(dir, 'jobs', 'list', '--experiment', 'cli', '--json');
  assert.equal(list.code, 0, list.stderr);
  const [job] = JSON.parse(list.stdout);
  assert.equal(job.run_name, 'first');
  assert.equal(job.status, 'FAILED');
  const logs = await cli(dir, 'jobs', 'logs', job.job_id);
  assert.equal(logs.stdout, 'hello world\n');
});

test('bad flags are refused before anything runs', async () => {
  const noImage = await cli(dir, 'run', '--experiment', 'cli', '--', 'true');
  assert.equal(noImage.code, 1);
  assert.match(noImage.stderr, /exactly one of 'image' \(--image NAME\) and 'build' \(--build DIR\)/);
  const badMount = await cli(dir, 'run', '--experiment', 'cli', '--image', image, '--mount', 'no-such-dir:/data', '--', 'true');
  assert.match(badMount.stderr, /mount path '.*no-such-dir' does not exist/);
  const badEnv = await cli(dir, 'run', '--experiment', 'cli', '--image', image, '--env', 'NOEQUALS', '--', 'true');
  assert.match(badEnv.stderr, /--env 'NOEQUALS' is not KEY=VALUE/);
  const gpus = await cli(dir, 'run', '--experiment', 'cli', '--image', image, '--gpus', '"device=0,1"', '--', 'true');
  assert.match(gpus.stderr, /has none .*Run without --gpus to train on the CPU/);
});

test('a Docker socket the user may not open: refused, saying how to get access', { skip: process.getuid?.() !== 0 && 'needs root to run the CLI as another user' }, async () => {
  // The engine's socket is root:docker 0660; the CLI runs as nobody, who is in neither.
  const { dir: own, cleanup: done } = tempDir('trellis-jobs-eacces-');
  try {
    chownSync(own, 65534, 65534);
    const child = spawn(process.execPath, [CLI, '-d', own, 'run', '--experiment', 'denied', '--image', image, '--', 'true'], {
      cwd: own,
      env: { PATH: process.env.PATH, DOCKER_HOST: process.env.DOCKER_HOST, HOME: own },
      uid: 65534,
      gid: 65534,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /Permission denied on the Docker socket .*docker group/);
  } finally {
    done();
  }
});

test('Ctrl-C cancels the job: SIGTERM reaches the container and the run is KILLED', async () => {
  const child = spawn(process.execPath, [CLI, '-d', dir, 'run', '--experiment', 'cli', '--name', 'interrupted', '--image', image, '--',
    'sh', '-c', 'trap "echo got TERM; exit 143" TERM; echo up; while true; do sleep 0.1; done'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('up\n')) resolve();
    }),
  );
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stdout, /got TERM/);
  assert.match(stderr, /cancelling/);
  const list = JSON.parse((await cli(dir, 'jobs', 'list', '--json')).stdout);
  assert.equal(list.find((j: any) => j.run_name === 'interrupted').status, 'KILLED');
});

test('trellis sweep runs a grid, tags every trial with the sweep id and names the best', async () => {
  const r = await cli(dir, 'sweep', '--experiment', 'sweeps', '--image', image, '--grid', 'x=1,3,2', '--random', 'noise=uniform(0,0.5)', '--trials', '3', '--seed', '7',
    '--parallel', '2', '--metric', 'score', '--goal', 'max', '--json',
    '--', 'sh', '-c', logMetric('score', '{{x}}'));
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.trials.length, 3);
  assert.deepEqual(summary.trials.map((t: any) => [t.params.x, t.status, t.value]), [['1', 'FINISHED', 1], ['3', 'FINISHED', 3], ['2', 'FINISHED', 2]]);
  assert.equal(summary.best.params.x, '3');
  assert.equal(summary.seed, 7);
  for (const t of summary.trials) assert.ok(Number(t.params.noise) >= 0 && Number(t.params.noise) < 0.5, t.params.noise);
  const tagged = JSON.parse((await cli(dir, 'jobs', 'list', '--sweep', summary.sweep_id, '--json')).stdout);
  assert.deepEqual(tagged.map((j: any) => j.run_id).sort(), summary.trials.map((t: any) => t.runId).sort());
});
