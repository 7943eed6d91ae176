/**
 * What the RoI ops share, declared once: the pooling attrs and the `features` and `rois` inputs
 * (roi_pool, roi_pool_backward, roi_align, roi_align_backward, ohem_step), the RoI checks, and the
 * geometry every pooling kernel is handed. A module of its own (it imports no family file), so
 * that each family reads these at load time whatever order the families load in.
 */
import * as E from 'fp-ts/lib/Either.js';
import { FLT_MAX, type Result, type Tensor, checkFinite, mul32, rangeError, roundHalfAwayFromZero, truncToInt } from '../core/internal.js';
import type { AttrDef, InputDef } from './def.js';

/** Caffe counts elements and cell indices in C `int`. */
export const INT32_MAX = 2147483647;
/**
 * Largest |round(coord · scale)| accepted. Caffe holds the rounded ends, the extents and the bin
 * bounds in C `int`; keeping the ends within ±2^29 keeps every one of those below 2^31, where
 * the original is defined. Real RoIs are a few thousand pixels.
 */
export const ROI_COORD_LIMIT = 2 ** 29;

/** round(fl32(coord · scale)), C `round` (pitfall 14). Adding 0 turns a −0 into 0. */
export const scaledEnd = (coord: number, scale32: number): number => roundHalfAwayFromZero(mul32(coord, scale32)) + 0;

/** The map and the pooled grid of a pooling kernel: the features' [N, C, H, W], PH × PW bins, the float32 scale. */
export interface PoolGeometry {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly pooledH: number;
  readonly pooledW: number;
  /** spatial_scale as a float32. */
  readonly scale32: number;
}

/** The pooling attrs, shared by roi_pool, roi_pool_backward and ohem_step (PROTOCOL: OHEM's VGG16 head, 7×7 at stride 16). */
export const POOL_ATTRS: readonly AttrDef[] = [
  { name: 'pooled_h', domain: { kind: 'int', min: 1, max: INT32_MAX }, default: 7, doc: 'output rows per RoI (PH)' },
  { name: 'pooled_w', domain: { kind: 'int', min: 1, max: INT32_MAX }, default: 7, doc: 'output columns per RoI (PW)' },
  // Above FLT_MAX the float32 param would be +∞.
  { name: 'spatial_scale', domain: { kind: 'number', min: 0, minOpen: true, max: FLT_MAX }, default: 0.0625, doc: 'image-to-map scale, used as a float32 (1/16 for VGG16 conv5)' },
];

/** The rois input of every RoI op: [R, 5] (batch_index, x1, y1, x2, y2) in image pixels. */
export const ROIS_INPUT: InputDef = {
  name: 'rois',
  dtypes: ['float32'],
  accepts: ['float64'],
  read: 'float32',
  shape: ['R', 5],
  integral: { column: 0, what: 'batch indices' },
  doc: '[R, 5] (batch_index, x1, y1, x2, y2) in image pixels, inclusive corners; batch indices integer-valued in [0, N)',
};

export const FEATURES_INPUT: InputDef = {
  name: 'features',
  dtypes: ['float32'],
  accepts: ['float64'],
  read: 'float32',
  shape: ['N', 'C', 'H', 'W'],
  doc: 'the feature map [N, C, H, W]; any float32 values, NaN and ±∞ included',
};

/**
 * rois: finite, (int) batch index in [0, N) (Caffe's CPU check; its GPU kernel would read out of
 * bounds), every rounded scaled coordinate within ±ROI_COORD_LIMIT.
 */
export const checkRois = (rois: Tensor, n: number, scale32: number): Result<void> => {
  const fin = checkFinite('rois', rois);
  if (E.isLeft(fin)) return fin;
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
  return E.right(undefined);
};

