/**
 * RoI max pooling, forward and backward: Caffe's ROIPooling layer (SPEC §5.1, §5.2) and
 * torchvision's scatter backward (SPEC §5.3), bit-exact in float32. docs/semantics.md §4.
 *
 * Every discrete decision (which cells a bin covers, which bins a cell can feed) is taken in
 * float32 arithmetic emulated with `Math.fround`, because that is where float32 and exact
 * arithmetic part ways (the overshoot bin of pitfall 16).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  FLT_MAX,
  type Result,
  type Tensor,
  adoptTensor,
  checkFinite,
  div32,
  mul32,
  rangeError,
  roundHalfAwayFromZero,
  truncToInt,
} from '../core/internal.js';
import { type OpDef, exact, opFn } from './def.js';
import { FEATURES_INPUT, INT32_MAX, POOL_ATTRS, ROIS_INPUT, checkRois, scaledEnd, type PoolGeometry } from './common.js';

export { FEATURES_INPUT, POOL_ATTRS, ROIS_INPUT, ROI_COORD_LIMIT, checkRois, type PoolGeometry } from './common.js';
import { referenceKernels } from './kernels.js';

export interface RoiPoolAttrs {
  /** Output rows per RoI, a positive integer. */
  readonly pooled_h: number;
  /** Output columns per RoI, a positive integer. */
  readonly pooled_w: number;
  /** Image-to-map scale, finite and > 0; used as a float32, like Caffe's param. */
  readonly spatial_scale: number;
}

export interface RoiPoolInputs {
  /** float32 (or float64, rounded to float32) [N, C, H, W]; any values, NaN and ±∞ included. */
  readonly features: Tensor;
  /** float32 (or float64, rounded) [R, 5]: (batch_index, x1, y1, x2, y2) in image pixels, inclusive corners. */
  readonly rois: Tensor;
}

export interface RoiPoolOutputs {
  readonly top: Tensor<'float32'>;
  /** h·W + w of the chosen cell in its channel plane; −1 for an empty bin or one with nothing above −FLT_MAX. */
  readonly argmax: Tensor<'int32'>;
}

export type RoiPoolBackwardMode = 'caffe' | 'scatter';

export interface RoiPoolBackwardAttrs extends RoiPoolAttrs {
  /** [N, C, H, W] of the pooled features; required (the RoIs do not tell N, H, W). */
  readonly features_shape: readonly number[];
  /**
   * `caffe`: Caffe's GPU gather with its inclusive, unclamped in-RoI test (SPEC §5.2).
   * `scatter`: torchvision; every non-empty bin's gradient goes to its argmax (SPEC §5.3).
   */
  readonly mode: RoiPoolBackwardMode;
}

export interface RoiPoolBackwardInputs {
  /** As for the forward. */
  readonly rois: Tensor;
  /** int32 [R, C, PH, PW]: −1 or a cell index in [0, H·W), normally the forward's argmax. */
  readonly argmax: Tensor;
  /** float32 (or float64, rounded) [R, C, PH, PW]. */
  readonly top_grad: Tensor;
}

export interface RoiPoolBackwardOutputs {
  readonly features_grad: Tensor<'float32'>;
}

/** Where one RoI lies on the map, as both the forward and Caffe's backward recompute it (SPEC §5.1). */
export interface RoiGeometry {
  /** (int) batch index. */
  readonly batch: number;
  /** C-rounded scaled coordinates; the ends are inclusive and not clamped to the map. */
  readonly startW: number;
  readonly startH: number;
  readonly endW: number;
  readonly endH: number;
  /** float32 fl32(Wr / PW) and fl32(Hr / PH), with Wr, Hr = max(end − start + 1, 1). */
  readonly binW: number;
  readonly binH: number;
}

/** Geometry of RoI `r` of a validated [R, 5] rois array; `scale32` is already a float32. */
export const roiGeometry = (
  rois: ArrayLike<number>,
  r: number,
  scale32: number,
  pooledH: number,
  pooledW: number,
): RoiGeometry => {
  const o = r * 5;
  const startW = scaledEnd(rois[o + 1], scale32);
  const startH = scaledEnd(rois[o + 2], scale32);
  const endW = scaledEnd(rois[o + 3], scale32);
  const endH = scaledEnd(rois[o + 4], scale32);
  // Malformed RoIs (end < start) are forced to one cell (SPEC §5.1). The int extent becomes a
  // float before the float32 division, as `static_cast<Dtype>(roi_height)` does.
  const roiW = Math.max(endW - startW + 1, 1);
  const roiH = Math.max(endH - startH + 1, 1);
  return {
    batch: truncToInt(rois[o]),
    startW,
    startH,
    endW,
    endH,
    binW: div32(Math.fround(roiW), Math.fround(pooledW)),
    binH: div32(Math.fround(roiH), Math.fround(pooledH)),
  };
};

/**
 * Bin p's [start, end) along one axis, offset by the RoI start and clipped to [0, size]:
 * floor(fl32(p · bin)) and ceil(fl32((p + 1) · bin)) (SPEC §5.1, pitfall 15–16). Writes
 * `starts[p]`, `ends[p]` for every p < pooled.
 */
export const binBounds = (
  pooled: number,
  bin: number,
  roiStart: number,
  size: number,
  starts: Int32Array,
  ends: Int32Array,
): void => {
  for (let p = 0; p < pooled; p++) {
    starts[p] = clip(Math.floor(mul32(Math.fround(p), bin)) + roiStart, size);
    ends[p] = clip(Math.ceil(mul32(Math.fround(p + 1), bin)) + roiStart, size);
  }
};

const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);


// ---------------------------------------------------------------- the kernels

/** What a forward kernel is handed once the inputs are validated (float32 storage, row-major). */
export interface RoiPoolJob extends PoolGeometry {
  /** [N, C, H, W] */
  readonly features: Float32Array;
  /** [R, 5], batch indices in [0, N) and coordinates within ±ROI_COORD_LIMIT once scaled. */
  readonly rois: Float32Array;
  readonly R: number;
}
export interface RoiPoolKernelOutputs {
  /** [R, C, PH, PW] */
  readonly top: Float32Array;
  readonly argmax: Int32Array;
}

/**
 * RoI max pooling forward (SPEC §5.1): for each RoI, channel and bin, the maximum of the bin's
 * window of the RoI's image, first maximum in row-major order, with its cell index.
 */
export const roiPoolKernel = (job: RoiPoolJob): Result<RoiPoolKernelOutputs> => {
  const { features: f, C: channels, H: height, W: width, rois, R: numRois, pooledH, pooledW, scale32 } = job;
  const top = new Float32Array(numRois * channels * pooledH * pooledW);
  const argmax = new Int32Array(top.length);
  const hs = new Int32Array(pooledH);
  const he = new Int32Array(pooledH);
  const ws = new Int32Array(pooledW);
  const we = new Int32Array(pooledW);
  const plane = height * width;
  let o = 0;
  for (let r = 0; r < numRois; r++) {
    const g = roiGeometry(rois, r, scale32, pooledH, pooledW);
    binBounds(pooledH, g.binH, g.startH, height, hs, he);
    binBounds(pooledW, g.binW, g.startW, width, ws, we);
    for (let c = 0; c < channels; c++) {
      const base = (g.batch * channels + c) * plane;
      for (let ph = 0; ph < pooledH; ph++) {
        const h0 = hs[ph];
        const h1 = he[ph];
        for (let pw = 0; pw < pooledW; pw++, o++) {
          const w0 = ws[pw];
          const w1 = we[pw];
          if (h1 <= h0 || w1 <= w0) {
            top[o] = 0;
            argmax[o] = -1;
            continue;
          }
          // Strict > from −FLT_MAX: the first maximum wins, NaN and −∞ never win (pitfall 17).
          let best = -FLT_MAX;
          let at = -1;
          for (let row = h0 * width; row < h1 * width; row += width) {
            for (let i = row + w0; i < row + w1; i++) {
              const v = f[base + i];
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          top[o] = best;
          argmax[o] = at;
        }
      }
    }
  }
  return E.right({ top, argmax });
};

/** What a backward kernel is handed once the inputs are validated; N, C, H, W are features_shape. */
export interface RoiPoolBackwardJob extends PoolGeometry {
  readonly rois: Float32Array;
  readonly R: number;
  /** int32 [R, C, PH, PW], every value −1 or in [0, H·W). */
  readonly argmax: Int32Array;
  /** float32 [R, C, PH, PW]. */
  readonly topGrad: Float32Array;
  readonly mode: RoiPoolBackwardMode;
}

/**
 * Gradient of RoI max pooling with respect to the features: features_grad [N, C, H, W].
 *
 * `caffe` reproduces Caffe's gather (SPEC §5.2) bit for bit but runs as a filtered scatter: a
 * bin with argmax a can only ever match the one cell a of its RoI's image, so instead of every
 * cell scanning every RoI (O(N·C·H·W·R)), every bin visits that cell and adds its gradient iff the
 * gather would: the cell passes RoI r's inclusive, unclamped in-RoI test and the bin lies in the
 * [phs, phe) × [pws, pwe) window the gather derives from the cell. Bins are visited in (r, c, ph,
 * pw) order, so each cell receives its terms in the gather's order (RoI, then ph, then pw) and the
 * float32 sums are identical.
 *
 * `scatter` is torchvision's: every bin with argmax ≠ −1 adds into its cell, in (r, c, ph, pw)
 * order, with no in-RoI test (SPEC §5.3).
 *
 * Both accumulate in float32, not float64 (DESIGN's default), because Caffe's `Dtype gradient`
 * does and the order is fixed: `grad[i] += t` on a Float32Array is exactly one float32 addition
 * (the double sum of two float32s rounds to the float32 sum).
 */
export const roiPoolBackwardKernel = (job: RoiPoolBackwardJob): Result<Float32Array> => {
  const grad = new Float32Array(job.N * job.C * job.H * job.W);
  (job.mode === 'caffe' ? caffeBackward : scatterBackward)(job, grad);
  return E.right(grad);
};

const caffeBackward = (job: RoiPoolBackwardJob, grad: Float32Array): void => {
  const { rois, argmax, topGrad, R: numRois, C: channels, H: height, W: width, pooledH, pooledW, scale32 } = job;
  // Per cell row h of the current RoI, the bin rows [phs[h], phe[h]) the gather would look at.
  const phs = new Int32Array(height);
  const phe = new Int32Array(height);
  const pws = new Int32Array(width);
  const pwe = new Int32Array(width);
  const plane = height * width;
  let o = 0;
  for (let r = 0; r < numRois; r++) {
    const g = roiGeometry(rois, r, scale32, pooledH, pooledW);
    gatherWindows(pooledH, g.binH, g.startH, g.endH, phs, phe);
    gatherWindows(pooledW, g.binW, g.startW, g.endW, pws, pwe);
    for (let c = 0; c < channels; c++) {
      const base = (g.batch * channels + c) * plane;
      for (let ph = 0; ph < pooledH; ph++) {
        for (let pw = 0; pw < pooledW; pw++, o++) {
          const a = argmax[o];
          if (a < 0) continue;
          const hh = Math.floor(a / width);
          const ww = a - hh * width;
          if (phs[hh] <= ph && ph < phe[hh] && pws[ww] <= pw && pw < pwe[ww]) grad[base + a] += topGrad[o];
        }
      }
    }
  }
};

const scatterBackward = (job: RoiPoolBackwardJob, grad: Float32Array): void => {
  const { rois, argmax, topGrad, R: numRois, C: channels, H: height, W: width } = job;
  const bins = job.pooledH * job.pooledW;
  const plane = height * width;
  let o = 0;
  for (let r = 0; r < numRois; r++) {
    const batch = truncToInt(rois[r * 5]);
    for (let c = 0; c < channels; c++) {
      const base = (batch * channels + c) * plane;
      for (let b = 0; b < bins; b++, o++) {
        const a = argmax[o];
        if (a >= 0) grad[base + a] += topGrad[o];
      }
    }
  }
};

/**
 * For one axis of one RoI and every cell x of the map: the bins [starts[x], ends[x]) that Caffe's
 * gather scans for x (SPEC §5.2): empty unless x passes the inclusive, unclamped in-RoI test
 * start ≤ x ≤ end, else floor(fl32((x − start) / bin)) to ceil(fl32((x − start + 1) / bin)),
 * clipped to [0, pooled]. The int difference becomes a float32 before the division, as in C.
 */
export const gatherWindows = (pooled: number, bin: number, start: number, end: number, starts: Int32Array, ends: Int32Array): void => {
  for (let x = 0; x < starts.length; x++) {
    if (x < start || x > end) {
      starts[x] = 0;
      ends[x] = 0;
      continue;
    }
    starts[x] = clip(Math.floor(div32(Math.fround(x - start), bin)), pooled);
    ends[x] = clip(Math.ceil(div32(Math.fround(x - start + 1), bin)), pooled);
  }
};

// ---------------------------------------------------------------- the defs

const data32 = (t: Tensor): Float32Array => t.data as unknown as Float32Array;

export const roiPoolDef: OpDef<RoiPoolAttrs, RoiPoolOutputs> = {
  name: 'roi_pool',
  version: 1,
  summary: 'RoI max pooling (Caffe ROIPooling): each RoI cut into PH×PW bins, the max of each bin and its cell index',
  doc: 'docs/semantics.md#roi-max-pooling',
  inputs: [FEATURES_INPUT, ROIS_INPUT],
  attrs: POOL_ATTRS,
  outputs: [
    { name: 'top', dtype: 'float32', shape: ['R', 'C', 'pooled_h', 'pooled_w'], tolerance: exact('a max moves no bits: bit-exact'), doc: 'the pooled maxima; 0 for an empty bin' },
    {
      name: 'argmax',
      dtype: 'int32',
      shape: ['R', 'C', 'pooled_h', 'pooled_w'],
      tolerance: exact('integer: exact'),
      doc: 'h·W + w of the chosen cell in its channel plane; −1 for an empty bin (or one with nothing above −FLT_MAX)',
    },
  ],
  kernels: ['roiPool'],
  check: (v) => checkRois(v.inputs.rois, v.dims.N, Math.fround(v.attrs.spatial_scale)),
  run: (v, k) => {
    const [N, C, H, W] = v.inputs.features.shape;
    const R = v.dims.R;
    const shape = [R, C, v.attrs.pooled_h, v.attrs.pooled_w];
    if (R * C === 0) return E.right({ top: adoptTensor('float32', shape, new Float32Array(0)), argmax: adoptTensor('int32', shape, new Int32Array(0)) });
    const out = k.roiPool({
      features: data32(v.inputs.features),
      N,
      C,
      H,
      W,
      rois: data32(v.inputs.rois),
      R,
      pooledH: v.attrs.pooled_h,
      pooledW: v.attrs.pooled_w,
      scale32: Math.fround(v.attrs.spatial_scale),
    });
    return E.map((o: RoiPoolKernelOutputs) => ({ top: adoptTensor('float32', shape, o.top), argmax: adoptTensor('int32', shape, o.argmax) }))(out);
  },
};

const checkArgmaxValues = (argmax: Tensor, cells: number): Result<void> => {
  const d = argmax.data;
  for (let i = 0; i < d.length; i++)
    if (d[i] < -1 || d[i] >= cells)
      return E.left(rangeError('argmax', `element ${i} is ${d[i]}; an argmax is −1 or a cell index in [0, ${cells}) (H·W)`));
  return E.right(undefined);
};

const BACKWARD_DIMS = ['R', 'C', 'pooled_h', 'pooled_w'] as const;

export const roiPoolBackwardDef: OpDef<RoiPoolBackwardAttrs, RoiPoolBackwardOutputs> = {
  name: 'roi_pool_backward',
  version: 1,
  summary: 'the gradient of roi_pool with respect to the features: Caffe\'s gather (caffe) or torchvision\'s scatter',
  doc: 'docs/semantics.md#roi-max-pooling',
  inputs: [
    ROIS_INPUT,
    { name: 'argmax', dtypes: ['int32'], read: 'as-is', shape: BACKWARD_DIMS, doc: '[R, C, PH, PW]: −1 or a cell index in [0, H·W), normally the forward\'s argmax' },
    { name: 'top_grad', dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: BACKWARD_DIMS, doc: 'the gradient of top, [R, C, PH, PW]' },
  ],
  attrs: [
    ...POOL_ATTRS,
    { name: 'features_shape', domain: { kind: 'shape', rank: 4 }, doc: 'the [N, C, H, W] of the pooled features (the RoIs do not tell N, H, W)' },
    {
      name: 'mode',
      domain: { kind: 'enum', values: ['caffe', 'scatter'] },
      default: 'caffe',
      doc: 'caffe: Caffe\'s GPU gather with its inclusive in-RoI test (SPEC §5.2); scatter: torchvision (SPEC §5.3)',
    },
  ],
  outputs: [
    {
      name: 'features_grad',
      dtype: 'float32',
      shape: { attr: 'features_shape' },
      // Not a tolerance of convenience: SPEC §5.2 fixes both the arithmetic (Caffe's `Dtype
      // gradient`, float32) and the order of the terms of every cell (RoI, then ph, then pw;
      // scatter mode: r, c, ph, pw), so a faithful port adds the same float32 numbers in the same
      // order and gets the same bits. A float64 accumulator, or another order, would differ by up
      // to (terms − 1) float32 ulps of the partial sums; that is a deviation this comparison must
      // report, not absorb.
      tolerance: exact('same float32 terms added in float32 in the order SPEC §5.2 fixes: bit-exact'),
      doc: 'the gradient of the features [N, C, H, W]',
    },
  ],
  kernels: ['roiPoolBackward'],
  bind: (a) => ({ C: a.features_shape[1], pooled_h: a.pooled_h, pooled_w: a.pooled_w }),
  check: (v) => {
    const [N, , H, W] = v.attrs.features_shape;
    const r = checkRois(v.inputs.rois, N, Math.fround(v.attrs.spatial_scale));
    return E.isLeft(r) ? r : checkArgmaxValues(v.inputs.argmax, H * W);
  },
  run: (v, k) => {
    const [N, C, H, W] = v.attrs.features_shape;
    if (v.inputs.argmax.size === 0) return E.right({ features_grad: adoptTensor('float32', [N, C, H, W], new Float32Array(N * C * H * W)) });
    const g = k.roiPoolBackward({
      rois: data32(v.inputs.rois),
      R: v.dims.R,
      argmax: v.inputs.argmax.data as unknown as Int32Array,
      topGrad: data32(v.inputs.top_grad),
      N,
      C,
      H,
      W,
      pooledH: v.attrs.pooled_h,
      pooledW: v.attrs.pooled_w,
      scale32: Math.fround(v.attrs.spatial_scale),
      mode: v.attrs.mode,
    });
    return E.map((d: Float32Array) => ({ features_grad: adoptTensor('float32', [N, C, H, W], d) }))(g);
  },
};

/** RoI max pooling forward (SPEC §5.1) on the given kernels (the reference's by default). */
export const roiPool = opFn<RoiPoolInputs, RoiPoolAttrs, RoiPoolOutputs>(roiPoolDef, () => referenceKernels);
/** RoI max pooling backward (SPEC §5.2, §5.3). */
export const roiPoolBackward = opFn<RoiPoolBackwardInputs, RoiPoolBackwardAttrs, RoiPoolBackwardOutputs>(roiPoolBackwardDef, () => referenceKernels);
