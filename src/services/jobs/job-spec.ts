import { existsSync } from 'node:fs';
import { isAbsolute, posix, resolve } from 'node:path';
import { invalidParameter } from '../../core/errors';
import { validateKey, validateValueLength } from '../../core/validation';
import { parseGpuRequest, type DeviceRequest } from '../../engines/docker/gpu-request';
import type { BindMount } from '../../engines/docker/containers';

/** The body of POST /api/trellis/jobs, as the CLI and the extension send it. */
export interface JobRequest {
  experiment_id?: string;
  /** An experiment by name; created when it does not exist yet, as `mlflow.set_experiment` does. */
  experiment_name?: string;
  run_name?: string;
  image?: string;
  /** A build context directory (with a Dockerfile) to build the image from instead of `image`. */
  build?: string;
  dockerfile?: string;
  command: string[];
  gpus?: string;
  cpus?: number | string;
  memory?: number | string;
  shm_size?: number | string;
  env?: Record<string, string>;
  mounts?: { source: string; target: string; read_only?: boolean }[];
  params?: Record<string, string>;
  tags?: Record<string, string>;
  /** The folder mounted at /workspace (read-only unless `workspace_writable`); its git commit is recorded. */
  workspace?: string;
  workspace_writable?: boolean;
}

/** A checked request: every value parsed, every path absolute and existing. */
export interface JobSpec {
  experimentId?: string;
  experimentName?: string;
  runName?: string;
  image?: string;
  build?: { context: string; dockerfile?: string };
  command: string[];
  gpus?: DeviceRequest;
  gpusText?: string;
  cpus?: number;
  memoryBytes?: number;
  shmSizeBytes?: number;
  env: Record<string, string>;
  mounts: BindMount[];
  params: Record<string, string>;
  tags: Record<string, string>;
  workspace?: string;
  workspaceWritable: boolean;
}

export const WORKSPACE_IN_CONTAINER = '/workspace';
export const OUTPUTS_IN_CONTAINER = '/outputs';

/** Variables Trellis sets itself: a user value would point the run's logging somewhere else. */
const RESERVED_ENV = ['MLFLOW_TRACKING_URI', 'MLFLOW_RUN_ID', 'MLFLOW_EXPERIMENT_ID', 'MLFLOW_TRACKING_TOKEN', 'TRELLIS_OUTPUTS_DIR', 'TRELLIS_PARAMS'];

export function checkJobRequest(body: unknown): JobSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameter('A job request is a JSON object.');
  const r = body as Record<string, unknown>;
  const command = r.command;
  if (!Array.isArray(command) || command.length === 0 || command.some((c) => typeof c !== 'string')) {
    throw invalidParameter(`Missing value for required parameter 'command': give the command to run as a list of strings (on the CLI, after '--').`);
  }
  const image = optionalString(r, 'image');
  const build = optionalString(r, 'build');
  if (!!image === !!build) throw invalidParameter(`Give exactly one of 'image' (--image NAME) and 'build' (--build DIR).`);
  const experimentId = optionalString(r, 'experiment_id');
  const experimentName = optionalString(r, 'experiment_name');
  if (!experimentId && !experimentName) throw invalidParameter(`Missing value for required parameter 'experiment_id' or 'experiment_name' (--experiment).`);

  const params = stringMap(r.params, 'params');
  for (const [k, v] of Object.entries(params)) {
    validateKey('param', k);
    validateValueLength('param', k, v);
  }
  const tags = stringMap(r.tags, 'tags');
  for (const [k, v] of Object.entries(tags)) {
    validateKey('tag', k);
    validateValueLength('tag', k, v);
  }
  const env = stringMap(r.env, 'env');
  for (const key of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw invalidParameter(`Invalid environment variable name '${key}': use letters, digits and '_' (--env NAME=VALUE).`);
    if (RESERVED_ENV.includes(key)) throw invalidParameter(`--env ${key} is set by Trellis for every job (so the run logs here); leave it out.`);
  }
  const workspace = optionalString(r, 'workspace');
  if (workspace !== undefined) existingAbsolute(workspace, 'workspace');
  const mounts = (Array.isArray(r.mounts) ? r.mounts : r.mounts === undefined ? [] : invalidList('mounts')).map(checkMount);
  const gpusText = optionalString(r, 'gpus');

  return {
    experimentId,
    experimentName,
    runName: optionalString(r, 'run_name'),
    image,
    ...(build ? { build: { context: existingAbsolute(build, 'build'), dockerfile: optionalString(r, 'dockerfile') } } : {}),
    command: substituteParams(command as string[], params),
    ...(gpusText !== undefined ? { gpus: parseGpuRequest(gpusText), gpusText } : {}),
    cpus: r.cpus === undefined ? undefined : positive('cpus', Number(r.cpus), String(r.cpus)),
    memoryBytes: r.memory === undefined ? undefined : parseSize('memory', r.memory),
    shmSizeBytes: r.shm_size === undefined ? undefined : parseSize('shm-size', r.shm_size),
    env,
    mounts,
    params,
    tags,
    workspace,
    workspaceWritable: r.workspace_writable === true,
  };
}

/** `--mount SRC:DST[:ro|rw]`; a relative SRC is taken from `cwd` (the caller's directory). */
export function parseMountFlag(text: string, cwd: string): { source: string; target: string; read_only: boolean } {
  const parts = text.split(':');
  const mode = parts.length === 3 ? parts[2] : undefined;
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1] || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidParameter(`--mount '${text}' is not SRC:DST[:ro]: e.g. --mount ./data:/data:ro.`);
  }
  return { source: resolve(cwd, parts[0]), target: parts[1], read_only: mode === 'ro' };
}

/** `--env K=V` / `--param k=v` lists into an object; a repeated key is an error rather than a silent overwrite. */
export function parseKeyValues(flag: string, items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw invalidParameter(`${flag} '${item}' is not KEY=VALUE.`);
    const key = item.slice(0, at);
    if (key in out) throw invalidParameter(`${flag} ${key} is given twice.`);
    out[key] = item.slice(at + 1);
  }
  return out;
}

/** Sizes as `docker run` reads them: bytes, or a number with b, k, m, g or t (powers of 1024). */
export function parseSize(flag: string, value: unknown): number {
  const text = String(value).trim().toLowerCase();
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$/.exec(text);
  const scale = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m?.[2] ?? ''];
  const bytes = m && scale ? Math.round(Number(m[1]) * scale) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalidParameter(`--${flag} '${String(value)}' is not a size: use e.g. 512m, 2g or a number of bytes.`);
  // The engine refuses limits under 6 MiB with its own, less helpful words.
  if (flag === 'memory' && bytes < 6 * 1024 ** 2) throw invalidParameter(`--memory ${String(value)} is below Docker's minimum of 6m.`);
  return bytes;
}

/** `{{name}}` in the command becomes the param's value, so a sweep can vary arguments as well as the environment. */
function substituteParams(command: string[], params: Record<string, string>): string[] {
  return command.map((arg) =>
    arg.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) => {
      if (!(name in params)) throw invalidParameter(`The command uses {{${name}}} but no --param ${name}=VALUE is given.`);
      return params[name]!;
    }),
  );
}

function checkMount(value: unknown): BindMount {
  const m = (value ?? {}) as Record<string, unknown>;
  if (typeof m.source !== 'string' || typeof m.target !== 'string') throw invalidParameter(`Each mount needs 'source' and 'target' paths (--mount SRC:DST[:ro]).`);
  const source = existingAbsolute(m.source, 'mount');
  if (!posix.isAbsolute(m.target) || m.target === '/') throw invalidParameter(`--mount ${m.source}:${m.target}: the container path must be absolute and not '/'.`);
  if ([WORKSPACE_IN_CONTAINER, OUTPUTS_IN_CONTAINER].includes(posix.normalize(m.target))) {
    throw invalidParameter(`--mount ${m.source}:${m.target}: ${m.target} is where Trellis mounts the ${m.target.slice(1)}; choose another path.`);
  }
  return { source, target: m.target, readOnly: m.read_only === true };
}

function existingAbsolute(path: string, what: string): string {
  if (!isAbsolute(path)) throw invalidParameter(`The ${what} path '${path}' must be absolute.`);
  if (!existsSync(path)) throw invalidParameter(`The ${what} path '${path}' does not exist on this machine: give an existing directory or file.`);
  return path;
}

function optionalString(r: Record<string, unknown>, key: string): string | undefined {
  const v = r[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidParameter(`Invalid value for '${key}': expected a string.`);
  return v;
}

function stringMap(value: unknown, key: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParameter(`Invalid value for '${key}': expected an object of strings.`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalidParameter(`Invalid value for '${key}.${k}': expected a string.`);
    out[k] = String(v);
  }
  return out;
}

function positive(flag: string, n: number, text: string): number {
  if (!Number.isFinite(n) || n <= 0) throw invalidParameter(`--${flag} '${text}' must be a number above 0, e.g. 1.5.`);
  return n;
}

function invalidList(key: string): never {
  throw invalidParameter(`Invalid value for '${key}': expected a list.`);
}
