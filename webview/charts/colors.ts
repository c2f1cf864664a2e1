/** Color arithmetic on the CSS colors VS Code's theme variables hold (#rgb, #rrggbb, #rrggbbaa, rgb(), rgba()). */

export type Rgba = [r: number, g: number, b: number, a: number];

export function parseColor(color: string): Rgba | undefined {
  const c = color.trim();
  const hex = /^#([0-9a-f]{3,8})$/i.exec(c)?.[1];
  if (hex && (hex.length === 3 || hex.length === 4)) {
    const d = [...hex].map((h) => parseInt(h + h, 16));
    return [d[0]!, d[1]!, d[2]!, hex.length === 4 ? d[3]! / 255 : 1];
  }
  if (hex && (hex.length === 6 || hex.length === 8)) {
    const d = hex.match(/../g)!.map((h) => parseInt(h, 16));
    return [d[0]!, d[1]!, d[2]!, hex.length === 8 ? d[3]! / 255 : 1];
  }
  const m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/i.exec(c);
  if (!m) return undefined;
  const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
  return [Number(m[1]), Number(m[2]), Number(m[3]), a];
}

const css = ([r, g, b, a]: Rgba) => `rgba(${Math.round(r)}, ${Math.round(g)}, ${Math.round(b)}, ${Math.round(a * 1000) / 1000})`;

/** The color at `alpha` opacity (multiplied with its own), as rgba(); unknown syntax comes back unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const c = parseColor(color);
  return c ? css([c[0], c[1], c[2], c[3] * alpha]) : color;
}

/** The color `t` of the way from `from` to `to` (t in [0, 1]); `from` when either cannot be read. */
export function mixColors(from: string, to: string, t: number): string {
  const a = parseColor(from);
  const b = parseColor(to);
  if (!a || !b) return from;
  const k = Math.min(1, Math.max(0, t));
  return css(a.map((v, i) => v + (b[i]! - v) * k) as Rgba);
}

/** A color per series index, cycling through the palette. */
export const paletteColor = (palette: readonly string[], i: number): string => palette[i % palette.length] ?? palette[0] ?? '';
