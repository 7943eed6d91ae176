/**
 * Differential requests for `nms` and `top_k` (SPEC §4, §2.1, §2.2; PROTOCOL.md's nms row).
 *
 * Biased toward the cases where a port goes wrong:
 * - many near-duplicate boxes (integer jitter, float32 ulp jitter, float64 jitter that vanishes
 *   once rounded to float32), so suppression chains and the order of the greedy walk matter;
 * - box pairs built so that their IoU is exactly 1/2, 1/4, 3/10 or 7/10 under the request's
 *   convention, against thresholds 0.5 and 0.25 (float32-exact: `gt` keeps, `ge` suppresses),
 *   0.3 (fl32 above the decimal) and 0.7 (fl32 below the decimal);
 * - RoIs scaled into the training image, fl32(box·scale), where float32 rounding of the
 *   extents decides IoUs;
 * - degenerate boxes (zero or negative extent: 0/0 IoUs that must never suppress);
 * - exact score ties, and float64 scores that differ only below float32 resolution, so that under
 *   precision float32 the declared tie rule decides (ties are legal: PROTOCOL.md compares under the
 *   declared `ties` rule);
 * - every combination of attrs, each attr sometimes omitted so the default is exercised.
 * `top_k` gets float64 losses (the mining layer's hardness) with clamped-loss and zero-loss ties,
 * k both below and above n.
 *
 * `nmsCases` and `topKCases` are also used by the property tests (properties/nms.test.ts,
 * properties/topK.test.ts).
 */
import fc from 'fast-check';
import { enumArb } from './attrs.js';

type JT = { dtype: 'float32' | 'float64' | 'int32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const fr = Math.fround;
const noNegZero = (v: number): number => (Object.is(v, -0) ? 0 : v);
/** The mining layer's clamped loss −log(2⁻⁵²) (SPEC §1.2, pitfall 2): a realistic exact tie. */
export const CLAMPED_LOSS = 36.04365338911715;

/** `x` moved by `k` float32 ulps (x a finite float32, result finite). */
const nudge32 = (x: number, k: number): number => {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  for (let s = 0; s < Math.abs(k); s++) {
    const up = k > 0;
    if (f[0] === 0) f[0] = up ? 2 ** -149 : -(2 ** -149);
    else i[0] += (f[0] > 0) === up ? 1 : -1;
  }
  return f[0];
};

// ------------------------------------------------------------------------------------ nms

export type BoxConvention = 'plus1' | 'continuous';
export interface NmsCase {
  /** n×4 row-major x1, y1, x2, y2 */
  readonly boxes: number[];
  readonly scores: number[];
  readonly boxesDtype: 'float32' | 'float64';
  readonly scoresDtype: 'float32' | 'float64';
  /** Only the attrs given; a missing one takes its default (PROTOCOL.md). */
  readonly attrs: {
    threshold?: number;
    box_convention?: BoxConvention;
    suppress?: 'gt' | 'ge';
    ties?: 'index_desc' | 'index_asc';
    precision?: 'float32' | 'float64';
  };
}

type Box = [number, number, number, number];

const thresholdArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0.5, 0.25) },
  { weight: 3, arbitrary: fc.constantFrom(0.7, 0.3) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 0.35, 0.6, 0.9) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map(noNegZero) },
);

const nmsAttrsArb = fc.record(
  {
    threshold: thresholdArb,
    box_convention: enumArb<BoxConvention>('nms', 'box_convention'),
    suppress: enumArb<'gt' | 'ge'>('nms', 'suppress'),
    ties: enumArb<'index_desc' | 'index_asc'>('nms', 'ties'),
    precision: enumArb<'float32' | 'float64'>('nms', 'precision'),
  },
  { requiredKeys: [] },
);

/** An integer box; extents −2..16 so a few are empty (plus1 extent 0) or inverted. */
const intBox: fc.Arbitrary<Box> = fc
  .tuple(fc.integer({ min: -5, max: 40 }), fc.integer({ min: -5, max: 40 }), fc.integer({ min: -2, max: 16 }), fc.integer({ min: -2, max: 16 }))
  .map(([x, y, w, h]) => [x, y, x + w, y + h]);

const f32In = (lo: number, hi: number) =>
  fc.float({ min: fr(lo), max: fr(hi), noNaN: true, noDefaultInfinity: true }).map(noNegZero);

/** A float32 box with fractional corners. */
const floatBox: fc.Arbitrary<Box> = fc
  .tuple(f32In(-10, 50), f32In(-10, 50), f32In(0, 20), f32In(0, 20))
  .map(([x, y, w, h]) => [x, y, fr(x + w), fr(y + h)]);

/** An image-space box scaled into the training image, fl32(box·scale) (SPEC §2.2, pitfall 27). */
const scaledBox: fc.Arbitrary<Box> = fc
  .tuple(intBox, fc.constantFrom(1.2, 0.8, 1.6, 600 / 375, 1000 / 333))
  .map(([b, s]) => b.map((v) => noNegZero(fr(v * s))) as Box);

const baseBox = fc.oneof({ weight: 3, arbitrary: intBox }, { weight: 2, arbitrary: floatBox }, { weight: 2, arbitrary: scaledBox });

/** A base box and copies of it jittered by whole pixels, float32 ulps or sub-float32 float64 noise. */
const nearDuplicates: fc.Arbitrary<Box[]> = fc
  .tuple(
    baseBox,
    fc.array(
      fc.tuple(
        fc.constantFrom('pixel', 'ulp', 'sub32', 'same'),
        fc.tuple(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 }), fc.integer({ min: -2, max: 2 })),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([b, js]) => [
    b,
    ...js.map(([kind, d]) =>
      b.map((v, c) =>
        kind === 'pixel'
          ? v + d[c]
          : kind === 'ulp'
            ? noNegZero(nudge32(v, d[c]))
            : kind === 'sub32'
              ? v + d[c] * 2 ** -30 // float64 only: gone once rounded to float32
              : v,
      ) as Box,
    ),
  ]);

/**
 * Two nested boxes whose IoU is exactly p/q under `conv`: both W wide, heights q·m and p·m, B
 * placed anywhere inside A vertically. inter = W·p·m, union = W·q·m, all small integers (or
 * half-integers), so every float32 step is exact and the IoU is fl32(p/q).
 */
const exactPair = (conv: BoxConvention): fc.Arbitrary<Box[]> =>
  fc
    .tuple(
      fc.constantFrom([1, 2], [1, 4], [3, 10], [7, 10]),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: -5, max: 30 }),
      fc.integer({ min: -5, max: 30 }),
      fc.boolean(),
      fc.nat(),
      fc.boolean(),
    )
    .map(([[p, q], m, W, x0, y0, half, shiftSeed, swap]) => {
      const x = x0 + (half ? 0.5 : 0);
      const y = y0 + (half ? 0.5 : 0);
      const hA = q * m;
      const hB = p * m;
      const s = shiftSeed % (hA - hB + 1);
      const e = conv === 'plus1' ? 1 : 0; // plus1 extents are x2 − x1 + 1
      const a: Box = [x, y, x + W - e, y + hA - e];
      const b: Box = [x, y + s, x + W - e, y + s + hB - e];
      return swap ? [b, a] : [a, b];
    });

/** A degenerate box: a point, a line, or inverted. */
const degenerate: fc.Arbitrary<Box[]> = fc
  .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), fc.constantFrom<[number, number]>([0, 0], [-1, -1], [0, 5], [-1, 4], [-3, -3], [5, -2]), fc.integer({ min: 1, max: 3 }))
  .map(([x, y, [w, h], copies]) => Array.from({ length: copies }, () => [x, y, x + w, y + h] as Box));

const clusterArb = (conv: BoxConvention): fc.Arbitrary<Box[]> =>
  fc.oneof(
    { weight: 3, arbitrary: baseBox.map((b) => [b]) },
    { weight: 4, arbitrary: nearDuplicates },
    { weight: 3, arbitrary: exactPair(conv) },
    { weight: 1, arbitrary: degenerate },
  );

/** n scores, in one of several tie-prone styles; the dtype says how they travel. */
const scoresArb = (n: number): fc.Arbitrary<{ scores: number[]; dtype: 'float32' | 'float64' }> =>
  fc.oneof(
    // exact ties from a tiny set (float32-representable or not: rounding is part of the request)
    fc.record({
      scores: fc.array(fc.constantFrom(0, 1, 2.5, CLAMPED_LOSS), { minLength: n, maxLength: n }),
      dtype: fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
    }),
    // general float32 scores (rarely tie)
    fc.record({ scores: fc.array(f32In(-5, 50), { minLength: n, maxLength: n }), dtype: fc.constant<'float32'>('float32') }),
    // float64 losses that differ only below float32 resolution: distinct in float64, tied in float32
    fc.record({
      scores: fc.array(
        fc.tuple(fc.constantFrom(1, 3, CLAMPED_LOSS), fc.integer({ min: 0, max: 4 })).map(([b, k]) => b + k * b * 2 ** -30),
        { minLength: n, maxLength: n },
      ),
      dtype: fc.constant<'float64'>('float64'),
    }),
    // general float64
    fc.record({ scores: fc.array(fc.double({ min: 0, max: 40, noNaN: true }).map(noNegZero), { minLength: n, maxLength: n }), dtype: fc.constant<'float64'>('float64') }),
  );

const MAX_N = 40;

export const nmsCases: fc.Arbitrary<NmsCase> = nmsAttrsArb.chain((attrs) =>
  fc
    .tuple(fc.array(clusterArb(attrs.box_convention ?? 'plus1'), { minLength: 0, maxLength: 14 }), fc.constantFrom<'float32' | 'float64'>('float32', 'float32', 'float64'), fc.boolean())
    .chain(([clusters, boxesDtype, shuffle]) => {
      let boxes = clusters.flat().slice(0, MAX_N);
      // Boxes of one request must be float32-representable when they travel as float32.
      boxes = boxes.map((b) => (boxesDtype === 'float32' ? (b.map((v) => noNegZero(fr(v))) as Box) : b));
      const n = boxes.length;
      const perm = shuffle ? fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }) : fc.constant(Array.from({ length: n }, (_, i) => i));
      return fc.tuple(perm, scoresArb(n)).map(([p, { scores, dtype }]): NmsCase => ({
        boxes: p.flatMap((i) => boxes[i]),
        scores: dtype === 'float32' ? scores.map((v) => noNegZero(fr(v))) : scores,
        boxesDtype,
        scoresDtype: dtype,
        attrs,
      }));
    }),
);

// ------------------------------------------------------------------------------------ top_k

export interface TopKCase {
  readonly values: number[];
  readonly dtype: 'float32' | 'float64';
  readonly k: number;
  readonly ties?: 'index_desc' | 'index_asc';
}

/** Hardness-like float64 losses: clamped and zero losses (exact ties), −log p, arbitrary doubles. */
const lossArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, CLAMPED_LOSS, 1, 0.6931471805599453) },
  { weight: 3, arbitrary: fc.double({ min: 2 ** -52, max: 1, noNaN: true }).map((p) => -Math.log(p)) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 40, noNaN: true }).map(noNegZero) },
  { weight: 1, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(noNegZero) },
);

export const topKCases: fc.Arbitrary<TopKCase> = fc
  .tuple(fc.array(lossArb, { minLength: 0, maxLength: MAX_N }), fc.constantFrom<'float32' | 'float64'>('float64', 'float64', 'float64', 'float32'))
  .chain(([vals, dtype]) => {
    const n = vals.length;
    return fc.record(
      {
        values: fc.constant(dtype === 'float32' ? vals.map((v) => noNegZero(fr(v))) : vals),
        dtype: fc.constant(dtype),
        k: fc.oneof(fc.integer({ min: 1, max: Math.max(1, n) }), fc.integer({ min: n + 1, max: n + 10 }), fc.constant(Math.max(1, n))),
        ties: enumArb<'index_desc' | 'index_asc'>('top_k', 'ties'),
      },
      { requiredKeys: ['values', 'dtype', 'k'] },
    );
  });

// ------------------------------------------------------------------------------------ requests

export const requests: Record<string, fc.Arbitrary<Req>> = {
  nms: nmsCases.map((c) => ({
    op: 'nms',
    attrs: { ...c.attrs },
    inputs: {
      boxes: { dtype: c.boxesDtype, shape: [c.scores.length, 4], data: c.boxes },
      scores: { dtype: c.scoresDtype, shape: [c.scores.length], data: c.scores },
    },
  })),
  top_k: topKCases.map((c) => ({
    op: 'top_k',
    attrs: c.ties === undefined ? { k: c.k } : { k: c.k, ties: c.ties },
    inputs: { values: { dtype: c.dtype, shape: [c.values.length], data: c.values } },
  })),
};
