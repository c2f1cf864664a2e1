/**
 * Pure parsers for the load tester's command-line values. They throw INVALID_PARAMETER_VALUE errors
 * whose messages name the offending text, so the CLI can print them as they are.
 */
import { invalidParameter } from '../../core/errors';
import type { OpenModel } from './types';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: `500ms`, `30s`, `1.5s`, `2m`, `1h`, or compounds such as `1m30s`.
 * A bare number is seconds (as wrk and autocannon read `-d 10`). Must be ≥ 0 and finite.
 */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (s === '') throw invalidParameter('Empty duration: expected e.g. 30s, 500ms or 2m');
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) throw invalidParameter(`Invalid duration '${text}': expected e.g. 30s, 500ms, 2m or 1m30s`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  if (!Number.isFinite(total)) throw invalidParameter(`Invalid duration '${text}'`);
  return Math.round(total);
}

/**
 * Open-model stages: `30s:100,60s:500` is 100 requests/s for 30 s, then a linear ramp from 100 to 500
 * over 60 s. The first stage is constant at its target; to ramp up from nothing, start with `0s:0`.
 */
export function parseStages(text: string): OpenModel['stages'] {
  const items = text.split(',').map((x) => x.trim());
  if (items.length === 0 || items.every((x) => x === '')) {
    throw invalidParameter('Empty stages: expected e.g. 30s:100,60s:500 (duration:requests per second)');
  }
  const stages = items.map((item) => {
    const m = /^([^:]+):\s*(\d+(?:\.\d+)?)$/.exec(item);
    if (!m) throw invalidParameter(`Invalid stage '${item}': expected duration:rate, e.g. 30s:100`);
    return { durationMs: parseDuration(m[1]!), targetRps: Number(m[2]) };
  });
  validateStages(stages);
  return stages;
}

/** The checks every open model must pass (also applied by the engine to plans built in code). */
export function validateStages(stages: OpenModel['stages']): void {
  if (stages.length === 0) throw invalidParameter('An open model needs at least one stage');
  let total = 0;
  for (const st of stages) {
    if (!Number.isFinite(st.durationMs) || st.durationMs < 0) {
      throw invalidParameter(`Invalid stage duration ${st.durationMs} ms: must be a finite number ≥ 0`);
    }
    if (!Number.isFinite(st.targetRps) || st.targetRps < 0) {
      throw invalidParameter(`Invalid stage rate ${st.targetRps}/s: must be a finite number ≥ 0`);
    }
    total += st.durationMs;
  }
  if (total <= 0) throw invalidParameter('The stages last 0 ms in all: give at least one a duration');
}

/** `30s:100,60s:500` from a plan's stages. */
export function formatStages(stages: OpenModel['stages']): string {
  return stages.map((s) => `${formatDurationMs(s.durationMs)}:${s.targetRps}`).join(',');
}

/** `3600000` → `1h`, `120000` → `2m`, `1500` → `1.5s`, `250` → `250ms` (all readable by parseDuration). */
export function formatDurationMs(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 || ms >= 10_000 ? `${Number((ms / 1000).toFixed(3))}s` : `${Math.round(ms)}ms`;
}
