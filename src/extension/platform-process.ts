import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { processAlive, readServerFile, type ServerFile } from '../core/server-file';
import { TrellisClient } from '../client/trellis-client';

/**
 * The workspace's platform server: reuse a live one announced in `.trellis/server.json`, or spawn one
 * and stop only what we spawned. Desktop VS Code runs it on its own runtime (process.execPath with
 * ELECTRON_RUN_AS_NODE=1); code-server's process.execPath is plain node already.
 */
export class PlatformProcess {
  private child: ChildProcess | undefined;

  constructor(
    private readonly extensionPath: string,
    private readonly dataDir: string,
    private readonly log: (line: string) => void,
  ) {}

  get startedByUs(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  async attach(): Promise<ServerFile | undefined> {
    const info = readServerFile(this.dataDir);
    if (info && processAlive(info.pid) && (await new TrellisClient(info.url, info.token).health())) return info;
    return undefined;
  }

  async start(timeoutMs = 20_000): Promise<ServerFile> {
    const live = await this.attach();
    if (live) return live;
    const cli = join(this.extensionPath, 'dist', 'cli.js');
    this.child = spawn(process.execPath, [cli, '--data-dir', this.dataDir, 'server', '--port', '0'], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = this.child;
    child.stdout?.on('data', (d: Buffer) => this.log(d.toString().trimEnd()));
    child.stderr?.on('data', (d: Buffer) => this.log(d.toString().trimEnd()));
    child.on('exit', (code, signal) => this.log(`platform server exited (${signal ?? code})`));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`The platform server exited with code ${child.exitCode}; see the Trellis log.`);
      const info = readServerFile(this.dataDir);
      if (info && info.pid === child.pid) return info;
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
    await exited;
    this.child = undefined;
    return true;
  }
}
