/**
 * Properties of OHEM training with Caffe's SGD (SPEC §9, §3.3, §8.4, pitfalls 10, 13, 22;
 * docs/mining.md §5): `solverStep`, `ohemSolverStep`, `initialState`, `MULTIPLIERS`.
 *
 * The update is checked against Caffe's rule written here by hand in float64 from SPEC §9 (not by
 * calling sgdUpdate), the per-parameter multipliers against SPEC §3.3's literal values, the lr
 * policy against §9 step 3, and the whole loop against its purpose: on a fixed batch a short run
 * lowers the plain Fast R-CNN loss over ALL RoIs (composed from the public ops).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Tensor } from '../src/core/index.js';
import { ohemStep, drawMasks, type StepConfig, type StepMasks } from '../src/mining/ohemStep.js';
import { ohemSolverStep, initialState, MULTIPLIERS, type SolverConfig, type TrainState } from '../src/mining/train.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, fcParams } from './support.js';
import { PARAMS, type PName, type HeadSpec, type HeadTensors, headSpecArb, headPairArb, tensorsOf, allTensors, plainFastRcnn, paramShape, prng } from './heads.js';

const U = 2 ** -24; // float32 unit roundoff

/** SPEC §3.3 (OHEM train.prototxt main branch): fc weights lr 1 / decay 1, fc biases lr 2 / decay 0. */
const SPEC_MULT = (p: PName) => (p.endsWith('_w') ? { lr: 1, decay: 1 } : { lr: 2, decay: 0 });

/**
 * The plain Fast R-CNN loss (loss_cls + loss_bbox) over ALL RoIs of the batch, from the public ops,
 * with the train masks' rows of every RoI (or no dropout): the objective that training on the same
 * batch with the same masks descends.
 */
const fullLoss = (t: HeadTensors, params: Record<PName, Tensor>): number => {
  const p = plainFastRcnn({ ...t, params: params as HeadTensors['params'] }, [...Array(t.batch.labels.size).keys()]);
  return p.loss_cls + p.loss_bbox;
};

/**
 * Trains `steps` solver steps on one fixed batch: dropout 0, or seeded masks with the same seed at
 * every step (the same dropout sub-network each time, so the objective does not move under the
 * optimizer's feet; the masks the seed draws are `drawMasks(seed)`'s, which ohemStep.test.ts ties to
 * the seed path). Returns the full loss before and after.
 */
const trainRun = (s: HeadSpec, seed: number, iter2: boolean, cfg: Partial<StepConfig>, steps: number) => {
  const t0 = tensorsOf(s);
  const masks = s.ratio > 0 ? (right(drawMasks(seed, s.R, s.H6, s.H7, 0.5)) as HeadTensors['masks']) : undefined;
  const t: HeadTensors = { ...t0, masks };
  const n = iter2 ? 2 : 1;
  const solver: SolverConfig = { base_lr: 0.01, momentum: 0.9, weight_decay: 0.0005, gamma: 0.1, stepsize: 1000, iter_size: n };
  const step = ohemSolverStep(solver, { ...t.headAttrs, ...cfg });
  let state = initialState(t.params);
  const before = fullLoss(t, state.params as Record<PName, Tensor>);
  for (let k = 0; k < steps; k++)
    state = right(step(state, Array(n).fill(t.batch), Array(n).fill(s.ratio > 0 ? { seed } : undefined)), `step ${k}`).state;
  assert.equal(state.iter, steps);
  return { before, after: fullLoss(t, state.params as Record<PName, Tensor>) };
};

const seedArb = fc.integer({ min: 0, max: 2 ** 40 });

test('training where OHEM selects every RoI (use_nms false, batch_size R) lowers the loss over all RoIs by ≥ 3% in 30 steps', () => {
  // Then each pass's gradient is the gradient of exactly this full loss (÷ R both terms, SPEC §6, §7)
  // and Caffe SGD with lr 0.01, momentum 0.9 is plain heavy-ball descent on it.
  fc.assert(
    fc.property(headSpecArb({ maxR: 12 }), seedArb, fc.boolean(), (s, seed, iter2) => {
      const { before, after } = trainRun(s, seed, iter2, { use_nms: false, batch_size: s.R }, 30);
      assert.ok(after <= 0.97 * before, `the loss over all RoIs went from ${before} to ${after}`);
    }),
    fcParams(8),
  );
});

test('OHEM training (hard half of the RoIs, NMS on) lowers the loss over ALL RoIs: in ≥ 75% of runs, and by ≥ 20% in geometric mean', () => {
  // OHEM descends the loss of the hardest RoIs, not the mean over all of them: on a fixed batch the
  // easy RoIs can get a little worse while the hard ones improve, so a single run may rise (about
  // 1 run in 40 does on these heads). Over runs, the full loss must fall clearly (observed: falls in
  // ~97% of runs, to ~0.56 of its start on average); a wrong gradient or update makes it rise.
  let runs = 0;
  let fell = 0;
  let logRatio = 0;
  fc.assert(
    fc.property(headSpecArb({ maxR: 12 }), seedArb, fc.boolean(), (s, seed, iter2) => {
      const { before, after } = trainRun(s, seed, iter2, { batch_size: Math.max(2, Math.ceil(s.R / 2)) }, 30);
      runs++;
      if (after < before) fell++;
      logRatio += Math.log(after / before);
    }),
    fcParams(16),
  );
  assert.ok(fell >= 0.75 * runs, `the full loss fell in only ${fell} of ${runs} runs`);
  assert.ok(Math.exp(logRatio / runs) <= 0.8, `geometric mean ratio after/before ${Math.exp(logRatio / runs)}`);
});

test('initialState: the given parameters, zero momentum history of each parameter’s shape (Caffe PreSolve), iteration 0', () => {
  fc.assert(
    fc.property(headSpecArb({ maxR: 6 }), (s) => {
      const t = tensorsOf(s);
      const st = assertPure(Object.values(t.params), () => initialState(t.params));
      assert.equal(st.iter, 0);
      for (const p of PARAMS) {
        assertBitEqual(st.params[p].data, t.params[p].data, p);
        assert.deepEqual(st.history[p].shape, t.params[p].shape, `${p} history shape`);
        assert.ok(st.history[p].data.every((v) => Object.is(v, 0)), `${p} history is +0`);
      }
    }),
    fcParams(30),
  );
});

// ---------------------------------------------------------------------------- the update rule

interface Setting {
  solver: SolverConfig & { gamma: number; stepsize: number; momentum: number; weight_decay: number };
  iter: number;
  historySeed: number;
}

const settingArb: fc.Arbitrary<Setting> = fc.record({
  solver: fc.record({
    base_lr: fc.constantFrom(0.001, 0.01, 0.05, 0.1),
    gamma: fc.constantFrom(0.1, 0.5),
    stepsize: fc.integer({ min: 1, max: 5 }),
    momentum: fc.constantFrom(0, 0.9, 0.5),
    weight_decay: fc.constantFrom(0, 0.0005, 0.1),
    iter_size: fc.constant(2),
  }),
  iter: fc.integer({ min: 0, max: 15 }),
  historySeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

/** A state with momentum history in ±0.01 and iteration count `iter`. */
const stateWith = (t: HeadTensors, s: Parameters<typeof paramShape>[0], iter: number, seed: number): TrainState => {
  const rnd = prng(seed);
  const history = Object.fromEntries(
    PARAMS.map((p) => {
      const shape = paramShape(s, p);
      return [p, T('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(0.02 * rnd() - 0.01)))];
    }),
  );
  return { params: t.params, history: history as TrainState['history'], iter };
};

/**
 * SPEC §9 by hand in float64, for one parameter with the two passes' gradients g1, g2:
 *   rate = base_lr·gamma^⌊iter/stepsize⌋
 *   g = (g1 + g2)/iter_size + weight_decay·decay_mult·θ        (decay after the 1/iter_size)
 *   v' = momentum·v + rate·lr_mult·g ;  θ' = θ − v'            (lr inside the momentum buffer)
 * and a float32 error bound: each of the ~8 float32 roundings on the way is ≤ 2^-24 relative to the
 * magnitude it rounds, all of them ≤ the sum of the magnitudes of the terms.
 */
const caffeByHand = (
  theta: ArrayLike<number>,
  v: ArrayLike<number>,
  g1: ArrayLike<number>,
  g2: ArrayLike<number>,
  sv: Setting['solver'],
  iter: number,
  mult: { lr: number; decay: number },
) => {
  const rate = sv.base_lr * sv.gamma ** Math.floor(iter / sv.stepsize);
  const n = theta.length;
  const th = new Float64Array(n);
  const vv = new Float64Array(n);
  const tol = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = (g1[i] + g2[i]) / 2 + sv.weight_decay * mult.decay * theta[i];
    vv[i] = sv.momentum * v[i] + rate * mult.lr * g;
    th[i] = theta[i] - vv[i];
    const mag =
      Math.abs(theta[i]) + Math.abs(th[i]) + sv.momentum * Math.abs(v[i]) + rate * mult.lr * ((Math.abs(g1[i]) + Math.abs(g2[i])) / 2 + sv.weight_decay * mult.decay * Math.abs(theta[i]));
    tol[i] = 8 * U * mag;
  }
  return { theta: th, v: vv, tol };
};

const assertWithin = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: ArrayLike<number>, what: string) => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    if (!(Math.abs(actual[i] - expected[i]) <= tol[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (|Δ| ${Math.abs(actual[i] - expected[i])} > ${tol[i]})`);
};

test('solverStep with iter_size 2 = Caffe’s rule (SPEC §9) applied by hand in float64 to the two passes’ gradients', () => {
  fc.assert(
    fc.property(headPairArb({ maxR: 10 }), settingArb, ([s1, s2], st) => {
      const t1 = tensorsOf(s1);
      const t2 = tensorsOf(s2);
      const cfg: StepConfig = { ...t1.headAttrs, batch_size: 4 };
      const state = stateWith(t1, s1, st.iter, st.historySeed);
      const res = right(ohemSolverStep(st.solver, cfg)(state, [t1.batch, t2.batch], [t1.masks, t2.masks]), 'solverStep');
      // The passes are ohemStep on each batch with the state's parameters.
      const p1 = right(ohemStep(cfg)(t1.params, t1.batch, t1.masks));
      const p2 = right(ohemStep(cfg)(t1.params, t2.batch, t2.masks));
      assertBitEqual(res.report.passes[0].fc6_w_grad.data, p1.fc6_w_grad.data, 'pass 1');
      assertBitEqual(res.report.passes[1].fc6_w_grad.data, p2.fc6_w_grad.data, 'pass 2');
      // Reported loss: the mean over the passes (SPEC §9 step 2).
      assert.ok(Math.abs(res.report.loss_cls - (p1.loss_cls.data[0] + p2.loss_cls.data[0]) / 2) <= 4 * U * res.report.loss_cls);
      assert.ok(Math.abs(res.report.loss_bbox - (p1.loss_bbox.data[0] + p2.loss_bbox.data[0]) / 2) <= 4 * U * res.report.loss_bbox + 1e-30);
      for (const p of PARAMS) {
        const g = `${p}_grad` as const;
        const want = caffeByHand(state.params[p].data, state.history[p].data, p1[g].data, p2[g].data, st.solver, st.iter, SPEC_MULT(p));
        assertWithin(res.state.params[p].data, want.theta, want.tol, `${p} after the step`);
        assertWithin(res.state.history[p].data, want.v, want.tol, `${p} history`);
        assert.deepEqual(res.state.params[p].shape, state.params[p].shape);
      }
      assert.equal(res.state.iter, st.iter + 1, 'one update is one iteration, whatever iter_size');
    }),
    fcParams(60),
  );
});

test('multipliers: weights lr 1 / decay 1, biases lr 2 / decay 0 — weight decay moves the weights and never the biases', () => {
  for (const p of PARAMS) assert.deepEqual(MULTIPLIERS[p], { lr_mult: SPEC_MULT(p).lr, decay_mult: SPEC_MULT(p).decay }, p);
  fc.assert(
    fc.property(headSpecArb({ maxR: 8 }), fc.constantFrom(0.01, 0.1), (s, lr) => {
      const t = tensorsOf(s);
      const cfg: StepConfig = { ...t.headAttrs, batch_size: 3 };
      const g = right(ohemStep(cfg)(t.params, t.batch, t.masks));
      const run = (weight_decay: number) =>
        right(ohemSolverStep({ base_lr: lr, momentum: 0, weight_decay, iter_size: 1 }, cfg)(initialState(t.params), [t.batch], [t.masks])).state;
      const plain = run(0);
      const decayed = run(0.5);
      for (const p of PARAMS) {
        const th = t.params[p].data;
        const gr = g[`${p}_grad`].data;
        const { lr: lm, decay: dm } = SPEC_MULT(p);
        // momentum 0, history 0, iter_size 1: θ' = θ − lr·lr_mult·(g + wd·decay_mult·θ).
        for (const [state, wd] of [[plain, 0], [decayed, 0.5]] as const)
          for (let i = 0; i < th.length; i++) {
            const want = th[i] - lr * lm * (gr[i] + wd * dm * th[i]);
            const tol = 6 * U * (Math.abs(th[i]) + lr * lm * (Math.abs(gr[i]) + wd * dm * Math.abs(th[i])));
            if (!(Math.abs(state.params[p].data[i] - want) <= tol)) assert.fail(`${p}[${i}] wd ${wd}: ${state.params[p].data[i]} vs ${want}`);
          }
        if (dm === 0) assertBitEqual(decayed.params[p].data, plain.params[p].data, `${p}: a bias is not decayed`);
        else {
          // Visible decay: the two runs differ by lr·wd·θ for every weight entry that is not 0.
          const moved = th.some((v, i) => v !== 0 && decayed.params[p].data[i] !== plain.params[p].data[i]);
          assert.ok(moved, `${p}: weight decay 0.5 had no effect`);
        }
      }
    }),
    fcParams(30),
  );
});

test('the step lr policy: lr = base_lr·gamma^⌊iter/stepsize⌋, dropping by gamma at each multiple of stepsize', () => {
  fc.assert(
    fc.property(
      headSpecArb({ maxR: 8, dropout: 'zero' }),
      fc.constantFrom(0.001, 0.01, 0.1),
      fc.constantFrom(0.1, 0.5, 0.25),
      fc.integer({ min: 1, max: 30000 }),
      fc.integer({ min: 0, max: 3 }),
      (s, base_lr, gamma, stepsize, k) => {
        const t = tensorsOf(s);
        const cfg: StepConfig = { ...t.headAttrs, batch_size: 3 };
        const solver: SolverConfig = { base_lr, gamma, stepsize, momentum: 0, weight_decay: 0, iter_size: 1 };
        const at = (iter: number) => right(ohemSolverStep(solver, cfg)({ ...initialState(t.params), iter }, [t.batch], [undefined]));
        const f = Math.fround;
        // SPEC §9 step 3: the power in double from float params, stored as a float (≤ 1 ulp: pow's last bit).
        const expected = (iter: number) => f(f(base_lr) * Math.pow(f(gamma), Math.floor(iter / stepsize)));
        for (const iter of [k * stepsize, (k + 1) * stepsize - 1, (k + 1) * stepsize]) {
          const r = at(iter);
          assert.ok(Math.abs(r.report.lr - expected(iter)) <= 2 * U * expected(iter), `lr at ${iter}: ${r.report.lr} vs ${expected(iter)}`);
        }
        // The update uses that rate: the step taken just before the boundary is 1/gamma times the one after.
        const before = at((k + 1) * stepsize - 1).state.params.fc7_b.data;
        const after = at((k + 1) * stepsize).state.params.fc7_b.data;
        const th = t.params.fc7_b.data;
        for (let i = 0; i < th.length; i++) {
          const d0 = th[i] - before[i];
          const d1 = th[i] - after[i];
          if (Math.abs(d0) < 1e-6) continue; // a dead unit: nothing to compare
          // Each Δ = v + the rounding of θ' = fl32(θ − v) (≤ u·|θ'|), and v = fl32(η·g) carries ≤ u·|v|, with
          // η_after/η_before = gamma to ≤ 2u (both rates stored as floats): the ratio is gamma up to
          // u·(4·gamma·|Δ| + gamma·|θ'_before| + |θ'_after|), taken twice for safety.
          const tol = 2 * U * (4 * gamma * Math.abs(d0) + gamma * Math.abs(before[i]) + Math.abs(after[i]));
          assert.ok(Math.abs(d1 - gamma * d0) <= tol, `fc7_b[${i}]: Δ ${d0} then ${d1}`);
        }
      },
    ),
    fcParams(40),
  );
});

test('solverStep changes neither the state nor the batches; the new state is new', () => {
  fc.assert(
    fc.property(headPairArb({ maxR: 8 }), settingArb, ([s1, s2], st) => {
      const t1 = tensorsOf(s1);
      const t2 = tensorsOf(s2);
      const state = Object.freeze(stateWith(t1, s1, st.iter, st.historySeed));
      const tensors = [...Object.values(state.params), ...Object.values(state.history), ...allTensors(t2)];
      const res = assertPure(tensors, () => right(ohemSolverStep(st.solver, { ...t1.headAttrs, batch_size: 4 })(state, [t1.batch, t2.batch], [t1.masks, t2.masks])));
      assert.equal(state.iter, st.iter);
      for (const p of PARAMS) {
        assert.notEqual(res.state.params[p], state.params[p]);
        assert.notEqual(res.state.history[p].data, state.history[p].data, `${p}: history storage shared`);
      }
    }),
    fcParams(40),
  );
});

const BAD_SOLVER: Record<string, unknown[]> = {
  base_lr: [NaN, Infinity, -0.01, 1e39, '0.01'],
  gamma: [NaN, Infinity, 1e39],
  stepsize: [0, -3, 1.5],
  momentum: [NaN, -Infinity, 1e39],
  weight_decay: [NaN, Infinity, 1e39, 'x'],
  iter_size: [0, -1, 1.5],
};

test('bad solver settings (generated): a Left naming solver.<field>, never a throw', () => {
  const s = fc.sample(headSpecArb({ maxR: 6, dropout: 'zero' }), { numRuns: 1, seed: 11 })[0];
  const t = tensorsOf(s);
  const cfg = { ...t.headAttrs, batch_size: 2 };
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(BAD_SOLVER)).chain((field) => fc.tuple(fc.constant(field), fc.constantFrom(...BAD_SOLVER[field]))),
      ([field, value]) => {
        const solver = { base_lr: 0.01, [field]: value } as unknown as SolverConfig;
        const n = 1;
        const r = noThrow(() => ohemSolverStep(solver, cfg)(initialState(t.params), Array(n).fill(t.batch), Array(n).fill(undefined)), `${field} = ${String(value)}`);
        leftNaming(r, `solver.${field}`);
      },
    ),
    fcParams(60),
  );
});

test('bad batches: a count that is not iter_size names batches; a bad batch is the pass’s Left naming its input', () => {
  const s = fc.sample(headSpecArb({ maxR: 6, dropout: 'half' }), { numRuns: 1, seed: 11 })[0];
  const t = tensorsOf(s);
  const state = initialState(t.params);
  const cfg = { ...t.headAttrs, batch_size: 2 };
  const go = (solver: SolverConfig, batches: unknown[], masks: unknown[]) =>
    noThrow(() => ohemSolverStep(solver, cfg)(state, batches as never, masks as never), 'solverStep');
  leftNaming(go({ base_lr: 0.01, iter_size: 2 }, [t.batch], [t.masks]), 'batches');
  leftNaming(go({ base_lr: 0.01, iter_size: 2 }, [t.batch, t.batch], [t.masks]), 'batches');
  leftNaming(go({ base_lr: 0.01 }, [{ ...t.batch, labels: T('float32', [s.R], s.labels.map(() => s.K)) }], [t.masks]), 'labels');
  leftNaming(go({ base_lr: 0.01 }, [t.batch], [undefined]), 'readonly_mask6');
  leftNaming(go({ base_lr: 0.01, iter_size: 2 }, [t.batch, t.batch], [t.masks, { seed: -1 }]), 'masks.seed');
});
