/**
 * The protocol's tensor codec (docs/protocol.md "Tensors"): `{dtype, shape, data}` with
 * "NaN"/"Infinity"/"-Infinity" strings, or `{dtype, shape, b64}` with the little-endian bytes.
 * Decoding validates and returns a Left naming the input; encoding writes float32 decimals with
 * the shortest digits that parse back to the same float32, float64 with JS's shortest round-trip
 * form, or b64.
 *
 * Hostile input (docs/protocol.md "Limits"): a header is read before any storage exists — its
 * dtype, its shape against the rank and element limits, the bytes it will take against the
 * request's input budget — and only own properties are read (a `data` value "constructor" is not
 * a number). A tensor with both `data` and `b64` is refused. Messages preview values, never
 * serialise them whole.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type DType,
  type Result,
  type Tensor,
  BYTES,
  DTYPES,
  adoptTensor,
  allocate,
  dtypeError,
  isDType,
  limitError,
  preview,
  shapeError,
  validShape,
  valueError,
} from '../core/internal.js';

export interface JsonTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data?: ReadonlyArray<number | string>;
  readonly b64?: string;
}

export type Encoding = 'data' | 'b64';

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

const NONFINITE: ReadonlyMap<string, number> = new Map([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
]);

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const bytesOf = (d: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array => {
  const view = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (isLittleEndian) return view;
  const el = d.byteLength / d.length;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += el) for (let j = 0; j < el; j++) out[i + j] = view[i + el - 1 - j];
  return out;
};

/** What a tensor will be, read from its header alone: nothing is allocated. */
export interface TensorHeader {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly size: number;
  readonly bytes: number;
  readonly payload: { readonly data: readonly unknown[] } | { readonly b64: string };
}

/** The header of one protocol tensor; `input` names it in any Left. */
export const tensorHeader = (input: string, j: unknown): Result<TensorHeader> => {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return E.left(valueError(input, `must be a tensor object {dtype, shape, data | b64}, got ${preview(j)}`));
  const o = j as Record<string, unknown>;
  const dtype = hasOwn(o, 'dtype') ? o.dtype : undefined;
  if (!isDType(dtype)) return E.left(dtypeError(input, `dtype ${preview(dtype)} is not one of ${DTYPES.join(', ')}`));
  const s = validShape(input, hasOwn(o, 'shape') ? o.shape : undefined);
  if (E.isLeft(s)) return s;
  const shape = s.right;
  const size = shape.reduce((a, b) => a * b, 1);
  const bytes = size * BYTES[dtype];
  const hasData = hasOwn(o, 'data') && o.data !== undefined;
  const hasB64 = hasOwn(o, 'b64') && o.b64 !== undefined;
  if (hasData === hasB64) return E.left(valueError(input, 'needs exactly one of "data" (an array) or "b64" (a string)'));
  if (hasB64) {
    if (typeof o.b64 !== 'string') return E.left(valueError(input, `b64 must be a base64 string, got ${preview(o.b64)}`));
    // A base64 string of n bytes has 4·⌈n/3⌉ characters (padded) or fewer (unpadded): checked
    // before it is decoded, so no buffer is made for a shape the string cannot fill.
    const chars = o.b64.replace(/=+$/, '').length;
    if (Math.floor((chars * 3) / 4) !== bytes)
      return E.left(shapeError(input, `b64 holds about ${Math.floor((chars * 3) / 4)} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${bytes}`));
    return E.right({ dtype, shape, size, bytes, payload: { b64: o.b64 } });
  }
  if (!Array.isArray(o.data)) return E.left(valueError(input, `data must be an array of values, got ${preview(o.data)}`));
  if (o.data.length !== size) return E.left(shapeError(input, `has ${o.data.length} values but shape [${shape.join(', ')}] needs ${size}`));
  return E.right({ dtype, shape, size, bytes, payload: { data: o.data } });
};

/** The tensor of a checked header: its values (own strings only for the non-finite ones). */
export const decodeHeader = (input: string, h: TensorHeader): Result<Tensor> => {
  const out = allocate(h.dtype, h.size);
  if ('b64' in h.payload) {
    const buf = Buffer.from(h.payload.b64, 'base64');
    if (buf.length !== h.bytes) return E.left(shapeError(input, `b64 holds ${buf.length} bytes but shape [${h.shape.join(', ')}] of ${h.dtype} needs ${h.bytes}`));
    const bytes = new Uint8Array(out.buffer);
    const el = out.BYTES_PER_ELEMENT;
    if (isLittleEndian) bytes.set(buf);
    else for (let i = 0; i < buf.length; i += el) for (let k = 0; k < el; k++) bytes[i + k] = buf[i + el - 1 - k];
    return E.right(adoptTensor(h.dtype, h.shape, out));
  }
  const data = h.payload.data;
  for (let i = 0; i < h.size; i++) {
    const v = data[i];
    let x: number;
    if (typeof v === 'number') x = v;
    else if (typeof v === 'string' && NONFINITE.has(v)) x = NONFINITE.get(v)!;
    else return E.left(valueError(input, `data[${i}] is ${preview(v)}, not a number or "NaN"/"Infinity"/"-Infinity"`));
    if (h.dtype === 'int32' && (!Number.isInteger(x) || x < -2147483648 || x > 2147483647)) return E.left(valueError(input, `data[${i}] is ${x}, not an int32`));
    out[i] = x;
  }
  return E.right(adoptTensor(h.dtype, h.shape, out));
};

/** Decodes one protocol tensor (header, then values); `input` names it in any Left. */
export const decodeTensor = (input: string, j: unknown): Result<Tensor> => E.chain((h: TensorHeader) => decodeHeader(input, h))(tensorHeader(input, j));

/**
 * Decodes a request's inputs: every header first, their bytes summed against `maxBytes` (the
 * Left names the input that crosses the budget), then the values.
 */
export const decodeInputs = (raw: Readonly<Record<string, unknown>>, maxBytes: number): Result<Record<string, Tensor>> => {
  const headers: [string, TensorHeader][] = [];
  let total = 0;
  for (const name of Object.keys(raw)) {
    const h = tensorHeader(name, raw[name]);
    if (E.isLeft(h)) return h;
    total += h.right.bytes;
    if (total > maxBytes) return E.left(limitError(name, `makes the request's inputs ${total} bytes, past the input budget of ${maxBytes} bytes`));
    headers.push([name, h.right]);
  }
  const out: Record<string, Tensor> = {};
  for (const [name, h] of headers) {
    const t = decodeHeader(name, h);
    if (E.isLeft(t)) return t;
    out[name] = t.right;
  }
  return E.right(out);
};

/** Shortest decimal that parses back to the same float32 (docs/protocol.md). */
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

/** Elements per piece of a streamed tensor (a multiple of 3 bytes for every dtype, so b64 pieces concatenate). */
const PIECE = 3 * 2 ** 16;

/**
 * A tensor as JSON text, in pieces: the same text as JSON.stringify(encodeTensor(t, encoding)),
 * but never one string of the whole, so an output of gigabytes can be written (one JS string
 * holds at most 2^29 characters).
 */
export function* encodeTensorPieces(t: Tensor, encoding: Encoding): Generator<string> {
  yield `{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},`;
  if (encoding === 'b64') {
    yield '"b64":"';
    const bytes = bytesOf(t.data as unknown as Float32Array);
    const step = PIECE * 4;
    for (let i = 0; i < bytes.length; i += step) yield Buffer.from(bytes.subarray(i, Math.min(bytes.length, i + step))).toString('base64');
    yield '"}';
    return;
  }
  yield '"data":[';
  for (let i = 0; i < t.size; i += PIECE) {
    const end = Math.min(t.size, i + PIECE);
    const part: string[] = new Array(end - i);
    for (let k = i; k < end; k++) part[k - i] = JSON.stringify(jsonNumber(t.data[k], t.dtype));
    yield (i > 0 ? ',' : '') + part.join(',');
  }
  yield ']}';
}
