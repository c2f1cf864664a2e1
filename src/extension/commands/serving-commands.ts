import * as vscode from 'vscode';
import { join } from 'node:path';
import type { ServedModelView } from '../../client/trellis-client';
import type { Platform } from '../platform';
import type { ModelsNode } from '../trees/models-tree';
import type { ResourceNode } from '../trees/resource-trees';
import { inferUrl, type EndpointsTree } from '../trees/endpoints-tree';
import { runLoadTestProcess, type LoadShape, type LoadTestRequest } from '../loadtest-process';
import { command, confirm, runContributed } from './ui';
import { pickVersion } from './model-commands';

type Resource = Extract<ResourceNode, { kind: 'resource' }>;

/** What a serve command was given: a Models tree version, the model-versions panel's `{modelName, version}`, or a reference. */
function versionRefOf(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg.trim()) return arg.trim();
  if (typeof arg !== 'object' || arg === null) return undefined;
  const node = arg as ModelsNode & { modelName?: unknown; version?: unknown };
  if (node.kind === 'version') return `${node.version.name}/${node.version.version}`;
  if (typeof node.modelName === 'string' && typeof node.version === 'string') return `${node.modelName}/${node.version}`;
  return undefined;
}

/** A load test's shape and gates: given by a caller (tests, other commands) or asked for. */
export interface LoadTestOptions {
  shape: LoadShape;
  duration: string;
  thresholds: string[];
}

const DURATION = /^\d+(\.\d+)?(ms|s|m|h)$/;

async function askLoadTestOptions(target: string): Promise<LoadTestOptions | undefined> {
  const title = `Load Test ${target}`;
  const mode = await vscode.window.showQuickPick(
    [
      { label: 'Constant rate', description: 'open model: requests arrive at a fixed rate, whatever the latency', shape: 'rate' as const },
      { label: 'Fixed connections', description: 'closed model: each connection sends its next request when the last one answered', shape: 'connections' as const },
    ],
    { title: `${title} (1/4): how is the load applied?` },
  );
  if (!mode) return undefined;
  const amount = await vscode.window.showInputBox({
    title: `${title} (2/4)`,
    prompt: mode.shape === 'rate' ? 'Requests per second' : 'Concurrent connections',
    value: mode.shape === 'rate' ? '50' : '8',
    validateInput: (v) => (Number.isFinite(Number(v)) && Number(v) > 0 && (mode.shape === 'rate' || Number.isInteger(Number(v))) ? undefined : mode.shape === 'rate' ? 'A number > 0.' : 'A whole number > 0.'),
  });
  if (!amount) return undefined;
  const duration = await vscode.window.showInputBox({
    title: `${title} (3/4)`,
    prompt: 'How long: e.g. 10s, 2m (at most 1h)',
    value: '10s',
    validateInput: (v) => (DURATION.test(v.trim()) ? undefined : 'A duration such as 500ms, 10s, 2m or 1h.'),
  });
  if (!duration) return undefined;
  const thresholds = await vscode.window.showInputBox({
    title: `${title} (4/4)`,
    prompt: "Pass/fail thresholds, comma-separated (empty for none): p99<50ms, errors<1%, rps>100",
    value: 'p99<100ms, errors<1%',
  });
  if (thresholds === undefined) return undefined;
  return {
    shape: mode.shape === 'rate' ? { kind: 'rate', rps: Number(amount) } : { kind: 'connections', connections: Number(amount) },
    duration: duration.trim(),
    thresholds: thresholds.split(',').map((t) => t.trim()).filter(Boolean),
  };
}

export function servingCommands(platform: Platform, endpoints: EndpointsTree, extensionPath: string): vscode.Disposable[] {
  const client = () => platform.requireClient();
  const cli = join(extensionPath, 'dist', 'cli.js');

  /** Every target a load test or a stop can act on: platform-served versions, then announced servers' models. */
  const targets = async (): Promise<Resource[]> => {
    const roots = (await endpoints.getChildren()).filter((n): n is Resource => n.kind === 'resource');
    return roots.flatMap((n) => (n.contextValue === 'endpoint' ? [n, ...((n.children ?? []) as Resource[])] : [n]));
  };
  const pickTarget = async (title: string, accept: (n: Resource) => boolean): Promise<Resource | undefined> => {
    const choices = (await targets()).filter(accept);
    if (choices.length === 0) throw new Error('Nothing is served. Serve a model version first ("Trellis: Serve Model Version").');
    const pick = await vscode.window.showQuickPick(choices.map((n) => ({ label: n.label, description: n.description, detail: n.tooltip?.split('\n')[0], n })), { title });
    return pick?.n;
  };

  return [
    command('trellis.serveModelVersion', async (arg?: unknown): Promise<ServedModelView | undefined> => {
      const c = client();
      let ref = versionRefOf(arg);
      if (!ref) {
        const v = await pickVersion(c, 'Serve Model Version');
        if (!v) return undefined;
        ref = `${v.name}/${v.version}`;
      }
      const served = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Trellis: loading ${ref} into the platform's model host…` },
        () => c.serveModel(ref),
      );
      endpoints.refresh();
      void vscode.commands.executeCommand('trellis.endpoints.focus');
      void vscode.window
        .showInformationMessage(`Trellis: serving ${served.name} v${served.version} at ${inferUrl(c.url, served)}`, 'Load Test', 'Open Monitor')
        .then((action) => {
          if (action === 'Load Test') void vscode.commands.executeCommand('trellis.loadTestEndpoint', servedTarget(served));
          if (action === 'Open Monitor') void vscode.commands.executeCommand('trellis.openEndpointMonitor');
        });
      return served;
    }),

    command('trellis.stopEndpoint', async (node?: Resource) => {
      const target = node?.kind === 'resource' ? node : await pickTarget('Stop Endpoint', (n) => n.contextValue === 'servedModel' || n.contextValue === 'endpoint');
      if (!target) return false;
      if (target.served) {
        const { name, version } = target.served;
        if (!(await confirm(`Stop serving ${name} v${version}? Requests in flight finish; after that /v2/models/${name} answers 404.`, 'Stop'))) return false;
        await client().stopServedModel(name, version);
      } else if (target.pid !== undefined) {
        if (!(await confirm(`Stop the model server at ${target.label} (trellis serve, pid ${target.pid})?`, 'Stop'))) return false;
        process.kill(target.pid, 'SIGTERM');
      } else {
        throw new Error(`'${target.label}' is a model of a server: stop the server itself.`);
      }
      endpoints.refresh();
      return true;
    }),

    command('trellis.loadTestEndpoint', async (node?: Resource, given?: LoadTestOptions) => {
      const c = client();
      const target =
        node?.kind === 'resource' && (node.served || node.modelRef)
          ? node
          : await pickTarget('Load Test Endpoint: what to test', (n) => n.served !== undefined || n.modelRef !== undefined);
      if (!target) return undefined;
      const options = given ?? (await askLoadTestOptions(target.label));
      if (!options) return undefined;
      let request: LoadTestRequest;
      if (target.served) {
        const { name, version } = target.served;
        const { inputs } = await c.servedModelMetadata(name, version);
        request = { target: { kind: 'url', url: inferUrl(c.url, target.served), inputs }, ...options, name: `${name} v${version} ${describeShape(options.shape)}` };
      } else {
        request = { target: { kind: 'model', ref: target.modelRef! }, ...options, name: `${target.modelRef} ${describeShape(options.shape)}` };
      }
      const outcome = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Trellis: load-testing ${target.label} (${describeShape(options.shape)}, ${options.duration})`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          const totalMs = durationMs(options.duration);
          const started = Date.now();
          let reported = 0;
          const ticker = setInterval(() => {
            const done = Math.min(100, ((Date.now() - started) / totalMs) * 100);
            progress.report({ increment: done - reported, message: done >= 100 ? 'recording…' : `${Math.round((Date.now() - started) / 1000)} s` });
            reported = done;
          }, 500);
          try {
            return await runLoadTestProcess(cli, { dataDir: platform.dataDir, url: c.url }, request, { signal: abort.signal, log: (l) => platform.log.info(l) });
          } finally {
            clearInterval(ticker);
          }
        },
      );
      endpoints.refresh();
      const summary = `${outcome.rps.toFixed(1)} req/s, p99 ${outcome.p99.toFixed(2)} ms`;
      if (outcome.failedThresholds.length) void vscode.window.showWarningMessage(`Trellis: load test failed ${outcome.failedThresholds.join(', ')} (${summary}).`);
      else void vscode.window.showInformationMessage(`Trellis: load test ${outcome.exitCode === 130 ? 'cancelled; what it measured is recorded' : 'passed'} (${summary}).`);
      if (outcome.runId) await runContributed('trellis.openLoadTestReport', outcome.runId);
      return outcome;
    }),
  ];
}

/** A tree-shaped target for a version just served (the notification's Load Test button). */
function servedTarget(served: ServedModelView): Resource {
  return { kind: 'resource', contextValue: 'servedModel', label: `${served.name} v${served.version}`, icon: 'radio-tower', served };
}

const describeShape = (s: LoadShape): string => (s.kind === 'rate' ? `${s.rps} req/s` : `${s.connections} connections`);

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return 10_000;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}
