import type { Command } from 'commander';
import { invalidParameter } from '../../core/errors';
import { JOB_TAG } from '../../services/jobs/job-records';
import { bestTrial, parseGrid, parseRandom, sweepTrials, type TrialResult } from '../../services/jobs/sweep';
import { connect, type GlobalOptions } from '../connect';
import { wholeNumber } from '../flags';
import { num, print, table } from '../format';
import { addJobOptions, jobRequest, withCancelOnInterrupt, type JobOptions } from './run';

interface SweepOptions extends JobOptions {
  grid: string[];
  random: string[];
  trials?: string;
  parallel: string;
  metric: string;
  goal: string;
  seed?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function sweepCommand(program: Command, globals: () => GlobalOptions): void {
  addJobOptions(program.command('sweep').description('Search params with grid or random trials, each a job tagged with the sweep id; prints the best trial'))
    .option('--grid <name=v1,v2,...>', 'try every value (repeatable; several grids give every combination)', collect, [])
    .option('--random <name=dist(...)>', 'draw per trial: uniform(a,b), loguniform(a,b), int(a,b), choice(x,y,...) (repeatable)', collect, [])
    .option('--trials <n>', 'number of trials (default: the grid size, or 10 with --random)')
    .option('--parallel <k>', 'trials running at once', '1')
    .requiredOption('--metric <name>', 'metric that ranks the trials (its latest value)')
    .option('--goal <min|max>', 'whether the best trial has the lowest or the highest metric', 'max')
    .option('--seed <n>', 'seed of the random draws (default: random)')
    .option('--json', 'print the summary as JSON')
    .argument('<command...>', 'the command each trial runs, after --; {{name}} takes the trial\'s value')
    // Flags after the command are the command's own (`-- python3 train.py --lr 0.1`, or without the --).
    .passThroughOptions()
    .addHelpText('after', "\nExample: trellis sweep -e mnist --image trainer --grid batch=32,64 --random 'lr=loguniform(1e-4,1e-1)' --trials 8 --parallel 2 --metric val_acc --goal max -- python3 train.py --lr {{lr}} --batch {{batch}}")
    .action(async (command: string[], opts: SweepOptions) => {
      if (opts.goal !== 'min' && opts.goal !== 'max') throw invalidParameter(`--goal must be min or max, got '${opts.goal}'.`);
      const goal = opts.goal;
      // node:crypto (with TLS behind it) loaded here, not at the CLI's start of every command.
      const { randomBytes } = await import('node:crypto');
      const parallel = wholeNumber('--parallel', opts.parallel, 1, 64);
      const seed = opts.seed === undefined ? randomBytes(4).readUInt32BE() : wholeNumber('--seed', opts.seed, 0, 2 ** 32 - 1);
      const trials = sweepTrials(opts.grid.map(parseGrid), opts.random.map(parseRandom), {
        trials: opts.trials === undefined ? undefined : wholeNumber('--trials', opts.trials, 1, 10_000),
        seed,
      });
      const sweepId = randomBytes(6).toString('hex');
      // Every trial's request is checked before the first starts: a bad flag fails the sweep, not trial 3.
      const requests = trials.map((params, i) =>
        jobRequest(opts, command, { params, tags: { [JOB_TAG.sweepId]: sweepId, 'trellis.sweep.trial': String(i + 1), 'trellis.sweep.seed': String(seed) } }),
      );
      const { client, release } = await connect(globals());
      const running = new Set<string>();
      let stopping = false;
      const results: TrialResult[] = [];
      try {
        process.stderr.write(`[trellis] sweep ${sweepId}: ${trials.length} trials, ${parallel} at a time, best by ${opts.metric} (${goal}), seed ${seed}\n`);
        let next = 0;
        const runTrial = async (i: number): Promise<TrialResult> => {
          const job = await client.submitJob(requests[i]!);
          running.add(job.job_id);
          process.stderr.write(`[trellis] trial ${i + 1}/${trials.length} ${job.job_id} ${JSON.stringify(trials[i])} ${job.status}\n`);
          try {
            const end = await client.followJobLogs(job.job_id, () => {}, { follow: true });
            const run = await client.getRun(job.run_id);
            return { runId: job.run_id, status: end.status, params: trials[i]!, value: run.data.metrics.find((m) => m.key === opts.metric)?.value };
          } finally {
            running.delete(job.job_id);
          }
        };
        const worker = async () => {
          while (!stopping && next < requests.length) {
            const i = next++;
            try {
              results[i] = await runTrial(i);
              const value = results[i]!.value;
              process.stderr.write(`[trellis] trial ${i + 1}/${trials.length} ${results[i]!.status} ${opts.metric}=${value === undefined ? '(not logged)' : num(value)}\n`);
            } catch (err) {
              // One trial the platform refused or lost (the engine went away, say) is reported, not fatal to the others.
              results[i] = { runId: '', status: 'ERROR', params: trials[i]! };
              process.stderr.write(`[trellis] trial ${i + 1}/${trials.length} failed: ${(err as Error).message}\n`);
            }
          }
        };
        await withCancelOnInterrupt(
          client,
          () => {
            stopping = true;
            return [...running];
          },
          () => Promise.all(Array.from({ length: Math.min(parallel, requests.length) }, worker)),
        );
      } finally {
        await release();
      }
      const done = results.filter(Boolean);
      const best = bestTrial(done, goal);
      print({ sweep_id: sweepId, seed, metric: opts.metric, goal, best: best ?? null, trials: done }, !!opts.json, () =>
        [
          table(
            ['RUN ID', 'STATUS', ...Object.keys(trials[0] ?? {}), opts.metric],
            done.map((r) => [r.runId, r.status, ...Object.keys(trials[0] ?? {}).map((k) => r.params[k]), r.value === undefined ? '' : num(r.value)]),
          ),
          '',
          best
            ? `Best trial: run ${best.runId} ${opts.metric}=${num(best.value!)} with ${Object.entries(best.params).map(([k, v]) => `${k}=${v}`).join(' ')}`
            : `No finished trial logged ${opts.metric}.`,
          `All trials: trellis jobs list --sweep ${sweepId}`,
        ].join('\n'),
      );
      process.exitCode = best ? 0 : 1;
    });
}
