/**
 * The model server's control API under /api/trellis/serving: what is served (versions, their references,
 * replicas and their health), traffic routes (canary weights, sticky header, shadow), and a refresh that
 * picks up alias moves at once (the server also notices them by itself).
 */
import { invalidParameter, TrellisError } from '../core/errors';
import { KServeError } from '../services/serving/kserve-codec';
import type { ModelServer, ServedModel } from '../services/serving/model-server';
import type { RouteSpec } from '../services/serving/traffic-route';
import type { Fields } from './input';
import type { Router } from './router';

const API = '/api/trellis/serving';

export function mountServingControlRoutes(router: Router, models: ModelServer): void {
  const describe = (m: ServedModel) => ({ name: m.name, version: m.version, refs: [...m.refs], in_flight: m.inFlight, drift_monitored: m.drift !== undefined, replicas: m.pool.state() });
  router.on('GET', `${API}/models`, () => ({ models: models.models().map(describe) }));
  // Load a version (NAME@ALIAS, NAME/VERSION, NAME): it answers under /v2/models/NAME once this returns.
  router.on('POST', `${API}/models`, async (ctx) => {
    const ref = (await ctx.fields()).model;
    if (typeof ref !== 'string' || ref === '') throw invalidParameter(`Give the version to serve as {"model": "NAME@ALIAS" | "NAME/VERSION" | "NAME"}.`);
    return { model: describe(await models.load(ref)) };
  });
  // Stop serving a version (or every version of a name): admitted requests finish first.
  router.on('DELETE', `${API}/models`, async (ctx) => {
    const f = await ctx.fields();
    if (typeof f.name !== 'string' || f.name === '') throw invalidParameter(`Give the model to stop as {"name": "NAME", "version"?: "3"}.`);
    const stopped = models.unload(f.name, typeof f.version === 'string' ? f.version : undefined);
    if (stopped.length === 0) throw new TrellisError('RESOURCE_DOES_NOT_EXIST', `Model '${f.name}'${typeof f.version === 'string' ? ` version ${f.version}` : ''} is not served here.`);
    return { stopped: stopped.map((m) => ({ name: m.name, version: m.version })) };
  });
  router.on('GET', `${API}/routes`, () => ({ routes: models.routeTable().map(routeJson) }));
  router.on('PUT', `${API}/routes/*`, async (ctx) => {
    const name = modelName(ctx.subpath);
    const spec = parseRouteSpec(await ctx.fields());
    asInvalid(() => models.setRoute(name, spec));
    return { route: routeJson(models.routeTable().find((r) => r.name === name)!) };
  });
  router.on('DELETE', `${API}/routes/*`, (ctx) => {
    models.clearRoute(modelName(ctx.subpath));
    return {};
  });
  router.on('POST', `${API}/refresh`, async () => ({ moves: await models.refresh() }));
  // Drift per served version with a reference profile: every feature's PSI (and KS), drifted ones flagged.
  router.on('GET', `${API}/drift`, async () => ({
    models: await Promise.all(
      models.models().filter((m) => m.drift).map(async (m) => ({ name: m.name, version: m.version, inputs: await m.drift!.scoresAsync() })),
    ),
  }));
}

function routeJson(r: ReturnType<ModelServer['routeTable']>[number]) {
  return {
    name: r.name,
    targets: r.spec.targets.map((t) => ({ ref: t.ref, weight: t.weight, version: r.versions[t.ref] ?? null })),
    ...(r.spec.shadow ? { shadow: { ref: r.spec.shadow, version: r.versions[r.spec.shadow] ?? null } } : {}),
    ...(r.spec.stickyHeader ? { sticky_header: r.spec.stickyHeader } : {}),
  };
}

function modelName(subpath: string): string {
  if (subpath === '' || subpath.includes('/')) throw invalidParameter(`Give one model name after ${API}/routes/, got '${subpath}'.`);
  return subpath;
}

/** `{"targets": [{"ref", "weight"}], "shadow"?, "sticky_header"?}`. */
export function parseRouteSpec(fields: Fields): RouteSpec {
  const targets = fields.targets;
  if (!Array.isArray(targets)) throw invalidParameter(`'targets' must be an array of {"ref": "mnist@champion", "weight": 90}.`);
  const spec: RouteSpec = {
    targets: targets.map((t, i) => {
      if (typeof t !== 'object' || t === null) throw invalidParameter(`targets[${i}] must be an object {"ref", "weight"}.`);
      const { ref, weight } = t as Record<string, unknown>;
      return { ref: ref as string, weight: weight as number };
    }),
  };
  if (fields.shadow !== undefined && fields.shadow !== null) {
    if (typeof fields.shadow !== 'string') throw invalidParameter(`'shadow' must be a model reference (string).`);
    spec.shadow = fields.shadow;
  }
  if (fields.sticky_header !== undefined && fields.sticky_header !== null) {
    if (typeof fields.sticky_header !== 'string') throw invalidParameter(`'sticky_header' must be a header name (string).`);
    spec.stickyHeader = fields.sticky_header;
  }
  return spec;
}

/** The model server speaks KServe errors; this API speaks the platform's. */
function asInvalid<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KServeError) throw invalidParameter(err.message);
    throw err;
  }
}
