/**
 * Properties of Caffe's SoftmaxWithLoss (SPEC §7, pitfall 20) and caffe-fast-rcnn's SmoothL1Loss
 * (SPEC §6, pitfall 19). Gradients are held against central finite differences of float64
 * re-statements of the losses written here from SPEC's formulas (not from the implementation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { softmaxCE, smoothL1, type Normalization } from '../src/ops/losses.js';
import { softmax } from '../src/ops/activations.js';
import { FLT_MIN, type Tensor } from '../src/core/index.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, assertClose, fcParams, f32 } from './support.js';

const U = 2 ** -24; // float32 unit roundoff
const NORMS: Normalization[] = ['valid', 'batch_size', 'full', 'none'];

/** Central difference of `f` at `x` along every coordinate, in float64. */
const centralDiff = (f: (x: number[]) => number, x: readonly number[], h: number): number[] =>
  x.map((_, j) => {
    const xp = [...x];
    const xm = [...x];
    xp[j] += h;
    xm[j] -= h;
    return (f(xp) - f(xm)) / (2 * h);
  });

// ------------------------------------------------------------------------------ SoftmaxWithLoss

/**
 * SPEC §7 in float64: L = −(1/Z)·Σ_{valid i} ln(max(p_{i,y_i}, FLT_MIN)), p = softmax of the row,
 * Z = max(1, n) with n = #valid (valid), R (batch_size, full — outer·inner with inner 1), 1 (none).
 */
const ce64 = (z: readonly number[], R: number, K: number, labels: readonly number[], norm: Normalization, ignore?: number): number => {
  let sum = 0;
  let valid = 0;
  for (let i = 0; i < R; i++) {
    if (ignore !== undefined && labels[i] === ignore) continue;
    valid++;
    const row = z.slice(i * K, (i + 1) * K);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    const p = Math.exp(row[labels[i]] - lse);
    sum += -Math.log(Math.max(p, FLT_MIN));
  }
  const n = norm === 'valid' ? valid : norm === 'none' ? 1 : R;
  return sum / Math.max(1, n);
};

interface CECase {
  R: number;
  K: number;
  z: number[];
  labels: number[];
  norm: Normalization;
  ignore?: number;
}

/** Moderate scores (|z| ≤ 5, K ≤ 6: every p ≥ e^-10/6 ≫ FLT_MIN, far from the clamp). */
const arbCE = (zLo = -5, zHi = 5): fc.Arbitrary<CECase> =>
  fc
    .record({ R: fc.integer({ min: 1, max: 6 }), K: fc.integer({ min: 1, max: 6 }), norm: fc.constantFrom(...NORMS) })
    .chain(({ R, K, norm }) =>
      fc
        .record({
          z: fc.array(f32(zLo, zHi), { minLength: R * K, maxLength: R * K }),
          labels: fc.array(fc.integer({ min: 0, max: K - 1 }), { minLength: R, maxLength: R }),
          ignore: fc.option(fc.constantFrom(-1, 255, 0, K - 1), { nil: undefined }),
          ignoreMask: fc.array(fc.boolean(), { minLength: R, maxLength: R }),
        })
        .map(({ z, labels, ignore, ignoreMask }) => ({
          R,
          K,
          norm,
          z,
          ignore,
          labels: ignore === undefined ? labels : labels.map((l, i) => (ignoreMask[i] ? ignore : l)),
        })),
    );

const runCE = (c: CECase) =>
  right(
    softmaxCE(
      { scores: T('float32', [c.R, c.K], c.z), labels: T('float32', [c.R], c.labels) },
      { normalization: c.norm, ...(c.ignore === undefined ? {} : { ignore_label: c.ignore }) },
    ),
  );

test('softmaxCE: scores_grad matches central differences of the float64 loss, and the loss its value', () => {
  fc.assert(
    fc.property(arbCE(), (c) => {
      const out = runCE(c);
      assert.deepEqual(out.loss.shape, []);
      assert.equal(out.loss.dtype, 'float32');
      const f = (z: number[]) => ce64(z, c.R, c.K, c.labels, c.norm, c.ignore);
      // FD (h = 1e-5): truncation h²/6·|L'''| ≤ 1e-10, roundoff 2^-52·|L|/h ≤ 1e-9. The op's
      // gradient is fl32(fl32(p − [k=y])·fl32(1/Z)) with p within ~3 half-ulps of the exact
      // probability: an absolute error ≤ 5u/Z ≤ 3e-7. Bound used: 1e-6.
      assertClose(out.scores_grad.data, centralDiff(f, c.z, 1e-5), 1e-6, 0, 'scores_grad vs FD');
      // Loss: each ln p is off by ≤ ~3u (p's relative error), each term and the sum rounded once:
      // |ΔL| ≤ (3u·n + u·Σℓ)/Z + 2u·L.
      const L = f(c.z);
      assert.ok(Math.abs(out.loss.data[0] - L) <= 4 * U * c.R + 4 * U * Math.abs(L) * c.R, `loss ${out.loss.data[0]} vs ${L}`);
    }),
    fcParams(),
  );
});

test('softmaxCE: prob is the softmax of the scores; each gradient row is (p − onehot)/Z and sums to ~0', () => {
  fc.assert(
    fc.property(arbCE(-30, 30), (c) => {
      const out = runCE(c);
      const p = right(softmax({ x: T('float32', [c.R, c.K], c.z) })).prob;
      assertBitEqual(out.prob.data, p.data, 'prob');
      for (let i = 0; i < c.R; i++) {
        const row = Array.from(out.scores_grad.data.subarray(i * c.K, (i + 1) * c.K));
        if (c.ignore !== undefined && c.labels[i] === c.ignore) {
          for (const g of row) assert.ok(g === 0, 'ignored rows get zero gradient in every class');
          continue;
        }
        // Σ_k (p_k − [k = y]) = Σp − 1: |Σp − 1| ≤ 3u (softmax), plus one rounding u·|g_k| per entry.
        const s = row.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(s) <= 3 * U + 2 * U * row.reduce((a, b) => a + Math.abs(b), 0), `row ${i} sums to ${s}`);
        assert.ok(row[c.labels[i]] <= 0, 'the label column’s gradient is never positive');
      }
    }),
    fcParams(),
  );
});

test('softmaxCE: hand-computed values (two equal scores: p = 1/2, loss ln 2)', () => {
  // p = (0.5, 0.5); ℓ = fl32(ln 2) = 0.693147182464599609375 (ln 2 = 0.6931471805599453…, float32
  // spacing 2^-24 near it); gradient (p − onehot)/1 = (−0.5, 0.5).
  const one = right(softmaxCE({ scores: T('float32', [1, 2], [0, 0]), labels: T('float32', [1], [0]) }));
  assert.equal(one.loss.data[0], 0.693147182464599609375);
  assert.deepEqual(Array.from(one.scores_grad.data), [-0.5, 0.5]);
  const two = (normalization: Normalization) =>
    right(softmaxCE({ scores: T('float32', [2, 2], [0, 0, 3, 3]), labels: T('float32', [2], [0, 1]) }, { normalization }));
  // none: Z = 1, the sum 2·ℓ; valid/batch_size/full: Z = 2 (full is outer·inner = R, not R·K = 4).
  assert.equal(two('none').loss.data[0], 2 * 0.693147182464599609375);
  for (const n of ['valid', 'batch_size', 'full'] as const) {
    assert.equal(two(n).loss.data[0], 0.693147182464599609375, n);
    assert.deepEqual(Array.from(two(n).scores_grad.data), [-0.25, 0.25, 0.25, -0.25], n);
  }
  assert.deepEqual(Array.from(two('none').scores_grad.data), [-0.5, 0.5, 0.5, -0.5]);
  // The default normalization is valid.
  const dflt = right(softmaxCE({ scores: T('float32', [2, 2], [0, 0, 3, 3]), labels: T('float32', [2], [0, 1]) }));
  assert.equal(dflt.loss.data[0], 0.693147182464599609375);
});

test('softmaxCE clamps at FLT_MIN: p = 0 gives 87.3365…, not Infinity, while the gradient uses the unclamped p', () => {
  // −ln(FLT_MIN) = 126·ln 2 = 87.336544750553…; float32 spacing at 64..128 is 2^-17 = 7.63e-6, and
  // 87.33654475 lies 1/2.46 of a spacing below 87.3365478515625, the nearest float32.
  const clampLoss = 87.3365478515625;
  for (const far of [-200, -100, -90]) {
    // exp(−200) underflows to 0 in float32; exp(−100) ≈ 3.7e-44 and exp(−90) ≈ 8.2e-40 are subnormal (< FLT_MIN).
    const out = right(softmaxCE({ scores: T('float32', [1, 2], [0, far]), labels: T('float32', [1], [1]) }));
    assert.ok(out.prob.data[1] < FLT_MIN);
    assert.equal(out.loss.data[0], clampLoss, `score gap ${far}`);
    // The clamped loss is flat here (its float64 central difference is exactly 0) but Caffe's
    // gradient is (p − onehot)/Z with the raw p: +1 for the winning class, −1 for the label.
    const flat = centralDiff((z) => ce64(z, 1, 2, [1], 'valid'), [0, far], 1e-3);
    assert.deepEqual(flat, [0, 0]);
    assert.deepEqual(Array.from(out.scores_grad.data), [1, -1]);
  }
  // Extreme scores over many rows: every per-sample loss is at most 87.3365, the total finite.
  fc.assert(
    fc.property(
      fc.record({ R: fc.integer({ min: 1, max: 8 }), K: fc.integer({ min: 2, max: 6 }) }).chain(({ R, K }) =>
        fc.record({
          R: fc.constant(R),
          K: fc.constant(K),
          z: fc.array(fc.constantFrom(-80, 80, 0, -1e30, 1e30), { minLength: R * K, maxLength: R * K }),
          labels: fc.array(fc.integer({ min: 0, max: K - 1 }), { minLength: R, maxLength: R }),
        }),
      ),
      ({ R, K, z, labels }) => {
        const out = right(softmaxCE({ scores: T('float32', [R, K], z), labels: T('float32', [R], labels) }, { normalization: 'none' }));
        const L = out.loss.data[0];
        assert.ok(Number.isFinite(L) && L >= 0 && L <= R * clampLoss * (1 + 2 * U), `loss ${L}`);
        for (const g of out.scores_grad.data) assert.ok(Math.abs(g) <= 1);
      },
    ),
    fcParams(),
  );
});

test('softmaxCE normalization variants scale the summed loss and the gradient by 1/Z (SPEC §7)', () => {
  fc.assert(
    fc.property(arbCE(-30, 30), (c) => {
      const at = (norm: Normalization) => runCE({ ...c, norm });
      const none = at('none');
      const valid = c.labels.filter((l) => c.ignore === undefined || l !== c.ignore).length;
      const Z: Record<Normalization, number> = { none: 1, valid: Math.max(1, valid), batch_size: c.R, full: c.R };
      for (const n of NORMS) {
        const o = at(n);
        // loss_n = fl32(fl32(Σℓ)/Z) and loss_none = fl32(Σℓ): the relation is exact.
        assert.equal(o.loss.data[0], Math.fround(none.loss.data[0] / Z[n]), n);
        // grad_n = fl32(fl32(p − onehot)·fl32(1/Z)) and grad_none = fl32(p − onehot).
        assertBitEqual(o.scores_grad.data, Array.from(none.scores_grad.data, (g) => Math.fround(g * Math.fround(1 / Z[n]))), n);
      }
    }),
    fcParams(),
  );
});

test('softmaxCE ignore_label: ignored rows add nothing, get zero gradient, and valid counts only the others', () => {
  fc.assert(
    fc.property(arbCE(-30, 30), f32(-50, 50), (c, other) => {
      fc.pre(c.ignore !== undefined);
      const out = runCE(c);
      const keep = c.labels.map((l, i) => [l, i] as const).filter(([l]) => l !== c.ignore).map(([, i]) => i);
      // Changing the scores of ignored rows changes nothing else.
      const z2 = c.z.map((v, j) => (c.labels[Math.floor(j / c.K)] === c.ignore ? other : v));
      const out2 = runCE({ ...c, z: z2 });
      assert.equal(out2.loss.data[0], out.loss.data[0]);
      for (const i of keep)
        assertBitEqual(out2.scores_grad.data.subarray(i * c.K, (i + 1) * c.K), out.scores_grad.data.subarray(i * c.K, (i + 1) * c.K));
      // With valid normalization the loss is that of the non-ignored rows alone.
      if (c.norm === 'valid' && keep.length > 0) {
        const sub = runCE({
          R: keep.length,
          K: c.K,
          norm: 'valid',
          z: keep.flatMap((i) => c.z.slice(i * c.K, (i + 1) * c.K)),
          labels: keep.map((i) => c.labels[i]),
        });
        assert.equal(out.loss.data[0], sub.loss.data[0]);
      }
    }),
    fcParams(),
  );
  // Every row ignored: Z floors at 1 and the loss is +0; R = 0 likewise.
  const all = right(softmaxCE({ scores: T('float32', [2, 3], [1, 2, 3, 4, 5, 6]), labels: T('float32', [2], [7, 7]) }, { ignore_label: 7 }));
  assert.ok(Object.is(all.loss.data[0], 0));
  assert.deepEqual(Array.from(all.scores_grad.data), [0, 0, 0, 0, 0, 0]);
  const empty = right(softmaxCE({ scores: T('float32', [0, 3], []), labels: T('float32', [0], []) }));
  assert.ok(Object.is(empty.loss.data[0], 0));
  assert.deepEqual(empty.scores_grad.shape, [0, 3]);
  // ignore_label null means absent; labels may also come as int32 or float64.
  const asInt = right(softmaxCE({ scores: T('float32', [1, 2], [0, 0]), labels: T('int32', [1], [1]) }, { ignore_label: null }));
  assert.equal(asInt.loss.data[0], 0.693147182464599609375);
});

test('softmaxCE refuses bad input with a Left naming it', () => {
  const scores = T('float32', [2, 3], [1, 2, 3, 4, 5, 6]);
  fc.assert(
    fc.property(
      fc.oneof(fc.constantFrom(2.5, 3, -1, NaN, Infinity, 1e9, -0.5), f32(-10, 10).filter((v) => !(Number.isInteger(v) && v >= 0 && v < 3))),
      fc.integer({ min: 0, max: 1 }),
      (bad, at) => {
        const lv = [0, 2];
        lv[at] = bad;
        leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [2], lv) })), 'labels');
        leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float64', [2], lv) })), 'labels');
      },
    ),
    fcParams(),
  );
  // A label equal to ignore_label is exempt from the range check, but only that one.
  assert.ok(runCE({ R: 1, K: 2, z: [0, 0], labels: [255], norm: 'valid', ignore: 255 }));
  leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [2], [0, -1]) }, { ignore_label: 255 })), 'labels');
  leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [3], [0, 1, 2]) })), 'labels');
  leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [2, 1], [0, 1]) })), 'labels');
  leftNaming(noThrow(() => softmaxCE({ scores } as never)), 'labels');
  leftNaming(noThrow(() => softmaxCE({ labels: T('float32', [2], [0, 1]) } as never)), 'scores');
  leftNaming(noThrow(() => softmaxCE({ scores: T('int32', [2, 3], [1, 2, 3, 4, 5, 6]), labels: T('float32', [2], [0, 1]) })), 'scores');
  leftNaming(noThrow(() => softmaxCE({ scores: T('float32', [2, 0], []), labels: T('float32', [2], [0, 0]) })), 'scores');
  for (const bad of [NaN, Infinity, -Infinity])
    leftNaming(noThrow(() => softmaxCE({ scores: T('float32', [1, 2], [0, bad]), labels: T('float32', [1], [0]) })), 'scores');
  for (const normalization of ['foo', 'VALID', 1, true])
    leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [2], [0, 1]) }, { normalization } as never)), 'attrs.normalization');
  for (const ignore_label of [1.5, 'x', NaN, 2 ** 40])
    leftNaming(noThrow(() => softmaxCE({ scores, labels: T('float32', [2], [0, 1]) }, { ignore_label } as never)), 'attrs.ignore_label');
});

// --------------------------------------------------------------------------------- SmoothL1Loss

/**
 * SPEC §6 in float64: L = (1/R)·Σ_k w_out·f(w_in·(pred − target)), f(x) = 0.5σ²x² if |x| < 1/σ²
 * else |x| − 0.5/σ². (σ² here is the exact square of the float32 sigma given.)
 */
const sl1_64 = (pred: readonly number[], target: readonly number[], win: readonly number[], wout: readonly number[], R: number, sigma: number): number => {
  const s2 = sigma * sigma;
  let sum = 0;
  for (let k = 0; k < pred.length; k++) {
    const d = win[k] * (pred[k] - target[k]);
    const f = Math.abs(d) < 1 / s2 ? 0.5 * s2 * d * d : Math.abs(d) - 0.5 / s2;
    sum += wout[k] * f;
  }
  return sum / R;
};

interface SL1Case {
  R: number;
  D: number;
  pred: number[];
  target: number[];
  win: number[];
  wout: number[];
  sigma: number;
}

const grid = (lo: number, hi: number, step: number) => fc.integer({ min: Math.round(lo / step), max: Math.round(hi / step) }).map((i) => Math.fround(i * step));
const arbWeight = fc.oneof(fc.constantFrom(0, 1, 0.5, 2), grid(-2, 2, 1 / 1024), f32(0, 2));
const arbSigma = fc.oneof(fc.constantFrom(1, 0.5, 2, 3), f32(0.3, 3));

/** Cases with every element at least `margin` (in d) away from the kink |d| = 1/σ². */
const arbSL1 = (margin = 1e-3): fc.Arbitrary<SL1Case> =>
  fc
    .record({ R: fc.integer({ min: 1, max: 6 }), D: fc.integer({ min: 1, max: 8 }), sigma: arbSigma })
    .chain(({ R, D, sigma }) => {
      const n = R * D;
      const vals = fc.oneof(grid(-3, 3, 1 / 1000), f32(-3, 3));
      return fc
        .record({
          pred: fc.array(vals, { minLength: n, maxLength: n }),
          target: fc.array(vals, { minLength: n, maxLength: n }),
          win: fc.array(arbWeight, { minLength: n, maxLength: n }),
          wout: fc.array(arbWeight, { minLength: n, maxLength: n }),
        })
        .map((v) => ({ R, D, sigma, ...v }));
    })
    .filter((c) => {
      const kink = 1 / (c.sigma * c.sigma);
      return c.pred.every((p, k) => Math.abs(Math.abs(c.win[k] * (p - c.target[k])) - kink) > margin * Math.max(1, kink));
    });

const runSL1 = (c: SL1Case) =>
  right(
    smoothL1(
      {
        pred: T('float32', [c.R, c.D], c.pred),
        target: T('float32', [c.R, c.D], c.target),
        inside_w: T('float32', [c.R, c.D], c.win),
        outside_w: T('float32', [c.R, c.D], c.wout),
      },
      { sigma: c.sigma },
    ),
  );

test('smoothL1: pred_grad matches central differences of the float64 loss, and the loss its value', () => {
  fc.assert(
    fc.property(arbSL1(), (c) => {
      const out = runSL1(c);
      assert.deepEqual(out.loss.shape, []);
      const f = (p: number[]) => sl1_64(p, c.target, c.win, c.wout, c.R, c.sigma);
      // Away from the kink f is quadratic or linear on [x − h, x + h] (|w_in|·h ≤ 2e-5 ≪ 1e-3), so
      // the central difference is exact up to roundoff 2^-52·|L|/h ≤ 1e-8. The op rounds
      // pred − target, w_in·(…), σ², σ²·d and three products: ≤ 8u ≈ 5e-7 relative.
      assertClose(out.pred_grad.data, centralDiff(f, c.pred, 1e-5), 1e-7, 1e-6, 'pred_grad vs FD');
      const L = f(c.pred);
      const mag = sl1_64(c.pred, c.target, c.win, c.wout.map(Math.abs), c.R, c.sigma);
      assert.ok(Math.abs(out.loss.data[0] - L) <= 10 * U * mag + 1e-40, `loss ${out.loss.data[0]} vs ${L}`);
    }),
    fcParams(),
  );
});

test('smoothL1 divides by the number of rows: duplicating every row keeps the loss and halves the gradient', () => {
  fc.assert(
    fc.property(arbSL1(0), (c) => {
      const a = runSL1(c);
      const dup = <A>(x: A[]) => [...x, ...x];
      const b = runSL1({ ...c, R: 2 * c.R, pred: dup(c.pred), target: dup(c.target), win: dup(c.win), wout: dup(c.wout) });
      // fl32(Σ)/R vs fl32(2Σ)/(2R): the same float32 unless the float64 sums straddle a rounding tie
      // (1 ulp), or the quotient is subnormal (absolute rounding 2^-150 on each side).
      assertClose([b.loss.data[0]], [a.loss.data[0]], 2 ** -149, 2 ** -23, 'loss of the doubled batch');
      // fl32(1/2R) = fl32(1/R)/2 exactly, and every later product halves exactly — except in the
      // subnormal range, where each of the three roundings is absolute (≤ 2^-150), then scaled by
      // the remaining weights (|w| ≤ 2): ≤ 7·2^-150 per side, so 8·2^-149 in all.
      const half = Array.from(a.pred_grad.data, (g) => g / 2);
      assertClose(b.pred_grad.data.subarray(0, c.R * c.D), half, 8 * 2 ** -149, 0, 'first copy');
      assertClose(b.pred_grad.data.subarray(c.R * c.D), half, 8 * 2 ** -149, 0, 'second copy');
    }),
    fcParams(),
  );
});

test('smoothL1: inside weights act before f, outside weights after (hand-computed, σ = 1)', () => {
  const one = (pred: number, target: number, win: number, wout: number, sigma = 1, R = 1) =>
    runSL1({ R, D: 1, pred: [pred], target: [target], win: [win], wout: [wout], sigma });
  // d = 0.5·(1 − 0) = 0.5 < 1: f = 0.5·0.25 = 0.125, e = 2·0.125 = 0.25. Gradient:
  // f'(0.5) = 0.5, ·1/R = 0.5, ·w_in 0.5 = 0.25, ·w_out 2 = 0.5.
  // (Both weights after f would give 1·0.5·0.5 = 0.5·… = f(1) = 0.5; w_in after f: 2·0.5·f(1)… ≠ 0.25.)
  let o = one(1, 0, 0.5, 2);
  assert.equal(o.loss.data[0], 0.25);
  assert.equal(o.pred_grad.data[0], 0.5);
  // Swapped weights: d = 2·1 = 2 ≥ 1: f = 2 − 0.5 = 1.5, e = 0.5·1.5 = 0.75; gradient sign(2)·2·0.5 = 1.
  o = one(1, 0, 2, 0.5);
  assert.equal(o.loss.data[0], 0.75);
  assert.equal(o.pred_grad.data[0], 1);
  // Same sum of weights applied to the raw difference would give f(1)·1 = 0.5 in both cases.
  assert.notEqual(one(1, 0, 0.5, 2).loss.data[0], one(1, 0, 2, 0.5).loss.data[0]);
});

test('smoothL1: sigma moves the kink to 1/σ² (hand values for σ = 2, kink 0.25)', () => {
  const row = (d: number, sigma: number) => runSL1({ R: 1, D: 1, pred: [d], target: [0], win: [1], wout: [1], sigma });
  // σ = 2, σ² = 4: d = 0.125 < 0.25 → 0.5·4·(1/64) = 1/32, f' = 4·0.125 = 0.5;
  // d = 0.5 ≥ 0.25 → 0.5 − 0.5/4 = 0.375, f' = 1; d = 0.25 is not < 0.25 → 0.25 − 0.125 = 0.125, f' = 1;
  // d = −0.5 → 0.375, f' = −1.
  assert.equal(row(0.125, 2).loss.data[0], 1 / 32);
  assert.equal(row(0.125, 2).pred_grad.data[0], 0.5);
  assert.equal(row(0.5, 2).loss.data[0], 0.375);
  assert.equal(row(0.5, 2).pred_grad.data[0], 1);
  assert.equal(row(0.25, 2).loss.data[0], 0.125);
  assert.equal(row(0.25, 2).pred_grad.data[0], 1);
  assert.equal(row(-0.5, 2).pred_grad.data[0], -1);
  // With σ = 1 the same d = 0.5 is in the quadratic part: 0.125 and f' = 0.5.
  assert.equal(row(0.5, 1).loss.data[0], 0.125);
  assert.equal(row(0.5, 1).pred_grad.data[0], 0.5);
  // Two rows: the loss is divided by R = 2 (not by the number of coordinates or of non-zero weights).
  const two = runSL1({ R: 2, D: 2, pred: [0.5, 0, 0, 0], target: [0, 0, 0, 0], win: [1, 1, 0, 0], wout: [1, 1, 0, 0], sigma: 2 });
  assert.equal(two.loss.data[0], 0.375 / 2);
  assert.deepEqual(Array.from(two.pred_grad.data), [0.5, 0, 0, 0]);
  // Property: with unit weights and R = 1, |pred_grad| = 1 exactly iff |d| ≥ 1/σ², else |σ²d| < 1.
  fc.assert(
    fc.property(arbSigma, f32(-5, 5), (sigma, d) => {
      const g = row(d, sigma).pred_grad.data[0];
      const s2 = Math.fround(sigma * sigma);
      if (Math.abs(d) >= 1 / s2) assert.equal(Math.abs(g), 1);
      else assert.ok(Math.abs(g) < 1 || (Math.abs(g) === 1 && Math.abs(d) * s2 > 1 - U), `g ${g} for d ${d}, σ ${sigma}`);
    }),
    fcParams(),
  );
});

test('smoothL1: a zero inside or outside weight removes the element from loss and gradient', () => {
  fc.assert(
    fc.property(arbSL1(0), f32(-3, 3), fc.boolean(), (c, p2, inside) => {
      const w = inside ? c.win.map(() => 0) : c.wout.map(() => 0);
      const z = runSL1({ ...c, ...(inside ? { win: w } : { wout: w }) });
      assert.equal(z.loss.data[0], 0);
      for (const g of z.pred_grad.data) assert.ok(g === 0);
      // and then pred is irrelevant
      const z2 = runSL1({ ...c, pred: c.pred.map(() => p2), ...(inside ? { win: w } : { wout: w }) });
      assert.equal(z2.loss.data[0], 0);
    }),
    fcParams(),
  );
});

test('smoothL1 refuses bad input with a Left naming it', () => {
  const t = (shape: number[], v = 0.5) => T('float32', shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(v));
  const ok = { pred: t([2, 4]), target: t([2, 4]), inside_w: t([2, 4]), outside_w: t([2, 4]) };
  assert.ok(runSL1({ R: 1, D: 1, pred: [1], target: [0], win: [1], wout: [1], sigma: 1 }));
  for (const name of ['pred', 'target', 'inside_w', 'outside_w'] as const) {
    leftNaming(noThrow(() => smoothL1({ ...ok, [name]: t([2, 3]) })), name === 'pred' ? 'target' : name);
    leftNaming(noThrow(() => smoothL1({ ...ok, [name]: t([2, 4, 1]) })), name);
    leftNaming(noThrow(() => smoothL1({ ...ok, [name]: T('int32', [2, 4], [0, 0, 0, 0, 0, 0, 0, 0]) })), name);
    leftNaming(noThrow(() => smoothL1({ ...ok, [name]: undefined } as never)), name);
    for (const bad of [NaN, Infinity, -Infinity]) leftNaming(noThrow(() => smoothL1({ ...ok, [name]: t([2, 4], bad) })), name);
  }
  fc.assert(
    fc.property(fc.oneof(fc.constantFrom(0, -1, NaN, Infinity, -0, 1e-30, 1e30, 'x'), fc.double({ min: -10, max: 0 })), (sigma) => {
      leftNaming(noThrow(() => smoothL1(ok, { sigma } as never)), 'attrs.sigma');
    }),
    fcParams(),
  );
  // R = 0: Caffe divides by num.
  leftNaming(noThrow(() => smoothL1({ pred: t([0, 4]), target: t([0, 4]), inside_w: t([0, 4]), outside_w: t([0, 4]) })), 'pred');
  // Finite inputs whose difference overflows float32.
  leftNaming(noThrow(() => smoothL1({ ...ok, pred: t([2, 4], 3e38), target: t([2, 4], -3e38) })), 'target');
});

test('softmaxCE and smoothL1 are pure', () => {
  fc.assert(
    fc.property(arbCE(-30, 30), arbSL1(0), (c, s) => {
      const scores = T('float32', [c.R, c.K], c.z);
      const labels = T('float32', [c.R], c.labels);
      assertPure([scores, labels], () => right(softmaxCE({ scores, labels }, { normalization: c.norm, ignore_label: c.ignore })));
      const ins = [s.pred, s.target, s.win, s.wout].map((v) => T('float32', [s.R, s.D], v)) as Tensor[];
      assertPure(ins, () => right(smoothL1({ pred: ins[0], target: ins[1], inside_w: ins[2], outside_w: ins[3] }, { sigma: s.sigma })));
    }),
    fcParams(),
  );
});
