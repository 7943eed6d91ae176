/**
 * Input and attr checks of the ONNX Runtime port: the protocol's contract (shapes, dtypes, ranges,
 * integer labels) checked before a graph is built, so that ONNX Runtime is never handed what it
 * would read out of bounds (SoftmaxCrossEntropyLoss's labels, MaxRoiPool's C-int coordinates) and
 * every refusal names the input. Validation only: no op arithmetic lives here.
 */
import { type Attrs, type WireTensor, invalid, size, unsupported } from '../wire.js';

/** The largest output this port builds (protocol 1.1, amendment 5; stated in `describe`). */
export const MAX_OUTPUT_BYTES = 2 ** 28;
/**
 * Work bounds, so that no request runs for minutes inside a kernel (amendment 5): bilinear
 * samples of a RoiAlign request (and its per-RoI precomputed table), cells MaxRoiPool may scan,
 * box pairs NonMaxSuppression may compare. Estimates from the shapes and coordinates, not results.
 */
export const MAX_ROI_ALIGN_SAMPLES = 2 ** 28;
export const MAX_ROI_ALIGN_TABLE = 2 ** 22;
export const MAX_ROI_POOL_CELLS = 2 ** 31;
export const MAX_NMS_BOXES = 2 ** 16;
export const MAX_RANK = 8;
export const INT32_MAX = 2147483647;
const FLT_MAX = 3.4028234663852886e38;

export type Dim = number | string;

/**
 * The input `name`, with its dtype among `dtypes` and its shape matching `dims` (numbers are
 * fixed, strings are named sizes that must agree across the inputs sharing `env`; `null` dims:
 * any rank ≤ 8).
 */
export const input = (
  inputs: Readonly<Record<string, WireTensor>>,
  name: string,
  dims: readonly Dim[] | null,
  dtypes: readonly WireTensor['dtype'][],
  env: Map<string, number>,
): WireTensor => {
  const t = inputs[name];
  if (t === undefined) throw invalid(`${name}: missing input`);
  if (!dtypes.includes(t.dtype)) throw invalid(`${name}: dtype ${t.dtype}, expected ${dtypes.join(' or ')}`);
  if (t.shape.length > MAX_RANK) throw invalid(`${name}: rank ${t.shape.length}, more than ${MAX_RANK}`);
  if (size(t.shape) > INT32_MAX) throw invalid(`${name}: ${size(t.shape)} elements, more than 2^31 − 1`);
  if (dims === null) return t;
  const want = dims.map((d) => (typeof d === 'string' ? d : String(d))).join(', ');
  if (t.shape.length !== dims.length) throw invalid(`${name}: shape [${t.shape.join(', ')}], expected [${want}]`);
  dims.forEach((d, k) => {
    const got = t.shape[k];
    if (typeof d === 'number') {
      if (got !== d) throw invalid(`${name}: shape [${t.shape.join(', ')}], expected [${want}]`);
    } else {
      const have = env.get(d);
      if (have === undefined) env.set(d, got);
      else if (have !== got) throw invalid(`${name}: shape [${t.shape.join(', ')}] has ${d} = ${got}, another input has ${d} = ${have}`);
    }
  });
  return t;
};

/** Only the named inputs: one the op does not take is refused (never silently ignored). */
export const onlyInputs = (op: string, inputs: Readonly<Record<string, WireTensor>>, names: readonly string[]): void => {
  for (const k of Object.keys(inputs)) if (!names.includes(k)) throw invalid(`${k}: ${op} takes no input of that name (it takes ${names.join(', ')})`);
};

/** The data as float32 (float64 and int32 inputs are rounded / converted, as the reference does). */
export const f32 = (t: WireTensor): Float32Array => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));

export const requireFinite = (name: string, data: ArrayLike<number>): void => {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw invalid(`${name}: element ${i} is ${data[i]}, not finite`);
};

export const requireNoNaN = (name: string, data: ArrayLike<number>): void => {
  for (let i = 0; i < data.length; i++) if (Number.isNaN(data[i])) throw invalid(`${name}: element ${i} is NaN`);
};

/** An output of `count` elements of `bytes` each must fit the stated budget. */
export const outputBudget = (what: string, shape: readonly number[], bytes = 4): void => {
  const n = size(shape);
  if (n * bytes > MAX_OUTPUT_BYTES) throw invalid(`${what}: makes an output [${shape.join(', ')}] of ${n * bytes} bytes, more than this port's ${MAX_OUTPUT_BYTES}`);
};

// ------------------------------------------------------------------------------------ attrs

export const intAttr = (name: string, v: unknown, lo: number, hi: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not an integer`);
  if (v < lo || v > hi) throw invalid(`attrs.${name}: ${v} is outside [${lo}, ${hi}]`);
  return v;
};

/** A finite number in [lo, hi] (or (lo, hi] with `openLo`). */
export const numAttr = (name: string, v: unknown, lo: number, hi: number, openLo = false): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not a finite number`);
  if (openLo ? !(v > lo) : !(v >= lo)) throw invalid(`attrs.${name}: ${v} must be ${openLo ? '>' : '≥'} ${lo}`);
  if (!(v <= hi)) throw invalid(`attrs.${name}: ${v} must be ≤ ${hi}`);
  return v;
};

/** A positive float that stays finite and positive as a float32 (ONNX float attrs are float32). */
export const positiveF32Attr = (name: string, v: unknown): number => {
  const x = numAttr(name, v, 0, FLT_MAX, true);
  if (!(Math.fround(x) > 0)) throw invalid(`attrs.${name}: ${x} rounds to 0 in float32`);
  return x;
};

export const boolAttr = (name: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not a boolean`);
  return v;
};

/**
 * A closed-set attr: a value of the contract that ONNX Runtime cannot express is `unsupported`;
 * a value that is not in the contract at all is `invalid_input`.
 */
export const enumAttr = <T extends string>(name: string, v: unknown, contract: readonly T[], expressible: readonly T[]): T => {
  if (typeof v !== 'string' || !(contract as readonly string[]).includes(v))
    throw invalid(`attrs.${name}: ${JSON.stringify(v)} is not one of ${contract.map((c) => JSON.stringify(c)).join(', ')}`);
  if (!(expressible as readonly string[]).includes(v))
    throw unsupported(`attrs.${name}: ${JSON.stringify(v)} is not expressible with ONNX Runtime (only ${expressible.map((c) => JSON.stringify(c)).join(', ')})`);
  return v as T;
};

/**
 * The attrs of a request, every name checked (protocol 1.1, amendment 1): a name the port does not
 * implement is `unsupported`, naming `attrs.<name>`. `null` reads as absent. Returns the attrs
 * with the defaults filled in.
 */
export const attrsOf = (op: string, attrs: Attrs, defaults: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) throw invalid('attrs: not an object');
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(attrs)) {
    if (!Object.hasOwn(defaults, k)) throw unsupported(`attrs.${k}: ${op} of the ONNX Runtime port has no such attr`);
    if (v === null || v === undefined) continue;
    out[k] = v;
  }
  return out;
};
