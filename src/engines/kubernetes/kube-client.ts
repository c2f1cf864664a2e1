/**
 * A thin client of the Kubernetes API on @kubernetes/client-node: server-side apply (field manager
 * `trellis`), get, list by label, delete, API group discovery and watch. It knows nothing about models: the
 * manifests and the rollout decisions are built and tested elsewhere; this is the only part that needs a
 * cluster, and the only part that turns the API server's failures into messages that say what to do.
 */
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { TrellisError } from '../../core/errors';
import { clientNode, type KubeConnection } from './kubeconfig';

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

/** client-node's generic object API, plus the collection path its API discovery resolves (the watch needs it). */
interface ObjectApi extends KubernetesObjectApi {
  collectionPath(apiVersion: string, kind: string, namespace: string): Promise<string>;
}

let objectApiClass: (new (...args: ConstructorParameters<typeof KubernetesObjectApi>) => ObjectApi) | undefined;

function makeObjectApi(config: KubeConfig): ObjectApi {
  // Defined on first use: client-node itself is loaded only when a cluster is.
  objectApiClass ??= class extends clientNode().KubernetesObjectApi {
    collectionPath(apiVersion: string, kind: string, namespace: string): Promise<string> {
      return this.specUriPath({ apiVersion, kind, metadata: { namespace } }, 'list');
    }
  };
  return config.makeApiClient(objectApiClass);
}

/**
 * client-node hands back its model classes (timestamps as Date); the deploy code reads the JSON shapes the
 * API server speaks (kubernetes-models' types), which is what these become again through JSON.
 */
function asJson<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class KubeClient {
  private readonly objects: ObjectApi;

  constructor(readonly connection: KubeConnection) {
    this.objects = makeObjectApi(connection.config);
  }

  /** Server-side apply: creates or updates the fields Trellis owns; force takes over fields others set by hand. */
  apply<T extends KubeObject>(obj: T): Promise<T> {
    return this.call(async () => asJson<T>(await this.objects.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, clientNode().PatchStrategy.ServerSideApply)));
  }

  /** The object, or undefined when it does not exist. */
  async get<T>(apiVersion: string, kind: string, namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.call(async () => asJson<T>(await this.objects.read({ apiVersion, kind, metadata: { name, namespace } })));
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  list<T>(apiVersion: string, kind: string, namespace: string, query: { labelSelector?: string; fieldSelector?: string } = {}): Promise<T[]> {
    return this.call(async () => {
      const list = await this.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, query.fieldSelector || undefined, query.labelSelector || undefined);
      return asJson<T[]>(list.items ?? []);
    });
  }

  /** Deletes with foreground propagation (a Deployment's pods go with it); true when it existed. */
  async delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
    try {
      await this.call(() => this.objects.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, 'Foreground'));
      return true;
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return false;
      throw err;
    }
  }

  /** Whether the API server serves `group/version` (e.g. gateway.networking.k8s.io/v1). */
  async servesApi(groupVersion: string): Promise<boolean> {
    const [group] = groupVersion.split('/');
    const groups = await this.call(() => this.connection.config.makeApiClient(clientNode().ApisApi).getAPIVersions());
    return (groups.groups ?? []).some((g) => g.name === group && (g.versions ?? []).some((v) => v.groupVersion === groupVersion));
  }

  /**
   * Watches a collection: each event as it comes, until `signal` aborts or the server ends the watch
   * (then the promise resolves and the caller lists again).
   */
  async watch<T>(apiVersion: string, kind: string, namespace: string, query: { labelSelector?: string }, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const path = await this.call(() => this.objects.collectionPath(apiVersion, kind, namespace));
    const params = { allowWatchBookmarks: true, ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}) };
    return new Promise((resolve, reject) => {
      let stop: AbortController | undefined;
      signal.addEventListener(
        'abort',
        () => {
          stop?.abort();
          resolve();
        },
        { once: true },
      );
      new (clientNode().Watch)(this.connection.config)
        .watch(path, params, (type, object) => onEvent({ type, object } as WatchEvent<T>), (err: unknown) => (err && !signal.aborted ? reject(this.error(err)) : resolve()))
        .then((controller) => {
          stop = controller;
          if (signal.aborted) controller.abort();
        }, (err: unknown) => reject(this.error(err)));
    });
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.error(err);
    }
  }

  private error(err: unknown): TrellisError {
    return kubeApiError(err, this.connection);
  }
}

/** What client-node threw, as an error that says what went wrong and what to do. */
function kubeApiError(err: unknown, c: Pick<KubeConnection, 'server' | 'context'>): TrellisError {
  if (err instanceof TrellisError) return err;
  const e = err as Error & { code?: unknown; body?: unknown; statusCode?: number; syscall?: string; path?: string };
  if (err instanceof clientNode().ApiException) return statusError(err.code, statusMessage(err.body));
  // The watch's refusal: a status code and its text, the body unread.
  if (typeof e.statusCode === 'number') return statusError(e.statusCode, e.message);
  if (e.syscall?.startsWith('spawn')) {
    return new TrellisError('UNAUTHENTICATED', `Context '${c.context}' logs in through the exec plugin ${e.path ?? ''}, which could not run (${String(e.code)}). Install it on this machine's PATH, or use a context with a client certificate or a token (e.g. a ServiceAccount token: kubectl create token ...).`);
  }
  if (e.syscall === 'open') {
    return new TrellisError('INVALID_PARAMETER_VALUE', `The kubeconfig of context '${c.context}' names ${e.path}, which cannot be read (${String(e.code)}). Fix the path in the kubeconfig or use the inline *-data form.`);
  }
  // client-node's discovery found the group version but not the kind in it.
  if (/^Unrecognized API version and kind/.test(e.message)) return new TrellisError('RESOURCE_DOES_NOT_EXIST', `${where(c)} does not serve it: ${e.message}`);
  return connectionError(e, c);

  function statusError(status: number, message: string): TrellisError {
    if (status === 401) return new TrellisError('UNAUTHENTICATED', `${where(c)} does not accept the context's credentials: ${message}. Refresh them (a new token or certificate) in the kubeconfig.`);
    if (status === 403) return new TrellisError('PERMISSION_DENIED', `${where(c)} refused: ${message}. The context's user needs RBAC permission for it in the namespace (ask the cluster's admin for a Role with it).`);
    if (status === 404) return new TrellisError('RESOURCE_DOES_NOT_EXIST', `Not found on ${where(c)}: ${message}`);
    if (status === 409) return new TrellisError('RESOURCE_CONFLICT', `${where(c)}: ${message}`);
    if (status === 422 || status === 400) return new TrellisError('INVALID_PARAMETER_VALUE', `${where(c)} rejected the object: ${message}`);
    return new TrellisError(status >= 500 ? 'TEMPORARILY_UNAVAILABLE' : 'BAD_REQUEST', `${where(c)} answered ${status}: ${message}`);
  }
}

function where(c: Pick<KubeConnection, 'server' | 'context'>): string {
  return `the API server of context '${c.context}' (${c.server})`;
}

/** The message of the API server's Status object, or the body's text when it is not one. */
function statusMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim().slice(0, 500);
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : JSON.stringify(parsed ?? '').slice(0, 500);
}

function connectionError(err: Error & { code?: unknown }, c: Pick<KubeConnection, 'server' | 'context'>): TrellisError {
  const code = typeof err.code === 'string' ? err.code : undefined;
  const tls = code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO/.test(code);
  if (tls) return new TrellisError('UNAUTHENTICATED', `TLS with ${where(c)} failed (${code}: ${err.message}). Check the cluster's certificate-authority in the kubeconfig.`);
  if (code) return new TrellisError('TEMPORARILY_UNAVAILABLE', `No Kubernetes API server answers at ${c.server} (context '${c.context}': ${code}). Check that the cluster runs and this machine reaches it (VPN, kubectl cluster-info).`);
  // Neither HTTP nor the network: client-node refusing the configuration (e.g. an exec plugin that failed).
  return new TrellisError('INVALID_PARAMETER_VALUE', `Cannot reach ${where(c)}: ${err.message}. Check the context in the kubeconfig.`);
}
