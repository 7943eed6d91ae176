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
