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
import {
  type Result,
  type Tensor,
  DBL_EPSILON,
  adoptTensor,
  checkFinite,
  checkIntegerValues,
  checkNumber,
  checkTensor,
  valueError,
} from '../core/index.js';

export interface RoiLossAttrs {
  /** The clamp of the mining loss: `np.finfo(float).eps` = 2^-52 in the original (SPEC §1.2). */
  readonly eps: number;
}
export const ROI_LOSS_DEFAULTS: RoiLossAttrs = Object.freeze({ eps: DBL_EPSILON });

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

const F = ['float32', 'float64'] as const;
const BBOX = ['bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;

/** Float32 views of possibly-float64 inputs (a Caffe blob holds floats). */
const f32 = (t: Tensor): ArrayLike<number> => (t.dtype === 'float32' ? t.data : Float32Array.from(t.data));

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

/** `ohem_roi_loss`: the hardness of every RoI (SPEC §1). */
export const roiLoss = (inputs: RoiLossInputs, attrs: Partial<RoiLossAttrs> = {}): Result<RoiLossOutputs> => {
  const env = new Map<string, number>();
  const ins = (inputs ?? {}) as Partial<RoiLossInputs>;
  const prob = checkTensor('cls_prob', ins.cls_prob, ['R', 'K'], F, env);
  if (E.isLeft(prob)) return prob;
  const labels = checkTensor('labels', ins.labels, ['R'], [...F, 'int32'], env);
  if (E.isLeft(labels)) return labels;
  const K = env.get('K')!;
  const R = env.get('R')!;
  if (K < 1) return E.left(valueError('cls_prob', 'has no class column (K = 0)'));
  const probOk = checkFinite('cls_prob', prob.right);
  if (E.isLeft(probOk)) return probOk;
  const lab = checkIntegerValues('labels', labels.right, 0, K, 'class id');
  if (E.isLeft(lab)) return lab;
  const eps = checkNumber('attrs.eps', attrs.eps ?? ROI_LOSS_DEFAULTS.eps, 0, Infinity, { lo: true });
  if (E.isLeft(eps)) return eps;
  const present = BBOX.filter((n) => ins[n] !== undefined);
  if (present.length !== 0 && present.length !== 4) {
    const missing = BBOX.find((n) => ins[n] === undefined)!;
    return E.left(valueError(missing, `is missing: give all four of ${BBOX.join(', ')} or none`));
  }
  let bbox: Parameters<typeof roiLossKernel>[5] = null;
  if (present.length === 4) {
    const ts: Record<string, Tensor> = {};
    for (const n of BBOX) {
      const c = checkTensor(n, ins[n], ['R', 'D'], F, env);
      if (E.isLeft(c)) return c;
      const fin = checkFinite(n, c.right);
      if (E.isLeft(fin)) return fin;
      ts[n] = c.right;
    }
    bbox = {
      pred: f32(ts.bbox_pred),
      tgt: f32(ts.bbox_targets),
      win: f32(ts.bbox_inside_weights),
      wout: f32(ts.bbox_outside_weights),
      D: env.get('D')!,
    };
  }
  const k = roiLossKernel(f32(prob.right), labels.right.data, R, K, eps.right, bbox);
  const out = (a: Float64Array) => adoptTensor('float64', [R], a);
  return E.right({ loss: out(k.loss), cls_loss: out(k.cls), bbox_loss: out(k.bbox) });
};

