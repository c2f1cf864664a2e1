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
      /** Clusters view: the cluster a row belongs to, and the model version a deployment row runs. */
      cluster?: string;
      deployment?: { model: string; version: string };
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

/** What GET /api/trellis/deployments lists per deployment (the newest per cluster and model with ?latest=true). */
interface DeploymentListed {
  run_id: string;
  cluster: string;
  model: string;
  version: string;
  action: string;
  result: string;
  replicas?: number;
  canaryPercent?: number;
  image?: string;
  message?: string;
}

const DEPLOYMENT_ICONS: Record<string, string> = { ready: 'rocket', applied: 'rocket', failed: 'error', 'timed-out': 'watch', 'rolled-back': 'history' };

/**
 * Clusters from `trellis.clusters` → the newest deployment of each model on it (version, result, replicas)
 * once the server has the deploy API. Deployments are recorded as runs, so run events refresh it.
 */
export class ClustersTree extends ResourceTree {
  protected affectedBy(e: ChangeEvent): boolean {
    return e.type.startsWith('run.');
  }

  protected async roots(): Promise<ResourceNode[]> {
    const clusters: ClusterSetting[] = settings().clusters;
    const client = this.platform.client;
    const reply = client ? await client.optionalListing<{ deployments?: DeploymentListed[] }>('/api/trellis/deployments?latest=true') : undefined;
    void vscode.commands.executeCommand('setContext', 'trellis.deploymentsApi', reply !== undefined);
    const deployments = reply?.deployments;
    return clusters.map((c) => ({
      kind: 'resource',
      contextValue: 'cluster',
      label: c.name,
      description: [c.context, c.namespace].filter(Boolean).join(' / '),
      icon: 'server-environment',
      cluster: c.name,
      children: !deployments
        ? [{ kind: 'message', label: 'Deployments appear here once this server has the deploy API.' }]
        : deployments
            .filter((d) => d.cluster === c.name)
            .map((d): ResourceNode => ({
              kind: 'resource',
              contextValue: 'deployment',
              label: `${d.model} v${d.version}`,
              description: [d.result, d.replicas !== undefined ? `${d.replicas} replica${d.replicas === 1 ? '' : 's'}` : '', d.canaryPercent ? `canary ${d.canaryPercent}%` : ''].filter(Boolean).join(' · '),
              tooltip: [`${d.action} → ${d.result}`, d.image, d.message].filter(Boolean).join('\n'),
              icon: DEPLOYMENT_ICONS[d.result] ?? 'rocket',
              cluster: c.name,
              deployment: { model: d.model, version: d.version },
            })),
    }));
  }
}
