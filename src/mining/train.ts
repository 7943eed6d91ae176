/**
 * Training with Caffe's SGD (SPEC §9, §3.3; docs/mining.md §5), pure: a step maps a state and
 * `iter_size` forward batches to the next state. Parameter diffs of the passes are summed (Caffe
 * accumulates into one float32 diff), then `sgdUpdate` — which divides by iter_size, adds weight
 * decay, and keeps lr inside the momentum buffer — is applied once per parameter, with OHEM's
 * multipliers: weights lr 1 / decay 1, biases lr 2 / decay 0.
 */
import * as E from 'fp-ts/lib/Either.js';
import { sequenceS } from 'fp-ts/lib/Apply.js';
import { type OhemError, type Result, type Tensor, adoptTensor, allocate, checkInt, checkNumber, rangeError, relabel } from '../core/internal.js';
import { sgdUpdate, stepLearningRate } from '../ops/sgd.js';
import { PARAM_NAMES, type ParamName } from './head.js';
import { ohemStep, type HeadParams, type StepBatch, type StepConfig, type StepMasks, type StepResult } from './ohemStep.js';

export interface SolverConfig {
  readonly base_lr: number;
  /** "step" policy: lr = base_lr · gamma^⌊iter / stepsize⌋ (OHEM: 0.1, 30000). */
  readonly gamma?: number;
  readonly stepsize?: number;
  readonly momentum?: number;
  readonly weight_decay?: number;
  /** Forward/backward passes per update (OHEM: 2 images of 64 hard RoIs each). */
  readonly iter_size?: number;
}

export interface TrainState {
  readonly params: HeadParams;
  /** Momentum buffers, one per parameter, zero at the start (Caffe's PreSolve). */
  readonly history: { readonly [P in ParamName]: Tensor };
  /** Completed updates t (the lr policy's iteration). */
  readonly iter: number;
}

/** Per-parameter multipliers of OHEM's train.prototxt main branch (SPEC §3.3, §8.4, pitfall 13). */
export const MULTIPLIERS: { readonly [P in ParamName]: { readonly lr_mult: number; readonly decay_mult: number } } = Object.freeze(
  Object.fromEntries(PARAM_NAMES.map((p) => [p, p.endsWith('_w') ? { lr_mult: 1, decay_mult: 1 } : { lr_mult: 2, decay_mult: 0 }])) as never,
);

export const initialState = (params: HeadParams): TrainState => ({
  params,
  history: Object.fromEntries(PARAM_NAMES.map((p) => [p, adoptTensor('float32', params[p].shape, allocate('float32', params[p].size))])) as never,
  iter: 0,
});

export interface StepReport {
  readonly lr: number;
  /** Mean over the passes of loss_cls and loss_bbox: the loss of the mined batches (what Caffe displays). */
  readonly loss_cls: number;
  readonly loss_bbox: number;
  readonly passes: readonly StepResult[];
}

/** A step of any per-pass gradient function (OHEM's `ohemStep`, or another sampler's). */
export type PassFn<B, M> = (params: HeadParams, batch: B, masks: M) => Result<StepResult>;

/** One solver update from `iter_size` passes (`batches[i]` with `masks[i]`). */
export const solverStep =
  <B, M>(solver: SolverConfig, pass: PassFn<B, M>) =>
  (state: TrainState, batches: readonly B[], masks: readonly M[]): Result<{ state: TrainState; report: StepReport }> => {
    const iterSize = checkInt('solver.iter_size', solver.iter_size ?? 1, 1);
    if (E.isLeft(iterSize)) return iterSize;
    if (batches.length !== iterSize.right || masks.length !== iterSize.right)
      return E.left(rangeError('batches', `${batches.length} batches and ${masks.length} mask sets for iter_size ${iterSize.right}`));
    // Every setting is checked before any pass, and named as the solver's (float32-representable,
    // as Caffe holds them in floats).
    const FMAX = 3.4028234663852886e38;
    const settings = sequenceS(E.Apply)({
      base_lr: checkNumber('solver.base_lr', solver.base_lr, 0, FMAX),
      gamma: checkNumber('solver.gamma', solver.gamma ?? 0.1, -FMAX, FMAX),
      stepsize: checkInt('solver.stepsize', solver.stepsize ?? 30000, 1),
      momentum: checkNumber('solver.momentum', solver.momentum ?? 0.9, -FMAX, FMAX),
      weight_decay: checkNumber('solver.weight_decay', solver.weight_decay ?? 0.0005, -FMAX, FMAX),
    });
    if (E.isLeft(settings)) return settings;
    const { momentum: mom, weight_decay: wd } = settings.right;
    const lr = E.mapLeft((e: OhemError) => relabel(e, `solver.${e.input}`))(stepLearningRate(settings.right.base_lr, settings.right.gamma, settings.right.stepsize, state.iter));
    if (E.isLeft(lr)) return lr;
    // Products Caffe forms in float (local rate and decay) must stay finite too.
    for (const p of PARAM_NAMES) {
      if (!Number.isFinite(Math.fround(Math.fround(lr.right) * MULTIPLIERS[p].lr_mult)))
        return E.left(rangeError('solver.base_lr', `${solver.base_lr} times lr_mult ${MULTIPLIERS[p].lr_mult} overflows float32`));
      if (!Number.isFinite(Math.fround(Math.fround(wd) * MULTIPLIERS[p].decay_mult)))
        return E.left(rangeError('solver.weight_decay', `${wd} times decay_mult ${MULTIPLIERS[p].decay_mult} overflows float32`));
    }
    const passes: StepResult[] = [];
    const sums = {} as Record<ParamName, Float32Array>;
    for (let i = 0; i < batches.length; i++) {
      const r = pass(state.params, batches[i], masks[i]);
      if (E.isLeft(r)) return r;
      passes.push(r.right);
      for (const p of PARAM_NAMES) {
        const g = r.right[`${p}_grad`].data;
        const acc = (sums[p] ??= new Float32Array(g.length));
        // Caffe's diff accumulates in float32 (GEMM with beta = 1).
        for (let k = 0; k < g.length; k++) acc[k] = Math.fround(acc[k] + g[k]);
      }
    }
    const params = {} as Record<ParamName, Tensor>;
    const history = {} as Record<ParamName, Tensor>;
    for (const p of PARAM_NAMES) {
      const u = sgdUpdate(
        { param: state.params[p], grad: adoptTensor('float32', state.params[p].shape, sums[p]), history: state.history[p] },
        {
          lr: lr.right,
          momentum: mom,
          weight_decay: wd,
          iter_size: iterSize.right,
          ...MULTIPLIERS[p],
        },
      );
      if (E.isLeft(u)) return u;
      params[p] = u.right.param;
      history[p] = u.right.history;
    }
    const mean = (k: 'loss_cls' | 'loss_bbox') => passes.reduce((s, r) => s + r[k].data[0], 0) / passes.length;
    return E.right({
      state: { params: params as HeadParams, history: history as TrainState['history'], iter: state.iter + 1 },
      report: { lr: lr.right, loss_cls: mean('loss_cls'), loss_bbox: mean('loss_bbox'), passes },
    });
  };

/** The OHEM solver step: `solverStep` over `ohemStep`. */
export const ohemSolverStep = (solver: SolverConfig, step: StepConfig = {}) =>
  solverStep<StepBatch, StepMasks | undefined>(solver, (params, batch, masks) => ohemStep(step)(params, batch, masks));
