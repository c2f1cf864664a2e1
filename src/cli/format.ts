/** Plain-text tables for terminals; `--json` output bypasses this. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export const time = (ms: number | undefined): string => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');

export function duration(start: number, end?: number): string {
  if (!end || !start) return '';
  const s = Math.round((end - start) / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export const num = (v: number): string => (Number.isInteger(v) ? String(v) : Number.isFinite(v) ? v.toPrecision(6) : String(v));

export function print(value: unknown, json: boolean, render: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n` : `${render()}\n`);
}
