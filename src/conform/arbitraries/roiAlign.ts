/**
 * Differential requests for the RoIAlign family (SPEC §13; docs/semantics.md "RoIAlign"):
 * `roi_align` and `roi_align_backward` in every (dialect, pool_mode, aligned) that exists, and
 * `crop_and_resize` in both precisions.
 *
 * Biased toward where the libraries part ways and where float32 decides discrete things:
 * - RoIs off the map, smaller than a cell, malformed (x2 < x1), on cell borders (coordinates
 *   whose scaled value is an integer or a half: samples land exactly on cells, on −1 and on H);
 * - sampling ratios −1…3 (≤ 0 adaptive: gh = ceil(fl32(bin)), E6's discrete flip) and scales
 *   1/16…8 (0.1, 1/3, 0.3 are not float32-exact: the product, then the offset, then the extent);
 * - maps from 1×1 up, including non-finite values at v[b, c, 0, 0] (an out-of-range sample adds
 *   0·v[b, c, 0, 0]) for roi_align;
 * - crop boxes flipped, degenerate, partly or wholly off the map, crop sizes 1 (the centre rule).
 * Every request is legal: a RoI a dialect refuses (SPEC §13.1's error cases) is drawn again.
 * Every output is compared bit for bit: both sides do the same float32 operations in the order
 * §13.2 and §13.3 write (TF C++ and tfjs in crop_and_resize's two precisions).
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { tensor } from '../../core/index.js';
import { roiAlign, roiAlignRoiProblem, alignParams, type RoiAlignAttrs, type RoiAlignDialect, type RoiAlignMode } from '../../ops/index.js';
import { enumArb } from './attrs.js';

type JT = { dtype: 'float32' | 'int32'; shape: number[]; data: (number | string)[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const fr = Math.fround;
const SCALES = [1 / 16, 0.1, 0.25, 0.3, 1 / 3, 0.5, 1, 2, 8].map(fr);

/** A (dialect, pool_mode, aligned) of roi_align; the backward exists for the first two dialects only. */
export interface AlignCombo {
  readonly dialect: RoiAlignDialect;
  readonly pool_mode: RoiAlignMode;
  readonly aligned: boolean;
}
const combos = (pairs: readonly [RoiAlignDialect, RoiAlignMode][]): readonly AlignCombo[] =>
  pairs.flatMap(([dialect, pool_mode]) => [false, true].map((aligned) => ({ dialect, pool_mode, aligned })));
/** Every forward that exists (torchvision has no max). */
export const ALIGN_COMBOS = combos([
  ['torchvision', 'avg'],
  ['mmcv', 'avg'],
  ['mmcv', 'max'],
  ['onnxruntime', 'avg'],
  ['onnxruntime', 'max'],
]);
/** Every backward that exists (onnxruntime has none). */
export const ALIGN_BACKWARD_COMBOS = combos([
  ['torchvision', 'avg'],
  ['mmcv', 'avg'],
  ['mmcv', 'max'],
]);
export const comboKey = (c: AlignCombo): string => `${c.dialect}/${c.pool_mode}/${c.aligned ? 'aligned' : 'legacy'}`;

interface AlignCase {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly features: number[];
  readonly rois: number[];
  readonly attrs: RoiAlignAttrs;
}

const featureVal = fc.oneof({ weight: 6, arbitrary: fc.float({ min: fr(-4), max: fr(4), noNaN: true, noDefaultInfinity: true }) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) });

/** One coordinate in image space: a map position (cells, halves, off the map) divided by the scale. */
const coord = (size: number, scale: number): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.double({ min: -1.5, max: size + 1.5, noNaN: true }) },
    // on a cell border or centre: the scaled value is an integer or a half
    { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 * size + 2 }).map((k) => k / 2) },
    // near −1 and H: where the range test is decided in float32
    { weight: 1, arbitrary: fc.constantFrom(-1, -1.0000001, -0.9999999, size, size + 1e-7, size - 1e-7) },
  ).map((m) => fr(m / scale));

/** A RoI: two x and two y coordinates, sometimes tiny (inside one cell), sometimes swapped (malformed). */
const roiArb = (N: number, H: number, W: number, scale: number): fc.Arbitrary<number[]> =>
  fc
    .tuple(fc.integer({ min: 0, max: N - 1 }), coord(W, scale), coord(H, scale), coord(W, scale), coord(H, scale), fc.constantFrom('plain', 'plain', 'tiny', 'swap'))
    .map(([b, xa, ya, xb, yb, kind]) => {
      if (kind === 'tiny') return [b, xa, ya, fr(xa + fr(0.3 / scale)), fr(ya + fr(0.2 / scale))];
      const [x1, x2] = xa <= xb ? [xa, xb] : [xb, xa];
      const [y1, y2] = ya <= yb ? [ya, yb] : [yb, ya];
      return kind === 'swap' ? [b, x2, y1, x1, y2] : [b, x1, y1, x2, y2];
    });

const caseArb = (combo: AlignCombo): fc.Arbitrary<AlignCase> =>
  fc
    .record({
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 2 }),
      H: fc.integer({ min: 1, max: 7 }),
      W: fc.integer({ min: 1, max: 7 }),
      PH: fc.integer({ min: 1, max: 3 }),
      PW: fc.integer({ min: 1, max: 3 }),
      scale: fc.constantFrom(...SCALES),
      sr: combo.dialect === 'onnxruntime' ? fc.integer({ min: 0, max: 3 }) : fc.integer({ min: -1, max: 3 }),
      maxInit: fc.constantFrom(-10000, -3.4028234663852886e38, -1),
      R: fc.integer({ min: 1, max: 4 }),
      poison: fc.constantFrom(0, 0, 0, 0, 0, NaN, Infinity),
    })
    .chain((d) =>
      fc.tuple(fc.array(featureVal, { minLength: d.N * d.C * d.H * d.W, maxLength: d.N * d.C * d.H * d.W }), fc.array(roiArb(d.N, d.H, d.W, d.scale), { minLength: d.R, maxLength: d.R })).map(
        ([features, rois]): AlignCase => {
          const f = features.map((v) => (Object.is(v, -0) ? 0 : fr(v)));
          if (d.poison !== 0) f[0] = d.poison; // an out-of-range sample then adds 0·v[b, c, 0, 0] = NaN
          return {
            N: d.N,
            C: d.C,
            H: d.H,
            W: d.W,
            features: f,
            rois: rois.flat(),
            attrs: {
              pooled_h: d.PH,
              pooled_w: d.PW,
              spatial_scale: d.scale,
              sampling_ratio: d.sr,
              aligned: combo.aligned,
              pool_mode: combo.pool_mode,
              dialect: combo.dialect,
              max_init: d.maxInit,
            },
          };
        },
      ),
    )
    // Legal requests only: every RoI one the dialect computes (SPEC §13.1's error cases are drawn again).
    .filter((c) => {
      const p = alignParams(c.attrs);
      const rois = Float32Array.from(c.rois);
      for (let r = 0; r < c.rois.length / 5; r++) if (roiAlignRoiProblem(p, rois, r, c.N) !== null) return false;
      return true;
    });

const wire = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
const t32 = (shape: number[], data: readonly number[]): JT => ({ dtype: 'float32', shape, data: data.map(wire) });

/** The attrs of a case, the defaults sometimes left implicit. */
const attrsOf = (c: AlignCase, omit: boolean): Record<string, unknown> => {
  const a: Record<string, unknown> = { ...c.attrs };
  if (omit) {
    if (a.sampling_ratio === 0) delete a.sampling_ratio;
    if (a.aligned === false) delete a.aligned;
    if (a.pool_mode === 'avg') delete a.pool_mode;
    if (a.dialect === 'torchvision') delete a.dialect;
  }
  if (!(a.dialect === 'mmcv' && a.pool_mode === 'max')) delete a.max_init; // read by mmcv max only; the default elsewhere
  return a;
};

/** roi_align requests of one combo. */
export const alignRequests = (combo: AlignCombo): fc.Arbitrary<Req> =>
  fc.tuple(caseArb(combo), fc.boolean()).map(([c, omit]) => ({
    op: 'roi_align',
    attrs: attrsOf(c, omit),
    inputs: { features: t32([c.N, c.C, c.H, c.W], c.features), rois: t32([c.rois.length / 5, 5], c.rois) },
  }));

/**
 * roi_align_backward requests of one combo: a top gradient of float32 values, and for mmcv max
 * the forward's own argmax (computed by the reference's forward: it is an input, whose values the
 * two sides then use identically) or, sometimes, arbitrary argmax coordinates (−1 marks no winner).
 */
export const alignBackwardRequests = (combo: AlignCombo): fc.Arbitrary<Req> =>
  fc
    .tuple(caseArb({ ...combo }).filter((c) => c.features.every(Number.isFinite)), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 0x7fffffff }))
    .map(([c, omit, ownArgmax, seed]) => {
      const R = c.rois.length / 5;
      const n = R * c.C * c.attrs.pooled_h * c.attrs.pooled_w;
      const shape = [R, c.C, c.attrs.pooled_h, c.attrs.pooled_w];
      let s = seed;
      const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const topGrad = Array.from({ length: n }, () => fr(next() * 4 - 2));
      const inputs: Record<string, JT> = { rois: t32([R, 5], c.rois), top_grad: t32(shape, topGrad) };
      if (c.attrs.dialect === 'mmcv' && c.attrs.pool_mode === 'max') {
        let ay: number[];
        let ax: number[];
        const f = E.chain((features: Parameters<typeof roiAlign>[0]['features']) =>
          E.chain((rois: Parameters<typeof roiAlign>[0]['rois']) => roiAlign({ features, rois }, c.attrs))(tensor('float32', [R, 5], c.rois)),
        )(tensor('float32', [c.N, c.C, c.H, c.W], c.features));
        if (ownArgmax && E.isRight(f) && f.right.argmax_y && f.right.argmax_x) {
          ay = Array.from(f.right.argmax_y.data);
          ax = Array.from(f.right.argmax_x.data);
        } else {
          const pick = () => (next() < 0.2 ? -1 : fr(next() * (c.H + 2) - 1.5));
          ay = Array.from({ length: n }, pick);
          ax = ay.map((y) => (y === -1 ? -1 : fr(next() * (c.W + 2) - 1.5)));
        }
        inputs.argmax_y = t32(shape, ay);
        inputs.argmax_x = t32(shape, ax);
      }
      return { op: 'roi_align_backward', attrs: { ...attrsOf(c, omit), features_shape: [c.N, c.C, c.H, c.W] }, inputs };
    });

/** crop_and_resize requests: boxes in and around [0, 1], flipped and degenerate ones, crop sizes 1–5. */
export const cropRequests: fc.Arbitrary<Req> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: 7 }),
    W: fc.integer({ min: 1, max: 7 }),
    R: fc.integer({ min: 1, max: 4 }),
    crop_h: fc.integer({ min: 1, max: 5 }),
    crop_w: fc.integer({ min: 1, max: 5 }),
    method: enumArb<'bilinear' | 'nearest'>('crop_and_resize', 'method'),
    extrapolation_value: fc.constantFrom(0, -1, 2.5),
    precision: enumArb<'float32' | 'float64'>('crop_and_resize', 'precision'),
    maxpool: fc.constantFrom(0, 0, 2),
    omit: fc.boolean(),
  })
  .chain((d) =>
    fc
      .tuple(
        fc.array(featureVal, { minLength: d.N * d.C * d.H * d.W, maxLength: d.N * d.C * d.H * d.W }),
        fc.array(
          fc.oneof(
            { weight: 3, arbitrary: fc.double({ min: -0.3, max: 1.3, noNaN: true }) },
            { weight: 2, arbitrary: fc.integer({ min: -2, max: 10 }).map((k) => k / 8) },
          ),
          { minLength: 4 * d.R, maxLength: 4 * d.R },
        ),
        fc.array(fc.integer({ min: 0, max: d.N - 1 }), { minLength: d.R, maxLength: d.R }),
      )
      .map(([features, boxes, boxInd]) => {
        const attrs: Record<string, unknown> = { crop_h: d.crop_h, crop_w: d.crop_w, method: d.method, extrapolation_value: d.extrapolation_value, precision: d.precision, maxpool: d.maxpool };
        if (d.omit) for (const [k, v] of Object.entries({ method: 'bilinear', extrapolation_value: 0, precision: 'float32', maxpool: 0 })) if (attrs[k] === v) delete attrs[k];
        return {
          op: 'crop_and_resize',
          attrs,
          inputs: {
            features: t32([d.N, d.C, d.H, d.W], features.map((v) => (Object.is(v, -0) ? 0 : fr(v)))),
            boxes: t32([d.R, 4], boxes.map(fr)),
            box_ind: { dtype: 'int32' as const, shape: [d.R], data: boxInd },
          },
        };
      }),
  );

export const requests: Record<string, fc.Arbitrary<Req>> = {
  roi_align: fc.oneof(...ALIGN_COMBOS.map(alignRequests)),
  roi_align_backward: fc.oneof(...ALIGN_BACKWARD_COMBOS.map(alignBackwardRequests)),
  crop_and_resize: cropRequests,
};
