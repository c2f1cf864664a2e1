/**
 * The data directory a deployed image carries: a fresh Trellis store whose registry holds only the
 * deployed model, under its own name and version number, with its ONNX file as the version's artifact.
 * `trellis serve -d /data --model NAME/VERSION` then resolves it exactly as on this machine, and the
 * workspace's other experiments and models never leave it.
 */
import { createReadStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../core/store';

export interface SeedModel {
  name: string;
  version: string;
  /** The ONNX file on this machine. */
  path: string;
}

/** Writes the store into a new temporary directory and returns it (the caller removes it). */
export async function writeSeedStore(model: SeedModel, parent = tmpdir()): Promise<string> {
  const dir = mkdtempSync(join(parent, 'trellis-seed-'));
  const store = openStore(dir);
  try {
    store.registry.createModel(model.name);
    // The registry numbers versions itself; starting it just below keeps the version's number in the image.
    store.db.prepare('UPDATE registered_models SET max_version = ? WHERE name = ?').run(Number(model.version) - 1, model.name);
    const artifact = `models/model.onnx`;
    await store.artifacts.write(artifact, createReadStream(model.path));
    const created = store.registry.createVersion({ name: model.name, source: `mlflow-artifacts:/${artifact}`, description: 'deployed by trellis deploy' });
    if (created.version !== model.version) throw new Error(`seed store: expected version ${model.version}, the registry made ${created.version}`);
  } finally {
    store.close();
  }
  return dir;
}
