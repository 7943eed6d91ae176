/**
 * Caffe's SGD solver step for one learnable parameter (SPEC §9, pitfall 22) and its "step"
 * learning-rate policy. Caffe keeps every solver setting (base_lr, momentum, weight_decay, the
 * ParamSpec multipliers) as a float and does every element-wise operation in float32; so do we.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  adoptTensor,
  allocate,
  checkFinite,
  checkInt,
  checkNumber,
  checkTensor,
  rangeError,
  valueError,
} from '../core/index.js';
import { asFloat32 } from './activations.js';

const FLOAT = ['float32', 'float64'] as const;

export interface SgdAttrs {
  /** The solver's current rate (Caffe `GetLearningRate()`, e.g. `stepLearningRate`); required, finite, ≥ 0. */
  readonly lr: number;
  readonly momentum: number;
  readonly weight_decay: number;
  /** ParamSpec multipliers of this parameter (OHEM: weights 1/1, fc biases 2/0). */
  readonly lr_mult: number;
  readonly decay_mult: number;
  /** Forward/backward passes accumulated into the gradient (OHEM: 2); a positive integer. */
  readonly iter_size: number;
}
export const SGD_DEFAULTS: Omit<SgdAttrs, 'lr'> = Object.freeze({
  momentum: 0.9,
  weight_decay: 0.0005,
  lr_mult: 1,
  decay_mult: 1,
  iter_size: 1,
});

/** A solver setting: a finite number that stays finite as the float Caffe stores it. */
const floatSetting = (name: string, v: unknown, lo = -Infinity): Result<number> => {
  const c = checkNumber(name, v, lo);
  if (E.isLeft(c)) return c;
  const f = Math.fround(c.right);
  if (!Number.isFinite(f)) return E.left(rangeError(name, `is ${c.right}, which overflows float32`));
  return E.right(f);
};

/**
 * One Caffe SGD update of a parameter θ with accumulated gradient g and momentum history v
 * (SPEC §9: SGDSolver::Normalize, Regularize, ComputeUpdateValue, then Blob::Update), in float32:
 *
 *   if iter_size > 1:       g ← fl32(g · fl32(1/iter_size))            (the gradient only)
 *   λ = fl32(weight_decay · decay_mult); if λ ≠ 0: g ← fl32(fl32(λ·θ) + g)   (L2; NOT divided by iter_size)
 *   η = fl32(lr · lr_mult)
 *   v ← fl32(fl32(momentum·v) + fl32(η·g))                             (lr inside the buffer: not PyTorch's SGD)
 *   θ ← fl32(θ − v)
 *
 * With lr_mult 0 and v = 0 the parameter never moves. Returns fresh `param` and `history`.
 */
export const sgdUpdate = (
  inputs: { readonly param: Tensor; readonly grad: Tensor; readonly history: Tensor },
  attrs: Partial<SgdAttrs> = {},
): Result<{ readonly param: Tensor<'float32'>; readonly history: Tensor<'float32'> }> => {
  const xs = (inputs ?? {}) as Partial<Record<'param' | 'grad' | 'history', unknown>>;
  const a = (attrs ?? {}) as Partial<Record<keyof SgdAttrs, unknown>>;
  const cp = checkTensor('param', xs.param, (xs.param as Tensor | undefined)?.shape ?? [], FLOAT);
  if (E.isLeft(cp)) return cp;
  const shape = cp.right.shape;
  const cg = checkTensor('grad', xs.grad, shape, FLOAT);
  if (E.isLeft(cg)) return cg;
  const ch = checkTensor('history', xs.history, shape, FLOAT);
  if (E.isLeft(ch)) return ch;
  const theta = asFloat32(cp.right);
  const grad = asFloat32(cg.right);
  const hist = asFloat32(ch.right);
  for (const [name, t] of [['param', theta], ['grad', grad], ['history', hist]] as const) {
    const f = checkFinite(name, t);
    if (E.isLeft(f)) return f;
  }

  if (a.lr === undefined || a.lr === null) return E.left(valueError('attrs.lr', 'is required (the solver’s current learning rate)'));
  const lr = floatSetting('attrs.lr', a.lr, 0);
  if (E.isLeft(lr)) return lr;
  const momentum = floatSetting('attrs.momentum', a.momentum ?? SGD_DEFAULTS.momentum);
  if (E.isLeft(momentum)) return momentum;
  const wd = floatSetting('attrs.weight_decay', a.weight_decay ?? SGD_DEFAULTS.weight_decay);
  if (E.isLeft(wd)) return wd;
  const lrMult = floatSetting('attrs.lr_mult', a.lr_mult ?? SGD_DEFAULTS.lr_mult);
  if (E.isLeft(lrMult)) return lrMult;
  const decayMult = floatSetting('attrs.decay_mult', a.decay_mult ?? SGD_DEFAULTS.decay_mult);
  if (E.isLeft(decayMult)) return decayMult;
  const iterSize = checkInt('attrs.iter_size', a.iter_size ?? SGD_DEFAULTS.iter_size, 1);
  if (E.isLeft(iterSize)) return iterSize;

  const localDecay = Math.fround(wd.right * decayMult.right); // float · float (Regularize)
  if (!Number.isFinite(localDecay)) return E.left(rangeError('attrs.decay_mult', 'weight_decay·decay_mult overflows float32'));
  const localRate = Math.fround(lr.right * lrMult.right); // float · float (ComputeUpdateValue)
  if (!Number.isFinite(localRate)) return E.left(rangeError('attrs.lr_mult', 'lr·lr_mult overflows float32'));
  const m = momentum.right;
  const norm = Math.fround(1 / iterSize.right); // Dtype(1.) / iter_size
  const scaleGrad = iterSize.right > 1; // Normalize returns early when iter_size == 1

  const t = theta.data;
  const gd = grad.data;
  const h = hist.data;
  const n = t.length;
  const outT = allocate('float32', n);
  const outV = allocate('float32', n);
  for (let i = 0; i < n; i++) {
    let g = gd[i];
    if (scaleGrad) g = Math.fround(g * norm);
    if (localDecay !== 0) g = Math.fround(Math.fround(localDecay * t[i]) + g);
    const v = Math.fround(Math.fround(m * h[i]) + Math.fround(localRate * g));
    const th = Math.fround(t[i] - v);
    if (!Number.isFinite(th) || !Number.isFinite(v))
      return E.left(valueError('param', `the update overflows float32 at element ${i} (θ = ${t[i]}, g = ${gd[i]}, v = ${h[i]})`));
    outV[i] = v;
    outT[i] = th;
  }
  return E.right({ param: adoptTensor('float32', shape, outT), history: adoptTensor('float32', shape, outV) });
};

/**
 * Caffe's "step" learning-rate policy (SPEC §9 step 3, §3.3): rate = base_lr · gamma^⌊iter/stepsize⌋,
 * with base_lr and gamma floats, `pow` evaluated in double and the rate stored as a float. `iter`
 * counts completed solver updates (each of iter_size passes). OHEM: 0.001, 0.1, 30000.
 */
export const stepLearningRate = (base_lr: number, gamma: number, stepsize: number, iter: number): Result<number> => {
  const b = floatSetting('base_lr', base_lr);
  if (E.isLeft(b)) return b;
  const gm = floatSetting('gamma', gamma);
  if (E.isLeft(gm)) return gm;
  const s = checkInt('stepsize', stepsize, 1);
  if (E.isLeft(s)) return s;
  const it = checkInt('iter', iter, 0);
  if (E.isLeft(it)) return it;
  const step = Math.floor(it.right / s.right); // C++ int division of non-negative ints
  const rate = Math.fround(b.right * Math.pow(gm.right, step));
  if (!Number.isFinite(rate)) return E.left(rangeError('gamma', `gamma^${step} makes the rate overflow float32`));
  return E.right(rate);
};
