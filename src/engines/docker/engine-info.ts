/**
 * What a Docker engine is and can do: version, API version, platform, CPUs and memory, GPU support and
 * the free space of its data root. `gpuSupport` decides from the engine's own info whether a GPU device
 * request can work there, so callers fail before creating anything when it cannot.
 */
import { statfs } from 'node:fs/promises';
import type Docker from 'dockerode';
import { engineError } from './engine-errors';

export interface GpuSupport {
  available: boolean;
  /** How the engine exposes GPUs: the nvidia runtime, CDI devices (nvidia.com/gpu=...), or nothing. */
  via: 'nvidia-runtime' | 'cdi' | 'none';
  /** CDI device names the engine discovered (Docker 28+), when it lists them. */
  devices: string[];
  detail: string;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
  os: string;
  osType: string;
  arch: string;
  kernel: string;
  cpus: number;
  memoryBytes: number;
  dockerRootDir: string;
  runtimes: string[];
  defaultRuntime: string;
  gpu: GpuSupport;
  /** Free bytes of the data root's file system; undefined when the engine is not local or the dir is unreadable. */
  freeDiskBytes?: number;
  totalDiskBytes?: number;
}

/** Fields of GET /info newer engines add (CDI since 25, DiscoveredDevices since 28); absent on older ones. */
interface InfoExtensions {
  CDISpecDirs?: string[] | null;
  DiscoveredDevices?: { Source?: string; ID?: string }[] | null;
}

/** Queries the engine (GET /version and GET /info); engine failures become errors that say what to do. */
export async function engineInfo(docker: Docker, options: { local?: boolean; host?: string } = {}): Promise<EngineInfo> {
  let info: Record<string, unknown>;
  let version: Docker.DockerVersion;
  try {
    [info, version] = await Promise.all([docker.info() as Promise<Record<string, unknown>>, docker.version()]);
  } catch (err) {
    throw engineError(err, { host: options.host });
  }
  const dockerRootDir = String(info.DockerRootDir ?? '');
  const disk = options.local !== false && dockerRootDir ? await diskSpace(dockerRootDir) : undefined;
  return {
    version: version.Version,
    apiVersion: version.ApiVersion,
    os: String(info.OperatingSystem ?? ''),
    osType: String(info.OSType ?? version.Os ?? ''),
    arch: String(info.Architecture ?? version.Arch ?? ''),
    kernel: String(info.KernelVersion ?? version.KernelVersion ?? ''),
    cpus: Number(info.NCPU ?? 0),
    memoryBytes: Number(info.MemTotal ?? 0),
    dockerRootDir,
    runtimes: Object.keys((info.Runtimes as Record<string, unknown> | undefined) ?? {}),
    defaultRuntime: String(info.DefaultRuntime ?? ''),
    gpu: gpuSupport(info),
    freeDiskBytes: disk?.free,
    totalDiskBytes: disk?.total,
  };
}

/** Pure: reads GPU support out of GET /info. */
export function gpuSupport(info: Record<string, unknown>): GpuSupport {
  const runtimes = Object.keys((info.Runtimes as Record<string, unknown> | undefined) ?? {});
  const ext = info as InfoExtensions;
  const cdiDevices = (ext.DiscoveredDevices ?? [])
    .filter((d) => d.Source === 'cdi' && d.ID)
    .map((d) => d.ID!)
    .filter((id) => id.startsWith('nvidia.com/gpu'));
  if (runtimes.includes('nvidia')) {
    return { available: true, via: 'nvidia-runtime', devices: cdiDevices, detail: 'the engine has the nvidia runtime (NVIDIA container toolkit)' };
  }
  if (cdiDevices.length > 0) {
    return { available: true, via: 'cdi', devices: cdiDevices, detail: `CDI devices: ${cdiDevices.join(', ')}` };
  }
  const specDirs = ext.CDISpecDirs ?? [];
  return {
    available: false,
    via: 'none',
    devices: [],
    detail:
      `no nvidia runtime (runtimes: ${runtimes.join(', ') || 'none'})` +
      (specDirs.length ? ` and no NVIDIA CDI devices discovered in ${specDirs.join(', ')}` : ''),
  };
}

async function diskSpace(dir: string): Promise<{ free: number; total: number } | undefined> {
  try {
    const s = await statfs(dir);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  } catch {
    // The engine's root is not on this machine's file system (a VM, a remote socket forward) or not readable.
    return undefined;
  }
}
