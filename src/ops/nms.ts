/**
 * Greedy non-maximum suppression, as Fast R-CNN / OHEM run it (SPEC §4; used per (image, label)
 * group by the mining layer, SPEC §2).
 *
 * The reference default is the GPU NMS that OHEM uses (`gpu_nms`, kernel `devIoU`): +1 pixel
 * convention, every step in float32, suppress when IoU > fl32(threshold). The alternatives of the
 * other two original variants and of later libraries are attrs (SPEC §4 table, DIALECTS.md).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  Tensor,
  adoptTensor,
  checkEnum,
  checkFinite,
  checkNumber,
  checkTensor,
  fround,
  rangeError,
} from '../core/index.js';
import { TIE_RULES, type TieRule, orderDescending } from './topK.js';

/** `plus1`: extents are inclusive pixel counts, x2 − x1 + 1 (SPEC §4, pitfall 7); `continuous`: x2 − x1. */
export type BoxConvention = 'plus1' | 'continuous';
/** `gt`: IoU > fl32(threshold) (GPU and NumPy NMS); `ge`: IoU ≥ threshold as a double (Cython NMS). */
export type SuppressRule = 'gt' | 'ge';
/** `float32`: every arithmetic step rounded to float32 as `devIoU` does; `float64`: plain doubles. */
export type NmsPrecision = 'float32' | 'float64';

export const BOX_CONVENTIONS: readonly BoxConvention[] = ['plus1', 'continuous'];
export const SUPPRESS_RULES: readonly SuppressRule[] = ['gt', 'ge'];
export const NMS_PRECISIONS: readonly NmsPrecision[] = ['float32', 'float64'];

export interface NmsAttrs {
  /** IoU threshold in [0, 1]; OHEM's TRAIN.OHEM_NMS_THRESH = 0.7 (SPEC §2.1). */
  readonly threshold: number;
  readonly box_convention: BoxConvention;
  readonly suppress: SuppressRule;
  readonly ties: TieRule;
  readonly precision: NmsPrecision;
}

export const NMS_DEFAULTS: NmsAttrs = {
  threshold: 0.7,
  box_convention: 'plus1',
  suppress: 'gt',
  ties: 'index_desc',
  precision: 'float32',
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
  for (let i = 0; i < n; i++) {
    const a = f32 ? fl32(boxes[4 * i]) : boxes[4 * i];
    const b = f32 ? fl32(boxes[4 * i + 1]) : boxes[4 * i + 1];
    const c = f32 ? fl32(boxes[4 * i + 2]) : boxes[4 * i + 2];
    const d = f32 ? fl32(boxes[4 * i + 3]) : boxes[4 * i + 3];
    x1[i] = a;
    y1[i] = b;
    x2[i] = c;
    y2[i] = d;
    if (f32) {
      const w = plus1 ? fl32(fl32(c - a) + 1) : fl32(c - a);
      const h = plus1 ? fl32(fl32(d - b) + 1) : fl32(d - b);
      area[i] = fl32(w * h);
    } else {
      area[i] = plus1 ? (c - a + 1) * (d - b + 1) : (c - a) * (d - b);
    }
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
  const thrGt = f32 ? fl32(thr) : thr;
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
      const left = Math.max(ax1, x1[j]);
      const right = Math.min(ax2, x2[j]);
      const top = Math.max(ay1, y1[j]);
      const bottom = Math.min(ay2, y2[j]);
      let iou: number;
      if (f32) {
        const w = Math.max(plus1 ? fl32(fl32(right - left) + 1) : fl32(right - left), 0);
        const h = Math.max(plus1 ? fl32(fl32(bottom - top) + 1) : fl32(bottom - top), 0);
        const inter = fl32(w * h);
        iou = fl32(inter / fl32(fl32(sa + area[j]) - inter));
      } else {
        const w = Math.max(plus1 ? right - left + 1 : right - left, 0);
        const h = Math.max(plus1 ? bottom - top + 1 : bottom - top, 0);
        const inter = w * h;
        iou = inter / (sa + area[j] - inter);
      }
      if (ge ? iou >= thr : iou > thrGt) suppressed[j] = 1;
    }
  }
  return keep.slice(0, k);
};

const attrOr = <K extends keyof NmsAttrs>(attrs: Partial<NmsAttrs>, name: K): unknown =>
  attrs[name] === undefined ? NMS_DEFAULTS[name] : attrs[name];

/**
 * NMS over `boxes` [n,4] (x1, y1, x2, y2) with `scores` [n] (SPEC §4). Returns `keep`, the kept
 * positions in selection order (descending score, ties by `attrs.ties`).
 *
 * Boxes and scores: float32 or float64, finite. Under precision float32 they are rounded to float32
 * first, and a float64 box coordinate beyond the float32 range is rejected (it would become ±∞ and
 * turn the IoU arithmetic into NaN games that C's fmaxf and NumPy's maximum resolve differently).
 */
export const nms = (
  inputs: { readonly boxes: Tensor; readonly scores: Tensor },
  attrs: Partial<NmsAttrs> = {},
): Result<{ readonly keep: Tensor<'int32'> }> => {
  const env = new Map<string, number>();
  const boxes = checkTensor('boxes', inputs?.boxes, ['n', 4], ['float32', 'float64'], env);
  if (E.isLeft(boxes)) return boxes;
  const scores = checkTensor('scores', inputs?.scores, ['n'], ['float32', 'float64'], env);
  if (E.isLeft(scores)) return scores;
  const bFinite = checkFinite('boxes', boxes.right);
  if (E.isLeft(bFinite)) return bFinite;
  const sFinite = checkFinite('scores', scores.right);
  if (E.isLeft(sFinite)) return sFinite;

  const a = attrs ?? {};
  const threshold = checkNumber('attrs.threshold', attrOr(a, 'threshold'), 0, 1);
  if (E.isLeft(threshold)) return threshold;
  const convention = checkEnum('attrs.box_convention', attrOr(a, 'box_convention'), BOX_CONVENTIONS);
  if (E.isLeft(convention)) return convention;
  const suppress = checkEnum('attrs.suppress', attrOr(a, 'suppress'), SUPPRESS_RULES);
  if (E.isLeft(suppress)) return suppress;
  const ties = checkEnum('attrs.ties', attrOr(a, 'ties'), TIE_RULES);
  if (E.isLeft(ties)) return ties;
  const precision = checkEnum('attrs.precision', attrOr(a, 'precision'), NMS_PRECISIONS);
  if (E.isLeft(precision)) return precision;

  const bd = boxes.right.data;
  if (precision.right === 'float32' && boxes.right.dtype === 'float64') {
    for (let i = 0; i < bd.length; i++)
      if (!Number.isFinite(fround(bd[i])))
        return E.left(rangeError('boxes', `element ${i} is ${bd[i]}, beyond the float32 range (precision "float32" rounds boxes to float32)`));
  }

  const keep = greedyNms(bd, scores.right.data, {
    threshold: threshold.right,
    box_convention: convention.right,
    suppress: suppress.right,
    ties: ties.right,
    precision: precision.right,
  });
  // greedyNms returns fresh storage: hand it over without a copy.
  return E.right({ keep: adoptTensor('int32', [keep.length], keep) });
};
