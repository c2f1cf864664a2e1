/**
 * Drift monitoring of one served model version: a sliding window of the live input rows, compared per
 * feature against the version's reference profile with PSI (every feature) and KS (continuous features).
 *
 * observe() is on the request path: it copies the rows into a preallocated ring buffer per input and
 * allocates nothing. scores() does the work (a sort and two linear merges per continuous feature), lazily,
 * and caches the result until new rows arrive, so a scrape, an API call and the alert check share it.
 */
import type { CategoricalFeatureProfile, ContinuousFeatureProfile, InputProfile, ReferenceProfile } from '../../core/drift-references';
import type { Tensor, TensorData } from '../../engines/onnx/types';
import { countCategories, countSortedIntoBins, ksPValue, ksStatistic, psiFromCounts } from './drift-stats';

export interface DriftMonitorOptions {
  /** Live rows kept per input (default 1000): the window PSI and KS look at. */
  windowRows?: number;
  /** PSI at or above this marks a feature as drifted (default 0.2). */
  threshold?: number;
  /** A KS p-value below this also marks a continuous feature as drifted (default 0.01). */
  pValueThreshold?: number;
  /** An input is scored only once its window holds this many rows (default 100): fewer make PSI noise. */
  minRows?: number;
  /**
   * Hysteresis: after an alert, a feature alerts again only once it went back under threshold × rearmRatio
   * (and its p-value back over pValueThreshold ÷ rearmRatio). Default 0.8.
   */
  rearmRatio?: number;
  /** With alert listeners, new rows trigger a scoring at most this often (ms, default 1000), so alerts come without a scrape. */
  evaluateIntervalMs?: number;
  /** Told once per input when live tensors do not fit the profile (a profile of another model's inputs). */
  onWarning?: (message: string) => void;
}

export interface FeatureDrift {
  feature: string;
  kind: 'continuous' | 'categorical';
  psi: number;
  /** KS statistic and its asymptotic p-value: continuous features only. */
  ks?: number;
  pValue?: number;
  /** Live rows the scores come from. */
  rows: number;
  drifted: boolean;
}

export interface InputDrift {
  input: string;
  /** Live rows in the window. */
  rows: number;
  /** False until the window holds minRows rows; `features` is empty until then. */
  scored: boolean;
  features: FeatureDrift[];
}

export interface DriftedFeature extends FeatureDrift {
  input: string;
}

export interface DriftAlert {
  model: string;
  version: string;
  input: string;
  feature: string;
  psi: number;
  ks?: number;
  pValue?: number;
}

type NumericData = Exclude<TensorData, string[]>;

/** A feature's reference in the shapes the scoring loop wants: typed arrays, the "other" bucket included. */
interface FeatureReference {
  name: string;
  kind: 'continuous' | 'categorical';
  /** Continuous: bin edges; categorical: the categories. */
  cuts: Float64Array;
  /** Reference proportion per bin (categorical: per category, then 0 for "other"). */
  proportions: Float64Array;
  /** Continuous: sorted reference sample for KS. */
  sample?: Float64Array;
  /** Scratch bin counts, reused across scorings. */
  counts: Float64Array;
}

/** The ring buffer of one input: `capacity` rows × `width` features, row-major, oldest overwritten first. */
class InputWindow {
  readonly width: number;
  readonly ring: Float64Array;
  readonly column: Float64Array;
  readonly features: FeatureReference[];
  /** 1 while a feature may alert, 0 after it did until it falls back under the re-arm level. */
  readonly armed: Uint8Array;
  next = 0;
  filled = 0;
  warned = false;

  constructor(
    readonly profile: InputProfile,
    readonly capacity: number,
  ) {
    this.width = profile.features.length;
    this.ring = new Float64Array(capacity * this.width);
    this.column = new Float64Array(capacity);
    this.features = profile.features.map(featureReference);
    this.armed = new Uint8Array(this.width).fill(1);
  }

  /** Appends rows × width values; of a batch larger than the window only its last `capacity` rows can stay. */
  append(data: NumericData, rows: number): void {
    const { width, ring, capacity } = this;
    const big = data instanceof BigInt64Array;
    for (let r = Math.max(0, rows - capacity); r < rows; r++) {
      const src = r * width;
      const dst = this.next * width;
      if (big) for (let k = 0; k < width; k++) ring[dst + k] = Number(data[src + k]!);
      else for (let k = 0; k < width; k++) ring[dst + k] = (data as Exclude<NumericData, BigInt64Array>)[src + k]!;
      this.next = this.next + 1 === capacity ? 0 : this.next + 1;
      if (this.filled < capacity) this.filled++;
    }
  }

  /** Copies feature f of the rows in the window into `column` (order does not matter to PSI or KS). NaN counts as +∞: the top bin, or "other". */
  loadColumn(f: number): Float64Array {
    const { width, ring, column, filled } = this;
    for (let r = 0; r < filled; r++) {
      const v = ring[r * width + f]!;
      column[r] = v !== v ? Infinity : v;
    }
    return filled === column.length ? column : column.subarray(0, filled);
  }
}

function featureReference(f: ContinuousFeatureProfile | CategoricalFeatureProfile): FeatureReference {
  if (f.kind === 'continuous') {
    return {
      name: f.name,
      kind: 'continuous',
      cuts: Float64Array.from(f.edges),
      proportions: Float64Array.from(f.proportions),
      sample: Float64Array.from(f.sample),
      counts: new Float64Array(f.edges.length + 1),
    };
  }
  return {
    name: f.name,
    kind: 'categorical',
    cuts: Float64Array.from(f.categories),
    proportions: Float64Array.from([...f.proportions, 0]),
    counts: new Float64Array(f.categories.length + 1),
  };
}

export class DriftMonitor {
  readonly model: string;
  readonly version: string;
  private readonly windows = new Map<string, InputWindow>();
  private readonly threshold: number;
  private readonly pValueThreshold: number;
  private readonly minRows: number;
  private readonly rearmRatio: number;
  private readonly evaluateIntervalMs: number;
  private readonly onWarning: (message: string) => void;
  private readonly listeners: ((alert: DriftAlert) => void)[] = [];
  /** Counts observe() calls that added rows; the cache is good while it is unchanged. */
  private generation = 0;
  private cached?: { generation: number; scores: InputDrift[] };
  private pending?: Promise<InputDrift[]>;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(profile: ReferenceProfile, options: DriftMonitorOptions = {}) {
    const windowRows = options.windowRows ?? 1000;
    this.threshold = options.threshold ?? 0.2;
    this.pValueThreshold = options.pValueThreshold ?? 0.01;
    this.minRows = options.minRows ?? 100;
    this.rearmRatio = options.rearmRatio ?? 0.8;
    this.evaluateIntervalMs = options.evaluateIntervalMs ?? 1000;
    this.onWarning = options.onWarning ?? (() => {});
    if (!Number.isInteger(windowRows) || windowRows < 1) throw new RangeError(`windowRows must be a whole number ≥ 1, got ${windowRows}`);
    if (!Number.isInteger(this.minRows) || this.minRows < 1 || this.minRows > windowRows) {
      throw new RangeError(`minRows must be a whole number from 1 to windowRows (${windowRows}), got ${this.minRows}`);
    }
    if (!(this.threshold > 0)) throw new RangeError(`threshold must be a PSI above 0, got ${this.threshold}`);
    if (!(this.rearmRatio > 0 && this.rearmRatio <= 1)) throw new RangeError(`rearmRatio must be in (0, 1], got ${this.rearmRatio}`);
    this.model = profile.model;
    this.version = profile.version;
    for (const input of profile.inputs) this.windows.set(input.name, new InputWindow(input, windowRows));
  }

  /**
   * Adds the rows of one request's decoded input tensors (dim 0 is the batch). Inputs without a profile,
   * BYTES tensors and tensors whose row width differs from the profile's are skipped.
   */
  observe(inputs: readonly Tensor[]): void {
    let added = false;
    for (const t of inputs) {
      const w = this.windows.get(t.name);
      if (!w || t.datatype === 'BYTES' || Array.isArray(t.data)) continue;
      const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
      if (!(rows > 0)) continue;
      if (t.data.length !== rows * w.width) {
        if (!w.warned) {
          w.warned = true;
          this.onWarning(
            `Drift monitoring of ${this.model} version ${this.version} skips input '${t.name}': its rows have ${t.data.length / rows} values but the reference profile has ${w.width} features. Rebuild the profile from this model's inputs.`,
          );
        }
        continue;
      }
      w.append(t.data as NumericData, rows);
      added = true;
    }
    if (!added) return;
    this.generation++;
    if (this.listeners.length > 0 && !this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.scoresAsync();
      }, this.evaluateIntervalMs);
      this.timer.unref();
    }
  }

  /** Per input, per feature: PSI, and KS with its p-value for continuous features. Cached until new rows arrive. */
  scores(): InputDrift[] {
    if (this.cached?.generation === this.generation) return this.cached.scores;
    const scores = [...this.windows.values()].map((w) => this.scoreInput(w));
    this.cached = { generation: this.generation, scores };
    this.checkAlerts(scores);
    return scores;
  }

  /**
   * The same scores, computed in slices of about `sliceMs` of CPU with the event loop free in between, so
   * that scoring a wide input (784 features × 1000 rows takes tens of ms) never stalls the requests being
   * served. Rows that arrive meanwhile count for the features not yet scored; the next call sees them all.
   */
  scoresAsync(sliceMs = 4): Promise<InputDrift[]> {
    if (this.cached?.generation === this.generation) return Promise.resolve(this.cached.scores);
    this.pending ??= this.scoreInSlices(sliceMs).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async scoreInSlices(sliceMs: number): Promise<InputDrift[]> {
    const generation = this.generation;
    const scores: InputDrift[] = [];
    let sliceStart = performance.now();
    for (const w of this.windows.values()) {
      if (w.filled < this.minRows) {
        scores.push({ input: w.profile.name, rows: w.filled, scored: false, features: [] });
        continue;
      }
      const features: FeatureDrift[] = [];
      for (let f = 0; f < w.width; f++) {
        if (performance.now() - sliceStart > sliceMs) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
        features.push(this.scoreFeature(w, f));
      }
      scores.push({ input: w.profile.name, rows: w.filled, scored: true, features });
    }
    // A synchronous scores() may have finished (and alerted on) a newer result meanwhile: keep that one.
    if (!this.cached || this.cached.generation < generation) {
      this.cached = { generation, scores };
      this.checkAlerts(scores);
    }
    return scores;
  }

  /** The features over the threshold (PSI ≥ threshold, or KS p-value < pValueThreshold). */
  drifted(): DriftedFeature[] {
    return this.scores().flatMap((i) => i.features.filter((f) => f.drifted).map((f) => ({ input: i.input, ...f })));
  }

  /** Calls `listener` when a feature crosses the threshold upward (see rearmRatio); returns the unsubscribe function. */
  onAlert(listener: (alert: DriftAlert) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Stops the pending alert check; observe() keeps working, scores() too. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scoreInput(w: InputWindow): InputDrift {
    if (w.filled < this.minRows) return { input: w.profile.name, rows: w.filled, scored: false, features: [] };
    return { input: w.profile.name, rows: w.filled, scored: true, features: w.features.map((_, f) => this.scoreFeature(w, f)) };
  }

  /** PSI (and KS) of feature f over the rows in the window now. */
  private scoreFeature(w: InputWindow, f: number): FeatureDrift {
    const ref = w.features[f]!;
    const rows = w.filled;
    const live = w.loadColumn(f);
    ref.counts.fill(0);
    if (ref.kind === 'categorical') {
      countCategories(ref.cuts, live, rows, ref.counts);
      const psi = psiFromCounts(ref.proportions, ref.counts, rows);
      return { feature: ref.name, kind: ref.kind, psi, rows, drifted: psi >= this.threshold };
    }
    live.sort();
    countSortedIntoBins(ref.cuts, live, rows, ref.counts);
    const psi = psiFromCounts(ref.proportions, ref.counts, rows);
    const sample = ref.sample!;
    const ks = ksStatistic(sample, sample.length, live, rows);
    const pValue = ksPValue(ks, sample.length, rows);
    return { feature: ref.name, kind: ref.kind, psi, ks, pValue, rows, drifted: psi >= this.threshold || pValue < this.pValueThreshold };
  }

  private checkAlerts(scores: InputDrift[]): void {
    for (const input of scores) {
      const armed = this.windows.get(input.input)!.armed;
      input.features.forEach((f, i) => {
        if (armed[i] && f.drifted) {
          armed[i] = 0;
          this.emit({ model: this.model, version: this.version, input: input.input, feature: f.feature, psi: f.psi, ks: f.ks, pValue: f.pValue });
        } else if (!armed[i] && f.psi < this.threshold * this.rearmRatio && (f.pValue === undefined || f.pValue >= this.pValueThreshold / this.rearmRatio)) {
          armed[i] = 1;
        }
      });
    }
  }

  private emit(alert: DriftAlert): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(alert);
      } catch (err) {
        // A failing listener (a closed event stream) must not stop the others, nor the scoring.
        this.onWarning(`A drift alert listener of ${this.model} version ${this.version} failed: ${(err as Error).message}`);
      }
    }
  }
}
