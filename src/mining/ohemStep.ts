/**
 * One OHEM iteration for one forward batch, pure (SPEC §1–§8, docs/mining.md §4):
 *
 *   ohemStep(config)(params, batch, masks) : Either<OhemError, StepResult>
 *     validate                       → Left on bad input, before any work
 *     read-only forward, in chunks   → cls_prob, bbox_pred of every RoI; no activations kept
 *     roiLoss                        → hardness per RoI (SPEC §1)
 *     select                         → NMS per (image, label), then top-B (SPEC §2) — or a dialect
 *     forward of the hard RoIs       → activations of B RoIs only, train masks (rows by RoI)
 *     softmaxCE + smoothL1           → loss_cls (valid normalisation), loss_bbox (÷ B)
 *     backward                       → gradients of every parameter and of the features
 *
 * The read-only pass holds O(chunk) activations whatever R is, and contributes nothing to any
 * gradient (SPEC §8.5). Nothing is updated: the caller applies `sgdUpdate`.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  adoptTensor,
  checkBinary,
  checkEnum,
  checkFinite,
  checkInt,
  checkIntegerValues,
  checkNumber,
  checkTensor,
  rangeError,
  seedRng,
  split,
  dropoutMask,
  engineLeft,
  isEngineError,
  valueError,
} from '../core/index.js';
import { ROI_POOL_DEFAULTS, type RoiPoolAttrs } from '../ops/roiPool.js';
import { softmaxCE, smoothL1 } from '../ops/losses.js';
import { roiLossKernel, ROI_LOSS_DEFAULTS } from './hardness.js';
import { dialectAttrs, runDialect, type SelectAttrs } from './select.js';
import { checkHead, headBackward, headForward, referenceOps, type HeadGrads, type HeadParams, type HeavyOps, type DropoutSpec, type HeadSizes, type ParamName } from './head.js';

export interface StepConfig extends SelectAttrs {
  readonly pooled_h?: number;
  readonly pooled_w?: number;
  readonly spatial_scale?: number;
  readonly dropout_ratio?: number;
  readonly eps?: number;
  readonly sigma?: number;
  readonly normalization?: 'valid' | 'batch_size' | 'full' | 'none';
  /** RoIs per chunk of the read-only pass (default 256). Changes memory, never a bit of the result. */
  readonly chunk_size?: number;
  /** The kernels for the heavy ops: a Backend from `createBackend` (src/gpu), or by default the reference ops. */
  readonly engine?: HeavyOps;
  /**
   * `ohem` (default): the read-only pass, hardness and selection. `all`: plain Fast R-CNN — the
   * batch's RoIs were already sampled by the caller, every one is trained on, there is no
   * read-only pass, and roi_loss / cls_loss / bbox_loss come back empty.
   */
  readonly selection?: 'ohem' | 'all';
}

export interface StepBatch {
  readonly features: Tensor;
  readonly rois: Tensor;
  readonly labels: Tensor;
  readonly bbox_targets: Tensor;
  readonly bbox_inside_weights: Tensor;
  readonly bbox_outside_weights: Tensor;
}

/** Dropout masks given explicitly (rows indexed by RoI), or a seed to draw them from. */
export type StepMasks =
  | { readonly readonly_mask6: Tensor; readonly readonly_mask7: Tensor; readonly train_mask6: Tensor; readonly train_mask7: Tensor }
  | { readonly seed: number };

export interface StepResult extends HeadGrads {
  readonly roi_loss: Tensor<'float64'>;
  readonly cls_loss: Tensor<'float64'>;
  readonly bbox_loss: Tensor<'float64'>;
  readonly hard_inds: Tensor<'int32'>;
  readonly loss_cls: Tensor<'float32'>;
  readonly loss_bbox: Tensor<'float32'>;
  readonly features_grad: Tensor<'float32'>;
}

const F = ['float32', 'float64'] as const;
const MASKS = ['readonly_mask6', 'readonly_mask7', 'train_mask6', 'train_mask7'] as const;

/** Rows `idx` of a row-major [n, w] float32 array, as a fresh array. */
const rows = (data: ArrayLike<number>, w: number, idx: ArrayLike<number>): Float32Array => {
  const out = new Float32Array(idx.length * w);
  for (let r = 0; r < idx.length; r++) {
    const o = idx[r] * w;
    for (let c = 0; c < w; c++) out[r * w + c] = data[o + c];
  }
  return out;
};
const rowRange = (data: ArrayLike<number>, w: number, start: number, end: number): Float32Array =>
  Float32Array.from({ length: (end - start) * w }, (_, i) => data[start * w + i]);

const f32 = (t: Tensor): Float32Array => (t.dtype === 'float32' ? (t.data as unknown as Float32Array) : Float32Array.from(t.data));

/** Draws the four masks from a seed: split into four independent Philox streams. */
export const drawMasks = (seed: number, R: number, H6: number, H7: number, ratio: number): Result<Record<(typeof MASKS)[number], Tensor>> => {
  const rng = seedRng(seed);
  if (E.isLeft(rng)) return E.left(valueError('masks.seed', rng.left.message.replace(/^seed: /, '')));
  const streams = split(rng.right, 4);
  const out = {} as Record<(typeof MASKS)[number], Tensor>;
  for (const [i, name] of MASKS.entries()) {
    const m = dropoutMask(streams[i], [R, name.endsWith('6') ? H6 : H7], ratio);
    if (E.isLeft(m)) return m;
    out[name] = m.right[0];
  }
  return E.right(out);
};

/**
 * The read-only pass (docs/mining.md §4 step 1): the head's forward over every RoI, `chunk` RoIs
 * at a time, keeping only cls_prob [R, K] and bbox_pred [R, D]: O(chunk) activations whatever R
 * is. Every RoI's row is computed by the same row-independent ops whatever the chunking, so the
 * chunk size changes no bit. Inputs must be validated (ohemStep does).
 */
export const readonlyForward = (
  eng: HeavyOps,
  features: Tensor,
  roisData: Float32Array,
  poolAttrs: RoiPoolAttrs,
  head: { sizes: HeadSizes; p: Record<ParamName, Float32Array> },
  ratio: number,
  masks: { m6: Tensor; m7: Tensor } | null,
  chunk: number,
): Result<{ prob: Float32Array; bboxPred: Float32Array }> => {
  const { sizes } = head;
  const R = roisData.length / 5;
  const prob = new Float32Array(R * sizes.K);
  const bboxPred = new Float32Array(R * sizes.D);
  for (let start = 0; start < R; start += chunk) {
    const end = Math.min(R, start + chunk);
    const cr = adoptTensor('float32', [end - start, 5], rowRange(roisData, 5, start, end));
    const drop: DropoutSpec = {
      ratio,
      m6: masks && adoptTensor('float32', [end - start, sizes.H6], rowRange(masks.m6.data, sizes.H6, start, end)),
      m7: masks && adoptTensor('float32', [end - start, sizes.H7], rowRange(masks.m7.data, sizes.H7, start, end)),
    };
    const out = headForward(eng, features, cr, poolAttrs, head, drop);
    if (E.isLeft(out)) return out;
    prob.set(out.right.prob.data as unknown as Float32Array, start * sizes.K);
    bboxPred.set(out.right.bbox.data as unknown as Float32Array, start * sizes.D);
  }
  return E.right({ prob, bboxPred });
};

/**
 * One OHEM iteration (see the top of this file). `config.engine` runs the heavy ops (a gpu.js
 * backend from `createBackend`, or the reference ops by default); an engine that fails — its
 * kernel fell back to another mode, it was destroyed — gives a Left naming `backend`.
 */
export const ohemStep =
  (config: StepConfig = {}) =>
  (params: HeadParams, batch: StepBatch, masks?: StepMasks): Result<StepResult> => {
    try {
      return stepOnce(config, params, batch, masks);
    } catch (e) {
      if (isEngineError(e)) return E.left(engineLeft(e));
      throw e;
    }
  };

const stepOnce = (config: StepConfig, params: HeadParams, batch: StepBatch, masks?: StepMasks): Result<StepResult> => {
    const eng = config.engine ?? referenceOps;
    // ------------------------------------------------------------------ validation, before any work
    const poolAttrs: RoiPoolAttrs = {
      pooled_h: config.pooled_h ?? ROI_POOL_DEFAULTS.pooled_h,
      pooled_w: config.pooled_w ?? ROI_POOL_DEFAULTS.pooled_w,
      spatial_scale: config.spatial_scale ?? ROI_POOL_DEFAULTS.spatial_scale,
    };
    const ph = checkInt('attrs.pooled_h', poolAttrs.pooled_h, 1);
    if (E.isLeft(ph)) return ph;
    const pw = checkInt('attrs.pooled_w', poolAttrs.pooled_w, 1);
    if (E.isLeft(pw)) return pw;
    const ratio = checkNumber('attrs.dropout_ratio', config.dropout_ratio ?? 0.5, 0, 1, { hi: true });
    if (E.isLeft(ratio)) return ratio;
    const eps = checkNumber('attrs.eps', config.eps ?? ROI_LOSS_DEFAULTS.eps, 0, Infinity, { lo: true });
    if (E.isLeft(eps)) return eps;
    const norm = checkEnum('attrs.normalization', config.normalization ?? 'valid', ['valid', 'batch_size', 'full', 'none'] as const);
    if (E.isLeft(norm)) return norm;
    const chunk = checkInt('attrs.chunk_size', config.chunk_size ?? 256, 1);
    if (E.isLeft(chunk)) return chunk;
    const dialect = dialectAttrs(config);
    if (E.isLeft(dialect)) return dialect;

    const env = new Map<string, number>();
    const b = (batch ?? {}) as Partial<StepBatch>;
    const feats = checkTensor('features', b.features, ['N', 'C', 'H', 'W'], F, env);
    if (E.isLeft(feats)) return feats;
    const rois = checkTensor('rois', b.rois, ['R', 5], F, env);
    if (E.isLeft(rois)) return rois;
    const roisFin = checkFinite('rois', rois.right);
    if (E.isLeft(roisFin)) return roisFin;
    const N = env.get('N')!, C = env.get('C')!, R = env.get('R')!;
    for (let i = 0; i < R; i++) {
      const bi = Math.trunc(rois.right.data[i * 5]);
      if (bi < 0 || bi >= N) return E.left(rangeError('rois', `row ${i} has batch index ${rois.right.data[i * 5]}, outside [0, ${N})`));
    }
    const head = checkHead(params, C * ph.right * pw.right);
    if (E.isLeft(head)) return head;
    const { sizes } = head.right;
    env.set('D', sizes.D);
    const labels = checkTensor('labels', b.labels, ['R'], [...F, 'int32'], env);
    if (E.isLeft(labels)) return labels;
    const labOk = checkIntegerValues('labels', labels.right, 0, sizes.K, 'class id');
    if (E.isLeft(labOk)) return labOk;
    const bb: Record<string, Float32Array> = {};
    for (const name of ['bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const) {
      const t = checkTensor(name, b[name], ['R', 'D'], F, env);
      if (E.isLeft(t)) return t;
      const fin = checkFinite(name, t.right);
      if (E.isLeft(fin)) return fin;
      bb[name] = f32(t.right);
    }
    if (R === 0) return E.left(rangeError('rois', 'has no rows: OHEM needs at least one RoI'));

    let m: Record<(typeof MASKS)[number], Tensor> | null = null;
    if (ratio.right > 0) {
      if (masks && 'seed' in masks) {
        const drawn = drawMasks(masks.seed, R, sizes.H6, sizes.H7, ratio.right);
        if (E.isLeft(drawn)) return drawn;
        m = drawn.right;
      } else {
        const given = (masks ?? {}) as Partial<Record<(typeof MASKS)[number], Tensor>>;
        m = {} as Record<(typeof MASKS)[number], Tensor>;
        for (const name of MASKS) {
          const t = checkTensor(name, given[name], [R, name.endsWith('6') ? sizes.H6 : sizes.H7], [...F, 'int32']);
          if (E.isLeft(t)) return E.left(t.left.message.includes('missing') ? valueError(name, `is missing: dropout_ratio ${ratio.right} > 0 needs the four masks (or a seed)`) : t.left);
          const bin = checkBinary(name, t.right);
          if (E.isLeft(bin)) return bin;
          m[name] = t.right;
        }
      }
    }
    const features = feats.right;
    const roisT = rois.right;
    const labels32 = f32(labels.right);
    const roisData = f32(roisT);

    let hard: { loss: Float64Array; cls: Float64Array; bbox: Float64Array } = { loss: new Float64Array(0), cls: new Float64Array(0), bbox: new Float64Array(0) };
    let hardInds: Int32Array;
    if (config.selection === 'all') hardInds = Int32Array.from({ length: R }, (_, i) => i);
    else {
      // ------------------------------------------------------ 1. read-only pass, chunk by chunk
      const ro = readonlyForward(eng, features, roisData, poolAttrs, head.right, ratio.right, m && { m6: m.readonly_mask6, m7: m.readonly_mask7 }, chunk.right);
      if (E.isLeft(ro)) return ro;
      const { prob, bboxPred } = ro.right;

      // ------------------------------------------------------------- 2. hardness, 3. selection
      hard = roiLossKernel(prob, labels32, R, sizes.K, eps.right, {
        pred: bboxPred,
        tgt: bb.bbox_targets,
        win: bb.bbox_inside_weights,
        wout: bb.bbox_outside_weights,
        D: sizes.D,
      });
      hardInds = runDialect(dialect.right, { R, loss: hard.loss, rois: roisData, labels: labels32, cls: hard.cls, bbox: hard.bbox });
    }
    const B = hardInds.length;
    if (B === 0) return E.left(rangeError('labels', `the ${dialect.right.dialect} selection chose no RoI (e.g. no positives for a dialect that needs them)`));

    // ------------------------------------------------------------ 4. train pass on B hard RoIs
    const hardRois = adoptTensor('float32', [B, 5], rows(roisData, 5, hardInds));
    const trainDrop: DropoutSpec = {
      ratio: ratio.right,
      m6: m && adoptTensor('float32', [B, sizes.H6], rows(m.train_mask6.data, sizes.H6, hardInds)),
      m7: m && adoptTensor('float32', [B, sizes.H7], rows(m.train_mask7.data, sizes.H7, hardInds)),
    };
    const fwd = headForward(eng, features, hardRois, poolAttrs, head.right, trainDrop);
    if (E.isLeft(fwd)) return fwd;

    // ------------------------------------------------------------------------------ 5. losses
    const ce = softmaxCE({ scores: fwd.right.score, labels: adoptTensor('float32', [B], rows(labels32, 1, hardInds)) }, { normalization: norm.right });
    if (E.isLeft(ce)) return ce;
    const sl1 = smoothL1(
      {
        pred: fwd.right.bbox,
        target: adoptTensor('float32', [B, sizes.D], rows(bb.bbox_targets, sizes.D, hardInds)),
        inside_w: adoptTensor('float32', [B, sizes.D], rows(bb.bbox_inside_weights, sizes.D, hardInds)),
        outside_w: adoptTensor('float32', [B, sizes.D], rows(bb.bbox_outside_weights, sizes.D, hardInds)),
      },
      { sigma: config.sigma ?? 1 },
    );
    if (E.isLeft(sl1)) return E.left(sl1.left.input.startsWith('attrs.') ? sl1.left : valueError('bbox_targets', sl1.left.message));

    // ---------------------------------------------------------------------------- 6. backward
    const bwd = headBackward(eng, fwd.right.act, features.shape, poolAttrs, head.right, trainDrop, ce.right.scores_grad, sl1.right.pred_grad);
    if (E.isLeft(bwd)) return bwd;

    const f64 = (a: Float64Array) => adoptTensor('float64', [a.length], a);
    return E.right({
      roi_loss: f64(hard.loss),
      cls_loss: f64(hard.cls),
      bbox_loss: f64(hard.bbox),
      hard_inds: adoptTensor('int32', [B], hardInds),
      loss_cls: ce.right.loss,
      loss_bbox: sl1.right.loss,
      ...bwd.right.grads,
      features_grad: bwd.right.features_grad,
    });
};


/** One standard Fast R-CNN pass (no mining) on RoIs the caller already sampled: `selection: 'all'`. */
export const fastRcnnStep = (config: StepConfig = {}) => ohemStep({ ...config, selection: 'all' });
