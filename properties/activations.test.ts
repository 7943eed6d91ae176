/**
 * Properties of ReLU (SPEC §8.3), Dropout with an explicit mask (SPEC §8.2, pitfall 21) and
 * Caffe's Softmax (SPEC §7).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { relu, reluBackward, dropout, dropoutBackward, softmax } from '../src/ops/activations.js';
import { FLT_MAX, type Tensor } from '../src/core/index.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, assertClose, fcParams, f32, arbF32Tensor } from './support.js';

const U = 2 ** -24; // unit roundoff of float32

/** A small shape of rank 0–3. */
const arbShape = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });

/** float32 values with zeros of both signs and tiny/huge magnitudes mixed in. */
const arbVal = fc.oneof(
  { weight: 6, arbitrary: f32(-100, 100) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 2 ** -149, -(2 ** -149), FLT_MAX, -FLT_MAX, 1e-30, -1e-30) },
);
const arbTensorAnyShape = (val: fc.Arbitrary<number> = arbVal): fc.Arbitrary<Tensor<'float32'>> =>
  arbShape.chain((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.array(val, { minLength: n, maxLength: n }).map((v) => T('float32', shape, v));
  });

// Caffe's std::max / std::min: max(a, b) = (a < b) ? b : a, min(a, b) = (b < a) ? b : a.
const cmax = (a: number, b: number): number => (a < b ? b : a);
const cmin = (a: number, b: number): number => (b < a ? b : a);

// ----------------------------------------------------------------------------------------- ReLU

test('relu equals Caffe’s literal max(x,0) + 0·min(x,0) bit for bit on finite input (signs of zero included)', () => {
  fc.assert(
    fc.property(arbTensorAnyShape(), (x) => {
      const y = right(relu({ x })).y;
      assert.equal(y.dtype, 'float32');
      assert.deepEqual(y.shape, x.shape);
      const want = Array.from(x.data, (v) => Math.fround(cmax(v, 0) + 0 * cmin(v, 0)));
      assertBitEqual(y.data, want, 'relu');
    }),
    fcParams(),
  );
});

test('relu at exactly 0 and −0, and its non-finite values: NaN stays NaN, −∞ → 0, +∞ → +∞', () => {
  const y = right(relu({ x: T('float32', [6], [0, -0, NaN, -Infinity, Infinity, -3]) })).y.data;
  assert.ok(Object.is(y[0], 0));
  assert.ok(Object.is(y[1], -0), 'std::max(−0, 0) returns its first argument −0, and 0·(−0) = −0');
  assert.ok(Number.isNaN(y[2]));
  assert.ok(Object.is(y[3], 0));
  assert.equal(y[4], Infinity);
  assert.ok(Object.is(y[5], 0), 'a negative x gives +0 (+0 + (−0))');
});

test('relu is idempotent and never negative', () => {
  fc.assert(
    fc.property(arbTensorAnyShape(), (x) => {
      const y = right(relu({ x })).y;
      assertBitEqual(right(relu({ x: y })).y.data, y.data, 'relu∘relu');
      for (const v of y.data) assert.ok(!(v < 0));
    }),
    fcParams(),
  );
});

test('reluBackward is dy where x > 0 and 0 elsewhere, the gradient at exactly 0 being 0', () => {
  const x = T('float32', [5], [0, -0, 1e-45, -1e-45, NaN]);
  const dy = T('float32', [5], [7, 7, 7, 7, 7]);
  assert.deepEqual(Array.from(right(reluBackward({ x, dy })).dx.data), [0, 0, 7, 0, 0]);
  fc.assert(
    fc.property(
      arbShape.chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.constant(shape), fc.array(arbVal, { minLength: n, maxLength: n }), fc.array(f32(-50, 50), { minLength: n, maxLength: n }));
      }),
      ([shape, xv, dv]) => {
        const dx = right(reluBackward({ x: T('float32', shape, xv), dy: T('float32', shape, dv) })).dx;
        assert.deepEqual(dx.shape, shape);
        // Caffe: dx = dy·((x > 0) + 0·(x ≤ 0)), products of a finite dy with 1 or 0.
        const want = xv.map((v, i) => dv[i] * ((v > 0 ? 1 : 0) + 0 * (v <= 0 ? 1 : 0)));
        assertClose(dx.data, want, 0, 0, 'relu dx');
      },
    ),
    fcParams(),
  );
});

test('reluBackward is the derivative of relu away from 0 (central differences)', () => {
  fc.assert(
    fc.property(f32(-100, 100).filter((v) => Math.abs(v) > 1e-3), f32(-5, 5), (x, dy) => {
      const h = 1e-4;
      const yp = right(relu({ x: T('float64', [1], [x + h]) })).y.data[0];
      const ym = right(relu({ x: T('float64', [1], [x - h]) })).y.data[0];
      const fd = ((yp - ym) / (2 * h)) * dy;
      const dx = right(reluBackward({ x: T('float32', [1], [x]), dy: T('float32', [1], [dy]) })).dx.data[0];
      // yp − ym is a difference of float32 values near x: error ≤ ulp(|x| + h) / (2h) per unit dy.
      assertClose([dx], [fd], (Math.abs(dy) * 2 * 2 ** -23 * (Math.abs(x) + 1)) / (2 * h), 0, 'dx vs FD');
    }),
    fcParams(),
  );
});

test('relu and reluBackward refuse bad input with a Left naming it', () => {
  leftNaming(noThrow(() => relu({} as never)), 'x');
  leftNaming(noThrow(() => relu({ x: T('int32', [2], [1, 2]) })), 'x');
  leftNaming(noThrow(() => relu(undefined as never)), 'x');
  fc.assert(
    fc.property(arbShape, arbShape, (s1, s2) => {
      fc.pre(s1.join(',') !== s2.join(','));
      const x = T('float32', s1, new Array(s1.reduce((a, b) => a * b, 1)).fill(1));
      const dy = T('float32', s2, new Array(s2.reduce((a, b) => a * b, 1)).fill(1));
      leftNaming(noThrow(() => reluBackward({ x, dy })), 'dy');
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => reluBackward({ x: T('float32', [1], [1]) } as never)), 'dy');
  leftNaming(noThrow(() => reluBackward({ x: T('float32', [1], [1]), dy: T('int32', [1], [1]) })), 'dy');
});

// -------------------------------------------------------------------------------------- Dropout

const arbMask = (n: number) => fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n });
const arbRatio = fc.oneof(fc.constantFrom(0, 0.5, 0.25, 0.75, 0.1, 0.6, 0.9), fc.double({ min: 0, max: 0.99, noNaN: true }));

test('dropout with an all-ones mask and ratio 0.5 doubles x exactly; a zero mask gives zeros', () => {
  fc.assert(
    fc.property(arbTensorAnyShape(f32(-1e30, 1e30)), (x) => {
      const ones = T('float32', [...x.shape], new Array(x.size).fill(1));
      const zeros = T('float32', [...x.shape], new Array(x.size).fill(0));
      assertBitEqual(right(dropout({ x, mask: ones }, { ratio: 0.5 })).y.data, Array.from(x.data, (v) => 2 * v), 'doubled');
      assertBitEqual(right(dropout({ x, mask: ones })).y.data, Array.from(x.data, (v) => 2 * v), 'default ratio 0.5');
      for (const v of right(dropout({ x, mask: zeros }, { ratio: 0.3 })).y.data) assert.ok(v === 0, `${v}`); // ±0
    }),
    fcParams(),
  );
});

test('dropout scale is fl32(1/(1 − fl32(ratio))): hand values for 0, 0.75 and 0.6', () => {
  const x = T('float32', [1], [1]);
  const m = T('float32', [1], [1]);
  assert.equal(right(dropout({ x, mask: m }, { ratio: 0 })).y.data[0], 1);
  assert.equal(right(dropout({ x, mask: m }, { ratio: 0.75 })).y.data[0], 4);
  // fl32(0.6) = 0.600000023841857910156250, so 1 − it = 0.39999997615814208984375 (exact) and
  // 1/that = 2.50000014901…; float32 spacing above 2 is 2^-22 ≈ 2.384e-7, and 1.49e-7 is past
  // half of it: the scale is 2.5 + 2^-22, not 2.5.
  assert.equal(right(dropout({ x, mask: m }, { ratio: 0.6 })).y.data[0], 2.5 + 2 ** -22);
});

test('dropoutBackward is the forward applied to dy with the same mask and ratio', () => {
  fc.assert(
    fc.property(
      arbShape.chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.constant(shape), fc.array(arbVal, { minLength: n, maxLength: n }), arbMask(n), arbRatio);
      }),
      ([shape, v, mv, ratio]) => {
        const t = T('float32', shape, v);
        const mask = T('float32', shape, mv);
        const y = right(dropout({ x: t, mask }, { ratio })).y;
        const dx = right(dropoutBackward({ dy: t, mask }, { ratio })).dx;
        assertBitEqual(dx.data, y.data, 'backward vs forward');
        // Dropped units are zero; kept ones are scaled by a factor ≥ 1.
        for (let i = 0; i < v.length; i++) {
          if (mv[i] === 0) assert.ok(y.data[i] === 0); // ±0 (the sign of x·0)
          else assert.ok(Math.abs(y.data[i]) >= Math.abs(v[i]));
        }
      },
    ),
    fcParams(),
  );
});

test('dropout accepts masks of any dtype holding 0/1 and refuses anything else', () => {
  const x = T('float32', [3], [1, 2, 3]);
  assert.deepEqual(Array.from(right(dropout({ x, mask: T('int32', [3], [1, 0, 1]) })).y.data), [2, 0, 6]);
  fc.assert(
    fc.property(fc.oneof(f32(-3, 3), fc.constant(NaN)).filter((v) => v !== 0 && v !== 1), fc.integer({ min: 0, max: 2 }), (bad, at) => {
      const mv = [1, 0, 1];
      mv[at] = bad;
      leftNaming(noThrow(() => dropout({ x, mask: T('float32', [3], mv) })), 'mask');
      leftNaming(noThrow(() => dropoutBackward({ dy: x, mask: T('float32', [3], mv) })), 'mask');
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => dropout({ x, mask: T('float32', [2], [1, 1]) })), 'mask');
  leftNaming(noThrow(() => dropout({ x } as never)), 'mask');
  leftNaming(noThrow(() => dropout({ mask: x } as never)), 'x');
  leftNaming(noThrow(() => dropoutBackward({ mask: x } as never)), 'dy');
  leftNaming(noThrow(() => dropout({ x: T('int32', [3], [1, 2, 3]), mask: x })), 'x');
});

test('dropout refuses a ratio outside [0, 1) (including one that rounds to 1 in float32)', () => {
  const x = T('float32', [2], [1, 2]);
  const mask = T('float32', [2], [1, 1]);
  fc.assert(
    fc.property(
      fc.oneof(fc.constantFrom(1, 1.5, -0.1, NaN, Infinity, 0.99999999, '0.5'), fc.double({ min: 1, max: 1e6 }), fc.double({ min: -1e6, max: -1e-9 })),
      (ratio) => {
        leftNaming(noThrow(() => dropout({ x, mask }, { ratio: ratio as number })), 'attrs.ratio');
        leftNaming(noThrow(() => dropoutBackward({ dy: x, mask }, { ratio: ratio as number })), 'attrs.ratio');
      },
    ),
    fcParams(),
  );
});

// -------------------------------------------------------------------------------------- Softmax

const arbScores = (lo = -20, hi = 20) =>
  fc.record({ R: fc.integer({ min: 1, max: 6 }), K: fc.integer({ min: 1, max: 7 }) }).chain(({ R, K }) => arbF32Tensor([R, K], lo, hi));

const rowsOf = (t: Tensor, f: (row: number[], r: number) => void) => {
  const [R, K] = t.shape;
  for (let r = 0; r < R; r++) f(Array.from(t.data.subarray(r * K, (r + 1) * K)), r);
};

test('softmax rows sum to 1 within 3 float32 half-ulps and lie in [0, 1]', () => {
  // Each p_k = fl32(e_k / s) with s = fl32(Σ e) (Σ in double: exact to ~K·2^-53). So
  // Σ p = (Σ e / s)(1 + δ̄) with |δ̄| ≤ u, and Σe/s = 1/(1 + δ_s), |δ_s| ≤ u: |Σp − 1| ≤ 2u + O(u²)
  // (+ 2^-149 per subnormal p, whose rounding is absolute). Bound used: 3u.
  fc.assert(
    fc.property(fc.oneof(arbScores(), arbScores(-100, 100), arbScores(-1e30, 1e30)), (x) => {
      const p = right(softmax({ x })).prob;
      assert.deepEqual(p.shape, x.shape);
      rowsOf(p, (row) => {
        const s = row.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(s - 1) <= 3 * U, `row sum ${s}`);
        for (const v of row) assert.ok(v >= 0 && v <= 1, `p = ${v}`);
      });
    }),
    fcParams(),
  );
});

test('softmax agrees with the naive exp(x_k)/Σ_j exp(x_j) in float64 (inputs with exact differences)', () => {
  // Multiples of 2^-8 in [-20, 20] (13 significant bits): x_k − max is exact in float32, so the
  // only errors are exp's rounding (u), the sum's (u) and the division's (u): ≤ 3u relative, plus
  // ~2^-150 absolute for subnormal results (not reached here: p ≥ e^-40/7).
  const arbDyadic = fc.integer({ min: -20 * 256, max: 20 * 256 }).map((i) => i / 256);
  fc.assert(
    fc.property(
      fc.record({ R: fc.integer({ min: 1, max: 5 }), K: fc.integer({ min: 1, max: 7 }) }).chain(({ R, K }) =>
        fc.array(arbDyadic, { minLength: R * K, maxLength: R * K }).map((v) => T('float32', [R, K], v)),
      ),
      (x) => {
        const p = right(softmax({ x })).prob;
        const want: number[] = [];
        rowsOf(x, (row) => {
          const s = row.reduce((a, v) => a + Math.exp(v), 0);
          for (const v of row) want.push(Math.exp(v) / s);
        });
        assertClose(p.data, want, 1e-44, 3.01 * U, 'softmax vs naive');
      },
    ),
    fcParams(),
  );
});

test('softmax is invariant to adding a constant to a row: bit-exact when the shift is exact, ≈ otherwise', () => {
  const arbDyadic = fc.integer({ min: -20 * 256, max: 20 * 256 }).map((i) => i / 256);
  fc.assert(
    fc.property(fc.array(arbDyadic, { minLength: 1, maxLength: 7 }), fc.integer({ min: -1000, max: 1000 }), (row, c) => {
      // x + c needs ≤ 19 bits: exact in float32, so the shifted differences are identical.
      const p0 = right(softmax({ x: T('float32', [1, row.length], row) })).prob.data;
      const p1 = right(softmax({ x: T('float32', [1, row.length], row.map((v) => v + c)) })).prob.data;
      assertBitEqual(p1, p0, 'shifted softmax');
    }),
    fcParams(),
  );
  fc.assert(
    fc.property(fc.array(f32(-30, 30), { minLength: 1, maxLength: 7 }), f32(-1000, 1000), (row, c) => {
      const shifted = row.map((v) => Math.fround(v + c));
      const p0 = right(softmax({ x: T('float32', [1, row.length], row) })).prob.data;
      const p1 = right(softmax({ x: T('float32', [1, row.length], shifted) })).prob.data;
      // Rounding x + c moves each difference x_k − max by δ ≤ ulp(1030)/2 + its own rounding
      // (≤ 2^-14 in all); p_k changes by at most p_k·(e^{2δ} − 1) ≈ 2δ·p_k, plus 3u on each side.
      const delta = 2 * 2 ** -14;
      for (let k = 0; k < row.length; k++)
        assert.ok(Math.abs(p1[k] - p0[k]) <= p0[k] * (Math.expm1(2 * delta) + 6 * U) + 1e-44, `k ${k}: ${p1[k]} vs ${p0[k]}`);
    }),
    fcParams(),
  );
});

test('softmax never gives NaN for large finite inputs, and keeps the order of the scores', () => {
  const huge = T('float32', [3, 3], [1e30, -1e30, 0, FLT_MAX, -FLT_MAX, FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX]);
  const p = right(softmax({ x: huge })).prob.data;
  assert.deepEqual(Array.from(p), [1, 0, 0, 0.5, 0, 0.5, 1 / 3, 1 / 3, 1 / 3].map(Math.fround));
  fc.assert(
    fc.property(arbScores(-FLT_MAX, FLT_MAX), (x) => {
      const q = right(softmax({ x })).prob;
      for (const v of q.data) assert.ok(!Number.isNaN(v));
      rowsOf(x, (row, r) => {
        const K = row.length;
        for (let i = 0; i < K; i++)
          for (let j = 0; j < K; j++) if (row[i] > row[j]) assert.ok(q.data[r * K + i] >= q.data[r * K + j]);
      });
    }),
    fcParams(),
  );
});

test('softmax refuses bad input with a Left naming x', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(NaN, Infinity, -Infinity, 1e39), (R, K, bad) => {
      const v = new Array(R * K).fill(0.5);
      v[(R * K) >> 1] = bad;
      leftNaming(noThrow(() => softmax({ x: T('float64', [R, K], v) })), 'x');
    }),
    fcParams(),
  );
  leftNaming(noThrow(() => softmax({ x: T('float32', [3], [1, 2, 3]) })), 'x');
  leftNaming(noThrow(() => softmax({ x: T('float32', [2, 0], []) })), 'x');
  leftNaming(noThrow(() => softmax({ x: T('int32', [1, 2], [1, 2]) })), 'x');
  leftNaming(noThrow(() => softmax({} as never)), 'x');
  // R = 0 is legal: an empty answer.
  assert.deepEqual(right(softmax({ x: T('float32', [0, 3], []) })).prob.shape, [0, 3]);
});

test('every activation op is pure', () => {
  fc.assert(
    fc.property(
      fc.record({ R: fc.integer({ min: 0, max: 4 }), K: fc.integer({ min: 1, max: 5 }) }).chain(({ R, K }) =>
        fc.tuple(arbF32Tensor([R, K]), arbF32Tensor([R, K]), arbMask(R * K).map((m) => T('float32', [R, K], m))),
      ),
      ([x, dy, mask]) => {
        assertPure([x], () => right(relu({ x })));
        assertPure([x, dy], () => right(reluBackward({ x, dy })));
        assertPure([x, mask], () => right(dropout({ x, mask }, { ratio: 0.4 })));
        assertPure([dy, mask], () => right(dropoutBackward({ dy, mask }, { ratio: 0.4 })));
        assertPure([x], () => right(softmax({ x })));
        // Same inputs, same bits.
        const a = right(softmax({ x })).prob.data;
        const b = right(softmax({ x })).prob.data;
        assertBitEqual(a, b);
        assert.ok(E.isRight(relu({ x })));
      },
    ),
    fcParams(),
  );
});
