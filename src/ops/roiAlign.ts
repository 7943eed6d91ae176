/**
 * The RoIAlign family as pure kernels over raw typed arrays (SPEC §13): `roi_align` forward and
 * backward in the torchvision, mmcv and onnxruntime dialects (§13.2, §13.3), and TensorFlow's
 * `crop_and_resize` with the OD API's optional 2×2 max pool (§13.6).
 *
 * Bit-exact to the libraries' CPU kernels for float32 tensors: every step the originals compute in
 * `float` is one `Math.fround`, in the order they are written. That is not pedantry: float32
 * decides discrete outcomes here — the sample grid gh = ceil(bh) (E6: 10 samples, not 9) and the
 * strict −1 / H range test (E5) — so a float64 port is wrong, not just inexact (§13.5).
 *
 * No validation happens here: the op wrapper checks shapes, dtypes and attrs, and asks
 * `roiAlignRoiProblem` about each RoI before it calls a kernel. The kernels never write their
 * inputs and allocate only their outputs and per-call scratch (no per-sample allocation).
 */
import * as E from 'fp-ts/lib/Either.js';
import { FLT_MAX, roundHalfAwayFromZero } from '../core/float32.js';
import { type Result, type Tensor, adoptTensor, checkFinite, rangeError, valueError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, exact, opFn } from './def.js';
import { referenceKernels } from './kernels.js';
import { FEATURES_INPUT, POOL_ATTRS, ROIS_INPUT, type PoolGeometry } from './common.js';

export type RoiAlignDialect = 'torchvision' | 'mmcv' | 'onnxruntime';
export type RoiAlignMode = 'avg' | 'max';

export interface RoiAlignParams {
  readonly pooledH: number;
  readonly pooledW: number;
  /** fround(spatial_scale). */
  readonly scale32: number;
  /** Integer; ≤ 0 means adaptive (ceil of the float32 bin size). */
  readonly samplingRatio: number;
  readonly aligned: boolean;
  readonly mode: RoiAlignMode;
  readonly dialect: RoiAlignDialect;
  /** fround(max_init): mmcv max's seed (−10000 CPU, −FLT_MAX CUDA); ignored otherwise. */
  readonly maxInit: number;
}

export interface RoiAlignJob extends RoiAlignParams, PoolGeometry {
  /** [N, C, H, W]. */
  readonly features: Float32Array;
  /** [R, 5] = (b, x1, y1, x2, y2) in image coordinates, validated (see `roiAlignRoiProblem`). */
  readonly rois: Float32Array;
  readonly R: number;
}

export interface RoiAlignOut {
  /** [R, C, PH, PW]. */
  readonly top: Float32Array;
  /** mmcv max only: the winning sample's unclamped (y, x) of §13.2 step 6, (−1, −1) for none; else null. */
  readonly argmaxY: Float32Array | null;
  readonly argmaxX: Float32Array | null;
}

/** N, C, H, W are features_shape. */
export interface RoiAlignBackwardJob extends RoiAlignParams, PoolGeometry {
  readonly rois: Float32Array;
  readonly R: number;
  /** [R, C, PH, PW]. */
  readonly topGrad: Float32Array;
  /** mmcv max: the forward's argmax_y / argmax_x [R, C, PH, PW]; null otherwise. */
  readonly argmaxY: Float32Array | null;
  readonly argmaxX: Float32Array | null;
}

export interface CropAndResizeJob {
  /** [N, C, H, W] (TF is NHWC: a transpose, no numeric effect). */
  readonly features: Float32Array;
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  /** [R, 4] = (y1, x1, y2, x2), normalised; finite. */
  readonly boxes: Float32Array;
  /** [R], validated in [0, N). */
  readonly boxInd: Int32Array;
  readonly R: number;
  readonly cropH: number;
  readonly cropW: number;
  readonly method: 'bilinear' | 'nearest';
  readonly extrapolationValue: number;
  /** `float32`: TF C++ (every op float32, nearest = roundf). `float64`: tfjs (double, one rounding at the store, Math.round). */
  readonly precision: 'float32' | 'float64';
  /** 2: the TF OD API's 2×2 stride-2 VALID max pool after the crop. */
  readonly maxpool: 0 | 2;
}

const INT32_MAX = 2147483647;

// ---------------------------------------------------------------- one RoI's frame (§13.2 steps 1–5)

interface Frame {
  /** trunc(roi[0]). */
  readonly b: number;
  /** fl(fl(x1·s) − off) etc. */
  readonly xs: number;
  readonly ys: number;
  /** Extents after the ≥ 1 clamp (legacy only). */
  readonly rw: number;
  readonly rh: number;
  /** fl(rh / PH), fl(rw / PW). */
  readonly bh: number;
  readonly bw: number;
  /** Samples per bin along y and x; 0 or negative possible when aligned. */
  readonly gh: number;
  readonly gw: number;
}

const roiFrame = (p: RoiAlignParams, rois: ArrayLike<number>, r: number): Frame => {
  const fl = Math.fround;
  const o = r * 5;
  const s = p.scale32;
  const off = p.aligned ? 0.5 : 0;
  // Step 2: product, then offset (pitfall 2); no rounding of coordinates (pitfall 3).
  const xs = fl(fl(rois[o + 1] * s) - off);
  const ys = fl(fl(rois[o + 2] * s) - off);
  const xe = fl(fl(rois[o + 3] * s) - off);
  const ye = fl(fl(rois[o + 4] * s) - off);
  // Step 3: continuous extent, no +1; std::max(w, 1) = w < 1 ? 1 : w, only when not aligned.
  let rw = fl(xe - xs);
  let rh = fl(ye - ys);
  if (!p.aligned) {
    rw = rw < 1 ? 1 : rw;
    rh = rh < 1 ? 1 : rh;
  }
  const bh = fl(rh / p.pooledH);
  const bw = fl(rw / p.pooledW);
  // Step 5: the ceiling of the float32 quotient, as a C int (+ 0 turns ceil(−0.3) = −0 into 0).
  const gh = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(bh) + 0;
  const gw = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(bw) + 0;
  return { b: Math.trunc(rois[o]), xs, ys, rw, rh, bh, bw, gh, gw };
};

/**
 * Why RoI r cannot be computed by this dialect, or null (SPEC §13.1 invalid_input, §13.2 step 5).
 * Called by validation before any allocation. Besides SPEC's cases it refuses RoIs on which every
 * library's behaviour is undefined: a scaled coordinate, extent or bin size that is not finite in
 * float32, and a sample grid gh·gw·PH·PW beyond the C `int` the CPU kernels size their
 * pre-computation with.
 */
export const roiAlignRoiProblem = (p: RoiAlignParams, rois: Float32Array, r: number, N: number): string | null => {
  const o = r * 5;
  const raw = rois[o];
  const b = Math.trunc(raw);
  if (!(b >= 0 && b < N))
    return `row ${r}: batch index ${raw} (as int ${b + 0}) is outside [0, ${N}) for ${N} image(s); ${
      p.dialect === 'onnxruntime' ? 'onnxruntime rejects it' : p.dialect === 'mmcv' ? 'mmcv reads out of bounds' : 'torchvision does not check it and reads out of bounds'
    }`;
  if (p.dialect === 'onnxruntime' && p.samplingRatio < 0)
    return `row ${r}: sampling_ratio ${p.samplingRatio} is negative; onnxruntime's RoiAlign requires sampling_ratio ≥ 0`;
  const f = roiFrame(p, rois, r);
  if (![f.xs, f.ys, f.rw, f.rh, f.bh, f.bw].every(Number.isFinite))
    return `row ${r}: (${Array.from(rois.subarray(o + 1, o + 5)).join(', ')}) scaled by ${p.scale32} is not finite in float32; every library's result is undefined there`;
  if (p.dialect === 'mmcv' && p.aligned && !(f.rw >= 0 && f.rh >= 0))
    return `row ${r}: aligned extent ${f.rw} × ${f.rh} (width × height) is negative; mmcv's CPU kernel asserts "ROIs in ROIAlign cannot have non-negative size!"`;
  if (!(Math.abs(f.gh) <= INT32_MAX && Math.abs(f.gw) <= INT32_MAX))
    return `row ${r}: sample grid ${f.gh} × ${f.gw} (gh × gw) does not fit the C int the libraries convert ceil(bin size) to`;
  const cells = f.gh * f.gw;
  if (p.dialect !== 'mmcv' && cells < 0)
    return `row ${r}: sample grid ${f.gh} × ${f.gw} (gh × gw) has a negative product, so the ${
      p.dialect === 'onnxruntime' ? 'onnxruntime CPU kernel fails (SafeInt integer overflow)' : 'torchvision CPU kernel fails (cannot create std::vector larger than max_size())'
    } allocating its pre-computation`;
  if (Math.abs(cells * p.pooledH * p.pooledW) > INT32_MAX)
    return `row ${r}: sample grid ${f.gh} × ${f.gw} per bin × ${p.pooledH} × ${p.pooledW} bins exceeds 2^31 − 1 samples, beyond the C int the CPU kernels count them in`;
  return null;
};

// ---------------------------------------------------------------- samples (§13.2 steps 6–7)

/** Step 7's per-axis results for a run of sample coordinates. */
interface Axis {
  ok: Uint8Array;
  lo: Int32Array;
  hi: Int32Array;
  l: Float64Array;
  h: Float64Array;
}

const newAxis = (n: number): Axis => ({
  ok: new Uint8Array(n),
  lo: new Int32Array(n),
  hi: new Int32Array(n),
  l: new Float64Array(n),
  h: new Float64Array(n),
});

/**
 * One axis of step 7 for the sample coordinate v on an axis of `size` cells: writes whether v is
 * in range (−1 ≤ v ≤ size: −1 and size are inside), the low and high cell, and the weights l, h.
 * NaN counts as out of range (torchvision HEAD), and so does everything on an empty axis (no
 * library defines that; there is no element to read).
 */
const axisAt = (a: Axis, i: number, v: number, size: number): void => {
  if (!(size > 0 && v >= -1 && v <= Math.fround(size))) {
    a.ok[i] = 0;
    a.lo[i] = 0;
    a.hi[i] = 0;
    a.l[i] = 0;
    a.h[i] = 0;
    return;
  }
  let t = v <= 0 ? 0 : v;
  let lo = Math.trunc(t);
  let hi: number;
  if (lo >= size - 1) {
    lo = hi = size - 1;
    t = lo;
  } else hi = lo + 1;
  const l = Math.fround(t - lo);
  a.ok[i] = 1;
  a.lo[i] = lo;
  a.hi[i] = hi;
  a.l[i] = l;
  a.h[i] = Math.fround(1 - l);
};

/**
 * Per-call scratch, grown on demand: for one RoI, the sample coordinates per (ph, iy) and
 * (pw, ix) (they are separable), then per sample in (ph, pw, iy, ix) order — torchvision's
 * pre_calc — the four positions in the channel plane and weights, and the unclamped (y, x) for
 * mmcv's argmax. An out-of-range sample has positions 0 and weights 0, as in the originals, so it
 * still adds 0·v[b, c, 0, 0] (NaN when that element is not finite).
 */
class Samples {
  yv = new Float64Array(0);
  xv = new Float64Array(0);
  ya: Axis = newAxis(0);
  xa: Axis = newAxis(0);
  pos = new Int32Array(0);
  w = new Float32Array(0);
  ok = new Uint8Array(0);
  sy = new Float32Array(0);
  sx = new Float32Array(0);
  /** Samples per bin (gh·gw, or 0 when either is ≤ 0). */
  perBin = 0;

  fill(p: RoiAlignParams, f: Frame, H: number, W: number): void {
    const fl = Math.fround;
    const { pooledH: PH, pooledW: PW } = p;
    // No samples at all when either grid side is ≤ 0: the other side's coordinates are never used.
    const any = f.gh > 0 && f.gw > 0;
    const gh = any ? f.gh : 0;
    const gw = any ? f.gw : 0;
    this.perBin = gh * gw;
    const ny = PH * gh;
    const nx = PW * gw;
    if (this.yv.length < ny) {
      this.yv = new Float64Array(ny);
      this.ya = newAxis(ny);
    }
    if (this.xv.length < nx) {
      this.xv = new Float64Array(nx);
      this.xa = newAxis(nx);
    }
    // Step 6: y = fl(fl(ys + fl(ph·bh)) + fl(fl((iy + 0.5)·bh) / gh)); x alike.
    for (let ph = 0, i = 0; ph < PH; ph++) {
      const y0 = fl(f.ys + fl(ph * f.bh));
      for (let iy = 0; iy < gh; iy++, i++) {
        const y = fl(y0 + fl(fl((iy + 0.5) * f.bh) / gh));
        this.yv[i] = y;
        axisAt(this.ya, i, y, H);
      }
    }
    for (let pw = 0, i = 0; pw < PW; pw++) {
      const x0 = fl(f.xs + fl(pw * f.bw));
      for (let ix = 0; ix < gw; ix++, i++) {
        const x = fl(x0 + fl(fl((ix + 0.5) * f.bw) / gw));
        this.xv[i] = x;
        axisAt(this.xa, i, x, W);
      }
    }
    const n = PH * PW * this.perBin;
    if (this.ok.length < n) {
      const cap = Math.max(n, 2 * this.ok.length);
      this.pos = new Int32Array(4 * cap);
      this.w = new Float32Array(4 * cap);
      this.ok = new Uint8Array(cap);
      this.sy = new Float32Array(cap);
      this.sx = new Float32Array(cap);
    }
    const { ya, xa, pos, w, ok, sy, sx } = this;
    let k = 0;
    for (let ph = 0; ph < PH; ph++)
      for (let pw = 0; pw < PW; pw++)
        for (let iy = ph * gh; iy < (ph + 1) * gh; iy++)
          for (let ix = pw * gw; ix < (pw + 1) * gw; ix++, k++) {
            sy[k] = this.yv[iy];
            sx[k] = this.xv[ix];
            const q = 4 * k;
            if (ya.ok[iy] === 0 || xa.ok[ix] === 0) {
              ok[k] = 0;
              pos[q] = pos[q + 1] = pos[q + 2] = pos[q + 3] = 0;
              w[q] = w[q + 1] = w[q + 2] = w[q + 3] = 0;
              continue;
            }
            const hy = ya.h[iy];
            const ly = ya.l[iy];
            const hx = xa.h[ix];
            const lx = xa.l[ix];
            ok[k] = 1;
            pos[q] = ya.lo[iy] * W + xa.lo[ix];
            pos[q + 1] = ya.lo[iy] * W + xa.hi[ix];
            pos[q + 2] = ya.hi[iy] * W + xa.lo[ix];
            pos[q + 3] = ya.hi[iy] * W + xa.hi[ix];
            w[q] = fl(hy * hx);
            w[q + 1] = fl(hy * lx);
            w[q + 2] = fl(ly * hx);
            w[q + 3] = fl(ly * lx);
          }
  }
}

// ---------------------------------------------------------------- forward (§13.2)

/**
 * RoIAlign forward (SPEC §13.2). Loops RoI, then channel, then bin, then the bin's samples
 * iy-major, reusing the RoI's pre-computed samples for every channel (torchvision's pre_calc);
 * the float operations per output are exactly those of steps 8–10.
 */
export const roiAlignKernel = (job: RoiAlignJob): RoiAlignOut => {
  const { C, H, W, R, pooledH: PH, pooledW: PW } = job;
  const bins = PH * PW;
  const top = new Float32Array(R * C * bins);
  const mmcvMax = job.mode === 'max' && job.dialect === 'mmcv';
  const argmaxY = mmcvMax ? new Float32Array(top.length) : null;
  const argmaxX = mmcvMax ? new Float32Array(top.length) : null;
  if (top.length === 0) return { top, argmaxY, argmaxX };
  const plane = H * W;
  // An empty map: every sample is out of range and its 0·v[b, c, 0, 0] reads a stand-in 0.
  const feat = plane === 0 ? new Float32Array(1) : job.features;
  const smp = new Samples();
  for (let r = 0; r < R; r++) {
    const f = roiFrame(job, job.rois, r);
    smp.fill(job, f, H, W);
    // count = max(gh·gw, 1), an int converted to float (§13.2 step 5).
    const count = Math.fround(Math.max(f.gh * f.gw, 1));
    for (let c = 0; c < C; c++) {
      const base = plane === 0 ? 0 : (f.b * C + c) * plane;
      const o = (r * C + c) * bins;
      if (job.mode === 'avg') avgBins(feat, base, smp, bins, count, top, o);
      else if (argmaxY !== null && argmaxX !== null) mmcvMaxBins(feat, base, smp, bins, job.maxInit, top, argmaxY, argmaxX, o);
      else ortMaxBins(feat, base, smp, bins, top, o);
    }
  }
  return { top, argmaxY, argmaxX };
};

/** Step 8: acc = fl(acc + fl(fl(fl(fl(w1v1) + fl(w2v2)) + fl(w3v3)) + fl(w4v4))), then fl(acc / count). */
const avgBins = (v: Float32Array, base: number, s: Samples, bins: number, count: number, top: Float32Array, o: number): void => {
  const fl = Math.fround;
  const { pos, w } = s;
  const n = s.perBin;
  for (let bin = 0, k = 0; bin < bins; bin++) {
    let acc = 0;
    for (const end = k + n; k < end; k++) {
      const q = 4 * k;
      acc = fl(acc + fl(fl(fl(fl(w[q] * v[base + pos[q]]) + fl(w[q + 1] * v[base + pos[q + 1]])) + fl(w[q + 2] * v[base + pos[q + 2]])) + fl(w[q + 3] * v[base + pos[q + 3]])));
    }
    top[o + bin] = acc / count;
  }
};

/**
 * Step 9, mmcv: the interpolated value of step 8 per sample, strict > from max_init (first wins,
 * NaN never), argmax = the sample's unclamped (y, x); (−1, −1) while nothing has won. An
 * out-of-range sample competes with its value ±0.
 */
const mmcvMaxBins = (
  v: Float32Array,
  base: number,
  s: Samples,
  bins: number,
  maxInit: number,
  top: Float32Array,
  ay: Float32Array,
  ax: Float32Array,
  o: number,
): void => {
  const fl = Math.fround;
  const { pos, w, sy, sx } = s;
  const n = s.perBin;
  for (let bin = 0, k = 0; bin < bins; bin++) {
    let m = maxInit;
    let my = -1;
    let mx = -1;
    for (const end = k + n; k < end; k++) {
      const q = 4 * k;
      const val = fl(fl(fl(fl(w[q] * v[base + pos[q]]) + fl(w[q + 1] * v[base + pos[q + 1]])) + fl(w[q + 2] * v[base + pos[q + 2]])) + fl(w[q + 3] * v[base + pos[q + 3]]));
      if (val > m) {
        m = val;
        my = sy[k];
        mx = sx[k];
      }
    }
    top[o + bin] = m;
    ay[o + bin] = my;
    ax[o + bin] = mx;
  }
};

/**
 * Step 10, onnxruntime: per sample t = max of the four weighted corner terms (not the
 * interpolated value, ORT#6146), std::max(a, b) = a < b ? b : a; top = the first sample's t, then
 * std::max(top, t). A bin without samples is 0.
 */
const ortMaxBins = (v: Float32Array, base: number, s: Samples, bins: number, top: Float32Array, o: number): void => {
  const fl = Math.fround;
  const { pos, w } = s;
  const n = s.perBin;
  for (let bin = 0, k = 0; bin < bins; bin++) {
    let out = 0;
    for (const start = k, end = k + n; k < end; k++) {
      const q = 4 * k;
      const t1 = fl(w[q] * v[base + pos[q]]);
      const t2 = fl(w[q + 1] * v[base + pos[q + 1]]);
      const t3 = fl(w[q + 2] * v[base + pos[q + 2]]);
      const t4 = fl(w[q + 3] * v[base + pos[q + 3]]);
      let t = t1 < t2 ? t2 : t1;
      t = t < t3 ? t3 : t;
      t = t < t4 ? t4 : t;
      out = k === start ? t : out < t ? t : out;
    }
    top[o + bin] = out;
  }
};

// ---------------------------------------------------------------- backward (§13.3)

/**
 * RoIAlign backward (SPEC §13.3): features_grad [N, C, H, W], a float32 scatter.
 *
 * avg (torchvision, mmcv; Caffe2 alike): for RoI r, c, ph, pw, iy, ix, an in-range sample adds
 * fl(fl(g·wk) / count) to each of its four corners k = 1..4 in turn, with count = gh·gw
 * (unclamped). mmcv max: each bin whose argmax_y ≠ −1 adds fl(g·wk) at the stored (y, x), if in
 * range. Accumulation is float32 on purpose: the libraries' `T` sums in this order are what a
 * faithful port reproduces. `grad[i] += t` on a Float32Array is exactly one float32 addition.
 *
 * The loops run r, ph, pw and the channels inside each RoI as r, c, bin; each gradient element
 * belongs to one channel, so it receives its terms in the originals' (r, ph, pw, iy, ix) order.
 */
export const roiAlignBackwardKernel = (job: RoiAlignBackwardJob): Float32Array => {
  const { N, C, H, W, R, pooledH: PH, pooledW: PW } = job;
  const plane = H * W;
  const grad = new Float32Array(N * C * plane);
  if (grad.length === 0 || R === 0) return grad;
  const bins = PH * PW;
  const g = job.topGrad;
  if (job.mode === 'max') {
    const { argmaxY, argmaxX } = job;
    if (job.dialect !== 'mmcv' || argmaxY === null || argmaxX === null)
      throw new Error('roiAlignBackwardKernel: max pooling has a backward only in the mmcv dialect, with argmax_y and argmax_x');
    mmcvMaxBackward(job, argmaxY, argmaxX, grad);
    return grad;
  }
  const fl = Math.fround;
  const smp = new Samples();
  for (let r = 0; r < R; r++) {
    const f = roiFrame(job, job.rois, r);
    smp.fill(job, f, H, W);
    const n = smp.perBin;
    if (n === 0) continue;
    // torchvision / mmcv backward: `const T count = roi_bin_grid_h * roi_bin_grid_w;`
    const count = fl(f.gh * f.gw);
    const { pos, w, ok } = smp;
    for (let c = 0; c < C; c++) {
      const base = (f.b * C + c) * plane;
      const o = (r * C + c) * bins;
      for (let bin = 0, k = 0; bin < bins; bin++) {
        const gb = g[o + bin];
        for (const end = k + n; k < end; k++) {
          if (ok[k] === 0) continue;
          const q = 4 * k;
          // All four terms are computed before the adds, as g1..g4 are in the originals.
          const g1 = fl(fl(gb * w[q]) / count);
          const g2 = fl(fl(gb * w[q + 1]) / count);
          const g3 = fl(fl(gb * w[q + 2]) / count);
          const g4 = fl(fl(gb * w[q + 3]) / count);
          grad[base + pos[q]] += g1;
          grad[base + pos[q + 1]] += g2;
          grad[base + pos[q + 2]] += g3;
          grad[base + pos[q + 3]] += g4;
        }
      }
    }
  }
  return grad;
};

const mmcvMaxBackward = (job: RoiAlignBackwardJob, argmaxY: Float32Array, argmaxX: Float32Array, grad: Float32Array): void => {
  const fl = Math.fround;
  const { C, H, W, R, rois } = job;
  const bins = job.pooledH * job.pooledW;
  const plane = H * W;
  const g = job.topGrad;
  const ya = newAxis(1);
  const xa = newAxis(1);
  for (let r = 0; r < R; r++) {
    const b = Math.trunc(rois[r * 5]);
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * plane;
      for (let bin = 0, o = (r * C + c) * bins; bin < bins; bin++, o++) {
        const y = argmaxY[o];
        // The −1 sentinel: a sample that won at exactly y = −1 loses its gradient (E7).
        if (y === -1) continue;
        axisAt(ya, 0, y, H);
        axisAt(xa, 0, argmaxX[o], W);
        if (ya.ok[0] === 0 || xa.ok[0] === 0) continue;
        const gb = g[o];
        const g1 = fl(gb * fl(ya.h[0] * xa.h[0]));
        const g2 = fl(gb * fl(ya.h[0] * xa.l[0]));
        const g3 = fl(gb * fl(ya.l[0] * xa.h[0]));
        const g4 = fl(gb * fl(ya.l[0] * xa.l[0]));
        grad[base + ya.lo[0] * W + xa.lo[0]] += g1;
        grad[base + ya.lo[0] * W + xa.hi[0]] += g2;
        grad[base + ya.hi[0] * W + xa.lo[0]] += g3;
        grad[base + ya.hi[0] * W + xa.hi[0]] += g4;
      }
    }
  }
};

// ---------------------------------------------------------------- crop_and_resize (§13.6)

/**
 * Where row (or column) i of a crop samples the map along one axis of `size` cells, from the box
 * ends a, b (normalised) — TF's in_y / in_x. float32 (TF C++): hs = fl(fl(fl(b − a)·(size − 1)) /
 * (crop − 1)), in(i) = fl(fl(a·(size − 1)) + fl(i·hs)); a one-row crop samples the middle,
 * 0.5·fl(a + b)·(size − 1) in double (a double literal), stored as float. float64 (tfjs): the same
 * formulas in double, with a + b in double too. Writes in-range flags, the floor and ceil cells,
 * and the lerp weight (TF C++: fl(in − floor); tfjs: in − floor), or the nearest cell.
 */
const cropAxis = (
  a: number,
  b: number,
  size: number,
  crop: number,
  f32: boolean,
  nearest: boolean,
  ok: Uint8Array,
  lo: Int32Array,
  hi: Int32Array,
  lerp: Float64Array,
): void => {
  const fl = Math.fround;
  const s1 = size - 1;
  const scale = crop > 1 ? (f32 ? fl(fl(fl(b - a) * s1) / (crop - 1)) : ((b - a) * s1) / (crop - 1)) : 0;
  for (let i = 0; i < crop; i++) {
    const at = crop > 1 ? (f32 ? fl(fl(a * s1) + fl(i * scale)) : a * s1 + i * scale) : f32 ? fl(0.5 * fl(a + b) * s1) : 0.5 * (a + b) * s1;
    // in < 0 or in > size − 1: the whole row (column) is extrapolation_value. No clamping.
    if (!(at >= 0 && at <= s1)) {
      ok[i] = 0;
      continue;
    }
    ok[i] = 1;
    if (nearest) {
      // roundf (half away from zero) and Math.round (half up) agree here: at ≥ 0.
      lo[i] = f32 ? roundHalfAwayFromZero(at) : Math.round(at);
      continue;
    }
    const l = Math.floor(at);
    lo[i] = l;
    hi[i] = Math.ceil(at);
    lerp[i] = f32 ? fl(at - l) : at - l;
  }
};

/**
 * TF `crop_and_resize` (SPEC §13.6) on NCHW features: crops [R, C, cropH, cropW], then, with
 * maxpool 2, the OD API's 2×2 stride-2 VALID max pool → [R, C, ⌊cropH/2⌋, ⌊cropW/2⌋].
 * Bilinear: t = tl + (tr − tl)·lx, u = bl + (br − bl)·lx, out = t + (u − t)·ly — every op
 * float32 (TF C++), or all in double and rounded once at the float32 store (tfjs).
 */
export const cropAndResizeKernel = (job: CropAndResizeJob): Float32Array => {
  const fl = Math.fround;
  const { features: v, C, H, W, boxes, boxInd, R, cropH: CH, cropW: CW } = job;
  const f32 = job.precision === 'float32';
  const nearest = job.method === 'nearest';
  const ext = fl(job.extrapolationValue);
  const crops = new Float32Array(R * C * CH * CW);
  const yok = new Uint8Array(CH);
  const ylo = new Int32Array(CH);
  const yhi = new Int32Array(CH);
  const yl = new Float64Array(CH);
  const xok = new Uint8Array(CW);
  const xlo = new Int32Array(CW);
  const xhi = new Int32Array(CW);
  const xl = new Float64Array(CW);
  const plane = H * W;
  for (let r = 0; r < R; r++) {
    const o4 = r * 4;
    cropAxis(boxes[o4], boxes[o4 + 2], H, CH, f32, nearest, yok, ylo, yhi, yl);
    cropAxis(boxes[o4 + 1], boxes[o4 + 3], W, CW, f32, nearest, xok, xlo, xhi, xl);
    for (let c = 0; c < C; c++) {
      const base = (boxInd[r] * C + c) * plane;
      let o = (r * C + c) * CH * CW;
      for (let i = 0; i < CH; i++) {
        if (yok[i] === 0) {
          for (let j = 0; j < CW; j++, o++) crops[o] = ext;
          continue;
        }
        const rowT = base + ylo[i] * W;
        const rowB = base + yhi[i] * W;
        const ly = yl[i];
        for (let j = 0; j < CW; j++, o++) {
          if (xok[j] === 0) crops[o] = ext;
          else if (nearest) crops[o] = v[rowT + xlo[j]];
          else {
            const tl = v[rowT + xlo[j]];
            const tr = v[rowT + xhi[j]];
            const bl = v[rowB + xlo[j]];
            const br = v[rowB + xhi[j]];
            const lx = xl[j];
            if (f32) {
              const t = fl(tl + fl(fl(tr - tl) * lx));
              const u = fl(bl + fl(fl(br - bl) * lx));
              crops[o] = fl(t + fl(fl(u - t) * ly));
            } else {
              const t = tl + (tr - tl) * lx;
              const u = bl + (br - bl) * lx;
              crops[o] = t + (u - t) * ly;
            }
          }
        }
      }
    }
  }
  return job.maxpool === 2 ? maxPool2(crops, R * C, CH, CW) : crops;
};

/**
 * The OD API's `max_pool2d([2, 2], stride 2)`, VALID: a trailing odd row or column is dropped.
 * TF's CPU pool starts every window at the lowest float (−FLT_MAX) and keeps the running max m
 * unless m < v, in row-major window order (Eigen's max: a < b ? b : a), so NaN never wins.
 * **[unverified]** for non-finite crops; finite crops get their plain maximum.
 */
const maxPool2 = (crops: Float32Array, planes: number, CH: number, CW: number): Float32Array => {
  const PH = Math.floor(CH / 2);
  const PW = Math.floor(CW / 2);
  const out = new Float32Array(planes * PH * PW);
  for (let p = 0, o = 0; p < planes; p++) {
    const base = p * CH * CW;
    for (let i = 0; i < PH; i++)
      for (let j = 0; j < PW; j++, o++) {
        let m = -FLT_MAX;
        for (let di = 0; di < 2; di++)
          for (let dj = 0; dj < 2; dj++) {
            const val = crops[base + (2 * i + di) * CW + 2 * j + dj];
            m = m < val ? val : m;
          }
        out[o] = m;
      }
  }
  return out;
};


// ---------------------------------------------------------------- the defs

export interface RoiAlignAttrs {
  readonly pooled_h: number;
  readonly pooled_w: number;
  readonly spatial_scale: number;
  readonly sampling_ratio: number;
  readonly aligned: boolean;
  readonly pool_mode: RoiAlignMode;
  readonly dialect: RoiAlignDialect;
  readonly max_init: number;
}

/** The attrs of the RoIAlign sampling, shared with ohem_step's `pooler: "roi_align"` (SPEC §13.1). */
export const ALIGN_ATTRS: readonly AttrDef[] = [
  { name: 'sampling_ratio', domain: { kind: 'int' }, default: 0, doc: 'samples per bin along each axis; ≤ 0: adaptive, ceil of the float32 bin size (onnxruntime: ≥ 0)' },
  { name: 'aligned', domain: { kind: 'bool' }, default: false, doc: 'true: pixel centres at k + 0.5 (detectron2 ROIAlignV2, ONNX half_pixel); false: the legacy half-pixel offset and extents ≥ 1' },
  { name: 'pool_mode', domain: { kind: 'enum', values: ['avg', 'max'] }, default: 'avg', doc: 'avg, or max (mmcv: of interpolated samples; onnxruntime: of weighted corner terms; torchvision has none)' },
];
export const ALIGN_DIALECT: AttrDef = {
  name: 'dialect',
  domain: { kind: 'enum', values: ['torchvision', 'mmcv', 'onnxruntime'] },
  default: 'torchvision',
  doc: 'whose RoIAlign: torchvision/detectron2/Caffe2, mmcv, or onnxruntime (their max rules, seeds and error cases differ)',
};
export const MAX_INIT: AttrDef = {
  name: 'max_init',
  domain: { kind: 'number' },
  default: -10000,
  doc: 'mmcv max only: the seed of the max (−10000 CPU; −3.4028235e38 is mmcv CUDA), used as a float32',
};

/** The kernel parameters of validated attrs. */
export const alignParams = (a: RoiAlignAttrs): RoiAlignParams => ({
  pooledH: a.pooled_h,
  pooledW: a.pooled_w,
  scale32: Math.fround(a.spatial_scale),
  samplingRatio: a.sampling_ratio,
  aligned: a.aligned,
  mode: a.pool_mode,
  dialect: a.dialect,
  maxInit: Math.fround(a.max_init),
});

/** The attr-level error cases of SPEC §13.1 (`what` is the attr to blame), then every RoI's. */
export const checkAlign = (a: RoiAlignAttrs, rois: Tensor, N: number, names = { dialect: 'attrs.dialect' }): Result<void> => {
  if (a.pool_mode === 'max' && a.dialect === 'torchvision') return E.left(valueError('attrs.pool_mode', `is "max", which ${names.dialect.replace('attrs.', '')} "torchvision" does not have (torchvision's roi_align averages)`));
  if (a.dialect === 'onnxruntime' && a.sampling_ratio < 0) return E.left(rangeError('attrs.sampling_ratio', `is ${a.sampling_ratio}; onnxruntime's RoiAlign requires sampling_ratio ≥ 0`));
  const fin = checkFinite('rois', rois);
  if (E.isLeft(fin)) return fin;
  const p = alignParams(a);
  const d = rois.data as unknown as Float32Array;
  for (let r = 0; r < rois.shape[0]; r++) {
    const why = roiAlignRoiProblem(p, d, r, N);
    if (why !== null) return E.left(rangeError('rois', why));
  }
  return E.right(undefined);
};

/** A map with no cells that RoIs would sample is undefined in every library: refused. */
const checkMap = (H: number, W: number, work: number): Result<void> =>
  H * W === 0 && work > 0 ? E.left(valueError('features', `has an empty ${H} × ${W} map to sample from (every library's result is undefined)`)) : E.right(undefined);

const isMmcvMax = (a: { readonly [k: string]: unknown }): boolean => a.dialect === 'mmcv' && a.pool_mode === 'max';
const argmaxOut = (name: string, axis: string) => ({
  name,
  dtype: 'float32' as const,
  shape: ['R', 'C', 'pooled_h', 'pooled_w'],
  tolerance: exact('the winning sample\'s coordinates, computed by the same float32 steps: exact'),
  when: { test: isMmcvMax, doc: 'mmcv max only' },
  doc: `the unclamped ${axis} of each bin's winning sample (−1 where none beat max_init)`,
});

export interface RoiAlignOutputs {
  readonly top: Tensor<'float32'>;
  readonly argmax_y?: Tensor<'float32'>;
  readonly argmax_x?: Tensor<'float32'>;
}

const data32 = (t: Tensor): Float32Array => t.data as unknown as Float32Array;

export const roiAlignDef: OpDef<RoiAlignAttrs, RoiAlignOutputs> = {
  name: 'roi_align',
  version: 1,
  summary: 'RoIAlign (torchvision/detectron2, mmcv, onnxruntime): bilinear samples of each bin, averaged or maxed, bit-exact to each library',
  doc: 'docs/semantics.md#roialign',
  inputs: [FEATURES_INPUT, { ...ROIS_INPUT, doc: '[R, 5] (batch_index, x1, y1, x2, y2) in image coordinates, finite; batch indices in [0, N)' }],
  attrs: [...POOL_ATTRS, ...ALIGN_ATTRS, ALIGN_DIALECT, MAX_INIT],
  outputs: [
    {
      name: 'top',
      dtype: 'float32',
      shape: ['R', 'C', 'pooled_h', 'pooled_w'],
      tolerance: exact('every float32 step of SPEC §13.2 in its order (the libraries\' CPU kernels, FMA-free): bit-exact'),
      doc: 'the pooled bins',
    },
    argmaxOut('argmax_y', 'y'),
    argmaxOut('argmax_x', 'x'),
  ],
  kernels: ['roiAlign'],
  check: (v) => {
    const c = checkAlign(v.attrs, v.inputs.rois, v.dims.N);
    return E.isLeft(c) ? c : checkMap(v.dims.H, v.dims.W, v.dims.R * v.dims.C * v.attrs.pooled_h * v.attrs.pooled_w);
  },
  run: (v, k) => {
    const [N, C, H, W] = v.inputs.features.shape;
    const R = v.dims.R;
    const shape = [R, C, v.attrs.pooled_h, v.attrs.pooled_w];
    const o = k.roiAlign({ ...alignParams(v.attrs), features: data32(v.inputs.features), N, C, H, W, rois: data32(v.inputs.rois), R });
    if (E.isLeft(o)) return o;
    const t = (d: Float32Array) => adoptTensor('float32', shape, d);
    const { top, argmaxY, argmaxX } = o.right;
    return E.right(argmaxY && argmaxX ? { top: t(top), argmax_y: t(argmaxY), argmax_x: t(argmaxX) } : { top: t(top) });
  },
};

export interface RoiAlignBackwardAttrs extends RoiAlignAttrs {
  readonly features_shape: readonly number[];
}

const BACKWARD_DIMS = ['R', 'C', 'pooled_h', 'pooled_w'] as const;
const argmaxIn = (name: string): InputDef => ({
  name,
  dtypes: ['float32'],
  accepts: ['float64'],
  read: 'float32',
  shape: BACKWARD_DIMS,
  presence: { when: (a) => (isMmcvMax(a) ? 'required' : 'unused'), doc: 'mmcv max only: the forward\'s' },
  doc: `the forward's ${name} [R, C, PH, PW] (finite; −1 marks a bin without a winner)`,
});

export const roiAlignBackwardDef: OpDef<RoiAlignBackwardAttrs, { readonly features_grad: Tensor<'float32'> }> = {
  name: 'roi_align_backward',
  version: 1,
  summary: 'the gradient of roi_align with respect to the features (torchvision and mmcv; onnxruntime has none)',
  doc: 'docs/semantics.md#roialign',
  inputs: [
    { ...ROIS_INPUT, doc: 'as for the forward' },
    { name: 'top_grad', dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: BACKWARD_DIMS, doc: 'the gradient of top [R, C, PH, PW]' },
    argmaxIn('argmax_y'),
    argmaxIn('argmax_x'),
  ],
  // onnxruntime's RoiAlign has no gradient: not a value of the backward's dialect.
  attrs: [
    ...roiAlignDef.attrs.map((a) =>
      a === ALIGN_DIALECT ? { ...a, domain: { kind: 'enum' as const, values: ['torchvision', 'mmcv'] }, doc: 'whose RoIAlign gradient: torchvision/detectron2/Caffe2 or mmcv (onnxruntime has none)' } : a,
    ),
    { name: 'features_shape', domain: { kind: 'shape', rank: 4 }, doc: 'the [N, C, H, W] of the pooled features' },
  ],
  outputs: [
    {
      name: 'features_grad',
      dtype: 'float32',
      shape: { attr: 'features_shape' },
      tolerance: exact('the float32 terms of SPEC §13.3 added per element in its (r, c, ph, pw, iy, ix) order: bit-exact on one thread'),
      doc: 'the gradient of the features [N, C, H, W]',
    },
  ],
  kernels: ['roiAlignBackward'],
  bind: (a) => ({ C: a.features_shape[1], pooled_h: a.pooled_h, pooled_w: a.pooled_w }),
  check: (v) => {
    const c = checkAlign(v.attrs, v.inputs.rois, v.attrs.features_shape[0]);
    if (E.isLeft(c)) return c;
    for (const n of ['argmax_y', 'argmax_x'])
      if (v.inputs[n]) {
        const f = checkFinite(n, v.inputs[n]);
        if (E.isLeft(f)) return f;
      }
    const [, C, H, W] = v.attrs.features_shape;
    return checkMap(H, W, v.dims.R * C * v.attrs.pooled_h * v.attrs.pooled_w);
  },
  run: (v, k) => {
    const [N, C, H, W] = v.attrs.features_shape;
    const am = (n: string) => (v.inputs[n] ? data32(v.inputs[n]) : null);
    const g = k.roiAlignBackward({
      ...alignParams(v.attrs),
      rois: data32(v.inputs.rois),
      R: v.dims.R,
      topGrad: data32(v.inputs.top_grad),
      argmaxY: isMmcvMax(v.attrs as unknown as { [k: string]: unknown }) ? am('argmax_y') : null,
      argmaxX: isMmcvMax(v.attrs as unknown as { [k: string]: unknown }) ? am('argmax_x') : null,
      N,
      C,
      H,
      W,
    });
    return E.map((d: Float32Array) => ({ features_grad: adoptTensor('float32', [N, C, H, W], d) }))(g);
  },
};

export interface CropAndResizeAttrs {
  readonly crop_h: number;
  readonly crop_w: number;
  readonly method: 'bilinear' | 'nearest';
  readonly extrapolation_value: number;
  readonly precision: 'float32' | 'float64';
  readonly maxpool: number;
}

const cropSide = (a: CropAndResizeAttrs, n: number): number => (a.maxpool === 2 ? Math.floor(n / 2) : n);

export const cropAndResizeDef: OpDef<CropAndResizeAttrs, { readonly crops: Tensor<'float32'> }> = {
  name: 'crop_and_resize',
  version: 1,
  summary: 'TensorFlow crop_and_resize (TF C++ float32 or tfjs float64), with the OD API\'s optional 2×2 max pool',
  doc: 'docs/semantics.md#crop_and_resize',
  inputs: [
    { ...FEATURES_INPUT, doc: 'the feature map [N, C, H, W] (NCHW; TF is NHWC, a transpose with no numeric effect)' },
    { name: 'boxes', dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: ['R', 4], doc: '[R, 4] (y1, x1, y2, x2), normalised to [0, 1] over the map, finite' },
    { name: 'box_ind', dtypes: ['int32'], read: 'as-is', shape: ['R'], doc: 'the image of each box, in [0, N)' },
  ],
  attrs: [
    { name: 'crop_h', domain: { kind: 'int', min: 1, max: 2147483647 }, default: 14, doc: 'crop rows' },
    { name: 'crop_w', domain: { kind: 'int', min: 1, max: 2147483647 }, default: 14, doc: 'crop columns' },
    { name: 'method', domain: { kind: 'enum', values: ['bilinear', 'nearest'] }, default: 'bilinear', doc: 'bilinear or nearest sampling' },
    { name: 'extrapolation_value', domain: { kind: 'number' }, default: 0, doc: 'the value of samples off the map' },
    { name: 'precision', domain: { kind: 'enum', values: ['float32', 'float64'] }, default: 'float32', doc: 'float32: TF C++ (every step float32); float64: tfjs (double, rounded once at the store)' },
    { name: 'maxpool', domain: { kind: 'int', min: 0, max: 2 }, default: 0, doc: '0, or 2: the TF OD API\'s 2×2 stride-2 VALID max pool after the crop (1 is not a value)' },
  ],
  outputs: [
    {
      name: 'crops',
      dtype: 'float32',
      shape: ['R', 'C', 'OH', 'OW'],
      tolerance: exact('the float32 steps of TF C++ or tfjs\'s doubles rounded once: bit-exact either way'),
      doc: 'the crops [R, C, crop_h, crop_w] (÷ 2 each with maxpool 2)',
    },
  ],
  kernels: ['cropAndResize'],
  bind: (a) => ({ OH: cropSide(a, a.crop_h), OW: cropSide(a, a.crop_w) }),
  check: (v) => {
    if (v.attrs.maxpool === 1) return E.left(rangeError('attrs.maxpool', 'is 1; it is 0 (no pool) or 2 (the OD API\'s 2×2 pool)'));
    const fin = checkFinite('boxes', v.inputs.boxes);
    if (E.isLeft(fin)) return fin;
    const N = v.dims.N;
    const d = v.inputs.box_ind.data;
    for (let i = 0; i < d.length; i++) if (d[i] < 0 || d[i] >= N) return E.left(rangeError('box_ind', `element ${i} is ${d[i]}, outside [0, ${N}) for ${N} image(s)`));
    return E.right(undefined);
  },
  run: (v, k) => {
    const [N, C, H, W] = v.inputs.features.shape;
    const R = v.dims.R;
    const a = v.attrs;
    const out = k.cropAndResize({
      features: data32(v.inputs.features),
      N,
      C,
      H,
      W,
      boxes: data32(v.inputs.boxes),
      boxInd: v.inputs.box_ind.data as unknown as Int32Array,
      R,
      cropH: a.crop_h,
      cropW: a.crop_w,
      method: a.method,
      extrapolationValue: a.extrapolation_value,
      precision: a.precision,
      maxpool: a.maxpool === 2 ? 2 : 0,
    });
    return E.map((d: Float32Array) => ({ crops: adoptTensor('float32', [R, C, cropSide(a, a.crop_h), cropSide(a, a.crop_w)], d) }))(out);
  },
};

/** RoIAlign forward (SPEC §13.2) on the given kernels (the reference's by default). */
export const roiAlign = opFn<{ readonly features: Tensor; readonly rois: Tensor }, RoiAlignAttrs, RoiAlignOutputs>(roiAlignDef, () => referenceKernels);
/** RoIAlign backward (SPEC §13.3). */
export const roiAlignBackward = opFn<
  { readonly rois: Tensor; readonly top_grad: Tensor; readonly argmax_y?: Tensor; readonly argmax_x?: Tensor },
  RoiAlignBackwardAttrs,
  { readonly features_grad: Tensor<'float32'> }
>(roiAlignBackwardDef, () => referenceKernels);
/** TF crop_and_resize (SPEC §13.6). */
export const cropAndResize = opFn<{ readonly features: Tensor; readonly boxes: Tensor; readonly box_ind: Tensor }, CropAndResizeAttrs, { readonly crops: Tensor<'float32'> }>(
  cropAndResizeDef,
  () => referenceKernels,
);
