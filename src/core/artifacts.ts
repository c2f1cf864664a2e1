import { closeSync, constants, createReadStream, fstatSync, openSync, mkdirSync, promises as fsp, readdirSync, realpathSync, statSync, type Dirent, type ReadStream } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { invalidParameter, notFound } from './errors';

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

const SCHEME = 'mlflow-artifacts:';

/** A client path must be relative and stay relative: no NUL, no absolute path or drive, no '..' segment. */
export function checkRelativePath(path: string): string {
  if (path.includes('\0')) throw invalidParameter('Invalid artifact path: it contains a NUL byte.');
  if (isAbsolute(path) || /^[a-zA-Z]:/.test(path)) throw invalidParameter(`Invalid artifact path '${path}': absolute paths are not allowed; give a path relative to the artifact root.`);
  if (path.split(/[\\/]/).includes('..')) throw invalidParameter(`Invalid artifact path '${path}': '..' segments are not allowed.`);
  return path;
}

/**
 * Artifact files under one root. Every client path is checked twice: lexically (no absolute path, no
 * `..`, no NUL) and, after resolving symlinks, that it still lies inside the root, so neither `../x` nor a
 * symlink planted in the tree reads or writes outside it.
 */
export class ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    mkdirSync(root, { recursive: true });
    this.root = realpathSync(root);
  }

  /** `mlflow-artifacts:/0/<run>/artifacts` → `0/<run>/artifacts`; other schemes are not ours to serve. */
  static relativeOfUri(uri: string): string | undefined {
    if (!uri.startsWith(SCHEME)) return undefined;
    return uri.slice(SCHEME.length).replace(/^\/+/, '');
  }

  /** The absolute path of a client-supplied relative path, guaranteed to lie inside the root. */
  resolve(path: string): string {
    const full = resolve(this.root, checkRelativePath(path));
    this.assertInside(full, path);
    return full;
  }

  /** Resolves symlinks of the deepest existing ancestor and checks it is still under the root. */
  private assertInside(full: string, shown: string): void {
    let probe = full;
    for (;;) {
      try {
        const real = realpathSync(probe);
        if (real !== this.root && !real.startsWith(this.root + sep)) {
          throw invalidParameter(`Invalid artifact path '${shown}': it resolves outside the artifact root.`);
        }
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        const parent = dirname(probe);
        if (parent === probe) return;
        probe = parent;
      }
    }
  }

  /** The direct children of a folder; a missing folder lists as empty, as MLflow's stores do. */
  list(path: string): FileInfo[] {
    const dir = this.resolve(path);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw err;
    }
    return entries
      .filter((e) => e.isFile() || e.isDirectory())
      .map((e) => {
        const rel = relative(dir, join(dir, e.name));
        return e.isDirectory() ? { path: rel, is_dir: true } : { path: rel, is_dir: false, file_size: statSync(join(dir, e.name)).size };
      })
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  read(path: string): { stream: ReadStream; size: number } {
    const full = this.resolve(path);
    let fd: number;
    try {
      // O_NOFOLLOW: the last component must not be a symlink swapped in after the check above.
      fd = openSync(full, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw notFound(`Artifact '${path}' does not exist.`);
      if (code === 'ELOOP') throw invalidParameter(`Invalid artifact path '${path}': it is a symbolic link.`);
      throw err;
    }
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw notFound(`Artifact '${path}' is a directory, not a file.`);
    }
    return { stream: createReadStream('', { fd }), size: st.size };
  }

  /** Writes to a temporary file and renames it into place: a reader never sees half a file. */
  async write(path: string, body: Readable): Promise<void> {
    const full = this.resolve(path);
    await fsp.mkdir(dirname(full), { recursive: true });
    this.assertInside(dirname(full), path);
    const tmp = `${full}.${randomBytes(6).toString('hex')}.partial`;
    const handle = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      await pipeline(body, handle.createWriteStream());
      await fsp.rename(tmp, full);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
}
