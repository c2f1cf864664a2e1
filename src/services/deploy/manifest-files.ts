/**
 * Manifests written into the workspace before anything is applied, to be reviewed and committed:
 * `deploy/<cluster>/<model>/<kind>-<name>.yaml`. The folder holds the model's whole desired state, so
 * files of objects no longer wanted (a promoted canary's old stable version) are removed.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { manifestFileName, type Manifest } from './manifests';
import { slug } from './names';

export const HEADER = '# Written by `trellis deploy`; applied with server-side apply (field manager trellis).\n';

/** `<workspace>/deploy/<cluster>/<model>`, both as safe path segments. */
export function manifestDir(workspace: string, cluster: string, modelName: string): string {
  return join(workspace, 'deploy', slug(cluster, 63), slug(modelName));
}

export interface WrittenManifests {
  dir: string;
  files: string[];
  removed: string[];
}

export function writeManifests(dir: string, manifests: Manifest[]): WrittenManifests {
  mkdirSync(dir, { recursive: true });
  const files = manifests.map((m) => {
    const file = join(dir, manifestFileName(m));
    writeFileSync(file, HEADER + stringify(m, { lineWidth: 0, aliasDuplicateObjects: false }));
    return file;
  });
  const wanted = new Set(files);
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    // Only files this command wrote: anything else in the folder is the user's.
    if (!name.endsWith('.yaml') || wanted.has(file) || !readFileSync(file, 'utf8').startsWith(HEADER)) continue;
    rmSync(file);
    removed.push(file);
  }
  return { dir, files, removed };
}
