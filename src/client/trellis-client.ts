import type { Experiment, ModelVersion, Page, RegisteredModel, Run, ViewType } from '../core/entities';
import type { FileInfo } from '../core/artifacts';
import type { JobRequest } from '../services/jobs/job-spec';
import type { JobView } from '../services/jobs/job-records';
import type { TensorSpec } from '../engines/onnx/types';
import type { LogLine as JobLogLine } from '../services/jobs/log-capture';
import { send, type HttpRequest, type HttpResponse } from './http-transport';

/** A version the platform's model host serves, as GET /api/trellis/serving/models lists it. */
export interface ServedModelView {
  name: string;
  version: string;
  refs: string[];
  in_flight: number;
  drift_monitored: boolean;
  replicas: { id: string; outstanding: number; healthy: boolean; requests: number; failures: number; ejections: number }[];
}

/** An error body as the platform answers it: MLflow's `{error_code, message}`, or KServe's `{error}` under /v2. */
function apiError(body: unknown, status: number): ApiError {
  const e = (body ?? {}) as { error_code?: string; message?: string; error?: string };
  return new ApiError(e.error_code ?? 'HTTP_ERROR', e.message ?? e.error ?? `HTTP ${status}`, status);
}

/** The error a response carries (its body as apiError reads it, or just its status). */
async function errorOfResponse(res: HttpResponse): Promise<ApiError> {
  return apiError(await res.text().then((t) => JSON.parse(t) as unknown).catch(() => ({})), res.status);
}

/** An error answered by the server, with MLflow's error code. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

/**
 * A job's NDJSON stream: {job} (a submit's, first), lines {stream, line, time}, and a last {end: true, job};
 * resolves with that last job, or undefined when the stream ended without it.
 */
async function readJobStream(res: HttpResponse, onLine: (line: JobLogLine) => void, onJob?: (job: JobView) => void): Promise<JobView | undefined> {
  const decoder = new TextDecoder();
  let buffered = '';
  let end: JobView | undefined;
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const text of lines) {
      if (!text) continue;
      const record = JSON.parse(text) as JobLogLine & { end?: boolean; job?: JobView };
      if (record.end) end = record.job;
      else if (record.job) onJob?.(record.job);
      else onLine(record);
    }
  }
  return end;
}

/** A typed client for the platform's HTTP API (MLflow REST plus Trellis's own routes). */
export class TrellisClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {}

  private async call<T>(method: string, path: string, fields: Query = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let target = `${this.url}${path}`;
    let body: string | undefined;
    if (method === 'GET') {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
      }
      if ([...qs].length) target += `?${qs}`;
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(fields);
    }
    const res = await this.send(target, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError('BAD_RESPONSE', `The server answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, res.status);
    }
    if (!res.ok) throw apiError(json, res.status);
    return json as T;
  }

  private mlflow<T>(method: string, path: string, fields?: Query): Promise<T> {
    return this.call<T>(method, `/api/2.0/mlflow/${path}`, fields);
  }

  async searchExperiments(viewType: ViewType = 'ACTIVE_ONLY', maxResults = 1000): Promise<Experiment[]> {
    const r = await this.mlflow<{ experiments?: Experiment[] }>('POST', 'experiments/search', { view_type: viewType, max_results: maxResults });
    return r.experiments ?? [];
  }

  async createExperiment(name: string): Promise<string> {
    return (await this.mlflow<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    return (await this.mlflow<{ experiment: Experiment }>('GET', 'experiments/get-by-name', { experiment_name: name })).experiment;
  }

  async getExperiment(id: string): Promise<Experiment> {
    return (await this.mlflow<{ experiment: Experiment }>('GET', 'experiments/get', { experiment_id: id })).experiment;
  }

  async searchRuns(req: { experimentIds: string[]; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Promise<Page<Run>> {
    const r = await this.mlflow<{ runs?: Run[]; next_page_token?: string }>('POST', 'runs/search', {
      experiment_ids: req.experimentIds,
      filter: req.filter,
      order_by: req.orderBy,
      max_results: req.maxResults,
      page_token: req.pageToken,
    });
    return { items: r.runs ?? [], ...(r.next_page_token ? { next_page_token: r.next_page_token } : {}) };
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.mlflow<{ run: Run }>('GET', 'runs/get', { run_id: runId })).run;
  }

  async listArtifacts(runId: string, path?: string): Promise<{ root_uri: string; files: FileInfo[] }> {
    const r = await this.mlflow<{ root_uri: string; files?: FileInfo[] }>('GET', 'artifacts/list', { run_id: runId, path });
    return { root_uri: r.root_uri, files: r.files ?? [] };
  }

  async searchModels(filter?: string): Promise<RegisteredModel[]> {
    const out: RegisteredModel[] = [];
    let token: string | undefined;
    do {
      const r = await this.mlflow<{ registered_models?: RegisteredModel[]; next_page_token?: string }>('GET', 'registered-models/search', {
        filter,
        max_results: 1000,
        page_token: token,
      });
      out.push(...(r.registered_models ?? []));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  async getModel(name: string): Promise<RegisteredModel> {
    return (await this.mlflow<{ registered_model: RegisteredModel }>('GET', 'registered-models/get', { name })).registered_model;
  }

  async createModel(name: string): Promise<RegisteredModel> {
    return (await this.mlflow<{ registered_model: RegisteredModel }>('POST', 'registered-models/create', { name })).registered_model;
  }

  async searchVersions(filter: string): Promise<ModelVersion[]> {
    return (await this.mlflow<{ model_versions?: ModelVersion[] }>('GET', 'model-versions/search', { filter })).model_versions ?? [];
  }

  async createVersion(req: { name: string; source: string; runId: string }): Promise<ModelVersion> {
    return (await this.mlflow<{ model_version: ModelVersion }>('POST', 'model-versions/create', { name: req.name, source: req.source, run_id: req.runId })).model_version;
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.mlflow('POST', 'registered-models/alias', { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.mlflow('DELETE', 'registered-models/alias', { name, alias });
  }

  async deleteRun(runId: string): Promise<void> {
    await this.mlflow('POST', 'runs/delete', { run_id: runId });
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    await this.mlflow('POST', 'experiments/delete', { experiment_id: experimentId });
  }

  /** The bytes of one artifact of a run (`artifactUri` is the run's `mlflow-artifacts:/…` root). */
  async readArtifact(artifactUri: string, path: string): Promise<Uint8Array> {
    const root = artifactUri.replace(/^mlflow-artifacts:\/*/, '');
    const target = `${this.url}/api/2.0/mlflow-artifacts/artifacts/${[root, path].map((p) => p.split('/').map(encodeURIComponent).join('/')).join('/')}`;
    const res = await send(target, { headers: this.authHeaders() });
    if (!res.ok) throw new ApiError('HTTP_ERROR', `Reading artifact '${path}' failed: HTTP ${res.status}.`, res.status);
    return res.bytes();
  }

  /**
   * A Trellis control-API listing (e.g. `/api/trellis/jobs`), or undefined when this server has no such
   * route yet: front ends show the view only when the API exists.
   */
  async optionalListing<T>(path: string): Promise<T | undefined> {
    try {
      return await this.call<T>('GET', path);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ENDPOINT_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Opens the server's change stream (`/api/trellis/events`, server-sent events); the caller reads the body. */
  async openEventStream(signal: AbortSignal): Promise<HttpResponse> {
    const res = await send(`${this.url}/api/trellis/events`, { headers: { ...this.authHeaders(), accept: 'text/event-stream' }, signal });
    if (!res.ok) throw new ApiError('HTTP_ERROR', `The event stream answered HTTP ${res.status}.`, res.status);
    return res;
  }

  /** A request to this server; one that cannot reach it says so, and what to do. */
  private async send(target: string, init: HttpRequest): Promise<HttpResponse> {
    try {
      return await send(target, init);
    } catch (err) {
      throw new ApiError('UNREACHABLE', `Cannot reach the Trellis server at ${this.url}: ${(err as Error).message}. Is it running? Start it with 'trellis server'.`, 0);
    }
  }

  private authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /**
   * One metric of a run as a chart draws it: at most `maxPoints` points keeping the min/max envelope of
   * the step range (all points when the range holds fewer), in step order.
   */
  async downsampleMetric(
    runId: string,
    key: string,
    range: { startStep?: number; endStep?: number; maxPoints: number },
  ): Promise<{ step: number; timestamp: number; value: number | null }[]> {
    const r = await this.call<{ points?: { step: number; timestamp: number; value: number | null }[] }>('GET', '/api/trellis/metrics/downsample', {
      run_id: runId,
      metric_key: key,
      start_step: range.startStep,
      end_step: range.endStep,
      max_points: range.maxPoints,
    });
    return r.points ?? [];
  }

  /** The server's Prometheus metrics, as text (the endpoint monitor turns scrapes into rates). */
  async metricsText(): Promise<string> {
    let res: HttpResponse;
    try {
      res = await send(`${this.url}/metrics`, { headers: this.authHeaders(), signal: AbortSignal.timeout(5000) });
    } catch (err) {
      throw new ApiError('UNREACHABLE', `Cannot reach ${this.url}/metrics: ${(err as Error).message}.`, 0);
    }
    if (!res.ok) throw new ApiError('HTTP_ERROR', `${this.url}/metrics answered HTTP ${res.status}.`, res.status);
    return res.text();
  }

  async health(): Promise<boolean> {
    try {
      const res = await send(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
      await res.bytes();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Submits a training job (a run executed in a container); resolves once it started, failed to, or was queued. */
  async submitJob(request: JobRequest): Promise<JobView> {
    return (await this.call<{ job: JobView }>('POST', '/api/trellis/jobs', request as unknown as Query)).job;
  }

  /**
   * Submits a job and follows it in the same request: `onSubmitted` as soon as its run exists, then each
   * line as it is printed; resolves with the job when the stream ends (as followJobLogs).
   */
  async runJob(request: JobRequest, handlers: { onSubmitted: (job: JobView) => void; onLine: (line: JobLogLine) => void }): Promise<JobView> {
    const res = await this.send(`${this.url}/api/trellis/jobs?follow=true`, {
      method: 'POST',
      headers: { ...this.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    if (!res.ok) throw await errorOfResponse(res);
    if (!String(res.headers['content-type']).startsWith('application/x-ndjson')) {
      // A server older than ?follow=true answered the plain submit: follow the job the other way.
      const { job } = JSON.parse(await res.text()) as { job: JobView };
      handlers.onSubmitted(job);
      return this.followJobLogs(job.job_id, handlers.onLine, { follow: true });
    }
    let jobId: string | undefined;
    const end = await readJobStream(res, handlers.onLine, (job) => {
      jobId = job.job_id;
      handlers.onSubmitted(job);
    });
    if (end) return end;
    if (!jobId) throw new ApiError('BAD_RESPONSE', 'The server ended the job stream before naming the job.', res.status);
    return this.getJob(jobId);
  }

  async getJob(jobId: string): Promise<JobView> {
    return (await this.call<{ job: JobView }>('GET', `/api/trellis/jobs/${encodeURIComponent(jobId)}`)).job;
  }

  async listJobs(filter: { experimentId?: string; status?: string; sweepId?: string; maxResults?: number } = {}): Promise<JobView[]> {
    const r = await this.call<{ jobs?: JobView[] }>('GET', '/api/trellis/jobs', {
      experiment_id: filter.experimentId,
      status: filter.status,
      sweep_id: filter.sweepId,
      max_results: filter.maxResults,
    });
    return r.jobs ?? [];
  }

  /** SIGTERM, a grace period, SIGKILL; resolves with the job once stopped. */
  async cancelJob(jobId: string): Promise<JobView> {
    return (await this.call<{ job: JobView }>('POST', `/api/trellis/jobs/${encodeURIComponent(jobId)}/cancel`)).job;
  }

  /**
   * A job's output lines as they are printed (`follow`) or as saved; resolves with the job when the
   * stream ends (still RUNNING if the server stopped watching first).
   */
  async followJobLogs(jobId: string, onLine: (line: JobLogLine) => void, options: { follow?: boolean; signal?: AbortSignal } = {}): Promise<JobView> {
    const target = `${this.url}/api/trellis/jobs/${encodeURIComponent(jobId)}/logs${options.follow ? '?follow=true' : ''}`;
    let res: HttpResponse;
    try {
      res = await send(target, { headers: this.authHeaders(), signal: options.signal });
    } catch (err) {
      throw new ApiError('UNREACHABLE', `Lost the Trellis server at ${this.url}: ${(err as Error).message}.`, 0);
    }
    if (!res.ok) throw await errorOfResponse(res);
    return (await readJobStream(res, onLine)) ?? this.getJob(jobId);
  }

  /** Records a finished load test as a run of the `load-tests` experiment. */
  async recordLoadTest(body: import('../services/loadtest/record').RecordLoadTestInput): Promise<{ run_id: string; experiment_id: string }> {
    return this.call('POST', '/api/trellis/loadtests', body as unknown as Query);
  }

  /** What the platform's own model host serves (its /v2 answers on the platform's port). */
  async servedModels(): Promise<ServedModelView[]> {
    return (await this.call<{ models?: ServedModelView[] }>('GET', '/api/trellis/serving/models')).models ?? [];
  }

  /** Loads a version (NAME@ALIAS, NAME/VERSION or NAME) into the platform's model host; resolves once it answers. */
  async serveModel(ref: string): Promise<ServedModelView> {
    return (await this.call<{ model: ServedModelView }>('POST', '/api/trellis/serving/models', { model: ref })).model;
  }

  /** A served version's signature as KServe v2 metadata reports it (load tests make request bodies from it). */
  async servedModelMetadata(name: string, version: string): Promise<{ name: string; versions?: string[]; inputs: TensorSpec[] }> {
    return this.call('GET', `/v2/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
  }

  /** Stops serving a version (or every version of a name); admitted requests finish first. */
  async stopServedModel(name: string, version?: string): Promise<{ name: string; version: string }[]> {
    return (await this.call<{ stopped: { name: string; version: string }[] }>('DELETE', '/api/trellis/serving/models', { name, version })).stopped;
  }
}

