/**
 * The wire of a TypeScript port of the ohem-ref protocol (docs/protocol.md), written as a porter
 * would write it, without the reference's own codec: read one JSON request per stdin line, answer
 * one JSON line per request, in order; tensors travel as `{dtype, shape, data | b64}`.
 *
 * A port built on it supplies `describe` info and one handler per op. A handler gets the decoded
 * inputs and the raw attrs and returns its outputs, or throws a `PortError` (an error answer with
 * a protocol code). Anything else a handler throws is answered `internal` and the loop goes on.
 * Handlers may be async (ONNX Runtime's `session.run` is).
 */
import * as readline from 'node:readline';

export type DType = 'float32' | 'float64' | 'int32';
export type Data = Float32Array | Float64Array | Int32Array;
export interface WireTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Data;
}
export type Inputs = Readonly<Record<string, WireTensor>>;
export type Attrs = Readonly<Record<string, unknown>>;
export type Outputs = Readonly<Record<string, WireTensor>>;
export type Handler = (inputs: Inputs, attrs: Attrs) => Outputs | Promise<Outputs>;

export type ErrorCode = 'bad_request' | 'unknown_op' | 'invalid_input' | 'unsupported' | 'internal';

/** An error answer: `throw new PortError('unsupported', 'attrs.mode: …')`. */
export class PortError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const unsupported = (what: string): PortError => new PortError('unsupported', what);
export const invalid = (what: string): PortError => new PortError('invalid_input', what);

const CTOR = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
const NONFINITE: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const tensor = (dtype: DType, shape: readonly number[], data: ArrayLike<number>): WireTensor => {
  const d = new CTOR[dtype](size(shape));
  d.set(data as ArrayLike<number>);
  return { dtype, shape: [...shape], data: d };
};

const decode = (name: string, j: unknown): WireTensor => {
  if (typeof j !== 'object' || j === null) throw invalid(`${name}: not a tensor object`);
  const o = j as { dtype?: unknown; shape?: unknown; data?: unknown; b64?: unknown };
  if (o.dtype !== 'float32' && o.dtype !== 'float64' && o.dtype !== 'int32') throw invalid(`${name}: dtype ${JSON.stringify(o.dtype)}`);
  if (!Array.isArray(o.shape) || o.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw invalid(`${name}: bad shape`);
  const shape = o.shape as number[];
  const n = size(shape);
  const C = CTOR[o.dtype];
  if (typeof o.b64 === 'string') {
    const buf = Buffer.from(o.b64, 'base64');
    if (buf.length !== n * C.BYTES_PER_ELEMENT) throw invalid(`${name}: b64 holds ${buf.length} bytes, shape needs ${n * C.BYTES_PER_ELEMENT}`);
    const d = new C(n);
    new Uint8Array(d.buffer).set(buf); // little-endian hosts only (x86, arm)
    return { dtype: o.dtype, shape, data: d };
  }
  if (!Array.isArray(o.data) || o.data.length !== n) throw invalid(`${name}: data must hold ${n} values`);
  const d = new C(n);
  o.data.forEach((v, i) => {
    const x = typeof v === 'string' && Object.hasOwn(NONFINITE, v) ? NONFINITE[v] : v;
    if (typeof x !== 'number') throw invalid(`${name}: data[${i}] is not a number`);
    d[i] = x;
  });
  return { dtype: o.dtype, shape, data: d };
};

const encode = (t: WireTensor): object => ({
  dtype: t.dtype,
  shape: [...t.shape],
  b64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'),
});

export interface PortInfo {
  readonly name: string;
  readonly version: string;
  /** Attr values per op that the library can express (protocol 1.1, amendment 7). */
  readonly capabilities?: Readonly<Record<string, Readonly<Record<string, readonly unknown[]>>>>;
  /** Anything else the port wants to say (library versions). */
  readonly [k: string]: unknown;
}

/** Serves stdin → stdout until EOF with the given op handlers. */
export const servePort = (info: PortInfo, handlers: Readonly<Record<string, Handler>>): void => {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  // Answers go out in request order even when handlers are async: one chain of promises.
  let chain: Promise<void> = Promise.resolve();
  const answer = async (line: string): Promise<object> => {
    let req: Record<string, unknown>;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { id: null, error: { code: 'bad_request', message: 'not a JSON object' } };
      req = parsed as Record<string, unknown>;
    } catch (e) {
      return { id: null, error: { code: 'bad_request', message: `not JSON: ${(e as Error).message}` } };
    }
    const id = req.id ?? null;
    try {
      if (typeof req.op !== 'string') throw new PortError('bad_request', 'the request lacks a string "op"');
      if (req.op === 'describe') return { id, outputs: {}, info: { protocol: 1, protocol_minor: 1, ops: Object.keys(handlers), ...info } };
      if (!Object.hasOwn(handlers, req.op)) throw new PortError('unknown_op', `op ${JSON.stringify(req.op)} is not implemented by ${info.name}`);
      const rawInputs = (req.inputs ?? {}) as Record<string, unknown>;
      const inputs: Record<string, WireTensor> = {};
      for (const [k, v] of Object.entries(rawInputs)) inputs[k] = decode(k, v);
      const out = await handlers[req.op](inputs, (req.attrs ?? {}) as Attrs);
      return { id, outputs: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, encode(t)])) };
    } catch (e) {
      if (e instanceof PortError) return { id, error: { code: e.code, message: e.message } };
      return { id, error: { code: 'internal', message: `${info.name}: ${(e as Error)?.message ?? String(e)}` } };
    }
  };
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    chain = chain.then(async () => {
      process.stdout.write(JSON.stringify(await answer(line)) + '\n');
    });
  });
};

/**
 * The attrs of a request checked against what the port implements: every name must be known
 * (protocol 1.1, amendment 1: an unknown attr is `unsupported`, never ignored), and every value
 * of an attr listed in `allowed` must be one of its values. Returns the attrs with defaults filled.
 */
export const attrsOf = (
  op: string,
  attrs: Attrs,
  defaults: Readonly<Record<string, unknown>>,
  allowed: Readonly<Record<string, readonly unknown[]>> = {},
): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(attrs)) {
    if (!Object.hasOwn(defaults, k)) throw unsupported(`attrs.${k}: ${op} of this port has no such attr`);
    if (v === null || v === undefined) continue;
    out[k] = v;
  }
  for (const [k, values] of Object.entries(allowed))
    if (!values.some((v) => v === out[k])) throw unsupported(`attrs.${k}: ${JSON.stringify(out[k])} is not expressible here (only ${values.map((v) => JSON.stringify(v)).join(', ')})`);
  return out;
};
