/**
 * Drift reference profiles: what the inputs of one model version looked like when it was trained, kept as
 * one JSON file per version under `<dataDir>/drift/<model>/<version>.json`. The serving layer builds them
 * (src/services/serving/drift-profile.ts) and compares live traffic against them (drift.ts).
 */
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve, sep } from 'node:path';
import { invalidParameter, invalidState } from './errors';

export const DRIFT_PROFILE_FORMAT = 1;

/** A feature with many distinct values: quantile bins for PSI and a sorted sample for KS. */
export interface ContinuousFeatureProfile {
  name: string;
  kind: 'continuous';
  /** Ascending interior edges; bins are (−∞, e₀], (e₀, e₁], …, (e_last, +∞). */
  edges: number[];
  /** Reference proportion of each bin: edges.length + 1 entries summing to 1. */
  proportions: number[];
  /** Up to 1000 reference values, ascending, spread evenly over the reference (for KS). */
  sample: number[];
}

/** A feature with few distinct values (a flag, a class id, a constant): PSI over the values, no KS. */
export interface CategoricalFeatureProfile {
  name: string;
  kind: 'categorical';
  /** The distinct reference values, ascending. A live value outside them counts as "other" (reference share 0). */
  categories: number[];
  proportions: number[];
}

export type FeatureProfile = ContinuousFeatureProfile | CategoricalFeatureProfile;

/** One model input: its tensor flattened past dim 0, one feature per element of a row, in row-major order. */
export interface InputProfile {
  name: string;
  /** Reference rows the profile was built from. */
  rows: number;
  features: FeatureProfile[];
}

export interface ReferenceProfile {
  format: typeof DRIFT_PROFILE_FORMAT;
  model: string;
  version: string;
  /** Milliseconds since the epoch. */
  created: number;
  /** Where the reference rows came from (a file path or an artifact path), for people reading the profile. */
  source: string;
  inputs: InputProfile[];
}

/**
 * The profile's file. The model name is percent-encoded into one path segment (registered names may hold
 * '/', spaces, ':'), '.' and '..' are refused, the version must be a positive whole number, and the result
 * is checked to lie inside `<dataDir>/drift`, so no name reaches a file outside it.
 */
export function referenceProfilePath(dataDir: string, model: string, version: string): string {
  if (typeof model !== 'string' || model === '' || model === '.' || model === '..' || model.includes('\0')) {
    throw invalidParameter(`Invalid model name '${String(model)}' for a drift reference profile: give the registered model's name.`);
  }
  if (typeof version !== 'string' || !/^[1-9]\d*$/.test(version)) {
    throw invalidParameter(`Invalid model version '${String(version)}' for a drift reference profile: a version is a positive whole number, e.g. 3.`);
  }
  const root = resolve(dataDir, 'drift');
  const file = resolve(root, encodeURIComponent(model), `${version}.json`);
  if (!file.startsWith(root + sep)) throw invalidParameter(`Invalid model name '${model}': its drift profile would lie outside ${root}.`);
  return file;
}

/** Checks the profile and writes it atomically (a temporary file renamed into place); returns the file's path. */
export async function saveReferenceProfile(dataDir: string, profile: ReferenceProfile): Promise<string> {
  const problem = profileProblem(profile);
  if (problem) throw invalidParameter(`Drift reference profile of ${String(profile?.model)} version ${String(profile?.version)} is not valid: ${problem}.`);
  const file = referenceProfilePath(dataDir, profile.model, profile.version);
  await fsp.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.partial`;
  try {
    await fsp.writeFile(tmp, JSON.stringify(profile), { flag: 'wx', mode: 0o644 });
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return file;
}

/** The stored profile of a version, or undefined when it has none. A damaged file is an error that says how to rebuild it. */
export async function loadReferenceProfile(dataDir: string, model: string, version: string): Promise<ReferenceProfile | undefined> {
  const file = referenceProfilePath(dataDir, model, version);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const rebuild = `rebuild it with 'trellis models reference ${model} ${version} --file <reference rows>'`;
  let profile: ReferenceProfile;
  try {
    profile = JSON.parse(text) as ReferenceProfile;
  } catch (err) {
    throw invalidState(`Drift reference profile ${file} is not valid JSON (${(err as Error).message}); ${rebuild}.`);
  }
  const problem = profileProblem(profile);
  if (problem) throw invalidState(`Drift reference profile ${file} is not valid: ${problem}; ${rebuild}.`);
  if (profile.model !== model || profile.version !== version) {
    throw invalidState(`Drift reference profile ${file} belongs to ${profile.model} version ${profile.version}, not ${model} version ${version}; ${rebuild}.`);
  }
  return profile;
}

/** What is wrong with a profile, or undefined: the monitor relies on every one of these properties. */
export function profileProblem(p: ReferenceProfile): string | undefined {
  if (typeof p !== 'object' || p === null) return 'it is not an object';
  if (p.format !== DRIFT_PROFILE_FORMAT) return `format ${String(p.format)} is not the supported format ${DRIFT_PROFILE_FORMAT}`;
  if (typeof p.model !== 'string' || typeof p.version !== 'string') return 'model and version must be strings';
  if (!Array.isArray(p.inputs) || p.inputs.length === 0) return 'it has no inputs';
  for (const input of p.inputs) {
    if (typeof input?.name !== 'string' || !Array.isArray(input.features) || input.features.length === 0) return 'each input needs a name and features';
    for (const f of input.features) {
      const problem = featureProblem(f);
      if (problem) return `input '${input.name}' feature '${String(f?.name)}': ${problem}`;
    }
  }
  return undefined;
}

function featureProblem(f: FeatureProfile): string | undefined {
  if (typeof f?.name !== 'string') return 'no name';
  if (!isProportions(f.proportions)) return 'proportions must be numbers in [0, 1]';
  if (f.kind === 'categorical') {
    if (!isAscending(f.categories) || f.categories.length === 0) return 'categories must be distinct finite numbers in ascending order';
    if (f.proportions.length !== f.categories.length) return 'one proportion per category is needed';
    return undefined;
  }
  if (f.kind === 'continuous') {
    if (!isAscending(f.edges)) return 'edges must be distinct finite numbers in ascending order';
    if (f.proportions.length !== f.edges.length + 1) return 'one proportion per bin (edges + 1) is needed';
    if (!Array.isArray(f.sample) || f.sample.length === 0 || !f.sample.every((v, i) => Number.isFinite(v) && (i === 0 || v >= f.sample[i - 1]!))) {
      return 'the sample must be finite numbers in ascending order';
    }
    return undefined;
  }
  return `kind must be 'continuous' or 'categorical'`;
}

const isAscending = (xs: unknown): xs is number[] =>
  Array.isArray(xs) && xs.every((v, i) => typeof v === 'number' && Number.isFinite(v) && (i === 0 || v > (xs[i - 1] as number)));

const isProportions = (xs: unknown): xs is number[] => Array.isArray(xs) && xs.every((v) => typeof v === 'number' && v >= 0 && v <= 1);
