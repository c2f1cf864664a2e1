import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatformServer, type PlatformServer } from '../../src/server/platform-server';

/** A fresh data directory under the OS temp dir; removed by `cleanup`. */
export function tempDir(prefix = 'trellis-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestPlatform {
  server: PlatformServer;
  dataDir: string;
  /** Calls an API route and returns status and parsed JSON body. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** MLflow REST shorthand: `mlflow('POST', 'runs/create', {...})`. GET bodies become the query string. */
  mlflow(method: string, path: string, fields?: Record<string, unknown>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** A real platform server on 127.0.0.1:0 over a real SQLite file in a temp directory. */
export async function startTestPlatform(options: { host?: string; token?: string } = {}): Promise<TestPlatform> {
  const { dir, cleanup } = tempDir();
  const server = await startPlatformServer({ dataDir: dir, version: 'test', log: () => {}, ...options });
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      /* not JSON: returned as text */
    }
    return { status: res.status, body: parsed as any };
  };
  const mlflow = (method: string, path: string, fields: Record<string, unknown> = {}) => {
    if (method !== 'GET') return api(method, `/api/2.0/mlflow/${path}`, fields);
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
    return api('GET', `/api/2.0/mlflow/${path}${[...qs].length ? `?${qs}` : ''}`);
  };
  return {
    server,
    dataDir: dir,
    api,
    mlflow,
    stop: async () => {
      await server.close();
      cleanup();
    },
  };
}
