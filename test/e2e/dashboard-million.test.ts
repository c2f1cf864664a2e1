// The run dashboard of a 1,000,000-point metric in a real workbench (code-server + Chromium): the workspace's
// platform data holds the run (logged through the store, 1,000 points a batch), the platform is started from
// the palette, and "Trellis: Open Run Dashboard" opens it. The chart must draw the server's downsampled
// series (its min/max envelope: at most 4,000 points, not a million). How fast is bench/workbench.ts's
// business; this test only prints the measured time. Then the dashboard follows the runs opened: a
// second run shows in the same tab and page, and a dashboard kept open stays on its run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsoleMessage } from 'playwright-core';
import { activeWebview, outputDir, repoRoot, startWorkbench, type Workbench } from '../support/workbench';
import { openStore } from '../../src/core/store';
import type { Metric } from '../../src/core/entities';

const POINTS = 1_000_000;
/** The dashboard's MAX_POINTS (src/extension/panels/run-data.ts): 2,000 buckets, their min and max. */
const MAX_DRAWN = 4000;
const PAINT_LINE = /\[trellis\] first chart paint: (\d+) ms after opening, \d+ ms after navigation \((\d+) points of loss\)/;

/** A finished run `name` with `points` steps of a noisy decaying metric `key`, written straight into the store. */
function seedRun(dataDir: string, name: string, key: string, points: number): string {
  const store = openStore(dataDir);
  try {
    const runId = store.runs.create({ experiment_id: '0', run_name: name }).info.run_id;
    const start = Date.now() - points;
    for (let s0 = 0; s0 < points; s0 += 1000) {
      const metrics: Metric[] = [];
      for (let step = s0; step < Math.min(points, s0 + 1000); step++) metrics.push({ key, value: 2 * Math.exp(-step / 200_000) + 0.1 * Math.sin(step / 97), timestamp: start + step, step });
      store.runs.logBatch(runId, { metrics });
    }
    store.runs.update(runId, { status: 'FINISHED', end_time: Date.now() });
    return runId;
  } finally {
    store.close();
  }
}

let root: string;
let wb: Workbench | undefined;
let runId: string;
const paintLines: string[] = [];

before(async () => {
  const built = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(built.status, 0, `node esbuild.mjs failed:\n${built.stderr}`);
  root = mkdtempSync(join(tmpdir(), 'trellis-e2e-million-'));
  const workspace = join(root, 'workspace');
  mkdirSync(join(workspace, '.trellis'), { recursive: true });
  runId = seedRun(join(workspace, '.trellis'), 'million', 'loss', POINTS);
  seedRun(join(workspace, '.trellis'), 'small', 'acc', 1000);
  wb = await startWorkbench({ workspace, outDir: outputDir('e2e', 'dashboard-million') });
  // The webview logs its first paint to its console; Chromium reports every frame's console to the page.
  wb.page.on('console', (m: ConsoleMessage) => {
    if (PAINT_LINE.test(m.text())) paintLines.push(m.text());
  });
});

after(async () => {
  await wb?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function openRun(name: string): Promise<void> {
  await wb!.runCommand('Trellis: Open Run Dashboard');
  await wb!.page.locator('.quick-input-widget .quick-input-box input').fill(name);
  await wb!.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first().click();
}

test('the dashboard of a 1,000,000-point run draws the downsampled series', { timeout: 60_000 }, async () => {
  const page = wb!.page;
  await wb!.runCommand('Trellis: Start Platform');
  await page.locator('.notifications-toasts .notification-toast', { hasText: /platform running at http:\/\/127\.0\.0\.1:\d+/ }).first().waitFor({ timeout: 30_000 });

  await openRun('million');

  const frame = activeWebview(page);
  const canvas = frame.locator('.chart-card[data-key="loss"] .chart-body canvas').first();
  await canvas.waitFor({ timeout: 30_000 });
  const chart = frame.locator('.chart-card[data-key="loss"] .chart-body[data-first-paint-ms]');
  await chart.waitFor({ timeout: 10_000 });
  await wb!.screenshot('dashboard-million');

  const bodyMs = await frame.locator('body').getAttribute('data-first-paint-ms');
  const chartMs = await chart.getAttribute('data-first-paint-ms');
  assert.match(bodyMs ?? '', /^\d+$/, 'data-first-paint-ms on <body> is a whole number of milliseconds');
  assert.equal(chartMs, bodyMs, 'the chart and <body> carry the same first-paint time');

  // The canvas holds a drawing (opaque pixels), not a blank chart.
  const inked = await canvas.evaluate((c: any) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 1000, `the chart's canvas has ${inked} drawn pixels`);

  // What uPlot was given: the server's envelope of the million points, not the points themselves.
  for (let i = 0; i < 50 && paintLines.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const m = PAINT_LINE.exec(paintLines[0] ?? '');
  assert.ok(m, `the webview logged its first paint (console lines seen: ${paintLines.length})`);
  const drawn = Number(m[2]);
  assert.ok(drawn >= 500 && drawn <= MAX_DRAWN, `the chart drew ${drawn} points (expected the downsampled envelope: 500..${MAX_DRAWN})`);
  assert.equal(Number(m[1]), Number(bodyMs), 'the console line and data-first-paint-ms agree');
  console.log(`run ${runId}: first chart paint ${bodyMs} ms after opening, ${drawn} of ${POINTS.toLocaleString('en-US')} points drawn`);
});

test('the chart controls redraw the chart: log scale, then the wall-time axis, and back', { timeout: 60_000 }, async () => {
  const frame = activeWebview(wb!.page);
  const canvas = frame.locator('.chart-card[data-key="loss"] .chart-body canvas').first();
  const picture = () => canvas.evaluate((c: any) => c.toDataURL() as string);
  const changes = async (act: () => Promise<void>, what: string) => {
    const before = await picture();
    await act();
    for (let i = 0; i < 50 && (await picture()) === before; i++) await new Promise((r) => setTimeout(r, 100));
    assert.notEqual(await picture(), before, `${what} redraws the chart`);
  };
  const logScale = frame.locator('vscode-checkbox', { hasText: 'Log scale' });
  await changes(() => logScale.click(), 'log scale on');
  await changes(() => logScale.click(), 'log scale off');
  await changes(async () => {
    await frame.locator('vscode-dropdown[title="X axis"]').click();
    await frame.locator('vscode-option', { hasText: 'Wall time' }).click();
  }, 'the wall-time axis');
  await changes(async () => {
    await frame.locator('vscode-dropdown[title="X axis"]').click();
    await frame.locator('vscode-option', { hasText: 'Step' }).click();
  }, 'the step axis again');
});

test('the next run opened shows in the same dashboard and page; a kept dashboard stays on its run', { timeout: 60_000 }, async () => {
  const page = wb!.page;
  const frame = activeWebview(page);
  const runTabs = page.locator('.tabs-container .tab', { hasText: /Run: / });
  const pageStarted = () => frame.locator('body').evaluate(() => performance.timeOrigin);
  const before = await pageStarted();

  await openRun('small');
  const acc = frame.locator('.chart-card[data-key="acc"] .chart-body[data-first-paint-ms]');
  await acc.waitFor({ timeout: 30_000 });
  assert.equal(await frame.locator('.chart-card[data-key="loss"]').count(), 0, 'the million run\'s chart is gone');
  assert.equal(await pageStarted(), before, 'the same page showed the second run: no new webview, no page load');
  assert.equal(await runTabs.count(), 1, 'one dashboard tab');
  await runTabs.filter({ hasText: 'Run: small' }).waitFor({ timeout: 10_000 });
  console.log(`run small in the same dashboard: first chart paint ${await acc.getAttribute('data-first-paint-ms')} ms after opening`);
  await wb!.screenshot('dashboard-follows');

  await wb!.runCommand('Trellis: Keep Run Dashboard Open');
  await runTabs.filter({ hasText: 'Run: small (kept)' }).waitFor({ timeout: 10_000 });
  await openRun('million');
  await frame.locator('.chart-card[data-key="loss"] .chart-body[data-first-paint-ms]').waitFor({ timeout: 30_000 });
  assert.equal(await runTabs.count(), 2, 'a kept dashboard stays: the next run opens in a new one');
  assert.notEqual(await pageStarted(), before, 'the new dashboard has its own page');
  await runTabs.filter({ hasText: 'Run: million' }).waitFor({ timeout: 10_000 });
});
