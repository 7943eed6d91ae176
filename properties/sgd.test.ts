/**
 * Properties of Caffe's SGD step (SPEC §9, pitfall 22) and its "step" learning-rate policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sgdUpdate, stepLearningRate, type SgdAttrs } from '../src/ops/sgd.js';
import { type Tensor } from '../src/core/index.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, assertClose, fcParams, f32 } from './support.js';

const U = 2 ** -24;
const one = (v: number) => T('float32', [1], [v]);
const step1 = (theta: number, g: number, v: number, attrs: Partial<SgdAttrs>) => {
  const o = right(sgdUpdate({ param: one(theta), grad: one(g), history: one(v) }, attrs));
  return { theta: o.param.data[0], v: o.history.data[0] };
};

test('sgdUpdate reproduces a hand-computed Caffe step (θ = 1, g = 0.5, v = 0, lr = 0.1, defaults)', () => {
  // SPEC §9 in float32, worked by hand:
  //  λ = fl32(fl32(0.0005)·1) = fl32(0.0005) ≈ 0.00050000002.
  //  g ← fl32(λ·1 + 0.5): float32 spacing on [0.5, 1) is 2^-24; 0.0005·2^24 = 8388.608 units → 8389
  //      (λ's excess over 0.0005, 2.4e-11, is 0.0004 units): g = (2^23 + 8389)/2^24 = 8396997/2^24.
  //  η = fl32(fl32(0.1)·1) = fl32(0.1) = 13421773/2^27.
  //  v = fl32(fl32(0.9·0) + fl32(η·g)), η·g = 13421773·8396997/2^51 = 112702587615681/2^51 ≈ 0.05005;
  //      on [2^-5, 2^-4) the spacing is 2^-28: 112702587615681/2^23 = 13435195.40… → v = 13435195/2^28.
  //  θ = fl32(1 − v) = (2^28 − 13435195)/2^28 = 255000261/2^28; spacing 2^-24 = 16/2^28:
  //      255000261/16 = 15937516.31… → θ = 15937516/2^24 ≈ 0.94994998.
  const { theta, v } = step1(1, 0.5, 0, { lr: 0.1 });
  assert.equal(v, 13435195 / 2 ** 28);
  assert.equal(theta, 15937516 / 2 ** 24);
  // The same with every default spelled out.
  const explicit = step1(1, 0.5, 0, { lr: 0.1, momentum: 0.9, weight_decay: 0.0005, lr_mult: 1, decay_mult: 1, iter_size: 1 });
  assert.deepEqual(explicit, { theta, v });
  // A fc bias (lr_mult 2, decay_mult 0): λ = 0 skips decay; η = 0.5; v = 0.5·1; θ = 0.5.
  assert.deepEqual(step1(1, 1, 0, { lr: 0.25, lr_mult: 2, decay_mult: 0 }), { theta: 0.5, v: 0.5 });
  // Momentum: v = 0.5·0.25 + 0.5·1 = 0.625 (wd 0), θ = 1 − 0.625.
  assert.deepEqual(step1(1, 1, 0.25, { lr: 0.5, momentum: 0.5, weight_decay: 0 }), { theta: 0.375, v: 0.625 });
});

/** PyTorch torch.optim.SGD (dampening 0, no Nesterov), float64: buf = m·buf + (g + wd·θ); θ −= lr·buf. */
const torch2 = (theta: number, g1: number, g2: number, m: number, wd: number, lr1: number, lr2: number) => {
  let buf = g1 + wd * theta; // first step: buf = d_p
  let t = theta - lr1 * buf;
  buf = m * buf + (g2 + wd * t);
  t = t - lr2 * buf;
  return t;
};
/** Caffe (SPEC §9), float64: v = m·v + lr·(g + wd·θ); θ −= v. */
const caffe2 = (theta: number, g1: number, g2: number, m: number, wd: number, lr1: number, lr2: number) => {
  let v = lr1 * (g1 + wd * theta);
  let t = theta - v;
  v = m * v + lr2 * (g2 + wd * t);
  t = t - v;
  return t;
};

test('Caffe puts lr inside the momentum buffer: it differs from PyTorch’s SGD exactly when lr changes', () => {
  // Hand case (all values dyadic, every step exact): θ0 = 1, g1 = g2 = 1, m = 0.5, wd = 0,
  // lr 0.5 then 0.25. Caffe: v1 = 0.5, θ1 = 0.5; v2 = 0.5·0.5 + 0.25·1 = 0.5, θ2 = 0.
  // PyTorch: θ1 = 0.5; buf = 0.5·1 + 1 = 1.5, θ2 = 0.5 − 0.25·1.5 = 0.125.
  const s1 = step1(1, 1, 0, { lr: 0.5, momentum: 0.5, weight_decay: 0 });
  const s2 = step1(s1.theta, 1, s1.v, { lr: 0.25, momentum: 0.5, weight_decay: 0 });
  assert.deepEqual(s1, { theta: 0.5, v: 0.5 });
  assert.equal(s2.theta, 0);
  assert.equal(torch2(1, 1, 1, 0.5, 0, 0.5, 0.25), 0.125);

  const f = (lo: number, hi: number) => f32(lo, hi);
  fc.assert(
    fc.property(f(-10, 10), f(-10, 10), f(-10, 10), f(0, 0.99), fc.constantFrom(0, 0.0005, 0.01), f(0.001, 0.1), f(0.001, 0.1), fc.boolean(), (theta, g1, g2, m, wd, lr1, lr2b, same) => {
      const lr2 = same ? lr1 : lr2b;
      const a = { momentum: m, weight_decay: wd };
      const s = step1(theta, g1, 0, { lr: lr1, ...a });
      const t = step1(s.theta, g2, s.v, { lr: lr2, ...a });
      // Settings as Caffe holds them (floats).
      const [M, W, L1, L2] = [m, wd, lr1, lr2].map(Math.fround);
      const caffe = caffe2(theta, g1, g2, M, W, L1, L2);
      const torch = torch2(theta, g1, g2, M, W, L1, L2);
      // Roundings of two float32 steps: each of the ~7 operations per step errs by ≤ u relative to
      // the magnitudes involved (≤ |θ| + 2·0.1·20.2 ≈ 14.1): 16u·scale covers both steps.
      const scale = Math.abs(theta) + Math.abs(g1) + Math.abs(g2) + 1;
      assert.ok(Math.abs(t.theta - caffe) <= 16 * U * scale, `caffe ${t.theta} vs ${caffe}`);
      // Exact arithmetic: torch − caffe = −m·(lr2 − lr1)·(g1 + wd·θ0) (the first step's direction
      // re-weighted by the new lr), so they agree iff lr is constant (or m = 0 or d1 = 0).
      const gap = -M * (L2 - L1) * (g1 + W * theta);
      assert.ok(Math.abs(torch - caffe - gap) <= 1e-12 * scale);
      if (same) assert.ok(Math.abs(t.theta - torch) <= 16 * U * scale);
    }),
    fcParams(),
  );
});

const arbAttrs = fc.record({
  lr: fc.oneof(fc.constantFrom(0, 0.001, 0.01, 0.1), f32(0, 0.1)),
  momentum: fc.oneof(fc.constantFrom(0, 0.9), f32(0, 0.99)),
  weight_decay: fc.oneof(fc.constantFrom(0, 0.0005), f32(0, 0.01)),
  lr_mult: fc.constantFrom(0, 1, 2),
  decay_mult: fc.constantFrom(0, 1, 2),
  iter_size: fc.integer({ min: 1, max: 3 }),
});
const arbVec = (n: number, lo: number, hi: number) => fc.array(f32(lo, hi), { minLength: n, maxLength: n });
const arbState = fc
  .integer({ min: 0, max: 12 })
  .chain((n) => fc.record({ n: fc.constant(n), theta: arbVec(n, -10, 10), g: arbVec(n, -10, 10), v: arbVec(n, -1, 1), attrs: arbAttrs }));

test('sgdUpdate agrees with a float64 statement of SPEC §9 within its float32 roundings', () => {
  fc.assert(
    fc.property(arbState, ({ n, theta, g, v, attrs }) => {
      const o = right(sgdUpdate({ param: T('float32', [n], theta), grad: T('float32', [n], g), history: T('float32', [n], v) }, attrs));
      assert.deepEqual(o.param.shape, [n]);
      assert.equal(o.param.dtype, 'float32');
      const [lr, m, wd, lm, dm] = [attrs.lr, attrs.momentum, attrs.weight_decay, attrs.lr_mult, attrs.decay_mult].map(Math.fround);
      for (let i = 0; i < n; i++) {
        // v = m·v + lr·lr_mult·(g/iter_size + wd·decay_mult·θ); θ − v (weight decay not divided).
        const gEff = g[i] / attrs.iter_size + wd * dm * theta[i];
        const v64 = m * v[i] + lr * lm * gEff;
        const t64 = theta[i] - v64;
        // Seven float32 roundings (1/iter, g/iter, λθ, g+λθ, m·v, η·g, the sum; λ and η themselves):
        // each ≤ u of a magnitude ≤ M = |m·v| + |η|·(|g|/iter + |λθ|) (≤ 3u each for the g chain
        // after η scaling); θ − v adds u·|θ'|. Bound: 8u·M (+ u·|θ'| for θ), plus 2^-150 absolute
        // per rounding that lands in the subnormal range (products of tiny values): 4·2^-149.
        const M = Math.abs(m * v[i]) + Math.abs(lr * lm) * (Math.abs(g[i]) / attrs.iter_size + Math.abs(wd * dm * theta[i]));
        assert.ok(Math.abs(o.history.data[i] - v64) <= 8 * U * M + 4 * 2 ** -149, `v[${i}] ${o.history.data[i]} vs ${v64}`);
        assert.ok(Math.abs(o.param.data[i] - t64) <= 8 * U * M + U * Math.abs(t64) + 4 * 2 ** -149, `θ[${i}] ${o.param.data[i]} vs ${t64}`);
      }
    }),
    fcParams(),
  );
});

test('weight decay is added after the 1/iter_size scaling, so it is not divided (hand case and property)', () => {
  // θ = 1, g = 2 (sum of two passes), wd 0.5, lr 1, m 0, iter_size 2: g ← 2·0.5 = 1, + 0.5·1 = 1.5,
  // v = 1.5, θ = −0.5. (Dividing the decay too would give (2 + 0.5)/2 = 1.25 and θ = −0.25.)
  assert.deepEqual(step1(1, 2, 0, { lr: 1, momentum: 0, weight_decay: 0.5, iter_size: 2 }), { theta: -0.5, v: 1.5 });
  // Accumulating the same gradient over 2 or 4 passes and dividing gives the single-pass step
  // bit for bit (scaling by a power of 2 is exact), decay included.
  fc.assert(
    fc.property(arbState, fc.constantFrom(2, 4), ({ n, theta, g, v, attrs }, k) => {
      const P = T('float32', [n], theta);
      const H = T('float32', [n], v);
      const a = right(sgdUpdate({ param: P, grad: T('float32', [n], g), history: H }, { ...attrs, iter_size: 1 }));
      const b = right(sgdUpdate({ param: P, grad: T('float32', [n], g.map((x) => x * k)), history: H }, { ...attrs, iter_size: k }));
      assertBitEqual(b.param.data, a.param.data, 'param');
      assertBitEqual(b.history.data, a.history.data, 'history');
    }),
    fcParams(),
  );
});

test('lr_mult 0 never moves θ, even with weight decay; decay_mult 0 is the same as weight_decay 0', () => {
  fc.assert(
    fc.property(arbState, arbVec(12, -10, 10), arbVec(12, -10, 10), ({ n, theta, g, attrs }, g2, g3) => {
      let P: Tensor = T('float32', [n], theta);
      let H: Tensor = T('float32', [n], new Array(n).fill(0));
      for (const grad of [g, g2.slice(0, n), g3.slice(0, n)]) {
        const o = right(sgdUpdate({ param: P, grad: T('float32', [n], grad), history: H }, { ...attrs, lr_mult: 0 }));
        P = o.param;
        H = o.history;
      }
      assertClose(P.data, theta, 0, 0, 'θ after three steps with lr_mult 0');
      assertClose(H.data, new Array(n).fill(0), 0, 0, 'history');
      const V = T('float32', [n], new Array(n).fill(0.25));
      const a = right(sgdUpdate({ param: T('float32', [n], theta), grad: T('float32', [n], g), history: V }, { ...attrs, decay_mult: 0 }));
      const b = right(sgdUpdate({ param: T('float32', [n], theta), grad: T('float32', [n], g), history: V }, { ...attrs, weight_decay: 0 }));
      assertBitEqual(a.param.data, b.param.data);
      assertBitEqual(a.history.data, b.history.data);
    }),
    fcParams(),
  );
});

test('stepLearningRate: base_lr·gamma^⌊iter/stepsize⌋ in double from float settings, stored as float', () => {
  const r = (it: number) => right(stepLearningRate(0.001, 0.1, 30000, it));
  // Before the first step: fl32(0.001).
  assert.equal(r(0), Math.fround(0.001));
  assert.equal(r(29999), Math.fround(0.001));
  // After it: fl32(0.001) = 0.001000000047497451…, fl32(0.1) = 0.100000001490116…, their double
  // product 1.0000000624e-4. Float32 spacing on [2^-14, 2^-13) is 2^-37 ≈ 7.276e-12; fl32(1e-4) =
  // 9.99999974738e-5 and the next float32 is 1.00000004750e-4, 1.49e-12 below the product (< half
  // a spacing): the rate is 1.00000004749745130538940429688e-4 — one ulp above fl32(1e-4).
  assert.equal(r(30000), 1.0000000474974513053894042969e-4);
  assert.equal(r(30000), Math.fround(1e-4) + 2 ** -37);
  assert.equal(r(59999), r(30000));
  assert.ok(r(60000) < r(30000) && r(60000) > 0);
  // Monotone in iter for gamma < 1, constant for gamma 1.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 50000 }), (a, b, s) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.ok(right(stepLearningRate(0.01, 0.5, s, lo)) >= right(stepLearningRate(0.01, 0.5, s, hi)));
      assert.equal(right(stepLearningRate(0.01, 1, s, hi)), Math.fround(0.01));
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => stepLearningRate(0.001, 0.1, 0, 5)), 'stepsize');
  leftNaming(noThrow(() => stepLearningRate(0.001, 0.1, 2.5, 5)), 'stepsize');
  leftNaming(noThrow(() => stepLearningRate(0.001, 0.1, 10, -1)), 'iter');
  leftNaming(noThrow(() => stepLearningRate(0.001, NaN, 10, 1)), 'gamma');
  leftNaming(noThrow(() => stepLearningRate(Infinity, 0.1, 10, 1)), 'base_lr');
  leftNaming(noThrow(() => stepLearningRate(0.001, 10, 1, 1000)), 'gamma'); // 10^1000 overflows
});

test('sgdUpdate refuses bad input with a Left naming it', () => {
  const p = T('float32', [2, 2], [1, 2, 3, 4]);
  const ok = { param: p, grad: p, history: p };
  right(sgdUpdate(ok, { lr: 0.1 }));
  leftNaming(noThrow(() => sgdUpdate(ok, {})), 'attrs.lr');
  leftNaming(noThrow(() => sgdUpdate(ok)), 'attrs.lr');
  fc.assert(
    fc.property(
      fc.constantFrom<[keyof SgdAttrs, unknown]>(
        ['lr', -0.1], ['lr', NaN], ['lr', '0.1'], ['lr', Infinity], ['lr', 1e39],
        ['momentum', NaN], ['momentum', 'x'], ['weight_decay', Infinity], ['lr_mult', NaN], ['decay_mult', -Infinity],
        ['iter_size', 0], ['iter_size', -1], ['iter_size', 1.5], ['iter_size', NaN],
      ),
      ([name, value]) => {
        leftNaming(noThrow(() => sgdUpdate(ok, { lr: 0.1, [name]: value } as never)), `attrs.${name}`);
      },
    ),
    fcParams(50),
  );
  for (const name of ['grad', 'history'] as const) {
    leftNaming(noThrow(() => sgdUpdate({ ...ok, [name]: T('float32', [4], [1, 2, 3, 4]) }, { lr: 0.1 })), name);
    leftNaming(noThrow(() => sgdUpdate({ ...ok, [name]: T('float32', [2, 3], [1, 2, 3, 4, 5, 6]) }, { lr: 0.1 })), name);
  }
  for (const name of ['param', 'grad', 'history'] as const) {
    leftNaming(noThrow(() => sgdUpdate({ ...ok, [name]: T('int32', [2, 2], [1, 2, 3, 4]) }, { lr: 0.1 })), name);
    leftNaming(noThrow(() => sgdUpdate({ ...ok, [name]: undefined } as never, { lr: 0.1 })), name);
    for (const bad of [NaN, Infinity, -Infinity])
      leftNaming(noThrow(() => sgdUpdate({ ...ok, [name]: T('float32', [2, 2], [1, bad, 3, 4]) }, { lr: 0.1 })), name);
  }
  // Finite inputs whose update overflows float32: a Left, never an Inf or NaN.
  const big = T('float32', [1], [3e38]);
  leftNaming(noThrow(() => sgdUpdate({ param: T('float32', [1], [-3e38]), grad: big, history: big }, { lr: 1, momentum: 1, weight_decay: 0 })), 'param');
});

test('sgdUpdate is pure, and float64 inputs are read as the floats Caffe would hold', () => {
  fc.assert(
    fc.property(arbState, ({ n, theta, g, v, attrs }) => {
      const P = T('float32', [n], theta);
      const G = T('float32', [n], g);
      const H = T('float32', [n], v);
      const o = assertPure([P, G, H], () => right(sgdUpdate({ param: P, grad: G, history: H }, attrs)));
      const o64 = right(sgdUpdate({ param: T('float64', [n], theta), grad: T('float64', [n], g), history: T('float64', [n], v) }, attrs));
      assertBitEqual(o64.param.data, o.param.data);
      assertBitEqual(o64.history.data, o.history.data);
    }),
    fcParams(),
  );
});
