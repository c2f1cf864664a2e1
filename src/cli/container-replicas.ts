/**
 * Serving containers of one registered version, as `trellis endpoints start` and `trellis serve
 * --container` start them: the reference resolved on the host, the serving image ensured from this
 * installation, N replicas each on its own 127.0.0.1 port, returned once every one is ready.
 */
import { join } from 'node:path';
import { openStore } from '../core/store';
import { VERSION } from '../core/version';
import { connectDocker } from '../engines/docker/connection';
import { ensureServingImage } from '../services/containers/serving-image';
import { servingFromDataDir, startServingContainers, stopServingContainers, type ServingReplica } from '../services/containers/serving-containers';
import { resolveModelRef, type ResolvedModel } from '../services/serving/model-resolver';

export interface ContainerReplicas {
  model: ResolvedModel;
  replicas: ServingReplica[];
  /** Stops and removes this endpoint's containers. */
  stop(): Promise<void>;
}

export async function startContainerReplicas(
  dataDir: string,
  ref: string,
  options: { replicas: number; gpus?: string; dockerHost?: string; log: (line: string) => void },
): Promise<ContainerReplicas> {
  const store = openStore(dataDir);
  let model: ResolvedModel;
  try {
    model = resolveModelRef(store, ref);
  } finally {
    store.db.close();
  }
  const { docker, host } = connectDocker({ host: options.dockerHost || undefined });
  // The bundle runs from dist/: the project (dist/, node_modules/) is the folder above it.
  const { image } = await ensureServingImage(docker, { projectRoot: join(__dirname, '..'), version: VERSION, onStatus: options.log });
  const replicas = await startServingContainers(docker, {
    image,
    model: { name: model.name, version: model.version },
    source: servingFromDataDir(dataDir, model),
    replicas: options.replicas,
    ...(options.gpus ? { gpus: options.gpus } : {}),
    onStatus: options.log,
    host,
  });
  return { model, replicas, stop: async () => void (await stopServingContainers(docker, { endpoint: replicas[0]!.endpoint })) };
}
