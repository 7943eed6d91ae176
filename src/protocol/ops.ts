/**
 * The op table of PROTOCOL.md: protocol op name → the reference function. Ops take their inputs
 * and attrs by the protocol's own names, so the table is a thin, uniform adapter; every op
 * validates its own inputs and attrs and answers a Left naming what is wrong.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, unsupported } from '../core/index.js';
import { roiPool, roiPoolBackward } from '../ops/roiPool.js';
import { linear, linearBackward, linearWith, linearBackwardWith } from '../ops/linear.js';
import { relu, reluBackward, dropout, dropoutBackward, softmax } from '../ops/activations.js';
import { softmaxCE, smoothL1 } from '../ops/losses.js';
import { nms } from '../ops/nms.js';
import { selectTopK } from '../ops/topK.js';
import { sgdUpdate } from '../ops/sgd.js';
import { roiLoss } from '../mining/hardness.js';
import { selectHard } from '../mining/select.js';
import { ohemStep, type StepConfig } from '../mining/ohemStep.js';
import { PARAM_NAMES } from '../mining/head.js';
import type { Backend } from '../gpu/backend.js';
import type { BackendPool } from '../gpu/pool.js';

const STEP_BATCH = ['features', 'rois', 'labels', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;
const STEP_MASKS = ['readonly_mask6', 'readonly_mask7', 'train_mask6', 'train_mask7'] as const;
const pick = (r: Readonly<Record<string, Tensor>>, names: readonly string[]) => Object.fromEntries(names.filter((n) => n in r).map((n) => [n, r[n]]));

/** `ohem_step` takes one flat record of inputs: split it into parameters, batch and masks. */
const runOhemStep = (i: Readonly<Record<string, Tensor>>, a: Readonly<Record<string, unknown>>, engine?: Backend) => {
  // The protocol never chooses the chunk size (a library option); `attrs.backend` picks the engine.
  const { engine: _e, chunk_size: _c, backend: _b, ...attrs } = a as StepConfig & Record<string, unknown>;
  void _e;
  void _c;
  void _b;
  return ohemStep({ ...(attrs as StepConfig), ...(engine ? { engine } : {}) })(
    pick(i, PARAM_NAMES) as never,
    pick(i, STEP_BATCH) as never,
    pick(i, STEP_MASKS) as never,
  );
};

/** What a request runs with besides its inputs and attrs: the server's backends (`attrs.backend`). */
export interface OpContext {
  readonly backends?: BackendPool;
}

/**
 * An op with an optional `attrs.backend` (PROTOCOL: reference — the default —, gpujs-cpu,
 * gpujs-webasm, gpujs-headlessgl, gpujs-webgpu, auto): absent, null or `reference` runs the
 * reference function; any other name runs the op on that backend from the context's pool, and
 * an unknown or unavailable one is a Left naming attrs.backend.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = (i: any, a: any) => Result<any>;
const onBackend =
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (reference: AnyOp, on: (b: Backend, i: any, a: any) => Result<any>) =>
  (i: Inputs, a: Attrs, ctx?: OpContext): Result<Outputs> => {
    const name = a?.backend;
    if (name === undefined || name === null || name === 'reference') return reference(i, a);
    if (!ctx?.backends) return E.left(unsupported('attrs.backend', `is ${JSON.stringify(name)}, but this caller offers only the reference`));
    const b = ctx.backends.resolve(name);
    return E.isLeft(b) ? b : on(b.right, i, a);
  };

export type Inputs = Readonly<Record<string, Tensor>>;
export type Attrs = Readonly<Record<string, unknown>>;
export type Outputs = Readonly<Record<string, Tensor>>;

export interface OpEntry {
  /** Names of the tensor inputs, as in PROTOCOL.md (for `describe` and for conform's generators). */
  readonly inputs: readonly string[];
  readonly run: (inputs: Inputs, attrs: Attrs, ctx?: OpContext) => Result<Outputs>;
}

// Each op's own input/attr record types are narrower than the table's uniform ones; the op
// validates at run time (a missing input is a Left naming it), so widening here is safe.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const entry = (inputs: readonly string[], f: (i: any, a: any, ctx?: OpContext) => Result<any>): OpEntry => ({ inputs, run: f });

export const OPS: Readonly<Record<string, OpEntry>> = Object.freeze({
  roi_pool: entry(['features', 'rois'], onBackend(roiPool, (b, i, a) => b.roiPool(i, a))),
  roi_pool_backward: entry(['rois', 'argmax', 'top_grad'], onBackend(roiPoolBackward, (b, i, a) => b.roiPoolBackward(i, a))),
  linear: entry(['x', 'w', 'b'], onBackend((i) => linear(i), (b, i) => linearWith(b.linear)(i))),
  linear_backward: entry(['x', 'w', 'dy'], onBackend((i) => linearBackward(i), (b, i) => linearBackwardWith(b.linearBackward)(i))),
  relu: entry(['x'], (i) => relu(i)),
  relu_backward: entry(['x', 'dy'], (i) => reluBackward(i)),
  dropout: entry(['x', 'mask'], dropout),
  dropout_backward: entry(['dy', 'mask'], dropoutBackward),
  softmax: entry(['x'], (i) => softmax(i)),
  softmax_loss: entry(['scores', 'labels'], softmaxCE),
  smooth_l1_loss: entry(['pred', 'target', 'inside_w', 'outside_w'], smoothL1),
  nms: entry(['boxes', 'scores'], nms),
  top_k: entry(['values'], selectTopK),
  sgd_update: entry(['param', 'grad', 'history'], sgdUpdate),
  ohem_roi_loss: entry(['cls_prob', 'labels', 'bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'], roiLoss),
  ohem_select: entry(['loss', 'rois', 'labels', 'cls_loss', 'bbox_loss'], selectHard),
  ohem_step: entry([...STEP_BATCH, ...PARAM_NAMES, ...STEP_MASKS], onBackend((i, a) => runOhemStep(i, a), (b, i, a) => runOhemStep(i, a, b))),
});
