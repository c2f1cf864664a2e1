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

/**
 * The numbers of one `data` array: their float32 values read during the scan (NaN where only an exact
 * parse can tell), where the array's text lies in the body, and the nesting's dimensions.
 */
export class NumberRun {
  constructor(
    private readonly body: Buffer,
    /** The array's text, brackets included: body[start, end). */
    private readonly start: number,
    private readonly end: number,
    private readonly float32: Float32Array,
    readonly length: number,
    /** [length] when flat; the length of each nesting level when nested (regular by construction). */
    readonly dims: number[],
  ) {}

  /** Each number as JSON.parse reads it, flattened: the exact path, for other datatypes and rare values. */
  numbers(): number[] {
    const parsed = JSON.parse(this.body.toString('latin1', this.start, this.end)) as unknown[];
    return (this.dims.length > 1 ? parsed.flat(this.dims.length - 1) : parsed) as number[];
  }

  /** The numbers as float32, exactly as JSON.parse then a Float32Array store would round them (the run's own array). */
  toFloat32(): Float32Array {
    let exact: number[] | undefined;
    for (let i = 0; i < this.length; i++) if (this.float32[i] !== this.float32[i]) this.float32[i] = (exact ??= this.numbers())[i]!;
    return this.float32;
  }
}

/**
 * Where every scan writes its float32 values before they are copied out at their exact count: a request
 * allocates one array per tensor instead of three 1,024-slot ones (the scan is synchronous, so one
 * scratch serves every parse).
 */
let scratch = new Float32Array(1024);

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Where the last scanNumber stopped (a second return value without an allocation per number). */
let scanEnd = 0;

/**
 * Scans one JSON number at b[i], checking its grammar (bails when it is not one), sets scanEnd, and
 * returns it rounded to float32, or NaN (which no JSON number is) when only an exact parse can tell.
 * Up to 19 significant digits make a double within ~1.5 ulp of the exact value (the first 15 exactly,
 * the next 4 and a power of ten up to 1e22 with one rounding each; later digits move it by under 1e-18);
 * if moving it by a relative 1e-15 either way cannot change the float32 it rounds to, no float32
 * rounding boundary lies between it and the correctly rounded double JSON.parse would give, so both
 * round to the same float32. Exponents, and values beyond that range, take the exact path.
 * (A read past the end gives undefined, for which every comparison below is false: the end of a number.)
 */
function scanNumber(b: Buffer, i: number): number {
  let c = b[i]!;
  const negative = c === 45;
  if (negative) c = b[++i]!;
  let m1 = 0;
  let m2 = 0;
  let k2 = 0;
  let digits = 0;
  let e10 = 0;
  if (c === 48) c = b[++i]!;
  else if (c >= 49 && c <= 57) {
    do {
      if (digits < 15) {
        m1 = m1 * 10 + (c - 48);
        digits++;
      } else if (digits < 19) {
        m2 = m2 * 10 + (c - 48);
        k2++;
        digits++;
      } else e10++;
      c = b[++i]!;
    } while (c >= 48 && c <= 57);
  } else bail();
  if (c === 46) {
    c = b[++i]!;
    if (c < 48 || c > 57) bail();
    do {
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
    } while (c >= 48 && c <= 57);
  }
  let simple = true;
  if (c === 101 || c === 69) {
    simple = false;
    c = b[++i]!;
    if (c === 43 || c === 45) c = b[++i]!;
    if (c < 48 || c > 57) bail();
    do c = b[++i]!;
    while (c >= 48 && c <= 57);
  }
  scanEnd = i;
  if (!simple || e10 < -22 || e10 > 22) return NaN;
  let d = k2 === 0 ? m1 : m1 * POW10[k2]! + m2;
  d = e10 < 0 ? d / POW10[-e10]! : d * POW10[e10]!;
  const f = Math.fround(d);
  if (Math.fround(d * (1 + 1e-15)) !== Math.fround(d * (1 - 1e-15))) return NaN;
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
      scanNumber(this.b, start);
      this.i = scanEnd;
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

  /**
   * A `data` array of numbers, flat or regularly nested, as a NumberRun. A flat one (the usual case) is
   * read by one tight loop on locals: it is most of a request's bytes.
   */
  private numbers(): NumberRun {
    const b = this.b;
    let i = this.i + 1;
    let c = b[i];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i];
    if (c === 91) return this.nestedNumbers();
    const start = this.i;
    let n = 0;
    if (c === 93) {
      this.i = i + 1;
      return new NumberRun(b, start, i + 1, new Float32Array(0), 0, [0]);
    }
    for (;;) {
      if (n === scratch.length) scratch = growFloats(scratch);
      scratch[n++] = scanNumber(b, i);
      i = scanEnd;
      c = b[i];
      while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i];
      if (c === 93) break;
      if (c !== 44) bail();
      c = b[++i];
      while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i];
    }
    this.i = i + 1;
    return new NumberRun(b, start, i + 1, scratch.slice(0, n), n, [n]);
  }

  /** A nested `data` array: every array at one depth as long as the first there, numbers only at the deepest. */
  private nestedNumbers(): NumberRun {
    const b = this.b;
    let i = this.i;
    const start = i;
    let n = 0;
    const dims: number[] = [];
    let leafDepth = -1;
    const skipWs = () => {
      let c = b[i];
      while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i];
    };
    const level = (depth: number): void => {
      if (depth > MAX_DEPTH) bail();
      i++; // '['
      skipWs();
      let count = 0;
      if (b[i] === 93) {
        i++;
      } else {
        const nested = b[i] === 91;
        // Numbers only at one depth: [[[1]], [2]] is not a regular nesting.
        if (!nested) {
          if (leafDepth === -1) leafDepth = depth;
          else if (leafDepth !== depth) bail();
        }
        for (;;) {
          skipWs();
          if (nested) {
            if (b[i] !== 91) bail();
            level(depth + 1);
          } else {
            if (n === scratch.length) scratch = growFloats(scratch);
            scratch[n++] = scanNumber(b, i);
            i = scanEnd;
          }
          count++;
          skipWs();
          const c = b[i++];
          if (c === 93) break;
          if (c !== 44) bail();
        }
      }
      // Regular: every array at one depth has the length of the first one there (else the slow path says where).
      if (dims[depth] === undefined) dims[depth] = count;
      else if (dims[depth] !== count) bail();
    };
    level(0);
    this.i = i;
    return new NumberRun(b, start, i, scratch.slice(0, n), n, dims);
  }
}

function growFloats(a: Float32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
  const bigger = new Float32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}
