/**
 * Ordering by value with a declared tie rule, and top-k selection (OHEM's `select_hard_examples`).
 *
 * `orderDescending` is the one place the reference's tie rule lives (SPEC §2.2, pitfall 8): NMS
 * orders its boxes with it (SPEC §4) and the mining code orders losses with it (SPEC §2.1).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Tensor, adoptTensor, allocate, checkNoNaN } from '../core/internal.js';
import { type AttrDef, type OpDef, exact, opFn } from './def.js';
import { referenceKernels } from './kernels.js';

/**
 * How equal values are ordered (SPEC §2.2). Position = position in the array being ordered.
 * - `index_desc` (the reference default): equal values by position descending — what 2016 NumPy's
 *   `argsort()[::-1]` did for n ≤ 16 (stable insertion sort, then reversed), made total.
 * - `index_asc`: equal values by position ascending (TF, JAX, tfjs, ONNX top-k).
 */
export type TieRule = 'index_desc' | 'index_asc';
export const TIE_RULES: readonly TieRule[] = ['index_desc', 'index_asc'];

/** The tie rule of every ordering (nms, top_k, the selection dialects); its default is the op's. */
export const TIES_ATTR: AttrDef = {
  name: 'ties',
  domain: { kind: 'enum', values: TIE_RULES },
  default: 'index_desc',
  doc: 'equal values by position: index_desc (2016 NumPy argsort()[::-1], the reference default) or index_asc (TF, JAX, tfjs, ONNX)',
  means: {
    index_desc: 'orders equal values by position descending (NumPy argsort()[::-1], the original)',
    index_asc: 'orders equal values by position ascending (a stable sort: TF, JAX, tfjs, ONNX, torch)',
  },
};

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
  /** How many to select; required, an integer ≥ 0 (k > n selects all n; 0 selects none). */
  readonly k: number;
  readonly ties: TieRule;
}

export const topKDef: OpDef<TopKAttrs, { readonly indices: Tensor<'int32'> }> = {
  name: 'top_k',
  version: 1,
  summary: 'select_hard_examples: the first min(k, n) positions by value descending, ties by the rule',
  doc: 'docs/semantics.md#top_k',
  inputs: [
    {
      name: 'values',
      dtypes: ['float32', 'float64'],
      read: 'as-is',
      shape: ['n'],
      doc: '[n], no NaN; ranked in the dtype they arrive in (float64 losses are not rounded, SPEC §2.2)',
    },
  ],
  attrs: [
    // Protocol 1.1 (amendment 3): k = 0 is the original's slice [0:0], an empty selection.
    { name: 'k', domain: { kind: 'int', min: 0 }, doc: 'how many to select, an integer ≥ 0 (required)' },
    TIES_ATTR,
  ],
  outputs: [
    {
      name: 'indices',
      dtype: 'int32',
      shape: ['n'],
      bounded: true,
      tolerance: exact('integer positions: exact (ties compared under the declared ties rule, which both sides apply)'),
      doc: 'min(k, n) positions, value descending',
    },
  ],
  kernels: [],
  check: (v) => checkNoNaN('values', v.inputs.values),
  run: (v) => {
    const order = orderDescending(v.inputs.values.data, v.attrs.ties);
    const m = Math.min(v.attrs.k, order.length);
    const out = allocate('int32', m);
    out.set(order.subarray(0, m));
    return E.right({ indices: adoptTensor('int32', [m], out) });
  },
};

/**
 * `select_hard_examples` (SPEC §2.1): the first min(k, n) positions of `values` by value
 * descending, ties by `ties` (SPEC §2.2). ±Infinity are ordinary values; NaN is rejected.
 */
export const selectTopK = opFn<{ readonly values: Tensor }, TopKAttrs, { readonly indices: Tensor<'int32'> }>(topKDef, () => referenceKernels);
