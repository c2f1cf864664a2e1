/** The webview's side of a panel's contract: typed posting, listening and persisted state. */
import type { CommonFromWebview } from '../src/protocol/common';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host<ToExtension, State> {
  post(message: ToExtension | CommonFromWebview): void;
  /** The state saved before a reload or a restart, if any. */
  restored(): Partial<State> | undefined;
  save(state: State): void;
}

let api: VsCodeApi | undefined;

/**
 * Connects a view: `onMessage` gets the extension's messages; `ready` is posted last, once the view
 * listens, so the extension's first message cannot be lost.
 */
export function connect<ToWebview, ToExtension, State>(onMessage: (message: ToWebview) => void): Host<ToExtension, State> {
  api ??= acquireVsCodeApi();
  const vscode = api;
  const post = (message: ToExtension | CommonFromWebview) => vscode.postMessage(message);
  window.addEventListener('message', (event: MessageEvent) => {
    try {
      onMessage(event.data as ToWebview);
    } catch (err) {
      post({ type: 'webviewError', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
    }
  });
  window.addEventListener('error', (event) => post({ type: 'webviewError', message: String(event.message) }));
  const host: Host<ToExtension, State> = {
    post,
    restored: () => (vscode.getState() ?? undefined) as Partial<State> | undefined,
    save: (state) => vscode.setState(state),
  };
  queueMicrotask(() => post({ type: 'ready' }));
  return host;
}
