/**
 * Selection of the hard RoIs (SPEC §2, docs/mining.md §2): the original OHEM rule (`caffe-ohem`)
 * and three other implementations' rules as named dialects (DIALECTS.md), all built from the same
 * pure pieces — `greedyNms` and `orderDescending` — so they differ only where the originals do.
 *
 * Each dialect is declared once (`DialectDef`: its attrs with their defaults, the loss inputs it
 * reads, its rule); `ohem_select` and `ohem_step` both take them as variants of their `dialect`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, checkFinite, checkIntegerValues, checkNoNaN, rangeError } from '../core/internal.js';
import {
  type AttrDef,
  type InputDef,
  type OpDef,
  type VariantDef,
  BOX_CONVENTION_ATTR,
  NMS_CONVENTIONS,
  NMS_THRESHOLD,
  PRECISION_ATTR,
  ROIS_INPUT,
  SUPPRESS_ATTR,
  TIES_ATTR,
  convention,
  exact,
  greedyNms,
  labelsInput,
  opFn,
  orderDescending,
  referenceKernels,
  type BoxConvention,
  type NmsAttrs,
  type NmsPrecision,
  type SuppressRule,
  type ThresholdCast,
  type Corners,
  type TieRule,
} from '../ops/index.js';

export const DIALECTS = ['caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'] as const;
export type Dialect = (typeof DIALECTS)[number];

export interface CaffeOhemAttrs {
  readonly batch_size: number;
  readonly use_nms: boolean;
  readonly nms_threshold: number;
  readonly box_convention: BoxConvention;
  readonly suppress: SuppressRule;
  readonly ties: TieRule;
  readonly precision: NmsPrecision;
  /** A reference convention (SELECT_CONVENTIONS); absent: `original`. */
  readonly threshold_cast?: ThresholdCast;
  readonly corners?: Corners;
}
export interface MmdetOhemAttrs {
  readonly num: number;
  readonly pos_fraction: number;
  readonly neg_pos_ub: number;
  readonly ties: TieRule;
}
export interface TfMinerAttrs {
  readonly loss_type: 'both' | 'cls' | 'loc';
  readonly cls_loss_weight: number;
  readonly loc_loss_weight: number;
  readonly num_hard_examples: number;
  readonly iou_threshold: number;
  readonly max_negatives_per_positive: number | null;
  readonly min_negatives_per_image: number;
  readonly ties: TieRule;
  readonly threshold_cast?: ThresholdCast;
  readonly corners?: Corners;
  /** A reference convention (SELECT_CONVENTIONS); absent: `tf`. */
  readonly miner_nms?: 'tf' | 'tfjs';
}
export interface SsdAttrs {
  readonly neg_pos_ratio: number;
  readonly ties: TieRule;
  /** A reference convention (SELECT_CONVENTIONS); absent: `floor`. */
  readonly negatives?: NegativeCount;
}

/** SSD's negative count: `floor`: ⌊ratio·#pos⌋ (Caffe SSD); `rank`: the ranks below ratio·#pos, ⌈ratio·#pos⌉ (torchvision). */
export type NegativeCount = 'floor' | 'rank';

/**
 * The selection's conventions of the reference alone (docs/protocol.md "Conventions"), read by
 * ohem_select and ohem_step: the NMS threshold's cast and SSD's negative count.
 */
export const SELECT_CONVENTIONS: readonly AttrDef[] = [
  ...NMS_CONVENTIONS,
  convention('negatives', 'ssd-hard-negative\'s negative count: floor: ⌊neg_pos_ratio·#pos⌋ (Caffe SSD MultiBoxLoss); rank: the negatives ranked below neg_pos_ratio·#pos, ⌈neg_pos_ratio·#pos⌉ (torchvision SSD)', {
    floor: 'takes ⌊neg_pos_ratio·#pos⌋ negatives per image (Caffe SSD)',
    rank: 'takes the negatives whose rank is below neg_pos_ratio·#pos, ⌈neg_pos_ratio·#pos⌉ of them (torchvision SSD\'s idx_rank < num_negative)',
  }),
  convention('miner_nms', 'tf-hard-example-miner\'s NMS: tf: the float32 IoU > fl32(iou_threshold) (TF C++ NonMaxSuppressionV3); tfjs: the losses and their weighted sum in float32, the IoU in double, suppressed when ≥ iou_threshold (TensorFlow.js tensors and tf.image.nonMaxSuppression)', {
    tf: 'suppresses when the float32 IoU exceeds fl32(iou_threshold) (TensorFlow\'s C++ kernel)',
    tfjs: 'ranks float32 losses combined in float32 and suppresses when the IoU, in double, is at least iou_threshold (TensorFlow.js: IoU exactly at the threshold is suppressed)',
  }),
];

export type SelectAttrs = { readonly dialect: Dialect } & Partial<CaffeOhemAttrs & MmdetOhemAttrs & TfMinerAttrs & SsdAttrs>;

export interface SelectInputs {
  readonly loss?: Tensor;
  readonly rois: Tensor;
  readonly labels: Tensor;
  readonly cls_loss?: Tensor;
  readonly bbox_loss?: Tensor;
}

/** Validated, plain-array view of the selection's inputs. */
export interface SelectData {
  readonly R: number;
  readonly loss: ArrayLike<number> | null;
  readonly rois: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
  readonly cls: ArrayLike<number> | null;
  readonly bbox: ArrayLike<number> | null;
}

// ------------------------------------------------------------------------------------ helpers

/** RoI indices grouped by image (trunc of the batch column), images ascending, indices ascending. */
const byImage = (rois: ArrayLike<number>, R: number): number[][] => {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < R; i++) {
    const g = Math.trunc(rois[i * 5]);
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(i);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((g) => groups.get(g)!);
};

const gather = (values: ArrayLike<number>, idx: ArrayLike<number>): Float64Array => Float64Array.from(idx as ArrayLike<number>, (i) => values[i]);

/** The first `k` of `idx` ordered by `values[idx]` descending under the tie rule (positions in idx). */
const topOf = (idx: readonly number[], values: ArrayLike<number>, k: number, ties: TieRule): number[] => {
  const order = orderDescending(gather(values, idx), ties);
  return Array.from(order.subarray(0, Math.min(k, idx.length)), (p) => idx[p]);
};

const boxesOf = (rois: ArrayLike<number>, idx: readonly number[]): Float64Array => {
  const b = new Float64Array(idx.length * 4);
  idx.forEach((i, p) => {
    for (let c = 0; c < 4; c++) b[p * 4 + c] = rois[i * 5 + 1 + c];
  });
  return b;
};

// ----------------------------------------------------------------------------------- dialects

/** SPEC §2.1: NMS per (image id, label) over float32-rounded losses, then top-B of the float64 losses. */
export const selectCaffeOhem = (d: SelectData, a: CaffeOhemAttrs): Int32Array => {
  const loss = d.loss!;
  let keep: number[];
  if (a.use_nms) {
    // Image ids are the float32 values of column 0 and labels the float32 label values, each
    // sorted ascending and compared by value (SPEC §2.1: `sorted unique` of the float arrays).
    const imgIds = [...new Set(Array.from({ length: d.R }, (_, i) => d.rois[i * 5]))].sort((x, y) => x - y);
    const labelSet = [...new Set(Array.from(d.labels))].sort((x, y) => x - y);
    const nmsAttrs: NmsAttrs = {
      threshold: a.nms_threshold,
      box_convention: a.box_convention,
      suppress: a.suppress,
      ties: a.ties,
      precision: a.precision,
      threshold_cast: a.threshold_cast,
      corners: a.corners,
    };
    keep = [];
    for (const g of imgIds)
      for (const c of labelSet) {
        const S: number[] = [];
        for (let i = 0; i < d.R; i++) if (d.labels[i] === c && d.rois[i * 5] === g) S.push(i);
        if (S.length === 0) continue;
        // The NMS scores are the losses; under precision float32 greedyNms rounds them to float32
        // with the boxes, as the original's float32 NMS matrix does (SPEC §2.1, pitfall 5), and
        // under float64 it keeps both in float64 (protocol 1.1, amendment 4).
        const k = greedyNms(boxesOf(d.rois, S), gather(loss, S), nmsAttrs);
        for (const p of k) keep.push(S[p]);
      }
  } else keep = Array.from({ length: d.R }, (_, i) => i);
  // Final ranking on the float64 losses; ties by position in the keep list (SPEC §2.2).
  return Int32Array.from(topOf(keep, loss, a.batch_size, a.ties));
};

/** mmdetection OHEMSampler: cls loss only, positive and negative pools with quotas, ascending output. */
export const selectMmdet = (d: SelectData, a: MmdetOhemAttrs): Int32Array => {
  const cls = d.cls!;
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < d.R; i++) (d.labels[i] > 0 ? pos : neg).push(i);
  const expectedPos = Math.floor(a.num * a.pos_fraction);
  const takePos = pos.length <= expectedPos ? pos : topOf(pos, cls, expectedPos, a.ties);
  let expectedNeg = a.num - takePos.length;
  if (a.neg_pos_ub >= 0) expectedNeg = Math.min(expectedNeg, Math.floor(a.neg_pos_ub * Math.max(1, takePos.length)));
  const takeNeg = neg.length <= expectedNeg ? neg : topOf(neg, cls, expectedNeg, a.ties);
  const asc = (xs: number[]) => [...xs].sort((x, y) => x - y);
  return Int32Array.from([...asc(takePos), ...asc(takeNeg)]);
};

/** TF Object Detection API HardExampleMiner: class-agnostic NMS per image, optional neg:pos ratio. */
export const selectTfMiner = (d: SelectData, a: TfMinerAttrs): Int32Array => {
  const out: number[] = [];
  for (const img of byImage(d.rois, d.R)) {
    const tfjs = a.miner_nms === 'tfjs';
    // tfjs has float32 tensors only: the losses, the weights and their combination are float32 there
    const r = tfjs ? Math.fround : (x: number) => x;
    const losses = Float64Array.from(img, (i) =>
      a.loss_type === 'cls'
        ? r(d.cls![i])
        : a.loss_type === 'loc'
          ? r(d.bbox![i])
          : r(r(r(d.cls![i]) * r(a.cls_loss_weight)) + r(r(d.bbox![i]) * r(a.loc_loss_weight))),
    );
    const k = greedyNms(boxesOf(d.rois, img), losses, {
      threshold: a.iou_threshold,
      box_convention: 'continuous',
      suppress: tfjs ? 'ge' : 'gt',
      ties: a.ties,
      precision: tfjs ? 'float64' : 'float32',
      threshold_cast: a.threshold_cast,
      corners: a.corners,
    });
    // TF's NMS stops at max_output_size: the greedy keep list's prefix is exactly that.
    const n = a.num_hard_examples === 0 ? k.length : Math.min(a.num_hard_examples, k.length);
    let selected = Array.from(k.subarray(0, n), (p) => img[p]);
    if (a.max_negatives_per_positive !== null) {
      const P = selected.filter((i) => d.labels[i] > 0).length;
      const maxNeg = Math.max(a.min_negatives_per_image, Math.floor(a.max_negatives_per_positive * P));
      let negSeen = 0;
      selected = selected.filter((i) => {
        if (d.labels[i] > 0) return true;
        negSeen++;
        return negSeen <= maxNeg;
      });
    }
    out.push(...selected);
  }
  return Int32Array.from(out);
};

/** SSD hard negative mining: every positive, plus the top ⌊ratio·P⌋ negatives by cls loss, per image. */
export const selectSsd = (d: SelectData, a: SsdAttrs): Int32Array => {
  const out: number[] = [];
  for (const img of byImage(d.rois, d.R)) {
    const pos = img.filter((i) => d.labels[i] > 0);
    const neg = img.filter((i) => d.labels[i] === 0);
    const wanted = a.neg_pos_ratio * pos.length;
    const nNeg = Math.min(a.negatives === 'rank' ? Math.ceil(wanted) : Math.floor(wanted), neg.length);
    const chosen = [...pos, ...topOf(neg, d.cls!, nNeg, a.ties)].sort((x, y) => x - y);
    out.push(...chosen);
  }
  return Int32Array.from(out);
};

// ----------------------------------------------------------------------------- declarations

/** A dialect: its attrs (with their defaults), the loss inputs it reads besides `loss`, its rule. */
export interface DialectDef<A = never> {
  readonly name: Dialect;
  readonly attrs: readonly AttrDef[];
  readonly reads: (attrs: A) => readonly ('cls_loss' | 'bbox_loss')[];
  readonly select: (d: SelectData, attrs: A) => Int32Array;
}

const ties = (dflt: TieRule): AttrDef => ({ ...TIES_ATTR, default: dflt });

/** caffe-ohem's batch size: ≥ 0 in ohem_select (0 selects nothing, the original's [0:0]); ohem_step needs ≥ 1. */
export const BATCH_SIZE: AttrDef = {
  name: 'batch_size',
  domain: { kind: 'int', min: 0 },
  default: 128,
  doc: 'at most this many hard RoIs (TRAIN.BATCH_SIZE; OHEM\'s yml: 64 per image)',
};

export const CAFFE_OHEM: DialectDef<CaffeOhemAttrs> = {
  name: 'caffe-ohem',
  attrs: [
    BATCH_SIZE,
    { name: 'use_nms', domain: { kind: 'bool' }, default: true, doc: 'NMS per (image, label) before the top-B (TRAIN.OHEM_USE_NMS)' },
    { ...NMS_THRESHOLD, name: 'nms_threshold', doc: 'the NMS IoU threshold (TRAIN.OHEM_NMS_THRESH = 0.7)' },
    BOX_CONVENTION_ATTR,
    SUPPRESS_ATTR,
    ties('index_desc'),
    PRECISION_ATTR,
  ],
  reads: () => [],
  select: (d, a) => selectCaffeOhem(d, a),
};

export const MMDET_OHEM: DialectDef<MmdetOhemAttrs> = {
  name: 'mmdet-ohem',
  attrs: [
    { name: 'num', domain: { kind: 'int', min: 1 }, default: 512, doc: 'RoIs per image (mmdet rcnn sampler num)' },
    { name: 'pos_fraction', domain: { kind: 'number', min: 0, max: 1 }, default: 0.25, doc: 'the positive quota ⌊num·pos_fraction⌋' },
    { name: 'neg_pos_ub', domain: { kind: 'number', min: 0, or: [-1] }, default: -1, doc: 'negatives at most ⌊neg_pos_ub·max(1, #pos)⌋; −1: no bound' },
    ties('index_desc'),
  ],
  reads: () => ['cls_loss'],
  select: (d, a) => selectMmdet(d, a),
};

export const TF_MINER: DialectDef<TfMinerAttrs> = {
  name: 'tf-hard-example-miner',
  attrs: [
    { name: 'loss_type', domain: { kind: 'enum', values: ['both', 'cls', 'loc'] }, default: 'both', doc: 'what is ranked: cls·cls_loss_weight + loc·loc_loss_weight, or one of them' },
    { name: 'cls_loss_weight', domain: { kind: 'number' }, default: 0.05, doc: 'the classification weight of loss_type both' },
    { name: 'loc_loss_weight', domain: { kind: 'number' }, default: 0.06, doc: 'the localization weight of loss_type both' },
    { name: 'num_hard_examples', domain: { kind: 'int', min: 0 }, default: 64, doc: 'per image, at most this many (0: all that survive NMS)' },
    { name: 'iou_threshold', domain: { kind: 'number', min: 0, max: 1 }, default: 0.7, doc: 'the class-agnostic NMS threshold per image (1: NMS off)' },
    { name: 'max_negatives_per_positive', domain: { kind: 'number', min: 0 }, default: null, doc: 'keep all positives and the first ⌊r·#pos⌋ negatives (absent: no ratio)' },
    { name: 'min_negatives_per_image', domain: { kind: 'int', min: 0 }, default: 0, doc: 'the floor of that negative count' },
    ties('index_asc'),
  ],
  reads: (a) => (a.loss_type === 'cls' ? ['cls_loss'] : a.loss_type === 'loc' ? ['bbox_loss'] : ['cls_loss', 'bbox_loss']),
  select: (d, a) => selectTfMiner(d, a),
};

export const SSD_HARD_NEGATIVE: DialectDef<SsdAttrs> = {
  name: 'ssd-hard-negative',
  attrs: [{ name: 'neg_pos_ratio', domain: { kind: 'number', min: 0 }, default: 3, doc: 'negatives per image: ⌊ratio·#pos⌋' }, ties('index_desc')],
  reads: () => ['cls_loss'],
  select: (d, a) => selectSsd(d, a),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const DIALECT_DEFS: Readonly<Record<Dialect, DialectDef<any>>> = Object.freeze({
  'caffe-ohem': CAFFE_OHEM,
  'mmdet-ohem': MMDET_OHEM,
  'tf-hard-example-miner': TF_MINER,
  'ssd-hard-negative': SSD_HARD_NEGATIVE,
});

export const DIALECT_ATTR: AttrDef = {
  name: 'dialect',
  domain: { kind: 'enum', values: DIALECTS },
  default: 'caffe-ohem',
  doc: 'whose selection rule: the original OHEM (caffe-ohem), mmdetection\'s OHEMSampler, the TF OD API\'s HardExampleMiner, SSD\'s 3:1 hard negatives',
};

/** The dialects as a variant of `dialect`; `batchSize` is caffe-ohem's batch_size attr (ohem_step raises its minimum). */
export const dialectVariant = (batchSize: AttrDef = BATCH_SIZE): VariantDef => ({
  by: 'dialect',
  cases: Object.fromEntries(DIALECTS.map((d) => [d, DIALECT_DEFS[d].attrs.map((a) => (a.name === 'batch_size' ? batchSize : a))])),
});

/** The loss inputs, read as the dialect says. */
const lossInput = (name: 'cls_loss' | 'bbox_loss', doc: string): InputDef => ({
  name,
  dtypes: ['float64'],
  accepts: ['float32'],
  read: 'as-is',
  shape: ['R'],
  presence: { when: (a) => (DIALECT_DEFS[a.dialect as Dialect].reads(a).includes(name) ? 'required' : 'unused'), doc: 'required by the dialects that rank by it' },
  doc,
});

/** The order is the order of validation: the RoIs and labels bind R, then each loss vector is held to it. */
export const SELECT_INPUTS: readonly InputDef[] = [
  { ...ROIS_INPUT, doc: '[R, 5] (batch_index, x1, y1, x2, y2), finite; batch indices ≥ 0' },
  labelsInput('class ids [R], integers ≥ 0'),
  { name: 'loss', dtypes: ['float64'], accepts: ['float32'], read: 'as-is', shape: ['R'], doc: 'the hardness [R] (ohem_roi_loss), no NaN; required by every dialect' },
  lossInput('cls_loss', 'the classification part of the hardness [R] (f64), no NaN'),
  lossInput('bbox_loss', 'the regression part of the hardness [R] (f64), no NaN'),
];

/** The inputs' value checks shared by ohem_select and (for rois and labels) nothing else. */
const checkSelect = (v: { inputs: Readonly<Record<string, Tensor>>; dims: Readonly<Record<string, number>> }): Result<void> => {
  const rois = v.inputs.rois;
  const fin = checkFinite('rois', rois);
  if (E.isLeft(fin)) return fin;
  for (let i = 0; i < v.dims.R; i++)
    if (Math.trunc(rois.data[i * 5]) < 0) return E.left(rangeError('rois', `row ${i} has batch index ${rois.data[i * 5]} < 0`));
  const lab = checkIntegerValues('labels', v.inputs.labels, 0, Infinity, 'class id');
  if (E.isLeft(lab)) return lab;
  for (const name of ['loss', 'cls_loss', 'bbox_loss'])
    if (v.inputs[name]) {
      const ok = checkNoNaN(name, v.inputs[name]);
      if (E.isLeft(ok)) return ok;
    }
  return E.right(undefined);
};

/** Runs the request's dialect on its validated attrs and data. */
export const runDialect = (attrs: Readonly<Record<string, unknown>>, data: SelectData): Int32Array =>
  DIALECT_DEFS[attrs.dialect as Dialect].select(data, attrs as never);

export const selectDef: OpDef<SelectAttrs, { readonly hard_inds: Tensor<'int32'> }> = {
  name: 'ohem_select',
  version: 2,
  summary: 'the hard RoIs: NMS by (image, label) over the hardness, then the top B (caffe-ohem), or another implementation\'s rule',
  doc: 'docs/mining.md#2-selection',
  inputs: SELECT_INPUTS,
  attrs: [DIALECT_ATTR],
  variants: [dialectVariant()],
  conventions: SELECT_CONVENTIONS,
  outputs: [
    {
      name: 'hard_inds',
      dtype: 'int32',
      shape: ['R'],
      bounded: true,
      tolerance: exact('integer RoI indices: exact (ties are compared under the declared ties rule, which both sides apply; docs/mining.md §2 fixes every order)'),
      doc: 'RoI indices, in the dialect\'s order',
    },
  ],
  kernels: [],
  check: checkSelect,
  run: (v) => {
    const f = (n: string) => v.inputs[n]?.data ?? null;
    const hard = runDialect(v.attrs, { R: v.dims.R, loss: f('loss'), rois: f('rois')!, labels: Float32Array.from(v.inputs.labels.data), cls: f('cls_loss'), bbox: f('bbox_loss') });
    return E.right({ hard_inds: adoptTensor('int32', [hard.length], hard) });
  },
};

/** `ohem_select`: the hard RoIs' indices under the chosen dialect (docs/mining.md §2). */
export const selectHard = opFn<SelectInputs, SelectAttrs, { readonly hard_inds: Tensor<'int32'> }>(selectDef, () => referenceKernels);
