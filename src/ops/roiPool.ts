/**
 * RoI max pooling, forward and backward: Caffe's ROIPooling layer (SPEC §5.1, §5.2) and
 * torchvision's scatter backward (SPEC §5.3), bit-exact in float32.
 *
 * Every discrete decision (which cells a bin covers, which bins a cell can feed) is taken in
 * float32 arithmetic emulated with `Math.fround`, because that is where float32 and exact
 * arithmetic part ways (the overshoot bin of pitfall 16).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import {
  FLT_MAX,
  adoptTensor,
  allocate,
  checkEnum,
  checkFinite,
  checkInt,
  checkNumber,
  checkTensor,
  div32,
  engineLeft,
  isEngineError,
  mul32,
  rangeError,
  roundHalfAwayFromZero,
  shapeSize,
  shapeError,
  truncToInt,
  validShape,
  type ArrayOf,
  type DType,
  type Result,
  type Tensor,
} from '../core/index.js';

export interface RoiPoolAttrs {
  /** Output rows per RoI, a positive integer. */
  readonly pooled_h: number;
  /** Output columns per RoI, a positive integer. */
  readonly pooled_w: number;
  /** Image-to-map scale, finite and > 0; used as a float32, like Caffe's param. */
  readonly spatial_scale: number;
}

/** PROTOCOL.md's defaults (OHEM's VGG16 head: 7×7 at stride 16). */
export const ROI_POOL_DEFAULTS: RoiPoolAttrs = Object.freeze({ pooled_h: 7, pooled_w: 7, spatial_scale: 0.0625 });

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

/** Defaults of every attr but the required `features_shape`. */
export const ROI_POOL_BACKWARD_DEFAULTS: Omit<RoiPoolBackwardAttrs, 'features_shape'> = Object.freeze({
  ...ROI_POOL_DEFAULTS,
  mode: 'caffe',
});

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

/** Caffe counts elements and cell indices in C `int`. */
const INT32_MAX = 2147483647;
/**
 * Largest |round(coord · scale)| accepted. Caffe holds the rounded ends, the extents and the bin
 * bounds in C `int`; keeping the ends within ±2^29 keeps every one of those below 2^31, where
 * the original is defined. Real RoIs are a few thousand pixels.
 */
export const ROI_COORD_LIMIT = 2 ** 29;

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

/** round(fl32(coord · scale)), C `round` (pitfall 14). Adding 0 turns a −0 into 0. */
const scaledEnd = (coord: number, scale32: number): number => roundHalfAwayFromZero(mul32(coord, scale32)) + 0;

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

// ---------------------------------------------------------------- validation

/** An attr's value, or its default when absent (`undefined`, or `null` as JSON may send it). */
const attr = (attrs: unknown, name: string, dflt: unknown): unknown => {
  const v = typeof attrs === 'object' && attrs !== null ? (attrs as Record<string, unknown>)[name] : undefined;
  return v === undefined || v === null ? dflt : v;
};

const field = (inputs: unknown, name: string): unknown =>
  typeof inputs === 'object' && inputs !== null ? (inputs as Record<string, unknown>)[name] : undefined;

/** A float input: float32 as it is, float64 rounded to float32 (a fresh tensor; the input is untouched). */
const float32Input = (input: string, raw: unknown, dims: readonly (number | string)[], env: Map<string, number>): Result<Tensor> =>
  pipe(
    checkTensor(input, raw, dims, ['float32', 'float64'], env),
    E.map((t) => (t.dtype === 'float32' ? t : adoptTensor('float32', t.shape, Float32Array.from(t.data)))),
  );

interface PoolParams {
  readonly pooledH: number;
  readonly pooledW: number;
  readonly scale32: number;
}

const poolParams = (attrs: unknown): Result<PoolParams> =>
  pipe(
    E.Do,
    E.bind('pooledH', () => checkInt('attrs.pooled_h', attr(attrs, 'pooled_h', ROI_POOL_DEFAULTS.pooled_h), 1, INT32_MAX)),
    E.bind('pooledW', () => checkInt('attrs.pooled_w', attr(attrs, 'pooled_w', ROI_POOL_DEFAULTS.pooled_w), 1, INT32_MAX)),
    // Above FLT_MAX the float32 param would be +∞.
    E.bind('scale', () =>
      checkNumber('attrs.spatial_scale', attr(attrs, 'spatial_scale', ROI_POOL_DEFAULTS.spatial_scale), 0, FLT_MAX, { lo: true }),
    ),
    E.map(({ pooledH, pooledW, scale }) => ({ pooledH, pooledW, scale32: Math.fround(scale) })),
  );

/**
 * rois: [R, 5], finite after rounding to float32, (int) batch index in [0, N) (Caffe's CPU
 * check; its GPU kernel would read out of bounds), every rounded scaled coordinate within
 * ±ROI_COORD_LIMIT.
 */
const checkRois = (raw: unknown, n: number, scale32: number, env: Map<string, number>): Result<Tensor> =>
  pipe(
    float32Input('rois', raw, ['R', 5], env),
    E.chain((rois) => checkFinite('rois', rois)),
    E.chain((rois) => {
      const d = rois.data;
      for (let r = 0; r < rois.shape[0]; r++) {
        const b = truncToInt(d[r * 5]);
        if (b < 0 || b >= n)
          return E.left(rangeError('rois', `row ${r} has batch index ${d[r * 5]} (as int ${b + 0}), outside [0, ${n}) for ${n} image(s)`));
        for (let k = 1; k < 5; k++) {
          const v = scaledEnd(d[r * 5 + k], scale32);
          if (!(Math.abs(v) <= ROI_COORD_LIMIT))
            return E.left(rangeError('rois', `row ${r} column ${k} is ${d[r * 5 + k]}, which scales to ${v}, beyond ±2^29 (Caffe computes RoI extents in C int)`));
        }
      }
      return E.right(rois);
    }),
  );

/** Output storage, or a Left when the count exceeds Caffe's int or this machine's memory. */
const allocateFor = <D extends DType>(input: string, dtype: D, count: number, what: string): Result<ArrayOf<D>> => {
  if (count > INT32_MAX) return E.left(rangeError(input, `makes ${what} of ${count} elements, more than 2^31 − 1`));
  try {
    return E.right(allocate(dtype, count));
  } catch {
    return E.left(rangeError(input, `makes ${what} of ${count} elements, more than this machine can allocate`));
  }
};

// ---------------------------------------------------------------- forward

/**
 * What a forward kernel is handed once the inputs are validated: float32 features [N, C, H, W],
 * float32 rois [R, 5] (batch indices and coordinates checked), the attrs, and zeroed outputs
 * [R, C, PH, PW] to fill. A kernel that cannot compute this case exactly returns a Left and the
 * op answers it; the reference kernel always succeeds.
 */
export interface RoiPoolJob {
  readonly features: Tensor<'float32'>;
  readonly rois: ArrayLike<number>;
  readonly numRois: number;
  readonly pooledH: number;
  readonly pooledW: number;
  /** spatial_scale as a float32. */
  readonly scale32: number;
  readonly top: Float32Array;
  readonly argmax: Int32Array;
}
export type RoiPoolKernel = (job: RoiPoolJob) => Result<void>;

/**
 * The RoI pooling forward op around any kernel (the reference's below, or a gpu.js backend's):
 * one validation, one output layout, one set of Lefts, whatever computes the maxima.
 */
export const roiPoolWith =
  (kernel: RoiPoolKernel) =>
  (inputs: RoiPoolInputs, attrs: Partial<RoiPoolAttrs> = {}): Result<RoiPoolOutputs> => {
    const env = new Map<string, number>();
    return pipe(
      E.Do,
      E.bind('p', () => poolParams(attrs)),
      E.bind('features', () => float32Input('features', field(inputs, 'features'), ['N', 'C', 'H', 'W'], env)),
      E.bind('rois', ({ p, features }) => checkRois(field(inputs, 'rois'), features.shape[0], p.scale32, env)),
      E.let('shape', ({ p, features, rois }) => [rois.shape[0], features.shape[1], p.pooledH, p.pooledW]),
      E.bind('top', ({ shape }) => allocateFor('attrs.pooled_h', 'float32', shapeSize(shape), `an output [${shape.join(', ')}]`)),
      E.bind('argmax', ({ shape }) => allocateFor('attrs.pooled_h', 'int32', shapeSize(shape), `an output [${shape.join(', ')}]`)),
      E.chainFirst(({ p, features, rois, top, argmax }) =>
        top.length === 0
          ? E.right(undefined)
          : runKernel(() =>
              kernel({ features: features as Tensor<'float32'>, rois: rois.data, numRois: rois.shape[0], ...p, top, argmax }),
            ),
      ),
      E.map(({ shape, top, argmax }) => ({ top: adoptTensor('float32', shape, top), argmax: adoptTensor('int32', shape, argmax) })),
    );
  };

/** A kernel's Left as it is, and an engine failure it throws (a gpu.js backend's) as a Left naming `backend`. */
const runKernel = (f: () => Result<void>): Result<void> => {
  try {
    return f();
  } catch (e) {
    if (isEngineError(e)) return E.left(engineLeft(e));
    throw e;
  }
};

/**
 * RoI max pooling forward (SPEC §5.1): for each RoI, channel and bin, the maximum of the bin's
 * window of the RoI's image, first maximum in row-major order, with its cell index.
 */
export const roiPool = roiPoolWith((job) => {
  poolForward(job.features.data, job.features.shape, job.rois, job.numRois, job, job.top, job.argmax);
  return E.right(undefined);
});

const poolForward = (
  f: ArrayLike<number>,
  [, channels, height, width]: readonly number[],
  rois: ArrayLike<number>,
  numRois: number,
  { pooledH, pooledW, scale32 }: PoolParams,
  top: Float32Array,
  argmax: Int32Array,
): void => {
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
};

// ---------------------------------------------------------------- backward

/** What a backward kernel is handed once the inputs are validated; `grad` [N, C, H, W] is zeroed. */
export interface RoiPoolBackwardJob {
  readonly rois: ArrayLike<number>;
  /** int32 [R, C, PH, PW], every value −1 or in [0, H·W). */
  readonly argmax: ArrayLike<number>;
  /** float32 [R, C, PH, PW]. */
  readonly topGrad: ArrayLike<number>;
  readonly numRois: number;
  /** [N, C, H, W]. */
  readonly featuresShape: readonly number[];
  readonly pooledH: number;
  readonly pooledW: number;
  readonly scale32: number;
  readonly mode: RoiPoolBackwardMode;
  readonly grad: Float32Array;
}
export type RoiPoolBackwardKernel = (job: RoiPoolBackwardJob) => Result<void>;

/** The RoI pooling backward op around any kernel (see `roiPoolWith`). */
export const roiPoolBackwardWith =
  (kernel: RoiPoolBackwardKernel) =>
  (inputs: RoiPoolBackwardInputs, attrs: Partial<RoiPoolBackwardAttrs> = {}): Result<RoiPoolBackwardOutputs> => {
    const dims = ['R', 'C', 'PH', 'PW'];
    return pipe(
      E.Do,
      E.bind('p', () => poolParams(attrs)),
      E.bind('fshape', () => checkFeaturesShape(attr(attrs, 'features_shape', undefined))),
      E.bind('mode', () => checkEnum<RoiPoolBackwardMode>('attrs.mode', attr(attrs, 'mode', ROI_POOL_BACKWARD_DEFAULTS.mode), ['caffe', 'scatter'])),
      // argmax and top_grad must be [R, C, PH, PW] with C from features_shape and PH, PW from the attrs.
      E.let('env', ({ p, fshape }) => new Map<string, number>([['C', fshape[1]], ['PH', p.pooledH], ['PW', p.pooledW]])),
      E.bind('rois', ({ p, fshape, env }) => checkRois(field(inputs, 'rois'), fshape[0], p.scale32, env)),
      E.bind('argmax', ({ fshape, env }) =>
        pipe(
          checkTensor('argmax', field(inputs, 'argmax'), dims, ['int32'], env),
          E.chain((a) => checkArgmaxValues(a, fshape[2] * fshape[3])),
        ),
      ),
      E.bind('topGrad', ({ env }) => float32Input('top_grad', field(inputs, 'top_grad'), dims, env)),
      E.bind('grad', ({ fshape }) => allocateFor('attrs.features_shape', 'float32', shapeSize(fshape), `a gradient [${fshape.join(', ')}]`)),
      E.chainFirst(({ p, fshape, mode, rois, argmax, topGrad, grad }) =>
        argmax.size === 0
          ? E.right(undefined)
          : runKernel(() =>
              kernel({ rois: rois.data, argmax: argmax.data, topGrad: topGrad.data, numRois: rois.shape[0], featuresShape: fshape, ...p, mode, grad }),
            ),
      ),
      E.map(({ fshape, grad }) => ({ features_grad: adoptTensor('float32', fshape, grad) })),
    );
  };

/**
 * Gradient of RoI max pooling with respect to the features.
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
export const roiPoolBackward = roiPoolBackwardWith((job) => {
  const kernel = job.mode === 'caffe' ? caffeBackward : scatterBackward;
  kernel(job.rois, job.argmax, job.topGrad, job.numRois, job.featuresShape, job, job.grad);
  return E.right(undefined);
});

const checkFeaturesShape = (v: unknown): Result<readonly number[]> =>
  v === undefined
    ? E.left(shapeError('attrs.features_shape', 'is required: the [N, C, H, W] of the pooled features'))
    : pipe(
        validShape('attrs.features_shape', v),
        E.filterOrElse(
          (s) => s.length === 4,
          () => shapeError('attrs.features_shape', `must be 4 non-negative integers [N, C, H, W], got ${JSON.stringify(v)}`),
        ),
      );

const checkArgmaxValues = (argmax: Tensor, cells: number): Result<Tensor> => {
  const d = argmax.data;
  for (let i = 0; i < d.length; i++)
    if (d[i] < -1 || d[i] >= cells)
      return E.left(rangeError('argmax', `element ${i} is ${d[i]}; an argmax is −1 or a cell index in [0, ${cells}) (H·W)`));
  return E.right(argmax);
};

type BackwardKernel = (
  rois: ArrayLike<number>,
  argmax: ArrayLike<number>,
  topGrad: ArrayLike<number>,
  numRois: number,
  featuresShape: readonly number[],
  p: PoolParams,
  grad: Float32Array,
) => void;

const caffeBackward: BackwardKernel = (rois, argmax, topGrad, numRois, [, channels, height, width], p, grad) => {
  const { pooledH, pooledW } = p;
  // Per cell row h of the current RoI, the bin rows [phs[h], phe[h]) the gather would look at.
  const phs = new Int32Array(height);
  const phe = new Int32Array(height);
  const pws = new Int32Array(width);
  const pwe = new Int32Array(width);
  const plane = height * width;
  let o = 0;
  for (let r = 0; r < numRois; r++) {
    const g = roiGeometry(rois, r, p.scale32, pooledH, pooledW);
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

const scatterBackward: BackwardKernel = (rois, argmax, topGrad, numRois, [, channels, height, width], p, grad) => {
  const bins = p.pooledH * p.pooledW;
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
