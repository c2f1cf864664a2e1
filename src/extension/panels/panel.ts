import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChangeEvent } from '../../core/events';
import type { TrellisClient } from '../../client/trellis-client';
import { VIEW_TYPES, type PanelKind } from '../../protocol/common';

/** What every panel needs from the extension. */
export interface PanelDeps {
  extensionUri: vscode.Uri;
  client: () => Promise<TrellisClient>;
  /** Store changes from the server's event stream (live charts, refreshed tables). */
  changes: vscode.Event<ChangeEvent>;
  log: (line: string) => void;
}

/** Only the built webview bundle and media/ may load into a panel. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableFindWidget: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/**
 * `retain` keeps the page while the panel is hidden: for the one dashboard that follows the runs a user
 * opens, so that coming back to it or giving it the next run never reloads the page (a webview's page
 * load is the slowest part of opening one; ~1 s in code-server, whose webviews share one service worker).
 */
export function createWebviewPanel(kind: PanelKind, title: string, extensionUri: vscode.Uri, retain = false): vscode.WebviewPanel {
  return vscode.window.createWebviewPanel(VIEW_TYPES[kind], title, vscode.ViewColumn.Active, { ...webviewOptions(extensionUri), retainContextWhenHidden: retain });
}

/**
 * The webview bundle and styles, read once per extension host and written into each page: a page then
 * needs no resource request before its script runs (each one is a round trip through the workbench's
 * webview resource loader, and in code-server over its socket).
 */
let pageAssets: { script: string; styles: string } | undefined;
function assets(extensionUri: vscode.Uri, sourceMapUri: string): { script: string; styles: string } {
  if (!pageAssets) {
    const read = (...path: string[]) => readFileSync(join(extensionUri.fsPath, ...path), 'utf8');
    pageAssets = {
      // `</script` cannot end the element early: in JS, `<\/` reads as `</` wherever it may appear.
      script: read('dist', 'webview.js').replace(/<\/script/gi, '<\\/script').replace(/\/\/# sourceMappingURL=\S+\s*$/, ''),
      styles: `${read('dist', 'webview.css')}\n${read('media', 'panels.css')}`.replace(/<\/style/gi, '<\\/style'),
    };
  }
  return { script: `${pageAssets.script}\n//# sourceMappingURL=${sourceMapUri}`, styles: pageAssets.styles };
}

/**
 * The page of every panel: nothing runs but the bundle (by nonce) and our own styles, both inline;
 * `data-panel` tells webview/main.ts which view to start.
 */
export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, kind: PanelKind, title: string): string {
  const nonce = randomBytes(18).toString('base64');
  const uri = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...path)).toString();
  const { script, styles } = assets(extensionUri, uri('dist', 'webview.js.map'));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource}`,
    // The nonce admits one style element: the toolkit's (FAST's) :focus-visible feature test, which reads it from the csp-nonce meta.
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta property="csp-nonce" content="${nonce}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">${styles}</style>
<title>${escape(title)}</title>
</head>
<body data-panel="${kind}">
<main id="root"></main>
<script nonce="${nonce}">${script}</script>
</body>
</html>`;
}

/**
 * One webview panel and its typed conversation. Nothing is posted before the webview says `ready`;
 * a hidden panel loses its page (unless created to retain it: that keeps its charts in memory), so
 * each `ready` — first open, shown again, reloaded — gets the whole picture anew through `onReady`.
 */
export abstract class Panel<ToWebview extends { type: string }, FromWebview extends { type: string }> implements vscode.Disposable {
  private ready = false;
  private disposed = false;
  /** The page outlives hiding (retainContextWhenHidden). */
  protected readonly retained: boolean;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposeEmitter.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    readonly kind: PanelKind,
    protected readonly deps: PanelDeps,
  ) {
    this.retained = panel.options.retainContextWhenHidden === true;
    panel.webview.options = webviewOptions(deps.extensionUri);
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri, kind, panel.title);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => void this.receive(m)),
      panel.onDidChangeViewState(() => {
        // A hidden page is torn down (unless retained); it says `ready` again when shown.
        if (!panel.visible && !this.retained) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** The page listens: what is posted now arrives. */
  protected get isReady(): boolean {
    return this.ready;
  }

  /** Posts to the webview when it listens; dropped otherwise (the next `ready` resends the state). */
  protected post(message: ToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  protected showError(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.deps.log(`${this.kind}: ${message}`);
    // Every contract has { type: 'error'; message }.
    this.post({ type: 'error', message } as unknown as ToWebview);
  }

  /** Sends everything the webview shows; called on each `ready`. */
  protected abstract onReady(): Promise<void>;

  /** One message of the panel's own contract (`ready` and `webviewError` are handled here). */
  protected abstract onMessage(message: FromWebview): Promise<void>;

  private async receive(raw: unknown): Promise<void> {
    if (typeof raw !== 'object' || raw === null || typeof (raw as { type?: unknown }).type !== 'string') {
      this.deps.log(`${this.kind}: ignored a webview message without a type: ${JSON.stringify(raw)}`);
      return;
    }
    const message = raw as { type: string; message?: string };
    try {
      if (message.type === 'ready') {
        this.ready = true;
        await this.onReady();
      } else if (message.type === 'webviewError') {
        this.deps.log(`${this.kind} webview: ${message.message}`);
      } else {
        await this.onMessage(raw as FromWebview);
      }
    } catch (err) {
      this.showError(err);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ready = false;
    this.disposeEmitter.fire();
    this.disposeEmitter.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  protected track(...disposables: vscode.Disposable[]): void {
    this.disposables.push(...disposables);
  }
}
