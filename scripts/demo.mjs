// `npm start`: Trellis opened on a demo workspace. The workspace gets a platform server (data in
// <workspace>/.trellis) with a demo training run, a registered ONNX model version (@champion) served by
// the platform's model host, and a recorded load test, so every view has something. Then, with the
// `code` command on PATH, VS Code opens it as an extension development host; otherwise code-server
// (test/support/code-server.ts, the e2e tests' own start logic) serves the workbench on 127.0.0.1 and
// the URL is printed. Ctrl-C stops code-server's whole process group and the platform server.
//
// Runs under tsx (`node --import tsx scripts/demo.mjs`), which lets it share the TypeScript modules.
// TRELLIS_DEMO_WORKSPACE picks the workspace folder (default: <tmp>/trellis-demo-workspace, kept between runs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

// Loaded as CommonJS (through tsx's require hook), as the tests load them: their __dirname is then their own.
const require = createRequire(import.meta.url);
const { startCodeServer, repoRoot } = require('../test/support/code-server.ts');
const { mlpModel } = require('../test/fixtures/onnx-models.ts');

const workspace = resolve(process.env.TRELLIS_DEMO_WORKSPACE ?? join(tmpdir(), 'trellis-demo-workspace'));
const dataDir = join(workspace, '.trellis');
const cli = join(repoRoot, 'dist', 'cli.js');
mkdirSync(workspace, { recursive: true });
if (!existsSync(cli)) {
  console.error(`${cli} is missing: build first (npm start runs node esbuild.mjs before this script).`);
  process.exit(1);
}

const stops = [];
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const stop of stops.reverse()) await stop().catch((err) => console.error(`while stopping: ${err.message}`));
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  const server = await startPlatform();
  await seed(server.url);
  const code = findOnPath('code');
  if (code && process.env.TRELLIS_DEMO_EDITOR !== 'code-server') {
    // Desktop VS Code: the extension from this repository, in a development host window on the workspace.
    spawnSync(code, [`--extensionDevelopmentPath=${repoRoot}`, workspace], { stdio: 'inherit' });
    console.log(`\nTrellis is open in VS Code (extension development host) on ${workspace}.`);
  } else {
    const editor = await startCodeServer({ workspace, logPath: join(tmpdir(), 'trellis-demo-code-server.log') });
    stops.push(() => editor.stop());
    console.log(`\nTrellis is open at ${editor.url}`);
    console.log(`(code-server on 127.0.0.1, workspace ${workspace}; its log: ${join(tmpdir(), 'trellis-demo-code-server.log')})`);
  }
  console.log(`Platform server ${server.url} (MLFLOW_TRACKING_URI=${server.url}). Ctrl-C stops everything this started.`);
} catch (err) {
  console.error(`npm start failed: ${err.message}`);
  await stopAll(1);
}

/** The workspace's platform server: the extension attaches to it through <workspace>/.trellis/server.json. */
async function startPlatform() {
  const child = spawn(process.execPath, [cli, '-d', dataDir, 'server', '--port', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  stops.push(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`the platform server exited (${signal ?? code}); stopping.`);
      void stopAll(1);
    }
  });
  const file = join(dataDir, 'server.json');
  for (let i = 0; i < 400; i++) {
    if (existsSync(file)) {
      const info = JSON.parse(readFileSync(file, 'utf8'));
      if (info.pid === child.pid) return info;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the platform server did not announce itself in ${file} within 20 s`);
}

/** What an MLflow client sends for a short training run, then a registered, served and load-tested version. */
async function seed(url) {
  const call = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body && JSON.stringify(body) });
    const json = await res.json();
    // "Already exists" and "does not exist" are answers here (a second start, a first look-up), not failures.
    if (!res.ok && !['RESOURCE_ALREADY_EXISTS', 'RESOURCE_DOES_NOT_EXIST'].includes(json.error_code)) throw new Error(`${path}: ${json.error_code}: ${json.message}`);
    return json;
  };
  const mlflow = (method, path, body) => call(method, `/api/2.0/mlflow/${path}`, body);
  const existing = await mlflow('GET', 'experiments/get-by-name?experiment_name=demo');
  if (!existing.experiment) {
    const { experiment_id } = await mlflow('POST', 'experiments/create', { name: 'demo' });
    const { run } = await mlflow('POST', 'runs/create', { experiment_id, run_name: 'mlp-demo', start_time: Date.now() - 60_000 });
    const runId = run.info.run_id;
    await mlflow('POST', 'runs/log-batch', { run_id: runId, params: [{ key: 'lr', value: '0.01' }, { key: 'hidden', value: '16' }, { key: 'epochs', value: '50' }] });
    const metrics = [];
    for (let epoch = 0; epoch < 50; epoch++) {
      const loss = 2 * Math.exp(-epoch / 10) + 0.03 * Math.sin(epoch);
      metrics.push({ key: 'loss', value: loss, timestamp: Date.now(), step: epoch }, { key: 'accuracy', value: 1 - loss / 2.2, timestamp: Date.now(), step: epoch });
    }
    await mlflow('POST', 'runs/log-batch', { run_id: runId, metrics });
    const artifacts = `${url}/api/2.0/mlflow-artifacts/artifacts/${run.info.artifact_uri.replace('mlflow-artifacts:/', '')}`;
    await fetch(`${artifacts}/model/model.onnx`, { method: 'PUT', body: mlpModel({ hidden: 16 }).bytes });
    await fetch(`${artifacts}/model/MLmodel`, { method: 'PUT', body: 'flavors:\n  onnx: {}\n' });
    await mlflow('POST', 'runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
    await mlflow('POST', 'registered-models/create', { name: 'demo-model' });
    const { model_version: version } = await mlflow('POST', 'model-versions/create', { name: 'demo-model', source: `${run.info.artifact_uri}/model`, run_id: runId });
    await mlflow('POST', 'registered-models/alias', { name: 'demo-model', alias: 'champion', version: version.version });
    console.log(`Logged run mlp-demo (50 epochs of loss/accuracy, an ONNX model) and registered demo-model v${version.version} as @champion.`);
  }
  // The platform's model host starts empty each time: serve the champion, so the Endpoints view has it.
  const { model } = await call('POST', '/api/trellis/serving/models', { model: 'demo-model@champion' });
  console.log(`Serving demo-model v${model.version} at ${url}/v2/models/demo-model.`);
  const tests = await mlflow('GET', 'experiments/get-by-name?experiment_name=load-tests');
  if (!tests.experiment) loadTest(url, model);
}

/** A short recorded load test of the served version (`trellis loadtest`), for the load-test report. */
function loadTest(url, model) {
  const body = join(dataDir, 'demo-request.json');
  writeFileSync(body, JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 784], data: Array.from({ length: 784 }, (_, i) => (i % 17) / 17) }] }));
  const target = `${url}/v2/models/demo-model/versions/${model.version}/infer`;
  const r = spawnSync(process.execPath, [cli, '-d', dataDir, 'loadtest', target, '--body-file', body, '--rate', '20', '-d', '2s', '--threshold', 'p99<100ms', '--name', 'demo load test'], { encoding: 'utf8' });
  console.log(r.status === 0 || r.status === 2 ? 'Recorded a 2 s load test of it (Trellis: Open Load-Test Report).' : `The demo load test did not run (exit ${r.status}): ${r.stderr.trim().split('\n').pop()}`);
}

function findOnPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}
