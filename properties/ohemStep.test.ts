/**
 * Properties of `ohemStep` (protocol `ohem_step`): one OHEM iteration for one forward batch
 * (SPEC §1–§8, docs/mining.md §3–§4). The expectations come from the spec's text:
 *
 * - the gradients are those of the PLAIN Fast R-CNN loss over the hard RoIs alone, composed here
 *   from the public ops (src/conform/heads.ts `plainFastRcnn`, docs/mining.md §4 steps 4–6);
 * - the read-only pass contributes nothing to any gradient (SPEC §8.5), only the choice of RoIs;
 * - the gradient is the derivative of the reported loss (float64 central differences);
 * - the selection is `selectHard(roiLoss(read-only forward))` (docs/mining.md §1, §2, §4 steps 1–3),
 *   it ranks by descending loss, respects NMS per (image, label) group (SPEC §2.1) and the dialects'
 *   quotas (docs/mining.md §2), and RoIs carry their rows (labels, targets, weights, mask rows);
 * - bad input is a Left naming the input; nothing is mutated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Tensor } from '../src/core/index.js';
import { nms, type Normalization } from '../src/ops/index.js';
import { roiLoss } from '../src/mining/hardness.js';
import { selectHard } from '../src/mining/select.js';
import { ohemStep, drawMasks, type StepConfig, type StepMasks, type StepResult } from '../src/mining/ohemStep.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, assertClose, fcParams } from './support.js';
import {
  PARAMS,
  MASKS,
  type HeadSpec,
  type HeadTensors,
  type PName,
  headSpecArb,
  tensorsOf,
  allTensors,
  plainFastRcnn,
  readonlyForwardOps,
  headForwardOps,
  takeRows,
  permuteSpec,
  roiWindow,
  iouPlus1,
  prng,
  paramShape,
  maskShape,
} from './heads.js';

const GRADS = [...PARAMS.map((p) => `${p}_grad` as const), 'features_grad'] as const;
const OUTS = ['roi_loss', 'cls_loss', 'bbox_loss', 'hard_inds', 'loss_cls', 'loss_bbox', ...GRADS] as const;
type Out = (typeof OUTS)[number];

const run = (t: HeadTensors, cfg: StepConfig = {}, masks?: StepMasks) =>
  noThrow(() => ohemStep({ ...t.headAttrs, ...cfg })(t.params, t.batch, masks ?? t.masks), 'ohemStep');
const ok = (t: HeadTensors, cfg: StepConfig = {}, masks?: StepMasks): StepResult => right(run(t, cfg, masks), 'ohemStep');
const out = (r: StepResult, o: Out): Tensor => r[o];

/** Every output of two results bit for bit (shapes too). */
const assertSameBits = (a: StepResult, b: StepResult, what: string, which: readonly Out[] = OUTS) => {
  for (const o of which) {
    assert.deepEqual(out(a, o).shape, out(b, o).shape, `${what}: ${o} shape`);
    assertBitEqual(out(a, o).data, out(b, o).data, `${what}: ${o}`);
  }
};

/** The gradients and the two losses of the train pass equal those of `plainFastRcnn`, bit for bit. */
const assertIsPlainLoss = (r: StepResult, t: HeadTensors, opts: { sigma?: number; normalization?: Normalization }, what: string) => {
  const p = plainFastRcnn(t, r.hard_inds.data, opts);
  assertBitEqual([r.loss_cls.data[0], r.loss_bbox.data[0]], [p.loss_cls, p.loss_bbox], `${what}: loss_cls, loss_bbox`);
  for (const g of PARAMS.map((q) => `${q}_grad` as const)) {
    assert.deepEqual(r[g].shape, p.grads[g].shape, `${what}: ${g} shape`);
    assertBitEqual(r[g].data, p.grads[g].data, `${what}: ${g}`);
  }
  assertBitEqual(r.features_grad.data, p.features_grad.data, `${what}: features_grad`);
};

/** caffe-ohem selection attrs for R RoIs (each sometimes omitted: the default then applies). */
const caffeSel = (R: number) =>
  fc.record(
    {
      batch_size: fc.integer({ min: 1, max: R + 2 }),
      use_nms: fc.boolean(),
      nms_threshold: fc.constantFrom(0.7, 0.5, 0.3),
      ties: fc.constantFrom<'index_desc' | 'index_asc'>('index_desc', 'index_asc'),
    },
    { requiredKeys: ['batch_size'] },
  );

const withSel = (o: Parameters<typeof headSpecArb>[0] = {}) => headSpecArb(o).chain((s) => fc.tuple(fc.constant(s), caffeSel(s.R)));

// ============================================================== the gradients are the plain loss's

test('gradients and losses equal the plain Fast R-CNN loss over rois[hard_inds] alone, composed from the public ops (bit for bit)', () => {
  // Malformed RoIs (x2 < x1) are legal and the one place where Caffe's gather backward (mode caffe,
  // docs/mining.md §4 step 6) differs from a scatter of the forward's argmax (SPEC §5.2).
  fc.assert(
    fc.property(
      withSel({ malformedProb: 0.15 }),
      fc.constantFrom(1, 1, 2, 0.5),
      fc.constantFrom<Normalization>('valid', 'valid', 'batch_size', 'full', 'none'),
      ([s, sel], sigma, normalization) => {
        const t = tensorsOf(s);
        const r = ok(t, { ...sel, sigma, normalization });
        const B = r.hard_inds.size;
        assert.ok(B >= 1 && B <= Math.min(s.R, sel.batch_size));
        // Same public ops in the same order (docs/mining.md §4 step 6): no summation differs.
        assertIsPlainLoss(r, t, { sigma, normalization }, 'ohemStep vs plain loss');
        // PROTOCOL.md's dtypes and shapes.
        for (const o of ['roi_loss', 'cls_loss', 'bbox_loss'] as const) {
          assert.equal(r[o].dtype, 'float64', o);
          assert.deepEqual(r[o].shape, [s.R], o);
        }
        assert.equal(r.hard_inds.dtype, 'int32');
        for (const o of ['loss_cls', 'loss_bbox'] as const) {
          assert.equal(r[o].dtype, 'float32', o);
          assert.deepEqual(r[o].shape, [], o);
        }
        for (const q of PARAMS) {
          assert.equal(r[`${q}_grad`].dtype, 'float32');
          assert.deepEqual(r[`${q}_grad`].shape, paramShape(s, q), `${q}_grad shape`);
        }
        assert.equal(r.features_grad.dtype, 'float32');
        assert.deepEqual(r.features_grad.shape, [s.N, s.C, s.H, s.W]);
      },
    ),
    fcParams(100),
  );
});

test('hand case: one RoI on one cell of a 2×2 map, a one-unit head — the step reports the hand-computed losses and gradients', () => {
  // N = C = 1, 2×2 pooling of a 2×2 map whose RoI covers one cell (scale 1, RoI (0,0)-(0,0)):
  // every bin pools that cell, holding 2 (SPEC §5.1 with Hr = Wr = 1, bin 0.5: [0,1) and [0,1)).
  // fc6: 1 unit, weights (0.25 ×4), bias 0 → a6 = 0.25·2·4 = 2; fc7: 1 unit, weight 1, bias 0 → a7 = 2.
  // K = 2: cls_score_w = (0, 0.5), b = 0 → scores (0, 1); label 1: p1 = e/(1+e), loss_cls = −ln p1.
  // bbox_pred_w = 0 except row 4 (class 1, dx) = 0.5 → pred dx = 1; target 0.5 → d = 0.5 < 1:
  // loss_bbox = 0.5·0.25 = 0.125 (÷ B = 1).
  const p1 = Math.E / (1 + Math.E);
  const params = {
    fc6_w: T('float32', [1, 4], [0.25, 0.25, 0.25, 0.25]),
    fc6_b: T('float32', [1], [0]),
    fc7_w: T('float32', [1, 1], [1]),
    fc7_b: T('float32', [1], [0]),
    cls_score_w: T('float32', [2, 1], [0, 0.5]),
    cls_score_b: T('float32', [2], [0, 0]),
    bbox_pred_w: T('float32', [8, 1], [0, 0, 0, 0, 0.5, 0, 0, 0]),
    bbox_pred_b: T('float32', [8], [0, 0, 0, 0, 0, 0, 0, 0]),
  };
  const w = [0, 0, 0, 0, 1, 1, 1, 1];
  const batch = {
    features: T('float32', [1, 1, 2, 2], [2, -1, -1, -1]),
    rois: T('float32', [1, 5], [0, 0, 0, 0, 0]),
    labels: T('float32', [1], [1]),
    bbox_targets: T('float32', [1, 8], [0, 0, 0, 0, 0.5, 0, 0, 0]),
    bbox_inside_weights: T('float32', [1, 8], w),
    bbox_outside_weights: T('float32', [1, 8], w),
  };
  const r = right(ohemStep({ pooled_h: 2, pooled_w: 2, spatial_scale: 1, dropout_ratio: 0 })(params, batch));
  assert.deepEqual([...r.hard_inds.data], [0]);
  // float32 softmax and log: a few float32 ulps of 0.313.
  assertClose(r.loss_cls.data, [-Math.log(p1)], 0, 2e-6, 'loss_cls');
  assert.equal(r.loss_bbox.data[0], 0.125);
  // d loss_cls / d score = p − onehot = (1 − p1, p1 − 1); d loss_bbox / d pred_dx = d = 0.5.
  // d/d h7 = 0.5·(p1 − 1) + 0.5·0.5; cls_score_w grad = (1 − p1, p1 − 1)·h7 (h7 = 2).
  assertClose(r.cls_score_w_grad.data, [(1 - p1) * 2, (p1 - 1) * 2], 1e-7, 1e-6, 'cls_score_w_grad');
  assertClose(r.bbox_pred_b_grad.data, [0, 0, 0, 0, 0.5, 0, 0, 0], 0, 0, 'bbox_pred_b_grad');
  const dh7 = 0.5 * (p1 - 1) + 0.25;
  assertClose(r.fc7_w_grad.data, [dh7 * 2], 1e-7, 1e-6, 'fc7_w_grad');
  // d/d a6 = dh7 (relu active, w7 = 1) → fc6_w grad = dh7·2 per input; features: every bin's
  // gradient dh7·0.25 lands on cell (0,0): 4·0.25·dh7 = dh7; other cells 0.
  assertClose(r.fc6_w_grad.data, [2 * dh7, 2 * dh7, 2 * dh7, 2 * dh7], 1e-7, 1e-6, 'fc6_w_grad');
  assertClose(r.features_grad.data, [dh7, 0, 0, 0], 1e-7, 1e-6, 'features_grad');
  // The hardness of the same RoI through the read-only pass (dropout 0): cls + unnormalised bbox.
  assertClose(r.roi_loss.data, [-Math.log(p1) + 0.125], 0, 2e-6, 'roi_loss');
  assertClose(r.cls_loss.data, [-Math.log(p1)], 0, 2e-6, 'cls_loss');
  assert.equal(r.bbox_loss.data[0], 0.125);
});

test('the hardness ignores sigma and normalization (SPEC §1.3, pitfall 4: σ = 1 hard-coded, no 1/N), and clamps at eps', () => {
  fc.assert(
    fc.property(withSel(), fc.constantFrom(2, 0.5, 3), fc.constantFrom<Normalization>('none', 'full'), fc.constantFrom(0.05, 0.3, 0.6), ([s, sel], sigma, normalization, eps) => {
      const t = tensorsOf(s);
      const base = ok(t, sel);
      const other = ok(t, { ...sel, sigma, normalization });
      assertSameBits(other, base, 'sigma/normalization', ['roi_loss', 'cls_loss', 'bbox_loss', 'hard_inds']);
      // eps: cls_i = −ln(eps) (double) where p_i ≤ eps, else unchanged (p_i = exp(−cls_i) at the default eps).
      const clamped = ok(t, { ...sel, eps });
      for (let i = 0; i < s.R; i++) {
        const p = Math.exp(-base.cls_loss.data[i]);
        if (p < eps * (1 - 1e-6)) assert.equal(clamped.cls_loss.data[i], -Math.log(eps), `RoI ${i}: p ${p} ≤ eps ${eps}`);
        else if (p > eps * (1 + 1e-6)) assert.equal(clamped.cls_loss.data[i], base.cls_loss.data[i], `RoI ${i}: p ${p} > eps ${eps}`);
        assert.equal(clamped.roi_loss.data[i], clamped.cls_loss.data[i] + clamped.bbox_loss.data[i], 'loss = cls + bbox (element-wise, pitfall 1)');
      }
      assertBitEqual(clamped.bbox_loss.data, base.bbox_loss.data, 'bbox_loss does not depend on eps');
    }),
    fcParams(60),
  );
});

// ================================================== the read-only pass adds nothing to any gradient

test('perturbing feature cells outside every hard RoI’s pooling windows (selection unchanged) changes no bit of the losses or gradients', () => {
  let effective = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      headSpecArb({ dominant: 2 }).chain((s) => fc.tuple(fc.constant(s), caffeSel(s.R), fc.integer({ min: 0, max: 2 ** 31 - 1 }))),
      ([s, sel, seed]) => {
        runs++;
        const t = tensorsOf(s);
        const cfg = { ...sel, batch_size: Math.min(sel.batch_size, 2 + (seed % 3)) };
        const r = ok(t, cfg);
        // Cells a hard RoI can read (with one cell of margin for the float32 overshoot).
        const used = new Set<string>();
        for (const i of r.hard_inds.data) {
          const [b, h0, h1, w0, w1] = roiWindow(s, i);
          for (let h = h0; h <= h1; h++) for (let w = w0; w <= w1; w++) used.add(`${b},${h},${w}`);
        }
        const rnd = prng(seed);
        const features = [...s.features];
        let changed = 0;
        for (let n = 0; n < s.N; n++)
          for (let c = 0; c < s.C; c++)
            for (let h = 0; h < s.H; h++)
              for (let w = 0; w < s.W; w++)
                if (!used.has(`${n},${h},${w}`) && rnd() < 0.7) {
                  features[((n * s.C + c) * s.H + h) * s.W + w] = Math.fround(-3 + 6 * rnd());
                  changed++;
                }
        if (changed === 0) return;
        const t2 = tensorsOf({ ...s, features });
        const r2 = ok(t2, cfg);
        if (r2.hard_inds.size !== r.hard_inds.size || r2.hard_inds.data.some((v, k) => v !== r.hard_inds.data[k])) {
          // Allowed only where NMS is on (a non-selected RoI's new loss can reorder a group).
          // Without NMS the two dominant RoIs are the top two whatever the other RoIs' losses.
          assert.ok(sel.use_nms !== false || cfg.batch_size > 2, 'the dominant RoIs must stay selected without NMS');
          return;
        }
        effective++;
        assertSameBits(r, r2, 'perturbed unused cells', ['hard_inds', 'loss_cls', 'loss_bbox', ...GRADS]);
        // Locality of the read-only pass: the hard RoIs' own hardness did not move either.
        assertBitEqual(
          Array.from(r2.hard_inds.data, (i) => r2.roi_loss.data[i]),
          Array.from(r.hard_inds.data, (i) => r.roi_loss.data[i]),
          'hardness of the hard RoIs',
        );
      },
    ),
    fcParams(150),
  );
  assert.ok(effective >= runs / 2, `only ${effective} of ${runs} runs perturbed cells without changing the selection`);
});

test('changing the readonly masks without changing hard_inds leaves the losses and gradients bit-identical (SPEC §8.5)', () => {
  let effective = 0;
  let hardnessMoved = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      headSpecArb({ dropout: 'half', dominant: 2 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (s, useNms, seed) => {
        runs++;
        const t = tensorsOf(s);
        const cfg = { batch_size: 2, use_nms: useNms };
        const r = ok(t, cfg);
        const rnd = prng(seed);
        const masks = { ...s.masks! };
        masks.readonly_mask6 = masks.readonly_mask6.map(() => (rnd() < 0.5 ? 0 : 1));
        masks.readonly_mask7 = masks.readonly_mask7.map(() => (rnd() < 0.5 ? 0 : 1));
        const r2 = ok(tensorsOf({ ...s, masks }), cfg);
        const same = r2.hard_inds.data.every((v, k) => v === r.hard_inds.data[k]) && r2.hard_inds.size === r.hard_inds.size;
        // Without NMS the two dominant RoIs (hardness ≈ 400 and ≈ 800 apart from all others) are
        // hard_inds whatever the masks: SPEC §2.1 top-B of descending loss.
        if (!useNms) assert.ok(same, `hard_inds moved without NMS: ${r.hard_inds.data} → ${r2.hard_inds.data}`);
        if (!same) return;
        effective++;
        if (r2.roi_loss.data.some((v, i) => !Object.is(v, r.roi_loss.data[i]))) hardnessMoved++;
        assertSameBits(r, r2, 'new readonly masks', ['hard_inds', 'loss_cls', 'loss_bbox', ...GRADS]);
      },
    ),
    fcParams(150),
  );
  assert.ok(effective >= runs * 0.6, `only ${effective} of ${runs} runs kept hard_inds`);
  // The readonly masks matter to the hardness (the test is not vacuous).
  assert.ok(hardnessMoved >= effective * 0.8, `the readonly masks changed the hardness in only ${hardnessMoved} of ${effective} runs`);
});

// ========================================================================= finite differences

/**
 * Central differences in float64 of L = loss_cls + loss_bbox as ohemStep reports them (float32),
 * with dropout 0, the selection verified unchanged at ±h, and coordinates whose ±h interval
 * crosses a kink skipped: a ReLU input changing sign, a smooth-L1 argument crossing |d| = 1, or a
 * pooled argmax moving. Steps: h = 2^-7 (≈ 0.008) on O(0.1–1) values, the actual float32 step
 * fl32(θ + h) − fl32(θ − h) as the denominator.
 *
 * Tolerance |fd − g| ≤ 5e-4 + 1e-2·|g|: the reported L is float32 (|L| ≲ 4, ulp ≤ 4.8e-7) and
 * carries a few ulps of rounding from the float32 chain, so the difference quotient has noise
 * ≲ 4·4.8e-7 / (2·0.0078) ≈ 1.2e-4; the truncation error h²/6·|L'''| is ≲ 1e-5·|L'''| on these
 * smooth pieces (softmax and the quadratic part of smooth-L1: L''' = O(1) for O(1) weights); the
 * float32 gradient itself is exact to ~1e-6 relative. 5e-4 absolute is ~4× the noise bound; 1e-2
 * relative covers curvature on the larger gradients. (Observed: the worst case uses ~5% of this.)
 * A wrong term in the backward (a dropped factor, a missing 1/B, a wrong sign, the read-only pass
 * leaking in) moves gradients by O(|g|) ≫ this.
 */
test('float64 central differences of the reported loss agree with every parameter gradient and with features_grad', () => {
  const h = 2 ** -7;
  let compared = 0;
  let skipped = 0;
  let worst = 0;
  fc.assert(
    fc.property(
      headSpecArb({ dropout: 'zero', maxR: 8, maxMap: 8, maxHidden: 5, maxC: 2, maxK: 3 }).chain((s) =>
        fc.tuple(fc.constant(s), caffeSel(s.R), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
      ),
      ([s, sel, seed]) => {
        const t = tensorsOf(s);
        const base = ok(t, sel);
        const hard = base.hard_inds.data;
        const loss = (r: StepResult) => r.loss_cls.data[0] + r.loss_bbox.data[0];
        const pattern = (tt: HeadTensors): string => {
          const f = headForwardOps(tt, takeRows(tt.batch.rois, hard), undefined, undefined);
          const tg = takeRows(tt.batch.bbox_targets, hard).data;
          const wi = takeRows(tt.batch.bbox_inside_weights, hard).data;
          const sgn = (x: ArrayLike<number>) => Array.from(x, (v) => (v > 0 ? '+' : '-')).join('');
          const kink = Array.from(f.bbox.data, (v, k) => (Math.abs(Math.fround(wi[k] * Math.fround(v - tg[k]))) < 1 ? 'q' : 'l')).join('');
          return `${sgn(f.a6.data)}|${sgn(f.a7.data)}|${kink}|${f.argmax.data.join(',')}`;
        };
        const basePattern = pattern(t);
        const check = (what: string, plus: HeadTensors, minus: HeadTensors, step: number, g: number) => {
          const rp = ok(plus, sel);
          const rm = ok(minus, sel);
          const same = (r: StepResult) => r.hard_inds.size === hard.length && r.hard_inds.data.every((v, k) => v === hard[k]);
          if (!same(rp) || !same(rm) || pattern(plus) !== basePattern || pattern(minus) !== basePattern) {
            skipped++;
            return;
          }
          const fd = (loss(rp) - loss(rm)) / step;
          compared++;
          worst = Math.max(worst, Math.abs(fd - g) / (5e-4 + 1e-2 * Math.abs(g)));
          if (!(Math.abs(fd - g) <= 5e-4 + 1e-2 * Math.abs(g))) assert.fail(`${what}: finite difference ${fd} vs gradient ${g}`);
        };
        for (const p of PARAMS) {
          const shape = paramShape(s, p);
          const vals = s.params[p];
          for (let i = 0; i < vals.length; i++) {
            const vp = Math.fround(vals[i] + h);
            const vm = Math.fround(vals[i] - h);
            const withV = (v: number): HeadTensors => {
              const a = [...vals];
              a[i] = v;
              return { ...t, params: { ...t.params, [p]: T('float32', shape, a) } };
            };
            check(`${p}[${i}]`, withV(vp), withV(vm), vp - vm, base[`${p}_grad`].data[i]);
          }
        }
        // Feature cells: the argmax cells of the hard RoIs (non-zero gradient) and a few random cells.
        const f = headForwardOps(t, takeRows(t.batch.rois, hard), undefined, undefined);
        const cells = new Set<number>();
        const plane = s.H * s.W;
        for (let k = 0; k < f.argmax.size && cells.size < 8; k++) {
          const a = f.argmax.data[k];
          if (a < 0) continue;
          const r = Math.floor(k / (s.C * s.PH * s.PW));
          const c = Math.floor(k / (s.PH * s.PW)) % s.C;
          cells.add((Math.trunc(t.batch.rois.data[hard[r] * 5]) * s.C + c) * plane + a);
        }
        const rnd = prng(seed);
        for (let k = 0; k < 4; k++) cells.add(Math.floor(rnd() * s.features.length));
        for (const cell of cells) {
          const withF = (v: number): HeadTensors => {
            const a = [...s.features];
            a[cell] = v;
            return { ...t, batch: { ...t.batch, features: T('float32', [s.N, s.C, s.H, s.W], a) } };
          };
          const vp = Math.fround(s.features[cell] + h);
          const vm = Math.fround(s.features[cell] - h);
          check(`features[${cell}]`, withF(vp), withF(vm), vp - vm, base.features_grad.data[cell]);
        }
      },
    ),
    fcParams(10),
  );
  if (process.env.OHEM_FD_STATS) process.stderr.write(`fd: compared ${compared}, skipped ${skipped}, worst ${worst}\n`);
  assert.ok(compared >= 4 * skipped, `too many coordinates skipped near kinks: ${skipped} skipped, ${compared} compared`);
});

// ============================================================================== permutation

test('permuting the RoIs (with labels, targets, weights, mask rows) permutes hard_inds and roi_loss; losses and gradients are unchanged', () => {
  let tieFree = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      // No jittered duplicates: the tie-free precondition then holds in most cases (ties remain where
      // two RoIs pool the same cells, or dropout silences a RoI's every unit).
      headSpecArb({ dupProb: 0 }).chain((s) =>
        fc.tuple(fc.constant(s), caffeSel(s.R), fc.shuffledSubarray([...Array(s.R).keys()], { minLength: s.R, maxLength: s.R })),
      ),
      ([s, sel, perm]) => {
        runs++;
        const t = tensorsOf(s);
        const r = ok(t, sel);
        // Tie-free: distinct float32-rounded hardness values (then NMS orders and the final ranking
        // never consult the tie rule, which is positional: SPEC §2.2).
        const l32 = Array.from(r.roi_loss.data, Math.fround);
        if (new Set(l32).size !== s.R) return;
        tieFree++;
        const rp = ok(tensorsOf(permuteSpec(s, perm)), sel);
        const inv = new Array<number>(s.R);
        perm.forEach((old, j) => (inv[old] = j));
        assert.deepEqual([...rp.hard_inds.data], Array.from(r.hard_inds.data, (i) => inv[i]), 'hard_inds follow the RoIs');
        // Each RoI's hardness depends on its own row only (docs/mining.md §4 step 2): permuted.
        assertClose(rp.roi_loss.data, perm.map((old) => r.roi_loss.data[old]), 0, 2 ** -20, 'roi_loss permuted');
        // The hard RoIs are the same RoIs in the same order (descending loss, SPEC §2.2 / pitfall 9),
        // with the same rows: the train pass is the same computation.
        assertSameBits(r, rp, 'permuted RoIs', ['loss_cls', 'loss_bbox', ...GRADS]);
      },
    ),
    fcParams(150),
  );
  assert.ok(tieFree >= runs * 0.75, `only ${tieFree} of ${runs} cases were tie-free`);
});

// ============================================================ no NMS, large batch; chunk sizes

test('with use_nms false and batch_size ≥ R every RoI is selected, in descending hardness (ties: index_desc)', () => {
  fc.assert(
    fc.property(headSpecArb(), fc.integer({ min: 0, max: 5 }), (s, extra) => {
      const r = ok(tensorsOf(s), { use_nms: false, batch_size: s.R + extra });
      const h = [...r.hard_inds.data];
      assert.deepEqual([...h].sort((a, b) => a - b), [...Array(s.R).keys()], 'every RoI exactly once');
      const L = r.roi_loss.data;
      for (let k = 0; k + 1 < h.length; k++)
        assert.ok(L[h[k]] > L[h[k + 1]] || (L[h[k]] === L[h[k + 1]] && h[k] > h[k + 1]), `order at ${k}: ${L[h[k]]}@${h[k]}, ${L[h[k + 1]]}@${h[k + 1]}`);
    }),
    fcParams(150),
  );
});

test('chunk_size 1, 3, R or 1000 changes no bit of any output', () => {
  fc.assert(
    fc.property(withSel(), ([s, sel]) => {
      const t = tensorsOf(s);
      const ref = ok(t, sel);
      for (const chunk_size of [1, 3, s.R, 1000]) assertSameBits(ok(t, { ...sel, chunk_size }), ref, `chunk_size ${chunk_size}`);
    }),
    fcParams(60),
  );
});

// ============================================== the selection is ohem_roi_loss + ohem_select

const dialectSel = (s: HeadSpec) =>
  fc.oneof(
    caffeSel(s.R).map((a) => ({ dialect: 'caffe-ohem' as const, ...a })),
    fc.record({
      dialect: fc.constant('mmdet-ohem' as const),
      num: fc.integer({ min: 1, max: s.R + 2 }),
      pos_fraction: fc.constantFrom(0, 0.25, 0.5, 1),
      neg_pos_ub: fc.constantFrom(-1, 0, 1, 3),
    }),
    fc.record({
      dialect: fc.constant('tf-hard-example-miner' as const),
      loss_type: fc.constantFrom<'both' | 'cls' | 'loc'>('both', 'cls', 'loc'),
      num_hard_examples: fc.integer({ min: 0, max: s.R }),
      iou_threshold: fc.constantFrom(0.7, 0.5, 0.3),
      max_negatives_per_positive: fc.constantFrom(null, 0, 1, 3),
      min_negatives_per_image: fc.integer({ min: 0, max: 2 }),
    }),
    fc.record({ dialect: fc.constant('ssd-hard-negative' as const), neg_pos_ratio: fc.constantFrom(0, 1, 3, 0.5) }),
  );

test('hard_inds = selectHard(roiLoss(read-only forward)), the read-only forward composed from the public ops with the readonly masks', () => {
  fc.assert(
    fc.property(
      headSpecArb({ mixedLabels: true }).chain((s) => fc.tuple(fc.constant(s), dialectSel(s))),
      ([s, sel]) => {
        const t = tensorsOf(s);
        const ro = readonlyForwardOps(t);
        const h = right(
          roiLoss({
            cls_prob: ro.prob,
            labels: t.batch.labels,
            bbox_pred: ro.bbox,
            bbox_targets: t.batch.bbox_targets,
            bbox_inside_weights: t.batch.bbox_inside_weights,
            bbox_outside_weights: t.batch.bbox_outside_weights,
          }),
          'roiLoss',
        );
        const want = right(selectHard({ loss: h.loss, rois: t.batch.rois, labels: t.batch.labels, cls_loss: h.cls_loss, bbox_loss: h.bbox_loss }, sel), 'selectHard');
        const r = run(t, sel);
        if (want.hard_inds.size === 0) {
          // A dialect that picks nothing (e.g. no negatives allowed and no positives wanted) cannot train.
          leftNaming(r, 'labels');
          return;
        }
        const got = right(r, 'ohemStep');
        assertBitEqual(got.roi_loss.data, h.loss.data, 'roi_loss');
        assertBitEqual(got.cls_loss.data, h.cls_loss.data, 'cls_loss');
        assertBitEqual(got.bbox_loss.data, h.bbox_loss.data, 'bbox_loss');
        assert.deepEqual([...got.hard_inds.data], [...want.hard_inds.data], 'hard_inds');
        assert.equal(got.hard_inds.dtype, 'int32');
      },
    ),
    fcParams(150),
  );
});

// ======================================================================================= masks

test('masks from a seed: the same seed gives the same bits; the seed path equals the explicit masks drawMasks gives; different seeds differ', () => {
  let moved = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      headSpecArb({ dropout: 'half' }).chain((s) => fc.tuple(fc.constant(s), caffeSel(s.R))),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 1, max: 2 ** 20 }),
      ([s, sel], seed, delta) => {
        runs++;
        const t = tensorsOf(s);
        const a = ok(t, sel, { seed });
        assertSameBits(ok(t, sel, { seed }), a, 'same seed');
        const m = right(drawMasks(seed, s.R, s.H6, s.H7, 0.5), 'drawMasks');
        for (const name of MASKS) {
          assert.deepEqual(m[name].shape, maskShape(s, name));
          assert.ok(m[name].data.every((v) => v === 0 || v === 1), `${name} is 0/1`);
        }
        assertSameBits(ok(t, sel, m as StepMasks), a, 'seed vs its explicit masks');
        const m2 = right(drawMasks(seed + delta, s.R, s.H6, s.H7, 0.5), 'drawMasks');
        const differs = (x: Tensor, y: Tensor) => x.data.some((v, i) => v !== y.data[i]);
        // R·H6 ≥ 12 fair bits: equal by chance with probability ≤ 2^-12 per mask, and both at once 2^-24.
        assert.ok(differs(m.readonly_mask6, m2.readonly_mask6) || differs(m.readonly_mask7, m2.readonly_mask7), 'different seeds, same readonly masks');
        // The readonly and train masks are independent streams, not copies (≥ 24 bits each way).
        assert.ok(differs(m.readonly_mask6, m.train_mask6) || differs(m.readonly_mask7, m.train_mask7), 'the train masks copy the readonly masks');
        const b = ok(t, sel, { seed: seed + delta });
        if (b.roi_loss.data.some((v, i) => v !== a.roi_loss.data[i])) moved++;
      },
    ),
    fcParams(100),
  );
  assert.ok(moved >= runs * 0.9, `another seed changed the hardness in only ${moved} of ${runs} runs`);
});

test('dropout masks are indexed by RoI: readonly row i acts on roi_loss[i] alone; train rows of unselected RoIs change nothing', () => {
  fc.assert(
    fc.property(
      headSpecArb({ dropout: 'half' }).chain((s) => fc.tuple(fc.constant(s), caffeSel(s.R), fc.integer({ min: 0, max: s.R - 1 }))),
      ([s, sel, i]) => {
        const t = tensorsOf(s);
        const r = ok(t, sel);
        // Flip every bit of readonly row i (both masks).
        const flipRow = (m: number[], w: number, row: number) => m.map((v, k) => (Math.floor(k / w) === row ? 1 - v : v));
        const m1 = { ...s.masks!, readonly_mask6: flipRow(s.masks!.readonly_mask6, s.H6, i), readonly_mask7: flipRow(s.masks!.readonly_mask7, s.H7, i) };
        const r1 = ok(tensorsOf({ ...s, masks: m1 }), sel);
        for (let j = 0; j < s.R; j++) if (j !== i) assert.ok(Object.is(r1.roi_loss.data[j], r.roi_loss.data[j]), `roi_loss[${j}] moved when row ${i} changed`);
        // Flip every train row of RoIs not selected.
        const hard = new Set(r.hard_inds.data);
        const flipUnselected = (m: number[], w: number) => m.map((v, k) => (hard.has(Math.floor(k / w)) ? v : 1 - v));
        const m2 = { ...s.masks!, train_mask6: flipUnselected(s.masks!.train_mask6, s.H6), train_mask7: flipUnselected(s.masks!.train_mask7, s.H7) };
        assertSameBits(ok(tensorsOf({ ...s, masks: m2 }), sel), r, 'train rows of unselected RoIs flipped');
        // And the selected RoIs' rows are the ones used: with those rows flipped the step is still
        // the plain loss with rows hard_inds of the (new) train masks.
        const m3 = { ...s.masks!, train_mask7: s.masks!.train_mask7.map((v, k) => (hard.has(Math.floor(k / s.H7)) ? 1 - v : v)) };
        const t3 = tensorsOf({ ...s, masks: m3 });
        assertIsPlainLoss(ok(t3, sel), t3, {}, 'flipped selected train rows');
      },
    ),
    fcParams(100),
  );
});

// ===================================================================== selection invariants

test('caffe-ohem: every kept but unselected RoI is no harder than the easiest selected; no two selected RoIs of a group suppress each other', () => {
  fc.assert(
    fc.property(withSel({ dupProb: 0.5 }), ([s, sel]) => {
      const t = tensorsOf(s);
      const useNms = sel.use_nms ?? true;
      const thr = sel.nms_threshold ?? 0.7;
      const r = ok(t, sel);
      const L = r.roi_loss.data;
      const hard = [...r.hard_inds.data];
      const box = (i: number) => s.rois.slice(i * 5 + 1, i * 5 + 5);
      // The keep list of SPEC §2.1: NMS per (image, label) on float32-rounded losses.
      let keep: number[] = [...Array(s.R).keys()];
      if (useNms) {
        keep = [];
        const imgs = [...new Set(Array.from({ length: s.R }, (_, i) => s.rois[i * 5]))].sort((a, b) => a - b);
        const labs = [...new Set(s.labels)].sort((a, b) => a - b);
        for (const g of imgs)
          for (const c of labs) {
            const S = [...Array(s.R).keys()].filter((i) => s.rois[i * 5] === g && s.labels[i] === c);
            if (S.length === 0) continue;
            const k = right(
              nms(
                { boxes: T('float32', [S.length, 4], S.flatMap(box)), scores: T('float32', [S.length], S.map((i) => L[i])) },
                { threshold: thr, ties: sel.ties ?? 'index_desc' },
              ),
            ).keep;
            for (const p of k.data) keep.push(S[p]);
          }
      }
      const keepSet = new Set(keep);
      assert.equal(hard.length, Math.min(keep.length, sel.batch_size), 'B = min(|keep|, batch_size)');
      for (const i of hard) assert.ok(keepSet.has(i), `selected RoI ${i} was suppressed`);
      const minSel = Math.min(...hard.map((i) => L[i]));
      const hardSet = new Set(hard);
      for (const i of keep) if (!hardSet.has(i)) assert.ok(L[i] <= minSel, `kept RoI ${i} (loss ${L[i]}) left out while ${minSel} was selected`);
      if (useNms) {
        const t32 = Math.fround(thr);
        for (const a of hard)
          for (const b of hard)
            if (a < b && s.rois[a * 5] === s.rois[b * 5] && s.labels[a] === s.labels[b])
              assert.ok(!(iouPlus1(box(a), box(b)) > t32), `selected RoIs ${a} and ${b} overlap with IoU ${iouPlus1(box(a), box(b))} > ${thr}`);
      }
    }),
    fcParams(200),
  );
});

// ================================================================================= dialects

test('dialects through ohemStep: mmdet, tf and ssd quotas hold on hard_inds, and the gradients are the plain loss over them', () => {
  const seen = { 'mmdet-ohem': 0, 'tf-hard-example-miner': 0, 'ssd-hard-negative': 0, 'caffe-ohem': 0 };
  fc.assert(
    fc.property(
      headSpecArb({ mixedLabels: true, dupProb: 0.4 }).chain((s) => fc.tuple(fc.constant(s), dialectSel(s))),
      ([s, sel]) => {
        const t = tensorsOf(s);
        const res = run(t, sel);
        if (res._tag === 'Left') {
          leftNaming(res, 'labels'); // only an empty selection may refuse a legal batch
          return;
        }
        const r = res.right;
        seen[sel.dialect]++;
        const hard = [...r.hard_inds.data];
        const cls = r.cls_loss.data;
        const pos = (i: number) => s.labels[i] > 0;
        const img = (i: number) => Math.trunc(s.rois[i * 5]);
        const isTop = (chosen: number[], pool: number[], v: ArrayLike<number>, what: string) => {
          const min = Math.min(...chosen.map((i) => v[i]));
          for (const i of pool) if (!chosen.includes(i)) assert.ok(v[i] <= min, `${what}: ${i} (${v[i]}) left out, ${min} chosen`);
        };
        const ascending = (xs: number[], what: string) => xs.forEach((v, k) => k === 0 || assert.ok(xs[k - 1] < v, `${what} not ascending`));
        assert.equal(new Set(hard).size, hard.length, 'no RoI twice');
        if (sel.dialect === 'mmdet-ohem') {
          // docs/mining.md §2 mmdet-ohem.
          const P = [...Array(s.R).keys()].filter(pos);
          const N = [...Array(s.R).keys()].filter((i) => !pos(i));
          const takePos = Math.min(P.length, Math.floor(sel.num * sel.pos_fraction));
          let expNeg = sel.num - takePos;
          if (sel.neg_pos_ub >= 0) expNeg = Math.min(expNeg, Math.floor(sel.neg_pos_ub * Math.max(1, takePos)));
          const takeNeg = Math.min(N.length, expNeg);
          const hp = hard.filter(pos);
          const hn = hard.filter((i) => !pos(i));
          assert.equal(hp.length, takePos, 'positives quota');
          assert.equal(hn.length, takeNeg, 'negatives quota');
          assert.deepEqual(hard, [...hp, ...hn], 'positives first');
          ascending(hp, 'positives');
          ascending(hn, 'negatives');
          isTop(hp, P, cls, 'positives by cls_loss');
          isTop(hn, N, cls, 'negatives by cls_loss');
        } else if (sel.dialect === 'tf-hard-example-miner') {
          const imgs = hard.map(img);
          imgs.forEach((g, k) => k === 0 || assert.ok(imgs[k - 1] <= g, 'images ascending'));
          const score = (i: number) =>
            sel.loss_type === 'cls' ? cls[i] : sel.loss_type === 'loc' ? r.bbox_loss.data[i] : cls[i] * 0.05 + r.bbox_loss.data[i] * 0.06;
          for (const g of new Set(imgs)) {
            const mine = hard.filter((i) => img(i) === g);
            if (sel.num_hard_examples > 0) assert.ok(mine.length <= sel.num_hard_examples, 'num_hard_examples per image');
            mine.forEach((i, k) => k === 0 || assert.ok(Math.fround(score(mine[k - 1])) >= Math.fround(score(i)), 'NMS order: descending loss'));
            for (const a of mine)
              for (const b of mine)
                if (a < b) {
                  const iou = iouPlus1(s.rois.slice(a * 5 + 1, a * 5 + 5), s.rois.slice(b * 5 + 1, b * 5 + 5), 0);
                  assert.ok(!(iou > Math.fround(sel.iou_threshold)), `selected ${a}, ${b} overlap ${iou}`);
                }
            if (sel.max_negatives_per_positive !== null) {
              const P = mine.filter(pos).length;
              const maxNeg = Math.max(sel.min_negatives_per_image, Math.floor(sel.max_negatives_per_positive * P));
              assert.ok(mine.length - P <= maxNeg, `negatives ${mine.length - P} > ${maxNeg}`);
            }
          }
        } else if (sel.dialect === 'ssd-hard-negative') {
          // Per image in ascending order: every positive, min(⌊ratio·P⌋, |N|) hardest negatives,
          // the image's indices ascending (docs/mining.md §2 ssd-hard-negative).
          const expected: number[] = [];
          for (const g of [...new Set(Array.from({ length: s.R }, (_, i) => img(i)))].sort((a, b) => a - b)) {
            const all = [...Array(s.R).keys()].filter((i) => img(i) === g);
            const P = all.filter(pos);
            const N = all.filter((i) => !pos(i));
            const mine = hard.filter((i) => img(i) === g);
            if (P.length === 0) {
              assert.equal(mine.length, 0, 'an image without positives contributes nothing');
              continue;
            }
            assert.deepEqual(mine.filter(pos), P, 'every positive');
            const hn = mine.filter((i) => !pos(i));
            assert.equal(hn.length, Math.min(Math.floor(sel.neg_pos_ratio * P.length), N.length), 'negatives = min(⌊ratio·P⌋, |N|)');
            isTop(hn, N, cls, 'negatives by cls_loss');
            ascending(mine, 'image indices');
            expected.push(...mine);
          }
          assert.deepEqual(hard, expected, 'images in ascending order, each image’s RoIs together');
        }
        assertIsPlainLoss(r, t, {}, sel.dialect);
      },
    ),
    fcParams(200),
  );
  for (const [d, n] of Object.entries(seen)) assert.ok(n >= 15, `dialect ${d} ran only ${n} times`);
});

// ================================================================================ bad input

type Mutation = { name: string; apply: (s: HeadSpec, rnd: () => number) => { cfg?: StepConfig; t: HeadTensors | ((t: HeadTensors) => HeadTensors); expect: string } };

const pick = <A>(xs: readonly A[], rnd: () => number): A => xs[Math.floor(rnd() * xs.length)];

const MUTATIONS: Mutation[] = [
  {
    name: 'label outside [0, K)',
    apply: (s, rnd) => {
      const labels = [...s.labels];
      labels[Math.floor(rnd() * s.R)] = rnd() < 0.5 ? s.K + Math.floor(rnd() * 3) : -1;
      return { t: tensorsOf({ ...s, labels }), expect: 'labels' };
    },
  },
  {
    name: 'fractional label',
    apply: (s, rnd) => {
      const labels = [...s.labels];
      labels[Math.floor(rnd() * s.R)] = 0.5;
      return { t: tensorsOf({ ...s, labels }), expect: 'labels' };
    },
  },
  {
    name: 'batch index beyond the images',
    apply: (s, rnd) => {
      const rois = [...s.rois];
      rois[Math.floor(rnd() * s.R) * 5] = s.N + Math.floor(rnd() * 2) + (rnd() < 0.5 ? 0.5 : 0);
      return { t: tensorsOf({ ...s, rois }), expect: 'rois' };
    },
  },
  {
    name: 'negative batch index',
    apply: (s, rnd) => {
      const rois = [...s.rois];
      rois[Math.floor(rnd() * s.R) * 5] = -1;
      return { t: tensorsOf({ ...s, rois }), expect: 'rois' };
    },
  },
  {
    name: 'NaN in rois',
    apply: (s, rnd) => {
      const rois = [...s.rois];
      rois[Math.floor(rnd() * rois.length)] = NaN;
      return { t: tensorsOf({ ...s, rois }), expect: 'rois' };
    },
  },
  {
    name: 'mask of the wrong shape',
    apply: (s, rnd) => {
      const m = pick(MASKS, rnd);
      const [R, H] = maskShape(s, m);
      const shape = rnd() < 0.5 ? [R, H + 1] : rnd() < 0.5 ? [R + 1, H] : [R * H];
      const n = shape.reduce((a, b) => a * b, 1);
      return { t: (t) => ({ ...t, masks: { ...t.masks!, [m]: T('float32', shape, Array.from({ length: n }, () => 1)) } }), expect: m };
    },
  },
  {
    name: 'mask value not 0/1',
    apply: (s, rnd) => {
      const m = pick(MASKS, rnd);
      const data = [...s.masks![m]];
      data[Math.floor(rnd() * data.length)] = pick([2, 0.5, -1, NaN], rnd);
      return { t: (t) => ({ ...t, masks: { ...t.masks!, [m]: T('float32', maskShape(s, m), data) } }), expect: m };
    },
  },
  {
    name: 'missing mask with dropout_ratio > 0',
    apply: (s, rnd) => {
      const m = pick(MASKS, rnd);
      return {
        t: (t) => {
          const masks = { ...t.masks! } as Partial<Record<string, Tensor>>;
          delete masks[m];
          return { ...t, masks: masks as never };
        },
        expect: m,
      };
    },
  },
  {
    name: 'bias of the wrong length',
    apply: (s, rnd) => {
      const p = pick(['fc6_b', 'fc7_b', 'cls_score_b', 'bbox_pred_b'] as const, rnd);
      const n = paramShape(s, p)[0] + (rnd() < 0.5 ? 1 : -1);
      return { t: (t) => ({ ...t, params: { ...t.params, [p]: T('float32', [n], Array(n).fill(0.1)) } }), expect: p };
    },
  },
  {
    name: 'weight with the wrong input width',
    apply: (s, rnd) => {
      const p = pick(['fc7_w', 'cls_score_w', 'bbox_pred_w'] as const, rnd);
      const [M, K] = paramShape(s, p);
      return { t: (t) => ({ ...t, params: { ...t.params, [p]: T('float32', [M, K + 1], Array(M * (K + 1)).fill(0.1)) } }), expect: p };
    },
  },
  {
    name: 'parameter of the wrong rank',
    apply: (s, rnd) => {
      const p = pick(PARAMS, rnd);
      const shape = [...paramShape(s, p), 1];
      const n = shape.reduce((a, b) => a * b, 1);
      return { t: (t) => ({ ...t, params: { ...t.params, [p]: T('float32', shape, Array(n).fill(0.1)) } }), expect: p };
    },
  },
  {
    name: 'missing parameter',
    apply: (s, rnd) => {
      const p = pick(PARAMS, rnd);
      return {
        t: (t) => {
          const params = { ...t.params } as Partial<Record<PName, Tensor>>;
          delete params[p];
          return { ...t, params: params as never };
        },
        expect: p,
      };
    },
  },
  {
    name: 'NaN in a parameter',
    apply: (s, rnd) => {
      const p = pick(PARAMS, rnd);
      const v = [...s.params[p]];
      v[Math.floor(rnd() * v.length)] = pick([NaN, Infinity, -Infinity], rnd);
      return { t: (t) => ({ ...t, params: { ...t.params, [p]: T('float32', paramShape(s, p), v) } }), expect: p };
    },
  },
  {
    name: 'fc6_w columns ≠ C·PH·PW (wrong fc6_w)',
    apply: (s, rnd) => {
      const [M, K] = paramShape(s, 'fc6_w');
      const K2 = K + (rnd() < 0.5 ? 1 : -1);
      return { t: (t) => ({ ...t, params: { ...t.params, fc6_w: T('float32', [M, K2], Array(M * K2).fill(0.1)) } }), expect: 'fc6_w' };
    },
  },
  {
    name: 'fc6_w columns ≠ C·PH·PW (pooled size changed)',
    apply: (s, rnd) => ({ cfg: rnd() < 0.5 ? { pooled_h: s.PH + 1 } : { pooled_w: s.PW === 2 ? 3 : 2 }, t: tensorsOf(s), expect: 'fc6_w' }),
  },
  {
    name: 'bbox_pred_w rows ≠ 4K',
    apply: (s, rnd) => {
      const D = 4 * s.K + pick([-4, -1, 1, 4], rnd);
      return {
        t: (t) => ({
          ...t,
          params: { ...t.params, bbox_pred_w: T('float32', [D, s.H7], Array(D * s.H7).fill(0.1)), bbox_pred_b: T('float32', [D], Array(D).fill(0)) },
        }),
        expect: 'bbox_pred_w',
      };
    },
  },
  {
    name: 'regression targets of the wrong shape',
    apply: (s, rnd) => {
      const b = pick(['bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'] as const, rnd);
      const shape = rnd() < 0.5 ? [s.R, 4 * s.K + 1] : [s.R + 1, 4 * s.K];
      return { t: (t) => ({ ...t, batch: { ...t.batch, [b]: T('float32', shape, Array(shape[0] * shape[1]).fill(0)) } }), expect: b };
    },
  },
  {
    name: 'labels of the wrong length',
    apply: (s) => ({ t: (t) => ({ ...t, batch: { ...t.batch, labels: T('float32', [s.R + 1], [...s.labels, 0]) } }), expect: 'labels' }),
  },
  {
    name: 'features of the wrong rank',
    apply: (s) => ({ t: (t) => ({ ...t, batch: { ...t.batch, features: T('float32', [s.N * s.C, s.H, s.W], s.features) } }), expect: 'features' }),
  },
  { name: 'batch_size ≤ 0', apply: (s, rnd) => ({ cfg: { batch_size: pick([0, -1, -64], rnd) }, t: tensorsOf(s), expect: 'attrs.batch_size' }) },
  { name: 'non-integer batch_size', apply: (s) => ({ cfg: { batch_size: 1.5 }, t: tensorsOf(s), expect: 'attrs.batch_size' }) },
  { name: 'unknown dialect', apply: (s, rnd) => ({ cfg: { dialect: pick(['ohem', 'mmdet', '', 'CAFFE-OHEM'], rnd) as never }, t: tensorsOf(s), expect: 'attrs.dialect' }) },
  { name: 'dropout_ratio outside [0, 1)', apply: (s, rnd) => ({ cfg: { dropout_ratio: pick([1, -0.1, 2, NaN], rnd) }, t: tensorsOf(s), expect: 'attrs.dropout_ratio' }) },
  { name: 'pooled_h 0', apply: (s) => ({ cfg: { pooled_h: 0 }, t: tensorsOf(s), expect: 'attrs.pooled_h' }) },
  { name: 'eps ≤ 0', apply: (s, rnd) => ({ cfg: { eps: pick([0, -1], rnd) }, t: tensorsOf(s), expect: 'attrs.eps' }) },
  { name: 'unknown normalization', apply: (s) => ({ cfg: { normalization: 'mean' as never }, t: tensorsOf(s), expect: 'attrs.normalization' }) },
  { name: 'nms_threshold outside [0, 1]', apply: (s, rnd) => ({ cfg: { nms_threshold: pick([1.5, -0.2], rnd) }, t: tensorsOf(s), expect: 'attrs.nms_threshold' }) },
  { name: 'sigma ≤ 0', apply: (s, rnd) => ({ cfg: { sigma: pick([0, -1], rnd) }, t: tensorsOf(s), expect: 'attrs.sigma' }) },
  { name: 'spatial_scale ≤ 0', apply: (s, rnd) => ({ cfg: { spatial_scale: pick([0, -0.0625], rnd) }, t: tensorsOf(s), expect: 'attrs.spatial_scale' }) },
];

test('bad input (generated): a Left naming the input, never a throw', () => {
  const hits = new Map<string, number>();
  fc.assert(
    fc.property(headSpecArb({ dropout: 'half' }), fc.constantFrom(...MUTATIONS), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (s, mut, seed) => {
      const m = mut.apply(s, prng(seed));
      const t = typeof m.t === 'function' ? m.t(tensorsOf(s)) : m.t;
      const r = noThrow(() => ohemStep({ ...t.headAttrs, ...m.cfg })(t.params, t.batch, t.masks), mut.name);
      leftNaming(r, m.expect);
      hits.set(mut.name, (hits.get(mut.name) ?? 0) + 1);
    }),
    fcParams(400),
  );
  for (const m of MUTATIONS) assert.ok((hits.get(m.name) ?? 0) >= 3, `mutation "${m.name}" ran ${hits.get(m.name) ?? 0} times`);
});

test('bad input (fixed): missing masks, a bad seed, junk in place of the batch, non-finite features — Lefts naming the input', () => {
  const s = fc.sample(headSpecArb({ dropout: 'half' }), { numRuns: 1, seed: 7 })[0];
  const t = tensorsOf(s);
  const step = ohemStep(t.headAttrs);
  leftNaming(noThrow(() => step(t.params, t.batch)), 'readonly_mask6');
  leftNaming(noThrow(() => step(t.params, t.batch, {} as never)), 'readonly_mask6');
  leftNaming(noThrow(() => step(t.params, t.batch, { seed: -1 })), 'masks.seed');
  leftNaming(noThrow(() => step(t.params, t.batch, { seed: 0.5 })), 'masks.seed');
  leftNaming(noThrow(() => step(t.params, undefined as never, t.masks)), 'features');
  leftNaming(noThrow(() => step(t.params, { ...t.batch, rois: s.rois as never }, t.masks)), 'rois');
  leftNaming(noThrow(() => step(t.params, { ...t.batch, labels: T('int32', [s.R], s.labels.map(() => s.K)) }, t.masks)), 'labels');
  // A float64 mask is accepted as the 0/1 values it holds; an int32 one too.
  const m64 = Object.fromEntries(MASKS.map((m) => [m, T('float64', maskShape(s, m), s.masks![m])]));
  assertSameBits(right(step(t.params, t.batch, m64 as never)), right(step(t.params, t.batch, t.masks)), 'float64 masks');
});

test('non-finite features that reach the head give a Left naming features (not a parameter), never a throw', () => {
  fc.assert(
    fc.property(headSpecArb(), fc.constantFrom(Infinity, -Infinity, NaN), (s, v) => {
      const t = tensorsOf(s);
      // Every cell non-finite: every RoI pools it (or −FLT_MAX for NaN, which overflows fc6).
      const features = s.features.map(() => v);
      const r = noThrow(() => ohemStep(t.headAttrs)(t.params, { ...t.batch, features: T('float32', [s.N, s.C, s.H, s.W], features) }, t.masks));
      if (r._tag === 'Right') {
        // A Right is acceptable only if it is honest: finite losses (SPEC leaves non-finite features open).
        assert.ok(Number.isFinite(r.right.loss_cls.data[0]) && Number.isFinite(r.right.loss_bbox.data[0]), 'a Right with non-finite losses');
        return;
      }
      leftNaming(r, 'features');
    }),
    fcParams(30),
  );
});

// =================================================================================== purity

test('ohemStep changes none of its arguments (explicit masks, seeded masks, every dialect)', () => {
  fc.assert(
    fc.property(
      headSpecArb({ mixedLabels: true }).chain((s) => fc.tuple(fc.constant(s), dialectSel(s))),
      fc.boolean(),
      ([s, sel], seeded) => {
        const t = tensorsOf(s);
        const masks: StepMasks | undefined = seeded ? { seed: 12345 } : t.masks;
        const frozenCfg = Object.freeze({ ...t.headAttrs, ...sel });
        const r = assertPure(allTensors(t), () => ohemStep(frozenCfg)(Object.freeze({ ...t.params }), Object.freeze({ ...t.batch }), masks && Object.freeze({ ...masks })));
        // Deterministic: a second call on the same arguments gives the same bits (no hidden state).
        if (r._tag === 'Right') assertSameBits(right(ohemStep(frozenCfg)(t.params, t.batch, masks)), r.right, 'second call');
      },
    ),
    fcParams(100),
  );
});
