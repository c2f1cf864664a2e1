import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { VERSION } from '../../core/version';
import { parseByteSize } from '../../services/serving/kserve-codec';
import { startServingServer } from '../../server/serving-server';
import type { GlobalOptions } from '../connect';
import { closeOnSignals } from '../shutdown';
import { wholeNumber } from '../flags';

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
    .addHelpText('after', '\nInference: POST <url>/v2/models/<name>/infer with {"inputs": [{"name", "shape", "datatype", "data"}]}.\nThe endpoint is announced in <data-dir>/endpoints/<pid>.json while it runs.')
    .action(async (opts: ServeOptions) => {
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
      const server = await startServingServer({
        dataDir,
        models: opts.model,
        host: opts.host,
        port,
        workers,
        maxBodyBytes,
        batching: maxBatchSize > 1 ? batching : false,
        ...(maxInFlight !== undefined ? { maxInFlight } : {}),
        ...(cacheBytes !== undefined ? { cacheBytes } : {}),
        ...(opts.token ? { token: opts.token } : {}),
        ...(opts.allowHost ? { allowedHosts: opts.allowHost } : {}),
        version: VERSION,
      });
      const lines = [`Trellis ${VERSION} serving on ${server.url} (${workers} worker${workers > 1 ? 's' : ''} per model)`];
      for (const m of server.models) lines.push(`  ${m.refs.join(', ')} → ${m.name} version ${m.version}: POST ${m.infer_url}`);
      lines.push(`  health: ${server.url}/v2/health/ready   metrics: ${server.url}/metrics`);
      process.stdout.write(`${lines.join('\n')}\n`);
      closeOnSignals(() => server.close(), 'finishing in-flight requests');
    });
}
