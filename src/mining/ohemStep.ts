/**
 * One OHEM iteration for one forward batch, pure (SPEC §1–§8, docs/mining.md §4):
 *
 *   ohemStep(config)(params, batch, masks) : Either<OhemError, StepResult>
 *     validateStep                   → Left on bad input, before any work (the def's rules, once)
 *     runStep:
 *       read-only forward, in chunks → cls_prob, bbox_pred of every RoI; no activations kept
 *       roiLoss                      → hardness per RoI (SPEC §1)
 *       select                       → NMS per (image, label), then top-B (SPEC §2) — or a dialect
 *       forward of the hard RoIs     → activations of B RoIs only, train masks (rows by RoI)
 *       softmaxCE + smoothL1         → loss_cls (valid normalisation), loss_bbox (÷ B)
 *       backward                     → gradients of every parameter and of the features
 *
 * The read-only pass holds O(chunk) activations whatever R is, and contributes nothing to any
 * gradient (SPEC §8.5). Nothing is updated: the caller applies `sgdUpdate`. `runStep` works on
 * raw arrays and the kernels: no re-validation and no Tensor round trips inside.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  Tensor,
  DEFAULT_LIMITS,
  adoptTensor,
  checkBinary,
  checkFinite,
  checkInt,
  checkIntegerValues,
  dropoutMask,
  float32Data,
  rangeError,
  renameInput,
  seedRng,
  shapeError,
  shapeString,
  split,
  valueError,
} from '../core/internal.js';
import {
  type InputDef,
  type Kernels,
  type AttrDef,
  type OpDef,
  type Tolerance,
  type Valid,
  type VariantDef,
  type RoiAlignAttrs,
  ALIGN_ATTRS,
  ALIGN_DIALECT,
  MAX_INIT,
  alignParams,
  checkAlign,
  opFn,
  DROPOUT_RATIO,
  FEATURES_INPUT,
  NORMALIZATION_ATTR,
  POOL_ATTRS,
  ROIS_INPUT,
  SIGMA_ATTR,
  checkRois,
  dropoutScale,
  exact,
  labelsInput,
  referenceKernels,
  sigma2Of,
  smoothL1Raw,
  softmaxLossRaw,
  validate,
  validateAttrs,
  type Normalization,
  type RoiPoolAttrs,
} from '../ops/index.js';
import { EPS_ATTR, roiLossKernel } from './hardness.js';
import { BATCH_SIZE, DIALECT_ATTR, SELECT_CONVENTIONS, dialectVariant, runDialect, type SelectAttrs } from './select.js';
import { PARAM_NAMES, headBackward, headForward, type Dropout, type GradName, type Head, type ParamName, type Pooling } from './head.js';

export type HeadParams = { readonly [P in ParamName]: Tensor };
export type HeadGrads = { readonly [P in GradName]: Tensor<'float32'> };

/** The protocol attrs of ohem_step (complete once validated). */
export type StepAttrs = RoiPoolAttrs &
  SelectAttrs & {
    readonly dropout_ratio: number;
    readonly eps: number;
    readonly sigma: number;
    readonly normalization: Normalization;
    /** `roi_pool` (the original) or `roi_align`, with RoIAlign's attrs (its dialect as `roi_align_dialect`). */
    readonly pooler: 'roi_pool' | 'roi_align';
    readonly sampling_ratio?: number;
    readonly aligned?: boolean;
    readonly pool_mode?: 'avg' | 'max';
    readonly roi_align_dialect?: 'torchvision' | 'mmcv';
    readonly max_init?: number;
  };

/** The library's call: the protocol attrs (any subset; defaults fill the rest) and three options. */
export type StepConfig = Partial<StepAttrs> & {
  /** RoIs per chunk of the read-only pass (default 256). Changes memory, never a bit of the result. */
  readonly chunk_size?: number;
  /** The kernels of the heavy ops: a Backend from `createBackend` (src/gpu), or by default the reference's. */
  readonly kernels?: Kernels;
  /**
   * `ohem` (default): the read-only pass, hardness and selection. `all`: plain Fast R-CNN — the
   * batch's RoIs were already sampled by the caller, every one is trained on, there is no
   * read-only pass, and roi_loss / cls_loss / bbox_loss come back empty.
   */
  readonly selection?: 'ohem' | 'all';
};

export interface StepBatch {
  readonly features: Tensor;
  readonly rois: Tensor;
  readonly labels: Tensor;
  readonly bbox_targets: Tensor;
  readonly bbox_inside_weights: Tensor;
  readonly bbox_outside_weights: Tensor;
}

export const MASK_NAMES = ['readonly_mask6', 'readonly_mask7', 'train_mask6', 'train_mask7'] as const;
export type MaskName = (typeof MASK_NAMES)[number];

/** Dropout masks given explicitly (rows indexed by RoI), or a seed to draw them from. */
export type StepMasks = { readonly [M in MaskName]: Tensor } | { readonly seed: number };

export interface StepResult extends HeadGrads {
  readonly roi_loss: Tensor<'float64'>;
  readonly cls_loss: Tensor<'float64'>;
  readonly bbox_loss: Tensor<'float64'>;
  readonly hard_inds: Tensor<'int32'>;
  readonly loss_cls: Tensor<'float32'>;
  readonly loss_bbox: Tensor<'float32'>;
  readonly features_grad: Tensor<'float32'>;
}

// --------------------------------------------------------------------------------- the def

const PARAM_SHAPES: Readonly<Record<ParamName, readonly string[]>> = {
  fc6_w: ['H6', 'CPP'],
  fc6_b: ['H6'],
  fc7_w: ['H7', 'H6'],
  fc7_b: ['H7'],
  cls_score_w: ['K', 'H7'],
  cls_score_b: ['K'],
  // Their own name for 4K: a wrong bbox_pred_w is blamed as bbox_pred_w, a wrong bbox_targets as bbox_targets.
  bbox_pred_w: ['DP', 'H7'],
  bbox_pred_b: ['DP'],
};
const PARAM_DOCS: Readonly<Record<ParamName, string>> = {
  fc6_w: 'fc6 weights [H6, C·PH·PW]',
  fc6_b: 'fc6 bias [H6]',
  fc7_w: 'fc7 weights [H7, H6]',
  fc7_b: 'fc7 bias [H7]',
  cls_score_w: 'cls_score weights [K, H7]',
  cls_score_b: 'cls_score bias [K]',
  bbox_pred_w: 'bbox_pred weights [4K, H7]',
  bbox_pred_b: 'bbox_pred bias [4K]',
};

const f32In = (name: string, shape: readonly string[], doc: string): InputDef => ({ name, dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape, doc });

const maskInput = (name: MaskName): InputDef => ({
  name,
  dtypes: ['float32'],
  accepts: ['float64', 'int32'],
  read: 'as-is',
  shape: ['R', name.endsWith('6') ? 'H6' : 'H7'],
  presence: { when: (a) => ((a.dropout_ratio as number) > 0 ? 'required' : 'unused'), doc: 'required when dropout_ratio > 0' },
  doc: `0/1 dropout mask [R, ${name.endsWith('6') ? 'H6' : 'H7'}], rows indexed by RoI (${name.startsWith('readonly') ? 'the read-only pass' : 'the train pass'})`,
});

/**
 * The order of the inputs is the order of validation (and so which input a mismatch blames):
 * the batch's map and RoIs, the head, then the labels, targets and masks.
 */
const STEP_INPUTS: readonly InputDef[] = [
  FEATURES_INPUT,
  ROIS_INPUT,
  ...PARAM_NAMES.map((p) => f32In(p, PARAM_SHAPES[p], PARAM_DOCS[p])),
  labelsInput('class ids [R], integers in [0, K)'),
  // Each its own name for its columns: the check holds each to the head's 4K and blames the one that differs.
  f32In('bbox_targets', ['R', 'D_targets'], 'normalised regression targets [R, 4K]'),
  f32In('bbox_inside_weights', ['R', 'D_inside'], 'inside weights [R, 4K]'),
  f32In('bbox_outside_weights', ['R', 'D_outside'], 'outside weights [R, 4K]'),
  ...MASK_NAMES.map(maskInput),
];

/** The pooler of the head (docs/mining.md §3): RoI max pooling, the original, or RoIAlign. */
const POOLER_ATTR: AttrDef = {
  name: 'pooler',
  domain: { kind: 'enum', values: ['roi_pool', 'roi_align'] },
  default: 'roi_pool',
  doc: 'roi_pool: Caffe RoI max pooling (the original); roi_align: RoIAlign with its attrs (the heads OHEM is ported into today)',
};
/**
 * RoIAlign's attrs under pooler roi_align; its dialect is `roi_align_dialect` because `dialect` is
 * the selection's. onnxruntime has no gradient, so it is not a dialect of a trained head.
 */
const POOLER_VARIANT: VariantDef = {
  by: 'pooler',
  cases: {
    roi_pool: [],
    roi_align: [...ALIGN_ATTRS, { ...ALIGN_DIALECT, name: 'roi_align_dialect', domain: { kind: 'enum', values: ['torchvision', 'mmcv'] } }, MAX_INIT],
  },
};

/** The RoIAlign attrs of a step (null for RoI pooling), in roi_align's own names. */
const alignOf = (a: StepAttrs): RoiAlignAttrs | null =>
  a.pooler === 'roi_align'
    ? {
        pooled_h: a.pooled_h,
        pooled_w: a.pooled_w,
        spatial_scale: a.spatial_scale,
        sampling_ratio: a.sampling_ratio!,
        aligned: a.aligned!,
        pool_mode: a.pool_mode!,
        dialect: a.roi_align_dialect!,
        max_init: a.max_init!,
      }
    : null;

// Error budget. Both sides hold float32 activations; the oracle sums each dense layer in float64
// and rounds once (as we do: then most outputs agree bit for bit) or, under OHEM_ORACLE_GEMM=float32,
// as float32 sgemm in BLAS order. Either way every stored activation may differ by ~1 ulp (2^-24
// relative) plus what the previous layer's difference carries; with |W| ≲ 1.7/√fan_in each layer
// amplifies by ≲ 2, so scores, boxes and back-propagated diffs carry ≲ 30 ulps of the magnitudes
// summed into them (≲ 4 here): ≲ 5e-6 absolute in the worst case. The conform generator keeps the
// selection and every branch (ReLU, smooth-L1) the same on both sides, so every float output is a
// continuous function of those differences. Measured against the oracle (600 requests, float32
// GEMM): the worst output used ~15% of these tolerances; with float64 accumulation only
// loss_cls/loss_bbox differ (by their last bit).
const HARDNESS: Tolerance = {
  atol: 5e-6,
  rtol: 5e-6,
  note: 'float64 per-RoI loss of a float32 forward summed in another order: −ln p moves by Δscore, the bbox term by |x|·Δpred, each ≲ 30 ulps of O(1) magnitudes; plus ≤ 1 float32 ulp of logf',
};
const LOSS: Tolerance = {
  atol: 2e-6,
  rtol: 4e-6,
  note: 'float32 mean over the B hard RoIs of per-RoI terms off by ≲ 30 ulps of O(1) values, summed in another order and stored once',
};
const GRAD: Tolerance = {
  atol: 1e-5,
  rtol: 2e-5,
  note: 'float32 back-propagation through the same branches, sums in another order: each diff off by ≲ 30 ulps of the magnitudes summed into it (≲ 4), so ≲ 1e-5 absolute where terms cancel',
};

/** The RoIs, and the eight parameters against each other and the pooled input size (C·PH·PW, D = 4K). */
const checkHead = (v: Valid<RoiPoolAttrs>): Result<void> => {
  const { N, C, K, DP: D } = v.dims;
  const { pooled_h: PH, pooled_w: PW } = v.attrs;
  const r = checkRois(v.inputs.rois, N, Math.fround(v.attrs.spatial_scale));
  if (E.isLeft(r)) return r;
  const cols = v.inputs.fc6_w.shape[1];
  if (cols !== C * PH * PW) return E.left(shapeError('fc6_w', `has ${cols} columns but the pooled RoI has C·PH·PW = ${C * PH * PW} values`));
  for (const p of PARAM_NAMES) {
    const f = checkFinite(p, v.inputs[p]);
    if (E.isLeft(f)) return f;
  }
  if (K < 1) return E.left(valueError('cls_score_w', 'has no rows: there must be at least one class'));
  if (D !== 4 * K) return E.left(shapeError('bbox_pred_w', `has ${D} rows but 4·K = ${4 * K} (K = ${K} classes from cls_score_w)`));
  return E.right(undefined);
};

const headOf = (
  inputs: Readonly<Record<string, Tensor>>,
  attrs: RoiPoolAttrs,
  dims: Readonly<Record<string, number>>,
  align: RoiAlignAttrs | null = null,
): { pooling: Pooling; head: Head } => {
  const f = (n: string) => float32Data(inputs[n]);
  const [N, C, H, W] = inputs.features.shape;
  return {
    pooling: {
      features: f('features'),
      N,
      C,
      H,
      W,
      pooledH: attrs.pooled_h,
      pooledW: attrs.pooled_w,
      scale32: Math.fround(attrs.spatial_scale),
      align: align && alignParams(align),
    },
    head: {
      sizes: { inputs: C * attrs.pooled_h * attrs.pooled_w, H6: dims.H6, H7: dims.H7, K: dims.K, D: dims.DP },
      p: Object.fromEntries(PARAM_NAMES.map((p) => [p, f(p)])) as Record<ParamName, Float32Array>,
    },
  };
};

export interface HeadInference {
  readonly score: Tensor<'float32'>;
  readonly prob: Tensor<'float32'>;
  readonly bbox: Tensor<'float32'>;
}

/**
 * The head's forward in test mode (no dropout) on every RoI: what Fast R-CNN's test_net scores.
 * Not a protocol op (the demo's evaluation uses it); validated by the same rules as ohem_step.
 */
export type HeadAttrs = Pick<StepAttrs, 'pooled_h' | 'pooled_w' | 'spatial_scale' | 'pooler' | 'sampling_ratio' | 'aligned' | 'pool_mode' | 'roi_align_dialect' | 'max_init'>;

export const headInferenceDef: OpDef<HeadAttrs, HeadInference> = {
  name: 'head_inference',
  version: 1,
  summary: 'the head\'s test-mode forward of every RoI: cls_score, cls_prob, bbox_pred',
  doc: 'docs/mining.md#3-the-head',
  inputs: STEP_INPUTS.slice(0, 2 + PARAM_NAMES.length),
  attrs: [...POOL_ATTRS, POOLER_ATTR],
  variants: [POOLER_VARIANT],
  outputs: [
    { name: 'score', dtype: 'float32', shape: ['R', 'K'], tolerance: GRAD, doc: 'cls_score' },
    { name: 'prob', dtype: 'float32', shape: ['R', 'K'], tolerance: GRAD, doc: 'softmax(cls_score)' },
    { name: 'bbox', dtype: 'float32', shape: ['R', 'DP'], tolerance: GRAD, doc: 'bbox_pred' },
  ],
  kernels: ['roiPool', 'roiAlign', 'linear'],
  check: (v) => {
    const h = checkHead(v);
    const align = alignOf(v.attrs as StepAttrs);
    return E.isLeft(h) || !align ? h : checkAlign(align, v.inputs.rois, v.dims.N, { dialect: 'attrs.roi_align_dialect' });
  },
  run: (v, k) => {
    const { pooling, head } = headOf(v.inputs, v.attrs, v.dims, alignOf(v.attrs as StepAttrs));
    const out = headForward(k, pooling, float32Data(v.inputs.rois), head, { scale: 1, m6: null, m7: null });
    if (E.isLeft(out)) return out;
    const { R, K, DP: D } = v.dims;
    return E.right({ score: adoptTensor('float32', [R, K], out.right.score), prob: adoptTensor('float32', [R, K], out.right.prob), bbox: adoptTensor('float32', [R, D], out.right.bbox) });
  },
};

/** The head's test-mode forward: `headInference({ features, rois, ...params }, poolAttrs)`. */
export const headInference = opFn<Readonly<Record<string, Tensor>>, HeadAttrs, HeadInference>(headInferenceDef, () => referenceKernels);

export const stepDef: OpDef<StepAttrs, Record<string, Tensor>> = {
  name: 'ohem_step',
  version: 2,
  summary: 'one OHEM iteration: the read-only pass, the hardness, the selection, the train pass of the hard RoIs and every gradient',
  doc: 'docs/mining.md#4-ohem_step',
  inputs: STEP_INPUTS,
  attrs: [...POOL_ATTRS, POOLER_ATTR, { ...DROPOUT_RATIO, name: 'dropout_ratio' }, DIALECT_ATTR, EPS_ATTR, SIGMA_ATTR, NORMALIZATION_ATTR],
  variants: [dialectVariant({ ...BATCH_SIZE, domain: { kind: 'int', min: 1 }, doc: `${BATCH_SIZE.doc}; ≥ 1 (the step trains on them)` }), POOLER_VARIANT],
  conventions: SELECT_CONVENTIONS,
  outputs: [
    { name: 'roi_loss', dtype: 'float64', shape: ['R'], tolerance: HARDNESS, doc: 'the hardness of every RoI (ohem_roi_loss of the read-only pass)' },
    { name: 'cls_loss', dtype: 'float64', shape: ['R'], tolerance: HARDNESS, addition: true, doc: 'its classification part' },
    { name: 'bbox_loss', dtype: 'float64', shape: ['R'], tolerance: HARDNESS, addition: true, doc: 'its regression part' },
    {
      name: 'hard_inds',
      dtype: 'int32',
      shape: ['R'],
      bounded: true,
      tolerance: exact('integer RoI indices: the generator makes the ranked values and the NMS IoUs unambiguous, so the selection must agree exactly'),
      doc: 'the hard RoIs (ohem_select)',
    },
    { name: 'loss_cls', dtype: 'float32', shape: [], tolerance: LOSS, doc: 'SoftmaxWithLoss of the hard RoIs' },
    { name: 'loss_bbox', dtype: 'float32', shape: [], tolerance: LOSS, doc: 'SmoothL1Loss of the hard RoIs (÷ B)' },
    ...PARAM_NAMES.map((p) => ({ name: `${p}_grad`, dtype: 'float32' as const, shape: PARAM_SHAPES[p], tolerance: GRAD, doc: `the gradient of ${p}` })),
    { name: 'features_grad', dtype: 'float32', shape: ['N', 'C', 'H', 'W'], tolerance: GRAD, doc: 'the gradient of the features (Caffe\'s gather)' },
  ],
  kernels: ['roiPool', 'roiPoolBackward', 'linear', 'linearBackward'],
  check: (v) => {
    const h = checkHead(v);
    if (E.isLeft(h)) return h;
    const align = alignOf(v.attrs);
    if (align) {
      const c = checkAlign(align, v.inputs.rois, v.dims.N, { dialect: 'attrs.roi_align_dialect' });
      if (E.isLeft(c)) return c;
    }
    const { K, R, DP } = v.dims;
    for (const [name, dim] of [['bbox_targets', 'D_targets'], ['bbox_inside_weights', 'D_inside'], ['bbox_outside_weights', 'D_outside']] as const)
      if (v.dims[dim] !== DP) return E.left(shapeError(name, `has shape ${shapeString(v.inputs[name].shape)}: ${v.dims[dim]} columns, but the head has 4·K = ${DP} regression outputs`));
    const lab = checkIntegerValues('labels', v.inputs.labels, 0, K, 'class id');
    if (E.isLeft(lab)) return lab;
    for (const name of ['bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights']) {
      const f = checkFinite(name, v.inputs[name]);
      if (E.isLeft(f)) return f;
    }
    if (R === 0) return E.left(rangeError('rois', 'has no rows: OHEM needs at least one RoI'));
    for (const m of MASK_NAMES)
      if (v.inputs[m]) {
        const bin = checkBinary(m, v.inputs[m]);
        if (E.isLeft(bin)) return bin;
      }
    const scale = dropoutScale(v.attrs.dropout_ratio, 'attrs.dropout_ratio');
    return E.isLeft(scale) ? scale : sigma2Of(v.attrs.sigma);
  },
  run: (v, k) =>
    E.map((r: StepResult) => r as unknown as Record<string, Tensor>)(E.chain((s: ValidStep) => runStep(s, k))(toValidStep(v.inputs, v.attrs, v.dims, DEFAULT_CHUNK, 'ohem'))),
};

// --------------------------------------------------------------------------------- validation

/** A validated step: raw float32 arrays, sizes and complete attrs. */
export interface ValidStep {
  readonly attrs: StepAttrs;
  readonly pooling: Pooling;
  readonly head: Head;
  readonly R: number;
  readonly rois: Float32Array;
  readonly labels: Float32Array;
  readonly targets: Float32Array;
  readonly inside: Float32Array;
  readonly outside: Float32Array;
  /** The four masks as float32 [R, H6|H7], or null when dropout_ratio is 0. */
  readonly masks: Readonly<Record<MaskName, Float32Array>> | null;
  readonly dropScale: number;
  readonly sigma2: number;
  readonly chunk: number;
  readonly selection: 'ohem' | 'all';
}

/** RoIs per chunk of the read-only pass when the caller does not say. */
export const DEFAULT_CHUNK = 256;

const toValidStep = (
  inputs: Readonly<Record<string, Tensor>>,
  attrs: StepAttrs,
  dims: Readonly<Record<string, number>>,
  chunk: number,
  selection: 'ohem' | 'all',
): Result<ValidStep> => {
  const f = (n: string) => float32Data(inputs[n]);
  const scale = dropoutScale(attrs.dropout_ratio, 'attrs.dropout_ratio');
  if (E.isLeft(scale)) return scale;
  const sigma2 = sigma2Of(attrs.sigma);
  if (E.isLeft(sigma2)) return sigma2;
  return E.right({
    attrs,
    ...headOf(inputs, attrs, dims, alignOf(attrs)),
    R: dims.R,
    rois: f('rois'),
    labels: f('labels'),
    targets: f('bbox_targets'),
    inside: f('bbox_inside_weights'),
    outside: f('bbox_outside_weights'),
    masks: attrs.dropout_ratio > 0 ? (Object.fromEntries(MASK_NAMES.map((m) => [m, f(m)])) as Record<MaskName, Float32Array>) : null,
    dropScale: scale.right,
    sigma2: sigma2.right,
    chunk,
    selection,
  });
};

/** Draws the four masks from a seed: split into four independent Philox streams. */
export const drawMasks = (seed: number, R: number, H6: number, H7: number, ratio: number): Result<Record<MaskName, Tensor>> => {
  const rng = seedRng(seed);
  if (E.isLeft(rng)) return E.left(valueError('masks.seed', rng.left.what));
  const streams = split(rng.right, 4);
  const out = {} as Record<MaskName, Tensor>;
  for (const [i, name] of MASK_NAMES.entries()) {
    const m = dropoutMask(streams[i], [R, name.endsWith('6') ? H6 : H7], ratio);
    if (E.isLeft(m)) return m;
    out[name] = m.right[0];
  }
  return E.right(out);
};

const LIBRARY_OPTIONS = ['chunk_size', 'kernels', 'selection'] as const;

const rowsOf = (t: unknown): number | undefined => (t instanceof Tensor && t.rank === 2 ? t.shape[0] : undefined);

/**
 * Validates one step once, by ohem_step's def (the same rules the protocol applies), with the
 * library's options. Masks given as a seed are drawn first, with the sizes the RoIs and the head
 * imply (a wrong size is then reported by the validation itself).
 */
export const validateStep = (config: StepConfig, params: HeadParams, batch: StepBatch, masks?: StepMasks): Result<ValidStep> => {
  const cfg = (config ?? {}) as Record<string, unknown>;
  const attrs = Object.fromEntries(Object.entries(cfg).filter(([k]) => !(LIBRARY_OPTIONS as readonly string[]).includes(k)));
  const chunk = checkInt('attrs.chunk_size', cfg.chunk_size ?? DEFAULT_CHUNK, 1);
  if (E.isLeft(chunk)) return chunk;
  const selection = cfg.selection ?? 'ohem';
  if (selection !== 'ohem' && selection !== 'all') return E.left(valueError('attrs.selection', `is ${String(selection)}, expected "ohem" or "all"`));
  let maskInputs: Readonly<Record<string, unknown>> = (masks ?? {}) as Record<string, unknown>;
  if (masks && 'seed' in masks) {
    const a = validateAttrs(stepDef, attrs);
    if (E.isLeft(a)) return a;
    const ratio = a.right.dropout_ratio as number;
    const R = rowsOf(batch?.rois);
    const H6 = rowsOf(params?.fc6_w);
    const H7 = rowsOf(params?.fc7_w);
    maskInputs = {};
    if (ratio > 0 && R !== undefined && H6 !== undefined && H7 !== undefined) {
      const drawn = drawMasks(masks.seed, R, H6, H7, ratio);
      if (E.isLeft(drawn)) return drawn;
      maskInputs = drawn.right;
    }
  }
  const v = validate(stepDef, { ...maskInputs, ...(params ?? {}), ...(batch ?? {}) }, attrs, DEFAULT_LIMITS);
  return E.isLeft(v) ? v : toValidStep(v.right.inputs, v.right.attrs, v.right.dims, chunk.right, selection);
};

// --------------------------------------------------------------------------------- the step

/** Rows `idx` of a row-major [n, w] array, as fresh float32 storage. */
const rows = (data: ArrayLike<number>, w: number, idx: ArrayLike<number>): Float32Array => {
  const out = new Float32Array(idx.length * w);
  for (let r = 0; r < idx.length; r++) {
    const o = idx[r] * w;
    for (let c = 0; c < w; c++) out[r * w + c] = data[o + c];
  }
  return out;
};

/**
 * The read-only pass (docs/mining.md §4 step 1): the head's forward over every RoI, `chunk` RoIs
 * at a time, keeping only cls_prob [R, K] and bbox_pred [R, D]: O(chunk) activations whatever R
 * is. Every RoI's row is computed by the same row-independent ops whatever the chunking, so the
 * chunk size changes no bit.
 */
export const readonlyForward = (s: ValidStep, k: Kernels): Result<{ prob: Float32Array; bboxPred: Float32Array }> => {
  const { K, D, H6, H7 } = s.head.sizes;
  const prob = new Float32Array(s.R * K);
  const bboxPred = new Float32Array(s.R * D);
  for (let start = 0; start < s.R; start += s.chunk) {
    const end = Math.min(s.R, start + s.chunk);
    const drop: Dropout = {
      scale: s.dropScale,
      m6: s.masks && s.masks.readonly_mask6.slice(start * H6, end * H6),
      m7: s.masks && s.masks.readonly_mask7.slice(start * H7, end * H7),
    };
    const out = headForward(k, s.pooling, s.rois.slice(start * 5, end * 5), s.head, drop);
    if (E.isLeft(out)) return out;
    prob.set(out.right.prob, start * K);
    bboxPred.set(out.right.bbox, start * D);
  }
  return E.right({ prob, bboxPred });
};

/** smooth_l1_loss's input names are the batch's under other names. */
const asBatchInput = renameInput({ pred: 'bbox_targets', target: 'bbox_targets', inside_w: 'bbox_inside_weights', outside_w: 'bbox_outside_weights' });

/** One validated step on the given kernels (docs/mining.md §4 steps 1–7). */
export const runStep = (s: ValidStep, k: Kernels): Result<StepResult> => {
  const { K, D, H6, H7 } = s.head.sizes;
  let hard: { loss: Float64Array; cls: Float64Array; bbox: Float64Array } = { loss: new Float64Array(0), cls: new Float64Array(0), bbox: new Float64Array(0) };
  let hardInds: Int32Array;
  if (s.selection === 'all') hardInds = Int32Array.from({ length: s.R }, (_, i) => i);
  else {
    // 1. read-only pass, chunk by chunk; 2. hardness; 3. selection
    const ro = readonlyForward(s, k);
    if (E.isLeft(ro)) return ro;
    hard = roiLossKernel(ro.right.prob, s.labels, s.R, K, s.attrs.eps, { pred: ro.right.bboxPred, tgt: s.targets, win: s.inside, wout: s.outside, D });
    hardInds = runDialect(s.attrs as unknown as Readonly<Record<string, unknown>>, { R: s.R, loss: hard.loss, rois: s.rois, labels: s.labels, cls: hard.cls, bbox: hard.bbox });
  }
  const B = hardInds.length;
  if (B === 0) return E.left(rangeError('labels', `the ${s.attrs.dialect} selection chose no RoI (e.g. no positives for a dialect that needs them)`));

  // 4. train pass on the B hard RoIs, with the train masks' rows of those RoIs
  const drop: Dropout = { scale: s.dropScale, m6: s.masks && rows(s.masks.train_mask6, H6, hardInds), m7: s.masks && rows(s.masks.train_mask7, H7, hardInds) };
  const fwd = headForward(k, s.pooling, rows(s.rois, 5, hardInds), s.head, drop);
  if (E.isLeft(fwd)) return fwd;

  // 5. losses
  const ce = softmaxLossRaw(fwd.right.score, rows(s.labels, 1, hardInds), B, K, s.attrs.normalization, null);
  const sl1 = smoothL1Raw(fwd.right.bbox, rows(s.targets, D, hardInds), rows(s.inside, D, hardInds), rows(s.outside, D, hardInds), B, s.sigma2);
  if (E.isLeft(sl1)) return E.left(asBatchInput(sl1.left));

  // 6. backward
  const bwd = headBackward(k, fwd.right.act, s.pooling, s.head, drop, ce.grad, sl1.right.grad);
  if (E.isLeft(bwd)) return bwd;

  const f64 = (a: Float64Array) => adoptTensor('float64', [a.length], a);
  const sizes = s.head.sizes;
  const shapes: Record<ParamName, number[]> = {
    fc6_w: [H6, sizes.inputs],
    fc6_b: [H6],
    fc7_w: [H7, H6],
    fc7_b: [H7],
    cls_score_w: [K, H7],
    cls_score_b: [K],
    bbox_pred_w: [D, H7],
    bbox_pred_b: [D],
  };
  const grads = Object.fromEntries(PARAM_NAMES.map((p) => [`${p}_grad`, adoptTensor('float32', shapes[p], bwd.right.grads[p])])) as unknown as HeadGrads;
  const { N, C, H, W } = s.pooling;
  return E.right({
    roi_loss: f64(hard.loss),
    cls_loss: f64(hard.cls),
    bbox_loss: f64(hard.bbox),
    hard_inds: adoptTensor('int32', [B], hardInds),
    loss_cls: adoptTensor('float32', [], Float32Array.of(ce.loss)),
    loss_bbox: adoptTensor('float32', [], Float32Array.of(sl1.right.loss)),
    ...grads,
    features_grad: adoptTensor('float32', [N, C, H, W], bwd.right.featuresGrad),
  });
};

/**
 * One OHEM iteration (see the top of this file). `config.kernels` runs the heavy ops (a gpu.js
 * backend from `createBackend`, or the reference kernels by default); a kernel that fails — its
 * engine fell back to another mode, it was destroyed — gives its Left (tagged `EngineError`).
 */
export const ohemStep =
  (config: StepConfig = {}) =>
  (params: HeadParams, batch: StepBatch, masks?: StepMasks): Result<StepResult> => {
    const v = validateStep(config, params, batch, masks);
    return E.isLeft(v) ? v : runStep(v.right, config?.kernels ?? referenceKernels);
  };

/** One standard Fast R-CNN pass (no mining) on RoIs the caller already sampled: `selection: 'all'`. */
export const fastRcnnStep = (config: StepConfig = {}) => ohemStep({ ...config, selection: 'all' });
