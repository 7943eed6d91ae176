/**
 * Validators shared by every public op. Each returns `Right` of what it checked or a `Left`
 * naming the input. Ops call them before any work; internal kernels then assume valid inputs.
 */
import * as E from 'fp-ts/lib/Either.js';
import { shapeError, dtypeError, rangeError, valueError, type Result } from './errors.js';
import { Tensor, type DType, shapeString } from './tensor.js';
import { preview } from './limits.js';

/** Dimension spec: a number must match exactly; a string names a dimension bound on first sight. */
export type DimSpec = number | string;

export const isTensor = (x: unknown): x is Tensor => x instanceof Tensor;

/**
 * Checks that `t` is a Tensor of one of `dtypes` whose shape matches `dims`, binding named
 * dimensions in `env` (so `[R, 5]` then `[R]` checks two inputs agree on R).
 */
export const checkTensor = (
  input: string,
  t: unknown,
  dims: readonly DimSpec[],
  dtypes: readonly DType[],
  env: Map<string, number> = new Map(),
): Result<Tensor> => {
  if (!isTensor(t)) return E.left(valueError(input, 'is missing or not a Tensor'));
  if (!dtypes.includes(t.dtype))
    return E.left(dtypeError(input, `has dtype ${t.dtype}, expected ${dtypes.join(' or ')}`));
  if (t.rank !== dims.length)
    return E.left(shapeError(input, `has rank ${t.rank} (shape ${shapeString(t.shape)}), expected rank ${dims.length} [${dims.join(', ')}]`));
  for (let i = 0; i < dims.length; i++) {
    const want = dims[i];
    const got = t.shape[i];
    if (typeof want === 'number') {
      if (got !== want) return E.left(shapeError(input, `has shape ${shapeString(t.shape)}, dimension ${i} must be ${want}`));
    } else {
      const bound = env.get(want);
      if (bound === undefined) env.set(want, got);
      else if (bound !== got)
        return E.left(shapeError(input, `has shape ${shapeString(t.shape)}: dimension ${i} (${want}) is ${got} but ${want} = ${bound} from an earlier input`));
    }
  }
  return E.right(t);
};

/** Every element finite (no NaN, no ±Infinity). */
export const checkFinite = (input: string, t: Tensor): Result<Tensor> => {
  const d = t.data;
  for (let i = 0; i < d.length; i++)
    if (!Number.isFinite(d[i])) return E.left(valueError(input, `element ${i} is ${d[i]}; only finite values are allowed`));
  return E.right(t);
};

/** No NaN (infinities allowed). */
export const checkNoNaN = (input: string, t: Tensor): Result<Tensor> => {
  const d = t.data;
  for (let i = 0; i < d.length; i++)
    if (Number.isNaN(d[i])) return E.left(valueError(input, `element ${i} is NaN`));
  return E.right(t);
};

/** Every element an integer in [lo, hi) — labels, class ids stored as floats (SPEC pitfall 24). */
export const checkIntegerValues = (input: string, t: Tensor, lo: number, hi: number, what = 'value'): Result<Tensor> => {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isInteger(v)) return E.left(valueError(input, `element ${i} is ${v}, not an integer ${what}`));
    if (v < lo || v >= hi) return E.left(rangeError(input, `element ${i} is ${v}, outside [${lo}, ${hi})`));
  }
  return E.right(t);
};

/** Every element exactly 0 or 1 (dropout masks). */
export const checkBinary = (input: string, t: Tensor): Result<Tensor> => {
  const d = t.data;
  for (let i = 0; i < d.length; i++)
    if (d[i] !== 0 && d[i] !== 1) return E.left(valueError(input, `element ${i} is ${d[i]}; a mask holds only 0 and 1`));
  return E.right(t);
};

/** An integer option in [lo, hi]. */
export const checkInt = (input: string, v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): Result<number> => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    return E.left(valueError(input, `must be an integer, got ${preview(v)}`));
  if (v < lo || v > hi) return E.left(rangeError(input, `is ${v}, outside [${lo}, ${hi === Number.MAX_SAFE_INTEGER ? '∞' : hi}]`));
  return E.right(v);
};

/** A finite number option in a range; `open` excludes the ends named. */
export const checkNumber = (
  input: string,
  v: unknown,
  lo = -Infinity,
  hi = Infinity,
  open: { lo?: boolean; hi?: boolean } = {},
): Result<number> => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return E.left(valueError(input, `must be a finite number, got ${preview(v)}`));
  const belowLo = open.lo ? v <= lo : v < lo;
  const aboveHi = open.hi ? v >= hi : v > hi;
  if (belowLo || aboveHi)
    return E.left(rangeError(input, `is ${v}, outside ${open.lo ? '(' : '['}${lo}, ${hi}${open.hi ? ')' : ']'}`));
  return E.right(v);
};

/** One of a fixed set of strings. */
export const checkEnum = <T extends string>(input: string, v: unknown, allowed: readonly T[]): Result<T> =>
  typeof v === 'string' && (allowed as readonly string[]).includes(v)
    ? E.right(v as T)
    : E.left(valueError(input, `is ${preview(v)}, expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`));
