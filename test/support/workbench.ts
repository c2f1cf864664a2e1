// A real VS Code workbench for the extension tests: code-server (test/support/code-server.ts) with the
// extension loaded, driven by Debian's Chromium through playwright-core.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { repoRoot, startCodeServer } from './code-server';

export { codeServerDir, repoRoot } from './code-server';
const CHROMIUM = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';
/** What Chromium needs headless on these machines (no sandbox as root, no GPU, nothing phoning home). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Opens a workbench URL in headless Chromium and waits for the workbench to render. */
export async function openWorkbenchPage(url: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return { browser, page };
  } catch (err) {
    await browser.close().catch(() => {});
    throw err;
  }
}

/** Where a test's screenshots and logs go: `.test-tmp/<suite>/<name>` (TRELLIS_TEST_OUTPUT overrides the root). */
/**
 * The page of the webview panel on screen. Visible only: a run dashboard keeps its page while hidden
 * (retainContextWhenHidden), and its frame stays in the DOM behind the active editor.
 */
export function activeWebview(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready:visible').frameLocator('iframe#active-frame');
}

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

/** Starts code-server in its own process group and Chromium on the workbench; stop() ends both. */
export async function startWorkbench(options: WorkbenchOptions): Promise<Workbench> {
  const server = await startCodeServer({
    workspace: options.workspace,
    extension: options.extension ?? { kind: 'dev' },
    ...(options.extensionTestsPath ? { extensionTestsPath: options.extensionTestsPath } : {}),
    logPath: join(options.outDir, 'code-server.log'),
    ...(options.env ? { env: options.env } : {}),
  });
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close().catch(() => {});
    await server.stop();
  };
  try {
    const opened = await openWorkbenchPage(server.url);
    browser = opened.browser;
    const page = opened.page;
    const url = server.url;
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
        // The row's label is the title, or the title then ", <keybinding>" / ", recently used".
        const quoted = title.replace(/"/g, '\\"');
        const row = page.locator(`.quick-input-list .monaco-list-row[aria-label="${quoted}"], .quick-input-list .monaco-list-row[aria-label^="${quoted}, "]`).first();
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
      log: server.log,
      stop,
    };
  } catch (err) {
    const log = server.log();
    await stop();
    throw new Error(`${(err as Error).message}\ncode-server log (last 3000 chars):\n${log.slice(-3000)}`);
  }
}
