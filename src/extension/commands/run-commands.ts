import * as vscode from 'vscode';
import type { Run } from '../../core/entities';
import type { FileInfo } from '../../core/artifacts';
import type { TrellisClient } from '../../client/trellis-client';
import type { Platform } from '../platform';
import type { ExperimentsNode, ExperimentsTree, RunOrder } from '../trees/experiments-tree';
import { artifactUri } from '../artifact-documents';
import { command, confirm, pickRun, runContributed } from './ui';

type RunNode = Extract<ExperimentsNode, { kind: 'run' }>;
type ExperimentNode = Extract<ExperimentsNode, { kind: 'experiment' }>;
type ArtifactNode = Extract<ExperimentsNode, { kind: 'artifact' }>;

/** The runs a tree command acts on: the multi-selection when the clicked row is part of it, else the clicked row. */
function selectedRuns(node: ExperimentsNode | undefined, selection: ExperimentsNode[] | undefined): Run[] {
  const nodes = selection?.length ? selection : node ? [node] : [];
  return nodes.filter((n): n is RunNode => n.kind === 'run').map((n) => n.run);
}

export function runCommands(platform: Platform, tree: ExperimentsTree): vscode.Disposable[] {
  const client = () => platform.requireClient();
  return [
    command('trellis.createExperiment', async (given?: string) => {
      const c = client();
      const name = typeof given === 'string' ? given : await vscode.window.showInputBox({
        title: 'Create Experiment',
        prompt: 'A name for the experiment (MLflow clients find it with set_experiment)',
        validateInput: (v) => (v.trim() ? undefined : 'Enter a name.'),
      });
      if (!name) return undefined;
      const id = await c.createExperiment(name.trim());
      tree.refresh();
      void vscode.window.showInformationMessage(`Trellis: created experiment '${name.trim()}' (id ${id}).`);
      return id;
    }),

    command('trellis.showRunDashboard', async (node?: ExperimentsNode) => {
      const run = node?.kind === 'run' ? node.run : (await pickRun(client(), 'Open Run Dashboard'))?.[0];
      if (run) await runContributed('trellis.openRunDashboard', run.info.run_id);
    }),

    command('trellis.compareSelectedRuns', async (node?: ExperimentsNode, selection?: ExperimentsNode[]) => {
      let runs = selectedRuns(node, selection);
      if (runs.length < 2) runs = (await pickRun(client(), 'Compare Runs: pick two or more', true)) ?? [];
      if (runs.length < 2) {
        if (runs.length === 1) void vscode.window.showWarningMessage('Trellis: pick at least two runs to compare (Ctrl/Cmd-click in the Experiments view).');
        return;
      }
      await runContributed('trellis.compareRuns', runs.map((r) => r.info.run_id));
    }),

    command('trellis.deleteRun', async (node?: ExperimentsNode, selection?: ExperimentsNode[]) => {
      const c = client();
      const runs = selectedRuns(node, selection);
      const targets = runs.length ? runs : ((await pickRun(c, 'Delete Run')) ?? []);
      if (targets.length === 0) return;
      const what = targets.length === 1 ? `run '${targets[0]!.info.run_name || targets[0]!.info.run_id}'` : `${targets.length} runs`;
      if (!(await confirm(`Delete ${what}? Deleted runs leave the listings; their data stays in the database until garbage collection.`, 'Delete'))) return;
      for (const r of targets) await c.deleteRun(r.info.run_id);
      tree.refresh();
    }),

    command('trellis.deleteExperiment', async (node?: ExperimentNode) => {
      const c = client();
      let experiment = node?.experiment;
      if (!experiment) {
        const picked = await vscode.window.showQuickPick(
          (await c.searchExperiments()).map((e) => ({ label: e.name, description: `#${e.experiment_id}`, e })),
          { title: 'Delete Experiment' },
        );
        experiment = picked?.e;
      }
      if (!experiment) return;
      if (!(await confirm(`Delete experiment '${experiment.name}' and hide its runs?`, 'Delete'))) return;
      await c.deleteExperiment(experiment.experiment_id);
      tree.refresh();
    }),

    command('trellis.filterRuns', async () => {
      const c = client();
      const filter = await vscode.window.showInputBox({
        title: 'Filter Runs',
        value: tree.runFilter,
        prompt: "MLflow search grammar, e.g. metrics.accuracy > 0.9 and params.lr = '0.01' and attributes.status = 'FINISHED'. Empty clears it.",
        // The server parses the filter: ask it, so the grammar is checked exactly once, where it runs.
        validateInput: async (v) => {
          if (!v.trim()) return undefined;
          try {
            await c.searchRuns({ experimentIds: ['0'], filter: v, maxResults: 1 });
            return undefined;
          } catch (err) {
            return (err as Error).message;
          }
        },
      });
      if (filter !== undefined) tree.setFilter(filter);
    }),

    command('trellis.clearRunFilter', () => tree.setFilter('')),

    command('trellis.sortRuns', async () => {
      const c = client();
      const experiments = await c.searchExperiments();
      const { items } = await c.searchRuns({ experimentIds: experiments.map((e) => e.experiment_id), maxResults: 200 });
      const keys = [...new Set(items.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
      const orders: (RunOrder & vscode.QuickPickItem)[] = [
        { label: 'newest first', orderBy: 'attributes.start_time DESC' },
        { label: 'oldest first', orderBy: 'attributes.start_time ASC' },
        { label: 'name', orderBy: 'attributes.run_name ASC' },
        ...keys.flatMap((k) => [
          { label: `${k}, highest first`, orderBy: `metrics.\`${k}\` DESC` },
          { label: `${k}, lowest first`, orderBy: `metrics.\`${k}\` ASC` },
        ]),
      ];
      const pick = await vscode.window.showQuickPick(orders, { title: 'Sort Runs', placeHolder: `now: ${tree.runOrder.label}` });
      if (pick) tree.setOrder({ orderBy: pick.orderBy, label: pick.label });
    }),

    command('trellis.openArtifact', async (node?: ArtifactNode) => {
      if (node?.kind !== 'artifact' || node.file.is_dir) return;
      const doc = await vscode.workspace.openTextDocument(artifactUri(node.run.info.run_id, node.file.path));
      await vscode.window.showTextDocument(doc, { preview: true });
    }),

    command('trellis.registerModelFromRun', async (node?: ExperimentsNode) => {
      const c = client();
      const run = node?.kind === 'run' ? node.run : (await pickRun(c, 'Register Model: pick the run'))?.[0];
      if (!run) return undefined;
      const artifact = await pickArtifact(c, run);
      if (!artifact) return undefined;
      const models = await c.searchModels();
      const NEW = '$(add) New model…';
      const choice = await vscode.window.showQuickPick([NEW, ...models.map((m) => m.name)], { title: `Register ${artifact.path} as a version of…` });
      if (!choice) return undefined;
      let name = choice;
      if (choice === NEW) {
        name = (await vscode.window.showInputBox({ title: 'New registered model', prompt: 'Model name', validateInput: (v) => (v.trim() ? undefined : 'Enter a name.') }))?.trim() ?? '';
        if (!name) return undefined;
        await c.createModel(name);
      }
      const version = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Registering ${name}…` }, () =>
        c.createVersion({ name, source: `${run.info.artifact_uri}/${artifact.path}`, runId: run.info.run_id }),
      );
      void vscode.window.showInformationMessage(`Trellis: registered ${name} version ${version.version} from run '${run.info.run_name || run.info.run_id}'.`);
      return version;
    }),
  ];
}

/** The artifact (file or folder) a model version points at; folders first, since MLflow models are folders. */
async function pickArtifact(client: TrellisClient, run: Run): Promise<FileInfo | undefined> {
  const top = (await client.listArtifacts(run.info.run_id)).files;
  const nested = await Promise.all(top.filter((f) => f.is_dir).map(async (d) => (await client.listArtifacts(run.info.run_id, d.path)).files));
  const all = [...top, ...nested.flat()].sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || a.path.localeCompare(b.path));
  if (all.length === 0) throw new Error(`Run '${run.info.run_name || run.info.run_id}' has no artifacts to register; log the model files first.`);
  const pick = await vscode.window.showQuickPick(
    all.map((f) => ({ label: `${f.is_dir ? '$(folder)' : '$(file)'} ${f.path}`, description: f.file_size !== undefined ? `${f.file_size} B` : undefined, f })),
    { title: `Register Model: pick the artifact of '${run.info.run_name || run.info.run_id}'` },
  );
  return pick?.f;
}
