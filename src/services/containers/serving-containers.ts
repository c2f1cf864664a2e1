/**
 * Serving containers: N replicas of the serving image for one model version, each published on its own
 * host port on 127.0.0.1, the model file mounted read-only, labelled `trellis.kind=serving` with the model
 * and version, and reported up only once its /v2/health/ready answers 200. A start that fails part-way
 * removes what it started; list and stop find the containers by their labels, so they work after restarts.
 */
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { invalidParameter, TrellisError } from '../../core/errors';
import { SERVER_NODE_FLAGS } from '../../core/server-node-flags';
import { EngineError, engineError } from '../../engines/docker/engine-errors';
import { engineInfo } from '../../engines/docker/engine-info';
import { parseGpuRequest, type DeviceRequest } from '../../engines/docker/gpu-request';

export const SERVING_LABEL = {
  kind: 'trellis.kind',
  model: 'trellis.model',
  version: 'trellis.version',
  endpoint: 'trellis.endpoint',
  replica: 'trellis.replica',
  /** The bearer token the replica's server requires beyond loopback (published ports arrive from the bridge). */
  token: 'trellis.token',
} as const;
const KIND = 'serving';
/** The port the server listens on inside each container. */
export const CONTAINER_PORT = 8080;
export interface ServingModel {
  name: string;
  version: string;
}

/** What runs in each container: the command (given the port and token) and what it needs mounted. */
export interface ServingSource {
  command: (args: { port: number; token: string }) => string[];
  mounts: { source: string; target: string; readOnly: boolean }[];
  /** Paths in the container backed by memory, hiding what the mounts have there. */
  tmpfs?: string[];
}

/**
 * Replicas that serve a registered version from the workspace's data directory, so NAME/VERSION resolves
 * through the real registry. The directory is mounted at /data (SQLite writes its lock files there) with
 * its artifacts, the models among them, mounted read-only over it; endpoint announcements go to a tmpfs
 * over /data/endpoints, since container pids mean nothing on the host.
 */
export function servingFromDataDir(dataDir: string, model: ServingModel): ServingSource {
  return {
    command: ({ port, token }) => [
      'node', ...SERVER_NODE_FLAGS, '/app/cli.js', '-d', '/data', 'serve', '--model', `${model.name}/${model.version}`,
      '--host', '0.0.0.0', '--port', String(port), '--token', token,
    ],
    mounts: [
      { source: dataDir, target: '/data', readOnly: false },
      { source: join(dataDir, 'artifacts'), target: '/data/artifacts', readOnly: true },
    ],
    tmpfs: ['/data/endpoints'],
  };
}

export interface StartOptions {
  image: string;
  model: ServingModel;
  source: ServingSource;
  replicas: number;
  /** `--gpus` as `docker run` takes it (all, N, device=0,1); checked against the engine before anything starts. */
  gpus?: string;
  /** How long each replica may take to become ready (default 60 s). */
  readyTimeoutMs?: number;
  onStatus?: (line: string) => void;
  host?: string;
}

export interface ServingReplica {
  id: string;
  name: string;
  endpoint: string;
  model: string;
  version: string;
  replica: number;
  /** http://127.0.0.1:<host port>, or undefined when the container is not running. */
  url?: string;
  token: string;
  state: string;
  status: string;
}

export async function startServingContainers(docker: Docker, options: StartOptions): Promise<ServingReplica[]> {
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 64) {
    throw invalidParameter(`--replicas must be a whole number from 1 to 64, got ${options.replicas}.`);
  }
  const gpu = options.gpus ? parseGpuRequest(options.gpus) : undefined;
  if (gpu) await requireGpuSupport(docker, options.host);

  const endpoint = randomBytes(4).toString('hex');
  const token = randomBytes(24).toString('hex');
  const command = options.source.command({ port: CONTAINER_PORT, token });
  const started: Docker.Container[] = [];
  try {
    for (let i = 0; i < options.replicas; i++) {
      const container = await docker.createContainer(createBody(options, { endpoint, token, replica: i, command, gpu }));
      started.push(container);
      await container.start();
    }
    const replicas: ServingReplica[] = [];
    for (const container of started) {
      const replica = await waitReady(container, token, options.readyTimeoutMs ?? 60_000);
      // Restarted by the engine from now on (a crash, a dockerd restart), but not while starting: a server
      // that cannot start must fail here with its exit code, not loop.
      await container.update({ RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 } });
      options.onStatus?.(`replica ${replica.replica} of ${options.model.name}/${options.model.version} ready at ${replica.url}`);
      replicas.push(replica);
    }
    return replicas;
  } catch (err) {
    // Nothing half-started stays behind.
    await Promise.all(started.map((c) => c.remove({ force: true }).catch(() => undefined)));
    throw err instanceof TrellisError ? err : engineError(err, { image: options.image, host: options.host });
  }
}

function createBody(
  options: StartOptions,
  r: { endpoint: string; token: string; replica: number; command: string[]; gpu?: DeviceRequest },
): Docker.ContainerCreateOptions {
  const safeName = options.model.name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'model';
  return {
    name: `trellis-serving-${safeName}-${options.model.version}-${r.endpoint}-${r.replica}`,
    Image: options.image,
    Cmd: r.command,
    Labels: {
      [SERVING_LABEL.kind]: KIND,
      [SERVING_LABEL.model]: options.model.name,
      [SERVING_LABEL.version]: options.model.version,
      [SERVING_LABEL.endpoint]: r.endpoint,
      [SERVING_LABEL.replica]: String(r.replica),
      [SERVING_LABEL.token]: r.token,
    },
    ExposedPorts: { [`${CONTAINER_PORT}/tcp`]: {} },
    HostConfig: {
      // An empty HostPort: the engine picks a free port, one per replica, on loopback only.
      PortBindings: { [`${CONTAINER_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
      // Type 'bind': a missing source is an error, not an empty directory created in its place.
      Mounts: options.source.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
      ...(options.source.tmpfs?.length ? { Tmpfs: Object.fromEntries(options.source.tmpfs.map((p) => [p, ''])) } : {}),
      ...(r.gpu ? { DeviceRequests: [r.gpu as unknown as Docker.DeviceRequest] } : {}),
    },
  };
}

async function requireGpuSupport(docker: Docker, host?: string): Promise<void> {
  const info = await engineInfo(docker, { host, local: false });
  if (!info.gpu.available) {
    throw new EngineError(
      'INVALID_PARAMETER_VALUE',
      'no-gpu',
      `This Docker engine has no GPU support (${info.gpu.detail}); no container was started.`,
      'Run without --gpus to serve on the CPU, or install the NVIDIA driver and the NVIDIA container toolkit on the engine\'s machine and restart dockerd.',
      info.gpu.detail,
    );
  }
}

/** Polls the replica's /v2/health/ready through its published port; a container that exits fails at once, with its last log lines. */
async function waitReady(container: Docker.Container, token: string, timeoutMs: number): Promise<ServingReplica> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await container.inspect();
    const replica = replicaOf(info);
    if (!info.State.Running) {
      throw new EngineError('INTERNAL_ERROR', 'engine', `Serving container ${info.Name.replace(/^\//, '')} exited (code ${info.State.ExitCode}) before it was ready: ${await logTail(container)}`, 'Check the model file and the image (`trellis images serving`).', '');
    }
    if (replica.url) {
      if ((await httpStatus(`${replica.url}/v2/health/ready`, token)) === 200) return replica;
    }
    if (Date.now() > deadline) {
      throw new EngineError('TEMPORARILY_UNAVAILABLE', 'engine', `Serving container ${replica.name} was not ready within ${Math.round(timeoutMs / 1000)} s: ${await logTail(container)}`, 'Look at its logs (`docker logs`) and retry.', '');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * GET with node:http and a fresh connection each time: right after start the engine's port proxy accepts
 * and then drops connections until the server listens, which fetch's pooled sockets handle badly.
 */
function httpStatus(url: string, token: string, timeoutMs = 2000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { headers: { authorization: `Bearer ${token}` }, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

async function logTail(container: Docker.Container, lines = 10): Promise<string> {
  const raw = (await container.logs({ stdout: true, stderr: true, tail: lines }).catch(() => Buffer.alloc(0))) as unknown as Buffer;
  // Strip the 8-byte frame headers of the multiplexed log stream.
  let text = '';
  for (let i = 0; i + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(i + 4);
    text += raw.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return text.trim().split('\n').slice(-lines).join(' | ') || '(no output)';
}

function replicaOf(info: Docker.ContainerInspectInfo): ServingReplica {
  const labels = info.Config.Labels ?? {};
  const binding = info.NetworkSettings.Ports?.[`${CONTAINER_PORT}/tcp`]?.[0];
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    endpoint: labels[SERVING_LABEL.endpoint] ?? '',
    model: labels[SERVING_LABEL.model] ?? '',
    version: labels[SERVING_LABEL.version] ?? '',
    replica: Number(labels[SERVING_LABEL.replica] ?? 0),
    url: info.State.Running && binding?.HostPort ? `http://127.0.0.1:${binding.HostPort}` : undefined,
    token: labels[SERVING_LABEL.token] ?? '',
    state: info.State.Status,
    status: info.State.Running ? 'running' : `exited (${info.State.ExitCode})`,
  };
}

export interface ServingFilter {
  endpoint?: string;
  model?: string;
  version?: string;
}

/** Serving containers (running or not), optionally of one endpoint or model, ordered by model, endpoint and replica. */
export async function listServingContainers(docker: Docker, filter: ServingFilter = {}): Promise<ServingReplica[]> {
  const labels = [`${SERVING_LABEL.kind}=${KIND}`];
  if (filter.endpoint) labels.push(`${SERVING_LABEL.endpoint}=${filter.endpoint}`);
  if (filter.model) labels.push(`${SERVING_LABEL.model}=${filter.model}`);
  if (filter.version) labels.push(`${SERVING_LABEL.version}=${filter.version}`);
  let found: Docker.ContainerInfo[];
  try {
    found = await docker.listContainers({ all: true, filters: { label: labels } });
  } catch (err) {
    throw engineError(err);
  }
  const replicas: ServingReplica[] = [];
  for (const c of found) {
    const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
    if (info) replicas.push(replicaOf(info)); // removed between list and inspect: gone, not listed
  }
  return replicas.sort((a, b) => a.model.localeCompare(b.model) || a.endpoint.localeCompare(b.endpoint) || a.replica - b.replica);
}

/** Stops (SIGTERM, then SIGKILL after the grace period) and removes the matching serving containers. */
export async function stopServingContainers(docker: Docker, filter: ServingFilter, graceSeconds = 10): Promise<ServingReplica[]> {
  if (!filter.endpoint && !filter.model) throw invalidParameter('Say which serving containers to stop: an endpoint id or a model name.');
  const replicas = await listServingContainers(docker, filter);
  await Promise.all(
    replicas.map(async (r) => {
      const container = docker.getContainer(r.id);
      await container.stop({ t: graceSeconds }).catch(ignoreGone);
      await container.remove({ force: true }).catch(ignoreGone);
    }),
  );
  return replicas;
}

/** 304: already stopped; 404: already removed; 409: a removal in progress. */
function ignoreGone(err: unknown): void {
  const status = (err as { statusCode?: number }).statusCode;
  if (status !== 304 && status !== 404 && status !== 409) throw engineError(err);
}
