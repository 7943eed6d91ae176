/**
 * The two training losses of the Fast R-CNN head, forward and backward (for a top gradient of 1):
 * Caffe's SoftmaxWithLoss (SPEC §7, pitfall 20) and the caffe-fast-rcnn SmoothL1Loss that OHEM
 * trains with (SPEC §6, pitfall 19). Storage is float32 like Caffe's blobs; sums are accumulated
 * in float64 and stored once (DESIGN.md).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, FLT_MIN, adoptTensor, allocate, checkFinite, rangeError, shapeError, valueError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, type Tolerance, opFn, convention } from './def.js';
import { referenceKernels } from './kernels.js';
import { SOFTMAX_LOSS_GRAD, SOFTMAX_LOSS_LOSS, SOFTMAX_PROB } from './precision.js';
import { PROB_TOLERANCE, checkScores, scoresInput, softmaxRows } from './activations.js';

const U = 2 ** -24; // float32 unit roundoff
const data32 = (t: Tensor): Float32Array => t.data as unknown as Float32Array;

// ------------------------------------------------------------------------------ SoftmaxWithLoss

export type Normalization = 'valid' | 'batch_size' | 'full' | 'none';
export const NORMALIZATIONS: readonly Normalization[] = ['valid', 'batch_size', 'full', 'none'];

export type Clamp = 'flt_min' | 'log_softmax';
export type EmptyNormalizer = 'floor_one' | 'nan' | 'nan_grad';

export interface SoftmaxCEAttrs {
  /** Caffe `LossParameter.normalization` (default VALID, SPEC §7). */
  readonly normalization: Normalization;
  /** Caffe `ignore_label`: absent (undefined or null) means no label is ignored. */
  readonly ignore_label: number | null;
  /** Convention (reference only): how −ln p is taken; the original clamps p at FLT_MIN. */
  readonly clamp: Clamp;
  /** Convention (reference only): the normaliser of a batch with no valid row; the original floors it at 1. */
  readonly empty_normalizer: EmptyNormalizer;
}

/**
 * The conventions of the cross-entropy that other libraries choose otherwise (reference only,
 * docs/protocol.md "Conventions"): conform's attribution and profiles run the reference under them.
 */
export const SOFTMAX_LOSS_CONVENTIONS: readonly AttrDef[] = [
  convention('clamp', 'flt_min: ℓ = −ln max(p, FLT_MIN) (Caffe, at most 87.3365 a row); log_softmax: ℓ = −(x_y − max − ln Σ e^(x − max)), unclamped (torch cross_entropy, TF)', {
    flt_min: 'clamps p at FLT_MIN, so a row costs at most 87.3365 (Caffe)',
    log_softmax: 'takes the log-softmax without a clamp, so a row can cost more than 87.3365 (torch cross_entropy, TF)',
  }),
  convention('empty_normalizer', 'floor_one: Z = max(1, n) (Caffe: a batch whose every label is ignored has loss 0); nan: Z = n, so 0/0 = NaN (torch mean reduction; its gradients stay 0); nan_grad: the same with NaN gradients (TF)', {
    floor_one: 'floors the normaliser at 1: a batch whose every label is ignored has loss 0 (Caffe)',
    nan: 'divides by the number of valid rows without a floor: a batch whose every label is ignored has loss NaN (torch cross_entropy, mean)',
    nan_grad: 'divides loss and gradient by the number of valid rows: a batch whose every label is ignored has loss NaN and every gradient NaN, 0/0 (TensorFlow\'s SUM_BY_NONZERO_WEIGHTS)',
  }),
];

/** Caffe's LossParameter.normalization, shared with ohem_step. */
export const NORMALIZATION_ATTR: AttrDef = {
  name: 'normalization',
  domain: { kind: 'enum', values: NORMALIZATIONS },
  default: 'valid',
  doc: 'the divisor Z of the summed loss: valid (non-ignored rows), batch_size and full (R), none (1); floored at 1',
};

/** −ln(FLT_MIN) = 126·ln 2 ≈ 87.3365: the largest per-sample loss SoftmaxWithLoss can report. */
export const MAX_SOFTMAX_SAMPLE_LOSS = Math.fround(-Math.log(FLT_MIN));

/**
 * Caffe SoftmaxWithLoss over validated float32 scores [R, K] with labels [R] (SPEC §7):
 *
 *   p = softmax(scores) (row-wise, float32, §7)
 *   ℓ_i = fl32(−ln(max(p[i, y_i], FLT_MIN)))                 (Caffe's GPU kernel: logf of a float)
 *   loss = fl32( fl32(Σ_valid ℓ_i) / Z )                      (Σ in float64, stored once; float division)
 *   scores_grad[i, k] = fl32( fl32(p[i, k] − [k = y_i]) · fl32(1/Z) ),  0 for ignored rows
 *
 * with Z = max(1, n): n = number of non-ignored rows (valid), R (batch_size; and full, since
 * Caffe's outer·inner = R·1 here — not R·K), 1 (none). The gradient uses the UNclamped p: a
 * probability that underflowed to 0 gives loss 87.3365 per sample and gradient −1/Z in the label
 * column. Labels are integer class ids in [0, K) or the ignore label.
 */
export const softmaxLossRaw = (
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  R: number,
  K: number,
  normalization: Normalization,
  ignore: number | null,
  clamp: Clamp = 'flt_min',
  emptyNormalizer: EmptyNormalizer = 'floor_one',
): { loss: number; prob: Float32Array; grad: Float32Array } => {
  const p = softmaxRows(scores, R, K);
  let valid = 0;
  for (let i = 0; i < R; i++) if (labels[i] !== ignore) valid++;
  const n = normalization === 'valid' ? valid : normalization === 'none' ? 1 : R; // batch_size and full: R (§7)
  const Z = Math.max(1, n);
  const scale = Math.fround(1 / Z); // Caffe: loss_weight = top_diff / normalizer, a float
  let sum = 0; // from +0: an all-ignored batch reports +0
  const g = allocate('float32', R * K);
  for (let i = 0; i < R; i++) {
    const y = labels[i];
    if (y === ignore) continue; // zero loss, zero gradient in every class (§7)
    const o = i * K;
    sum += clamp === 'flt_min' ? Math.fround(-Math.log(Math.max(p[o + y], FLT_MIN))) : Math.fround(negLogSoftmax(scores, o, K, y));
    for (let k = 0; k < K; k++) {
      const d = k === y ? Math.fround(p[o + k] - 1) : p[o + k]; // unclamped p (§7)
      g[o + k] = d * scale; // the store rounds: fl32(d · fl32(1/Z))
    }
  }
  const unfloored = emptyNormalizer !== 'floor_one' && n === 0;
  if (unfloored && emptyNormalizer === 'nan_grad') g.fill(NaN); // (0·(p − y))/0 in every entry
  const loss = unfloored ? NaN : Math.fround(Math.fround(sum) / Z);
  return { loss, prob: p, grad: g };
};

/** −log_softmax(x)_y of one row, in float64: −(x_y − m − ln Σ_k e^(x_k − m)), m the row's max (unclamped). */
const negLogSoftmax = (x: ArrayLike<number>, o: number, K: number, y: number): number => {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, x[o + k]);
  let z = 0;
  for (let k = 0; k < K; k++) z += Math.exp(x[o + k] - m);
  return -(x[o + y] - m - Math.log(z));
};

/** Every label an integer class id in [0, K) or the ignore label (Caffe would truncate a fractional one; we refuse it). */
export const checkLabels = (labels: Tensor, K: number, ignore: number | null): Result<void> => {
  const d = labels.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isInteger(v)) return E.left(valueError('labels', `element ${i} is ${v}, not an integer class id`));
    if (v === ignore) continue;
    if (v < 0 || v >= K) return E.left(rangeError('labels', `element ${i} is ${v}, outside [0, ${K})${ignore === null ? '' : ` and not the ignore_label ${ignore}`}`));
  }
  return E.right(undefined);
};

/** Labels [R]: float32 class ids (integers in value), as Caffe's blobs hold them. */
export const labelsInput = (doc: string): InputDef => ({ name: 'labels', dtypes: ['float32'], accepts: ['float64', 'int32'], read: 'as-is', shape: ['R'], doc });

export const softmaxLossDef: OpDef<SoftmaxCEAttrs, { readonly loss: Tensor<'float32'>; readonly prob: Tensor<'float32'>; readonly scores_grad: Tensor<'float32'> }> = {
  name: 'softmax_loss',
  version: 1,
  summary: 'Caffe SoftmaxWithLoss: the normalised cross-entropy with the FLT_MIN clamp, its probabilities and its gradient',
  doc: 'docs/semantics.md#softmaxwithloss',
  inputs: [scoresInput('scores', 'the class scores [R, K], finite, K ≥ 1'), labelsInput('class ids [R], integers in [0, K) or the ignore_label')],
  attrs: [
    NORMALIZATION_ATTR,
    // Caffe's ignore_label is an int32 field.
    { name: 'ignore_label', domain: { kind: 'int', min: -2147483648, max: 2147483647 }, default: null, doc: 'a label whose rows count for nothing (absent: none)' },
  ],
  conventions: SOFTMAX_LOSS_CONVENTIONS,
  outputs: [
    // ℓ_i = −ln max(p, FLT_MIN): Δℓ ≤ Δp/p ≤ 8u per valid row (absolute); the reference rounds
    // each ℓ to float32 (Caffe's logf; u·ℓ each, ≤ u·L after /Z) where the oracle keeps doubles,
    // and each side rounds the total once or twice. |ΔL| ≤ n·8u/Z + 3u·L ≤ 8·8u + 3u·L for R ≤ 8
    // ('none' has Z = 1): atol 4e-6, rtol 4u. Clamped rows (87.3365) differ only by that rounding.
    {
      name: 'loss',
      dtype: 'float32',
      shape: [],
      tolerance: { atol: 4e-6, rtol: 4 * U, note: 'per-row ln p off by ≤ 8u absolute (≤ 8 rows, Z ≥ 1), per-term float32 rounding (Caffe logf) and total rounding ≤ 3u·L' },
      precision: SOFTMAX_LOSS_LOSS,
      doc: 'the normalised loss (a scalar)',
    },
    { name: 'prob', dtype: 'float32', shape: ['R', 'K'], tolerance: PROB_TOLERANCE, precision: SOFTMAX_PROB('scores'), doc: 'softmax(scores)' },
    // g = fl32(fl32(p − [k=y])·fl32(1/Z)): the p difference (≤ 8u·p ≤ 8u ≈ 4.8e-7, in absolute
    // terms because p − 1 can cancel to ~0) scaled by 1/Z ≤ 1, plus two roundings of g itself.
    {
      name: 'scores_grad',
      dtype: 'float32',
      shape: ['R', 'K'],
      tolerance: { atol: 5e-7, rtol: 4 * U, note: 'Δp ≤ 8u absolute (p − 1 cancels, so absolute) times 1/Z ≤ 1, plus the two float32 roundings of the gradient' },
      precision: SOFTMAX_LOSS_GRAD,
      doc: 'd loss / d scores for a top gradient of 1 (unclamped p)',
    },
  ],
  kernels: [],
  check: (v) => {
    const s = checkScores('scores', v.inputs.scores);
    return E.isLeft(s) ? s : checkLabels(v.inputs.labels, v.dims.K, v.attrs.ignore_label);
  },
  run: (v) => {
    const { R, K } = v.dims;
    const a = v.attrs;
    const r = softmaxLossRaw(data32(v.inputs.scores), v.inputs.labels.data, R, K, a.normalization, a.ignore_label, a.clamp, a.empty_normalizer);
    return E.right({
      loss: adoptTensor('float32', [], Float32Array.of(r.loss)),
      prob: adoptTensor('float32', [R, K], r.prob),
      scores_grad: adoptTensor('float32', [R, K], r.grad),
    });
  },
};

/** Caffe SoftmaxWithLoss over scores [R, K] with labels [R] (protocol op `softmax_loss`, SPEC §7). */
export const softmaxCE = opFn<
  { readonly scores: Tensor; readonly labels: Tensor },
  SoftmaxCEAttrs,
  { readonly loss: Tensor<'float32'>; readonly prob: Tensor<'float32'>; readonly scores_grad: Tensor<'float32'> }
>(softmaxLossDef, () => referenceKernels);

// --------------------------------------------------------------------------------- SmoothL1Loss

export interface SmoothL1Attrs {
  /** Caffe `SmoothL1LossParameter.sigma`, a float, default 1 (OHEM sets none). */
  readonly sigma: number;
}

/** Caffe's SmoothL1LossParameter.sigma, shared with ohem_step. */
export const SIGMA_ATTR: AttrDef = {
  name: 'sigma',
  domain: { kind: 'number', min: 0, minOpen: true },
  default: 1,
  doc: 'the smooth-L1 kink is at 1/σ² (OHEM sets none: 1); σ² is a float32 and must be positive and finite',
};

/** σ² = fl32(σ·σ), as Caffe's `sigma2_` float; a Left naming `input` when it is 0 or ∞. */
export const sigma2Of = (sigma: number, input = 'attrs.sigma'): Result<number> => {
  const s32 = Math.fround(sigma);
  const s2 = Math.fround(s32 * s32);
  return s2 > 0 && Number.isFinite(s2) ? E.right(s2) : E.left(rangeError(input, `is ${sigma}: sigma² is ${s2} in float32, it must be positive and finite`));
};

/**
 * caffe-fast-rcnn's GPU SmoothL1Loss on validated float32 [R, D] arrays (SPEC §6), for a top
 * gradient 1:
 *
 *   d_k = fl32(w_in_k · fl32(pred_k − target_k))      inside weights act BEFORE f
 *   f(d) = 0.5·σ²·d² if |d| < 1/σ² else |d| − 0.5/σ²  (comparison, constants and value in double, stored float)
 *   e_k = fl32(w_out_k · f(d_k))                      outside weights act AFTER f
 *   loss = fl32( fl32(Σ_k e_k) / R )                  Σ in float64 stored once; R = rows (num), not fg count
 *   pred_grad_k = fl32(fl32(fl32(fl32(1/R) · f'(d_k)) · w_in_k) · w_out_k)
 *   f'(d) = fl32(σ²·d) if |d| < 1/σ² else sign(d)
 *
 * (the backward kernel writes f' into diff_, then axpby scales by top_diff/num, then two
 * element-wise products with the weights, in that order). An overflow to ±∞ of any float32
 * step is a Left naming the input to blame, by smooth_l1_loss's input names.
 */
export const smoothL1Raw = (
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  win: ArrayLike<number>,
  wout: ArrayLike<number>,
  R: number,
  s2: number,
): Result<{ loss: number; grad: Float32Array }> => {
  const kink = 1 / s2; // double, as the kernel's `1.0 / sigma2`
  const half = 0.5 / s2; // double, as `0.5 / sigma2`
  const alpha = Math.fround(1 / R); // top_diff / num, a float
  const n = pred.length;
  const g = allocate('float32', n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const diff = Math.fround(pred[k] - target[k]);
    if (!Number.isFinite(diff)) return E.left(valueError('target', `pred − target overflows float32 at element ${k}`));
    const d = Math.fround(win[k] * diff);
    if (!Number.isFinite(d)) return E.left(valueError('inside_w', `inside_w·(pred − target) overflows float32 at element ${k}`));
    const ad = Math.abs(d);
    const inside = ad < kink;
    // `0.5 * val * val * sigma2` with a double 0.5: ((0.5·d)·d)·σ² in double, stored float.
    const f = Math.fround(inside ? 0.5 * d * d * s2 : ad - half);
    const e = Math.fround(wout[k] * f);
    if (!Number.isFinite(e)) return E.left(valueError('outside_w', `outside_w·f(d) overflows float32 at element ${k}`));
    sum += e;
    const fp = inside ? Math.fround(s2 * d) : d > 0 ? 1 : d < 0 ? -1 : 0;
    // axpby(alpha, f', beta = 0) computes alpha·f' + 0, so a −0 becomes +0 as on the GPU.
    const gk = Math.fround(Math.fround(Math.fround(alpha * fp) + 0) * win[k]) * wout[k];
    if (!Number.isFinite(Math.fround(gk))) return E.left(valueError('outside_w', `the gradient overflows float32 at element ${k}`));
    g[k] = gk;
  }
  const total = Math.fround(sum);
  if (!Number.isFinite(total)) return E.left(valueError('pred', `the summed loss overflows float32`));
  return E.right({ loss: Math.fround(total / Math.fround(R)), grad: g }); // float / (float)num
};

const box = (name: string, doc: string): InputDef => ({ name, dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: ['R', 'D'], doc });

export const smoothL1Def: OpDef<SmoothL1Attrs, { readonly loss: Tensor<'float32'>; readonly pred_grad: Tensor<'float32'> }> = {
  name: 'smooth_l1_loss',
  version: 1,
  summary: 'caffe-fast-rcnn SmoothL1Loss: inside weights before f, outside weights after, divided by the number of rows',
  doc: 'docs/semantics.md#smoothl1loss',
  inputs: [
    box('pred', 'the predictions [R, D], finite'),
    box('target', 'the targets [R, D], finite'),
    box('inside_w', 'the inside weights [R, D], finite'),
    box('outside_w', 'the outside weights [R, D], finite'),
  ],
  attrs: [SIGMA_ATTR],
  outputs: [
    // Both sides compute the same e_k = fl32(w_out·fl32(f(d_k))) bit for bit (f in double from
    // float32 d); weights ≥ 0 so e ≥ 0 and the float64 sums (another order) agree to ~n·2^-53.
    // The reference stores fl32(fl32(Σ)/R) (Caffe: float dot, then float division), the oracle
    // fl32(Σ/R): ≤ 3u apart; subnormal totals round absolutely (2^-150 per rounding).
    { name: 'loss', dtype: 'float32', shape: [], tolerance: { atol: 1e-44, rtol: 4 * U, note: 'same e_k; fl32(fl32(Σ)/R) vs fl32(Σ/R): ≤ 3u; 1e-44 for subnormal totals' }, doc: 'Σ e / R (a scalar)' },
    // Reference: fl32(fl32(fl32(fl32(1/R)·f')·w_in)·w_out) (Caffe's order: axpby then two muls);
    // an implementation may apply 1/R last: three roundings in another order, ≤ 6u apart (equal
    // when R is a power of 2). Subnormal products round absolutely: ≤ 8·2^-149 with |w| ≤ 2.
    {
      name: 'pred_grad',
      dtype: 'float32',
      shape: ['R', 'D'],
      tolerance: { atol: 2e-44, rtol: 7 * U, note: 'three float32 products whose order may differ (1/R first in Caffe): ≤ 6u; 2e-44 for subnormals' },
      doc: 'd loss / d pred for a top gradient of 1',
    },
  ],
  kernels: [],
  check: (v) => {
    for (const name of ['pred', 'target', 'inside_w', 'outside_w']) {
      const f = checkFinite(name, v.inputs[name]);
      if (E.isLeft(f)) return f;
    }
    if (v.dims.R < 1) return E.left(shapeError('pred', `has shape [${v.dims.R}, ${v.dims.D}]: the loss is divided by the number of rows, which must be ≥ 1`));
    return sigma2Of(v.attrs.sigma);
  },
  run: (v) => {
    const { R, D } = v.dims;
    const s2 = sigma2Of(v.attrs.sigma);
    if (E.isLeft(s2)) return s2;
    const r = smoothL1Raw(data32(v.inputs.pred), data32(v.inputs.target), data32(v.inputs.inside_w), data32(v.inputs.outside_w), R, s2.right);
    return E.map((o: { loss: number; grad: Float32Array }) => ({ loss: adoptTensor('float32', [], Float32Array.of(o.loss)), pred_grad: adoptTensor('float32', [R, D], o.grad) }))(r);
  },
};

/** caffe-fast-rcnn's GPU SmoothL1Loss (protocol op `smooth_l1_loss`, SPEC §6). */
export const smoothL1 = opFn<
  { readonly pred: Tensor; readonly target: Tensor; readonly inside_w: Tensor; readonly outside_w: Tensor },
  SmoothL1Attrs,
  { readonly loss: Tensor<'float32'>; readonly pred_grad: Tensor<'float32'> }
>(smoothL1Def, () => referenceKernels);
