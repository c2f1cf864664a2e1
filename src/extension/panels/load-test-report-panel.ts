import * as vscode from 'vscode';
import type { TrellisClient } from '../../client/trellis-client';
import { assertNever } from '../../protocol/common';
import type { BaselineChoice, LoadTestData, LoadTestReportFromWebview, LoadTestReportToWebview } from '../../protocol/load-test-report';
import { Panel, type PanelDeps } from './panel';
import { fetchSeries, runSummary } from './run-data';

/**
 * What src/services/loadtest/record.ts logs, repeated here rather than imported: that module pulls in
 * the HDR histogram library, which the extension bundle need not carry.
 */
export const LOADTEST_EXPERIMENT = 'load-tests';
const PER_SECOND_METRICS = ['rps', 'errors', 'interval_p50_ms', 'interval_p99_ms'];
const THRESHOLD_TAG = 'trellis.threshold.';
/** A test's per-second series is its length in seconds: whole, never downsampled, up to a day. */
const PER_SECOND_MAX_POINTS = 100_000;
const MAX_BASELINE_CHOICES = 100;

/** One recorded load test: throughput and latency over time, latency distribution, errors, verdicts, a baseline. */
export class LoadTestReportPanel extends Panel<LoadTestReportToWebview, LoadTestReportFromWebview> {
  private baselineId: string | undefined;

  constructor(panel: vscode.WebviewPanel, deps: PanelDeps, readonly runId: string) {
    super(panel, 'loadTestReport', deps);
  }

  protected async onReady(): Promise<void> {
    await this.send();
  }

  protected async onMessage(message: LoadTestReportFromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'webviewError':
        return;
      case 'setBaseline':
        if (message.runId === this.runId) throw new Error('A test cannot be its own baseline.');
        this.baselineId = message.runId ?? undefined;
        return this.send();
      case 'openRun':
        await vscode.commands.executeCommand('trellis.openRunDashboard', message.runId);
        return;
      default:
        assertNever(message);
    }
  }

  private async send(): Promise<void> {
    const client = await this.deps.client();
    const [test, baseline, choices] = await Promise.all([
      loadTest(client, this.runId),
      this.baselineId ? loadTest(client, this.baselineId) : Promise.resolve(undefined),
      baselineChoices(client, this.runId),
    ]);
    this.panel.title = `Load test: ${test.run.name}`;
    this.post({ type: 'report', test, ...(baseline ? { baseline } : {}), choices });
  }
}

async function loadTest(client: TrellisClient, runId: string): Promise<LoadTestData> {
  const run = await client.getRun(runId);
  const series: LoadTestData['series'] = {};
  await Promise.all(PER_SECOND_METRICS.map(async (key) => (series[key] = await fetchSeries(client, runId, key, {}, PER_SECOND_MAX_POINTS))));
  const artifact = async (path: string): Promise<string | undefined> => {
    try {
      return new TextDecoder().decode(await client.readArtifact(run.info.artifact_uri, path));
    } catch {
      return undefined; // not recorded (e.g. the artifact write failed): the report shows what exists
    }
  };
  const [hgrm, resultJson] = await Promise.all([artifact('histogram.hgrm'), artifact('result.json')]);
  let errors: Record<string, number> = {};
  try {
    const parsed = resultJson ? (JSON.parse(resultJson) as { errors?: Record<string, number> }) : {};
    errors = parsed.errors ?? {};
  } catch {
    errors = {};
  }
  const verdicts = run.data.tags
    .filter((t) => t.key.startsWith(THRESHOLD_TAG))
    .map((t) => ({ threshold: t.key.slice(THRESHOLD_TAG.length), pass: t.value === 'pass' }));
  return { run: runSummary(run), series, ...(hgrm ? { hgrm } : {}), errors, verdicts };
}

/** Other recorded tests, newest first, those against the same target first. */
async function baselineChoices(client: TrellisClient, runId: string): Promise<BaselineChoice[]> {
  let experimentId: string;
  try {
    experimentId = (await client.getExperimentByName(LOADTEST_EXPERIMENT)).experiment_id;
  } catch {
    return [];
  }
  const runs = (await client.searchRuns({ experimentIds: [experimentId], orderBy: ['start_time DESC'], maxResults: MAX_BASELINE_CHOICES })).items;
  const targetOf = (r: (typeof runs)[number]) => r.data.params.find((p) => p.key === 'target')?.value;
  const own = runs.find((r) => r.info.run_id === runId);
  const choices = runs
    .filter((r) => r.info.run_id !== runId)
    .map((r): BaselineChoice => ({ runId: r.info.run_id, name: r.info.run_name || r.info.run_id, startTime: r.info.start_time, ...(targetOf(r) ? { target: targetOf(r) } : {}) }));
  const sameTarget = own ? targetOf(own) : undefined;
  return [...choices.filter((c) => c.target === sameTarget), ...choices.filter((c) => c.target !== sameTarget)];
}
