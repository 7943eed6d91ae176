/**
 * The demo's synthetic detection world, a pure function of a seed (SPEC §3.2 for the labels and
 * targets):
 *
 *   scenes      gray images with 1–4 objects of three classes (filled squares, discs, triangles;
 *               sizes 40–112 px, aspect ratios 0.7–1.4), 0–3 **look-alike distractors** (the
 *               outline of a square, disc or triangle with a dimmer inside, 0–50 % of the outline's
 *               brightness: the same edges, a different fill — background that looks like a real
 *               class), and clutter (small blobs and bars), over a shaded, noisy background;
 *   features    the fixed extractor of features.ts (stride 16), normalised per channel by constants
 *               measured once on the training scenes;
 *   proposals   as selective search would give them: jittered boxes around every object, distractor
 *               and clutter item, and random boxes; the training images also hold their GT boxes
 *               (Fast R-CNN's roidb does);
 *   labels      by IoU with the +1 convention (float64, stored float32): fg iff max IoU ≥ 0.5, the
 *               class of the max-IoU GT (first on ties); else background (0);
 *   targets     for RoIs with max IoU ≥ 0.5, (dx, dy, dw, dh) against the max-IoU GT, normalised per
 *               class by the mean and std over all training RoIs with targets (n + 1e-14).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, checkInt, rangeError, split } from '../core/internal.js';
import type { StepBatch } from '../mining/ohemStep.js';
import { extractFeatures, channelStats, normaliseFeatures, STRIDE } from './features.js';
import { stream, type Stream, streamsFromSeed } from './rng.js';

export const CLASSES = ['__background__', 'square', 'disc', 'triangle'] as const;
/** Classes including background. */
export const K = CLASSES.length;
export type ShapeKind = 'square' | 'disc' | 'triangle';
const KINDS: readonly ShapeKind[] = ['square', 'disc', 'triangle'];
/** The class id (1..K−1) of an object of shape `kind`. */
export const classOf = (kind: ShapeKind): number => KINDS.indexOf(kind) + 1;

export type Box = readonly [number, number, number, number]; // x1, y1, x2, y2 (inclusive pixels)

export interface Thing {
  readonly kind: ShapeKind;
  /** Hollow outline (a distractor) or filled (an object). */
  readonly hollow: boolean;
  readonly box: Box;
  readonly level: number;
  /** Outline thickness in pixels (hollow only). */
  readonly thickness: number;
  /** Brightness of a hollow thing's inside, as a fraction of its outline's (hollow only). */
  readonly fill: number;
}

export interface Clutter {
  readonly kind: 'blob' | 'bar';
  readonly box: Box;
  readonly level: number;
}

export interface Scene {
  readonly size: number;
  readonly objects: readonly Thing[];
  readonly distractors: readonly Thing[];
  readonly clutter: readonly Clutter[];
  /** Gray image, row-major [size, size]. */
  readonly image: Float32Array;
}

export interface Entry {
  readonly scene: Scene;
  /** Normalised features [1, C, size/16, size/16]. */
  readonly features: Tensor<'float32'>;
  /** Proposals [R, 4] (GT boxes first on training images). */
  readonly boxes: Float32Array;
  /** Max IoU with a GT box (float32), class of that GT or 0 below 0.5, and the GT's index (−1: none). */
  readonly overlaps: Float32Array;
  readonly labels: Int32Array;
  readonly gtIndex: Int32Array;
  /** The proposals' origin: 0 object, 1 distractor, 2 clutter, 3 random, 4 the GT box itself. */
  readonly origin: Uint8Array;
  /** The batch of all RoIs of this image, ready for ohemStep (batch index 0). */
  readonly batch: StepBatch;
}

export interface WorldConfig {
  readonly size: number;
  readonly trainImages: number;
  readonly testImages: number;
  /** Proposals per image (before the GT boxes of training images). */
  readonly proposals: number;
}

export const WORLD_DEFAULTS: WorldConfig = Object.freeze({ size: 224, trainImages: 160, testImages: 64, proposals: 320 });

export interface World {
  readonly config: WorldConfig;
  readonly train: readonly Entry[];
  readonly test: readonly Entry[];
  /** Per-class target normalisation (SPEC §3.2), [K, 4]; class 0 is (0, 0, 0, 0) / (1, 1, 1, 1). */
  readonly targetMeans: Float64Array;
  readonly targetStds: Float64Array;
  readonly featureStats: { readonly mean: Float64Array; readonly std: Float64Array };
}

// ------------------------------------------------------------------------------------ geometry

/** IoU with the +1 convention (SPEC §3.2), in float64; 0 when the boxes do not intersect. */
export const iou = (a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number): number => {
  const iw = Math.min(a[ai + 2], b[bi + 2]) - Math.max(a[ai], b[bi]) + 1;
  if (iw <= 0) return 0;
  const ih = Math.min(a[ai + 3], b[bi + 3]) - Math.max(a[ai + 1], b[bi + 1]) + 1;
  if (ih <= 0) return 0;
  const inter = iw * ih;
  const areaA = (a[ai + 2] - a[ai] + 1) * (a[ai + 3] - a[ai + 1] + 1);
  const areaB = (b[bi + 2] - b[bi] + 1) * (b[bi + 3] - b[bi + 1] + 1);
  return inter / (areaA + areaB - inter);
};

/** Fast R-CNN's regression targets of `ex` towards `gt` (SPEC §3.2), float64. */
export const bboxTransform = (ex: ArrayLike<number>, ei: number, gt: ArrayLike<number>, gi: number): [number, number, number, number] => {
  const w = ex[ei + 2] - ex[ei] + 1, h = ex[ei + 3] - ex[ei + 1] + 1;
  const cx = ex[ei] + 0.5 * w, cy = ex[ei + 1] + 0.5 * h;
  const gw = gt[gi + 2] - gt[gi] + 1, gh = gt[gi + 3] - gt[gi + 1] + 1;
  const gcx = gt[gi] + 0.5 * gw, gcy = gt[gi + 1] + 0.5 * gh;
  return [(gcx - cx) / w, (gcy - cy) / h, Math.log(gw / w), Math.log(gh / h)];
};

/**
 * The inverse (Fast R-CNN's `bbox_transform_inv`, as in OHEM's repository: x2 = cx + w/2, no −1),
 * then `clip_boxes` to [0, size − 1].
 */
export const bboxTransformInv = (box: ArrayLike<number>, bi: number, d: ArrayLike<number>, di: number, size: number): [number, number, number, number] => {
  const w = box[bi + 2] - box[bi] + 1, h = box[bi + 3] - box[bi + 1] + 1;
  const cx = box[bi] + 0.5 * w, cy = box[bi + 1] + 0.5 * h;
  const pcx = d[di] * w + cx, pcy = d[di + 1] * h + cy;
  const pw = Math.exp(d[di + 2]) * w, ph = Math.exp(d[di + 3]) * h;
  const clip = (v: number) => Math.max(0, Math.min(size - 1, v));
  return [clip(pcx - 0.5 * pw), clip(pcy - 0.5 * ph), clip(pcx + 0.5 * pw), clip(pcy + 0.5 * ph)];
};

// ------------------------------------------------------------------------------------- scenes

/** Whether pixel (x, y) is inside the filled shape `kind` of box b (pixel centres). */
const insideShape = (kind: ShapeKind, b: Box, x: number, y: number): boolean => {
  if (x < b[0] || x > b[2] || y < b[1] || y > b[3]) return false;
  const u = (x - b[0] + 0.5) / (b[2] - b[0] + 1);
  const v = (y - b[1] + 0.5) / (b[3] - b[1] + 1);
  switch (kind) {
    case 'square':
      return true;
    case 'disc':
      return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25;
    case 'triangle':
      return Math.abs(u - 0.5) <= v / 2;
  }
};

/** The brightness a thing adds at pixel (x, y): its level on the shape, `fill`·level inside an outline. */
const thingAt = (t: Thing, x: number, y: number): number => {
  if (!insideShape(t.kind, t.box, x, y)) return 0;
  if (!t.hollow) return t.level;
  const k = t.thickness;
  // The triangle's inner outline is moved down more at the apex so that its slanted sides keep
  // about the same thickness as its base.
  const inner: Box = t.kind === 'triangle' ? [t.box[0] + 1.7 * k, t.box[1] + 2.2 * k, t.box[2] - 1.7 * k, t.box[3] - k] : [t.box[0] + k, t.box[1] + k, t.box[2] - k, t.box[3] - k];
  return inner[2] > inner[0] && inner[3] > inner[1] && insideShape(t.kind, inner, x, y) ? t.fill * t.level : t.level;
};

const overlapsAny = (b: Box, placed: readonly Box[], margin: number): boolean =>
  placed.some((p) => b[0] <= p[2] + margin && b[2] >= p[0] - margin && b[1] <= p[3] + margin && b[3] >= p[1] - margin);

/** A box of side ~s and aspect a (w/h) inside the image, or null. */
const randomBox = (s: Stream, size: number, side: number, aspect: number): Box | null => {
  const w = Math.round(side * Math.sqrt(aspect)), h = Math.round(side / Math.sqrt(aspect));
  if (w >= size - 4 || h >= size - 4) return null;
  const x1 = s.int(2, size - 3 - w), y1 = s.int(2, size - 3 - h);
  return [x1, y1, x1 + w - 1, y1 + h - 1];
};

/** One scene from its own generator. */
export const makeScene = (s: Stream, size: number): Scene => {
  const placed: Box[] = [];
  const place = (hollow: boolean): Thing | null => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const box = randomBox(s, size, s.range(40, 112), Math.exp(s.range(Math.log(0.7), Math.log(1.4))));
      const kind = KINDS[s.int(0, 2)];
      const level = s.range(0.3, 0.55);
      const thickness = Math.max(5, Math.round(s.range(0.14, 0.22) * (box ? Math.min(box[2] - box[0], box[3] - box[1]) : 0)));
      const fill = s.range(0, 0.5);
      if (box && !overlapsAny(box, placed, 6)) {
        placed.push(box);
        return { kind, hollow, box, level, thickness, fill };
      }
    }
    return null;
  };
  const nObj = s.int(1, 4), nDis = s.int(0, 3), nClut = s.int(6, 14);
  const objects = Array.from({ length: nObj }, () => place(false)).filter((t): t is Thing => t !== null);
  const distractors = Array.from({ length: nDis }, () => place(true)).filter((t): t is Thing => t !== null);
  const clutter: Clutter[] = [];
  for (let i = 0; i < nClut; i++) {
    const bar = s.u() < 0.5;
    const len = s.range(bar ? 18 : 6, bar ? 56 : 22);
    const thick = bar ? s.range(2, 5) : len * Math.exp(s.range(-0.3, 0.3));
    const vertical = s.u() < 0.5;
    const box = randomBox(s, size, Math.sqrt(len * thick), vertical ? thick / len : len / thick);
    const level = (s.u() < 0.6 ? 1 : -1) * s.range(0.15, 0.5);
    if (box && !overlapsAny(box, placed, 2)) clutter.push({ kind: bar ? 'bar' : 'blob', box, level });
  }
  // Render: shaded background, then clutter, then the things, then noise.
  const b0 = s.range(0.2, 0.4), gx = s.range(-0.12, 0.12), gy = s.range(-0.12, 0.12);
  const image = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) image[y * size + x] = b0 + gx * (x / size - 0.5) + gy * (y / size - 0.5);
  for (const c of clutter)
    for (let y = c.box[1]; y <= c.box[3]; y++)
      for (let x = c.box[0]; x <= c.box[2]; x++) if (c.kind === 'bar' || insideShape('disc', c.box, x, y)) image[y * size + x] += c.level;
  for (const t of [...objects, ...distractors])
    for (let y = t.box[1]; y <= t.box[3]; y++) for (let x = t.box[0]; x <= t.box[2]; x++) image[y * size + x] += thingAt(t, x, y);
  const noise = s.normals(image.length);
  for (let i = 0; i < image.length; i++) image[i] += 0.05 * noise[i];
  return { size, objects, distractors, clutter, image };
};

// ---------------------------------------------------------------------------------- proposals

const jitter = (s: Stream, b: Box, sigma: number, size: number): number[] => {
  const w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
  const cx = b[0] + 0.5 * w + sigma * w * s.normal(), cy = b[1] + 0.5 * h + sigma * h * s.normal();
  const nw = w * Math.exp(1.4 * sigma * s.normal()), nh = h * Math.exp(1.4 * sigma * s.normal());
  return clipBox([cx - 0.5 * nw, cy - 0.5 * nh, cx + 0.5 * nw, cy + 0.5 * nh], size);
};

/** Rounds to integer pixels inside the image, at least 8 px wide and high. */
const clipBox = (b: number[], size: number): number[] => {
  let x1 = Math.round(Math.max(0, Math.min(size - 1, b[0]))), x2 = Math.round(Math.max(0, Math.min(size - 1, b[2])));
  let y1 = Math.round(Math.max(0, Math.min(size - 1, b[1]))), y2 = Math.round(Math.max(0, Math.min(size - 1, b[3])));
  if (x2 - x1 < 7) [x1, x2] = x1 + 7 <= size - 1 ? [x1, x1 + 7] : [size - 8, size - 1];
  if (y2 - y1 < 7) [y1, y2] = y1 + 7 <= size - 1 ? [y1, y1 + 7] : [size - 8, size - 1];
  return [x1, y1, x2, y2];
};

/** Selective-search-like proposals: `total` boxes [total, 4] and where each came from. */
export const makeProposals = (s: Stream, scene: Scene, total: number): { boxes: Float32Array; origin: Uint8Array } => {
  const out: number[][] = [];
  const origin: number[] = [];
  const add = (b: number[], o: number) => {
    if (out.length < total) {
      out.push(b);
      origin.push(o);
    }
  };
  // Around each object and distractor: tight, medium and loose jitter (fg and near-miss bg).
  for (const [list, o] of [[scene.objects, 0], [scene.distractors, 1]] as const)
    for (const t of list) for (let j = 0; j < 12; j++) add(jitter(s, t.box, j < 4 ? 0.06 : j < 8 ? 0.14 : 0.28, scene.size), o);
  for (const c of scene.clutter) add(jitter(s, c.box, 0.15, scene.size), 2);
  while (out.length < total) {
    const w = Math.exp(s.range(Math.log(20), Math.log(180))), h = w * Math.exp(s.range(-0.6, 0.6));
    const x1 = s.range(-0.1 * w, scene.size - 0.9 * w), y1 = s.range(-0.1 * h, scene.size - 0.9 * h);
    add(clipBox([x1, y1, x1 + w, y1 + h], scene.size), 3);
  }
  return { boxes: Float32Array.from(out.flat()), origin: Uint8Array.from(origin) };
};

// ---------------------------------------------------------------------------- labels, targets

interface Labelled {
  overlaps: Float32Array;
  labels: Int32Array;
  gtIndex: Int32Array;
  raw: Float32Array; // [R, 4] unnormalised targets (0 where none)
}

const label = (boxes: Float32Array, gt: Float32Array, gtClasses: Int32Array): Labelled => {
  const R = boxes.length / 4, G = gtClasses.length;
  const overlaps = new Float32Array(R), labels = new Int32Array(R), gtIndex = new Int32Array(R).fill(-1), raw = new Float32Array(R * 4);
  for (let i = 0; i < R; i++) {
    let best = 0, bi = -1;
    for (let g = 0; g < G; g++) {
      const o = iou(boxes, i * 4, gt, g * 4);
      if (o > best) [best, bi] = [o, g];
    }
    overlaps[i] = best; // float32 storage (SPEC §3.2: gt_overlaps is float32)
    gtIndex[i] = bi;
    // fg iff the float32 overlap ≥ 0.5 (FG_THRESH; also BBOX_THRESH for the targets).
    if (bi >= 0 && overlaps[i] >= 0.5) {
      labels[i] = gtClasses[bi];
      raw.set(bboxTransform(boxes, i * 4, gt, bi * 4), i * 4);
    }
  }
  return { overlaps, labels, gtIndex, raw };
};

const gtOf = (scene: Scene): { gt: Float32Array; gtClasses: Int32Array } => ({
  gt: Float32Array.from(scene.objects.flatMap((o) => [...o.box])),
  gtClasses: Int32Array.from(scene.objects.map((o) => classOf(o.kind))),
});

/** The step batch of all RoIs of one image: targets expanded to [R, 4K] (SPEC §3.2). */
const batchOf = (features: Tensor<'float32'>, boxes: Float32Array, l: Labelled, means: Float64Array, stds: Float64Array): StepBatch => {
  const R = boxes.length / 4, D = 4 * K;
  const rois = new Float32Array(R * 5);
  const tg = new Float32Array(R * D), wi = new Float32Array(R * D), wo = new Float32Array(R * D);
  for (let i = 0; i < R; i++) {
    rois.set(boxes.subarray(i * 4, i * 4 + 4), i * 5 + 1);
    const c = l.labels[i];
    if (c > 0)
      for (let k = 0; k < 4; k++) {
        tg[i * D + 4 * c + k] = (l.raw[i * 4 + k] - means[c * 4 + k]) / stds[c * 4 + k];
        wi[i * D + 4 * c + k] = 1;
        wo[i * D + 4 * c + k] = 1;
      }
  }
  return {
    features,
    rois: adoptTensor('float32', [R, 5], rois),
    labels: adoptTensor('float32', [R], Float32Array.from(l.labels)),
    bbox_targets: adoptTensor('float32', [R, D], tg),
    bbox_inside_weights: adoptTensor('float32', [R, D], wi),
    bbox_outside_weights: adoptTensor('float32', [R, D], wo),
  };
};

/** Builds the world of `seed`: the same seed gives the same bytes. */
export const makeWorld = (seed: number, config: Partial<WorldConfig> = {}): Result<World> => {
  const cfg: WorldConfig = { ...WORLD_DEFAULTS, ...config };
  for (const [name, v, lo] of [
    ['world.size', cfg.size, 64],
    ['world.trainImages', cfg.trainImages, 1],
    ['world.testImages', cfg.testImages, 1],
    ['world.proposals', cfg.proposals, 1],
  ] as const) {
    const c = checkInt(name, v, lo);
    if (E.isLeft(c)) return c;
  }
  if (cfg.size % STRIDE !== 0) return E.left(rangeError('world.size', `is ${cfg.size}, not a multiple of ${STRIDE}`));
  const streams = streamsFromSeed(seed);
  if (E.isLeft(streams)) return streams;
  const n = cfg.trainImages + cfg.testImages;
  // One generator per image: image i is the same whatever the number of images.
  const imageRngs = split(streams.right.world, n);
  const raw: { scene: Scene; features: Tensor<'float32'>; boxes: Float32Array; origin: Uint8Array; l: Labelled }[] = [];
  for (let i = 0; i < n; i++) {
    const s = stream(imageRngs[i]);
    const scene = makeScene(s, cfg.size);
    const feats = extractFeatures(scene.image, cfg.size, cfg.size);
    if (E.isLeft(feats)) return feats;
    const props = makeProposals(s, scene, cfg.proposals);
    const { gt, gtClasses } = gtOf(scene);
    const isTrain = i < cfg.trainImages;
    const boxes = isTrain ? Float32Array.from([...gt, ...props.boxes]) : props.boxes;
    const origin = isTrain ? Uint8Array.from([...new Array<number>(gtClasses.length).fill(4), ...props.origin]) : props.origin;
    raw.push({ scene, features: feats.right, boxes, origin, l: label(boxes, gt, gtClasses) });
  }
  // Target normalisation over all training RoIs with targets (SPEC §3.2, PRECOMPUTED False).
  const sums = new Float64Array(K * 4), sq = new Float64Array(K * 4), counts = new Float64Array(K);
  for (const r of raw.slice(0, cfg.trainImages))
    for (let i = 0; i < r.l.labels.length; i++) {
      const c = r.l.labels[i];
      if (c === 0) continue;
      counts[c]++;
      for (let k = 0; k < 4; k++) {
        sums[c * 4 + k] += r.l.raw[i * 4 + k];
        sq[c * 4 + k] += r.l.raw[i * 4 + k] ** 2;
      }
    }
  const means = new Float64Array(K * 4), stds = new Float64Array(K * 4).fill(1);
  for (let c = 1; c < K; c++)
    for (let k = 0; k < 4; k++) {
      means[c * 4 + k] = sums[c * 4 + k] / (counts[c] + 1e-14);
      const v = sq[c * 4 + k] / (counts[c] + 1e-14) - means[c * 4 + k] ** 2;
      stds[c * 4 + k] = v > 0 ? Math.sqrt(v) : 1;
    }
  const featureStats = channelStats(raw.slice(0, cfg.trainImages).map((r) => r.features));
  const entries = raw.map((r): Entry => {
    const features = normaliseFeatures(r.features, featureStats);
    return {
      scene: r.scene,
      features,
      boxes: r.boxes,
      overlaps: r.l.overlaps,
      labels: r.l.labels,
      gtIndex: r.l.gtIndex,
      origin: r.origin,
      batch: batchOf(features, r.boxes, r.l, means, stds),
    };
  });
  return E.right({
    config: cfg,
    train: entries.slice(0, cfg.trainImages),
    test: entries.slice(cfg.trainImages),
    targetMeans: means,
    targetStds: stds,
    featureStats,
  });
};

/** Every byte of a world that training and evaluation read, for the determinism test. */
export const worldBytes = (w: World): Uint8Array => {
  const parts: ArrayBufferView[] = [w.targetMeans, w.targetStds, w.featureStats.mean, w.featureStats.std];
  for (const e of [...w.train, ...w.test]) {
    parts.push(e.scene.image, e.features.data as unknown as Float32Array, e.boxes, e.overlaps, e.labels, e.gtIndex, e.origin);
    for (const t of [e.batch.rois, e.batch.labels, e.batch.bbox_targets, e.batch.bbox_inside_weights, e.batch.bbox_outside_weights])
      parts.push(t.data as unknown as Float32Array);
  }
  const n = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
    o += p.byteLength;
  }
  return out;
};
