/**
 * Training the head with one sampler, everything else equal (the same world, initial parameters,
 * image order, iterations, learning-rate schedule and Caffe SGD):
 *
 *   a miner     (caffe-ohem, mmdet-ohem, tf-hard-example-miner, ssd-hard-negative): every RoI of
 *               each image goes to `ohemStep({ dialect, ...attrs })` (read-only pass, hardness, the
 *               dialect's selection, train pass on the RoIs it picked);
 *   `standard`  Fast R-CNN's `_sample_rois` draws `rois_per_image` RoIs per image (sampler.ts) and
 *               `fastRcnnStep` trains on exactly those (`standard_bg0`: BG_THRESH_LO 0).
 *
 * Each solver iteration is `iter_size` = 2 passes of one image each (OHEM's configuration: 2 × 64
 * RoIs; the baseline's single pass over 2 images and 128 RoIs gives the same gradient when both
 * images fill their 64), then one `solverStep` update.
 *
 * The numbers are a pure function of the world, the initial parameters, the configuration and the
 * streams. The clock (`Hooks.now`) only feeds `RunTiming`, kept apart from them.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Rng, type Tensor, adoptTensor, rangeError, uint32s } from '../core/internal.js';
import { fastRcnnStep, ohemStep, readonlyForward, validateStep, type StepBatch, type StepConfig, type StepMasks } from '../mining/ohemStep.js';
import { initialState, solverStep, type SolverConfig, type TrainState } from '../mining/train.js';
import type { HeadParams } from '../mining/ohemStep.js';
import { referenceKernels, type Kernels } from '../ops/index.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { isMiner, MINER_ATTRS, type MinerName, type SamplerName } from './miners.js';
import { stream } from './rng.js';
import { FAST_RCNN_SAMPLER, sampleRois, type SamplerConfig } from './sampler.js';
import { K, type Entry, type World } from './world.js';

export { SAMPLERS, type SamplerName } from './miners.js';

/** The pooling of the head: RoI max pooling (the default) or RoIAlign with its attrs (ohem_step's `pooler`). */
export type PoolerAttrs = Readonly<Record<string, unknown>>;

export interface TrainConfig {
  readonly iters: number;
  /** Evaluate on the held-out scenes every this many iterations (and at 0 and at the end). */
  readonly evalEvery: number;
  readonly pooled: number;
  readonly hidden: number;
  readonly rois_per_image: number;
  readonly dropout_ratio: number;
  readonly solver: SolverConfig;
  /** The standard sampler's settings (default Fast R-CNN's; `rois_per_image` comes from above). */
  readonly sampler?: Partial<SamplerConfig>;
  /** The attrs of the pooler, given to every step and to the evaluation (absent: roi_pool, passed as nothing). */
  readonly pooler?: PoolerAttrs;
  /** Per-dialect attrs over MINER_ATTRS (tests). */
  readonly minerAttrs?: Partial<Record<MinerName, Readonly<Record<string, unknown>>>>;
  /** The kernels of the heavy ops (a backend from src/gpu); the reference's by default. */
  readonly kernels?: Kernels;
}

export interface IterRecord {
  readonly iter: number;
  readonly lr: number;
  /** The loss of the batch trained on (mean over the passes): what Caffe displays. */
  readonly lossCls: number;
  readonly lossBbox: number;
  /** Fraction of the trained RoIs that are foreground. */
  readonly fgFraction: number;
  /** Fraction of the trained RoIs whose best IoU with any GT box is below 0.1. */
  readonly lowIouFraction: number;
  /** Fraction of the trained RoIs that are proposals around a look-alike distractor. */
  readonly distractorFraction: number;
  /** RoIs trained on in this iteration (all passes). */
  readonly rois: number;
}

export interface EvalRecord {
  readonly iter: number;
  readonly mAP: number;
  readonly ap: readonly number[];
  readonly loss: number;
  readonly lossCls: number;
  readonly lossBbox: number;
}

/**
 * Wall-clock cost of a run (not part of the results' bytes). `iterSeconds`: the training
 * iterations (sampling, every pass, the update), evaluations and probes excluded. The read-only
 * pass is measured on probe iterations: before the iteration, `readonlyForward` (the step's own
 * read-only pass, from src/mining/ohemStep.ts) runs on the same parameters and images and is timed
 * alone; `probeReadonlySeconds / probeIterSeconds` is its share of those iterations.
 */
export interface RunTiming {
  readonly iterSeconds: number;
  readonly evalSeconds: number;
  readonly probes: number;
  readonly probeIterSeconds: number;
  readonly probeReadonlySeconds: number;
}

export interface RunHistory {
  readonly sampler: SamplerName;
  readonly iters: readonly IterRecord[];
  readonly evals: readonly EvalRecord[];
  readonly params: HeadParams;
  readonly lastEval: EvalResult;
  /** The parameters at each evaluation (iteration 0 included). */
  readonly snapshots: readonly { readonly iter: number; readonly params: HeadParams }[];
  readonly timing: RunTiming;
}

export interface Hooks {
  readonly onIter?: (rec: IterRecord) => void;
  readonly onEval?: (rec: EvalRecord) => void;
  /** The clock for RunTiming (ms); without it every timing is 0. */
  readonly now?: () => number;
  /** Probe the read-only pass every this many iterations (default iters/25; 0: never). */
  readonly probeEvery?: number;
}

/** Caffe-filler initial parameters: xavier (uniform ±√(3/fan_in)) for fc6/fc7, gaussian 0.01 / 0.001 for cls_score / bbox_pred, zero biases. */
export const initParams = (rng: Rng, inputs: number, hidden: number): HeadParams => {
  const s = stream(rng);
  const D = 4 * K;
  const t = (shape: number[], f: () => number) => adoptTensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f));
  const xavier = (fanIn: number) => () => (2 * s.u() - 1) * Math.sqrt(3 / fanIn);
  const gauss = (std: number) => () => std * s.normal();
  return {
    fc6_w: t([hidden, inputs], xavier(inputs)),
    fc6_b: t([hidden], () => 0),
    fc7_w: t([hidden, hidden], xavier(hidden)),
    fc7_b: t([hidden], () => 0),
    cls_score_w: t([K, hidden], gauss(0.01)),
    cls_score_b: t([K], () => 0),
    bbox_pred_w: t([D, hidden], gauss(0.001)),
    bbox_pred_b: t([D], () => 0),
  };
};

/** Rows `inds` of every per-RoI tensor of `b` (features shared). */
export const subBatch = (b: StepBatch, inds: ArrayLike<number>): StepBatch => {
  const rows = (t: Tensor): Tensor<'float32'> => {
    const w = t.shape.length === 1 ? 1 : t.shape[1];
    const out = new Float32Array(inds.length * w);
    for (let r = 0; r < inds.length; r++) for (let c = 0; c < w; c++) out[r * w + c] = t.data[inds[r] * w + c];
    return adoptTensor('float32', t.shape.length === 1 ? [inds.length] : [inds.length, w], out);
  };
  return {
    features: b.features,
    rois: rows(b.rois),
    labels: rows(b.labels),
    bbox_targets: rows(b.bbox_targets),
    bbox_inside_weights: rows(b.bbox_inside_weights),
    bbox_outside_weights: rows(b.bbox_outside_weights),
  };
};

/** The training image order: one random permutation of the training set per epoch. */
export const imageOrder = (rng: Rng, nImages: number, count: number): Int32Array => {
  const s = stream(rng);
  const out = new Int32Array(count);
  for (let i = 0; i < count; ) for (const j of s.permutation(nImages)) if (i < count) out[i++] = j;
  return out;
};

/** Foreground, IoU < 0.1 and look-alike-distractor counts of the RoIs `inds` of `e`. */
export const batchStats = (e: Entry, inds: ArrayLike<number>) => {
  let fg = 0, low = 0, dis = 0;
  for (let k = 0; k < inds.length; k++) {
    const i = inds[k];
    if (e.labels[i] > 0) fg++;
    if (e.overlaps[i] < 0.1) low++;
    if (e.origin[i] === 1 && e.labels[i] === 0) dis++;
  }
  return { fg, low, dis, n: inds.length };
};

export const evalRecord = (iter: number, r: EvalResult): EvalRecord => ({
  iter,
  mAP: r.mAP,
  ap: Array.from(r.ap.subarray(1)),
  loss: r.loss,
  lossCls: r.lossCls,
  lossBbox: r.lossBbox,
});

/** The attrs every step of the run gets: the head's pooling, dropout and the pooler. */
const baseStep = (cfg: TrainConfig): StepConfig => ({
  pooled_h: cfg.pooled,
  pooled_w: cfg.pooled,
  spatial_scale: 1 / 16,
  dropout_ratio: cfg.dropout_ratio,
  ...(cfg.pooler ?? {}),
  ...(cfg.kernels ? { kernels: cfg.kernels } : {}),
});

/** The step configuration of `sampler` (a miner: its dialect's attrs; a standard sampler: train on every given RoI). */
export const stepConfig = (cfg: TrainConfig, sampler: SamplerName): StepConfig =>
  isMiner(sampler) ? ({ ...baseStep(cfg), ...MINER_ATTRS[sampler].attrs, ...(cfg.minerAttrs?.[sampler] ?? {}) } as StepConfig) : { ...baseStep(cfg), selection: 'all' };

/** The evaluation's pooling attrs (the same pooler as training). */
export const evalConfig = (cfg: TrainConfig) => ({ pooled_h: cfg.pooled, pooled_w: cfg.pooled, spatial_scale: 1 / 16, ...(cfg.pooler ?? {}) });

/** The RoIs `sampler` trains on in `e` under `params` (a miner's selection; a standard sampler's draw from `s`). */
export const chooseRois = (cfg: TrainConfig, sampler: SamplerName, params: HeadParams, e: Entry, s: ReturnType<typeof stream>): Result<Int32Array> => {
  if (!isMiner(sampler))
    return sampleRois(s, e.overlaps, { ...FAST_RCNN_SAMPLER, ...cfg.sampler, ...(sampler === 'standard_bg0' ? { bg_thresh_lo: 0 } : {}), rois_per_image: cfg.rois_per_image });
  return E.map((m: { hard_inds: { data: ArrayLike<number> } }) => Int32Array.from(m.hard_inds.data))(ohemStep(stepConfig(cfg, sampler))(params, e.batch));
};

/** Trains from `init` with `sampler` for `cfg.iters` iterations; evaluates on `world.test` along the way. */
export const runSampler = (
  world: World,
  sampler: SamplerName,
  init: HeadParams,
  cfg: TrainConfig,
  rngs: { readonly order: Rng; readonly sampler: Rng; readonly dropout: Rng },
  hooks: Hooks = {},
): Result<RunHistory> => {
  const iterSize = cfg.solver.iter_size ?? 2;
  if (cfg.iters < 1) return E.left(rangeError('iters', `is ${cfg.iters}, must be ≥ 1`));
  const now = hooks.now ?? (() => 0);
  const probeEvery = hooks.probeEvery ?? Math.max(1, Math.round(cfg.iters / 25));
  const miner = isMiner(sampler);
  const step = stepConfig(cfg, sampler);
  const order = imageOrder(rngs.order, world.train.length, cfg.iters * iterSize);
  const samplerStream = stream(rngs.sampler);
  const seeds = uint32s(rngs.dropout, cfg.iters * iterSize)[0];
  const evalCfg = evalConfig(cfg);
  const evals: EvalRecord[] = [];
  const iters: IterRecord[] = [];
  const snapshots: { iter: number; params: HeadParams }[] = [];
  let evalMs = 0, iterMs = 0, probes = 0, probeIterMs = 0, probeRoMs = 0;
  const doEval = (iter: number, params: HeadParams): Result<EvalResult> => {
    const t0 = now();
    const r = evaluate(world, world.test, params, evalCfg, cfg.kernels);
    evalMs += now() - t0;
    snapshots.push({ iter, params });
    if (E.isRight(r)) {
      const rec = evalRecord(iter, r.right);
      evals.push(rec);
      hooks.onEval?.(rec);
    }
    return r;
  };
  const first = doEval(0, init);
  if (E.isLeft(first)) return first;
  let last = first.right;
  const update = solverStep<StepBatch, StepMasks | undefined>(cfg.solver, (p, b, m) => (miner ? ohemStep(step) : fastRcnnStep(step))(p, b, m));
  let state: TrainState = initialState(init);
  for (let t = 0; t < cfg.iters; t++) {
    const entries = Array.from({ length: iterSize }, (_, i) => world.train[order[t * iterSize + i]]);
    const masks = entries.map((_, i) => (cfg.dropout_ratio > 0 ? { seed: seeds[t * iterSize + i] } : undefined));
    // The probe: the read-only pass alone, on the parameters and images this iteration's passes see.
    const probe = miner && probeEvery > 0 && t % probeEvery === 0;
    let roMs = 0;
    if (probe)
      for (const [i, e] of entries.entries()) {
        const v = validateStep(step, state.params, e.batch, masks[i]);
        if (E.isLeft(v)) return v;
        const t0 = now();
        const ro = readonlyForward(v.right, cfg.kernels ?? referenceKernels);
        roMs += now() - t0;
        if (E.isLeft(ro)) return ro;
      }
    const t0 = now();
    let chosen: Int32Array[] = [];
    let batches: StepBatch[];
    if (miner) batches = entries.map((e) => e.batch);
    else {
      const sampled: Int32Array[] = [];
      for (const e of entries) {
        const inds = chooseRois(cfg, sampler, state.params, e, samplerStream);
        if (E.isLeft(inds)) return inds;
        sampled.push(inds.right);
      }
      chosen = sampled;
      batches = entries.map((e, i) => subBatch(e.batch, sampled[i]));
    }
    const r = update(state, batches, masks);
    if (E.isLeft(r)) return r;
    const dt = now() - t0;
    iterMs += dt;
    if (probe) {
      probes++;
      probeIterMs += dt;
      probeRoMs += roMs;
    }
    state = r.right.state;
    if (miner) chosen = r.right.report.passes.map((p) => Int32Array.from(p.hard_inds.data));
    const st = entries.map((e, i) => batchStats(e, chosen[i]));
    const n = st.reduce((a, s) => a + s.n, 0);
    const rec: IterRecord = {
      iter: t + 1,
      lr: r.right.report.lr,
      lossCls: r.right.report.loss_cls,
      lossBbox: r.right.report.loss_bbox,
      fgFraction: st.reduce((a, s) => a + s.fg, 0) / n,
      lowIouFraction: st.reduce((a, s) => a + s.low, 0) / n,
      distractorFraction: st.reduce((a, s) => a + s.dis, 0) / n,
      rois: n,
    };
    iters.push(rec);
    hooks.onIter?.(rec);
    if ((t + 1) % cfg.evalEvery === 0 || t + 1 === cfg.iters) {
      const ev = doEval(t + 1, state.params);
      if (E.isLeft(ev)) return ev;
      last = ev.right;
    }
  }
  const timing: RunTiming = { iterSeconds: iterMs / 1000, evalSeconds: evalMs / 1000, probes, probeIterSeconds: probeIterMs / 1000, probeReadonlySeconds: probeRoMs / 1000 };
  return E.right({ sampler, iters, evals, params: state.params, lastEval: last, snapshots, timing });
};
