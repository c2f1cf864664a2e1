/**
 * Builds drift reference profiles from reference rows: a JSON file (`{"inputs": {"x": [[row], …]}}` or a
 * KServe v2 request body) or a CSV file of one input, given by hand (`trellis models reference`) or found
 * next to a registered model in its run's artifacts (profileFromRunArtifacts).
 */
import { dirname, relative, sep } from 'node:path';
import { ArtifactStore } from '../../core/artifacts';
import type { ModelVersion } from '../../core/entities';
import { invalidParameter, TrellisError } from '../../core/errors';
import { DRIFT_PROFILE_FORMAT, saveReferenceProfile, type FeatureProfile, type InputProfile, type ReferenceProfile } from '../../core/drift-references';
import type { Store } from '../../core/store';
import { countSortedIntoBins, evenSample, quantileEdges } from './drift-stats';
import { onnxFileOf } from './model-resolver';

/** Reference rows of one input, row-major: `values[row * featureNames.length + feature]`. */
export interface ReferenceTable {
  input: string;
  featureNames: string[];
  rows: number;
  values: Float64Array;
}

export interface ProfileOptions {
  /** Quantile bins per continuous feature (default 10). */
  bins?: number;
  /** A feature with at most this many distinct reference values is categorical (default 20). */
  maxCategories?: number;
  /** Sorted reference values kept per continuous feature for KS (default 1000). */
  sampleSize?: number;
}

export type ReferenceFormat = 'json' | 'csv';

/** Fewer rows than this make proportions too coarse to compare against. */
export const MIN_REFERENCE_ROWS = 10;
/** Reference files are parsed in memory; beyond this size, subsample the rows first. */
export const MAX_REFERENCE_BYTES = 256 * 1024 * 1024;
/** The file names profileFromRunArtifacts looks for, in this order. */
export const REFERENCE_FILE_NAMES = ['drift_reference.json', 'drift_reference.csv'] as const;

export function referenceFormatOf(path: string): ReferenceFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.csv')) return 'csv';
  throw invalidParameter(`Reference file '${path}': give a .json file (inputs by name, or a KServe v2 request body) or a .csv file (one column per feature).`);
}

/**
 * The reference rows in a file's text. `input` names the model input of a CSV file's columns; for JSON it
 * keeps only that input. `what` names the file in error messages.
 */
export function parseReferenceFile(text: string, format: ReferenceFormat, what: string, input?: string): ReferenceTable[] {
  const tables = format === 'csv' ? [parseCsv(text, what, input)] : parseJson(text, what);
  const kept = input && format === 'json' ? tables.filter((t) => t.input === input) : tables;
  if (kept.length === 0) {
    throw invalidParameter(`${what}: no input named '${input}' (it has ${tables.map((t) => `'${t.input}'`).join(', ') || 'no numeric inputs'}).`);
  }
  for (const t of kept) {
    if (t.rows < MIN_REFERENCE_ROWS) throw invalidParameter(`${what}: input '${t.input}' has ${t.rows} rows; a reference needs at least ${MIN_REFERENCE_ROWS} (ideally ≥ 1000).`);
  }
  return kept;
}

function parseJson(text: string, what: string): ReferenceTable[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`${what} is not valid JSON: ${(err as Error).message}.`);
  }
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (Array.isArray(inputs)) return inputs.flatMap((t, i) => kserveTable(t, `${what}: inputs[${i}]`));
  if (inputs && typeof inputs === 'object') return Object.entries(inputs as Record<string, unknown>).map(([name, rows]) => rowsTable(name, rows, what));
  throw invalidParameter(
    `${what}: expected {"inputs": {"<input name>": [[row], …]}} or a KServe v2 request {"inputs": [{"name", "shape", "datatype", "data"}]}.`,
  );
}

/** A KServe v2 request tensor: shape[0] rows, the rest flattened into features. BYTES tensors carry no numbers to profile. */
function kserveTable(t: unknown, where: string): ReferenceTable[] {
  const { name, shape, datatype, data } = (t ?? {}) as { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown };
  if (typeof name !== 'string' || name === '') throw invalidParameter(`${where}: a tensor needs a "name".`);
  if (datatype === 'BYTES') return [];
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalidParameter(`${where} ('${name}'): "shape" must be a list of whole numbers with the rows first, e.g. [1000, 784].`);
  }
  const flat = flatten(data, `${where} ('${name}')`);
  const expected = (shape as number[]).reduce((a, b) => a * b, 1);
  if (flat.length !== expected) throw invalidParameter(`${where} ('${name}'): shape [${shape.join(', ')}] holds ${expected} values but "data" has ${flat.length}.`);
  const rows = shape[0] as number;
  const features = rows === 0 ? 0 : expected / rows;
  return [{ input: name, featureNames: featureNames(name, shape.length === 1 ? 0 : features), rows, values: flat }];
}

/** `"x": [[row], …]` (each row a number list, nested lists flattened) or `"x": [v, …]` for a one-feature [N] input. */
function rowsTable(name: string, rows: unknown, what: string): ReferenceTable {
  const where = `${what}: input '${name}'`;
  if (!Array.isArray(rows)) throw invalidParameter(`${where} must be a list of rows.`);
  if (rows.length === 0 || !Array.isArray(rows[0])) {
    const values = flatten(rows, where);
    if (values.length !== rows.length) throw invalidParameter(`${where}: mixes single values and lists; give every row as a list, or every row as one number.`);
    return { input: name, featureNames: featureNames(name, 0), rows: rows.length, values };
  }
  const first = flatten(rows[0], `${where} row 0`);
  const width = first.length;
  const values = new Float64Array(rows.length * width);
  values.set(first);
  for (let r = 1; r < rows.length; r++) {
    const row = flatten(rows[r], `${where} row ${r}`);
    if (row.length !== width) throw invalidParameter(`${where}: row ${r} has ${row.length} values but row 0 has ${width}; every row needs the same number.`);
    values.set(row, r * width);
  }
  return { input: name, featureNames: featureNames(name, width), rows: rows.length, values };
}

/** `x[0]`, `x[1]`, … for a row of `width` values; just `x` for an [N] input (width 0 here). */
const featureNames = (input: string, width: number): string[] => (width === 0 ? [input] : Array.from({ length: width }, (_, i) => `${input}[${i}]`));

/** Nested number lists to a flat Float64Array (booleans as 0/1), iteratively so deep nesting cannot overflow the stack. */
function flatten(value: unknown, where: string): Float64Array {
  const out: number[] = [];
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      out.push(v);
    } else if (typeof v === 'boolean') {
      out.push(v ? 1 : 0);
    } else {
      throw invalidParameter(`${where}: ${JSON.stringify(v) ?? String(v)} is not a finite number; reference rows hold numbers (or booleans).`);
    }
  }
  return Float64Array.from(out);
}

/** A header of feature names, then one row per line; double quotes around a field are allowed. */
function parseCsv(text: string, what: string, input: string | undefined): ReferenceTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw invalidParameter(`${what} is empty: a CSV reference needs a header of feature names and one row per line.`);
  const header = splitCsvLine(lines[0]!);
  const name = input ?? inputOfHeader(header);
  if (!name) {
    throw invalidParameter(
      `${what}: cannot tell which model input its columns belong to. Name the input (--input NAME), or name the columns NAME[0], NAME[1], … after it.`,
    );
  }
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup !== undefined) throw invalidParameter(`${what}: column '${dup}' appears twice in the header.`);
  const width = header.length;
  const rows = lines.length - 1;
  const values = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const cells = splitCsvLine(lines[r + 1]!);
    if (cells.length !== width) throw invalidParameter(`${what} line ${r + 2}: ${cells.length} fields but the header has ${width}.`);
    for (let c = 0; c < width; c++) {
      const v = cells[c]!.trim() === '' ? NaN : Number(cells[c]);
      if (!Number.isFinite(v)) throw invalidParameter(`${what} line ${r + 2}, column '${header[c]}': '${cells[c]}' is not a finite number.`);
      values[r * width + c] = v;
    }
  }
  return { input: name, featureNames: header, rows, values };
}

/** `x[0],x[1],…` all after one input name → that name. */
function inputOfHeader(header: string[]): string | undefined {
  const names = new Set(header.map((h) => /^(.+)\[\d+\]$/.exec(h)?.[1]));
  const [only] = names;
  return names.size === 1 && only !== undefined ? only : undefined;
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted && ch === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else {
      cell += ch;
    }
  }
  cells.push(cell);
  return cells.map((c) => c.trim());
}

/** The profile of a version from its reference rows: per input, per feature, categorical or continuous. */
export function buildReferenceProfile(model: string, version: string, tables: ReferenceTable[], source: string, options: ProfileOptions = {}): ReferenceProfile {
  const bins = options.bins ?? 10;
  const maxCategories = options.maxCategories ?? 20;
  const sampleSize = options.sampleSize ?? 1000;
  const inputs: InputProfile[] = tables.map((t) => {
    const width = t.featureNames.length;
    const column = new Float64Array(t.rows);
    const features = t.featureNames.map((name, f) => {
      for (let r = 0; r < t.rows; r++) column[r] = t.values[r * width + f]!;
      return profileFeature(name, column.slice().sort(), bins, maxCategories, sampleSize);
    });
    return { name: t.input, rows: t.rows, features };
  });
  return { format: DRIFT_PROFILE_FORMAT, model, version, created: Date.now(), source, inputs };
}

function profileFeature(name: string, sorted: Float64Array, bins: number, maxCategories: number, sampleSize: number): FeatureProfile {
  const n = sorted.length;
  const categories: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n && categories.length <= maxCategories; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) {
      counts[counts.length - 1]!++;
    } else {
      categories.push(sorted[i]!);
      counts.push(1);
    }
  }
  if (categories.length <= maxCategories) return { name, kind: 'categorical', categories, proportions: counts.map((c) => c / n) };
  const edges = quantileEdges(sorted, bins);
  const binCounts = new Float64Array(edges.length + 1);
  countSortedIntoBins(edges, sorted, n, binCounts);
  return { name, kind: 'continuous', edges, proportions: Array.from(binCounts, (c) => c / n), sample: evenSample(sorted, sampleSize) };
}

export interface InputSummary {
  input: string;
  rows: number;
  features: number;
  continuous: number;
  categorical: number;
}

export function summarizeProfile(profile: ReferenceProfile): InputSummary[] {
  return profile.inputs.map((i) => {
    const continuous = i.features.filter((f) => f.kind === 'continuous').length;
    return { input: i.name, rows: i.rows, features: i.features.length, continuous, categorical: i.features.length - continuous };
  });
}

/**
 * For a version being registered: finds `drift_reference.json` (or `.csv`) in the folder of its ONNX file,
 * else at its run's artifact root, builds the profile and saves it. Undefined when there is no such file
 * (drift is then off for the version until `trellis models reference` gives one). A malformed reference file
 * is an INVALID_PARAMETER_VALUE error naming the file and the problem. `csvInput` names the model input of
 * a CSV file whose columns are not named `input[i]`.
 */
export async function profileFromRunArtifacts(
  store: Store,
  modelVersion: ModelVersion,
  options: ProfileOptions & { csvInput?: string } = {},
): Promise<ReferenceProfile | undefined> {
  const found = findReferenceArtifact(store, modelVersion);
  if (!found) return undefined;
  const { stream, size } = store.artifacts.read(found);
  if (size > MAX_REFERENCE_BYTES) {
    stream.destroy();
    throw invalidParameter(`Reference file '${found}' is ${size} bytes; the limit is ${MAX_REFERENCE_BYTES}. Keep a sample of the rows (a few thousand are plenty).`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const format = referenceFormatOf(found);
  const tables = parseReferenceFile(Buffer.concat(chunks).toString('utf8'), format, `Reference file '${found}'`, format === 'csv' ? options.csvInput : undefined);
  const profile = buildReferenceProfile(modelVersion.name, modelVersion.version, tables, found, options);
  await saveReferenceProfile(store.dataDir, profile);
  return profile;
}

/** The artifact path (relative to the artifact root) of the version's reference file, if it has one. */
function findReferenceArtifact(store: Store, v: ModelVersion): string | undefined {
  const folders: string[] = [];
  try {
    folders.push(relative(store.artifacts.root, dirname(onnxFileOf(store, v))).split(sep).join('/'));
  } catch (err) {
    // Not a servable ONNX source: its run's root may still hold a reference.
    if (!(err instanceof TrellisError)) throw err;
  }
  if (v.run_id) {
    try {
      const root = ArtifactStore.relativeOfUri(store.runs.info(v.run_id).artifact_uri);
      if (root !== undefined) folders.push(root.replace(/\/+$/, ''));
    } catch (err) {
      if (!(err instanceof TrellisError)) throw err;
    }
  }
  for (const folder of folders) {
    const names = new Set(store.artifacts.list(folder).filter((f) => !f.is_dir).map((f) => f.path));
    const hit = REFERENCE_FILE_NAMES.find((n) => names.has(n));
    if (hit) return folder ? `${folder}/${hit}` : hit;
  }
  return undefined;
}
