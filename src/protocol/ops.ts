/**
 * The op table of PROTOCOL.md: protocol op name → the reference function. Ops take their inputs
 * and attrs by the protocol's own names, so the table is a thin, uniform adapter; every op
 * validates its own inputs and attrs and answers a Left naming what is wrong.
 */
import type { Result, Tensor } from '../core/index.js';
import { roiPool, roiPoolBackward } from '../ops/roiPool.js';
import { linear, linearBackward } from '../ops/linear.js';
import { relu, reluBackward, dropout, dropoutBackward, softmax } from '../ops/activations.js';
import { softmaxCE, smoothL1 } from '../ops/losses.js';
import { nms } from '../ops/nms.js';
import { selectTopK } from '../ops/topK.js';
import { sgdUpdate } from '../ops/sgd.js';
import { roiLoss } from '../mining/hardness.js';
import { selectHard } from '../mining/select.js';
import { ohemStep, type StepConfig } from '../mining/ohemStep.js';
import { PARAM_NAMES } from '../mining/head.js';

const STEP_BATCH = ['features', 'rois', 'labels', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;
const STEP_MASKS = ['readonly_mask6', 'readonly_mask7', 'train_mask6', 'train_mask7'] as const;
const pick = (r: Readonly<Record<string, Tensor>>, names: readonly string[]) => Object.fromEntries(names.filter((n) => n in r).map((n) => [n, r[n]]));

/** `ohem_step` takes one flat record of inputs: split it into parameters, batch and masks. */
const runOhemStep = (i: Readonly<Record<string, Tensor>>, a: Readonly<Record<string, unknown>>) => {
  // The protocol never chooses the engine or the chunk size (those are the library's options).
  const { engine: _e, chunk_size: _c, ...attrs } = a as StepConfig & Record<string, unknown>;
  void _e;
  void _c;
  return ohemStep(attrs as StepConfig)(pick(i, PARAM_NAMES) as never, pick(i, STEP_BATCH) as never, pick(i, STEP_MASKS) as never);
};

export type Inputs = Readonly<Record<string, Tensor>>;
export type Attrs = Readonly<Record<string, unknown>>;
export type Outputs = Readonly<Record<string, Tensor>>;

export interface OpEntry {
  /** Names of the tensor inputs, as in PROTOCOL.md (for `describe` and for conform's generators). */
  readonly inputs: readonly string[];
  readonly run: (inputs: Inputs, attrs: Attrs) => Result<Outputs>;
}

// Each op's own input/attr record types are narrower than the table's uniform ones; the op
// validates at run time (a missing input is a Left naming it), so widening here is safe.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const entry = (inputs: readonly string[], f: (i: any, a: any) => Result<any>): OpEntry => ({ inputs, run: f });

export const OPS: Readonly<Record<string, OpEntry>> = Object.freeze({
  roi_pool: entry(['features', 'rois'], roiPool),
  roi_pool_backward: entry(['rois', 'argmax', 'top_grad'], roiPoolBackward),
  linear: entry(['x', 'w', 'b'], (i) => linear(i)),
  linear_backward: entry(['x', 'w', 'dy'], (i) => linearBackward(i)),
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
  ohem_step: entry([...STEP_BATCH, ...PARAM_NAMES, ...STEP_MASKS], runOhemStep),
});
