import type * as vscode from 'vscode';
import { TrellisClient } from '../../client/trellis-client';
import { assertNever } from '../../protocol/common';
import type { DriftInfo, EndpointMonitorFromWebview, EndpointMonitorToWebview, RouteInfo } from '../../protocol/endpoint-monitor';
import { Panel, type PanelDeps } from './panel';

/** Scrape interval: rates and percentiles are over this window. */
const INTERVAL_MS = 2000;

/**
 * A model server, live. Scrapes its /metrics and serving control API every INTERVAL_MS while the panel is
 * visible (a hidden panel costs the server nothing); the webview derives rates from consecutive scrapes.
 */
export class EndpointMonitorPanel extends Panel<EndpointMonitorToWebview, EndpointMonitorFromWebview> {
  private timer: NodeJS.Timeout | undefined;
  private scraping = false;

  /** `url`: a server `trellis serve` announced; the platform server when absent. */
  constructor(panel: vscode.WebviewPanel, deps: PanelDeps, readonly url?: string) {
    super(panel, 'endpointMonitor', deps);
    this.track(
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.stop();
      }),
      { dispose: () => this.stop() },
    );
  }

  protected async onReady(): Promise<void> {
    const client = await this.target();
    this.panel.title = `Monitor: ${new URL(client.url).host}`;
    this.post({ type: 'target', url: client.url, platform: client === (await this.deps.client()), intervalMs: INTERVAL_MS });
    this.stop();
    await this.scrape();
    this.timer = setInterval(() => void this.scrape(), INTERVAL_MS);
  }

  protected async onMessage(message: EndpointMonitorFromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'webviewError':
      case 'selectModel': // filtered in the webview; the scrape is the same
        return;
      default:
        assertNever(message);
    }
  }

  private async target(): Promise<TrellisClient> {
    const platform = await this.deps.client();
    return this.url && this.url !== platform.url ? new TrellisClient(this.url) : platform;
  }

  private async scrape(): Promise<void> {
    if (this.scraping) return; // a slow server: skip a beat rather than pile up requests
    this.scraping = true;
    try {
      const client = await this.target();
      const [metrics, routes, drift] = await Promise.all([
        client.metricsText(),
        client.optionalListing<{ routes?: RouteInfo[] }>('/api/trellis/serving/routes').catch(() => undefined),
        client.optionalListing<{ models?: DriftInfo[] }>('/api/trellis/serving/drift').catch(() => undefined),
      ]);
      this.post({ type: 'sample', at: Date.now(), metrics, routes: routes ? (routes.routes ?? []) : null, drift: drift ? (drift.models ?? []) : null });
    } catch (err) {
      this.showError(err);
    } finally {
      this.scraping = false;
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
