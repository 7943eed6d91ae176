/**
 * Shared helpers for the property suite (node:test + fast-check).
 * Every helper asserts; none returns a value that a test could forget to check.
 */
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { Tensor, tensor, type DType, type OhemError } from '../src/core/index.js';

/** Runs per property: FC_RUNS overrides (CI keeps the default). */
export const RUNS = Number(process.env.FC_RUNS ?? 200);
/** fast-check parameters: a fixed seed unless FC_SEED says otherwise, so CI is reproducible. */
export const fcParams = (numRuns = RUNS): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20161604,
  endOnFailure: false,
});

/** Unwraps a Right or fails the test with the Left's message. */
export const right = <A>(r: E.Either<OhemError, A>, what = 'result'): A => {
  if (E.isLeft(r)) assert.fail(`${what}: expected Right, got Left(${r.left._tag}: ${r.left.message})`);
  return r.right;
};

/** Asserts a Left whose `input` is `input` (and whose message mentions it). Returns the error. */
export const leftNaming = (r: E.Either<OhemError, unknown>, input: string): OhemError => {
  if (E.isRight(r)) assert.fail(`expected a Left naming ${input}, got Right`);
  assert.equal(r.left.input, input, `Left names ${r.left.input} (${r.left.message}), expected ${input}`);
  assert.ok(r.left.message.includes(input), `message should name ${input}: ${r.left.message}`);
  return r.left;
};

/** Calls `f` and fails if it throws (public functions return Lefts, never throw). */
export const noThrow = <A>(f: () => A, what = 'call'): A => {
  try {
    return f();
  } catch (e) {
    assert.fail(`${what} threw instead of returning a Left: ${(e as Error)?.stack ?? e}`);
  }
};

/** A tensor from flat values, for tests (throws on misuse: test code only). */
export const T = <D extends DType>(dtype: D, shape: number[], values: ArrayLike<number>): Tensor<D> => {
  const r = tensor(dtype, shape, values);
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

/** Purity: snapshots every tensor argument's bytes, runs `f`, and asserts nothing changed. */
export const assertPure = <A>(args: readonly Tensor[], f: () => A): A => {
  const before = args.map((t) => Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
  const out = f();
  args.forEach((t, i) => {
    const now = Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    assert.ok(now.equals(before[i]), `argument ${i} (shape [${t.shape}]) was mutated`);
  });
  return out;
};

/** float32 values as an arbitrary (no NaN/Inf unless asked). */
export const f32 = (min = -100, max = 100): fc.Arbitrary<number> =>
  fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));

/** A float32 tensor of the given shape with values in [min, max]. */
export const arbF32Tensor = (shape: number[], min = -10, max = 10): fc.Arbitrary<Tensor<'float32'>> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(f32(min, max), { minLength: n, maxLength: n }).map((v) => T('float32', shape, v));
};

/** |a − b| ≤ atol + rtol·|b| elementwise, with a message naming the first offender. */
export const assertClose = (
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what = 'values',
): void => {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue;
    const err = Math.abs(a - b);
    if (!(err <= atol + rtol * Math.abs(b)))
      assert.fail(`${what}[${i}]: ${a} vs ${b} (|Δ| = ${err} > ${atol} + ${rtol}·|b|)`);
  }
};

/** Bitwise equality of two float arrays (distinguishes −0 and +0; NaNs equal). */
export const assertBitEqual = (actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void => {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (!Object.is(a, b)) assert.fail(`${what}[${i}]: ${a} is not bit-equal to ${b}`);
  }
};
