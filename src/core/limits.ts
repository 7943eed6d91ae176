/**
 * The limits every tensor and every request obeys (docs/protocol.md, "Limits"; protocol 1.1,
 * amendment 5), and a bounded preview of any value for error messages.
 *
 * They are checked before anything is allocated: a shape is refused on its rank and element count
 * before a typed array of that size exists, and an op's outputs are sized from its validated
 * inputs and attrs and refused past the byte budget before the kernel runs.
 */

/** Most dimensions of a tensor. ndarray compiles a constructor per rank, so the rank must be small. */
export const MAX_RANK = 8;
/** Most elements of one tensor: C `int` counts (Caffe's blobs, the argmax indices). */
export const MAX_ELEMENTS = 2 ** 31 - 1;
/**
 * Default byte budgets of one request: everything its inputs decode to, and everything its op
 * allocates for its outputs. A 24 GiB machine answers two such requests side by side with room.
 */
export const DEFAULT_MAX_INPUT_BYTES = 2 * 2 ** 30;
export const DEFAULT_MAX_OUTPUT_BYTES = 2 * 2 ** 30;

export interface Limits {
  readonly maxRank: number;
  readonly maxElements: number;
  readonly maxInputBytes: number;
  readonly maxOutputBytes: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxRank: MAX_RANK,
  maxElements: MAX_ELEMENTS,
  maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
  maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
});

const PREVIEW_ITEMS = 6;
const PREVIEW_CHARS = 80;

/**
 * A short, bounded description of any value for an error message: never serialises the value
 * whole, never recurses more than two levels, never walks a prototype. `[1, 2, 3, … (10000 items)]`,
 * `"abc…" (5000 chars)`, `an object {a, b, …}`.
 */
export const preview = (v: unknown, depth = 0): string => {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'string':
      return v.length <= PREVIEW_CHARS ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, PREVIEW_CHARS))}… (${v.length} chars)`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
  }
  if (Array.isArray(v)) {
    if (depth >= 2) return `an array of ${v.length}`;
    const head = v.slice(0, PREVIEW_ITEMS).map((x) => preview(x, depth + 1));
    return `[${head.join(', ')}${v.length > PREVIEW_ITEMS ? `, … (${v.length} items)` : ''}]`;
  }
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as { length?: number }).length ?? v.byteLength}`;
  const keys = Object.keys(v as object);
  return `an object {${keys.slice(0, PREVIEW_ITEMS).join(', ')}${keys.length > PREVIEW_ITEMS ? `, … (${keys.length} keys)` : ''}}`;
};

/** Bytes per element of a wire dtype. */
export const BYTES: Readonly<Record<'float32' | 'float64' | 'int32', number>> = Object.freeze({ float32: 4, float64: 8, int32: 4 });
