/**
 * Greedy non-maximum suppression, as Fast R-CNN / OHEM run it (SPEC §4; used per (image, label)
 * group by the mining layer, SPEC §2). docs/semantics.md "nms".
 *
 * The reference default is the GPU NMS that OHEM uses (`gpu_nms`, kernel `devIoU`): +1 pixel
 * convention, every step in float32, suppress when IoU > fl32(threshold). The alternatives of the
 * other two original variants and of later libraries are attrs (SPEC §4 table, DIALECTS.md).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, checkFinite, fround, rangeError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, convention, exact, opFn } from './def.js';
import { referenceKernels } from './kernels.js';
import { TIES_ATTR, type TieRule, orderDescending } from './topK.js';

/** `plus1`: extents are inclusive pixel counts, x2 − x1 + 1 (SPEC §4, pitfall 7); `continuous`: x2 − x1. */
export type BoxConvention = 'plus1' | 'continuous';
/** `gt`: IoU > fl32(threshold) (GPU and NumPy NMS); `ge`: IoU ≥ threshold as a double (Cython NMS). */
export type SuppressRule = 'gt' | 'ge';
/** `float32`: every arithmetic step rounded to float32 as `devIoU` does; `float64`: plain doubles. */
export type NmsPrecision = 'float32' | 'float64';

export interface NmsAttrs {
  /** IoU threshold in [0, 1]; OHEM's TRAIN.OHEM_NMS_THRESH = 0.7 (SPEC §2.1). */
  readonly threshold: number;
  readonly box_convention: BoxConvention;
  readonly suppress: SuppressRule;
  readonly ties: TieRule;
  readonly precision: NmsPrecision;
  /** A reference convention (never sent to a port): which threshold the IoU meets; absent: `original`. */
  readonly threshold_cast?: ThresholdCast;
  /** A reference convention: whether each box's corners are sorted first; absent: `as_given`. */
  readonly corners?: Corners;
}

/** `as_given`: (x1, y1, x2, y2) as they come (the original); `sorted`: min/max per axis first (ONNX, TF). */
export type Corners = 'as_given' | 'sorted';

/** `original`: gt compares with fl32(threshold), ge with the double; `double`: both with the double. */
export type ThresholdCast = 'original' | 'double';

/** The NMS conventions of the reference alone (docs/protocol.md "Conventions"): nms, ohem_select and ohem_step read them. */
export const NMS_CONVENTIONS: readonly AttrDef[] = [
  convention('threshold_cast', 'original: suppress gt compares the IoU with fl32(threshold) (the GPU NMS), ge with the double (the Cython NMS); double: both compare with the threshold as a double (torchvision: its float IoU is promoted to double)', {
    original: 'compares the IoU with fl32(threshold) under suppress gt, as the GPU NMS does',
    double: 'compares the float32 IoU with the threshold as a double (torchvision.ops.nms: IoU exactly fl32(threshold) is suppressed or kept otherwise)',
  }),
  convention('corners', 'as_given: a box is (x1, y1, x2, y2) as it comes, so x2 < x1 is an empty box (the original); sorted: each box\'s corners are ordered per axis first, any diagonal pair (ONNX NonMaxSuppression, tf.image.non_max_suppression)', {
    as_given: 'reads (x1, y1, x2, y2) as they come: a box with x2 < x1 or y2 < y1 is empty (the original)',
    sorted: 'orders each box\'s corners per axis first, so a flipped box is a real box (ONNX Runtime, TensorFlow)',
  }),
];

/** The NMS conventions, shared by nms and the caffe-ohem selection (which names its threshold nms_threshold). */
export const BOX_CONVENTION_ATTR: AttrDef = {
  name: 'box_convention',
  domain: { kind: 'enum', values: ['plus1', 'continuous'] },
  default: 'plus1',
  doc: 'plus1: extents are inclusive pixel counts x2 − x1 + 1 (Fast R-CNN); continuous: x2 − x1',
};
export const SUPPRESS_ATTR: AttrDef = {
  name: 'suppress',
  domain: { kind: 'enum', values: ['gt', 'ge'] },
  default: 'gt',
  doc: 'gt: IoU > fl32(threshold) (GPU and NumPy NMS, OHEM\'s); ge: IoU ≥ threshold as a double (Cython NMS)',
};
export const PRECISION_ATTR: AttrDef = {
  name: 'precision',
  domain: { kind: 'enum', values: ['float32', 'float64'] },
  default: 'float32',
  doc: 'float32: the scores rounded to float32 and every IoU step in float32 (the original); float64: both in float64',
};
export const NMS_THRESHOLD: AttrDef = {
  name: 'threshold',
  domain: { kind: 'number', min: 0, max: 1 },
  default: 0.7,
  doc: 'the IoU threshold in [0, 1] (OHEM\'s TRAIN.OHEM_NMS_THRESH = 0.7)',
};

/** A box's area in the working precision: ((x2 − x1) + 1)·((y2 − y1) + 1), or without the +1. */
const areaOf = (x1: number, y1: number, x2: number, y2: number, f32: boolean, plus1: boolean): number => {
  const fl32 = Math.fround;
  if (!f32) return plus1 ? (x2 - x1 + 1) * (y2 - y1 + 1) : (x2 - x1) * (y2 - y1);
  const w = plus1 ? fl32(fl32(x2 - x1) + 1) : fl32(x2 - x1);
  const h = plus1 ? fl32(fl32(y2 - y1) + 1) : fl32(y2 - y1);
  return fl32(w * h);
};

/** The IoU of two boxes with their areas, in devIoU's order (see greedyNms), each step float32 under `f32`. */
const iouOf = (
  ax1: number, ay1: number, ax2: number, ay2: number, sa: number,
  bx1: number, by1: number, bx2: number, by2: number, sb: number,
  f32: boolean, plus1: boolean,
): number => {
  const fl32 = Math.fround;
  const left = Math.max(ax1, bx1);
  const right = Math.min(ax2, bx2);
  const top = Math.max(ay1, by1);
  const bottom = Math.min(ay2, by2);
  if (f32) {
    const w = Math.max(plus1 ? fl32(fl32(right - left) + 1) : fl32(right - left), 0);
    const h = Math.max(plus1 ? fl32(fl32(bottom - top) + 1) : fl32(bottom - top), 0);
    const inter = fl32(w * h);
    return fl32(inter / fl32(fl32(sa + sb) - inter));
  }
  const w = Math.max(plus1 ? right - left + 1 : right - left, 0);
  const h = Math.max(plus1 ? bottom - top + 1 : bottom - top, 0);
  const inter = w * h;
  return inter / (sa + sb - inter);
};

/**
 * The IoU NMS compares for two boxes (x1, y1, x2, y2) under a box convention and precision
 * (SPEC §4; float32: the coordinates rounded to float32 first, as the NMS matrix holds them).
 */
export const boxIoU = (a: ArrayLike<number>, b: ArrayLike<number>, convention: BoxConvention, precision: NmsPrecision): number => {
  const f32 = precision === 'float32';
  const plus1 = convention === 'plus1';
  const c = (v: number) => (f32 ? Math.fround(v) : v);
  const [ax1, ay1, ax2, ay2] = [c(a[0]), c(a[1]), c(a[2]), c(a[3])];
  const [bx1, by1, bx2, by2] = [c(b[0]), c(b[1]), c(b[2]), c(b[3])];
  return iouOf(ax1, ay1, ax2, ay2, areaOf(ax1, ay1, ax2, ay2, f32, plus1), bx1, by1, bx2, by2, areaOf(bx1, by1, bx2, by2, f32, plus1), f32, plus1);
};

/**
 * The greedy kernel on plain arrays, for callers that already validated (the mining code runs it
 * once per group). `boxes` is n×4 row-major (x1, y1, x2, y2), `scores` has n entries, `attrs` is
 * complete and valid. Returns the kept positions in selection order.
 *
 * Arithmetic (SPEC §4 and `nms_kernel.cu::devIoU`, in this order, each step rounded to float32
 * under precision `float32`, none rounded under `float64`):
 *   left = max(x1a, x1b), right = min(x2a, x2b), top = max(y1a, y1b), bottom = min(y2a, y2b)
 *   width = max((right − left) + 1, 0), height = max((bottom − top) + 1, 0)   (no +1 if continuous)
 *   inter = width·height, S = ((x2 − x1) + 1)·((y2 − y1) + 1), union = (Sa + Sb) − inter
 *   iou = inter / union
 * A degenerate pair can give 0/0 = NaN; every comparison with NaN is false, so a NaN IoU never
 * suppresses (the original behaves the same: `NaN > t` is false in CUDA, C and NumPy).
 */
export const greedyNms = (boxes: ArrayLike<number>, scores: ArrayLike<number>, attrs: NmsAttrs): Int32Array => {
  const n = scores.length;
  // A local alias: a call through the module binding is not always inlined, and this loop is hot.
  const fl32 = Math.fround;
  const f32 = attrs.precision === 'float32';
  const plus1 = attrs.box_convention === 'plus1';
  // Coordinates in the working precision: Caffe hands NMS a float32 matrix (SPEC §2.2).
  const x1 = new Float64Array(n);
  const y1 = new Float64Array(n);
  const x2 = new Float64Array(n);
  const y2 = new Float64Array(n);
  const area = new Float64Array(n);
  const sorted = attrs.corners === 'sorted';
  for (let i = 0; i < n; i++) {
    let a = f32 ? fl32(boxes[4 * i]) : boxes[4 * i];
    let b = f32 ? fl32(boxes[4 * i + 1]) : boxes[4 * i + 1];
    let c = f32 ? fl32(boxes[4 * i + 2]) : boxes[4 * i + 2];
    let d = f32 ? fl32(boxes[4 * i + 3]) : boxes[4 * i + 3];
    if (sorted && c < a) [a, c] = [c, a];
    if (sorted && d < b) [b, d] = [d, b];
    x1[i] = a;
    y1[i] = b;
    x2[i] = c;
    y2[i] = d;
    area[i] = areaOf(a, b, c, d, f32, plus1);
  }
  // With precision float32 the scores are a float32 column of the NMS matrix (SPEC §2.2, §4):
  // distinct float64 losses may tie after rounding, and the tie rule then decides.
  let key: ArrayLike<number> = scores;
  if (f32) {
    const s = new Float32Array(n);
    for (let i = 0; i < n; i++) s[i] = scores[i];
    key = s;
  }
  const order = orderDescending(key, attrs.ties);

  // gt: the GPU kernel compares float IoU with (float)threshold (SPEC §4 table);
  // ge: the Cython NMS promotes the float32 IoU to double and compares with the double threshold.
  const thr = attrs.threshold;
  const thrGt = f32 && attrs.threshold_cast !== 'double' ? fl32(thr) : thr;
  const ge = attrs.suppress === 'ge';

  const suppressed = new Uint8Array(n);
  const keep = new Int32Array(n);
  let k = 0;
  for (let p = 0; p < n; p++) {
    const i = order[p];
    if (suppressed[i]) continue;
    keep[k++] = i;
    const ax1 = x1[i];
    const ay1 = y1[i];
    const ax2 = x2[i];
    const ay2 = y2[i];
    const sa = area[i];
    for (let q = p + 1; q < n; q++) {
      const j = order[q];
      if (suppressed[j]) continue;
      const iou = iouOf(ax1, ay1, ax2, ay2, sa, x1[j], y1[j], x2[j], y2[j], area[j], f32, plus1);
      if (ge ? iou >= thr : iou > thrGt) suppressed[j] = 1;
    }
  }
  return keep.slice(0, k);
};


const boxesInput: InputDef = { name: 'boxes', dtypes: ['float32', 'float64'], read: 'as-is', shape: ['n', 4], doc: '[n, 4] (x1, y1, x2, y2), finite' };
const scoresInput: InputDef = { name: 'scores', dtypes: ['float32', 'float64'], read: 'as-is', shape: ['n'], doc: '[n], finite; rounded to float32 under precision float32' };

export const nmsDef: OpDef<NmsAttrs, { readonly keep: Tensor<'int32'> }> = {
  name: 'nms',
  version: 1,
  summary: 'greedy non-maximum suppression: the kept positions in selection order',
  doc: 'docs/semantics.md#nms',
  inputs: [boxesInput, scoresInput],
  attrs: [NMS_THRESHOLD, BOX_CONVENTION_ATTR, SUPPRESS_ATTR, TIES_ATTR, PRECISION_ATTR],
  conventions: NMS_CONVENTIONS,
  outputs: [
    {
      name: 'keep',
      dtype: 'int32',
      shape: ['n'],
      bounded: true,
      tolerance: exact('integer positions: exact (ties compared under the declared ties rule, which both sides apply)'),
      doc: 'kept positions, descending score, ties by the rule',
    },
  ],
  kernels: [],
  check: (v) => {
    for (const name of ['boxes', 'scores']) {
      const f = checkFinite(name, v.inputs[name]);
      if (E.isLeft(f)) return f;
    }
    // A float64 box beyond the float32 range would become ±∞ under precision float32 and turn the
    // IoU arithmetic into NaN games that C's fmaxf and NumPy's maximum resolve differently.
    const b = v.inputs.boxes;
    if (v.attrs.precision === 'float32' && b.dtype === 'float64')
      for (let i = 0; i < b.size; i++)
        if (!Number.isFinite(fround(b.data[i])))
          return E.left(rangeError('boxes', `element ${i} is ${b.data[i]}, beyond the float32 range (precision "float32" rounds boxes to float32)`));
    return E.right(undefined);
  },
  run: (v) => {
    const keep = greedyNms(v.inputs.boxes.data, v.inputs.scores.data, v.attrs);
    // greedyNms returns fresh storage: hand it over without a copy.
    return E.right({ keep: adoptTensor('int32', [keep.length], keep) });
  },
};

/**
 * NMS over `boxes` [n,4] (x1, y1, x2, y2) with `scores` [n] (SPEC §4). Returns `keep`, the kept
 * positions in selection order (descending score, ties by `attrs.ties`).
 */
export const nms = opFn<{ readonly boxes: Tensor; readonly scores: Tensor }, NmsAttrs, { readonly keep: Tensor<'int32'> }>(nmsDef, () => referenceKernels);
