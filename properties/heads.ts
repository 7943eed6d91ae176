/**
 * Test fixtures of the mining properties: the plain Fast R-CNN loss and its gradients composed
 * from the PUBLIC ops (src/ops), written from docs/mining.md §3–§4 and SPEC §5–§8 — never by
 * calling src/mining — and small independent helpers (a RoI's window on the map, the float32 IoU
 * of SPEC §4) written from the SPEC's text. The heads themselves come from the ohem_step suite's
 * generator (src/conform/arbitraries/heads.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Tensor, seedRng, stream } from '../src/core/index.js';
import { roiPoolBackward, linearBackward, reluBackward, dropoutBackward, softmaxCE, smoothL1, type Normalization } from '../src/ops/index.js';
import { T, right } from '../src/conform/util.js';
import { type HeadSpec, type HeadTensors, type PName, type Forward, headForwardOps, rowsOf, takeRows } from '../src/conform/arbitraries/heads.js';

export * from '../src/conform/arbitraries/heads.js';

/** Uniform draws in [0, 1) for a test's own mutations: the project's Philox generator from a seed. */
export const prng = (seed: number): (() => number) => {
  const r = seedRng(seed >>> 0);
  if (E.isLeft(r)) throw new Error(r.left.message);
  return stream(r.right).u;
};

export interface PlainResult {
  readonly loss_cls: number;
  readonly loss_bbox: number;
  readonly grads: Record<`${PName}_grad`, Tensor<'float32'>>;
  readonly features_grad: Tensor<'float32'>;
  readonly fwd: Forward;
  /** The smooth-L1 arguments d = w_in·(pred − target) of the selected RoIs, [B, 4K] (kink checks). */
  readonly d: number[];
}

/**
 * The plain Fast R-CNN loss of the RoIs `inds` (in that order), with the train masks' rows `inds`,
 * and its gradients: docs/mining.md §4 steps 4–6, each line one public op.
 */
export const plainFastRcnn = (
  t: HeadTensors,
  inds: ArrayLike<number>,
  opts: { sigma?: number; normalization?: Normalization } = {},
): PlainResult => {
  const B = inds.length;
  const rois = takeRows(t.batch.rois, inds);
  const m6 = t.masks && takeRows(t.masks.train_mask6, inds);
  const m7 = t.masks && takeRows(t.masks.train_mask7, inds);
  const fwd = headForwardOps(t, rois, m6, m7);
  const p = t.params;
  const labels = T('float32', [B], rowsOf(t.batch.labels.data, 1, inds));
  const ce = right(softmaxCE({ scores: fwd.score, labels }, { normalization: opts.normalization ?? 'valid' }), 'softmaxCE');
  const target = takeRows(t.batch.bbox_targets, inds);
  const inside_w = takeRows(t.batch.bbox_inside_weights, inds);
  const outside_w = takeRows(t.batch.bbox_outside_weights, inds);
  const sl1 = right(smoothL1({ pred: fwd.bbox, target, inside_w, outside_w }, { sigma: opts.sigma ?? 1 }), 'smoothL1');
  const cls = right(linearBackward({ x: fwd.h7, w: p.cls_score_w, dy: ce.scores_grad }), 'cls_score backward');
  const box = right(linearBackward({ x: fwd.h7, w: p.bbox_pred_w, dy: sl1.pred_grad }), 'bbox_pred backward');
  // Caffe's Split layer of fc7: the sum of its two consumers' diffs, stored as float.
  const dh7 = T('float32', cls.dx.shape as number[], Array.from(cls.dx.data, (v, i) => Math.fround(v + box.dx.data[i])));
  const { dropout_ratio, pooled_h, pooled_w, spatial_scale } = t.headAttrs;
  const back = (dh: Tensor, a: Tensor, m: Tensor | undefined) => {
    const dr = dropout_ratio === 0 ? dh : right(dropoutBackward({ dy: dh, mask: m! }, { ratio: dropout_ratio }), 'dropout backward').dx;
    return right(reluBackward({ x: a, dy: dr }), 'relu backward').dx;
  };
  const da7 = back(dh7, fwd.a7, m7);
  const fc7 = right(linearBackward({ x: fwd.h6, w: p.fc7_w, dy: da7 }), 'fc7 backward');
  const da6 = back(fc7.dx, fwd.a6, m6);
  const fc6 = right(linearBackward({ x: fwd.pool, w: p.fc6_w, dy: da6 }), 'fc6 backward');
  const topGrad = T('float32', fwd.argmax.shape as number[], fc6.dx.data);
  const fg = right(
    roiPoolBackward(
      { rois, argmax: fwd.argmax, top_grad: topGrad },
      { pooled_h, pooled_w, spatial_scale, features_shape: [...t.batch.features.shape], mode: 'caffe' },
    ),
    'roiPoolBackward',
  );
  const d: number[] = [];
  for (let k = 0; k < fwd.bbox.size; k++)
    d.push(Math.fround(inside_w.data[k] * Math.fround(fwd.bbox.data[k] - target.data[k])));
  return {
    loss_cls: ce.loss.data[0],
    loss_bbox: sl1.loss.data[0],
    grads: {
      fc6_w_grad: fc6.dw,
      fc6_b_grad: fc6.db,
      fc7_w_grad: fc7.dw,
      fc7_b_grad: fc7.db,
      cls_score_w_grad: cls.dw,
      cls_score_b_grad: cls.db,
      bbox_pred_w_grad: box.dw,
      bbox_pred_b_grad: box.db,
    },
    features_grad: fg.features_grad,
    fwd,
    d,
  };
};

/**
 * The map cells a RoI's pooling bins can read, per SPEC §5.1: rows [sh, eh] × cols [sw, ew] of its
 * image (C round of the float32-scaled corners), widened by one cell on every side to cover the
 * float32 bin overshoot (pitfall 16), clipped to the map. Returns [image, h0, h1, w0, w1] inclusive.
 */
export const roiWindow = (s: HeadSpec, r: number): [number, number, number, number, number] => {
  const fl = Math.fround;
  const cround = (x: number) => (x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));
  const sc = fl(s.scale);
  const [b, x1, y1, x2, y2] = s.rois.slice(r * 5, r * 5 + 5);
  const sw = cround(fl(x1 * sc)), sh = cround(fl(y1 * sc)), ew = cround(fl(x2 * sc)), eh = cround(fl(y2 * sc));
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi - 1);
  return [Math.trunc(b), clip(Math.min(sh, eh) - 1, s.H), clip(Math.max(sh, eh) + 1, s.H), clip(Math.min(sw, ew) - 1, s.W), clip(Math.max(sw, ew) + 1, s.W)];
};

/** Float32 IoU of two boxes under the +1 convention (SPEC §4), in devIoU's order. */
export const iouPlus1 = (a: ArrayLike<number>, b: ArrayLike<number>, plus = 1): number => {
  const fl = Math.fround;
  const w = Math.max(fl(fl(Math.min(a[2], b[2]) - Math.max(a[0], b[0])) + plus), 0);
  const h = Math.max(fl(fl(Math.min(a[3], b[3]) - Math.max(a[1], b[1])) + plus), 0);
  const inter = fl(w * h);
  const area = (x: ArrayLike<number>) => fl(fl(fl(x[2] - x[0]) + plus) * fl(fl(x[3] - x[1]) + plus));
  return fl(inter / fl(fl(area(a) + area(b)) - inter));
};
