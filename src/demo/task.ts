/**
 * One unit of the demo's work: one sampler trained on the world of one seed. A task is plain data
 * (it crosses to a worker thread) and its outcome too; `runTask` is the same code inline or in a
 * worker, and its numbers are a pure function of the task: how many run at once changes nothing
 * but the clock.
 *
 * The outcome holds the run's numbers (`SamplerRun`, deterministic), its wall-clock cost
 * (`TaskTiming`, kept apart), and, for the first seed, what the scene figures draw: the RoIs the
 * sampler trains on in one training scene at the end of training, and its detections on one
 * held-out scene.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, split } from '../core/index.js';
import { createBackend, PROTOCOL_BACKENDS, type Backend, type ProtocolBackend } from '../gpu/index.js';
import type { Detection } from './evaluate.js';
import { FEATURE_CHANNELS } from './features.js';
import { isMiner, type MinerName, type SamplerName } from './miners.js';
import { stream, streamsFromSeed } from './rng.js';
import { chooseRois, initParams, runSampler, type EvalRecord, type PoolerAttrs, type RunHistory, type RunTiming, type TrainConfig } from './train.js';
import { type Entry, makeWorld, type Thing, type World, type WorldConfig, WORLD_DEFAULTS } from './world.js';

export interface TaskSpec {
  readonly seed: number;
  readonly sampler: SamplerName;
  readonly train: Omit<TrainConfig, 'kernels'>;
  readonly world?: Partial<WorldConfig>;
  readonly backend: string;
  /** Collect the scene figures' data (the first seed). */
  readonly scene: boolean;
  /** Also send the two scenes themselves (one task of the first seed). */
  readonly sceneEntries: boolean;
}

/** Per-iteration records averaged over bins of `bin` iterations (the plots' curves). */
export interface Curve {
  readonly bin: number;
  readonly iter: readonly number[];
  readonly batchLoss: readonly number[];
  readonly fg: readonly number[];
  readonly low: readonly number[];
  readonly dis: readonly number[];
  readonly rois: readonly number[];
}

/** The numbers of one sampler on one seed (deterministic). */
export interface SamplerRun {
  readonly seed: number;
  readonly sampler: SamplerName;
  readonly evals: readonly EvalRecord[];
  readonly curve: Curve;
  readonly final: {
    readonly mAP: number;
    readonly ap: readonly number[];
    readonly allRoiLoss: number;
    readonly initialAllRoiLoss: number;
    /** Mean over the last SMOOTH iterations of the trained batch's loss (what Caffe displays at the end). */
    readonly batchLoss: number;
    /** Means over all iterations of the trained batches: foreground share, IoU < 0.1 share, share on look-alike distractors, RoIs per pass. */
    readonly fgFraction: number;
    readonly lowIouFraction: number;
    readonly distractorFraction: number;
    readonly roisPerPass: number;
  };
}

export interface TaskTiming extends RunTiming {
  /** Building (or reusing, 0) the world in this thread. */
  readonly worldSeconds: number;
  readonly totalSeconds: number;
}

/** A scene as the figures draw it. */
export interface SceneEntry {
  readonly size: number;
  readonly image: Float32Array;
  readonly objects: readonly Thing[];
  readonly distractors: readonly Thing[];
  readonly boxes: Float32Array;
  readonly labels: Int32Array;
  readonly origin: Uint8Array;
}

export interface SceneSample {
  readonly trainIndex: number;
  readonly testIndex: number;
  /** The RoIs this sampler trains on in the training scene: a miner's selection under its final weights; a standard sampler's draw. */
  readonly trainRois: Int32Array;
  /** Detections with score ≥ `threshold` on the held-out scene. */
  readonly detections: readonly (Detection & { readonly cls: number })[];
  readonly threshold: number;
  readonly entries?: { readonly train: SceneEntry; readonly test: SceneEntry };
}

export interface TaskOutcome {
  readonly run: SamplerRun;
  readonly timing: TaskTiming;
  readonly scene?: SceneSample;
}

export const SMOOTH = 20;
/** Points per curve. */
const CURVE_POINTS = 100;

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export const curveOf = (r: RunHistory): Curve => {
  const n = r.iters.length;
  const bin = Math.max(1, Math.ceil(n / CURVE_POINTS));
  const out = { bin, iter: [] as number[], batchLoss: [] as number[], fg: [] as number[], low: [] as number[], dis: [] as number[], rois: [] as number[] };
  for (let s = 0; s < n; s += bin) {
    const part = r.iters.slice(s, s + bin);
    out.iter.push(part[part.length - 1].iter);
    out.batchLoss.push(mean(part.map((x) => x.lossCls + x.lossBbox)));
    out.fg.push(mean(part.map((x) => x.fgFraction)));
    out.low.push(mean(part.map((x) => x.lowIouFraction)));
    out.dis.push(mean(part.map((x) => x.distractorFraction)));
    out.rois.push(mean(part.map((x) => x.rois)));
  }
  return out;
};

export const samplerRun = (seed: number, r: RunHistory, iterSize: number): SamplerRun => {
  const ev = r.evals[r.evals.length - 1];
  const tail = r.iters.slice(-SMOOTH);
  return {
    seed,
    sampler: r.sampler,
    evals: r.evals,
    curve: curveOf(r),
    final: {
      mAP: ev.mAP,
      ap: ev.ap,
      allRoiLoss: ev.loss,
      initialAllRoiLoss: r.evals[0].loss,
      batchLoss: mean(tail.map((x) => x.lossCls + x.lossBbox)),
      fgFraction: mean(r.iters.map((x) => x.fgFraction)),
      lowIouFraction: mean(r.iters.map((x) => x.lowIouFraction)),
      distractorFraction: mean(r.iters.map((x) => x.distractorFraction)),
      roisPerPass: mean(r.iters.map((x) => x.rois)) / iterSize,
    },
  };
};

/** The first scene with enough objects and distractors (else the one with the most distractors). */
export const pickScene = (entries: readonly Entry[], minObjects: number, minDistractors: number): number => {
  const i = entries.findIndex((e) => e.scene.objects.length >= minObjects && e.scene.distractors.length >= minDistractors);
  if (i >= 0) return i;
  return entries.reduce((b, e, j) => (e.scene.distractors.length > entries[b].scene.distractors.length ? j : b), 0);
};

const sceneEntry = (e: Entry): SceneEntry => ({
  size: e.scene.size,
  image: e.scene.image,
  objects: e.scene.objects,
  distractors: e.scene.distractors,
  boxes: e.boxes,
  labels: e.labels,
  origin: e.origin,
});

// The world of the last seed this thread built: tasks of one seed share it.
let cached: { key: string; world: World; seconds: number } | null = null;

const worldFor = (seed: number, config: Partial<WorldConfig> | undefined, now: () => number): Result<{ world: World; seconds: number }> => {
  const cfg = { ...WORLD_DEFAULTS, ...config };
  const key = JSON.stringify([seed, cfg]);
  if (cached?.key === key) return E.right({ world: cached.world, seconds: 0 });
  cached = null;
  const t0 = now();
  const w = makeWorld(seed, cfg);
  if (E.isLeft(w)) return w;
  const seconds = (now() - t0) / 1000;
  cached = { key, world: w.right, seconds };
  return E.right({ world: w.right, seconds });
};

/** Which seed this thread's cached world belongs to (the pool prefers tasks of that seed). */
export const cachedSeed = (): number | null => (cached ? (JSON.parse(cached.key) as [number])[0] : null);

export interface TaskHooks {
  readonly now: () => number;
  /** Called every few iterations with the iterations done. */
  readonly onProgress?: (iter: number) => void;
}

/** Runs one task. */
export const runTask = (task: TaskSpec, hooks: TaskHooks): Result<TaskOutcome> => {
  const t0 = hooks.now();
  const backend = createBackend({ mode: PROTOCOL_BACKENDS[task.backend as ProtocolBackend] });
  if (E.isLeft(backend)) return backend;
  try {
    return runWith(task, hooks, backend.right, t0);
  } finally {
    void backend.right.destroy();
  }
};

const runWith = (task: TaskSpec, hooks: TaskHooks, backend: Backend, t0: number): Result<TaskOutcome> => {
  const w = worldFor(task.seed, task.world, hooks.now);
  if (E.isLeft(w)) return w;
  const world = w.right.world;
  const rngs = streamsFromSeed(task.seed);
  if (E.isLeft(rngs)) return rngs;
  const cfg: TrainConfig = { ...task.train, kernels: backend };
  const init = initParams(rngs.right.init, FEATURE_CHANNELS * cfg.pooled * cfg.pooled, cfg.hidden);
  const every = Math.max(1, Math.round(cfg.iters / 100));
  const r = runSampler(world, task.sampler, init, cfg, rngs.right, {
    now: hooks.now,
    onIter: (rec) => {
      if (rec.iter % every === 0 || rec.iter === cfg.iters) hooks.onProgress?.(rec.iter);
    },
  });
  if (E.isLeft(r)) return r;
  const run = samplerRun(task.seed, r.right, cfg.solver.iter_size ?? 1);
  let scene: SceneSample | undefined;
  if (task.scene) {
    const trainIndex = pickScene(world.train, 2, 2);
    const testIndex = pickScene(world.test, 2, 2);
    const entry = world.train[trainIndex];
    // A standard sampler's draw on the scene comes from a stream of its own (split off the
    // sampler's), so the figure does not disturb training's draws; a miner's RoIs are its
    // selection under the final weights.
    const [drawRng, drawRng0] = split(split(rngs.right.sampler, 2)[1], 2);
    const s = stream(task.sampler === 'standard_bg0' ? drawRng0 : drawRng);
    const rois = chooseRois(cfg, task.sampler, r.right.params, entry, s);
    if (E.isLeft(rois)) return rois;
    const threshold = 0.5;
    const detections = r.right.lastEval.detections.flatMap((list, cls) =>
      list.filter((d) => d.image === testIndex && d.score >= threshold).map((d) => ({ image: d.image, score: d.score, box: d.box, cls })),
    );
    scene = {
      trainIndex,
      testIndex,
      trainRois: rois.right,
      detections,
      threshold,
      ...(task.sceneEntries ? { entries: { train: sceneEntry(entry), test: sceneEntry(world.test[testIndex]) } } : {}),
    };
  }
  const timing: TaskTiming = { ...r.right.timing, worldSeconds: w.right.seconds, totalSeconds: (hooks.now() - t0) / 1000 };
  return E.right({ run, timing, ...(scene ? { scene } : {}) });
};

/** Whether a sampler has a read-only pass. */
export const hasReadonlyPass = (s: SamplerName): s is MinerName => isMiner(s);

/** The pooler attrs of `--pooler` (roi_pool: none, the step's default). */
export const poolerAttrs = (pooler: 'roi_pool' | 'roi_align'): PoolerAttrs | undefined =>
  pooler === 'roi_align' ? { pooler: 'roi_align', sampling_ratio: 2, aligned: true, pool_mode: 'avg', roi_align_dialect: 'torchvision' } : undefined;
