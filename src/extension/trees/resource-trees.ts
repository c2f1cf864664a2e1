import * as vscode from 'vscode';
import type { ChangeEvent } from '../../core/events';
import type { JobView } from '../../services/jobs/job-records';
import type { ServedModelView } from '../../client/trellis-client';
import { settings, type ClusterSetting } from '../settings';
import { RefreshingTree, messageItem } from './refreshing-tree';

/** What the control API lists for jobs, endpoints and deployments; only the fields every listing has. */
interface Listed {
  id?: string;
  name?: string;
  status?: string;
  url?: string;
}

export type ResourceNode =
  | {
      kind: 'resource';
      contextValue: string;
      label: string;
      description?: string;
      tooltip?: string;
      icon: string;
      children?: ResourceNode[];
      job?: JobView;
      /** A version the platform's model host serves (Endpoints view). */
      served?: ServedModelView;
      /** A server `trellis serve` announced: its URL (the endpoint monitor's target) and process. */
      url?: string;
      pid?: number;
      /** A model reference an announced server answers (`trellis loadtest --model`). */
      modelRef?: string;
    }
  | { kind: 'message'; label: string; icon?: string };

export abstract class ResourceTree extends RefreshingTree<ResourceNode> {
  getTreeItem(node: ResourceNode): vscode.TreeItem {
    if (node.kind === 'message') return messageItem(node.label, node.icon);
    const item = new vscode.TreeItem(node.label, node.children?.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.iconPath = new vscode.ThemeIcon(node.icon);
    item.contextValue = node.contextValue;
    return item;
  }

  async getChildren(node?: ResourceNode): Promise<ResourceNode[]> {
    if (node) return node.kind === 'resource' ? (node.children ?? []) : [];
    try {
      return await this.roots();
    } catch (err) {
      return [{ kind: 'message', label: (err as Error).message, icon: 'error' }];
    }
  }

  protected abstract roots(): Promise<ResourceNode[]>;

  /** A control-API listing, with a context key telling the welcome view whether this server has the API. */
  protected async listing(path: string, key: string, contextKey: string): Promise<Listed[] | undefined> {
    const client = this.platform.client;
    if (!client) return undefined;
    const reply = await client.optionalListing<Record<string, Listed[]>>(path);
    void vscode.commands.executeCommand('setContext', contextKey, reply !== undefined);
    return reply ? (reply[key] ?? []) : undefined;
  }
}

const listedNode = (l: Listed, contextValue: string, icon: string): ResourceNode => ({
  kind: 'resource',
  contextValue,
  label: l.name ?? l.id ?? '?',
  description: l.status?.toLowerCase(),
  tooltip: [l.id, l.url].filter(Boolean).join('\n'),
  icon,
});

const JOB_ICONS: Record<string, string> = { RUNNING: 'sync~spin', SCHEDULED: 'clock', FINISHED: 'pass', FAILED: 'error', KILLED: 'circle-slash' };

/** Training jobs in containers (the jobs API); a job is a run, so run events refresh it. */
export class JobsTree extends ResourceTree {
  protected affectedBy(e: ChangeEvent): boolean {
    return e.type.startsWith('run.');
  }

  protected async roots(): Promise<ResourceNode[]> {
    const jobs = (await this.listing('/api/trellis/jobs', 'jobs', 'trellis.jobsApi')) as JobView[] | undefined;
    return (jobs ?? []).map((j) => ({
      kind: 'resource',
      contextValue: j.status === 'RUNNING' || j.status === 'SCHEDULED' ? 'job.active' : 'job',
      label: j.run_name || j.job_id,
      description: [j.status.toLowerCase(), j.image].join(' · '),
      tooltip: `job ${j.job_id} (run ${j.run_id})\n${j.image} ${j.command.join(' ')}${j.error ? `\n${j.error}` : ''}`,
      icon: JOB_ICONS[j.status] ?? 'circle-outline',
      job: j,
    }));
  }
}

/** Clusters from `trellis.clusters` → their deployments once the server has the deploy API. */
export class ClustersTree extends ResourceTree {
  protected affectedBy(e: ChangeEvent): boolean {
    return (e.type as string).startsWith('deployment.');
  }

  protected async roots(): Promise<ResourceNode[]> {
    const clusters: ClusterSetting[] = settings().clusters;
    const deployments = await this.listing('/api/trellis/deployments', 'deployments', 'trellis.deploymentsApi');
    return clusters.map((c) => ({
      kind: 'resource',
      contextValue: 'cluster',
      label: c.name,
      description: [c.context, c.namespace].filter(Boolean).join(' / '),
      icon: 'server-environment',
      children: deployments
        ? deployments.filter((d) => (d as Listed & { cluster?: string }).cluster === c.name).map((d) => listedNode(d, 'deployment', 'rocket'))
        : [{ kind: 'message', label: 'Deployments appear here once this server has the deploy API.' }],
    }));
  }
}
