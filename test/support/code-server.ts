// code-server (VS Code 1.100 for the browser) on 127.0.0.1 with Trellis loaded: shared by the e2e
// workbench (test/support/workbench.ts, which adds Chromium) and `npm start` (scripts/demo.mjs).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '../..');

/** Installs code-server on first use (scripts/install-code-server.sh is idempotent) and returns its folder. */
export function codeServerDir(): string {
  const r = spawnSync('bash', [join(repoRoot, 'scripts/install-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/install-code-server.sh failed (exit ${r.status}); see its output above.`);
  return r.stdout.trim().split('\n').pop()!;
}

export interface CodeServerOptions {
  /** The folder the workbench opens (the user's workspace). */
  workspace: string;
  /** How the extension is loaded: the repository as a development extension (default), or an installed .vsix. */
  extension?: { kind: 'dev' } | { kind: 'vsix'; path: string };
  /** A built test module whose run() executes inside the extension host (the @vscode/test-electron layout). */
  extensionTestsPath?: string;
  /** code-server's output (extension host included) is written here. */
  logPath: string;
  /** Extra environment for code-server and so for the extension host. */
  env?: Record<string, string>;
}

export interface CodeServer {
  /** The workbench URL: the workspace opened, the extension (and tests) loaded through the URL payload. */
  url: string;
  pid: number;
  log(): string;
  /** Ends code-server's whole process group (the extension host and what it started) and removes its state. */
  stop(): Promise<void>;
}

const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'workbench.tips.enabled': false,
  'security.workspace.trust.enabled': false,
  'window.commandCenter': false,
};

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/** Starts code-server in its own process group and waits until it answers; stop() ends the group. */
export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const codeServer = codeServerDir();
  const entry = join(codeServer, 'out/node/entry.js');
  const root = mkdtempSync(join(tmpdir(), 'trellis-workbench-'));
  const dirs = { userData: join(root, 'user-data'), extensions: join(root, 'extensions'), xdg: join(root, 'xdg') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(join(dirs.userData, 'User/settings.json'), JSON.stringify(QUIET_SETTINGS, null, 2));
  const config = join(root, 'config.yaml');
  writeFileSync(config, 'auth: none\ncert: false\n');
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dirs.xdg, 'config'),
    XDG_DATA_HOME: join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: join(dirs.xdg, 'cache'),
    ...options.env,
  };
  const common = ['--config', config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];

  const extension = options.extension ?? { kind: 'dev' };
  if (extension.kind === 'vsix') {
    const r = spawnSync(process.execPath, [entry, ...common, '--install-extension', extension.path, '--force'], { env, encoding: 'utf8' });
    if (r.status !== 0 || !/was successfully installed/.test(r.stdout)) throw new Error(`installing ${extension.path} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }

  const port = await freePort();
  const logFd = openSync(options.logPath, 'w');
  const child: ChildProcess = spawn(
    process.execPath,
    [entry, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened', options.workspace],
    // detached: its own process group, so stop() ends the extension host and its children with it.
    { env, detached: true, stdio: ['ignore', logFd, logFd] },
  );
  const stop = async () => {
    killGroup(child);
    await waitForExit(child, 5000);
    rmSync(root, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/healthz`, child, 30_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\ncode-server log (last 3000 chars):\n${readFileSync(options.logPath, 'utf8').slice(-3000)}`);
  }
  const remote = (path: string) => `vscode-remote://127.0.0.1:${port}${path}`;
  const payload: [string, string][] = [];
  if (extension.kind === 'dev') payload.push(['extensionDevelopmentPath', remote(repoRoot)]);
  if (options.extensionTestsPath) payload.push(['extensionTestsPath', remote(options.extensionTestsPath)]);
  const url = `${base}/?folder=${encodeURIComponent(options.workspace)}${payload.length ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''}`;
  return { url, pid: child.pid!, log: () => readFileSync(options.logPath, 'utf8'), stop };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

async function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, ms);
  await exited;
  clearTimeout(timer);
}

async function waitForHttp(url: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with code ${child.exitCode} before it answered`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer ${url} within ${ms / 1000} s`);
}
