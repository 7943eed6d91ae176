/**
 * A seeded, splittable, counter-based PRNG (Philox4x32-10, Salmon et al. SC'11 / Random123).
 *
 * Pure: an `Rng` is an immutable value (key, counter); drawing returns the numbers and the next
 * `Rng`. `split` derives independent streams from a key, so one seed can feed the readonly and
 * the train dropout masks of many steps without any shared state. No `Math.random` anywhere.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result } from './errors.js';
import { checkInt, checkNumber } from './check.js';
import { adoptTensor, allocate, validShape, shapeSize, type Tensor } from './tensor.js';

export interface Rng {
  readonly key0: number;
  readonly key1: number;
  /** Index of the next 4-word block, below 2^53. */
  readonly block: number;
}

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32 bits of the 64-bit product of two uint32 (exact, via 16-bit halves). */
const mulhi = (a: number, b: number): number => {
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const p1 = a * bLo; // < 2^48, exact
  const p2 = a * bHi; // < 2^48, exact
  return (Math.floor(p2 / 65536) + Math.floor(((p2 % 65536) * 65536 + p1) / 4294967296)) >>> 0;
};

/** One Philox4x32-10 block: 4 uint32 outputs for counter (c0..c3) under key (k0, k1). */
export const philox4x32 = (c: readonly [number, number, number, number], k0: number, k1: number): [number, number, number, number] => {
  let [c0, c1, c2, c3] = c.map((v) => v >>> 0);
  let a = k0 >>> 0;
  let b = k1 >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ a) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ b) >>> 0;
    c3 = lo0;
    a = (a + W0) >>> 0;
    b = (b + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
};

/** A generator from a seed: any safe non-negative integer. */
export const seedRng = (seed: number): Result<Rng> =>
  E.map((s: number) => Object.freeze({ key0: s % 4294967296 >>> 0, key1: Math.floor(s / 4294967296) >>> 0, block: 0 }))(
    checkInt('seed', seed, 0),
  );

const SPLIT_TAG = 0x53504c54; // "SPLT": split blocks live in a counter space draws never reach

/** `n` independent generators derived from `r` (r itself is not advanced: it is a value). */
export const split = (r: Rng, n: number): Rng[] =>
  Array.from({ length: n }, (_, i) => {
    const [k0, k1] = philox4x32([i >>> 0, Math.floor(i / 4294967296) >>> 0, SPLIT_TAG, r.block >>> 0], r.key0, r.key1);
    return Object.freeze({ key0: k0, key1: k1, block: 0 });
  });

/** `n` uniform uint32 values and the generator after them. */
export const uint32s = (r: Rng, n: number): [Uint32Array, Rng] => {
  const out = new Uint32Array(n);
  let block = r.block;
  for (let i = 0; i < n; i += 4, block++) {
    const w = philox4x32([block >>> 0, Math.floor(block / 4294967296) >>> 0, 0, 0], r.key0, r.key1);
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = w[j];
  }
  return [out, Object.freeze({ key0: r.key0, key1: r.key1, block })];
};

/** `n` uniform doubles in [0, 1) (u / 2^32) and the generator after them. */
export const uniforms = (r: Rng, n: number): [Float64Array, Rng] => {
  const [u, next] = uint32s(r, n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = u[i] / 4294967296;
  return [out, next];
};

/**
 * Caffe GPU dropout's keep threshold (SPEC §8.2): T = (unsigned)(UINT_MAX · p) evaluated in float,
 * where UINT_MAX rounds to 2^32; a unit is kept iff u > T, so P(keep) = (2^32 − 1 − T) / 2^32.
 */
export const dropoutThreshold = (ratio: number): number => {
  const t = Math.fround(Math.fround(4294967295) * Math.fround(ratio));
  return Math.min(t, 4294967295);
};

/** A float32 0/1 dropout mask of `shape` drawn as Caffe's GPU layer draws it, and the next generator. */
export const dropoutMask = (r: Rng, shape: readonly number[], ratio: number): Result<[Tensor<'float32'>, Rng]> => {
  const s = validShape('shape', shape);
  if (E.isLeft(s)) return s;
  const p = checkNumber('ratio', ratio, 0, 1, { hi: true });
  if (E.isLeft(p)) return p;
  const n = shapeSize(shape);
  const [u, next] = uint32s(r, n);
  const t = dropoutThreshold(ratio);
  const m = allocate('float32', n);
  for (let i = 0; i < n; i++) m[i] = u[i] > t ? 1 : 0;
  return E.right([adoptTensor('float32', shape, m), next]);
};

/**
 * A draw-by-draw view of a generator, for generators of data (the demo's world, the conform
 * generators' heads). The state is local to the call that made it: a function that builds a
 * stream from a seeded `Rng` and draws from it is still a pure function of that seed.
 */
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

