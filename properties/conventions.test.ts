/**
 * The reference's conventions (docs/protocol.md "Conventions"): attrs of the reference alone that
 * switch a choice the original makes silently to what another library does. Each is held to the
 * other library's documented semantics, worked by hand or written out independently here; the
 * default of each is the original's (the rest of the suite holds the defaults to SPEC).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { softmaxCE } from '../src/ops/losses.js';
import { sgdUpdate } from '../src/ops/sgd.js';
import { dropout, dropoutBackward } from '../src/ops/activations.js';
import { nms } from '../src/ops/nms.js';
import { selectHard } from '../src/mining/select.js';
import { REGISTRY } from '../src/mining/registry.js';
import { validateAttrs, completeAttrs, schemaOf } from '../src/ops/index.js';
import { profileProblems, PROFILES } from '../src/protocol/profiles.js';
import { handleRequest } from '../src/protocol/server.js';
import { T, right, fcParams, f32 } from './support.js';

test('every def\'s conventions: an enum whose default is the original\'s, a phrase per value; never in golden requests, listed by describe', () => {
  let n = 0;
  for (const d of REGISTRY.defs)
    for (const c of d.conventions ?? []) {
      n++;
      assert.equal(c.domain.kind, 'enum', `${d.name}.${c.name}`);
      const values = (c.domain as { values: readonly string[] }).values;
      assert.equal(values[0], c.default, `${d.name}.${c.name}: the original's value comes first and is the default`);
      for (const v of values) assert.ok(c.means?.[v], `${d.name}.${c.name} = ${v} needs a phrase for attribution`);
      assert.ok(!d.attrs.some((a) => a.name === c.name), `${d.name}.${c.name} is not also a protocol attr`);
      // the reference accepts it and fills its default; golden's complete attrs leave it out
      const required = Object.fromEntries(
        d.attrs.filter((a) => a.default === undefined).map((a) => [a.name, a.domain.kind === 'shape' ? new Array(a.domain.rank).fill(1) : ((a.domain as { min?: number }).min ?? 0) + 1]),
      );
      assert.equal(right(validateAttrs(d, required))[c.name], c.default);
      assert.ok(!(c.name in completeAttrs(d, {})), `${d.name}.${c.name} must not appear in a golden request`);
      assert.ok((schemaOf(d) as { conventions?: { name: string }[] }).conventions?.some((x) => x.name === c.name));
    }
  assert.ok(n >= 4, `${n} conventions`);
  assert.deepEqual(profileProblems(), []);
  assert.equal(PROFILES[0].name, 'caffe');
  assert.deepEqual(PROFILES[0].conventions, {});
});

test('softmax_loss clamp = log_softmax: −(x_y − max − ln Σ e^(x − max)) unclamped (torch cross_entropy): [−80, 0, 80] label 0 costs 160, Caffe 87.3365', () => {
  const scores = T('float32', [1, 3], [-80, 0, 80]);
  const labels = T('float32', [1], [0]);
  const caffe = right(softmaxCE({ scores, labels }));
  const torch = right(softmaxCE({ scores, labels }, { clamp: 'log_softmax' }));
  assert.equal(caffe.loss.data[0], Math.fround(-Math.log(1.17549435e-38)));
  // ln(e^0 + e^-80 + e^-160) = ln(1 + 1.8e-35) = 1.8e-35 in double: the loss is 160 + that, 160 in float32.
  assert.equal(torch.loss.data[0], 160);
  // the gradient is the same (Caffe's uses the unclamped p too)
  assert.deepEqual(Array.from(torch.scores_grad.data), Array.from(caffe.scores_grad.data));
});

test('softmax_loss clamp = log_softmax agrees with −ln p wherever p is far from the clamp', () => {
  fc.assert(
    fc.property(fc.array(f32(-8, 8), { minLength: 2, maxLength: 6 }), fc.nat(), (xs, l) => {
      const K = xs.length;
      const y = l % K;
      const args = { scores: T('float32', [1, K], xs), labels: T('float32', [1], [y]) };
      const a = right(softmaxCE(args)).loss.data[0];
      const b = right(softmaxCE(args, { clamp: 'log_softmax' })).loss.data[0];
      // both ≈ −ln softmax(x)_y; Caffe's goes through the float32 p (≤ 8u relative)
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
    }),
    fcParams(),
  );
});

test('softmax_loss empty_normalizer = nan: every label ignored gives loss NaN (torch mean over no rows) and zero gradients; Caffe floors at 1: loss 0', () => {
  const args = { scores: T('float32', [2, 2], [1, 2, 3, 4]), labels: T('float32', [2], [-1, -1]) };
  const caffe = right(softmaxCE(args, { ignore_label: -1 }));
  const torch = right(softmaxCE(args, { ignore_label: -1, empty_normalizer: 'nan' }));
  assert.equal(caffe.loss.data[0], 0);
  assert.ok(Number.isNaN(torch.loss.data[0]));
  assert.deepEqual(Array.from(torch.scores_grad.data), [0, 0, 0, 0]);
  // with a valid row the two agree
  const one = { scores: args.scores, labels: T('float32', [2], [1, -1]) };
  assert.equal(right(softmaxCE(one, { ignore_label: -1, empty_normalizer: 'nan' })).loss.data[0], right(softmaxCE(one, { ignore_label: -1 })).loss.data[0]);
});

test('sgd_update momentum_rule = torch: v = m·v + (g + λθ), θ −= η·v; momentum 0 leaves v untouched (torch.optim.SGD, dampening 0)', () => {
  const one = (v: number) => T('float32', [1], [v]);
  // θ = 1, g = 1, v = 0.5, lr 0.5, momentum 0.5, no decay: torch v = 0.25 + 1 = 1.25, θ = 1 − 0.625 = 0.375.
  const t = right(sgdUpdate({ param: one(1), grad: one(1), history: one(0.5) }, { lr: 0.5, momentum: 0.5, weight_decay: 0, momentum_rule: 'torch' }));
  assert.deepEqual([t.param.data[0], t.history.data[0]], [0.375, 1.25]);
  // Caffe: v = 0.25 + 0.5 = 0.75, θ = 0.25.
  const c = right(sgdUpdate({ param: one(1), grad: one(1), history: one(0.5) }, { lr: 0.5, momentum: 0.5, weight_decay: 0 }));
  assert.deepEqual([c.param.data[0], c.history.data[0]], [0.25, 0.75]);
  // momentum 0: torch keeps no buffer (v stays what it was), θ −= η·(g + λθ) = 1 − 0.5·(1 + 0.5) = 0.25
  const z = right(sgdUpdate({ param: one(1), grad: one(1), history: one(0.125) }, { lr: 0.5, momentum: 0, weight_decay: 0.5, momentum_rule: 'torch' }));
  assert.deepEqual([z.param.data[0], z.history.data[0]], [0.25, 0.125]);
});

test('sgd_update momentum_rule = torch equals PyTorch\'s SGD written out in float64, to float32 rounding', () => {
  fc.assert(
    fc.property(f32(-4, 4), f32(-4, 4), f32(-1, 1), fc.constantFrom(0, 0.5, 0.9), fc.constantFrom(0, 0.0005, 0.01), fc.constantFrom(0.001, 0.1), (th, g, v, m, wd, lr) => {
      const o = right(sgdUpdate({ param: T('float32', [1], [th]), grad: T('float32', [1], [g]), history: T('float32', [1], [v]) }, { lr, momentum: m, weight_decay: wd, momentum_rule: 'torch' }));
      const d = g + Math.fround(wd) * th;
      const buf = m === 0 ? v : Math.fround(m) * v + d;
      const theta = th - Math.fround(lr) * (m === 0 ? d : buf);
      assert.ok(Math.abs(o.history.data[0] - buf) <= 4e-7 * (1 + Math.abs(buf)), `v ${o.history.data[0]} vs ${buf}`);
      assert.ok(Math.abs(o.param.data[0] - theta) <= 4e-7 * (1 + Math.abs(theta)), `θ ${o.param.data[0]} vs ${theta}`);
    }),
    fcParams(),
  );
});

test('dropout ratio_precision = float64: the scale of 0.6 is 2.5 (1/(1 − 0.6) in double), Caffe\'s 2.5000002 (fl32(0.6) > 0.6)', () => {
  const x = T('float32', [1], [1]);
  const mask = T('float32', [1], [1]);
  assert.equal(right(dropout({ x, mask }, { ratio: 0.6 })).y.data[0], Math.fround(1 / (1 - Math.fround(0.6))));
  assert.notEqual(Math.fround(1 / (1 - Math.fround(0.6))), 2.5);
  assert.equal(right(dropout({ x, mask }, { ratio: 0.6, ratio_precision: 'float64' })).y.data[0], 2.5);
  assert.equal(right(dropoutBackward({ dy: x, mask }, { ratio: 0.6, ratio_precision: 'float64' })).dx.data[0], 2.5);
});

test('nms threshold_cast = double: IoU exactly 0.5 against threshold 0.5 − 2⁻²⁷ (fl32: 0.5) is kept by the GPU NMS, suppressed by torchvision (float IoU > double threshold)', () => {
  // continuous boxes [0,0,2,2] (area 4) and [0,0,2,1] (area 2): inter 2, union 4 + 2 − 2 = 4, IoU 0.5 exactly
  const boxes = T('float32', [2, 4], [0, 0, 2, 2, 0, 0, 2, 1]);
  const scores = T('float32', [2], [0.9, 0.8]);
  const threshold = 0.5 - 2 ** -27;
  assert.equal(Math.fround(threshold), 0.5);
  const attrs = { threshold, box_convention: 'continuous' } as const;
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, attrs)).keep.data), [0, 1]);
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, { ...attrs, threshold_cast: 'double' })).keep.data), [0]);
  // suppress ge already compares with the double: the convention changes nothing there
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, { ...attrs, suppress: 'ge' })).keep.data), [0]);
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, { ...attrs, suppress: 'ge', threshold_cast: 'double' })).keep.data), [0]);
});

test('ohem_select ssd negatives = rank: 3 positives at neg_pos_ratio 0.5 take ⌈1.5⌉ = 2 negatives (torchvision: idx_rank < 1.5), Caffe SSD ⌊1.5⌋ = 1', () => {
  const inputs = {
    rois: T('float32', [5, 5], new Array(25).fill(0)),
    labels: T('float32', [5], [1, 0, 0, 1, 1]),
    loss: T('float64', [5], [0, 0, 0, 0, 0]),
    cls_loss: T('float64', [5], [0.1, 0.9, 0.8, 0.2, 0.3]),
  };
  const attrs = { dialect: 'ssd-hard-negative', neg_pos_ratio: 0.5 } as const;
  assert.deepEqual(Array.from(right(selectHard(inputs, attrs)).hard_inds.data), [0, 1, 3, 4]);
  assert.deepEqual(Array.from(right(selectHard(inputs, { ...attrs, negatives: 'rank' })).hard_inds.data), [0, 1, 2, 3, 4]);
  // an integral ratio·#pos: both counts agree
  assert.deepEqual(Array.from(right(selectHard(inputs, { ...attrs, neg_pos_ratio: 1 / 3, negatives: 'rank' })).hard_inds.data), [0, 1, 3, 4]);
});

test('nms corners = sorted: a flipped box (x2 < x1) is the box of its min/max corners (ONNX, TF); the original reads it as given, an empty box', () => {
  // box 0 = (0, 1, 1, 0): y2 < y1. As given its height is −1: inter 0, never suppresses. Sorted it is (0, 0, 1, 1), box 1 itself.
  const boxes = T('float32', [2, 4], [0, 1, 1, 0, 0, 0, 1, 1]);
  const scores = T('float32', [2], [0.9, 0.8]);
  const attrs = { threshold: 0.7, box_convention: 'continuous', ties: 'index_asc' } as const;
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, attrs)).keep.data), [0, 1]);
  assert.deepEqual(Array.from(right(nms({ boxes, scores }, { ...attrs, corners: 'sorted' })).keep.data), [0]);
});

test('dropout_backward grad_order = scale_first: fl32(dy·scale)·mask, so dy = 3e38 at mask 0 is ∞·0 = NaN (tf.grad); Caffe multiplies the mask first: 0', () => {
  const dy = T('float32', [2], [3e38, 3e38]);
  const mask = T('float32', [2], [0, 1]);
  const caffe = right(dropoutBackward({ dy, mask }, { ratio: 0.5 })).dx.data;
  assert.deepEqual(Array.from(caffe), [0, Infinity]);
  const tf = right(dropoutBackward({ dy, mask }, { ratio: 0.5, grad_order: 'scale_first' })).dx.data;
  assert.ok(Number.isNaN(tf[0]));
  assert.equal(tf[1], Infinity);
  // wherever dy·scale stays finite the two orders agree bit for bit (m ∈ {0, 1})
  fc.assert(
    fc.property(fc.float({ noNaN: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), fc.constantFrom(0, 1), fc.constantFrom(0.1, 0.5, 0.6), (g, m, ratio) => {
      const a = right(dropoutBackward({ dy: T('float32', [1], [g]), mask: T('float32', [1], [m]) }, { ratio })).dx.data[0];
      const b = right(dropoutBackward({ dy: T('float32', [1], [g]), mask: T('float32', [1], [m]) }, { ratio, grad_order: 'scale_first' })).dx.data[0];
      return Object.is(a, b);
    }),
    fcParams(),
  );
});

test('sgd_update momentum_rule = tf: acc = m·acc + g, θ −= η·acc, and at momentum 0 acc = g (tf.train.momentum); torch leaves it untouched', () => {
  const base = { param: T('float32', [1], [1]), grad: T('float32', [1], [-1]), history: T('float32', [1], [0.5]) };
  const attrs = { lr: 0.1, weight_decay: 0 } as const;
  const tf9 = right(sgdUpdate(base, { ...attrs, momentum: 0.9, momentum_rule: 'tf' }));
  const acc = Math.fround(Math.fround(0.9 * 0.5) + -1); // −0.55
  assert.equal(tf9.history.data[0], acc);
  assert.equal(tf9.param.data[0], Math.fround(1 - Math.fround(Math.fround(0.1) * acc)));
  const tf0 = right(sgdUpdate(base, { ...attrs, momentum: 0, momentum_rule: 'tf' }));
  assert.equal(tf0.history.data[0], -1);
  const torch0 = right(sgdUpdate(base, { ...attrs, momentum: 0, momentum_rule: 'torch' }));
  assert.equal(torch0.history.data[0], 0.5);
  assert.equal(tf0.param.data[0], torch0.param.data[0]);
});

test('softmax_loss empty_normalizer = nan_grad: every label ignored gives loss NaN and NaN gradients, 0/0 (TF SUM_BY_NONZERO_WEIGHTS); with one valid row it changes nothing', () => {
  const scores = T('float32', [2, 2], [0, 0, 1, 2]);
  const ignored = right(softmaxCE({ scores, labels: T('float32', [2], [-1, -1]) }, { ignore_label: -1, empty_normalizer: 'nan_grad' }));
  assert.ok(Number.isNaN(ignored.loss.data[0]));
  assert.ok(Array.from(ignored.scores_grad.data).every(Number.isNaN));
  const one = { scores, labels: T('float32', [2], [-1, 1]) };
  const a = right(softmaxCE(one, { ignore_label: -1, empty_normalizer: 'nan_grad' }));
  const b = right(softmaxCE(one, { ignore_label: -1 }));
  assert.deepEqual(Array.from(a.scores_grad.data), Array.from(b.scores_grad.data));
  assert.equal(a.loss.data[0], b.loss.data[0]);
});

test('ohem_select tf-hard-example-miner miner_nms = tfjs: the weighted losses tie in float32 where the double sums differ; IoU exactly 0.7 is suppressed (≥), kept by TF C++ (>)', () => {
  // two disjoint boxes; cls = fl32(20 − 2⁻¹⁹), loc = fl32(1 − 2⁻²⁴), loc weight 1:
  // float32: fl32(cls·fl32(0.05)) = loc, a tie; double: cls·0.05 = 0.99999990…, below loc once rounded for the NMS
  const cls = Math.fround(20 - 2 ** -19);
  const loc = Math.fround(1 - 2 ** -24);
  assert.equal(Math.fround(cls * Math.fround(0.05)), loc);
  assert.ok(Math.fround(cls * 0.05) < loc);
  const rois = T('float32', [2, 5], [0, 0, 0, 1, 1, 0, 5, 5, 6, 6]);
  const labels = T('float32', [2], [0, 0]);
  const inputs = { rois, labels, loss: T('float64', [2], [0, 0]), cls_loss: T('float64', [2], [cls, 0]), bbox_loss: T('float64', [2], [0, loc]) };
  const attrs = { dialect: 'tf-hard-example-miner', loc_loss_weight: 1 } as const;
  assert.deepEqual(Array.from(right(selectHard(inputs, attrs)).hard_inds.data), [1, 0]);
  assert.deepEqual(Array.from(right(selectHard(inputs, { ...attrs, miner_nms: 'tfjs' })).hard_inds.data), [0, 1]); // the tie: lower index first
  // boxes (0, 0, 1, 10) and (0, 0, 1, 7): IoU 7/10 = 0.7 exactly in double
  const nmsInputs = { ...inputs, rois: T('float32', [2, 5], [0, 0, 0, 1, 10, 0, 0, 0, 1, 7]), cls_loss: T('float64', [2], [2, 1]), bbox_loss: T('float64', [2], [0, 0]) };
  assert.deepEqual(Array.from(right(selectHard(nmsInputs, { dialect: 'tf-hard-example-miner', loss_type: 'cls' })).hard_inds.data), [0, 1]);
  assert.deepEqual(Array.from(right(selectHard(nmsInputs, { dialect: 'tf-hard-example-miner', loss_type: 'cls', miner_nms: 'tfjs' })).hard_inds.data), [0]);
});

test('the server takes a convention as an attr of the reference, and refuses a value outside its domain naming it', () => {
  const req = { id: 1, op: 'softmax_loss', inputs: { scores: { dtype: 'float32', shape: [1, 3], data: [-80, 0, 80] }, labels: { dtype: 'float32', shape: [1], data: [0] } } };
  const ok = handleRequest({ ...req, attrs: { clamp: 'log_softmax' } }) as { outputs: { loss: { data: number[] } } };
  assert.equal(ok.outputs.loss.data[0], 160);
  const bad = handleRequest({ ...req, attrs: { clamp: 'none' } }) as { error: { code: string; message: string } };
  assert.equal(bad.error.code, 'invalid_input');
  assert.match(bad.error.message, /attrs\.clamp/);
});
