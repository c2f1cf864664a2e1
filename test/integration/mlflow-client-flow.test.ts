// Replays, request by request, what an unmodified MLflow 2.x Python client sends for a typical training
// script (see the protocol reference §11) and checks every reply has what the client reads:
//
//   mlflow.set_tracking_uri(url); mlflow.set_experiment("client-flow")
//   with mlflow.start_run(run_name="baseline"):
//       mlflow.log_params({"lr": 0.01, "epochs": 3}); mlflow.set_tag("stage", "dev")
//       for step in range(3): mlflow.log_metric("loss", ..., step=step)
//       mlflow.log_metrics({"acc": 0.91, "f1": 0.88}, step=3)
//       mlflow.log_artifact("report.txt"); mlflow.log_artifacts("model_dir", "model")
//   mlflow.register_model(f"runs:/{run_id}/model", "client-flow-model")   (twice)
//   client.set_registered_model_alias("client-flow-model", "champion", "1")
//   mlflow.pyfunc.load_model("models:/client-flow-model@champion")   (alias → download uri → files)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;

interface Exchange {
  status: number;
  contentType: string;
  body: any;
  text: string;
}

/**
 * `mlflow.utils.rest_utils.call_endpoint`: GET → query string built by `requests` from the JSON dict (lists
 * repeat the key), other methods → `json=` body. Every request carries the client's User-Agent.
 */
async function call(method: string, endpoint: string, json: Record<string, unknown> = {}): Promise<Exchange> {
  let url = `${p.server.url}/api/2.0/mlflow/${endpoint}`;
  const init: RequestInit = { method, headers: { 'User-Agent': 'mlflow-python-client/2.19.0' } };
  if (method === 'GET') {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(json)) for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
    if ([...qs].length) url += `?${qs}`;
  } else {
    init.body = JSON.stringify(json);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body, text };
}

/** `verify_rest_response`: 200 with a JSON object body, else a RestException parsed from `{error_code, message}`. */
function ok(res: Exchange): any {
  assert.equal(res.status, 200, res.text);
  assert.match(res.contentType, /^application\/json/);
  assert.ok(res.body && typeof res.body === 'object' && !Array.isArray(res.body), res.text);
  return res.body;
}

function restException(res: Exchange, code: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `deterministic errors must not be 5xx (the client retries those): ${res.status} ${res.text}`);
  assert.equal(res.body?.error_code, code, res.text);
  assert.equal(typeof res.body.message, 'string');
}

function has(obj: any, fields: Record<string, string>, what: string): void {
  assert.ok(obj && typeof obj === 'object', `${what} is missing`);
  for (const [field, type] of Object.entries(fields)) {
    assert.equal(typeof obj[field], type, `${what}.${field} should be a ${type}: ${JSON.stringify(obj)}`);
  }
}

const RUN_INFO = {
  run_id: 'string',
  run_uuid: 'string',
  run_name: 'string',
  experiment_id: 'string',
  user_id: 'string',
  status: 'string',
  start_time: 'number',
  artifact_uri: 'string',
  lifecycle_stage: 'string',
};
const MODEL_VERSION = {
  name: 'string',
  version: 'string',
  creation_timestamp: 'number',
  last_updated_timestamp: 'number',
  current_stage: 'string',
  source: 'string',
  run_id: 'string',
  status: 'string',
};

function checkRun(run: any): void {
  has(run, { info: 'object', data: 'object', inputs: 'object' }, 'run');
  has(run.info, RUN_INFO, 'run.info');
  assert.equal(run.info.run_uuid, run.info.run_id);
  for (const m of run.data.metrics ?? []) {
    has(m, { key: 'string', timestamp: 'number', step: 'number' }, 'metric');
    // Doubles are numbers, or protobuf's strings for the non-finite ones.
    assert.ok(typeof m.value === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(m.value), JSON.stringify(m));
  }
  for (const t of [...(run.data.params ?? []), ...(run.data.tags ?? [])]) has(t, { key: 'string', value: 'string' }, 'param/tag');
}

const kv = (list: any[] | undefined): Record<string, string> => Object.fromEntries((list ?? []).map((t: any) => [t.key, t.value]));

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.stop();
});

describe('a training script through the MLflow 2.x Python client', () => {
  const EXPERIMENT = 'client-flow';
  const MODEL = 'client-flow-model';
  let experimentId: string;
  let runId: string;
  let artifactUri: string;
  const startTime = 1_700_000_000_000;

  test('set_experiment: get-by-name 404 (→ None), experiments/create, experiments/get', async () => {
    const miss = await call('GET', 'experiments/get-by-name', { experiment_name: EXPERIMENT });
    assert.equal(miss.status, 404);
    restException(miss, 'RESOURCE_DOES_NOT_EXIST');
    const created = ok(await call('POST', 'experiments/create', { name: EXPERIMENT }));
    has(created, { experiment_id: 'string' }, 'CreateExperiment.Response');
    experimentId = created.experiment_id;
    const { experiment } = ok(await call('GET', 'experiments/get', { experiment_id: experimentId }));
    has(experiment, { experiment_id: 'string', name: 'string', artifact_location: 'string', lifecycle_stage: 'string' }, 'experiment');
    assert.equal(experiment.lifecycle_stage, 'active');
    assert.equal(experiment.artifact_location, `mlflow-artifacts:/${experimentId}`);
    // A second script run finds it by name.
    const found = ok(await call('GET', 'experiments/get-by-name', { experiment_name: EXPERIMENT })).experiment;
    assert.equal(found.experiment_id, experimentId);
  });

  test('start_run: runs/create with the client\'s context tags', async () => {
    const { run } = ok(
      await call('POST', 'runs/create', {
        experiment_id: experimentId,
        user_id: 'alice',
        start_time: startTime,
        tags: [
          { key: 'mlflow.user', value: 'alice' },
          { key: 'mlflow.source.name', value: 'train.py' },
          { key: 'mlflow.source.type', value: 'LOCAL' },
          { key: 'mlflow.source.git.commit', value: '0123456789abcdef' },
          { key: 'mlflow.runName', value: 'baseline' },
        ],
        run_name: 'baseline',
      }),
    );
    checkRun(run);
    runId = run.info.run_id;
    artifactUri = run.info.artifact_uri;
    assert.equal(run.info.run_name, 'baseline');
    assert.equal(run.info.status, 'RUNNING');
    assert.equal(run.info.start_time, startTime);
    assert.equal(run.info.experiment_id, experimentId);
    assert.equal(artifactUri, `mlflow-artifacts:/${experimentId}/${runId}/artifacts`);
    assert.deepEqual(kv(run.data.tags), {
      'mlflow.user': 'alice',
      'mlflow.source.name': 'train.py',
      'mlflow.source.type': 'LOCAL',
      'mlflow.source.git.commit': '0123456789abcdef',
      'mlflow.runName': 'baseline',
    });
  });

  test('log_params → log-batch (empty lists omitted); set_tag → set-tag with run_uuid + run_id', async () => {
    assert.deepEqual(
      ok(await call('POST', 'runs/log-batch', { run_id: runId, params: [{ key: 'lr', value: '0.01' }, { key: 'epochs', value: '3' }] })),
      {},
    );
    assert.deepEqual(ok(await call('POST', 'runs/set-tag', { run_uuid: runId, run_id: runId, key: 'stage', value: 'dev' })), {});
  });

  test('log_metric → log-metric with run_uuid + run_id, key, value, timestamp, step', async () => {
    for (const [step, loss] of [0.9, 0.5, 0.3].entries()) {
      assert.deepEqual(
        ok(await call('POST', 'runs/log-metric', { run_uuid: runId, run_id: runId, key: 'loss', value: loss, timestamp: startTime + 1000 * (step + 1), step })),
        {},
      );
    }
    // A diverged value, serialised by protobuf's MessageToJson as the string "NaN".
    ok(await call('POST', 'runs/log-metric', { run_uuid: runId, run_id: runId, key: 'grad_norm', value: 'NaN', timestamp: startTime + 3500, step: 2 }));
  });

  test('log_metrics → log-batch with metrics only', async () => {
    ok(
      await call('POST', 'runs/log-batch', {
        run_id: runId,
        metrics: [
          { key: 'acc', value: 0.91, timestamp: startTime + 4000, step: 3 },
          { key: 'f1', value: 0.88, timestamp: startTime + 4000, step: 3 },
        ],
      }),
    );
  });

  test('log_artifact / log_artifacts → PUT mlflow-artifacts, body = file bytes, guessed mime type', async () => {
    const base = `${p.server.url}/api/2.0/mlflow-artifacts/artifacts/${artifactUri.slice('mlflow-artifacts:/'.length)}`;
    const files: [string, string, string][] = [
      ['report.txt', 'text/plain', 'final loss 0.3\n'],
      ['model/MLmodel', 'application/octet-stream', 'artifact_path: model\nflavors:\n  python_function: {}\n'],
      ['model/requirements.txt', 'text/plain', 'scikit-learn\n'],
      ['model/model.pkl', 'application/octet-stream', '\x80\x04pickle'],
    ];
    for (const [path, type, content] of files) {
      const res = await fetch(`${base}/${path}`, { method: 'PUT', body: content, headers: { 'Content-Type': type } });
      assert.ok(res.ok, `PUT ${path}: ${res.status}`);
      assert.deepEqual(await res.json(), {});
    }
  });

  test('Model.log → runs/log-model is either stored or refused with a 4xx JSON error (the client swallows it)', async () => {
    const modelJson = JSON.stringify({ artifact_path: 'model', flavors: { python_function: {} }, utc_time_created: '2024-01-01 00:00:00.000000', run_id: runId });
    const res = await call('POST', 'runs/log-model', { run_id: runId, model_json: modelJson });
    if (res.status !== 200) {
      assert.ok(res.status >= 400 && res.status < 500, `a 5xx would be retried by the client: ${res.status}`);
      assert.equal(typeof res.body?.error_code, 'string', res.text);
    }
  });

  test('end_run → runs/update FINISHED with end_time; run_info has what the client reads', async () => {
    const endTime = startTime + 10_000;
    const { run_info } = ok(await call('POST', 'runs/update', { run_uuid: runId, run_id: runId, status: 'FINISHED', end_time: endTime }));
    has(run_info, { ...RUN_INFO, end_time: 'number' }, 'run_info');
    assert.equal(run_info.status, 'FINISHED');
    assert.equal(run_info.end_time, endTime);
    assert.equal(run_info.run_name, 'baseline');
  });

  test('the logged run reads back complete: get_run, get_metric_history (paged by 25000), search_runs', async () => {
    const { run } = ok(await call('GET', 'runs/get', { run_id: runId }));
    checkRun(run);
    assert.deepEqual(kv(run.data.params), { lr: '0.01', epochs: '3' });
    assert.equal(kv(run.data.tags).stage, 'dev');
    const latest = Object.fromEntries(run.data.metrics.map((m: any) => [m.key, m]));
    assert.deepEqual(latest.loss, { key: 'loss', value: 0.3, timestamp: startTime + 3000, step: 2 });
    assert.equal(latest.grad_norm.value, 'NaN');
    assert.equal(latest.acc.value, 0.91);

    const hist = ok(await call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 25000 }));
    assert.deepEqual(hist.metrics.map((m: any) => [m.step, m.value]), [[0, 0.9], [1, 0.5], [2, 0.3]]);
    assert.equal(hist.next_page_token, undefined);

    const found = ok(
      await call('POST', 'runs/search', {
        experiment_ids: [experimentId],
        filter: "params.lr = '0.01' and metrics.acc > 0.9",
        run_view_type: 'ACTIVE_ONLY',
        max_results: 1000,
        order_by: ['metrics.acc DESC'],
      }),
    );
    assert.equal(found.runs.length, 1);
    checkRun(found.runs[0]);
    assert.equal(found.runs[0].info.run_id, runId);
  });

  test('list_artifacts / download_artifacts through mlflow-artifacts', async () => {
    const root = artifactUri.slice('mlflow-artifacts:/'.length);
    const list = async (rel: string) => {
      const res = await fetch(`${p.server.url}/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path: rel ? `${root}/${rel}` : root })}`);
      assert.equal(res.status, 200);
      const body: any = await res.json();
      for (const f of body.files ?? []) has(f, { path: 'string', is_dir: 'boolean' }, 'FileInfo');
      return (body.files ?? []).map((f: any) => `${f.path}${f.is_dir ? '/' : ''}`).sort();
    };
    assert.deepEqual(await list(''), ['model/', 'report.txt']);
    assert.deepEqual(await list('model'), ['MLmodel', 'model.pkl', 'requirements.txt']);
    const report = await fetch(`${p.server.url}/api/2.0/mlflow-artifacts/artifacts/${root}/report.txt`);
    assert.equal(await report.text(), 'final loss 0.3\n');
    // The UI's view: tracking artifacts/list, paths relative to the run root.
    const tracked = ok(await call('GET', 'artifacts/list', { run_id: runId, path: 'model' }));
    assert.equal(tracked.root_uri, artifactUri);
    assert.deepEqual(tracked.files.map((f: any) => f.path).sort(), ['model/MLmodel', 'model/model.pkl', 'model/requirements.txt']);
  });

  let source: string;
  test('register_model: registered-models/create, then model-versions/create with the resolved mlflow-artifacts source', async () => {
    // RunsArtifactRepository resolves runs:/<id>/model through runs/get.
    const { run } = ok(await call('GET', 'runs/get', { run_id: runId }));
    source = `${run.info.artifact_uri}/model`;
    const { registered_model } = ok(await call('POST', 'registered-models/create', { name: MODEL }));
    has(registered_model, { name: 'string', creation_timestamp: 'number', last_updated_timestamp: 'number' }, 'registered_model');
    const { model_version } = ok(await call('POST', 'model-versions/create', { name: MODEL, source, run_id: runId }));
    has(model_version, MODEL_VERSION, 'model_version');
    assert.equal(model_version.version, '1');
    assert.equal(model_version.status, 'READY', 'READY: the client does not poll');
    assert.equal(model_version.current_stage, 'None');
    assert.equal(model_version.source, `mlflow-artifacts:/${experimentId}/${runId}/artifacts/model`);
    assert.equal(model_version.run_id, runId);
  });

  test('registering again: RESOURCE_ALREADY_EXISTS (400, tolerated by the client), then version 2', async () => {
    const again = await call('POST', 'registered-models/create', { name: MODEL });
    assert.equal(again.status, 400);
    restException(again, 'RESOURCE_ALREADY_EXISTS');
    const { model_version } = ok(await call('POST', 'model-versions/create', { name: MODEL, source, run_id: runId }));
    assert.equal(model_version.version, '2');
  });

  test('set_registered_model_alias, get_model_version_by_alias, get_registered_model', async () => {
    assert.deepEqual(ok(await call('POST', 'registered-models/alias', { name: MODEL, alias: 'champion', version: '1' })), {});
    const { model_version } = ok(await call('GET', 'registered-models/alias', { name: MODEL, alias: 'champion' }));
    has(model_version, MODEL_VERSION, 'model_version');
    assert.equal(model_version.version, '1');
    assert.deepEqual(model_version.aliases, ['champion']);
    const { registered_model } = ok(await call('GET', 'registered-models/get', { name: MODEL }));
    assert.deepEqual(registered_model.aliases, [{ alias: 'champion', version: '1' }]);
    for (const v of registered_model.latest_versions) has(v, MODEL_VERSION, 'latest_versions[]');
    assert.deepEqual(registered_model.latest_versions.map((v: any) => v.version), ['2']);
  });

  test('load_model("models:/…@champion"): alias → get-download-uri → the artifacts download', async () => {
    const { model_version } = ok(await call('GET', 'registered-models/alias', { name: MODEL, alias: 'champion' }));
    const { artifact_uri } = ok(await call('GET', 'model-versions/get-download-uri', { name: MODEL, version: model_version.version }));
    assert.equal(artifact_uri, source);
    const path = artifact_uri.slice('mlflow-artifacts:/'.length);
    const mlmodel = await fetch(`${p.server.url}/api/2.0/mlflow-artifacts/artifacts/${path}/MLmodel`);
    assert.equal(mlmodel.status, 200);
    assert.match(await mlmodel.text(), /python_function/);
  });

  test('search_registered_models / search_model_versions as the client sends them (GET)', async () => {
    const models = ok(await call('GET', 'registered-models/search', { filter: `name = '${MODEL}'`, max_results: 100 }));
    assert.deepEqual(models.registered_models.map((m: any) => m.name), [MODEL]);
    const versions = ok(await call('GET', 'model-versions/search', { filter: `name='${MODEL}'`, max_results: 10000, order_by: ['version_number DESC'] }));
    assert.deepEqual(versions.model_versions.map((v: any) => v.version), ['2', '1']);
    for (const v of versions.model_versions) has(v, MODEL_VERSION, 'model_versions[]');
  });
});
