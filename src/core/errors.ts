/**
 * Errors are values (DESIGN.md "Honest at its edges"): every public function returns
 * `Either<OhemError, A>`, and the `Left` names the input and says what is wrong.
 *
 * An error is structured — `{ tag, input, what }` — and its message is derived from them, so
 * that a caller who knows the input by another name (ohem_step's `bbox_targets` is smooth L1's
 * `target`) relabels it with `relabel`, not by editing text.
 */
import * as E from 'fp-ts/lib/Either.js';

/** What happened. */
export type OhemErrorTag =
  | 'ShapeError' // wrong rank, mismatched or negative dimensions, data length ≠ shape
  | 'DTypeError' // a tensor of the wrong element type
  | 'RangeError' // a value outside the range the op's contract allows (labels, batch index, threshold…)
  | 'ValueError' // a value the op forbids (NaN, non-integer where an integer is required, bad enum, unknown attr)
  | 'LimitError' // a request past a stated limit (rank, elements, bytes): refused before any allocation
  | 'Unsupported' // a legal request this implementation (or backend) does not offer
  | 'EngineError'; // a compute engine (a gpu.js backend) failed to run a kernel it was given

export interface OhemError {
  readonly _tag: OhemErrorTag;
  /** The name of the offending input or attribute, as the caller spelled it (`rois`, `attrs.k`). */
  readonly input: string;
  /** What is wrong with it, without its name: "has rank 1, expected rank 2". */
  readonly what: string;
  /** `${input}: ${what}`, one sentence for people. */
  readonly message: string;
}

export const ohemError = (tag: OhemErrorTag, input: string, what: string): OhemError =>
  Object.freeze({ _tag: tag, input, what, message: `${input}: ${what}` });

export const shapeError = (input: string, what: string): OhemError => ohemError('ShapeError', input, what);
export const dtypeError = (input: string, what: string): OhemError => ohemError('DTypeError', input, what);
export const rangeError = (input: string, what: string): OhemError => ohemError('RangeError', input, what);
export const valueError = (input: string, what: string): OhemError => ohemError('ValueError', input, what);
export const limitError = (input: string, what: string): OhemError => ohemError('LimitError', input, what);
export const unsupported = (input: string, what: string): OhemError => ohemError('Unsupported', input, what);
export const engineFailure = (input: string, what: string): OhemError => ohemError('EngineError', input, what);

/** The same error about an input known to the caller by another name (and, optionally, another text). */
export const relabel = (e: OhemError, input: string, what: string = e.what): OhemError => ohemError(e._tag, input, what);

/** Relabels through a map of names (`{ target: 'bbox_targets' }`); names not in the map stay. */
export const renameInput =
  (names: Readonly<Record<string, string>>) =>
  (e: OhemError): OhemError =>
    Object.hasOwn(names, e.input) ? relabel(e, names[e.input]) : e;

/** The protocol error code (docs/protocol.md) of an OhemError. */
export const protocolCode = (e: OhemError): 'invalid_input' | 'unsupported' =>
  e._tag === 'Unsupported' || e._tag === 'EngineError' ? 'unsupported' : 'invalid_input';

export type Result<A> = E.Either<OhemError, A>;
