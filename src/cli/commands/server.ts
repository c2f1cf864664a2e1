import type { Command } from 'commander';
import { resolve } from 'node:path';
import { VERSION } from '../../core/version';
import type { GlobalOptions } from '../connect';
import { closeOnSignals } from '../shutdown';
import { wholeNumber } from '../flags';

export function serverCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('server')
    .description('Run the platform server (MLflow REST API, registry, artifacts, events, /metrics) on the data directory')
    .option('--host <host>', 'address to bind; anything beyond loopback requires the bearer token', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '5000')
    .option('--allow-host <name...>', 'extra Host header names to accept (DNS rebinding protection refuses unknown names)')
    .addHelpText('after', '\nClients: export MLFLOW_TRACKING_URI=<printed url> (and MLFLOW_TRACKING_TOKEN when bound beyond loopback).')
    .action(async (opts: { host: string; port: string; allowHost?: string[] }) => {
      const port = wholeNumber('--port', opts.port, 0, 65535);
      const dataDir = resolve(globals().dataDir);
      const { startPlatformServer } = await import('../../server/platform-server.js');
      const server = await startPlatformServer({
        dataDir,
        host: opts.host,
        port,
        allowedHosts: opts.allowHost,
        announce: true,
        version: VERSION,
      });
      process.stderr.write(`Trellis ${VERSION} serving ${dataDir}\n  MLFLOW_TRACKING_URI=${server.url}\n`);
      closeOnSignals(() => server.close(), 'finishing in-flight requests and checkpointing the database');
    });
}
