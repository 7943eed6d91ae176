/**
 * PROTOCOL.md tensor codec: `{dtype, shape, data}` with "NaN"/"Infinity"/"-Infinity" strings, or
 * `{dtype, shape, b64}` with the little-endian bytes. Decoding validates and returns a Left naming
 * the input; encoding writes float32 decimals with the shortest digits that parse back to the same
 * float32 (PROTOCOL.md), float64 with JS's shortest round-trip form.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  type DType,
  DTYPES,
  isDType,
  adoptTensor,
  allocate,
  validShape,
  shapeSize,
  dtypeError,
  shapeError,
  valueError,
} from '../core/index.js';

export interface JsonTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data?: ReadonlyArray<number | string>;
  readonly b64?: string;
}

export type Encoding = 'data' | 'b64';

const NONFINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const bytesOf = (d: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array => {
  const view = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (isLittleEndian) return view;
  const el = d.byteLength / d.length;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += el) for (let j = 0; j < el; j++) out[i + j] = view[i + el - 1 - j];
  return out;
};

/** Decodes one protocol tensor; `input` names it in any Left (e.g. `inputs.rois`). */
export const decodeTensor = (input: string, j: unknown): Result<Tensor> => {
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    return E.left(valueError(input, 'must be a tensor object {dtype, shape, data | b64}'));
  const o = j as Record<string, unknown>;
  if (!isDType(o.dtype)) return E.left(dtypeError(input, `dtype ${JSON.stringify(o.dtype)} is not one of ${DTYPES.join(', ')}`));
  const dtype = o.dtype;
  const s = validShape(input, o.shape);
  if (E.isLeft(s)) return s;
  const shape = s.right;
  const n = shapeSize(shape);
  const out = allocate(dtype, n);
  if (typeof o.b64 === 'string' && o.data === undefined) {
    const buf = Buffer.from(o.b64, 'base64');
    if (buf.length !== n * out.BYTES_PER_ELEMENT)
      return E.left(shapeError(input, `b64 holds ${buf.length} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${n * out.BYTES_PER_ELEMENT}`));
    const bytes = new Uint8Array(out.buffer);
    const el = out.BYTES_PER_ELEMENT;
    for (let i = 0; i < buf.length; i += el)
      for (let k = 0; k < el; k++) bytes[i + k] = buf[isLittleEndian ? i + k : i + el - 1 - k];
    return E.right(adoptTensor(dtype, shape, out));
  }
  if (!Array.isArray(o.data)) return E.left(valueError(input, 'needs exactly one of "data" (an array) or "b64" (a string)'));
  if (o.data.length !== n)
    return E.left(shapeError(input, `has ${o.data.length} values but shape [${shape.join(', ')}] needs ${n}`));
  for (let i = 0; i < n; i++) {
    const v = o.data[i];
    let x: number;
    if (typeof v === 'number') x = v;
    else if (typeof v === 'string' && v in NONFINITE) x = NONFINITE[v];
    else return E.left(valueError(input, `data[${i}] is ${JSON.stringify(v)}, not a number or "NaN"/"Infinity"/"-Infinity"`));
    if (dtype === 'int32' && (!Number.isInteger(x) || x < -2147483648 || x > 2147483647))
      return E.left(valueError(input, `data[${i}] is ${x}, not an int32`));
    out[i] = x;
  }
  return E.right(adoptTensor(dtype, shape, out));
};

/** Shortest decimal that parses back to the same float32 (PROTOCOL.md). */
export const float32Decimal = (x: number): number => {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
};

const jsonNumber = (x: number, dtype: DType): number | string => {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return dtype === 'float32' ? float32Decimal(x) : x;
};

export const encodeTensor = (t: Tensor, encoding: Encoding = 'data'): JsonTensor => {
  if (encoding === 'b64') {
    const d = t.data as unknown as Float32Array;
    return { dtype: t.dtype, shape: [...t.shape], b64: Buffer.from(bytesOf(d)).toString('base64') };
  }
  const data: (number | string)[] = new Array(t.size);
  for (let i = 0; i < t.size; i++) data[i] = jsonNumber(t.data[i], t.dtype);
  return { dtype: t.dtype, shape: [...t.shape], data };
};
