/**
 * The standard Fast R-CNN sampler (`_sample_rois` of Fast R-CNN's `roi_data_layer/minibatch.py`,
 * SPEC §3.1 baseline: BATCH_SIZE 128 over IMS_PER_BATCH 2 images, FG_FRACTION 0.25, FG_THRESH 0.5,
 * BG_THRESH_HI 0.5, BG_THRESH_LO 0.1), per image:
 *
 *   fg_per_image = round(0.25 · rois_per_image)
 *   fg   = `fg_per_image` (or fewer) RoIs drawn without replacement from {i : overlap_i ≥ 0.5}
 *   bg   = rois_per_image − |fg| (or fewer) RoIs drawn without replacement from
 *          {i : 0.1 ≤ overlap_i < 0.5}
 *   keep = fg ++ bg
 *
 * A background RoI whose best IoU with every GT box is below 0.1 is never drawn: the look-alike
 * distractors of the demo's world, far from every object, are invisible to this sampler. OHEM's
 * configuration sets BG_THRESH_LO to 0 and ranks every RoI instead.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, checkInt, checkNumber } from '../core/index.js';
import type { Stream } from './rng.js';

export interface SamplerConfig {
  readonly rois_per_image: number;
  readonly fg_fraction: number;
  readonly fg_thresh: number;
  readonly bg_thresh_hi: number;
  readonly bg_thresh_lo: number;
}

export const FAST_RCNN_SAMPLER: SamplerConfig = Object.freeze({
  rois_per_image: 64,
  fg_fraction: 0.25,
  fg_thresh: 0.5,
  bg_thresh_hi: 0.5,
  bg_thresh_lo: 0.1,
});

/** numpy's round (half to even) for the fg quota. */
const roundHalfEven = (x: number): number => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
};

/** The sampled RoI indices of one image (fg first), drawing from `s`. */
export const sampleRois = (s: Stream, overlaps: ArrayLike<number>, config: SamplerConfig = FAST_RCNN_SAMPLER): Result<Int32Array> => {
  const n = checkInt('sampler.rois_per_image', config.rois_per_image, 1);
  if (E.isLeft(n)) return n;
  for (const k of ['fg_fraction', 'fg_thresh', 'bg_thresh_hi', 'bg_thresh_lo'] as const) {
    const c = checkNumber(`sampler.${k}`, config[k], 0, 1);
    if (E.isLeft(c)) return c;
  }
  const fgIdx: number[] = [];
  const bgIdx: number[] = [];
  for (let i = 0; i < overlaps.length; i++) {
    const o = overlaps[i];
    if (o >= config.fg_thresh) fgIdx.push(i);
    else if (o < config.bg_thresh_hi && o >= config.bg_thresh_lo) bgIdx.push(i);
  }
  const fg = s.choice(fgIdx, Math.min(roundHalfEven(config.fg_fraction * n.right), fgIdx.length));
  const bg = s.choice(bgIdx, Math.min(n.right - fg.length, bgIdx.length));
  const out = new Int32Array(fg.length + bg.length);
  out.set(fg, 0);
  out.set(bg, fg.length);
  return E.right(out);
};
