/**
 * conform's judging and its domain, without a port: the verdicts of two answers (pass, precision,
 * fail) with both sides labelled and multi-dimensional indices; the move of a generated request
 * into protocol 1.1's domain, which must leave the reference's answer unchanged (the claim that
 * lets conform judge the moved request in place of the drawn one); the precision models, which
 * must cover what plain float32 arithmetic does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { judge, unravel } from '../src/conform/judge.js';
import { intoDomain } from '../src/conform/domain.js';
import { SUITES } from '../src/conform/suites.js';
import { referenceAnswer, precisionBounds } from '../src/conform/reference.js';
import { narrow, parseCapabilities } from '../src/conform/capabilities.js';
import { alternativesOf } from '../src/conform/attribution.js';
import { REGISTRY } from '../src/mining/registry.js';
import type { Answer } from '../src/conform/session.js';
import { fcParams } from './support.js';

const f32 = (shape: number[], data: number[]) => ({ dtype: 'float32', shape, data });
const ans = (outputs: Record<string, unknown>): Answer => ({ kind: 'outputs', outputs, response: { outputs } });
const TOL = { y: { atol: 0, rtol: 2 ** -24, note: 'one rounding' } };

test('judge: sides labelled, the multi-dimensional index, the count of differing elements', () => {
  const ref = { y: f32([2, 3], [1, 2, 3, 4, 5, 6]) };
  const j = judge(ans({ y: f32([2, 3], [1, 2, 3, 4, 5.5, 6]) }), ref, { tolerances: TOL });
  assert.equal(j.verdict, 'fail');
  assert.match((j as { message: string }).message, /^y\[1, 1\]: reference 5, port 5\.5; \|Δ\| = 0\.5 > .* allowed \(1 of 6 elements\)/);
  assert.deepEqual(unravel(250, [1, 512]), [0, 250]);
  assert.deepEqual(unravel(7, [2, 2, 2]), [1, 1, 1]);
  const list = judge(ans({ keep: { dtype: 'int32', shape: [1], data: [1] } }), { keep: { dtype: 'int32', shape: [2], data: [1, 0] } }, { tolerances: {} });
  assert.match((list as { message: string }).message, /^keep: reference \[1, 0\], port \[1\] \(2 vs 1 entries\)$/);
  const nan = judge(ans({ y: f32([1], [NaN].map(() => 'NaN') as never) }), { y: f32([1], [0]) }, { tolerances: TOL });
  assert.match((nan as { message: string }).message, /NaN on one side only/);
});

test('judge: beyond the tolerance but within the precision bound is `precision`; beyond both is `fail`; a missing optional output is fine', () => {
  const ref = { y: f32([2], [1, 1]) };
  const bound = { y: Float64Array.of(1e-3, 1e-3) };
  assert.equal(judge(ans({ y: f32([2], [1, 1]) }), ref, { tolerances: TOL, precision: bound }).verdict, 'pass');
  const p = judge(ans({ y: f32([2], [1, 1.0005]) }), ref, { tolerances: TOL, precision: bound });
  assert.equal(p.verdict, 'precision');
  assert.ok(p.verdict === 'precision' && p.diff.share > 0.4 && p.diff.share < 0.6);
  assert.equal(judge(ans({ y: f32([2], [1, 1.01]) }), ref, { tolerances: TOL, precision: bound }).verdict, 'fail');
  assert.equal(judge(ans({}), { ...ref, extra: f32([1], [0]) }, { tolerances: TOL, optional: ['extra', 'y'] }).verdict, 'pass');
  assert.equal(judge(ans({}), ref, { tolerances: TOL }).verdict, 'fail');
});

test('intoDomain moves every suite\'s requests inside the domain, legal; moving a dtype (float64 in a float32 slot, read as float32) leaves the reference\'s answer unchanged', () => {
  let moved = 0;
  for (const s of SUITES)
    fc.assert(
      fc.property(s.arbitrary, (req) => {
        const d = intoDomain(s.def, req);
        if (d.beyond.length === 0) {
          assert.equal(d.req, req, 'a request inside the domain is kept as it is');
          return;
        }
        moved++;
        // the moved request is inside the domain
        assert.deepEqual(intoDomain(s.def, d.req).beyond, []);
        for (const i of s.def.inputs) {
          const t = d.req.inputs[i.name] as { dtype: string } | undefined;
          if (t) assert.ok(i.dtypes.includes(t.dtype as never), `${s.key}.${i.name}: ${t.dtype}`);
        }
        const r = referenceAnswer(d.req);
        assert.ok('outputs' in r, `${s.key}: the moved request is legal`);
        if (d.beyond.every((b) => b.kind === 'dtype')) assert.deepEqual(r, referenceAnswer(req), `${s.key}: ${d.beyond.map((b) => b.what).join(', ')}`);
      }),
      fcParams(40),
    );
  assert.ok(moved > 20, `only ${moved} requests beyond the domain were drawn: the probes test nothing`);
});

test('capabilities: parsed against the registry (unknown ops, attrs and values noted, not trusted); narrowing keeps every request within them and legal', () => {
  const { caps, notes } = parseCapabilities(
    { nms: { box_convention: ['continuous'], suppress: ['gt', 'maybe'], bogus: [1] }, no_such_op: {}, top_k: { ties: ['index_asc'] } },
    (op) => REGISTRY.get(op),
  );
  assert.deepEqual([...caps.get('nms')!.keys()], ['box_convention', 'suppress']);
  assert.deepEqual(caps.get('nms')!.get('suppress'), ['gt']);
  assert.equal(notes.length, 3, notes.join('\n'));
  for (const key of ['nms', 'top_k', 'ohem_select/caffe-ohem']) {
    const s = SUITES.find((x) => x.key === key)!;
    fc.assert(
      fc.property(s.arbitrary, (req) => {
        const n = narrow(s.def, req, caps);
        const c = caps.get(s.op);
        for (const [attr, values] of c ?? []) if (s.def.attrs.some((a) => a.name === attr)) assert.ok(values.includes(n.attrs[attr] ?? s.def.attrs.find((a) => a.name === attr)!.default), `${key}.${attr}`);
        assert.ok('outputs' in referenceAnswer(n), `${key}: the narrowed request is legal`);
      }),
      fcParams(40),
    );
  }
});

test('attribution reads its alternatives from the def: other enum values, declared numeric alternatives, conventions; never the dialect', () => {
  const nms = REGISTRY.get('nms')!;
  const alts = alternativesOf(nms, { op: 'nms', attrs: {}, inputs: {} }, {}).map((a) => `${a.attr}=${String(a.value)}`);
  assert.ok(alts.includes('box_convention=continuous') && alts.includes('suppress=ge') && alts.includes('ties=index_asc') && alts.includes('precision=float64'), alts.join(', '));
  assert.ok(!alts.includes('box_convention=plus1'), 'the value in force is no alternative');
  const sel = alternativesOf(REGISTRY.get('ohem_select')!, { op: 'ohem_select', attrs: {}, inputs: {} }, {}).map((a) => a.attr);
  assert.ok(!sel.includes('dialect'));
  const loss = alternativesOf(REGISTRY.get('softmax_loss')!, { op: 'softmax_loss', attrs: {}, inputs: {} }, {});
  assert.ok(loss.some((a) => a.convention && a.attr === 'clamp' && a.value === 'log_softmax'));
  const eps = alternativesOf(REGISTRY.get('ohem_roi_loss')!, { op: 'ohem_roi_loss', attrs: {}, inputs: {} }, {});
  assert.ok(eps.some((a) => a.attr === 'eps' && a.name === 'FLT_MIN'));
});

test('the float32 precision model of linear covers a plain float32 GEMM (products and sums rounded to float32 in either order)', () => {
  const s = SUITES.find((x) => x.key === 'linear')!;
  fc.assert(
    fc.property(s.arbitrary, fc.boolean(), (req, reverse) => {
      const r = referenceAnswer(req);
      if (!('outputs' in r)) return;
      const x = (req.inputs.x as { shape: number[]; data: number[] });
      const w = (req.inputs.w as { shape: number[]; data: number[] });
      const b = (req.inputs.b as { data: number[] }).data;
      const [R, K] = x.shape;
      const M = w.shape[0];
      const y: number[] = [];
      for (let i = 0; i < R; i++)
        for (let m = 0; m < M; m++) {
          let acc = 0;
          for (let t = 0; t < K; t++) {
            const k = reverse ? K - 1 - t : t;
            acc = Math.fround(acc + Math.fround(Math.fround(x.data[i * K + k]) * Math.fround(w.data[m * K + k])));
          }
          y.push(Math.fround(acc + Math.fround(b[m])));
        }
      const j = judge(ans({ y: f32([R, M], y) }), r.outputs, { tolerances: s.tolerances, precision: precisionBounds(s.def, req) });
      assert.notEqual(j.verdict, 'fail', j.verdict === 'fail' ? j.message : '');
    }),
    fcParams(60),
  );
});
