/**
 * Errors are values (DESIGN.md "Honest at its edges"): every public function returns
 * `Either<OhemError, A>`, and the `Left` names the input and says what is wrong.
 */
import * as E from 'fp-ts/lib/Either.js';

/** What kind of wrong. `Unsupported` is an option value we deliberately do not implement. */
export type OhemErrorTag =
  | 'ShapeError' // wrong rank, mismatched or negative dimensions, data length ≠ shape
  | 'DTypeError' // a tensor of the wrong element type
  | 'RangeError' // a value outside the range the op's contract allows (labels, batch index, threshold…)
  | 'ValueError' // a value the op forbids (NaN, non-integer where an integer is required, bad enum)
  | 'Unsupported'; // a legal request this implementation does not offer

export interface OhemError {
  readonly _tag: OhemErrorTag;
  /** The name of the offending input or attribute, as the caller spelled it (`rois`, `attrs.k`). */
  readonly input: string;
  /** One sentence that names the input and what is wrong with it. */
  readonly message: string;
}

export const ohemError = (tag: OhemErrorTag, input: string, what: string): OhemError =>
  Object.freeze({ _tag: tag, input, message: `${input}: ${what}` });

export const shapeError = (input: string, what: string): OhemError => ohemError('ShapeError', input, what);
export const dtypeError = (input: string, what: string): OhemError => ohemError('DTypeError', input, what);
export const rangeError = (input: string, what: string): OhemError => ohemError('RangeError', input, what);
export const valueError = (input: string, what: string): OhemError => ohemError('ValueError', input, what);
export const unsupported = (input: string, what: string): OhemError => ohemError('Unsupported', input, what);

/** The protocol error code (PROTOCOL.md) of an OhemError. */
export const protocolCode = (e: OhemError): 'invalid_input' | 'unsupported' =>
  e._tag === 'Unsupported' ? 'unsupported' : 'invalid_input';

export type Result<A> = E.Either<OhemError, A>;

/** Chains `E.Either`s from a record of validators, stopping at the first Left (declaration order). */
export const firstLeft = (...checks: ReadonlyArray<E.Either<OhemError, unknown>>): Result<void> => {
  for (const c of checks) if (E.isLeft(c)) return c;
  return E.right(undefined);
};

/**
 * A compute engine (a gpu.js backend of the heavy ops) that cannot do what it was asked — its
 * kernel fell back to another mode, it was destroyed, its device failed — throws an Error named
 * `EngineError`, because the engine interface of the mining head is synchronous and returns plain
 * arrays. The ops and `ohemStep` catch exactly these and answer a Left naming `backend`; any other
 * exception is a bug and propagates.
 */
export const ENGINE_ERROR = 'EngineError';
export const engineError = (message: string): Error => Object.assign(new Error(message), { name: ENGINE_ERROR });
export const isEngineError = (e: unknown): e is Error => e instanceof Error && e.name === ENGINE_ERROR;
/** The Left for a caught engine failure. */
export const engineLeft = (e: Error): OhemError => ohemError('Unsupported', 'backend', e.message.startsWith('backend') ? e.message.replace(/^backend:\s*/, '') : e.message);
