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
});
