import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { GlobalOptions } from '../connect';
import { print, table } from '../format';
import { wholeNumber } from '../flags';

const DOCKER_HOST_HELP = 'Docker engine address (unix://, tcp://, ssh://); default DOCKER_HOST, then /var/run/docker.sock';

/** The Docker client and the serving containers' code, loaded when an endpoints command runs (see esbuild.mjs). */
const servingContainers = async () => {
  const [{ connectDocker }, containers] = await Promise.all([import('../../engines/docker/connection.js'), import('../../services/containers/serving-containers.js')]);
  return { connectDocker, ...containers };
};

export function endpointsCommand(program: Command, globals: () => GlobalOptions): void {
  const endpoints = program.command('endpoints').description('Model servers running in containers (trellis/serving image)');

  endpoints
    .command('start')
    .description('Serve a registered model version in containers: each replica on its own 127.0.0.1 port, reported once ready')
    .requiredOption('--model <ref>', 'NAME@ALIAS, NAME/VERSION or NAME (latest version)')
    .option('--replicas <n>', 'containers to run', '1')
    .option('--gpus <request>', 'GPUs per replica as docker run takes them: all, N, device=0,1')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .option('--json', 'print the replicas as JSON')
    .action(async (opts: { model: string; replicas: string; gpus?: string; dockerHost?: string; json?: boolean }) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const { startContainerReplicas } = await import('../container-replicas.js');
      const { model, replicas: started } = await startContainerReplicas(resolve(globals().dataDir), opts.model, {
        replicas: wholeNumber('--replicas', opts.replicas, 1, 64),
        ...(opts.gpus ? { gpus: opts.gpus } : {}),
        ...(opts.dockerHost ? { dockerHost: opts.dockerHost } : {}),
        log,
      });
      print(started, Boolean(opts.json), () =>
        [
          `${model.name} version ${model.version}: ${started.length} replica${started.length > 1 ? 's' : ''} (endpoint ${started[0]!.endpoint})`,
          ...started.map((r) => `  POST ${r.url}/v2/models/${model.name}/infer`),
          `  bearer token: ${started[0]!.token}`,
          `  stop: trellis endpoints stop ${started[0]!.endpoint}`,
        ].join('\n'),
      );
    });

  endpoints
    .command('list')
    .description('Serving containers, running or not')
    .option('--model <name>', 'only this model\'s')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .option('--json', 'print JSON (includes each replica\'s token)')
    .action(async (opts: { model?: string; dockerHost?: string; json?: boolean }) => {
      const { connectDocker, listServingContainers } = await servingContainers();
      const { docker } = connectDocker({ host: opts.dockerHost || undefined });
      const replicas = await listServingContainers(docker, opts.model ? { model: opts.model } : {});
      print(replicas, Boolean(opts.json), () =>
        table(['ENDPOINT', 'MODEL', 'VERSION', 'REPLICA', 'URL', 'STATUS', 'CONTAINER'], replicas.map((r) => [r.endpoint, r.model, r.version, r.replica, r.url, r.status, r.name])),
      );
    });

  endpoints
    .command('stop [endpoint]')
    .description('Stop and remove the serving containers of an endpoint (or of every endpoint of --model)')
    .option('--model <name>', 'every endpoint of this model')
    .option('--grace <seconds>', 'time to finish in-flight requests before SIGKILL', '10')
    .option('--docker-host <host>', DOCKER_HOST_HELP, process.env.TRELLIS_DOCKER_HOST)
    .action(async (endpoint: string | undefined, opts: { model?: string; grace: string; dockerHost?: string }) => {
      const { connectDocker, stopServingContainers } = await servingContainers();
      const { docker } = connectDocker({ host: opts.dockerHost || undefined });
      const stopped = await stopServingContainers(docker, { ...(endpoint ? { endpoint } : {}), ...(opts.model ? { model: opts.model } : {}) }, wholeNumber('--grace', opts.grace, 0, 3600));
      if (stopped.length === 0) {
        process.stderr.write(`no serving containers match ${endpoint ? `endpoint ${endpoint}` : `model ${opts.model}`}\n`);
        process.exitCode = 3;
        return;
      }
      process.stdout.write(`stopped ${stopped.length} container${stopped.length > 1 ? 's' : ''}: ${stopped.map((r) => r.name).join(', ')}\n`);
    });
}
