/**
 * The demo's fixed, non-learned feature extractor: a gray image [H, W] → a stride-16 map
 * [1, C, H/16, W/16], built from the project's ops.
 *
 *   stage 1    2×2 mean pooling to half resolution (the ops have no average pooling: written here);
 *   filters    5×5 kernels applied as one `linear` (InnerProduct) over the half-resolution
 *              image's 5×5 patches (im2col, edges replicated): a blur, Gaussian-derivative edges in
 *              four directions, a centre-surround; then |·| or ReLU;
 *   stage 2    max pooling over 8×8 cells (16×16 image pixels) is `roiPool` with a single RoI
 *              covering the whole map, pooled to (H/16, W/16) at spatial_scale 1 (every bin exactly
 *              8 cells); mean pooling over the same cells.
 *
 * Channels (C = 12):
 *   0 brightness (3×3 blur), mean          1 brightness, max
 *   2–5  |edge| along x, y, 45°, 135°, max over the cell (where the edges are)
 *   6–9  the same, mean over the cell (how much edge there is)
 *   10 bright spot (centre-surround > 0), max      11 dark spot (< 0), max
 *
 * The mean-brightness channel is what tells a filled shape from its hollow outline (the demo's hard
 * distractor): the edge channels of the two are nearly the same.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, checkInt, rangeError } from '../core/internal.js';
import { linear } from '../ops/linear.js';
import { roiPool } from '../ops/roiPool.js';

export const STRIDE = 16;

/** Taps of a 5×5 kernel from f(dx, dy), dx, dy ∈ −2..2, row-major. */
const kernel = (f: (dx: number, dy: number) => number): number[] => {
  const out: number[] = [];
  for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) out.push(f(dx, dy));
  return out;
};
const gauss = (dx: number, dy: number) => Math.exp(-(dx * dx + dy * dy) / 2); // σ = 1
/** Derivative of a Gaussian along (cx, cy), scaled so a unit step edge responds about 1. */
const dog = (cx: number, cy: number) => {
  const k = kernel((dx, dy) => -(dx * cx + dy * cy) * gauss(dx, dy));
  const pos = k.reduce((a, v) => a + Math.max(0, v), 0);
  return k.map((v) => v / pos);
};
const S = Math.SQRT1_2;

/**
 * The filters, rows of 25 taps (row-major 5×5): a 3×3 box blur, Gaussian-derivative edges along
 * x, y and the two diagonals, and a centre-surround (3×3 mean minus the 16-pixel ring's mean). Two
 * zero rows pad them to 8 outputs, a multiple of the `linear` kernel's 4-wide blocking, which
 * measured twice as fast as 6.
 */
const FILTERS: readonly (readonly number[])[] = [
  kernel((dx, dy) => (Math.abs(dx) <= 1 && Math.abs(dy) <= 1 ? 1 / 9 : 0)),
  dog(1, 0),
  dog(0, 1),
  dog(S, S),
  dog(S, -S),
  kernel((dx, dy) => (Math.abs(dx) <= 1 && Math.abs(dy) <= 1 ? 1 / 9 : Math.abs(dx) === 2 || Math.abs(dy) === 2 ? -1 / 16 : 0)),
  kernel(() => 0),
  kernel(() => 0),
];
const TAPS = 25;

/** How each output channel is made: which filter, which nonlinearity, which pooling. */
const CHANNELS: readonly { readonly filter: number; readonly post: 'id' | 'abs' | 'relu' | 'negrelu'; readonly pool: 'mean' | 'max' }[] = [
  { filter: 0, post: 'id', pool: 'mean' },
  { filter: 0, post: 'id', pool: 'max' },
  { filter: 1, post: 'abs', pool: 'max' },
  { filter: 2, post: 'abs', pool: 'max' },
  { filter: 3, post: 'abs', pool: 'max' },
  { filter: 4, post: 'abs', pool: 'max' },
  { filter: 1, post: 'abs', pool: 'mean' },
  { filter: 2, post: 'abs', pool: 'mean' },
  { filter: 3, post: 'abs', pool: 'mean' },
  { filter: 4, post: 'abs', pool: 'mean' },
  { filter: 5, post: 'relu', pool: 'max' },
  { filter: 5, post: 'negrelu', pool: 'max' },
];

export const FEATURE_CHANNELS = CHANNELS.length;
export const CHANNEL_NAMES = [
  'brightness mean',
  'brightness max',
  '|dx| max',
  '|dy| max',
  '|d45| max',
  '|d135| max',
  '|dx| mean',
  '|dy| mean',
  '|d45| mean',
  '|d135| mean',
  'bright spot max',
  'dark spot max',
] as const;

/** Mean over each `cell`×`cell` block of each of `C` planes [C, H, W] → [C, H/cell, W/cell]. */
const avgPool = (planes: ArrayLike<number>, C: number, H: number, W: number, cell: number): Float32Array => {
  const h = H / cell, w = W / cell;
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++) {
      const row = c * H * W + y * W;
      const orow = c * h * w + Math.floor(y / cell) * w;
      for (let x = 0, ox = 0; x < W; x += cell, ox++) {
        let sum = 0;
        for (let k = 0; k < cell; k++) sum += planes[row + x + k];
        out[orow + ox] += sum;
      }
    }
  const n = cell * cell;
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] / n);
  return out;
};

/**
 * The feature map of a gray image `image` [H, W] (H, W multiples of 16): [1, C, H/16, W/16].
 * Raw (not normalised); `normaliseFeatures` applies the world's fixed per-channel constants.
 */
export const extractFeatures = (image: ArrayLike<number>, H: number, W: number): Result<Tensor<'float32'>> => {
  for (const [name, v] of [['image.height', H], ['image.width', W]] as const) {
    const c = checkInt(name, v, STRIDE);
    if (E.isLeft(c)) return c;
    if (v % STRIDE !== 0) return E.left(rangeError(name, `is ${v}, not a multiple of the stride ${STRIDE}`));
  }
  if (image.length !== H * W) return E.left(rangeError('image', `has ${image.length} pixels, expected ${H}·${W}`));
  // Stage 1: 2×2 mean pooling (stride 2), then padded by 2 with replicated edges for the 5×5 taps.
  const h2 = H / 2, w2 = W / 2, pw = w2 + 4;
  const half = avgPool(image, 1, H, W, 2);
  const padded = new Float32Array((h2 + 4) * pw);
  for (let y = -2; y < h2 + 2; y++) {
    const src = Math.min(h2 - 1, Math.max(0, y)) * w2;
    for (let x = -2; x < w2 + 2; x++) padded[(y + 2) * pw + x + 2] = half[src + Math.min(w2 - 1, Math.max(0, x))];
  }
  // im2col: patches [h2·w2, 25].
  const patches = new Float32Array(h2 * w2 * TAPS);
  for (let y = 0, o = 0; y < h2; y++)
    for (let x = 0; x < w2; x++)
      for (let dy = 0; dy < 5; dy++) {
        const row = (y + dy) * pw + x;
        for (let dx = 0; dx < 5; dx++) patches[o++] = padded[row + dx];
      }
  const F = FILTERS.length;
  const resp = linear({
    x: adoptTensor('float32', [h2 * w2, TAPS], patches),
    w: adoptTensor('float32', [F, TAPS], Float32Array.from(FILTERS.flat())),
    b: adoptTensor('float32', [F], new Float32Array(F)),
  });
  if (E.isLeft(resp)) return resp;
  const r = resp.right.y.data; // [h2·w2, F]
  const C = CHANNELS.length;
  const n2 = h2 * w2;
  // Planes [C, h2, w2] after each channel's nonlinearity.
  const planes = new Float32Array(C * n2);
  for (let c = 0; c < C; c++) {
    const { filter, post } = CHANNELS[c];
    const base = c * n2;
    if (post === 'id') for (let i = 0; i < n2; i++) planes[base + i] = r[i * F + filter];
    else if (post === 'abs') for (let i = 0; i < n2; i++) planes[base + i] = Math.abs(r[i * F + filter]);
    else if (post === 'relu') for (let i = 0; i < n2; i++) planes[base + i] = Math.max(0, r[i * F + filter]);
    else for (let i = 0; i < n2; i++) planes[base + i] = Math.max(0, -r[i * F + filter]);
  }
  // Stage 2: 8×8 cells of the half-resolution planes = 16×16 pixels of the image.
  const cell = STRIDE / 2;
  const pooled = roiPool(
    { features: adoptTensor('float32', [1, C, h2, w2], planes), rois: adoptTensor('float32', [1, 5], Float32Array.from([0, 0, 0, w2 - 1, h2 - 1])) },
    { pooled_h: h2 / cell, pooled_w: w2 / cell, spatial_scale: 1 },
  );
  if (E.isLeft(pooled)) return pooled;
  const maxp = pooled.right.top.data; // [1, C, h, w]
  const meanp = avgPool(planes, C, h2, w2, cell);
  const h = H / STRIDE, w = W / STRIDE;
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) out.set((CHANNELS[c].pool === 'max' ? maxp : meanp).subarray(c * h * w, (c + 1) * h * w), c * h * w);
  return E.right(adoptTensor('float32', [1, C, h, w], out));
};

/** Per-channel mean and standard deviation over the cells of `maps` (each [1, C, h, w]). */
export const channelStats = (maps: readonly Tensor[]): { mean: Float64Array; std: Float64Array } => {
  const C = maps[0].shape[1];
  const cell = maps[0].shape[2] * maps[0].shape[3];
  const s = new Float64Array(C), s2 = new Float64Array(C);
  let n = 0;
  for (const m of maps) {
    const d = m.data;
    for (let c = 0; c < C; c++)
      for (let i = 0; i < cell; i++) {
        const v = d[c * cell + i];
        s[c] += v;
        s2[c] += v * v;
      }
    n += cell;
  }
  const mean = s.map((v) => v / n);
  const std = s2.map((v, c) => Math.sqrt(Math.max(v / n - mean[c] * mean[c], 1e-12)));
  return { mean, std };
};

/** (x − mean_c) / std_c per channel: the fixed "pixel means" of the demo's features. */
export const normaliseFeatures = (map: Tensor, stats: { mean: Float64Array; std: Float64Array }): Tensor<'float32'> => {
  const [, C, h, w] = map.shape;
  const cell = h * w;
  const out = new Float32Array(map.size);
  for (let c = 0; c < C; c++) for (let i = 0; i < cell; i++) out[c * cell + i] = (map.data[c * cell + i] - stats.mean[c]) / stats.std[c];
  return adoptTensor('float32', map.shape, out);
};
