import * as vscode from 'vscode';
import type { ChangeEvent } from '../../core/events';
import type { Platform } from '../platform';

/** How long a burst of store changes is gathered before a view redraws once. */
const DEBOUNCE_MS = 250;

/**
 * A tree whose data comes from the platform server: it redraws when the platform connects or stops and,
 * debounced, when the server's event stream reports a change this tree shows.
 */
export abstract class RefreshingTree<T> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<T | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  protected readonly subscriptions: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(protected readonly platform: Platform) {
    this.subscriptions.push(
      platform.onDidChangeState(() => this.refresh()),
      platform.onDidChange((e) => {
        // store.changed: another process wrote, what is unknown: every view re-reads (debounced).
        if (e.type === 'store.changed' || this.affectedBy(e)) this.scheduleRefresh();
      }),
    );
  }

  /** Whether a store change can alter what this tree shows. */
  protected abstract affectedBy(event: ChangeEvent): boolean;
  abstract getTreeItem(element: T): vscode.TreeItem;
  abstract getChildren(element?: T): vscode.ProviderResult<T[]>;

  refresh(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.emitter.fire();
  }

  private scheduleRefresh(): void {
    this.timer ??= setTimeout(() => this.refresh(), DEBOUNCE_MS);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.emitter.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

/** A row that says why a list is empty or failed, instead of an empty tree. */
export function messageItem(label: string, icon = 'info'): vscode.TreeItem {
  const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
  item.iconPath = new vscode.ThemeIcon(icon);
  item.contextValue = 'message';
  return item;
}
