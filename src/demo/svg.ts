/**
 * Hand-written SVG for the report (no dependencies): line-plot panels with axes, ticks, grid and
 * legend, and scene panels (the gray image as an embedded PNG with boxes drawn over it). Every
 * function returns well-formed XML text; every string that comes from data goes through `esc`.
 */
import { grayPng } from './png.js';

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** A number for an attribute: finite, short. */
const n = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 100) / 100) : '0');

export const svgDocument = (width: number, height: number, body: string, title: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">\n<title>${esc(title)}</title>\n<rect x="0" y="0" width="${n(width)}" height="${n(height)}" fill="#ffffff"/>\n${body}</svg>\n`;

/** Round tick values covering [lo, hi], about `count` of them. */
export const niceTicks = (lo: number, hi: number, count = 5): number[] => {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
};

const fmtTick = (v: number, step: number): string => {
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(d, 4));
};

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dash?: string;
  readonly width?: number;
  /** Draw a dot at each point (for sparse series such as evaluations). */
  readonly markers?: boolean;
  /** An error bar at each point: [low, high] of its y (drawn as a whisker with caps). */
  readonly err?: readonly (readonly [number, number])[];
  /** Shift the points (and their error bars) by this many pixels along x, so overlapping bars stay apart. */
  readonly dx?: number;
}

export interface PanelSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly xRange?: readonly [number, number];
  readonly yRange?: readonly [number, number];
  /** Where the legend goes inside the plot (default top right). */
  readonly legend?: 'top-right' | 'bottom-right';
  /** Horizontal reference lines with a label. */
  readonly hlines?: readonly { readonly y: number; readonly label: string; readonly color: string }[];
}

/** The y range of some series, padded, optionally from 0. */
export const dataRange = (series: readonly Series[], fromZero = true, pad = 0.06): [number, number] => {
  const ys = series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.err ?? []).flat()]).filter(Number.isFinite);
  if (ys.length === 0) return [0, 1];
  const lo = fromZero ? Math.min(0, ...ys) : Math.min(...ys);
  const hi = Math.max(...ys);
  const span = hi - lo || 1;
  return [fromZero ? lo : lo - pad * span, hi + pad * span];
};

/** A line-plot panel as a <g> placed at (x, y) with outer size w × h. */
export const linePanel = (spec: PanelSpec, x: number, y: number, w: number, h: number): string => {
  const m = { l: 58, r: 14, t: 28, b: 40 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const [x0, x1] = spec.xRange ?? [Math.min(0, ...xs), Math.max(1, ...xs)];
  const [y0, y1] = spec.yRange ?? dataRange(spec.series);
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0 || 1)) * pw;
  const sy = (v: number) => m.t + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [`<g transform="translate(${n(x)},${n(y)})">`];
  parts.push(`<text x="${n(m.l)}" y="16" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  const yt = niceTicks(y0, y1, 5), xt = niceTicks(x0, x1, 6);
  const ystep = yt.length > 1 ? yt[1] - yt[0] : 1, xstep = xt.length > 1 ? xt[1] - xt[0] : 1;
  for (const v of yt) {
    if (v < y0 - 1e-12 || v > y1 + 1e-12) continue;
    parts.push(`<line x1="${n(m.l)}" y1="${n(sy(v))}" x2="${n(m.l + pw)}" y2="${n(sy(v))}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${n(m.l - 6)}" y="${n(sy(v) + 4)}" text-anchor="end" fill="#444">${esc(fmtTick(v, ystep))}</text>`);
  }
  for (const v of xt) {
    if (v < x0 - 1e-12 || v > x1 + 1e-12) continue;
    parts.push(`<line x1="${n(sx(v))}" y1="${n(m.t + ph)}" x2="${n(sx(v))}" y2="${n(m.t + ph + 4)}" stroke="#666"/>`);
    parts.push(`<text x="${n(sx(v))}" y="${n(m.t + ph + 17)}" text-anchor="middle" fill="#444">${esc(fmtTick(v, xstep))}</text>`);
  }
  parts.push(`<rect x="${n(m.l)}" y="${n(m.t)}" width="${n(pw)}" height="${n(ph)}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${n(m.l + pw / 2)}" y="${n(h - 6)}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  parts.push(`<text transform="translate(14,${n(m.t + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`);
  for (const hl of spec.hlines ?? []) {
    if (hl.y < y0 || hl.y > y1) continue;
    parts.push(`<line x1="${n(m.l)}" y1="${n(sy(hl.y))}" x2="${n(m.l + pw)}" y2="${n(sy(hl.y))}" stroke="${esc(hl.color)}" stroke-dasharray="2,3"/>`);
    parts.push(`<text x="${n(m.l + pw - 4)}" y="${n(sy(hl.y) - 4)}" text-anchor="end" font-size="11" fill="${esc(hl.color)}">${esc(hl.label)}</text>`);
  }
  parts.push(`<clipPath id="clip-${n(x)}-${n(y)}"><rect x="${n(m.l)}" y="${n(m.t)}" width="${n(pw)}" height="${n(ph)}"/></clipPath>`);
  parts.push(`<g clip-path="url(#clip-${n(x)}-${n(y)})">`);
  for (const s of spec.series) {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    const dx = s.dx ?? 0;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${n(sx(p[0]) + dx)},${n(sy(p[1]))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="${n(s.width ?? 2)}"${s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : ''} stroke-linejoin="round"/>`);
    if (s.err)
      s.points.forEach((p, i) => {
        const e = s.err![i];
        if (!e || !Number.isFinite(e[0]) || !Number.isFinite(e[1]) || !Number.isFinite(p[0])) return;
        parts.push(errorBar(sx(p[0]) + dx, sy(e[0]), sy(e[1]), s.color));
      });
    if (s.markers) for (const p of pts) parts.push(`<circle cx="${n(sx(p[0]) + dx)}" cy="${n(sy(p[1]))}" r="3" fill="${esc(s.color)}"/>`);
  }
  parts.push('</g>');
  // Legend, top right inside the plot.
  const lw = Math.max(...spec.series.map((s) => s.name.length)) * 6.6 + 34;
  const lh = spec.series.length * 16 + 6;
  const lx = m.l + pw - lw - 6, ly = spec.legend === 'bottom-right' ? m.t + ph - lh - 6 : m.t + 6;
  parts.push(`<rect x="${n(lx)}" y="${n(ly)}" width="${n(lw)}" height="${n(lh)}" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`);
  spec.series.forEach((s, i) => {
    const yy = ly + 13 + i * 16;
    parts.push(`<line x1="${n(lx + 6)}" y1="${n(yy - 4)}" x2="${n(lx + 26)}" y2="${n(yy - 4)}" stroke="${esc(s.color)}" stroke-width="${n(s.width ?? 2)}"${s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : ''}/>`);
    parts.push(`<text x="${n(lx + 30)}" y="${n(yy)}" font-size="11" fill="#222">${esc(s.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n') + '\n';
};

export interface BoxStyle {
  readonly color: string;
  readonly width?: number;
  readonly dash?: string;
  readonly opacity?: number;
}

export interface DrawnBox {
  readonly box: readonly [number, number, number, number];
  readonly style: BoxStyle;
  readonly label?: string;
}

/** A scene panel: the gray image at `scale` with boxes over it, placed at (x, y), with a title. */
export const SCENE_TOP = 36;

/**
 * A scene panel: the gray image at `scale` with boxes over it, placed at (x, y), under a title and a
 * subtitle (the image starts SCENE_TOP below y).
 */
export const scenePanel = (
  image: ArrayLike<number>,
  size: number,
  boxes: readonly DrawnBox[],
  title: string,
  x: number,
  y: number,
  scale: number,
  subtitle = '',
): string => {
  const png = grayPng(image, size, size, 0, 1.25).toString('base64');
  const s = size * scale;
  const top = SCENE_TOP;
  const parts: string[] = [`<g transform="translate(${n(x)},${n(y)})">`];
  parts.push(`<text x="0" y="13" font-size="13" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="0" y="28" font-size="12" fill="#333">${esc(subtitle)}</text>`);
  parts.push(`<image x="0" y="${top}" width="${n(s)}" height="${n(s)}" preserveAspectRatio="none" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${png}"/>`);
  for (const b of boxes) {
    const [x1, y1, x2, y2] = b.box;
    const st = b.style;
    parts.push(
      `<rect x="${n(x1 * scale)}" y="${n(top + y1 * scale)}" width="${n((x2 - x1 + 1) * scale)}" height="${n((y2 - y1 + 1) * scale)}" fill="none" stroke="${esc(st.color)}" stroke-width="${n(st.width ?? 1.5)}"${st.dash ? ` stroke-dasharray="${esc(st.dash)}"` : ''}${st.opacity !== undefined ? ` stroke-opacity="${n(st.opacity)}"` : ''}/>`,
    );
    if (b.label)
      parts.push(
        `<text x="${n(x1 * scale + 3)}" y="${n(top + y1 * scale + 14)}" font-size="12" font-weight="bold" fill="${esc(st.color)}" stroke="#000000" stroke-width="3" paint-order="stroke">${esc(b.label)}</text>`,
      );
  }
  parts.push('</g>');
  return parts.join('\n') + '\n';
};

/** A small legend row of coloured boxes and labels at (x, y). */
export const legendRow = (items: readonly { readonly label: string; readonly style: BoxStyle }[], x: number, y: number): string => {
  let cx = x;
  const parts: string[] = [];
  for (const it of items) {
    parts.push(`<rect x="${n(cx)}" y="${n(y - 9)}" width="14" height="10" fill="none" stroke="${esc(it.style.color)}" stroke-width="2"${it.style.dash ? ` stroke-dasharray="${esc(it.style.dash)}"` : ''}/>`);
    parts.push(`<text x="${n(cx + 19)}" y="${n(y)}" font-size="11" fill="#222">${esc(it.label)}</text>`);
    cx += 26 + it.label.length * 6.4;
  }
  return parts.join('\n') + '\n';
};

/** A vertical error bar from y `a` to y `b` (pixels) at x, with caps. */
export const errorBar = (x: number, a: number, b: number, color: string, cap = 4): string =>
  `<path d="M${n(x)},${n(a)} L${n(x)},${n(b)} M${n(x - cap)},${n(a)} L${n(x + cap)},${n(a)} M${n(x - cap)},${n(b)} L${n(x + cap)},${n(b)}" fill="none" stroke="${esc(color)}" stroke-width="1.4"/>`;

/** A horizontal error bar from x `a` to x `b` (pixels) at y, with caps. */
const hErrorBar = (y: number, a: number, b: number, color: string, cap = 4): string =>
  `<path d="M${n(a)},${n(y)} L${n(b)},${n(y)} M${n(a)},${n(y - cap)} L${n(a)},${n(y + cap)} M${n(b)},${n(y - cap)} L${n(b)},${n(y + cap)}" fill="none" stroke="${esc(color)}" stroke-width="1.6"/>`;

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
  /** Per group: [low, high] of an error bar. */
  readonly err?: readonly (readonly [number, number])[];
  /** Per group: the individual values (seeds), drawn as small dots. */
  readonly dots?: readonly (readonly number[])[];
}

export interface BarSpec {
  readonly title: string;
  readonly yLabel: string;
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  /** Default [0, 1]. */
  readonly yRange?: readonly [number, number];
  /** Digits of the value printed over each bar (default 2; −1: none). */
  readonly digits?: number;
  /** Format of the y ticks (default: by the tick step). */
  readonly percent?: boolean;
}

/** A grouped bar chart (one group per class or quantity, one bar per series) with error bars and dots, placed at (x, y). */
export const barPanel = (spec: BarSpec, x: number, y: number, w: number, h: number): string => {
  const m = { l: 58, r: 14, t: 28, b: 40 + 16 * Math.ceil(spec.series.length / 3) };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const [y0, y1] = spec.yRange ?? [0, 1];
  const clamp = (v: number) => Math.max(y0, Math.min(y1, v));
  const sy = (v: number) => m.t + ph - ((clamp(v) - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [`<g transform="translate(${n(x)},${n(y)})">`];
  parts.push(`<text x="${n(m.l)}" y="16" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  const ticks = niceTicks(y0, y1, 5);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  for (const v of ticks) {
    if (v < y0 - 1e-12 || v > y1 + 1e-12) continue;
    parts.push(`<line x1="${n(m.l)}" y1="${n(sy(v))}" x2="${n(m.l + pw)}" y2="${n(sy(v))}" stroke="#e4e4e4"/>`);
    const label = spec.percent ? `${(100 * v).toFixed(Math.max(0, -Math.floor(Math.log10(100 * step) + 1e-9)))} %` : fmtTick(v, step);
    parts.push(`<text x="${n(m.l - 6)}" y="${n(sy(v) + 4)}" text-anchor="end" fill="#444">${esc(label)}</text>`);
  }
  const gw = pw / spec.groups.length;
  const bw = (gw * 0.8) / spec.series.length;
  const digits = spec.digits ?? 2;
  spec.groups.forEach((g, gi) => {
    const gx = m.l + gi * gw + gw * 0.1;
    spec.series.forEach((s, si) => {
      const v = s.values[gi];
      const bx = gx + si * bw;
      const cx = bx + bw / 2;
      if (Number.isFinite(v)) {
        parts.push(`<rect x="${n(bx + 1)}" y="${n(Math.min(sy(v), sy(Math.max(0, y0))))}" width="${n(Math.max(1, bw - 2))}" height="${n(Math.abs(sy(Math.max(0, y0)) - sy(v)))}" fill="${esc(s.color)}" fill-opacity="0.8"/>`);
        const e = s.err?.[gi];
        if (e && Number.isFinite(e[0]) && Number.isFinite(e[1])) parts.push(errorBar(cx, sy(e[0]), sy(e[1]), '#222', Math.min(4, bw / 3)));
        for (const d of s.dots?.[gi] ?? []) if (Number.isFinite(d)) parts.push(`<circle cx="${n(cx)}" cy="${n(sy(d))}" r="2" fill="#ffffff" stroke="#222" stroke-width="0.8"/>`);
        if (digits >= 0) {
          const top = Math.min(sy(v), e && Number.isFinite(e[1]) ? sy(e[1]) : Infinity);
          parts.push(`<text x="${n(cx)}" y="${n(top - 4)}" text-anchor="middle" font-size="9" fill="#222">${esc(spec.percent ? `${(100 * v).toFixed(digits)}` : v.toFixed(digits))}</text>`);
        }
      }
    });
    parts.push(`<text x="${n(m.l + gi * gw + gw / 2)}" y="${n(m.t + ph + 17)}" text-anchor="middle" fill="#222">${esc(g)}</text>`);
  });
  parts.push(`<rect x="${n(m.l)}" y="${n(m.t)}" width="${n(pw)}" height="${n(ph)}" fill="none" stroke="#888"/>`);
  parts.push(`<text transform="translate(14,${n(m.t + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`);
  // Legend below the plot, three to a row.
  spec.series.forEach((s, i) => {
    const lx = m.l + (i % 3) * (pw / 3), ly = m.t + ph + 30 + 16 * Math.floor(i / 3);
    parts.push(`<rect x="${n(lx)}" y="${n(ly)}" width="12" height="10" fill="${esc(s.color)}"/>`);
    parts.push(`<text x="${n(lx + 16)}" y="${n(ly + 9)}" font-size="11" fill="#222">${esc(s.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n') + '\n';
};

export interface IntervalRow {
  readonly name: string;
  readonly color: string;
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
  /** The individual values (seeds). */
  readonly dots?: readonly number[];
  /** Text at the right end of the row. */
  readonly note?: string;
}

export interface IntervalSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly rows: readonly IntervalRow[];
  /** A vertical reference line (0 for differences). */
  readonly ref?: number;
  readonly refLabel?: string;
}

/** A forest plot: one row per item, its mean as a dot, its interval as a horizontal error bar, the seeds as small dots. */
export const intervalPanel = (spec: IntervalSpec, x: number, y: number, w: number, h: number): string => {
  const m = { l: 170, r: 270, t: 28, b: 40 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const vals = spec.rows.flatMap((r) => [r.mean, r.lo, r.hi, ...(r.dots ?? [])]).filter(Number.isFinite);
  if (spec.ref !== undefined) vals.push(spec.ref);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const pad = 0.06 * (hi - lo);
  [lo, hi] = [lo - pad, hi + pad];
  const sx = (v: number) => m.l + ((v - lo) / (hi - lo)) * pw;
  const rh = ph / Math.max(1, spec.rows.length);
  const parts: string[] = [`<g transform="translate(${n(x)},${n(y)})">`];
  parts.push(`<text x="${n(m.l)}" y="16" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  const ticks = niceTicks(lo, hi, 6);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  for (const v of ticks) {
    if (v < lo || v > hi) continue;
    parts.push(`<line x1="${n(sx(v))}" y1="${n(m.t)}" x2="${n(sx(v))}" y2="${n(m.t + ph)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${n(sx(v))}" y="${n(m.t + ph + 17)}" text-anchor="middle" fill="#444">${esc(fmtTick(v, step))}</text>`);
  }
  if (spec.ref !== undefined) {
    parts.push(`<line x1="${n(sx(spec.ref))}" y1="${n(m.t)}" x2="${n(sx(spec.ref))}" y2="${n(m.t + ph)}" stroke="#555" stroke-dasharray="3,3"/>`);
    const right = sx(spec.ref) > m.l + pw - 70;
    if (spec.refLabel)
      parts.push(`<text x="${n(sx(spec.ref) + (right ? -4 : 4))}" y="${n(m.t + 12)}" font-size="11" fill="#555"${right ? ' text-anchor="end"' : ''}>${esc(spec.refLabel)}</text>`);
  }
  spec.rows.forEach((r, i) => {
    const cy = m.t + rh * (i + 0.5);
    parts.push(`<text x="${n(m.l - 8)}" y="${n(cy + 4)}" text-anchor="end" fill="#222">${esc(r.name)}</text>`);
    if (Number.isFinite(r.lo) && Number.isFinite(r.hi)) parts.push(hErrorBar(cy, sx(r.lo), sx(r.hi), r.color, 5));
    for (const d of r.dots ?? []) if (Number.isFinite(d)) parts.push(`<circle cx="${n(sx(d))}" cy="${n(cy + 9)}" r="2.2" fill="#ffffff" stroke="${esc(r.color)}" stroke-width="1"/>`);
    if (Number.isFinite(r.mean)) parts.push(`<circle cx="${n(sx(r.mean))}" cy="${n(cy)}" r="4.5" fill="${esc(r.color)}"/>`);
    if (r.note) parts.push(`<text x="${n(m.l + pw + 8)}" y="${n(cy + 4)}" font-size="11" fill="#222">${esc(r.note)}</text>`);
  });
  parts.push(`<rect x="${n(m.l)}" y="${n(m.t)}" width="${n(pw)}" height="${n(ph)}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${n(m.l + pw / 2)}" y="${n(h - 6)}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  parts.push('</g>');
  return parts.join('\n') + '\n';
};

export interface StackRow {
  readonly name: string;
  readonly color: string;
  /** The segments from left to right: value and whether it is the darker (highlighted) part. */
  readonly segments: readonly { readonly value: number; readonly label: string; readonly dark: boolean }[];
  /** [low, high] of the total. */
  readonly err?: readonly [number, number];
  readonly note?: string;
}

/** Horizontal stacked bars (one row per item) with an error bar on the total. */
export const stackPanel = (spec: { readonly title: string; readonly xLabel: string; readonly rows: readonly StackRow[] }, x: number, y: number, w: number, h: number): string => {
  const m = { l: 170, r: 270, t: 28, b: 40 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const totals = spec.rows.map((r) => r.segments.reduce((a, s) => a + s.value, 0));
  const hi = Math.max(...totals, ...spec.rows.map((r) => r.err?.[1] ?? 0)) * 1.05 || 1;
  const sx = (v: number) => m.l + (v / hi) * pw;
  const rh = ph / Math.max(1, spec.rows.length);
  const parts: string[] = [`<g transform="translate(${n(x)},${n(y)})">`];
  parts.push(`<text x="${n(m.l)}" y="16" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  const ticks = niceTicks(0, hi, 6);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  for (const v of ticks) {
    if (v > hi) continue;
    parts.push(`<line x1="${n(sx(v))}" y1="${n(m.t)}" x2="${n(sx(v))}" y2="${n(m.t + ph)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${n(sx(v))}" y="${n(m.t + ph + 17)}" text-anchor="middle" fill="#444">${esc(fmtTick(v, step))}</text>`);
  }
  spec.rows.forEach((r, i) => {
    const cy = m.t + rh * (i + 0.5);
    const bh = Math.min(22, rh * 0.6);
    parts.push(`<text x="${n(m.l - 8)}" y="${n(cy + 4)}" text-anchor="end" fill="#222">${esc(r.name)}</text>`);
    let acc = 0;
    for (const sg of r.segments) {
      if (!(sg.value > 0)) continue;
      parts.push(`<rect x="${n(sx(acc))}" y="${n(cy - bh / 2)}" width="${n(sx(acc + sg.value) - sx(acc))}" height="${n(bh)}" fill="${esc(r.color)}" fill-opacity="${sg.dark ? 0.95 : 0.4}"/>`);
      acc += sg.value;
    }
    if (r.err && Number.isFinite(r.err[0]) && Number.isFinite(r.err[1])) parts.push(hErrorBar(cy, sx(Math.max(0, r.err[0])), sx(r.err[1]), '#222', 5));
    if (r.note) parts.push(`<text x="${n(m.l + pw + 8)}" y="${n(cy + 4)}" font-size="11" fill="#222">${esc(r.note)}</text>`);
  });
  parts.push(`<rect x="${n(m.l)}" y="${n(m.t)}" width="${n(pw)}" height="${n(ph)}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${n(m.l + pw / 2)}" y="${n(h - 6)}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  parts.push('</g>');
  return parts.join('\n') + '\n';
};
