/**
 * The element-wise layers of the Fast R-CNN head and the softmax: ReLU (SPEC §8.3), Dropout with
 * an explicit mask (SPEC §8.2) and Caffe's Softmax (SPEC §7). Everything is stored as float32,
 * like Caffe's blobs; float64 inputs are rounded to float32 on entry (a Caffe blob holds floats).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, allocate, checkBinary, checkFinite, rangeError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, type Tolerance, convention, exact, opFn } from './def.js';
import { referenceKernels } from './kernels.js';
import { SOFTMAX_PROB } from './precision.js';

const U = 2 ** -24; // float32 unit roundoff

/** A float input of any shape, read as float32. */
const anyFloat = (name: string, doc: string, like?: string): InputDef => ({
  name,
  dtypes: ['float32'],
  accepts: ['float64'],
  read: 'float32',
  shape: like ? { like } : { any: true },
  doc,
});

const data32 = (t: Tensor): Float32Array => t.data as unknown as Float32Array;

// ---------------------------------------------------------------------------------------- ReLU

/**
 * ReLU forward, SPEC §8.3 with slope 0: Caffe's CPU `std::max(x, 0) + 0·std::min(x, 0)`.
 * With std::max(a, b) = (a < b) ? b : a this is y = x < 0 ? +0 : x for every finite x: a negative x
 * gives max = +0 and 0·x = −0, +0 + −0 = +0; x = −0 gives −0 (−0 < 0 is false, both terms −0).
 * Non-finite values: NaN stays NaN (the comparison is false); −∞ gives +0 — the literal formula
 * would give 0·(−∞) = NaN, which no sane port reproduces, so the slope term is taken as absent.
 */
export const reluRaw = (x: ArrayLike<number>): Float32Array => {
  const y = allocate('float32', x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = v < 0 ? 0 : v;
  }
  return y;
};

/**
 * ReLU backward, SPEC §8.3: dx = dy·([x > 0] + 0·[x ≤ 0]), i.e. dy where x > 0 and +0 elsewhere —
 * the gradient at exactly 0 is 0. Written as a selection, not a product, so a non-finite dy at a
 * non-positive x gives 0 (not 0·∞ = NaN); a NaN x selects 0. `x` is the layer's input (or its
 * output for an in-place ReLU: the same mask).
 */
export const reluBackwardRaw = (x: ArrayLike<number>, dy: ArrayLike<number>): Float32Array => {
  const dx = allocate('float32', x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  return dx;
};

export const reluDef: OpDef<Record<string, never>, { readonly y: Tensor<'float32'> }> = {
  name: 'relu',
  version: 1,
  summary: 'ReLU: y = max(x, 0) (Caffe, slope 0)',
  doc: 'docs/semantics.md#relu',
  inputs: [anyFloat('x', 'any shape')],
  attrs: [],
  outputs: [{ name: 'y', dtype: 'float32', shape: { like: 'x' }, tolerance: exact('a selection: no arithmetic (±0 compare equal)'), doc: 'max(x, 0)' }],
  kernels: [],
  run: (v) => E.right({ y: adoptTensor('float32', v.inputs.x.shape, reluRaw(v.inputs.x.data)) }),
};

export const reluBackwardDef: OpDef<Record<string, never>, { readonly dx: Tensor<'float32'> }> = {
  name: 'relu_backward',
  version: 1,
  summary: 'ReLU backward: dx = dy where x > 0, else 0',
  doc: 'docs/semantics.md#relu',
  inputs: [anyFloat('x', 'the forward\'s input (or output: the same mask), any shape'), anyFloat('dy', 'the gradient of y, x\'s shape', 'x')],
  attrs: [],
  outputs: [{ name: 'dx', dtype: 'float32', shape: { like: 'x' }, tolerance: exact('a selection: dy where x > 0, else 0'), doc: 'the gradient of x' }],
  kernels: [],
  run: (v) => E.right({ dx: adoptTensor('float32', v.inputs.x.shape, reluBackwardRaw(v.inputs.x.data, v.inputs.dy.data)) }),
};

/** ReLU (SPEC §8.3): x any shape, float32 or float64 in, float32 out. */
export const relu = opFn<{ readonly x: Tensor }, Record<string, never>, { readonly y: Tensor<'float32'> }>(reluDef, () => referenceKernels);
/** ReLU backward (SPEC §8.3): x and dy of one shape. */
export const reluBackward = opFn<{ readonly x: Tensor; readonly dy: Tensor }, Record<string, never>, { readonly dx: Tensor<'float32'> }>(reluBackwardDef, () => referenceKernels);

// ------------------------------------------------------------------------------------- Dropout

export interface DropoutAttrs {
  /** Probability of dropping a unit, in [0, 1) (Caffe `dropout_ratio`). */
  readonly ratio: number;
  /** Convention (reference only): the precision the ratio is held in before 1/(1 − ratio); the original's is float32. */
  readonly ratio_precision: 'float32' | 'float64';
  /** Convention of dropout_backward (reference only): which product comes first; absent: `mask_first`. */
  readonly grad_order?: 'mask_first' | 'scale_first';
}

/** The dropout convention other libraries choose otherwise (reference only, docs/protocol.md "Conventions"). */
export const DROPOUT_CONVENTIONS: readonly AttrDef[] = [
  convention('ratio_precision', 'float32: scale = fl32(1/(1 − fl32(ratio))) (Caffe: 2.5000002 for 0.6); float64: scale = fl32(1/(1 − ratio)) (torch, TF: 2.5 for 0.6)', {
    float32: 'rounds the ratio to float32 before 1/(1 − ratio), as Caffe does (2.5000002 for 0.6)',
    float64: 'takes 1/(1 − ratio) of the ratio as a double (torch, TF: 2.5 for 0.6)',
  }),
];

/** Caffe's `dropout_ratio` (default 0.5): dropout's `ratio`, ohem_step's `dropout_ratio`. */
export const DROPOUT_RATIO: AttrDef = {
  name: 'ratio',
  domain: { kind: 'number', min: 0, max: 1, maxOpen: true },
  default: 0.5,
  doc: 'probability of dropping a unit, in [0, 1) (Caffe dropout_ratio); the scale is fl32(1/(1 − fl32(ratio)))',
};

/**
 * Caffe's dropout scale (SPEC §8.2): `threshold_ = dropout_ratio` is a float, and
 * `scale_ = 1. / (1. - threshold_)` is evaluated in double and stored as a float. 1 − fl32(r) is
 * exact (Sterbenz for r ≥ 0.5, and exact in double anyway), so this is one rounding of the double
 * quotient: 2 for 0.5, 4 for 0.75, but 2.5000002 (not 2.5) for 0.6 because fl32(0.6) > 0.6.
 * A ratio just below 1 can round to 1.0f, where Caffe would divide by zero: a Left naming `input`.
 */
export const dropoutScale = (ratio: number, input = 'attrs.ratio', precision: 'float32' | 'float64' = 'float32'): Result<number> => {
  const t = precision === 'float32' ? Math.fround(ratio) : ratio;
  if (!(t < 1)) return E.left(rangeError(input, `is ${ratio}, which rounds to 1 in float32: the scale 1/(1 − ratio) is infinite`));
  return E.right(Math.fround(1 / (1 - t)));
};

/** out = fl32(v·m·scale) (SPEC §8.2), a literal product: v·m is exact (m is 0 or 1). */
export const dropoutRaw = (v: ArrayLike<number>, m: ArrayLike<number>, scale: number, scaleFirst = false): Float32Array => {
  const out = allocate('float32', v.length);
  // A non-finite v with m = 0 gives NaN, as Caffe's product would (the input held a non-finite value).
  // v·m·scale in double is fl32-exact before the store (v·m is exact, v·scale fits 48 bits);
  // scale first rounds v·scale to float32 before ·m, so an overflow to ∞ meets m = 0 as NaN.
  if (scaleFirst) for (let i = 0; i < v.length; i++) out[i] = Math.fround(v[i] * scale) * m[i];
  else for (let i = 0; i < v.length; i++) out[i] = v[i] * m[i] * scale;
  return out;
};

const MASK_INPUT: InputDef = {
  name: 'mask',
  dtypes: ['float32'],
  accepts: ['float64', 'int32'],
  read: 'as-is',
  shape: { like: 'x' },
  doc: 'the 0/1 keep mask, the shape of the data (draw it with dropoutMask, Caffe\'s GPU keep rule, or pass your own)',
};

const dropoutCheck = (v: { inputs: Readonly<Record<string, Tensor>> }): Result<unknown> => checkBinary('mask', v.inputs.mask);

/** The masked, scaled data; a ratio that rounds to 1 is the Left of `dropoutScale`. */
const applyMask = (data: Tensor, mask: Tensor, a: DropoutAttrs): Result<Tensor<'float32'>> =>
  E.map((scale: number) => adoptTensor('float32', data.shape, dropoutRaw(data.data, mask.data, scale, a.grad_order === 'scale_first')))(
    dropoutScale(a.ratio, 'attrs.ratio', a.ratio_precision),
  );

/** dropout_backward's conventions: the forward's, and the order of the gradient's two products. */
const DROPOUT_BACKWARD_CONVENTIONS: readonly AttrDef[] = [
  ...DROPOUT_CONVENTIONS,
  convention('grad_order', 'mask_first: dx = fl32(dy·mask·scale) (Caffe; torch\'s native_dropout_backward); scale_first: dx = fl32(dy·scale)·mask, the chain rule through x·mask·scale (tf.grad, autograd of the written product)', {
    mask_first: 'multiplies dy by the mask first: a dropped unit\'s gradient is 0 whatever dy (Caffe)',
    scale_first: 'multiplies dy by the scale first, as the chain rule through x·mask·scale does: dy·scale overflowing to ∞ meets mask 0 as NaN (tf.grad)',
  }),
];

export const dropoutDef: OpDef<DropoutAttrs, { readonly y: Tensor<'float32'> }> = {
  name: 'dropout',
  version: 1,
  summary: 'Dropout, TRAIN phase with scale_train: y = fl32(x·mask·scale) with an explicit mask',
  doc: 'docs/semantics.md#dropout',
  inputs: [anyFloat('x', 'any shape'), MASK_INPUT],
  attrs: [DROPOUT_RATIO],
  conventions: DROPOUT_CONVENTIONS,
  outputs: [
    { name: 'y', dtype: 'float32', shape: { like: 'x' }, tolerance: exact('x·m is exact (m ∈ {0,1}); one float32 rounding of ·scale, with scale = fl32(1/(1 − fl32(ratio))) on both sides'), doc: 'x·mask·scale' },
  ],
  kernels: [],
  check: dropoutCheck,
  run: (v) => E.map((y: Tensor<'float32'>) => ({ y }))(applyMask(v.inputs.x, v.inputs.mask, v.attrs)),
};

export const dropoutBackwardDef: OpDef<DropoutAttrs, { readonly dx: Tensor<'float32'> }> = {
  name: 'dropout_backward',
  version: 1,
  summary: 'Dropout backward: dx = fl32(dy·mask·scale) with the forward\'s mask and ratio',
  doc: 'docs/semantics.md#dropout',
  inputs: [anyFloat('dy', 'the gradient of y, any shape'), { ...MASK_INPUT, shape: { like: 'dy' } }],
  attrs: [DROPOUT_RATIO],
  conventions: DROPOUT_BACKWARD_CONVENTIONS,
  outputs: [{ name: 'dx', dtype: 'float32', shape: { like: 'dy' }, tolerance: exact('dy·m is exact; one float32 rounding of ·scale'), doc: 'dy·mask·scale' }],
  kernels: [],
  check: dropoutCheck,
  run: (v) => E.map((dx: Tensor<'float32'>) => ({ dx }))(applyMask(v.inputs.dy, v.inputs.mask, v.attrs)),
};

/**
 * Dropout, TRAIN phase with `scale_train` (SPEC §8.2): y = fl32(x·mask·scale), scale =
 * fl32(1/(1 − fl32(ratio))). The mask (0/1, same shape as x, any dtype) is an input: draw it
 * with `dropoutMask` from core (Caffe's GPU keep rule) or pass your own.
 */
export const dropout = opFn<{ readonly x: Tensor; readonly mask: Tensor }, DropoutAttrs, { readonly y: Tensor<'float32'> }>(dropoutDef, () => referenceKernels);
/** Dropout backward (SPEC §8.2): dx = fl32(dy·mask·scale) with the forward's mask and ratio. */
export const dropoutBackward = opFn<{ readonly dy: Tensor; readonly mask: Tensor }, DropoutAttrs, { readonly dx: Tensor<'float32'> }>(dropoutBackwardDef, () => referenceKernels);

// ------------------------------------------------------------------------------------- Softmax

/**
 * Caffe Softmax over the rows of a float32 [R, K] (SPEC §7): per row subtract the row
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

/** A score matrix [R, K] (K ≥ 1), finite after rounding to float32: softmax's x, softmax_loss's scores. */
export const scoresInput = (name: string, doc: string): InputDef => ({ name, dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: ['R', 'K'], doc });

/** K ≥ 1 and every score finite. */
export const checkScores = (name: string, t: Tensor): Result<unknown> => {
  if (t.shape[1] < 1) return E.left(rangeError(name, `has shape [${t.shape.join(', ')}]: there must be at least one class column (K ≥ 1)`));
  return checkFinite(name, t);
};

// softmax (both sides): d = fl32(x − max) identical; e = fl32(exp d) where each side's double exp
// is within ~1 double ulp, so the float32 e agree or differ by 1 ulp (a rounding-boundary
// straddle); s = fl32(Σe) with the sums in float64 in different orders (differences ~K·2^-53) and
// at worst K−1 e's off by an ulp each (≤ 5u relative for K = 6); then p = fl32(e/s). Worst case
// |Δp| ≤ (1 + 5 + 1 + 1)u = 8u relative; subnormal p (scores ±80 give e down to e^-160 → 0) have
// absolute rounding 2^-150 on each side, ≤ 2 subnormal ulps apart: atol 1e-44.
export const PROB_TOLERANCE: Tolerance = {
  atol: 1e-44,
  rtol: 8 * U,
  note: 'softmax: exp ±1 float32 ulp per element (double exp in another libm), sums in another order: ≤ 8u relative; 1e-44 for subnormal p',
};

export const softmaxDef: OpDef<Record<string, never>, { readonly prob: Tensor<'float32'> }> = {
  name: 'softmax',
  version: 1,
  summary: 'Caffe Softmax over the classes of each row',
  doc: 'docs/semantics.md#softmax',
  inputs: [scoresInput('x', 'scores [R, K], finite, K ≥ 1')],
  attrs: [],
  outputs: [
    { name: 'prob', dtype: 'float32', shape: ['R', 'K'], tolerance: PROB_TOLERANCE, precision: SOFTMAX_PROB('x'), doc: 'the row-wise softmax (the read-only branch\'s cls_prob)' },
  ],
  kernels: [],
  check: (v) => checkScores('x', v.inputs.x),
  run: (v) => E.right({ prob: adoptTensor('float32', [v.dims.R, v.dims.K], softmaxRows(data32(v.inputs.x), v.dims.R, v.dims.K)) }),
};

/** Softmax over the classes of x [R, K] (SPEC §7): the readonly branch's `cls_prob`. */
export const softmax = opFn<{ readonly x: Tensor }, Record<string, never>, { readonly prob: Tensor<'float32'> }>(softmaxDef, () => referenceKernels);
