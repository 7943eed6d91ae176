/**
 * Differential requests for `roi_pool` and `roi_pool_backward` (SPEC §5.1–§5.3; PROTOCOL.md's
 * roi_pool rows), and the case generators the property tests (properties/roiPool.test.ts) share.
 *
 * Biased toward the places where a port goes wrong:
 * - spatial_scale 1/16 most often, else 1, 0.5 or 0.25 (all powers of two, so a coordinate
 *   (k + 0.5)/s scales exactly to k + 0.5): coordinates on a cell, exactly at ±x.5 after
 *   scaling (C round goes away from zero: −0.5 → −1, where JS Math.round gives −0), one float32
 *   ulp either side of such a tie, or anywhere;
 * - RoIs 57 cells high or wide (the float32 overshoot of pitfall 16 at pooled 7), on maps with
 *   58–64 rows or columns so that the overshoot row or column is on the map;
 * - RoIs partly or wholly off the map (negative coordinates, beyond W or H), hence empty bins;
 * - malformed RoIs (x2 < x1 or y2 < y1 after rounding), forced to one cell;
 * - small-integer features (ties: the first maximum in row-major order must win);
 * - batch indices with a fraction (truncation; −0.5 truncates to image 0);
 * - pooled sizes 1–7, 7×7 most often; now and then rois or features as float64 (rounded to
 *   float32 by both sides), with double jitter below half a float32 ulp;
 * - for the backward: argmax from a legal forward, arbitrary values in [−1, H·W) (the caffe
 *   filter must reject what no forward would produce), or a mix; both modes.
 * Attrs equal to their defaults are sometimes omitted, so the defaults are exercised too.
 */
import fc from 'fast-check';
import { enumArb } from './attrs.js';
import * as E from 'fp-ts/lib/Either.js';
import { tensor, type Tensor } from '../../core/index.js';
import { roiPool } from '../../ops/roiPool.js';

type JT = { dtype: 'float32' | 'float64' | 'int32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const fr = Math.fround;
const noNegZero = (v: number): number => (Object.is(v, -0) ? 0 : v);
const FLT_MAX = 3.4028234663852886e38;

/** `x` (a finite float32) moved by one float32 ulp up (k = 1) or down (k = −1). */
const nudge32 = (x: number, k: 1 | -1): number => {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (f[0] === 0) return k * 2 ** -149;
  i[0] += (f[0] > 0) === (k > 0) ? 1 : -1;
  return f[0];
};

// ------------------------------------------------------------------------------------ forward

export interface PoolCase {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  /** N·C·H·W values, float32-representable. */
  readonly features: number[];
  readonly R: number;
  /** R×5 rows (batch, x1, y1, x2, y2), float32-representable. */
  readonly rois: number[];
  readonly pooled_h: number;
  readonly pooled_w: number;
  readonly spatial_scale: number;
  /** Send these as float64 (values nudged by less than half a float32 ulp: same float32s). */
  readonly roisFloat64: boolean;
  readonly featuresFloat64: boolean;
  /** Leave attrs at their defaults out of the request. */
  readonly omitDefaults: boolean;
}

export interface CaseOptions {
  /** Features may hold NaN, ±∞, ±FLT_MAX and −0 (property tests; the wire requests stay finite). */
  readonly specials?: boolean;
}

const mapDims = fc.oneof(
  { weight: 6, arbitrary: fc.record({ N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 20 }), W: fc.integer({ min: 1, max: 20 }) }) },
  // Tall or wide enough for a 57-cell RoI and the row or column after it.
  { weight: 1, arbitrary: fc.record({ N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 58, max: 64 }), W: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 8 }), W: fc.integer({ min: 58, max: 64 }) }) },
);

const scaleArb = fc.oneof({ weight: 3, arbitrary: fc.constant(0.0625) }, { weight: 2, arbitrary: fc.constantFrom(1, 0.5, 0.25) });

const pooledArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant<[number, number]>([7, 7]) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(7), fc.integer({ min: 1, max: 7 })) },
);

/** One image coordinate along an axis of `size` cells at scale `s` (a power of two). */
const coordArb = (size: number, s: number): fc.Arbitrary<number> =>
  fc.oneof(
    // on a cell, from a few cells before the map to a few after
    { weight: 3, arbitrary: fc.integer({ min: -4, max: size + 4 }).map((k) => fr(k / s)) },
    // exactly k + 0.5 after scaling, negative k included (−0.5, −1.5 … round away from zero)
    { weight: 3, arbitrary: fc.integer({ min: -4, max: size + 3 }).map((k) => fr((k + 0.5) / s)) },
    // one float32 ulp either side of such a tie
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: -4, max: size + 3 }), fc.constantFrom<1 | -1>(1, -1)).map(([k, d]) => nudge32(fr((k + 0.5) / s), d)) },
    // anywhere
    { weight: 2, arbitrary: fc.float({ min: fr(-5 / s), max: fr((size + 5) / s), noNaN: true, noDefaultInfinity: true }).map(noNegZero) },
  );

/** (x1, x2) or (y1, y2) along one axis. */
const spanArb = (size: number, s: number): fc.Arbitrary<[number, number]> =>
  fc.oneof(
    // an ordinary span (ends sorted)
    { weight: 6, arbitrary: fc.tuple(coordArb(size, s), coordArb(size, s)).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])) },
    // malformed: end before start (unless both round to the same cell)
    { weight: 1, arbitrary: fc.tuple(coordArb(size, s), coordArb(size, s)).map(([a, b]): [number, number] => (a >= b ? [a, b] : [b, a])) },
    // 57 cells: start on a cell or at a tie, end 56 cells further (pitfall 16)
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: -2, max: Math.max(size - 57, 0) + 2 }), fc.constantFrom(0, 0, 0.5))
        .map(([k, half]): [number, number] => [fr((k + half) / s), fr((k + half + 56) / s)]),
    },
  );

/** A batch index: an image, sometimes with a fraction that truncation drops (−0.5 → 0). */
const batchArb = (N: number): fc.Arbitrary<number> =>
  fc
    .tuple(fc.integer({ min: 0, max: N - 1 }), fc.constantFrom(0, 0, 0, 0, 0.25, 0.5, 0.999, -0.5))
    .map(([b, frac]) => fr(b === 0 || frac >= 0 ? b + frac : b));

const roiArb = (N: number, H: number, W: number, s: number): fc.Arbitrary<number[]> =>
  fc.tuple(batchArb(N), spanArb(W, s), spanArb(H, s)).map(([b, [x1, x2], [y1, y2]]) => [b, x1, y1, x2, y2]);

const featureValues = (n: number, opts: CaseOptions): fc.Arbitrary<number[]> => {
  const floats = fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }).map(noNegZero);
  const ties = fc.integer({ min: -3, max: 3 });
  const specials = fc.constantFrom(NaN, Infinity, -Infinity, FLT_MAX, -FLT_MAX, -0);
  const value = opts.specials
    ? fc.oneof({ weight: 8, arbitrary: floats }, { weight: 3, arbitrary: ties }, { weight: 1, arbitrary: specials })
    : fc.oneof({ weight: 3, arbitrary: floats }, { weight: 1, arbitrary: ties });
  return fc.oneof(
    { weight: 2, arbitrary: fc.array(value, { minLength: n, maxLength: n }) },
    // all small integers: many exact ties in every bin
    { weight: 1, arbitrary: fc.array(ties, { minLength: n, maxLength: n }) },
  );
};

/** A legal roi_pool case. */
export const poolCases = (opts: CaseOptions = {}): fc.Arbitrary<PoolCase> =>
  fc
    .tuple(mapDims, scaleArb, pooledArb, fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 12, arbitrary: fc.integer({ min: 1, max: 6 }) }))
    .chain(([{ N, C, H, W }, s, [ph, pw], R]) =>
      fc
        .record({
          features: featureValues(N * C * H * W, opts),
          rois: fc.array(roiArb(N, H, W, s), { minLength: R, maxLength: R }),
          roisFloat64: fc.integer({ min: 0, max: 5 }).map((k) => k === 0),
          featuresFloat64: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
          omitDefaults: fc.boolean(),
        })
        .map((x) => ({
          N,
          C,
          H,
          W,
          R,
          features: x.features,
          rois: x.rois.flat(),
          pooled_h: ph,
          pooled_w: pw,
          spatial_scale: s,
          roisFloat64: x.roisFloat64,
          featuresFloat64: x.featuresFloat64 && !opts.specials,
          omitDefaults: x.omitDefaults,
        })),
    );

/** The tensors of a case, as the ops take them (float32, as both sides compute). */
export const poolTensors = (c: PoolCase): { features: Tensor<'float32'>; rois: Tensor<'float32'> } => ({
  features: must(tensor('float32', [c.N, c.C, c.H, c.W], c.features)),
  rois: must(tensor('float32', [c.R, 5], c.rois)),
});

const must = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) throw new Error(`arbitrary built an illegal case: ${r.left.message}`);
  return r.right;
};

// ------------------------------------------------------------------------------------ backward

export interface BackwardCase extends PoolCase {
  /** R·C·PH·PW values in [−1, H·W). */
  readonly argmax: number[];
  readonly top_grad: number[];
  readonly mode: 'caffe' | 'scatter';
  /** How argmax was made: by a legal forward, arbitrarily, or a forward's with some entries replaced. */
  readonly argmaxFrom: 'forward' | 'arbitrary' | 'mixed';
}

/** A legal roi_pool_backward case; `mode` fixes the mode, else both are drawn. */
export const backwardCases = (opts: CaseOptions & { mode?: 'caffe' | 'scatter' } = {}): fc.Arbitrary<BackwardCase> =>
  poolCases({}).chain((c) => {
    const bins = c.R * c.C * c.pooled_h * c.pooled_w;
    const cell = fc.integer({ min: -1, max: c.H * c.W - 1 });
    const grads = fc.oneof(
      { weight: 3, arbitrary: fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }).map(noNegZero) },
      // small integers: sums are exact, so conservation can be checked with no tolerance
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
      ...(opts.specials ? [{ weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 1e30) }] : []),
    );
    return fc
      .record({
        argmaxFrom: fc.constantFrom<BackwardCase['argmaxFrom']>('forward', 'forward', 'forward', 'arbitrary', 'mixed', 'mixed'),
        randomCells: fc.array(cell, { minLength: bins, maxLength: bins }),
        replace: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: bins, maxLength: bins }),
        top_grad: fc.array(grads, { minLength: bins, maxLength: bins }),
        mode: opts.mode ? fc.constant(opts.mode) : enumArb<'caffe' | 'scatter'>('roi_pool_backward', 'mode'),
      })
      .map((x) => {
        const forward = forwardArgmax(c);
        const argmax =
          x.argmaxFrom === 'forward' ? forward
          : x.argmaxFrom === 'arbitrary' ? x.randomCells
          : forward.map((a, i) => (x.replace[i] === 0 ? x.randomCells[i] : a));
        return { ...c, argmax, top_grad: x.top_grad, mode: x.mode, argmaxFrom: x.argmaxFrom };
      });
  });

/** The argmax a legal forward gives (our roiPool; the oracle recomputes everything from the request). */
const forwardArgmax = (c: PoolCase): number[] => {
  const r = roiPool(poolTensors(c), { pooled_h: c.pooled_h, pooled_w: c.pooled_w, spatial_scale: c.spatial_scale });
  return Array.from(must(r).argmax.data);
};

export const backwardTensors = (c: BackwardCase): { rois: Tensor<'float32'>; argmax: Tensor<'int32'>; top_grad: Tensor<'float32'> } => {
  const shape = [c.R, c.C, c.pooled_h, c.pooled_w];
  return {
    rois: must(tensor('float32', [c.R, 5], c.rois)),
    argmax: must(tensor('int32', shape, c.argmax)),
    top_grad: must(tensor('float32', shape, c.top_grad)),
  };
};

// ------------------------------------------------------------------------------------ requests

/** A float64 value that rounds to the float32 `v` (double jitter below half a float32 ulp). */
const jitter64 = (v: number, i: number): number => (i % 2 === 0 ? v : v === 0 ? 1e-50 : v + v * 2 ** -26);

const floats = (shape: number[], data: number[], float64: boolean): JT =>
  float64 ? { dtype: 'float64', shape, data: data.map((v, i) => noNegZero(jitter64(v, i))) } : { dtype: 'float32', shape, data: data.map(noNegZero) };

const poolAttrs = (c: PoolCase): Record<string, unknown> => {
  const a: Record<string, unknown> = {};
  if (!(c.omitDefaults && c.pooled_h === 7)) a.pooled_h = c.pooled_h;
  if (!(c.omitDefaults && c.pooled_w === 7)) a.pooled_w = c.pooled_w;
  if (!(c.omitDefaults && c.spatial_scale === 0.0625)) a.spatial_scale = c.spatial_scale;
  return a;
};

export const requests: Record<string, fc.Arbitrary<Req>> = {
  roi_pool: poolCases().map((c) => ({
    op: 'roi_pool',
    attrs: poolAttrs(c),
    inputs: {
      features: floats([c.N, c.C, c.H, c.W], c.features, c.featuresFloat64),
      rois: floats([c.R, 5], c.rois, c.roisFloat64),
    },
  })),
  roi_pool_backward: backwardCases().map((c) => {
    const shape = [c.R, c.C, c.pooled_h, c.pooled_w];
    const attrs = { ...poolAttrs(c), features_shape: [c.N, c.C, c.H, c.W] } as Record<string, unknown>;
    if (!(c.omitDefaults && c.mode === 'caffe')) attrs.mode = c.mode;
    return {
      op: 'roi_pool_backward',
      attrs,
      inputs: {
        rois: floats([c.R, 5], c.rois, c.roisFloat64),
        argmax: { dtype: 'int32', shape, data: c.argmax },
        top_grad: floats(shape, c.top_grad, false),
      },
    };
  }),
};
