/**
 * Properties of greedy NMS (SPEC §4; PROTOCOL.md's nms row and notes; pitfalls 5–8).
 *
 * The independent formulation below is written from SPEC §4's text and the `devIoU` kernel it
 * cites: its own IoU (Math.fround at every step of the kernel), its own ordering (a comparison
 * sort on (score, position)), its own greedy loop over plain JS arrays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nms, nmsDef, type NmsAttrs } from '../src/ops/nms.js';
import { type Tensor } from '../src/core/index.js';
import { fcParams, right, leftNaming, noThrow, T, assertPure, f32 } from './support.js';
import { nmsCases, type NmsCase } from '../src/conform/arbitraries/nms.js';

type Box = readonly [number, number, number, number];

// ------------------------------------------------------------------ the SPEC §4 formulation

/** Every attr spelled out, defaults from PROTOCOL.md's table (not from the code under test). */
const full = (a: NmsCase['attrs']): NmsAttrs => ({
  threshold: a.threshold ?? 0.7,
  box_convention: a.box_convention ?? 'plus1',
  suppress: a.suppress ?? 'gt',
  ties: a.ties ?? 'index_desc',
  precision: a.precision ?? 'float32',
});

/** IoU as SPEC §4 / devIoU: left, right, top, bottom; width = max(right − left + 1, 0) …, each op rounded in float32. */
const specIoU = (p: Box, q: Box, o: NmsAttrs): number => {
  const r = o.precision === 'float32' ? Math.fround : (x: number) => x;
  const one = o.box_convention === 'plus1' ? 1 : 0;
  const ext = (lo: number, hi: number) => (one ? r(r(hi - lo) + one) : r(hi - lo));
  const area = (b: Box) => r(ext(b[0], b[2]) * ext(b[1], b[3]));
  const width = Math.max(ext(Math.max(p[0], q[0]), Math.min(p[2], q[2])), 0);
  const height = Math.max(ext(Math.max(p[1], q[1]), Math.min(p[3], q[3])), 0);
  const inter = r(width * height);
  return r(inter / r(r(area(p) + area(q)) - inter));
};

/** The suppression predicate of SPEC §4's table (gt: vs the threshold in the working precision; ge: vs the double). */
const suppresses = (iou: number, o: NmsAttrs): boolean =>
  o.suppress === 'gt' ? iou > (o.precision === 'float32' ? Math.fround(o.threshold) : o.threshold) : iou >= o.threshold;

const prep = (c: { boxes: readonly number[]; scores: readonly number[] }, o: NmsAttrs) => {
  const r = o.precision === 'float32' ? Math.fround : (x: number) => x;
  const boxes: Box[] = c.scores.map((_, i) => [r(c.boxes[4 * i]), r(c.boxes[4 * i + 1]), r(c.boxes[4 * i + 2]), r(c.boxes[4 * i + 3])]);
  const scores = c.scores.map(r);
  // argsort descending with the declared tie rule (SPEC §2.2), by a plain comparison sort
  const order = scores
    .map((_, i) => i)
    .sort((a, b) => (scores[a] !== scores[b] ? (scores[a] > scores[b] ? -1 : 1) : o.ties === 'index_desc' ? b - a : a - b));
  return { boxes, scores, order };
};

/** Greedy NMS straight from SPEC §4: walk in order; a live box is kept and kills later live boxes it suppresses. */
const naiveNms = (c: { boxes: readonly number[]; scores: readonly number[] }, o: NmsAttrs): number[] => {
  const { boxes, order } = prep(c, o);
  const dead = new Set<number>();
  const keep: number[] = [];
  order.forEach((i, p) => {
    if (dead.has(i)) return;
    keep.push(i);
    for (const j of order.slice(p + 1)) if (!dead.has(j) && suppresses(specIoU(boxes[i], boxes[j], o), o)) dead.add(j);
  });
  return keep;
};

// ------------------------------------------------------------------ helpers

const tensors = (c: NmsCase): { boxes: Tensor; scores: Tensor } => ({
  boxes: T(c.boxesDtype, [c.scores.length, 4], c.boxes),
  scores: T(c.scoresDtype, [c.scores.length], c.scores),
});
const keepOf = (c: NmsCase): number[] => [...right(nms(tensors(c), c.attrs)).keep.data];
const run = (boxes: Box[], scores: number[], attrs: Partial<NmsAttrs> = {}): number[] =>
  [...right(nms({ boxes: T('float32', [boxes.length, 4], boxes.flat()), scores: T('float32', [scores.length], scores) }, attrs)).keep.data];

// ------------------------------------------------------------------ properties

test('nms agrees with the naive SPEC §4 formulation on generated inputs (all attr combinations)', () => {
  fc.assert(
    fc.property(nmsCases, (c) => {
      assert.deepEqual(keepOf(c), naiveNms(c, full(c.attrs)));
    }),
    fcParams(300),
  );
});

test('keep is a subset, in descending score order with ties by the declared rule; kept boxes do not suppress each other', () => {
  fc.assert(
    fc.property(nmsCases, (c) => {
      const o = full(c.attrs);
      const keep = keepOf(c);
      const { boxes, scores } = prep(c, o);
      assert.equal(new Set(keep).size, keep.length, 'distinct');
      for (const i of keep) assert.ok(Number.isInteger(i) && i >= 0 && i < scores.length);
      for (let a = 0; a + 1 < keep.length; a++) {
        const [i, j] = [keep[a], keep[a + 1]];
        assert.ok(scores[i] > scores[j] || (scores[i] === scores[j] && (o.ties === 'index_desc' ? i > j : i < j)), `kept ${i} before ${j} breaks the order`);
      }
      for (let a = 0; a < keep.length; a++)
        for (let b = a + 1; b < keep.length; b++)
          assert.ok(!suppresses(specIoU(boxes[keep[a]], boxes[keep[b]], o), o), `kept ${keep[a]} and ${keep[b]} satisfy the suppression predicate`);
    }),
    fcParams(),
  );
});

test('every dropped box is suppressed by a kept box that precedes it in the order', () => {
  fc.assert(
    fc.property(nmsCases, (c) => {
      const o = full(c.attrs);
      const keep = keepOf(c);
      const { boxes, order } = prep(c, o);
      const pos = new Map(order.map((i, p) => [i, p]));
      const kept = new Set(keep);
      for (const j of order) {
        if (kept.has(j)) continue;
        assert.ok(
          keep.some((i) => pos.get(i)! < pos.get(j)! && suppresses(specIoU(boxes[i], boxes[j], o), o)),
          `dropped ${j} has no earlier kept box suppressing it`,
        );
      }
    }),
    fcParams(),
  );
});

test("threshold 1 under 'gt' keeps every box (IoU never exceeds 1), in score order", () => {
  fc.assert(
    fc.property(nmsCases, (c) => {
      const cc: NmsCase = { ...c, attrs: { ...c.attrs, threshold: 1, suppress: 'gt' } };
      assert.deepEqual(keepOf(cc), prep(cc, full(cc.attrs)).order);
    }),
    fcParams(),
  );
});

/** Overlapping pairs with fractional float32 corners up to ~1000 px, where every float32 rounding step counts. */
const overlappingPair = fc
  .tuple(f32(0, 900), f32(0, 900), f32(1, 120), f32(1, 120), fc.array(f32(-15, 15), { minLength: 4, maxLength: 4 }))
  .map(([x, y, w, h, d]): [Box, Box] => {
    const a: Box = [x, y, Math.fround(x + w), Math.fround(y + h)];
    const b = a.map((v, i) => Math.fround(v + d[i])) as unknown as Box;
    return [a, b];
  });

test('the IoU is pinned to the exact float32 (float64) value: threshold = IoU splits gt from ge, for every pair', () => {
  // A pair whose IoU is t: with threshold t, 'ge' suppresses and 'gt' keeps; with the next
  // float32 (double) below t, 'gt' suppresses. Any other rounding of any step moves the IoU off t
  // for some pair and breaks one of the three.
  fc.assert(
    fc.property(overlappingPair, fc.constantFrom<'plus1' | 'continuous'>('plus1', 'continuous'), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), ([a, b], conv, precision) => {
      const o = full({ box_convention: conv, precision });
      const t = specIoU(a, b, o);
      fc.pre(t > 0 && t <= 1);
      const below = precision === 'float32' ? Math.fround(t * (1 - 2 ** -24)) : t * (1 - 2 ** -53);
      fc.pre(below < t);
      const attrs = { box_convention: conv, precision };
      assert.deepEqual(run([a, b], [2, 1], { ...attrs, threshold: t, suppress: 'ge' }), [0], `IoU ${t}: ge at threshold t must suppress`);
      assert.deepEqual(run([a, b], [2, 1], { ...attrs, threshold: t, suppress: 'gt' }), [0, 1], `IoU ${t}: gt at threshold t must keep`);
      assert.deepEqual(run([a, b], [2, 1], { ...attrs, threshold: below, suppress: 'gt' }), [0], `IoU ${t}: gt just below t must suppress`);
    }),
    fcParams(),
  );
});

test('permuting a tie-free input permutes keep accordingly', () => {
  fc.assert(
    fc.property(
      nmsCases.filter((c) => {
        const s = prep(c, full(c.attrs)).scores;
        return new Set(s).size === s.length;
      }),
      fc.nat(),
      (c, seed) => {
        const n = c.scores.length;
        // a permutation from the seed: perm[p] = the old position now at p
        const perm = Array.from({ length: n }, (_, i) => i);
        let x = seed;
        for (let i = n - 1; i > 0; i--) {
          x = (x * 1103515245 + 12345) % 2147483648;
          const j = x % (i + 1);
          [perm[i], perm[j]] = [perm[j], perm[i]];
        }
        const inv = new Array<number>(n);
        perm.forEach((old, p) => (inv[old] = p));
        const permuted: NmsCase = { ...c, boxes: perm.flatMap((i) => c.boxes.slice(4 * i, 4 * i + 4)), scores: perm.map((i) => c.scores[i]) };
        assert.deepEqual(keepOf(permuted), keepOf(c).map((i) => inv[i]));
      },
    ),
    fcParams(),
  );
});

test('SPEC §4 test vector: (0,0,9,9) vs (1,1,10,10) has IoU fl32(81/119) = 0.6806723, kept at 0.7; vs (0,0,9,8) IoU 0.9, suppressed', () => {
  assert.equal(Math.fround(81 / 119).toPrecision(7), '0.6806723');
  for (const suppress of ['gt', 'ge'] as const) {
    assert.deepEqual(run([[0, 0, 9, 9], [1, 1, 10, 10]], [2, 1], { suppress }), [0, 1]);
    assert.deepEqual(run([[0, 0, 9, 9], [0, 0, 9, 8]], [2, 1], { suppress }), [0]);
    assert.deepEqual(run([[0, 0, 9, 9], [0, 0, 9, 8]], [1, 2], { suppress }), [1]);
  }
  // the defaults are PROTOCOL.md's: threshold 0.7, plus1, gt, index_desc, float32
  assert.deepEqual(Object.fromEntries(nmsDef.attrs.map((a) => [a.name, a.default])), { threshold: 0.7, box_convention: 'plus1', suppress: 'gt', ties: 'index_desc', precision: 'float32' });
  assert.deepEqual(run([[0, 0, 9, 9], [1, 1, 10, 10], [0, 0, 9, 8]], [3, 2, 1]), [0, 1]);
});

test('IoU exactly at a float32-exact threshold: kept under gt, suppressed under ge (GPU vs Cython NMS, SPEC §4)', () => {
  // plus1 (0,0,9,9) and (0,0,9,4): inter 10·5 = 50, areas 100 and 50, union 100 → IoU 0.5 exactly
  const pair: Box[] = [[0, 0, 9, 9], [0, 0, 9, 4]];
  for (const precision of ['float32', 'float64'] as const) {
    assert.deepEqual(run(pair, [2, 1], { threshold: 0.5, suppress: 'gt', precision }), [0, 1]);
    assert.deepEqual(run(pair, [2, 1], { threshold: 0.5, suppress: 'ge', precision }), [0]);
  }
  // plus1 (0,0,9,3) and (0,0,9,0): inter 10, union 40 → 0.25
  assert.deepEqual(run([[0, 0, 9, 3], [0, 0, 9, 0]], [1, 2], { threshold: 0.25 }), [1, 0]);
  assert.deepEqual(run([[0, 0, 9, 3], [0, 0, 9, 0]], [1, 2], { threshold: 0.25, suppress: 'ge' }), [1]);
});

test('threshold 0.3 (fl32 above the decimal) and 0.7 (fl32 below): where gt and ge part ways', () => {
  assert.ok(Math.fround(0.3) > 0.3 && Math.fround(0.7) < 0.7);
  // plus1 (0,0,9,0) area 10 and (7,0,9,0) area 3 nested: IoU fl32(3/10) = fl32(0.3)
  const p3: Box[] = [[0, 0, 9, 0], [7, 0, 9, 0]];
  assert.deepEqual(run(p3, [2, 1], { threshold: 0.3, suppress: 'gt' }), [0, 1]); // fl32(0.3) > fl32(0.3) is false
  assert.deepEqual(run(p3, [2, 1], { threshold: 0.3, suppress: 'ge' }), [0]); // 0.30000001 ≥ 0.3
  // float64: IoU 3/10 = 0.3 exactly as a double → gt keeps, ge suppresses
  assert.deepEqual(run(p3, [2, 1], { threshold: 0.3, suppress: 'gt', precision: 'float64' }), [0, 1]);
  assert.deepEqual(run(p3, [2, 1], { threshold: 0.3, suppress: 'ge', precision: 'float64' }), [0]);
  // (0,0,9,0) and (0,0,6,0): IoU fl32(7/10) = fl32(0.7) = 0.69999998…: in float32 gt and ge both keep
  // (SPEC §4: at 0.7 all three original variants agree); in float64 IoU = 0.7 and ge suppresses
  const p7: Box[] = [[0, 0, 9, 0], [0, 0, 6, 0]];
  assert.deepEqual(run(p7, [2, 1], { suppress: 'gt' }), [0, 1]);
  assert.deepEqual(run(p7, [2, 1], { suppress: 'ge' }), [0, 1]);
  assert.deepEqual(run(p7, [2, 1], { suppress: 'gt', precision: 'float64' }), [0, 1]);
  assert.deepEqual(run(p7, [2, 1], { suppress: 'ge', precision: 'float64' }), [0]);
});

test("'continuous' and 'plus1' differ on a hand-computed pair; a NaN IoU (0/0) never suppresses", () => {
  // (0,0,10,10) vs (5,0,15,10): continuous inter 5·10 = 50, union 150, IoU 1/3;
  // plus1 inter 6·11 = 66, areas 121, union 176, IoU 0.375. Threshold 0.35 separates them.
  const pair: Box[] = [[0, 0, 10, 10], [5, 0, 15, 10]];
  assert.deepEqual(run(pair, [2, 1], { threshold: 0.35, box_convention: 'continuous' }), [0, 1]);
  assert.deepEqual(run(pair, [2, 1], { threshold: 0.35, box_convention: 'plus1' }), [0]);
  assert.deepEqual(run(pair, [2, 1], { threshold: 0.33, box_convention: 'continuous' }), [0]);
  // Two identical points: plus1 area 1, IoU 1 → suppressed; continuous area 0, IoU 0/0 = NaN → kept
  // even at threshold 0 under ge.
  const points: Box[] = [[5, 5, 5, 5], [5, 5, 5, 5]];
  assert.deepEqual(run(points, [1, 1], { threshold: 0, suppress: 'ge' }), [1]);
  assert.deepEqual(run(points, [1, 1], { threshold: 0, suppress: 'ge', box_convention: 'continuous' }), [1, 0]);
  // plus1 empty boxes (x2 = x1 − 1): area 0, 0/0 again
  assert.deepEqual(run([[3, 3, 2, 2], [3, 3, 2, 2]], [1, 2], { threshold: 0, suppress: 'ge' }), [1, 0]);
  // disjoint boxes have IoU 0: ge at threshold 0 suppresses them, gt does not
  assert.deepEqual(run([[0, 0, 1, 1], [10, 10, 11, 11]], [2, 1], { threshold: 0, suppress: 'ge' }), [0]);
  assert.deepEqual(run([[0, 0, 1, 1], [10, 10, 11, 11]], [2, 1], { threshold: 0, suppress: 'gt' }), [0, 1]);
});

test('precision float32 orders by float32 scores (distinct float64 scores can tie); float64 keeps them apart', () => {
  const boxes = T('float32', [2, 4], [0, 0, 1, 1, 10, 10, 11, 11]);
  const scores = T('float64', [2], [1, 1 + 2 ** -40]);
  const k = (a: Partial<NmsAttrs>) => [...right(nms({ boxes, scores }, a)).keep.data];
  assert.deepEqual(k({}), [1, 0]); // tie in float32, index_desc
  assert.deepEqual(k({ ties: 'index_asc' }), [0, 1]);
  assert.deepEqual(k({ precision: 'float64' }), [1, 0]);
  assert.deepEqual(k({ precision: 'float64', ties: 'index_asc' }), [1, 0]);
  // a tie decides which of two identical boxes survives
  assert.deepEqual(run([[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]], [1, 1, 1]), [2]);
  assert.deepEqual(run([[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]], [1, 1, 1], { ties: 'index_asc' }), [0]);
});

test('float32 rounding of the extents decides: boxes that differ in float64 coincide in float32', () => {
  // 9 + 2^-30 is 9 in float32: perturbing any one coordinate that way leaves identical boxes
  // (IoU 1) in float32 and an IoU just below 1 in float64
  const scores = T('float32', [2], [2, 1]);
  for (let c = 0; c < 4; c++) {
    const a = [1, 1, 9, 9];
    a[c] += 2 ** -30;
    const boxes = T('float64', [2, 4], [...a, 1, 1, 9, 9]);
    assert.deepEqual([...right(nms({ boxes, scores }, { threshold: 1, suppress: 'ge' })).keep.data], [0], `coordinate ${c}`);
    assert.deepEqual([...right(nms({ boxes, scores }, { threshold: 1, suppress: 'ge', precision: 'float64' })).keep.data], [0, 1], `coordinate ${c}`);
  }
});

test('empty input gives an empty keep; outputs are int32 [k]', () => {
  const r = right(nms({ boxes: T('float32', [0, 4], []), scores: T('float32', [0], []) }));
  assert.equal(r.keep.dtype, 'int32');
  assert.deepEqual(r.keep.shape, [0]);
  const s = right(nms({ boxes: T('float32', [3, 4], [0, 0, 9, 9, 0, 0, 9, 8, 50, 50, 60, 60]), scores: T('float32', [3], [1, 2, 3]) }));
  assert.equal(s.keep.dtype, 'int32');
  assert.deepEqual(s.keep.shape, [2]);
  assert.deepEqual([...s.keep.data], [2, 1]);
});

test('nms: malformed inputs give a Left naming the input', () => {
  const goodB = T('float32', [2, 4], [0, 0, 9, 9, 1, 1, 10, 10]);
  const goodS = T('float32', [2], [1, 2]);
  // wrong box shapes
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 0, maxLength: 3 }).filter((s) => !(s.length === 2 && s[1] === 4)), (shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const b = T('float32', shape, new Array(n).fill(1));
      leftNaming(noThrow(() => nms({ boxes: b, scores: T('float32', [shape[0] ?? 1], new Array(shape[0] ?? 1).fill(1)) })), 'boxes');
    }),
    fcParams(100),
  );
  // scores length ≠ n, or wrong rank
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 8 }).filter((m) => m !== 2), (m) => {
      leftNaming(noThrow(() => nms({ boxes: goodB, scores: T('float32', [m], new Array(m).fill(0)) })), 'scores');
    }),
    fcParams(20),
  );
  leftNaming(nms({ boxes: goodB, scores: T('float32', [2, 1], [1, 2]) }), 'scores');
  // non-finite values
  fc.assert(
    fc.property(fc.constantFrom(NaN, Infinity, -Infinity), fc.integer({ min: 0, max: 7 }), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), (bad, at, dtype) => {
      const b = [...goodB.data];
      b[at] = bad;
      leftNaming(noThrow(() => nms({ boxes: T(dtype, [2, 4], b), scores: goodS })), 'boxes');
      const s = [1, 2];
      s[at % 2] = bad;
      leftNaming(noThrow(() => nms({ boxes: goodB, scores: T(dtype, [2], s) })), 'scores');
    }),
    fcParams(50),
  );
  // a float64 coordinate beyond float32 under precision float32
  leftNaming(nms({ boxes: T('float64', [1, 4], [0, 0, 1e39, 1]), scores: T('float32', [1], [1]) }), 'boxes');
  right(nms({ boxes: T('float64', [1, 4], [0, 0, 1e39, 1]), scores: T('float32', [1], [1]) }, { precision: 'float64' }));
  // dtype and presence
  leftNaming(nms({ boxes: T('int32', [2, 4], [0, 0, 9, 9, 1, 1, 10, 10]), scores: goodS }), 'boxes');
  leftNaming(nms({ boxes: goodB, scores: T('int32', [2], [1, 2]) }), 'scores');
  leftNaming(noThrow(() => nms({ scores: goodS } as unknown as { boxes: Tensor; scores: Tensor })), 'boxes');
  leftNaming(noThrow(() => nms({ boxes: goodB } as unknown as { boxes: Tensor; scores: Tensor })), 'scores');
  // threshold outside [0, 1] or not a finite number (null is absent: the default, like every attr)
  assert.deepEqual([...right(nms({ boxes: goodB, scores: goodS }, { threshold: null } as never)).keep.data], [...right(nms({ boxes: goodB, scores: goodS })).keep.data]);
  fc.assert(
    fc.property(
      fc.oneof(fc.double({ min: 1, max: 1e9, minExcluded: true, noNaN: true }), fc.double({ min: -1e9, max: -Number.MIN_VALUE, noNaN: true }), fc.constantFrom<unknown>(-0.1, 1.5, NaN, Infinity, '0.5')),
      (threshold) => {
        leftNaming(noThrow(() => nms({ boxes: goodB, scores: goodS }, { threshold: threshold as number })), 'attrs.threshold');
      },
    ),
    fcParams(100),
  );
  // unknown enum values
  fc.assert(
    fc.property(fc.constantFrom('box_convention', 'suppress', 'ties', 'precision'), fc.oneof(fc.string(), fc.constantFrom<unknown>(1, 'GT', 'float16', 'plus0')), (name, value) => {
      const allowed: Record<string, unknown[]> = { box_convention: ['plus1', 'continuous'], suppress: ['gt', 'ge'], ties: ['index_desc', 'index_asc'], precision: ['float32', 'float64'] };
      fc.pre(!allowed[name].includes(value));
      leftNaming(noThrow(() => nms({ boxes: goodB, scores: goodS }, { [name]: value } as Partial<NmsAttrs>)), `attrs.${name}`);
    }),
    fcParams(100),
  );
});

test('nms is pure', () => {
  fc.assert(
    fc.property(nmsCases, (c) => {
      const t = tensors(c);
      const a = assertPure([t.boxes, t.scores], () => right(nms(t, c.attrs)));
      assert.deepEqual([...a.keep.data], keepOf(c), 'same inputs, same answer');
    }),
    fcParams(100),
  );
});

test('one bigger case: 400 jittered boxes around 20 centres agree with the naive formulation', () => {
  // deterministic float32 boxes (an LCG, not Math.random), scores with float32 collisions
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648);
  const boxes: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < 400; i++) {
    const c = i % 20;
    const cx = (c % 5) * 40 + rnd() * 6;
    const cy = Math.floor(c / 5) * 40 + rnd() * 6;
    const w = 20 + rnd() * 8;
    boxes.push(...[cx, cy, cx + w, cy + w].map((v) => Math.fround(v * 1.6)));
    scores.push(Math.fround(Math.round(rnd() * 50) / 8));
  }
  for (const attrs of [{}, { suppress: 'ge' as const, threshold: 0.5 }, { box_convention: 'continuous' as const, ties: 'index_asc' as const, threshold: 0.3 }]) {
    const c: NmsCase = { boxes, scores, boxesDtype: 'float32', scoresDtype: 'float32', attrs };
    assert.deepEqual(keepOf(c), naiveNms(c, full(attrs)));
  }
});
