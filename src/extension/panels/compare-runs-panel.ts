import * as vscode from 'vscode';
import { assertNever } from '../../protocol/common';
import type { CompareRunsFromWebview, CompareRunsToWebview } from '../../protocol/compare-runs';
import { Panel, type PanelDeps } from './panel';
import { fetchSeries, metricKeysOf, runSummary } from './run-data';

/** Overlaid runs share a chart: fewer buckets each keeps ten runs as light as one dashboard chart. */
const COMPARE_MAX_POINTS = 2000;

/** Runs side by side: overlaid metric charts, a diff table, parallel coordinates. */
export class CompareRunsPanel extends Panel<CompareRunsToWebview, CompareRunsFromWebview> {
  constructor(panel: vscode.WebviewPanel, deps: PanelDeps, readonly runIds: string[]) {
    super(panel, 'compareRuns', deps);
  }

  protected async onReady(): Promise<void> {
    const client = await this.deps.client();
    const runs = await Promise.all(this.runIds.map((id) => client.getRun(id)));
    const metricKeys = [...new Set(runs.flatMap(metricKeysOf))].sort();
    this.panel.title = `Compare ${runs.length} runs`;
    this.post({ type: 'init', runs: runs.map(runSummary), metricKeys, maxPoints: COMPARE_MAX_POINTS });
  }

  protected async onMessage(message: CompareRunsFromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'webviewError':
        return;
      case 'fetchSeries': {
        const { runId, key, requestId, range } = message;
        if (!this.runIds.includes(runId)) throw new Error(`Run ${runId} is not part of this comparison.`);
        const points = await fetchSeries(await this.deps.client(), runId, key, range, Math.min(Math.max(2, message.maxPoints), 100_000));
        this.post({ type: 'series', runId, key, requestId, range, points });
        return;
      }
      case 'openRun':
        await vscode.commands.executeCommand('trellis.openRunDashboard', message.runId);
        return;
      default:
        assertNever(message);
    }
  }
}
