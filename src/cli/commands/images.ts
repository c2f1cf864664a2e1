import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { VERSION } from '../../core/version';
import { invalidParameter } from '../../core/errors';
import type { PullProgress } from '../../engines/docker/images';
import { print } from '../format';

const DOCKER_HOST_HELP = 'Docker engine address (unix://, tcp://, ssh://); default DOCKER_HOST, then /var/run/docker.sock';

/** The Docker client and image code, loaded when an images command runs, not at the CLI's start (see esbuild.mjs). */
const dockerImages = async () => {
  const [{ connectDocker }, { buildImage, pullImage }, { ensureServingImage }] = await Promise.all([
    import('../../engines/docker/connection.js'),
    import('../../engines/docker/images.js'),
    import('../../services/containers/serving-image.js'),
  ]);
  return { connectDocker, buildImage, pullImage, ensureServingImage };
};

export function imagesCommand(program: Command): void {
  const images = program.command('images').description('Build and pull images on the Docker engine');

  images
    .command('build [dir]')
    .description('Build an image from a directory with a Dockerfile (the context honours .dockerignore)')
    .option('-t, --tag <name...>', 'names for the image (repo:tag)')
    .option('-f, --file <path>', 'the Dockerfile, relative to the directory', 'Dockerfile')
    .option('--build-arg <k=v...>', 'build arguments')
    .option('--no-cache', 'run every step again instead of using the build cache')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .option('--json', 'print the result as JSON (build output still goes to stderr)')
    .action(async (dir: string | undefined, opts: { tag?: string[]; file: string; buildArg?: string[]; cache: boolean; dockerHost?: string; json?: boolean }) => {
      const { connectDocker, buildImage } = await dockerImages();
      const { docker, host } = connectDocker({ host: opts.dockerHost || undefined });
      const built = await buildImage(docker, {
        context: resolve(dir ?? '.'),
        dockerfile: opts.file,
        tags: opts.tag,
        buildArgs: keyValues('--build-arg', opts.buildArg),
        noCache: !opts.cache,
        host,
        onEvent: (e) => process.stderr.write(e.type === 'step' ? `Step ${e.step}/${e.total} : ${e.instruction}\n` : `  ${e.text}\n`),
      });
      print(built, Boolean(opts.json), () => `built ${built.id}${built.tags.length ? ` (${built.tags.join(', ')})` : ''}`);
    });

  images
    .command('pull <image>')
    .description('Pull an image, with progress per layer')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .option('--json', 'print the result as JSON')
    .action(async (image: string, opts: { dockerHost?: string; json?: boolean }) => {
      const { connectDocker, pullImage } = await dockerImages();
      const { docker, host } = connectDocker({ host: opts.dockerHost || undefined });
      const id = await pullImage(docker, image, { host, onProgress: progressPrinter() });
      if (process.stderr.isTTY) process.stderr.write('\n');
      print({ image, id }, Boolean(opts.json), () => `pulled ${image}: ${id}`);
    });

  images
    .command('serving')
    .description(`Build Trellis's serving image (trellis/serving:${VERSION}) from this installation, with no registry; reused while unchanged`)
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dockerHost?: string; json?: boolean }) => {
      const { connectDocker, ensureServingImage } = await dockerImages();
      const { docker } = connectDocker({ host: opts.dockerHost || undefined });
      // The bundle runs from dist/: the project (dist/, node_modules/) is the folder above it.
      const built = await ensureServingImage(docker, { projectRoot: join(__dirname, '..'), version: VERSION, onStatus: (l) => process.stderr.write(`${l}\n`) });
      print(built, Boolean(opts.json), () => `${built.image} ${built.built ? 'built' : 'up to date'}: ${built.id}`);
    });
}

function keyValues(flag: string, items: string[] | undefined): Record<string, string> | undefined {
  if (!items) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw invalidParameter(`${flag} takes KEY=VALUE, got '${item}'.`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** On a terminal one line redrawn in place; otherwise a line each time a layer changes status. */
function progressPrinter(): (p: PullProgress) => void {
  const seen = new Map<string, string>();
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return (p) => {
    if (process.stderr.isTTY) {
      const active = p.layers.filter((l) => !/complete|exists/i.test(l.status)).length;
      process.stderr.write(`\r${p.image}: ${p.layers.length} layers, ${active} in progress, ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB   `);
      return;
    }
    for (const l of p.layers) {
      if (seen.get(l.id) === l.status) continue;
      seen.set(l.id, l.status);
      process.stderr.write(`${l.id}: ${l.status}${l.total ? ` (${mb(l.current)}/${mb(l.total)} MB)` : ''}\n`);
    }
  };
}
