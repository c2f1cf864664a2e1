import type { Store } from '../core/store';
import type { Metric, ViewType } from '../core/entities';
import { invalidParameter } from '../core/errors';
import { ArtifactStore, checkRelativePath } from '../core/artifacts';
import type { Router } from './router';
import {
  int64, keyValues, messages, requiredDouble, requiredInt64, requiredStr, str, strList, type Fields,
} from './input';
import { decodePageToken, encodePageToken } from '../core/search/page-token';

const API = '/api/2.0/mlflow';
const VIEW_TYPES: readonly ViewType[] = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'];
const API_DOCS = 'See the API docs for more information about request parameters.';

function viewType(f: Fields, name: string): ViewType | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  if (!VIEW_TYPES.includes(v as ViewType)) throw invalidParameter(`Invalid value '${v}' for parameter '${name}': expected one of ${VIEW_TYPES.join(', ')}.`);
  return v as ViewType;
}

/** `run_id`, or the deprecated `run_uuid` that older clients still send. */
const runId = (f: Fields): string => str(f, 'run_id') || str(f, 'run_uuid') || requiredStr(f, 'run_id');

function metricOf(m: Fields): Metric {
  return {
    key: requiredStr(m, 'key'),
    value: requiredDouble(m, 'value'),
    timestamp: requiredInt64(m, 'timestamp'),
    step: int64(m, 'step') ?? 0,
  };
}

export function mountTrackingRoutes(router: Router, store: Store): void {
  const { experiments, runs } = store;
  const post = (path: string, handler: (f: Fields) => unknown) =>
    router.on('POST', `${API}/${path}`, async (ctx) => handler(await ctx.fields()));
  const get = (path: string, handler: (f: Fields) => unknown) =>
    router.on('GET', `${API}/${path}`, async (ctx) => handler(await ctx.fields()));
  const both = (path: string, handler: (f: Fields) => unknown) =>
    router.on(['GET', 'POST'], `${API}/${path}`, async (ctx) => handler(await ctx.fields()));

  // Experiments
  post('experiments/create', (f) => ({
    experiment_id: experiments.create(requiredStr(f, 'name'), str(f, 'artifact_location'), keyValues(f, 'tags')),
  }));
  get('experiments/get', (f) => ({ experiment: experiments.get(requiredStr(f, 'experiment_id')) }));
  get('experiments/get-by-name', (f) => ({ experiment: experiments.getByName(requiredStr(f, 'experiment_name')) }));
  both('experiments/search', (f) => {
    const page = experiments.search({
      maxResults: int64(f, 'max_results'),
      pageToken: str(f, 'page_token'),
      filter: str(f, 'filter'),
      orderBy: strList(f, 'order_by'),
      viewType: viewType(f, 'view_type'),
    });
    return { experiments: page.items, ...(page.next_page_token ? { next_page_token: page.next_page_token } : {}) };
  });
  post('experiments/update', (f) => {
    experiments.rename(requiredStr(f, 'experiment_id'), requiredStr(f, 'new_name'));
    return {};
  });
  post('experiments/delete', (f) => {
    experiments.setLifecycle(requiredStr(f, 'experiment_id'), 'deleted');
    return {};
  });
  post('experiments/restore', (f) => {
    experiments.setLifecycle(requiredStr(f, 'experiment_id'), 'active');
    return {};
  });
  post('experiments/set-experiment-tag', (f) => {
    experiments.setTag(requiredStr(f, 'experiment_id'), requiredStr(f, 'key'), str(f, 'value') ?? '');
    return {};
  });

  // Runs
  post('runs/create', (f) => ({
    run: runs.create({
      experiment_id: str(f, 'experiment_id'),
      user_id: str(f, 'user_id'),
      run_name: str(f, 'run_name'),
      start_time: int64(f, 'start_time'),
      tags: keyValues(f, 'tags'),
    }),
  }));
  get('runs/get', (f) => ({ run: runs.get(runId(f)) }));
  post('runs/update', (f) => ({
    run_info: runs.update(runId(f), { status: str(f, 'status'), end_time: int64(f, 'end_time'), run_name: str(f, 'run_name') }),
  }));
  post('runs/delete', (f) => {
    runs.setLifecycle(requiredStr(f, 'run_id'), 'deleted');
    return {};
  });
  post('runs/restore', (f) => {
    runs.setLifecycle(requiredStr(f, 'run_id'), 'active');
    return {};
  });
  both('runs/search', (f) => {
    const page = runs.search({
      experimentIds: strList(f, 'experiment_ids'),
      filter: str(f, 'filter'),
      viewType: viewType(f, 'run_view_type'),
      maxResults: int64(f, 'max_results'),
      orderBy: strList(f, 'order_by'),
      pageToken: str(f, 'page_token'),
    });
    return { runs: page.items, ...(page.next_page_token ? { next_page_token: page.next_page_token } : {}) };
  });
  post('runs/log-metric', (f) => {
    runs.logBatch(runId(f), { metrics: [metricOf(f)] });
    return {};
  });
  post('runs/log-parameter', (f) => {
    runs.logBatch(runId(f), { params: [{ key: requiredStr(f, 'key'), value: str(f, 'value') ?? '' }] });
    return {};
  });
  post('runs/set-tag', (f) => {
    runs.logBatch(runId(f), { tags: [{ key: requiredStr(f, 'key'), value: str(f, 'value') ?? '' }] });
    return {};
  });
  post('runs/delete-tag', (f) => {
    runs.deleteTag(requiredStr(f, 'run_id'), requiredStr(f, 'key'));
    return {};
  });
  post('runs/log-batch', (f) => {
    runs.logBatch(requiredStr(f, 'run_id'), {
      metrics: messages(f, 'metrics').map(metricOf),
      params: keyValues(f, 'params'),
      tags: keyValues(f, 'tags'),
    });
    return {};
  });
  post('runs/log-inputs', (f) => {
    const datasets = messages(f, 'datasets').map((d) => {
      const dataset = d.dataset as Fields | undefined;
      if (!dataset || typeof dataset !== 'object') throw invalidParameter(`Missing value for required parameter 'datasets.dataset'.`);
      return {
        tags: keyValues(d, 'tags'),
        dataset: {
          name: requiredStr(dataset, 'name'),
          digest: requiredStr(dataset, 'digest'),
          source_type: requiredStr(dataset, 'source_type'),
          source: requiredStr(dataset, 'source'),
          ...(str(dataset, 'schema') !== undefined ? { schema: str(dataset, 'schema')! } : {}),
          ...(str(dataset, 'profile') !== undefined ? { profile: str(dataset, 'profile')! } : {}),
        },
      };
    });
    runs.logInputs(requiredStr(f, 'run_id'), datasets);
    return {};
  });

  // Metrics
  get('metrics/get-history', (f) => {
    const id = runId(f);
    runs.info(id); // 404 for an unknown run, as MLflow answers
    const key = requiredStr(f, 'metric_key');
    // No max_results: the whole history, as MLflow 2.x servers answer; with it, pages and a token.
    const max = int64(f, 'max_results');
    if (max !== undefined && max < 1) throw invalidParameter(`Invalid value ${max} for parameter 'max_results': it must be a positive integer. ${API_DOCS}`);
    const offset = decodePageToken(str(f, 'page_token'));
    if (max === undefined) return { metrics: runs.metrics.history(id, key, offset) };
    const points = runs.metrics.history(id, key, offset, max + 1);
    return { metrics: points.slice(0, max), ...(points.length > max ? { next_page_token: encodePageToken(offset + max) } : {}) };
  });
  get('metrics/get-history-bulk-interval', (f) => {
    const ids = strList(f, 'run_ids');
    if (ids.length === 0) throw invalidParameter(`Missing value for required parameter 'run_ids'. ${API_DOCS}`);
    if (ids.length > 100) throw invalidParameter(`GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received ${ids.length} run_ids.`);
    const key = requiredStr(f, 'metric_key');
    const max = int64(f, 'max_results') ?? 2500;
    if (max < 1 || max > 2500) throw invalidParameter(`max_results must be between 1 and 2500. ${API_DOCS}`);
    const startStep = int64(f, 'start_step');
    const endStep = int64(f, 'end_step');
    if ((startStep === undefined) !== (endStep === undefined)) {
      throw invalidParameter('If either start step or end step are specified, both must be specified.');
    }
    if (startStep !== undefined && endStep !== undefined && startStep > endStep) {
      throw invalidParameter(`end_step must be greater than start_step. Found start_step=${startStep} and end_step=${endStep}.`);
    }
    return { metrics: runs.metrics.sampledSteps(ids, key, { startStep, endStep, maxSteps: max }) };
  });

  // Artifacts of a run (listing; content goes through the mlflow-artifacts routes)
  get('artifacts/list', (f) => {
    const info = runs.info(runId(f));
    const path = str(f, 'path') ?? '';
    const base = ArtifactStore.relativeOfUri(info.artifact_uri);
    if (base === undefined) {
      throw invalidParameter(`Run ${info.run_id} keeps its artifacts at ${info.artifact_uri}, which Trellis does not serve; read them there.`);
    }
    const dir = path ? `${base}/${checkRelativePath(path)}` : base;
    const files = store.artifacts.list(dir).map((file) => ({ ...file, path: path ? `${path}/${file.path}` : file.path }));
    return { root_uri: info.artifact_uri, files };
  });
}
