/**
 * The Fast R-CNN head of OHEM's train.prototxt (SPEC §8, docs/mining.md §3), built from the ops:
 *   roi_pool → fc6 → relu → dropout → fc7 → relu → dropout → cls_score / bbox_pred → softmax
 * and its backward. Sizes come from the parameters, so a tiny test head and VGG16's
 * 25088 → 4096 → 4096 → 21 / 84 are the same code.
 *
 * The heavy ops (RoI pooling and the dense layers) go through a `HeavyOps` engine so that a
 * gpu.js backend can stand in for the reference kernels; everything else is the reference ops.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  adoptTensor,
  checkTensor,
  checkFinite,
  FLT_MAX,
  shapeError,
  valueError,
} from '../core/index.js';
import { roiPool, roiPoolBackward, type RoiPoolAttrs } from '../ops/roiPool.js';
import { matmulNT, linearBackwardKernel, type LinearKernel, type LinearBackwardKernel } from '../ops/linear.js';
import { relu, reluBackward, dropout, dropoutBackward, softmax } from '../ops/activations.js';

export const PARAM_NAMES = ['fc6_w', 'fc6_b', 'fc7_w', 'fc7_b', 'cls_score_w', 'cls_score_b', 'bbox_pred_w', 'bbox_pred_b'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
export type HeadParams = { readonly [P in ParamName]: Tensor };
export type GradName = `${ParamName}_grad`;
export type HeadGrads = { readonly [P in GradName]: Tensor<'float32'> };

/** The sizes of a head, read from its parameters. */
export interface HeadSizes {
  readonly inputs: number; // C·PH·PW
  readonly H6: number;
  readonly H7: number;
  readonly K: number;
  readonly D: number; // 4K
}

/** The kernels the head spends its time in; the reference ops by default. */
export interface HeavyOps {
  readonly name: string;
  /** y [R, M] = x [R, K]·wᵀ + b, float32 out. */
  linear: LinearKernel;
  linearBackward: LinearBackwardKernel;
  roiPool: typeof roiPool;
  roiPoolBackward: typeof roiPoolBackward;
}

export const referenceOps: HeavyOps = Object.freeze({
  name: 'reference',
  linear: (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, R: number, K: number, M: number) => matmulNT(x, w, R, K, M, b),
  linearBackward: linearBackwardKernel,
  roiPool,
  roiPoolBackward,
});

const F = ['float32', 'float64'] as const;

/** Validates the eight parameters against each other and the pooled input size; float32 views. */
export const checkHead = (params: Partial<HeadParams>, pooledInputs: number): Result<{ sizes: HeadSizes; p: Record<ParamName, Float32Array> }> => {
  const env = new Map<string, number>([['CPP', pooledInputs]]);
  const dims: Record<ParamName, (string | number)[]> = {
    fc6_w: ['H6', 'CPP'],
    fc6_b: ['H6'],
    fc7_w: ['H7', 'H6'],
    fc7_b: ['H7'],
    cls_score_w: ['K', 'H7'],
    cls_score_b: ['K'],
    bbox_pred_w: ['D', 'H7'],
    bbox_pred_b: ['D'],
  };
  const p = {} as Record<ParamName, Float32Array>;
  for (const name of PARAM_NAMES) {
    const t = params?.[name];
    if (name === 'fc6_w' && t && (t as Tensor).rank === 2 && (t as Tensor).shape[1] !== pooledInputs)
      return E.left(shapeError(name, `has ${(t as Tensor).shape[1]} columns but the pooled RoI has C·PH·PW = ${pooledInputs} values`));
    const c = checkTensor(name, t, dims[name], F, env);
    if (E.isLeft(c)) return c;
    const fin = checkFinite(name, c.right);
    if (E.isLeft(fin)) return fin;
    p[name] = c.right.dtype === 'float32' ? (c.right.data as unknown as Float32Array) : Float32Array.from(c.right.data);
  }
  const K = env.get('K')!;
  const D = env.get('D')!;
  if (K < 1) return E.left(valueError('cls_score_w', 'has no rows: there must be at least one class'));
  if (D !== 4 * K) return E.left(shapeError('bbox_pred_w', `has ${D} rows but 4·K = ${4 * K} (K = ${K} classes from cls_score_w)`));
  return E.right({ sizes: { inputs: pooledInputs, H6: env.get('H6')!, H7: env.get('H7')!, K, D }, p });
};

/** Activations of a forward pass (kept only for the train pass). */
export interface HeadActivations {
  readonly rois: Tensor;
  readonly argmax: Tensor<'int32'>;
  readonly pool: Float32Array; // [n, C·PH·PW]
  readonly a6: Tensor<'float32'>;
  readonly h6: Tensor<'float32'>;
  readonly a7: Tensor<'float32'>;
  readonly h7: Tensor<'float32'>;
}

export interface HeadOutputs {
  readonly score: Tensor<'float32'>; // [n, K]
  readonly prob: Tensor<'float32'>; // [n, K]
  readonly bbox: Tensor<'float32'>; // [n, D]
  readonly act: HeadActivations;
}

export interface DropoutSpec {
  readonly ratio: number;
  /** 0/1 masks [n, H6], [n, H7] in the rows' order; null when ratio = 0 (dropout is the identity). */
  readonly m6: Tensor | null;
  readonly m7: Tensor | null;
}

/** The forward of the head on `rois` [n, 5] (SPEC §8, docs/mining.md §3). */
export const headForward = (
  eng: HeavyOps,
  features: Tensor,
  rois: Tensor,
  poolAttrs: RoiPoolAttrs,
  head: { sizes: HeadSizes; p: Record<ParamName, Float32Array> },
  drop: DropoutSpec,
): Result<HeadOutputs> => {
  const { sizes, p } = head;
  const n = rois.shape[0];
  const pooled = eng.roiPool({ features, rois }, poolAttrs);
  if (E.isLeft(pooled)) return pooled;
  const { top, argmax } = pooled.right;
  // pool5 [n, C, PH, PW] flattened channel-major (pitfall 23) is its row-major storage.
  const pool = top.data as unknown as Float32Array;
  // RoI pooling passes NaN/±∞ features through (SPEC §5.1); the dense layers cannot use them.
  for (let i = 0; i < pool.length; i++)
    if (!Number.isFinite(pool[i])) return E.left(valueError('features', `a pooled RoI holds ${pool[i]}: the head needs finite features under every RoI`));
  // A bin whose features are all −∞ or NaN pools to −FLT_MAX (SPEC §5.1); an overflow downstream
  // of such a value is the features' fault, not a parameter's.
  const extreme = pool.some((v) => Math.abs(v) >= FLT_MAX);
  const blame = (param: string, layer: string) =>
    extreme
      ? valueError('features', `a RoI pools to ±FLT_MAX (a bin of −∞ or NaN features) and ${layer} overflows float32`)
      : valueError(param, `${layer} overflowed float32 on these inputs`);
  const dense = (x: ArrayLike<number>, w: Float32Array, b: Float32Array, K: number, M: number) =>
    adoptTensor('float32', [n, M], eng.linear(x, w, b, n, K, M));
  const drp = (x: Tensor, m: Tensor | null): Result<Tensor<'float32'>> =>
    m === null ? E.right(x as Tensor<'float32'>) : E.map((o: { y: Tensor<'float32'> }) => o.y)(dropout({ x, mask: m }, { ratio: drop.ratio }));
  const a6 = dense(pool, p.fc6_w, p.fc6_b, sizes.inputs, sizes.H6);
  const fin6 = checkFinite('fc6', a6);
  if (E.isLeft(fin6)) return E.left(blame('fc6_w', 'fc6'));
  const r6 = relu({ x: a6 });
  if (E.isLeft(r6)) return r6;
  const h6 = drp(r6.right.y, drop.m6);
  if (E.isLeft(h6)) return h6;
  const a7 = dense(h6.right.data, p.fc7_w, p.fc7_b, sizes.H6, sizes.H7);
  const fin7 = checkFinite('fc7', a7);
  if (E.isLeft(fin7)) return E.left(blame('fc7_w', 'fc7'));
  const r7 = relu({ x: a7 });
  if (E.isLeft(r7)) return r7;
  const h7 = drp(r7.right.y, drop.m7);
  if (E.isLeft(h7)) return h7;
  const score = dense(h7.right.data, p.cls_score_w, p.cls_score_b, sizes.H7, sizes.K);
  const bbox = dense(h7.right.data, p.bbox_pred_w, p.bbox_pred_b, sizes.H7, sizes.D);
  const prob = softmax({ x: score });
  if (E.isLeft(prob)) return E.left(blame('cls_score_w', 'cls_score'));
  const finBox = checkFinite('bbox_pred', bbox);
  if (E.isLeft(finBox)) return E.left(blame('bbox_pred_w', 'bbox_pred'));
  return E.right({ score, prob: prob.right.prob, bbox, act: { rois, argmax, pool, a6, h6: h6.right, a7, h7: h7.right } });
};

/**
 * The backward of the head from d(cls_score) and d(bbox_pred) (docs/mining.md §4 step 6): every
 * parameter gradient and d(features) through Caffe's gather (roi_pool_backward, caffe mode).
 */
export const headBackward = (
  eng: HeavyOps,
  act: HeadActivations,
  featuresShape: readonly number[],
  poolAttrs: RoiPoolAttrs,
  head: { sizes: HeadSizes; p: Record<ParamName, Float32Array> },
  drop: DropoutSpec,
  dScore: Tensor<'float32'>,
  dBbox: Tensor<'float32'>,
): Result<{ grads: HeadGrads; features_grad: Tensor<'float32'> }> => {
  const { sizes, p } = head;
  const n = act.rois.shape[0];
  const fl32 = Math.fround;
  const cls = eng.linearBackward(act.h7.data, p.cls_score_w, dScore.data, n, sizes.H7, sizes.K);
  const box = eng.linearBackward(act.h7.data, p.bbox_pred_w, dBbox.data, n, sizes.H7, sizes.D);
  // Caffe's Split layer sums the diffs of fc7's two consumers (float32).
  const dh7d = new Float32Array(n * sizes.H7);
  for (let i = 0; i < dh7d.length; i++) dh7d[i] = fl32(cls.dx[i] + box.dx[i]);
  const dh7 = adoptTensor('float32', [n, sizes.H7], dh7d);
  const back = (dh: Tensor, a: Tensor, m: Tensor | null): Result<Tensor<'float32'>> => {
    const dr = m === null ? E.right({ dx: dh as Tensor<'float32'> }) : dropoutBackward({ dy: dh, mask: m }, { ratio: drop.ratio });
    if (E.isLeft(dr)) return dr;
    return E.map((o: { dx: Tensor<'float32'> }) => o.dx)(reluBackward({ x: a, dy: dr.right.dx }));
  };
  const da7 = back(dh7, act.a7, drop.m7);
  if (E.isLeft(da7)) return da7;
  const fc7 = eng.linearBackward(act.h6.data, p.fc7_w, da7.right.data, n, sizes.H6, sizes.H7);
  const da6 = back(adoptTensor('float32', [n, sizes.H6], fc7.dx), act.a6, drop.m6);
  if (E.isLeft(da6)) return da6;
  const fc6 = eng.linearBackward(act.pool, p.fc6_w, da6.right.data, n, sizes.inputs, sizes.H6);
  const topGrad = adoptTensor('float32', act.argmax.shape, fc6.dx);
  const fg = eng.roiPoolBackward(
    { rois: act.rois, argmax: act.argmax, top_grad: topGrad },
    { ...poolAttrs, features_shape: [...featuresShape], mode: 'caffe' },
  );
  if (E.isLeft(fg)) return fg;
  const g = (name: ParamName, d: Float32Array, shape: readonly number[]) => [`${name}_grad`, adoptTensor('float32', shape, d)] as const;
  const grads = Object.fromEntries([
    g('fc6_w', fc6.dw, [sizes.H6, sizes.inputs]),
    g('fc6_b', fc6.db, [sizes.H6]),
    g('fc7_w', fc7.dw, [sizes.H7, sizes.H6]),
    g('fc7_b', fc7.db, [sizes.H7]),
    g('cls_score_w', cls.dw, [sizes.K, sizes.H7]),
    g('cls_score_b', cls.db, [sizes.K]),
    g('bbox_pred_w', box.dw, [sizes.D, sizes.H7]),
    g('bbox_pred_b', box.db, [sizes.D]),
  ]) as unknown as HeadGrads;
  return E.right({ grads, features_grad: fg.right.features_grad });
};
