/**
 * The vocabulary of ohem-ref, as the package exports it (`ohem-ref/core`): the immutable Tensor
 * and its constructors (which copy what they are given), the structured errors, the checks, the
 * float32 and C-rounding helpers, the seeded PRNG and the limits.
 *
 * `adoptTensor` (storage handed over without a copy) and `float32Data` (a tensor's storage as a
 * mutable-typed array) are internal (src/core/internal.ts): exporting them would let a caller
 * keep writing a tensor's storage, and immutability would stop at the package boundary.
 */
export * from './errors.js';
export * from './float32.js';
export * from './limits.js';
export * from './check.js';
export * from './prng.js';
export {
  type DType,
  DTYPES,
  type ArrayOf,
  type ReadonlyTypedArray,
  allocate,
  Tensor,
  isDType,
  validShape,
  tensor,
  fromNested,
  fromNdarray,
  zeros,
  shapeSize,
  shapeString,
} from './tensor.js';
