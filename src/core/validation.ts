import { invalidParameter } from './errors';

/** MLflow's limits (mlflow/utils/validation.py), so clients that respect them never see a surprise. */
export const LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 5000,
  experimentNameLength: 500,
  aliasLength: 255,
} as const;

// Alphanumerics, underscores, dashes, periods, spaces, colons and slashes, as MLflow allows.
const NAME_PATTERN = /^[/\w.\- :]*$/;

export function validateKey(kind: 'metric' | 'param' | 'tag', key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw invalidParameter(`Missing value for required parameter 'key': a ${kind} needs a non-empty name.`);
  }
  if (key.length > LIMITS.keyLength) {
    throw invalidParameter(`${cap(kind)} name '${key.slice(0, 40)}…' had length ${key.length}, which exceeded length limit of ${LIMITS.keyLength}.`);
  }
  if (!NAME_PATTERN.test(key) || pathLike(key)) {
    throw invalidParameter(
      `Invalid value "${key}" for parameter 'key' supplied: ${kind} names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/), and must not change when treated as a path (no leading or trailing '/', no '.', '..' or empty segments).`,
    );
  }
  return key;
}

/**
 * Names may be used as file paths, so like MLflow we refuse any that a path normalisation would change:
 * a leading '/', empty, '.' or '..' segments, a trailing '/'.
 */
const pathLike = (key: string): boolean => key.split('/').some((part) => part === '' || part === '.' || part === '..');

export function validateValueLength(kind: 'param' | 'tag', key: string, value: string): void {
  const limit = kind === 'param' ? LIMITS.paramValueLength : LIMITS.tagValueLength;
  if (value.length > limit) {
    throw invalidParameter(
      `${cap(kind)} value '${value.slice(0, 40)}…' had length ${value.length}, which exceeded length limit of ${limit} (key '${key}').`,
    );
  }
}

export function validateBatchSize(metrics: number, params: number, tags: number): void {
  if (metrics > LIMITS.metricsPerBatch) {
    throw invalidParameter(`A batch logging request can contain at most ${LIMITS.metricsPerBatch} metrics. Got ${metrics} metrics. Please split up metrics across multiple requests and try again.`);
  }
  if (params > LIMITS.paramsPerBatch) {
    throw invalidParameter(`A batch logging request can contain at most ${LIMITS.paramsPerBatch} params. Got ${params} params. Please split up params across multiple requests and try again.`);
  }
  if (tags > LIMITS.tagsPerBatch) {
    throw invalidParameter(`A batch logging request can contain at most ${LIMITS.tagsPerBatch} tags. Got ${tags} tags. Please split up tags across multiple requests and try again.`);
  }
  const total = metrics + params + tags;
  if (total > LIMITS.entitiesPerBatch) {
    throw invalidParameter(`A batch logging request can contain at most ${LIMITS.entitiesPerBatch} total metrics, params and tags. Got ${total}. Please split up across multiple requests and try again.`);
  }
}

export function validateExperimentName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidParameter(`Invalid experiment name: '${String(name ?? '')}'. Use a non-empty string.`);
  }
  if (name.length > LIMITS.experimentNameLength) {
    throw invalidParameter(`Experiment name had length ${name.length}, which exceeded length limit of ${LIMITS.experimentNameLength}.`);
  }
  return name;
}

/** Registry aliases: letters, digits, '_' and '-'; `latest` and `v<digits>` are reserved for version references. */
export function validateAlias(alias: unknown): string {
  if (typeof alias !== 'string' || alias === '') throw invalidParameter(`Missing value for required parameter 'alias'.`);
  if (alias.length > LIMITS.aliasLength) {
    throw invalidParameter(`Alias '${alias.slice(0, 40)}…' had length ${alias.length}, which exceeded length limit of ${LIMITS.aliasLength}.`);
  }
  if (!/^[\w-]+$/.test(alias)) {
    throw invalidParameter(`Invalid alias name: '${alias}'. Aliases may only contain alphanumerics, underscores (_) and dashes (-).`);
  }
  if (alias.toLowerCase() === 'latest' || /^v\d+$/i.test(alias)) {
    throw invalidParameter(`'${alias}' alias name (case insensitive) is reserved: 'latest' and 'v<number>' refer to versions.`);
  }
  return alias;
}

const cap = (s: string): string => s[0]!.toUpperCase() + s.slice(1);
