/**
 * PROTOCOL.md's comparison rules, shared by the differential tests (and later by conform):
 * integer outputs exact, bit-exact outputs bit for bit, everything else |a − b| ≤ atol + rtol·|b|.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeTensor } from '../src/protocol/codec.js';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
  readonly note: string;
}

export interface Mismatch {
  readonly output: string;
  readonly message: string;
}

/** Compares two successful responses' outputs; returns the first mismatch or null. */
export const compareOutputs = (
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  tolerances: Readonly<Record<string, Tolerance>>,
): Mismatch | null => {
  const names = new Set([...Object.keys(ours), ...Object.keys(theirs)]);
  for (const name of names) {
    if (!(name in ours)) return { output: name, message: `missing from the reference's answer` };
    if (!(name in theirs)) return { output: name, message: `missing from the other answer` };
    const a = decodeTensor(name, ours[name]);
    const b = decodeTensor(name, theirs[name]);
    if (E.isLeft(a)) return { output: name, message: `reference's tensor does not decode: ${a.left.message}` };
    if (E.isLeft(b)) return { output: name, message: `other tensor does not decode: ${b.left.message}` };
    const x = a.right;
    const y = b.right;
    if (x.dtype !== y.dtype) return { output: name, message: `dtype ${x.dtype} vs ${y.dtype}` };
    if (x.shape.join(',') !== y.shape.join(',')) return { output: name, message: `shape [${x.shape}] vs [${y.shape}]` };
    const tol = tolerances[name] ?? { atol: 0, rtol: 0, note: 'exact' };
    const exact = x.dtype === 'int32' || (tol.atol === 0 && tol.rtol === 0);
    for (let i = 0; i < x.size; i++) {
      const u = x.data[i];
      const v = y.data[i];
      if (Number.isNaN(u) && Number.isNaN(v)) continue;
      if (exact) {
        // Bit-exact, except that −0 and +0 are the same value for a max or an index.
        if (u !== v) return { output: name, message: `[${i}] ${u} ≠ ${v} (exact comparison)` };
        continue;
      }
      if (u === v) continue;
      const err = Math.abs(u - v);
      if (!(err <= tol.atol + tol.rtol * Math.abs(v)))
        return { output: name, message: `[${i}] ${u} vs ${v}: |Δ| = ${err} > ${tol.atol} + ${tol.rtol}·|b| (${tol.note})` };
    }
  }
  return null;
};
