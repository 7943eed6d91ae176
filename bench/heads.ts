/**
 * Deterministic heads and batches for the benchmarks: the VGG16 head of OHEM (25088 → 4096 →
 * 4096 → 21 / 84 on a 512×38×50 conv5 map) and a small one, with Fast R-CNN-like RoIs and targets.
 * Randomness from the project's seeded PRNG only.
 */
import * as E from 'fp-ts/lib/Either.js';
import { adoptTensor, seedRng, split, uniforms, type Tensor } from '../src/core/internal.js';
import { drawMasks, type StepBatch } from '../src/mining/ohemStep.js';
import type { HeadParams } from '../src/mining/ohemStep.js';

export interface BenchCase {
  readonly name: string;
  readonly params: HeadParams;
  readonly batch: StepBatch;
  readonly masks: Record<'readonly_mask6' | 'readonly_mask7' | 'train_mask6' | 'train_mask7', Tensor>;
  readonly attrs: { pooled_h: number; pooled_w: number; spatial_scale: number; batch_size: number; dropout_ratio: number };
}

export interface HeadShape {
  readonly name: string;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly P: number; // pooled size
  readonly H6: number;
  readonly H7: number;
  readonly K: number;
  readonly R: number;
  readonly B: number;
}

export const VGG16: HeadShape = { name: 'VGG16 head', C: 512, H: 38, W: 50, P: 7, H6: 4096, H7: 4096, K: 21, R: 2000, B: 128 };
export const SMALL: HeadShape = { name: 'small head', C: 64, H: 24, W: 32, P: 7, H6: 256, H7: 256, K: 21, R: 300, B: 64 };

const must = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

export const makeCase = (s: HeadShape, seed = 1): BenchCase => {
  const streams = split(must(seedRng(seed)), 16);
  let next = 0;
  // Filled in blocks, so that no float64 temporary of a whole VGG16 weight inflates the memory
  // high-water mark the bench measures.
  const uni = (n: number, lo: number, hi: number): Float32Array => {
    const out = new Float32Array(n);
    let rng = streams[next++];
    for (let i = 0; i < n; i += 1 << 20) {
      const [u, r] = uniforms(rng, Math.min(1 << 20, n - i));
      rng = r;
      for (let j = 0; j < u.length; j++) out[i + j] = lo + (hi - lo) * u[j];
    }
    return out;
  };
  const t = (shape: number[], d: Float32Array) => adoptTensor('float32', shape, d);
  const D = 4 * s.K;
  const inputs = s.C * s.P * s.P;
  // Caffe's fillers: gaussian std 0.01 (cls) and 0.001 (bbox); a uniform of the same std here.
  const w = (n: number, std: number) => uni(n, -std * Math.sqrt(3), std * Math.sqrt(3));
  const params: HeadParams = {
    fc6_w: t([s.H6, inputs], w(s.H6 * inputs, 0.005)),
    fc6_b: t([s.H6], w(s.H6, 0.01)),
    fc7_w: t([s.H7, s.H6], w(s.H7 * s.H6, 0.01)),
    fc7_b: t([s.H7], w(s.H7, 0.01)),
    cls_score_w: t([s.K, s.H7], w(s.K * s.H7, 0.01)),
    cls_score_b: t([s.K], new Float32Array(s.K)),
    bbox_pred_w: t([D, s.H7], w(D * s.H7, 0.001)),
    bbox_pred_b: t([D], new Float32Array(D)),
  };
  // RoIs in image pixels (stride 16): random boxes over the whole image, a quarter foreground.
  const imgW = s.W * 16, imgH = s.H * 16;
  const u = uni(s.R * 6, 0, 1);
  const rois = new Float32Array(s.R * 5);
  const labels = new Float32Array(s.R);
  const tg = new Float32Array(s.R * D), wi = new Float32Array(s.R * D), wo = new Float32Array(s.R * D);
  for (let i = 0; i < s.R; i++) {
    const bw = 32 + u[i * 6] * (imgW / 2), bh = 32 + u[i * 6 + 1] * (imgH / 2);
    const x1 = Math.floor(u[i * 6 + 2] * (imgW - bw)), y1 = Math.floor(u[i * 6 + 3] * (imgH - bh));
    rois.set([0, x1, y1, Math.floor(x1 + bw), Math.floor(y1 + bh)], i * 5);
    const c = u[i * 6 + 4] < 0.25 ? 1 + Math.floor(u[i * 6 + 5] * (s.K - 1)) : 0;
    labels[i] = c;
    if (c > 0)
      for (let k = 0; k < 4; k++) {
        tg[i * D + 4 * c + k] = Math.fround((u[(i * 6 + k) % u.length] - 0.5) * 2);
        wi[i * D + 4 * c + k] = 1;
        wo[i * D + 4 * c + k] = 1;
      }
  }
  const batch: StepBatch = {
    features: t([1, s.C, s.H, s.W], uni(s.C * s.H * s.W, 0, 4)),
    rois: t([s.R, 5], rois),
    labels: t([s.R], labels),
    bbox_targets: t([s.R, D], tg),
    bbox_inside_weights: t([s.R, D], wi),
    bbox_outside_weights: t([s.R, D], wo),
  };
  const masks = must(drawMasks(seed, s.R, s.H6, s.H7, 0.5));
  return {
    name: s.name,
    params,
    batch,
    masks,
    attrs: { pooled_h: s.P, pooled_w: s.P, spatial_scale: 0.0625, batch_size: s.B, dropout_ratio: 0.5 },
  };
};
