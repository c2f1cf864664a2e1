import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `.trellis/server.json`: how the CLI and the extension find the workspace's running server. */
export interface ServerFile {
  pid: number;
  url: string;
  token: string;
  version: string;
}

export const serverFilePath = (dataDir: string): string => join(dataDir, 'server.json');

/** Written atomically with mode 0600: the token in it guards the server. */
export function writeServerFile(dataDir: string, info: ServerFile): void {
  const path = serverFilePath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function readServerFile(dataDir: string): ServerFile | undefined {
  try {
    return JSON.parse(readFileSync(serverFilePath(dataDir), 'utf8')) as ServerFile;
  } catch {
    return undefined;
  }
}

/** Removes the file only if it still describes this process (a newer server may have replaced it). */
export function removeServerFile(dataDir: string, pid: number): void {
  if (readServerFile(dataDir)?.pid === pid) rmSync(serverFilePath(dataDir), { force: true });
}

/** True when a process with this pid exists (signal 0 checks without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
