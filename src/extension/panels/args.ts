/**
 * What a panel command was given: a run id, a tree item with `runId` (or `run.info.run_id`), a model
 * name or item, or a list of them (multi-select). Unknown shapes give undefined, so the command asks.
 */

function runIdOfOne(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.trim() || undefined;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const item = arg as { runId?: unknown; run?: { info?: { run_id?: unknown } } };
  if (typeof item.runId === 'string') return item.runId;
  if (typeof item.run?.info?.run_id === 'string') return item.run.info.run_id;
  return undefined;
}

export const runIdOf = (arg: unknown): string | undefined => runIdOfOne(Array.isArray(arg) ? arg[0] : arg);

/** Distinct run ids, in the order given. */
export function runIdsOf(arg: unknown): string[] {
  const items = Array.isArray(arg) ? arg : arg === undefined ? [] : [arg];
  return [...new Set(items.map(runIdOfOne).filter((id): id is string => id !== undefined))];
}

export function modelNameOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.trim() || undefined;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const item = arg as { modelName?: unknown; name?: unknown; model?: { name?: unknown } };
  for (const v of [item.modelName, item.model?.name, item.name]) if (typeof v === 'string' && v) return v;
  return undefined;
}

/** A server URL: given as such, or an endpoint item announced by `trellis serve` (`{ url }`). */
export function endpointUrlOf(arg: unknown): string | undefined {
  const v = typeof arg === 'string' ? arg : typeof arg === 'object' && arg !== null ? (arg as { url?: unknown }).url : undefined;
  return typeof v === 'string' && /^https?:\/\//.test(v) ? v.replace(/\/+$/, '') : undefined;
}
