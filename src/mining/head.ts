/**
 * The Fast R-CNN head of OHEM's train.prototxt (SPEC §8, docs/mining.md §3), on validated raw
 * arrays and a `Kernels` record:
 *   roi_pool → fc6 → relu → dropout → fc7 → relu → dropout → cls_score / bbox_pred → softmax
 * and its backward. Sizes come from the parameters, so a tiny test head and VGG16's
 * 25088 → 4096 → 4096 → 21 / 84 are the same code. The heavy steps (RoI pooling, the dense
 * layers) run on the given kernels — the reference's, a gpu.js backend's, the worker pool's —
 * and everything else is the ops' raw element-wise functions. Nothing here validates: the
 * caller (`validateStep`) did, once.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, FLT_MAX, valueError } from '../core/internal.js';
import { type Kernels, type RoiAlignParams, type RoiPoolJob, reluRaw, reluBackwardRaw, dropoutRaw, softmaxRows } from '../ops/index.js';

export const PARAM_NAMES = ['fc6_w', 'fc6_b', 'fc7_w', 'fc7_b', 'cls_score_w', 'cls_score_b', 'bbox_pred_w', 'bbox_pred_b'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
export type GradName = `${ParamName}_grad`;

/** The sizes of a head, read from its parameters. */
export interface HeadSizes {
  readonly inputs: number; // C·PH·PW
  readonly H6: number;
  readonly H7: number;
  readonly K: number;
  readonly D: number; // 4K
}

/** A validated head: its sizes and its parameters as float32 storage. */
export interface Head {
  readonly sizes: HeadSizes;
  readonly p: Readonly<Record<ParamName, Float32Array>>;
}

/**
 * The pooling of the step: its feature map and grid (a pooling job without its RoIs), and the
 * pooler: RoI max pooling (`align` null, the original) or RoIAlign with these parameters.
 */
export type Pooling = Omit<RoiPoolJob, 'rois' | 'R'> & { readonly align: RoiAlignParams | null };

/** Dropout of a pass: the float32 scale, and the masks' rows [n, H6], [n, H7] for these RoIs (null: identity). */
export interface Dropout {
  readonly scale: number;
  readonly m6: Float32Array | null;
  readonly m7: Float32Array | null;
}

/** Activations of a forward pass (kept only for the train pass). */
export interface HeadActivations {
  readonly n: number;
  readonly rois: Float32Array; // [n, 5]
  /** The pooler's memory for its backward: RoI pooling's argmax, or mmcv max's argmax_y/x (else null). */
  readonly argmax: Int32Array | null; // [n, C, PH, PW]
  readonly argmaxY: Float32Array | null;
  readonly argmaxX: Float32Array | null;
  readonly pool: Float32Array; // [n, C·PH·PW]
  readonly a6: Float32Array;
  readonly h6: Float32Array;
  readonly a7: Float32Array;
  readonly h7: Float32Array;
}

export interface HeadOutputs {
  readonly score: Float32Array; // [n, K]
  readonly prob: Float32Array; // [n, K]
  readonly bbox: Float32Array; // [n, D]
  readonly act: HeadActivations;
}

/** pool5 of the RoIs: RoI max pooling, or RoIAlign when the pooling says so (docs/mining.md §3). */
const pool5 = (
  k: Kernels,
  pooling: Pooling,
  rois: Float32Array,
  n: number,
): Result<{ pool: Float32Array; argmax: Int32Array | null; argmaxY: Float32Array | null; argmaxX: Float32Array | null }> => {
  if (pooling.align === null)
    return E.map((o: { top: Float32Array; argmax: Int32Array }) => ({ pool: o.top, argmax: o.argmax, argmaxY: null, argmaxX: null }))(k.roiPool({ ...pooling, rois, R: n }));
  return E.map((o: { top: Float32Array; argmaxY: Float32Array | null; argmaxX: Float32Array | null }) => ({ pool: o.top, argmax: null, argmaxY: o.argmaxY, argmaxX: o.argmaxX }))(
    k.roiAlign({ ...pooling, ...pooling.align, rois, R: n }),
  );
};

const isFinite32 = (d: Float32Array): number => {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  return -1;
};

/** The forward of the head on `rois` [n, 5] (SPEC §8, docs/mining.md §3). */
export const headForward = (k: Kernels, pooling: Pooling, rois: Float32Array, head: Head, drop: Dropout): Result<HeadOutputs> => {
  const { sizes, p } = head;
  const n = rois.length / 5;
  const pooled = pool5(k, pooling, rois, n);
  if (E.isLeft(pooled)) return pooled;
  // pool5 [n, C, PH, PW] flattened channel-major (pitfall 23) is its row-major storage.
  const { pool, argmax, argmaxY, argmaxX } = pooled.right;
  // RoI pooling passes NaN/±∞ features through (SPEC §5.1); the dense layers cannot use them.
  const bad = isFinite32(pool);
  if (bad >= 0) return E.left(valueError('features', `a pooled RoI holds ${pool[bad]}: the head needs finite features under every RoI`));
  // A bin whose features are all −∞ or NaN pools to −FLT_MAX (SPEC §5.1); an overflow downstream
  // of such a value is the features' fault, not a parameter's.
  const extreme = pool.some((v) => Math.abs(v) >= FLT_MAX);
  const blame = (param: string, layer: string) =>
    E.left(
      extreme
        ? valueError('features', `a RoI pools to ±FLT_MAX (a bin of −∞ or NaN features) and ${layer} overflows float32`)
        : valueError(param, `${layer} overflowed float32 on these inputs`),
    );
  const dense = (x: Float32Array, w: Float32Array, b: Float32Array, K: number, M: number) => k.linear({ x, w, b, R: n, K, M });
  const drp = (x: Float32Array, m: Float32Array | null) => (m === null ? x : dropoutRaw(x, m, drop.scale));
  const a6 = dense(pool, p.fc6_w, p.fc6_b, sizes.inputs, sizes.H6);
  if (E.isLeft(a6)) return a6;
  if (isFinite32(a6.right) >= 0) return blame('fc6_w', 'fc6');
  const h6 = drp(reluRaw(a6.right), drop.m6);
  const a7 = dense(h6, p.fc7_w, p.fc7_b, sizes.H6, sizes.H7);
  if (E.isLeft(a7)) return a7;
  if (isFinite32(a7.right) >= 0) return blame('fc7_w', 'fc7');
  const h7 = drp(reluRaw(a7.right), drop.m7);
  const score = dense(h7, p.cls_score_w, p.cls_score_b, sizes.H7, sizes.K);
  if (E.isLeft(score)) return score;
  if (isFinite32(score.right) >= 0) return blame('cls_score_w', 'cls_score');
  const bbox = dense(h7, p.bbox_pred_w, p.bbox_pred_b, sizes.H7, sizes.D);
  if (E.isLeft(bbox)) return bbox;
  if (isFinite32(bbox.right) >= 0) return blame('bbox_pred_w', 'bbox_pred');
  return E.right({
    score: score.right,
    prob: softmaxRows(score.right, n, sizes.K),
    bbox: bbox.right,
    act: { n, rois, argmax, argmaxY, argmaxX, pool, a6: a6.right, h6, a7: a7.right, h7 },
  });
};

export interface HeadGradients {
  readonly grads: Readonly<Record<ParamName, Float32Array>>;
  readonly featuresGrad: Float32Array;
}

/**
 * The backward of the head from d(cls_score) and d(bbox_pred) (docs/mining.md §4 step 6): every
 * parameter gradient and d(features) through Caffe's gather (roi_pool_backward, caffe mode), or
 * through roi_align_backward for an RoIAlign head.
 */
export const headBackward = (
  k: Kernels,
  act: HeadActivations,
  pooling: Pooling,
  head: Head,
  drop: Dropout,
  dScore: Float32Array,
  dBbox: Float32Array,
): Result<HeadGradients> => {
  const { sizes, p } = head;
  const n = act.n;
  const fl32 = Math.fround;
  const cls = k.linearBackward({ x: act.h7, w: p.cls_score_w, dy: dScore, R: n, K: sizes.H7, M: sizes.K });
  if (E.isLeft(cls)) return cls;
  const box = k.linearBackward({ x: act.h7, w: p.bbox_pred_w, dy: dBbox, R: n, K: sizes.H7, M: sizes.D });
  if (E.isLeft(box)) return box;
  // Caffe's Split layer sums the diffs of fc7's two consumers (float32).
  const dh7 = new Float32Array(n * sizes.H7);
  for (let i = 0; i < dh7.length; i++) dh7[i] = fl32(cls.right.dx[i] + box.right.dx[i]);
  const back = (dh: Float32Array, a: Float32Array, m: Float32Array | null) => reluBackwardRaw(a, m === null ? dh : dropoutRaw(dh, m, drop.scale));
  const fc7 = k.linearBackward({ x: act.h6, w: p.fc7_w, dy: back(dh7, act.a7, drop.m7), R: n, K: sizes.H6, M: sizes.H7 });
  if (E.isLeft(fc7)) return fc7;
  const fc6 = k.linearBackward({ x: act.pool, w: p.fc6_w, dy: back(fc7.right.dx, act.a6, drop.m6), R: n, K: sizes.inputs, M: sizes.H6 });
  if (E.isLeft(fc6)) return fc6;
  const fg =
    pooling.align === null
      ? k.roiPoolBackward({ ...pooling, rois: act.rois, R: n, argmax: act.argmax!, topGrad: fc6.right.dx, mode: 'caffe' })
      : k.roiAlignBackward({ ...pooling, ...pooling.align, rois: act.rois, R: n, topGrad: fc6.right.dx, argmaxY: act.argmaxY, argmaxX: act.argmaxX });
  if (E.isLeft(fg)) return fg;
  return E.right({
    grads: {
      fc6_w: fc6.right.dw,
      fc6_b: fc6.right.db,
      fc7_w: fc7.right.dw,
      fc7_b: fc7.right.db,
      cls_score_w: cls.right.dw,
      cls_score_b: cls.right.db,
      bbox_pred_w: box.right.dw,
      bbox_pred_b: box.right.db,
    },
    featuresGrad: fg.right,
  });
};
