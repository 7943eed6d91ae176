/**
 * Ordering by value with a declared tie rule, and top-k selection (OHEM's `select_hard_examples`).
 *
 * `orderDescending` is the one place the reference's tie rule lives (SPEC §2.2, pitfall 8): NMS
 * orders its boxes with it (SPEC §4) and the mining code orders losses with it (SPEC §2.1).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  Tensor,
  adoptTensor,
  allocate,
  checkEnum,
  checkInt,
  checkNoNaN,
  checkTensor,
  valueError,
} from '../core/index.js';

/**
 * How equal values are ordered (SPEC §2.2). Position = position in the array being ordered.
 * - `index_desc` (the reference default): equal values by position descending — what 2016 NumPy's
 *   `argsort()[::-1]` did for n ≤ 16 (stable insertion sort, then reversed), made total.
 * - `index_asc`: equal values by position ascending (TF, JAX, tfjs, ONNX top-k).
 */
export type TieRule = 'index_desc' | 'index_asc';
export const TIE_RULES: readonly TieRule[] = ['index_desc', 'index_asc'];

/**
 * Positions of `values` ordered by value descending, equal values by position as `ties` says.
 *
 * The comparator is a strict total order on positions (value first, then position, and positions
 * are distinct), so the result is unique and does not depend on any sort's stability. −0 and +0
 * are equal values (IEEE comparison) and therefore tie. NaN is not a value any op lets through;
 * to keep the order total anyway, NaNs sort after everything (after −Infinity), among themselves
 * by the tie rule.
 *
 * An explicit bottom-up merge sort: O(n log n), no allocation per element, no engine sort.
 */
export const orderDescending = (values: ArrayLike<number>, ties: TieRule): Int32Array => {
  const n = values.length;
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = values[i];
  const posDesc = ties === 'index_desc';
  // true when position a goes strictly before position b
  const before = (a: number, b: number): boolean => {
    const va = v[a];
    const vb = v[b];
    if (va > vb) return true;
    if (va < vb) return false;
    if (va !== vb) {
      // at least one NaN: NaN goes last
      const naA = va !== va;
      const naB = vb !== vb;
      if (naA !== naB) return naB;
    }
    return posDesc ? a > b : a < b;
  };
  let src = new Int32Array(n);
  let dst = new Int32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) dst[k++] = before(src[j], src[i]) ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
};

export interface TopKAttrs {
  /** How many to select; required, a positive integer (k > n selects all n). */
  readonly k: number;
  readonly ties: TieRule;
}
/** `k` has no default (PROTOCOL.md): a request without it is a Left. */
export const TOP_K_DEFAULTS: Omit<TopKAttrs, 'k'> = { ties: 'index_desc' };

/**
 * `select_hard_examples` (SPEC §2.1): the first min(k, n) positions of `values` by value
 * descending, ties by `ties` (SPEC §2.2). Values are ranked in the dtype they arrive in (float64
 * losses are not rounded to float32: SPEC §2.2, the final ranking uses the float64 loss).
 * ±Infinity are ordinary values; NaN is rejected.
 */
export const selectTopK = (
  inputs: { readonly values: Tensor },
  attrs: Partial<TopKAttrs> = {},
): Result<{ readonly indices: Tensor<'int32'> }> => {
  const vals = checkTensor('values', inputs?.values, ['n'], ['float32', 'float64']);
  if (E.isLeft(vals)) return vals;
  const noNaN = checkNoNaN('values', vals.right);
  if (E.isLeft(noNaN)) return noNaN;
  const a = attrs ?? {};
  const k =
    a.k === undefined
      ? E.left(valueError('attrs.k', 'is required: a positive integer (how many to select)'))
      : checkInt('attrs.k', a.k, 1);
  if (E.isLeft(k)) return k;
  const ties = checkEnum('attrs.ties', a.ties === undefined ? TOP_K_DEFAULTS.ties : a.ties, TIE_RULES);
  if (E.isLeft(ties)) return ties;

  const order = orderDescending(vals.right.data, ties.right);
  const m = Math.min(k.right, order.length);
  const out = allocate('int32', m);
  out.set(order.subarray(0, m));
  return E.right({ indices: adoptTensor('int32', [m], out) });
};
