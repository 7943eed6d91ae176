/**
 * A protocol-1.1 port of ohem-ref that delegates every op to ONNX Runtime, as a porter who
 * exports the OHEM head to ONNX would: each request becomes a one-node (or, where the op needs
 * it, a few-node) ONNX graph, run with `InferenceSession` on the CPU execution provider. Nothing
 * here re-implements Caffe's arithmetic: every number in an answer comes out of ONNX Runtime's
 * kernels, so `ohem-ref conform` against this port shows where ONNX Runtime parts from the
 * original.
 *
 *     npx tsx examples/ports/onnxruntime.ts          (JSON lines on stdin / stdout)
 *
 * Versions: onnxruntime-node 1.30.0 (CPU), models written with onnx-proto 8.0.1 (IR version 8).
 * Every graph imports the default domain at opset 17, except RoiAlign (opsets 10 and 16, below).
 *
 * ## Ops, the ONNX op that answers them, and where ONNX Runtime differs from the original
 *
 * `roi_pool` — MaxRoiPool-1 (`pooled_shape` [PH, PW], `spatial_scale` as a float32 attribute).
 *   ORT's kernel (onnxruntime/core/providers/cpu/nn/roi_pool.cc) is Caffe's forward: C `round`
 *   of fl32(coord·scale), "+1" extents forced ≥ 1, float32 bin sizes, floor/ceil, clip, empty
 *   bin → 0, and a batch-index range check (ORT_ENFORCE). Differences:
 *   - no `argmax` output (ONNX's MaxRoiPool has one output), so `roi_pool_backward` cannot be
 *     fed and this port answers `top` only (`capabilities.roi_pool.outputs = ["top"]`);
 *   - the bin maximum is `acc = std::max(v, acc)` from `lowest()`: `std::max(a, b)` is
 *     `a < b ? b : a`, so a NaN is taken whenever it is read and dropped by the next element
 *     (Caffe's strict `v > acc` never takes NaN): a NaN in the last cell of a bin comes out NaN;
 *     and among equal values the LAST one wins (Caffe: the first), which shows in −0 vs +0;
 *   - ORT releases before 2019 seeded non-empty bins with `numeric_limits<float>::min()`
 *     (FLT_MIN > 0, so all-negative bins gave 1.2e-38): onnxruntime#319, fixed; 1.30 seeds with
 *     −FLT_MAX like Caffe.
 *
 * `roi_align` — RoiAlign, dialect `onnxruntime` only (SPEC §13; the rois' batch column becomes
 *   the int64 `batch_indices` input, truncated, and the rois travel as [R, 4]):
 *   - `aligned: false` → RoiAlign-10 (model opset 10): the legacy half-pixel-less sampling copied
 *     from Caffe2/Detectron1, extents forced ≥ 1 (onnxruntime#6921, onnx#3428 → onnx#3429, SPEC
 *     §13.8). With the environment variable `ORT_PORT_ROI_ALIGN_OPSET=16` it is RoiAlign-16 with
 *     `coordinate_transformation_mode = "output_half_pixel"` instead (the same numbers);
 *   - `aligned: true` → RoiAlign-16 (model opset 16) with `coordinate_transformation_mode =
 *     "half_pixel"` (the opset-16 default; onnx#4487: the opset-10 and -16 defaults differ);
 *   - `pool_mode: "max"` is ORT's max of the four *weighted corner terms* of each sample, not the
 *     max of interpolated values (onnxruntime#6146, #14265, onnx#4764; SPEC §13.2 step 10);
 *   - `sampling_ratio` < 0: ORT refuses it when the session is created ("Sampling ratio should be
 *     >=0"), answered `invalid_input` with ORT's message; a batch index outside [0, N) is refused
 *     by the kernel (`invalid_input`); gh·gw < 0 overflows SafeInt (`invalid_input`).
 *   - `max_init` is accepted and has no effect: it is the mmcv dialect's seed, and ORT's max has
 *     none (its first sample is the seed). `roi_align_backward`: ONNX has no gradient op
 *     (`unsupported`).
 *
 * `nms` — NonMaxSuppression-11, `center_point_box = 0`, boxes [1, n, 4] in ONNX's [y1, x1, y2, x2]
 *   order, scores [1, 1, n], `max_output_boxes_per_class = n`, `iou_threshold = threshold` (a
 *   float32 input), no `score_threshold`; `keep` = column 2 of `selected_indices`, in selection
 *   order. ORT (non_max_suppression.cc, non_max_suppression_helper.h):
 *   - continuous areas, no "+1" (`box_convention: "continuous"` only);
 *   - suppress when the float32 IoU > fl32(threshold) (`suppress: "gt"` only); pairs that do
 *     not overlap, or with an area ≤ 0, never suppress;
 *   - each box's corners are sorted first (min/max per axis: "any diagonal pair of corners"), so an
 *     inverted box (x2 < x1) is a real box to ORT, and an empty one to the original;
 *   - candidates leave a priority queue by score, equal scores lower index first
 *     (`ties: "index_asc"` only; an older revision of the kernel compared scores only, so its
 *     ties came out in heap order);
 *   - all arithmetic in float32, scores rounded to float32 (`precision: "float32"` only).
 *
 * `linear` — Gemm-13 (`transB = 1`): y = x·Wᵀ + b. MLAS sgemm accumulates in float32, each
 *   product rounded (observed: x = [2, −3], W row [3, 3.0000596] gives −3.0001793; the exactly
 *   rounded sum, the reference's, is −3.0001788), so it leaves the reference's 1-ulp tolerance,
 *   far under cancellation. `linear_backward` — three nodes: dx = Gemm(dy, W),
 *   dW = Gemm(dy, x, transA = 1), db = ReduceSum-13(dy, axes [0]); the same float32 sums.
 *
 * `relu` — Relu-14 (keeps NaN and −0, as Caffe's max(x, 0) does). `relu_backward` —
 *   Where-16(Greater-13(x, 0), dy, 0), the ReluGrad rule of ORT's training kernels: a NaN or ±∞
 *   in dy where x ≤ 0 gives 0 (the reference's rule too; Caffe's CPU layer multiplies,
 *   dy·[x > 0], which would give NaN).
 *
 * `softmax` — Softmax-13, axis 1 (MLAS: max-shifted exp, sum, divide).
 *
 * `softmax_loss` — SoftmaxCrossEntropyLoss-13 (labels as int32, `ignore_index` = `ignore_label`)
 *   for `loss`, and a Softmax-13 node of the same graph for `prob`. `normalization` "valid" →
 *   reduction "mean"; "none" → "sum"; "batch_size" and "full" (both R for [R, K] scores) →
 *   Div("sum", R). ORT's inference build runs the op as its ONNX function body (LogSoftmax →
 *   NegativeLogLikelihoodLoss), so:
 *   - no FLT_MIN clamp: Caffe's per-sample loss is −ln(max(p, FLT_MIN)) ≤ 87.3365, ORT's is the
 *     exact log-softmax (scores [80, −80] with label 1: Caffe 87.3365, ORT 160);
 *   - "mean" over a batch whose labels are all `ignore_index` is 0/0 = NaN (Caffe's VALID
 *     normaliser is max(1, count): loss 0);
 *   - R = 0 fails in the function's Reshape ({0, 0} to {0, 0, −1}), `invalid_input` with ORT's
 *     message (the original normalises an empty batch to loss 0);
 *   - `scores_grad` has no inference op: `capabilities.softmax_loss.outputs = ["loss", "prob"]`.
 *   (Labels are checked here: GatherElements would wrap a label −1 to class K−1.)
 *
 * `smooth_l1_loss` — composed as a porter writes it, every step float32: d = Wi·(pred − target);
 *   f = Where(Less(|d|, 1/σ²), 0.5σ²·d·d, |d| − 0.5/σ²); loss = ReduceSum(Wo·f) / R;
 *   pred_grad = ((1/R)·Where(…, σ²·d, Sign(d)))·Wi·Wo. Caffe evaluates f, its comparison and
 *   its constants in double (SPEC §6): last-bit differences, and for σ ≠ 1 the float32 1/σ²
 *   moves the kink by an ulp. ORT's DivMulFusion (below) turns Mul(Div(1, R), f′) into f′ / R.
 *
 * `dropout` / `dropout_backward` — Mul-14(Mul-14(x, mask), scale), scale a float32 input holding
 *   Caffe's float32 1/(1 − fl32(ratio)) (2.5000002 for 0.6, not 2.5). ONNX's own Dropout draws
 *   its mask inside the op (and is the identity at inference), so the protocol's given mask needs
 *   the Mul form. Pitfall (observed): with the scale computed in the graph, Div(1, Sub(1, ratio)),
 *   ORT's basic-level graph optimisation (DivMulFusion) rewrites Mul(kept, Div(1, keep)) into
 *   Div(kept, keep), i.e. x / (1 − r) instead of x · fl32(1/(1 − r)): 1 ulp off (ratio 0.25,
 *   x 7.9939243e-27: 1.06585655e-26 instead of Caffe's 1.0658566e-26).
 *
 * `top_k` — TopK-11 (`largest = 1`, `sorted = 1`, K = min(k, n) as an int64 input: ORT refuses
 *   k > n); indices int64 → int32. ONNX: "the element with the lower index will appear first"
 *   (top_k.cc GreaterValueCmp): `ties: "index_asc"` only. float64 values stay float64.
 *
 * Not expressible with inference ONNX (answered `unsupported`, and left out of `describe.ops`):
 * `roi_pool_backward` (no argmax, no gradient op), `roi_align_backward`, `sgd_update` (no
 * optimizer op in inference ONNX), `crop_and_resize` (not an ONNX op), and the mining ops
 * `ohem_roi_loss`, `ohem_select`, `ohem_step`.
 *
 * ## Session cache
 *
 * One InferenceSession per (op, graph attrs, input shapes and dtypes), least recently used
 * evicted and released past 64 (examples/ports/onnx/graph.ts). Values that ONNX takes as inputs
 * (NMS's max_output_boxes_per_class and iou_threshold, TopK's K, dropout's scale, the loss
 * normalisers, smooth L1's sigma) are fed at run time, so they do not multiply sessions. One
 * intra-op thread. Default graph optimisation (ORT_ENABLE_ALL), as a porter gets it.
 */
import * as ort from 'onnxruntime-node';
import { type Handler, type Inputs, PortError, type WireTensor, invalid, servePort, size, tensor, unsupported } from './wire.js';
import { type GraphSpec, ORT_VERSION, SessionCache, attr, ortTensor } from './onnx/graph.js';
import {
  INT32_MAX,
  MAX_NMS_BOXES,
  MAX_OUTPUT_BYTES,
  MAX_ROI_ALIGN_SAMPLES,
  MAX_ROI_ALIGN_TABLE,
  MAX_ROI_POOL_CELLS,
  attrsOf,
  boolAttr,
  enumAttr,
  f32,
  input,
  intAttr,
  numAttr,
  onlyInputs,
  outputBudget,
  positiveF32Attr,
  requireFinite,
  requireNoNaN,
} from './onnx/check.js';

/** The default-domain opset of every graph but RoiAlign's. */
const OPSET = 17;
const ROI_ALIGN_LEGACY_OPSET = process.env.ORT_PORT_ROI_ALIGN_OPSET === '16' ? 16 : 10;

const cache = new SessionCache(64);

/** ORT's error text without terminal colours and build paths, in one line. */
const ortMessage = (e: unknown): string =>
  String((e as Error)?.message ?? e)
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, '')
    .replace(/\/onnxruntime_src\/\S+:\d+\s*/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 400);

/**
 * Runs the graph of `key` (built by `build` on a cache miss) on `feeds`. ONNX Runtime refusing the
 * request, at session creation or at run time, is `invalid_input` with ORT's own message.
 */
const runGraph = async (what: string, key: readonly unknown[], build: () => GraphSpec, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> => {
  let session: ort.InferenceSession;
  try {
    session = await cache.get(JSON.stringify(key), build);
  } catch (e) {
    throw new PortError('invalid_input', `${what}: ONNX Runtime refused to build the graph: ${ortMessage(e)}`);
  }
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new PortError('invalid_input', `${what}: ONNX Runtime refused the request: ${ortMessage(e)}`);
  }
};

const f32Out = (t: ort.Tensor): WireTensor => tensor('float32', t.dims, t.data as Float32Array);
const int32Of = (t: ort.Tensor, pick: (i: number) => number = (i) => i, count = size(t.dims)): Int32Array => {
  const d = t.data as BigInt64Array;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(d[pick(i)]);
  return out;
};
const scalarF32 = (v: number): ort.Tensor => ortTensor('float32', new Float32Array([v]), []);
const int64s = (vals: readonly number[]): ort.Tensor => ortTensor('int64', BigInt64Array.from(vals.map((v) => BigInt(v))), [vals.length]);

const F = ['float32', 'float64'] as const;
const F_OR_INT = ['float32', 'float64', 'int32'] as const;

// ------------------------------------------------------------------------------------ roi_pool

const ROI_COORD_LIMIT = 2 ** 29;

/** rois [R, 5] as float32: finite, batch index in [0, N), scaled coordinates inside C int. */
const checkedRois = (rois: WireTensor, n: number, scale: number): Float32Array => {
  const r = f32(rois);
  requireFinite('rois', r);
  for (let i = 0; i < rois.shape[0]; i++) {
    const b = Math.trunc(r[5 * i]);
    if (b < 0 || b >= n) throw invalid(`rois: row ${i} has batch index ${r[5 * i]}, outside [0, ${n}) for ${n} image(s)`);
    for (let k = 1; k < 5; k++)
      if (!(Math.abs(r[5 * i + k] * scale) <= ROI_COORD_LIMIT)) throw invalid(`rois: row ${i} column ${k} is ${r[5 * i + k]}, which scales beyond ±2^29`);
  }
  return r;
};

const roiPool: Handler = async (inputs, attrs) => {
  const a = attrsOf('roi_pool', attrs, { pooled_h: 7, pooled_w: 7, spatial_scale: 0.0625 });
  const ph = intAttr('pooled_h', a.pooled_h, 1, INT32_MAX);
  const pw = intAttr('pooled_w', a.pooled_w, 1, INT32_MAX);
  const scale = positiveF32Attr('spatial_scale', a.spatial_scale);
  onlyInputs('roi_pool', inputs, ['features', 'rois']);
  const env = new Map<string, number>();
  const feat = input(inputs, 'features', ['N', 'C', 'H', 'W'], F, env);
  const roisT = input(inputs, 'rois', ['R', 5], F, env);
  const [N, C] = feat.shape;
  const R = roisT.shape[0];
  const rois = checkedRois(roisT, N, scale);
  outputBudget('attrs.pooled_h', [R, C, ph, pw]);
  const [, , H, W] = feat.shape;
  if (R * C * (H + ph) * (W + pw) > MAX_ROI_POOL_CELLS) throw invalid(`rois: ${R} RoIs over [${C}, ${H}, ${W}] maps is more scanning than this port's limit (${MAX_ROI_POOL_CELLS} cells)`);
  const out = await runGraph(
    'roi_pool',
    ['roi_pool', ph, pw, Math.fround(scale), feat.shape, R],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'X', type: 'float32', shape: feat.shape },
        { name: 'rois', type: 'float32', shape: [R, 5] },
      ],
      outputs: [{ name: 'Y', type: 'float32' }],
      nodes: [{ op: 'MaxRoiPool', inputs: ['X', 'rois'], outputs: ['Y'], attrs: { pooled_shape: attr.ints([ph, pw]), spatial_scale: attr.float(scale) } }],
    }),
    { X: ortTensor('float32', f32(feat), feat.shape), rois: ortTensor('float32', rois, [R, 5]) },
  );
  return { top: f32Out(out.Y) };
};

// ------------------------------------------------------------------------------------ roi_align

const DIALECTS = ['torchvision', 'mmcv', 'onnxruntime'] as const;
const POOL_MODES = ['avg', 'max'] as const;

const roiAlign: Handler = async (inputs, attrs) => {
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
  enumAttr('dialect', a.dialect, DIALECTS, ['onnxruntime']);
  const mode = enumAttr('pool_mode', a.pool_mode, POOL_MODES, POOL_MODES);
  const aligned = boolAttr('aligned', a.aligned);
  const ph = intAttr('pooled_h', a.pooled_h, 1, INT32_MAX);
  const pw = intAttr('pooled_w', a.pooled_w, 1, INT32_MAX);
  const scale = positiveF32Attr('spatial_scale', a.spatial_scale);
  // Negative values go to ORT, which refuses them (reported as invalid_input).
  const sr = intAttr('sampling_ratio', a.sampling_ratio, -INT32_MAX, INT32_MAX);
  numAttr('max_init', a.max_init, -Number.MAX_VALUE, Number.MAX_VALUE); // mmcv's seed: no role in ORT's max
  onlyInputs('roi_align', inputs, ['features', 'rois']);
  const env = new Map<string, number>();
  const feat = input(inputs, 'features', ['N', 'C', 'H', 'W'], F, env);
  const roisT = input(inputs, 'rois', ['R', 5], F, env);
  const C = feat.shape[1];
  const R = roisT.shape[0];
  const rois5 = f32(roisT);
  requireFinite('rois', rois5);
  outputBudget('attrs.pooled_h', [R, C, ph, pw]);
  // A bound on ORT's work: its sampling grid is sampling_ratio², or ceil(extent / pooled) per axis.
  let samples = 0;
  for (let i = 0; i < R; i++) {
    const grid = (lo: number, hi: number, pooled: number) => (sr > 0 ? sr : Math.ceil((Math.abs(hi - lo) * scale + 1) / pooled) + 1);
    const table = grid(rois5[5 * i + 2], rois5[5 * i + 4], ph) * grid(rois5[5 * i + 1], rois5[5 * i + 3], pw) * ph * pw;
    if (table > MAX_ROI_ALIGN_TABLE) throw invalid(`rois: row ${i} needs about ${table} bilinear samples, more than this port's limit (${MAX_ROI_ALIGN_TABLE} per RoI)`);
    samples += table * C;
  }
  if (samples > MAX_ROI_ALIGN_SAMPLES) throw invalid(`rois: the request needs about ${samples} bilinear samples, more than this port's limit (${MAX_ROI_ALIGN_SAMPLES})`);
  // The protocol's (b, x1, y1, x2, y2) rows as ONNX wants them: [R, 4] boxes and int64 indices.
  const boxes = new Float32Array(4 * R);
  const batch = new BigInt64Array(R);
  for (let i = 0; i < R; i++) {
    batch[i] = BigInt(Math.trunc(rois5[5 * i]));
    boxes.set(rois5.subarray(5 * i + 1, 5 * i + 5), 4 * i);
  }
  const opset = aligned ? 16 : ROI_ALIGN_LEGACY_OPSET;
  const nodeAttrs = {
    mode: attr.string(mode),
    output_height: attr.int(ph),
    output_width: attr.int(pw),
    sampling_ratio: attr.int(sr),
    spatial_scale: attr.float(scale),
    ...(opset >= 16 ? { coordinate_transformation_mode: attr.string(aligned ? 'half_pixel' : 'output_half_pixel') } : {}),
  };
  const out = await runGraph(
    'roi_align',
    ['roi_align', opset, mode, aligned, ph, pw, sr, Math.fround(scale), feat.shape, R],
    () => ({
      opset,
      inputs: [
        { name: 'X', type: 'float32', shape: feat.shape },
        { name: 'rois', type: 'float32', shape: [R, 4] },
        { name: 'batch_indices', type: 'int64', shape: [R] },
      ],
      outputs: [{ name: 'Y', type: 'float32' }],
      nodes: [{ op: 'RoiAlign', inputs: ['X', 'rois', 'batch_indices'], outputs: ['Y'], attrs: nodeAttrs }],
    }),
    { X: ortTensor('float32', f32(feat), feat.shape), rois: ortTensor('float32', boxes, [R, 4]), batch_indices: ortTensor('int64', batch, [R]) },
  );
  return { top: f32Out(out.Y) };
};

// ------------------------------------------------------------------------------------ nms

const nms: Handler = async (inputs, attrs) => {
  const a = attrsOf('nms', attrs, { threshold: 0.7, box_convention: 'plus1', suppress: 'gt', ties: 'index_desc', precision: 'float32' });
  enumAttr('box_convention', a.box_convention, ['plus1', 'continuous'], ['continuous']);
  enumAttr('suppress', a.suppress, ['gt', 'ge'], ['gt']);
  enumAttr('ties', a.ties, ['index_desc', 'index_asc'], ['index_asc']);
  enumAttr('precision', a.precision, ['float32', 'float64'], ['float32']);
  const threshold = numAttr('threshold', a.threshold, 0, 1);
  onlyInputs('nms', inputs, ['boxes', 'scores']);
  const env = new Map<string, number>();
  const boxesT = input(inputs, 'boxes', ['n', 4], F, env);
  const scoresT = input(inputs, 'scores', ['n'], F, env);
  requireFinite('boxes', boxesT.data);
  requireFinite('scores', scoresT.data);
  const n = scoresT.shape[0];
  if (n > MAX_NMS_BOXES) throw invalid(`boxes: ${n} boxes, more than this port's limit (${MAX_NMS_BOXES})`);
  const xy = f32(boxesT);
  const boxes = new Float32Array(4 * n); // ONNX's [y1, x1, y2, x2]
  for (let i = 0; i < n; i++) {
    boxes[4 * i] = xy[4 * i + 1];
    boxes[4 * i + 1] = xy[4 * i];
    boxes[4 * i + 2] = xy[4 * i + 3];
    boxes[4 * i + 3] = xy[4 * i + 2];
  }
  const out = await runGraph(
    'nms',
    ['nms', n],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'boxes', type: 'float32', shape: [1, n, 4] },
        { name: 'scores', type: 'float32', shape: [1, 1, n] },
        { name: 'max_output_boxes_per_class', type: 'int64', shape: [1] },
        { name: 'iou_threshold', type: 'float32', shape: [1] },
      ],
      outputs: [{ name: 'selected_indices', type: 'int64' }],
      nodes: [
        {
          op: 'NonMaxSuppression',
          inputs: ['boxes', 'scores', 'max_output_boxes_per_class', 'iou_threshold'],
          outputs: ['selected_indices'],
          attrs: { center_point_box: attr.int(0) },
        },
      ],
    }),
    {
      boxes: ortTensor('float32', boxes, [1, n, 4]),
      scores: ortTensor('float32', f32(scoresT), [1, 1, n]),
      max_output_boxes_per_class: int64s([n]),
      iou_threshold: ortTensor('float32', new Float32Array([threshold]), [1]),
    },
  );
  const sel = out.selected_indices;
  const k = sel.dims[0];
  return { keep: tensor('int32', [k], int32Of(sel, (i) => 3 * i + 2, k)) };
};

// ------------------------------------------------------------------------------------ linear

const linear: Handler = async (inputs, attrs) => {
  attrsOf('linear', attrs, {});
  onlyInputs('linear', inputs, ['x', 'w', 'b']);
  const env = new Map<string, number>();
  const x = input(inputs, 'x', ['R', 'Kin'], F, env);
  const w = input(inputs, 'w', ['M', 'Kin'], F, env);
  const b = input(inputs, 'b', ['M'], F, env);
  outputBudget('x', [x.shape[0], w.shape[0]]);
  const out = await runGraph(
    'linear',
    ['linear', x.shape, w.shape],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'x', type: 'float32', shape: x.shape },
        { name: 'w', type: 'float32', shape: w.shape },
        { name: 'b', type: 'float32', shape: b.shape },
      ],
      outputs: [{ name: 'y', type: 'float32' }],
      nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { transB: attr.int(1) } }],
    }),
    { x: ortTensor('float32', f32(x), x.shape), w: ortTensor('float32', f32(w), w.shape), b: ortTensor('float32', f32(b), b.shape) },
  );
  return { y: f32Out(out.y) };
};

const linearBackward: Handler = async (inputs, attrs) => {
  attrsOf('linear_backward', attrs, {});
  onlyInputs('linear_backward', inputs, ['x', 'w', 'dy']);
  const env = new Map<string, number>();
  const x = input(inputs, 'x', ['R', 'Kin'], F, env);
  const w = input(inputs, 'w', ['M', 'Kin'], F, env);
  const dy = input(inputs, 'dy', ['R', 'M'], F, env);
  const out = await runGraph(
    'linear_backward',
    ['linear_backward', x.shape, w.shape],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'x', type: 'float32', shape: x.shape },
        { name: 'w', type: 'float32', shape: w.shape },
        { name: 'dy', type: 'float32', shape: dy.shape },
      ],
      outputs: [
        { name: 'dx', type: 'float32' },
        { name: 'dw', type: 'float32' },
        { name: 'db', type: 'float32' },
      ],
      consts: [{ name: 'axis0', type: 'int64', shape: [1], values: [0] }],
      nodes: [
        { op: 'Gemm', inputs: ['dy', 'w'], outputs: ['dx'] },
        { op: 'Gemm', inputs: ['dy', 'x'], outputs: ['dw'], attrs: { transA: attr.int(1) } },
        { op: 'ReduceSum', inputs: ['dy', 'axis0'], outputs: ['db'], attrs: { keepdims: attr.int(0) } },
      ],
    }),
    { x: ortTensor('float32', f32(x), x.shape), w: ortTensor('float32', f32(w), w.shape), dy: ortTensor('float32', f32(dy), dy.shape) },
  );
  return { dx: f32Out(out.dx), dw: f32Out(out.dw), db: f32Out(out.db) };
};

// ------------------------------------------------------------------------------------ relu, softmax

const relu: Handler = async (inputs, attrs) => {
  attrsOf('relu', attrs, {});
  onlyInputs('relu', inputs, ['x']);
  const x = input(inputs, 'x', null, F, new Map());
  const out = await runGraph(
    'relu',
    ['relu', x.shape],
    () => ({ opset: OPSET, inputs: [{ name: 'x', type: 'float32', shape: x.shape }], outputs: [{ name: 'y', type: 'float32' }], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] }),
    { x: ortTensor('float32', f32(x), x.shape) },
  );
  return { y: f32Out(out.y) };
};

/** Two inputs of one shape (any rank ≤ 8). */
const sameShape = (inputs: Inputs, a: string, b: string): [WireTensor, WireTensor] => {
  const ta = input(inputs, a, null, F_OR_INT, new Map());
  const tb = input(inputs, b, null, F_OR_INT, new Map());
  if (ta.shape.length !== tb.shape.length || ta.shape.some((d, k) => d !== tb.shape[k]))
    throw invalid(`${b}: shape [${tb.shape.join(', ')}] differs from ${a}'s [${ta.shape.join(', ')}]`);
  return [ta, tb];
};

const reluBackward: Handler = async (inputs, attrs) => {
  attrsOf('relu_backward', attrs, {});
  onlyInputs('relu_backward', inputs, ['x', 'dy']);
  const [x, dy] = sameShape(inputs, 'x', 'dy');
  const out = await runGraph(
    'relu_backward',
    ['relu_backward', x.shape],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'x', type: 'float32', shape: x.shape },
        { name: 'dy', type: 'float32', shape: dy.shape },
      ],
      outputs: [{ name: 'dx', type: 'float32' }],
      consts: [{ name: 'zero', type: 'float32', shape: [], values: [0] }],
      nodes: [
        { op: 'Greater', inputs: ['x', 'zero'], outputs: ['positive'] },
        { op: 'Where', inputs: ['positive', 'dy', 'zero'], outputs: ['dx'] },
      ],
    }),
    { x: ortTensor('float32', f32(x), x.shape), dy: ortTensor('float32', f32(dy), dy.shape) },
  );
  return { dx: f32Out(out.dx) };
};

const softmax: Handler = async (inputs, attrs) => {
  attrsOf('softmax', attrs, {});
  onlyInputs('softmax', inputs, ['x']);
  const x = input(inputs, 'x', ['R', 'K'], F, new Map());
  const out = await runGraph(
    'softmax',
    ['softmax', x.shape],
    () => ({
      opset: OPSET,
      inputs: [{ name: 'x', type: 'float32', shape: x.shape }],
      outputs: [{ name: 'prob', type: 'float32' }],
      nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['prob'], attrs: { axis: attr.int(1) } }],
    }),
    { x: ortTensor('float32', f32(x), x.shape) },
  );
  return { prob: f32Out(out.prob) };
};

// ------------------------------------------------------------------------------------ losses

const NORMALIZATIONS = ['valid', 'batch_size', 'full', 'none'] as const;

const softmaxLoss: Handler = async (inputs, attrs) => {
  const a = attrsOf('softmax_loss', attrs, { normalization: 'valid', ignore_label: undefined });
  const norm = enumAttr('normalization', a.normalization, NORMALIZATIONS, NORMALIZATIONS);
  const ignore = a.ignore_label === undefined ? undefined : intAttr('ignore_label', a.ignore_label, -2147483648, INT32_MAX);
  onlyInputs('softmax_loss', inputs, ['scores', 'labels']);
  const env = new Map<string, number>();
  const scores = input(inputs, 'scores', ['R', 'K'], F, env);
  const labelsT = input(inputs, 'labels', ['R'], F_OR_INT, env);
  const [R, K] = scores.shape;
  const labels = new Int32Array(R);
  for (let i = 0; i < R; i++) {
    const v = labelsT.data[i];
    if (!Number.isInteger(v)) throw invalid(`labels: element ${i} is ${v}, not an integer class id`);
    if (v !== ignore && (v < 0 || v >= K)) throw invalid(`labels: element ${i} is ${v}, outside [0, ${K})${ignore === undefined ? '' : ` and not the ignore_label ${ignore}`}`);
    labels[i] = v;
  }
  // valid → mean over the non-ignored; none → sum; batch_size and full → sum / R.
  const reduction = norm === 'valid' ? 'mean' : 'sum';
  const divide = norm === 'batch_size' || norm === 'full';
  const out = await runGraph(
    'softmax_loss',
    ['softmax_loss', reduction, divide, ignore ?? null, scores.shape],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'scores', type: 'float32', shape: scores.shape },
        { name: 'labels', type: 'int32', shape: [R] },
        ...(divide ? [{ name: 'count', type: 'float32' as const, shape: [] }] : []),
      ],
      outputs: [
        { name: 'loss', type: 'float32' },
        { name: 'prob', type: 'float32' },
      ],
      nodes: [
        { op: 'Softmax', inputs: ['scores'], outputs: ['prob'], attrs: { axis: attr.int(1) } },
        {
          op: 'SoftmaxCrossEntropyLoss',
          inputs: ['scores', 'labels'],
          outputs: [divide ? 'total' : 'loss'],
          attrs: { reduction: attr.string(reduction), ...(ignore === undefined ? {} : { ignore_index: attr.int(ignore) }) },
        },
        ...(divide ? [{ op: 'Div', inputs: ['total', 'count'], outputs: ['loss'] }] : []),
      ],
    }),
    {
      scores: ortTensor('float32', f32(scores), scores.shape),
      labels: ortTensor('int32', labels, [R]),
      ...(divide ? { count: scalarF32(R) } : {}),
    },
  );
  return { loss: f32Out(out.loss), prob: f32Out(out.prob) };
};

const smoothL1Loss: Handler = async (inputs, attrs) => {
  const a = attrsOf('smooth_l1_loss', attrs, { sigma: 1 });
  const sigma = positiveF32Attr('sigma', a.sigma);
  const s32 = Math.fround(sigma);
  if (!Number.isFinite(Math.fround(s32 * s32)) || !(Math.fround(s32 * s32) > 0)) throw invalid(`attrs.sigma: ${sigma}: sigma² is not a positive finite float32`);
  onlyInputs('smooth_l1_loss', inputs, ['pred', 'target', 'inside_w', 'outside_w']);
  const env = new Map<string, number>();
  const names = ['pred', 'target', 'inside_w', 'outside_w'] as const;
  const ts = names.map((nm) => input(inputs, nm, ['R', 'D'], F, env));
  const shape = ts[0].shape;
  const R = shape[0];
  if (R < 1) throw invalid(`pred: shape [${shape.join(', ')}]: the loss is divided by the number of rows R, which must be ≥ 1`);
  const out = await runGraph(
    'smooth_l1_loss',
    ['smooth_l1_loss', shape],
    () => ({
      opset: OPSET,
      inputs: [
        ...names.map((nm) => ({ name: nm, type: 'float32' as const, shape })),
        { name: 'sigma', type: 'float32', shape: [] },
        { name: 'num', type: 'float32', shape: [] },
      ],
      outputs: [
        { name: 'loss', type: 'float32' },
        { name: 'pred_grad', type: 'float32' },
      ],
      consts: [
        { name: 'half', type: 'float32', shape: [], values: [0.5] },
        { name: 'one', type: 'float32', shape: [], values: [1] },
      ],
      nodes: [
        { op: 'Mul', inputs: ['sigma', 'sigma'], outputs: ['sigma2'] },
        { op: 'Div', inputs: ['one', 'sigma2'], outputs: ['kink'] },
        { op: 'Sub', inputs: ['pred', 'target'], outputs: ['diff'] },
        { op: 'Mul', inputs: ['inside_w', 'diff'], outputs: ['d'] },
        { op: 'Abs', inputs: ['d'], outputs: ['abs_d'] },
        { op: 'Less', inputs: ['abs_d', 'kink'], outputs: ['small'] },
        { op: 'Mul', inputs: ['half', 'sigma2'], outputs: ['half_sigma2'] },
        { op: 'Mul', inputs: ['half_sigma2', 'd'], outputs: ['q1'] },
        { op: 'Mul', inputs: ['q1', 'd'], outputs: ['quad'] },
        { op: 'Div', inputs: ['half', 'sigma2'], outputs: ['half_kink'] },
        { op: 'Sub', inputs: ['abs_d', 'half_kink'], outputs: ['lin'] },
        { op: 'Where', inputs: ['small', 'quad', 'lin'], outputs: ['f'] },
        { op: 'Mul', inputs: ['outside_w', 'f'], outputs: ['e'] },
        { op: 'ReduceSum', inputs: ['e'], outputs: ['total'], attrs: { keepdims: attr.int(0) } },
        { op: 'Div', inputs: ['total', 'num'], outputs: ['loss'] },
        { op: 'Mul', inputs: ['sigma2', 'd'], outputs: ['slope'] },
        { op: 'Sign', inputs: ['d'], outputs: ['sign_d'] },
        { op: 'Where', inputs: ['small', 'slope', 'sign_d'], outputs: ['f_prime'] },
        { op: 'Div', inputs: ['one', 'num'], outputs: ['alpha'] },
        { op: 'Mul', inputs: ['alpha', 'f_prime'], outputs: ['g1'] },
        { op: 'Mul', inputs: ['g1', 'inside_w'], outputs: ['g2'] },
        { op: 'Mul', inputs: ['g2', 'outside_w'], outputs: ['pred_grad'] },
      ],
    }),
    {
      ...Object.fromEntries(names.map((nm, k) => [nm, ortTensor('float32', f32(ts[k]), shape)])),
      sigma: scalarF32(sigma),
      num: scalarF32(R),
    },
  );
  return { loss: f32Out(out.loss), pred_grad: f32Out(out.pred_grad) };
};

// ------------------------------------------------------------------------------------ dropout

const dropoutWith =
  (op: string, value: string, result: string): Handler =>
  async (inputs, attrs) => {
    const a = attrsOf(op, attrs, { ratio: 0.5 });
    const ratio = numAttr('ratio', a.ratio, 0, 1);
    if (!(Math.fround(ratio) < 1)) throw invalid(`attrs.ratio: ${ratio} rounds to 1 in float32: the scale 1/(1 − ratio) is infinite`);
    onlyInputs(op, inputs, [value, 'mask']);
    const [x, mask] = sameShape(inputs, value, 'mask');
    const m = f32(mask);
    for (let i = 0; i < m.length; i++) if (m[i] !== 0 && m[i] !== 1) throw invalid(`mask: element ${i} is ${m[i]}, not 0 or 1`);
    // Caffe's scale_ = 1. / (1. - threshold_) stored as a float (SPEC §8.2): 2.5000002 for 0.6.
    // It is fed as a float32 input. Computing it in the graph as Div(1, Sub(1, ratio)) would give
    // the same float32, but ORT's basic-level DivMulFusion then rewrites Mul(kept, Div(1, keep))
    // into Div(kept, keep): x / (1 − r) instead of x · fl32(1 / (1 − r)), off by an ulp.
    const scale = Math.fround(1 / (1 - Math.fround(ratio)));
    const out = await runGraph(
      op,
      ['dropout', x.shape],
      () => ({
        opset: OPSET,
        inputs: [
          { name: 'x', type: 'float32', shape: x.shape },
          { name: 'mask', type: 'float32', shape: x.shape },
          { name: 'scale', type: 'float32', shape: [] },
        ],
        outputs: [{ name: 'y', type: 'float32' }],
        nodes: [
          { op: 'Mul', inputs: ['x', 'mask'], outputs: ['kept'] },
          { op: 'Mul', inputs: ['kept', 'scale'], outputs: ['y'] },
        ],
      }),
      { x: ortTensor('float32', f32(x), x.shape), mask: ortTensor('float32', m, x.shape), scale: scalarF32(scale) },
    );
    return { [result]: f32Out(out.y) };
  };

// ------------------------------------------------------------------------------------ top_k

const topK: Handler = async (inputs, attrs) => {
  const a = attrsOf('top_k', attrs, { k: undefined, ties: 'index_desc' });
  if (a.k === undefined) throw invalid('attrs.k: is required (how many to select, an integer ≥ 0)');
  const k = intAttr('k', a.k, 0, Number.MAX_SAFE_INTEGER);
  enumAttr('ties', a.ties, ['index_desc', 'index_asc'], ['index_asc']);
  onlyInputs('top_k', inputs, ['values']);
  const v = input(inputs, 'values', ['n'], F, new Map());
  requireNoNaN('values', v.data);
  const n = v.shape[0];
  const type = v.dtype === 'float64' ? 'float64' : 'float32';
  const out = await runGraph(
    'top_k',
    ['top_k', type, n],
    () => ({
      opset: OPSET,
      inputs: [
        { name: 'values', type, shape: [n] },
        { name: 'K', type: 'int64', shape: [1] },
      ],
      outputs: [
        { name: 'top', type },
        { name: 'indices', type: 'int64' },
      ],
      nodes: [{ op: 'TopK', inputs: ['values', 'K'], outputs: ['top', 'indices'], attrs: { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) } }],
    }),
    { values: ortTensor(type, type === 'float64' ? (v.data as Float64Array) : f32(v), [n]), K: int64s([Math.min(k, n)]) },
  );
  const idx = out.indices;
  return { indices: tensor('int32', idx.dims, int32Of(idx)) };
};

// ------------------------------------------------------------------------------------ the rest

const notExpressible =
  (why: string): Handler =>
  () => {
    throw unsupported(why);
  };

const handlers: Record<string, Handler> = {
  roi_pool: roiPool,
  roi_align: roiAlign,
  nms,
  linear,
  linear_backward: linearBackward,
  relu,
  relu_backward: reluBackward,
  softmax,
  softmax_loss: softmaxLoss,
  smooth_l1_loss: smoothL1Loss,
  dropout: dropoutWith('dropout', 'x', 'y'),
  dropout_backward: dropoutWith('dropout_backward', 'dy', 'dx'),
  top_k: topK,
  roi_pool_backward: notExpressible('roi_pool_backward: not expressible with ONNX Runtime (MaxRoiPool has no argmax output and inference ONNX has no gradient op)'),
  roi_align_backward: notExpressible('roi_align_backward: not expressible with ONNX Runtime (inference ONNX has no RoiAlign gradient)'),
  sgd_update: notExpressible('sgd_update: not expressible with ONNX Runtime (inference ONNX has no optimizer op)'),
  crop_and_resize: notExpressible('crop_and_resize: not expressible with ONNX Runtime (TF crop_and_resize is not an ONNX op)'),
  ohem_roi_loss: notExpressible('ohem_roi_loss: not expressible with ONNX Runtime (ONNX has no OHEM op)'),
  ohem_select: notExpressible('ohem_select: not expressible with ONNX Runtime (ONNX has no OHEM op)'),
  ohem_step: notExpressible('ohem_step: not expressible with ONNX Runtime (ONNX has no OHEM op)'),
};

const SUPPORTED = ['roi_pool', 'roi_align', 'nms', 'linear', 'linear_backward', 'relu', 'relu_backward', 'softmax', 'softmax_loss', 'smooth_l1_loss', 'dropout', 'dropout_backward', 'top_k'];

/**
 * Per op, the values of every closed-set attr that ONNX Runtime can express (protocol 1.1,
 * amendment 7), and, where the port cannot produce every output, the outputs it returns (the
 * team's `outputs` extension).
 */
const CAPABILITIES = {
  roi_pool: { outputs: ['top'] },
  roi_align: { dialect: ['onnxruntime'], pool_mode: ['avg', 'max'], aligned: [false, true] },
  nms: { box_convention: ['continuous'], suppress: ['gt'], ties: ['index_asc'], precision: ['float32'] },
  softmax_loss: { normalization: ['valid', 'batch_size', 'full', 'none'], outputs: ['loss', 'prob'] },
  top_k: { ties: ['index_asc'] },
} as const;

const OPS_USED: Readonly<Record<string, string>> = {
  roi_pool: 'MaxRoiPool-1',
  roi_align: `RoiAlign-10 (aligned false${ROI_ALIGN_LEGACY_OPSET === 16 ? ': RoiAlign-16 output_half_pixel' : ''}), RoiAlign-16 half_pixel (aligned true)`,
  nms: 'NonMaxSuppression-11',
  linear: 'Gemm-13',
  linear_backward: 'Gemm-13 ×2, ReduceSum-13',
  relu: 'Relu-14',
  relu_backward: 'Greater-13, Where-16',
  softmax: 'Softmax-13',
  softmax_loss: 'Softmax-13, SoftmaxCrossEntropyLoss-13 (+ Div-14)',
  smooth_l1_loss: 'Sub, Mul, Div, Abs, Less, Where, Sign, ReduceSum (opset 17)',
  dropout: 'Mul-14 ×2',
  dropout_backward: 'Mul-14 ×2',
  top_k: 'TopK-11',
};

const info = {
  name: 'ohem-ref-onnxruntime-port',
  version: '0.1.0',
  onnxruntime: ORT_VERSION,
  ops: SUPPORTED,
  capabilities: CAPABILITIES,
  onnx_ops: OPS_USED,
  limits: {
    max_output_bytes: MAX_OUTPUT_BYTES,
    roi_align_samples: MAX_ROI_ALIGN_SAMPLES,
    roi_align_samples_per_roi: MAX_ROI_ALIGN_TABLE,
    roi_pool_cells: MAX_ROI_POOL_CELLS,
    nms_boxes: MAX_NMS_BOXES,
  },
};

servePort(info, handlers);
