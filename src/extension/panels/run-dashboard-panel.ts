import * as vscode from 'vscode';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TrellisClient } from '../../client/trellis-client';
import type { Run } from '../../core/entities';
import { assertNever, isSystemMetric, type ArtifactEntry, type SeriesPoints } from '../../protocol/common';
import type { LogTail, RunDashboardFromWebview, RunDashboardToWebview } from '../../protocol/run-dashboard';
import { Panel, type PanelDeps } from './panel';
import { fetchSeries, MAX_POINTS, metricKeysOf, runSummary } from './run-data';

/** Charts whose full series `init` carries: the first paint waits on no round trip. */
const PREFETCHED_CHARTS = 4;
const MAX_ARTIFACTS = 500;
const MAX_ARTIFACT_DEPTH = 6;
const LOG_TAIL_LINES = 400;
const MAX_LOG_FILES = 5;

/**
 * One run: metric charts (live while it runs), system metrics, params and tags, artifacts, log tail.
 * A dashboard that is not kept shows whichever run is opened next (`showRun`), in the page it already
 * has: like Markdown's preview, one tab follows the runs a user clicks through.
 */
export class RunDashboardPanel extends Panel<RunDashboardToWebview, RunDashboardFromWebview> {
  private artifactUri = '';
  private metricKeys = new Set<string>();
  private runName = '';
  /** When the page (re)appeared or was given another run: the first paint is measured from here. */
  private shownAt: number;
  private firstLoad: ReturnType<RunDashboardPanel['load']> | undefined;
  /** Kept open ("Keep Run Dashboard Open"): the next run opens in a new dashboard instead of this one. */
  private kept = false;

  constructor(panel: vscode.WebviewPanel, deps: PanelDeps, private currentRunId: string, openedAt = Date.now()) {
    super(panel, 'runDashboard', deps);
    this.shownAt = openedAt;
    this.startLoad();
    this.track(
      panel.onDidChangeViewState(() => {
        if (panel.visible && !this.retained) this.shownAt = Date.now();
      }),
      deps.changes((event) => {
        if (event.type === 'metrics.logged' && event.run_id === this.runId) void this.onMetricsLogged(event.keys);
        else if (event.type === 'run.updated' && event.run_id === this.runId) void this.refreshRun(true);
      }),
    );
  }

  get runId(): string {
    return this.currentRunId;
  }

  /** Shows another run in this dashboard's page: no new webview, so no page load before the chart. */
  showRun(runId: string, openedAt = Date.now()): void {
    if (runId === this.currentRunId) return;
    this.currentRunId = runId;
    this.shownAt = openedAt;
    this.panel.title = `Run ${runId.slice(0, 8)}`;
    this.startLoad();
    // A page that listens gets the run now; one still booting gets it with its `ready`.
    if (this.isReady) void this.onReady().catch((err: unknown) => this.showError(err));
  }

  keep(): void {
    this.kept = true;
    this.panel.title = this.title();
  }

  protected async onReady(): Promise<void> {
    // The load started with the panel (or the run), while the webview was booting; a later `ready` reloads.
    const runId = this.runId;
    const loading = this.firstLoad ?? this.load();
    this.firstLoad = undefined;
    const { run, series } = await loading;
    if (runId !== this.runId) return; // another run was opened meanwhile: its own load answers
    const summary = runSummary(run);
    this.artifactUri = run.info.artifact_uri;
    this.metricKeys = new Set(metricKeysOf(run));
    this.runName = summary.name;
    this.panel.title = this.title();
    this.post({ type: 'init', openedAt: this.shownAt, run: summary, metricKeys: [...this.metricKeys], maxPoints: MAX_POINTS, series });
    const client = await this.deps.client();
    await Promise.all([this.sendArtifacts(client), this.sendLogs(client)]);
  }

  private title(): string {
    return `Run: ${this.runName || this.runId.slice(0, 8)}${this.kept ? ' (kept)' : ''}`;
  }

  private startLoad(): void {
    this.firstLoad = this.load();
    this.firstLoad.catch(() => undefined); // its error is reported when `ready` awaits it
  }

  /** The run and the full-range series of its first charts. */
  private async load(): Promise<{ run: Run; series: { key: string; points: SeriesPoints }[] }> {
    const client = await this.deps.client();
    const runId = this.runId;
    const run = await client.getRun(runId);
    const first = metricKeysOf(run).filter((k) => !isSystemMetric(k)).slice(0, PREFETCHED_CHARTS);
    const series = await Promise.all(first.map(async (key) => ({ key, points: await fetchSeries(client, runId, key, {}, MAX_POINTS) })));
    return { run, series };
  }

  protected async onMessage(message: RunDashboardFromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'webviewError':
        return; // handled by Panel
      case 'fetchSeries':
        return this.sendSeries(await this.deps.client(), message.key, message.requestId, message.range, message.maxPoints);
      case 'firstPaint':
        this.deps.log(
          `run dashboard ${this.runId}: first chart paint ${message.sinceOpenMs.toFixed(0)} ms after opening ` +
            `(${message.sinceNavigationMs.toFixed(0)} ms after the page started; ${message.points} points of '${message.key}')`,
        );
        return;
      case 'openArtifact':
        return this.openArtifact(message.path);
      case 'refreshLogs':
        return this.sendLogs(await this.deps.client());
      default:
        assertNever(message);
    }
  }

  private async sendSeries(client: TrellisClient, key: string, requestId: number, range: { startStep?: number; endStep?: number }, maxPoints: number): Promise<void> {
    const points = await fetchSeries(client, this.runId, key, range, Math.min(Math.max(2, maxPoints), 100_000));
    this.post({ type: 'series', key, requestId, range, points });
  }

  private async onMetricsLogged(keys: string[]): Promise<void> {
    try {
      // Latest values (and any new keys) first, then the charts refetch what they show.
      await this.refreshRun(false);
      this.post({ type: 'metricsLogged', keys });
    } catch (err) {
      this.showError(err);
    }
  }

  private async refreshRun(withArtifacts: boolean): Promise<void> {
    try {
      const client = await this.deps.client();
      const run = await client.getRun(this.runId);
      this.metricKeys = new Set(metricKeysOf(run));
      this.post({ type: 'run', run: runSummary(run), metricKeys: [...this.metricKeys] });
      if (withArtifacts) await Promise.all([this.sendArtifacts(client), this.sendLogs(client)]);
    } catch (err) {
      this.showError(err);
    }
  }

  private async sendArtifacts(client: TrellisClient): Promise<void> {
    const runId = this.runId;
    const files: ArtifactEntry[] = [];
    const walk = async (path: string | undefined, depth: number): Promise<void> => {
      const listing = await client.listArtifacts(runId, path);
      for (const f of listing.files) {
        if (files.length >= MAX_ARTIFACTS) return;
        files.push({ path: f.path, isDir: f.is_dir, ...(f.file_size !== undefined ? { size: Number(f.file_size) } : {}) });
        if (f.is_dir && depth < MAX_ARTIFACT_DEPTH) await walk(f.path, depth + 1);
      }
    };
    await walk(undefined, 0);
    if (runId === this.runId) this.post({ type: 'artifacts', files });
  }

  /** The last lines of the run's `logs/*.log` artifacts, when it has any. */
  private async sendLogs(client: TrellisClient): Promise<void> {
    const runId = this.runId;
    let names: string[];
    try {
      names = (await client.listArtifacts(runId, 'logs')).files.filter((f) => !f.is_dir && f.path.endsWith('.log')).map((f) => f.path);
    } catch {
      names = [];
    }
    const logs: LogTail[] = [];
    for (const path of names.slice(0, MAX_LOG_FILES)) {
      const text = new TextDecoder().decode(await client.readArtifact(this.artifactUri, path));
      const lines = text.replace(/\n$/, '').split('\n');
      logs.push({ path, lines: lines.slice(-LOG_TAIL_LINES), truncated: lines.length > LOG_TAIL_LINES });
    }
    if (runId === this.runId) this.post({ type: 'logs', logs });
  }

  /** Downloads an artifact to a temporary folder and opens it in the editor (text, images, notebooks...). */
  private async openArtifact(path: string): Promise<void> {
    const parts = path.split('/');
    if (path === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new Error(`Cannot open artifact '${path}': expected a relative path inside the run's artifacts.`);
    }
    const client = await this.deps.client();
    const bytes = await client.readArtifact(this.artifactUri, path);
    const file = join(tmpdir(), 'trellis-artifacts', this.runId, ...parts);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file), { preview: true });
  }
}
