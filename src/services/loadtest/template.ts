/**
 * Request body templates. `{{seq}}` is the request's number (1, 2, … over the whole test: worker w of
 * n numbers its requests w+1, w+1+n, …, so numbers never repeat across workers), `{{uuid}}` a random
 * UUID, `{{random_int:lo:hi}}` an integer in [lo, hi], `{{random_float:lo:hi}}` a number in [lo, hi),
 * `{{row}}` line (seq − 1) mod rows of the sample file. Spaces inside the braces are allowed. A
 * `{{name…}}` that is not one of these is an error, so a typo never goes out as literal text.
 */
import { invalidParameter } from '../../core/errors';
import type { RequestTemplate } from './types';

type Part = string | ((seq: number) => string);

export interface CompiledTemplate {
  /** True when the output never changes (no placeholders). */
  readonly constant: boolean;
  render(seq: number): string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\s*:\s*[^:{}]*?)*)\s*\}\}/g;

export function compileTemplate(tpl: RequestTemplate): CompiledTemplate {
  const parts: Part[] = [];
  let last = 0;
  for (const m of tpl.template.matchAll(PLACEHOLDER)) {
    if (m.index! > last) parts.push(tpl.template.slice(last, m.index));
    parts.push(placeholder(m[1]!, m[2] ? m[2].split(':').slice(1).map((x) => x.trim()) : [], tpl, m[0]));
    last = m.index! + m[0].length;
  }
  if (last < tpl.template.length) parts.push(tpl.template.slice(last));
  const constant = parts.every((p) => typeof p === 'string');
  if (constant) {
    const text = parts.join('');
    return { constant, render: () => text };
  }
  return {
    constant,
    render(seq: number): string {
      let out = '';
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        out += typeof p === 'string' ? p : p(seq);
      }
      return out;
    },
  };
}

function placeholder(name: string, args: string[], tpl: RequestTemplate, text: string): (seq: number) => string {
  const arity = (n: number) => {
    if (args.length !== n) throw invalidParameter(`Template placeholder ${text} takes ${n} argument(s), got ${args.length}`);
  };
  const range = (): [number, number] => {
    arity(2);
    const [lo, hi] = args.map(Number) as [number, number];
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw invalidParameter(`Template placeholder ${text} needs two numbers lo ≤ hi`);
    }
    return [lo, hi];
  };
  switch (name) {
    case 'seq':
      arity(0);
      return (seq) => String(seq);
    case 'uuid':
      arity(0);
      // Web Crypto's global: node:crypto (and TLS behind it) loads on first use, not with the CLI.
      return () => crypto.randomUUID();
    case 'random_int': {
      const [lo, hi] = range();
      if (!Number.isInteger(lo) || !Number.isInteger(hi)) throw invalidParameter(`Template placeholder ${text} needs integers`);
      return () => String(lo + Math.floor(Math.random() * (hi - lo + 1)));
    }
    case 'random_float': {
      const [lo, hi] = range();
      return () => String(lo + Math.random() * (hi - lo));
    }
    case 'row': {
      arity(0);
      const rows = tpl.rows;
      if (!rows || rows.length === 0) throw invalidParameter(`Template placeholder ${text} needs sample rows (a file with at least one line)`);
      return (seq) => rows[(seq - 1) % rows.length]!;
    }
    default:
      throw invalidParameter(
        `Unknown template placeholder ${text}: expected {{seq}}, {{uuid}}, {{random_int:lo:hi}}, {{random_float:lo:hi}} or {{row}}`,
      );
  }
}
