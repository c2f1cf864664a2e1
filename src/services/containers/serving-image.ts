/**
 * Trellis's own serving image, built locally with no registry and no base image: this machine's node
 * binary with the shared libraries `ldd` lists for it and for the native addons, the bundled CLI
 * (dist/cli.js and its workers), and the node_modules the bundle keeps external, trimmed to what runs
 * (onnxruntime-node's CPU binaries for this platform only, better-sqlite3's addon and JavaScript). The files
 * are streamed as one tar straight from where they lie and `docker import`ed, so nothing is staged on disk.
 * The image carries a hash of its inputs' contents and is rebuilt only when that changes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, stat, statSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { invalidParameter, invalidState } from '../../core/errors';
import { engineError } from '../../engines/docker/engine-errors';
import { imageIdentity } from '../../engines/docker/images';

export const SERVING_REPOSITORY = 'trellis/serving';
export const INPUTS_LABEL = 'trellis.serving-image.inputs';
/** Where things go in the image. */
export const IMAGE_NODE = '/usr/bin/node';
export const IMAGE_APP = '/app';

/** Modules dist/cli.js loads at run time (esbuild keeps them external: native addons and what loads them). */
const RUNTIME_EXTERNALS = ['better-sqlite3', 'onnxruntime-node', 'ssh2'];
/** Dependencies only their install scripts use; never loaded by the server. */
const INSTALL_ONLY = new Set(['prebuild-install', 'adm-zip', 'global-agent']);
const BUNDLES = ['cli.js', 'cli.mjs', 'onnx-worker.js', 'loadtest-worker.js'];
/** The chunks dist/cli.mjs loads on demand (esbuild.mjs splits the CLI at its dynamic imports). */
const CLI_CHUNK = /^cli-chunk-[A-Za-z0-9]+\.mjs$/;
/** The directory tar-fs is told it packs; nothing exists there (see importFiles). */
const VIRTUAL_ROOT = '/trellis-serving-image';

export interface ImageFile {
  /** Absolute path on this machine (links resolved). */
  source: string;
  /** Absolute path in the image. */
  target: string;
}

/** Every file of the image, sorted by target. Throws with what to do when the project is not built. */
export function servingImageFiles(projectRoot: string, nodeBinary = defaultNodeBinary()): ImageFile[] {
  if (process.platform !== 'linux') {
    throw invalidParameter(`The serving image is built from this machine's node binary, which must be Linux's (this is ${process.platform}); build it on a Linux machine.`);
  }
  const files = new Map<string, string>();
  const add = (source: string, target: string) => files.set(target, realpathSync(source));

  for (const bundle of BUNDLES) {
    const path = join(projectRoot, 'dist', bundle);
    if (!existsSync(path)) throw invalidState(`${path} is missing: build the project first (\`node esbuild.mjs\`).`);
    add(path, `${IMAGE_APP}/${bundle}`);
  }
  for (const chunk of readdirSync(join(projectRoot, 'dist')).filter((f) => CLI_CHUNK.test(f))) add(join(projectRoot, 'dist', chunk), `${IMAGE_APP}/${chunk}`);
  add(nodeBinary, IMAGE_NODE);

  const natives: string[] = [nodeBinary];
  const visited = new Set<string>();
  const addPackage = (name: string, fromDir: string) => {
    const dir = findPackageDir(name, fromDir);
    if (!dir) throw invalidState(`The package '${name}' is not installed under ${projectRoot}: run \`npm ci\`.`);
    if (visited.has(dir)) return;
    visited.add(dir);
    const keep = packageFilter(name);
    for (const file of walkFiles(dir)) {
      const rel = relative(dir, file).split(sep).join('/');
      if (!keep(rel)) continue;
      add(file, `${IMAGE_APP}/node_modules/${name}/${rel}`);
      if (file.endsWith('.node')) natives.push(file);
      if (/\.so(\.\d+)*$/.test(file)) natives.push(file);
    }
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (!INSTALL_ONLY.has(dep)) addPackage(dep, dir);
  };
  for (const name of RUNTIME_EXTERNALS) addPackage(name, projectRoot);

  for (const lib of sharedLibraries(natives)) add(lib.source, lib.target);
  return [...files].map(([target, source]) => ({ source, target })).sort((a, b) => (a.target < b.target ? -1 : 1));
}

/** This process's node, unless it is Electron's (the VS Code extension host), which is no server runtime. */
function defaultNodeBinary(): string {
  if (process.versions.electron) {
    throw invalidState('The serving image needs a Node.js binary and this process runs in Electron: build it with `trellis images serving` from a terminal, or pass the path of node.');
  }
  return process.execPath;
}

/** What of a package the server loads: all its files except nested node_modules (dependencies come separately). */
function packageFilter(name: string): (rel: string) => boolean {
  if (name === 'onnxruntime-node') {
    // Only this platform's CPU binaries: the package ships every OS and architecture (~250 MB).
    const bin = `bin/napi-v6/linux/${process.arch}/`;
    return (rel) => rel === 'package.json' || rel.startsWith('dist/') || (rel.startsWith(bin) && !/cuda|tensorrt/i.test(rel));
  }
  if (name === 'better-sqlite3') {
    // The addon and its JavaScript; SQLite's sources and the build's objects stay behind.
    return (rel) => rel === 'package.json' || rel.startsWith('lib/') || rel === 'build/Release/better_sqlite3.node';
  }
  return (rel) => !rel.startsWith('node_modules/') && !rel.endsWith('.md') && !rel.endsWith('.map');
}

/** Node's resolution: node_modules/<name> in this directory or the nearest one above it. */
function findPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walkFiles(path));
    else if (entry.isFile() || (entry.isSymbolicLink() && statSync(path).isFile())) out.push(path);
  }
  return out;
}

/**
 * The shared libraries these binaries need, at the paths the dynamic loader looks for them (ldd's
 * "name => /path" lines and the loader itself). Libraries next to an addon (found through its rpath,
 * e.g. libonnxruntime.so.1) are already in the package and are skipped here.
 */
function sharedLibraries(binaries: string[]): ImageFile[] {
  const libs = new Map<string, string>();
  for (const binary of binaries) {
    let out: string;
    try {
      out = execFileSync('ldd', [binary], { encoding: 'utf8' });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stdout?: string };
      if (e.code === 'ENOENT') throw invalidState('`ldd` is not installed: it lists the libraries node needs (Debian package libc-bin).');
      // ldd exits 1 for files that are not dynamic executables (a static binary): nothing to add.
      if (/not a dynamic executable/.test(e.stdout ?? '')) continue;
      throw err;
    }
    for (const line of out.split('\n')) {
      const arrow = /^\s*\S+\s+=>\s+(\/\S+)\s+\(/.exec(line);
      const loader = /^\s*(\/\S+)\s+\(/.exec(line);
      const path = arrow?.[1] ?? loader?.[1];
      if (!path || path.includes('/node_modules/')) continue;
      libs.set(path, path);
    }
  }
  return [...libs.keys()].map((path) => ({ source: path, target: path }));
}

/** sha256 over every target path and its file's bytes: the label that says whether a rebuild is needed. */
export function servingImageHash(files: ImageFile[]): string {
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(`${f.target}\0${statSync(f.source).mode & 0o777}\0`);
    hash.update(readFileSync(f.source));
  }
  return hash.digest('hex');
}

export interface ServingImage {
  image: string;
  id: string;
  inputsHash: string;
  /** False when an image with the same inputs was already there. */
  built: boolean;
}

/** trellis/serving:<version>, imported when missing or when its inputs changed. */
export async function ensureServingImage(
  docker: Docker,
  options: { projectRoot: string; version: string; nodeBinary?: string; onStatus?: (line: string) => void },
): Promise<ServingImage> {
  const image = `${SERVING_REPOSITORY}:${options.version}`;
  const files = servingImageFiles(options.projectRoot, options.nodeBinary);
  const inputsHash = servingImageHash(files);
  const existing = await imageIdentity(docker, image);
  if (existing) {
    const labels = (await docker.getImage(existing.id).inspect()).Config.Labels ?? {};
    if (labels[INPUTS_LABEL] === inputsHash) return { image, id: existing.id, inputsHash, built: false };
  }
  options.onStatus?.(`building ${image} from ${files.length} files (node, dist/, native modules)`);
  const id = await importFiles(docker, files, image, inputsHash, options.version);
  // The previous build of this tag is now untagged; remove it unless a container still uses it.
  if (existing && existing.id !== id) await docker.getImage(existing.id).remove().catch(() => undefined);
  return { image, id, inputsHash, built: true };
}

async function importFiles(docker: Docker, files: ImageFile[], image: string, inputsHash: string, version: string): Promise<string> {
  // tar-fs packs a directory; here that directory is virtual: each entry is a path in the image, and the
  // fs given to tar-fs reads it from its source on this machine. /tmp comes from an empty 1777 directory.
  const tmp = mkdtempSync(join(tmpdir(), 'trellis-serving-tmp-'));
  chmodSync(tmp, 0o1777);
  const sources = new Map<string, string>([['tmp', tmp], ...files.map((f): [string, string] => [f.target.slice(1), f.source])]);
  const sourceOf = (virtualPath: string): string => {
    const source = sources.get(relative(VIRTUAL_ROOT, virtualPath));
    if (!source) throw invalidState(`serving image: no source for ${virtualPath}`);
    return source;
  };
  const imageFs = {
    lstat: (p: string, cb: (err: Error | null, st?: Stats) => void) => stat(sourceOf(p), cb),
    stat: (p: string, cb: (err: Error | null, st?: Stats) => void) => stat(sourceOf(p), cb),
    readdir: (_p: string, cb: (err: Error | null, names: string[]) => void) => cb(null, []),
    createReadStream: (p: string, opts: { start: number; end: number }) => createReadStream(sourceOf(p), opts),
  };
  try {
    // @types/tar-fs lacks the `fs` option tar-fs 3 has.
    const packOptions = { entries: [...sources.keys()], fs: imageFs, map: (header: tar.Headers) => ({ ...header, uid: 0, gid: 0 }) };
    const stream = tar.pack(VIRTUAL_ROOT, packOptions as unknown as tar.PackOptions);
    let response: NodeJS.ReadableStream;
    try {
      const [repo, tag] = image.split(':');
      response = (await docker.importImage(stream as unknown as NodeJS.ReadableStream, {
        repo,
        tag,
        changes: [
          'ENV PATH=/usr/local/bin:/usr/bin:/bin',
          `ENV NODE_ENV=production`,
          `WORKDIR ${IMAGE_APP}`,
          `LABEL ${INPUTS_LABEL}=${inputsHash} trellis.kind=serving-image trellis.version=${version}`,
          `CMD ["${IMAGE_NODE}", "${IMAGE_APP}/cli.js", "--help"]`,
        ],
      } as never)) as unknown as NodeJS.ReadableStream;
    } catch (err) {
      throw engineError(err);
    }
    const lines = await new Promise<{ status?: string; error?: string }[]>((resolve, reject) =>
      docker.modem.followProgress(response, (err: Error | null, out: { status?: string; error?: string }[]) => (err ? reject(engineError(err)) : resolve(out))),
    );
    const failed = lines.find((l) => l.error);
    if (failed) throw engineError(new Error(failed.error));
    const id = (await imageIdentity(docker, image))?.id;
    if (!id) throw invalidState(`docker import finished but ${image} is not on the engine: ${JSON.stringify(lines.at(-1))}`);
    return id;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
