/**
 * Endpoint files: a running model server (`trellis serve`) announces itself in
 * `<dataDir>/endpoints/<pid>.json` ({pid, url, token, models}), so other tools on this machine (the load
 * tester's `--model`, the extension's Endpoints view) find a live endpoint by model reference.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { processAlive } from './server-file';

export interface EndpointModel {
  name: string;
  version: string;
  /** The first reference it was loaded by. */
  ref: string;
  refs: string[];
  infer_url: string;
}

/** `<dataDir>/endpoints/<pid>.json`. */
export interface EndpointFile {
  pid: number;
  url: string;
  token: string;
  models: EndpointModel[];
  version: string;
}

export const endpointsDir = (dataDir: string): string => join(dataDir, 'endpoints');

/** Writes `<dataDir>/endpoints/<pid>.json` atomically, mode 0600 (it holds the token). */
export function writeEndpointFile(dataDir: string, info: EndpointFile): string {
  const dir = endpointsDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${info.pid}.json`);
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** Removes the file if it still describes this endpoint. */
export function removeEndpointFile(path: string, url: string): void {
  try {
    if ((JSON.parse(readFileSync(path, 'utf8')) as EndpointFile).url !== url) return;
  } catch {
    return;
  }
  rmSync(path, { force: true });
}

/** The endpoint files of live processes (files of dead ones are skipped, not removed). */
export function readEndpointFiles(dataDir: string): EndpointFile[] {
  let names: string[];
  try {
    names = readdirSync(endpointsDir(dataDir)).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: EndpointFile[] = [];
  for (const name of names) {
    try {
      const info = JSON.parse(readFileSync(join(endpointsDir(dataDir), name), 'utf8')) as EndpointFile;
      if (Number.isInteger(info.pid) && processAlive(info.pid) && typeof info.url === 'string' && Array.isArray(info.models)) out.push(info);
    } catch {
      /* half-written or foreign: skip */
    }
  }
  return out;
}

/**
 * A live endpoint serving the reference: the same reference string first (`mnist@champion`), else the
 * same name and version (`mnist/3`), else, for a bare name, any version of it.
 */
export function findEndpoint(dataDir: string, ref: string): { endpoint: EndpointFile; model: EndpointModel } | undefined {
  const endpoints = readEndpointFiles(dataDir);
  const all = endpoints.flatMap((endpoint) => endpoint.models.map((model) => ({ endpoint, model })));
  const bare = ref.replace(/^models:\/+/, '');
  const byRef = all.find((e) => e.model.refs.includes(ref) || e.model.refs.includes(bare));
  if (byRef) return byRef;
  const m = /^(.+)\/(\d+)$/.exec(bare);
  if (m) return all.find((e) => e.model.name === m[1] && e.model.version === m[2]);
  if (!bare.includes('@')) return all.find((e) => e.model.name === bare);
  return undefined;
}
