/**
 * Properties of the mining layer's per-RoI hardness, `roiLoss` / protocol `ohem_roi_loss`
 * (SPEC §1.2–§1.4, pitfalls 1–4 and 30; docs/mining.md §1).
 *
 * The independent formulation below is written from SPEC §1's text, following the Python of
 * `OHEMDataLayer.forward` step by step: Python's builtin `max(p, ε)` (first argument wins ties)
 * decides whether the float32 log or the double log runs; the bbox loss is built as the list of
 * smooth-L1 values of the float32 differences, weighted by the outside weights in double and
 * summed left to right from 0; `loss += bbox_loss` is element-wise (SPEC §1.4's verdict).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { roiLoss } from '../src/mining/hardness.js';
import { type Tensor } from '../src/core/index.js';
import { fcParams, right, leftNaming, noThrow, T, assertPure, assertBitEqual, assertClose, f32 } from './support.js';
import { roiLossCases, type RoiLossCase, EPS, CLAMPED_LOSS, nudge32 } from '../src/conform/arbitraries/mining.js';

const fr = Math.fround;
const BBOX = ['bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const;

// ------------------------------------------------------------------ the SPEC §1 formulation

/**
 * cls_i = −ln(max(p_i, ε)) with Python's builtin max: it returns its first argument unless a later
 * one is strictly greater. If the winner is the float32 p, NumPy's float32 log runs (fl32 of the
 * log); if it is the Python float ε, the double log runs (SPEC §1.2).
 */
const specCls = (p: number, eps = EPS): number => {
  const winner = eps > p ? { v: eps, float32: false } : { v: p, float32: true };
  const ln = winner.float32 ? fr(Math.log(winner.v)) : Math.log(winner.v);
  return -1 * ln;
};

/**
 * bbox_i (SPEC §1.3): 0 unless y > 0; S = slots with inside weight ≠ 0 (ascending);
 * x = fl32(w_in · fl32(pred − tgt)); s(x) = 0.5x² if |x| < 1 else |x| − 0.5 (σ = 1, in double);
 * Σ w_out·s(x) left to right starting from the integer 0 — no division by anything.
 */
const specBbox = (y: number, pred: number[], tgt: number[], win: number[], wout: number[]): number => {
  if (!(y > 0)) return 0;
  const S = win.map((w, k) => k).filter((k) => win[k] !== 0);
  const smooth = S.map((k) => {
    const x = fr(win[k] * fr(pred[k] - tgt[k]));
    return Math.abs(x) < 1 ? 0.5 * x * x : Math.abs(x) - 0.5;
  });
  const weighted = S.map((k, j) => wout[k] * smooth[j]);
  let sum = 0;
  for (const t of weighted) sum = sum + t;
  return sum;
};

/** The whole layer for one case: per-RoI cls, bbox and loss = cls + bbox (element-wise, length R). */
const specCase = (c: RoiLossCase): { cls: number[]; bbox: number[]; loss: number[] } => {
  const D = 4 * c.K;
  const eps = c.eps ?? EPS;
  const cls = c.labels.map((y, i) => specCls(c.probs[i * c.K + y], eps));
  const row = (a: number[], i: number) => a.slice(i * D, (i + 1) * D);
  const bbox = c.labels.map((y, i) =>
    c.bbox ? specBbox(y, row(c.bbox.pred, i), row(c.bbox.tgt, i), row(c.bbox.win, i), row(c.bbox.wout, i)) : 0,
  );
  // SPEC §1.4: with the regression inputs, `loss += bbox_loss` adds element-wise (so p = 1 gives
  // −0 + 0 = +0); without them (BBOX_REG off) `loss` stays the list of cls values, bit for bit.
  return { cls, bbox, loss: c.bbox ? cls.map((v, i) => v + bbox[i]) : [...cls] };
};

// ------------------------------------------------------------------ helpers

const tensorsOf = (c: RoiLossCase): Record<string, Tensor> => {
  const D = 4 * c.K;
  const t: Record<string, Tensor> = {
    cls_prob: T('float32', [c.R, c.K], c.probs),
    labels: T(c.labelsDtype, [c.R], c.labels),
  };
  if (c.bbox) {
    t.bbox_pred = T('float32', [c.R, D], c.bbox.pred);
    t.bbox_targets = T('float32', [c.R, D], c.bbox.tgt);
    t.bbox_inside_weights = T('float32', [c.R, D], c.bbox.win);
    t.bbox_outside_weights = T('float32', [c.R, D], c.bbox.wout);
  }
  return t;
};
const attrsOf = (c: RoiLossCase) => (c.eps === undefined ? {} : { eps: c.eps });
const run = (c: RoiLossCase) => {
  const o = right(noThrow(() => roiLoss(tensorsOf(c) as never, attrsOf(c))));
  return { loss: [...o.loss.data], cls: [...o.cls_loss.data], bbox: [...o.bbox_loss.data], out: o };
};

/** One RoI with label y over K classes, p at the label's column (the rest of the mass elsewhere). */
const clsOf = (p: number, attrs: { eps?: number } = {}): number => {
  const K = 3;
  const probs = [fr((1 - p) / 2), p, fr((1 - p) / 2)];
  return right(roiLoss({ cls_prob: T('float32', [1, K], probs), labels: T('float32', [1], [1]) }, attrs)).cls_loss.data[0];
};

/** One fg RoI (label 1 of K = 2, D = 8) with the given 4 slots of class 1; loss minus its cls part. */
const bboxOf = (diff: number[], win = [1, 1, 1, 1], wout = [1, 1, 1, 1], label = 1, tgt = [0.25, -1, 3, 0]): number => {
  const pad = (a: number[], fill: number) => [fill, fill, fill, fill, ...a];
  const pred = tgt.map((t, k) => fr(t + diff[k]));
  const o = right(
    roiLoss({
      cls_prob: T('float32', [1, 2], [0.5, 0.5]),
      labels: T('float32', [1], [label]),
      bbox_pred: T('float32', [1, 8], pad(pred, 0)),
      bbox_targets: T('float32', [1, 8], pad(tgt, 0)),
      bbox_inside_weights: T('float32', [1, 8], pad(win, 0)),
      bbox_outside_weights: T('float32', [1, 8], pad(wout, 0)),
    }),
  );
  assert.equal(o.loss.data[0], o.cls_loss.data[0] + o.bbox_loss.data[0], 'loss = cls + bbox');
  return o.bbox_loss.data[0];
};

// ------------------------------------------------------------------ the classification term

test('ε = 2⁻⁵²: p = 0, denormal, 1e-30 and one float32 ulp below ε all give exactly −ln(2⁻⁵²) = 36.04365338911715', () => {
  assert.equal(-Math.log(2 ** -52), 36.04365338911715, 'the SPEC value itself');
  for (const p of [0, 2 ** -149, fr(1e-30), fr(1e-20), nudge32(EPS, -1)]) {
    const v = clsOf(p);
    assert.ok(Object.is(v, 36.04365338911715), `p = ${p}: ${v}`);
    // not Caffe's FLT_MIN clamp (87.3365), not cfg.EPS = 1e-14, not a float32-rounded clamp
    assert.notEqual(v, -fr(Math.log(fr(1.1754943508222875e-38))));
    assert.notEqual(v, -Math.log(1e-14));
    assert.notEqual(v, fr(v));
  }
});

test('p = 2⁻⁵² exactly (and one ulp above) takes the float32 branch: −fl32(ln p), not the double clamp', () => {
  const v = clsOf(EPS);
  assert.ok(Object.is(v, -fr(Math.log(EPS))), `${v}`);
  assert.equal(fr(v), v, 'a float32 value');
  assert.notEqual(v, CLAMPED_LOSS);
  const above = nudge32(EPS, 1);
  assert.ok(Object.is(clsOf(above), -fr(Math.log(above))));
});

test('p = 1 gives −0 (compares equal to 0)', () => {
  const v = clsOf(1);
  assert.ok(Object.is(v, -0), `${v}`);
});

test('for p > ε the cls term is −fl32(ln p): a float32 log of the float32 probability, widened', () => {
  fc.assert(
    fc.property(f32(0, 1).filter((p) => p > EPS), (p) => {
      const v = clsOf(p);
      assert.ok(Object.is(v, -fr(Math.log(p))), `p = ${p}: ${v} vs ${-fr(Math.log(p))}`);
      assert.equal(fr(v), v);
      assert.ok(v >= 0 && v <= 36.04366, 'bounded by −ln ε (SPEC §1.2)');
    }),
    fcParams(),
  );
});

test('the eps attr: p ≤ eps gives −ln(eps) in double, p > eps the float32 log', () => {
  assert.ok(Object.is(clsOf(fr(1e-12), { eps: 1e-10 }), 23.025850929940457));
  assert.ok(Object.is(clsOf(0, { eps: 1e-10 }), -Math.log(1e-10)));
  assert.ok(Object.is(clsOf(0.25, { eps: 1e-10 }), -fr(Math.log(0.25))));
  fc.assert(
    fc.property(f32(0, 1), fc.double({ min: 1e-30, max: 0.9, noNaN: true }), (p, eps) => {
      assert.ok(Object.is(clsOf(p, { eps }), specCls(p, eps)));
    }),
    fcParams(),
  );
});

test('the cls term reads the column of the RoI label only', () => {
  fc.assert(
    fc.property(roiLossCases, fc.nat(), (c, seed) => {
      // rewrite every other column: cls must not move
      const probs = c.probs.map((p, j) => (j % c.K === c.labels[Math.floor(j / c.K)] ? p : fr(((seed + j) % 7) / 7)));
      const a = run(c).cls;
      const b = run({ ...c, probs }).cls;
      assertBitEqual(b, a, 'cls_loss');
    }),
    fcParams(100),
  );
});

// ------------------------------------------------------------------ the regression term (SPEC §1.3)

test('smooth-L1 with σ = 1 and strict |x| < 1: hand-computed values, the kink at |x| = 1', () => {
  // |x| < 1: 0.5x²   (σ = 3 would give |x| − 0.5/9 = 0.444… for 0.5)
  assert.equal(bboxOf([0.5, 0, 0, 0]), 0.125);
  assert.equal(bboxOf([-0.75, 0, 0, 0]), 0.28125);
  // just inside the kink: 0.5·fl32(0.999)² in double (x is float32, squared exactly)
  const x = fr(fr(0.25 + fr(0.999)) - 0.25);
  assert.equal(bboxOf([fr(0.999), 0, 0, 0]), 0.5 * x * x);
  // at the kink both branches give 0.5; beyond it the linear branch: 2 → 1.5 (0.5·2² would be 2)
  assert.equal(bboxOf([1, 0, 0, 0]), 0.5);
  assert.equal(bboxOf([-1, 0, 0, 0]), 0.5);
  assert.equal(bboxOf([2, 0, 0, 0]), 1.5);
  assert.equal(bboxOf([0, -3, 0, 0]), 2.5);
  // four slots summed: 0.125 + 0.5 + 1.5 + 0
  assert.equal(bboxOf([0.5, 1, -2, 0]), 2.125);
});

test('inside weights apply before the smooth-L1, outside weights after', () => {
  // w_in = 2, diff 0.75: x = 1.5 → 1.0   (after: 2·0.28125 = 0.5625)
  assert.equal(bboxOf([0.75, 0, 0, 0], [2, 1, 1, 1]), 1.0);
  // w_in = 0.5, diff 3: x = 1.5 → 1.0   (after: 0.5·2.5 = 1.25)
  assert.equal(bboxOf([3, 0, 0, 0], [0.5, 1, 1, 1]), 1.0);
  // w_in = −1: x = −0.5 → 0.125 (a non-zero weight, negative, still counts)
  assert.equal(bboxOf([0.5, 0, 0, 0], [-1, 1, 1, 1]), 0.125);
  // w_out = 3, diff 0.5: 3·0.125 = 0.375   (before: x = 1.5 → 1.0)
  assert.equal(bboxOf([0.5, 0, 0, 0], [1, 1, 1, 1], [3, 1, 1, 1]), 0.375);
  // the difference is a float32 subtraction: fl32(pred − tgt), then 0.5x² in double
  const pred = fr(1 / 3);
  const tgt = fr(2 ** -30);
  const xx = fr(pred - tgt);
  assert.notEqual(xx, pred - tgt);
  const o = right(
    roiLoss({
      cls_prob: T('float32', [1, 2], [0.5, 0.5]),
      labels: T('int32', [1], [1]),
      bbox_pred: T('float32', [1, 8], [0, 0, 0, 0, pred, 0, 0, 0]),
      bbox_targets: T('float32', [1, 8], [0, 0, 0, 0, tgt, 0, 0, 0]),
      bbox_inside_weights: T('float32', [1, 8], [0, 0, 0, 0, 1, 0, 0, 0]),
      bbox_outside_weights: T('float32', [1, 8], [0, 0, 0, 0, 1, 0, 0, 0]),
    }),
  );
  assert.equal(o.bbox_loss.data[0], 0.5 * xx * xx);
});

test('only labels > 0, and only where the inside weight ≠ 0 (a non-zero outside weight alone contributes nothing)', () => {
  // label 0 (background) with non-zero regression data: 0
  assert.equal(bboxOf([5, 5, 5, 5], [1, 1, 1, 1], [1, 1, 1, 1], 0), 0);
  // inside weight 0, outside weight 5, huge difference: nothing
  assert.equal(bboxOf([100, 0.5, 0, 0], [0, 1, 1, 1], [5, 1, 1, 1]), 0.125);
  assert.equal(bboxOf([100, 100, 100, 100], [0, 0, 0, 0], [5, 5, 5, 5]), 0);
  // the slots of other classes count too when their inside weight is non-zero (S is every k with w_in ≠ 0)
  const o = right(
    roiLoss({
      cls_prob: T('float32', [1, 2], [0.5, 0.5]),
      labels: T('float32', [1], [1]),
      bbox_pred: T('float32', [1, 8], [2, 0, 0, 0, 0, 0, 0, 0]),
      bbox_targets: T('float32', [1, 8], [0, 0, 0, 0, 0, 0, 0, 0]),
      bbox_inside_weights: T('float32', [1, 8], [1, 0, 0, 0, 0, 0, 0, 0]),
      bbox_outside_weights: T('float32', [1, 8], [1, 0, 0, 0, 0, 0, 0, 0]),
    }),
  );
  assert.equal(o.bbox_loss.data[0], 1.5);
});

// ------------------------------------------------------------------ the whole layer

test('against the SPEC §1 formulation: cls, bbox and loss = cls + bbox bit for bit, length R, float64', () => {
  fc.assert(
    fc.property(roiLossCases, (c) => {
      const { out, loss, cls, bbox } = run(c);
      const want = specCase(c);
      for (const [name, t] of Object.entries(out)) {
        assert.equal(t.dtype, 'float64', `${name} dtype`);
        assert.deepEqual([...t.shape], [c.R], `${name} has length R, never 2R (SPEC §1.4)`);
      }
      assertBitEqual(cls, want.cls, 'cls_loss');
      assertBitEqual(bbox, want.bbox, 'bbox_loss');
      // bit for bit with the regression inputs; without them the sign of a zero loss is the
      // subject of its own test below, so here equal values suffice
      if (c.bbox) assertBitEqual(loss, want.loss, 'loss');
      else assertClose(loss, want.loss, 0, 0, 'loss');
    }),
    fcParams(),
  );
});

test('`loss += bbox_loss` is element-wise: loss_i = cls_i + bbox_i, so the bbox loss moves the hardness', () => {
  // two RoIs, both fg with p = 0.5: equal cls; RoI 1 has a large regression error
  const o = right(
    roiLoss({
      cls_prob: T('float32', [2, 2], [0.5, 0.5, 0.5, 0.5]),
      labels: T('float32', [2], [1, 1]),
      bbox_pred: T('float32', [2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]),
      bbox_targets: T('float32', [2, 8], new Array(16).fill(0)),
      bbox_inside_weights: T('float32', [2, 8], [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]),
      bbox_outside_weights: T('float32', [2, 8], [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]),
    }),
  );
  const c = -fr(Math.log(0.5));
  assert.deepEqual([...o.loss.data], [c, c + 3.5]);
  assert.equal(o.loss.shape[0], 2);
});

test('a bbox-free call gives loss = cls and bbox 0; all-zero inside weights give the same', () => {
  fc.assert(
    fc.property(roiLossCases, (c) => {
      const free = run({ ...c, bbox: null });
      assertClose(free.loss, free.cls, 0, 0, 'loss of a bbox-free call');
      assertBitEqual(free.bbox, new Array(c.R).fill(0), 'bbox_loss of a bbox-free call');
      assertBitEqual(free.cls, specCase(c).cls, 'cls');
      if (c.bbox) {
        const zeroIn = run({ ...c, bbox: { ...c.bbox, win: c.bbox.win.map(() => 0) } });
        assertClose(zeroIn.loss, free.loss, 0, 0, 'loss with zero inside weights');
        assertBitEqual(zeroIn.bbox, new Array(c.R).fill(0), 'bbox_loss with zero inside weights');
      }
    }),
    fcParams(100),
  );
});

test('bbox-free, p = 1: loss is cls bit for bit, −0 (SPEC §1.4: without BBOX_REG `loss` stays the list of cls values; no `+= bbox_loss` turns −0 into +0)', () => {
  const o = right(roiLoss({ cls_prob: T('float32', [2, 2], [0, 1, 0.5, 0.5]), labels: T('float32', [2], [1, 0]) }));
  assert.ok(Object.is(o.cls_loss.data[0], -0), 'cls of p = 1 is −0');
  assertBitEqual(o.loss.data, o.cls_loss.data, 'loss of a bbox-free call');
});

test('with bbox inputs, p = 1 on a background RoI: loss = −0 + 0 = +0 (element-wise `+=` of the float64 zeros)', () => {
  const o = right(
    roiLoss({
      cls_prob: T('float32', [1, 2], [1, 0]),
      labels: T('float32', [1], [0]),
      bbox_pred: T('float32', [1, 8], new Array(8).fill(1)),
      bbox_targets: T('float32', [1, 8], new Array(8).fill(0)),
      bbox_inside_weights: T('float32', [1, 8], new Array(8).fill(1)),
      bbox_outside_weights: T('float32', [1, 8], new Array(8).fill(1)),
    }),
  );
  assert.ok(Object.is(o.cls_loss.data[0], -0));
  assert.ok(Object.is(o.loss.data[0], 0), `${o.loss.data[0]}`);
});

test('no division by R: duplicating the rows leaves every RoI loss unchanged; permuting rows permutes the losses', () => {
  fc.assert(
    fc.property(roiLossCases, fc.nat(), (c, seed) => {
      const D = 4 * c.K;
      const base = run(c);
      const rowsOf = (a: number[], w: number) => Array.from({ length: c.R }, (_, i) => a.slice(i * w, (i + 1) * w));
      const remap = (order: number[]): RoiLossCase => {
        const pick = (a: number[], w: number) => order.flatMap((i) => rowsOf(a, w)[i]);
        return {
          ...c,
          R: order.length,
          probs: pick(c.probs, c.K),
          labels: order.map((i) => c.labels[i]),
          bbox: c.bbox && {
            pred: pick(c.bbox.pred, D),
            tgt: pick(c.bbox.tgt, D),
            win: pick(c.bbox.win, D),
            wout: pick(c.bbox.wout, D),
          },
        };
      };
      const idx = Array.from({ length: c.R }, (_, i) => i);
      const doubled = run(remap([...idx, ...idx]));
      assertBitEqual(doubled.loss, [...base.loss, ...base.loss], 'loss of the doubled minibatch');
      const perm = [...idx].sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13) || a - b);
      assertBitEqual(run(remap(perm)).loss, perm.map((i) => base.loss[i]), 'loss of the permuted minibatch');
    }),
    fcParams(100),
  );
});

// ------------------------------------------------------------------ bad input

/** A small valid case to break one piece of. */
const valid = (): Record<string, Tensor> => ({
  cls_prob: T('float32', [2, 3], [0.2, 0.3, 0.5, 1, 0, 0]),
  labels: T('float32', [2], [2, 0]),
  bbox_pred: T('float32', [2, 12], new Array(24).fill(0.5)),
  bbox_targets: T('float32', [2, 12], new Array(24).fill(0)),
  bbox_inside_weights: T('float32', [2, 12], new Array(24).fill(1)),
  bbox_outside_weights: T('float32', [2, 12], new Array(24).fill(1)),
});
const bad = (inputs: Record<string, unknown>, attrs: Record<string, unknown> = {}) =>
  noThrow(() => roiLoss(inputs as never, attrs as never));

test('the valid base case is accepted (so the bad-input tests below break exactly one thing)', () => {
  const o = right(bad(valid()));
  assert.equal(o.loss.shape[0], 2);
});

test('labels outside [0, K) or not integers → Left naming labels', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.integer({ min: -5, max: -1 }), fc.integer({ min: 3, max: 40 }), fc.constantFrom(0.5, 1.5, 2.25, -0.5)),
      fc.integer({ min: 0, max: 1 }),
      fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
      (v, at, dtype) => {
        const labels = [2, 0];
        labels[at] = v;
        leftNaming(bad({ ...valid(), labels: T(dtype, [2], labels) }), 'labels');
      },
    ),
    fcParams(),
  );
  leftNaming(bad({ ...valid(), labels: T('int32', [2], [3, 0]) }), 'labels');
  leftNaming(bad({ ...valid(), labels: T('int32', [2], [-1, 0]) }), 'labels');
});

test('1–3 of the 4 bbox inputs → Left naming a missing one', () => {
  fc.assert(
    fc.property(fc.subarray([...BBOX], { minLength: 1, maxLength: 3 }), (given) => {
      const ins: Record<string, Tensor> = { cls_prob: valid().cls_prob, labels: valid().labels };
      for (const n of given) ins[n] = valid()[n];
      const r = bad(ins);
      assert.ok(r._tag === 'Left', 'expected a Left');
      const missing = BBOX.filter((n) => !given.includes(n));
      const named = (r as { left: { input: string } }).left.input;
      assert.ok((missing as readonly string[]).includes(named), `named ${named}, missing ${missing}`);
      leftNaming(r, named);
    }),
    fcParams(50),
  );
});

test('mismatched shapes, wrong ranks, wrong dtypes, missing inputs → Left naming the input', () => {
  const v = valid();
  leftNaming(bad({ ...v, cls_prob: undefined }), 'cls_prob');
  leftNaming(bad({ ...v, labels: undefined }), 'labels');
  leftNaming(bad({ ...v, cls_prob: T('float32', [6], [...v.cls_prob.data]) }), 'cls_prob');
  leftNaming(bad({ ...v, cls_prob: T('int32', [2, 3], [0, 0, 1, 1, 0, 0]) }), 'cls_prob');
  leftNaming(bad({ ...v, labels: T('float32', [3], [0, 1, 2]) }), 'labels');
  leftNaming(bad({ ...v, labels: T('float32', [2, 1], [0, 1]) }), 'labels');
  for (const n of BBOX) {
    leftNaming(bad({ ...v, [n]: T('float32', [3, 12], new Array(36).fill(0)) }), n);
    leftNaming(bad({ ...v, [n]: T('float32', [24], new Array(24).fill(0)) }), n);
  }
  // D must agree among the four
  leftNaming(bad({ ...v, bbox_targets: T('float32', [2, 8], new Array(16).fill(0)) }), 'bbox_targets');
  leftNaming(bad({ ...v, bbox_outside_weights: T('float32', [2, 16], new Array(32).fill(0)) }), 'bbox_outside_weights');
});

test('NaN (or ±Infinity) in cls_prob → Left naming cls_prob', () => {
  fc.assert(
    fc.property(fc.constantFrom(NaN, Infinity, -Infinity), fc.integer({ min: 0, max: 5 }), (x, at) => {
      const probs = [...valid().cls_prob.data];
      probs[at] = x;
      leftNaming(bad({ ...valid(), cls_prob: T('float32', [2, 3], probs) }), 'cls_prob');
    }),
    fcParams(30),
  );
});

test('eps ≤ 0, NaN, infinite or not a number → Left naming attrs.eps', () => {
  for (const eps of [0, -0, -1e-16, -1, NaN, Infinity, '1e-16'])
    leftNaming(bad(valid(), { eps }), 'attrs.eps');
});

test('purity: roiLoss never writes into its inputs', () => {
  fc.assert(
    fc.property(roiLossCases, (c) => {
      const t = tensorsOf(c);
      assertPure(Object.values(t), () => roiLoss(t as never, attrsOf(c)));
    }),
    fcParams(100),
  );
});
