import * as vscode from 'vscode';
import type { Run } from '../../core/entities';
import type { TrellisClient } from '../../client/trellis-client';

/** Registers a command whose failures become an error notification rather than a silent rejection. */
export function command<A extends unknown[]>(id: string, handler: (...args: A) => unknown): vscode.Disposable {
  // VS Code passes what the caller gave (a tree node, the selection, or nothing from the palette).
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await handler(...(args as A));
    } catch (err) {
      void vscode.window.showErrorMessage(`Trellis: ${(err as Error).message}`);
      return undefined;
    }
  });
}

/** Asks before something that cannot be undone; true only on an explicit yes. */
export async function confirm(question: string, action: string): Promise<boolean> {
  return (await vscode.window.showWarningMessage(question, { modal: true }, action)) === action;
}

/** Runs a command another part of the extension contributes (the webview panels), saying so if this build lacks it. */
export async function runContributed(id: string, ...args: unknown[]): Promise<unknown> {
  if (!(await vscode.commands.getCommands(true)).includes(id)) {
    void vscode.window.showWarningMessage(`Trellis: this build has no '${id}' command yet.`);
    return undefined;
  }
  return vscode.commands.executeCommand(id, ...args);
}

/** Asks for one run among the newest runs of all experiments. */
export async function pickRun(client: TrellisClient, title: string, canPickMany = false): Promise<Run[] | undefined> {
  const experiments = await client.searchExperiments();
  const names = new Map(experiments.map((e) => [e.experiment_id, e.name]));
  const { items } = await client.searchRuns({ experimentIds: experiments.map((e) => e.experiment_id), orderBy: ['attributes.start_time DESC'], maxResults: 200 });
  if (items.length === 0) throw new Error('There are no runs yet. Log one through the MLflow REST API (MLFLOW_TRACKING_URI) first.');
  const picks = items.map((run) => ({
    label: run.info.run_name || run.info.run_id,
    description: `${names.get(run.info.experiment_id) ?? run.info.experiment_id} · ${run.info.status.toLowerCase()}`,
    detail: run.info.run_id,
    run,
  }));
  if (canPickMany) {
    const chosen = await vscode.window.showQuickPick(picks, { title, canPickMany: true, matchOnDetail: true });
    return chosen?.map((c) => c.run);
  }
  const chosen = await vscode.window.showQuickPick(picks, { title, matchOnDescription: true, matchOnDetail: true });
  return chosen && [chosen.run];
}
