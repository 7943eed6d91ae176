/**
 * Hand-picked golden cases: SPEC.md's worked examples and the edges where a port goes wrong
 * (docs/semantics.md, docs/mining.md, SPEC §12's pitfalls), each the smallest input that shows
 * its trap. Where SPEC derives the answer by hand, `check` holds the generated expected values
 * to it, so a golden file is never just "what the reference said".
 */
import type { Req } from './suites.js';

type Decoded = Record<string, number[]>;

export interface Edge {
  /** The suite (op, or op/dialect) it belongs to. */
  readonly suite: string;
  /** File name (without `edge-` and `.json`). */
  readonly name: string;
  readonly title: string;
  /** SPEC.md section and pitfall numbers. */
  readonly spec: string;
  readonly tags: readonly string[];
  readonly request: Req;
  /** SPEC's hand-derived answer: null when the outputs agree with it, else what differs. */
  readonly check?: (o: Decoded) => string | null;
}

const f32 = (shape: number[], data: number[]) => ({ dtype: 'float32', shape, data: data.map(Math.fround) });
const f64 = (shape: number[], data: number[]) => ({ dtype: 'float64', shape, data });
const i32 = (shape: number[], data: number[]) => ({ dtype: 'int32', shape, data });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** `what` equals `want` exactly (as numbers; −0 = +0). */
const eq = (name: string, want: number[]) => (o: Decoded) => {
  const got = o[name];
  return got && got.length === want.length && got.every((v, i) => v === want[i]) ? null : `${name} is [${got}], SPEC says [${want}]`;
};
/** `o[name][i]` within `tol` of `want`. */
const near = (name: string, i: number, want: number, tol: number) => (o: Decoded) =>
  o[name] && Math.abs(o[name][i] - want) <= tol ? null : `${name}[${i}] is ${o[name]?.[i]}, SPEC says ${want}`;
const all =
  (...cs: ((o: Decoded) => string | null)[]) =>
  (o: Decoded) =>
    cs.map((c) => c(o)).find((m) => m !== null) ?? null;

const OVERSHOOT_ROIS = f32([1, 5], [0, 0, 0, 0, 56 * 16]);
const OVERSHOOT_ARGMAX = i32([1, 1, 7, 1], [8, 16, 24, 32, 40, 48, 57]);
const IOU_HALF_BOXES = f32([2, 4], [0, 0, 9, 9, 0, 0, 9, 4]);

export const EDGES: readonly Edge[] = [
  // ------------------------------------------------------------------------------ roi_pool
  {
    suite: 'roi_pool',
    name: 'c-round-negative-half',
    title: 'C round, half away from zero: x1 = −40 at scale 1/16 is −2.5 → −3 (JS Math.round gives −2)',
    spec: '§5.1, pitfall 14',
    tags: ['edge:c-round', 'edge:empty-bin'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 7, spatial_scale: 0.0625 },
      inputs: { features: f32([1, 1, 1, 8], range(8)), rois: f32([1, 5], [0, -40, 0, 40, 0]) },
    },
    check: eq('argmax', [-1, -1, -1, 0, 1, 2, 3]),
  },
  {
    suite: 'roi_pool',
    name: 'c-round-positive-half',
    title: 'C round at +2.5 → 3 and +5.5 → 6 (banker\'s rounding, numpy.round / Python round / rint, gives 2 and 6)',
    spec: '§5.1, pitfall 14',
    tags: ['edge:c-round', 'edge:banker-round'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 4, spatial_scale: 0.0625 },
      inputs: { features: f32([1, 1, 1, 8], range(8)), rois: f32([1, 5], [0, 40, 0, 88, 0]) },
    },
    check: eq('argmax', [3, 4, 5, 6]),
  },
  {
    suite: 'roi_pool',
    name: 'overshoot-57',
    title: 'float32 bin overshoot: a RoI 57 cells high at PH = 7 pools row 57 (outside the RoI) in its last bin',
    spec: '§5.1 quirk, pitfall 16',
    tags: ['edge:overshoot-57'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 7, pooled_w: 1, spatial_scale: 0.0625 },
      inputs: { features: f32([1, 1, 64, 1], range(64)), rois: OVERSHOOT_ROIS },
    },
    check: eq('argmax', [8, 16, 24, 32, 40, 48, 57]),
  },
  {
    suite: 'roi_pool',
    name: 'off-map-empty-bins',
    title: 'a RoI wholly off the map: every bin empty, top 0 and argmax −1 (not −FLT_MAX)',
    spec: '§5.1',
    tags: ['edge:empty-bin'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 2, pooled_w: 2, spatial_scale: 1 },
      inputs: { features: f32([1, 1, 4, 4], range(16).map((v) => v - 8)), rois: f32([1, 5], [0, 100, 100, 200, 200]) },
    },
    check: all(eq('argmax', [-1, -1, -1, -1]), eq('top', [0, 0, 0, 0])),
  },
  {
    suite: 'roi_pool',
    name: 'malformed-roi-one-cell',
    title: 'a malformed RoI (x2 < x1, y2 < y1) is forced to one cell, not rejected or emptied',
    spec: '§5.1',
    tags: ['edge:malformed-roi'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1 },
      inputs: { features: f32([1, 1, 4, 4], range(16)), rois: f32([1, 5], [0, 2, 1, 0, 0]) },
    },
    check: eq('argmax', [6]),
  },
  {
    suite: 'roi_pool',
    name: 'batch-index-truncates',
    title: 'the batch index is truncated: 1.999 pools image 1, 0.5 pools image 0',
    spec: '§5.1',
    tags: ['edge:batch-trunc'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1 },
      inputs: { features: f32([2, 1, 2, 2], [1, 2, 3, 4, 40, 30, 20, 10]), rois: f32([2, 5], [1.999, 0, 0, 1, 1, 0.5, 0, 0, 1, 1]) },
    },
    check: all(eq('top', [40, 4]), eq('argmax', [0, 3])),
  },
  {
    suite: 'roi_pool',
    name: 'max-ties-first-wins',
    title: 'equal values in a bin: the first maximum in row-major order wins (Caffe\'s strict >)',
    spec: '§5.1',
    tags: ['edge:max-ties'],
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1 },
      inputs: { features: f32([1, 1, 3, 3], [0, 5, 1, 5, 5, 2, 3, 4, 5]), rois: f32([1, 5], [0, 0, 0, 2, 2]) },
    },
    check: eq('argmax', [1]),
  },
  // ------------------------------------------------------------------------------ roi_pool_backward
  {
    suite: 'roi_pool_backward',
    name: 'caffe-drops-overshoot-row',
    title: 'caffe backward drops the overshoot row\'s gradient (its in-RoI test is inclusive of row 56 only)',
    spec: '§5.2, pitfall 18',
    tags: ['edge:overshoot-57', 'mode:caffe'],
    request: {
      op: 'roi_pool_backward',
      attrs: { pooled_h: 7, pooled_w: 1, spatial_scale: 0.0625, features_shape: [1, 1, 64, 1], mode: 'caffe' },
      inputs: { rois: OVERSHOOT_ROIS, argmax: OVERSHOOT_ARGMAX, top_grad: f32([1, 1, 7, 1], [1, 1, 1, 1, 1, 1, 1]) },
    },
    check: near('features_grad', 57, 0, 0),
  },
  {
    suite: 'roi_pool_backward',
    name: 'scatter-keeps-overshoot-row',
    title: '… while torchvision\'s scatter backward keeps it',
    spec: '§5.3',
    tags: ['edge:overshoot-57', 'mode:scatter'],
    request: {
      op: 'roi_pool_backward',
      attrs: { pooled_h: 7, pooled_w: 1, spatial_scale: 0.0625, features_shape: [1, 1, 64, 1], mode: 'scatter' },
      inputs: { rois: OVERSHOOT_ROIS, argmax: OVERSHOOT_ARGMAX, top_grad: f32([1, 1, 7, 1], [1, 1, 1, 1, 1, 1, 1]) },
    },
    check: near('features_grad', 57, 1, 0),
  },
  // ------------------------------------------------------------------------------ relu, dropout, softmax
  {
    suite: 'relu',
    name: 'zero-and-subnormal',
    title: 'ReLU at 0, at the smallest subnormals and at ±FLT_MAX: a selection, no arithmetic',
    spec: '§8.2',
    tags: ['edge:relu-zero', 'edge:subnormal'],
    request: { op: 'relu', attrs: {}, inputs: { x: f32([6], [0, 2 ** -149, -(2 ** -149), 3.4028234663852886e38, -3.4028234663852886e38, -1]) } },
    check: eq('y', [0, 2 ** -149, 0, 3.4028234663852886e38, 0, 0]),
  },
  {
    suite: 'dropout',
    name: 'ratio-0.6-float32-scale',
    title: 'dropout scale is fl32(1/(1 − fl32(0.6))) = 2.4999998, not 2.5',
    spec: '§8.2',
    tags: ['edge:dropout-scale'],
    request: { op: 'dropout', attrs: { ratio: 0.6 }, inputs: { x: f32([4], [1, 2, -3, 4]), mask: f32([4], [1, 0, 1, 1]) } },
    check: near('y', 0, Math.fround(1 / (1 - Math.fround(0.6))), 0),
  },
  {
    suite: 'softmax',
    name: 'underflow',
    title: 'softmax of scores ±80: probabilities underflow to 0 in float32 without NaN',
    spec: '§7',
    tags: ['edge:softmax-underflow'],
    request: { op: 'softmax', attrs: {}, inputs: { x: f32([2, 3], [80, -80, 0, -80, -80, -80]) } },
  },
  {
    suite: 'softmax_loss',
    name: 'flt-min-clamp',
    title: 'SoftmaxWithLoss clamps p at FLT_MIN: a probability that underflows costs 87.3365, not ∞',
    spec: '§7, pitfall 2',
    tags: ['edge:flt-min-clamp'],
    request: { op: 'softmax_loss', attrs: {}, inputs: { scores: f32([1, 2], [0, -200]), labels: f32([1], [1]) } },
    check: near('loss', 0, 87.3365, 1e-4),
  },
  {
    suite: 'softmax_loss',
    name: 'ignore-label-valid',
    title: 'ignore_label with normalization "valid": ignored rows get no gradient and do not count in the normaliser',
    spec: '§7',
    tags: ['edge:ignore-label'],
    request: {
      op: 'softmax_loss',
      attrs: { normalization: 'valid', ignore_label: 255 },
      inputs: { scores: f32([3, 2], [1, 0, 0, 1, 2, 2]), labels: f32([3], [0, 255, 1]) },
    },
  },
  {
    suite: 'smooth_l1_loss',
    name: 'divide-by-R',
    title: 'SmoothL1Loss divides by the number of RoIs: (0.125 + 2.5) / 2 = 1.3125',
    spec: '§6, pitfall 19',
    tags: ['edge:divide-by-R'],
    request: {
      op: 'smooth_l1_loss',
      attrs: {},
      inputs: {
        pred: f32([2, 4], [0.5, 0, 0, 0, 3, 0, 0, 0]),
        target: f32([2, 4], [0, 0, 0, 0, 0, 0, 0, 0]),
        inside_w: f32([2, 4], [1, 1, 1, 1, 1, 1, 1, 1]),
        outside_w: f32([2, 4], [1, 1, 1, 1, 1, 1, 1, 1]),
      },
    },
    check: near('loss', 0, 1.3125, 0),
  },
  {
    suite: 'smooth_l1_loss',
    name: 'sigma-3',
    title: 'sigma 3: the kink moves to |d| = 1/9 and the quadratic part is 0.5·9·d²',
    spec: '§6',
    tags: ['edge:sigma'],
    request: {
      op: 'smooth_l1_loss',
      attrs: { sigma: 3 },
      inputs: {
        pred: f32([1, 4], [0.05, 0.5, -2, 0]),
        target: f32([1, 4], [0, 0, 0, 0]),
        inside_w: f32([1, 4], [1, 1, 1, 1]),
        outside_w: f32([1, 4], [1, 1, 1, 1]),
      },
    },
  },
  // ------------------------------------------------------------------------------ nms
  {
    suite: 'nms',
    name: 'spec-4-vector',
    title: 'SPEC §4 test vector: IoU 81/119 = 0.6806723 survives 0.7, IoU 0.9 is suppressed',
    spec: '§4',
    tags: ['edge:spec-4-vector'],
    request: { op: 'nms', attrs: { threshold: 0.7 }, inputs: { boxes: f32([3, 4], [0, 0, 9, 9, 1, 1, 10, 10, 0, 0, 9, 8]), scores: f32([3], [0.9, 0.8, 0.7]) } },
    check: eq('keep', [0, 1]),
  },
  {
    suite: 'nms',
    name: 'iou-exactly-half-gt',
    title: 'IoU exactly 0.5 = fl32(0.5): the GPU/NumPy NMS (IoU > t) keeps the box',
    spec: '§4 boundary analysis, pitfall 7',
    tags: ['edge:iou-at-threshold', 'suppress:gt'],
    request: { op: 'nms', attrs: { threshold: 0.5, suppress: 'gt' }, inputs: { boxes: IOU_HALF_BOXES, scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0, 1]),
  },
  {
    suite: 'nms',
    name: 'iou-exactly-half-ge',
    title: '… the Cython CPU NMS (IoU ≥ t) suppresses it',
    spec: '§4 boundary analysis',
    tags: ['edge:iou-at-threshold', 'suppress:ge'],
    request: { op: 'nms', attrs: { threshold: 0.5, suppress: 'ge' }, inputs: { boxes: IOU_HALF_BOXES, scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0]),
  },
  {
    suite: 'nms',
    name: 'iou-float32-0.7-ge',
    title: 'IoU 70/100 is fl32(0.7) = 0.69999999 < 0.7 as a double: `ge` keeps the box (an IoU computed in double would suppress it)',
    spec: '§4 boundary analysis',
    tags: ['edge:iou-float32', 'suppress:ge'],
    request: { op: 'nms', attrs: { threshold: 0.7, suppress: 'ge' }, inputs: { boxes: f32([2, 4], [0, 0, 9, 9, 0, 0, 9, 6]), scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0, 1]),
  },
  {
    suite: 'nms',
    name: 'plus1-convention',
    title: 'the +1 pixel convention: IoU 66/121 = 0.545 > 0.52 suppresses under plus1 …',
    spec: '§4, pitfall 9',
    tags: ['edge:box-convention', 'box_convention:plus1'],
    request: { op: 'nms', attrs: { threshold: 0.52, box_convention: 'plus1' }, inputs: { boxes: f32([2, 4], [0, 0, 10, 10, 0, 0, 10, 5]), scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0]),
  },
  {
    suite: 'nms',
    name: 'continuous-convention',
    title: '… while continuous boxes give 50/100 = 0.5 and keep both',
    spec: '§4',
    tags: ['edge:box-convention', 'box_convention:continuous'],
    request: { op: 'nms', attrs: { threshold: 0.52, box_convention: 'continuous' }, inputs: { boxes: f32([2, 4], [0, 0, 10, 10, 0, 0, 10, 5]), scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0, 1]),
  },
  {
    suite: 'nms',
    name: 'score-ties-index-desc',
    title: 'equal scores: the reference rule index_desc visits the later box first',
    spec: '§2.2, pitfall 8',
    tags: ['edge:ties', 'ties:index_desc'],
    request: { op: 'nms', attrs: { ties: 'index_desc' }, inputs: { boxes: f32([3, 4], [0, 0, 9, 9, 20, 20, 29, 29, 40, 40, 49, 49]), scores: f32([3], [0.5, 0.5, 0.5]) } },
    check: eq('keep', [2, 1, 0]),
  },
  {
    suite: 'nms',
    name: 'score-ties-index-asc',
    title: '… and index_asc (TF, JAX) the earlier one',
    spec: '§2.2',
    tags: ['edge:ties', 'ties:index_asc'],
    request: { op: 'nms', attrs: { ties: 'index_asc' }, inputs: { boxes: f32([3, 4], [0, 0, 9, 9, 20, 20, 29, 29, 40, 40, 49, 49]), scores: f32([3], [0.5, 0.5, 0.5]) } },
    check: eq('keep', [0, 1, 2]),
  },
  {
    suite: 'nms',
    name: 'float32-scores-tie',
    title: 'precision float32 rounds the scores first: 1 + 2⁻³⁰ and 1 tie, and index_desc puts box 1 first',
    spec: '§4, PROTOCOL.md nms notes',
    tags: ['edge:score-float32', 'edge:ties'],
    request: { op: 'nms', attrs: { precision: 'float32' }, inputs: { boxes: f32([2, 4], [0, 0, 9, 9, 20, 20, 29, 29]), scores: f64([2], [1 + 2 ** -30, 1]) } },
    check: eq('keep', [1, 0]),
  },
  {
    suite: 'nms',
    name: 'degenerate-boxes',
    title: 'zero-area boxes under the continuous convention: IoU 0/0 is NaN and never suppresses',
    spec: '§4',
    tags: ['edge:degenerate-box', 'box_convention:continuous'],
    request: { op: 'nms', attrs: { box_convention: 'continuous', threshold: 0.3 }, inputs: { boxes: f32([2, 4], [5, 5, 5, 5, 5, 5, 5, 5]), scores: f32([2], [0.9, 0.8]) } },
    check: eq('keep', [0, 1]),
  },
  // ------------------------------------------------------------------------------ top_k
  {
    suite: 'top_k',
    name: 'ties-index-desc',
    title: 'tie order, the reference rule index_desc: equal values by position descending',
    spec: '§2.2, pitfall 8',
    tags: ['edge:ties', 'ties:index_desc'],
    request: { op: 'top_k', attrs: { k: 8 }, inputs: { values: f64([8], [1, 1, 1, 1, 0, 2, 1, 1]) } },
    check: eq('indices', [5, 7, 6, 3, 2, 1, 0, 4]),
  },
  {
    suite: 'top_k',
    name: 'ties-index-asc',
    title: '… and the TF/JAX alternative index_asc',
    spec: '§2.2',
    tags: ['edge:ties', 'ties:index_asc'],
    request: { op: 'top_k', attrs: { k: 8, ties: 'index_asc' }, inputs: { values: f64([8], [1, 1, 1, 1, 0, 2, 1, 1]) } },
    check: eq('indices', [5, 0, 1, 2, 3, 6, 7, 4]),
  },
  {
    suite: 'top_k',
    name: 'k-above-n-clamped-ties',
    title: 'k > n returns n indices; the clamped hardness 36.04365338911715 ties exactly',
    spec: '§2.1, §1.2',
    tags: ['edge:k-above-n', 'edge:ties'],
    request: { op: 'top_k', attrs: { k: 10 }, inputs: { values: f64([4], [36.04365338911715, 0.5, 36.04365338911715, 0]) } },
    check: eq('indices', [2, 0, 1, 3]),
  },
  // ------------------------------------------------------------------------------ sgd
  {
    suite: 'sgd_update',
    name: 'caffe-momentum',
    title: 'Caffe SGD puts lr inside the momentum buffer: θ = 1, g = 0.5, lr 0.1, wd 5e-4 → θ = 1 − 0.1·0.5005',
    spec: '§9, pitfall 22',
    tags: ['edge:caffe-sgd'],
    request: { op: 'sgd_update', attrs: { lr: 0.1, momentum: 0.9, weight_decay: 0.0005 }, inputs: { param: f32([1], [1]), grad: f32([1], [0.5]), history: f32([1], [0]) } },
    check: near('param', 0, 0.94995, 1e-6),
  },
  // ------------------------------------------------------------------------------ ohem_roi_loss
  {
    suite: 'ohem_roi_loss',
    name: 'eps-clamp',
    title: 'the mining loss clamps at ε = 2⁻⁵² (double epsilon): p = 0 costs −ln 2⁻⁵² = 36.04365338911715, not −ln FLT_MIN',
    spec: '§1.2, pitfall 2',
    tags: ['edge:eps-clamp'],
    request: { op: 'ohem_roi_loss', attrs: {}, inputs: { cls_prob: f32([1, 2], [1, 0]), labels: f32([1], [1]) } },
    check: near('loss', 0, 36.04365338911715, 0),
  },
  {
    suite: 'ohem_roi_loss',
    name: 'eps-not-flt-min',
    title: 'p = 1e-30 lies between FLT_MIN and 2⁻⁵²: clamped to 36.04 (a port with FLT_MIN gives 69.08)',
    spec: '§1.2, pitfall 2',
    tags: ['edge:eps-clamp', 'edge:eps-not-flt-min'],
    request: { op: 'ohem_roi_loss', attrs: {}, inputs: { cls_prob: f32([2, 2], [1, 1e-30, 0.5, 0.5]), labels: f32([2], [1, 0]) } },
    check: near('loss', 0, 36.04365338911715, 0),
  },
  {
    suite: 'ohem_roi_loss',
    name: 'p-equals-eps',
    title: 'p exactly ε = 2⁻⁵² is not clamped: −fl32(ln p) = 36.04365158081055 (float32 log), not 36.04365338911715',
    spec: '§1.2 degenerate edge',
    tags: ['edge:eps-equal'],
    request: { op: 'ohem_roi_loss', attrs: {}, inputs: { cls_prob: f32([1, 2], [1, 2 ** -52]), labels: f32([1], [1]) } },
    check: near('loss', 0, 36.04365158081055, 0),
  },
  {
    suite: 'ohem_roi_loss',
    name: 'elementwise-sum',
    title: '`loss += bbox_loss` is element-wise: R values = cls + unnormalised smooth L1, background RoIs get no bbox term',
    spec: '§1.4, pitfall 1',
    tags: ['edge:elementwise-sum'],
    request: {
      op: 'ohem_roi_loss',
      attrs: {},
      inputs: {
        cls_prob: f32([2, 2], [0.5, 0.5, 0.5, 0.5]),
        labels: f32([2], [0, 1]),
        bbox_pred: f32([2, 8], [0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0.5, 2, 0, 0]),
        bbox_targets: f32([2, 8], new Array(16).fill(0)),
        bbox_inside_weights: f32([2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]),
        bbox_outside_weights: f32([2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]),
      },
    },
    check: all(near('loss', 0, 0.6931471824645996, 0), near('loss', 1, 2.3181471824645996, 0)),
  },
  // ------------------------------------------------------------------------------ ohem_select
  {
    suite: 'ohem_select/caffe-ohem',
    name: 'nms-per-image-and-label',
    title: 'OHEM NMS runs per (image, label): bg RoI 2 (IoU 0.98 with bg RoI 0) is suppressed, fg RoI 1 on the same box is not',
    spec: '§2.2, pitfall 6',
    tags: ['edge:nms-per-group'],
    request: {
      op: 'ohem_select',
      attrs: {},
      inputs: { loss: f64([3], [1, 2, 0.5]), rois: f32([3, 5], [0, 0, 0, 99, 99, 0, 0, 0, 99, 99, 0, 1, 1, 99, 99]), labels: f32([3], [0, 1, 0]) },
    },
    check: eq('hard_inds', [1, 0]),
  },
  {
    suite: 'ohem_select/caffe-ohem',
    name: 'image-group-by-value',
    title: 'caffe-ohem groups images by the float value of rois[:,0] (np.unique): 0 and 0.5 are two groups, so identical boxes do not suppress',
    spec: '§2.1',
    tags: ['edge:image-group-by-value'],
    request: {
      op: 'ohem_select',
      attrs: {},
      inputs: { loss: f64([2], [2, 1]), rois: f32([2, 5], [0, 0, 0, 9, 9, 0.5, 0, 0, 9, 9]), labels: f32([2], [0, 0]) },
    },
    check: eq('hard_inds', [0, 1]),
  },
  {
    suite: 'ohem_select/caffe-ohem',
    name: 'labels-numeric-order-ties',
    title: 'labels 10 and 2 with equal losses: groups in numeric label order (2 before 10), then index_desc over the keep list',
    spec: '§2.1, §2.2',
    tags: ['edge:label-order', 'edge:ties'],
    request: {
      op: 'ohem_select',
      attrs: {},
      inputs: { loss: f64([2], [1, 1]), rois: f32([2, 5], [0, 0, 0, 9, 9, 0, 20, 20, 29, 29]), labels: f32([2], [10, 2]) },
    },
    check: eq('hard_inds', [0, 1]),
  },
  {
    suite: 'ohem_select/mmdet-ohem',
    name: 'positives-then-negatives-ascending',
    title: 'mmdet-ohem ranks by cls_loss, then returns the chosen positives, then the chosen negatives, each in ascending index order',
    spec: 'DIALECTS.md §1a; docs/mining.md §2',
    tags: ['edge:mmdet-order'],
    request: {
      op: 'ohem_select',
      attrs: { dialect: 'mmdet-ohem', num: 4, pos_fraction: 0.5 },
      inputs: {
        loss: f64([6], [0, 0, 0, 0, 0, 0]),
        cls_loss: f64([6], [0.1, 3, 0.2, 5, 4, 2]),
        rois: f32([6, 5], [0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 0, 0, 0, 9, 9]),
        labels: f32([6], [0, 1, 0, 1, 0, 1]),
      },
    },
    check: eq('hard_inds', [1, 3, 2, 4]),
  },
  {
    suite: 'ohem_select/tf-hard-example-miner',
    name: 'index-asc-and-continuous',
    title: 'tf-hard-example-miner: class-agnostic continuous-box NMS over the image loss, ties index_asc by default',
    spec: 'DIALECTS.md §1a; docs/mining.md §2',
    tags: ['edge:ties', 'ties:index_asc', 'box_convention:continuous'],
    request: {
      op: 'ohem_select',
      attrs: { dialect: 'tf-hard-example-miner', loss_type: 'cls' },
      inputs: {
        loss: f64([3], [0, 0, 0]),
        cls_loss: f64([3], [1, 1, 1]),
        rois: f32([3, 5], [0, 0, 0, 10, 10, 0, 0, 0, 10, 5, 0, 30, 30, 40, 40]),
        labels: f32([3], [0, 1, 0]),
      },
    },
  },
  {
    suite: 'ohem_select/ssd-hard-negative',
    name: 'image-without-positives',
    title: 'ssd-hard-negative: an image without positives contributes nothing; the others keep neg_pos_ratio·|P| hardest negatives',
    spec: 'DIALECTS.md §1b; docs/mining.md §2',
    tags: ['edge:ssd-no-positives'],
    request: {
      op: 'ohem_select',
      attrs: { dialect: 'ssd-hard-negative', neg_pos_ratio: 1 },
      inputs: {
        loss: f64([5], [0, 0, 0, 0, 0]),
        cls_loss: f64([5], [0.5, 0.1, 0.9, 3, 2]),
        rois: f32([5, 5], [0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 0, 0, 0, 9, 9, 1, 0, 0, 9, 9, 1, 0, 0, 9, 9]),
        labels: f32([5], [1, 0, 0, 0, 0]),
      },
    },
    check: eq('hard_inds', [0, 2]),
  },
  // ------------------------------------------------------------------------------ the RoIAlign family (SPEC §13.7)
  ...alignEdges(),
];

/** SPEC §13.7's worked examples E1–E8 (real library outputs), each checked against the values it quotes. */
function alignEdges(): Edge[] {
  const ramp = (H: number, W: number) => range(H * W); // v = W·y + x
  const align = (name: string, title: string, tags: string[], H: number, W: number, v: number[], roi: number[], attrs: Record<string, unknown>, check: Edge['check']): Edge => ({
    suite: 'roi_align',
    name,
    title,
    spec: '§13.7',
    tags,
    request: { op: 'roi_align', attrs, inputs: { features: f32([1, 1, H, W], v), rois: f32([1, 5], roi) } },
    check,
  });
  const base = { spatial_scale: 1, sampling_ratio: 0 };
  const e4 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const e6 = Array.from({ length: 70 * 70 }, (_, i) => (i % 7) ** 2);
  const e5 = [10, 20, 30, 40, 50, 60, 70, 80, 90];
  return [
    align('e1-legacy', 'E1: an 8×6 ramp, RoI (0, 0, 3, 3) at 2×2: legacy RoIAlign samples extent 3, not 4 (pytorch#11058)', ['edge:e1'], 8, 6, ramp(8, 6), [0, 0, 0, 3, 3], { ...base, pooled_h: 2, pooled_w: 2 }, eq('top', [5.25, 6.75, 14.25, 15.75])),
    align('e1-aligned', 'E1 aligned: the same RoI with pixel centres at k + 0.5', ['edge:e1', 'aligned'], 8, 6, ramp(8, 6), [0, 0, 0, 3, 3], { ...base, pooled_h: 2, pooled_w: 2, aligned: true }, eq('top', [2.1875, 3.625, 10.8125, 12.25])),
    align('e2-legacy', 'E2 (detectron2\'s test): a 5×5 ramp, box (1, 1, 3, 3) at 4×4, legacy', ['edge:e2'], 5, 5, ramp(5, 5), [0, 1, 1, 3, 3], { ...base, pooled_h: 4, pooled_w: 4 },
      eq('top', [7.5, 8, 8.5, 9, 10, 10.5, 11, 11.5, 12.5, 13, 13.5, 14, 15, 15.5, 16, 16.5])),
    align('e2-aligned', 'E2 aligned (torchvision = ORT half_pixel)', ['edge:e2', 'aligned'], 5, 5, ramp(5, 5), [0, 1, 1, 3, 3], { ...base, pooled_h: 4, pooled_w: 4, aligned: true },
      eq('top', [4.5, 5, 5.5, 6, 7, 7.5, 8, 8.5, 9.5, 10, 10.5, 11, 12, 12.5, 13, 13.5])),
    align('e3-identity-aligned', 'E3 (onnx#3428): aligned, sampling_ratio 1, a 2×2-cell box at 2×2 reproduces the cells', ['edge:e3', 'aligned'], 4, 4, ramp(4, 4), [0, 1, 1, 3, 3], { ...base, pooled_h: 2, pooled_w: 2, sampling_ratio: 1, aligned: true }, eq('top', [5, 6, 9, 10])),
    align('e3-legacy', 'E3 legacy (ONNX output_half_pixel): half a pixel off', ['edge:e3'], 4, 4, ramp(4, 4), [0, 1, 1, 3, 3], { ...base, pooled_h: 2, pooled_w: 2, sampling_ratio: 1 }, eq('top', [7.5, 8.5, 11.5, 12.5])),
    align('e4-avg', 'E4: a 3×3 map, box (0, 0, 3, 3) aligned, 1×1, sampling_ratio 2: avg 5', ['edge:e4', 'aligned'], 3, 3, e4, [0, 0, 0, 3, 3], { ...base, pooled_h: 1, pooled_w: 1, sampling_ratio: 2, aligned: true }, eq('top', [5])),
    align('e4-mmcv-max', 'E4: mmcv max is the max of the interpolated samples: 8 at (1.75, 1.75)', ['edge:e4', 'aligned', 'dialect:mmcv', 'pool_mode:max'], 3, 3, e4, [0, 0, 0, 3, 3],
      { ...base, pooled_h: 1, pooled_w: 1, sampling_ratio: 2, aligned: true, dialect: 'mmcv', pool_mode: 'max' }, all(eq('top', [8]), eq('argmax_y', [1.75]), eq('argmax_x', [1.75]))),
    align('e4-ort-max', 'E4: onnxruntime max is the max of the weighted corner terms: 5.0625 = 0.5625·9 (onnxruntime#6146)', ['edge:e4', 'aligned', 'dialect:onnxruntime', 'pool_mode:max'], 3, 3, e4, [0, 0, 0, 3, 3],
      { ...base, pooled_h: 1, pooled_w: 1, sampling_ratio: 2, aligned: true, dialect: 'onnxruntime', pool_mode: 'max' }, eq('top', [5.0625])),
    align('e4-mmcv-max-floor', 'E4: all values −20000 — mmcv CPU\'s max stays at its seed −10000 with argmax −1', ['edge:e4', 'dialect:mmcv', 'pool_mode:max', 'edge:max-init'], 3, 3, e4.map(() => -20000), [0, 0, 0, 3, 3],
      { ...base, pooled_h: 1, pooled_w: 1, sampling_ratio: 2, aligned: true, dialect: 'mmcv', pool_mode: 'max' }, all(eq('top', [-10000]), eq('argmax_y', [-1]), eq('argmax_x', [-1]))),
    align('e4-ort-max-negative', 'E4: all values −20000 — onnxruntime max −1250 (its corner terms are weighted)', ['edge:e4', 'dialect:onnxruntime', 'pool_mode:max'], 3, 3, e4.map(() => -20000), [0, 0, 0, 3, 3],
      { ...base, pooled_h: 1, pooled_w: 1, sampling_ratio: 2, aligned: true, dialect: 'onnxruntime', pool_mode: 'max' }, eq('top', [-1250])),
    align('e5-float32-range-test', 'E5: a sample lands exactly on −1 in float32 (just below it in float64): the second bin is 20, not 0', ['edge:e5', 'edge:float32-range-test'], 3, 3, e5, [0, 0, -34, 20, -2],
      { pooled_h: 2, pooled_w: 1, spatial_scale: 0.1, sampling_ratio: 1 }, eq('top', [0, 20])),
    align('e6-float32-grid', 'E6: at scale 0.3 the adaptive grid is 10 samples in float32 (9 in float64)', ['edge:e6', 'edge:float32-grid'], 70, 70, e6, [0, 0, 0, 210, 210],
      { pooled_h: 7, pooled_w: 7, spatial_scale: 0.3, sampling_ratio: 0 }, all(near('top', 0, 10.545, 5e-4), near('top', 1, 12.279996, 1e-6), near('top', 2, 15.645007, 1e-6))),
    align('e7-mmcv-sentinel', 'E7: mmcv max and avg are both 3, but the winning sample sits at y = −1: argmax_y −1', ['edge:e7', 'dialect:mmcv', 'pool_mode:max'], 2, 2, [5, 1, 1, 1], [0, 0, -1.5, 1, -0.5],
      { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 1, dialect: 'mmcv', pool_mode: 'max' }, all(eq('top', [3]), eq('argmax_y', [-1]))),
    align('e8-flipped-sampling', 'E8: aligned, x2 < x1: torchvision and onnxruntime sample the flipped box (11.5)', ['edge:e8', 'aligned', 'edge:malformed-roi'], 5, 5, ramp(5, 5), [0, 3, 1, 1, 4],
      { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 2, aligned: true }, eq('top', [11.5])),
    align('e8-negative-grid', 'E8: aligned, both extents negative, adaptive: gh = gw = −2, no samples, 0', ['edge:e8', 'aligned', 'edge:malformed-roi'], 5, 5, ramp(5, 5), [0, 3, 3, 1, 1],
      { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 0, aligned: true }, eq('top', [0])),
    {
      suite: 'roi_align_backward',
      name: 'e4-mmcv-max',
      title: 'E4: mmcv max\'s gradient goes to the corners of the winning sample (1.75, 1.75)',
      spec: '§13.3, §13.7',
      tags: ['edge:e4', 'aligned', 'dialect:mmcv', 'pool_mode:max'],
      request: {
        op: 'roi_align_backward',
        attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 2, aligned: true, dialect: 'mmcv', pool_mode: 'max', features_shape: [1, 1, 3, 3] },
        inputs: { rois: f32([1, 5], [0, 0, 0, 3, 3]), top_grad: f32([1, 1, 1, 1], [1]), argmax_y: f32([1, 1, 1, 1], [1.75]), argmax_x: f32([1, 1, 1, 1], [1.75]) },
      },
      check: eq('features_grad', [0, 0, 0, 0, 0.0625, 0.1875, 0, 0.1875, 0.5625]),
    },
    {
      suite: 'roi_align_backward',
      name: 'e7-mmcv-max-dropped',
      title: 'E7: the winner at y = −1 is stored as argmax −1, so mmcv max drops its gradient',
      spec: '§13.3, §13.7',
      tags: ['edge:e7', 'dialect:mmcv', 'pool_mode:max'],
      request: {
        op: 'roi_align_backward',
        attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 1, dialect: 'mmcv', pool_mode: 'max', features_shape: [1, 1, 2, 2] },
        inputs: { rois: f32([1, 5], [0, 0, -1.5, 1, -0.5]), top_grad: f32([1, 1, 1, 1], [1]), argmax_y: f32([1, 1, 1, 1], [-1]), argmax_x: f32([1, 1, 1, 1], [-1]) },
      },
      check: eq('features_grad', [0, 0, 0, 0]),
    },
    {
      suite: 'roi_align_backward',
      name: 'e7-avg',
      title: 'E7: … while avg\'s gradient reaches the top row, half each',
      spec: '§13.3, §13.7',
      tags: ['edge:e7'],
      request: {
        op: 'roi_align_backward',
        attrs: { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 1, dialect: 'mmcv', features_shape: [1, 1, 2, 2] },
        inputs: { rois: f32([1, 5], [0, 0, -1.5, 1, -0.5]), top_grad: f32([1, 1, 1, 1], [1]) },
      },
      check: eq('features_grad', [0.5, 0.5, 0, 0]),
    },
    {
      suite: 'crop_and_resize',
      name: 'whole-map',
      title: 'crop_and_resize: the box (0, 0, 1, 1) at the map\'s own size reproduces the map (corner-aligned sampling)',
      spec: '§13.6',
      tags: ['edge:crop-identity'],
      request: {
        op: 'crop_and_resize',
        attrs: { crop_h: 3, crop_w: 3 },
        inputs: { features: f32([1, 1, 3, 3], e4), boxes: f32([1, 4], [0, 0, 1, 1]), box_ind: i32([1], [0]) },
      },
      check: eq('crops', e4),
    },
    {
      suite: 'crop_and_resize',
      name: 'od-api-maxpool',
      title: 'crop_and_resize with the TF OD API\'s 2×2 max pool: the maxima of the 2×2 blocks of the 4×4 crop',
      spec: '§13.6',
      tags: ['edge:maxpool'],
      request: {
        op: 'crop_and_resize',
        attrs: { crop_h: 4, crop_w: 4, maxpool: 2 },
        inputs: { features: f32([1, 1, 4, 4], range(16)), boxes: f32([1, 4], [0, 0, 1, 1]), box_ind: i32([1], [0]) },
      },
      check: eq('crops', [5, 7, 13, 15]),
    },
  ];
}

