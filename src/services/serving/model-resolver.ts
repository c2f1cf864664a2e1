/**
 * From a model reference (`NAME@ALIAS`, `NAME/VERSION`, `NAME` for the latest version, each optionally
 * as an MLflow `models:/` URI) to the registered version and its ONNX file on disk.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactStore } from '../../core/artifacts';
import { invalidParameter, notFound, TrellisError } from '../../core/errors';
import type { ModelVersion } from '../../core/entities';
import type { Store } from '../../core/store';

export type ModelRef =
  | { name: string; kind: 'alias'; alias: string }
  | { name: string; kind: 'version'; version: string }
  | { name: string; kind: 'latest' };

export interface ResolvedModel {
  /** The reference as given (e.g. `mnist@champion`). */
  ref: string;
  name: string;
  version: string;
  alias?: string;
  modelVersion: ModelVersion;
  /** Absolute path of the .onnx file. */
  path: string;
}

const USAGE = 'Use NAME@ALIAS, NAME/VERSION or NAME (latest version), e.g. mnist@champion or mnist/3.';

/** Parses a reference; the last `@` splits name and alias, a trailing `/<digits>` is a version. */
export function parseModelRef(text: string): ModelRef {
  const ref = text.trim().replace(/^models:\/+/, '');
  if (ref === '') throw invalidParameter(`Empty model reference. ${USAGE}`);
  const at = ref.lastIndexOf('@');
  if (at >= 0) {
    const name = ref.slice(0, at);
    const alias = ref.slice(at + 1);
    if (name === '' || alias === '') throw invalidParameter(`Invalid model reference '${text}': both the name and the alias are needed around '@'. ${USAGE}`);
    return { name, kind: 'alias', alias };
  }
  const m = /^(.+)\/([^/]*)$/.exec(ref);
  if (m) {
    const [, name, version] = m as unknown as [string, string, string];
    if (!/^[1-9]\d*$/.test(version)) {
      throw invalidParameter(`Invalid model reference '${text}': the version after '/' must be a positive whole number, got '${version}'. ${USAGE}`);
    }
    return { name, kind: 'version', version };
  }
  return { name: ref, kind: 'latest' };
}

/** Resolves a reference through the registry to the version and its ONNX file. */
export function resolveModelRef(store: Store, text: string): ResolvedModel {
  const ref = parseModelRef(text);
  const modelVersion = findVersion(store, ref, text);
  const path = onnxFileOf(store, modelVersion);
  return {
    ref: text,
    name: modelVersion.name,
    version: modelVersion.version,
    ...(ref.kind === 'alias' ? { alias: ref.alias } : {}),
    modelVersion,
    path,
  };
}

function findVersion(store: Store, ref: ModelRef, text: string): ModelVersion {
  try {
    store.registry.getModel(ref.name);
  } catch (err) {
    if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') {
      throw notFound(`Model '${ref.name}' is not registered (reference '${text}'). Register it with 'trellis models register'.`);
    }
    throw err;
  }
  if (ref.kind === 'alias') {
    try {
      return store.registry.versionByAlias(ref.name, ref.alias);
    } catch (err) {
      if (!(err instanceof TrellisError)) throw err;
      const aliases = store.registry.getModel(ref.name).aliases.map((a) => `@${a.alias} → ${a.version}`);
      throw notFound(`Model '${ref.name}' has no alias '${ref.alias}'${aliases.length ? ` (its aliases: ${aliases.join(', ')})` : ' (it has no aliases)'}.`);
    }
  }
  if (ref.kind === 'version') {
    try {
      return store.registry.getVersion(ref.name, ref.version);
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') {
        throw notFound(`Model '${ref.name}' has no version ${ref.version}${describeVersions(store, ref.name)}.`);
      }
      throw err;
    }
  }
  const latest = store.registry.searchVersions({ filter: `name = '${ref.name.replace(/'/g, "''")}'`, orderBy: ['version_number DESC'], maxResults: 1 }).items[0];
  if (!latest) throw notFound(`Model '${ref.name}' has no versions yet: register one with 'trellis models register'.`);
  return latest;
}

function describeVersions(store: Store, name: string): string {
  const versions = store.registry
    .searchVersions({ filter: `name = '${name.replace(/'/g, "''")}'`, orderBy: ['version_number ASC'], maxResults: 50 })
    .items.map((v) => v.version);
  return versions.length ? ` (its versions: ${versions.join(', ')})` : ' (it has no versions)';
}

/**
 * The version's source as a file under the artifact root: `mlflow-artifacts:/<exp>/<run>/artifacts/<path>`
 * or `runs:/<run_id>/<path>`. A file must end in .onnx; a folder must hold `model.onnx` or exactly one .onnx.
 */
export function onnxFileOf(store: Store, v: ModelVersion): string {
  const label = `model '${v.name}' version ${v.version}`;
  const rel = artifactPathOf(store, v, label);
  const full = store.artifacts.resolve(rel);
  let st;
  try {
    st = statSync(full);
  } catch {
    throw notFound(`${label}: its source ${v.source} does not exist in the artifact store (${full}). Log the model's ONNX file there first.`);
  }
  if (st.isFile()) {
    if (!full.toLowerCase().endsWith('.onnx')) throw invalidParameter(`${label}: its source ${v.source} is not an .onnx file.`);
    return full;
  }
  const onnx = readdirSync(full, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.onnx'))
    .map((e) => e.name)
    .sort();
  if (onnx.includes('model.onnx')) return join(full, 'model.onnx');
  if (onnx.length === 1) return join(full, onnx[0]!);
  if (onnx.length === 0) throw notFound(`${label}: no .onnx file in its source folder ${v.source} (${full}). Serving needs an ONNX model (e.g. model.onnx).`);
  throw invalidParameter(`${label}: its source folder ${v.source} holds several .onnx files (${onnx.join(', ')}); name the one to serve model.onnx or register the file itself.`);
}

function artifactPathOf(store: Store, v: ModelVersion, label: string): string {
  const direct = ArtifactStore.relativeOfUri(v.source);
  if (direct !== undefined) return direct;
  const run = /^runs:\/+([^/]+)(?:\/(.*))?$/.exec(v.source);
  if (run) {
    const info = store.runs.info(run[1]!);
    const root = ArtifactStore.relativeOfUri(info.artifact_uri);
    if (root === undefined) throw invalidParameter(`${label}: run ${run[1]} keeps its artifacts at ${info.artifact_uri}, outside this platform's artifact store.`);
    return run[2] ? `${root.replace(/\/+$/, '')}/${run[2]}` : root;
  }
  throw invalidParameter(
    `${label}: its source '${v.source}' is not in this platform's artifact store; serving reads mlflow-artifacts:/… or runs:/<run_id>/… sources.`,
  );
}
