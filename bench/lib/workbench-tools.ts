/**
 * Helpers of the workbench benchmark (bench/workbench.ts): a workspace whose platform data holds long
 * metric series (written through the store), the code-server process behind a workbench (to kill its
 * group on Ctrl-C and to find its logs), and the Trellis output channel's log file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/core/store';
import type { Metric } from '../../src/core/entities';
import { seededRandom } from './common';

export interface SeededRun {
  name: string;
  runId: string;
  key: string;
  points: number;
}

const BATCH = 1000;

/**
 * Logs one run per entry into `<dataDir>` (the workspace's .trellis): `points` steps of one noisy,
 * decaying `loss` curve, 1,000 points per logBatch (the store's write path, as the server uses it).
 */
export function seedRuns(dataDir: string, experiment: string, runs: { name: string; points: number }[]): SeededRun[] {
  const store = openStore(dataDir);
  try {
    const experimentId = store.experiments.create(experiment);
    const rand = seededRandom(7);
    const start = Date.now() - 3_600_000;
    return runs.map(({ name, points }) => {
      const runId = store.runs.create({ experiment_id: experimentId, run_name: name, start_time: start }).info.run_id;
      for (let s0 = 0; s0 < points; s0 += BATCH) {
        const metrics: Metric[] = [];
        for (let step = s0; step < Math.min(points, s0 + BATCH); step++) {
          const value = 2.3 * Math.exp(-step / (points / 5)) + 0.05 + 0.03 * Math.sin(step / 37) + 0.05 * rand();
          metrics.push({ key: 'loss', value, timestamp: start + Math.floor((step * 3_000_000) / points), step });
        }
        store.runs.logBatch(runId, { metrics });
      }
      store.runs.update(runId, { status: 'FINISHED', end_time: start + 3_000_000 });
      return { name, runId, key: 'loss', points };
    });
  } finally {
    store.close();
  }
}

export interface CodeServerProcess {
  /** Its pid, which is also its process group (code-server is started detached). */
  pid: number;
  userDataDir: string;
}

/**
 * The code-server process serving `workspace`: the one whose command line ends with that folder and
 * names a --user-data-dir (test/support/code-server.ts starts it so; the workspace is a fresh temp dir).
 */
export function codeServerServing(workspace: string): CodeServerProcess {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    const at = args.indexOf('--user-data-dir');
    if (at >= 0 && args[args.length - 1] === workspace && !args.includes('--install-extension')) return { pid: Number(name), userDataDir: args[at + 1]! };
  }
  throw new Error(`no code-server process serves ${workspace}`);
}

/** Files under `dir` (recursively) whose name passes `match`, newest first. */
function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const found: { path: string; mtime: number }[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (match(e.name)) found.push({ path, mtime: statSync(path).mtimeMs });
    }
  };
  walk(dir);
  return found.sort((a, b) => b.mtime - a.mtime).map((f) => f.path);
}

/** The Trellis output channel (a LogOutputChannel) as written to its log file under the user-data dir, or '' while there is none. */
export function trellisLog(userDataDir: string): { path: string; text: string } {
  const [path] = findFiles(join(userDataDir, 'logs'), (n) => /Trellis\.log$/.test(n));
  return path ? { path, text: readFileSync(path, 'utf8') } : { path: '', text: '' };
}
