import * as vscode from 'vscode';
import type { ChangeEvent } from '../../core/events';
import type { Experiment, Run, RunStatus } from '../../core/entities';
import type { FileInfo } from '../../core/artifacts';
import type { Platform } from '../platform';
import { formatDuration, formatValue } from '../format';
import { artifactUri } from '../artifact-documents';
import { RefreshingTree, messageItem } from './refreshing-tree';

/** Runs listed per experiment; a filter narrows them further. */
const MAX_RUNS = 500;

export type ExperimentsNode =
  | { kind: 'experiment'; experiment: Experiment }
  | { kind: 'run'; run: Run }
  | { kind: 'group'; group: 'params' | 'metrics' | 'artifacts'; run: Run }
  | { kind: 'value'; run: Run; label: string; description: string }
  | { kind: 'artifact'; run: Run; file: FileInfo }
  | { kind: 'message'; label: string; icon?: string };

export interface RunOrder {
  /** An MLflow order_by clause, e.g. `attributes.start_time DESC` or ``metrics.`loss` ASC``. */
  orderBy: string;
  label: string;
}

const STATUS_ICONS: Record<RunStatus, [string, string | undefined]> = {
  RUNNING: ['sync~spin', 'charts.blue'],
  SCHEDULED: ['clock', undefined],
  FINISHED: ['pass', 'testing.iconPassed'],
  FAILED: ['error', 'testing.iconFailed'],
  KILLED: ['circle-slash', 'disabledForeground'],
};

/** Experiments → runs (status, name, key metric, duration) → params, latest metrics, artifacts. */
export class ExperimentsTree extends RefreshingTree<ExperimentsNode> {
  private filter = '';
  private order: RunOrder = { orderBy: 'attributes.start_time DESC', label: 'newest first' };
  private view: vscode.TreeView<ExperimentsNode> | undefined;

  constructor(platform: Platform) {
    super(platform);
  }

  attachView(view: vscode.TreeView<ExperimentsNode>): void {
    this.view = view;
    this.describe();
  }

  get runFilter(): string {
    return this.filter;
  }

  get runOrder(): RunOrder {
    return this.order;
  }

  setFilter(filter: string): void {
    this.filter = filter.trim();
    void vscode.commands.executeCommand('setContext', 'trellis.runFilterActive', this.filter !== '');
    this.describe();
    this.refresh();
  }

  setOrder(order: RunOrder): void {
    this.order = order;
    this.describe();
    this.refresh();
  }

  protected affectedBy(e: ChangeEvent): boolean {
    return e.type.startsWith('experiment.') || e.type.startsWith('run.') || e.type === 'metrics.logged';
  }

  getTreeItem(node: ExperimentsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'experiment': {
        const item = new vscode.TreeItem(node.experiment.name, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `experiment:${node.experiment.experiment_id}`;
        item.description = `#${node.experiment.experiment_id}`;
        item.iconPath = new vscode.ThemeIcon('beaker');
        item.contextValue = 'experiment';
        item.tooltip = `${node.experiment.name} (id ${node.experiment.experiment_id})\n${node.experiment.artifact_location}`;
        return item;
      }
      case 'run':
        return this.runItem(node.run);
      case 'group': {
        const labels = { params: 'Parameters', metrics: 'Metrics', artifacts: 'Artifacts' };
        const icons = { params: 'symbol-parameter', metrics: 'graph-line', artifacts: 'files' };
        const item = new vscode.TreeItem(labels[node.group], vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `run:${node.run.info.run_id}:${node.group}`;
        item.iconPath = new vscode.ThemeIcon(icons[node.group]);
        item.contextValue = `group.${node.group}`;
        return item;
      }
      case 'value': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.description = node.description;
        item.tooltip = `${node.label} = ${node.description}`;
        item.contextValue = 'value';
        return item;
      }
      case 'artifact': {
        const name = node.file.path.split('/').pop() ?? node.file.path;
        const item = new vscode.TreeItem(name, node.file.is_dir ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.id = `run:${node.run.info.run_id}:artifact:${node.file.path}`;
        item.contextValue = node.file.is_dir ? 'artifactDir' : 'artifact';
        item.tooltip = node.file.path;
        if (node.file.is_dir) {
          item.iconPath = vscode.ThemeIcon.Folder;
        } else {
          item.iconPath = vscode.ThemeIcon.File;
          item.resourceUri = artifactUri(node.run.info.run_id, node.file.path);
          item.description = node.file.file_size !== undefined ? `${node.file.file_size} B` : undefined;
          item.command = { command: 'trellis.openArtifact', title: 'Open Artifact', arguments: [node] };
        }
        return item;
      }
      case 'message':
        return messageItem(node.label, node.icon);
    }
  }

  async getChildren(node?: ExperimentsNode): Promise<ExperimentsNode[]> {
    const client = this.platform.client;
    if (!client) return []; // the welcome view offers to start the platform
    try {
      if (!node) {
        const experiments = await client.searchExperiments();
        return experiments.map((experiment) => ({ kind: 'experiment', experiment }));
      }
      switch (node.kind) {
        case 'experiment': {
          const page = await client.searchRuns({
            experimentIds: [node.experiment.experiment_id],
            filter: this.filter || undefined,
            orderBy: [this.order.orderBy],
            maxResults: MAX_RUNS,
          });
          if (page.items.length === 0) return [{ kind: 'message', label: this.filter ? 'No runs match the filter' : 'No runs yet' }];
          return page.items.map((run) => ({ kind: 'run', run }));
        }
        case 'run':
          return (['params', 'metrics', 'artifacts'] as const).map((group) => ({ kind: 'group', group, run: node.run }));
        case 'group':
          return this.groupChildren(node.run, node.group);
        case 'artifact': {
          const { files } = await client.listArtifacts(node.run.info.run_id, node.file.path);
          return files.map((file) => ({ kind: 'artifact', run: node.run, file }));
        }
        default:
          return [];
      }
    } catch (err) {
      return [{ kind: 'message', label: (err as Error).message, icon: 'error' }];
    }
  }

  /** Refreshes a run's row from the server (a run node holds the run as it was listed). */
  private async groupChildren(listed: Run, group: 'params' | 'metrics' | 'artifacts'): Promise<ExperimentsNode[]> {
    const client = this.platform.requireClient();
    if (group === 'artifacts') {
      const { files } = await client.listArtifacts(listed.info.run_id);
      if (files.length === 0) return [{ kind: 'message', label: 'No artifacts' }];
      return files.map((file) => ({ kind: 'artifact', run: listed, file }));
    }
    const run = await client.getRun(listed.info.run_id);
    const rows =
      group === 'params'
        ? run.data.params.map((p) => ({ label: p.key, description: p.value }))
        : run.data.metrics.map((m) => ({ label: m.key, description: `${formatValue(m.value)} (step ${m.step})` }));
    if (rows.length === 0) return [{ kind: 'message', label: group === 'params' ? 'No parameters' : 'No metrics' }];
    return rows.sort((a, b) => a.label.localeCompare(b.label)).map((r) => ({ kind: 'value', run, ...r }));
  }

  private runItem(run: Run): vscode.TreeItem {
    const { info } = run;
    const item = new vscode.TreeItem(info.run_name || info.run_id, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `run:${info.run_id}`;
    const [icon, color] = STATUS_ICONS[info.status] ?? ['circle-outline', undefined];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    const metric = this.keyMetric(run);
    const duration = formatDuration((info.end_time ?? Date.now()) - info.start_time);
    item.description = [metric && `${metric.key} ${formatValue(metric.value)}`, duration].filter(Boolean).join(' · ');
    item.contextValue = info.status === 'RUNNING' ? 'run.running' : 'run';
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**${escapeMarkdown(info.run_name || info.run_id)}** — ${info.status}\n\n`);
    tooltip.appendMarkdown(`id \`${info.run_id}\`\n\nstarted ${new Date(info.start_time).toLocaleString()}, ${duration}\n\n`);
    for (const m of [...run.data.metrics].sort((a, b) => a.key.localeCompare(b.key)).slice(0, 8)) tooltip.appendMarkdown(`- ${escapeMarkdown(m.key)}: ${formatValue(m.value)}\n`);
    item.tooltip = tooltip;
    return item;
  }

  /** The metric the runs are sorted by, else the run's first metric by name. */
  private keyMetric(run: Run): { key: string; value: number } | undefined {
    const sortKey = /^metrics\.`?([^`]+?)`?\s+(ASC|DESC)$/i.exec(this.order.orderBy)?.[1];
    const metrics = run.data.metrics;
    return (sortKey && metrics.find((m) => m.key === sortKey)) || [...metrics].sort((a, b) => a.key.localeCompare(b.key))[0];
  }

  private describe(): void {
    if (!this.view) return;
    // The header is narrow beside its buttons: a short mark there, the full filter and order above the tree.
    const parts = [this.filter && `Filter: ${this.filter}`, this.order.orderBy !== 'attributes.start_time DESC' && `Sorted: ${this.order.label}`].filter(Boolean);
    this.view.description = this.filter ? 'filtered' : undefined;
    this.view.message = parts.join(' · ') || undefined;
  }
}

function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
