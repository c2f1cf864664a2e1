import * as vscode from 'vscode';
import { join } from 'node:path';
import { PlatformProcess } from './platform-process';

let platform: PlatformProcess | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Trellis', { log: true });
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const dataDir = join(folder ?? context.globalStorageUri.fsPath, vscode.workspace.getConfiguration('trellis').get('dataDir', '.trellis'));
  platform = new PlatformProcess(context.extensionPath, dataDir, (line) => log.info(line));
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  status.command = 'trellis.showPlatformLog';
  const show = (text: string, tooltip: string) => {
    status.text = text;
    status.tooltip = tooltip;
    status.show();
  };
  show('$(circle-outline) Trellis', 'Trellis platform: not running');

  context.subscriptions.push(
    log,
    status,
    vscode.commands.registerCommand('trellis.startPlatform', () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Starting the Trellis platform…' }, async () => {
        try {
          const info = await platform!.start();
          show(`$(pass-filled) Trellis :${new URL(info.url).port}`, `Trellis platform at ${info.url} (MLFLOW_TRACKING_URI)`);
          log.info(`platform at ${info.url}`);
        } catch (err) {
          void vscode.window.showErrorMessage(`Trellis: ${(err as Error).message}`);
        }
      }),
    ),
    vscode.commands.registerCommand('trellis.stopPlatform', async () => {
      const stopped = await platform!.stop();
      if (stopped) show('$(circle-outline) Trellis', 'Trellis platform: stopped');
      else void vscode.window.showInformationMessage('Trellis: this window did not start the platform server, so it leaves it running.');
    }),
    vscode.commands.registerCommand('trellis.showPlatformLog', () => log.show()),
  );
}

export async function deactivate(): Promise<void> {
  await platform?.stop();
}
