/**
 * The element-wise layers of the Fast R-CNN head and the softmax: ReLU (SPEC §8.3), Dropout with
 * an explicit mask (SPEC §8.2) and Caffe's Softmax (SPEC §7). Everything is stored as float32,
 * like Caffe's blobs; float64 inputs are rounded to float32 on entry (a Caffe blob holds floats).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  adoptTensor,
  allocate,
  checkBinary,
  checkFinite,
  checkNumber,
  checkTensor,
  rangeError,
} from '../core/index.js';

const FLOAT = ['float32', 'float64'] as const;
const ANY = ['float32', 'float64', 'int32'] as const;

/**
 * @internal A float input seen as the float32 blob Caffe would hold: float32 tensors as they are,
 * float64 tensors rounded once to float32 (a fresh array; the input is never written).
 */
export const asFloat32 = (t: Tensor): Tensor<'float32'> =>
  t.dtype === 'float32' ? (t as Tensor<'float32'>) : adoptTensor('float32', t.shape, Float32Array.from(t.data));

/** @internal Shape of `t` as a dimension spec, so a second tensor must match it exactly. */
export const sameShape = (t: Tensor): readonly number[] => t.shape;

// ---------------------------------------------------------------------------------------- ReLU

/**
 * ReLU forward, SPEC §8.3 with slope 0: Caffe's CPU `std::max(x, 0) + 0·std::min(x, 0)`.
 * With std::max(a, b) = (a < b) ? b : a this is y = x < 0 ? +0 : x for every finite x: a negative x
 * gives max = +0 and 0·x = −0, +0 + −0 = +0; x = −0 gives −0 (−0 < 0 is false, both terms −0).
 * Non-finite values: NaN stays NaN (the comparison is false); −∞ gives +0 — the literal formula
 * would give 0·(−∞) = NaN, which no sane port reproduces, so the slope term is taken as absent.
 * Any shape; float32 or float64 in, float32 out.
 */
export const relu = (inputs: { readonly x: Tensor }): Result<{ readonly y: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { x?: unknown };
  const x0 = xs.x;
  const c = checkTensor('x', x0, (x0 as Tensor | undefined)?.shape ?? [], FLOAT);
  if (E.isLeft(c)) return c;
  const x = asFloat32(c.right).data;
  const y = allocate('float32', x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = v < 0 ? 0 : v;
  }
  return E.right({ y: adoptTensor('float32', c.right.shape, y) });
};

/**
 * ReLU backward, SPEC §8.3: dx = dy·([x > 0] + 0·[x ≤ 0]), i.e. dy where x > 0 and +0 elsewhere —
 * the gradient at exactly 0 is 0. Written as a selection, not a product, so a non-finite dy at a
 * non-positive x gives 0 (not 0·∞ = NaN); a NaN x selects 0. `x` is the layer's input (or its
 * output for an in-place ReLU: the same mask). x and dy of one shape, any rank.
 */
export const reluBackward = (inputs: { readonly x: Tensor; readonly dy: Tensor }): Result<{ readonly dx: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { x?: unknown; dy?: unknown };
  const cx = checkTensor('x', xs.x, (xs.x as Tensor | undefined)?.shape ?? [], FLOAT);
  if (E.isLeft(cx)) return cx;
  const cdy = checkTensor('dy', xs.dy, sameShape(cx.right), FLOAT);
  if (E.isLeft(cdy)) return cdy;
  const x = asFloat32(cx.right).data;
  const dy = asFloat32(cdy.right).data;
  const dx = allocate('float32', x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  return E.right({ dx: adoptTensor('float32', cx.right.shape, dx) });
};

// ------------------------------------------------------------------------------------- Dropout

export interface DropoutAttrs {
  /** Probability of dropping a unit, in [0, 1) (Caffe `dropout_ratio`). */
  readonly ratio: number;
}
export const DROPOUT_DEFAULTS: DropoutAttrs = Object.freeze({ ratio: 0.5 });

/**
 * Caffe's dropout scale (SPEC §8.2): `threshold_ = dropout_ratio` is a float, and
 * `scale_ = 1. / (1. - threshold_)` is evaluated in double and stored as a float. 1 − fl32(r) is
 * exact (Sterbenz for r ≥ 0.5, and exact in double anyway), so this is one rounding of the double
 * quotient: 2 for 0.5, 4 for 0.75, but 2.5000002 (not 2.5) for 0.6 because fl32(0.6) > 0.6.
 */
const dropoutScale = (attrs: unknown): Result<number> => {
  const a = (attrs ?? {}) as Partial<Record<keyof DropoutAttrs, unknown>>;
  const r = checkNumber('attrs.ratio', a.ratio ?? DROPOUT_DEFAULTS.ratio, 0, 1, { hi: true });
  if (E.isLeft(r)) return r;
  const t = Math.fround(r.right);
  // A ratio just below 1 can round to 1.0f: Caffe would divide by zero.
  if (!(t < 1)) return E.left(rangeError('attrs.ratio', `is ${r.right}, which rounds to 1 in float32: the scale 1/(1 − ratio) is infinite`));
  return E.right(Math.fround(1 / (1 - t)));
};

/** Shared by forward and backward: out = fl32(v·m·scale) (SPEC §8.2), a literal product. */
const applyMask = (
  name: string,
  v0: unknown,
  m0: unknown,
  attrs: unknown,
): Result<Tensor<'float32'>> => {
  const cv = checkTensor(name, v0, (v0 as Tensor | undefined)?.shape ?? [], FLOAT);
  if (E.isLeft(cv)) return cv;
  const cm = checkTensor('mask', m0, sameShape(cv.right), ANY);
  if (E.isLeft(cm)) return cm;
  const bin = checkBinary('mask', cm.right);
  if (E.isLeft(bin)) return bin;
  const s = dropoutScale(attrs);
  if (E.isLeft(s)) return s;
  const scale = s.right;
  const v = asFloat32(cv.right).data;
  const m = cm.right.data;
  const out = allocate('float32', v.length);
  // v·m is exact (m is 0 or 1), so this is Caffe's fl32(fl32(v·m)·scale). A non-finite v with
  // m = 0 gives NaN, as Caffe's product would (the input held a non-finite value).
  for (let i = 0; i < v.length; i++) out[i] = v[i] * m[i] * scale;
  return E.right(adoptTensor('float32', cv.right.shape, out));
};

/**
 * Dropout, TRAIN phase with `scale_train` (SPEC §8.2): y = fl32(x·mask·scale), scale =
 * fl32(1/(1 − fl32(ratio))). The mask (0/1, same shape as x, any dtype) is an input: draw it
 * with `dropoutMask` from core (Caffe's GPU keep rule) or pass your own.
 */
export const dropout = (
  inputs: { readonly x: Tensor; readonly mask: Tensor },
  attrs: Partial<DropoutAttrs> = {},
): Result<{ readonly y: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { x?: unknown; mask?: unknown };
  return E.map((y: Tensor<'float32'>) => ({ y }))(applyMask('x', xs.x, xs.mask, attrs));
};

/** Dropout backward (SPEC §8.2): dx = fl32(dy·mask·scale) with the forward's mask and ratio. */
export const dropoutBackward = (
  inputs: { readonly dy: Tensor; readonly mask: Tensor },
  attrs: Partial<DropoutAttrs> = {},
): Result<{ readonly dx: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { dy?: unknown; mask?: unknown };
  return E.map((dx: Tensor<'float32'>) => ({ dx }))(applyMask('dy', xs.dy, xs.mask, attrs));
};

// ------------------------------------------------------------------------------------- Softmax

/**
 * @internal Caffe Softmax over the rows of a float32 [R, K] (SPEC §7): per row subtract the row
 * max (float32 subtraction), exp, divide by the row sum (float32 division). Caffe's expf is
 * emulated by the double exp rounded once to float32; the row sum is accumulated in float64 and
 * rounded once (DESIGN.md; Caffe sums in float32, in an order the GPU leaves unspecified).
 * Finite input never gives NaN: x − max ≤ 0, so exp ≤ 1 and the max element contributes exactly
 * 1 to the sum (≥ 1); a difference that overflows to −∞ gives exp = 0.
 */
export const softmaxRows = (x: ArrayLike<number>, R: number, K: number): Float32Array => {
  const p = allocate('float32', R * K);
  for (let r = 0; r < R; r++) {
    const o = r * K;
    let m = x[o];
    for (let k = 1; k < K; k++) if (x[o + k] > m) m = x[o + k];
    let s = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.fround(Math.exp(Math.fround(x[o + k] - m)));
      p[o + k] = e;
      s += e;
    }
    const sum = Math.fround(s);
    for (let k = 0; k < K; k++) p[o + k] = p[o + k] / sum; // the store rounds: fl32(e / sum)
  }
  return p;
};

/** @internal Validates a score matrix [R, K] (K ≥ 1), finite after rounding to float32. */
export const checkScores = (name: string, t: unknown, env: Map<string, number>): Result<Tensor<'float32'>> => {
  const c = checkTensor(name, t, ['R', 'K'], FLOAT, env);
  if (E.isLeft(c)) return c;
  if (c.right.shape[1] < 1) return E.left(rangeError(name, `has shape [${c.right.shape.join(', ')}]: there must be at least one class column (K ≥ 1)`));
  const f = asFloat32(c.right);
  const fin = checkFinite(name, f);
  if (E.isLeft(fin)) return fin;
  return E.right(f);
};

/** Softmax over the classes of x [R, K] (SPEC §7): the readonly branch's `cls_prob`. */
export const softmax = (inputs: { readonly x: Tensor }): Result<{ readonly prob: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { x?: unknown };
  const c = checkScores('x', xs.x, new Map());
  if (E.isLeft(c)) return c;
  const [R, K] = c.right.shape;
  return E.right({ prob: adoptTensor('float32', [R, K], softmaxRows(c.right.data, R, K)) });
};
