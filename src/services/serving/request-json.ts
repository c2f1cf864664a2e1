/**
 * A fast reader for the JSON of inference requests. JSON.parse turns each of a tensor's numbers into a
 * JS number and an array slot, and the codec then copies them into a typed array: for a 784-float row
 * that is most of a request's cost. This reader parses the request's structure as JSON.parse would but
 * leaves each `data` array of numbers (flat or regularly nested) as a NumberRun: where its numbers are
 * in the body. FP32 tensors are then converted straight from the bytes to a Float32Array, bit for bit
 * what JSON.parse + Float32Array would give (see toFloat32).
 *
 * It reads a strict subset: anything else (escaped strings, NaN/Infinity tokens, a ragged or mixed
 * `data` array, malformed JSON) makes it return undefined, and the caller falls back to JSON.parse,
 * whose results and error messages are the reference.
 */

/** The numbers of one `data` array, unparsed: their byte ranges in the body, and the nesting's dimensions. */
export class NumberRun {
  constructor(
    private readonly body: Buffer,
    private readonly starts: Uint32Array,
    private readonly ends: Uint32Array,
    readonly length: number,
    /** [length] when flat; the length of each nesting level when nested (regular by construction). */
    readonly dims: number[],
  ) {}

  /** Each number as JSON.parse reads it. */
  numbers(): number[] {
    const out = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.number(i);
    return out;
  }

  /** The numbers as float32, exactly as JSON.parse then a Float32Array store would round them. */
  toFloat32(): Float32Array {
    const out = new Float32Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = toFloat32(this.body, this.starts[i]!, this.ends[i]!);
    return out;
  }

  private number(i: number): number {
    return Number(this.body.toString('latin1', this.starts[i]!, this.ends[i]!));
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A JSON number (already checked against the grammar) rounded to float32. Up to 19 significant digits
 * make a double within ~1.5 ulp of the exact value (the first 15 exactly, the next 4 and a power of ten
 * up to 1e22 with one rounding each; later digits change it by under 1e-18); if moving it by a relative
 * 1e-15 either way cannot change the float32 it rounds to, no float32 rounding boundary lies between it
 * and the correctly rounded double JSON.parse would give, so both round to the same float32. Otherwise
 * (and for exponents, or values out of that range) V8's exact conversion decides.
 */
function toFloat32(b: Buffer, start: number, end: number): number {
  let i = start;
  const negative = b[i] === 45;
  if (negative) i++;
  let m1 = 0;
  let m2 = 0;
  let k2 = 0;
  let digits = 0;
  let e10 = 0;
  let c = b[i]!;
  while (i < end && c >= 48 && c <= 57) {
    if (digits < 15) {
      m1 = m1 * 10 + (c - 48);
      if (m1 !== 0) digits++;
    } else if (digits < 19) {
      m2 = m2 * 10 + (c - 48);
      k2++;
      digits++;
    } else e10++;
    c = b[++i]!;
  }
  if (i < end && c === 46) {
    c = b[++i]!;
    while (i < end && c >= 48 && c <= 57) {
      if (digits < 15) {
        m1 = m1 * 10 + (c - 48);
        e10--;
        if (m1 !== 0) digits++;
      } else if (digits < 19) {
        m2 = m2 * 10 + (c - 48);
        k2++;
        digits++;
        e10--;
      }
      c = b[++i]!;
    }
  }
  if (i < end || e10 < -22 || e10 > 22) return Math.fround(Number(b.toString('latin1', start, end)));
  let d = k2 === 0 ? m1 : m1 * POW10[k2]! + m2;
  d = e10 < 0 ? d / POW10[-e10]! : d * POW10[e10]!;
  if (Math.fround(d * (1 + 1e-15)) !== Math.fround(d * (1 - 1e-15))) return Math.fround(Number(b.toString('latin1', start, end)));
  const f = Math.fround(d);
  return negative ? -f : f;
}

class Bail extends Error {}
const bail = (): never => {
  throw new Bail();
};

const MAX_DEPTH = 64;

/** The request as JSON.parse would give it, with `data` number arrays as NumberRuns; undefined to fall back. */
export function readRequestJson(body: Buffer): unknown {
  try {
    const reader = new Reader(body);
    const value = reader.value(0, false);
    reader.ws();
    if (reader.i !== body.length) bail();
    return value;
  } catch (err) {
    if (err instanceof Bail || err instanceof RangeError) return undefined;
    throw err;
  }
}

class Reader {
  i = 0;
  constructor(private readonly b: Buffer) {}

  ws(): void {
    let c = this.b[this.i];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = this.b[++this.i];
  }

  value(depth: number, isData: boolean): unknown {
    if (depth > MAX_DEPTH) bail();
    this.ws();
    const c = this.b[this.i];
    if (c === 123) return this.object(depth);
    if (c === 91) return isData ? this.numbers() : this.array(depth);
    if (c === 34) return this.string();
    if (c === 45 || (c !== undefined && c >= 48 && c <= 57)) {
      const start = this.i;
      this.number();
      return Number(this.b.toString('latin1', start, this.i));
    }
    if (this.word('true')) return true;
    if (this.word('false')) return false;
    if (this.word('null')) return null;
    return bail();
  }

  private word(w: string): boolean {
    for (let k = 0; k < w.length; k++) if (this.b[this.i + k] !== w.charCodeAt(k)) return false;
    this.i += w.length;
    return true;
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.b[this.i] === 125) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.b[this.i] !== 34) bail();
      const key = this.string();
      this.ws();
      if (this.b[this.i++] !== 58) bail();
      // __proto__ as a key would set the prototype here, not a property as JSON.parse does.
      if (key === '__proto__') bail();
      out[key] = this.value(depth + 1, key === 'data');
      this.ws();
      const c = this.b[this.i++];
      if (c === 125) return out;
      if (c !== 44) bail();
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.ws();
    if (this.b[this.i] === 93) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1, false));
      this.ws();
      const c = this.b[this.i++];
      if (c === 93) return out;
      if (c !== 44) bail();
    }
  }

  /** A string without escapes or control characters (anything else: the slow path). */
  private string(): string {
    const start = ++this.i;
    const b = this.b;
    let c = b[this.i];
    while (c !== 34) {
      if (c === undefined || c === 92 || c < 32) bail();
      c = b[++this.i];
    }
    return b.toString('utf8', start, this.i++);
  }

  /** Checks one number against JSON's grammar and moves past it. */
  private number(): void {
    const b = this.b;
    if (b[this.i] === 45) this.i++;
    let c = b[this.i];
    if (c === 48) c = b[++this.i];
    else if (c !== undefined && c >= 49 && c <= 57) while ((c = b[++this.i]) !== undefined && c >= 48 && c <= 57);
    else bail();
    if (c === 46) {
      c = b[++this.i];
      if (c === undefined || c < 48 || c > 57) bail();
      while ((c = b[++this.i]) !== undefined && c >= 48 && c <= 57);
    }
    if (c === 101 || c === 69) {
      c = b[++this.i];
      if (c === 43 || c === 45) c = b[++this.i];
      if (c === undefined || c < 48 || c > 57) bail();
      while ((c = b[++this.i]) !== undefined && c >= 48 && c <= 57);
    }
  }

  /** A `data` array of numbers, flat or regularly nested, as a NumberRun. */
  private numbers(): NumberRun {
    let starts = new Uint32Array(1024);
    let ends = new Uint32Array(1024);
    let n = 0;
    const dims: number[] = [];
    let leafDepth = -1;
    const level = (depth: number): void => {
      if (depth > MAX_DEPTH) bail();
      this.i++; // '['
      this.ws();
      let count = 0;
      if (this.b[this.i] === 93) {
        this.i++;
      } else {
        const nested = this.b[this.i] === 91;
        for (;;) {
          this.ws();
          if (nested) {
            if (this.b[this.i] !== 91) bail();
            level(depth + 1);
          } else {
            // Numbers only at one depth: [[[1]], [2]] is not a regular nesting.
            if (leafDepth === -1) leafDepth = depth;
            else if (leafDepth !== depth) bail();
            const start = this.i;
            this.number();
            if (n === starts.length) {
              starts = grow(starts);
              ends = grow(ends);
            }
            starts[n] = start;
            ends[n++] = this.i;
          }
          count++;
          this.ws();
          const c = this.b[this.i++];
          if (c === 93) break;
          if (c !== 44) bail();
        }
      }
      // Regular: every array at one depth has the length of the first one there (else the slow path says where).
      if (dims[depth] === undefined) dims[depth] = count;
      else if (dims[depth] !== count) bail();
    };
    level(0);
    return new NumberRun(this.b, starts, ends, n, dims);
  }
}

function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}
