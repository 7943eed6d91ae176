/**
 * PROTOCOL.md's comparison rules, shared by the differential tests, `golden` and `conform`:
 * integer outputs exact, bit-exact outputs bit for bit, everything else |a − b| ≤ atol + rtol·|b|
 * (b the other side's value: the port's, the oracle's).
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeTensor } from '../protocol/codec.js';
import type { Tolerance } from '../ops/index.js';

export type { Tolerance };

/**
 * A golden file's expected tensor carries its exact bits (b64) and, for people, its decimals
 * (data); the bits are what is compared. A wire tensor carries one of the two.
 */
export const bitsOf = (t: unknown): unknown => {
  if (typeof t !== 'object' || t === null || !('b64' in t) || !('data' in t)) return t;
  const { data: _data, ...bits } = t as Record<string, unknown>;
  void _data;
  return bits;
};

/** Decodes a tensor of an answer or of a golden file (its bits when it carries both forms). */
export const decodeAnswer = (name: string, t: unknown) => decodeTensor(name, bitsOf(t));

export type MismatchKind = 'missing output' | 'undecodable' | 'wrong dtype' | 'wrong shape' | 'value';

export interface Mismatch {
  readonly output: string;
  readonly message: string;
  readonly kind?: MismatchKind;
}

/** The largest difference seen, relative to what its tolerance allows there. */
export interface Worst {
  readonly output: string;
  readonly index: number;
  /** |a − b| */
  readonly err: number;
  /** |a − b| / (atol + rtol·|b|): ≤ 1 passes; Infinity for a difference where none is allowed. */
  readonly ratio: number;
}

export interface Measure {
  readonly mismatch: Mismatch | null;
  readonly worst: Worst | null;
}

export interface MeasureOptions {
  /** Outputs of the reference that the other side may leave out (additions to PROTOCOL.md). */
  readonly optional?: readonly string[];
  /** Outputs of the other side that the reference lacks are a mismatch (differential tests) or ignored (conform). */
  readonly strictExtra?: boolean;
}

/**
 * Compares the outputs of two successful responses, `ours` (the reference's) and `theirs`; returns
 * the first mismatch (null if none) and the worst difference relative to its tolerance.
 */
export const measureOutputs = (
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  tolerances: Readonly<Record<string, Tolerance>>,
  options: MeasureOptions = {},
): Measure => {
  const optional = new Set(options.optional ?? []);
  const strict = options.strictExtra ?? true;
  let worst: Worst | null = null;
  const note = (w: Worst) => {
    if (worst === null || w.ratio > worst.ratio || (w.ratio === worst.ratio && w.err > worst.err)) worst = w;
  };
  const fail = (output: string, kind: MismatchKind, message: string): Measure => ({ mismatch: { output, kind, message }, worst });
  const names = strict ? [...new Set([...Object.keys(ours), ...Object.keys(theirs)])] : Object.keys(ours);
  for (const name of names) {
    if (!(name in ours)) return fail(name, 'missing output', `missing from the reference's answer`);
    if (!(name in theirs)) {
      if (optional.has(name)) continue;
      return fail(name, 'missing output', `missing from the other answer`);
    }
    const a = decodeAnswer(name, ours[name]);
    const b = decodeAnswer(name, theirs[name]);
    if (E.isLeft(a)) return fail(name, 'undecodable', `reference's tensor does not decode: ${a.left.message}`);
    if (E.isLeft(b)) return fail(name, 'undecodable', `other tensor does not decode: ${b.left.message}`);
    const x = a.right;
    const y = b.right;
    if (x.dtype !== y.dtype) return fail(name, 'wrong dtype', `dtype ${x.dtype} vs ${y.dtype}`);
    if (x.shape.join(',') !== y.shape.join(',')) {
      // A list of indices (keep, indices, hard_inds) of another length is a different answer, not a malformed one.
      if (x.dtype === 'int32' && x.shape.length === 1 && y.shape.length === 1) {
        const list = (d: ArrayLike<number>) => `[${Array.from(d).slice(0, 20).join(', ')}${d.length > 20 ? ', …' : ''}]`;
        note({ output: name, index: Math.min(x.size, y.size), err: Infinity, ratio: Infinity });
        return fail(name, 'value', `${list(x.data)} vs ${list(y.data)} (${x.size} vs ${y.size} entries)`);
      }
      return fail(name, 'wrong shape', `shape [${x.shape}] vs [${y.shape}]`);
    }
    const tol = tolerances[name] ?? { atol: 0, rtol: 0, note: 'exact' };
    const exact = x.dtype === 'int32' || (tol.atol === 0 && tol.rtol === 0);
    if (worst === null) note({ output: name, index: -1, err: 0, ratio: 0 });
    for (let i = 0; i < x.size; i++) {
      const u = x.data[i];
      const v = y.data[i];
      if (Number.isNaN(u) && Number.isNaN(v)) continue;
      if (exact) {
        // Bit-exact, except that −0 and +0 are the same value for a max or an index.
        if (u !== v) {
          note({ output: name, index: i, err: Math.abs(u - v), ratio: Infinity });
          return fail(name, 'value', `[${i}] ${u} ≠ ${v} (exact comparison)`);
        }
        continue;
      }
      if (u === v) continue;
      const err = Math.abs(u - v);
      const bound = tol.atol + tol.rtol * Math.abs(v);
      note({ output: name, index: i, err: Number.isNaN(err) ? Infinity : err, ratio: bound > 0 && !Number.isNaN(err) ? err / bound : Infinity });
      if (!(err <= bound))
        return fail(name, 'value', `[${i}] ${u} vs ${v}: |Δ| = ${err} > ${tol.atol} + ${tol.rtol}·|b| (${tol.note})`);
    }
  }
  return { mismatch: null, worst };
};

/** Compares two successful responses' outputs; returns the first mismatch or null. */
export const compareOutputs = (
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  tolerances: Readonly<Record<string, Tolerance>>,
): Mismatch | null => measureOutputs(ours, theirs, tolerances).mismatch;
