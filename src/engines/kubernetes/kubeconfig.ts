/**
 * A kubeconfig context as what a request needs: the API server, its CA, and the user's credentials
 * (client certificate, bearer token or basic auth). Exec and auth-provider plugins (cloud logins) are not
 * run here: such a context fails with what to do instead.
 *
 * Why not @kubernetes/client-node's KubeConfig: client-node 2 loads undici 8, which needs Node >= 22.19,
 * and this project runs on Node 20; the kubeconfig format is small enough to read with `yaml`.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { TrellisError } from '../../core/errors';

export interface KubeConnection {
  context: string;
  server: string;
  /** The context's namespace, if it names one. */
  namespace?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  basic?: { username: string; password: string };
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
}

interface NamedEntry<T> { name: string; [key: string]: unknown; cluster?: T; user?: T; context?: T }

/** The kubeconfig files in effect: an explicit path, else KUBECONFIG's list, else ~/.kube/config. */
export function kubeconfigPaths(explicit?: string): string[] {
  if (explicit) return [explicit];
  const env = process.env.KUBECONFIG;
  if (env) return env.split(delimiter).filter(Boolean);
  return [join(homedir(), '.kube', 'config')];
}

export function loadKubeConnection(options: { kubeconfig?: string; context?: string } = {}): KubeConnection {
  const paths = kubeconfigPaths(options.kubeconfig);
  const docs: { path: string; doc: Record<string, unknown> }[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (paths.length > 1 && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw kubeError(`Cannot read the kubeconfig ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, 'Set KUBECONFIG, the cluster\'s "kubeconfig" setting, or --kubeconfig to a kubeconfig file.');
    }
    try {
      docs.push({ path, doc: (parse(text) ?? {}) as Record<string, unknown> });
    } catch (err) {
      throw kubeError(`The kubeconfig ${path} is not valid YAML: ${(err as Error).message}`, 'Fix the file or point KUBECONFIG elsewhere.');
    }
  }
  if (docs.length === 0) throw kubeError(`No kubeconfig found (${paths.join(', ')}).`, 'Set KUBECONFIG or --kubeconfig to your cluster\'s kubeconfig.');
  // Merged as kubectl does: the first file that names an entry wins.
  const find = <T>(list: string, name: string) => {
    for (const { path, doc } of docs) {
      const entry = ((doc[list] ?? []) as NamedEntry<T>[]).find((e) => e?.name === name);
      if (entry) return { path, entry };
    }
    return undefined;
  };
  const contextName = options.context ?? (docs.map((d) => d.doc['current-context']).find((c) => typeof c === 'string' && c) as string | undefined);
  if (!contextName) throw kubeError(`The kubeconfig (${paths.join(', ')}) has no current-context.`, 'Name one with the cluster\'s "context" setting or --context.');
  const ctx = find<{ cluster?: string; user?: string; namespace?: string }>('contexts', contextName);
  if (!ctx) {
    const known = docs.flatMap((d) => ((d.doc.contexts ?? []) as NamedEntry<unknown>[]).map((c) => c.name));
    throw kubeError(`No context '${contextName}' in the kubeconfig${known.length ? ` (contexts: ${known.join(', ')})` : ''}.`, 'Fix the cluster\'s "context" setting or --context.');
  }
  const c = ctx.entry.context ?? {};
  const cluster = c.cluster ? find<Record<string, unknown>>('clusters', c.cluster) : undefined;
  if (!cluster?.entry.cluster?.server) throw kubeError(`Context '${contextName}' names cluster '${c.cluster ?? ''}', which the kubeconfig does not define with a server.`, 'Fix the kubeconfig.');
  const cl = cluster.entry.cluster;
  const user = c.user ? find<Record<string, unknown>>('users', c.user) : undefined;
  const u = user?.entry.user ?? {};
  if (u.exec || u['auth-provider']) {
    throw kubeError(
      `Context '${contextName}' logs in through ${u.exec ? `an exec plugin (${String((u.exec as { command?: unknown }).command)})` : 'an auth-provider plugin'}, which Trellis does not run.`,
      'Use a context with a client certificate or a token (e.g. a ServiceAccount token: kubectl create token ...).',
    );
  }
  const data = (base: string, key: string, from: string | undefined): Buffer | undefined => {
    const inline = (from === 'user' ? u : cl)[`${key}-data`];
    if (typeof inline === 'string') return Buffer.from(inline, 'base64');
    const file = (from === 'user' ? u : cl)[key];
    if (typeof file === 'string') return readReferenced(isAbsolute(file) ? file : join(dirname(base), file), key);
    return undefined;
  };
  const tokenFile = typeof u.tokenFile === 'string' ? u.tokenFile : undefined;
  const token = typeof u.token === 'string' ? u.token : tokenFile ? readReferenced(isAbsolute(tokenFile) ? tokenFile : join(dirname(user!.path), tokenFile), 'tokenFile').toString('utf8').trim() : undefined;
  return {
    context: contextName,
    server: String(cl.server).replace(/\/+$/, ''),
    ...(typeof c.namespace === 'string' ? { namespace: c.namespace } : {}),
    ...(optional('ca', data(cluster.path, 'certificate-authority', 'cluster'))),
    ...(optional('cert', user ? data(user.path, 'client-certificate', 'user') : undefined)),
    ...(optional('key', user ? data(user.path, 'client-key', 'user') : undefined)),
    ...(token ? { token } : {}),
    ...(typeof u.username === 'string' && typeof u.password === 'string' ? { basic: { username: u.username, password: u.password } } : {}),
    insecureSkipTlsVerify: cl['insecure-skip-tls-verify'] === true,
    ...(typeof cl['tls-server-name'] === 'string' ? { tlsServerName: cl['tls-server-name'] } : {}),
  };
}

/** A file the kubeconfig names (a certificate, key or token), relative paths from the kubeconfig's folder. */
function readReferenced(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw kubeError(`The kubeconfig's ${key} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, 'Fix the path in the kubeconfig or use the inline *-data form.');
  }
}

function optional<K extends string>(key: K, value: Buffer | undefined): Partial<Record<K, Buffer>> {
  return value ? ({ [key]: value } as Record<K, Buffer>) : {};
}

export function kubeError(message: string, fix: string, code: 'INVALID_PARAMETER_VALUE' | 'TEMPORARILY_UNAVAILABLE' = 'INVALID_PARAMETER_VALUE'): TrellisError {
  return new TrellisError(code, `${message} ${fix}`);
}
