/**
 * Differential requests for the mining stage: `ohem_roi_loss` (SPEC §1, docs/mining.md §1) and
 * `ohem_select` in each of its four dialects (SPEC §2, DIALECTS.md §1a–§1c, docs/mining.md §2),
 * and the case generators the property tests (properties/hardness.test.ts,
 * properties/select.test.ts) share.
 *
 * Biased toward the places where a port goes wrong:
 * - `ohem_roi_loss`: the label's probability exactly 0, exactly 1, exactly ε = 2⁻⁵² (keeps the
 *   float32 branch), one float32 ulp either side of ε, tiny (1e-30, the smallest denormal),
 *   1 − 2⁻²⁴; background (label 0) RoIs that carry non-zero regression data (must give bbox 0);
 *   smooth-L1 arguments exactly at the kink (|x| = 1: both branches give 0.5, so a port may take
 *   either and still agree — the output is continuous there), just inside (0.999), beyond (2);
 *   inside weights 2, 0.5, −1 (applied before the smooth-L1), outside weights that are non-zero
 *   where the inside weight is 0 (must contribute nothing); the eps attr omitted (default 2⁻⁵²),
 *   given explicitly, or coarser (1e-10, 1e-3: more RoIs clamped, more exact ties); both the
 *   realistic Fast R-CNN layout (weights 1 on the 4 slots of the RoI's class) and arbitrary ones.
 * - `ohem_select`: several images (batch index 0, 1, 2, sent as floats; rarely 0.5 or 1.5, which
 *   caffe-ohem groups by value and the other dialects truncate) and labels (0 = background
 *   most often, and labels 2 and 10 together, which a lexicographic sort would misorder);
 *   clusters of near-duplicate boxes (pixel and float32-ulp jitter, exact copies) so NMS bites;
 *   box pairs whose IoU is exactly fl32(0.7) or 0.5 under the request's box convention (kept by
 *   `gt`; 0.5 suppressed by `ge`); identical boxes in different (image, label) groups (never
 *   suppress each other in caffe-ohem, class-agnostic suppression in tf); scaled boxes
 *   fl32(box·scale); losses with exact ties (0, the clamped 36.04365338911715, 1, ln 2) and
 *   float64 losses that tie once rounded to float32 (b·(1 + k·2⁻³⁰)) — legal, since both sides
 *   break ties under the declared `ties` rule; all the attrs of each dialect, each sometimes
 *   omitted so the defaults are exercised.
 * All float32 data are float32-representable and finite; losses are finite and ≥ 0.
 */
import fc from 'fast-check';
import { enumArb } from './attrs.js';

type JT = { dtype: 'float32' | 'float64' | 'int32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const fr = Math.fround;
const noNegZero = (v: number): number => (Object.is(v, -0) ? 0 : v);

/** ε of the mining layer: `np.finfo(float).eps` (SPEC §1.2). */
export const EPS = 2 ** -52;
/** −ln(2⁻⁵²): the clamped hardness (SPEC §1.2, pitfall 2), a realistic exact tie. */
export const CLAMPED_LOSS = 36.04365338911715;

/** `x` (a finite float32) moved by one float32 ulp up (k = 1) or down (k = −1). */
export const nudge32 = (x: number, k: 1 | -1): number => {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (f[0] === 0) return k * 2 ** -149;
  i[0] += (f[0] > 0) === (k > 0) ? 1 : -1;
  return f[0];
};

const f32In = (lo: number, hi: number): fc.Arbitrary<number> =>
  fc.float({ min: fr(lo), max: fr(hi), noNaN: true, noDefaultInfinity: true }).map(noNegZero);

// =============================================================================== ohem_roi_loss

export interface RoiLossCase {
  readonly R: number;
  readonly K: number;
  /** R×K float32 probabilities in [0, 1]. */
  readonly probs: number[];
  readonly labels: number[];
  readonly labelsDtype: 'float32' | 'int32';
  /** The four regression inputs, R×4K each, or absent. */
  readonly bbox: { pred: number[]; tgt: number[]; win: number[]; wout: number[] } | null;
  /** The eps attr, or absent (default 2⁻⁵²). */
  readonly eps?: number;
}

/** The probability of the RoI's own label: the special values of SPEC §1.2, or anything in [0, 1]. */
const labelProb: fc.Arbitrary<number> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(0, 1, EPS, nudge32(EPS, 1), nudge32(EPS, -1), fr(1e-30), 2 ** -149, 1 - 2 ** -24, 0.5, fr(1e-8)),
  },
  { weight: 4, arbitrary: f32In(0, 1) },
  // −ln p spread over its whole range: p = e^−t, t ∈ [0, 40]
  { weight: 2, arbitrary: fc.double({ min: 0, max: 40, noNaN: true }).map((t) => fr(Math.exp(-t))) },
);

/** One RoI's row: the label's probability, the rest of the mass spread over the other classes. */
const probRow = (K: number, y: number): fc.Arbitrary<number[]> =>
  fc.tuple(labelProb, fc.array(fc.integer({ min: 0, max: 9 }), { minLength: K, maxLength: K })).map(([py, w]) => {
    w[y] = 0;
    const tot = w.reduce((a, b) => a + b, 0);
    return w.map((wk, k) => (k === y ? py : tot === 0 ? 0 : noNegZero(fr(((1 - py) * wk) / tot))));
  });

/** pred − tgt: at the smooth-L1 kink (|x| = 1), just inside, beyond, or anything. */
const bboxDiff: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, -1, fr(0.999), fr(-0.999), 2, -2, 0.5, -0.75, 1.5) },
  { weight: 2, arbitrary: f32In(-5, 5) },
);

const bboxRow = (K: number, y: number, realistic: boolean) => {
  const D = 4 * K;
  const fg = (k: number) => y > 0 && k >= 4 * y && k < 4 * y + 4;
  const win = realistic
    ? fc.constant(Array.from({ length: D }, (_, k) => (fg(k) ? 1 : 0)))
    : fc.array(fc.constantFrom(0, 0, 0, 1, 1, 0.5, 2, -1), { minLength: D, maxLength: D });
  return fc
    .tuple(
      win,
      fc.array(fc.constantFrom(0, 0, 1, 1, 0.5, 3), { minLength: D, maxLength: D }),
      fc.array(f32In(-3, 3), { minLength: D, maxLength: D }),
      fc.array(bboxDiff, { minLength: D, maxLength: D }),
      fc.boolean(),
    )
    .map(([wi, woRandom, tgt, x, outsideRealistic]) => ({
      win: wi,
      // realistic: outside = (inside > 0) (SPEC §1.1); else arbitrary ≥ 0, non-zero where inside is 0 too
      wout: realistic && outsideRealistic ? wi.map((v) => (v > 0 ? 1 : 0)) : woRandom,
      tgt,
      pred: tgt.map((t, k) => noNegZero(fr(t + x[k]))),
    }));
};

export const roiLossCases: fc.Arbitrary<RoiLossCase> = fc
  .record({
    R: fc.integer({ min: 1, max: 10 }),
    K: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 2, max: 5 }) }, { weight: 1, arbitrary: fc.constant(21) }),
    withBbox: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    realistic: fc.boolean(),
    labelsDtype: fc.constantFrom<'float32' | 'int32'>('float32', 'float32', 'int32'),
    eps: fc.option(fc.constantFrom(EPS, 1e-10, 1e-3), { nil: undefined, freq: 2 }),
  })
  .chain(({ R, K, withBbox, realistic, labelsDtype, eps }) =>
    fc
      .array(fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: K - 1 }) }), {
        minLength: R,
        maxLength: R,
      })
      .chain((labels) =>
        fc
          .tuple(
            fc.tuple(...labels.map((y) => probRow(K, y))),
            withBbox ? fc.tuple(...labels.map((y) => bboxRow(K, y, realistic))) : fc.constant(null),
          )
          .map(([rows, bb]): RoiLossCase => ({
            R,
            K,
            probs: rows.flat(),
            labels,
            labelsDtype,
            bbox: bb && {
              pred: bb.flatMap((b) => b.pred),
              tgt: bb.flatMap((b) => b.tgt),
              win: bb.flatMap((b) => b.win),
              wout: bb.flatMap((b) => b.wout),
            },
            ...(eps === undefined ? {} : { eps }),
          })),
      ),
  );

export const roiLossRequest = (c: RoiLossCase): Req => {
  const D = 4 * c.K;
  const inputs: Record<string, JT> = {
    cls_prob: { dtype: 'float32', shape: [c.R, c.K], data: c.probs },
    labels: { dtype: c.labelsDtype, shape: [c.R], data: c.labels },
  };
  if (c.bbox) {
    inputs.bbox_pred = { dtype: 'float32', shape: [c.R, D], data: c.bbox.pred };
    inputs.bbox_targets = { dtype: 'float32', shape: [c.R, D], data: c.bbox.tgt };
    inputs.bbox_inside_weights = { dtype: 'float32', shape: [c.R, D], data: c.bbox.win };
    inputs.bbox_outside_weights = { dtype: 'float32', shape: [c.R, D], data: c.bbox.wout };
  }
  return { op: 'ohem_roi_loss', attrs: c.eps === undefined ? {} : { eps: c.eps }, inputs };
};

// ================================================================================= ohem_select

export type Dialect = 'caffe-ohem' | 'mmdet-ohem' | 'tf-hard-example-miner' | 'ssd-hard-negative';
export type Box = [number, number, number, number];
type Convention = 'plus1' | 'continuous';

export interface SelectCase {
  readonly R: number;
  /** R×5 rows (batch index, x1, y1, x2, y2), float32-representable; batch indices 0, 1, 2. */
  readonly rois: number[];
  readonly labels: number[];
  readonly labelsDtype: 'float32' | 'int32';
  /** float64 hardness (caffe-ohem ranks by it), ≥ 0. */
  readonly loss: number[];
  /** float64 classification and regression parts (mmdet, tf, ssd). */
  readonly cls: number[];
  readonly bbox: number[];
}

/** An integer box (extents 0..20). */
const intBox: fc.Arbitrary<Box> = fc
  .tuple(fc.integer({ min: -5, max: 60 }), fc.integer({ min: -5, max: 60 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }))
  .map(([x, y, w, h]) => [x, y, x + w, y + h]);

/** A float32 box with fractional corners. */
const floatBox: fc.Arbitrary<Box> = fc
  .tuple(f32In(-10, 60), f32In(-10, 60), f32In(0.5, 25), f32In(0.5, 25))
  .map(([x, y, w, h]) => [x, y, fr(x + w), fr(y + h)]);

/** A box scaled into the training image, fl32(box·scale) (SPEC §2.2: NMS on scaled RoIs). */
const scaledBox: fc.Arbitrary<Box> = fc
  .tuple(intBox, fc.constantFrom(1.2, 0.8, 1.6, 600 / 375, 1000 / 333))
  .map(([b, s]) => b.map((v) => noNegZero(fr(v * s))) as Box);

const baseBox = fc.oneof({ weight: 3, arbitrary: intBox }, { weight: 2, arbitrary: floatBox }, { weight: 2, arbitrary: scaledBox });

/** A base box and copies jittered by whole pixels or float32 ulps, or exact copies. */
const nearDuplicates: fc.Arbitrary<Box[]> = fc
  .tuple(
    baseBox,
    fc.array(
      fc.tuple(
        fc.constantFrom('pixel', 'ulp', 'same'),
        fc.tuple(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 })),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([b, js]) => [
    b,
    ...js.map(
      ([kind, d]) =>
        b.map((v, c) =>
          kind === 'pixel' ? v + d[c] : kind === 'ulp' && d[c] !== 0 ? noNegZero(nudge32(v, d[c] > 0 ? 1 : -1)) : v,
        ) as Box,
    ),
  ]);

/**
 * Two nested boxes of equal width W whose IoU is exactly p/q under `conv`: heights q·m and p·m,
 * the smaller anywhere inside the larger. inter = W·p·m and union = W·q·m are small integers, so
 * every float32 step is exact and the IoU is fl32(p/q): exactly at the float32 threshold for
 * 7/10 (fl32(0.7)) and 1/2.
 */
const exactPair = (conv: Convention): fc.Arbitrary<Box[]> =>
  fc
    .tuple(
      fc.constantFrom([7, 10], [7, 10], [1, 2]),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: -5, max: 50 }),
      fc.integer({ min: -5, max: 50 }),
      fc.nat(),
      fc.boolean(),
    )
    .map(([[p, q], m, W, x, y, shiftSeed, swap]) => {
      const hA = q * m;
      const hB = p * m;
      const s = shiftSeed % (hA - hB + 1);
      const e = conv === 'plus1' ? 1 : 0; // plus1 extents are x2 − x1 + 1
      const a: Box = [x, y, x + W - e, y + hA - e];
      const b: Box = [x, y + s, x + W - e, y + s + hB - e];
      return swap ? [b, a] : [a, b];
    });

/**
 * A batch index: 0, 1, 2 (sent as floats), mostly a single image; now and then 0.5 or 1.5 —
 * legal (docs §2: truncated, ≥ 0): tf/ssd group by trunc (image 0 or 1), while caffe-ohem
 * groups by the float value itself (SPEC §2.1 `np.unique` of the float column).
 */
const imageArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.constantFrom(1, 2) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 1.5) },
);
/** A label: background most often; 2 and 10 together would expose a lexicographic sort. */
const labelArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(2, 10, 11) },
);

/**
 * A cluster of boxes with their (image, label) groups: all members in one group (so NMS bites
 * in caffe-ohem), or each member in its own random group (identical boxes across groups).
 */
const clusterArb = (conv: Convention): fc.Arbitrary<{ box: Box; img: number; label: number }[]> =>
  fc
    .tuple(
      fc.oneof(
        { weight: 2, arbitrary: baseBox.map((b) => [b]) },
        { weight: 4, arbitrary: nearDuplicates },
        { weight: 3, arbitrary: exactPair(conv) },
      ),
      fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      imageArb,
      labelArb,
      fc.array(fc.tuple(imageArb, labelArb), { minLength: 6, maxLength: 6 }),
    )
    .map(([boxes, oneGroup, img, label, others]) =>
      boxes.map((box, i) => ({
        box: box.map((v) => noNegZero(fr(v))) as Box,
        img: oneGroup ? img : others[i % others.length][0],
        label: oneGroup ? label : others[i % others.length][1],
      })),
    );

/** Hardness-like float64 values in one of several tie-prone styles. */
const valuesArb = (n: number): fc.Arbitrary<number[]> =>
  fc.oneof(
    // exact ties (the clamped loss, zero loss of p = 1, …)
    fc.array(fc.constantFrom(0, CLAMPED_LOSS, 1, 0.6931471805599453), { minLength: n, maxLength: n }),
    // distinct in float64, equal once rounded to float32 (NMS scores are fl32(loss), SPEC §2.2)
    fc.array(
      fc.tuple(fc.constantFrom(1, 3, 0.6931471805599453, CLAMPED_LOSS), fc.integer({ min: 0, max: 4 })).map(([b, k]) => b + k * b * 2 ** -30),
      { minLength: n, maxLength: n },
    ),
    // −ln p of a float32 p
    fc.array(fc.double({ min: 2 ** -52, max: 1, noNaN: true }).map((p) => noNegZero(-Math.fround(Math.log(Math.fround(p))))), {
      minLength: n,
      maxLength: n,
    }),
    // anything ≥ 0, and a mixture
    fc.array(fc.double({ min: 0, max: 40, noNaN: true }).map(noNegZero), { minLength: n, maxLength: n }),
    fc.array(
      fc.oneof(fc.constantFrom(0, CLAMPED_LOSS, 1, 1 + 2 ** -30), fc.double({ min: 0, max: 40, noNaN: true }).map(noNegZero)),
      { minLength: n, maxLength: n },
    ),
  );

const MAX_R = 24;

/** Select cases whose exact-IoU pairs are built for `conv` (the box convention the dialect's NMS uses). */
export const selectCases = (conv: Convention): fc.Arbitrary<SelectCase> =>
  fc
    .tuple(fc.array(clusterArb(conv), { minLength: 1, maxLength: 10 }), fc.boolean(), fc.constantFrom<'float32' | 'int32'>('float32', 'float32', 'int32'))
    .chain(([clusters, shuffle, labelsDtype]) => {
      const items = clusters.flat().slice(0, MAX_R);
      const R = items.length;
      const ids = Array.from({ length: R }, (_, i) => i);
      return fc
        .tuple(
          shuffle ? fc.shuffledSubarray(ids, { minLength: R, maxLength: R }) : fc.constant(ids),
          valuesArb(R),
          valuesArb(R),
          fc.oneof(fc.constant('sum' as const), fc.constant('own' as const)),
          valuesArb(R),
        )
        .map(([perm, cls, bboxRaw, lossStyle, own]): SelectCase => {
          const it = perm.map((i) => items[i]);
          // a background RoI has no regression loss (SPEC §1.3)
          const bbox = bboxRaw.map((v, i) => (it[i].label === 0 ? 0 : v));
          return {
            R,
            rois: it.flatMap((x) => [x.img, ...x.box]),
            labels: it.map((x) => x.label),
            labelsDtype,
            cls,
            bbox,
            loss: lossStyle === 'sum' ? cls.map((c, i) => c + bbox[i]) : own,
          };
        });
    });

const tiesArb = enumArb<'index_desc' | 'index_asc'>('ohem_select', 'ties');

export const caffeAttrsArb = fc.record(
  {
    batch_size: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.constantFrom(64, 128)),
    use_nms: fc.boolean(),
    nms_threshold: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(0.7, 0.5) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 0.3) },
      { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map(noNegZero) },
    ),
    box_convention: enumArb<Convention>('ohem_select', 'box_convention'),
    suppress: enumArb<'gt' | 'ge'>('ohem_select', 'suppress'),
    ties: tiesArb,
    precision: enumArb<'float32' | 'float64'>('ohem_select', 'precision'),
  },
  { requiredKeys: [] },
);

export const mmdetAttrsArb = fc.record(
  {
    num: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.constant(512)),
    pos_fraction: fc.oneof(fc.constantFrom(0.25, 0, 1, 0.5), fc.double({ min: 0, max: 1, noNaN: true }).map(noNegZero)),
    neg_pos_ub: fc.constantFrom(-1, 0, 1, 3, 0.5, 2.5),
    ties: tiesArb,
  },
  { requiredKeys: [] },
);

export const tfAttrsArb = fc.record(
  {
    loss_type: enumArb<'both' | 'cls' | 'loc'>('ohem_select', 'loss_type', { dialect: 'tf-hard-example-miner' }),
    cls_loss_weight: fc.constantFrom(0.05, 1, 0.5, 0),
    loc_loss_weight: fc.constantFrom(0.06, 1, 2, 0),
    num_hard_examples: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constant(64)),
    iou_threshold: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(0.7, 0.5) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 0.99) },
      { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map(noNegZero) },
    ),
    max_negatives_per_positive: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1, 3, 0.5, 2.5) }, { weight: 1, arbitrary: fc.constant(null) }),
    min_negatives_per_image: fc.constantFrom(0, 1, 3),
    ties: tiesArb,
  },
  { requiredKeys: [] },
);

export const ssdAttrsArb = fc.record({ neg_pos_ratio: fc.constantFrom(3, 0, 1, 0.5, 2.5, 10), ties: tiesArb }, { requiredKeys: [] });

/** Which loss inputs a dialect reads (docs/mining.md §2). */
export const neededLosses = (dialect: Dialect, attrs: Record<string, unknown>): ('loss' | 'cls_loss' | 'bbox_loss')[] => {
  switch (dialect) {
    case 'caffe-ohem':
      return ['loss'];
    case 'mmdet-ohem':
    case 'ssd-hard-negative':
      return ['cls_loss'];
    case 'tf-hard-example-miner': {
      const t = attrs.loss_type ?? 'both';
      return t === 'cls' ? ['cls_loss'] : t === 'loc' ? ['bbox_loss'] : ['cls_loss', 'bbox_loss'];
    }
  }
};

/**
 * The protocol request of a case. `loss` is always sent: docs/mining.md §2 and PROTOCOL.md list it
 * as an input of every dialect (the dialects other than caffe-ohem do not read it); `cls_loss`
 * and `bbox_loss` where the dialect reads them, and with `extras` also where it does not.
 */
export const selectRequest = (dialect: Dialect, attrs: Record<string, unknown>, c: SelectCase, extras = false): Req => {
  const losses = { loss: c.loss, cls_loss: c.cls, bbox_loss: c.bbox };
  const names = extras ? (['loss', 'cls_loss', 'bbox_loss'] as const) : [...new Set(['loss' as const, ...neededLosses(dialect, attrs)])];
  const inputs: Record<string, JT> = {
    rois: { dtype: 'float32', shape: [c.R, 5], data: c.rois },
    labels: { dtype: c.labelsDtype, shape: [c.R], data: c.labels },
  };
  for (const n of names) inputs[n] = { dtype: 'float64', shape: [c.R], data: losses[n] };
  return { op: 'ohem_select', attrs: { ...attrs, dialect }, inputs };
};

const selectArb = (dialect: Dialect, attrsArb: fc.Arbitrary<Record<string, unknown>>, conv: (a: Record<string, unknown>) => Convention) =>
  attrsArb.chain((attrs) =>
    fc
      .tuple(selectCases(conv(attrs)), fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }))
      .map(([c, extras]) => selectRequest(dialect, attrs, c, extras)),
  );

// =================================================================================== requests

export const requests: Record<string, fc.Arbitrary<Req>> = {
  ohem_roi_loss: roiLossCases.map(roiLossRequest),
  'ohem_select/caffe-ohem': selectArb('caffe-ohem', caffeAttrsArb, (a) => (a.box_convention as Convention | undefined) ?? 'plus1'),
  'ohem_select/mmdet-ohem': selectArb('mmdet-ohem', mmdetAttrsArb, () => 'plus1'),
  'ohem_select/tf-hard-example-miner': selectArb('tf-hard-example-miner', tfAttrsArb, () => 'continuous'),
  'ohem_select/ssd-hard-negative': selectArb('ssd-hard-negative', ssdAttrsArb, () => 'plus1'),
};
