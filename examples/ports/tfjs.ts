/**
 * A real-library port of ohem-ref's protocol (1.1) that delegates every op to TensorFlow.js
 * (`@tensorflow/tfjs-core` + `@tensorflow/tfjs-backend-cpu` 4.22.0, the pure-JS CPU backend), as
 * someone porting OHEM to tfjs would write it. It does not re-implement Caffe's arithmetic: each op
 * is the tfjs function named below, with only the glue a porter writes (layout transposes, the
 * (x, y) → (y, x) box swap, one-hot labels, the RoIAlign → crop_and_resize coordinate mapping).
 * Where tfjs cannot express an attr value the answer is `unsupported`, and `describe` lists the
 * values it can (`capabilities`). The point is to see where tfjs parts from the original.
 *
 *     npx tsx examples/ports/tfjs.ts                       # speaks the protocol on stdin/stdout
 *     npx ohem-ref conform --port "npx tsx examples/ports/tfjs.ts" --ops nms,top_k,linear
 *
 * Sources read (tensorflow/tfjs at v4.22.0 unless noted; paths in the repository):
 * [NMS]  tfjs-core/src/ops/image/non_max_suppression.ts, tfjs-core/src/backends/non_max_suppression_impl.ts
 * [TFNMS] tensorflow/tensorflow core/kernels/image/non_max_suppression_op.cc (TF C++: float IoU, `>`)
 * [CAR]  tfjs-backend-cpu/src/kernels/CropAndResize.ts; TF C++ core/kernels/image/crop_and_resize_op.cc
 * [TOPK] tfjs-core/src/ops/topk.ts, tfjs-backend-cpu/src/kernels/TopK_impl.ts
 * [MM]   tfjs-backend-cpu/src/kernels/BatchMatMul.ts
 * [SCE]  tfjs-core/src/ops/losses/softmax_cross_entropy.ts, compute_weighted_loss.ts
 * [HUB]  tfjs-core/src/ops/losses/huber_loss.ts
 * [RELU] tfjs-core/src/gradients/Relu_grad.ts, tfjs-backend-cpu/src/kernels/Step.ts
 * [MOM]  tfjs-core/src/optimizers/momentum_optimizer.ts, sgd_optimizer.ts
 * [ODAPI] tensorflow/models research/object_detection/core/losses.py (`HardExampleMiner`),
 *         meta_architectures/faster_rcnn_meta_arch.py (crop_and_resize + max pool second stage)
 * The Caffe side is SPEC.md (§ numbers below) and DIALECTS.md of the ohem-ref project.
 *
 * Per op — the tfjs function, and every convention where it differs from the original:
 *
 * Every op: tfjs has no float64 dtype. Every float input becomes a float32 tensor (a float64 wire
 * tensor is rounded on entry), every kernel stores float32. Kernels mostly compute in JS doubles
 * between those float32 loads and stores, so roundings are placed differently from Caffe's float
 * code (last-bit differences, not discrete ones, except where noted).
 *
 * `nms` — tf.image.nonMaxSuppression(boxes (y1,x1,y2,x2), scores, maxOutputSize = n, iouThreshold)
 *   [NMS]. The port swaps the protocol's (x1,y1,x2,y2) columns with tf.gather. What tfjs computes:
 *   * box convention: continuous areas (y2−y1)(x2−x1), no "+1" (SPEC §4 uses +1) → only
 *     `box_convention: continuous`. It also re-orders each box's corners (min/max), so a flipped
 *     box (x2 < x1) is a proper box to tfjs, and a box of area ≤ 0 has IoU 0 with everything
 *     (the reference's formula gives 0 or NaN, and NaN never suppresses).
 *   * suppress rule: `iou >= iouThreshold` → only `suppress: ge` (Caffe's GPU NMS and, per
 *     DIALECTS.md, TF C++ [TFNMS] suppress on IoU > threshold: tfjs departs from TF here).
 *   * precision: the IoU is computed in double from the float32 box values and compared with the
 *     threshold as a double → `precision: float64`, except that float64 wire boxes and scores are
 *     rounded to float32 first: distinct float64 scores can tie (1 and 1 + 2⁻⁴⁰; tiny scores
 *     that underflow to 0), and then the tie rule decides.
 *   * ties: equal scores → lower index first ("the same output as the TensorFlow python version",
 *     [NMS] ascendingComparator) → only `ties: index_asc` (the reference default is index_desc).
 *   * scores equal to −∞ are dropped (candidates need score > scoreThreshold = −∞); the protocol
 *     only admits finite scores anyway.
 *
 * `top_k` — tf.topk(values, min(k, n), sorted = true).indices [TOPK]: value descending, equal values
 *   lower index first → only `ties: index_asc`. Float64 values are ranked as float32 (1 + 2⁻⁴⁰ and
 *   1 tie; −5e−324 and 0 tie). The comparator is `b.value − a.value`, so two equal infinities
 *   compare as NaN, which Array.sort takes for "equal" without the index tie-break; after the
 *   Floyd–Rivest partition (k < n) their order is scrambled: values [∞, ∞, ∞], k = 1 → [2], not [0].
 *
 * `linear` — tf.add(tf.matMul(x, w, false, true), b). `linear_backward` — tf.grads of that function
 *   (b = zeros) with upstream dy: dx = dy·w, dw = dyᵀ·x, db = Σ_rows dy. The CPU matMul [MM] sums
 *   blocks of 48 products in double and adds each block into a float32 accumulator, so for
 *   Kin > 48 (or R > 48 for dw) the result is rounded once per block, not once (the reference sums
 *   in double and rounds once; Caffe's GEMM accumulates in float32).
 *
 * `relu` — tf.relu. `relu_backward` — tf.grad(tf.relu)(x, dy) = dy·step(x) [RELU]: a product, not a
 *   selection, so dy = ±∞ at x ≤ 0 gives NaN (Caffe/reference: 0), and x = NaN gives NaN (reference: 0).
 *
 * `softmax` — tf.softmax (max-shifted exp, sum, divide; Math.exp instead of expf).
 *
 * `softmax_loss` — tf.losses.softmaxCrossEntropy(oneHot(labels), scores, weights, 0, reduction)
 *   [SCE]; `prob` = tf.softmax(scores); `scores_grad` = tf.valueAndGrad of the loss. Differences:
 *   * the loss is logSumExp(z) − z_y: **no FLT_MIN clamp** (SPEC §7), so a per-row loss can exceed
 *     87.3365 (scores [0, 100], label 0: Caffe 87.33655, tfjs 100).
 *   * normalization ↔ reduction: `none` = SUM; `valid` = SUM_BY_NONZERO_WEIGHTS with weights =
 *     (label ≠ ignore_label) (no ignore_label: divides by R); `batch_size` and `full` = MEAN
 *     (with an ignore_label, MEAN with weights would divide by the valid count, so the port
 *     takes reduction NONE and tf.mean). tfjs does not floor the normalizer at 1 (SPEC §7):
 *     R = 0, or every row ignored, gives a NaN loss (and, all ignored, a NaN scores_grad) where
 *     Caffe gives 0.
 *   * the gradient is dy·(exp(log_softmax) − onehot)/Z through the custom gradient of
 *     softmaxCrossEntropyWithLogits; ignored rows get weight 0, hence gradient 0.
 *
 * `smooth_l1_loss` — tf.losses.huberLoss(zeros, d, outside_w, δ = 1/σ², SUM) [HUB] with
 *   d = tf.mul(tf.sub(pred, target), inside_w) (inside weights before f, outside after), then
 *   ·σ² and ÷R; `pred_grad` = tf.grad of that with respect to pred. Caffe's smooth L1 (SPEC §6)
 *   is Huber(δ = 1/σ²)·σ², so the values agree up to rounding order (σ² and 1/σ² in double, the
 *   weight multiplied after f, one sum). But huberLoss builds linear = |e| − min(|e|, δ), so for
 *   |d| < δ the gradient reaches |e| as (q − δ) + δ in float32: it loses ~δ·2⁻²⁴ absolute, and a
 *   gradient below ~δ·2⁻²⁵ vanishes (pred 0, target 1e−7, inside_w 2: Caffe −4e−7, tfjs
 *   −3.5762787e−7). R = 0 is refused (the contract divides by R ≥ 1).
 *
 * `dropout` / `dropout_backward` — x·mask·scale with scale = tf.scalar(1/(1 − ratio)), the float32
 *   of the double quotient; backward = tf.grad of the same product. Caffe stores the ratio as a
 *   float first (SPEC §8.2): for ratio 0.6 its scale is 2.5000002, tfjs's 2.5; a ratio that rounds
 *   to 1 in float32 (0.99999999) is refused by Caffe's rule, tfjs scales by 1e8. The gradient is
 *   (dy·scale)·mask, so dy = 3e38 with mask 0 overflows to ∞·0 = NaN (Caffe: dy·mask first, 0).
 *   (tf.dropout draws its own mask and cannot take the protocol's.)
 *
 * `sgd_update` — tf.train.momentum(lr·lr_mult, momentum) applied to a tf.Variable holding `param`
 *   [MOM], after the porter's additions: g ← grad / iter_size + (weight_decay·decay_mult)·θ (tfjs
 *   optimizers have no weight decay). The input `history` is loaded as the optimizer's accumulator
 *   (setWeights) and the output `history` is the accumulator after the step. tfjs's rule is
 *   acc ← m·acc + g, θ ← θ − lr·acc: **lr outside the accumulator** (like PyTorch), Caffe's
 *   v ← m·v + lr·g, θ ← θ − v (SPEC §9) keeps it inside. With history 0 the new `param` agrees and
 *   `history` differs by the factor lr; with a non-zero history both differ. (tfjs 4.22 leaks the
 *   learning-rate scalar of every disposed MomentumOptimizer — its dispose() does not call the
 *   SGD one — so the port disposes it; and setMomentum() does not update the scalar it uses.)
 *
 * `crop_and_resize` (SPEC §13.1, §13.6) — tf.image.cropAndResize(NHWC features, boxes, box_ind,
 *   [crop_h, crop_w], method, extrapolation_value) [CAR], between two tf.transpose (NCHW ↔ NHWC);
 *   `maxpool: 2` adds tf.maxPool(2×2, stride 2, VALID) as the TF OD API's Faster R-CNN second stage
 *   does [ODAPI]. tfjs computes the sampling positions and the interpolation in double on the
 *   float32 values and rounds once at the store: that is the `float64` precision of SPEC §13.6;
 *   TF C++ computes in float (`float32`), which tfjs cannot express → unsupported. The two differ
 *   discretely at the map border: features 10·(1…25) on 5×5, box (0.08, 0, 1, 1), crop 14×2 —
 *   tfjs's last row samples in_y = 4 = H − 1 and gives [210, 250]; in float, in_y = 4.0000005 > 4
 *   and the row is extrapolation_value, [0, 0] (SPEC §13.6's float32 model). Raw tfjs leaves
 *   a zero crop for box_ind ≥ N (TF C++: an error) and reads outside the image for box_ind < 0
 *   (NaN); the port refuses both, and non-finite boxes, with invalid_input.
 *
 * `roi_align` — tf.image.cropAndResize with the mapping of SPEC §13.6, as the TF OD API does: the
 *   RoI (x1, y1, x2, y2)·spatial_scale = [X1, X2] × [Y1, Y2] in feature cells becomes the
 *   normalised box y1n = (Y1 − 0.5 + d/2)/(H − 1), y2n = (Y2 − 0.5 − d/2)/(H − 1), d = (Y2 − Y1)/K
 *   (x alike with W), computed in double, then rounded to the float32 boxes tensor. With K = P and
 *   one sample per bin it is RoIAlign(aligned, sampling_ratio 1, avg) of every dialect; with
 *   K = 2P and tf.maxPool 2×2/2 it is mmcv's max RoIAlign(aligned, sampling_ratio 2) — the OD API's
 *   second stage. Other attr values are unsupported (`aligned: false`, the adaptive
 *   sampling_ratio 0 — the defaults —, onnxruntime's max rule); torchvision has no max
 *   (invalid_input, as the contract says). Divergences: the last bits on the map (SPEC §13.6:
 *   ≤ 3e−6; here ≤ 6e−7 of the largest |feature|, mostly from rounding the normalised boxes to
 *   float32), and off the map: crop_and_resize gives extrapolation_value 0 to a sample outside
 *   [0, H−1] where RoIAlign clamps samples in [−1, 0) and (H−1, H] to the border; there is no
 *   max_init seed (mmcv's max is max(max_init, samples)); mmcv's argmax_y/argmax_x outputs cannot
 *   be produced (capabilities.roi_align.outputs = ["top"]). H = 1 or W = 1 cannot be mapped
 *   (division by H − 1 = 0): unsupported.
 *
 * `ohem_select`, dialect `tf-hard-example-miner` only (docs/mining.md §2, DIALECTS.md §1a) —
 *   [ODAPI] `HardExampleMiner.__call__` written with tfjs ops, per image (trunc(rois[:,0])
 *   ascending): image_losses = cls·cls_loss_weight + loc·loc_loss_weight (tf.mul, tf.add: in
 *   float32, as TF's float32 loss tensors; the reference combines in double and rounds once),
 *   selected = tf.image.nonMaxSuppression(boxes, image_losses, num_hard_examples (0 = all),
 *   iou_threshold) — so the tfjs NMS rules above (IoU ≥ threshold in double; the dialect, like
 *   TF C++, suppresses on float32 IoU > threshold) —, then with max_negatives_per_positive:
 *   `_subsample_selection_to_desired_neg_pos_ratio` (positives = label > 0, negatives = label 0;
 *   max_negatives = max(min_negatives_per_image, int32(ratio·float32(P))) in float32, as TF;
 *   tf.cumsum, tf.lessEqual, tf.logicalOr, tf.whereAsync, tf.gather). Ties lower index first
 *   (`ties: index_asc`, the dialect's default); other dialects unsupported. The float32 ratio
 *   step can differ from the reference's double floor (0.58·50: TF/tfjs 29, floor 28), and a loss
 *   of −∞ is never selected (tfjs's NMS candidates need a score > −∞).
 *
 * Not implemented (unknown_op): roi_pool, roi_pool_backward (tfjs has no RoIPool), roi_align_backward
 * (tfjs registers no gradient for CropAndResize), ohem_roi_loss, ohem_step.
 *
 * Loading: tfjs-core's Node bundle (dist/tf-core.node.js, its package `main`) registers no
 * gradients; they live in the ESM build (dist/register_all_gradients.js), whose imports are
 * extensionless. The port registers a small module-resolution hook for that directory, then
 * imports it. Tensors are created and disposed inside one engine scope per request, so memory
 * stays flat however many requests come.
 */
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type Attrs, type DType, type Handler, type Inputs, type WireTensor, PortError, attrsOf, invalid, servePort, tensor, unsupported } from './wire.js';

// ------------------------------------------------------------------------------------- loading

/** Resolves tfjs-core's extensionless ESM specifiers (`./gradients` → `./gradients.js` or `…/index.js`). */
const RESOLVE_HOOK = `
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const isFile = (u) => { try { return statSync(fileURLToPath(u)).isFile(); } catch { return false; } };
export async function resolve(spec, ctx, next) {
  if (spec.startsWith('.') && ctx.parentURL && ctx.parentURL.includes('/@tensorflow/tfjs-core/dist/') && !/\\.[cm]?js$/.test(spec)) {
    for (const cand of [spec + '.js', spec + '/index.js']) {
      const u = new URL(cand, ctx.parentURL);
      if (isFile(u)) return next(u.href, ctx);
    }
  }
  return next(spec, ctx);
}`;
register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
await tf.setBackend('cpu');

// ---------------------------------------------------------------------------------- capabilities

/** Per op, the values of each closed-set attr that tfjs can express (protocol 1.1 amendment 7). */
const CAPABILITIES = {
  nms: { box_convention: ['continuous'], suppress: ['ge'], ties: ['index_asc'], precision: ['float64'] },
  top_k: { ties: ['index_asc'] },
  crop_and_resize: { precision: ['float64'] },
  roi_align: { aligned: [true], sampling_ratio: [1, 2], outputs: ['top'] },
  ohem_select: { dialect: ['tf-hard-example-miner'], ties: ['index_asc'] },
} as const;

/** The largest output a request may ask for (elements); past it the answer is invalid_input. */
const MAX_OUTPUT_ELEMENTS = 2 ** 25;
const MAX_RANK = 8;

// --------------------------------------------------------------------------------- validation

const FLOAT: readonly DType[] = ['float32', 'float64'];
const ANY: readonly DType[] = ['float32', 'float64', 'int32'];

/** A required input of the given rank (−1: any) and dtypes. */
const input = (inputs: Inputs, name: string, rank: number, dtypes: readonly DType[] = FLOAT): WireTensor => {
  const t = inputs[name];
  if (t === undefined) throw invalid(`${name}: missing`);
  if (!dtypes.includes(t.dtype)) throw invalid(`${name}: dtype ${t.dtype}, expected ${dtypes.join(' or ')}`);
  if (t.shape.length > MAX_RANK) throw invalid(`${name}: rank ${t.shape.length} > ${MAX_RANK}`);
  if (rank >= 0 && t.shape.length !== rank) throw invalid(`${name}: shape [${t.shape.join(', ')}] has rank ${t.shape.length}, expected ${rank}`);
  return t;
};

const shapeIs = (t: WireTensor, name: string, shape: readonly number[]): void => {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw invalid(`${name}: shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
};

const allFinite = (t: WireTensor, name: string): void => {
  for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) throw invalid(`${name}: element ${i} is ${t.data[i]}, not finite`);
};

const noNaN = (t: WireTensor, name: string): void => {
  for (let i = 0; i < t.data.length; i++) if (Number.isNaN(t.data[i])) throw invalid(`${name}: element ${i} is NaN`);
};

const integers = (t: WireTensor, name: string, lo: number, hi: number, except?: number): void => {
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (v === except) continue;
    if (!Number.isInteger(v)) throw invalid(`${name}: element ${i} is ${v}, not an integer`);
    if (v < lo || v >= hi) throw invalid(`${name}: element ${i} is ${v}, outside [${lo}, ${hi})`);
  }
};

const binary = (t: WireTensor, name: string): void => {
  for (let i = 0; i < t.data.length; i++) if (t.data[i] !== 0 && t.data[i] !== 1) throw invalid(`${name}: element ${i} is ${t.data[i]}, not 0 or 1`);
};

const outputBudget = (name: string, n: number): void => {
  if (!(n <= MAX_OUTPUT_ELEMENTS)) throw invalid(`${name}: the output would hold ${n} elements, more than this port's limit ${MAX_OUTPUT_ELEMENTS}`);
};

/** An enum attr: a value outside the contract is invalid_input, one tfjs cannot express unsupported. */
const choice = <T extends string | boolean | number>(a: Record<string, unknown>, name: string, contract: readonly T[], can: readonly T[] = contract): T => {
  const v = a[name] as T;
  if (!contract.includes(v)) throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not one of ${contract.map((c) => JSON.stringify(c)).join(', ')}`);
  if (!can.includes(v)) throw unsupported(`attrs.${name}: ${JSON.stringify(v)} is not expressible with tfjs (only ${can.map((c) => JSON.stringify(c)).join(', ')})`);
  return v;
};

interface NumOpts {
  readonly min?: number;
  readonly max?: number;
  readonly minOpen?: boolean;
  readonly maxOpen?: boolean;
  readonly int?: boolean;
}
const num = (a: Record<string, unknown>, name: string, o: NumOpts = {}): number => {
  const v = a[name];
  if (v === undefined) throw invalid(`attrs.${name}: required`);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not a finite number`);
  if (o.int && !Number.isInteger(v)) throw invalid(`attrs.${name}: ${v} is not an integer`);
  const lo = o.min ?? -Infinity;
  const hi = o.max ?? Infinity;
  if (o.minOpen ? !(v > lo) : !(v >= lo)) throw invalid(`attrs.${name}: ${v} must be ${o.minOpen ? '>' : '≥'} ${lo}`);
  if (o.maxOpen ? !(v < hi) : !(v <= hi)) throw invalid(`attrs.${name}: ${v} must be ${o.maxOpen ? '<' : '≤'} ${hi}`);
  return v;
};

// ------------------------------------------------------------------------------ tensors in/out

/** The float32 values tfjs holds for a float wire tensor (float64 is rounded: tfjs has no float64). */
const f32 = (t: WireTensor): Float32Array => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
const tfFloat = (t: WireTensor): tf.Tensor => tf.tensor(f32(t), [...t.shape], 'float32');

/**
 * Where the contract gives a float64 tensor its own precision (nms's `precision: float64`, top_k's
 * float64 values), a value that float32 cannot hold would be changed by tfjs's float32 tensors
 * (distinct scores becoming a tie): refused as unsupported, what this port cannot express.
 */
const float32Exact = (t: WireTensor, name: string): void => {
  if (t.dtype !== 'float64') return;
  for (let i = 0; i < t.data.length; i++)
    if (Math.fround(t.data[i]) !== t.data[i] && !Number.isNaN(t.data[i]))
      throw unsupported(`inputs.${name}: element ${i} (${t.data[i]}) is not a float32 value, and tfjs has float32 tensors only`);
};
const outF32 = (x: tf.Tensor): WireTensor => tensor('float32', x.shape, x.dataSync());
const outI32 = (x: tf.Tensor): WireTensor => tensor('int32', x.shape, x.dataSync());

/**
 * Runs a handler inside one tfjs engine scope: every tensor it creates is disposed when it ends
 * (its outputs are plain typed arrays by then). Errors that tfjs itself throws become
 * invalid_input: the protocol never answers `internal` for an input.
 */
const scoped =
  (h: Handler): Handler =>
  async (inputs, attrs) => {
    tf.engine().startScope();
    try {
      return await h(inputs, attrs);
    } catch (e) {
      if (e instanceof PortError) throw e;
      throw invalid(`tfjs rejected the request: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      tf.engine().endScope();
    }
  };

// ------------------------------------------------------------------------------------------ ops

const NMS_DEFAULTS = { threshold: 0.7, box_convention: 'plus1', suppress: 'gt', ties: 'index_desc', precision: 'float32' };
const TIES = ['index_desc', 'index_asc'] as const;

/** (x1, y1, x2, y2) columns → tfjs's (y1, x1, y2, x2). */
const toYX = (boxes: tf.Tensor): tf.Tensor2D => tf.gather(boxes, tf.tensor1d([1, 0, 3, 2], 'int32'), 1) as tf.Tensor2D;

const nms: Handler = (inputs, attrs) => {
  const a = attrsOf('nms', attrs, NMS_DEFAULTS);
  const threshold = num(a, 'threshold', { min: 0, max: 1 });
  choice(a, 'box_convention', ['plus1', 'continuous'], CAPABILITIES.nms.box_convention);
  choice(a, 'suppress', ['gt', 'ge'], CAPABILITIES.nms.suppress);
  choice(a, 'ties', TIES, CAPABILITIES.nms.ties);
  choice(a, 'precision', ['float32', 'float64'], CAPABILITIES.nms.precision);
  const boxes = input(inputs, 'boxes', 2);
  const n = boxes.shape[0];
  shapeIs(boxes, 'boxes', [n, 4]);
  const scores = input(inputs, 'scores', 1);
  shapeIs(scores, 'scores', [n]);
  allFinite(boxes, 'boxes');
  allFinite(scores, 'scores');
  float32Exact(boxes, 'boxes');
  float32Exact(scores, 'scores');
  const keep = tf.image.nonMaxSuppression(toYX(tfFloat(boxes)), tfFloat(scores) as tf.Tensor1D, n, threshold);
  return { keep: outI32(keep) };
};

const topK: Handler = (inputs, attrs) => {
  const a = attrsOf('top_k', attrs, { k: undefined, ties: 'index_desc' });
  const k = num(a, 'k', { min: 0, int: true });
  choice(a, 'ties', TIES, CAPABILITIES.top_k.ties);
  const values = input(inputs, 'values', 1);
  noNaN(values, 'values');
  float32Exact(values, 'values');
  const n = values.shape[0];
  const { indices } = tf.topk(tfFloat(values), Math.min(k, n), true);
  return { indices: outI32(indices) };
};

const linearFn = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true), b);

const linear: Handler = (inputs, attrs) => {
  attrsOf('linear', attrs, {});
  const x = input(inputs, 'x', 2);
  const w = input(inputs, 'w', 2);
  const [R, Kin] = x.shape;
  const M = w.shape[0];
  shapeIs(w, 'w', [M, Kin]);
  const b = input(inputs, 'b', 1);
  shapeIs(b, 'b', [M]);
  outputBudget('x', R * M);
  return { y: outF32(linearFn(tfFloat(x), tfFloat(w), tfFloat(b))) };
};

const linearBackward: Handler = (inputs, attrs) => {
  attrsOf('linear_backward', attrs, {});
  const x = input(inputs, 'x', 2);
  const w = input(inputs, 'w', 2);
  const [R, Kin] = x.shape;
  const M = w.shape[0];
  shapeIs(w, 'w', [M, Kin]);
  const dy = input(inputs, 'dy', 2);
  shapeIs(dy, 'dy', [R, M]);
  const [dx, dw, db] = tf.grads(linearFn)([tfFloat(x), tfFloat(w), tf.zeros([M])], tfFloat(dy));
  return { dx: outF32(dx), dw: outF32(dw), db: outF32(db) };
};

const relu: Handler = (inputs, attrs) => {
  attrsOf('relu', attrs, {});
  const x = input(inputs, 'x', -1);
  return { y: outF32(tf.relu(tfFloat(x))) };
};

const reluBackward: Handler = (inputs, attrs) => {
  attrsOf('relu_backward', attrs, {});
  const x = input(inputs, 'x', -1);
  const dy = input(inputs, 'dy', -1);
  shapeIs(dy, 'dy', x.shape);
  return { dx: outF32(tf.grad((t: tf.Tensor) => tf.relu(t))(tfFloat(x), tfFloat(dy))) };
};

/** The dropout ratio and tfjs's scale: the float32 of the double 1/(1 − ratio). */
const dropoutScale = (attrs: Attrs, op: string): tf.Scalar => {
  const a = attrsOf(op, attrs, { ratio: 0.5 });
  const ratio = num(a, 'ratio', { min: 0, max: 1, maxOpen: true });
  const s = 1 / (1 - ratio);
  if (!Number.isFinite(Math.fround(s))) throw invalid(`attrs.ratio: ${ratio} gives a scale 1/(1 − ratio) that overflows float32`);
  return tf.scalar(s);
};

const dropout: Handler = (inputs, attrs) => {
  const scale = dropoutScale(attrs, 'dropout');
  const x = input(inputs, 'x', -1);
  const mask = input(inputs, 'mask', -1, ANY);
  shapeIs(mask, 'mask', x.shape);
  binary(mask, 'mask');
  return { y: outF32(tf.mul(tf.mul(tfFloat(x), tfFloat(mask)), scale)) };
};

const dropoutBackward: Handler = (inputs, attrs) => {
  const scale = dropoutScale(attrs, 'dropout_backward');
  const dy = input(inputs, 'dy', -1);
  const mask = input(inputs, 'mask', -1, ANY);
  shapeIs(mask, 'mask', dy.shape);
  binary(mask, 'mask');
  const m = tfFloat(mask);
  const g = tf.grad((x: tf.Tensor) => tf.mul(tf.mul(x, m), scale));
  return { dx: outF32(g(tf.zeros([...dy.shape]), tfFloat(dy))) };
};

/** Scores [R, K] with K ≥ 1, finite. */
const scoresInput = (inputs: Inputs, name: string): WireTensor => {
  const s = input(inputs, name, 2);
  if (s.shape[1] < 1) throw invalid(`${name}: shape [${s.shape.join(', ')}] has no class column (K ≥ 1)`);
  allFinite(s, name);
  return s;
};

const softmax: Handler = (inputs, attrs) => {
  attrsOf('softmax', attrs, {});
  const x = scoresInput(inputs, 'x');
  return { prob: outF32(tf.softmax(tfFloat(x))) };
};

const softmaxLoss: Handler = (inputs, attrs) => {
  const a = attrsOf('softmax_loss', attrs, { normalization: 'valid', ignore_label: undefined });
  const normalization = choice(a, 'normalization', ['valid', 'batch_size', 'full', 'none']);
  const ignore = a.ignore_label === undefined ? undefined : num(a, 'ignore_label', { int: true, min: -2147483648, max: 2147483647 });
  const scores = scoresInput(inputs, 'scores');
  const [R, K] = scores.shape;
  const labels = input(inputs, 'labels', 1, ANY);
  shapeIs(labels, 'labels', [R]);
  integers(labels, 'labels', 0, K, ignore);
  const onehot = tf.oneHot(tf.tensor1d(Int32Array.from(labels.data), 'int32'), K);
  const weights = ignore === undefined ? null : tf.tensor1d(Float32Array.from(labels.data, (v) => (v === ignore ? 0 : 1)));
  const R_ = tf.Reduction;
  const lossOf = (z: tf.Tensor): tf.Scalar => {
    switch (normalization) {
      case 'none':
        return tf.losses.softmaxCrossEntropy(onehot, z, weights ?? undefined, 0, R_.SUM) as tf.Scalar;
      case 'valid':
        return tf.losses.softmaxCrossEntropy(onehot, z, weights ?? undefined, 0, R_.SUM_BY_NONZERO_WEIGHTS) as tf.Scalar;
      default: // 'batch_size' and 'full' (Caffe's outer·inner = R for [R, K] scores)
        return weights === null
          ? (tf.losses.softmaxCrossEntropy(onehot, z, undefined, 0, R_.MEAN) as tf.Scalar)
          : tf.mean(tf.losses.softmaxCrossEntropy(onehot, z, weights, 0, R_.NONE));
    }
  };
  const z = tfFloat(scores);
  const { value, grad } = tf.valueAndGrad(lossOf)(z);
  return { loss: outF32(value), prob: outF32(tf.softmax(z)), scores_grad: outF32(grad) };
};

const smoothL1Loss: Handler = (inputs, attrs) => {
  const a = attrsOf('smooth_l1_loss', attrs, { sigma: 1 });
  const sigma = num(a, 'sigma', { min: 0, minOpen: true });
  const s2 = sigma * sigma;
  if (!(Math.fround(s2) > 0 && Number.isFinite(Math.fround(s2)))) throw invalid(`attrs.sigma: ${sigma}: σ² is not a positive finite float32`);
  const pred = input(inputs, 'pred', 2);
  const [R, D] = pred.shape;
  if (R < 1) throw invalid('pred: R = 0 rows; the loss is divided by the number of RoIs R ≥ 1');
  const others = ['target', 'inside_w', 'outside_w'].map((n) => {
    const t = input(inputs, n, 2);
    shapeIs(t, n, [R, D]);
    allFinite(t, n);
    return tfFloat(t);
  });
  allFinite(pred, 'pred');
  const [target, insideW, outsideW] = others;
  const lossOf = (p: tf.Tensor): tf.Scalar => {
    const d = tf.mul(tf.sub(p, target), insideW);
    const huber = tf.losses.huberLoss(tf.zerosLike(d), d, outsideW, 1 / s2, tf.Reduction.SUM);
    return tf.div(tf.mul(huber, tf.scalar(s2)), tf.scalar(R));
  };
  const { value, grad } = tf.valueAndGrad(lossOf)(tfFloat(pred));
  return { loss: outF32(value), pred_grad: outF32(grad) };
};

const sgdUpdate: Handler = async (inputs, attrs) => {
  const a = attrsOf('sgd_update', attrs, { lr: undefined, momentum: 0.9, weight_decay: 0.0005, lr_mult: 1, decay_mult: 1, iter_size: 1 });
  const lr = num(a, 'lr');
  const momentum = num(a, 'momentum');
  const weightDecay = num(a, 'weight_decay');
  const lrMult = num(a, 'lr_mult');
  const decayMult = num(a, 'decay_mult');
  const iterSize = num(a, 'iter_size', { min: 1, int: true });
  const param = input(inputs, 'param', -1);
  const grad = input(inputs, 'grad', -1);
  const history = input(inputs, 'history', -1);
  shapeIs(grad, 'grad', param.shape);
  shapeIs(history, 'history', param.shape);
  for (const [t, n] of [[param, 'param'], [grad, 'grad'], [history, 'history']] as const) allFinite(t, n);
  const theta = tf.variable(tfFloat(param));
  const opt = tf.train.momentum(lr * lrMult, momentum);
  try {
    // The porter's additions: tfjs optimizers know neither iter_size nor weight decay.
    const g = tf.add(tf.div(tfFloat(grad), tf.scalar(iterSize)), tf.mul(tf.scalar(weightDecay * decayMult), theta));
    await opt.setWeights([
      { name: 'iter', tensor: tf.scalar(0, 'int32') },
      { name: `${theta.name}/momentum`, tensor: tfFloat(history) },
    ]);
    opt.applyGradients([{ name: theta.name, tensor: g }]);
    const weights = await opt.getWeights();
    const acc = weights[1].tensor;
    return { param: outF32(theta), history: outF32(acc) };
  } finally {
    opt.dispose();
    // MomentumOptimizer.dispose() (tfjs 4.22) does not dispose SGDOptimizer's learning-rate scalar.
    const c = (opt as unknown as { c?: tf.Tensor }).c;
    if (c && !c.isDisposed) c.dispose();
    theta.dispose();
  }
};

/** Features [N, C, H, W] (float), finite or not: tfjs interpolates whatever it is given. */
const featuresInput = (inputs: Inputs): { t: WireTensor; N: number; C: number; H: number; W: number } => {
  const t = input(inputs, 'features', 4);
  const [N, C, H, W] = t.shape;
  if (H < 1 || W < 1) throw invalid(`features: shape [${t.shape.join(', ')}] has an empty map`);
  return { t, N, C, H, W };
};

/** NCHW features → NHWC crops → NCHW, with the OD API's optional 2×2/2 VALID max pool. */
const cropNCHW = (features: WireTensor, boxes: tf.Tensor2D, boxInd: Int32Array, ch: number, cw: number, method: 'bilinear' | 'nearest', extrapolation: number, maxpool: number): tf.Tensor => {
  const nhwc = tf.transpose(tfFloat(features), [0, 2, 3, 1]) as tf.Tensor4D;
  let crops = tf.image.cropAndResize(nhwc, boxes, tf.tensor1d(boxInd, 'int32'), [ch, cw], method, extrapolation);
  if (maxpool === 2) crops = tf.maxPool(crops, [2, 2], [2, 2], 'valid');
  return tf.transpose(crops, [0, 3, 1, 2]);
};

const cropAndResize: Handler = (inputs, attrs) => {
  const a = attrsOf('crop_and_resize', attrs, { crop_h: 14, crop_w: 14, method: 'bilinear', extrapolation_value: 0, precision: 'float32', maxpool: 0 });
  const ch = num(a, 'crop_h', { min: 1, int: true });
  const cw = num(a, 'crop_w', { min: 1, int: true });
  const method = choice(a, 'method', ['bilinear', 'nearest'] as const);
  const extrapolation = num(a, 'extrapolation_value');
  choice(a, 'precision', ['float32', 'float64'], CAPABILITIES.crop_and_resize.precision);
  const maxpool = choice(a, 'maxpool', [0, 2]);
  // the contract's answer is an empty [R, C, ⌊crop_h/2⌋, ⌊crop_w/2⌋]; tf.maxPool throws on an input narrower than its window
  if (maxpool === 2 && (ch < 2 || cw < 2)) throw unsupported(`attrs.maxpool: tf.maxPool's 2×2 VALID window does not fit a ${ch}×${cw} crop`);
  const { t: features, N, C } = featuresInput(inputs);
  const boxes = input(inputs, 'boxes', 2);
  const R = boxes.shape[0];
  shapeIs(boxes, 'boxes', [R, 4]);
  allFinite(boxes, 'boxes');
  const boxInd = input(inputs, 'box_ind', 1, ANY);
  shapeIs(boxInd, 'box_ind', [R]);
  integers(boxInd, 'box_ind', 0, N);
  outputBudget('attrs.crop_h', R * C * ch * cw);
  const out = cropNCHW(features, tfFloat(boxes) as tf.Tensor2D, Int32Array.from(boxInd.data), ch, cw, method, extrapolation, maxpool);
  return { crops: outF32(out) };
};

const roiAlign: Handler = (inputs, attrs) => {
  const a = attrsOf('roi_align', attrs, {
    pooled_h: 7,
    pooled_w: 7,
    spatial_scale: 0.0625,
    sampling_ratio: 0,
    aligned: false,
    pool_mode: 'avg',
    dialect: 'torchvision',
    max_init: -10000,
  });
  const PH = num(a, 'pooled_h', { min: 1, int: true });
  const PW = num(a, 'pooled_w', { min: 1, int: true });
  const scale = num(a, 'spatial_scale');
  const sr = num(a, 'sampling_ratio', { int: true });
  if (typeof a.aligned !== 'boolean') throw invalid(`attrs.aligned: ${JSON.stringify(a.aligned)} is not true or false`);
  const poolMode = choice(a, 'pool_mode', ['avg', 'max'] as const);
  const dialect = choice(a, 'dialect', ['torchvision', 'mmcv', 'onnxruntime'] as const);
  num(a, 'max_init'); // mmcv's max seed: tfjs has none (max of the samples), see the docstring
  if (poolMode === 'max' && dialect === 'torchvision') throw invalid('attrs.pool_mode: torchvision roi_align has no max mode');
  choice(a, 'aligned', [true, false], CAPABILITIES.roi_align.aligned);
  if (poolMode === 'max' && dialect === 'onnxruntime') throw unsupported("attrs.pool_mode: onnxruntime's max (max of weighted corner terms) is not expressible with crop_and_resize");
  const needSr = poolMode === 'avg' ? 1 : 2;
  if (sr !== needSr) throw unsupported(`attrs.sampling_ratio: ${sr}; crop_and_resize expresses ${poolMode} RoIAlign only with sampling_ratio ${needSr}`);
  const { t: features, N, C, H, W } = featuresInput(inputs);
  if (H < 2 || W < 2) throw unsupported(`features: a ${H}×${W} map cannot be mapped to crop_and_resize's normalised boxes (division by H − 1 or W − 1 = 0)`);
  const rois = input(inputs, 'rois', 2);
  const R = rois.shape[0];
  shapeIs(rois, 'rois', [R, 5]);
  allFinite(rois, 'rois');
  const r = f32(rois);
  const K = poolMode === 'avg' ? 1 : 2; // samples per bin and axis
  const KH = PH * K;
  const KW = PW * K;
  outputBudget('attrs.pooled_h', R * C * KH * KW);
  const boxes = new Float32Array(R * 4);
  const boxInd = new Int32Array(R);
  for (let i = 0; i < R; i++) {
    const b = Math.trunc(r[i * 5]);
    if (b < 0 || b >= N) throw invalid(`rois: row ${i} has batch index ${r[i * 5]}, outside [0, ${N})`);
    const [X1, Y1, X2, Y2] = [r[i * 5 + 1] * scale, r[i * 5 + 2] * scale, r[i * 5 + 3] * scale, r[i * 5 + 4] * scale];
    if (dialect === 'mmcv' && (X2 < X1 || Y2 < Y1)) throw invalid(`rois: row ${i} has a negative size, which mmcv's aligned RoIAlign rejects`);
    const dy = (Y2 - Y1) / KH;
    const dx = (X2 - X1) / KW;
    boxInd[i] = b;
    boxes[i * 4] = (Y1 - 0.5 + dy / 2) / (H - 1);
    boxes[i * 4 + 1] = (X1 - 0.5 + dx / 2) / (W - 1);
    boxes[i * 4 + 2] = (Y2 - 0.5 - dy / 2) / (H - 1);
    boxes[i * 4 + 3] = (X2 - 0.5 - dx / 2) / (W - 1);
  }
  const out = cropNCHW(features, tf.tensor2d(boxes, [R, 4]), boxInd, KH, KW, 'bilinear', 0, K === 2 ? 2 : 0);
  return { top: outF32(out) };
};

/** TF OD API HardExampleMiner (DIALECTS.md §1a) with tfjs ops. */
const ohemSelect: Handler = async (inputs, attrs) => {
  const dialect = (attrs.dialect ?? 'caffe-ohem') as string;
  const a0 = { dialect };
  choice(a0, 'dialect', ['caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'], CAPABILITIES.ohem_select.dialect);
  const a = attrsOf('ohem_select', attrs, {
    dialect: 'tf-hard-example-miner',
    loss_type: 'both',
    cls_loss_weight: 0.05,
    loc_loss_weight: 0.06,
    num_hard_examples: 64,
    iou_threshold: 0.7,
    max_negatives_per_positive: null,
    min_negatives_per_image: 0,
    ties: 'index_asc',
  });
  const lossType = choice(a, 'loss_type', ['both', 'cls', 'loc'] as const);
  const clsW = num(a, 'cls_loss_weight');
  const locW = num(a, 'loc_loss_weight');
  const numHard = num(a, 'num_hard_examples', { min: 0, int: true });
  const iou = num(a, 'iou_threshold', { min: 0, max: 1 });
  const ratio = a.max_negatives_per_positive === null ? null : num(a, 'max_negatives_per_positive', { min: 0 });
  const minNeg = num(a, 'min_negatives_per_image', { min: 0, int: true });
  choice(a, 'ties', TIES, CAPABILITIES.ohem_select.ties);

  const rois = input(inputs, 'rois', 2);
  const R = rois.shape[0];
  shapeIs(rois, 'rois', [R, 5]);
  allFinite(rois, 'rois');
  const r = f32(rois);
  for (let i = 0; i < R; i++) if (Math.trunc(r[i * 5]) < 0) throw invalid(`rois: row ${i} has batch index ${r[i * 5]} < 0`);
  const labels = input(inputs, 'labels', 1, ANY);
  shapeIs(labels, 'labels', [R]);
  integers(labels, 'labels', 0, Infinity);
  const lossIn = (name: string): WireTensor => {
    const t = input(inputs, name, 1);
    shapeIs(t, name, [R]);
    noNaN(t, name);
    return t;
  };
  lossIn('loss'); // the protocol's input of every dialect; this one ranks by its parts
  const cls = lossType === 'loc' ? null : f32(lossIn('cls_loss'));
  const loc = lossType === 'cls' ? null : f32(lossIn('bbox_loss'));

  const images = new Map<number, number[]>();
  for (let i = 0; i < R; i++) {
    const g = Math.trunc(r[i * 5]);
    const list = images.get(g) ?? [];
    list.push(i);
    images.set(g, list);
  }
  const hard: number[] = [];
  for (const g of [...images.keys()].sort((x, y) => x - y)) {
    const idx = images.get(g)!;
    const n = idx.length;
    const gatherF = (v: Float32Array): tf.Tensor1D => tf.tensor1d(Float32Array.from(idx, (i) => v[i]));
    const imageLosses =
      lossType === 'cls' ? gatherF(cls!) : lossType === 'loc' ? gatherF(loc!) : tf.add(tf.mul(gatherF(cls!), tf.scalar(clsW)), tf.mul(gatherF(loc!), tf.scalar(locW)));
    const boxes = toYX(tf.tensor2d(Float32Array.from({ length: n * 4 }, (_, k) => r[idx[k >> 2] * 5 + 1 + (k & 3)]), [n, 4]));
    let selected: tf.Tensor1D = tf.image.nonMaxSuppression(boxes, imageLosses as tf.Tensor1D, numHard === 0 ? n : numHard, iou);
    if (ratio !== null && selected.size > 0) {
      const lab = tf.tensor1d(Int32Array.from(idx, (i) => labels.data[i]), 'int32');
      const pos = tf.greater(tf.gather(lab, selected), 0);
      const neg = tf.equal(tf.gather(lab, selected), 0);
      const numPos = tf.sum(tf.cast(pos, 'int32'));
      const maxNeg = tf.maximum(tf.scalar(minNeg, 'int32'), tf.cast(tf.mul(tf.scalar(ratio), tf.cast(numPos, 'float32')), 'int32'));
      const topkNeg = tf.lessEqual(tf.cumsum(tf.cast(neg, 'int32')), maxNeg);
      const where = await tf.whereAsync(tf.logicalOr(pos, topkNeg));
      selected = tf.reshape(tf.gather(selected, where), [-1]);
    }
    for (const p of selected.dataSync()) hard.push(idx[p]);
  }
  return { hard_inds: tensor('int32', [hard.length], hard) };
};

// ---------------------------------------------------------------------------------------- serve

const HANDLERS: Readonly<Record<string, Handler>> = Object.fromEntries(
  Object.entries({
    nms,
    top_k: topK,
    linear,
    linear_backward: linearBackward,
    relu,
    relu_backward: reluBackward,
    dropout,
    dropout_backward: dropoutBackward,
    softmax,
    softmax_loss: softmaxLoss,
    smooth_l1_loss: smoothL1Loss,
    sgd_update: sgdUpdate,
    crop_and_resize: cropAndResize,
    roi_align: roiAlign,
    ohem_select: ohemSelect,
  } satisfies Record<string, Handler>).map(([op, h]) => [op, scoped(h)]),
);

servePort(
  {
    name: 'ohem-ref-tfjs-port',
    version: '0.1.0',
    library: '@tensorflow/tfjs-core',
    tfjs: tf.version_core,
    backend: tf.getBackend(),
    limits: { max_output_elements: MAX_OUTPUT_ELEMENTS, max_rank: MAX_RANK },
    capabilities: CAPABILITIES,
  },
  HANDLERS,
);
