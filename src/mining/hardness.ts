/**
 * Per-RoI hardness of the OHEM mining layer (SPEC §1, docs/mining.md §1): the loss the read-only
 * pass assigns to every RoI, by which the hard RoIs are chosen.
 *
 *   cls_i  = −fl32(ln p)   if p = cls_prob[i, y_i] > ε,  else −ln ε   (ε = 2^-52, NOT FLT_MIN)
 *   bbox_i = Σ_{k: w_in ≠ 0} w_out · s(fl32(w_in · fl32(pred − tgt)))  for y_i > 0, else 0
 *            s(x) = 0.5x² if |x| < 1 else |x| − 0.5   (σ = 1, strict <, in double; no 1/N)
 *   loss_i = cls_i + bbox_i   element-wise in double (pitfall 1: never list concatenation)
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, DBL_EPSILON, FLT_MIN, adoptTensor, checkFinite, checkIntegerValues, valueError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, type Tolerance, labelsInput, opFn, referenceKernels } from '../ops/index.js';

export interface RoiLossAttrs {
  /** The clamp of the mining loss: `np.finfo(float).eps` = 2^-52 in the original (SPEC §1.2). */
  readonly eps: number;
}

/** The clamp of the mining loss, shared with ohem_step. */
export const EPS_ATTR: AttrDef = {
  name: 'eps',
  domain: { kind: 'number', min: 0, minOpen: true },
  default: DBL_EPSILON,
  doc: 'the clamp of the mining loss: np.finfo(float).eps = 2^-52 (SPEC §1.2), not FLT_MIN',
  alternatives: [
    { value: FLT_MIN, name: 'FLT_MIN', means: 'clamps the probability at FLT_MIN (Caffe SoftmaxWithLoss\'s clamp) instead of the original\'s 2^-52' },
    { value: 1e-14, means: 'clamps the probability at 1e-14 instead of the original\'s 2^-52' },
  ],
};

export interface RoiLossInputs {
  readonly cls_prob: Tensor;
  readonly labels: Tensor;
  readonly bbox_pred?: Tensor;
  readonly bbox_targets?: Tensor;
  readonly bbox_inside_weights?: Tensor;
  readonly bbox_outside_weights?: Tensor;
}

export interface RoiLossOutputs {
  readonly loss: Tensor<'float64'>;
  readonly cls_loss: Tensor<'float64'>;
  readonly bbox_loss: Tensor<'float64'>;
}

const BBOX = ['bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;

/**
 * The kernel, on validated float32 data: fills cls and bbox (length R), returns nothing.
 * Exported for ohemStep, which has already validated its inputs.
 */
export const roiLossKernel = (
  prob: ArrayLike<number>,
  labels: ArrayLike<number>,
  R: number,
  K: number,
  eps: number,
  bbox: { pred: ArrayLike<number>; tgt: ArrayLike<number>; win: ArrayLike<number>; wout: ArrayLike<number>; D: number } | null,
): { cls: Float64Array; bbox: Float64Array; loss: Float64Array } => {
  const fl32 = Math.fround;
  const clamped = -Math.log(eps);
  const cls = new Float64Array(R);
  const bb = new Float64Array(R);
  const loss = new Float64Array(R);
  for (let i = 0; i < R; i++) {
    const y = Math.trunc(labels[i]);
    const p = prob[i * K + y];
    // Python's builtin max(p, eps): p wins ties (first argument), so p == eps keeps the float32 log.
    cls[i] = p >= eps ? -fl32(Math.log(p)) : clamped;
    if (bbox && y > 0) {
      const { pred, tgt, win, wout, D } = bbox;
      let s = 0;
      for (let k = 0, o = i * D; k < D; k++, o++) {
        const wi = win[o];
        if (wi === 0) continue;
        const x = fl32(wi * fl32(pred[o] - tgt[o]));
        const ax = Math.abs(x);
        s += wout[o] * (ax < 1 ? 0.5 * x * x : ax - 0.5);
      }
      bb[i] = s;
    }
    // Without the bbox term the original's loss stays the list of cls values (SPEC §1.4): a −0
    // from p = 1 stays −0, where adding a +0 bbox term would make it +0.
    loss[i] = bbox ? cls[i] + bb[i] : cls[i];
  }
  return { cls, bbox: bb, loss };
};

const bboxInput = (name: string, doc: string): InputDef => ({
  name,
  dtypes: ['float32', 'float64'],
  read: 'float32',
  shape: ['R', 'D'],
  presence: 'optional',
  doc: `${doc} [R, D], finite; all four bbox inputs or none`,
});

/**
 * The float64 outputs of ohem_roi_loss.
 * - cls_loss: −fl32(ln p) is a float32 log (SPEC §1.2). Both the reference and the oracle emulate
 *   it as the double log rounded to float32 (fround(Math.log(p)) / fl32(math.log(p))), and agree
 *   bit for bit where the two double logs agree (1000 of 1000 generated requests here). But V8's
 *   Math.log and the platform libm's log may differ by a double ulp, which after rounding to
 *   float32 can move the result by 1 float32 ulp; and a port (or an oracle) that uses NumPy's own
 *   float32 `log` ufunc gets a SIMD approximation documented up to 3.83 ULP (AVX512F; e.g. at
 *   p = 2⁻⁵² NumPy 2.4.6 gives 36.043655, one ulp above the correctly rounded 36.0436516), while
 *   the original's 2016 libm `logf` is ≤ 1 ulp (SPEC pitfall 3 allows 1 ulp). One float32 ulp of a
 *   normal value v is ≤ 2⁻²³·|v|, so 4 ulps ≤ 2⁻²¹·|b|: atol 0, rtol 2⁻²¹. The clamped branch
 *   (p < ε) is the double −ln ε on both sides and p = 1 gives 0 on both sides (log 1 = 0 exactly).
 * - bbox_loss: every term w_out·s(x) is one double rounding of an exact product (x is float32, so
 *   0.5·x² and |x| − 0.5 are exact in double), identical on both sides; only the summation order
 *   may differ (docs say left to right; a pairwise np.sum differs by at most (n−1)·2⁻⁵³·Σ|terms|).
 *   The generated outside weights are ≥ 0 and s ≥ 0, so Σ|terms| = |bbox|, and n ≤ 4K = 84:
 *   rtol 2⁻⁴⁵ > 83·2⁻⁵³.
 * - loss = cls + bbox (one more double rounding, 2⁻⁵³): cls ≥ 0 and bbox ≥ 0 here, so both parts'
 *   errors are relative to the sum as well: rtol 2⁻²¹ + 2⁻⁴⁴.
 */
const CLS_TOL: Tolerance = { atol: 0, rtol: 2 ** -21, note: 'float32 log: ≤ 4 float32 ulps (NumPy SIMD float32 log ≤ 3.83 ULP; fround(Math.log) ≤ 0.5 ulp); clamped values exact' };
const BBOX_TOL: Tolerance = { atol: 0, rtol: 2 ** -45, note: 'identical double terms; only the summation order of ≤ 84 non-negative terms may differ: (n−1)·2⁻⁵³ < 2⁻⁴⁵' };
const LOSS_TOL: Tolerance = { atol: 0, rtol: 2 ** -21 + 2 ** -44, note: 'cls (≤ 4 float32 ulps) + bbox (summation order) + one double rounding; both parts ≥ 0, so relative to the sum' };

export const roiLossDef: OpDef<RoiLossAttrs, RoiLossOutputs> = {
  name: 'ohem_roi_loss',
  version: 1,
  summary: 'the hardness of every RoI: the mining layer\'s cls + bbox loss with ε = 2^-52',
  doc: 'docs/mining.md#1-hardness',
  inputs: [
    { name: 'cls_prob', dtypes: ['float32', 'float64'], read: 'float32', shape: ['R', 'K'], doc: 'the read-only softmax [R, K], finite, K ≥ 1' },
    labelsInput('class ids [R], integers in [0, K)'),
    bboxInput('bbox_pred', 'the read-only regression'),
    bboxInput('bbox_targets', 'the regression targets'),
    bboxInput('bbox_inside_weights', 'the inside weights'),
    bboxInput('bbox_outside_weights', 'the outside weights'),
  ],
  attrs: [EPS_ATTR],
  outputs: [
    { name: 'loss', dtype: 'float64', shape: ['R'], tolerance: LOSS_TOL, doc: 'cls_loss + bbox_loss, element-wise in double' },
    { name: 'cls_loss', dtype: 'float64', shape: ['R'], tolerance: CLS_TOL, addition: true, doc: '−fl32(ln p) or −ln ε' },
    { name: 'bbox_loss', dtype: 'float64', shape: ['R'], tolerance: BBOX_TOL, addition: true, doc: 'the unnormalised smooth-L1 (σ = 1) of foreground RoIs; 0 without the bbox inputs' },
  ],
  kernels: [],
  check: (v) => {
    if (v.dims.K < 1) return E.left(valueError('cls_prob', 'has no class column (K = 0)'));
    const fin = checkFinite('cls_prob', v.inputs.cls_prob);
    if (E.isLeft(fin)) return fin;
    const lab = checkIntegerValues('labels', v.inputs.labels, 0, v.dims.K, 'class id');
    if (E.isLeft(lab)) return lab;
    const present = BBOX.filter((n) => v.inputs[n] !== undefined);
    if (present.length !== 0 && present.length !== 4) {
      const missing = BBOX.find((n) => v.inputs[n] === undefined)!;
      return E.left(valueError(missing, `is missing: give all four of ${BBOX.join(', ')} or none`));
    }
    for (const n of present) {
      const f = checkFinite(n, v.inputs[n]);
      if (E.isLeft(f)) return f;
    }
    return E.right(undefined);
  },
  run: (v) => {
    const { R, K } = v.dims;
    const d32 = (n: string) => v.inputs[n].data as unknown as Float32Array;
    const bbox = v.inputs.bbox_pred
      ? { pred: d32('bbox_pred'), tgt: d32('bbox_targets'), win: d32('bbox_inside_weights'), wout: d32('bbox_outside_weights'), D: v.dims.D }
      : null;
    const k = roiLossKernel(d32('cls_prob'), v.inputs.labels.data, R, K, v.attrs.eps, bbox);
    const out = (a: Float64Array) => adoptTensor('float64', [R], a);
    return E.right({ loss: out(k.loss), cls_loss: out(k.cls), bbox_loss: out(k.bbox) });
  },
};

/** `ohem_roi_loss`: the hardness of every RoI (SPEC §1). */
export const roiLoss = opFn<RoiLossInputs, RoiLossAttrs, RoiLossOutputs>(roiLossDef, () => referenceKernels);
