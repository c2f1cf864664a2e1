import type { Command } from 'commander';
import { connect, type GlobalOptions } from '../connect';
import { print, table, time } from '../format';

export function experimentsCommand(program: Command, globals: () => GlobalOptions): void {
  const experiments = program.command('experiments').description('List and create experiments');

  experiments
    .command('list')
    .description('List experiments')
    .option('--all', 'include deleted experiments')
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const list = await client.searchExperiments(opts.all ? 'ALL' : 'ACTIVE_ONLY');
        print(list, !!opts.json, () =>
          table(['ID', 'NAME', 'STAGE', 'CREATED'], list.map((e) => [e.experiment_id, e.name, e.lifecycle_stage, time(e.creation_time)])),
        );
      } finally {
        await release();
      }
    });

  experiments
    .command('create <name>')
    .description('Create an experiment')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { client, release } = await connect(globals());
      try {
        const id = await client.createExperiment(name);
        print({ experiment_id: id, name }, !!opts.json, () => `Created experiment '${name}' (id ${id}).`);
      } finally {
        await release();
      }
    });
}
