/**
 * A thin client of the Kubernetes API over node:https: server-side apply (field manager `trellis`), get,
 * list by label, delete, API group discovery and watch. It knows nothing about models: the manifests
 * and the rollout decisions are built and tested elsewhere; this is the only part that needs a cluster.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { TrellisError } from '../../core/errors';
import type { KubeConnection } from './kubeconfig';

export const FIELD_MANAGER = 'trellis';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Plural resource names of the kinds Trellis writes and reads. */
const PLURALS: Record<string, string> = {
  Deployment: 'deployments',
  ReplicaSet: 'replicasets',
  Pod: 'pods',
  Event: 'events',
  Service: 'services',
  Secret: 'secrets',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  PodDisruptionBudget: 'poddisruptionbudgets',
  HTTPRoute: 'httproutes',
};

/** `/apis/apps/v1/namespaces/ns/deployments[/name]` from an object's apiVersion and kind. */
export function resourcePath(apiVersion: string, kind: string, namespace: string, name?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new TrellisError('INTERNAL_ERROR', `No API path known for kind ${kind}.`);
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export class KubeClient {
  constructor(readonly connection: KubeConnection) {}

  /** Server-side apply: creates or updates the fields Trellis owns; force takes over fields others set by hand. */
  apply<T extends KubeObject>(obj: T): Promise<T> {
    const { apiVersion, kind, metadata } = obj;
    const path = resourcePath(apiVersion!, kind!, metadata!.namespace!, metadata!.name);
    return this.request<T>('PATCH', path, { query: { fieldManager: FIELD_MANAGER, force: 'true' }, body: JSON.stringify(obj), contentType: 'application/apply-patch+yaml' });
  }

  /** The object, or undefined when it does not exist. */
  async get<T>(apiVersion: string, kind: string, namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(apiVersion, kind, namespace, name));
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  async list<T>(apiVersion: string, kind: string, namespace: string, query: { labelSelector?: string; fieldSelector?: string } = {}): Promise<T[]> {
    const list = await this.request<{ items?: T[] }>('GET', resourcePath(apiVersion, kind, namespace), { query: definedOnly(query) });
    return list.items ?? [];
  }

  /** Deletes with foreground propagation (a Deployment's pods go with it); true when it existed. */
  async delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
    try {
      await this.request('DELETE', resourcePath(apiVersion, kind, namespace, name), { body: JSON.stringify({ propagationPolicy: 'Foreground' }), contentType: 'application/json' });
      return true;
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return false;
      throw err;
    }
  }

  /** Whether the API server serves `group/version` (e.g. gateway.networking.k8s.io/v1). */
  async servesApi(groupVersion: string): Promise<boolean> {
    const [group] = groupVersion.split('/');
    const groups = await this.request<{ groups?: { name: string; versions?: { groupVersion: string }[] }[] }>('GET', '/apis');
    return (groups.groups ?? []).some((g) => g.name === group && (g.versions ?? []).some((v) => v.groupVersion === groupVersion));
  }

  /**
   * Watches a collection: each event as it comes, until `signal` aborts or the server ends the watch
   * (then the promise resolves and the caller lists again).
   */
  watch<T>(apiVersion: string, kind: string, namespace: string, query: { labelSelector?: string }, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.send('GET', resourcePath(apiVersion, kind, namespace), { query: { ...definedOnly(query), watch: 'true', allowWatchBookmarks: 'true' } }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          void readBody(res).then((text) => reject(statusError(res.statusCode ?? 0, text, this.connection)));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let event: WatchEvent<T>;
            try {
              event = JSON.parse(line) as WatchEvent<T>;
            } catch {
              req.destroy();
              reject(new TrellisError('INTERNAL_ERROR', `The API server at ${this.connection.server} sent a watch event that is not JSON.`));
              return;
            }
            onEvent(event);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      const abort = () => {
        req.destroy();
        resolve();
      };
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      req.on('error', (err) => (signal.aborted ? resolve() : reject(connectionError(err, this.connection))));
      req.end();
    });
  }

  request<T>(method: string, path: string, options: { query?: Record<string, string>; body?: string; contentType?: string } = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = this.send(method, path, options, (res) => {
        void readBody(res).then((text) => {
          const status = res.statusCode ?? 0;
          if (status >= 300) return reject(statusError(status, text, this.connection));
          try {
            resolve((text ? JSON.parse(text) : {}) as T);
          } catch {
            reject(new TrellisError('INTERNAL_ERROR', `The API server at ${this.connection.server} answered ${method} ${path} with something that is not JSON.`));
          }
        }, reject);
      });
      req.setTimeout(30_000, () => req.destroy(Object.assign(new Error('no answer within 30 s'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(connectionError(err, this.connection)));
      req.end(options.body);
    });
  }

  private send(method: string, path: string, options: { query?: Record<string, string>; body?: string; contentType?: string }, onResponse: (res: IncomingMessage) => void) {
    const c = this.connection;
    const url = new URL(c.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'trellis' };
    if (options.contentType) headers['Content-Type'] = options.contentType;
    if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
    if (c.token) headers.Authorization = `Bearer ${c.token}`;
    else if (c.basic) headers.Authorization = `Basic ${Buffer.from(`${c.basic.username}:${c.basic.password}`).toString('base64')}`;
    const common = { method, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: url.pathname + url.search, headers };
    if (url.protocol === 'http:') return httpRequest(common, onResponse);
    return httpsRequest(
      {
        ...common,
        ...(c.ca ? { ca: c.ca } : {}),
        ...(c.cert ? { cert: c.cert } : {}),
        ...(c.key ? { key: c.key } : {}),
        ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
        rejectUnauthorized: !c.insecureSkipTlsVerify,
      },
      onResponse,
    );
  }
}

function definedOnly(q: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** The API server's Status object, as an error that says what to do. */
export function statusError(status: number, body: string, c: Pick<KubeConnection, 'server' | 'context'>): TrellisError {
  let message = body.trim().slice(0, 500);
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    /* not a Status object: keep the text */
  }
  const where = `the API server of context '${c.context}' (${c.server})`;
  if (status === 401) return new TrellisError('UNAUTHENTICATED', `${where} does not accept the context's credentials: ${message}. Refresh them (a new token or certificate) in the kubeconfig.`);
  if (status === 403) return new TrellisError('PERMISSION_DENIED', `${where} refused: ${message}. The context's user needs RBAC permission for it in the namespace (ask the cluster's admin for a Role with it).`);
  if (status === 404) return new TrellisError('RESOURCE_DOES_NOT_EXIST', `Not found on ${where}: ${message}`);
  if (status === 409) return new TrellisError('RESOURCE_CONFLICT', `${where}: ${message}`);
  if (status === 422 || status === 400) return new TrellisError('INVALID_PARAMETER_VALUE', `${where} rejected the object: ${message}`);
  return new TrellisError(status >= 500 ? 'TEMPORARILY_UNAVAILABLE' : 'BAD_REQUEST', `${where} answered ${status}: ${message}`);
}

function connectionError(err: Error & { code?: string }, c: KubeConnection): TrellisError {
  if (err instanceof TrellisError) return err;
  const tls = err.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO/.test(err.code);
  return new TrellisError(
    tls ? 'UNAUTHENTICATED' : 'TEMPORARILY_UNAVAILABLE',
    tls
      ? `TLS with the API server of context '${c.context}' (${c.server}) failed (${err.code}: ${err.message}). Check the cluster's certificate-authority in the kubeconfig.`
      : `No Kubernetes API server answers at ${c.server} (context '${c.context}': ${err.code ?? err.message}). Check that the cluster runs and this machine reaches it (VPN, kubectl cluster-info).`,
  );
}
