/**
 * A kubeconfig context, read by @kubernetes/client-node's KubeConfig: an explicit file, else the files
 * KUBECONFIG lists (merged), else ~/.kube/config, else a pod's service account. Certificates, tokens and
 * exec or auth-provider plugins (cloud logins) are client-node's to apply at each request; this module
 * chooses the context and makes a kubeconfig that cannot be used say what to do.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { TrellisError } from '../../core/errors';

type ClientNode = typeof import('@kubernetes/client-node');

export interface KubeConnection {
  context: string;
  server: string;
  /** The context's namespace, if it names one. */
  namespace?: string;
  /** client-node's configuration with `context` current: what every request is made from. */
  config: KubeConfig;
}

/**
 * client-node, required on first use rather than imported: it takes about 0.4 s to load, which every CLI
 * command would pay at start-up, deploy or not.
 */
export function clientNode(): ClientNode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@kubernetes/client-node') as ClientNode;
}

/** What client-node's loadFromDefault falls back to when it finds no kubeconfig at all. */
const NO_CONFIG_FALLBACK = { context: 'loaded-context', server: 'http://localhost:8080' };

export function loadKubeConnection(options: { kubeconfig?: string; context?: string } = {}): KubeConnection {
  const config = new (clientNode().KubeConfig)();
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (err) {
    throw unreadableKubeconfig(err as NodeJS.ErrnoException, options.kubeconfig);
  }
  if (config.getCurrentContext() === NO_CONFIG_FALLBACK.context && config.getCurrentCluster()?.server === NO_CONFIG_FALLBACK.server) {
    throw kubeError('No kubeconfig found (KUBECONFIG is not set and there is no ~/.kube/config).', 'Set KUBECONFIG or --kubeconfig to your cluster\'s kubeconfig.');
  }
  const contextName = options.context ?? config.getCurrentContext();
  if (!contextName) throw kubeError('The kubeconfig has no current-context.', 'Name one with the cluster\'s "context" setting or --context.');
  const context = config.getContextObject(contextName);
  if (!context) {
    const known = config.getContexts().map((c) => c.name);
    throw kubeError(`No context '${contextName}' in the kubeconfig${known.length ? ` (contexts: ${known.join(', ')})` : ''}.`, 'Fix the cluster\'s "context" setting or --context.');
  }
  config.setCurrentContext(contextName);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw kubeError(`Context '${contextName}' names cluster '${context.cluster}', which the kubeconfig does not define.`, 'Fix the kubeconfig.');
  return { context: contextName, server: cluster.server, ...(context.namespace ? { namespace: context.namespace } : {}), config };
}

function unreadableKubeconfig(err: NodeJS.ErrnoException, explicit: string | undefined): TrellisError {
  if (err.syscall === 'open') {
    return kubeError(`Cannot read the kubeconfig ${err.path ?? explicit ?? ''} (${err.code}).`, 'Set KUBECONFIG, the cluster\'s "kubeconfig" setting, or --kubeconfig to a kubeconfig file.');
  }
  // YAML errors and entries without a name or server (client-node's messages name the entry).
  return kubeError(`The kubeconfig${explicit ? ` ${explicit}` : ''} cannot be used: ${err.message}.`, 'Fix the file or point KUBECONFIG elsewhere.');
}

export function kubeError(message: string, fix: string): TrellisError {
  return new TrellisError('INVALID_PARAMETER_VALUE', `${message} ${fix}`);
}
