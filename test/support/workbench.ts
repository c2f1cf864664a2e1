// A real VS Code workbench for the extension tests: code-server (VS Code 1.100 for the browser) on
// 127.0.0.1 with the extension loaded, driven by Debian's Chromium through playwright-core.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const repoRoot = resolve(__dirname, '../..');
const CHROMIUM = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';

/** Installs code-server on first use (scripts/install-code-server.sh is idempotent) and returns its folder. */
export function codeServerDir(): string {
  const r = spawnSync('bash', [join(repoRoot, 'scripts/install-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/install-code-server.sh failed (exit ${r.status}); see its output above.`);
  return r.stdout.trim().split('\n').pop()!;
}

/** Where a test's screenshots and logs go: `.test-tmp/<suite>/<name>` (TRELLIS_TEST_OUTPUT overrides the root). */
export function outputDir(suite: string, name: string): string {
  const dir = join(process.env.TRELLIS_TEST_OUTPUT ?? join(repoRoot, '.test-tmp'), suite, name.replace(/[^\w.-]+/g, '-'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface WorkbenchOptions {
  /** The folder the workbench opens (the user's workspace). */
  workspace: string;
  /** How the extension is loaded: the repository as a development extension (default), or an installed .vsix. */
  extension?: { kind: 'dev' } | { kind: 'vsix'; path: string };
  /** A built test module whose run() executes inside the extension host (the @vscode/test-electron layout). */
  extensionTestsPath?: string;
  /** Screenshots and the code-server log land here. */
  outDir: string;
  /** Extra environment for code-server and so for the extension host. */
  env?: Record<string, string>;
}

export interface Workbench {
  url: string;
  page: Page;
  /** Saves `<outDir>/<nn>-<name>.png` and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Runs a palette command by its title ("Trellis: Start Platform"). */
  runCommand(title: string): Promise<void>;
  /** The code-server log so far (extension host output included). */
  log(): string;
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

/** Starts code-server in its own process group and Chromium on the workbench; stop() ends both. */
export async function startWorkbench(options: WorkbenchOptions): Promise<Workbench> {
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
  const logPath = join(options.outDir, 'code-server.log');
  const logFd = openSync(logPath, 'w');
  const child: ChildProcess = spawn(
    process.execPath,
    [entry, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened', options.workspace],
    // detached: its own process group, so stop() ends the extension host and its children with it.
    { env, detached: true, stdio: ['ignore', logFd, logFd] },
  );
  const base = `http://127.0.0.1:${port}`;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close().catch(() => {});
    killGroup(child);
    await waitForExit(child, 5000);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${base}/healthz`, child, 30_000);
    const remote = (path: string) => `vscode-remote://127.0.0.1:${port}${path}`;
    const payload: [string, string][] = [];
    if (extension.kind === 'dev') payload.push(['extensionDevelopmentPath', remote(repoRoot)]);
    if (options.extensionTestsPath) payload.push(['extensionTestsPath', remote(options.extensionTestsPath)]);
    const url = `${base}/?folder=${encodeURIComponent(options.workspace)}${payload.length ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    let shots = 0;
    return {
      url,
      page,
      async screenshot(name) {
        const path = join(options.outDir, `${String(++shots).padStart(2, '0')}-${name}.png`);
        await page.screenshot({ path });
        return path;
      },
      async runCommand(title) {
        // Extensions register their commands a few seconds after the workbench appears, and the palette
        // lists what exists when it opens: reopen it until the command is there.
        const input = page.locator('.quick-input-widget .quick-input-box input');
        const row = page.locator(`.quick-input-list .monaco-list-row[aria-label="${title.replace(/"/g, '\\"')}"]`).first();
        const deadline = Date.now() + 30_000;
        for (;;) {
          await page.keyboard.press('F1');
          await input.waitFor();
          await input.fill(`>${title}`);
          try {
            // Click the exact row: Enter could run a different, earlier-highlighted command.
            await row.click({ timeout: 3000 });
            return;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await page.keyboard.press('Escape');
          }
        }
      },
      log: () => readFileSync(logPath, 'utf8'),
      stop,
    };
  } catch (err) {
    const log = readFileSync(logPath, 'utf8');
    await stop();
    throw new Error(`${(err as Error).message}\ncode-server log (last 3000 chars):\n${log.slice(-3000)}`);
  }
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
