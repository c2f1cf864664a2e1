import * as vscode from 'vscode';
import type { JobView } from '../services/jobs/job-records';
import type { Platform, PlatformState } from './platform';

/** The status bar item: platform state, port and active jobs; a click opens the platform menu. */
export class PlatformStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('trellis.platform', vscode.StatusBarAlignment.Left, 10);
  private readonly subscriptions: vscode.Disposable[] = [];
  private activeJobs: number | undefined;

  constructor(private readonly platform: Platform) {
    this.item.name = 'Trellis Platform';
    this.item.command = 'trellis.platformMenu';
    this.subscriptions.push(
      platform.onDidChangeState(() => {
        this.activeJobs = undefined;
        this.render();
        void this.refreshJobs();
      }),
      // A job is a run: its start and end arrive as run events.
      platform.onDidChange((e) => {
        if (e.type.startsWith('run.')) void this.refreshJobs();
      }),
    );
    this.render();
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }

  private render(): void {
    const s: PlatformState = this.platform.state;
    switch (s.kind) {
      case 'stopped':
        this.item.text = '$(circle-outline) Trellis';
        this.item.tooltip = 'Trellis platform: not running. Click for the platform menu.';
        break;
      case 'starting':
        this.item.text = '$(loading~spin) Trellis';
        this.item.tooltip = 'Trellis platform: starting…';
        break;
      case 'running': {
        const port = new URL(s.url).port;
        const jobs = this.activeJobs ? ` $(run-all) ${this.activeJobs}` : '';
        this.item.text = `$(pass-filled) Trellis :${port}${jobs}`;
        const owner = s.shared ? 'shared server (trellis.server.url)' : s.owned ? 'started by this window' : 'started elsewhere; this window attached';
        this.item.tooltip = `Trellis platform at ${s.url} (${owner})${this.activeJobs !== undefined ? `, ${this.activeJobs} active jobs` : ''}. MLFLOW_TRACKING_URI=${s.url}`;
        break;
      }
      case 'failed':
        this.item.text = '$(error) Trellis';
        this.item.tooltip = `Trellis platform failed: ${s.message}`;
        break;
    }
  }

  /** Active (running or scheduled) training jobs; hidden on a server without the jobs API. */
  private async refreshJobs(): Promise<void> {
    const client = this.platform.client;
    if (!client) return;
    try {
      const reply = await client.optionalListing<{ jobs?: JobView[] }>('/api/trellis/jobs');
      this.activeJobs = reply?.jobs?.filter((j) => j.status === 'RUNNING' || j.status === 'SCHEDULED').length;
    } catch {
      this.activeJobs = undefined;
    }
    this.render();
  }
}

/** The menu behind the status bar item. */
export async function showPlatformMenu(platform: Platform): Promise<void> {
  const running = platform.state.kind === 'running';
  const items: (vscode.QuickPickItem & { command: string })[] = [
    ...(running
      ? [
          { label: '$(debug-restart) Restart Platform', command: 'trellis.restartPlatform' },
          { label: '$(debug-stop) Stop Platform', command: 'trellis.stopPlatform' },
        ]
      : [{ label: '$(play) Start Platform', command: 'trellis.startPlatform' }]),
    { label: '$(output) Open Log', command: 'trellis.showPlatformLog' },
    { label: '$(checklist) Doctor', description: 'check Docker, GPUs, clusters and the server', command: 'trellis.doctor' },
    { label: '$(gear) Settings', command: 'trellis.openSettings' },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'Trellis Platform', placeHolder: running && platform.state.kind === 'running' ? platform.state.url : 'not running' });
  if (pick) await vscode.commands.executeCommand(pick.command);
}
