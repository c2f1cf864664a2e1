import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { VERSION } from '../../core/version';
import type { GlobalOptions } from '../connect';
import { closeOnSignals } from '../shutdown';
import { wholeNumber } from '../flags';
import { invalidParameter } from '../../core/errors';
import type { RouteSpec } from '../../services/serving/traffic-route';

interface ServeOptions {
  model: string[];
  host: string;
  port: string;
  workers?: string;
  maxBody: string;
  maxInflight?: string;
  token?: string;
  allowHost?: string[];
  maxBatchSize: string;
  maxQueueDelayUs: string;
  preferredBatchSize?: string[];
  maxQueue: string;
  adaptive?: boolean;
  cache?: string;
  replicas?: string;
  canary?: string;
  shadow?: string;
  stickyHeader?: string;
  replicaUrl?: string[];
  replicaToken?: string;
  logInferences?: string;
  container?: boolean;
  gpus?: string;
  dockerHost?: string;
}

export function serveCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('Serve registered model versions (ONNX) over the KServe v2 / Open Inference Protocol REST API')
    .requiredOption('--model <ref...>', 'model versions to serve: NAME@ALIAS, NAME/VERSION or NAME (latest version)')
    .option('--host <host>', 'address to bind; anything beyond loopback requires the bearer token', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
    .option('--workers <n>', 'inference worker threads per model version (default: up to 4, one per core)')
    .option('--max-body <size>', 'largest request body, e.g. 64mb, 512kb', '64mb')
    .option('--max-inflight <n>', 'requests admitted at once per model version; beyond it the server answers 503 with Retry-After')
    .option('--token <token>', 'bearer token clients must send when bound beyond loopback (default: a random one, in the endpoint file)')
    .option('--allow-host <name...>', 'extra Host header names to accept (DNS rebinding protection refuses unknown names)')
    .option('--max-batch-size <n>', 'dynamic batching: most rows per engine run (1 turns batching off)', '32')
    .option('--max-queue-delay-us <us>', 'dynamic batching: longest wait of the oldest queued request, in microseconds', '500')
    .option('--preferred-batch-size <n...>', 'dynamic batching: batch sizes to dispatch as soon as they are reached')
    .option('--max-queue <n>', 'dynamic batching: requests queued per model version; beyond it 503 with Retry-After', '1024')
    .option('--adaptive', 'dynamic batching: wait or dispatch from the measured cost of a batch, within the delay')
    .option('--cache <size>', 'cache successful inference replies by model, version and inputs, up to this size (LRU), e.g. 64mb; off by default')
    .option('--replicas <n>', 'local replicas per version, each its own engine pool, balanced by fewest outstanding requests', '1')
    .option('--canary <ref:percent>', 'send this share of the traffic of a model (requests without a version) to another reference, e.g. mnist@challenger:10')
    .option('--shadow <ref>', 'send a copy of each request to this reference; its replies are measured (metrics) and discarded')
    .option('--sticky-header <name>', 'keep each value of this request header on one canary target, e.g. x-user-id')
    .option('--replica-url <url...>', 'serve through these KServe v2 servers (e.g. serving containers) instead of local engines')
    .option('--replica-token <token>', 'bearer token the --replica-url servers require')
    .option('--container', 'run the version in containers of the trellis/serving image (--replicas of them) behind this server, which balances them')
    .option('--gpus <request>', 'with --container: GPUs per replica as docker run takes them: all, N, device=0,1')
    .option('--docker-host <host>', 'with --container: Docker engine address (unix://, tcp://, ssh://); default DOCKER_HOST, then /var/run/docker.sock', process.env.TRELLIS_DOCKER_HOST)
    .option('--log-inferences <rate>', 'log this share of requests (e.g. 0.01) to the tracker: experiment inference-logs, artifact inferences.jsonl')
    .addHelpText('after', '\nInference: POST <url>/v2/models/<name>/infer with {"inputs": [{"name", "shape", "datatype", "data"}]}.\nThe endpoint is announced in <data-dir>/endpoints/<pid>.json while it runs.')
    .action(async (opts: ServeOptions) => {
      // Loaded here, not at the CLI's start (see esbuild.mjs): the serving code is no part of other commands.
      const [{ parseByteSize }, { parseModelRef }] = await Promise.all([import('../../services/serving/kserve-codec.js'), import('../../services/serving/model-resolver.js')]);
      const port = wholeNumber('--port', opts.port, 0, 65535);
      const workers = opts.workers === undefined ? Math.max(1, Math.min(4, availableParallelism())) : wholeNumber('--workers', opts.workers, 1, 64);
      const maxBodyBytes = parseByteSize(opts.maxBody);
      const cacheBytes = opts.cache === undefined ? undefined : parseByteSize(opts.cache);
      const maxInFlight = opts.maxInflight === undefined ? undefined : wholeNumber('--max-inflight', opts.maxInflight, 1, 1_000_000);
      const maxBatchSize = wholeNumber('--max-batch-size', opts.maxBatchSize, 1, 65536);
      const batching = {
        maxBatchSize,
        maxQueueDelayUs: wholeNumber('--max-queue-delay-us', opts.maxQueueDelayUs, 0, 10_000_000),
        maxQueueSize: wholeNumber('--max-queue', opts.maxQueue, 1, 10_000_000),
        ...(opts.preferredBatchSize ? { preferredBatchSizes: opts.preferredBatchSize.map((p) => wholeNumber('--preferred-batch-size', p, 1, maxBatchSize)) } : {}),
        ...(opts.adaptive ? { adaptive: true } : {}),
      };
      const dataDir = resolve(globals().dataDir);
      const routes = routesFromFlags(opts, (ref) => parseModelRef(ref).name);
      const replicas = wholeNumber('--replicas', opts.replicas ?? '1', 1, 64);
      if (opts.gpus && !opts.container) throw invalidParameter('--gpus needs --container: local engines run on the CPU.');
      const containers = opts.container ? await startContainers(dataDir, opts, replicas) : undefined;
      // What serves: the containers (this server balances them), or local engine pools and --replica-url servers.
      const source = containers
        ? { models: [`${containers.model.name}/${containers.model.version}`], remoteReplicas: { urls: containers.replicas.map((r) => r.url!), token: containers.replicas[0]!.token } }
        : { models: opts.model, replicas, ...(opts.replicaUrl ? { remoteReplicas: { urls: opts.replicaUrl, ...(opts.replicaToken ? { token: opts.replicaToken } : {}) } } : {}) };
      // Loaded here, not at the CLI's start: the model host (onnxruntime, metrics) is heavy.
      const { startServingServer } = await import('../../server/serving-server.js');
      const server = await startServingServer({
        ...source,
        dataDir,
        host: opts.host,
        port,
        workers,
        maxBodyBytes,
        batching: maxBatchSize > 1 ? batching : false,
        ...(maxInFlight !== undefined ? { maxInFlight } : {}),
        ...(cacheBytes !== undefined ? { cacheBytes } : {}),
        ...(opts.logInferences !== undefined ? { logInferences: sampleRate(opts.logInferences) } : {}),
        ...(routes ? { routes } : {}),
        ...(opts.token ? { token: opts.token } : {}),
        ...(opts.allowHost ? { allowedHosts: opts.allowHost } : {}),
        version: VERSION,
      }).catch(async (err: unknown) => {
        await containers?.stop();
        throw err;
      });
      const lines = [`Trellis ${VERSION} serving on ${server.url} (${workers} worker${workers > 1 ? 's' : ''} per model)`];
      for (const m of server.models) lines.push(`  ${m.refs.join(', ')} → ${m.name} version ${m.version}: POST ${m.infer_url}`);
      for (const [name, spec] of Object.entries(routes ?? {})) {
        const split = spec.targets.map((t) => `${t.ref} ${t.weight}%`).join(', ');
        lines.push(`  POST ${server.url}/v2/models/${name}/infer → ${split}${spec.stickyHeader ? ` (sticky by ${spec.stickyHeader})` : ''}${spec.shadow ? `; shadow ${spec.shadow}` : ''}`);
      }
      lines.push(`  health: ${server.url}/v2/health/ready   metrics: ${server.url}/metrics`);
      if (server.inferenceLogRun) lines.push(`  logging ${opts.logInferences} of requests to run ${server.inferenceLogRun} (experiment inference-logs)`);
      if (containers) lines.push(`  balancing ${containers.replicas.length} container${containers.replicas.length > 1 ? 's' : ''}: ${containers.replicas.map((r) => r.url).join(', ')} (removed when this server stops)`);
      process.stdout.write(`${lines.join('\n')}\n`);
      closeOnSignals(async () => {
        await server.close();
        await containers?.stop();
      }, containers ? 'finishing in-flight requests, then removing the containers' : 'finishing in-flight requests');
    });
}

/**
 * `--canary mnist@challenger:10` and `--shadow REF` become a route for that model's name: the first
 * `--model` of the same name keeps the rest of the traffic.
 */
function routesFromFlags(opts: ServeOptions, nameOf: (ref: string) => string): Record<string, RouteSpec> | undefined {
  if (!opts.canary && !opts.shadow) {
    if (opts.stickyHeader) throw invalidParameter('--sticky-header needs --canary: it pins clients to one of the canary targets.');
    return undefined;
  }
  const anchor = opts.canary ?? opts.shadow!;
  let canary: { ref: string; weight: number } | undefined;
  if (opts.canary) {
    const colon = opts.canary.lastIndexOf(':');
    if (colon < 0) throw invalidParameter(`--canary '${opts.canary}' needs a share of traffic: REF:PERCENT, e.g. mnist@challenger:10.`);
    canary = { ref: opts.canary.slice(0, colon), weight: wholeNumber('--canary percent', opts.canary.slice(colon + 1), 0, 100) };
  }
  const name = nameOf(canary?.ref ?? anchor);
  if (opts.shadow && nameOf(opts.shadow) !== name) throw invalidParameter(`--shadow ${opts.shadow} and --canary ${opts.canary} name different models: a route splits one model's traffic.`);
  const primary = opts.model.find((ref) => nameOf(ref) === name);
  if (!primary) throw invalidParameter(`No --model serves '${name}': give the stable version too, e.g. --model ${name}@champion.`);
  const targets = [{ ref: primary, weight: 100 - (canary?.weight ?? 0) }, ...(canary ? [canary] : [])];
  return { [name]: { targets, ...(opts.shadow ? { shadow: opts.shadow } : {}), ...(opts.stickyHeader ? { stickyHeader: opts.stickyHeader } : {}) } };
}

function sampleRate(text: string): number {
  const rate = Number(text);
  if (!(rate > 0 && rate <= 1)) throw invalidParameter(`--log-inferences must be a share of requests in (0, 1], e.g. 0.01 for 1 %; got '${text}'.`);
  return rate;
}

/** `--container`: one version in `replicas` serving containers, started before this server fronts them. */
async function startContainers(dataDir: string, opts: ServeOptions, replicas: number) {
  if (opts.model.length !== 1) throw invalidParameter(`--container serves one model version; got ${opts.model.length} --model references.`);
  if (opts.canary || opts.shadow || opts.replicaUrl) throw invalidParameter('--container cannot be combined with --canary, --shadow or --replica-url: start each version in containers with its own trellis serve.');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const { startContainerReplicas } = await import('../container-replicas.js');
  return startContainerReplicas(dataDir, opts.model[0]!, { replicas, ...(opts.gpus ? { gpus: opts.gpus } : {}), ...(opts.dockerHost ? { dockerHost: opts.dockerHost } : {}), log });
}
