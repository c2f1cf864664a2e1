import type { Command } from 'commander';
import type { TrellisClient } from '../../client/trellis-client';
import { connect, type GlobalOptions } from '../connect';
import { duration, num, print, table, time } from '../format';

/** An experiment given by id or by name. */
async function experimentId(client: TrellisClient, ref: string): Promise<string> {
  if (/^\d+$/.test(ref)) return (await client.getExperiment(ref)).experiment_id;
  return (await client.getExperimentByName(ref)).experiment_id;
}

export function runsCommand(program: Command, globals: () => GlobalOptions): void {
  const runs = program.command('runs').description('List and inspect runs');

  runs
    .command('list')
    .description('List runs, filtered and ordered with MLflow\'s search grammar')
    .option('-e, --experiment <name-or-id...>', 'experiments to search (default: all active experiments)')
    .option('-f, --filter <filter>', `e.g. "metrics.acc > 0.9 AND params.lr = '0.01'"`)
    .option('-o, --order-by <clause...>', 'e.g. "metrics.acc DESC"')
    .option('-n, --max <count>', 'most runs to list', '100')
    .option('--json', 'print JSON')
    .action(async (opts: { experiment?: string[]; filter?: string; orderBy?: string[]; max: string; json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const ids = opts.experiment
          ? await Promise.all(opts.experiment.map((e) => experimentId(client, e)))
          : (await client.searchExperiments()).map((e) => e.experiment_id);
        const page = await client.searchRuns({ experimentIds: ids, filter: opts.filter, orderBy: opts.orderBy, maxResults: Number(opts.max) });
        const metricKeys = [...new Set(page.items.flatMap((r) => r.data.metrics.map((m) => m.key)))].slice(0, 4);
        print(page.items, !!opts.json, () =>
          table(
            ['RUN ID', 'NAME', 'STATUS', 'STARTED', 'DURATION', ...metricKeys],
            page.items.map((r) => [
              r.info.run_id, r.info.run_name, r.info.status, time(r.info.start_time), duration(r.info.start_time, r.info.end_time),
              ...metricKeys.map((k) => {
                const m = r.data.metrics.find((x) => x.key === k);
                return m ? num(m.value) : '';
              }),
            ]),
          ),
        );
      } finally {
        await release();
      }
    });

  runs
    .command('show <run-id>')
    .description('Show a run: info, params, latest metrics, tags and artifacts')
    .option('--json', 'print JSON')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const run = await client.getRun(runId);
        const artifacts = await client.listArtifacts(runId).catch(() => ({ root_uri: run.info.artifact_uri, files: [] }));
        print({ ...run, artifacts: artifacts.files }, !!opts.json, () =>
          [
            `Run ${run.info.run_id} (${run.info.run_name})`,
            `  experiment ${run.info.experiment_id}  status ${run.info.status}  started ${time(run.info.start_time)}  ${duration(run.info.start_time, run.info.end_time)}`,
            `  artifacts  ${run.info.artifact_uri}`,
            '',
            'Params',
            table(['KEY', 'VALUE'], run.data.params.map((p) => [p.key, p.value])),
            '',
            'Metrics (latest)',
            table(['KEY', 'VALUE', 'STEP'], run.data.metrics.map((m) => [m.key, num(m.value), m.step])),
            '',
            'Tags',
            table(['KEY', 'VALUE'], run.data.tags.map((t) => [t.key, t.value.length > 80 ? `${t.value.slice(0, 77)}...` : t.value])),
            '',
            'Artifacts',
            table(['PATH', 'SIZE'], artifacts.files.map((f) => [f.is_dir ? `${f.path}/` : f.path, f.file_size])),
          ].join('\n'),
        );
      } finally {
        await release();
      }
    });
}
