import * as vscode from 'vscode';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Platform } from '../platform';
import { serverRuntime } from '../platform-process';
import { settings } from '../settings';
import { showPlatformMenu } from '../status-bar';
import { command } from './ui';

export function platformCommands(platform: Platform, extensionPath: string, refreshAll: () => void): vscode.Disposable[] {
  const start = () =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Trellis: starting the platform…', cancellable: true }, async (_progress, token) => {
      const cancel = new AbortController();
      token.onCancellationRequested(() => cancel.abort());
      const state = await platform.start(cancel.signal);
      if (state.kind === 'running') void vscode.window.showInformationMessage(`Trellis: platform running at ${state.url}${state.owned ? '' : ' (already running; attached)'}.`);
      return state;
    });
  return [
    command('trellis.startPlatform', start),
    command('trellis.stopPlatform', async () => {
      const shared = platform.state.kind === 'running' && !platform.state.owned;
      const stopped = await platform.stop();
      if (!stopped && shared) void vscode.window.showInformationMessage('Trellis: disconnected. This window did not start that server, so it keeps running for whoever did.');
    }),
    command('trellis.restartPlatform', async () => {
      await platform.stop();
      return start();
    }),
    command('trellis.showPlatformLog', () => platform.log.show()),
    command('trellis.platformMenu', () => showPlatformMenu(platform)),
    command('trellis.refresh', refreshAll),
    command('trellis.openSettings', () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:trellis-dev.trellis')),
    command('trellis.doctor', () => runDoctor(platform, extensionPath)),
  ];
}

/**
 * `trellis doctor` (Docker, GPUs, clusters, the server), run as the CLI in its own process: its checks
 * load engine clients the extension host should not carry. Cancelling the notification stops it.
 */
async function runDoctor(platform: Platform, extensionPath: string): Promise<void> {
  const { command: runtime, env } = serverRuntime();
  const { dockerHost } = settings();
  if (dockerHost) env.DOCKER_HOST = dockerHost;
  const output = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Trellis: running doctor…', cancellable: true },
    (_progress, token) =>
      new Promise<{ code: number | null; text: string } | undefined>((resolve, reject) => {
        const child = spawn(runtime, [join(extensionPath, 'dist', 'cli.js'), '--data-dir', platform.dataDir, 'doctor'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => resolve(token.isCancellationRequested ? undefined : { code, text }));
        token.onCancellationRequested(() => child.kill('SIGTERM'));
      }),
  );
  if (!output) return;
  if (/unknown command 'doctor'/.test(output.text)) {
    void vscode.window.showWarningMessage("Trellis: this build's CLI has no 'doctor' command yet.");
    return;
  }
  platform.log.info(`doctor exited with ${output.code}:\n${output.text}`);
  const doc = await vscode.workspace.openTextDocument({ content: output.text, language: 'log' });
  await vscode.window.showTextDocument(doc, { preview: true });
}
