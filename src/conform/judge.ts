/**
 * Judging one answer of a port against the reference's (docs/protocol.md "Comparison"): integer
 * and exact outputs bit for bit, float outputs within their tolerance (verdict `pass`), beyond it
 * but within the output's precision model — what a port computing in plain float32 may differ by —
 * (verdict `precision`), or beyond both (`fail`). Every message labels its sides (reference,
 * port) and gives multi-dimensional indices; a diff lists the first differing elements.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Tensor } from '../core/index.js';
import { decodeAnswer, type Tolerance, type Worst } from './compare.js';
import type { Answer } from './session.js';

export type { Worst };

export interface ElementDiff {
  /** The element's multi-dimensional index. */
  readonly index: readonly number[];
  readonly reference: number;
  readonly port: number;
  readonly err: number;
  /** What the tolerance allows there. */
  readonly allowed: number;
  /** What the precision model adds (0 when the output has none). */
  readonly precision: number;
  /** Beyond the precision model too. */
  readonly fails: boolean;
}

export interface OutputDiff {
  readonly output: string;
  readonly shape: readonly number[];
  /** Elements beyond the tolerance, and of them beyond the precision model. */
  readonly beyondTolerance: number;
  readonly beyondPrecision: number;
  readonly size: number;
  /** The first differing elements (those beyond the precision model first). */
  readonly elements: readonly ElementDiff[];
  /** The largest |Δ| / (tolerance + precision bound) among the elements within the precision model. */
  readonly share: number;
}

export type Judged =
  | { readonly verdict: 'pass'; readonly worst: Worst | null }
  | { readonly verdict: 'precision'; readonly worst: Worst | null; readonly output: string; readonly message: string; readonly diff: OutputDiff }
  | { readonly verdict: 'unsupported'; readonly message: string; readonly attr: string | null }
  | { readonly verdict: 'fail'; readonly kind: string; readonly message: string; readonly output?: string; readonly diff?: OutputDiff };

export interface JudgeOptions {
  readonly tolerances: Readonly<Record<string, Tolerance>>;
  /** Per output, the precision model's bound of each element (absent: none). */
  readonly precision?: Readonly<Record<string, Float64Array>>;
  /** Outputs of the reference that a port may leave out. */
  readonly optional?: readonly string[];
}

const MAX_ELEMENTS = 6;

/** A flat index as a multi-dimensional one. */
export const unravel = (flat: number, shape: readonly number[]): number[] => {
  const out = new Array<number>(shape.length).fill(0);
  let r = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] || 1;
    out[d] = r % n;
    r = Math.floor(r / n);
  }
  return out;
};

export const indexText = (index: readonly number[]): string => (index.length ? `[${index.join(', ')}]` : '');

/** A value as it reads best: float32 values with 9 significant digits, float64 with 17. */
export const num = (v: number, dtype = 'float32'): string => {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(dtype === 'float64' ? 17 : 9)));
};

const list = (t: Tensor, max = 16): string => {
  const d = Array.from(t.data).slice(0, max).map((v) => num(v, t.dtype));
  return `[${d.join(', ')}${t.size > max ? `, … (${t.size})` : ''}]`;
};

/** The attr an `unsupported` answer names, per protocol 1.1 (`attrs.<name>`), if it names one. */
export const unsupportedAttr = (message: string): string | null => /\battrs\.([A-Za-z_][\w]*)/.exec(message)?.[1] ?? null;

/** Compares the port's tensor of one output with the reference's. */
const diffOutput = (name: string, x: Tensor, y: Tensor, tol: Tolerance, bound: Float64Array | undefined, note: (w: Worst) => void): OutputDiff => {
  const exact = x.dtype === 'int32' || (tol.atol === 0 && tol.rtol === 0);
  const fails: ElementDiff[] = [];
  const precise: ElementDiff[] = [];
  let beyondTolerance = 0;
  let beyondPrecision = 0;
  let share = 0;
  for (let i = 0; i < x.size; i++) {
    const u = x.data[i];
    const v = y.data[i];
    if (u === v || (Number.isNaN(u) && Number.isNaN(v))) continue;
    const err = Math.abs(u - v);
    const nan = Number.isNaN(u) || Number.isNaN(v);
    const allowed = exact || nan ? 0 : tol.atol + tol.rtol * Math.abs(v);
    if (!Number.isNaN(err) && err <= allowed) {
      note({ output: name, index: i, err, ratio: allowed > 0 ? err / allowed : 0 });
      continue;
    }
    const extra = exact || nan || !bound ? 0 : bound[i] ?? 0;
    const within = !Number.isNaN(err) && extra > 0 && err <= allowed + extra;
    note({ output: name, index: i, err: Number.isNaN(err) ? Infinity : err, ratio: Infinity });
    beyondTolerance++;
    const e: ElementDiff = { index: unravel(i, x.shape), reference: u, port: v, err: Number.isNaN(err) ? Infinity : err, allowed, precision: extra, fails: !within };
    if (within) {
      share = Math.max(share, err / (allowed + extra));
      if (precise.length < MAX_ELEMENTS) precise.push(e);
    } else {
      beyondPrecision++;
      if (fails.length < MAX_ELEMENTS) fails.push(e);
    }
  }
  return { output: name, shape: x.shape, beyondTolerance, beyondPrecision, size: x.size, elements: [...fails, ...precise].slice(0, MAX_ELEMENTS), share };
};

/** One line for an output's diff: its worst element with both sides, then how many differ and where. */
export const diffText = (d: OutputDiff, dtype = 'float32'): string => {
  const e = d.elements[0];
  if (!e) return `${d.output}: no difference`;
  const how =
    Number.isNaN(e.reference) !== Number.isNaN(e.port)
      ? 'NaN on one side only'
      : e.allowed === 0 && e.precision === 0
      ? 'exact comparison'
      : `|Δ| = ${num(e.err, 'float64')} > ${num(e.allowed, 'float64')} allowed${e.precision > 0 ? `${e.fails ? ', and beyond' : ', within'} the float32 precision bound ${num(e.allowed + e.precision, 'float64')}` : ''}`;
  const n = d.beyondPrecision > 0 ? d.beyondPrecision : d.beyondTolerance;
  const where = d.elements.filter((x) => x.fails === e.fails).map((x) => indexText(x.index));
  const more = n > 1 ? ` (${n} of ${d.size} elements differ: ${where.join(', ')}${n > where.length ? ', …' : ''})` : d.size > 1 ? ` (1 of ${d.size} elements)` : '';
  return `${d.output}${indexText(e.index)}: reference ${num(e.reference, dtype)}, port ${num(e.port, dtype)}; ${how}${more}`;
};

/**
 * Judges an answer. `reference` holds the reference's outputs (wire tensors); a port's extra
 * outputs are ignored, a missing optional one is fine.
 */
export const judge = (ans: Answer, reference: Readonly<Record<string, unknown>>, o: JudgeOptions): Judged => {
  switch (ans.kind) {
    case 'error':
      if (ans.code === 'unsupported' || ans.code === 'unknown_op') return { verdict: 'unsupported', message: ans.message, attr: unsupportedAttr(ans.message) };
      return { verdict: 'fail', kind: `refused (${ans.code})`, message: `a request inside the contract's domain was answered ${ans.code}: ${ans.message.slice(0, 300)}` };
    case 'outputs':
      break;
    default:
      return { verdict: 'fail', kind: ans.kind, message: ans.detail };
  }
  const optional = new Set(o.optional ?? []);
  let worst: Worst | null = null;
  const note = (w: Worst) => {
    if (worst === null || w.ratio > worst.ratio || (w.ratio === worst.ratio && w.err > worst.err)) worst = w;
  };
  let precision: { output: string; message: string; diff: OutputDiff } | null = null;
  for (const name of Object.keys(reference)) {
    if (!(name in ans.outputs)) {
      if (optional.has(name)) continue;
      return { verdict: 'fail', kind: 'missing output', message: `${name}: in the reference's answer, missing from the port's`, output: name };
    }
    const a = decodeAnswer(name, reference[name]);
    const b = decodeAnswer(name, ans.outputs[name]);
    if (E.isLeft(a)) return { verdict: 'fail', kind: 'undecodable', message: `${name}: the reference's tensor does not decode: ${a.left.message}`, output: name };
    if (E.isLeft(b)) return { verdict: 'fail', kind: 'undecodable', message: `${name}: the port's tensor does not decode: ${b.left.message}`, output: name };
    const x = a.right;
    const y = b.right;
    if (x.dtype !== y.dtype) return { verdict: 'fail', kind: 'wrong dtype', message: `${name}: reference ${x.dtype}, port ${y.dtype}`, output: name };
    if (x.shape.join(',') !== y.shape.join(',')) {
      // A list of indices (keep, indices, hard_inds) of another length is another answer, not a malformed one.
      if (x.dtype === 'int32' && x.shape.length === 1 && y.shape.length === 1) {
        note({ output: name, index: Math.min(x.size, y.size), err: Infinity, ratio: Infinity });
        return { verdict: 'fail', kind: 'mismatch', message: `${name}: reference ${list(x)}, port ${list(y)} (${x.size} vs ${y.size} entries)`, output: name };
      }
      return { verdict: 'fail', kind: 'wrong shape', message: `${name}: shape reference [${x.shape}], port [${y.shape}]`, output: name };
    }
    if (worst === null) note({ output: name, index: -1, err: 0, ratio: 0 });
    const tol = o.tolerances[name] ?? { atol: 0, rtol: 0, note: 'exact' };
    const d = diffOutput(name, x, y, tol, o.precision?.[name], note);
    if (d.beyondPrecision > 0) {
      const message = x.dtype === 'int32' && x.shape.length === 1 ? `${name}: reference ${list(x)}, port ${list(y)}` : `${diffText(d, x.dtype)}${tol.note ? ` — ${tol.note}` : ''}`;
      return { verdict: 'fail', kind: 'mismatch', message, output: name, diff: d };
    }
    if (d.beyondTolerance > 0 && precision === null) precision = { output: name, message: diffText(d, x.dtype), diff: d };
  }
  if (precision) return { verdict: 'precision', worst, ...(precision as { output: string; message: string; diff: OutputDiff }) };
  return { verdict: 'pass', worst };
};

/** The larger of two worst differences. */
export const worse = (a: Worst | null, b: Worst | null): Worst | null => {
  if (!b) return a;
  if (!a) return b;
  return b.ratio > a.ratio || (b.ratio === a.ratio && b.err > a.err) ? b : a;
};
