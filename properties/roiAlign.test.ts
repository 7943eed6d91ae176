/**
 * The RoIAlign family (SPEC §13): roi_align forward and backward in the torchvision, mmcv and
 * onnxruntime dialects, and TF crop_and_resize.
 *
 * Everything is checked against SPEC's text, never against the kernels' own output: the worked
 * examples E1–E8 (real library outputs, §13.7), hand-derivable identities (a ramp, a constant
 * map, the ONNX identity RoI), conservation of the gradient, central finite differences of a
 * float64 model, and a literal model written below straight from §13.2/§13.3 — one output at a
 * time, every sample recomputed, no pre-computation — in float32 (fl = Math.fround) and, with
 * fl = identity, in float64.
 *
 * The kernels are reached through ONE adapter (`op`, next), shaped like the protocol op (inputs
 * and snake_case attrs in, outputs or an error out), so it can be swapped for the public op.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { tensor, type Tensor } from '../src/core/index.js';
import { cropAndResize, roiAlign, roiAlignBackward, roiAlignRoiProblem } from '../src/ops/roiAlign.js';

// ------------------------------------------------------------------ the adapter

type Dialect = 'torchvision' | 'mmcv' | 'onnxruntime';
type Mode = 'avg' | 'max';
interface AlignAttrs {
  readonly pooled_h: number;
  readonly pooled_w: number;
  readonly spatial_scale: number;
  readonly sampling_ratio: number;
  readonly aligned: boolean;
  readonly pool_mode: Mode;
  readonly dialect: Dialect;
  readonly max_init: number;
}
/** §13.1's defaults. */
const DEFAULTS: AlignAttrs = { pooled_h: 7, pooled_w: 7, spatial_scale: 0.0625, sampling_ratio: 0, aligned: false, pool_mode: 'avg', dialect: 'torchvision', max_init: -10000 };
interface CropAttrs {
  readonly crop_h: number;
  readonly crop_w: number;
  readonly method: 'bilinear' | 'nearest';
  readonly extrapolation_value: number;
  readonly precision: 'float32' | 'float64';
  readonly maxpool: 0 | 2;
}
type Shape4 = readonly [number, number, number, number];
type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };
interface AlignOut {
  readonly top: Float32Array;
  readonly argmax_y: Float32Array | null;
  readonly argmax_x: Float32Array | null;
}

/** The public ops (src/ops/roiAlign.ts, through the registry's validation), seen through typed arrays. */
const op = (() => {
  const t = (shape: readonly number[], d: ArrayLike<number>, dtype: 'float32' | 'int32' = 'float32') => {
    const r = tensor(dtype, shape, d);
    if (E.isLeft(r)) throw new Error(r.left.message); // a test bug
    return r.right;
  };
  const answer = <T>(r: E.Either<{ message: string }, T>): Answer<T> => (E.isLeft(r) ? { ok: false, error: r.left.message } : { ok: true, value: r.right });
  return {
    roiAlign: (features: Float32Array, shape: Shape4, rois: Float32Array, attrs: Partial<AlignAttrs>): Answer<AlignOut> =>
      answer(
        E.map((o: { top: Tensor; argmax_y?: Tensor; argmax_x?: Tensor }) => ({
          top: o.top.data as unknown as Float32Array,
          argmax_y: (o.argmax_y?.data as unknown as Float32Array) ?? null,
          argmax_x: (o.argmax_x?.data as unknown as Float32Array) ?? null,
        }))(roiAlign({ features: t(shape, features), rois: t([rois.length / 5, 5], rois) }, attrs)),
      ),
    roiAlignBackward: (
      rois: Float32Array,
      topGrad: Float32Array,
      argmax: { y: Float32Array; x: Float32Array } | null,
      attrs: Partial<AlignAttrs> & { features_shape: Shape4 },
    ): Answer<Float32Array> => {
      const a = { ...DEFAULTS, ...attrs };
      const gshape = [rois.length / 5, attrs.features_shape[1], a.pooled_h, a.pooled_w];
      const inputs = { rois: t([rois.length / 5, 5], rois), top_grad: t(gshape, topGrad), ...(argmax ? { argmax_y: t(gshape, argmax.y), argmax_x: t(gshape, argmax.x) } : {}) };
      return answer(E.map((o: { features_grad: Tensor }) => o.features_grad.data as unknown as Float32Array)(roiAlignBackward(inputs, { ...attrs, features_shape: [...attrs.features_shape] })));
    },
    cropAndResize: (features: Float32Array, shape: Shape4, boxes: Float32Array, boxInd: Int32Array, a: CropAttrs): Float32Array => {
      const r = cropAndResize({ features: t(shape, features), boxes: t([boxInd.length, 4], boxes), box_ind: t([boxInd.length], boxInd, 'int32') }, a);
      if (E.isLeft(r)) assert.fail(`crop_and_resize refused a legal request: ${r.left.message}`);
      return r.right.crops.data as unknown as Float32Array;
    },
  };
})();

const must = <T>(a: Answer<T>, what = 'op'): T => {
  if (!a.ok) assert.fail(`${what}: expected a result, got the error "${a.error}"`);
  return a.value;
};

// ------------------------------------------------------------------ helpers

const PARAMS = { numRuns: 200, seed: 20161604 };
const fl32 = Math.fround;
const U = 2 ** -24; // float32 unit roundoff
const NEG_FLT_MAX = -new Float32Array(new Uint32Array([0x7f7fffff]).buffer)[0];
const f32s = (xs: readonly number[]) => Float32Array.from(xs);
const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

const bitEqual = (actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (!Object.is(a, b)) assert.fail(`${what}[${i}]: ${a} is not bit-equal to ${b}`);
  }
};
const closeTo = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`);
};
/** A small deterministic generator (mulberry32) for the fixed cases: no Math.random in tests either. */
const mulberry = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
/** Map [H, W] from a function of (y, x). */
const ramp = (H: number, W: number, f: (y: number, x: number) => number) => Float32Array.from({ length: H * W }, (_, i) => f(Math.floor(i / W), i % W));

// ------------------------------------------------------------------ the literal model (SPEC §13.2, §13.3)

/** One rounding: Math.fround for the float32 libraries, the identity for a float64 model. */
type Fl = (x: number) => number;
const F64: Fl = (x) => x;

interface Frame {
  b: number;
  xs: number;
  ys: number;
  rw: number;
  rh: number;
  bh: number;
  bw: number;
  gh: number;
  gw: number;
}
/** Steps 1–5 for RoI row r. */
const frameOf = (fl: Fl, rois: ArrayLike<number>, r: number, a: AlignAttrs): Frame => {
  const s = fl(a.spatial_scale);
  const off = a.aligned ? 0.5 : 0;
  const c = (k: number) => fl(fl(rois[r * 5 + k] * s) - off);
  const [xs, ys, xe, ye] = [c(1), c(2), c(3), c(4)];
  let rw = fl(xe - xs);
  let rh = fl(ye - ys);
  if (!a.aligned) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const bh = fl(rh / a.pooled_h);
  const bw = fl(rw / a.pooled_w);
  const grid = (bin: number) => (a.sampling_ratio > 0 ? a.sampling_ratio : Math.trunc(Math.ceil(bin)));
  return { b: Math.trunc(rois[r * 5]), xs, ys, rw, rh, bh, bw, gh: grid(bh), gw: grid(bw) };
};

interface Sample {
  /** Step 6's coordinates, unclamped. */
  y: number;
  x: number;
  inRange: boolean;
  /** Corner cells (h·W + w) and weights w1..w4; out of range: cell 0, weight 0. */
  cells: number[];
  w: number[];
}
/** Step 7 at (y, x). */
const bilinear = (fl: Fl, y: number, x: number, H: number, W: number): Sample => {
  if (y < -1 || y > H || x < -1 || x > W) return { y, x, inRange: false, cells: [0, 0, 0, 0], w: [0, 0, 0, 0] };
  let yy = y <= 0 ? 0 : y;
  let xx = x <= 0 ? 0 : x;
  let yl = Math.trunc(yy);
  let xl = Math.trunc(xx);
  let yh = yl + 1;
  let xh = xl + 1;
  if (yl >= H - 1) {
    yl = yh = H - 1;
    yy = yl;
  }
  if (xl >= W - 1) {
    xl = xh = W - 1;
    xx = xl;
  }
  const ly = fl(yy - yl);
  const lx = fl(xx - xl);
  const hy = fl(1 - ly);
  const hx = fl(1 - lx);
  return { y, x, inRange: true, cells: [yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh], w: [fl(hy * hx), fl(hy * lx), fl(ly * hx), fl(ly * lx)] };
};
/** Steps 6–7: the samples of bin (ph, pw), iy-major. */
const samplesOf = (fl: Fl, f: Frame, ph: number, pw: number, H: number, W: number): Sample[] => {
  const out: Sample[] = [];
  for (let iy = 0; iy < f.gh; iy++) {
    const y = fl(fl(f.ys + fl(ph * f.bh)) + fl(fl((iy + 0.5) * f.bh) / f.gh));
    for (let ix = 0; ix < f.gw; ix++) {
      const x = fl(fl(f.xs + fl(pw * f.bw)) + fl(fl((ix + 0.5) * f.bw) / f.gw));
      out.push(bilinear(fl, y, x, H, W));
    }
  }
  return out;
};
/** The four weighted corner terms fl(wk·vk) of a sample over one channel plane. */
const terms = (fl: Fl, s: Sample, plane: ArrayLike<number>) => s.w.map((w, k) => fl(w * plane[s.cells[k]]));
/** Step 8's interpolated value: ((t1 + t2) + t3) + t4. */
const interp = (fl: Fl, s: Sample, plane: ArrayLike<number>) => {
  const t = terms(fl, s, plane);
  return fl(fl(fl(t[0] + t[1]) + t[2]) + t[3]);
};
/** Channel plane (b, c) as a view; an empty map reads as one 0 (the kernels' choice, no library defines it). */
const planeOf = (v: Float32Array | Float64Array, [, C, H, W]: Shape4, b: number, c: number): ArrayLike<number> =>
  H * W === 0 ? [0] : v.subarray((b * C + c) * H * W, (b * C + c + 1) * H * W);

/** SPEC §13.1/§13.2's error cases for row r, decided from the literal frame. */
const specProblem = (rois: ArrayLike<number>, r: number, N: number, a: AlignAttrs): boolean => {
  const f = frameOf(fl32, rois, r, a);
  if (!(f.b >= 0 && f.b < N)) return true;
  if (a.dialect === 'onnxruntime' && a.sampling_ratio < 0) return true;
  if (a.dialect === 'mmcv' && a.aligned && (f.rw < 0 || f.rh < 0)) return true;
  return a.dialect !== 'mmcv' && f.gh * f.gw < 0;
};

/** §13.2 literally, one output at a time: top (and mmcv's argmax). */
const literalForward = (fl: Fl, v: Float32Array | Float64Array, shape: Shape4, rois: ArrayLike<number>, a: AlignAttrs) => {
  const [, C, H, W] = shape;
  const R = rois.length / 5;
  const n = R * C * a.pooled_h * a.pooled_w;
  const top = new Float64Array(n);
  const ay = new Float64Array(n);
  const ax = new Float64Array(n);
  const gh: number[] = [];
  for (let r = 0; r < R; r++)
    for (let c = 0; c < C; c++)
      for (let ph = 0; ph < a.pooled_h; ph++)
        for (let pw = 0; pw < a.pooled_w; pw++) {
          const o = ((r * C + c) * a.pooled_h + ph) * a.pooled_w + pw;
          const f = frameOf(fl, rois, r, a);
          gh[r] = f.gh;
          const plane = planeOf(v, shape, f.b, c);
          const ss = f.gh > 0 && f.gw > 0 ? samplesOf(fl, f, ph, pw, H, W) : [];
          if (a.pool_mode === 'avg') {
            let acc = 0;
            for (const s of ss) acc = fl(acc + interp(fl, s, plane));
            top[o] = fl(acc / Math.max(f.gh * f.gw, 1));
          } else if (a.dialect === 'mmcv') {
            let m = fl(a.max_init);
            let y = -1;
            let x = -1;
            for (const s of ss) {
              const val = interp(fl, s, plane);
              if (val > m) [m, y, x] = [val, s.y, s.x];
            }
            [top[o], ay[o], ax[o]] = [m, y, x];
          } else {
            const mx = (p: number, q: number) => (p < q ? q : p);
            let out = 0;
            ss.forEach((s, i) => {
              const t = terms(fl, s, plane).reduce(mx);
              out = i === 0 ? t : mx(out, t);
            });
            top[o] = out;
          }
        }
  return { top, ay, ax, gh };
};

/** §13.3 literally: the scatter in (r, c, ph, pw, iy, ix) order, float32 sums (fl every add). */
const literalBackward = (fl: Fl, rois: ArrayLike<number>, g: ArrayLike<number>, am: { y: ArrayLike<number>; x: ArrayLike<number> } | null, shape: Shape4, a: AlignAttrs) => {
  const [N, C, H, W] = shape;
  const grad = new Float64Array(N * C * H * W);
  const R = rois.length / 5;
  for (let r = 0; r < R; r++)
    for (let c = 0; c < C; c++)
      for (let ph = 0; ph < a.pooled_h; ph++)
        for (let pw = 0; pw < a.pooled_w; pw++) {
          const o = ((r * C + c) * a.pooled_h + ph) * a.pooled_w + pw;
          const f = frameOf(fl, rois, r, a);
          const base = (f.b * C + c) * H * W;
          if (a.pool_mode === 'max') {
            if (am === null || am.y[o] === -1) continue;
            const s = bilinear(fl, am.y[o], am.x[o], H, W);
            if (s.inRange) s.cells.forEach((cell, k) => (grad[base + cell] = fl(grad[base + cell] + fl(g[o] * s.w[k]))));
            continue;
          }
          const count = f.gh * f.gw;
          for (const s of f.gh > 0 && f.gw > 0 ? samplesOf(fl, f, ph, pw, H, W) : [])
            if (s.inRange) s.cells.forEach((cell, k) => (grad[base + cell] = fl(grad[base + cell] + fl(fl(g[o] * s.w[k]) / count))));
        }
  return grad;
};

// ------------------------------------------------------------------ arbitraries

const SCALES = [1, 0.5, 0.25, 1 / 16, 1 / 3, 0.1, 2, 8];
const val32 = (lo = -10, hi = 10) => fc.float({ min: fl32(lo), max: fl32(hi), noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));

interface AlignCase {
  readonly shape: Shape4;
  readonly features: Float32Array;
  readonly rois: Float32Array;
  readonly attrs: AlignAttrs;
}

/**
 * Small cases: maps 1–6², 1–3 RoIs, all dialects and modes, sampling ratios −1…3, SPEC §13.9's
 * scales, RoI ends in cell space that are random, on a half-integer grid, on the −1 / H edges, or
 * off the map (divided by the scale, so some products are exact and some not). `specials` puts
 * NaN / ±∞ into the features (sometimes at v[b, c, 0, 0], the element out-of-range samples read).
 */
const alignCase = (o: { specials?: boolean; dialect?: Dialect; mode?: Mode; scales?: readonly number[]; aligned?: boolean } = {}): fc.Arbitrary<AlignCase> =>
  fc
    .record({
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 2 }),
      H: fc.integer({ min: 1, max: 6 }),
      W: fc.integer({ min: 1, max: 6 }),
      R: fc.integer({ min: 1, max: 3 }),
      pooled_h: fc.integer({ min: 1, max: 3 }),
      pooled_w: fc.integer({ min: 1, max: 3 }),
      sampling_ratio: fc.integer({ min: -1, max: 3 }),
      aligned: o.aligned === undefined ? fc.boolean() : fc.constant(o.aligned),
      spatial_scale: fc.constantFrom(...(o.scales ?? SCALES)),
      dialect: o.dialect ? fc.constant(o.dialect) : fc.constantFrom<Dialect>('torchvision', 'mmcv', 'onnxruntime'),
      mode: o.mode ? fc.constant(o.mode) : fc.constantFrom<Mode>('avg', 'max'),
      max_init: fc.constantFrom(-10000, NEG_FLT_MAX, 0.5),
    })
    .chain((d) => {
      const end = (size: number) =>
        fc.oneof(
          fc.double({ min: -2, max: size + 2, noNaN: true }),
          fc.integer({ min: -2 * 2, max: 2 * (size + 2) }).map((k) => k / 2),
          fc.constantFrom(-1, size, -1.5, size + 0.5),
          fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        ).map((c) => fl32(c / d.spatial_scale));
      const roi = fc.tuple(fc.integer({ min: 0, max: d.N - 1 }), fc.double({ min: 0, max: 0.99, noNaN: true }), end(d.W), end(d.H), end(d.W), end(d.H));
      const special = o.specials ? fc.oneof({ weight: 6, arbitrary: val32() }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }) : val32();
      return fc.record({
        features: fc.array(special, { minLength: d.N * d.C * d.H * d.W, maxLength: d.N * d.C * d.H * d.W }),
        rois: fc.array(roi, { minLength: d.R, maxLength: d.R }),
      }).map(({ features, rois }) => ({
        shape: [d.N, d.C, d.H, d.W] as Shape4,
        features: f32s(features),
        // A fractional batch index truncates (b = trunc(roi[0])).
        rois: f32s(rois.flatMap(([b, frac, x1, y1, x2, y2]) => [b + frac, x1, y1, x2, y2])),
        attrs: {
          pooled_h: d.pooled_h,
          pooled_w: d.pooled_w,
          spatial_scale: d.spatial_scale,
          sampling_ratio: d.dialect === 'onnxruntime' && d.sampling_ratio < 0 ? 0 : d.sampling_ratio,
          aligned: d.aligned,
          // torchvision has no max (an attr-level error): use avg there.
          pool_mode: d.dialect === 'torchvision' ? 'avg' : d.mode,
          dialect: d.dialect,
          max_init: d.max_init,
        },
      }));
    });

const hasProblem = (c: AlignCase) => Array.from({ length: c.rois.length / 5 }, (_, r) => specProblem(c.rois, r, c.shape[0], c.attrs)).some((x) => x);

// ------------------------------------------------------------------ 1. SPEC §13.7's worked examples

const ALL: Dialect[] = ['torchvision', 'mmcv', 'onnxruntime'];

test('E1 (pytorch#11058): 8×6 ramp 6y + x, roi (0,0,3,3), 2×2, sr 0: legacy [5.25, 6.75, 14.25, 15.75], aligned [2.1875, 3.625, 10.8125, 12.25]', () => {
  const v = ramp(8, 6, (y, x) => 6 * y + x);
  const rois = f32s([0, 0, 0, 3, 3]);
  for (const dialect of ALL) {
    const a = { pooled_h: 2, pooled_w: 2, spatial_scale: 1, sampling_ratio: 0, dialect };
    bitEqual(must(op.roiAlign(v, [1, 1, 8, 6], rois, { ...a, aligned: false })).top, [5.25, 6.75, 14.25, 15.75], `legacy ${dialect}`);
    bitEqual(must(op.roiAlign(v, [1, 1, 8, 6], rois, { ...a, aligned: true })).top, [2.1875, 3.625, 10.8125, 12.25], `aligned ${dialect}`);
  }
});

test('E2 (detectron2 test): 5×5 ramp, box (1,1,3,3), 4×4, sr 0: legacy 7.5 … 16.5 in steps of the ramp, aligned 4.5 … 13.5', () => {
  const v = ramp(5, 5, (y, x) => 5 * y + x);
  const rois = f32s([0, 1, 1, 3, 3]);
  // Legacy: samples at 1.25 + 0.5·k on both axes, so 5y + x = 7.5 + 0.5·pw + 2.5·ph (SPEC lists 7.5, 8, 8.5, 9, 10, …, 16.5).
  const legacy = Array.from({ length: 16 }, (_, i) => 7.5 + 0.5 * (i % 4) + 2.5 * Math.floor(i / 4));
  const aligned = [4.5, 5, 5.5, 6, 7, 7.5, 8, 8.5, 9.5, 10, 10.5, 11, 12, 12.5, 13, 13.5];
  for (const dialect of ALL) {
    const a = { pooled_h: 4, pooled_w: 4, spatial_scale: 1, sampling_ratio: 0, dialect };
    bitEqual(must(op.roiAlign(v, [1, 1, 5, 5], rois, { ...a, aligned: false })).top, legacy, `legacy ${dialect}`);
    bitEqual(must(op.roiAlign(v, [1, 1, 5, 5], rois, { ...a, aligned: true })).top, aligned, `aligned ${dialect}`);
  }
});

test('E3 (onnx#3428 identity): 4×4 ramp, box (1,1,3,3) → 2×2, sr 1: aligned = the pixels [5, 6, 9, 10]; legacy [7.5, 8.5, 11.5, 12.5]', () => {
  const v = ramp(4, 4, (y, x) => 4 * y + x);
  const rois = f32s([0, 1, 1, 3, 3]);
  for (const dialect of ALL) {
    const a = { pooled_h: 2, pooled_w: 2, spatial_scale: 1, sampling_ratio: 1, dialect };
    bitEqual(must(op.roiAlign(v, [1, 1, 4, 4], rois, { ...a, aligned: true })).top, [5, 6, 9, 10], `aligned ${dialect}`);
    bitEqual(must(op.roiAlign(v, [1, 1, 4, 4], rois, { ...a, aligned: false })).top, [7.5, 8.5, 11.5, 12.5], `legacy ${dialect}`);
  }
});

test('E4: the three max rules on [[1,2,3],[4,5,6],[7,8,9]], box (0,0,3,3) aligned 1×1 sr 2 — avg 5, mmcv 8 at (1.75, 1.75) with its grad, ORT 5.0625; all −20000: mmcv −10000, ORT −1250', () => {
  const v = ramp(3, 3, (y, x) => 3 * y + x + 1);
  const rois = f32s([0, 0, 0, 3, 3]);
  const a = { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 2, aligned: true };
  const shape: Shape4 = [1, 1, 3, 3];
  for (const dialect of ALL) bitEqual(must(op.roiAlign(v, shape, rois, { ...a, dialect })).top, [5], `avg ${dialect}`);
  const mm = must(op.roiAlign(v, shape, rois, { ...a, dialect: 'mmcv', pool_mode: 'max' }));
  bitEqual(mm.top, [8], 'mmcv max');
  bitEqual([mm.argmax_y![0], mm.argmax_x![0]], [1.75, 1.75], 'mmcv argmax');
  const g = must(op.roiAlignBackward(rois, f32s([1]), { y: mm.argmax_y!, x: mm.argmax_x! }, { ...a, dialect: 'mmcv', pool_mode: 'max', features_shape: shape }));
  bitEqual(g, [0, 0, 0, 0, 0.0625, 0.1875, 0, 0.1875, 0.5625], 'mmcv max grad');
  bitEqual(must(op.roiAlign(v, shape, rois, { ...a, dialect: 'onnxruntime', pool_mode: 'max' })).top, [5.0625], 'ORT max = 0.5625·9');

  const low = new Float32Array(9).fill(-20000);
  const mlow = must(op.roiAlign(low, shape, rois, { ...a, dialect: 'mmcv', pool_mode: 'max' }));
  bitEqual([mlow.top[0], mlow.argmax_y![0], mlow.argmax_x![0]], [-10000, -1, -1], 'mmcv CPU seed −10000 wins, argmax −1');
  const glow = must(op.roiAlignBackward(rois, f32s([1]), { y: mlow.argmax_y!, x: mlow.argmax_x! }, { ...a, dialect: 'mmcv', pool_mode: 'max', features_shape: shape }));
  bitEqual(glow, new Array(9).fill(0), 'no gradient through the sentinel');
  bitEqual(must(op.roiAlign(low, shape, rois, { ...a, dialect: 'onnxruntime', pool_mode: 'max' })).top, [-1250], 'ORT: the largest corner term, 0.0625·−20000');
  // With mmcv CUDA's seed −FLT_MAX (§13.1) the first sample's exact −20000 wins (strict >: later equal samples do not).
  const cuda = must(op.roiAlign(low, shape, rois, { ...a, dialect: 'mmcv', pool_mode: 'max', max_init: NEG_FLT_MAX }));
  bitEqual([cuda.top[0], cuda.argmax_y![0], cuda.argmax_x![0]], [-20000, 0.25, 0.25], 'mmcv CUDA seed');
});

test('E5: a float32 range decision — roi (0, 0, −34, 20, −2), s 0.1, 2×1, sr 1: the second sample is exactly y = −1 in float32 (in range) → [0, 20]; float64 puts it at −1.0000000000000002 → [0, 0]', () => {
  const v = ramp(3, 3, (y, x) => 10 * (3 * y + x + 1));
  const rois = f32s([0, 0, -34, 20, -2]);
  const a: AlignAttrs = { ...DEFAULTS, pooled_h: 2, pooled_w: 1, spatial_scale: 0.1, sampling_ratio: 1, aligned: false };
  for (const dialect of ['torchvision', 'onnxruntime'] as const) bitEqual(must(op.roiAlign(v, [1, 1, 3, 3], rois, { ...a, dialect })).top, [0, 20], dialect);
  // The float64 model of §13.2 (no rounding at all) gives what torchvision gives for float64 tensors.
  const f64 = literalForward(F64, v, [1, 1, 3, 3], [0, 0, -34, 20, -2], a);
  assert.deepEqual(Array.from(f64.top), [0, 0]);
  const f = frameOf(F64, [0, 0, -34, 20, -2], 0, a);
  assert.equal(samplesOf(F64, f, 1, 0, 3, 3)[0].y, -1.0000000000000002);
  assert.equal(samplesOf(fl32, frameOf(fl32, rois, 0, a), 1, 0, 3, 3)[0].y, -1);
});

test('E6: a float32 grid decision — v = (i mod 7)², 70×70, roi (0,0,0,210,210), s 0.3, 7×7, sr 0: float32 bh = 9.000001 → 10 samples, top[:3] = [10.545, 12.279996, 15.645007]; float64 → 9 samples, [94/9, 110/9, 142/9]', () => {
  const v = Float32Array.from({ length: 70 * 70 }, (_, i) => (i % 7) ** 2);
  const rois = f32s([0, 0, 0, 210, 210]);
  const a: AlignAttrs = { ...DEFAULTS, pooled_h: 7, pooled_w: 7, spatial_scale: 0.3, sampling_ratio: 0, aligned: false };
  const top = must(op.roiAlign(v, [1, 1, 70, 70], rois, a)).top;
  bitEqual(top.subarray(0, 3), [10.545, 12.279996, 15.645007].map(fl32), 'float32 top[0, 0, 0, :3]');
  const f32 = frameOf(fl32, rois, 0, a);
  assert.deepEqual([f32.rh, f32.bh, f32.gh], [fl32(63.000004), fl32(9.000001), 10]);
  const f64 = literalForward(F64, v, [1, 1, 70, 70], [0, 0, 0, 210, 210], a);
  assert.equal(f64.gh[0], 9);
  closeTo(f64.top.subarray(0, 3), [94 / 9, 110 / 9, 142 / 9], 1e-12, 'float64 model');
});

test('E7: the mmcv argmax sentinel — [[5,1],[1,1]], roi (0,0,−1.5,1,−0.5), legacy 1×1 sr 1: max = avg = 3, argmax_y = −1, so the max grad is 0 and the avg grad [.5,.5,0,0]', () => {
  const v = f32s([5, 1, 1, 1]);
  const rois = f32s([0, 0, -1.5, 1, -0.5]);
  const shape: Shape4 = [1, 1, 2, 2];
  const a = { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 1, aligned: false };
  const mx = must(op.roiAlign(v, shape, rois, { ...a, dialect: 'mmcv', pool_mode: 'max' }));
  bitEqual([mx.top[0], mx.argmax_y![0], mx.argmax_x![0]], [3, -1, 0.5], 'mmcv max and argmax');
  const gmax = must(op.roiAlignBackward(rois, f32s([1]), { y: mx.argmax_y!, x: mx.argmax_x! }, { ...a, dialect: 'mmcv', pool_mode: 'max', features_shape: shape }));
  bitEqual(gmax, [0, 0, 0, 0], 'mmcv max grad');
  for (const dialect of ['torchvision', 'mmcv'] as const) {
    bitEqual(must(op.roiAlign(v, shape, rois, { ...a, dialect })).top, [3], `avg ${dialect}`);
    bitEqual(must(op.roiAlignBackward(rois, f32s([1]), null, { ...a, dialect, features_shape: shape })), [0.5, 0.5, 0, 0], `avg grad ${dialect}`);
  }
});

test('E8: aligned x2 < x1 on a 5×5 ramp, 1×1 — (3,1,1,4) sr 2 → 11.5 (TV, ORT), mmcv errors; (3,3,1,1) sr 0 → grid −2 × −2 → 0; (3,1,1,4) sr 0 → grid 3 × −2 → TV and ORT error', () => {
  const v = ramp(5, 5, (y, x) => 5 * y + x);
  const shape: Shape4 = [1, 1, 5, 5];
  const a = { pooled_h: 1, pooled_w: 1, spatial_scale: 1, aligned: true };
  const flipped = f32s([0, 3, 1, 1, 4]);
  for (const dialect of ['torchvision', 'onnxruntime'] as const) {
    bitEqual(must(op.roiAlign(v, shape, flipped, { ...a, sampling_ratio: 2, dialect })).top, [11.5], `sr 2 ${dialect}`);
    bitEqual(must(op.roiAlign(v, shape, f32s([0, 3, 3, 1, 1]), { ...a, sampling_ratio: 0, dialect })).top, [0], `empty grid ${dialect}`);
    const bad = op.roiAlign(v, shape, flipped, { ...a, sampling_ratio: 0, dialect });
    assert.ok(!bad.ok && /row 0/.test(bad.error) && bad.error.includes(dialect), `${dialect} must refuse gh·gw < 0: ${JSON.stringify(bad)}`);
  }
  const mm = op.roiAlign(v, shape, flipped, { ...a, sampling_ratio: 2, dialect: 'mmcv' });
  assert.ok(!mm.ok && /row 0/.test(mm.error) && /mmcv/.test(mm.error), `mmcv must refuse a negative aligned extent: ${JSON.stringify(mm)}`);
});

// ------------------------------------------------------------------ 2–3. identities

test('the ONNX identity: aligned, sr 1, a RoI covering exactly k×k cells at k×k output reproduces the cells (avg, mmcv max); ORT max gives max(cell, 0)', () => {
  fc.assert(
    fc.property(
      fc.record({ H: fc.integer({ min: 1, max: 7 }), W: fc.integer({ min: 1, max: 7 }), k: fc.integer({ min: 1, max: 4 }), s: fc.constantFrom(1, 0.5, 0.25, 2, 0.0625) }).chain((d) =>
        fc.record({
          d: fc.constant(d),
          k: fc.integer({ min: 1, max: Math.min(d.k, d.H, d.W) }),
          y0f: fc.double({ min: 0, max: 1, noNaN: true }),
          x0f: fc.double({ min: 0, max: 1, noNaN: true }),
          v: fc.array(val32(-100, 100), { minLength: d.H * d.W, maxLength: d.H * d.W }),
        }),
      ),
      ({ d, k, y0f, x0f, v }) => {
        const y0 = Math.floor(y0f * (d.H - k + 1 - 1e-9));
        const x0 = Math.floor(x0f * (d.W - k + 1 - 1e-9));
        const feats = f32s(v);
        // Image coordinates: cell edges divided by a power-of-two scale, exact.
        const rois = f32s([0, x0 / d.s, y0 / d.s, (x0 + k) / d.s, (y0 + k) / d.s]);
        const cells = Array.from({ length: k * k }, (_, i) => feats[(y0 + Math.floor(i / k)) * d.W + x0 + (i % k)]);
        const a = { pooled_h: k, pooled_w: k, spatial_scale: d.s, sampling_ratio: 1, aligned: true };
        for (const dialect of ALL) closeTo(must(op.roiAlign(feats, [1, 1, d.H, d.W], rois, { ...a, dialect })).top, cells, 0, `avg ${dialect}`);
        closeTo(must(op.roiAlign(feats, [1, 1, d.H, d.W], rois, { ...a, dialect: 'mmcv', pool_mode: 'max' })).top, cells, 0, 'mmcv max');
        // ORT#6146: its "max" compares the weighted corner terms 1·v, 0·v', … — so a negative cell loses to 0.
        closeTo(must(op.roiAlign(feats, [1, 1, d.H, d.W], rois, { ...a, dialect: 'onnxruntime', pool_mode: 'max' })).top, cells.map((c) => Math.max(c, 0)), 0, 'ORT max');
      },
    ),
    PARAMS,
  );
});

test('avg pooling of a constant map is that constant (to rounding) in every bin whose samples are all in range, and 0 in a bin with none in range', () => {
  fc.assert(
    fc.property(alignCase({ mode: 'avg' }), val32(-1000, 1000), (c0, k) => {
      const c = { ...c0, features: new Float32Array(c0.features.length).fill(k) };
      if (hasProblem(c)) return;
      const top = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs)).top;
      const [, C, H, W] = c.shape;
      const { pooled_h: PH, pooled_w: PW } = c.attrs;
      for (let r = 0; r < c.rois.length / 5; r++) {
        const f = frameOf(fl32, c.rois, r, c.attrs);
        for (let ph = 0; ph < PH; ph++)
          for (let pw = 0; pw < PW; pw++) {
            const ss = f.gh > 0 && f.gw > 0 ? samplesOf(fl32, f, ph, pw, H, W) : [];
            const n = ss.length;
            for (let ch = 0; ch < C; ch++) {
              const t = top[((r * C + ch) * PH + ph) * PW + pw];
              if (n > 0 && ss.every((s) => s.inRange)) {
                // Each sample's value is k·(Σ wk) with Σ wk = (hy + ly)(hx + lx) = 1 up to the roundings
                // of hy, hx, the four products, the four terms and three sums (≤ 10 u, u = 2^-24); the
                // float32 running sum of n of them adds ≤ (n − 1)·u and the division one more.
                const tol = (n + 11) * U * Math.abs(k);
                assert.ok(Math.abs(t - k) <= tol, `bin (${r}, ${ph}, ${pw}): ${t} vs ${k} (tolerance ${tol})`);
              } else if (ss.every((s) => !s.inRange)) assert.equal(t, 0, `bin (${r}, ${ph}, ${pw}) has no sample in range`);
            }
          }
      }
    }),
    PARAMS,
  );
});

// ------------------------------------------------------------------ 4–5. the gradient

/**
 * Conservation: an in-range sample hands g/count to its corners with weights summing to 1, an
 * out-of-range one nothing, so Σ features_grad = Σ over bins of g · (in-range samples)/(gh·gw).
 * Returns the expectation and a tolerance: every term fl(fl(g·wk)/count) is within 2u of
 * g·wk/count and Σ wk within 3u of 1; each grad element's float32 running sum of m terms errs by
 * at most (m − 1)·u of its magnitude; so |error| ≤ (m + 5)·u·Σ|terms| with m the most terms any
 * element receives (counted from the samples' corners), u = 2^-24.
 */
const avgConservation = (c: AlignCase, g: Float32Array) => {
  const [, C, H, W] = c.shape;
  const { pooled_h: PH, pooled_w: PW } = c.attrs;
  let want = 0;
  let mag = 0;
  const hits = new Map<number, number>();
  for (let r = 0; r < c.rois.length / 5; r++) {
    const f = frameOf(fl32, c.rois, r, c.attrs);
    if (!(f.gh > 0 && f.gw > 0)) continue;
    for (let ph = 0; ph < PH; ph++)
      for (let pw = 0; pw < PW; pw++) {
        const ss = samplesOf(fl32, f, ph, pw, H, W);
        const inRange = ss.filter((s) => s.inRange);
        for (const s of inRange) for (const cell of s.cells) hits.set(f.b * H * W + cell, (hits.get(f.b * H * W + cell) ?? 0) + 1);
        for (let ch = 0; ch < C; ch++) {
          const gb = g[((r * C + ch) * PH + ph) * PW + pw];
          want += (gb * inRange.length) / (f.gh * f.gw);
          mag += (Math.abs(gb) * inRange.length) / (f.gh * f.gw);
        }
      }
  }
  const m = Math.max(0, ...hits.values());
  return { want, tol: (m + 5) * U * mag + 1e-30 };
};

/** A case with a top_grad; `specials` puts NaN / ±∞ into top_grad (an out-of-range sample must not spread them). */
const gradCase = (mode: Mode, specials = false) =>
  alignCase({ mode, dialect: mode === 'max' ? 'mmcv' : undefined })
    .filter((c) => c.attrs.dialect !== 'onnxruntime')
    .chain((c) => fc.array(specials ? fc.oneof({ weight: 8, arbitrary: val32(-2, 2) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }) : val32(-2, 2), { minLength: (c.rois.length / 5) * c.shape[1] * c.attrs.pooled_h * c.attrs.pooled_w, maxLength: (c.rois.length / 5) * c.shape[1] * c.attrs.pooled_h * c.attrs.pooled_w }).map((g) => ({ c, g: f32s(g) })));

test('backward conservation (avg): Σ features_grad = Σ over bins of top_grad × (fraction of the bin’s samples in range), to float32 rounding', () => {
  fc.assert(
    fc.property(gradCase('avg'), ({ c, g }) => {
      if (hasProblem(c)) return;
      const grad = must(op.roiAlignBackward(c.rois, g, null, { ...c.attrs, features_shape: c.shape }));
      const { want, tol } = avgConservation(c, g);
      const got = sum(grad);
      assert.ok(Math.abs(got - want) <= tol, `Σ grad ${got} vs ${want} (tolerance ${tol})`);
    }),
    PARAMS,
  );
});

/**
 * mmcv max conservation: a bin whose argmax is not the −1 sentinel and lies in range hands g to
 * its four corners with weights summing to 1 (within 3u), so Σ features_grad = Σ of those g.
 * Tolerance: each term fl(g·wk) within 1u, and each element's float32 running sum of m terms
 * within (m − 1)·u of its magnitude: (m + 4)·u·Σ|g| over the counted bins.
 */
const maxConservation = (shape: Shape4, rois: Float32Array, am: { y: Float32Array; x: Float32Array }, g: Float32Array, a: AlignAttrs) => {
  const [, C, H, W] = shape;
  const bins = a.pooled_h * a.pooled_w;
  let want = 0;
  let mag = 0;
  const hits = new Map<number, number>();
  am.y.forEach((y, o) => {
    const s = bilinear(fl32, y, am.x[o], H, W);
    if (y === -1 || !s.inRange) return;
    want += g[o];
    mag += Math.abs(g[o]);
    const plane = Math.trunc(rois[5 * Math.floor(o / (C * bins))]) * C + (Math.floor(o / bins) % C);
    for (const cell of s.cells) hits.set(plane * H * W + cell, (hits.get(plane * H * W + cell) ?? 0) + 1);
  });
  const m = Math.max(0, ...hits.values());
  return { want, tol: (m + 4) * U * mag + 1e-30 };
};

test('backward conservation (mmcv max): Σ features_grad = Σ top_grad over bins whose argmax is not the −1 sentinel and lies in range', () => {
  fc.assert(
    fc.property(gradCase('max'), ({ c, g }) => {
      if (hasProblem(c)) return;
      const fwd = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs));
      const am = { y: fwd.argmax_y!, x: fwd.argmax_x! };
      const grad = must(op.roiAlignBackward(c.rois, g, am, { ...c.attrs, features_shape: c.shape }));
      const { want, tol } = maxConservation(c.shape, c.rois, am, g, c.attrs);
      assert.ok(Math.abs(sum(grad) - want) <= tol, `Σ grad ${sum(grad)} vs ${want} (tolerance ${tol})`);
    }),
    PARAMS,
  );
});

/**
 * RoIs whose every sample coordinate is a dyadic rational at least 1/8 away from any integer: the
 * start in cell space is n + f (f ∈ {1/8, 1/4, 3/8}), the bin size an integer multiple k·sr of the
 * sampling ratio, so samples sit at n + f + (integer or half-integer). Scales are powers of two.
 * Then float32 and float64 place every sample identically, and no sample sits on a cell border,
 * the −1 / H edges or the clamp.
 */
const smoothCase = (mode: Mode) =>
  fc
    .record({
      H: fc.integer({ min: 1, max: 5 }),
      W: fc.integer({ min: 1, max: 5 }),
      C: fc.integer({ min: 1, max: 2 }),
      PH: fc.integer({ min: 1, max: 2 }),
      PW: fc.integer({ min: 1, max: 2 }),
      sr: fc.constantFrom(1, 2),
      s: fc.constantFrom(1, 0.5, 0.25, 2),
      aligned: fc.boolean(),
      dialect: mode === 'max' ? fc.constant<Dialect>('mmcv') : fc.constantFrom<Dialect>('torchvision', 'mmcv'),
    })
    .chain((d) => {
      const axis = (size: number, P: number) =>
        fc.record({ n: fc.integer({ min: -2, max: size }), f: fc.constantFrom(0.125, 0.25, 0.375), k: fc.integer({ min: 1, max: 2 }) }).map(({ n, f, k }) => ({ start: n + f, extent: k * d.sr * P }));
      const roi = fc.tuple(axis(d.W, d.PW), axis(d.H, d.PH));
      return fc.record({
        rois: fc.array(roi, { minLength: 1, maxLength: 2 }),
        v: fc.array(val32(-5, 5), { minLength: d.C * d.H * d.W, maxLength: d.C * d.H * d.W }),
        g: fc.array(val32(-1, 1), { minLength: 2 * d.C * d.PH * d.PW, maxLength: 2 * d.C * d.PH * d.PW }),
      }).map(({ rois, v, g }) => {
        const off = d.aligned ? 0.5 : 0;
        const flat = rois.flatMap(([x, y]) => [0, (x.start + off) / d.s, (y.start + off) / d.s, (x.start + x.extent + off) / d.s, (y.start + y.extent + off) / d.s]);
        return {
          c: {
            shape: [1, d.C, d.H, d.W] as Shape4,
            features: f32s(v),
            rois: f32s(flat),
            attrs: { ...DEFAULTS, pooled_h: d.PH, pooled_w: d.PW, spatial_scale: d.s, sampling_ratio: d.sr, aligned: d.aligned, pool_mode: mode, dialect: d.dialect },
          } as AlignCase,
          g: f32s(g.slice(0, rois.length * d.C * d.PH * d.PW)),
        };
      });
    });

test('the backward is the gradient: features_grad matches central finite differences of the float64 §13.2 model (avg, torchvision and mmcv)', () => {
  fc.assert(
    fc.property(smoothCase('avg'), ({ c, g }) => {
      const grad = must(op.roiAlignBackward(c.rois, g, null, { ...c.attrs, features_shape: c.shape }));
      const loss = (v: Float64Array) => literalForward(F64, v, c.shape, c.rois, c.attrs).top.reduce((acc, t, o) => acc + t * g[o], 0);
      const v = Float64Array.from(c.features);
      // avg is linear in the features, so a unit step has no truncation error.
      const e = 1;
      const { tol } = avgConservation(c, g);
      for (let i = 0; i < v.length; i++) {
        const vp = v.slice();
        const vm = v.slice();
        vp[i] += e;
        vm[i] -= e;
        const fd = (loss(vp) - loss(vm)) / (2 * e);
        // float32 rounding of the kernel's terms and sums (as in conservation), plus the float64 difference's.
        assert.ok(Math.abs(grad[i] - fd) <= tol + 1e-12, `element ${i}: grad ${grad[i]} vs finite difference ${fd} (tolerance ${tol})`);
      }
    }),
    { ...PARAMS, numRuns: 100 },
  );
});

test('the backward is the gradient (mmcv max): features_grad matches central finite differences where the winning sample leads by a margin', () => {
  fc.assert(
    fc.property(smoothCase('max'), ({ c, g }) => {
      const fwd = literalForward(F64, c.features, c.shape, c.rois, c.attrs);
      const e = 1e-3;
      // Each sample moves by at most e·1 under a step of e: a lead of more than 4e keeps every winner.
      const [, C, H, W] = c.shape;
      for (let r = 0; r < c.rois.length / 5; r++) {
        const f = frameOf(F64, c.rois, r, c.attrs);
        for (let ch = 0; ch < C; ch++)
          for (let ph = 0; ph < c.attrs.pooled_h; ph++)
            for (let pw = 0; pw < c.attrs.pooled_w; pw++) {
              const vals = [fl32(c.attrs.max_init), ...samplesOf(F64, f, ph, pw, H, W).map((s) => interp(F64, s, planeOf(c.features, c.shape, 0, ch)))].sort((p, q) => q - p);
              fc.pre(vals[0] - vals[1] > 4 * e);
            }
      }
      const k = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs));
      const grad = must(op.roiAlignBackward(c.rois, g, { y: k.argmax_y!, x: k.argmax_x! }, { ...c.attrs, features_shape: c.shape }));
      const loss = (v: Float64Array) => literalForward(F64, v, c.shape, c.rois, c.attrs).top.reduce((acc, t, o) => acc + t * g[o], 0);
      const v = Float64Array.from(c.features);
      assert.ok(fwd.top.every(Number.isFinite));
      for (let i = 0; i < v.length; i++) {
        const vp = v.slice();
        const vm = v.slice();
        vp[i] += e;
        vm[i] -= e;
        const fd = (loss(vp) - loss(vm)) / (2 * e);
        // Terms fl(g·w): 1 u each on |g| ≤ 1, at most 4 per bin; the float64 difference of losses ~10 in size errs ~1e-15/e.
        const tol = (4 * g.length + 4) * U * sum(g.map(Math.abs)) + 1e-10;
        assert.ok(Math.abs(grad[i] - fd) <= tol, `element ${i}: grad ${grad[i]} vs finite difference ${fd}`);
      }
    }),
    { ...PARAMS, numRuns: 100 },
  );
});

// ------------------------------------------------------------------ 6. the max rules

test('mmcv max = the largest interpolated sample (strictly above max_init, first wins) with its unclamped (y, x); ORT max = the largest weighted corner term over all samples', () => {
  fc.assert(
    fc.property(alignCase({ mode: 'max' }).filter((c) => c.attrs.dialect !== 'torchvision'), (c) => {
      if (hasProblem(c)) return;
      const out = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs));
      const [, C, H, W] = c.shape;
      const { pooled_h: PH, pooled_w: PW } = c.attrs;
      for (let r = 0; r < c.rois.length / 5; r++) {
        const f = frameOf(fl32, c.rois, r, c.attrs);
        for (let ch = 0; ch < C; ch++) {
          const plane = planeOf(c.features, c.shape, f.b, ch);
          for (let ph = 0; ph < PH; ph++)
            for (let pw = 0; pw < PW; pw++) {
              const o = ((r * C + ch) * PH + ph) * PW + pw;
              const ss = f.gh > 0 && f.gw > 0 ? samplesOf(fl32, f, ph, pw, H, W) : [];
              if (c.attrs.dialect === 'mmcv') {
                const vals = ss.map((s) => interp(fl32, s, plane));
                const best = Math.max(fl32(c.attrs.max_init), ...vals);
                const at = vals.findIndex((x) => x === best && x > fl32(c.attrs.max_init));
                // Numerically (±0 alike): which zero wins is the bit-exact literal test's business.
                assert.ok(out.top[o] === best, `mmcv bin ${o}: ${out.top[o]} vs ${best}`);
                assert.deepEqual([out.argmax_y![o], out.argmax_x![o]], at < 0 ? [-1, -1] : [ss[at].y, ss[at].x], `mmcv argmax ${o}`);
              } else {
                const best = ss.length === 0 ? 0 : Math.max(...ss.flatMap((s) => terms(fl32, s, plane)));
                assert.ok(out.top[o] === best, `ORT bin ${o}: ${out.top[o]} vs ${best}`);
                assert.equal(out.argmax_y, null);
              }
            }
        }
      }
    }),
    PARAMS,
  );
});

// ------------------------------------------------------------------ the literal model, bit for bit

test('forward = the literal §13.2 model bit for bit (every dialect and mode, NaN/±∞ features, off-map and degenerate RoIs), and an error exactly for §13.1’s cases', () => {
  fc.assert(
    fc.property(alignCase({ specials: true }), (c) => {
      const got = op.roiAlign(c.features, c.shape, c.rois, c.attrs);
      assert.equal(!got.ok, hasProblem(c), got.ok ? 'expected an error' : `unexpected error: ${got.error}`);
      if (!got.ok) return;
      const want = literalForward(fl32, c.features, c.shape, c.rois, c.attrs);
      bitEqual(got.value.top, want.top, 'top');
      if (c.attrs.dialect === 'mmcv' && c.attrs.pool_mode === 'max') {
        bitEqual(got.value.argmax_y!, want.ay, 'argmax_y');
        bitEqual(got.value.argmax_x!, want.ax, 'argmax_x');
      } else assert.ok(got.value.argmax_y === null && got.value.argmax_x === null);
    }),
    PARAMS,
  );
});

test('pitfall 2: product, then offset — fl(fl(x·s) − 0.5), two roundings, not fl(x·s − 0.5); aligned RoIs at non-dyadic scales match the literal model bit for bit', () => {
  // About one aligned RoI in twenty at s = 0.1, 1/3, 0.3 moves in the last bit of some output when
  // the product is not rounded before the offset is subtracted.
  fc.assert(
    fc.property(alignCase({ aligned: true, scales: [0.1, 1 / 3, 0.3] }), (c) => {
      const got = op.roiAlign(c.features, c.shape, c.rois, c.attrs);
      if (!got.ok) return assert.ok(hasProblem(c), got.error);
      bitEqual(got.value.top, literalForward(fl32, c.features, c.shape, c.rois, c.attrs).top, 'top');
    }),
    { ...PARAMS, numRuns: 400 },
  );
});

test('backward = the literal §13.3 scatter bit for bit (avg: torchvision and mmcv; mmcv max from the forward’s argmax; NaN/±∞ in top_grad reach only in-range corners)', () => {
  fc.assert(
    fc.property(fc.oneof(gradCase('avg', true), gradCase('max', true)), ({ c, g }) => {
      if (hasProblem(c)) return;
      const am =
        c.attrs.pool_mode === 'max'
          ? (() => {
              const f = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs));
              return { y: f.argmax_y!, x: f.argmax_x! };
            })()
          : null;
      const grad = must(op.roiAlignBackward(c.rois, g, am, { ...c.attrs, features_shape: c.shape }));
      bitEqual(grad, literalBackward(fl32, c.rois, g, am, c.shape, c.attrs), 'features_grad');
    }),
    PARAMS,
  );
});

test('an out-of-range sample counts in the mean and adds 0·v[b, c, 0, 0]: NaN or ±∞ there poisons avg and ORT max, not mmcv max', () => {
  const shape: Shape4 = [1, 1, 3, 3];
  const offMap = f32s([0, 10, 10, 12, 12]); // every sample beyond W, H
  const halfOff = f32s([0, 1, -6, 2, 2]); // legacy, 1×1, sr 2: one sample row at y < −1, one in range
  const a = { pooled_h: 1, pooled_w: 1, spatial_scale: 1, sampling_ratio: 2, aligned: false };
  for (const bad of [NaN, Infinity, -Infinity]) {
    const v = f32s([bad, 1, 1, 1, 1, 1, 1, 1, 1]);
    for (const dialect of ALL) assert.ok(Number.isNaN(must(op.roiAlign(v, shape, offMap, { ...a, dialect })).top[0]), `avg ${dialect} with v00 = ${bad}`);
    assert.ok(Number.isNaN(must(op.roiAlign(v, shape, offMap, { ...a, dialect: 'onnxruntime', pool_mode: 'max' })).top[0]), 'ORT max');
    const mm = must(op.roiAlign(v, shape, offMap, { ...a, dialect: 'mmcv', pool_mode: 'max' }));
    assert.deepEqual([mm.top[0], mm.argmax_y![0]], [-10000, -1], 'mmcv max: NaN never wins');
  }
  const v = f32s([7, 1, 1, 1, 1, 1, 1, 1, 1]);
  // Finite v00: the out-of-range samples add 0 but still count, so the mean halves.
  bitEqual(must(op.roiAlign(v, shape, halfOff, a)).top, [0.5], 'avg over 2 in + 2 out of range');
  bitEqual(must(op.roiAlign(v, shape, offMap, { ...a, dialect: 'mmcv', pool_mode: 'max' })).top, [0], 'mmcv max: an out-of-range sample competes with 0');
});

test('roiAlignRoiProblem: a bad batch index in every dialect, ORT sampling_ratio < 0, mmcv aligned negative extents, TV/ORT gh·gw < 0 — naming the row and the library; otherwise null', () => {
  const v = new Float32Array(25);
  const shape: Shape4 = [1, 1, 5, 5];
  const ok = f32s([0, 1, 1, 3, 3]);
  for (const dialect of ALL) {
    const e = op.roiAlign(v, shape, f32s([0, 1, 1, 3, 3, 1, 1, 1, 3, 3]), { dialect });
    assert.ok(!e.ok && /row 1/.test(e.error) && e.error.includes(dialect), JSON.stringify(e));
    assert.ok(!op.roiAlign(v, shape, f32s([-1.5, 1, 1, 3, 3]), { dialect }).ok, 'b = trunc(−1.5) = −1');
    assert.ok(op.roiAlign(v, shape, f32s([-0.5, 1, 1, 3, 3]), { dialect }).ok, 'b = trunc(−0.5) = 0');
    assert.ok(op.roiAlign(v, shape, f32s([0.99, 1, 1, 3, 3]), { dialect }).ok, 'b = trunc(0.99) = 0');
  }
  const ort = op.roiAlign(v, shape, ok, { dialect: 'onnxruntime', sampling_ratio: -1 });
  assert.ok(!ort.ok && /onnxruntime/.test(ort.error) && /sampling_ratio/.test(ort.error));
  assert.ok(op.roiAlign(v, shape, ok, { dialect: 'torchvision', sampling_ratio: -1 }).ok, 'torchvision: −1 means adaptive');
  const tall = f32s([0, 1, 3, 3, 1]); // y2 < y1
  assert.ok(!op.roiAlign(v, shape, tall, { dialect: 'mmcv', aligned: true }).ok);
  assert.ok(op.roiAlign(v, shape, tall, { dialect: 'mmcv', aligned: false }).ok, 'legacy clamps the extent to 1');
  fc.assert(
    fc.property(alignCase(), (c) => {
      for (let r = 0; r < c.rois.length / 5; r++) {
        const p = roiAlignRoiProblem({ pooledH: c.attrs.pooled_h, pooledW: c.attrs.pooled_w, scale32: fl32(c.attrs.spatial_scale), samplingRatio: c.attrs.sampling_ratio, aligned: c.attrs.aligned, mode: c.attrs.pool_mode, dialect: c.attrs.dialect, maxInit: fl32(c.attrs.max_init) }, c.rois, r, c.shape[0]);
        assert.equal(p !== null, specProblem(c.rois, r, c.shape[0], c.attrs), `row ${r}: ${p}`);
        if (p !== null) assert.ok(p.includes(`row ${r}`), p);
      }
    }),
    PARAMS,
  );
});

// ------------------------------------------------------------------ 7. crop_and_resize

/** §13.6's in_y for row i of a crop of `crop` rows from box ends a, b on an axis of `size`, in float64 (no rounding). */
const inCoord = (a: number, b: number, size: number, crop: number, i: number) => (crop > 1 ? a * (size - 1) + (i * (b - a) * (size - 1)) / (crop - 1) : 0.5 * (a + b) * (size - 1));

interface CropCase {
  shape: Shape4;
  features: Float32Array;
  boxes: Float32Array;
  boxInd: Int32Array;
}
const cropCase = (boxEnd: fc.Arbitrary<number> = fc.double({ min: -0.3, max: 1.3, noNaN: true }).map(fl32)) =>
  fc
    .record({ N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 6 }), W: fc.integer({ min: 1, max: 6 }), R: fc.integer({ min: 1, max: 3 }) })
    .chain((d) =>
      fc.record({
        features: fc.array(val32(), { minLength: d.N * d.C * d.H * d.W, maxLength: d.N * d.C * d.H * d.W }),
        boxes: fc.array(boxEnd, { minLength: 4 * d.R, maxLength: 4 * d.R }),
        boxInd: fc.array(fc.integer({ min: 0, max: d.N - 1 }), { minLength: d.R, maxLength: d.R }),
      }).map((x): CropCase => ({ shape: [d.N, d.C, d.H, d.W], features: f32s(x.features), boxes: f32s(x.boxes), boxInd: Int32Array.from(x.boxInd) })),
    );
const cropAttrs = fc.record({
  crop_h: fc.integer({ min: 1, max: 6 }),
  crop_w: fc.integer({ min: 1, max: 6 }),
  method: fc.constantFrom<'bilinear' | 'nearest'>('bilinear', 'nearest'),
  extrapolation_value: fc.constantFrom(0, -1.5, 0.1, 7),
  precision: fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
  maxpool: fc.constant<0 | 2>(0),
});
const at4 = ([, C, H, W]: Shape4, b: number, c: number, y: number, x: number) => ((b * C + c) * H + y) * W + x;

test('crop_and_resize: the box (0, 0, 1, 1) at crop H×W reproduces the map exactly (bilinear and nearest, both precisions)', () => {
  fc.assert(
    fc.property(cropCase(), fc.constantFrom<'bilinear' | 'nearest'>('bilinear', 'nearest'), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), (c, method, precision) => {
      const [N, C, H, W] = c.shape;
      const boxInd = Int32Array.from({ length: N }, (_, b) => b);
      const boxes = f32s(Array.from({ length: N }, () => [0, 0, 1, 1]).flat());
      const out = op.cropAndResize(c.features, c.shape, boxes, boxInd, { crop_h: H, crop_w: W, method, extrapolation_value: 99, precision, maxpool: 0 });
      bitEqual(out, c.features.subarray(0, N * C * H * W), 'crops');
    }),
    PARAMS,
  );
});

test('crop_and_resize: a row or column sampled outside [0, size − 1] is extrapolation_value; inside, a bilinear crop lies within its four corners and a nearest crop is the cell at round(in_y), round(in_x)', () => {
  fc.assert(
    fc.property(cropCase(), cropAttrs, (c, a) => {
      const out = op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, a);
      const [, C, H, W] = c.shape;
      const ext = fl32(a.extrapolation_value);
      const far = 1e-4; // float32 and float64 in_y differ by far less; nearer the edge, or a .5 tie, the precisions may decide differently
      for (let r = 0; r < c.boxInd.length; r++) {
        const [y1, x1, y2, x2] = c.boxes.subarray(4 * r, 4 * r + 4);
        for (let ch = 0; ch < C; ch++)
          for (let i = 0; i < a.crop_h; i++)
            for (let j = 0; j < a.crop_w; j++) {
              const got = out[((r * C + ch) * a.crop_h + i) * a.crop_w + j];
              const iy = inCoord(y1, y2, H, a.crop_h, i);
              const ix = inCoord(x1, x2, W, a.crop_w, j);
              const outside = (t: number, size: number) => t < -far || t > size - 1 + far;
              const inside = (t: number, size: number) => t > far && t < size - 1 - far;
              if (outside(iy, H) || outside(ix, W)) assert.equal(got, ext, `(${r}, ${ch}, ${i}, ${j}) is outside`);
              else if (inside(iy, H) || (H === 1 && Math.abs(iy) < far)) {
                if (!(inside(ix, W) || (W === 1 && Math.abs(ix) < far))) continue;
                if (a.method === 'nearest') {
                  const ty = Math.abs((iy % 1) - 0.5) < far;
                  const tx = Math.abs((ix % 1) - 0.5) < far;
                  if (!ty && !tx) assert.equal(got, c.features[at4(c.shape, c.boxInd[r], ch, Math.round(iy), Math.round(ix))], `nearest (${r}, ${ch}, ${i}, ${j})`);
                } else {
                  const ys = [Math.floor(iy), Math.ceil(iy)];
                  const xs = [Math.floor(ix), Math.ceil(ix)];
                  const corners = ys.flatMap((y) => xs.map((x) => c.features[at4(c.shape, c.boxInd[r], ch, Math.min(y, H - 1), Math.min(x, W - 1))]));
                  const lo = Math.min(...corners);
                  const hi = Math.max(...corners);
                  const slack = 4 * U * Math.max(Math.abs(lo), Math.abs(hi));
                  assert.ok(got >= lo - slack && got <= hi + slack, `bilinear (${r}, ${ch}, ${i}, ${j}) = ${got} outside [${lo}, ${hi}]`);
                }
              }
            }
      }
    }),
    PARAMS,
  );
});

test('crop_and_resize nearest: every value is a cell of the box’s image or extrapolation_value', () => {
  fc.assert(
    fc.property(cropCase(), cropAttrs, (c, a) => {
      const out = op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, { ...a, method: 'nearest' });
      const [, C, H, W] = c.shape;
      for (let r = 0; r < c.boxInd.length; r++)
        for (let ch = 0; ch < C; ch++) {
          const cells = new Set(Array.from({ length: H * W }, (_, i) => c.features[at4(c.shape, c.boxInd[r], ch, 0, 0) + i]));
          cells.add(fl32(a.extrapolation_value));
          for (let k = 0; k < a.crop_h * a.crop_w; k++) assert.ok(cells.has(out[(r * C + ch) * a.crop_h * a.crop_w + k]), `(${r}, ${ch}, ${k})`);
        }
    }),
    PARAMS,
  );
});

test('crop_and_resize: swapping y1 ↔ y2 (x1 ↔ x2) flips the crop vertically (horizontally) — exactly, for boxes on a 1/8 grid and crop − 1 a power of two', () => {
  const eighth = fc.integer({ min: -2, max: 10 }).map((k) => k / 8);
  fc.assert(
    fc.property(cropCase(eighth), cropAttrs, fc.constantFrom(1, 2, 3, 5, 9), fc.constantFrom(1, 2, 3, 5, 9), (c, a0, ch, cw) => {
      const a = { ...a0, crop_h: ch, crop_w: cw };
      const R = c.boxInd.length;
      const C = c.shape[1];
      const base = op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, a);
      const swap = (k1: number, k2: number) => f32s(Array.from(c.boxes, (_, i) => c.boxes[i % 4 === k1 ? i - k1 + k2 : i % 4 === k2 ? i - k2 + k1 : i]));
      const vflip = op.cropAndResize(c.features, c.shape, swap(0, 2), c.boxInd, a);
      const hflip = op.cropAndResize(c.features, c.shape, swap(1, 3), c.boxInd, a);
      for (let p = 0; p < R * C; p++)
        for (let i = 0; i < ch; i++)
          for (let j = 0; j < cw; j++) {
            const o = (p * ch + i) * cw + j;
            bitEqual([vflip[(p * ch + (ch - 1 - i)) * cw + j], hflip[(p * ch + i) * cw + (cw - 1 - j)]], [base[o], base[o]], `plane ${p} (${i}, ${j})`);
          }
    }),
    PARAMS,
  );
});

test('crop_and_resize maxpool 2 = the maximum of each 2×2 block of the crop (VALID: an odd last row or column is dropped)', () => {
  fc.assert(
    fc.property(cropCase(), cropAttrs, (c, a) => {
      const crop = op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, a);
      const pooled = op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, { ...a, maxpool: 2 });
      const [ph, pw] = [Math.floor(a.crop_h / 2), Math.floor(a.crop_w / 2)];
      const planes = c.boxInd.length * c.shape[1];
      const want: number[] = [];
      for (let p = 0; p < planes; p++)
        for (let i = 0; i < ph; i++)
          for (let j = 0; j < pw; j++) {
            const at = (di: number, dj: number) => crop[(p * a.crop_h + 2 * i + di) * a.crop_w + 2 * j + dj];
            want.push(Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1)));
          }
      closeTo(pooled, want, 0, 'pooled');
    }),
    PARAMS,
  );
});

/**
 * §13.6's mappings: on a feature RoI [Y1, Y2] × [X1, X2] whose samples lie in [0, H − 1],
 * RoIAlign(aligned, sr 1, P) = crop_and_resize(P) with y1n = (Y1 − 0.5 + d/2)/(H − 1),
 * y2n = (Y2 − 0.5 − d/2)/(H − 1), d = (Y2 − Y1)/P; and the OD API's crop 2P + 2×2 max pool =
 * mmcv max RoIAlign(aligned, sr 2, P) with d = (Y2 − Y1)/2P. Both sample the same points, by
 * different float32 formulas: SPEC measured ≤ 3e−6; we allow 1e−5 on features in [−10, 10].
 */
test('crop_and_resize ↔ RoIAlign (§13.6 mappings): aligned sr 1 = crop P; OD API crop 2P + max pool 2 = mmcv max aligned sr 2, within 1e−5', () => {
  fc.assert(
    fc.property(
      fc.record({ H: fc.integer({ min: 2, max: 7 }), W: fc.integer({ min: 2, max: 7 }), P: fc.integer({ min: 1, max: 3 }) }).chain((d) =>
        fc.record({
          d: fc.constant(d),
          v: fc.array(val32(), { minLength: d.H * d.W, maxLength: d.H * d.W }),
          box: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
        }),
      ),
      ({ d, v, box: [a1, a2, b1, b2] }) => {
        // [Y1, Y2] inside [0.5, H − 0.5] (sample centres then lie in [0, H − 1]).
        const span = (size: number, p: number, q: number) => {
          const lo = 0.5 + p * (size - 1) * 0.9;
          return [fl32(lo), fl32(lo + Math.max(q * (size - 0.5 - lo), 0.01))];
        };
        const [Y1, Y2] = span(d.H, a1, a2);
        const [X1, X2] = span(d.W, b1, b2);
        const feats = f32s(v);
        const shape: Shape4 = [1, 1, d.H, d.W];
        const rois = f32s([0, X1, Y1, X2, Y2]);
        const norm = (A: number, B: number, size: number, K: number) => {
          const dd = (B - A) / K;
          return [fl32((A - 0.5 + dd / 2) / (size - 1)), fl32((B - 0.5 - dd / 2) / (size - 1))];
        };
        const boxes = (K: number) => {
          const [y1, y2] = norm(Y1, Y2, d.H, K);
          const [x1, x2] = norm(X1, X2, d.W, K);
          return f32s([y1, x1, y2, x2]);
        };
        const base = { pooled_h: d.P, pooled_w: d.P, spatial_scale: 1, aligned: true };
        for (const precision of ['float32', 'float64'] as const) {
          const ra = must(op.roiAlign(feats, shape, rois, { ...base, sampling_ratio: 1 })).top;
          const cr = op.cropAndResize(feats, shape, boxes(d.P), Int32Array.of(0), { crop_h: d.P, crop_w: d.P, method: 'bilinear', extrapolation_value: 0, precision, maxpool: 0 });
          closeTo(cr, ra, 1e-5, `crop ${precision} vs RoIAlign sr 1`);
          const mm = must(op.roiAlign(feats, shape, rois, { ...base, sampling_ratio: 2, dialect: 'mmcv', pool_mode: 'max' })).top;
          const od = op.cropAndResize(feats, shape, boxes(2 * d.P), Int32Array.of(0), { crop_h: 2 * d.P, crop_w: 2 * d.P, method: 'bilinear', extrapolation_value: 0, precision, maxpool: 2 });
          closeTo(od, mm, 1e-5, `OD API ${precision} vs mmcv max sr 2`);
        }
      },
    ),
    PARAMS,
  );
});

/** C `roundf`: drop the fraction, then step away from zero at one half or more. */
const cRound = (x: number): number => {
  const t = Math.trunc(x);
  return Math.abs(x - t) >= 0.5 ? t + Math.sign(x) : t;
};

/**
 * §13.6 literally, one output at a time: with fl = Math.fround every TF C++ float op is rounded;
 * with fl = identity it is tfjs's double arithmetic. Either way the store into the float32 output
 * rounds once more.
 */
const literalCrop = (fl: Fl, c: CropCase, a: CropAttrs): Float32Array => {
  const [, C, H, W] = c.shape;
  const [CH, CW] = [a.crop_h, a.crop_w];
  const out = new Float32Array(c.boxInd.length * C * CH * CW);
  const coord = (p: number, q: number, size: number, crop: number, i: number) =>
    crop > 1 ? fl(fl(p * (size - 1)) + fl(i * fl(fl(fl(q - p) * (size - 1)) / (crop - 1)))) : fl(0.5 * fl(p + q) * (size - 1));
  for (let r = 0; r < c.boxInd.length; r++) {
    const [y1, x1, y2, x2] = Array.from(c.boxes.subarray(4 * r, 4 * r + 4));
    for (let ch = 0; ch < C; ch++)
      for (let i = 0; i < CH; i++)
        for (let j = 0; j < CW; j++) {
          const o = ((r * C + ch) * CH + i) * CW + j;
          const iy = coord(y1, y2, H, CH, i);
          const ix = coord(x1, x2, W, CW, j);
          if (iy < 0 || iy > H - 1 || ix < 0 || ix > W - 1) {
            out[o] = a.extrapolation_value;
            continue;
          }
          const v = (y: number, x: number) => c.features[at4(c.shape, c.boxInd[r], ch, y, x)];
          if (a.method === 'nearest') {
            out[o] = fl === F64 ? v(Math.round(iy), Math.round(ix)) : v(cRound(iy), cRound(ix));
            continue;
          }
          const [t0, b0, l0, r0] = [Math.floor(iy), Math.ceil(iy), Math.floor(ix), Math.ceil(ix)];
          const ly = fl(iy - t0);
          const lx = fl(ix - l0);
          const top = fl(v(t0, l0) + fl(fl(v(t0, r0) - v(t0, l0)) * lx));
          const bottom = fl(v(b0, l0) + fl(fl(v(b0, r0) - v(b0, l0)) * lx));
          out[o] = fl(top + fl(fl(bottom - top) * ly));
        }
  }
  return out;
};

test('crop_and_resize = the literal §13.6 model bit for bit: float32 = TF C++ (every op rounded), float64 = tfjs (double, rounded once at the store)', () => {
  fc.assert(
    fc.property(cropCase(), cropAttrs, (c, a) => {
      bitEqual(op.cropAndResize(c.features, c.shape, c.boxes, c.boxInd, a), literalCrop(a.precision === 'float32' ? fl32 : F64, c, a), `crops (${a.precision})`);
    }),
    PARAMS,
  );
});

test('crop_and_resize at the map border: box (0.2, 0, 1, 1) on a 2×2 map, crop 4×2 — float32 puts the last row at in_y = 1.0000001 > H − 1 (extrapolated), float64 at exactly 1 (the bottom row)', () => {
  // float32: y2 − y1 = fl(1 − 0.2f) = 0.80000001, hs = fl(0.80000001 / 3) = 0.26666668,
  // fl(3·hs) = 0.80000007 (a tie, to even), fl(0.2f + 0.80000007) = 1.0000001. float64: 0.2f + 3·(0.8…/3) = 1.
  const v = f32s([1, 2, 3, 4]);
  const boxes = f32s([0.2, 0, 1, 1]);
  const a: CropAttrs = { crop_h: 4, crop_w: 2, method: 'bilinear', extrapolation_value: -7, precision: 'float32', maxpool: 0 };
  const tf = op.cropAndResize(v, [1, 1, 2, 2], boxes, Int32Array.of(0), a);
  const tfjs = op.cropAndResize(v, [1, 1, 2, 2], boxes, Int32Array.of(0), { ...a, precision: 'float64' });
  bitEqual(tf.subarray(6), [-7, -7], 'TF C++ last row');
  bitEqual(tfjs.subarray(6), [3, 4], 'tfjs last row');
  // The first row agrees: in_y = 0.2f in both, 1 + 2·0.2 and 2 + 2·0.2 round to the same float32s.
  bitEqual(tf.subarray(0, 2), [fl32(1.4), fl32(2.4)], 'TF C++ first row');
  bitEqual(tfjs.subarray(0, 2), [fl32(1.4), fl32(2.4)], 'tfjs first row');
});

// ------------------------------------------------------------------ 8. purity

const bytes = (a: Float32Array | Int32Array) => Buffer.from(new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

test('purity: no kernel writes its inputs (features, rois, top_grad, argmax, boxes, box_ind byte for byte)', () => {
  fc.assert(
    fc.property(alignCase({ specials: true }), cropCase(), cropAttrs, fc.constantFrom<0 | 2>(0, 2), (c, cc, ca, maxpool) => {
      if (hasProblem(c)) return;
      const ins = [c.features, c.rois];
      const before = ins.map(bytes);
      const fwd = must(op.roiAlign(c.features, c.shape, c.rois, c.attrs));
      const g = Float32Array.from(fwd.top, (_, i) => (i % 3) - 1);
      const am = fwd.argmax_y && fwd.argmax_x ? { y: fwd.argmax_y, x: fwd.argmax_x } : null;
      const more = [g, ...(am ? [am.y, am.x] : [])];
      const before2 = more.map(bytes);
      if (c.attrs.dialect !== 'onnxruntime') must(op.roiAlignBackward(c.rois, g, am, { ...c.attrs, features_shape: c.shape }));
      ins.forEach((a, i) => assert.ok(bytes(a).equals(before[i]), `roi_align input ${i} changed`));
      more.forEach((a, i) => assert.ok(bytes(a).equals(before2[i]), `roi_align_backward input ${i} changed`));
      const cin = [cc.features, cc.boxes, cc.boxInd];
      const cbefore = cin.map(bytes);
      op.cropAndResize(cc.features, cc.shape, cc.boxes, cc.boxInd, { ...ca, maxpool });
      cin.forEach((a, i) => assert.ok(bytes(a).equals(cbefore[i]), `crop_and_resize input ${i} changed`));
    }),
    PARAMS,
  );
});

// ------------------------------------------------------------------ 9. a fixed larger case

test('a fixed larger case (C 16, 38×50, 200 RoIs with off-map and tiny ones, every dialect): runs, matches the literal model on a sample of outputs, and conserves the gradient', () => {
  const rnd = mulberry(20161604);
  const [N, C, H, W] = [2, 16, 38, 50];
  const shape: Shape4 = [N, C, H, W];
  const features = Float32Array.from({ length: N * C * H * W }, () => fl32(rnd() * 20 - 10));
  const stride = 16;
  const rows: number[] = [];
  for (let r = 0; r < 200; r++) {
    const kind = r % 10;
    const cx = (rnd() * (W + 10) - 5) * stride;
    const cy = (rnd() * (H + 10) - 5) * stride;
    // Mostly ordinary boxes; every tenth tiny (under a cell), every tenth wholly off the map.
    const w = kind === 0 ? rnd() * stride * 0.5 : rnd() * 30 * stride;
    const h = kind === 0 ? rnd() * stride * 0.5 : rnd() * 30 * stride;
    const off = kind === 1 ? (W + 20) * stride : 0;
    rows.push(Math.floor(rnd() * N), cx + off, cy, cx + off + w, cy + h);
  }
  const rois = f32s(rows);
  const R = 200;
  for (const [dialect, mode, aligned] of [['torchvision', 'avg', true], ['torchvision', 'avg', false], ['mmcv', 'max', true], ['onnxruntime', 'max', false]] as const) {
    const a: AlignAttrs = { ...DEFAULTS, dialect, pool_mode: mode, aligned, sampling_ratio: dialect === 'mmcv' ? 2 : 0 };
    // mmcv refuses negative aligned extents, none here (w, h ≥ 0).
    const t0 = performance.now();
    const fwd = must(op.roiAlign(features, shape, rois, a));
    const ms = performance.now() - t0;
    assert.equal(fwd.top.length, R * C * 49);
    assert.ok(ms < 5000, `forward took ${ms} ms (a few ms expected)`);
    // The literal model on every seventh RoI.
    const pick = Array.from({ length: R }, (_, r) => r).filter((r) => r % 7 === 0);
    const sub = f32s(pick.flatMap((r) => Array.from(rois.subarray(5 * r, 5 * r + 5))));
    const want = literalForward(fl32, features, shape, sub, a);
    bitEqual(pick.flatMap((r) => Array.from(fwd.top.subarray(r * C * 49, (r + 1) * C * 49))), want.top, `${dialect} ${mode} sampled outputs`);
    if (dialect === 'onnxruntime') continue;
    const g = Float32Array.from({ length: fwd.top.length }, () => fl32(rnd() * 2 - 1));
    const am = fwd.argmax_y && fwd.argmax_x ? { y: fwd.argmax_y, x: fwd.argmax_x } : null;
    const grad = must(op.roiAlignBackward(rois, g, am, { ...a, features_shape: shape }));
    assert.equal(grad.length, N * C * H * W);
    if (mode === 'avg') {
      const { want: total, tol } = avgConservation({ shape, features, rois, attrs: a }, g);
      assert.ok(Math.abs(sum(grad) - total) <= tol, `Σ grad ${sum(grad)} vs ${total} (tolerance ${tol})`);
    } else {
      const { want: total, tol } = maxConservation(shape, rois, am!, g, a);
      assert.ok(Math.abs(sum(grad) - total) <= tol, `Σ grad ${sum(grad)} vs ${total} (tolerance ${tol})`);
    }
  }
});
