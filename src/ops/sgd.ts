/**
 * Caffe's SGD solver step for one learnable parameter (SPEC §9, pitfall 22) and its "step"
 * learning-rate policy. Caffe keeps every solver setting (base_lr, momentum, weight_decay, the
 * ParamSpec multipliers) as a float and does every element-wise operation in float32; so do we.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, allocate, checkFinite, checkInt, checkNumber, rangeError, valueError } from '../core/internal.js';
import { type AttrDef, type InputDef, type OpDef, type Tolerance, opFn, convention } from './def.js';
import { referenceKernels } from './kernels.js';

const U = 2 ** -24; // float32 unit roundoff

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
  /** Convention (reference only): where lr sits; the original keeps it inside the momentum buffer. */
  readonly momentum_rule: 'caffe' | 'torch' | 'tf';
}

/** The momentum convention other libraries choose otherwise (reference only, docs/protocol.md "Conventions"). */
export const SGD_CONVENTIONS: readonly AttrDef[] = [
  convention('momentum_rule', 'caffe: v = m·v + η·g, θ −= v; torch: v = m·v + g, θ −= η·v, and momentum 0 leaves v untouched (torch.optim.SGD, dampening 0); tf: the same with v = g at momentum 0 (tf.train.momentum)', {
    caffe: 'keeps lr inside the momentum buffer: v = m·v + η·g, θ −= v (Caffe)',
    torch: 'keeps lr outside the momentum buffer: v = m·v + g, θ −= η·v, and leaves v untouched at momentum 0 (torch.optim.SGD)',
    tf: 'keeps lr outside the accumulator: v = m·v + g, θ −= η·v, at momentum 0 too (v = g; tf.train.momentum, Keras SGD)',
  }),
];

/** A solver setting: a finite number that stays finite as the float Caffe stores it. */
const floatSetting = (name: string, v: number): Result<number> => {
  const f = Math.fround(v);
  return Number.isFinite(f) ? E.right(f) : E.left(rangeError(name, `is ${v}, which overflows float32`));
};

const setting = (name: string, dflt: number | undefined, doc: string, min?: number): AttrDef => ({
  name,
  domain: { kind: 'number', ...(min === undefined ? {} : { min }) },
  ...(dflt === undefined ? {} : { default: dflt }),
  doc,
});

export const SGD_ATTRS: readonly AttrDef[] = [
  setting('lr', undefined, "the solver's current rate (required), finite and ≥ 0", 0),
  setting('momentum', 0.9, 'the momentum (Caffe keeps lr inside the buffer)'),
  setting('weight_decay', 0.0005, 'L2 weight decay, added after the 1/iter_size scaling'),
  setting('lr_mult', 1, 'the parameter\'s lr multiplier (OHEM: weights 1, biases 2)'),
  setting('decay_mult', 1, 'the parameter\'s decay multiplier (OHEM: weights 1, fc biases 0)'),
  { name: 'iter_size', domain: { kind: 'int', min: 1 }, default: 1, doc: 'forward/backward passes accumulated into the gradient (OHEM: 2)' },
];

const same = (name: string, doc: string): InputDef => ({ name, dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape: name === 'param' ? { any: true } : { like: 'param' }, doc });

// Both sides do SPEC §9's float32 operations unfused and in the same order, so they should agree
// bit for bit. The tolerance admits a port that contracts to FMA (Caffe's own GPU kernel and
// cuBLAS axpy may): with the generated magnitudes (|θ|, |g| ≤ 10, |v| ≤ 1, lr·lr_mult ≤ 0.2,
// wd·decay_mult ≤ 0.02, momentum ≤ 0.99 ⇒ |η·g| ≤ 2.04, |v'| ≤ 3.03) one fused step moves v by
// ≤ ulp(3.03) = 2^-22 and the fused decay moves g by ≤ ulp(10.2) = 2^-20, i.e. v by ≤ 0.2·2^-20:
// under 1e-6 absolute together; θ' = θ − v' adds one rounding (≤ 2u·|θ'|).
const PARAM_TOL: Tolerance = { atol: 1e-6, rtol: 4 * U, note: 'same unfused float32 ops (expect bit-exact); allows FMA contraction: ≤ 1e-6 at the generated magnitudes, +2 ulps of θ' };
const HISTORY_TOL: Tolerance = { atol: 1e-6, rtol: 4 * U, note: 'same unfused float32 ops (expect bit-exact); allows FMA contraction in m·v + η·g and the decay axpy: ≤ 1e-6 at the generated magnitudes' };

/** The settings as Caffe's floats, and the products it forms in float: a Left naming the attr that overflows. */
const floatSettings = (a: SgdAttrs): Result<{ lr: number; momentum: number; localDecay: number; localRate: number }> => {
  const f: Record<string, number> = {};
  for (const name of ['lr', 'momentum', 'weight_decay', 'lr_mult', 'decay_mult'] as const) {
    const r = floatSetting(`attrs.${name}`, a[name]);
    if (E.isLeft(r)) return r;
    f[name] = r.right;
  }
  const localDecay = Math.fround(f.weight_decay * f.decay_mult); // float · float (Regularize)
  if (!Number.isFinite(localDecay)) return E.left(rangeError('attrs.decay_mult', 'weight_decay·decay_mult overflows float32'));
  const localRate = Math.fround(f.lr * f.lr_mult); // float · float (ComputeUpdateValue)
  if (!Number.isFinite(localRate)) return E.left(rangeError('attrs.lr_mult', 'lr·lr_mult overflows float32'));
  return E.right({ lr: f.lr, momentum: f.momentum, localDecay, localRate });
};

export const sgdDef: OpDef<SgdAttrs, { readonly param: Tensor<'float32'>; readonly history: Tensor<'float32'> }> = {
  name: 'sgd_update',
  version: 1,
  summary: 'one Caffe SGD update of a parameter: lr inside the momentum buffer, weight decay after the 1/iter_size scaling',
  doc: 'docs/semantics.md#the-sgd-step',
  inputs: [same('param', 'the parameter θ, any shape'), same('grad', 'its accumulated gradient g (θ\'s shape)'), same('history', 'its momentum history v (θ\'s shape)')],
  attrs: SGD_ATTRS,
  conventions: SGD_CONVENTIONS,
  outputs: [
    { name: 'param', dtype: 'float32', shape: { like: 'param' }, tolerance: PARAM_TOL, doc: 'θ − v' },
    { name: 'history', dtype: 'float32', shape: { like: 'param' }, tolerance: HISTORY_TOL, doc: 'the new momentum history v' },
  ],
  kernels: [],
  check: (v) => {
    for (const name of ['param', 'grad', 'history']) {
      const f = checkFinite(name, v.inputs[name]);
      if (E.isLeft(f)) return f;
    }
    return floatSettings(v.attrs);
  },
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
   * With lr_mult 0 and v = 0 the parameter never moves.
   */
  run: (v) => {
    const fs = floatSettings(v.attrs);
    if (E.isLeft(fs)) return fs;
    const { momentum: m, localDecay, localRate } = fs.right;
    const iterSize = v.attrs.iter_size;
    const norm = Math.fround(1 / iterSize); // Dtype(1.) / iter_size
    const scaleGrad = iterSize > 1; // Normalize returns early when iter_size == 1
    const torch = v.attrs.momentum_rule === 'torch';
    const tf = v.attrs.momentum_rule === 'tf';
    const t = v.inputs.param.data;
    const gd = v.inputs.grad.data;
    const h = v.inputs.history.data;
    const n = t.length;
    const outT = allocate('float32', n);
    const outV = allocate('float32', n);
    for (let i = 0; i < n; i++) {
      let g = gd[i];
      if (scaleGrad) g = Math.fround(g * norm);
      if (localDecay !== 0) g = Math.fround(Math.fround(localDecay * t[i]) + g);
      let vi: number;
      let th: number;
      if (torch) {
        vi = m === 0 ? h[i] : Math.fround(Math.fround(m * h[i]) + g);
        th = Math.fround(t[i] - Math.fround(localRate * (m === 0 ? g : vi)));
      } else if (tf) {
        vi = Math.fround(Math.fround(m * h[i]) + g);
        th = Math.fround(t[i] - Math.fround(localRate * vi));
      } else {
        vi = Math.fround(Math.fround(m * h[i]) + Math.fround(localRate * g));
        th = Math.fround(t[i] - vi);
      }
      if (!Number.isFinite(th) || !Number.isFinite(vi))
        return E.left(valueError('param', `the update overflows float32 at element ${i} (θ = ${t[i]}, g = ${gd[i]}, v = ${h[i]})`));
      outV[i] = vi;
      outT[i] = th;
    }
    const shape = v.inputs.param.shape;
    return E.right({ param: adoptTensor('float32', shape, outT), history: adoptTensor('float32', shape, outV) });
  },
};

/** One Caffe SGD update (SPEC §9). Returns fresh `param` and `history`. */
export const sgdUpdate = opFn<{ readonly param: Tensor; readonly grad: Tensor; readonly history: Tensor }, SgdAttrs, { readonly param: Tensor<'float32'>; readonly history: Tensor<'float32'> }>(
  sgdDef,
  () => referenceKernels,
);

/**
 * Caffe's "step" learning-rate policy (SPEC §9 step 3, §3.3): rate = base_lr · gamma^⌊iter/stepsize⌋,
 * with base_lr and gamma floats, `pow` evaluated in double and the rate stored as a float. `iter`
 * counts completed solver updates (each of iter_size passes). OHEM: 0.001, 0.1, 30000.
 */
export const stepLearningRate = (base_lr: number, gamma: number, stepsize: number, iter: number): Result<number> => {
  const b = E.chain((x: number) => floatSetting('base_lr', x))(checkNumber('base_lr', base_lr));
  if (E.isLeft(b)) return b;
  const gm = E.chain((x: number) => floatSetting('gamma', x))(checkNumber('gamma', gamma));
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
