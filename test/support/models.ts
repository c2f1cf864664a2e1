import { Readable } from 'node:stream';
import { ArtifactStore } from '../../src/core/artifacts';
import type { Store } from '../../src/core/store';

/** Writes model bytes as a run artifact (`model/<file>`), registers a version of it, moves `alias` to it. */
export async function registerModel(store: Store, name: string, bytes: Uint8Array, options: { alias?: string; file?: string } = {}): Promise<string> {
  const run = store.runs.create({ experiment_id: '0', run_name: `train-${name}` });
  const root = ArtifactStore.relativeOfUri(run.info.artifact_uri)!;
  await store.artifacts.write(`${root}/model/${options.file ?? 'model.onnx'}`, Readable.from([Buffer.from(bytes)]));
  try {
    store.registry.getModel(name);
  } catch {
    store.registry.createModel(name);
  }
  const v = store.registry.createVersion({ name, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });
  if (options.alias) store.registry.setAlias(name, options.alias, v.version);
  return v.version;
}
