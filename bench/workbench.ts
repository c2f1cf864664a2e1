/**
 * Workbench benchmark: the extension's performance targets of issue 6, measured in a real workbench
 * (code-server = VS Code 1.100 for the browser, with the extension loaded from this repository, driven by
 * Debian's Chromium through playwright-core: test/support/workbench.ts).
 *
 *   npm run bench:workbench   (= node esbuild.mjs && node --import tsx bench/workbench.ts)
 *   node --import tsx bench/workbench.ts [--quick]     (dist/ must be built)
 *
 * Setup: a fresh workspace whose .trellis/ holds, written through the store (openStore, runs.logBatch in
 * batches of 1,000), a run with a 1,000,000-point metric `loss` (metric-1m) and a reference run with a
 * 1,000-point one (metric-1k). The workbench opens it; the extension activates (workspaceContains:.trellis);
 * "Trellis: Start Platform" from the palette starts the platform server on that data.
 *
 *   1. First chart paint of the run dashboard: "Trellis: Open Run Dashboard" from the palette, the run
 *      picked in its quick pick (Enter), until the chart is drawn; then "View: Close All Editors". The
 *      session's first webview is the 1M run's (figure 1a); then ROUNDS opens per run, alternating 1M and
 *      1k (figure 1). Figures:
 *        - data-first-paint-ms, which the webview sets on the chart and on <body>: from when the extension
 *          created the panel (Date.now() in the extension host, sent in `init`) to the animation frame after
 *          uPlot first drew (Date.now() in the webview; same machine, same clock). Target for 1M ≤ 500 ms.
 *          The reference is the 1k run, same workbench, same rounds: the ratio 1M / 1k says what the
 *          million points cost over opening a dashboard at all.
 *        - where that time went, per open: panel created → the webview page's navigation starting (the
 *          workbench's webview host), the navigation waiting for the webview service worker (navigation
 *          timing workerStart), the page loaded → the paint (our bundle, `init` with the downsampled series,
 *          uPlot). Every webview but a session's first waits ~1 s for the service worker in code-server
 *          (see figure 1b); figure 1b is figure 1 without that wait (derived).
 *        - wall time at the harness (1w): from pressing Enter on the run in the quick pick to the webview's
 *          first-paint console line arriving here (Chromium's console event: no polling).
 *        - the same first paint when the dashboard already open is given the run (figure 1f): after the
 *          rounds above, ROUNDS × 2 opens alternating 1M and 1k with no editor closed; the dashboard follows
 *          the runs opened (RunDashboardPanel.showRun), so no new webview and no page load come first.
 *      The extension logs the same paint in its Output channel ("first chart paint N ms after opening ...
 *      M points"), read back as a cross-check with the number of points the chart drew (the server's
 *      min/max downsampling: at most 4,000).
 *   2. Activation: the extension's own "activated in N ms" line (performance.now() around activate()),
 *      read from the Trellis output channel's log file under code-server's user-data dir. Target ≤ 50 ms.
 *      No same-run reference exists (nothing else of ours activates): its ratio is value / target.
 *   3. Interactivity after the paint (1M run, every round): a drag-zoom over 10% of the chart's width.
 *      The chart zooms the envelope at once and asks the extension for the detail of that step range;
 *      measured in the webview from the mouse-up to the animation frame after the detail was drawn (the
 *      chart's title is rewritten on every draw: a MutationObserver sees it); the reference is the mouse-up
 *      → the zoomed envelope drawn (the canvas's first clear after it). No target in the issue.
 *
 * Processes outside the benchmark (others on this shared machine) are measured per open from /proc
 * (cores they took, bench/lib/outside-load.ts); opens where they took more than NOISY cores are flagged.
 * Prints each figure beside its target and reference, then a summary table; writes
 * bench/results/workbench.json. Exits 0 even when a target is missed (marked MISS).
 *
 * --quick: 2 rounds per run: a check that the bench works end to end, not figures to quote.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsoleMessage, FrameLocator, Page } from 'playwright-core';
import { activeWebview, outputDir, startWorkbench, type Workbench } from '../test/support/workbench';
import { median, onCleanup, REPO_ROOT, runBenchmark, sleep, table } from './lib/common';
import { OutsideLoad } from './lib/outside-load';
import { codeServerServing, seedRuns, trellisLog, type SeededRun } from './lib/workbench-tools';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 2 : 5;
const BIG_POINTS = 1_000_000;
const SMALL_POINTS = 1_000;
const TARGET_PAINT_MS = 500;
const TARGET_ACTIVATION_MS = 50;
/** Drag-zoom width, as a share of the plot's width. */
const ZOOM_SHARE = 0.1;
/** Cores taken by processes outside the benchmark above which an open is flagged NOISY. */
const NOISY = 0.3;
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PAINT_LINE = /\[trellis\] first chart paint: (\d+) ms after opening, (\d+) ms after navigation \((\d+) points of (.+)\)/;

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtMs = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const fmtNum = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

// ---------------------------------------------------------------------------------------------
// Driving the workbench

const quickPickRow = (page: Page, text: string) => page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text });

/** First-paint console lines of the webviews, as they arrive, stamped on arrival. */
class PaintLines {
  private waiting: ((line: { text: string; at: number }) => void) | undefined;
  private readonly early: { text: string; at: number }[] = [];

  constructor(page: Page) {
    page.on('console', (m: ConsoleMessage) => {
      const at = performance.now();
      if (!PAINT_LINE.test(m.text())) return;
      const line = { text: m.text(), at };
      if (this.waiting) this.waiting(line);
      else this.early.push(line);
    });
  }

  clear(): void {
    this.early.length = 0;
  }

  next(timeoutMs: number): Promise<{ text: string; at: number }> {
    const early = this.early.shift();
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no first-paint console line from the dashboard within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting = (line) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(line);
      };
    });
  }
}

/**
 * How a dashboard opened: `first`, the session's first webview (figure 1a); `fresh`, a new panel after
 * closing all editors (figure 1); `follow`, the open dashboard given the next run (figure 1f: no new page).
 */
type OpenMode = 'first' | 'fresh' | 'follow';

interface Open {
  run: 'metric-1m' | 'metric-1k';
  round: number;
  mode: OpenMode;
  firstPaintMs: number;
  /** The same value as the extension logged it, and the points it says the chart drew. */
  loggedMs?: number;
  points: number;
  sinceNavigationMs: number;
  /**
   * Where the first paint's time went (a new page only): the extension creating the panel → the webview
   * page's navigation starting (the workbench's webview host); the navigation waiting for the webview
   * service worker; the page loaded → the chart painted (our bundle, the init message with the series, uPlot's draw).
   */
  stages?: { panelToPage: number; serviceWorkerWait: number; pageToPaint: number };
  /** Enter in the quick pick → the first-paint console line at the harness. */
  wallMs: number;
  zoom?: Zoom;
  /** Cores taken by processes outside the benchmark while it opened. */
  outside: number;
}

interface Zoom {
  /** Mouse-up → the animation frame after the detail of the zoomed range was drawn, in the webview. */
  repaintMs: number;
  /** Mouse-up → the zoomed envelope (before the detail) was drawn. */
  localMs: number;
}

async function closeEditors(wb: Workbench): Promise<void> {
  await wb.runCommand('View: Close All Editors');
  await wb.page.locator('iframe.webview').first().waitFor({ state: 'detached', timeout: 10_000 });
}

/** Opens `run`'s dashboard from the palette; `opened` is how many times it was opened before (its log lines). */
async function openDashboard(wb: Workbench, lines: PaintLines, run: SeededRun, opened: number, round: number, mode: OpenMode, trellisLogText: () => string): Promise<Open> {
  const page = wb.page;
  if (mode !== 'follow') await closeEditors(wb);
  lines.clear();
  await wb.runCommand('Trellis: Open Run Dashboard');
  await page.locator('.quick-input-widget .quick-input-box input').fill(run.name);
  // The quick pick lists the runs once the extension fetched them; the filter leaves just this one.
  await quickPickRow(page, run.name).first().waitFor();
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
  for (let i = 0; (await rows.count()) !== 1; i++) {
    if (i === 100) throw new Error(`the quick pick still lists ${await rows.count()} rows for '${run.name}'`);
    await sleep(50);
  }
  const outside = new OutsideLoad();
  const t0 = performance.now();
  await page.keyboard.press('Enter');
  const line = await lines.next(30_000);
  const wallMs = line.at - t0;
  const load = outside.read();
  const m = PAINT_LINE.exec(line.text)!;
  const frame = activeWebview(page);
  await frame.locator('.chart-body canvas').first().waitFor({ timeout: 10_000 });
  // The page's navigation is the workbench's fake.html (its webview host writes our HTML into it once loaded).
  const nav = await frame.locator('body').evaluate(() => {
    const e = (globalThis as unknown as PageGlobals).performance.getEntriesByType('navigation')[0]!;
    return { workerStart: e.workerStart, responseEnd: e.responseEnd };
  });
  const attr = Number(await frame.locator('body').getAttribute('data-first-paint-ms'));
  const chartAttr = Number(await frame.locator('.chart-body[data-first-paint-ms]').first().getAttribute('data-first-paint-ms'));
  if (attr !== Number(m[1]) || chartAttr !== attr) throw new Error(`data-first-paint-ms disagrees: <body> ${attr}, chart ${chartAttr}, console ${m[1]}`);
  // The extension's log line arrives through the extension host's message channel, a moment later.
  let loggedMs: number | undefined;
  for (let i = 0; i < 20 && loggedMs === undefined; i++) {
    const logged = [...trellisLogText().matchAll(new RegExp(`run dashboard ${run.runId}: first chart paint (\\d+) ms after opening`, 'g'))];
    if (logged.length > opened) loggedMs = Number(logged[logged.length - 1]![1]);
    else await sleep(100);
  }
  const sinceNavigationMs = Number(m[2]);
  const open: Open = { run: run.name as Open['run'], round, mode, firstPaintMs: attr, points: Number(m[3]), sinceNavigationMs, wallMs, outside: load, ...(loggedMs !== undefined ? { loggedMs } : {}) };
  if (mode !== 'follow') open.stages = { panelToPage: attr - sinceNavigationMs, serviceWorkerWait: nav.workerStart, pageToPaint: sinceNavigationMs - nav.responseEnd };
  if (run.points > SMALL_POINTS && mode === 'fresh') open.zoom = await dragZoom(page, frame);
  return open;
}

/** The few browser globals the in-page probes use (this project compiles without the DOM library). */
interface PageGlobals {
  performance: { now(): number; getEntriesByType(type: 'navigation'): { workerStart: number; responseEnd: number }[] };
  document: { querySelector(selector: string): object | null };
  addEventListener(type: 'mouseup', listener: () => void, options: { capture: boolean; once: boolean }): void;
  requestAnimationFrame(callback: () => void): void;
  MutationObserver: new (callback: (records: unknown, observer: { disconnect(): void }) => void) => { observe(target: object, options: object): void };
  CanvasRenderingContext2D: { prototype: { clearRect(...args: number[]): void } };
  /** Stamps (performance.now()) of a drag-zoom: the mouse-up, the zoomed envelope drawn, the detail drawn. */
  __zoom?: { up: number; local: number; detail: number };
}

/** Drags over ZOOM_SHARE of the plot and times, in the webview, the zoomed envelope and the detail's repaint. */
async function dragZoom(page: Page, frame: FrameLocator): Promise<Zoom> {
  const over = frame.locator('.chart-body .u-over').first();
  const box = await over.boundingBox();
  if (!box) throw new Error('the chart has no plot area to drag on');
  // Stamp the mouse-up (before uPlot's own handler: capture) and the draws after it: the chart's canvas is
  // cleared on each redraw, and its title is rewritten when the view draws new data (the detail).
  await frame.locator('body').evaluate(() => {
    const w = globalThis as unknown as PageGlobals;
    const zoom = (w.__zoom = { up: 0, local: 0, detail: 0 });
    w.addEventListener('mouseup', () => (zoom.up = w.performance.now()), { capture: true, once: true });
    const canvas = w.CanvasRenderingContext2D.prototype;
    const clear = canvas.clearRect;
    canvas.clearRect = function (this: unknown, ...args: number[]) {
      if (zoom.up && !zoom.local) zoom.local = w.performance.now();
      return clear.apply(this, args);
    };
    const title = w.document.querySelector('.chart-card h3')!;
    new w.MutationObserver((_, observer) => {
      if (!zoom.up) return;
      observer.disconnect();
      w.requestAnimationFrame(() => (zoom.detail = w.performance.now()));
    }).observe(title, { childList: true, characterData: true, subtree: true });
  });
  const y = box.y + box.height / 2;
  const x0 = box.x + box.width * 0.45;
  await page.mouse.move(x0, y);
  await page.mouse.down();
  await page.mouse.move(x0 + box.width * ZOOM_SHARE, y, { steps: 5 });
  await page.mouse.up();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const z = await frame.locator('body').evaluate(() => (globalThis as unknown as PageGlobals).__zoom!);
    if (z.detail) return { repaintMs: z.detail - z.up, localMs: z.local - z.up };
    if (Date.now() > deadline) throw new Error(`the chart drew no detail within 10 s of the drag-zoom (mouse-up seen: ${z.up > 0}, zoomed envelope drawn: ${z.local > 0})`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  id: string;
  short: string;
  name: string;
  value: number;
  max: number;
  reference?: number;
  referenceName: string;
  ratio?: number;
  ratioName: string;
  target?: number;
  verdict: 'PASS' | 'MISS' | 'INFO';
  noisy: boolean;
  details: Record<string, string>;
}

const figures: Figure[] = [];

function addFigure(f: Omit<Figure, 'verdict' | 'ratio'>, ok: boolean): void {
  const ratio = f.reference !== undefined ? f.value / f.reference : f.target !== undefined ? f.value / f.target : undefined;
  let verdict: Figure['verdict'] = ok ? 'INFO' : 'MISS';
  if (f.target !== undefined) verdict = ok && f.value <= f.target && f.max <= f.target ? 'PASS' : 'MISS';
  const figure = { ...f, ...(ratio !== undefined ? { ratio } : {}), verdict };
  figures.push(figure);
  console.log(`\n[${f.id}] ${f.name}  — ${verdict}${f.noisy ? ' (NOISY)' : ''}`);
  console.log(`    trellis  : median ${fmtMs(f.value)}, max ${fmtMs(f.max)}`);
  console.log(`    reference: ${f.reference !== undefined ? fmtMs(f.reference) : '-'}  (${f.referenceName})`);
  console.log(`    ratio    : ${ratio !== undefined ? fmtNum(ratio, 3) : '-'}  (${f.ratioName})${f.target !== undefined ? `; target: ≤ ${f.target} ms (median and max)` : ''}`);
  for (const [k, v] of Object.entries(f.details)) console.log(`    ${k.padEnd(9)}: ${v}`);
}

const stats = (xs: number[]) => ({ median: median(xs), max: Math.max(...xs), min: Math.min(...xs) });
const list = (xs: number[]) => xs.map((x) => fmtNum(x)).join(', ');

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js')) || !existsSync(join(REPO_ROOT, 'dist', 'webview.js'))) {
    throw new Error('dist/ is not built: run `npm run bench:workbench` (it builds first) or `node esbuild.mjs`');
  }
  const root = mkdtempSync(join(tmpdir(), 'trellis-bench-workbench-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  const workspace = join(root, 'workspace');
  mkdirSync(join(workspace, '.trellis'), { recursive: true });

  const s0 = performance.now();
  const [big, small] = seedRuns(join(workspace, '.trellis'), 'dashboard-bench', [
    { name: 'metric-1m', points: BIG_POINTS },
    { name: 'metric-1k', points: SMALL_POINTS },
  ]) as [SeededRun, SeededRun];
  const seedSeconds = (performance.now() - s0) / 1000;
  console.log(`seeded ${BIG_POINTS.toLocaleString('en-US')} + ${SMALL_POINTS.toLocaleString('en-US')} points through the store in ${seedSeconds.toFixed(1)} s (${workspace}/.trellis)`);

  const outDir = outputDir('bench', 'workbench');
  const w0 = performance.now();
  const wb = await startWorkbench({ workspace, outDir });
  const server = codeServerServing(workspace);
  // Ctrl-C: code-server runs in its own process group (with the extension host and the platform server).
  onCleanup(() => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  const workbenchSeconds = (performance.now() - w0) / 1000;
  console.log(`workbench up in ${workbenchSeconds.toFixed(1)} s (code-server pid ${server.pid}, user data ${server.userDataDir})`);
  const log = () => trellisLog(server.userDataDir).text;
  const opens: Open[] = [];
  const openedBefore = (run: SeededRun) => opens.filter((o) => o.run === run.name).length;
  let logFile = { path: '', text: '' };
  try {
    const lines = new PaintLines(wb.page);
    await wb.runCommand('Trellis: Start Platform');
    await wb.page.locator('.notifications-toasts .notification-toast', { hasText: /platform running at http:\/\/127\.0\.0\.1:\d+/ }).first().waitFor({ timeout: 30_000 });
    await wb.screenshot('platform-started');

    const report = (o: Open) =>
      console.log(
        `${o.mode === 'first' ? 'first webview of the session' : `round ${o.round}${o.mode === 'follow' ? ', same dashboard' : ''}`} ${o.run}: first paint ${o.firstPaintMs} ms (extension log ${o.loggedMs ?? '-'} ms` +
          `${o.stages ? `; panel → page ${fmtNum(o.stages.panelToPage)}, service worker ${fmtNum(o.stages.serviceWorkerWait)}, page → paint ${fmtNum(o.stages.pageToPaint)}` : ''}), ` +
          `wall ${fmtMs(o.wallMs)}, ${o.points} points drawn${o.zoom ? `; drag-zoom → detail drawn ${fmtMs(o.zoom.repaintMs)} (envelope zoomed ${fmtMs(o.zoom.localMs)})` : ''}; ` +
          `others ${fmtNum(o.outside, 2)} cores`,
      );
    // The session's first webview is the only one whose page does not wait for code-server's webview
    // service worker to be replaced (see figure 1b): it is the 1M run's, reported on its own.
    opens.push(await openDashboard(wb, lines, big, 0, 0, 'first', log));
    report(opens[0]!);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const run of round % 2 ? [big, small] : [small, big]) {
        const o = await openDashboard(wb, lines, run, openedBefore(run), round, 'fresh', log);
        opens.push(o);
        report(o);
        if (round === 1) await wb.screenshot(`dashboard-${o.run}`);
      }
    }
    // Figure 1f: the dashboard the last round left open is given the other run, then the other again...
    // (it follows the runs opened), with no editor closed in between: the same page draws each.
    let shown = opens[opens.length - 1]!.run;
    for (let round = 1; round <= ROUNDS; round++) {
      for (let i = 0; i < 2; i++) {
        const run = shown === big.name ? small : big;
        const o = await openDashboard(wb, lines, run, openedBefore(run), round, 'follow', log);
        opens.push(o);
        report(o);
        shown = o.run;
      }
    }
  } finally {
    logFile = trellisLog(server.userDataDir);
    await wb.stop();
  }

  // 2. Activation, from the log.
  const activation = [...logFile.text.matchAll(/activated in ([\d.]+) ms/g)].map((x) => Number(x[1]));

  const measured = (name: Open['run'], mode: OpenMode = 'fresh') => opens.filter((o) => o.mode === mode && o.run === name);
  const b = measured('metric-1m');
  const s = measured('metric-1k');
  const stage = (o: Open, k: keyof NonNullable<Open['stages']>) => o.stages![k];
  const noisy = (xs: Open[]) => xs.filter((o) => o.outside > NOISY).length > xs.length / 2;
  const bp = stats(b.map((o) => o.firstPaintMs));
  const sp = stats(s.map((o) => o.firstPaintMs));
  addFigure(
    {
      id: '1', short: 'first paint, 1M points', name: `run dashboard: first chart paint of a ${BIG_POINTS.toLocaleString('en-US')}-point metric after opening (data-first-paint-ms)`,
      value: bp.median, max: bp.max, reference: sp.median, referenceName: `the same for a ${SMALL_POINTS.toLocaleString('en-US')}-point metric, same workbench, alternating opens`,
      ratioName: '1M / 1k, medians', target: TARGET_PAINT_MS, noisy: noisy(b),
      details: {
        '1M runs': `${list(b.map((o) => o.firstPaintMs))} ms; points drawn ${[...new Set(b.map((o) => o.points))].join('/')}`,
        '1k runs': `${list(s.map((o) => o.firstPaintMs))} ms (median ${fmtMs(sp.median)}, max ${fmtMs(sp.max)}); points drawn ${[...new Set(s.map((o) => o.points))].join('/')}`,
        'ext. log': `1M ${list(b.map((o) => o.loggedMs ?? NaN))} ms; 1k ${list(s.map((o) => o.loggedMs ?? NaN))} ms ("first chart paint N ms after opening" in the Trellis output channel)`,
        stages: `medians, 1M: panel → page ${fmtMs(median(b.map((o) => stage(o, 'panelToPage'))))}, service worker ${fmtMs(median(b.map((o) => stage(o, 'serviceWorkerWait'))))}, page → paint ${fmtMs(median(b.map((o) => stage(o, 'pageToPaint'))))}; 1k: ${fmtMs(median(s.map((o) => stage(o, 'panelToPage'))))}, ${fmtMs(median(s.map((o) => stage(o, 'serviceWorkerWait'))))}, ${fmtMs(median(s.map((o) => stage(o, 'pageToPaint'))))}`,
        others: `1M ${list(b.map((o) => o.outside * 100))}; 1k ${list(s.map((o) => o.outside * 100))} (% of a core taken outside the benchmark per open)`,
      },
    },
    b.length === ROUNDS && b.every((o) => o.points <= 4000),
  );
  const cold = opens[0]!;
  addFigure(
    {
      id: '1a', short: 'first paint, 1M, 1st webview', name: `the same for the session's first webview (no service-worker replacement; 1M run, once per session)`,
      value: cold.firstPaintMs, max: cold.firstPaintMs, reference: median(b.map((o) => o.firstPaintMs)), referenceName: 'figure 1: later opens of the same run, same session', ratioName: 'first webview / later opens',
      target: TARGET_PAINT_MS, noisy: cold.outside > NOISY,
      details: { stages: `panel → page ${fmtMs(stage(cold, 'panelToPage'))}, service worker ${fmtMs(stage(cold, 'serviceWorkerWait'))}, page → paint ${fmtMs(stage(cold, 'pageToPaint'))}; ${cold.points} points drawn; wall ${fmtMs(cold.wallMs)}` },
    },
    cold.points <= 4000,
  );
  // Every webview but a session's first waits about a second before its page even starts loading: code-server
  // serves all webviews from one origin, and each new one registers the webview service worker under its own
  // script URL, replacing the last (VS Code's webview pre/index.html; desktop VS Code gives each webview its own
  // origin). That wait is the workbench's, not the extension's: this is figure 1 without it.
  const lessSw = (o: Open) => o.firstPaintMs - stage(o, 'serviceWorkerWait');
  const bl = stats(b.map(lessSw));
  const sl = stats(s.map(lessSw));
  addFigure(
    {
      id: '1b', short: 'first paint − SW wait, 1M', name: 'figure 1 less the page\'s wait for the webview service worker (derived: the extension\'s and the webview\'s share)',
      value: bl.median, max: bl.max, reference: sl.median, referenceName: 'the same for the 1k run', ratioName: '1M / 1k, medians', noisy: noisy(b),
      details: {
        '1M runs': `${list(b.map(lessSw))} ms; against the ${TARGET_PAINT_MS} ms target: median ${fmtNum(bl.median / TARGET_PAINT_MS, 2)}, max ${fmtNum(bl.max / TARGET_PAINT_MS, 2)} of it`,
        '1k runs': `${list(s.map(lessSw))} ms`,
        'sw wait': `1M ${list(b.map((o) => stage(o, 'serviceWorkerWait')))} ms; 1k ${list(s.map((o) => stage(o, 'serviceWorkerWait')))} ms (navigation timing workerStart of the webview page)`,
      },
    },
    true,
  );
  const fb = measured('metric-1m', 'follow');
  const fs = measured('metric-1k', 'follow');
  const fbp = stats(fb.map((o) => o.firstPaintMs));
  addFigure(
    {
      id: '1f', short: 'first paint, 1M, same dashboard', name: `the same when the open dashboard is given the ${BIG_POINTS.toLocaleString('en-US')}-point run (it follows the runs opened: no new webview, no page load)`,
      value: fbp.median, max: fbp.max, reference: median(fs.map((o) => o.firstPaintMs)), referenceName: 'the same for the 1k run, alternating in the same dashboard', ratioName: '1M / 1k, medians',
      target: TARGET_PAINT_MS, noisy: noisy(fb),
      details: { '1M runs': `${list(fb.map((o) => o.firstPaintMs))} ms; points drawn ${[...new Set(fb.map((o) => o.points))].join('/')}`, '1k runs': `${list(fs.map((o) => o.firstPaintMs))} ms` },
    },
    fb.length === ROUNDS && fb.every((o) => o.points <= 4000),
  );
  const bw = stats(b.map((o) => o.wallMs));
  const sw = stats(s.map((o) => o.wallMs));
  addFigure(
    {
      id: '1w', short: 'wall, Enter → paint, 1M', name: 'harness wall time: Enter on the run in the quick pick → the webview\'s first-paint console line, 1M run',
      value: bw.median, max: bw.max, reference: sw.median, referenceName: 'the same for the 1k run, same workbench', ratioName: '1M / 1k, medians', noisy: noisy(b),
      details: { '1M runs': `${list(b.map((o) => o.wallMs))} ms`, '1k runs': `${list(s.map((o) => o.wallMs))} ms (max ${fmtMs(sw.max)})` },
    },
    true,
  );
  addFigure(
    {
      id: '2', short: 'activation', name: 'extension activation: "activated in N ms" (performance.now() around activate()) in the Trellis output channel',
      value: activation[0] ?? NaN, max: Math.max(...activation), referenceName: 'none in the same run (no other Trellis activation path)', ratioName: 'value / target', target: TARGET_ACTIVATION_MS, noisy: false,
      details: { log: `${logFile.path || '(no Trellis.log found)'}: ${activation.length} activation line(s): ${activation.join(', ')} ms` },
    },
    activation.length > 0,
  );
  const zooms = b.map((o) => o.zoom!).filter(Boolean);
  const zr = stats(zooms.map((z) => z.repaintMs));
  addFigure(
    {
      id: '3', short: 'drag-zoom → detail, 1M', name: `1M chart after the paint: drag-zoom over ${ZOOM_SHARE * 100}% of the width → the detail of that range drawn (webview mouse-up → frame after the draw)`,
      value: zr.median, max: zr.max, reference: median(zooms.map((z) => z.localMs)), referenceName: 'mouse-up → the zoomed envelope drawn (no round trip), same drags', ratioName: 'detail / envelope, medians', noisy: noisy(b),
      details: { drags: `${list(zooms.map((z) => z.repaintMs))} ms (envelope ${list(zooms.map((z) => z.localMs))} ms)` },
    },
    zooms.length === b.length,
  );

  console.log('\nSummary');
  console.log(
    table(
      ['#', 'figure', 'median', 'max', 'reference', 'ratio', 'target', 'noise', 'verdict'],
      figures.map((f) => [f.id, f.short, fmtMs(f.value), fmtMs(f.max), fmtMs(f.reference), f.ratio !== undefined ? fmtNum(f.ratio, 2) : '-', f.target !== undefined ? `≤ ${f.target} ms` : '-', f.noisy ? 'NOISY' : 'quiet', f.verdict]),
      2,
    ),
  );
  const misses = figures.filter((f) => f.verdict === 'MISS').map((f) => f.id);
  console.log(misses.length ? `\nMISS: figure(s) ${misses.join(', ')}` : '\nAll targets met.');
  if (figures.some((f) => f.noisy)) console.log(`NOISY: processes outside the benchmark took more than ${NOISY} of a core during most opens: times are inflated; rerun on a quiet machine.`);
  if (QUICK) console.log('--quick: few rounds: a check that the bench works, not figures to quote.');

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'workbench.json');
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'workbench', date: new Date().toISOString(), quick: QUICK, cpu: cpus()[0]?.model, cores: cpus().length, loadavg: loadavg(),
        versions: { node: process.version, codeServer: '4.100.3 (VS Code 1.100.3)' },
        settings: { rounds: ROUNDS, bigPoints: BIG_POINTS, smallPoints: SMALL_POINTS, zoomShare: ZOOM_SHARE, noisy: NOISY, targets: { firstPaintMs: TARGET_PAINT_MS, activationMs: TARGET_ACTIVATION_MS } },
        seconds: (Date.now() - started) / 1000, seedSeconds, workbenchSeconds, screenshots: outDir, figures, opens,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\n${opens.length} opens in ${((Date.now() - started) / 1000).toFixed(0)} s; written to ${out}`);
}

runBenchmark(main);
