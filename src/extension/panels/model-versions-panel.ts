import * as vscode from 'vscode';
import type { ModelVersion, Run } from '../../core/entities';
import type { TrellisClient } from '../../client/trellis-client';
import { assertNever, isSystemMetric } from '../../protocol/common';
import type { ModelSignature, ModelVersionsFromWebview, ModelVersionsToWebview, VersionRow } from '../../protocol/model-versions';
import { readOnnxSignature } from './onnx-signature';
import { Panel, type PanelDeps } from './panel';

/** Key metrics shown per version: those most source runs share. */
const KEY_METRICS = 4;
/** Larger ONNX files are not downloaded just to show a signature. */
const MAX_SIGNATURE_BYTES = 256 * 1024 * 1024;
const SERVE_COMMAND = 'trellis.serveModelVersion';

/** A registered model: its versions with aliases, source runs and their key metrics, signatures, actions. */
export class ModelVersionsPanel extends Panel<ModelVersionsToWebview, ModelVersionsFromWebview> {
  private versions: ModelVersion[] = [];
  private runs = new Map<string, Run>();

  constructor(panel: vscode.WebviewPanel, deps: PanelDeps, readonly model: string) {
    super(panel, 'modelVersions', deps);
    this.track(
      deps.changes((e) => {
        const mine = (e.type === 'model.updated' || e.type === 'model_version.created' || e.type === 'model_version.updated' || e.type === 'alias.moved') && e.name === model;
        if (mine) void this.onReady().catch((err) => this.showError(err));
      }),
    );
  }

  protected async onReady(): Promise<void> {
    const client = await this.deps.client();
    const model = await client.getModel(this.model);
    this.versions = (await client.searchVersions(`name = '${this.model.replace(/'/g, "''")}'`)).sort((a, b) => Number(b.version) - Number(a.version));
    const runIds = [...new Set(this.versions.map((v) => v.run_id).filter(Boolean))];
    const runs = await Promise.all(runIds.map((id) => client.getRun(id).catch(() => undefined)));
    this.runs = new Map(runs.filter((r): r is Run => r !== undefined).map((r) => [r.info.run_id, r]));
    const metricKeys = keyMetrics([...this.runs.values()]);
    const rows = this.versions.map((v): VersionRow => {
      const run = this.runs.get(v.run_id);
      const metrics: Record<string, number> = {};
      for (const m of run?.data.metrics ?? []) if (metricKeys.includes(m.key)) metrics[m.key] = m.value;
      return {
        version: v.version,
        aliases: [...v.aliases].sort(),
        status: v.status,
        stage: v.current_stage,
        createdAt: v.creation_timestamp,
        source: v.source,
        description: v.description,
        ...(v.run_id ? { runId: v.run_id } : {}),
        ...(run ? { runName: run.info.run_name, runStatus: run.info.status } : {}),
        metrics,
      };
    });
    const canServe = (await vscode.commands.getCommands(true)).includes(SERVE_COMMAND);
    this.panel.title = `Model: ${model.name}`;
    this.post({ type: 'model', name: model.name, description: model.description, versions: rows, metricKeys, canServe });
  }

  protected async onMessage(message: ModelVersionsFromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'webviewError':
        return;
      case 'selectVersion':
        return this.sendSignature(message.version);
      case 'openRun':
        await vscode.commands.executeCommand('trellis.openRunDashboard', message.runId);
        return;
      case 'setAlias': {
        const alias = await vscode.window.showInputBox({
          title: `Alias for ${this.model} version ${message.version}`,
          prompt: 'An alias names a version (e.g. champion); setting it on this version moves it from any other.',
          validateInput: (v) => (/^[A-Za-z0-9_-]+$/.test(v.trim()) ? undefined : 'Letters, digits, _ and - only.'),
        });
        if (!alias) return;
        await (await this.deps.client()).setAlias(this.model, alias.trim(), message.version);
        return this.onReady();
      }
      case 'removeAlias': {
        const ok = await vscode.window.showWarningMessage(`Remove the alias @${message.alias} from ${this.model}?`, { modal: true }, 'Remove');
        if (ok !== 'Remove') return;
        await (await this.deps.client()).deleteAlias(this.model, message.alias);
        return this.onReady();
      }
      case 'serve':
        if ((await vscode.commands.getCommands(true)).includes(SERVE_COMMAND)) {
          await vscode.commands.executeCommand(SERVE_COMMAND, { modelName: this.model, version: message.version });
        } else {
          void vscode.window.showInformationMessage(`Trellis: serve it from a terminal with 'trellis serve ${this.model}/${message.version}'.`);
        }
        return;
      case 'refresh':
        return this.onReady();
      default:
        assertNever(message);
    }
  }

  private async sendSignature(version: string): Promise<void> {
    const v = this.versions.find((x) => x.version === version);
    if (!v) throw new Error(`${this.model} has no version ${version}.`);
    try {
      const signature = await this.signatureOf(await this.deps.client(), v);
      this.post({ type: 'signature', version, signature });
    } catch (err) {
      this.post({ type: 'signature', version, signature: null, reason: (err as Error).message });
    }
  }

  /** Reads the version's ONNX file (its source, or model.onnx / the one .onnx in its source folder). */
  private async signatureOf(client: TrellisClient, v: ModelVersion): Promise<ModelSignature> {
    const run = v.run_id ? (this.runs.get(v.run_id) ?? (await client.getRun(v.run_id))) : undefined;
    if (!run) throw new Error(`Version ${v.version} has no source run, so its ONNX file cannot be located.`);
    const root = run.info.artifact_uri.replace(/\/+$/, '');
    let rel: string | undefined;
    const runsUri = /^runs:\/+([^/]+)\/?(.*)$/.exec(v.source);
    if (runsUri) rel = runsUri[2] ?? '';
    else if (v.source.startsWith(`${root}/`)) rel = v.source.slice(root.length + 1);
    else if (v.source === root) rel = '';
    if (rel === undefined) throw new Error(`The source ${v.source} is outside the run's artifacts.`);
    rel = rel.replace(/\/+$/, '');
    let file = rel;
    let size: number | undefined;
    if (!rel.toLowerCase().endsWith('.onnx')) {
      const files = (await client.listArtifacts(run.info.run_id, rel || undefined)).files.filter((f) => !f.is_dir && f.path.toLowerCase().endsWith('.onnx'));
      const chosen = files.find((f) => f.path.endsWith('/model.onnx') || f.path === 'model.onnx') ?? (files.length === 1 ? files[0] : undefined);
      if (!chosen) throw new Error(files.length ? `Several .onnx files in ${v.source}; name one model.onnx.` : `No .onnx file in ${v.source}.`);
      file = chosen.path;
      size = chosen.file_size === undefined ? undefined : Number(chosen.file_size);
    }
    if (size !== undefined && size > MAX_SIGNATURE_BYTES) throw new Error(`${file} is ${Math.round(size / 1048576)} MB; the signature is read from files up to 256 MB.`);
    return readOnnxSignature(await client.readArtifact(run.info.artifact_uri, file), file);
  }
}

/** The metrics most source runs logged (model metrics, not system telemetry), at most KEY_METRICS. */
function keyMetrics(runs: Run[]): string[] {
  const counts = new Map<string, number>();
  for (const r of runs) for (const key of new Set(r.data.metrics.map((m) => m.key))) if (!isSystemMetric(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, KEY_METRICS).map(([k]) => k);
}
