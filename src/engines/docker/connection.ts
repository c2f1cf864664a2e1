/**
 * How Trellis reaches a Docker engine. The address comes from, in order: an explicit host (the
 * `trellis.docker.host` setting or the `--docker-host` flag), DOCKER_HOST, or the default socket. The
 * options handed to dockerode are complete, because docker-modem otherwise merges its own reading of
 * DOCKER_HOST into them (an explicit unix socket would lose to a tcp DOCKER_HOST).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { invalidParameter } from '../../core/errors';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerConnection {
  docker: Docker;
  /** The address in DOCKER_HOST form (unix://..., tcp://..., ssh://...), for messages and child processes. */
  host: string;
  /** True when the engine runs on this machine (a unix socket): its data root can be inspected locally. */
  local: boolean;
}

export interface ConnectOptions {
  /** An explicit address; wins over DOCKER_HOST. */
  host?: string;
  /** Environment to read DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The dockerode options one address stands for, with how it reads back as DOCKER_HOST. */
export interface ResolvedDockerHost {
  host: string;
  local: boolean;
  options: Docker.DockerOptions;
}

export function connectDocker(options: ConnectOptions = {}): DockerConnection {
  const resolved = resolveDockerHost(options);
  // Required here rather than imported: dockerode (with its gRPC and ssh2 dependencies) takes ~100 ms to
  // load, which every CLI command would pay at start-up, Docker or not.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Dockerode = require('dockerode') as typeof Docker;
  return { docker: withoutDockerEnv(() => new Dockerode(resolved.options)), host: resolved.host, local: resolved.local };
}

/**
 * docker-modem reads DOCKER_HOST and DOCKER_CERT_PATH (and opens the certificates) in its constructor even
 * when given every option, so a stale variable could break or redirect an explicit host. The options are
 * already resolved from them; the constructor runs with them unset (synchronously: nothing else sees it).
 */
function withoutDockerEnv<T>(construct: () => T): T {
  const names = ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_PATH_PREFIX', 'DOCKER_CLIENT_TIMEOUT'];
  const saved = names.map((n) => [n, process.env[n]] as const);
  for (const n of names) delete process.env[n];
  try {
    return construct();
  } finally {
    for (const [n, v] of saved) if (v !== undefined) process.env[n] = v;
  }
}

/** Pure: turns the explicit host / environment into dockerode options (unit-tested without an engine). */
export function resolveDockerHost(options: ConnectOptions = {}): ResolvedDockerHost {
  const env = options.env ?? process.env;
  const address = options.host?.trim() || env.DOCKER_HOST?.trim() || `unix://${DEFAULT_DOCKER_SOCKET}`;
  // Every field set, so that docker-modem's own DOCKER_HOST defaults cannot leak in (see the header).
  const blank: Docker.DockerOptions = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined };

  if (address.startsWith('unix://') || address.startsWith('/')) {
    const socketPath = address.startsWith('/') ? address : address.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET;
    return { host: `unix://${socketPath}`, local: true, options: { ...blank, socketPath } };
  }
  if (address.startsWith('npipe://')) {
    throw invalidParameter(`Docker host '${address}' is a Windows named pipe; Trellis runs on Linux and macOS: use unix://, tcp:// or ssh://.`);
  }

  let url: URL;
  try {
    url = new URL(address.includes('://') ? address : `tcp://${address}`);
  } catch {
    throw invalidParameter(`Docker host '${address}' is not an address: use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST.`);
  }
  if (!url.hostname) throw invalidParameter(`Docker host '${address}' names no host: use tcp://HOST:PORT or ssh://USER@HOST.`);

  if (url.protocol === 'ssh:') {
    // dockerode runs `docker system dial-stdio` over ssh2 on the remote machine; keys come from the agent.
    return {
      host: `ssh://${url.username ? `${url.username}@` : ''}${url.host}`,
      local: false,
      options: {
        ...blank,
        protocol: 'ssh',
        host: url.hostname,
        port: url.port ? Number(url.port) : 22,
        username: url.username || undefined,
        sshOptions: { agent: env.SSH_AUTH_SOCK },
      },
    };
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidParameter(`Docker host '${address}' has an unknown scheme '${url.protocol}': use unix://, tcp:// or ssh://.`);
  }

  // As the docker CLI: DOCKER_TLS_VERIFY (any non-empty value) means TLS with the client certificate and CA
  // from DOCKER_CERT_PATH (default ~/.docker); port 2376 is Docker's TLS port.
  const tls = Boolean(env.DOCKER_TLS_VERIFY) || url.protocol === 'https:' || url.port === '2376';
  const port = url.port ? Number(url.port) : tls ? 2376 : 2375;
  const host = `tcp://${url.hostname}:${port}`;
  if (!tls) return { host, local: false, options: { ...blank, protocol: 'http', host: url.hostname, port } };

  const certDir = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const read = (name: string): Buffer | undefined => {
    const path = join(certDir, name);
    return existsSync(path) ? readFileSync(path) : undefined;
  };
  const [ca, cert, key] = [read('ca.pem'), read('cert.pem'), read('key.pem')];
  if (env.DOCKER_TLS_VERIFY && (!ca || !cert || !key)) {
    throw invalidParameter(
      `DOCKER_TLS_VERIFY is set but ${certDir} lacks ${['ca.pem', 'cert.pem', 'key.pem'].filter((_, i) => ![ca, cert, key][i]).join(', ')}: ` +
        'set DOCKER_CERT_PATH to the directory holding the engine\'s client certificates, or unset DOCKER_TLS_VERIFY.',
    );
  }
  return { host, local: false, options: { ...blank, protocol: 'https', host: url.hostname, port, ca, cert, key } };
}
