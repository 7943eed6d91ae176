/**
 * Small helpers of the conformance tools (`golden`, `conform`) and of the generators they share
 * with the property suite. Generator code may throw on misuse: a generator that builds an illegal
 * case is a bug of the generator, not an input error.
 */
import * as E from 'fp-ts/lib/Either.js';
import { tensor, type Tensor, type DType, type OhemError } from '../core/index.js';

/** A tensor from flat values (throws if the generator built an illegal one). */
export const T = <D extends DType>(dtype: D, shape: number[], values: ArrayLike<number>): Tensor<D> => {
  const r = tensor(dtype, shape, values);
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

/** Unwraps a Right, or throws with the Left's message (generator code only). */
export const right = <A>(r: E.Either<OhemError, A>, what = 'result'): A => {
  if (E.isLeft(r)) throw new Error(`${what}: expected Right, got Left(${r.left._tag}: ${r.left.message})`);
  return r.right;
};
