import * as vscode from 'vscode';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Platform } from '../platform';
import type { ModelsNode } from '../trees/models-tree';
import type { ClustersTree, ResourceNode } from '../trees/resource-trees';
import { serverRuntime } from '../platform-process';
import { settings, type ClusterSetting } from '../settings';
import { command, confirm } from './ui';
import { pickVersion } from './model-commands';

type Resource = Extract<ResourceNode, { kind: 'resource' }>;

/** How a version goes to a cluster: replacing the stable one, as a canary beside it, or manifests only. */
export interface DeployOptions {
  cluster: string;
  canaryPercent?: number;
  dryRun?: boolean;
}

/** What `trellis deploy … --json` prints. */
export interface DeployReport {
  result: string;
  image?: string;
  /** Absolute paths of the manifests written under deploy/<cluster>/<model>/. */
  manifests: string[];
  decision?: { state: string; message?: string; fix?: string } | null;
  run_id?: string;
}

/** The cluster flags of `trellis deploy` from the `trellis.clusters` setting (the CLI alone reads only .vscode/settings.json). */
export function clusterFlags(c: ClusterSetting): string[] {
  const flags = ['--cluster', c.name];
  for (const [flag, value] of [['--context', c.context], ['--namespace', c.namespace], ['--kubeconfig', c.kubeconfig], ['--registry', c.registry], ['--pull-secret', c.pullSecret]] as const) {
    if (value) flags.push(flag, value);
  }
  return flags;
}

function clusterNamed(name: string): ClusterSetting {
  const c = settings().clusters.find((x) => x.name === name);
  if (!c) throw new Error(`No cluster '${name}' in the trellis.clusters setting. Add it ({"name", "context", "namespace", "registry"}) first.`);
  return c;
}

/**
 * Runs `trellis deploy …` in its own process from the workspace folder (deploy/<cluster>/<model>/ is
 * written there), showing its progress lines; the notification's Cancel interrupts it.
 */
async function runDeployCli(platform: Platform, extensionPath: string, args: string[], title: string): Promise<DeployReport | undefined> {
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!workspace) throw new Error('Open a folder first: deployments write their manifests under deploy/ in the workspace.');
  const { command: runtime, env } = serverRuntime();
  const { dockerHost } = settings();
  const argv = [join(extensionPath, 'dist', 'cli.js'), '--data-dir', platform.dataDir, 'deploy', ...args, '--json', ...(dockerHost && !args.includes('rollback') ? ['--docker-host', dockerHost] : [])];
  platform.log.info(`deploy: ${runtime} ${argv.join(' ')}`);
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Trellis: ${title}`, cancellable: true }, (progress, token) =>
    new Promise<DeployReport | undefined>((resolve, reject) => {
      const child = spawn(runtime, argv, { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const last = d.toString().trimEnd().split('\n').pop();
        if (last) progress.report({ message: last.slice(0, 120) });
      });
      token.onCancellationRequested(() => child.kill('SIGINT'));
      child.on('error', reject);
      child.on('close', (code) => {
        platform.log.info(`deploy exited with ${code}:\n${stderr.trimEnd()}`);
        if (token.isCancellationRequested) return resolve(undefined);
        try {
          resolve(JSON.parse(stdout) as DeployReport);
        } catch {
          reject(new Error(`trellis deploy failed (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no output'}`));
        }
      });
    }),
  );
}

async function pickCluster(title: string): Promise<ClusterSetting | undefined> {
  const clusters = settings().clusters;
  if (clusters.length === 0) throw new Error('No clusters are configured: add one to the trellis.clusters setting ("Trellis: Open Settings").');
  if (clusters.length === 1) return clusters[0];
  const pick = await vscode.window.showQuickPick(clusters.map((c) => ({ label: c.name, description: [c.context, c.namespace].filter(Boolean).join(' / '), c })), { title });
  return pick?.c;
}

async function askDeployOptions(cluster: string): Promise<DeployOptions | undefined> {
  const how = await vscode.window.showQuickPick(
    [
      { label: 'Replace the stable version', description: 'a rolling update of the model’s Deployment', canary: false, dryRun: false },
      { label: 'As a canary (10%)', description: 'beside the stable version; promote or roll back later', canary: true, dryRun: false },
      { label: 'Dry run', description: 'only write the manifests under deploy/', canary: false, dryRun: true },
    ],
    { title: `Deploy to ${cluster}: how?` },
  );
  if (!how) return undefined;
  return { cluster, ...(how.canary ? { canaryPercent: 10 } : {}), ...(how.dryRun ? { dryRun: true } : {}) };
}

export function deployCommands(platform: Platform, clusters: ClustersTree, extensionPath: string): vscode.Disposable[] {
  return [
    command('trellis.deployModelVersion', async (arg?: ModelsNode | Resource, given?: DeployOptions) => {
      const c = platform.requireClient();
      const version = arg && 'kind' in arg && arg.kind === 'version' ? arg.version : await pickVersion(c, 'Deploy Model Version');
      if (!version) return undefined;
      const fromTree = arg && 'cluster' in arg && typeof arg.cluster === 'string' ? arg.cluster : undefined;
      const cluster = given ? clusterNamed(given.cluster) : fromTree ? clusterNamed(fromTree) : await pickCluster(`Deploy ${version.name} v${version.version} to`);
      if (!cluster) return undefined;
      const options = given ?? (await askDeployOptions(cluster.name));
      if (!options) return undefined;
      const s = cluster;
      const args = [
        `${version.name}/${version.version}`,
        ...clusterFlags(s),
        ...(s.replicas ? ['--replicas', String(s.replicas)] : []),
        ...(s.gpusPerReplica !== undefined ? ['--gpus', String(s.gpusPerReplica)] : []),
        ...(options.canaryPercent ? ['--canary', String(options.canaryPercent)] : []),
        ...(options.dryRun ? ['--dry-run'] : []),
      ];
      const report = await runDeployCli(platform, extensionPath, args, `deploying ${version.name} v${version.version} to ${s.name}${options.dryRun ? ' (dry run)' : ''}…`);
      if (!report) return undefined;
      clusters.refresh();
      if (report.result === 'dry-run') {
        void vscode.window.showInformationMessage(`Trellis: wrote ${report.manifests.length} manifest(s) for ${version.name} v${version.version} under deploy/${s.name}/.`);
        if (report.manifests[0]) await vscode.window.showTextDocument(vscode.Uri.file(report.manifests[0]), { preview: true });
      } else if (report.result === 'ready' || report.result === 'applied') {
        void vscode.window.showInformationMessage(`Trellis: ${version.name} v${version.version} is ${report.result} on ${s.name}.`);
      } else {
        void vscode.window.showErrorMessage(`Trellis: deploying ${version.name} v${version.version} to ${s.name}: ${report.result}. ${report.decision?.message ?? ''} ${report.decision?.fix ?? ''}`.trim());
      }
      return report;
    }),

    command('trellis.rollbackDeployment', async (node?: Resource) => {
      let target = node?.deployment && node.cluster ? { cluster: node.cluster, model: node.deployment.model } : undefined;
      if (!target) {
        const cluster = await pickCluster('Roll Back Deployment: which cluster?');
        if (!cluster) return undefined;
        const model = await vscode.window.showInputBox({ title: `Roll back on ${cluster.name}`, prompt: 'Model name', validateInput: (v) => (v.trim() ? undefined : 'Enter the model name.') });
        if (!model) return undefined;
        target = { cluster: cluster.name, model: model.trim() };
      }
      if (!(await confirm(`Roll back ${target.model} on ${target.cluster}? A canary is removed; without one, the version deployed before the stable one comes back.`, 'Roll Back'))) return undefined;
      const report = await runDeployCli(platform, extensionPath, ['rollback', target.model, ...clusterFlags(clusterNamed(target.cluster))], `rolling back ${target.model} on ${target.cluster}…`);
      if (!report) return undefined;
      clusters.refresh();
      void vscode.window.showInformationMessage(`Trellis: rollback of ${target.model} on ${target.cluster}: ${report.result}.`);
      return report;
    }),
  ];
}
