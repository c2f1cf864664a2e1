// `npm start`'s code path without the `code` command: the demo workspace gets a platform with a demo run,
// a registered, served and load-tested version; code-server serves the workbench and the URL is printed.
// The test opens that URL in Chromium, sees Trellis's views filled, then presses Ctrl-C (SIGINT) and
// checks that the script stopped code-server and the platform server it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWorkbenchPage, outputDir, repoRoot } from '../support/workbench';
import { processAlive, readServerFile } from '../../src/core/server-file';

test('npm start opens Trellis on a demo workspace in code-server, prints its URL and stops everything on Ctrl-C', { timeout: 180_000 }, async () => {
  const built = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(built.status, 0, `node esbuild.mjs failed:\n${built.stderr}`);
  const root = mkdtempSync(join(tmpdir(), 'trellis-npm-start-'));
  const workspace = join(root, 'demo');
  const out = outputDir('e2e', 'npm-start');
  // What `npm start` runs after its build; TRELLIS_DEMO_EDITOR takes the code-server path even where `code` exists.
  const script = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.mjs'], {
    cwd: repoRoot,
    env: { ...process.env, TRELLIS_DEMO_WORKSPACE: workspace, TRELLIS_DEMO_EDITOR: 'code-server' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  script.stdout.on('data', (d: Buffer) => (output += d.toString()));
  script.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => script.once('exit', (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within 90 s:\n${output}`)), 90_000);
      script.stdout.on('data', () => {
        const m = /Trellis is open at (http:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      script.once('exit', (code) => reject(new Error(`npm start exited (${code}) before printing a URL:\n${output}`)));
    });
    const platform = readServerFile(join(workspace, '.trellis'));
    assert.ok(platform && processAlive(platform.pid), 'the platform server announced in the demo workspace runs');

    const { browser, page } = await openWorkbenchPage(url);
    try {
      await page.locator('.activitybar .action-item a[aria-label^="Trellis"]').click();
      const row = (view: string, label: string) =>
        page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: view }) }).locator('.monaco-list-row', { hasText: label }).first();
      await row('Experiments', 'demo').waitFor({ timeout: 60_000 });
      await row('Models', 'demo-model').waitFor();
      await page.locator('.part.sidebar .pane-header', { hasText: 'Endpoints' }).click();
      await row('Endpoints', 'demo-model v1').waitFor({ timeout: 15_000 });
      assert.match(await row('Endpoints', 'demo-model v1').innerText(), /ready/);
      await page.screenshot({ path: join(out, 'demo-workspace.png') });
    } finally {
      await browser.close();
    }

    script.kill('SIGINT');
    assert.equal(await exited, 0, `npm start should exit cleanly on Ctrl-C:\n${output}`);
    assert.equal(processAlive(platform.pid), false, 'the platform server it started is stopped');
    await assert.rejects(fetch(new URL(url).origin + '/healthz'), 'code-server no longer answers');
  } finally {
    script.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
