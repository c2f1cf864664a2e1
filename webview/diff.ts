/** The compare table: params, latest metrics and tags of several runs, row by row, with what differs marked. */
import type { RunSummary } from '../src/protocol/common';

export type DiffSection = 'param' | 'metric' | 'tag';

export interface DiffRow {
  section: DiffSection;
  key: string;
  /** One value per run, in the runs' order; null where a run does not have the key. */
  values: (string | null)[];
  /** Not every run has the same value (a missing value differs from any present one). */
  differs: boolean;
  /** For metrics: the index of the lowest and the highest value (when they differ). */
  lowest?: number;
  highest?: number;
}

export function diffRows(runs: readonly RunSummary[]): DiffRow[] {
  const rows: DiffRow[] = [];
  const section = (name: DiffSection, pick: (r: RunSummary) => Map<string, string>) => {
    const maps = runs.map(pick);
    const keys = [...new Set(maps.flatMap((m) => [...m.keys()]))].sort();
    for (const key of keys) {
      const values = maps.map((m) => m.get(key) ?? null);
      const row: DiffRow = { section: name, key, values, differs: new Set(values).size > 1 };
      if (name === 'metric' && row.differs) {
        const nums = values.map((v) => (v === null ? NaN : Number(v)));
        const present = nums.map((n, i) => [n, i] as const).filter(([n]) => !Number.isNaN(n));
        if (present.length > 1) {
          row.lowest = present.reduce((a, b) => (b[0] < a[0] ? b : a))[1];
          row.highest = present.reduce((a, b) => (b[0] > a[0] ? b : a))[1];
        }
      }
      rows.push(row);
    }
  };
  section('param', (r) => new Map(r.params.map((p) => [p.key, p.value])));
  section('metric', (r) => new Map(r.latest.map((m) => [m.key, String(m.value)])));
  section('tag', (r) => new Map(r.tags.map((t) => [t.key, t.value])));
  return rows;
}
