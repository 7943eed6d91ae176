/**
 * Differential requests for `linear` and `linear_backward`: small shapes that hit every leftover
 * path of the 4×4 register blocking (R, M not multiples of 4) and, now and then, a reduction
 * longer than one 512-wide cache block.
 */
import fc from 'fast-check';

type JT = { dtype: 'float32'; shape: number[]; data: number[] };
export type Req = { op: string; attrs: Record<string, unknown>; inputs: Record<string, JT> };

const vals = (n: number, mag: number) =>
  fc.array(fc.float({ min: Math.fround(-mag), max: Math.fround(mag), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });

const dims = fc.record({
  R: fc.integer({ min: 1, max: 9 }),
  K: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.constantFrom(512, 513, 700) }),
  M: fc.integer({ min: 1, max: 9 }),
});

const t = (shape: number[], data: number[]): JT => ({ dtype: 'float32', shape, data: data.map((v) => (Object.is(v, -0) ? 0 : v)) });

export const requests: Record<string, fc.Arbitrary<Req>> = {
  linear: dims.chain(({ R, K, M }) =>
    fc.tuple(vals(R * K, 4), vals(M * K, 4), vals(M, 4)).map(([x, w, b]) => ({
      op: 'linear',
      attrs: {},
      inputs: { x: t([R, K], x), w: t([M, K], w), b: t([M], b) },
    })),
  ),
  linear_backward: dims.chain(({ R, K, M }) =>
    fc.tuple(vals(R * K, 4), vals(M * K, 4), vals(R * M, 4)).map(([x, w, dy]) => ({
      op: 'linear_backward',
      attrs: {},
      inputs: { x: t([R, K], x), w: t([M, K], w), dy: t([R, M], dy) },
    })),
  ),
};

// Both sides sum exact float64 products of float32 values in float64 (the oracle promotes before
// its matmul) and round once to float32; only the summation order differs, an error of about
// n·2^-53·Σ|x·w| in double, far below a float32 ulp. The stored float32 can then differ only
// where that tiny double difference straddles a float32 rounding boundary: by one ulp, which is
// at most 2^-23·|b| (rtol) — atol covers results that cancel to (near) zero, where that double
// error, though tiny, is not small relative to |b|.
const ONE_ULP = { atol: 1e-9, rtol: 2 ** -23, note: 'float64 sums in two orders, one float32 rounding: ≤ 1 ulp (+1e-9 for cancellation to ~0)' };
export const tolerances: Record<string, Record<string, { atol: number; rtol: number; note: string }>> = {
  linear: { y: ONE_ULP },
  linear_backward: { dx: ONE_ULP, dw: ONE_ULP, db: ONE_ULP },
};
