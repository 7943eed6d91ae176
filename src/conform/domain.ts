/**
 * Protocol 1.1's domain (docs/protocol.md "The contract's domain"), read from the op defs: the
 * dtypes an input's def lists as the contract, and integer values where the def marks a column
 * integral (RoI batch indices). The generators also draw requests beyond the domain — float64 in a
 * float32 slot, a batch index of 0.5 — because the reference answers them the way the original
 * computes; conform moves each request into the domain before it judges a port on it, and sends
 * the original only as a probe whose answer is information ("the port is stricter"), never a
 * failure.
 *
 * The port is judged against the reference's answer to the moved request. Moving a dtype keeps
 * that answer (a float32 slot reads a float64 tensor as float32, so rounding the values first
 * changes nothing: a test holds it to that); truncating a fractional batch index keeps it for the
 * pooling ops (C's (int) cast) but not for the selection, whose images are the distinct values of
 * the column (np.unique: 0.5 is an image of its own there).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { DType, Tensor } from '../core/index.js';
import { decodeTensor } from '../protocol/codec.js';
import { presenceOf, type AnyOpDef } from '../ops/index.js';
import type { Req } from './suites.js';

export interface Beyond {
  readonly input: string;
  /** A dtype outside the contract's, or fractional values where it wants integers. */
  readonly kind: 'dtype' | 'integral';
  /** What about it is beyond the domain, as a phrase: "float64 rois", "fractional batch indices in rois". */
  readonly what: string;
}

const fround = Math.fround;

/** A wire tensor's dtype, shape and values as plain numbers, whichever encoding it uses; null when it does not decode. */
const plain = (name: string, t: unknown): { dtype: DType; shape: number[]; data: number[] } | null => {
  const d = decodeTensor(name, t);
  if (E.isLeft(d)) return null;
  const x: Tensor = d.right;
  return { dtype: x.dtype, shape: [...x.shape], data: Array.from(x.data) };
};

/**
 * The request moved into the contract's domain, and what the original had beyond it (empty: it
 * was inside). `keep` leaves one thing beyond the domain as it is (a probe of just that).
 */
export const intoDomain = (def: AnyOpDef, req: Req, keep?: Pick<Beyond, 'input' | 'kind'>): { readonly req: Req; readonly beyond: readonly Beyond[] } => {
  const beyond: Beyond[] = [];
  let inputs: Record<string, unknown> | null = null;
  for (const i of def.inputs) {
    const raw = req.inputs[i.name];
    if (raw === undefined || raw === null || presenceOf(i, req.attrs) === 'unused') continue;
    const head = raw as { dtype?: unknown };
    const inDtype = typeof head.dtype === 'string' && i.dtypes.includes(head.dtype as DType);
    const col = i.integral?.column;
    if (inDtype && col === undefined) continue;
    const t = plain(i.name, raw);
    if (!t) continue; // the reference will refuse it, and conform reports that as its own bug
    let data = t.data;
    let dtype = t.dtype;
    let changed = false;
    const kept = (kind: Beyond['kind']) => keep !== undefined && keep.input === i.name && keep.kind === kind;
    if (!inDtype && !kept('dtype')) {
      changed = true;
      const to = i.dtypes[0];
      beyond.push({ input: i.name, kind: 'dtype', what: `${t.dtype} ${i.name} (the contract says ${i.dtypes.join(' or ')})` });
      data = to === 'float32' ? data.map(fround) : data;
      dtype = to;
    }
    if (col !== undefined && t.shape.length > 0 && !kept('integral')) {
      const last = t.shape[t.shape.length - 1];
      let fractional = false;
      data = data.map((v, k) => {
        if (k % last !== col || Number.isInteger(v)) return v;
        fractional = true;
        return Math.trunc(v) + 0; // −0.5 → 0, as C's (int) cast
      });
      if (fractional) {
        changed = true;
        beyond.push({ input: i.name, kind: 'integral', what: `fractional ${i.integral!.what} in ${i.name}` });
      }
    }
    if (changed) {
      inputs ??= { ...req.inputs };
      inputs[i.name] = { dtype, shape: t.shape, data };
    }
  }
  return { req: inputs ? { ...req, inputs } : req, beyond };
};
