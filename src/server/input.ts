import { invalidParameter, TrellisError } from '../core/errors';

/**
 * A request's fields: the JSON body of a POST/PATCH/DELETE, or the query string of a GET (where every
 * value is a string and repeated keys are arrays), read the way MLflow's protobuf parser reads them.
 */
export type Fields = Record<string, unknown>;

const hint = `See the API docs for more information about request parameters.`;

const missing = (name: string) => invalidParameter(`Missing value for required parameter '${name}'. ${hint}`);
const wrongType = (name: string, value: unknown, expected: string) =>
  invalidParameter(
    `Invalid value ${JSON.stringify(value)} for parameter '${name}' supplied: expected ${expected}, got ${Array.isArray(value) ? 'list' : typeof value}. ${hint}`,
  );

const absent = (v: unknown): boolean => v === undefined || v === null;

export function str(f: Fields, name: string): string | undefined {
  const v = f[name];
  if (absent(v)) return undefined;
  if (typeof v !== 'string') throw wrongType(name, v, 'a string');
  return v;
}

export function requiredStr(f: Fields, name: string): string {
  const v = str(f, name);
  if (v === undefined || v === '') throw missing(name);
  return v;
}

/** int64 fields: JSON numbers, or decimal strings (protobuf's JSON form, and every GET query value). */
export function int64(f: Fields, name: string): number | undefined {
  const v = f[name];
  if (absent(v)) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw wrongType(name, v, 'a 64-bit integer');
  return n;
}

export function requiredInt64(f: Fields, name: string): number {
  const v = int64(f, name);
  if (v === undefined) throw missing(name);
  return v;
}

const SPECIAL_DOUBLES: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** doubles: JSON numbers, or protobuf's "NaN" / "Infinity" / "-Infinity" strings (JSON has no such numbers). */
export function requiredDouble(f: Fields, name: string): number {
  const v = f[name];
  if (absent(v)) throw missing(name);
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v in SPECIAL_DOUBLES) return SPECIAL_DOUBLES[v]!;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  throw wrongType(name, v, 'a double');
}

export function bool(f: Fields, name: string): boolean | undefined {
  const v = f[name];
  if (absent(v)) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'True') return true;
  if (v === 'false' || v === 'False') return false;
  throw wrongType(name, v, 'a boolean');
}

/** Repeated fields: a JSON array, or one or more `name=` query parameters. */
export function list(f: Fields, name: string): unknown[] {
  const v = f[name];
  if (absent(v)) return [];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : (() => { throw wrongType(name, v, 'a list'); })();
}

export function strList(f: Fields, name: string): string[] {
  return list(f, name).map((item) => {
    if (typeof item !== 'string') throw wrongType(name, item, 'a list of strings');
    return item;
  });
}

export function messages(f: Fields, name: string): Fields[] {
  return list(f, name).map((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw wrongType(name, item, 'a list of objects');
    return item as Fields;
  });
}

/** `[{key, value}]` lists (params and tags); value may be absent, which protobuf reads as ''. */
export function keyValues(f: Fields, name: string): { key: string; value: string }[] {
  return messages(f, name).map((m) => {
    const key = m.key;
    if (typeof key !== 'string' || key === '') throw missing(`${name}.key`);
    const value = absent(m.value) ? '' : m.value;
    if (typeof value !== 'string') throw wrongType(`${name}.value`, value, 'a string');
    return { key, value };
  });
}

export function fieldsOfQuery(params: URLSearchParams): Fields {
  const out: Fields = {};
  for (const [k, v] of params) {
    const prior = out[k];
    if (prior === undefined) out[k] = v;
    else if (Array.isArray(prior)) prior.push(v);
    else out[k] = [prior, v];
  }
  return out;
}

/**
 * Parses a JSON request body. Python's json module (which some clients use directly) writes bare NaN,
 * Infinity and -Infinity tokens, which JSON.parse refuses: when parsing fails, those tokens outside
 * strings are turned into protobuf's string forms and parsing is tried once more.
 */
export function parseJsonBody(text: string): Fields {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (first) {
    try {
      value = JSON.parse(quoteSpecialNumbers(text));
    } catch {
      throw new TrellisError('MALFORMED_REQUEST', `Malformed JSON in request body: ${(first as Error).message}. Send a JSON object.`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TrellisError('MALFORMED_REQUEST', 'The request body must be a JSON object.');
  }
  return stringifyExperimentIds(value as Fields);
}

/** MLflow turns experiment ids sent as JSON numbers into strings before parsing; clients rely on it. */
function stringifyExperimentIds(f: Fields): Fields {
  if (typeof f.experiment_id === 'number') f.experiment_id = String(f.experiment_id);
  if (Array.isArray(f.experiment_ids)) f.experiment_ids = f.experiment_ids.map((id) => (typeof id === 'number' ? String(id) : id));
  return f;
}

function quoteSpecialNumbers(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const token = ['-Infinity', 'Infinity', 'NaN'].find((t) => text.startsWith(t, i));
    if (token) {
      out += `"${token}"`;
      i += token.length - 1;
    } else out += c;
  }
  return out;
}

/** JSON.stringify for MLflow replies: non-finite doubles become "NaN" / "Infinity" / "-Infinity" as protobuf writes them. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}
