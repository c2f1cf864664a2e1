import * as vscode from 'vscode';
import type { TrellisClient } from '../../client/trellis-client';
import { VIEW_TYPES, type PanelKind } from '../../protocol/common';
import { endpointUrlOf, modelNameOf, runIdOf, runIdsOf } from './args';
import { CompareRunsPanel } from './compare-runs-panel';
import { EndpointMonitorPanel } from './endpoint-monitor-panel';
import { LoadTestReportPanel, LOADTEST_EXPERIMENT } from './load-test-report-panel';
import { ModelVersionsPanel } from './model-versions-panel';
import { createWebviewPanel, type Panel, type PanelDeps } from './panel';
import type { PanelOptions } from './index';
import { RunDashboardPanel } from './run-dashboard-panel';

type AnyPanel = Panel<{ type: string }, { type: string }>;

/**
 * Opens panels (one per run, comparison, model or report: opening again reveals it) and restores them
 * after a reload. Run dashboards follow the runs opened: the dashboard not kept open shows the next run.
 */
export class PanelManager implements vscode.Disposable {
  private readonly open = new Map<string, AnyPanel>();
  /** The dashboard that shows the next run opened, unless the user keeps it. */
  private followingDashboard: RunDashboardPanel | undefined;
  private readonly deps: PanelDeps;
  private readonly log: vscode.LogOutputChannel;

  constructor(extensionUri: vscode.Uri, client: () => Promise<TrellisClient>, options: PanelOptions) {
    this.log = options.log;
    this.deps = { extensionUri, client, changes: options.changes, log: (line) => this.log.info(line) };
  }

  async openRunDashboard(arg: unknown): Promise<void> {
    const runId = runIdOf(arg) ?? (await this.pickRun('Open the dashboard of which run?'));
    if (!runId) return;
    const key = `runDashboard:${runId}`;
    const following = this.followingDashboard;
    if (!this.open.has(key) && following) {
      this.open.delete(`runDashboard:${following.runId}`);
      following.showRun(runId);
      this.open.set(key, following);
      following.panel.reveal();
      return;
    }
    this.show(key, () => {
      const created = new RunDashboardPanel(createWebviewPanel('runDashboard', `Run ${runId.slice(0, 8)}`, this.deps.extensionUri, true), this.deps, runId);
      this.followingDashboard = created;
      return created;
    });
  }

  /** Keeps the active run dashboard (or the following one) open on its run: the next run opens in a new one. */
  keepRunDashboard(): void {
    const dashboards = [...new Set(this.open.values())].filter((p): p is RunDashboardPanel => p instanceof RunDashboardPanel);
    const target = dashboards.find((p) => p.panel.active) ?? this.followingDashboard;
    if (!target) {
      void vscode.window.showInformationMessage('Trellis: no run dashboard is open to keep.');
      return;
    }
    target.keep();
    if (this.followingDashboard === target) this.followingDashboard = undefined;
  }

  async compareRuns(arg: unknown): Promise<void> {
    let runIds = runIdsOf(arg);
    if (runIds.length < 2) runIds = await this.pickRuns(runIds);
    if (runIds.length < 2) {
      if (runIds.length === 1) void vscode.window.showInformationMessage('Trellis: comparing needs two or more runs; select several in the Trellis explorer (Ctrl/Cmd-click).');
      return;
    }
    const ids = runIds;
    this.show(`compareRuns:${[...ids].sort().join(',')}`, () => new CompareRunsPanel(createWebviewPanel('compareRuns', `Compare ${ids.length} runs`, this.deps.extensionUri), this.deps, ids));
  }

  async openModelVersions(arg: unknown): Promise<void> {
    const name = modelNameOf(arg) ?? (await this.pickModel());
    if (!name) return;
    this.show(`modelVersions:${name}`, () => new ModelVersionsPanel(createWebviewPanel('modelVersions', `Model: ${name}`, this.deps.extensionUri), this.deps, name));
  }

  async openLoadTestReport(arg: unknown): Promise<void> {
    const runId = runIdOf(arg) ?? (await this.pickRun('Open the report of which load test?', LOADTEST_EXPERIMENT));
    if (!runId) return;
    this.show(`loadTestReport:${runId}`, () => new LoadTestReportPanel(createWebviewPanel('loadTestReport', `Load test ${runId.slice(0, 8)}`, this.deps.extensionUri), this.deps, runId));
  }

  async openEndpointMonitor(arg: unknown): Promise<void> {
    const url = endpointUrlOf(arg);
    this.show(`endpointMonitor:${url ?? 'platform'}`, () => new EndpointMonitorPanel(createWebviewPanel('endpointMonitor', 'Endpoint monitor', this.deps.extensionUri), this.deps, url));
  }

  /** A panel VS Code brings back after a reload, with the state its webview saved. */
  async restore(kind: PanelKind, panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const s = (typeof state === 'object' && state !== null ? state : {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const ids = Array.isArray(s.runIds) ? s.runIds.filter((x): x is string => typeof x === 'string') : [];
    let created: AnyPanel | undefined;
    let key = '';
    if (kind === 'runDashboard' && str(s.runId)) [key, created] = [`runDashboard:${s.runId}`, new RunDashboardPanel(panel, this.deps, s.runId as string)];
    else if (kind === 'compareRuns' && ids.length >= 2) [key, created] = [`compareRuns:${[...ids].sort().join(',')}`, new CompareRunsPanel(panel, this.deps, ids)];
    else if (kind === 'modelVersions' && str(s.model)) [key, created] = [`modelVersions:${s.model}`, new ModelVersionsPanel(panel, this.deps, s.model as string)];
    else if (kind === 'loadTestReport' && str(s.runId)) [key, created] = [`loadTestReport:${s.runId}`, new LoadTestReportPanel(panel, this.deps, s.runId as string)];
    else if (kind === 'endpointMonitor') [key, created] = [`endpointMonitor:${str(s.url) ?? 'platform'}`, new EndpointMonitorPanel(panel, this.deps, str(s.url))];
    if (!created) {
      // Saved before its first message arrived: nothing says what it showed.
      this.log.warn(`could not restore a ${VIEW_TYPES[kind]} panel: its saved state names nothing to show`);
      panel.dispose();
      return;
    }
    this.track(key, created);
  }

  dispose(): void {
    for (const p of [...this.open.values()]) p.dispose();
  }

  private show(key: string, create: () => AnyPanel): void {
    const existing = this.open.get(key);
    if (existing) existing.panel.reveal();
    else this.track(key, create());
  }

  private track(key: string, panel: AnyPanel): void {
    this.open.set(key, panel);
    // By identity, not by key: a following dashboard changes its key with each run it shows.
    panel.onDidDispose(() => {
      for (const [k, p] of this.open) if (p === panel) this.open.delete(k);
      if (this.followingDashboard === (panel as unknown)) this.followingDashboard = undefined;
    });
  }

  private async pickRun(title: string, experimentName?: string): Promise<string | undefined> {
    const picked = await vscode.window.showQuickPick(this.runItems(experimentName), { title, matchOnDescription: true, matchOnDetail: true });
    return picked?.runId;
  }

  private async pickRuns(preselected: string[]): Promise<string[]> {
    const items = (await this.runItems()).map((i) => ({ ...i, picked: preselected.includes(i.runId) }));
    const picked = await vscode.window.showQuickPick(items, { title: 'Compare which runs? (two or more)', canPickMany: true, matchOnDescription: true });
    return picked?.map((p) => p.runId) ?? [];
  }

  private async runItems(experimentName?: string): Promise<(vscode.QuickPickItem & { runId: string })[]> {
    const client = await this.deps.client();
    const experiments = await client.searchExperiments();
    const chosen = experimentName ? experiments.filter((e) => e.name === experimentName) : experiments;
    if (chosen.length === 0) throw new Error(experimentName ? `No experiment '${experimentName}' yet: record a load test first ('trellis loadtest').` : 'No experiments yet: log a run first.');
    const names = new Map(experiments.map((e) => [e.experiment_id, e.name]));
    const page = await client.searchRuns({ experimentIds: chosen.map((e) => e.experiment_id), orderBy: ['start_time DESC'], maxResults: 200 });
    return page.items.map((r) => ({
      runId: r.info.run_id,
      label: r.info.run_name || r.info.run_id,
      description: `${names.get(r.info.experiment_id) ?? r.info.experiment_id} · ${r.info.status}`,
      detail: `${r.info.run_id} · ${new Date(r.info.start_time).toLocaleString()}`,
    }));
  }

  private async pickModel(): Promise<string | undefined> {
    const models = await (await this.deps.client()).searchModels();
    if (models.length === 0) throw new Error('No registered models yet: register one from a run first.');
    const picked = await vscode.window.showQuickPick(
      models.map((m) => ({ label: m.name, description: m.aliases.map((a) => `@${a.alias}`).join(' ') })),
      { title: 'Open which model?' },
    );
    return picked?.label;
  }
}
