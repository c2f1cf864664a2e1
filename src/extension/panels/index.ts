/**
 * The webview panels' entry: commands and serializers only. The panels' code loads on first use (a
 * command or a panel restored after a reload), so it costs nothing on the activation path.
 */
import * as vscode from 'vscode';
import type { ChangeEvent } from '../../core/events';
import type { TrellisClient } from '../../client/trellis-client';
import { PANEL_KINDS, VIEW_TYPES } from '../../protocol/common';
import type { PanelManager } from './panel-manager';

export interface PanelOptions {
  /** Store changes from the server's event stream (live charts, refreshed tables). */
  changes: vscode.Event<ChangeEvent>;
  log: vscode.LogOutputChannel;
}

export const PANEL_COMMANDS = {
  openRunDashboard: 'trellis.openRunDashboard',
  keepRunDashboard: 'trellis.keepRunDashboard',
  compareRuns: 'trellis.compareRuns',
  openModelVersions: 'trellis.openModelVersions',
  openLoadTestReport: 'trellis.openLoadTestReport',
  openEndpointMonitor: 'trellis.openEndpointMonitor',
} as const;

export function registerPanels(context: vscode.ExtensionContext, client: () => Promise<TrellisClient>, options: PanelOptions): void {
  let manager: Promise<PanelManager> | undefined;
  const load = (): Promise<PanelManager> =>
    (manager ??= import('./panel-manager.js').then((m) => {
      const created = new m.PanelManager(context.extensionUri, client, options);
      context.subscriptions.push(created);
      return created;
    }));
  const command = (id: string, run: (m: PanelManager, ...args: unknown[]) => Promise<void>) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        await run(await load(), ...args);
      } catch (err) {
        void vscode.window.showErrorMessage(`Trellis: ${(err as Error).message}`);
      }
    });

  context.subscriptions.push(
    command(PANEL_COMMANDS.openRunDashboard, (m, arg) => m.openRunDashboard(arg)),
    command(PANEL_COMMANDS.keepRunDashboard, async (m) => m.keepRunDashboard()),
    // A tree's multi-select passes (clicked item, all selected items).
    command(PANEL_COMMANDS.compareRuns, (m, arg, selected) => m.compareRuns(Array.isArray(selected) && selected.length > 1 ? selected : arg)),
    command(PANEL_COMMANDS.openModelVersions, (m, arg) => m.openModelVersions(arg)),
    command(PANEL_COMMANDS.openLoadTestReport, (m, arg) => m.openLoadTestReport(arg)),
    command(PANEL_COMMANDS.openEndpointMonitor, (m, arg) => m.openEndpointMonitor(arg)),
    ...PANEL_KINDS.map((kind) =>
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPES[kind], {
        deserializeWebviewPanel: async (panel, state: unknown) => (await load()).restore(kind, panel, state),
      }),
    ),
  );
}
