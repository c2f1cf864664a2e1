import type { Command } from 'commander';
import { posix } from 'node:path';
import { ApiError } from '../../client/trellis-client';
import { connect, type GlobalOptions } from '../connect';
import { print, table, time } from '../format';

export function modelsCommand(program: Command, globals: () => GlobalOptions): void {
  const models = program.command('models').description('The model registry: registered models, versions and aliases');

  const withClient = <A extends unknown[]>(fn: (client: Awaited<ReturnType<typeof connect>>['client'], ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const { client, release } = await connect(globals());
      try {
        await fn(client, ...args);
      } finally {
        await release();
      }
    };

  models
    .command('list')
    .description('List registered models')
    .option('-f, --filter <filter>', `e.g. "name LIKE 'digits%'"`)
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, opts: { filter?: string; json?: boolean }) => {
        const list = await client.searchModels(opts.filter);
        print(list, !!opts.json, () =>
          table(
            ['NAME', 'LATEST', 'ALIASES', 'UPDATED'],
            list.map((m) => [
              m.name,
              Math.max(0, ...m.latest_versions.map((v) => Number(v.version))) || '',
              m.aliases.map((a) => `${a.alias}→v${a.version}`).join(' '),
              time(m.last_updated_timestamp),
            ]),
          ),
        );
      }),
    );

  models
    .command('show <name>')
    .description('Show a registered model and its versions')
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, name: string, opts: { json?: boolean }) => {
        const model = await client.getModel(name);
        const versions = (await client.searchVersions(`name = '${name.replace(/'/g, "\\'")}'`)).sort((a, b) => Number(b.version) - Number(a.version));
        print({ ...model, versions }, !!opts.json, () =>
          [
            `Model ${model.name}${model.description ? ` — ${model.description}` : ''}`,
            '',
            table(
              ['VERSION', 'ALIASES', 'STAGE', 'RUN', 'SOURCE', 'CREATED'],
              versions.map((v) => [v.version, v.aliases.join(' '), v.current_stage, v.run_id, v.source, time(v.creation_timestamp)]),
            ),
          ].join('\n'),
        );
      }),
    );

  models
    .command('register <run-id> <artifact-path>')
    .description("Register a run's artifact (a file or folder under the run's artifacts) as a new model version")
    .requiredOption('--name <model>', 'registered model name (created if it does not exist)')
    .option('--json', 'print JSON')
    .action(
      withClient(async (client, runId: string, artifactPath: string, opts: { name: string; json?: boolean }) => {
        const run = await client.getRun(runId);
        const path = posix.normalize(artifactPath).replace(/^\.\/|\/$/g, '');
        const parent = posix.dirname(path) === '.' ? undefined : posix.dirname(path);
        const listing = await client.listArtifacts(runId, parent);
        if (!listing.files.some((f) => f.path === path)) {
          throw new Error(
            `Run ${runId} has no artifact '${path}'. Its artifacts${parent ? ` under '${parent}'` : ''}: ${listing.files.map((f) => f.path).join(', ') || '(none)'}.`,
          );
        }
        try {
          await client.createModel(opts.name);
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
        }
        const version = await client.createVersion({ name: opts.name, source: `${run.info.artifact_uri}/${path}`, runId });
        print(version, !!opts.json, () => `Registered ${opts.name} version ${version.version} from run ${runId} (${version.source}).`);
      }),
    );

  const alias = models.command('alias').description('Point aliases (e.g. champion, staging) at model versions');
  alias
    .command('set <name> <alias> <version>')
    .description('Point an alias at a version (moves it if it points elsewhere)')
    .action(
      withClient(async (client, name: string, aliasName: string, version: string) => {
        await client.setAlias(name, aliasName, version);
        process.stdout.write(`${name}@${aliasName} → version ${version}\n`);
      }),
    );
  alias
    .command('delete <name> <alias>')
    .description('Remove an alias')
    .action(
      withClient(async (client, name: string, aliasName: string) => {
        await client.deleteAlias(name, aliasName);
        process.stdout.write(`Removed ${name}@${aliasName}\n`);
      }),
    );
}
