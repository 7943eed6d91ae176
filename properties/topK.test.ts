/**
 * Properties of the tie-ruled ordering and of `selectTopK` (OHEM's `select_hard_examples`),
 * SPEC §2.1, §2.2 and pitfall 8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { orderDescending, selectTopK, type TieRule } from '../src/ops/topK.js';
import { type Tensor } from '../src/core/index.js';
import { fcParams, right, leftNaming, noThrow, T, assertPure } from './support.js';
import { CLAMPED_LOSS, topKCases } from '../src/conform/arbitraries/nms.js';

const RULES: readonly TieRule[] = ['index_desc', 'index_asc'];

/** Values with many exact ties (SPEC §2.2's realistic ones: zero and clamped losses), ±0 and ±∞. */
const tieValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, CLAMPED_LOSS) },
  { weight: 1, arbitrary: fc.constantFrom(-0, Infinity, -Infinity, -3.5) },
  { weight: 2, arbitrary: fc.double({ noNaN: true }) },
);
const tieValues = fc.array(tieValue, { minLength: 0, maxLength: 30 });

/**
 * SPEC §2.2 read as a rank: position i goes after every position with a larger value, and after
 * the equal-valued positions the tie rule puts first (larger positions for index_desc).
 */
const rankOrder = (v: readonly number[], ties: TieRule): number[] => {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) {
    let r = 0;
    for (let j = 0; j < v.length; j++)
      if (v[j] > v[i] || (v[j] === v[i] && (ties === 'index_desc' ? j > i : j < i))) r++;
    out[r] = i;
  }
  return out;
};

/** A stable ascending argsort (ES2019 Array.prototype.sort is stable). */
const stableAscending = (v: readonly number[]): number[] =>
  v.map((_, i) => i).sort((a, b) => (v[a] < v[b] ? -1 : v[a] > v[b] ? 1 : 0));

const tensorOf = (dtype: 'float32' | 'float64', v: readonly number[]): Tensor => T(dtype, [v.length], v);

test('orderDescending is the rank order of SPEC §2.2 (value descending, ties by position) for both rules', () => {
  fc.assert(
    fc.property(tieValues, fc.constantFrom(...RULES), (v, ties) => {
      assert.deepEqual([...orderDescending(v, ties)], rankOrder(v, ties));
    }),
    fcParams(),
  );
});

test('index_desc is argsort()[::-1] of a stable ascending sort (2016 NumPy, n ≤ 16); index_asc is a stable descending sort', () => {
  fc.assert(
    fc.property(fc.array(tieValue, { maxLength: 16 }), (v) => {
      assert.deepEqual([...orderDescending(v, 'index_desc')], stableAscending(v).reverse());
      const stableDescending = v.map((_, i) => i).sort((a, b) => (v[a] > v[b] ? -1 : v[a] < v[b] ? 1 : 0));
      assert.deepEqual([...orderDescending(v, 'index_asc')], stableDescending);
    }),
    fcParams(),
  );
});

test("orderDescending: SPEC §2.2's example array, −0 ties +0, ±∞ are ordinary values", () => {
  const v = [1, 1, 1, 1, 0, 2, 1, 1];
  assert.deepEqual([...orderDescending(v, 'index_desc')], [5, 7, 6, 3, 2, 1, 0, 4]);
  assert.deepEqual([...orderDescending(v, 'index_asc')], [5, 0, 1, 2, 3, 6, 7, 4]);
  assert.deepEqual([...orderDescending([0, -0, 0, -0], 'index_desc')], [3, 2, 1, 0]);
  assert.deepEqual([...orderDescending([-0, 0, -0, 0], 'index_asc')], [0, 1, 2, 3]);
  assert.deepEqual([...orderDescending([-Infinity, 3, Infinity, Infinity, -Infinity], 'index_desc')], [3, 2, 1, 4, 0]);
  assert.deepEqual([...orderDescending([], 'index_desc')], []);
  // NaN never reaches it through an op (they reject NaN); the helper still orders it totally: last
  assert.deepEqual([...orderDescending([NaN, -Infinity, NaN, 1], 'index_desc')], [3, 1, 2, 0]);
  assert.deepEqual([...orderDescending([NaN, -Infinity, NaN, 1], 'index_asc')], [3, 1, 0, 2]);
});

test('selectTopK returns min(k, n) distinct positions whose values dominate every unselected value, ties in the declared order', () => {
  fc.assert(
    fc.property(tieValues, fc.integer({ min: 1, max: 40 }), fc.constantFrom(...RULES), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), (raw, k, ties, dtype) => {
      const t = tensorOf(dtype, raw);
      const v = [...t.data]; // the values as stored (float32-rounded for a float32 tensor)
      const idx = [...right(selectTopK({ values: t }, { k, ties })).indices.data];
      const n = v.length;
      assert.equal(idx.length, Math.min(k, n));
      assert.equal(new Set(idx).size, idx.length, 'distinct');
      for (const i of idx) assert.ok(Number.isInteger(i) && i >= 0 && i < n);
      const chosen = new Set(idx);
      const before = (i: number, j: number) => v[i] > v[j] || (v[i] === v[j] && (ties === 'index_desc' ? i > j : i < j));
      for (let a = 0; a + 1 < idx.length; a++) assert.ok(before(idx[a], idx[a + 1]), `positions ${idx[a]} then ${idx[a + 1]} out of order`);
      for (let j = 0; j < n; j++) {
        if (chosen.has(j)) continue;
        for (const i of idx) assert.ok(before(i, j), `selected ${i} (${v[i]}) should precede unselected ${j} (${v[j]})`);
      }
    }),
    fcParams(),
  );
});

test('selectTopK: k ≥ n returns every position in the full order; k < n is a prefix of it', () => {
  fc.assert(
    fc.property(tieValues, fc.integer({ min: 0, max: 10 }), fc.constantFrom(...RULES), (v, extra, ties) => {
      const full = rankOrder(v, ties);
      const all = right(selectTopK({ values: tensorOf('float64', v) }, { k: v.length + extra + (v.length === 0 ? 1 : 0), ties }));
      assert.deepEqual([...all.indices.data], full);
      assert.equal(all.indices.dtype, 'int32');
      assert.deepEqual(all.indices.shape, [v.length]);
      if (v.length > 1) {
        const k = 1 + (extra % (v.length - 1));
        assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', v) }, { k, ties })).indices.data], full.slice(0, k));
      }
    }),
    fcParams(),
  );
});

test('selectTopK ranks float64 values as float64 (SPEC §2.2: the final ranking uses the float64 loss) and float32 as stored', () => {
  const v = [1 + 2 ** -40, 1]; // distinct in float64, equal once rounded to float32
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', v) }, { k: 2 })).indices.data], [0, 1]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float32', v) }, { k: 2 })).indices.data], [1, 0]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float32', v) }, { k: 2, ties: 'index_asc' })).indices.data], [0, 1]);
});

test('selectTopK hand-computed: clamped and zero losses, default tie rule index_desc', () => {
  const v = [0, CLAMPED_LOSS, 0.5, CLAMPED_LOSS, 0, CLAMPED_LOSS, 0.5];
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', v) }, { k: 4 })).indices.data], [5, 3, 1, 6]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', v) }, { k: 4, ties: 'index_asc' })).indices.data], [1, 3, 5, 2]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', v) }, { k: 100 })).indices.data], [5, 3, 1, 6, 2, 4, 0]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', [Infinity, -Infinity, 2]) }, { k: 2 })).indices.data], [0, 2]);
  assert.deepEqual([...right(selectTopK({ values: tensorOf('float64', []) }, { k: 3 })).indices.data], []);
});

test('selectTopK agrees with the differential arbitrary cases read through the rank order', () => {
  fc.assert(
    fc.property(topKCases, (c) => {
      const t = tensorOf(c.dtype, c.values);
      const got = right(selectTopK({ values: t }, c.ties === undefined ? { k: c.k } : { k: c.k, ties: c.ties }));
      assert.deepEqual([...got.indices.data], rankOrder([...t.data], c.ties ?? 'index_desc').slice(0, c.k));
    }),
    fcParams(),
  );
});

test('selectTopK: malformed inputs give a Left naming the input', () => {
  const good = tensorOf('float64', [3, 1, 2]);
  // Protocol 1.1 (amendment 3): k is an integer ≥ 0; k = 0 selects nothing. Absent or null: required.
  const badK = fc.oneof(
    fc.integer({ max: -1 }),
    fc.double({ noNaN: false }).filter((x) => !Number.isSafeInteger(x) || x < 0),
    fc.constantFrom<unknown>(undefined, null, '3', [2], true, 2.5, NaN, Infinity, -1),
  );
  assert.deepEqual([...right(selectTopK({ values: good }, { k: 0 })).indices.data], []);
  fc.assert(
    fc.property(badK, (k) => {
      leftNaming(noThrow(() => selectTopK({ values: good }, { k: k as number })), 'attrs.k');
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => selectTopK({ values: good })), 'attrs.k'); // k is required
  fc.assert(
    fc.property(fc.string().filter((s) => s !== 'index_desc' && s !== 'index_asc'), (ties) => {
      leftNaming(noThrow(() => selectTopK({ values: good }, { k: 1, ties: ties as TieRule })), 'attrs.ties');
    }),
    fcParams(50),
  );
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true }), { maxLength: 8 }), fc.nat(), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), (v, at, dtype) => {
      const w = [...v];
      w.splice(at % (w.length + 1), 0, NaN);
      leftNaming(noThrow(() => selectTopK({ values: tensorOf(dtype, w) }, { k: 1 })), 'values');
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => selectTopK({ values: T('float64', [2, 2], [1, 2, 3, 4]) }, { k: 1 })), 'values');
  leftNaming(noThrow(() => selectTopK({ values: T('float64', [], [1]) }, { k: 1 })), 'values');
  leftNaming(noThrow(() => selectTopK({ values: T('int32', [3], [1, 2, 3]) }, { k: 1 })), 'values');
  leftNaming(noThrow(() => selectTopK({} as { values: Tensor }, { k: 1 })), 'values');
  leftNaming(noThrow(() => selectTopK({ values: [1, 2] as unknown as Tensor }, { k: 1 })), 'values');
});

test('selectTopK is pure', () => {
  fc.assert(
    fc.property(tieValues, fc.integer({ min: 1, max: 40 }), fc.constantFrom(...RULES), (v, k, ties) => {
      const t = tensorOf('float64', v);
      const a = assertPure([t], () => right(selectTopK({ values: t }, { k, ties })));
      const b = right(selectTopK({ values: t }, { k, ties }));
      assert.deepEqual([...a.indices.data], [...b.indices.data], 'same inputs, same answer');
    }),
    fcParams(),
  );
});
