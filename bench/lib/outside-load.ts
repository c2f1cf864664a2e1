/**
 * How busy the machine was with work that is not the benchmark's: the CPU of every process that is not
 * this one or one of its descendants (code-server, its extension host and the platform server it started,
 * Chromium). On a shared 2-core machine this says whether a figure was taken in quiet.
 *
 * Counted per process rather than as the machine's busy time less ours: processes of ours that lose their
 * parent are reaped by init, whose children's time then jumps by their whole lifetime. So init's reaped
 * children are not counted (others' orphans that exit meanwhile are missed: an undercount).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Proc {
  ppid: number;
  /** Start time in ticks since boot: tells a reused pid from the process seen before. */
  start: number;
  /** Its own CPU plus that of the children it reaped (but for init's: see above). */
  ticks: number;
}

function readProcs(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses) start at field 3.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(name);
      const reaped = pid === 1 ? 0 : Number(f[13]) + Number(f[14]);
      procs.set(pid, { ppid: Number(f[1]), start: Number(f[19]), ticks: Number(f[11]) + Number(f[12]) + reaped });
    } catch {
      // exited while listed
    }
  }
  return procs;
}

/** This process and everything below it. */
function ourPids(procs: Map<number, Proc>): Set<number> {
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!ours.has(pid) && ours.has(p.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  return ours;
}

/** Cores' worth of CPU (1.0 = one full core) that processes outside the benchmark took since construction. */
export class OutsideLoad {
  private readonly before = readProcs();
  private readonly at0 = performance.now();

  read(): number {
    const after = readProcs();
    const ours = ourPids(after);
    let others = 0;
    for (const [pid, now] of after) {
      if (ours.has(pid)) continue;
      const was = this.before.get(pid);
      // A process started meanwhile counts with all its time.
      others += was && was.start === now.start ? Math.max(0, now.ticks - was.ticks) : now.ticks;
    }
    return others / TICKS_PER_S / ((performance.now() - this.at0) / 1000);
  }
}
