import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { CheckStatus } from '../../services/doctor';
import type { GlobalOptions } from '../connect';
import { print } from '../format';
import { wholeNumber } from '../flags';

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export function doctorCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('doctor')
    .description('Check that this machine is ready: Docker engine and version, GPU support, free disk, the platform server')
    .option('--docker-host <host>', 'Docker engine address (unix://, tcp://, ssh://); default DOCKER_HOST, then /var/run/docker.sock', process.env.TRELLIS_DOCKER_HOST)
    .option('--min-free-disk <GiB>', 'warn when the engine\'s data root has less free space than this (default: 10)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit status: 0 when no check fails (warnings allowed), 1 when one does.')
    .action(async (opts: { dockerHost?: string; minFreeDisk?: string; json?: boolean }) => {
      // Loaded here, not at the CLI's start (see esbuild.mjs): it brings the Docker client.
      const { runDoctor } = await import('../../services/doctor.js');
      const report = await runDoctor({
        dataDir: resolve(globals().dataDir),
        dockerHost: opts.dockerHost || undefined,
        ...(opts.minFreeDisk !== undefined ? { minFreeDiskBytes: wholeNumber('--min-free-disk', opts.minFreeDisk, 0, 1_000_000) * 1024 ** 3 } : {}),
      });
      print(report, Boolean(opts.json), () =>
        report.checks
          .map((c) => `${MARK[c.status]}  ${c.name.padEnd(15)}  ${c.summary}${c.fix ? `\n      ${' '.repeat(15)}  fix: ${c.fix}` : ''}`)
          .join('\n'),
      );
      if (report.status === 'fail') process.exitCode = 1;
    });
}
