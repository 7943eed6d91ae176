/**
 * A draw-by-draw view of the project's Philox generator (src/core/prng.ts) for the demo's world
 * builder and samplers. `stream(rng)` returns an object whose state is local to the call that made
 * it: a function that builds a stream from a seeded `Rng` and draws from it is still a pure
 * function of that seed (same seed, same draws). No Math.random anywhere.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Rng, type Result, seedRng, split, uniforms, uint32s } from '../core/index.js';

export interface Stream {
  /** A uniform double in [0, 1). */
  u(): number;
  /** A uniform double in [lo, hi). */
  range(lo: number, hi: number): number;
  /** A uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** A standard normal (Box–Muller). */
  normal(): number;
  /** `k` distinct elements of `items`, as numpy's `choice(replace=False)` would (a partial Fisher–Yates). */
  choice(items: ArrayLike<number>, k: number): Int32Array;
  /** A random permutation of 0..n−1. */
  permutation(n: number): Int32Array;
  /**
   * `n` standard normals for image noise, cheaply: each uint32 gives two 16-bit uniforms (centred
   * in their bins, so never 0) and Box–Muller turns each pair into two normals.
   */
  normals(n: number): Float32Array;
}

const BLOCK = 256;

export const stream = (rng: Rng): Stream => {
  let r = rng;
  let buf: Float64Array<ArrayBufferLike> = new Float64Array(0);
  let i = 0;
  const u = (): number => {
    if (i >= buf.length) {
      [buf, r] = uniforms(r, BLOCK);
      i = 0;
    }
    return buf[i++];
  };
  const int = (lo: number, hi: number) => lo + Math.min(hi - lo, Math.floor(u() * (hi - lo + 1)));
  const choice = (items: ArrayLike<number>, k: number): Int32Array => {
    const a = Int32Array.from(items as ArrayLike<number>);
    const n = Math.min(k, a.length);
    for (let j = 0; j < n; j++) {
      const s = int(j, a.length - 1);
      const t = a[j];
      a[j] = a[s];
      a[s] = t;
    }
    return a.slice(0, n);
  };
  return {
    u,
    range: (lo, hi) => lo + (hi - lo) * u(),
    int,
    // 1 − u() is in (0, 1]: the log is finite.
    normal: () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()),
    choice,
    permutation: (n) => choice(Int32Array.from({ length: n }, (_, j) => j), n),
    normals: (n) => {
      const pairs = Math.ceil(n / 2);
      const [w, next] = uint32s(r, pairs);
      r = next;
      const out = new Float32Array(2 * pairs);
      for (let j = 0; j < pairs; j++) {
        const u1 = ((w[j] >>> 16) + 0.5) / 65536, u2 = ((w[j] & 0xffff) + 0.5) / 65536;
        const rad = Math.sqrt(-2 * Math.log(u1)), th = 2 * Math.PI * u2;
        out[2 * j] = rad * Math.cos(th);
        out[2 * j + 1] = rad * Math.sin(th);
      }
      return out.subarray(0, n);
    },
  };
};

/** The demo's independent streams, all derived from one seed. */
export interface Streams {
  readonly world: Rng;
  readonly init: Rng;
  readonly order: Rng;
  readonly sampler: Rng;
  readonly dropout: Rng;
}

export const streamsFromSeed = (seed: number): Result<Streams> =>
  E.map((r: Rng) => {
    const [world, init, order, sampler, dropout] = split(r, 5);
    return { world, init, order, sampler, dropout };
  })(seedRng(seed));
