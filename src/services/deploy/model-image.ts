/**
 * The image a cluster runs for a model version: Trellis's serving image with the version's seed data
 * directory (see seed-store) copied in, tagged `<registry>/trellis-serving/<model>:v<version>-<digest12>`
 * (digest12: the first 12 hex digits of the ONNX file's sha256), and pushed with progress per layer.
 */
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { invalidParameter } from '../../core/errors';
import { EngineError, engineError } from '../../engines/docker/engine-errors';
import { buildImage, imageIdentity, type BuildEvent } from '../../engines/docker/images';
import { RUN_AS, SEED_DIR } from './manifests';
import { slug } from './names';
import { writeSeedStore } from './seed-store';

export const IMAGE_LABEL = { model: 'trellis.model', version: 'trellis.version', digest: 'trellis.model-digest', base: 'trellis.base-image' } as const;

/** sha256 of the model file, hex. */
export function fileDigest(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (c) => hash.update(c)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
}

export function modelImageTag(registry: string, modelName: string, version: string, digest: string): string {
  if (!/^[0-9a-f]{12,}$/.test(digest)) throw invalidParameter(`Not a hex digest: '${digest}'.`);
  return `${registry}/trellis-serving/${slug(modelName)}:v${version}-${digest.slice(0, 12)}`;
}

/** `host:5000/a/b:tag` → repository `host:5000/a/b`, tag `tag` (a colon in the host's port is not a tag). */
export function splitTag(image: string): { repository: string; tag: string } {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= slash) return { repository: image, tag: 'latest' };
  return { repository: image.slice(0, colon), tag: image.slice(colon + 1) };
}

export interface ModelImageOptions {
  /** The image to build on: trellis/serving:<version> (tests may pass another with /usr/bin/node). */
  baseImage: string;
  registry: string;
  model: { name: string; version: string; path: string };
  onEvent?: (event: BuildEvent) => void;
  host?: string;
}

export interface ModelImage {
  image: string;
  id: string;
  digest: string;
  /** False when the engine already had this tag, built on the same base image. */
  built: boolean;
}

/** Builds the model image, or reuses the engine's when it has the tag on the same base. */
export async function ensureModelImage(docker: Docker, options: ModelImageOptions): Promise<ModelImage> {
  const digest = await fileDigest(options.model.path);
  const image = modelImageTag(options.registry, options.model.name, options.model.version, digest);
  const base = await imageIdentity(docker, options.baseImage);
  if (!base) throw engineError(Object.assign(new Error(`No such image: ${options.baseImage}`), { statusCode: 404, json: { message: `No such image: ${options.baseImage}` } }), { image: options.baseImage });
  const existing = await imageIdentity(docker, image);
  if (existing) {
    const labels = (await docker.getImage(existing.id).inspect()).Config.Labels ?? {};
    if (labels[IMAGE_LABEL.base] === base.id) return { image, id: existing.id, digest, built: false };
  }
  const context = mkdtempSync(join(tmpdir(), 'trellis-model-image-'));
  const seed = await writeSeedStore(options.model);
  try {
    cpSync(seed, join(context, 'seed'), { recursive: true });
    // COPY and USER need no shell: the serving image has none.
    writeFileSync(join(context, 'Dockerfile'), `FROM ${base.id}\nCOPY seed/ ${SEED_DIR}/\nUSER ${RUN_AS}:${RUN_AS}\n`);
    const built = await buildImage(docker, {
      context,
      tags: [image],
      labels: {
        [IMAGE_LABEL.model]: options.model.name,
        [IMAGE_LABEL.version]: options.model.version,
        [IMAGE_LABEL.digest]: `sha256:${digest}`,
        [IMAGE_LABEL.base]: base.id,
      },
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.host ? { host: options.host } : {}),
    });
    return { image, id: built.id, digest, built: true };
  } finally {
    rmSync(context, { recursive: true, force: true });
    rmSync(seed, { recursive: true, force: true });
  }
}

export interface LayerPush {
  id: string;
  /** The engine's words: Preparing, Waiting, Pushing, Pushed, Layer already exists. */
  status: string;
  current: number;
  total: number;
}

export interface PushProgress {
  image: string;
  layers: LayerPush[];
}

/** Pushes `image` to its registry; resolves with the manifest digest the registry reported (sha256:...). */
export async function pushImage(docker: Docker, image: string, options: { onProgress?: (p: PushProgress) => void; auth?: { username: string; password: string; serveraddress?: string }; host?: string } = {}): Promise<string> {
  const { repository, tag } = splitTag(image);
  let stream: NodeJS.ReadableStream;
  try {
    // The engine wants an X-Registry-Auth header even for a registry without login: an empty one then.
    stream = (await docker.getImage(repository).push({ tag, authconfig: options.auth ?? {} })) as NodeJS.ReadableStream;
  } catch (err) {
    throw pushError(err, image, options.host);
  }
  const layers = new Map<string, LayerPush>();
  let digest = '';
  let failure = '';
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(pushError(err, image, options.host)) : resolve()),
      (line: { status?: string; id?: string; progressDetail?: { current?: number; total?: number }; error?: string; errorDetail?: { message?: string }; aux?: { Digest?: string } }) => {
        if (line.error) failure = line.errorDetail?.message ?? line.error;
        if (line.aux?.Digest) digest = line.aux.Digest;
        const found = /digest: (sha256:[0-9a-f]{64})/.exec(line.status ?? '');
        if (found) digest = found[1]!;
        if (!line.id || !line.status || line.id === tag || found) return;
        const layer = layers.get(line.id) ?? { id: line.id, status: '', current: 0, total: 0 };
        layer.status = line.status;
        if (line.progressDetail?.total) layer.total = line.progressDetail.total;
        if (line.progressDetail?.current !== undefined && line.status === 'Pushing') layer.current = line.progressDetail.current;
        if (/Pushed|already exists/.test(line.status) && layer.total) layer.current = layer.total;
        layers.set(line.id, layer);
        options.onProgress?.({ image, layers: [...layers.values()].map((l) => ({ ...l })) });
      },
    );
  });
  // The engine reports a failed push as an error line in a stream that still ends normally.
  if (failure) throw pushError(new Error(failure), image, options.host);
  if (!digest) throw pushError(new Error('the push ended without a digest from the registry'), image, options.host);
  return digest;
}

function pushError(err: unknown, image: string, host?: string): EngineError {
  const text = (err as { json?: { message?: string } }).json?.message ?? (err as Error).message ?? String(err);
  if (/connection refused|no such host|dial tcp|i\/o timeout|server gave HTTP response to HTTPS client/i.test(text)) {
    return new EngineError(
      'TEMPORARILY_UNAVAILABLE',
      'engine',
      `Cannot push ${image}: the engine cannot reach its registry (${text}).`,
      'Check the cluster\'s "registry" setting and that the registry runs; an HTTP-only registry beyond loopback must be in the engine\'s insecure-registries.',
      text,
    );
  }
  if (/unauthorized|authentication required|denied/i.test(text)) {
    return new EngineError(
      'UNAUTHENTICATED',
      'pull-auth',
      `The registry refused the push of ${image}.`,
      'Log in to it with `docker login HOST` (Trellis sends the credentials that stores in ~/.docker/config.json; credential helpers are not run) with an account that may push there.',
      text,
    );
  }
  return engineError(err, { host, image });
}
