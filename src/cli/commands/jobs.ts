import type { Command } from 'commander';
import { connect, type GlobalOptions } from '../connect';
import { duration, print, table, time } from '../format';
import { describeEnd, exitCodeOf, streamJob, withCancelOnInterrupt } from './run';

export function jobsCommand(program: Command, globals: () => GlobalOptions): void {
  const jobs = program.command('jobs').description('List, follow and cancel training jobs (runs in containers)');

  jobs
    .command('list')
    .description('List jobs, newest first')
    .option('-e, --experiment <name-or-id>', 'only this experiment')
    .option('-s, --status <status>', 'only RUNNING, SCHEDULED, FINISHED, FAILED or KILLED')
    .option('--sweep <id>', 'only the trials of this sweep')
    .option('--json', 'print JSON')
    .action(async (opts: { experiment?: string; status?: string; sweep?: string; json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const experimentId =
          opts.experiment === undefined || /^\d+$/.test(opts.experiment) ? opts.experiment : (await client.getExperimentByName(opts.experiment)).experiment_id;
        const list = await client.listJobs({ experimentId, status: opts.status?.toUpperCase(), sweepId: opts.sweep });
        print(list, !!opts.json, () =>
          table(
            ['JOB ID', 'NAME', 'STATUS', 'EXIT', 'IMAGE', 'STARTED', 'DURATION'],
            list.map((j) => [j.job_id, j.run_name, j.status, j.exit_code, j.image, time(j.start_time), duration(j.start_time, j.end_time)]),
          ),
        );
      } finally {
        await release();
      }
    });

  jobs
    .command('show <job-id>')
    .description('Show a job: status, image, command, exit and error')
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const job = await client.getJob(jobId);
        print(job, !!opts.json, () =>
          [
            `Job ${job.job_id} (run ${job.run_name}, experiment ${job.experiment_id})`,
            `  status   ${job.status}${job.exit_code !== undefined ? ` (exit ${job.exit_code})` : ''}`,
            `  image    ${job.image}`,
            `  command  ${JSON.stringify(job.command)}`,
            `  started  ${time(job.start_time)}  ${duration(job.start_time, job.end_time)}`,
            ...(job.error ? [`  error    ${job.error}`] : []),
          ].join('\n'),
        );
      } finally {
        await release();
      }
    });

  jobs
    .command('logs <job-id>')
    .description('Print a job\'s output; --follow keeps printing until it ends (Ctrl-C cancels the job)')
    .option('-f, --follow', 'stream new lines until the job ends')
    .action(async (jobId: string, opts: { follow?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        if (!opts.follow) {
          await client.followJobLogs(jobId, (l) => (l.stream === 'stdout' ? process.stdout : process.stderr).write(`${l.line}\n`));
          return;
        }
        const end = await withCancelOnInterrupt(client, jobId, () => streamJob(client, jobId));
        process.stderr.write(`[trellis] ${describeEnd(end)}\n`);
        process.exitCode = exitCodeOf(end);
      } finally {
        await release();
      }
    });

  jobs
    .command('cancel <job-id>')
    .description('Cancel a job: SIGTERM, a grace period, SIGKILL (a queued job is dropped at once)')
    .action(async (jobId: string) => {
      const { client, release } = await connect(globals());
      try {
        const job = await client.cancelJob(jobId);
        process.stderr.write(`${describeEnd(job)}\n`);
      } finally {
        await release();
      }
    });
}
