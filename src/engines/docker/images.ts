/**
 * Images on a Docker engine: build from a directory with a Dockerfile (the context filtered by
 * .dockerignore, output streamed with step progress), pull with progress per layer, and look up an
 * image's ID and repo digest. Engine and registry failures become EngineErrors that say what to do.
 */
import type Docker from 'dockerode';
import { buildContext } from './build-context';
import { EngineError, engineError, pullError } from './engine-errors';

/** One line of the engine's JSON progress stream (build and pull share the shape). */
interface ProgressLine {
  stream?: string;
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string };
}

export type BuildEvent =
  /** The legacy builder's "Step N/M : INSTRUCTION". */
  | { type: 'step'; step: number; total: number; instruction: string }
  /** Any other output of the build (a RUN's stdout, "---> abc123"), line by line. */
  | { type: 'output'; text: string };

export interface BuildOptions {
  /** The directory sent as the context. */
  context: string;
  /** The Dockerfile, relative to the context (default Dockerfile). */
  dockerfile?: string;
  /** Names to tag the image with (repo:tag). */
  tags?: string[];
  labels?: Record<string, string>;
  buildArgs?: Record<string, string>;
  /** Run every step again instead of reusing the engine's build cache (`docker build --no-cache`). */
  noCache?: boolean;
  onEvent?: (event: BuildEvent) => void;
  host?: string;
}

export interface BuiltImage {
  id: string;
  tags: string[];
  /** How many Dockerfile steps ran (the M of Step N/M). */
  steps: number;
}

export async function buildImage(docker: Docker, options: BuildOptions): Promise<BuiltImage> {
  const ctx = buildContext(options.context, options.dockerfile);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(ctx.pack(), {
      dockerfile: ctx.dockerfile,
      // The API takes `t` once per tag; docker-modem repeats an array's key (the typings allow one string).
      ...(options.tags?.length ? { t: options.tags as unknown as string } : {}),
      labels: options.labels,
      buildargs: options.buildArgs,
      nocache: options.noCache ?? false,
      rm: true,
      forcerm: true,
    });
  } catch (err) {
    throw engineError(err, { host: options.host });
  }
  let id = '';
  let steps = 0;
  let pending = '';
  let lastStep = '';
  const emitText = (text: string) => {
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      // The legacy builder colours a step's stderr with ANSI codes; callers get plain text.
      // eslint-disable-next-line no-control-regex
      const line = pending.slice(0, nl).replace(/\r$/, '').replace(/\x1b\[[0-9;]*m/g, '');
      pending = pending.slice(nl + 1);
      const step = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
      if (step) {
        steps = Number(step[2]);
        lastStep = line;
        options.onEvent?.({ type: 'step', step: Number(step[1]), total: steps, instruction: step[3]! });
      } else if (line.trim()) {
        options.onEvent?.({ type: 'output', text: line });
      }
    }
  };
  await readProgress(stream, (line) => {
    if (line.error) {
      const text = line.errorDetail?.message ?? line.error;
      // A FROM whose base image is not on the engine makes the builder pull it: say why that failed.
      const from = /^Step \d+\/\d+ : FROM\s+(\S+)/i.exec(lastStep);
      if (from) {
        const pull = pullError(text, `'${from[1]}' (the base image of the Dockerfile)`);
        if (pull.kind !== 'engine') throw pull;
      }
      throw new EngineError('INVALID_PARAMETER_VALUE', 'engine', `The image build failed${lastStep ? ` at ${lastStep}` : ''}: ${text.trim()}`, 'Fix the Dockerfile or the step\'s command and build again.', text);
    }
    if (line.aux?.ID) id = line.aux.ID;
    if (line.stream) emitText(line.stream);
  }, options.host);
  if (pending.trim()) emitText('\n');
  if (!id) {
    // Engines before API 1.30 only print "Successfully built <short id>"; the first tag resolves it.
    if (!options.tags?.length) throw new EngineError('INTERNAL_ERROR', 'engine', 'The engine finished the build without reporting an image ID.', '', '');
    id = (await imageId(docker, options.tags[0]!)) ?? '';
  }
  return { id, tags: options.tags ?? [], steps };
}

export interface LayerProgress {
  id: string;
  /** The engine's words: Waiting, Downloading, Extracting, Pull complete, Already exists... */
  status: string;
  current: number;
  total: number;
}

export interface PullProgress {
  image: string;
  layers: LayerProgress[];
  /** Sums over layers whose size is known. */
  bytesDone: number;
  bytesTotal: number;
  /** The latest status line that is not about a layer (e.g. "Digest: sha256:..."). */
  status: string;
}

export interface PullOptions {
  onProgress?: (progress: PullProgress) => void;
  /** Registry credentials, as `docker login` stores them. */
  auth?: { username: string; password: string; serveraddress?: string };
  host?: string;
}

/** Pulls `image` (repo[:tag] or repo@digest); resolves with its image ID once it is on the engine. */
export async function pullImage(docker: Docker, image: string, options: PullOptions = {}): Promise<string> {
  const ref = /[:@][^/]+$/.test(image) ? image : `${image}:latest`;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.pull(ref, options.auth ? { authconfig: options.auth } : {});
  } catch (err) {
    throw engineError(err, { host: options.host, image: ref, pull: true });
  }
  const layers = new Map<string, LayerProgress>();
  let status = '';
  await readProgress(stream, (line) => {
    if (line.error) throw pullError(line.errorDetail?.message ?? line.error, `'${ref}'`);
    if (!line.status) return;
    // Layer lines carry the layer's short ID; the first line's id is the tag being pulled, not a layer.
    if (line.id && line.id !== ref.split(/[:@]/).pop() && !line.status.startsWith('Pulling from')) {
      const layer = layers.get(line.id) ?? { id: line.id, status: '', current: 0, total: 0 };
      layer.status = line.status;
      if (line.progressDetail?.total) layer.total = line.progressDetail.total;
      if (line.progressDetail?.current !== undefined && /Downloading/.test(line.status)) layer.current = line.progressDetail.current;
      // Finished layers count as fully downloaded even when the engine sends no final byte count.
      if (/Download complete|Pull complete|Already exists/.test(line.status) && layer.total) layer.current = layer.total;
      layers.set(line.id, layer);
    } else {
      status = line.status;
    }
    // Copies, so a caller that keeps updates sees each as it was.
    const list = [...layers.values()].map((l) => ({ ...l }));
    options.onProgress?.({
      image: ref,
      layers: list,
      bytesDone: list.reduce((s, l) => s + l.current, 0),
      bytesTotal: list.reduce((s, l) => s + l.total, 0),
      status,
    });
  }, options.host);
  const id = await imageId(docker, ref);
  if (!id) throw new EngineError('INTERNAL_ERROR', 'engine', `The pull of '${ref}' ended but the engine does not have it.`, 'Try the pull again.', status);
  return id;
}

export interface ImageIdentity {
  /** The local image ID (sha256:... of its config), what containers run. */
  id: string;
  /** repo@sha256:... digests from registries it was pulled from or pushed to; empty for local builds. */
  repoDigests: string[];
  tags: string[];
}

/** The image's ID and digests, or undefined when the engine does not have it. */
export async function imageIdentity(docker: Docker, image: string): Promise<ImageIdentity | undefined> {
  try {
    const info = await docker.getImage(image).inspect();
    return { id: info.Id, repoDigests: info.RepoDigests ?? [], tags: info.RepoTags ?? [] };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw engineError(err, { image });
  }
}

export async function imageId(docker: Docker, image: string): Promise<string | undefined> {
  return (await imageIdentity(docker, image))?.id;
}

/** The image's ID, or an image-missing error that says how to get it. */
export async function requireImage(docker: Docker, image: string): Promise<ImageIdentity> {
  const found = await imageIdentity(docker, image);
  if (!found) throw engineError(Object.assign(new Error(`No such image: ${image}`), { statusCode: 404, json: { message: `No such image: ${image}` } }), { image });
  return found;
}

/** Reads the engine's newline-delimited JSON; a throw from onLine ends the read and rejects. */
function readProgress(stream: NodeJS.ReadableStream, onLine: (line: ProgressLine) => void, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const fail = (err: unknown) => {
      if (done) return;
      done = true;
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(err instanceof EngineError ? err : engineError(err, { host }));
    };
    const take = (text: string) => {
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const raw = text.slice(0, nl).trim();
        text = text.slice(nl + 1);
        if (!raw) continue;
        let parsed: ProgressLine;
        try {
          parsed = JSON.parse(raw) as ProgressLine;
        } catch {
          parsed = { stream: `${raw}\n` };
        }
        onLine(parsed);
      }
      return text;
    };
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      try {
        buf = take(buf + chunk.toString('utf8'));
      } catch (err) {
        fail(err);
      }
    });
    stream.on('error', fail);
    stream.on('end', () => {
      if (done) return;
      try {
        take(`${buf}\n`);
        done = true;
        resolve();
      } catch (err) {
        fail(err);
      }
    });
  });
}
