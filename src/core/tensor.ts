/**
 * The immutable Tensor: an ndarray view over a typed array, plus its dtype.
 *
 * Immutability is by construction: the public constructors copy what they are given, the class
 * exposes no mutator, and `data` is typed read-only. Ops allocate fresh storage for their outputs
 * and hand it over with `adoptTensor` (no copy) — the only way storage enters a Tensor uncopied.
 * It is internal to the project: the package's public `core` (src/core/index.ts) does not export
 * it, so immutability holds at the package boundary too.
 *
 * Every shape obeys the limits of limits.ts (rank ≤ 8, ≤ 2³¹ − 1 elements), checked before
 * anything is allocated.
 */
import ndarray from 'ndarray';
import ops from 'ndarray-ops';
import * as E from 'fp-ts/lib/Either.js';
import { shapeError, dtypeError, valueError, limitError, type Result } from './errors.js';
import { MAX_ELEMENTS, MAX_RANK, preview } from './limits.js';

export type DType = 'float32' | 'float64' | 'int32';
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export type ArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : Int32Array;

/** A typed array seen through a read-only lens: indexable, iterable, but no `set`/`fill`/writes. */
export type ReadonlyTypedArray<A extends Float32Array | Float64Array | Int32Array> = Omit<
  A,
  'set' | 'fill' | 'copyWithin' | 'reverse' | 'sort' | number
> & { readonly [i: number]: number };

const ctor = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

export const allocate = <D extends DType>(dtype: D, n: number): ArrayOf<D> =>
  new ctor[dtype](n) as ArrayOf<D>;

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly size: number;
  readonly #nd: ndarray.NdArray<ArrayOf<D>>;

  /** @internal use `tensor`, `fromNested`, `fromNdarray`, or `adoptTensor`. */
  private constructor(dtype: D, shape: readonly number[], data: ArrayOf<D>) {
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.size = data.length;
    this.#nd = ndarray(data, [...shape]);
    Object.freeze(this);
  }

  /** @internal */
  static adopt<D extends DType>(dtype: D, shape: readonly number[], data: ArrayOf<D>): Tensor<D> {
    return new Tensor(dtype, shape, data);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The row-major storage, read-only. Ops read it directly for speed; nobody writes it. */
  get data(): ReadonlyTypedArray<ArrayOf<D>> {
    return this.#nd.data as unknown as ReadonlyTypedArray<ArrayOf<D>>;
  }

  /** One element by its multi-index (ndarray semantics: no bounds check). */
  get(...index: number[]): number {
    return this.#nd.get(...index) as number;
  }

  /** A fresh, mutable ndarray over a copy of the storage: change it as you like. */
  toNdarray(): ndarray.NdArray<ArrayOf<D>> {
    const out = ndarray(allocate(this.dtype, this.size), [...this.shape]);
    ops.assign(out, this.#nd);
    return out;
  }

  /** A fresh, mutable copy of the storage. */
  copyData(): ArrayOf<D> {
    return this.#nd.data.slice() as ArrayOf<D>;
  }

  /** Nested JS arrays (a scalar for rank 0). */
  toNested(): unknown {
    const d = this.#nd.data;
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return d[offset];
      const stride = product(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
}

/** Hands freshly allocated storage to a Tensor without copying. Internal: the caller must not keep writing it. */
export const adoptTensor = <D extends DType>(dtype: D, shape: readonly number[], data: ArrayOf<D>): Tensor<D> =>
  Tensor.adopt(dtype, shape, data);

export const isDType = (x: unknown): x is DType => typeof x === 'string' && (DTYPES as readonly string[]).includes(x);

/**
 * Shape check shared by every constructor and the codec: an array of at most MAX_RANK
 * non-negative safe integers whose product is at most MAX_ELEMENTS. The rank is checked before
 * the entries are read, so a shape of a million entries costs nothing.
 */
export const validShape = (input: string, shape: unknown): Result<readonly number[]> => {
  if (!Array.isArray(shape)) return E.left(shapeError(input, `shape must be an array of non-negative integers, got ${preview(shape)}`));
  if (shape.length > MAX_RANK) return E.left(limitError(input, `has rank ${shape.length}; a tensor has at most ${MAX_RANK} dimensions`));
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      return E.left(shapeError(input, `shape ${preview(shape)} has dimension ${i} = ${preview(d)}, not a non-negative integer`));
    if (d > MAX_ELEMENTS) return E.left(limitError(input, `shape ${preview(shape)} has dimension ${i} = ${d}, more than 2^31 − 1`));
    n *= d;
  }
  if (n > MAX_ELEMENTS) return E.left(limitError(input, `shape ${preview(shape)} has ${n} elements, more than 2^31 − 1`));
  return E.right(shape as number[]);
};

const storeValue = (dtype: DType, input: string, v: number, i: number): Result<number> => {
  if (dtype === 'int32') {
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647)
      return E.left(valueError(input, `element ${i} is ${v}, not an int32`));
  }
  return E.right(v);
};

/**
 * A tensor from a flat list of values (copied). The length must equal the product of the shape.
 * int32 values must be integers in range; float values are rounded to the dtype as a store would.
 */
export const tensor = <D extends DType>(
  dtype: D,
  shape: readonly number[],
  values: ArrayLike<number>,
  input = 'tensor',
): Result<Tensor<D>> => {
  if (!isDType(dtype)) return E.left(dtypeError(input, `dtype ${preview(dtype)} is not one of ${DTYPES.join(', ')}`));
  const s = validShape(input, shape);
  if (E.isLeft(s)) return s;
  const n = product(shape);
  if (values.length !== n)
    return E.left(shapeError(input, `has ${values.length} values but shape [${shape.join(', ')}] needs ${n}`));
  const out = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number') return E.left(valueError(input, `element ${i} is not a number`));
    const ok = storeValue(dtype, input, v, i);
    if (E.isLeft(ok)) return ok;
    out[i] = v;
  }
  return E.right(adoptTensor(dtype, shape, out));
};

/** A tensor from nested arrays (a bare number is a rank-0 tensor). Ragged input is a Left. */
export const fromNested = <D extends DType>(dtype: D, nested: unknown, input = 'tensor'): Result<Tensor<D>> => {
  const shape: number[] = [];
  let probe: unknown = nested;
  while (Array.isArray(probe)) {
    // The limits first: a nesting deeper than MAX_RANK is refused before it is walked.
    if (shape.length === MAX_RANK) return E.left(limitError(input, `is nested deeper than ${MAX_RANK} levels; a tensor has at most ${MAX_RANK} dimensions`));
    shape.push(probe.length);
    probe = probe[0];
  }
  const s = validShape(input, shape);
  if (E.isLeft(s)) return s;
  const flat: number[] = [];
  const walk = (x: unknown, dim: number, path: string): Result<void> => {
    if (dim === shape.length) {
      if (typeof x !== 'number') return E.left(valueError(input, `element ${path || '[]'} is not a number`));
      flat.push(x);
      return E.right(undefined);
    }
    if (!Array.isArray(x) || x.length !== shape[dim])
      return E.left(shapeError(input, `is ragged at ${path || 'the top level'}: expected ${shape[dim]} entries`));
    for (let i = 0; i < x.length; i++) {
      const r = walk(x[i], dim + 1, `${path}[${i}]`);
      if (E.isLeft(r)) return r;
    }
    return E.right(undefined);
  };
  const w = walk(nested, 0, '');
  if (E.isLeft(w)) return w;
  return tensor(dtype, shape, flat, input);
};

/** A tensor from any (possibly strided) ndarray, copied into row-major storage with ndarray-ops. */
export const fromNdarray = <D extends DType>(dtype: D, nd: ndarray.NdArray, input = 'tensor'): Result<Tensor<D>> => {
  if (!isDType(dtype)) return E.left(dtypeError(input, `dtype ${preview(dtype)} is not one of ${DTYPES.join(', ')}`));
  const out = ndarray(allocate(dtype, nd.size), [...nd.shape]);
  ops.assign(out, nd);
  return tensor(dtype, nd.shape, out.data, input);
};

/**
 * The storage of a float tensor as the float32 blob Caffe would hold: a float32 tensor's own
 * storage (read-only by contract: the caller must not write it), a float64 tensor's values
 * rounded once to float32 in a fresh array. The one place float64 inputs become float32.
 * @internal
 */
export const float32Data = (t: Tensor): Float32Array =>
  t.dtype === 'float32' ? (t.data as unknown as Float32Array) : Float32Array.from(t.data);

/** Zeros of a shape (internal convenience; shape must already be valid). */
export const zeros = <D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> =>
  adoptTensor(dtype, shape, allocate(dtype, product(shape)));

export const shapeSize = product;

export const shapeString = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
