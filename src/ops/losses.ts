/**
 * The two training losses of the Fast R-CNN head, forward and backward (for a top gradient of 1):
 * Caffe's SoftmaxWithLoss (SPEC §7, pitfall 20) and the caffe-fast-rcnn SmoothL1Loss that OHEM
 * trains with (SPEC §6, pitfall 19). Storage is float32 like Caffe's blobs; sums are accumulated
 * in float64 and stored once (DESIGN.md).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  FLT_MIN,
  adoptTensor,
  allocate,
  checkEnum,
  checkFinite,
  checkInt,
  checkNumber,
  checkTensor,
  rangeError,
  shapeError,
  valueError,
} from '../core/index.js';
import { asFloat32, checkScores, softmaxRows } from './activations.js';

const FLOAT = ['float32', 'float64'] as const;

// ------------------------------------------------------------------------------ SoftmaxWithLoss

export type Normalization = 'valid' | 'batch_size' | 'full' | 'none';
export const NORMALIZATIONS: readonly Normalization[] = ['valid', 'batch_size', 'full', 'none'];

export interface SoftmaxCEAttrs {
  /** Caffe `LossParameter.normalization` (default VALID, SPEC §7). */
  readonly normalization: Normalization;
  /** Caffe `ignore_label`: absent (undefined or null) means no label is ignored. */
  readonly ignore_label?: number | null;
}
export const SOFTMAX_CE_DEFAULTS: SoftmaxCEAttrs = Object.freeze({ normalization: 'valid' as Normalization });

/** −ln(FLT_MIN) = 126·ln 2 ≈ 87.3365: the largest per-sample loss SoftmaxWithLoss can report. */
export const MAX_SOFTMAX_SAMPLE_LOSS = Math.fround(-Math.log(FLT_MIN));

/**
 * Caffe SoftmaxWithLoss over scores [R, K] with labels [R] (protocol op `softmax_loss`, SPEC §7):
 *
 *   p = softmax(scores) (row-wise, float32, §7)
 *   ℓ_i = fl32(−ln(max(p[i, y_i], FLT_MIN)))                 (Caffe's GPU kernel: logf of a float)
 *   loss = fl32( fl32(Σ_valid ℓ_i) / Z )                      (Σ in float64, stored once; float division)
 *   scores_grad[i, k] = fl32( fl32(p[i, k] − [k = y_i]) · fl32(1/Z) ),  0 for ignored rows
 *
 * with Z = max(1, n): n = number of non-ignored rows (valid), R (batch_size; and full, since
 * Caffe's outer·inner = R·1 here — not R·K), 1 (none). The gradient uses the UNclamped p: a
 * probability that underflowed to 0 gives loss 87.3365 per sample and gradient −1/Z in the label
 * column. Labels are class ids stored as floats: each must be an integer in [0, K) or equal to
 * ignore_label (Caffe would truncate a fractional label; we refuse it). R = 0 is allowed (loss 0).
 */
export const softmaxCE = (
  inputs: { readonly scores: Tensor; readonly labels: Tensor },
  attrs: Partial<SoftmaxCEAttrs> = {},
): Result<{ readonly loss: Tensor<'float32'>; readonly prob: Tensor<'float32'>; readonly scores_grad: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as { scores?: unknown; labels?: unknown };
  const a = (attrs ?? {}) as Partial<Record<keyof SoftmaxCEAttrs, unknown>>;
  const env = new Map<string, number>();
  const cs = checkScores('scores', xs.scores, env);
  if (E.isLeft(cs)) return cs;
  const cl = checkTensor('labels', xs.labels, ['R'], ['float32', 'float64', 'int32'], env);
  if (E.isLeft(cl)) return cl;
  const cn = checkEnum('attrs.normalization', a.normalization ?? SOFTMAX_CE_DEFAULTS.normalization, NORMALIZATIONS);
  if (E.isLeft(cn)) return cn;
  let ignore: number | undefined;
  if (a.ignore_label !== undefined && a.ignore_label !== null) {
    // Caffe's ignore_label is an int32 field.
    const ci = checkInt('attrs.ignore_label', a.ignore_label, -2147483648, 2147483647);
    if (E.isLeft(ci)) return ci;
    ignore = ci.right;
  }
  const [R, K] = cs.right.shape;
  const labels = cl.right.data;
  for (let i = 0; i < R; i++) {
    const v = labels[i];
    if (!Number.isInteger(v)) return E.left(valueError('labels', `element ${i} is ${v}, not an integer class id`));
    if (v === ignore) continue;
    if (v < 0 || v >= K)
      return E.left(rangeError('labels', `element ${i} is ${v}, outside [0, ${K})${ignore === undefined ? '' : ` and not the ignore_label ${ignore}`}`));
  }

  const p = softmaxRows(cs.right.data, R, K);
  let valid = 0;
  for (let i = 0; i < R; i++) if (labels[i] !== ignore) valid++;
  const n = cn.right === 'valid' ? valid : cn.right === 'none' ? 1 : R; // batch_size and full: R (§7)
  const Z = Math.max(1, n);
  const scale = Math.fround(1 / Z); // Caffe: loss_weight = top_diff / normalizer, a float

  let sum = 0; // from +0: an all-ignored batch reports +0
  const g = allocate('float32', R * K);
  for (let i = 0; i < R; i++) {
    const y = labels[i];
    if (y === ignore) continue; // zero loss, zero gradient in every class (§7)
    const o = i * K;
    sum += Math.fround(-Math.log(Math.max(p[o + y], FLT_MIN)));
    for (let k = 0; k < K; k++) {
      const d = k === y ? Math.fround(p[o + k] - 1) : p[o + k]; // unclamped p (§7)
      g[o + k] = d * scale; // the store rounds: fl32(d · fl32(1/Z))
    }
  }
  const loss = Math.fround(Math.fround(sum) / Z);
  return E.right({
    loss: adoptTensor('float32', [], Float32Array.of(loss)),
    prob: adoptTensor('float32', [R, K], p),
    scores_grad: adoptTensor('float32', [R, K], g),
  });
};

// --------------------------------------------------------------------------------- SmoothL1Loss

export interface SmoothL1Attrs {
  /** Caffe `SmoothL1LossParameter.sigma`, a float, default 1 (OHEM sets none). */
  readonly sigma: number;
}
export const SMOOTH_L1_DEFAULTS: SmoothL1Attrs = Object.freeze({ sigma: 1 });

/**
 * caffe-fast-rcnn's GPU SmoothL1Loss (protocol op `smooth_l1_loss`, SPEC §6), for a top gradient 1:
 *
 *   σ² = fl32(σ·σ)                                   (sigma2_ is a float)
 *   d_k = fl32(w_in_k · fl32(pred_k − target_k))      inside weights act BEFORE f
 *   f(d) = 0.5·σ²·d² if |d| < 1/σ² else |d| − 0.5/σ²  (comparison, constants and value in double, stored float)
 *   e_k = fl32(w_out_k · f(d_k))                      outside weights act AFTER f
 *   loss = fl32( fl32(Σ_k e_k) / R )                  Σ in float64 stored once; R = rows (num), not fg count
 *   pred_grad_k = fl32(fl32(fl32(fl32(1/R) · f'(d_k)) · w_in_k) · w_out_k)
 *   f'(d) = fl32(σ²·d) if |d| < 1/σ² else sign(d)
 *
 * (the backward kernel writes f' into diff_, then axpby scales by top_diff/num, then two
 * element-wise products with the weights, in that order). All four inputs are [R, D], finite;
 * R ≥ 1 (Caffe divides by num).
 */
export const smoothL1 = (
  inputs: { readonly pred: Tensor; readonly target: Tensor; readonly inside_w: Tensor; readonly outside_w: Tensor },
  attrs: Partial<SmoothL1Attrs> = {},
): Result<{ readonly loss: Tensor<'float32'>; readonly pred_grad: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as Partial<Record<'pred' | 'target' | 'inside_w' | 'outside_w', unknown>>;
  const a = (attrs ?? {}) as Partial<Record<keyof SmoothL1Attrs, unknown>>;
  const env = new Map<string, number>();
  const arrays: Tensor<'float32'>[] = [];
  for (const name of ['pred', 'target', 'inside_w', 'outside_w'] as const) {
    const c = checkTensor(name, xs[name], ['R', 'D'], FLOAT, env);
    if (E.isLeft(c)) return c;
    const f = asFloat32(c.right);
    const fin = checkFinite(name, f);
    if (E.isLeft(fin)) return fin;
    arrays.push(f);
  }
  const [R, D] = arrays[0].shape;
  if (R < 1) return E.left(shapeError('pred', `has shape [${R}, ${D}]: the loss is divided by the number of rows, which must be ≥ 1`));
  const cs = checkNumber('attrs.sigma', a.sigma ?? SMOOTH_L1_DEFAULTS.sigma, 0, Infinity, { lo: true });
  if (E.isLeft(cs)) return cs;
  const s32 = Math.fround(cs.right);
  const s2 = Math.fround(s32 * s32);
  if (!(s2 > 0 && Number.isFinite(s2)))
    return E.left(rangeError('attrs.sigma', `is ${cs.right}: sigma² is ${s2} in float32, it must be positive and finite`));

  const [pred, target, win, wout] = arrays.map((t) => t.data);
  const kink = 1 / s2; // double, as the kernel's `1.0 / sigma2`
  const half = 0.5 / s2; // double, as `0.5 / sigma2`
  const alpha = Math.fround(1 / R); // top_diff / num, a float
  const n = R * D;
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
  const loss = Math.fround(total / Math.fround(R)); // float / (float)num
  return E.right({
    loss: adoptTensor('float32', [], Float32Array.of(loss)),
    pred_grad: adoptTensor('float32', [R, D], g),
  });
};
