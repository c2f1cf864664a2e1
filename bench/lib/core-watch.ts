/**
 * How much of a core other processes took while one pinned process was measured, from /proc/stat and
 * /proc/<pid>/stat: on a machine shared with others, the sign that a figure is NOISY.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { procCpuSeconds } from './common';

let ticks: number | undefined;
/** USER_HZ, the unit of /proc/stat. */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** Seconds a core has spent running tasks (user, nice, system) and stolen by a hypervisor, from /proc/stat. */
export function coreSeconds(core: number): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) throw new Error(`no cpu${core} line in /proc/stat`);
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (f[0]! + f[1]! + f[2]!) / clockTicks(), steal: (f[7] ?? 0) / clockTicks() };
}

/**
 * The share of a core that other processes used while one process (pinned there) was measured: the
 * core's busy time less that process's own CPU time, plus stolen time. Unlike a thread's schedstat wait
 * it is not raised by the process's own threads taking turns (the server's HTTP thread and its
 * inference worker share the core by design). Interrupt time is left out: part of it is the loopback
 * traffic of the test itself.
 */
export class CoreWatch {
  private readonly core0: { busy: number; steal: number };
  private readonly pid0: number;
  private readonly at0 = performance.now();

  constructor(
    private readonly core: number,
    private readonly pid: number,
  ) {
    this.core0 = coreSeconds(core);
    this.pid0 = procCpuSeconds(pid);
  }

  /** { others: share of the core other processes took, own: share the watched process used }. */
  read(): { others: number; own: number } {
    const wall = (performance.now() - this.at0) / 1000;
    const core = coreSeconds(this.core);
    let own = NaN;
    try {
      own = procCpuSeconds(this.pid) - this.pid0;
    } catch {
      /* the process has ended */
    }
    const busy = core.busy - this.core0.busy;
    const steal = core.steal - this.core0.steal;
    return { others: Math.max(0, busy - (Number.isFinite(own) ? own : busy) + steal) / wall, own: own / wall };
  }
}
