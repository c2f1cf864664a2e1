// Inside the real extension host: the platform lifecycle, the trees over a real server, and commands
// acting on the real registry. The workspace is a fresh temp folder the driver opens.
import * as vscode from 'vscode';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrellisApi } from '../../src/extension/extension';
import type { PlatformState } from '../../src/extension/platform';
import type { ExperimentsNode } from '../../src/extension/trees/experiments-tree';
import type { ModelsNode } from '../../src/extension/trees/models-tree';
import { artifactUri } from '../../src/extension/artifact-documents';
import { processAlive, readServerFile } from '../../src/core/server-file';
import { mlpModel } from '../fixtures/onnx-models';
import { eventually, test } from './harness';

const extension = vscode.extensions.getExtension<TrellisApi>('trellis-dev.trellis');
const workspace = () => vscode.workspace.workspaceFolders![0]!.uri.fsPath;
const dataDir = () => join(workspace(), '.trellis');
let api: TrellisApi;

/** MLflow REST against the running platform, as any MLflow client would send it. */
async function mlflow(method: string, path: string, body?: Record<string, unknown>): Promise<any> {
  const state = api.platform.state;
  assert.equal(state.kind, 'running', 'the platform should be running');
  const res = await fetch(`${state.kind === 'running' ? state.url : ''}/api/2.0/mlflow/${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function treeChanged(tree: { onDidChangeTreeData: vscode.Event<unknown> }): Promise<void> {
  return new Promise((resolve) => {
    const d = tree.onDidChangeTreeData(() => {
      d.dispose();
      resolve();
    });
  });
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))]);
}

test('the extension activates and registers every command it contributes', async (note) => {
  assert.ok(extension, 'trellis-dev.trellis is installed in this host');
  api = extension.isActive ? extension.exports : await extension.activate();
  assert.ok(extension.isActive);
  assert.equal(typeof api.activationMs, 'number');
  note(`activation took ${api.activationMs.toFixed(1)} ms (activate() from first line to return)`);
  const contributed = (extension.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
  const registered = new Set(await vscode.commands.getCommands(true));
  assert.deepEqual(contributed.filter((c) => !registered.has(c)), [], 'contributed but not registered');
  assert.equal(api.platform.state.kind, 'stopped', 'a workspace without .trellis starts nothing by itself');
});

test('Start Platform spawns a server and announces it in .trellis/server.json', async () => {
  await vscode.commands.executeCommand('trellis.startPlatform');
  const state = api.platform.state;
  assert.equal(state.kind, 'running');
  assert.ok(state.kind === 'running' && state.owned, 'this window started it');
  const info = readServerFile(dataDir());
  assert.ok(info, '.trellis/server.json exists');
  assert.ok(processAlive(info.pid));
  assert.equal(state.kind === 'running' && state.url, info.url);
  assert.equal((await fetch(`${info.url}/health`)).status, 200);
});

test('a run logged over the MLflow REST API appears in the Experiments tree, refreshed by the event stream', async () => {
  const refreshed = treeChanged(api.trees.experiments);
  const { experiment_id } = await mlflow('POST', 'experiments/create', { name: 'in-host' });
  const { run } = await mlflow('POST', 'runs/create', { experiment_id, run_name: 'baseline', start_time: Date.now() - 65_000 });
  await within(5000, 'the tree to refresh from /api/trellis/events', refreshed);
  await mlflow('POST', 'runs/log-batch', {
    run_id: run.info.run_id,
    params: [{ key: 'lr', value: '0.01' }],
    metrics: [0.9, 0.5, 0.25].map((value, step) => ({ key: 'loss', value, step, timestamp: Date.now() })),
  });
  const artifact = `${run.info.artifact_uri.replace('mlflow-artifacts:/', '')}/model/README.txt`;
  const put = await fetch(`${api.platform.state.kind === 'running' ? api.platform.state.url : ''}/api/2.0/mlflow-artifacts/artifacts/${artifact}`, { method: 'PUT', body: 'weights go here\n' });
  assert.equal(put.status, 200);
  await mlflow('POST', 'runs/update', { run_id: run.info.run_id, status: 'FINISHED', end_time: Date.now() });

  const tree = api.trees.experiments;
  const experiments = (await tree.getChildren()) as ExperimentsNode[];
  const experiment = experiments.find((n) => n.kind === 'experiment' && n.experiment.name === 'in-host');
  assert.ok(experiment, `experiment in ${JSON.stringify(experiments.map((e) => tree.getTreeItem(e).label))}`);
  const runs = (await tree.getChildren(experiment)) as ExperimentsNode[];
  assert.equal(runs.length, 1);
  const runItem = tree.getTreeItem(runs[0]!);
  assert.equal(runItem.label, 'baseline');
  assert.match(String(runItem.description), /^loss 0\.25 · 1 min \d+ s$/);
  assert.equal(runItem.contextValue, 'run');

  const [params, metrics, artifacts] = (await tree.getChildren(runs[0])) as ExperimentsNode[];
  const rows = async (n: ExperimentsNode | undefined) => ((await tree.getChildren(n)) as ExperimentsNode[]).map((c) => `${tree.getTreeItem(c).label}=${tree.getTreeItem(c).description}`);
  assert.deepEqual(await rows(params), ['lr=0.01']);
  assert.deepEqual(await rows(metrics), ['loss=0.25 (step 2)']);
  const [modelDir] = (await tree.getChildren(artifacts)) as ExperimentsNode[];
  const [file] = (await tree.getChildren(modelDir)) as ExperimentsNode[];
  assert.ok(file?.kind === 'artifact' && file.file.path === 'model/README.txt');
  const doc = await vscode.workspace.openTextDocument(artifactUri(run.info.run_id, 'model/README.txt'));
  assert.equal(doc.getText(), 'weights go here\n');

  tree.setFilter('metrics.loss < 0.1');
  const none = (await tree.getChildren(experiment)) as ExperimentsNode[];
  assert.deepEqual(none.map((n) => n.kind), ['message'], 'the filter is applied by the server');
  tree.setFilter('');
});

test('sorting runs by a metric orders them on the server and shows that metric', async () => {
  const experiment = await mlflow('GET', 'experiments/get-by-name?experiment_name=in-host');
  const experiment_id = experiment.experiment.experiment_id;
  const { run } = await mlflow('POST', 'runs/create', { experiment_id, run_name: 'wide', start_time: Date.now() });
  await mlflow('POST', 'runs/log-batch', {
    run_id: run.info.run_id,
    metrics: [
      { key: 'loss', value: 0.5, step: 0, timestamp: Date.now() },
      { key: 'accuracy', value: 0.97, step: 0, timestamp: Date.now() },
    ],
  });
  const tree = api.trees.experiments;
  const node = ((await tree.getChildren()) as ExperimentsNode[]).find((n) => n.kind === 'experiment' && n.experiment.experiment_id === experiment_id);
  const labels = async () => ((await tree.getChildren(node)) as ExperimentsNode[]).map((n) => `${tree.getTreeItem(n).label}: ${tree.getTreeItem(n).description}`.replace(/ · .*$/, ''));
  try {
    tree.setOrder({ orderBy: 'metrics.`loss` ASC', label: 'loss, lowest first' });
    assert.deepEqual(await labels(), ['baseline: loss 0.25', 'wide: loss 0.5']);
    tree.setOrder({ orderBy: 'metrics.`loss` DESC', label: 'loss, highest first' });
    assert.deepEqual(await labels(), ['wide: loss 0.5', 'baseline: loss 0.25']);
    tree.setOrder({ orderBy: 'metrics.`accuracy` DESC', label: 'accuracy, highest first' });
    assert.equal((await labels())[0], 'wide: accuracy 0.97', 'the sort metric is the one shown');
  } finally {
    tree.setOrder({ orderBy: 'attributes.start_time DESC', label: 'newest first' });
    await mlflow('POST', 'runs/delete', { run_id: run.info.run_id });
  }
});

test('Set Alias through the command moves the alias in the registry', async () => {
  const experiment = await mlflow('GET', 'experiments/get-by-name?experiment_name=in-host');
  const { runs } = await mlflow('POST', 'runs/search', { experiment_ids: [experiment.experiment.experiment_id] });
  const run = runs[0];
  await mlflow('POST', 'registered-models/create', { name: 'digits' });
  await mlflow('POST', 'model-versions/create', { name: 'digits', source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });

  const tree = api.trees.models;
  const versionNode = await eventually('version 1 of digits in the Models tree', async () => {
    const models = (await tree.getChildren()) as ModelsNode[];
    const model = models.find((m) => m.kind === 'model' && m.model.name === 'digits');
    const versions = model ? ((await tree.getChildren(model)) as ModelsNode[]) : [];
    return versions.find((v) => v.kind === 'version' && v.version.version === '1');
  });
  await vscode.commands.executeCommand('trellis.setAlias', versionNode, 'champion');
  const alias = await mlflow('GET', 'registered-models/alias?name=digits&alias=champion');
  assert.equal(alias.model_version.version, '1');
  await eventually('the version row to show @champion', async () => {
    const model = ((await tree.getChildren()) as ModelsNode[]).find((m) => m.kind === 'model');
    const [v] = (await tree.getChildren(model)) as ModelsNode[];
    return v && String(tree.getTreeItem(v).description).includes('@champion');
  });
});

test('a training job shows in the Jobs view with live status, and its logs open in an editor', async () => {
  const image = process.env.TRELLIS_TEST_IMAGE;
  assert.ok(image, 'the driver passes a local image in TRELLIS_TEST_IMAGE (and the engine in DOCKER_HOST)');
  const url = api.platform.state.kind === 'running' ? api.platform.state.url : '';
  const trellis = async (path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/trellis/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
    const json = (await res.json()) as any;
    assert.ok(res.ok, `${path}: ${JSON.stringify(json)}`);
    return json;
  };
  // The trap makes the shell (PID 1, which ignores SIGTERM by default) end at once on cancel.
  const { job } = await trellis('jobs', { experiment_name: 'jobs', run_name: 'echo-job', image, command: ['sh', '-c', 'trap "exit 143" TERM; echo hello-from-job; sleep 60 & wait'] });
  const tree = api.trees.jobs;
  const rowOf = async () => {
    const nodes = (await tree.getChildren()) as any[];
    const node = nodes.find((n) => n.kind === 'resource' && n.job?.job_id === job.job_id);
    return node && { node, item: tree.getTreeItem(node) };
  };
  const running = await eventually('the job to show as running', async () => {
    const row = await rowOf();
    return row && String(row.item.description).startsWith('running') ? row : undefined;
  }, 30_000);
  assert.equal(running.item.label, 'echo-job');
  assert.equal(running.item.contextValue, 'job.active');

  await vscode.commands.executeCommand('trellis.showJobLogs', running.node);
  await eventually('the job output in the log editor', () => vscode.window.activeTextEditor?.document.getText().includes('hello-from-job'), 15_000);

  await trellis(`jobs/${job.job_id}/cancel`);
  await eventually('the Jobs view to show the job killed', async () => String((await rowOf())?.item.description).startsWith('killed'), 15_000);
  await eventually('the log editor to show the end of the job', () => vscode.window.activeTextEditor?.document.getText().includes('--- job killed'), 15_000);
  await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
});

test('a model served with `trellis serve` shows in the Endpoints view, ready, with its model', async () => {
  // A real ONNX model (written with onnx-proto) registered over REST, then served by the CLI on this data directory.
  const experiment = await mlflow('GET', 'experiments/get-by-name?experiment_name=in-host');
  const { run } = await mlflow('POST', 'runs/create', { experiment_id: experiment.experiment.experiment_id, run_name: 'mlp' });
  const url = api.platform.state.kind === 'running' ? api.platform.state.url : '';
  const put = await fetch(`${url}/api/2.0/mlflow-artifacts/artifacts/${run.info.artifact_uri.replace('mlflow-artifacts:/', '')}/model/model.onnx`, { method: 'PUT', body: mlpModel({ hidden: 8 }).bytes });
  assert.equal(put.status, 200);
  await mlflow('POST', 'registered-models/create', { name: 'served' });
  await mlflow('POST', 'model-versions/create', { name: 'served', source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });
  await mlflow('POST', 'registered-models/alias', { name: 'served', alias: 'prod', version: '1' });

  const cli = join(extension!.extensionPath, 'dist', 'cli.js');
  const serve = spawn(process.execPath, [cli, '--data-dir', dataDir(), 'serve', '--model', 'served@prod', '--port', '0', '--workers', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const tree = api.trees.endpoints;
    const endpoint = await eventually(`the endpoint in the Endpoints view (serve said: ${stderr})`, async () => {
      tree.refresh();
      const nodes = (await tree.getChildren()) as any[];
      return nodes.find((n) => n.kind === 'resource' && tree.getTreeItem(n).description === 'ready');
    }, 30_000);
    assert.match(String(tree.getTreeItem(endpoint).label), /^127\.0\.0\.1:\d+$/);
    const models = ((await tree.getChildren(endpoint)) as any[]).map((n) => `${tree.getTreeItem(n).label} ${tree.getTreeItem(n).description}`);
    assert.deepEqual(models, ['served v1 served@prod']);
  } finally {
    serve.kill('SIGTERM');
  }
});

test('Doctor shows the CLI checks in an editor', async () => {
  await vscode.commands.executeCommand('trellis.doctor');
  const text = await eventually('the doctor report to open', () => vscode.window.activeTextEditor?.document.getText());
  assert.match(text, /docker-engine/);
  assert.match(text, /platform-server/);
});

test('Stop Platform stops the server this window started and removes its announcement', async () => {
  const info = readServerFile(dataDir());
  assert.ok(info);
  await vscode.commands.executeCommand('trellis.stopPlatform');
  assert.equal(api.platform.state.kind, 'stopped');
  await eventually('the server process to exit', () => !processAlive(info.pid));
  assert.equal(existsSync(join(dataDir(), 'server.json')), false);
});

test('a server started elsewhere is attached to and left running on stop', async () => {
  const cli = join(extension!.extensionPath, 'dist', 'cli.js');
  const outside = spawn(process.execPath, [cli, '--data-dir', dataDir(), 'server', '--port', '0'], { stdio: 'ignore' });
  try {
    await eventually('the outside server to announce itself', () => readServerFile(dataDir())?.pid === outside.pid);
    await vscode.commands.executeCommand('trellis.startPlatform');
    const state = api.platform.state;
    assert.ok(state.kind === 'running' && !state.owned, `attached, not owned: ${JSON.stringify(state)}`);
    assert.equal(JSON.parse(readFileSync(join(dataDir(), 'server.json'), 'utf8')).pid, outside.pid);
    await vscode.commands.executeCommand('trellis.stopPlatform');
    assert.equal(api.platform.state.kind, 'stopped');
    assert.ok(processAlive(outside.pid!), 'the outside server keeps running');

    // trellis.server.url: the same server as a shared one, used by URL rather than found in the workspace.
    const config = vscode.workspace.getConfiguration('trellis');
    await config.update('server.url', readServerFile(dataDir())!.url, vscode.ConfigurationTarget.Global);
    try {
      await vscode.commands.executeCommand('trellis.startPlatform');
      const shared = api.platform.state as PlatformState; // re-read after the command (TS narrowed it above)
      assert.ok(shared.kind === 'running' && shared.shared && !shared.owned, `shared: ${JSON.stringify(shared)}`);
      assert.ok((await api.trees.models.getChildren())?.length, 'the trees read the shared server');
      await vscode.commands.executeCommand('trellis.stopPlatform');
      assert.ok(processAlive(outside.pid!), 'a shared server keeps running');
    } finally {
      await config.update('server.url', undefined, vscode.ConfigurationTarget.Global);
    }

    // Attached again, the outside server stops on its own: the window notices and falls back to stopped.
    await vscode.commands.executeCommand('trellis.startPlatform');
    assert.equal((api.platform.state as PlatformState).kind, 'running');
    outside.kill('SIGTERM');
    await eventually('the window to notice the server is gone', () => api.platform.state.kind === 'stopped', 15_000);
  } finally {
    outside.kill('SIGTERM');
  }
});
