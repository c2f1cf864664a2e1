import * as vscode from 'vscode';
import type { ChangeEvent } from '../../core/events';
import type { ModelVersion, RegisteredModel } from '../../core/entities';
import { RefreshingTree, messageItem } from './refreshing-tree';

export type ModelsNode =
  | { kind: 'model'; model: RegisteredModel }
  | { kind: 'version'; version: ModelVersion }
  | { kind: 'message'; label: string; icon?: string };

/** MLflow registry string literals quote with single quotes; a quote inside doubles as in SQL. */
export const quoteFilterValue = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Registered models → versions (aliases as labels, source run, status). */
export class ModelsTree extends RefreshingTree<ModelsNode> {
  protected affectedBy(e: ChangeEvent): boolean {
    return e.type.startsWith('model') || e.type === 'alias.moved';
  }

  getTreeItem(node: ModelsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'model': {
        const { model } = node;
        const item = new vscode.TreeItem(model.name, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `model:${model.name}`;
        item.iconPath = new vscode.ThemeIcon('package');
        item.description = model.aliases.map((a) => `@${a.alias}→v${a.version}`).join(' ');
        item.tooltip = model.description || model.name;
        item.contextValue = 'model';
        return item;
      }
      case 'version': {
        const { version: v } = node;
        const item = new vscode.TreeItem(`v${v.version}`, vscode.TreeItemCollapsibleState.None);
        item.id = `model:${v.name}:v${v.version}`;
        const ready = v.status === 'READY';
        item.iconPath = new vscode.ThemeIcon(ready ? 'versions' : v.status === 'FAILED_REGISTRATION' ? 'error' : 'loading~spin');
        item.description = [...v.aliases.map((a) => `@${a}`), ready ? '' : v.status.toLowerCase().replace('_', ' ')].filter(Boolean).join(' ');
        item.tooltip = new vscode.MarkdownString(
          `**${v.name}** v${v.version} — ${v.status}\n\nsource \`${v.source}\`\n\nrun \`${v.run_id || 'none'}\`\n\ncreated ${new Date(v.creation_timestamp).toLocaleString()}` +
            (v.aliases.length ? `\n\naliases: ${v.aliases.map((a) => `@${a}`).join(', ')}` : ''),
        );
        item.contextValue = v.aliases.length ? 'modelVersion.aliased' : 'modelVersion';
        return item;
      }
      case 'message':
        return messageItem(node.label, node.icon);
    }
  }

  async getChildren(node?: ModelsNode): Promise<ModelsNode[]> {
    const client = this.platform.client;
    if (!client) return [];
    try {
      if (!node) return (await client.searchModels()).map((model) => ({ kind: 'model', model }));
      if (node.kind !== 'model') return [];
      const versions = await client.searchVersions(`name=${quoteFilterValue(node.model.name)}`);
      if (versions.length === 0) return [{ kind: 'message', label: 'No versions yet' }];
      return versions.sort((a, b) => Number(b.version) - Number(a.version)).map((version) => ({ kind: 'version', version }));
    } catch (err) {
      return [{ kind: 'message', label: (err as Error).message, icon: 'error' }];
    }
  }
}
