/**
 * Differential requests for the activations, the losses and the SGD step: relu, relu_backward,
 * dropout, dropout_backward, softmax, softmax_loss, smooth_l1_loss, sgd_update (PROTOCOL.md).
 * Small shapes (R 1–8, K 2–6, D = 4K), float32-representable finite values, biased toward the
 * nasty legal cases: exact zeros for ReLU, ratios whose float32 scale is not the decimal one,
 * scores of ±80 (probabilities underflow to 0 and hit the FLT_MIN clamp), every normalization
 * with and without ignore_label, sigma ≠ 1, fractional and zero weights, iter_size > 1 and the
 * lr/decay multipliers of biases (2/0) and frozen layers (0/0).
 */
import fc from 'fast-check';
import { enumValues } from './attrs.js';

type JT = { dtype: 'float32' | 'int32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const noNegZero = (v: number) => (Object.is(v, -0) ? 0 : v);
const t = (shape: number[], data: number[], dtype: 'float32' | 'int32' = 'float32'): JT => ({
  dtype,
  shape,
  data: data.map((v) => noNegZero(dtype === 'float32' ? Math.fround(v) : v)),
});
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** float32 values in [lo, hi]. */
const f32 = (lo: number, hi: number) =>
  fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true }).map(noNegZero);
/** Multiples of `step` in [lo, hi] (round decimals such as 1.000 that land on kinks and ties). */
const grid = (lo: number, hi: number, step: number) =>
  fc.integer({ min: Math.round(lo / step), max: Math.round(hi / step) }).map((i) => Math.fround(i * step));
const vec = <A>(n: number, v: fc.Arbitrary<A>): fc.Arbitrary<A[]> => fc.array(v, { minLength: n, maxLength: n });

const dimsRK = fc.record({ R: fc.integer({ min: 1, max: 8 }), K: fc.integer({ min: 2, max: 6 }) });

/** Shapes the head actually uses: [R, K], [R, D = 4K], [R, C, 2, 2] (pooled features). */
const shapes: fc.Arbitrary<number[]> = dimsRK.chain(({ R, K }) => fc.constantFrom<number[]>([R, K], [R, 4 * K], [R, K, 2, 2]));

/** Activation values: mostly moderate, with exact zeros, subnormals and large magnitudes mixed in. */
const actVal = fc.oneof(
  { weight: 5, arbitrary: f32(-50, 50) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** -149, -(2 ** -149), 1e-30, -1e-30, 1e30, -1e30, 3e38, -3e38) },
);

/** Dropout ratios: the common ones, ones whose float32 scale differs from the decimal, random ones. */
const ratio = fc.oneof(fc.constantFrom(0, 0.5, 0.1, 0.25, 0.6, 0.8, 0.9, 0.3), fc.double({ min: 0, max: 0.95, noNaN: true }));
const maskOf = (shape: number[]) =>
  fc.tuple(vec(size(shape), fc.constantFrom(0, 1)), fc.constantFrom<'float32' | 'int32'>('float32', 'float32', 'int32')).map(([m, dtype]) => t(shape, m, dtype));

/** Scores: moderate, or extreme (±80, so a probability underflows to 0 and the clamp is hit). */
const scoreVal = fc.oneof({ weight: 4, arbitrary: f32(-20, 20) }, { weight: 1, arbitrary: fc.constantFrom(-80, 80, 0) });
const scoresOf = (R: number, K: number) =>
  fc.oneof(vec(R * K, scoreVal), vec(R * K, fc.constantFrom(-80, 80, -79.5, 0, 1)));

const NORMS = enumValues<'valid' | 'batch_size' | 'full' | 'none'>('softmax_loss', 'normalization');

/** σ and d = fl32(w_in·fl32(pred − target)) with |d| clear of the kink 1/fl32(σ²) (relative 1e-5). */
const awayFromKink = (pred: number[], target: number[], win: number[], sigma: number): boolean => {
  const s2 = Math.fround(Math.fround(sigma) * Math.fround(sigma));
  const kink = 1 / s2;
  return pred.every((p, k) => {
    const d = Math.fround(win[k] * Math.fround(p - target[k]));
    return Math.abs(Math.abs(d) - kink) > 1e-5 * kink;
  });
};

export const requests: Record<string, fc.Arbitrary<Req>> = {
  relu: shapes.chain((shape) =>
    vec(size(shape), actVal).map((x) => ({ op: 'relu', attrs: {}, inputs: { x: t(shape, x) } })),
  ),

  relu_backward: shapes.chain((shape) =>
    fc.tuple(vec(size(shape), actVal), vec(size(shape), f32(-10, 10))).map(([x, dy]) => ({
      op: 'relu_backward',
      attrs: {},
      inputs: { x: t(shape, x), dy: t(shape, dy) },
    })),
  ),

  dropout: shapes.chain((shape) =>
    fc.tuple(vec(size(shape), actVal), maskOf(shape), fc.option(ratio, { nil: undefined })).map(([x, mask, r]) => ({
      op: 'dropout',
      attrs: r === undefined ? {} : { ratio: r },
      inputs: { x: t(shape, x), mask },
    })),
  ),

  dropout_backward: shapes.chain((shape) =>
    fc.tuple(vec(size(shape), actVal), maskOf(shape), fc.option(ratio, { nil: undefined })).map(([dy, mask, r]) => ({
      op: 'dropout_backward',
      attrs: r === undefined ? {} : { ratio: r },
      inputs: { dy: t(shape, dy), mask },
    })),
  ),

  softmax: dimsRK.chain(({ R, K }) =>
    scoresOf(R, K).map((x) => ({ op: 'softmax', attrs: {}, inputs: { x: t([R, K], x) } })),
  ),

  softmax_loss: dimsRK.chain(({ R, K }) =>
    fc
      .record({
        scores: scoresOf(R, K),
        labels: vec(R, fc.integer({ min: 0, max: K - 1 })),
        norm: fc.option(fc.constantFrom(...NORMS), { nil: undefined }),
        ignore: fc.option(fc.constantFrom(-1, 255, 0, K - 1), { nil: undefined }),
        ignored: vec(R, fc.boolean()),
      })
      .map(({ scores, labels, norm, ignore, ignored }) => {
        const attrs: Record<string, unknown> = {};
        if (norm !== undefined) attrs.normalization = norm;
        if (ignore !== undefined) attrs.ignore_label = ignore;
        const lab = ignore === undefined ? labels : labels.map((l, i) => (ignored[i] ? ignore : l));
        return { op: 'softmax_loss', attrs, inputs: { scores: t([R, K], scores), labels: t([R], lab) } };
      }),
  ),

  smooth_l1_loss: dimsRK
    .chain(({ R, K }) => {
      const n = R * 4 * K;
      const val = fc.oneof({ weight: 3, arbitrary: grid(-3, 3, 1 / 1000) }, { weight: 3, arbitrary: f32(-3, 3) }, { weight: 1, arbitrary: f32(-50, 50) });
      const weight = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: fc.constantFrom(0.5, 2) }, { weight: 2, arbitrary: f32(0, 2) });
      return fc.record({
        R: fc.constant(R),
        D: fc.constant(4 * K),
        pred: vec(n, val),
        target: vec(n, val),
        win: vec(n, weight),
        wout: vec(n, weight),
        sigma: fc.option(fc.oneof(fc.constantFrom(1, 3, 0.5, 2), f32(0.3, 4)), { nil: undefined }),
      });
    })
    .filter(({ pred, target, win, sigma }) => awayFromKink(pred, target, win, sigma ?? 1))
    .map(({ R, D, pred, target, win, wout, sigma }) => ({
      op: 'smooth_l1_loss',
      attrs: sigma === undefined ? {} : { sigma },
      inputs: { pred: t([R, D], pred), target: t([R, D], target), inside_w: t([R, D], win), outside_w: t([R, D], wout) },
    })),

  sgd_update: shapes.chain((shape) => {
    const n = size(shape);
    return fc
      .record({
        param: vec(n, f32(-10, 10)),
        grad: vec(n, f32(-10, 10)),
        history: vec(n, fc.oneof(f32(-1, 1), fc.constant(0))),
        lr: fc.oneof(fc.constantFrom(0.001, 0.01, 0.1, 0.0001, 0), f32(0, 0.1)),
        momentum: fc.option(fc.oneof(fc.constantFrom(0.9, 0), f32(0, 0.99)), { nil: undefined }),
        weight_decay: fc.option(fc.oneof(fc.constantFrom(0, 0.0005), f32(0, 0.01)), { nil: undefined }),
        lr_mult: fc.option(fc.constantFrom(0, 1, 2), { nil: undefined }),
        decay_mult: fc.option(fc.constantFrom(0, 1, 2), { nil: undefined }),
        iter_size: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      })
      .map(({ param, grad, history, ...a }) => {
        const attrs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(a)) if (v !== undefined) attrs[k] = v;
        return { op: 'sgd_update', attrs, inputs: { param: t(shape, param), grad: t(shape, grad), history: t(shape, history) } };
      });
  }),
};
