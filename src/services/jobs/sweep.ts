import { invalidParameter } from '../../core/errors';
import { prng } from '../../core/prng';

/** A parameter searched over a grid: every value is tried. */
export interface GridParam {
  name: string;
  values: string[];
}

/** A parameter drawn at random for each trial. */
export type RandomParam =
  | { name: string; kind: 'uniform' | 'loguniform'; low: number; high: number }
  | { name: string; kind: 'int'; low: number; high: number }
  | { name: string; kind: 'choice'; values: string[] };

const RANDOM_FORMS = `uniform(LOW,HIGH), loguniform(LOW,HIGH), int(LOW,HIGH) or choice(A,B,...)`;

/** `--grid lr=0.1,0.01` */
export function parseGrid(text: string): GridParam {
  const at = text.indexOf('=');
  const name = text.slice(0, at).trim();
  const values = text.slice(at + 1).split(',').map((v) => v.trim());
  if (at <= 0 || values.some((v) => v === '')) throw invalidParameter(`--grid '${text}' is not NAME=V1,V2,...: e.g. --grid lr=0.1,0.01.`);
  return { name, values };
}

/** `--random 'lr=loguniform(1e-4,1e-1)'` */
export function parseRandom(text: string): RandomParam {
  const m = /^\s*([\w.-]+)\s*=\s*(uniform|loguniform|int|choice)\s*\((.*)\)\s*$/.exec(text);
  if (!m) throw invalidParameter(`--random '${text}' is not NAME=DISTRIBUTION: use ${RANDOM_FORMS}.`);
  const [, name, kind, inside] = m as unknown as [string, string, RandomParam['kind'], string];
  const args = inside.split(',').map((a) => a.trim());
  if (kind === 'choice') {
    if (args.some((a) => a === '')) throw invalidParameter(`--random '${text}': choice needs one or more values, e.g. choice(adam,sgd).`);
    return { name, kind, values: args };
  }
  const [low, high] = args.map(Number) as [number, number];
  if (args.length !== 2 || !Number.isFinite(low) || !Number.isFinite(high) || low >= high) {
    throw invalidParameter(`--random '${text}': ${kind} needs two numbers LOW < HIGH.`);
  }
  if (kind === 'loguniform' && low <= 0) throw invalidParameter(`--random '${text}': loguniform needs LOW > 0.`);
  if (kind === 'int' && (!Number.isInteger(low) || !Number.isInteger(high))) throw invalidParameter(`--random '${text}': int needs whole numbers.`);
  return { name, kind, low, high };
}

/**
 * The params of each trial. A grid alone: every combination (`trials`, when given, must not be less).
 * With random params: `trials` trials (default 10), each drawing its random values and taking the grid's
 * combinations in turn. Draws are seeded: the same seed gives the same trials.
 */
export function sweepTrials(grid: GridParam[], random: RandomParam[], options: { trials?: number; seed: number }): Record<string, string>[] {
  const names = [...grid, ...random].map((p) => p.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw invalidParameter(`The sweep names param '${twice}' twice.`);
  if (names.length === 0) throw invalidParameter('A sweep needs at least one --grid or --random param.');
  const combos = grid.reduce<Record<string, string>[]>((acc, p) => acc.flatMap((c) => p.values.map((v) => ({ ...c, [p.name]: v }))), [{}]);
  if (random.length === 0) {
    if (options.trials !== undefined && options.trials < combos.length) {
      throw invalidParameter(`The grid has ${combos.length} combinations but --trials is ${options.trials}: raise --trials or shrink the grid.`);
    }
    return combos;
  }
  const rng = prng(options.seed);
  const count = options.trials ?? 10;
  return Array.from({ length: count }, (_, i) => {
    const trial = { ...combos[i % combos.length] };
    for (const p of random) trial[p.name] = draw(p, rng);
    return trial;
  });
}

function draw(p: RandomParam, rng: () => number): string {
  switch (p.kind) {
    case 'choice':
      return p.values[Math.floor(rng() * p.values.length)]!;
    case 'int':
      return String(p.low + Math.floor(rng() * (p.high - p.low + 1)));
    case 'uniform':
      return short(p.low + rng() * (p.high - p.low));
    case 'loguniform':
      return short(Math.exp(Math.log(p.low) + rng() * (Math.log(p.high) - Math.log(p.low))));
  }
}

/** Six significant digits: a param value people can read and type again. */
const short = (v: number): string => String(Number(v.toPrecision(6)));

export interface TrialResult {
  runId: string;
  status: string;
  params: Record<string, string>;
  /** The metric's latest value; undefined when the trial never logged it. */
  value?: number;
}

/** The best finished trial by the metric, or undefined when none logged it. */
export function bestTrial(results: TrialResult[], goal: 'min' | 'max'): TrialResult | undefined {
  const scored = results.filter((r) => r.status === 'FINISHED' && r.value !== undefined && !Number.isNaN(r.value));
  return scored.reduce<TrialResult | undefined>((best, r) => (!best || (goal === 'min' ? r.value! < best.value! : r.value! > best.value!) ? r : best), undefined);
}
