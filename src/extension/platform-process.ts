import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { processAlive, readServerFile, type ServerFile } from '../core/server-file';
import { SERVER_NODE_FLAGS } from '../core/server-node-flags';
import { TrellisClient } from '../client/trellis-client';

export interface PlatformProcessOptions {
  extensionPath: string;
  dataDir: string;
  /** Passed to the server as DOCKER_HOST (`trellis.docker.host`); empty keeps the environment's. */
  dockerHost?: string;
  log: (line: string) => void;
}

/**
 * The runtime the server runs on. Desktop VS Code's process.execPath is Electron, which acts as Node with
 * ELECTRON_RUN_AS_NODE=1; code-server's extension host already runs on the system Node.
 */
export function serverRuntime(): { command: string; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  return { command: process.execPath, env };
}

/**
 * The workspace's platform server: reuse a live one announced in `.trellis/server.json`, or spawn one
 * and stop only what we spawned.
 */
export class PlatformProcess {
  private child: ChildProcess | undefined;

  constructor(private readonly options: PlatformProcessOptions) {}

  get dataDir(): string {
    return this.options.dataDir;
  }

  get startedByUs(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /** The live server announced in the data directory, if any answers its health check. */
  async attach(): Promise<ServerFile | undefined> {
    const info = readServerFile(this.options.dataDir);
    if (info && processAlive(info.pid) && (await new TrellisClient(info.url, info.token).health())) return info;
    return undefined;
  }

  /** Attaches to a live server, else spawns one and waits until it announces itself. */
  async start(
    onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
    cancel?: AbortSignal,
    timeoutMs = 20_000,
  ): Promise<{ info: ServerFile; spawned: boolean }> {
    const live = await this.attach();
    if (live) return { info: live, spawned: false };
    const { log, extensionPath, dataDir, dockerHost } = this.options;
    const cli = join(extensionPath, 'dist', 'cli.js');
    const { command, env } = serverRuntime();
    if (dockerHost) env.DOCKER_HOST = dockerHost;
    const args = [...SERVER_NODE_FLAGS, cli, '--data-dir', dataDir, 'server', '--port', '0'];
    log(`starting the platform server: ${command} ${args.join(' ')}`);
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const forward = (d: Buffer) => d.toString().trimEnd().split('\n').forEach((line) => log(`[server] ${line}`));
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('exit', (code, signal) => {
      log(`platform server exited (${signal ?? code})`);
      if (this.child === child) this.child = undefined;
      onExit(code, signal);
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (cancel?.aborted) {
        child.kill('SIGTERM');
        throw new Error('Starting the platform was cancelled.');
      }
      if (child.exitCode !== null) throw new Error(`The platform server exited with code ${child.exitCode}; see the Trellis log for why.`);
      const info = readServerFile(dataDir);
      if (info && info.pid === child.pid) return { info, spawned: true };
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    throw new Error(`The platform server did not start within ${timeoutMs / 1000} s; see the Trellis log.`);
  }

  /** Stops the server only if this window started it; a shared one keeps running for its owner. */
  async stop(): Promise<boolean> {
    const child = this.child;
    if (!child || child.exitCode !== null) return false;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    // A graceful stop drains requests and checkpoints SQLite; after 10 s it is stuck and gets SIGKILL.
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    return true;
  }
}
