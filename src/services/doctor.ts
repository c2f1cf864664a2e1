/**
 * `trellis doctor`: is this machine ready for Trellis? Each check answers ok, warn or fail, with what it
 * found and, for anything short of ok, what to do. The CLI prints them; the extension can show the same.
 */
import { TrellisError } from '../core/errors';
import { processAlive, readServerFile, serverFilePath } from '../core/server-file';
import { connectDocker } from '../engines/docker/connection';
import { engineInfo, type EngineInfo } from '../engines/docker/engine-info';
import { EngineError, engineError } from '../engines/docker/engine-errors';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: 'docker-engine' | 'gpu' | 'disk' | 'platform-server';
  status: CheckStatus;
  summary: string;
  /** What to do; empty when status is ok. */
  fix: string;
}

export interface DoctorReport {
  checks: Check[];
  /** The worst status of all checks. */
  status: CheckStatus;
  engine?: EngineInfo;
}

export interface DoctorOptions {
  dataDir: string;
  /** Explicit Docker host (`--docker-host` / trellis.docker.host); else DOCKER_HOST, else the default socket. */
  dockerHost?: string;
  /** Below this many free bytes on the engine's data root the disk check warns (default 10 GiB). */
  minFreeDiskBytes?: number;
}

/** `trellis doctor --help` names this default (10) without loading this module. */
export const DEFAULT_MIN_FREE_DISK = 10 * 1024 ** 3;
/** The engine API that has DeviceRequests (Docker 19.03), which GPU jobs and serving need. */
const MIN_API = '1.40';

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const checks: Check[] = [];
  let engine: EngineInfo | undefined;
  let host = options.dockerHost ?? process.env.DOCKER_HOST ?? '';
  try {
    const conn = connectDocker({ host: options.dockerHost });
    host = conn.host;
    engine = await engineInfo(conn.docker, { local: conn.local, host: conn.host });
  } catch (err) {
    if (err instanceof EngineError || !(err instanceof TrellisError)) {
      const e = err instanceof EngineError ? err : engineError(err, { host });
      checks.push({ name: 'docker-engine', status: 'fail', summary: e.message.replace(e.fix, '').trim(), fix: e.fix || 'Check the Docker host address.' });
    } else {
      // The address itself is wrong (a bad scheme, missing TLS certificates): the message says how to fix it.
      checks.push({ name: 'docker-engine', status: 'fail', summary: err.message, fix: 'Correct --docker-host / DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).' });
    }
  }

  if (engine) {
    const summary = `Docker ${engine.version} (API ${engine.apiVersion}) at ${host}: ${engine.os || engine.osType} ${engine.arch}, ${engine.cpus} CPUs, ${gib(engine.memoryBytes)} memory`;
    checks.push(
      apiAtLeast(engine.apiVersion, MIN_API)
        ? { name: 'docker-engine', status: 'ok', summary, fix: '' }
        : { name: 'docker-engine', status: 'warn', summary: `${summary}; API older than ${MIN_API}: GPU device requests (--gpus) are not supported.`, fix: 'Upgrade Docker to 19.03 or later.' },
    );
    checks.push(
      engine.gpu.available
        ? { name: 'gpu', status: 'ok', summary: `GPUs available: ${engine.gpu.detail}`, fix: '' }
        : {
            name: 'gpu',
            status: 'warn',
            summary: `No GPU support: ${engine.gpu.detail}. Jobs run on the CPU; --gpus fails.`,
            fix: 'To use GPUs, install the NVIDIA driver and the NVIDIA container toolkit on the engine\'s machine (`nvidia-ctk runtime configure --runtime=docker`) and restart dockerd.',
          },
    );
    checks.push(diskCheck(engine, options.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK));
  } else {
    checks.push({ name: 'gpu', status: 'warn', summary: 'Not checked: the Docker engine is not reachable.', fix: 'Fix the engine check first.' });
    checks.push({ name: 'disk', status: 'warn', summary: 'Not checked: the Docker engine is not reachable.', fix: 'Fix the engine check first.' });
  }

  checks.push(await platformServerCheck(options.dataDir));
  return { checks, status: worst(checks.map((c) => c.status)), engine };
}

function diskCheck(engine: EngineInfo, minFree: number): Check {
  if (engine.freeDiskBytes === undefined) {
    return {
      name: 'disk',
      status: 'warn',
      summary: `Free disk unknown: the engine's data root ${engine.dockerRootDir || '(unknown)'} is not on this machine.`,
      fix: 'Check free space on the engine\'s machine (`docker system df`, `df` there).',
    };
  }
  const summary = `${gib(engine.freeDiskBytes)} free of ${gib(engine.totalDiskBytes ?? 0)} at ${engine.dockerRootDir}`;
  if (engine.freeDiskBytes < minFree) {
    return {
      name: 'disk',
      status: 'warn',
      summary: `${summary}, under ${gib(minFree)}: image builds and pulls may fail.`,
      fix: 'Free space: `docker system prune` (unused images, stopped containers, build cache), or move the engine\'s data-root to a larger disk.',
    };
  }
  return { name: 'disk', status: 'ok', summary, fix: '' };
}

async function platformServerCheck(dataDir: string): Promise<Check> {
  const file = readServerFile(dataDir);
  const start = 'Start it with `trellis server` (or from VS Code: Trellis: Start Platform); other commands start one in-process when none runs.';
  if (!file) {
    return { name: 'platform-server', status: 'warn', summary: `Not running: no ${serverFilePath(dataDir)}.`, fix: start };
  }
  if (!processAlive(file.pid)) {
    return { name: 'platform-server', status: 'warn', summary: `Not running: ${serverFilePath(dataDir)} names pid ${file.pid}, which has exited (a stale file).`, fix: start };
  }
  try {
    const res = await fetch(`${file.url}/health`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) return { name: 'platform-server', status: 'ok', summary: `Trellis ${file.version} at ${file.url} (pid ${file.pid})`, fix: '' };
    return failingServer(file.url, file.pid, `answered ${res.status} on /health`);
  } catch (err) {
    return failingServer(file.url, file.pid, (err as Error).message);
  }
}

const failingServer = (url: string, pid: number, why: string): Check => ({
  name: 'platform-server',
  status: 'fail',
  summary: `The server at ${url} (pid ${pid}) is not healthy: ${why}.`,
  fix: `Stop it (\`kill ${pid}\`) and start it again with \`trellis server\`.`,
});

function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'ok';
}

function apiAtLeast(version: string, min: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [minMajor = 0, minMinor = 0] = min.split('.').map(Number);
  return major > minMajor || (major === minMajor && minor >= minMinor);
}

const gib = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
