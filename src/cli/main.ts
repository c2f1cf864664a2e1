import { Command, CommanderError } from 'commander';
import { VERSION } from '../core/version';
import { ApiError } from '../client/trellis-client';
import type { GlobalOptions } from './connect';
import { serverCommand } from './commands/server';
import { experimentsCommand } from './commands/experiments';
import { runsCommand } from './commands/runs';
import { modelsCommand } from './commands/models';
import { modelsReferenceCommand } from './commands/models-reference';
import { loadtestCommand } from './commands/loadtest';
import { serveCommand } from './commands/serve';
import { runCommand } from './commands/run';
import { jobsCommand } from './commands/jobs';
import { sweepCommand } from './commands/sweep';
import { doctorCommand } from './commands/doctor';
import { imagesCommand } from './commands/images';
import { endpointsCommand } from './commands/endpoints';
import { deployCommand } from './commands/deploy';
import { restoreDeferredCaCerts } from './deferred-ca-certs';

// Before any command can start a process or open a TLS connection.
restoreDeferredCaCerts();

const program = new Command('trellis')
  .description('Trellis: a local ML platform — experiment tracking and a model registry that speak MLflow\'s REST API.')
  .version(VERSION)
  .option('-d, --data-dir <dir>', 'data directory (SQLite database and artifacts)', process.env.TRELLIS_DATA_DIR ?? '.trellis')
  .option('--url <url>', 'use the Trellis server at this URL instead of the workspace one', process.env.TRELLIS_URL)
  .option('--token <token>', 'bearer token for --url', process.env.TRELLIS_TOKEN)
  // Trellis's own options go before the command, so a command may reuse a letter (loadtest's -d is its duration).
  .enablePositionalOptions()
  .showHelpAfterError()
  .exitOverride();

// `trellis runs list | head`: a closed pipe ends the command quietly, as for any Unix tool.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
serverCommand(program, globals);
experimentsCommand(program, globals);
runsCommand(program, globals);
modelsCommand(program, globals);
modelsReferenceCommand(program, globals);
loadtestCommand(program, globals);
serveCommand(program, globals);
runCommand(program, globals);
jobsCommand(program, globals);
sweepCommand(program, globals);
doctorCommand(program, globals);
imagesCommand(program);
endpointsCommand(program, globals);
deployCommand(program, globals);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ApiError) {
    process.stderr.write(`error: ${err.message} (${err.code})\n`);
    process.exit(err.code === 'RESOURCE_DOES_NOT_EXIST' ? 3 : 1);
  }
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(1);
});
