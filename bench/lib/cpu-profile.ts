/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): where the samples fall, by function (self
 * and inclusive time) and by origin (the bundle, node internals, GC, native code such as SQLite).
 *   node --import tsx bench/lib/cpu-profile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Shares are of the busy time: samples outside `(idle)`. */
export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  byOrigin: { origin: string; ms: number; share: number }[];
  self: { fn: string; ms: number; share: number }[];
  inclusive: { fn: string; ms: number; share: number }[];
}

function origin(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'program (native, outside JS)';
  if (url === '') return 'native (bindings: SQLite, JSON, I/O)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist/')) return 'trellis bundle';
  if (url.includes('node_modules')) return 'node_modules';
  return basename(url);
}

export function summarize(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const name = (n: ProfileNode) => {
    const f = n.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : 'native';
    return `${f.functionName || '(anonymous)'} ${where}`;
  };
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  for (const [id, us] of selfUs) if (byId.get(id)!.callFrame.functionName === '(idle)') idle += us;
  const busy = Math.max(1, total - idle);
  const self = new Map<string, number>();
  const origins = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') continue;
    self.set(name(n), (self.get(name(n)) ?? 0) + us);
    const o = origin(n.callFrame.url, n.callFrame.functionName);
    origins.set(o, (origins.get(o) ?? 0) + us);
  }
  // Inclusive: each node's subtree, counted once per function on a path (recursion is not double counted).
  const inclusive = new Map<string, number>();
  const walk = (id: number, onPath: Set<string>): number => {
    const n = byId.get(id)!;
    let us = selfUs.get(id) ?? 0;
    const key = name(n);
    const fresh = !onPath.has(key);
    if (fresh) onPath.add(key);
    for (const c of n.children ?? []) us += walk(c, onPath);
    if (fresh) {
      onPath.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
    return us;
  };
  walk(profile.nodes[0]!.id, new Set());
  const rank = (m: Map<string, number>, k: string) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([x, us]) => ({ [k]: x, ms: us / 1000, share: us / busy }));
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    byOrigin: rank(origins, 'origin') as ProfileSummary['byOrigin'],
    self: rank(self, 'fn') as ProfileSummary['self'],
    inclusive: rank(inclusive, 'fn').filter((e) => !/^\((root|program|idle)\)/.test(String(e.fn))) as ProfileSummary['inclusive'],
  };
}

export function printSummary(title: string, s: ProfileSummary, out: (line: string) => void = console.log): void {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  out(`\n${title}: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (shares below are of the busy time)`);
  out('  by origin:');
  for (const o of s.byOrigin) out(`    ${pct(o.share)}  ${o.origin}`);
  out('  self time:');
  for (const f of s.self) out(`    ${pct(f.share)}  ${f.fn}`);
  out('  inclusive time:');
  for (const f of s.inclusive) out(`    ${pct(f.share)}  ${f.fn}`);
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: cpu-profile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  printSummary(file, summarize(file, Number(process.argv[3] ?? 25)));
}
