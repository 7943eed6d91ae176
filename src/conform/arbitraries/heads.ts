/**
 * Generators of tiny Fast R-CNN heads and batches (the ohem_step suite's requests; the mining
 * properties use them too), and the head's forward composed from the PUBLIC ops (src/ops), written
 * from docs/mining.md §3 — never by calling src/mining — which the generator uses to keep its
 * requests away from the branch points of the backward.
 *
 * A case is plain numbers (`HeadSpec`) so that tests can perturb, permute and mutate it, and
 * `tensorsOf` turns it into the tensors the API takes. Sizes are tiny: N 1–2 images, C 1–3
 * channels, maps 4–12 cells a side, pooled 2 or 3 bins each way, spatial_scale 1, 1/2, 1/4 or 1/16, H6/H7 3–8,
 * K 2–4 classes, R 4–16 RoIs. The RoIs' labels and regression targets are built as Fast R-CNN's
 * `_all_rois` builds them (SPEC §3.2): targets and inside weights 1 only in the 4 slots of a
 * foreground RoI's class, outside weights = (inside > 0). Values are drawn from a fast-check seed
 * through the project's Philox generator (reproducible; no Math.random), rounded to float32.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { type Tensor, seedRng, stream } from '../../core/index.js';
import { roiAlign, roiPool, linear, relu, dropout, softmax } from '../../ops/index.js';
import { T, right } from '../util.js';

export const PARAMS = ['fc6_w', 'fc6_b', 'fc7_w', 'fc7_b', 'cls_score_w', 'cls_score_b', 'bbox_pred_w', 'bbox_pred_b'] as const;
export type PName = (typeof PARAMS)[number];
export const MASKS = ['readonly_mask6', 'readonly_mask7', 'train_mask6', 'train_mask7'] as const;
export type MName = (typeof MASKS)[number];
export const BATCH = ['features', 'rois', 'labels', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;
export type BName = (typeof BATCH)[number];

/** A tiny head, its batch and its masks, as plain row-major numbers (all float32-representable). */
export interface HeadSpec {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly PH: number;
  readonly PW: number;
  readonly scale: number;
  readonly H6: number;
  readonly H7: number;
  readonly K: number;
  readonly R: number;
  /** [N, C, H, W] */
  readonly features: number[];
  /** [R, 5]: batch index, x1, y1, x2, y2 (image pixels, inclusive) */
  readonly rois: number[];
  /** [R], integers in [0, K) */
  readonly labels: number[];
  /** [R, 4K] each */
  readonly bbox_targets: number[];
  readonly bbox_inside_weights: number[];
  readonly bbox_outside_weights: number[];
  readonly params: Readonly<Record<PName, number[]>>;
  /** 0 (dropout is the identity, no masks) or 0.5 (explicit 0/1 masks, rows indexed by RoI). */
  readonly ratio: number;
  readonly masks: Readonly<Record<MName, number[]>> | null;
}

export const paramShape = (s: HeadSpec, p: PName): number[] => {
  const D = 4 * s.K;
  const shapes: Record<PName, number[]> = {
    fc6_w: [s.H6, s.C * s.PH * s.PW],
    fc6_b: [s.H6],
    fc7_w: [s.H7, s.H6],
    fc7_b: [s.H7],
    cls_score_w: [s.K, s.H7],
    cls_score_b: [s.K],
    bbox_pred_w: [D, s.H7],
    bbox_pred_b: [D],
  };
  return shapes[p];
};
export const maskShape = (s: HeadSpec, m: MName): number[] => [s.R, m.endsWith('6') ? s.H6 : s.H7];
export const batchShape = (s: HeadSpec, b: BName): number[] =>
  b === 'features' ? [s.N, s.C, s.H, s.W] : b === 'rois' ? [s.R, 5] : b === 'labels' ? [s.R] : [s.R, 4 * s.K];

export interface HeadTensors {
  readonly params: Record<PName, Tensor<'float32'>>;
  readonly batch: Record<BName, Tensor<'float32'>>;
  /** The four masks when ratio > 0, else undefined (ohemStep needs none). */
  readonly masks: Record<MName, Tensor<'float32'>> | undefined;
  /** pooled_h, pooled_w, spatial_scale, dropout_ratio: the head's part of a StepConfig. */
  readonly headAttrs: { pooled_h: number; pooled_w: number; spatial_scale: number; dropout_ratio: number };
}

export const tensorsOf = (s: HeadSpec): HeadTensors => ({
  params: Object.fromEntries(PARAMS.map((p) => [p, T('float32', paramShape(s, p), s.params[p])])) as Record<PName, Tensor<'float32'>>,
  batch: Object.fromEntries(BATCH.map((b) => [b, T('float32', batchShape(s, b), s[b])])) as Record<BName, Tensor<'float32'>>,
  masks: s.masks ? (Object.fromEntries(MASKS.map((m) => [m, T('float32', maskShape(s, m), s.masks![m])])) as Record<MName, Tensor<'float32'>>) : undefined,
  headAttrs: { pooled_h: s.PH, pooled_w: s.PW, spatial_scale: s.scale, dropout_ratio: s.ratio },
});

/** Every tensor of a case, for assertPure. */
export const allTensors = (t: HeadTensors): Tensor[] => [
  ...Object.values(t.params),
  ...Object.values(t.batch),
  ...(t.masks ? Object.values(t.masks) : []),
];

// ------------------------------------------------------------------------------ generation

/** Uniform draws in [0, 1) from a seed: the project's Philox generator, draw by draw. */
export const draws = (seed: number): (() => number) => {
  const r = seedRng(seed >>> 0);
  if (E.isLeft(r)) throw new Error(r.left.message); // a generator bug: seeds are drawn as uint32
  return stream(r.right).u;
};

export interface HeadOptions {
  /** 'zero': dropout_ratio 0, no masks; 'half': 0.5 with explicit masks; 'both' (default). */
  readonly dropout?: 'zero' | 'half' | 'both';
  readonly maxN?: number;
  readonly maxC?: number;
  readonly maxMap?: number;
  readonly minR?: number;
  readonly maxR?: number;
  readonly maxHidden?: number;
  readonly maxK?: number;
  /** Every image gets at least one foreground and one background RoI (for the dialects). */
  readonly mixedLabels?: boolean;
  /**
   * Make this many foreground RoIs "dominant": regression targets of ±(100·(j+1)) so that their
   * hardness (≈ the smooth-L1 of the target, SPEC §1.3: no 1/N) exceeds every other RoI's by far and
   * is spaced by ~400 between them, whatever the dropout masks or small feature changes do.
   */
  readonly dominant?: number;
  /** Probability that a RoI copies an earlier box of its image with a small jitter (NMS food). */
  readonly dupProb?: number;
  /**
   * Probability that a RoI is malformed (x2 < x1 or y2 < y1 by a few map cells): legal input that
   * Caffe pools as a one-cell-wide RoI and whose gradient its gather backward drops (SPEC §5.2).
   */
  readonly malformedProb?: number;
}

const SCALES = [1, 0.5, 0.25, 0.0625];

/** The sizes of a case and the seed of its values. */
export interface HeadDims {
  N: number;
  C: number;
  H: number;
  W: number;
  PH: number;
  PW: number;
  scale: number;
  H6: number;
  H7: number;
  K: number;
  R: number;
  half: boolean;
  seed: number;
}

export const headDimsArb = (o: HeadOptions = {}): fc.Arbitrary<HeadDims> =>
  fc.record({
    N: fc.integer({ min: 1, max: o.maxN ?? 2 }),
    C: fc.integer({ min: 1, max: o.maxC ?? 3 }),
    H: fc.integer({ min: 4, max: o.maxMap ?? 12 }),
    W: fc.integer({ min: 4, max: o.maxMap ?? 12 }),
    PH: fc.constantFrom(2, 3),
    PW: fc.constantFrom(2, 3),
    scale: fc.constantFrom(...SCALES),
    H6: fc.integer({ min: 3, max: o.maxHidden ?? 8 }),
    H7: fc.integer({ min: 3, max: o.maxHidden ?? 8 }),
    K: fc.integer({ min: 2, max: o.maxK ?? 4 }),
    R: fc.integer({ min: Math.max(o.minR ?? 4, 2 * (o.dominant ?? 0), o.mixedLabels ? 4 : 1), max: o.maxR ?? 16 }),
    half: o.dropout === 'zero' ? fc.constant(false) : o.dropout === 'half' ? fc.constant(true) : fc.boolean(),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
  });

export const headSpecArb = (o: HeadOptions = {}): fc.Arbitrary<HeadSpec> => headDimsArb(o).map((d) => buildSpec(d, o));

/** Two cases of the same sizes (two batches for one head: use the first's params). */
export const headPairArb = (o: HeadOptions = {}): fc.Arbitrary<[HeadSpec, HeadSpec]> =>
  headDimsArb(o).chain((d) => fc.integer({ min: 0, max: 0x7fffffff }).map((seed2): [HeadSpec, HeadSpec] => [buildSpec(d, o), buildSpec({ ...d, seed: seed2 }, o)]));

export const buildSpec = (d: HeadDims, o: HeadOptions = {}): HeadSpec => {
  const rnd = draws(d.seed);
  const fl = Math.fround;
  const uni = (a: number, b: number) => fl(a + (b - a) * rnd());
  const int = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1)); // [a, b]
  const { N, C, H, W, K, R } = d;
  const D = 4 * K;
  const features = Array.from({ length: N * C * H * W }, () => uni(-2, 2));
  // RoIs in image pixels: the map is the image scaled by spatial_scale.
  const imgW = Math.round(W / d.scale);
  const imgH = Math.round(H / d.scale);
  const rois: number[] = [];
  const labels: number[] = [];
  for (let r = 0; r < R; r++) {
    const b = r < N ? r : int(0, N - 1); // every image has a RoI when R ≥ N
    const earlier = rois.length / 5;
    const sameImage = Array.from({ length: earlier }, (_, i) => i).filter((i) => rois[i * 5] === b);
    let x1: number, y1: number, x2: number, y2: number;
    if (sameImage.length > 0 && rnd() < (o.dupProb ?? 0.3)) {
      const i = sameImage[int(0, sameImage.length - 1)];
      const j = (v: number, ext: number) => v + int(-Math.max(1, Math.round(0.06 * ext)), Math.max(1, Math.round(0.06 * ext)));
      const [a1, b1, a2, b2] = rois.slice(i * 5 + 1, i * 5 + 5);
      x1 = Math.max(0, j(a1, a2 - a1));
      y1 = Math.max(0, j(b1, b2 - b1));
      x2 = Math.min(imgW - 1, Math.max(x1 + 1, j(a2, a2 - a1)));
      y2 = Math.min(imgH - 1, Math.max(y1 + 1, j(b2, b2 - b1)));
    } else {
      x1 = int(0, imgW - 2);
      y1 = int(0, imgH - 2);
      x2 = int(x1 + 1, imgW - 1);
      y2 = int(y1 + 1, imgH - 1);
    }
    if (rnd() < (o.malformedProb ?? 0)) {
      // Swap one pair of corners and push them apart by at least two map cells.
      const gap = Math.ceil(2 / d.scale);
      if (rnd() < 0.5) [x1, x2] = [Math.min(imgW - 1, Math.max(x1, x2) + gap), Math.min(x1, x2)];
      else [y1, y2] = [Math.min(imgH - 1, Math.max(y1, y2) + gap), Math.min(y1, y2)];
    }
    rois.push(b, x1, y1, x2, y2);
    labels.push(int(0, K - 1));
  }
  if (o.mixedLabels) {
    // The first RoI of each image foreground, the second background (R ≥ 2N here).
    for (let b = 0; b < N; b++) {
      const mine = labels.map((_, i) => i).filter((i) => rois[i * 5] === b);
      if (mine.length >= 2) {
        if (!mine.some((i) => labels[i] > 0)) labels[mine[0]] = int(1, K - 1);
        if (!mine.some((i) => labels[i] === 0)) labels[mine.find((i) => labels[i] > 0 && i !== mine[0]) ?? mine[1]] = 0;
      }
    }
  }
  const dominant = new Map<number, number>();
  for (let j = 0; j < (o.dominant ?? 0); j++) {
    const i = 2 * j; // spread over the indices, not just the first ones
    if (labels[i] === 0) labels[i] = int(1, K - 1);
    dominant.set(i, 100 * (j + 1));
  }
  const bbox_targets = new Array<number>(R * D).fill(0);
  const bbox_inside_weights = new Array<number>(R * D).fill(0);
  const bbox_outside_weights = new Array<number>(R * D).fill(0);
  for (let r = 0; r < R; r++) {
    const c = labels[r];
    if (c === 0) continue;
    for (let k = 4 * c; k < 4 * c + 4; k++) {
      const big = dominant.get(r);
      bbox_targets[r * D + k] = big !== undefined ? (rnd() < 0.5 ? -big : big) : uni(-2, 2);
      bbox_inside_weights[r * D + k] = 1;
      bbox_outside_weights[r * D + k] = 1;
    }
  }
  const fanIn = { fc6_w: C * d.PH * d.PW, fc7_w: d.H6, cls_score_w: d.H7, bbox_pred_w: d.H7 };
  const spec0 = { ...d, PH: d.PH, PW: d.PW } as unknown as HeadSpec;
  const params = Object.fromEntries(
    PARAMS.map((p) => {
      const n = paramShape(spec0, p).reduce((a, b) => a * b, 1);
      const a = p.endsWith('_w') ? 1.7 / Math.sqrt(fanIn[p as keyof typeof fanIn]) : 0.3;
      return [p, Array.from({ length: n }, () => uni(-a, a))];
    }),
  ) as Record<PName, number[]>;
  const masks = d.half
    ? (Object.fromEntries(MASKS.map((m) => [m, Array.from({ length: R * (m.endsWith('6') ? d.H6 : d.H7) }, () => (rnd() < 0.5 ? 0 : 1))])) as Record<MName, number[]>)
    : null;
  return {
    N,
    C,
    H,
    W,
    PH: d.PH,
    PW: d.PW,
    scale: d.scale,
    H6: d.H6,
    H7: d.H7,
    K,
    R,
    features,
    rois,
    labels,
    bbox_targets,
    bbox_inside_weights,
    bbox_outside_weights,
    params,
    ratio: d.half ? 0.5 : 0,
    masks,
  };
};

/** Rows `idx` of a row-major [n, w] array. */
export const rowsOf = (data: ArrayLike<number>, w: number, idx: ArrayLike<number>): number[] => {
  const out: number[] = [];
  for (let r = 0; r < idx.length; r++) for (let c = 0; c < w; c++) out.push(data[idx[r] * w + c]);
  return out;
};

/** The case with its RoIs reordered: new RoI j is old RoI perm[j] (rois, labels, targets, weights, mask rows). */
export const permuteSpec = (s: HeadSpec, perm: readonly number[]): HeadSpec => {
  const D = 4 * s.K;
  return {
    ...s,
    rois: rowsOf(s.rois, 5, perm),
    labels: rowsOf(s.labels, 1, perm),
    bbox_targets: rowsOf(s.bbox_targets, D, perm),
    bbox_inside_weights: rowsOf(s.bbox_inside_weights, D, perm),
    bbox_outside_weights: rowsOf(s.bbox_outside_weights, D, perm),
    masks: s.masks ? (Object.fromEntries(MASKS.map((m) => [m, rowsOf(s.masks![m], m.endsWith('6') ? s.H6 : s.H7, perm)])) as Record<MName, number[]>) : null,
  };
};

// --------------------------------------------------------------- the head from the public ops

export interface Forward {
  /** pool5 [n, C, PH, PW] and its argmax (RoI pooling; empty for RoIAlign) */
  readonly pool: Tensor<'float32'>;
  readonly argmax: Tensor<'int32'>;
  readonly a6: Tensor<'float32'>;
  readonly h6: Tensor<'float32'>;
  readonly a7: Tensor<'float32'>;
  readonly h7: Tensor<'float32'>;
  readonly score: Tensor<'float32'>;
  readonly bbox: Tensor<'float32'>;
  readonly prob: Tensor<'float32'>;
}

/**
 * docs/mining.md §3, line by line with the public ops: roi_pool → flatten channel-major → fc6 →
 * relu → dropout(m6) → fc7 → relu → dropout(m7) → cls_score, bbox_pred → softmax. `m6`, `m7` are
 * the masks' rows for these RoIs (undefined when the ratio is 0: dropout is then the identity).
 */
export const headForwardOps = (
  t: HeadTensors,
  rois: Tensor,
  m6: Tensor | undefined,
  m7: Tensor | undefined,
  pooler: Readonly<Record<string, unknown>> = {},
): Forward => {
  const n = rois.shape[0];
  const { pooled_h, pooled_w, spatial_scale, dropout_ratio } = t.headAttrs;
  const p = t.params;
  // pool5: RoI max pooling, or RoIAlign under `pooler: 'roi_align'` (its dialect named roi_align_dialect).
  const pooled =
    pooler.pooler === 'roi_align'
      ? {
          ...right(
            roiAlign(
              { features: t.batch.features, rois },
              {
                pooled_h,
                pooled_w,
                spatial_scale,
                sampling_ratio: pooler.sampling_ratio as number | undefined,
                aligned: pooler.aligned as boolean | undefined,
                pool_mode: pooler.pool_mode as 'avg' | 'max' | undefined,
                dialect: pooler.roi_align_dialect as 'torchvision' | 'mmcv' | undefined,
                max_init: pooler.max_init as number | undefined,
              },
            ),
            'roiAlign',
          ),
          argmax: T('int32', [0], []),
        }
      : right(roiPool({ features: t.batch.features, rois }, { pooled_h, pooled_w, spatial_scale }), 'roiPool');
  const flat = T('float32', [n, p.fc6_w.shape[1]], pooled.top.data); // channel-major (c, ph, pw) = row-major storage
  const drop = (x: Tensor<'float32'>, m: Tensor | undefined) =>
    dropout_ratio === 0 ? x : right(dropout({ x, mask: m! }, { ratio: dropout_ratio }), 'dropout').y;
  const a6 = right(linear({ x: flat, w: p.fc6_w, b: p.fc6_b }), 'fc6').y;
  const h6 = drop(right(relu({ x: a6 }), 'relu6').y, m6);
  const a7 = right(linear({ x: h6, w: p.fc7_w, b: p.fc7_b }), 'fc7').y;
  const h7 = drop(right(relu({ x: a7 }), 'relu7').y, m7);
  const score = right(linear({ x: h7, w: p.cls_score_w, b: p.cls_score_b }), 'cls_score').y;
  const bbox = right(linear({ x: h7, w: p.bbox_pred_w, b: p.bbox_pred_b }), 'bbox_pred').y;
  const prob = right(softmax({ x: score }), 'softmax').prob;
  return { pool: flat, argmax: pooled.argmax, a6, h6, a7, h7, score, bbox, prob };
};

/** Rows `idx` of a 2-D tensor as a float32 tensor. */
export const takeRows = (x: Tensor, idx: ArrayLike<number>): Tensor<'float32'> => {
  const w = x.shape[1];
  return T('float32', [idx.length, w], rowsOf(x.data, w, idx));
};

/** The read-only forward of every RoI (docs/mining.md §4 step 1) with the readonly masks. */
export const readonlyForwardOps = (t: HeadTensors): Forward =>
  headForwardOps(t, t.batch.rois, t.masks?.readonly_mask6, t.masks?.readonly_mask7);
