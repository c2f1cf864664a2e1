import * as vscode from 'vscode';
import type { Platform } from './platform';
import type { ExperimentsTree } from './trees/experiments-tree';
import type { ModelsTree } from './trees/models-tree';
import type { ClustersTree, JobsTree } from './trees/resource-trees';
import type { EndpointsTree } from './trees/endpoints-tree';

/** What activate() returns: the in-host tests reach the trees and the platform through it. */
export interface TrellisApi {
  /** Time spent in activate(), from its first line to its return, in milliseconds. */
  activationMs: number;
  platform: Platform;
  trees: { experiments: ExperimentsTree; models: ModelsTree; jobs: JobsTree; endpoints: EndpointsTree; clusters: ClustersTree };
}

let platform: Platform | undefined;

/**
 * Activation (on a Trellis view, command, or a workspace with `.trellis/`) wires views and commands and
 * returns. The modules behind them are evaluated here on demand (dynamic imports stay lazy in the bundle),
 * and connecting to a running server happens after activation, never on its path.
 */
export async function activate(context: vscode.ExtensionContext): Promise<TrellisApi> {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Trellis', { log: true });
  const [{ Platform }, { PlatformStatusBar }, { ArtifactDocuments, ARTIFACT_SCHEME }, trees, resources, commands, { JobLogDocuments, JOB_LOG_SCHEME }, { EndpointsTree }] = await Promise.all([
    import('./platform.js'),
    import('./status-bar.js'),
    import('./artifact-documents.js'),
    Promise.all([import('./trees/experiments-tree.js'), import('./trees/models-tree.js')]),
    import('./trees/resource-trees.js'),
    Promise.all([
      import('./commands/platform-commands.js'),
      import('./commands/run-commands.js'),
      import('./commands/model-commands.js'),
      import('./commands/job-commands.js'),
      import('./commands/serving-commands.js'),
      import('./commands/training-commands.js'),
      import('./commands/deploy-commands.js'),
    ]),
    import('./job-logs.js'),
    import('./trees/endpoints-tree.js'),
  ]);
  platform = new Platform(context.extensionPath, context.globalStorageUri.fsPath, log);
  const p = platform;
  const experiments = new trees[0].ExperimentsTree(p);
  const models = new trees[1].ModelsTree(p);
  const jobs = new resources.JobsTree(p);
  const endpoints = new EndpointsTree(p);
  const clusters = new resources.ClustersTree(p);
  const all = [experiments, models, jobs, endpoints, clusters];
  const jobLogs = new JobLogDocuments(p);

  const experimentsView = vscode.window.createTreeView('trellis.experiments', { treeDataProvider: experiments, canSelectMany: true, showCollapseAll: true });
  experiments.attachView(experimentsView);
  const endpointsView = vscode.window.createTreeView('trellis.endpoints', { treeDataProvider: endpoints });
  endpoints.setVisible(endpointsView.visible);
  context.subscriptions.push(
    log,
    p,
    ...all,
    experimentsView,
    vscode.window.createTreeView('trellis.models', { treeDataProvider: models, showCollapseAll: true }),
    vscode.window.registerTreeDataProvider('trellis.jobs', jobs),
    endpointsView,
    endpointsView.onDidChangeVisibility((e) => endpoints.setVisible(e.visible)),
    vscode.window.registerTreeDataProvider('trellis.clusters', clusters),
    new PlatformStatusBar(p),
    vscode.workspace.registerTextDocumentContentProvider(ARTIFACT_SCHEME, new ArtifactDocuments(p)),
    jobLogs,
    vscode.workspace.registerTextDocumentContentProvider(JOB_LOG_SCHEME, jobLogs),
    ...commands[0].platformCommands(p, context.extensionPath, () => all.forEach((t) => t.refresh())),
    ...commands[1].runCommands(p, experiments),
    ...commands[2].modelCommands(p, models),
    ...commands[3].jobCommands(p, jobs),
    ...commands[4].servingCommands(p, endpoints, context.extensionPath),
    ...commands[5].trainingCommands(p, jobs),
    ...commands[6].deployCommands(p, clusters, context.extensionPath),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('trellis.clusters')) clusters.refresh();
      if (p.state.kind === 'running' && (e.affectsConfiguration('trellis.server.url') || e.affectsConfiguration('trellis.dataDir'))) {
        void vscode.window.showInformationMessage('Trellis: restart the platform to use the new server setting.', 'Restart Platform').then((a) => a && vscode.commands.executeCommand('trellis.restartPlatform'));
      }
    }),
  );

  (await import('./panels/index.js')).registerPanels(context, async () => p.client ?? (await p.attach(), p.requireClient()), { changes: p.onDidChange, log });

  const activationMs = performance.now() - started;
  log.info(`activated in ${activationMs.toFixed(1)} ms`);
  // A server already running for this workspace (or a shared one) is picked up without a click.
  void p.attach().catch((err: Error) => log.warn(`could not attach to a running server: ${err.message}`));
  return { activationMs, platform: p, trees: { experiments, models, jobs, endpoints, clusters } };
}

export async function deactivate(): Promise<void> {
  await platform?.shutdown();
}
