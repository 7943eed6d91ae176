/**
 * Evaluation on held-out scenes, as Fast R-CNN's `test_net` and the PASCAL VOC 2007 devkit do it:
 *
 *   detect     the head's forward over every proposal (test mode: no dropout); per class j ≥ 1 the
 *              predicted deltas are un-normalised (· std + mean, SPEC §3.2 "at snapshot time"),
 *              decoded (`bbox_transform_inv`) and clipped; detections with score > 0.05 go through
 *              class-wise NMS at IoU 0.3 (the `nms` op: GPU semantics); at most 100 per image.
 *   AP         VOC07: detections of a class over all images in descending score (a stable sort:
 *              ties keep their input order, as the devkit's MATLAB `sort` does); each is a true
 *              positive iff its max-IoU GT box of that class in its image (+1 convention) has
 *              IoU ≥ 0.5 and was not matched by an earlier detection — a second detection of one
 *              object is a false positive; AP is the 11-point interpolated average,
 *              (1/11) Σ_{t ∈ 0, 0.1, …, 1} max{precision(r) : recall(r) ≥ t} (0 where no recall
 *              reaches t). The thresholds are k/10 and recall is tp/npos, both correctly rounded,
 *              so a recall of exactly 3/10 does count at t = 0.3 (numpy's `arange(0, 1.1, 0.1)` has
 *              0.30000000000000004 and would not). `metric: 'area'` gives the VOC2010+ area under the
 *              interpolated curve instead.
 *   loss       over ALL RoIs of the scenes (labels by IoU, bg down to IoU 0): SoftmaxWithLoss
 *              (mean over RoIs) + SmoothL1Loss (÷ RoIs) — what training would show if it trained on
 *              every RoI, beside the loss of the mined batch that training displays.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, adoptTensor, checkEnum, checkNumber, rangeError } from '../core/internal.js';
import { nms, softmaxCE, smoothL1, type Kernels } from '../ops/index.js';
import { headInference, type HeadParams } from '../mining/ohemStep.js';
import { type Entry, type World, K, bboxTransformInv, classOf, iou } from './world.js';

export interface Detection {
  readonly image: number;
  readonly score: number;
  readonly box: readonly [number, number, number, number];
}

export interface ApResult {
  readonly ap: number;
  readonly recall: Float64Array;
  readonly precision: Float64Array;
  readonly tp: Uint8Array;
  readonly npos: number;
}

/**
 * VOC AP of one class. `gts[image]` is that image's GT boxes of the class, flat [G, 4].
 * With no GT box (npos = 0) the AP is NaN, as the devkit's 0/0 recall makes it.
 */
export const vocAp = (
  detections: readonly Detection[],
  gts: readonly ArrayLike<number>[],
  opts: { readonly iouThreshold?: number; readonly metric?: '11point' | 'area' } = {},
): Result<ApResult> => {
  const thr = checkNumber('opts.iouThreshold', opts.iouThreshold ?? 0.5, 0, 1);
  if (E.isLeft(thr)) return thr;
  const metric = checkEnum('opts.metric', opts.metric ?? '11point', ['11point', 'area'] as const);
  if (E.isLeft(metric)) return metric;
  for (const [i, d] of detections.entries()) {
    if (!Number.isInteger(d.image) || d.image < 0 || d.image >= gts.length)
      return E.left(rangeError('detections', `detection ${i} names image ${d.image}, outside [0, ${gts.length})`));
    if (!Number.isFinite(d.score) || d.box.some((v) => !Number.isFinite(v))) return E.left(rangeError('detections', `detection ${i} has a non-finite score or box`));
  }
  for (const [i, g] of gts.entries()) if (g.length % 4 !== 0) return E.left(rangeError('gts', `image ${i} has ${g.length} coordinates, not a multiple of 4`));
  const npos = gts.reduce((s, g) => s + g.length / 4, 0);
  // Stable descending order by score (Array.prototype.sort is stable).
  const order = detections.map((_, i) => i).sort((a, b) => detections[b].score - detections[a].score);
  const used = gts.map((g) => new Uint8Array(g.length / 4));
  const n = order.length;
  const tp = new Uint8Array(n);
  const recall = new Float64Array(n), precision = new Float64Array(n);
  let ctp = 0;
  for (let k = 0; k < n; k++) {
    const d = detections[order[k]];
    const g = gts[d.image];
    let best = -Infinity, jmax = -1;
    for (let j = 0; j < g.length / 4; j++) {
      const o = iou(d.box, 0, g, 4 * j);
      if (o > best) [best, jmax] = [o, j];
    }
    if (jmax >= 0 && best >= thr.right && !used[d.image][jmax]) {
      used[d.image][jmax] = 1;
      tp[k] = 1;
    }
    ctp += tp[k];
    recall[k] = ctp / npos;
    precision[k] = ctp / (k + 1);
  }
  let ap = 0;
  if (npos === 0) ap = NaN;
  else if (metric.right === '11point') {
    // Σp / 11 rather than the devkit's running `ap + p/11`: the same value to an ulp, and exactly 1
    // (not 1.0000000000000002) for a perfect detector.
    let sum = 0;
    for (let t = 0; t <= 10; t++) {
      let p = 0;
      for (let k = 0; k < n; k++) if (recall[k] >= t / 10 && precision[k] > p) p = precision[k];
      sum += p;
    }
    ap = sum / 11;
  } else {
    // VOC2010+: precision made monotone from the right, then Σ (Δrecall · precision).
    const mrec = [0, ...recall, 1], mpre = [0, ...precision, 0];
    for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
    for (let i = 1; i < mrec.length; i++) if (mrec[i] !== mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  }
  return E.right({ ap, recall, precision, tp, npos });
};

export interface EvalConfig {
  readonly pooled_h: number;
  readonly pooled_w: number;
  readonly spatial_scale: number;
  /** Test-time score threshold and NMS (Fast R-CNN's test_net: 0.05, TEST.NMS 0.3, 100 per image). */
  readonly score_thresh?: number;
  readonly nms_thresh?: number;
  readonly max_per_image?: number;
}

export interface EvalResult {
  /** AP per class 1..K−1 (index 0 unused, NaN). */
  readonly ap: Float64Array;
  readonly mAP: number;
  /** Mean over all RoIs of the scenes: classification, bbox and their sum. */
  readonly lossCls: number;
  readonly lossBbox: number;
  readonly loss: number;
  /** Detections per class (index 0 empty). */
  readonly detections: readonly (readonly Detection[])[];
}

/** Detections and all-RoI losses of `params` on `entries` (the held-out scenes). */
export const evaluate = (world: World, entries: readonly Entry[], params: HeadParams, cfg: EvalConfig, kernels?: Kernels): Result<EvalResult> => {
  const poolAttrs = { pooled_h: cfg.pooled_h, pooled_w: cfg.pooled_w, spatial_scale: cfg.spatial_scale };
  const D = 4 * K;
  const scoreThresh = cfg.score_thresh ?? 0.05, nmsThresh = cfg.nms_thresh ?? 0.3, maxPer = cfg.max_per_image ?? 100;
  const dets: Detection[][] = Array.from({ length: K }, () => []);
  let sumCls = 0, sumBbox = 0, nRois = 0;
  for (const [img, e] of entries.entries()) {
    const fwd = headInference({ features: e.features, rois: e.batch.rois, ...params }, poolAttrs, kernels);
    if (E.isLeft(fwd)) return fwd;
    const R = e.batch.rois.shape[0];
    const ce = softmaxCE({ scores: fwd.right.score, labels: e.batch.labels }, { normalization: 'valid' });
    if (E.isLeft(ce)) return ce;
    const sl = smoothL1({ pred: fwd.right.bbox, target: e.batch.bbox_targets, inside_w: e.batch.bbox_inside_weights, outside_w: e.batch.bbox_outside_weights });
    if (E.isLeft(sl)) return sl;
    sumCls += ce.right.loss.data[0] * R;
    sumBbox += sl.right.loss.data[0] * R;
    nRois += R;
    const prob = fwd.right.prob.data, pred = fwd.right.bbox.data;
    const perImage: { cls: number; d: Detection }[] = [];
    for (let j = 1; j < K; j++) {
      const boxes: number[] = [], scores: number[] = [];
      const delta = new Float64Array(4);
      for (let i = 0; i < R; i++) {
        const sc = prob[i * K + j];
        if (!(sc > scoreThresh)) continue;
        for (let k = 0; k < 4; k++) delta[k] = pred[i * D + 4 * j + k] * world.targetStds[4 * j + k] + world.targetMeans[4 * j + k];
        boxes.push(...bboxTransformInv(e.boxes, 4 * i, delta, 0, e.scene.size));
        scores.push(sc);
      }
      if (scores.length === 0) continue;
      const keep = nms({ boxes: adoptTensor('float32', [scores.length, 4], Float32Array.from(boxes)), scores: adoptTensor('float32', [scores.length], Float32Array.from(scores)) }, { threshold: nmsThresh });
      if (E.isLeft(keep)) return keep;
      for (const k of keep.right.keep.data) {
        const b = Float32Array.from(boxes.slice(4 * k, 4 * k + 4));
        perImage.push({ cls: j, d: { image: img, score: scores[k], box: [b[0], b[1], b[2], b[3]] } });
      }
    }
    // At most `maxPer` detections per image over all classes (test_net's image_thresh).
    if (perImage.length > maxPer) {
      const th = perImage.map((p) => p.d.score).sort((a, b) => b - a)[maxPer - 1];
      for (const p of perImage) if (p.d.score >= th) dets[p.cls].push(p.d);
    } else for (const p of perImage) dets[p.cls].push(p.d);
  }
  const ap = new Float64Array(K).fill(NaN);
  for (let j = 1; j < K; j++) {
    const gts = entries.map((e) => Float32Array.from(e.scene.objects.flatMap((o) => (classOf(o.kind) === j ? [...o.box] : []))));
    const r = vocAp(dets[j], gts);
    if (E.isLeft(r)) return r;
    ap[j] = r.right.ap;
  }
  const valid = Array.from(ap.subarray(1)).filter((v) => !Number.isNaN(v));
  return E.right({
    ap,
    mAP: valid.reduce((s, v) => s + v, 0) / valid.length,
    lossCls: sumCls / nRois,
    lossBbox: sumBbox / nRois,
    loss: (sumCls + sumBbox) / nRois,
    detections: dets,
  });
};
