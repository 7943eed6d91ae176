/**
 * Differential requests for `ohem_step` (PROTOCOL.md's ohem_step row; SPEC §1–§8; docs/mining.md
 * §3–§4): legal tiny Fast R-CNN heads (src/conform/heads.ts: N 1–2, C 1–3, maps 4–10, pooled 2×2 to
 * 3×3, spatial_scale 1 to 1/16, H6/H7 3–8, K 2–4, R 4–10 with Fast R-CNN labels, targets and
 * weights), every input by its protocol name as float32 tensors of float32-representable finite
 * values, dropout_ratio 0 (no masks) or 0.5 with the four explicit 0/1 masks, and the selection
 * attrs of the default dialect (`ohem_step`) or of one other dialect (`ohem_step/<dialect>`; the
 * `op` is always `ohem_step`, the dialect an attr).
 *
 * WHY THE FILTER. The oracle computes every float32 sum in another order (float64 then one
 * rounding, or NumPy's pairwise order), so its activations differ from ours in the last bits. Two
 * things are discontinuous in those bits and would turn last-bit noise into a different answer:
 *   1. the selection: `hard_inds` must agree exactly, which is well-defined only when the values
 *      the dialect ranks are separated (and no NMS IoU sits at the threshold);
 *   2. the backward's branch points on the train pass: ReLU at 0 and smooth-L1 at |d| = 1/σ².
 * So each generated request is run through our own `ohemStep` and the composition of the train pass
 * from the public ops (heads.ts `headForwardOps`) and KEPT ONLY IF:
 *   - every two distinct values the dialect ranks differ by more than 1e-4 relative + 1e-5 absolute
 *     (caffe-ohem: roi_loss over all RoIs; mmdet-ohem: cls_loss within the positives and within the
 *     negatives; tf: its image loss (cls·0.05 + bbox·0.06, or cls, or bbox) within each image; ssd:
 *     cls_loss within each image's negatives). The oracle's hardness differs from ours by ~1e-6 at
 *     most (see the tolerances), 10–100× less than the margin. Exactly equal values are accepted only
 *     where they are structurally exact on both sides: the bbox loss of background RoIs is 0.
 *   - no IoU of two RoIs NMS compares (caffe-ohem with use_nms: same image and label; tf: same image)
 *     lies within 1e-4 of the threshold (the IoU arithmetic is float32 on both sides; the margin also
 *     covers a port that contracts it to FMA);
 *   - every train-pass pre-activation a6, a7 has |a| > 1e-4 and every smooth-L1 argument has
 *     ||d| − 1/σ²| > 1e-4 (the oracle's values differ by ≲ 1e-6, so both sides take the same branch);
 *   - the step succeeds (a dialect that selects nothing is an invalid_input, not a legal request).
 * About 10–30% of the raw draws are rejected (mmdet-ohem the most), nearly all for exact ties
 * between RoIs that pool the same cells (jittered duplicates at stride 16, a silenced head) or at
 * the clamp 36.04; kinks reject ~1%. Generation stays ~5 ms a request.
 */
import fc from 'fast-check';
import { enumArb } from './attrs.js';
import * as E from 'fp-ts/lib/Either.js';
import { ohemStep, type StepConfig } from '../../mining/ohemStep.js';
import { boxIoU } from '../../ops/index.js';
import { PARAMS, MASKS, BATCH, type HeadSpec, headDimsArb, buildSpec, tensorsOf, headForwardOps, takeRows, paramShape, maskShape, batchShape } from './heads.js';

type JT = { dtype: 'float32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const DIMS = { maxR: 10, maxMap: 10, dupProb: 0.35 } as const;

const caffeAttrs = fc.record(
  {
    dialect: fc.constant('caffe-ohem'),
    batch_size: fc.integer({ min: 1, max: 12 }),
    use_nms: fc.boolean(),
    nms_threshold: fc.constantFrom(0.7, 0.5, 0.3),
    box_convention: enumArb('ohem_step', 'box_convention'),
    precision: enumArb('ohem_step', 'precision'),
    // the selection is unambiguous (no tie, no IoU at the threshold): these change nothing, and a port must still read them
    suppress: enumArb('ohem_step', 'suppress'),
    ties: enumArb('ohem_step', 'ties'),
  },
  { requiredKeys: ['batch_size'] },
);
const mmdetAttrs = fc.record({
  dialect: fc.constant('mmdet-ohem'),
  num: fc.integer({ min: 1, max: 12 }),
  pos_fraction: fc.constantFrom(0.25, 0.5, 1),
  neg_pos_ub: fc.constantFrom(-1, 1, 3),
  ties: enumArb('ohem_step', 'ties', { dialect: 'mmdet-ohem' }),
}, { requiredKeys: ['dialect', 'num', 'pos_fraction', 'neg_pos_ub'] });
const tfAttrs = fc.record(
  {
    dialect: fc.constant('tf-hard-example-miner'),
    loss_type: enumArb('ohem_step', 'loss_type', { dialect: 'tf-hard-example-miner' }),
    num_hard_examples: fc.integer({ min: 0, max: 10 }),
    iou_threshold: fc.constantFrom(0.7, 0.5, 0.3),
    max_negatives_per_positive: fc.constantFrom(null, 1, 3),
    min_negatives_per_image: fc.integer({ min: 0, max: 2 }),
    ties: enumArb('ohem_step', 'ties', { dialect: 'tf-hard-example-miner' }),
  },
  { requiredKeys: ['dialect'] },
);
const ssdAttrs = fc.record(
  { dialect: fc.constant('ssd-hard-negative'), neg_pos_ratio: fc.constantFrom(1, 3, 0.5), ties: enumArb('ohem_step', 'ties', { dialect: 'ssd-hard-negative' }) },
  { requiredKeys: ['dialect'] },
);

/** Attrs every request may carry besides the selection (each sometimes absent: the default). */
const lossAttrs = fc.record(
  { sigma: fc.constantFrom(1, 3), normalization: enumArb('ohem_step', 'normalization') },
  { requiredKeys: [] },
);

/**
 * An RoIAlign head (pooler roi_align) in the dialects that have a gradient, with sampling ratios
 * −1…2 (≤ 0 adaptive) and both coordinate conventions; mmcv max's argmax feeds its backward.
 */
const ALIGN_POOLERS = [
  { roi_align_dialect: 'torchvision', pool_mode: 'avg' },
  { roi_align_dialect: 'mmcv', pool_mode: 'avg' },
  { roi_align_dialect: 'mmcv', pool_mode: 'max' },
] as const;
const alignAttrs = fc.record(
  {
    pooler: fc.constant('roi_align'),
    head: fc.constantFrom(...ALIGN_POOLERS),
    sampling_ratio: fc.integer({ min: -1, max: 2 }),
    aligned: fc.boolean(),
  },
  { requiredKeys: ['pooler', 'head'] },
).map(({ head, ...rest }) => ({ ...rest, ...head }) as Record<string, unknown>);
/** The pooler of a request: RoI pooling (implicit or explicit) three times in four, RoIAlign once. */
const poolerAttrs = fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.constant({ pooler: 'roi_pool' }) }, { weight: 1, arbitrary: alignAttrs });

const t32 = (shape: number[], data: readonly number[]): JT => ({ dtype: 'float32', shape, data: data.map((v) => (Object.is(v, -0) ? 0 : v)) });

const toRequest = (s: HeadSpec, sel: Record<string, unknown>, extra: Record<string, unknown>): Req => {
  const inputs: Record<string, JT> = {};
  for (const b of BATCH) inputs[b] = t32(batchShape(s, b), s[b]);
  for (const p of PARAMS) inputs[p] = t32(paramShape(s, p), s.params[p]);
  if (s.masks) for (const m of MASKS) inputs[m] = t32(maskShape(s, m), s.masks[m]);
  // dropout_ratio is always explicit: its default (0.5) needs masks.
  const attrs: Record<string, unknown> = { pooled_h: s.PH, pooled_w: s.PW, spatial_scale: s.scale, dropout_ratio: s.ratio, ...extra, ...sel };
  // The default dialect is sometimes left implicit.
  if (attrs.dialect === 'caffe-ohem' && s.R % 2 === 0) delete attrs.dialect;
  return { op: 'ohem_step', attrs, inputs };
};

/** Every two values of `vs` equal-and-structural or separated by 1e-4 relative + 1e-5 absolute. */
const separated = (vs: readonly number[], structural: (i: number) => boolean = () => false): boolean => {
  for (let a = 0; a < vs.length; a++)
    for (let b = a + 1; b < vs.length; b++) {
      if (vs[a] === vs[b] && structural(a) && structural(b)) continue;
      if (!(Math.abs(vs[a] - vs[b]) > 1e-4 * Math.max(Math.abs(vs[a]), Math.abs(vs[b])) + 1e-5)) return false;
    }
  return true;
};

const MARGIN = 1e-4;

/** The filter described at the top: unambiguous selection, no branch point within noise. */
const unambiguous = (s: HeadSpec, sel: Record<string, unknown>, extra: Record<string, unknown>): boolean => {
  const t = tensorsOf(s);
  const cfg = { ...t.headAttrs, ...extra, ...sel } as StepConfig;
  const res = ohemStep(cfg)(t.params, t.batch, t.masks);
  if (E.isLeft(res)) return false;
  const r = res.right;
  const roi = Array.from(r.roi_loss.data);
  const cls = Array.from(r.cls_loss.data);
  const bbox = Array.from(r.bbox_loss.data);
  const idx = [...Array(s.R).keys()];
  const img = (i: number) => Math.trunc(s.rois[i * 5]);
  const fg = (i: number) => s.labels[i] > 0;
  const box = (i: number) => s.rois.slice(i * 5 + 1, i * 5 + 5);
  const iouFar = (group: number[], thr: number, plus: number) => {
    for (const a of group) for (const b of group) if (a < b && Math.abs(boxIoU(box(a), box(b), plus ? 'plus1' : 'continuous', 'float32') - thr) <= MARGIN) return false;
    return true;
  };
  const images = [...new Set(idx.map(img))];
  switch (sel.dialect) {
    case 'mmdet-ohem':
      if (!separated(idx.filter(fg).map((i) => cls[i])) || !separated(idx.filter((i) => !fg(i)).map((i) => cls[i]))) return false;
      break;
    case 'tf-hard-example-miner':
      for (const g of images) {
        const mine = idx.filter((i) => img(i) === g);
        const lt = sel.loss_type ?? 'both';
        const v = mine.map((i) => (lt === 'cls' ? cls[i] : lt === 'loc' ? bbox[i] : cls[i] * 0.05 + bbox[i] * 0.06));
        if (!separated(v, (k) => lt === 'loc' && !fg(mine[k]))) return false;
        if (!iouFar(mine, (sel.iou_threshold as number | undefined) ?? 0.7, 0)) return false;
      }
      break;
    case 'ssd-hard-negative':
      for (const g of images) if (!separated(idx.filter((i) => img(i) === g && !fg(i)).map((i) => cls[i]))) return false;
      break;
    default: {
      if (!separated(roi)) return false;
      if (sel.use_nms !== false) {
        const plus = sel.box_convention === 'continuous' ? 0 : 1;
        for (const g of new Set(idx.map((i) => s.rois[i * 5])))
          for (const c of new Set(s.labels))
            if (!iouFar(idx.filter((i) => s.rois[i * 5] === g && s.labels[i] === c), (sel.nms_threshold as number | undefined) ?? 0.7, plus)) return false;
      }
    }
  }
  // Branch points of the train pass's backward.
  const sigma = (extra.sigma as number | undefined) ?? 1;
  const kink = 1 / Math.fround(Math.fround(sigma) * Math.fround(sigma));
  // The train pass's forward of the hard RoIs, from the public ops, and its smooth-L1 arguments.
  const hard = r.hard_inds.data;
  const fwd = headForwardOps(t, takeRows(t.batch.rois, hard), t.masks && takeRows(t.masks.train_mask6, hard), t.masks && takeRows(t.masks.train_mask7, hard), extra);
  if (fwd.a6.data.some((v) => Math.abs(v) <= MARGIN) || fwd.a7.data.some((v) => Math.abs(v) <= MARGIN)) return false;
  const win = t.batch.bbox_inside_weights.data;
  const tgt = t.batch.bbox_targets.data;
  const D = 4 * s.K;
  for (let k = 0; k < fwd.bbox.size; k++) {
    const row = hard[Math.floor(k / D)];
    const o = row * D + (k % D);
    const d = Math.fround(win[o] * Math.fround(fwd.bbox.data[k] - tgt[o]));
    if (win[o] !== 0 && Math.abs(Math.abs(d) - kink) <= MARGIN) return false;
  }
  return true;
};

const requestArb = (selArb: fc.Arbitrary<Record<string, unknown>>, mixedLabels: boolean, pooler: fc.Arbitrary<Record<string, unknown>> = poolerAttrs): fc.Arbitrary<Req> =>
  fc
    .tuple(headDimsArb({ ...DIMS, mixedLabels }), selArb, lossAttrs, pooler)
    .map(([d, sel, loss, pool]) => ({ s: buildSpec(d, { ...DIMS, mixedLabels }), sel, extra: { ...loss, ...pool } }))
    .filter(({ s, sel, extra }) => unambiguous(s, sel, extra))
    .map(({ s, sel, extra }) => toRequest(s, sel, extra));

/** ohem_step on RoIAlign heads only (caffe-ohem selection): the differential test runs these apart. */
export const alignStepRequests: fc.Arbitrary<Req> = requestArb(caffeAttrs, false, alignAttrs);

export const requests: Record<string, fc.Arbitrary<Req>> = {
  'ohem_step/caffe-ohem': requestArb(caffeAttrs, false),
  'ohem_step/mmdet-ohem': requestArb(mmdetAttrs, true),
  'ohem_step/tf-hard-example-miner': requestArb(tfAttrs, true),
  'ohem_step/ssd-hard-negative': requestArb(ssdAttrs, true),
};

/**
 * The suites whose requests carry side conditions the reference cannot check (an unambiguous
 * selection, branches away from their kinks): a structural change could make a correct port
 * fail, so conform leaves them to fast-check's shrinking alone.
 */
export const unreducible: readonly string[] = Object.keys(requests);
