/**
 * Kubernetes names and labels for a model version. Object names and label values have strict grammars
 * (DNS-1123 labels, at most 63 characters), while registry model names are free text: names are slugged,
 * and the model's own name is kept in an annotation.
 */
import { createHash } from 'node:crypto';
import { invalidParameter } from '../../core/errors';

export const MANAGER = 'trellis';
export const LABEL = {
  model: 'trellis.model',
  version: 'trellis.version',
  track: 'trellis.track',
} as const;
export const ANNOTATION = {
  modelName: 'trellis.model-name',
  image: 'trellis.image',
  canaryPercent: 'trellis.canary-percent',
} as const;

export type Track = 'stable' | 'canary';

/**
 * A DNS-1123 label from free text: lowercase, [a-z0-9-], starting with a letter; at most `max` characters.
 * Names that had to change get a short hash of the original, so `My_Model` and `my-model` stay apart.
 */
export function slug(text: string, max = 40): string {
  let s = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(s)) s = `m-${s}`.replace(/-+$/, '');
  const changed = s !== text;
  if (changed || s.length > max) {
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 6);
    s = `${s.slice(0, max - 7).replace(/-+$/, '')}-${hash}`;
  }
  return s;
}

/** The names of one model's objects: shared ones by model, per-version ones with -v<version>. */
export interface ModelNames {
  /** The slugged model name: label value and prefix of every object name. */
  model: string;
  /** Service, HPA, PDB, HTTPRoute and token Secret share it. */
  shared: string;
  tokenSecret: string;
  forVersion(version: string): string;
}

export function modelNames(modelName: string): ModelNames {
  const model = slug(modelName);
  return {
    model,
    shared: model,
    tokenSecret: `${model}-token`,
    forVersion: (version: string) => `${model}-v${checkVersion(version)}`,
  };
}

function checkVersion(version: string): string {
  if (!/^[1-9]\d{0,9}$/.test(version)) throw invalidParameter(`A model version is a positive whole number, got '${version}'.`);
  return version;
}

/** Labels on every object of a model version (and, minus track, on its pods). */
export function versionLabels(names: ModelNames, version: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': names.model,
    'app.kubernetes.io/instance': names.forVersion(version),
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/component': 'model-server',
    'app.kubernetes.io/part-of': 'trellis',
    'app.kubernetes.io/managed-by': MANAGER,
    [LABEL.model]: names.model,
    [LABEL.version]: version,
  };
}

/**
 * Labels on the objects shared by every version of a model (Service, HPA, PDB, HTTPRoute): the version is
 * the stable one they were last applied for.
 */
export function modelLabels(names: ModelNames, stableVersion: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': names.model,
    'app.kubernetes.io/version': stableVersion,
    'app.kubernetes.io/component': 'model-server',
    'app.kubernetes.io/part-of': 'trellis',
    'app.kubernetes.io/managed-by': MANAGER,
    [LABEL.model]: names.model,
    [LABEL.version]: stableVersion,
  };
}
