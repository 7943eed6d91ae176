/**
 * linear / linearBackward (SPEC §8.1): y = x·Wᵀ + b; dx = dy·W, dW = dyᵀ·x, db = Σ_r dy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { linear, linearBackward } from '../src/ops/linear.js';
import { T, right, leftNaming, noThrow, assertPure, arbF32Tensor, assertClose, fcParams } from './support.js';

const shapes = fc.record({ R: fc.integer({ min: 1, max: 9 }), K: fc.integer({ min: 1, max: 37 }), M: fc.integer({ min: 1, max: 9 }) });
const case3 = shapes.chain(({ R, K, M }) =>
  fc.tuple(arbF32Tensor([R, K], -3, 3), arbF32Tensor([M, K], -3, 3), arbF32Tensor([M], -3, 3), arbF32Tensor([R, M], -3, 3)),
);

/** The definition, one output at a time in float64, rounded once: no blocking, no transposes. */
const naive = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, R: number, K: number, M: number) => {
  const y = new Float32Array(R * M);
  for (let r = 0; r < R; r++)
    for (let m = 0; m < M; m++) {
      let s = b[m];
      for (let k = 0; k < K; k++) s += x[r * K + k] * w[m * K + k];
      y[r * M + m] = s;
    }
  return y;
};

// Blocked and naive both sum exact float64 products in float64, in different orders; the float32
// results can differ by one ulp where the double sums straddle a rounding boundary.
const ULP = 2 ** -23;

test('linear equals y = x·Wᵀ + b summed term by term (≤ 1 float32 ulp), on shapes that hit every blocking remainder', () => {
  fc.assert(
    fc.property(case3, ([x, w, b]) => {
      const [R, K] = x.shape;
      const M = w.shape[0];
      const { y } = right(linear({ x, w, b }));
      assert.deepEqual(y.shape, [R, M]);
      assert.equal(y.dtype, 'float32');
      assertClose(y.data, naive(x.data, w.data, b.data, R, K, M), 1e-9, ULP, 'y');
    }),
    fcParams(),
  );
});

test('linear over a reduction longer than one cache block (K = 1100) still equals the definition', () => {
  const R = 5, K = 1100, M = 6;
  const x = T('float32', [R, K], Array.from({ length: R * K }, (_, i) => Math.fround(Math.sin(i * 0.37))));
  const w = T('float32', [M, K], Array.from({ length: M * K }, (_, i) => Math.fround(Math.cos(i * 0.11))));
  const b = T('float32', [M], [1, -2, 3, -4, 5, -6]);
  const { y } = right(linear({ x, w, b }));
  assertClose(y.data, naive(x.data, w.data, b.data, R, K, M), 1e-9, ULP, 'y');
});

test('linearBackward is the adjoint of linear: <dy, x·Wᵀ> = <dx, x> = <dW, W>, and db is the column sum of dy', () => {
  fc.assert(
    fc.property(case3, ([x, w, , dy]) => {
      const [R, K] = x.shape;
      const M = w.shape[0];
      const { dx, dw, db } = right(linearBackward({ x, w, dy }));
      assert.deepEqual([dx.shape, dw.shape, db.shape], [[R, K], [M, K], [M]]);
      const zero = T('float32', [M], new Array(M).fill(0));
      const { y } = right(linear({ x, w, b: zero }));
      let a = 0, bx = 0, cw = 0, mag = 0;
      for (let i = 0; i < R * M; i++) a += dy.data[i] * y.data[i];
      for (let i = 0; i < R * K; i++) bx += dx.data[i] * x.data[i];
      for (let i = 0; i < M * K; i++) cw += dw.data[i] * w.data[i];
      for (let r = 0; r < R; r++) for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) mag += Math.abs(dy.data[r * M + m] * x.data[r * K + k] * w.data[m * K + k]);
      // Each side is a float32-rounded bilinear form: relative error a few ulps of the magnitude.
      const tol = 8 * ULP * mag + 1e-9;
      assert.ok(Math.abs(a - bx) <= tol, `<dy,y>=${a} vs <dx,x>=${bx}`);
      assert.ok(Math.abs(a - cw) <= tol, `<dy,y>=${a} vs <dW,W>=${cw}`);
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let r = 0; r < R; r++) s += dy.data[r * M + m];
        assertClose([db.data[m]], [Math.fround(s)], 1e-9, ULP, 'db');
      }
    }),
    fcParams(),
  );
});

test('a hand-computed linear case', () => {
  // x = [[1, 2]], W = [[3, 4], [5, 6]], b = [0.5, -1] → y = [1·3 + 2·4 + 0.5, 1·5 + 2·6 − 1] = [11.5, 16]
  const { y } = right(linear({ x: T('float32', [1, 2], [1, 2]), w: T('float32', [2, 2], [3, 4, 5, 6]), b: T('float32', [2], [0.5, -1]) }));
  assert.deepEqual([...y.data], [11.5, 16]);
  // dy = [[1, -1]] → dx = dy·W = [3 − 5, 4 − 6] = [-2, -2]; dW = dyᵀ·x = [[1, 2], [-1, -2]]; db = [1, -1]
  const g = right(linearBackward({ x: T('float32', [1, 2], [1, 2]), w: T('float32', [2, 2], [3, 4, 5, 6]), dy: T('float32', [1, 2], [1, -1]) }));
  assert.deepEqual([...g.dx.data], [-2, -2]);
  assert.deepEqual([...g.dw.data], [1, 2, -1, -2]);
  assert.deepEqual([...g.db.data], [1, -1]);
});

test('linear and linearBackward never change their arguments', () => {
  fc.assert(
    fc.property(case3, ([x, w, b, dy]) => {
      assertPure([x, w, b], () => linear({ x, w, b }));
      assertPure([x, w, dy], () => linearBackward({ x, w, dy }));
    }),
    fcParams(50),
  );
});

test('bad inputs to linear give a Left naming the input, never a throw', () => {
  const x = T('float32', [2, 3], [1, 2, 3, 4, 5, 6]);
  const w = T('float32', [4, 3], new Array(12).fill(1));
  const b = T('float32', [4], [0, 0, 0, 0]);
  leftNaming(noThrow(() => linear({ x: T('float32', [6], [1, 2, 3, 4, 5, 6]), w, b })), 'x');
  leftNaming(noThrow(() => linear({ x, w: T('float32', [4, 2], new Array(8).fill(1)), b })), 'w');
  leftNaming(noThrow(() => linear({ x, w, b: T('float32', [3], [0, 0, 0]) })), 'b');
  leftNaming(noThrow(() => linear({ x: T('int32', [2, 3], [1, 2, 3, 4, 5, 6]), w, b })), 'x');
  leftNaming(noThrow(() => linear({ x: T('float32', [2, 3], [1, NaN, 3, 4, 5, 6]), w, b })), 'x');
  leftNaming(noThrow(() => linear({ x, w, b: undefined as never })), 'b');
  leftNaming(noThrow(() => linear({ x: T('float32', [1, 1], [3e38]), w: T('float32', [1, 1], [3e38]), b: T('float32', [1], [0]) })), 'y');
  leftNaming(noThrow(() => linearBackward({ x, w, dy: T('float32', [2, 5], new Array(10).fill(1)) })), 'dy');
  leftNaming(noThrow(() => linearBackward({ x, w, dy: T('float32', [2, 4], [Infinity, 0, 0, 0, 0, 0, 0, 0]) })), 'dy');
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 }), (shape) => {
      const n = shape.reduce((a, c) => a * c, 1);
      const bad = T('float32', shape, new Array(n).fill(1));
      const r = noThrow(() => linear({ x: bad, w, b }));
      // A 2-D x with 3 columns is legal. Any other rank is refused naming x; a 2-D x whose K
      // disagrees with w's is refused naming w (K is bound by x, the first input).
      if (shape.length !== 2) leftNaming(r, 'x');
      else if (shape[1] !== 3) leftNaming(r, 'w');
      else right(r);
    }),
    fcParams(),
  );
});
