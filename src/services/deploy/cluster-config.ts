/**
 * Clusters model versions are deployed to: the `trellis.clusters` setting (VS Code's settings.json of the
 * workspace, which the CLI reads too) with CLI flags over it. Everything is checked here, so a typo fails
 * before an image is built, with the setting or flag named.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalidParameter, notFound } from '../../core/errors';

export interface Resources {
  cpu?: string;
  memory?: string;
}

export interface Autoscale {
  minReplicas: number;
  maxReplicas: number;
  /** Average CPU utilisation (percent of the request) the HPA keeps; the default metric. */
  cpuUtilization?: number;
  /** A pods metric from a custom metrics adapter (e.g. Prometheus Adapter) instead of CPU. */
  metric?: { name: string; averageValue: string };
}

export interface ClusterConfig {
  name: string;
  /** kubeconfig context; its current context when absent. */
  context?: string;
  namespace: string;
  /** kubeconfig file; KUBECONFIG or ~/.kube/config when absent. */
  kubeconfig?: string;
  /** Where images are pushed and pulled from, e.g. registry.example.com:5000/team. */
  registry: string;
  /** An image pull secret in the namespace, for private registries. */
  pullSecret?: string;
  requests: Resources;
  limits: Resources;
  gpusPerReplica: number;
  replicas: number;
  autoscale?: Autoscale;
  /** A host name the server accepts besides the Service's in-cluster names (an Ingress or Gateway host). */
  ingressHost?: string;
  /** The Gateway API Gateway that canary HTTPRoutes attach to; replica-ratio canaries when absent. */
  gateway?: { name: string; namespace?: string };
}

export const DEFAULT_RESOURCES = { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } };

const SETTING = 'trellis.clusters';
const KNOWN_KEYS = new Set(['name', 'context', 'namespace', 'kubeconfig', 'registry', 'pullSecret', 'resources', 'gpusPerReplica', 'replicas', 'autoscale', 'ingressHost', 'gateway']);

/** The `trellis.clusters` entries of `<workspace>/.vscode/settings.json` (JSON with comments), or []. */
export function clustersFromSettings(workspace: string): unknown[] {
  const path = join(workspace, '.vscode', 'settings.json');
  if (!existsSync(path)) return [];
  let settings: Record<string, unknown>;
  try {
    settings = JSON.parse(stripJsonComments(readFileSync(path, 'utf8'))) as Record<string, unknown>;
  } catch (err) {
    throw invalidParameter(`${path} is not valid JSON (${(err as Error).message}); fix it to use the ${SETTING} setting.`);
  }
  const clusters = settings[SETTING] ?? [];
  if (!Array.isArray(clusters)) throw invalidParameter(`${SETTING} in ${path} must be an array of clusters.`);
  return clusters;
}

/** Removes // and /* *\/ comments and trailing commas outside strings (VS Code's settings format). */
export function stripJsonComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else {
      out += c;
    }
  }
  return out.replace(/,(\s*[}\]])/g, '$1');
}

export interface ClusterFlags {
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  registry?: string;
  pullSecret?: string;
  replicas?: number;
  gpus?: number;
}

/**
 * The cluster named `name`: its settings entry with the flags over it. A name with no entry works when the
 * flags give what is needed (a registry), so a cluster can be used before it is configured.
 */
export function resolveCluster(entries: unknown[], name: string, flags: ClusterFlags = {}): ClusterConfig {
  const matches = entries.filter((e) => (e as { name?: unknown } | null)?.name === name);
  if (matches.length > 1) throw invalidParameter(`${SETTING} has ${matches.length} clusters named '${name}'; names must be unique.`);
  const entry = (matches[0] ?? { name }) as Record<string, unknown>;
  if (!matches[0] && !flags.registry) {
    const known = entries.map((e) => (e as { name?: unknown })?.name).filter((n) => typeof n === 'string');
    throw notFound(
      `No cluster '${name}' in ${SETTING}${known.length ? ` (configured: ${known.join(', ')})` : ' (none is configured)'}. ` +
        'Add it to .vscode/settings.json ({"name", "context", "namespace", "registry"}) or give --registry (and --context, --namespace).',
    );
  }
  return parseCluster({ ...entry, ...definedOnly(flags), resources: entry.resources });
}

function definedOnly(flags: ClusterFlags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    out[key === 'gpus' ? 'gpusPerReplica' : key] = value;
  }
  return out;
}

/** One settings entry, checked field by field. */
export function parseCluster(raw: Record<string, unknown>): ClusterConfig {
  const where = `${SETTING} entry '${String(raw.name ?? '?')}'`;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) throw invalidParameter(`${where}: unknown key '${key}' (known: ${[...KNOWN_KEYS].join(', ')}).`);
  }
  const name = text(raw, 'name', where);
  if (!name) throw invalidParameter(`${SETTING}: every cluster needs a "name".`);
  const registry = text(raw, 'registry', where);
  if (!registry) throw invalidParameter(`${where} has no "registry": images are pushed there and the cluster pulls them from it (e.g. "registry.example.com/ml"; or pass --registry).`);
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?$/i.test(registry) || /\/$/.test(registry)) {
    throw invalidParameter(`${where}: registry '${registry}' is not HOST[:PORT][/PATH] (e.g. registry.example.com:5000/ml).`);
  }
  const namespace = text(raw, 'namespace', where) ?? 'default';
  if (!isDnsLabel(namespace)) throw invalidParameter(`${where}: namespace '${namespace}' is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63).`);
  const pullSecret = text(raw, 'pullSecret', where);
  if (pullSecret !== undefined && !isDnsSubdomain(pullSecret)) throw invalidParameter(`${where}: pullSecret '${pullSecret}' is not a valid Secret name.`);
  const resources = (raw.resources ?? {}) as { requests?: unknown; limits?: unknown };
  if (typeof resources !== 'object' || resources === null) throw invalidParameter(`${where}: "resources" must be {"requests": {...}, "limits": {...}}.`);
  const gateway = raw.gateway as { name?: unknown; namespace?: unknown } | undefined;
  if (gateway !== undefined && (typeof gateway !== 'object' || gateway === null || typeof gateway.name !== 'string' || !isDnsSubdomain(gateway.name))) {
    throw invalidParameter(`${where}: "gateway" must be {"name": GATEWAY, "namespace"?: NS}, the Gateway API Gateway canary routes attach to.`);
  }
  const ingressHost = text(raw, 'ingressHost', where);
  if (ingressHost !== undefined && !isDnsSubdomain(ingressHost)) throw invalidParameter(`${where}: ingressHost '${ingressHost}' is not a host name.`);
  const context = text(raw, 'context', where);
  const kubeconfig = text(raw, 'kubeconfig', where);
  const autoscale = raw.autoscale === undefined ? undefined : parseAutoscale(raw.autoscale, where);
  return {
    name,
    namespace,
    registry,
    requests: { ...DEFAULT_RESOURCES.requests, ...quantities(resources.requests, `${where} resources.requests`) },
    limits: { ...DEFAULT_RESOURCES.limits, ...quantities(resources.limits, `${where} resources.limits`) },
    gpusPerReplica: whole(raw.gpusPerReplica ?? 0, `${where}: gpusPerReplica (--gpus)`, 0, 16),
    replicas: whole(raw.replicas ?? 1, `${where}: replicas (--replicas)`, 1, 1000),
    ...(context ? { context } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(pullSecret ? { pullSecret } : {}),
    ...(autoscale ? { autoscale } : {}),
    ...(ingressHost ? { ingressHost } : {}),
    ...(gateway ? { gateway: { name: gateway.name as string, ...(typeof gateway.namespace === 'string' ? { namespace: gateway.namespace } : {}) } } : {}),
  };
}

function parseAutoscale(raw: unknown, where: string): Autoscale {
  const a = raw as Record<string, unknown>;
  if (typeof a !== 'object' || a === null) throw invalidParameter(`${where}: "autoscale" must be an object {minReplicas, maxReplicas, cpuUtilization | metric}.`);
  const minReplicas = whole(a.minReplicas ?? 1, `${where}: autoscale.minReplicas`, 1, 1000);
  const maxReplicas = whole(a.maxReplicas ?? Math.max(minReplicas, 3), `${where}: autoscale.maxReplicas`, 1, 1000);
  if (maxReplicas < minReplicas) throw invalidParameter(`${where}: autoscale.maxReplicas (${maxReplicas}) is below minReplicas (${minReplicas}).`);
  if (a.metric !== undefined) {
    const m = a.metric as { name?: unknown; averageValue?: unknown };
    if (typeof m?.name !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name) || typeof m.averageValue !== 'string' || !isQuantity(m.averageValue)) {
      throw invalidParameter(`${where}: autoscale.metric must be {"name": a metric name (e.g. trellis_inflight_requests), "averageValue": a quantity per pod (e.g. "8")}.`);
    }
    if (a.cpuUtilization !== undefined) throw invalidParameter(`${where}: autoscale takes cpuUtilization or metric, not both.`);
    return { minReplicas, maxReplicas, metric: { name: m.name, averageValue: m.averageValue } };
  }
  return { minReplicas, maxReplicas, cpuUtilization: whole(a.cpuUtilization ?? 70, `${where}: autoscale.cpuUtilization`, 1, 1000) };
}

function quantities(raw: unknown, where: string): Resources {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null) throw invalidParameter(`${where} must be {"cpu": "500m", "memory": "1Gi"}.`);
  const out: Resources = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key !== 'cpu' && key !== 'memory') throw invalidParameter(`${where}: only cpu and memory are set here (GPUs come from gpusPerReplica / --gpus), got '${key}'.`);
    if (typeof value !== 'string' || !isQuantity(value)) throw invalidParameter(`${where}.${key}: '${String(value)}' is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1Gi).`);
    out[key] = value;
  }
  return out;
}

function text(raw: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalidParameter(`${where}: "${key}" must be a string.`);
  return v;
}

function whole(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidParameter(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}.`);
  return v;
}

export const isQuantity = (v: string): boolean => /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(v);
export const isDnsLabel = (v: string): boolean => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v);
export const isDnsSubdomain = (v: string): boolean => v.length <= 253 && v.split('.').every(isDnsLabel);
