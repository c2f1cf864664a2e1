import * as vscode from 'vscode';
import type { ModelVersion } from '../../core/entities';
import type { TrellisClient } from '../../client/trellis-client';
import type { Platform } from '../platform';
import type { ModelsNode, ModelsTree } from '../trees/models-tree';
import { quoteFilterValue } from '../trees/models-tree';
import { command, runContributed } from './ui';

/** MLflow's alias rule: letters, digits, _ and -, not starting like a version (v1, V2). */
const ALIAS = /^[A-Za-z_][\w-]*$/;

export async function pickVersion(client: TrellisClient, title: string): Promise<ModelVersion | undefined> {
  const models = await client.searchModels();
  if (models.length === 0) throw new Error('There are no registered models yet. Register one from a run first ("Trellis: Register Model from Run").');
  const model = await vscode.window.showQuickPick(models.map((m) => ({ label: m.name, m })), { title: `${title}: pick the model` });
  if (!model) return undefined;
  return pickVersionOf(client, model.label, title);
}

export async function pickVersionOf(client: TrellisClient, name: string, title: string): Promise<ModelVersion | undefined> {
  const versions = (await client.searchVersions(`name=${quoteFilterValue(name)}`)).sort((a, b) => Number(b.version) - Number(a.version));
  const pick = await vscode.window.showQuickPick(
    versions.map((v) => ({ label: `v${v.version}`, description: v.aliases.map((a) => `@${a}`).join(' '), detail: v.source, v })),
    { title: `${title}: pick the version of ${name}` },
  );
  return pick?.v;
}

export function modelCommands(platform: Platform, tree: ModelsTree): vscode.Disposable[] {
  const client = () => platform.requireClient();
  return [
    // `alias` lets another command or a test set it without the input box.
    command('trellis.setAlias', async (node?: ModelsNode, alias?: string) => {
      const c = client();
      const version = node?.kind === 'version' ? node.version : node?.kind === 'model' ? await pickVersionOf(c, node.model.name, 'Set Alias') : await pickVersion(c, 'Set Alias');
      if (!version) return;
      alias ??= await vscode.window.showInputBox({
        title: `Set an alias on ${version.name} v${version.version}`,
        prompt: 'Alias (e.g. champion); an alias on another version moves here',
        validateInput: (v) => (ALIAS.test(v.trim()) && !/^v\d+$/i.test(v.trim()) ? undefined : 'Letters, digits, _ and -; not starting with a digit and not like v1.'),
      });
      if (!alias) return;
      await c.setAlias(version.name, alias.trim(), version.version);
      tree.refresh();
      void vscode.window.showInformationMessage(`Trellis: ${version.name}@${alias.trim()} now points at version ${version.version}.`);
    }),

    command('trellis.removeAlias', async (node?: ModelsNode) => {
      const c = client();
      const version = node?.kind === 'version' ? node.version : await pickVersion(c, 'Remove Alias');
      if (!version) return;
      if (version.aliases.length === 0) throw new Error(`${version.name} v${version.version} has no aliases.`);
      const alias = version.aliases.length === 1 ? version.aliases[0] : await vscode.window.showQuickPick(version.aliases, { title: `Remove which alias of ${version.name} v${version.version}?` });
      if (!alias) return;
      await c.deleteAlias(version.name, alias);
      tree.refresh();
      void vscode.window.showInformationMessage(`Trellis: removed ${version.name}@${alias}.`);
    }),

    command('trellis.showModelVersions', async (node?: ModelsNode) => {
      const name = node?.kind === 'model' ? node.model.name : node?.kind === 'version' ? node.version.name : (await vscode.window.showQuickPick((await client().searchModels()).map((m) => m.name), { title: 'Open Model Versions' }));
      if (name) await runContributed('trellis.openModelVersions', name);
    }),
  ];
}
