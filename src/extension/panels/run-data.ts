/**
 * From the client's MLflow-shaped replies to the panels' contracts. No `vscode` here: what a panel
 * shows is decided by plain functions.
 */
import type { Run } from '../../core/entities';
import type { TrellisClient } from '../../client/trellis-client';
import type { RunSummary, SeriesPoints, StepRange } from '../../protocol/common';

/** Buckets of a chart's envelope: about one per horizontal pixel of a wide chart, two points (min, max) each. */
export const ENVELOPE_BUCKETS = 2000;
export const MAX_POINTS = ENVELOPE_BUCKETS * 2;

export function runSummary(run: Run): RunSummary {
  const nameTag = run.data.tags.find((t) => t.key === 'mlflow.runName')?.value;
  return {
    runId: run.info.run_id,
    name: run.info.run_name || nameTag || run.info.run_id,
    experimentId: run.info.experiment_id,
    status: run.info.status,
    startTime: run.info.start_time,
    ...(run.info.end_time ? { endTime: run.info.end_time } : {}),
    params: [...run.data.params].sort((a, b) => a.key.localeCompare(b.key)),
    tags: run.data.tags.filter((t) => !t.key.startsWith('mlflow.')).sort((a, b) => a.key.localeCompare(b.key)),
    latest: run.data.metrics.map(({ key, value, step, timestamp }) => ({ key, value, step, timestamp })),
  };
}

export const metricKeysOf = (run: Run): string[] => [...new Set(run.data.metrics.map((m) => m.key))].sort();

/** One metric over a step range, downsampled by the server (min/max envelope), column-wise. */
export async function fetchSeries(client: TrellisClient, runId: string, key: string, range: StepRange, maxPoints: number): Promise<SeriesPoints> {
  const points = await client.downsampleMetric(runId, key, { ...range, maxPoints });
  return {
    steps: points.map((p) => p.step),
    timestamps: points.map((p) => p.timestamp),
    values: points.map((p) => (typeof p.value === 'number' && Number.isFinite(p.value) ? p.value : null)),
  };
}
