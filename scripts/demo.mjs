// `npm start`: the platform server on ./.trellis, plus a short demo of an MLflow-style client logging into it.
// The server keeps running (Ctrl-C stops it gracefully); point any MLflow client at the printed URI.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dataDir = resolve(process.env.TRELLIS_DATA_DIR ?? '.trellis');
const port = process.env.TRELLIS_PORT ?? '5000';
const server = spawn(process.execPath, ['dist/cli.js', '-d', dataDir, 'server', '--port', port], { stdio: ['ignore', 'inherit', 'inherit'] });
process.on('SIGINT', () => server.kill('SIGINT'));
process.on('SIGTERM', () => server.kill('SIGTERM'));
server.on('exit', (code) => process.exit(code ?? 0));

const info = await waitForServer();
const api = async (method, path, body) => {
  const res = await fetch(`${info.url}/api/2.0/mlflow/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok && json.error_code !== 'RESOURCE_ALREADY_EXISTS') throw new Error(`${path}: ${json.error_code}: ${json.message}`);
  return json;
};

// What `mlflow.set_experiment`, `start_run`, `log_params`, `log_metric` per epoch, `log_artifact` and
// `register_model` send, as plain REST calls.
const experiment = await fetch(`${info.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=demo`).then((r) => r.json());
const experimentId = experiment.experiment?.experiment_id ?? (await api('POST', 'experiments/create', { name: 'demo' })).experiment_id;
const { run } = await api('POST', 'runs/create', { experiment_id: experimentId, run_name: `demo-${new Date().toISOString().slice(11, 19)}`, start_time: Date.now() });
const runId = run.info.run_id;
await api('POST', 'runs/log-batch', { run_id: runId, params: [{ key: 'lr', value: '0.01' }, { key: 'epochs', value: '20' }] });
for (let epoch = 0; epoch < 20; epoch++) {
  const loss = 2 * Math.exp(-epoch / 5) + 0.05 * Math.random();
  await api('POST', 'runs/log-batch', {
    run_id: runId,
    metrics: [
      { key: 'loss', value: loss, timestamp: Date.now(), step: epoch },
      { key: 'accuracy', value: 1 - loss / 2.2, timestamp: Date.now(), step: epoch },
    ],
  });
}
const artifactPath = `${run.info.artifact_uri.replace('mlflow-artifacts:/', '')}/model/README.txt`;
await fetch(`${info.url}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`, { method: 'PUT', body: 'a demo model artifact\n' });
await api('POST', 'runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
await api('POST', 'registered-models/create', { name: 'demo-model' });
const { model_version: version } = await api('POST', 'model-versions/create', { name: 'demo-model', source: `${run.info.artifact_uri}/model`, run_id: runId });
await api('POST', 'registered-models/alias', { name: 'demo-model', alias: 'champion', version: version.version });

console.log(`
Logged run ${runId} (20 epochs of loss/accuracy, an artifact) and registered demo-model v${version.version} as @champion.

Try:
  node dist/cli.js runs list --experiment demo --order-by "metrics.accuracy DESC"
  node dist/cli.js runs show ${runId}
  node dist/cli.js models show demo-model
Any MLflow client logs here with:
  export MLFLOW_TRACKING_URI=${info.url}
The server keeps running on ${dataDir}; Ctrl-C stops it.`);

async function waitForServer() {
  const file = join(dataDir, 'server.json');
  for (let i = 0; i < 200; i++) {
    if (existsSync(file)) {
      const info = JSON.parse(readFileSync(file, 'utf8'));
      if (info.pid === server.pid) return info;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the Trellis server did not start within 10 s');
}
