import * as vscode from 'vscode';
import { isAbsolute, join } from 'node:path';

/** A cluster a model version can be deployed to (`trellis.clusters`). */
export interface ClusterSetting {
  name: string;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  /** Registry the model image is pushed to and the cluster pulls from. */
  registry?: string;
  pullSecret?: string;
  replicas?: number;
  gpusPerReplica?: number;
}

/** The `trellis.*` settings, read fresh each time so a change applies without a reload. */
export function settings() {
  const c = vscode.workspace.getConfiguration('trellis');
  return {
    dataDir: c.get<string>('dataDir', '.trellis'),
    serverUrl: c.get<string>('server.url', '').trim().replace(/\/$/, ''),
    dockerHost: c.get<string>('docker.host', '').trim(),
    gpus: c.get<string>('gpus', ''),
    clusters: c.get<ClusterSetting[]>('clusters', []),
  };
}

/** The data directory: `trellis.dataDir` resolved against the first workspace folder (or global storage without one). */
export function resolveDataDir(globalStorage: string): string {
  const dir = settings().dataDir;
  if (isAbsolute(dir)) return dir;
  return join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? globalStorage, dir);
}
