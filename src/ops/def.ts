/**
 * One declaration per op (DESIGN.md "One declaration per op"): an `OpDef` names the op's inputs
 * (dtypes, shape with named dimensions, optional or not), its attrs (kind, domain, default, doc),
 * its outputs (dtype, shape, tolerance), the docs section that defines it and the kernels it runs.
 *
 * Everything else is derived from the def: validation and default filling (here), the protocol's
 * op table and `describe` (src/protocol), golden request filling and conform's suites and
 * tolerances (src/conform), and the op table of docs/protocol.md. Like an ONNX schema, or a
 * tfjs kernel registered once under its name.
 *
 * The rules, the same for every op:
 * - an attr that is absent or `null` takes its default; an attr without a default is required;
 * - an attr name the op does not define is a Left naming `attrs.<name>`; one that belongs to
 *   another variant of the op (another `dialect`) is a Left saying so;
 * - an input name the op does not define is a Left naming it;
 * - inputs are checked for presence, dtype and shape (named dimensions bind across inputs and to
 *   attrs), then the def's own value checks run, then the outputs' size is checked against the
 *   byte budget — all before the kernel allocates anything.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type DType,
  type Limits,
  type Result,
  BYTES,
  DEFAULT_LIMITS,
  Tensor,
  checkEnum,
  checkInt,
  checkNumber,
  float32Data,
  adoptTensor,
  dtypeError,
  limitError,
  preview,
  shapeError,
  shapeString,
  validShape,
  valueError,
} from '../core/internal.js';
import type { Kernels, KernelName } from './kernels.js';

export type Attrs = Readonly<Record<string, unknown>>;
export type Inputs = Readonly<Record<string, Tensor>>;
export type Outputs = Readonly<Record<string, Tensor>>;

/** A dimension: a number must match; a name binds on first sight (inputs) or reads an attr (outputs). */
export type Dim = number | string;

/** An input's shape: dimensions, the shape of another input, or any shape. */
export type ShapeSpec = readonly Dim[] | { readonly like: string } | { readonly any: true };

/** How two sides' values of a float output may differ (docs/protocol.md "Comparison"). */
export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
  /** Why this much: the error analysis in one sentence. */
  readonly note: string;
}
export const exact = (note: string): Tolerance => Object.freeze({ atol: 0, rtol: 0, note });

/**
 * A precision model: the per-element bound on |reference − port| of one output from its error
 * analysis, computed from the request's validated inputs (float32 slots read as float32) and
 * attrs. `model` names the analysis (golden files and docs/protocol.md state it).
 */
export interface PrecisionModel {
  readonly model: string;
  readonly note: string;
  readonly bound: (inputs: Inputs, attrs: Attrs) => Float64Array;
}

export type Presence = 'required' | 'optional' | 'unused';

export interface InputDef {
  readonly name: string;
  /** The contract (protocol 1.1's domain): the dtypes a port must accept. */
  readonly dtypes: readonly DType[];
  /** Dtypes the reference also answers, beyond the domain (a float64 tensor in a float32 slot). */
  readonly accepts?: readonly DType[];
  readonly shape: ShapeSpec;
  /** 'float32': read as the float32 blob Caffe holds (float64 values rounded once); 'as-is'. */
  readonly read: 'float32' | 'as-is';
  /** Required (the default), optional, or decided by the attrs (which dialect reads it). */
  readonly presence?: Presence | { readonly when: (attrs: Attrs) => Presence; readonly doc: string };
  /**
   * A column of the last axis whose values the contract requires to be integers (the batch index
   * of a RoI row). The reference also answers fractional ones (C truncation), beyond the domain.
   */
  readonly integral?: { readonly column: number; readonly what: string };
  readonly doc: string;
}

export type AttrDomain =
  | { readonly kind: 'int'; readonly min?: number; readonly max?: number }
  | {
      readonly kind: 'number';
      readonly min?: number;
      readonly max?: number;
      readonly minOpen?: boolean;
      readonly maxOpen?: boolean;
      /** Values allowed besides the range (mmdet's neg_pos_ub −1 = off). */
      readonly or?: readonly number[];
    }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'bool' }
  | { readonly kind: 'shape'; readonly rank: number };

export interface AttrDef {
  readonly name: string;
  readonly domain: AttrDomain;
  /** The default. Absent: the attr is required. `null`: optional, absent by default. */
  readonly default?: unknown;
  readonly doc: string;
  /** What each value of an enum or bool attr means, in a phrase (conform's attribution lines). */
  readonly means?: Readonly<Record<string, string>>;
  /**
   * Values of a numeric attr that other implementations use in its place (ε: FLT_MIN where the
   * original has 2^-52), tried by conform's attribution: "reproduced by eps = FLT_MIN".
   */
  readonly alternatives?: readonly { readonly value: number; readonly means: string; /** How to name the value (FLT_MIN). */ readonly name?: string }[];
}

/**
 * A convention of the reference (an `OpDef.conventions` entry): an enum whose values are the keys
 * of `means`, each with its phrase; the first is the original's, and the default.
 */
export const convention = (name: string, doc: string, means: Readonly<Record<string, string>>): AttrDef => {
  const values = Object.keys(means);
  return { name, domain: { kind: 'enum', values }, default: values[0], doc, means };
};

/** Attrs that exist only under one value of a selecting attr (`dialect`, `pooler`). */
export interface VariantDef {
  readonly by: string;
  readonly cases: Readonly<Record<string, readonly AttrDef[]>>;
}

export interface OutputDef {
  readonly name: string;
  readonly dtype: DType;
  /** Dimensions (names of input dimensions, attr names, numbers), the value of a shape attr, or another input's shape. */
  readonly shape: readonly Dim[] | { readonly attr: string } | { readonly like: string };
  /** The shape is an upper bound (a list of kept indices). */
  readonly bounded?: boolean;
  readonly tolerance: Tolerance;
  /**
   * The second, wider bound of a float output that a port computing in plain float32 may use
   * (a GEMM accumulating in float32, exp of x − max rounded in float32): a difference beyond the
   * tolerance but within this bound is conform's verdict `precision`, not `fail`.
   */
  readonly precision?: PrecisionModel;
  /** An addition to the original op table: a port may leave it out. */
  readonly addition?: boolean;
  /** Returned only under some attrs (mmcv max's argmax); absent: always. */
  readonly when?: { readonly test: (attrs: Attrs) => boolean; readonly doc: string };
  readonly doc: string;
}

export interface Valid<A extends object = Attrs> {
  /** The inputs that are present, float32 slots already read as float32. */
  readonly inputs: Inputs;
  /** Every attr of the op (and of its selected variants), defaults filled. */
  readonly attrs: A;
  /** The named dimensions bound by the inputs. */
  readonly dims: Readonly<Record<string, number>>;
}

export interface OpDef<A extends object = Attrs, O extends object = Outputs> {
  /** The protocol's name. */
  readonly name: string;
  /** The version of the op's meaning (like ONNX's since_version): bumped when its semantics change. */
  readonly version: number;
  readonly summary: string;
  /** The section of docs/semantics.md (or docs/mining.md) that defines it. */
  readonly doc: string;
  readonly inputs: readonly InputDef[];
  readonly attrs: readonly AttrDef[];
  readonly variants?: readonly VariantDef[];
  /**
   * The reference's conventions: attrs of the reference alone (a port never receives them; they
   * are not in golden requests) that switch a choice the original makes silently to what another
   * library does (Caffe's FLT_MIN clamp or torch's log-softmax). conform's attribution and its
   * profiles run the reference under them; the default is always the original's.
   */
  readonly conventions?: readonly AttrDef[];
  readonly outputs: readonly OutputDef[];
  /** The kernels of the `Kernels` contract it runs (what a backend can supply); empty: none. */
  readonly kernels: readonly KernelName[];
  /** Dimensions the attrs fix before the inputs are read (roi_pool_backward's C and PH from its attrs). */
  readonly bind?: (attrs: A) => Readonly<Record<string, number>>;
  /** Value checks after the shapes: finiteness, integer labels, batch indices in range. */
  readonly check?: (v: Valid<A>) => Result<unknown>;
  readonly run: (v: Valid<A>, k: Kernels) => Result<O>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOpDef = OpDef<any, any>;

// ------------------------------------------------------------------------------- attrs

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** The value of one attr, checked against its domain. */
export const checkAttr = (a: AttrDef, v: unknown): Result<unknown> => {
  const input = `attrs.${a.name}`;
  if (v === undefined || v === null) {
    if (a.default === undefined) return E.left(valueError(input, `is required: ${a.doc}`));
    return E.right(a.default);
  }
  const d = a.domain;
  switch (d.kind) {
    case 'int':
      return checkInt(input, v, d.min ?? -Number.MAX_SAFE_INTEGER, d.max ?? Number.MAX_SAFE_INTEGER);
    case 'number':
      if (d.or && typeof v === 'number' && d.or.includes(v)) return E.right(v);
      return checkNumber(input, v, d.min ?? -Infinity, d.max ?? Infinity, { lo: d.minOpen, hi: d.maxOpen });
    case 'enum':
      return checkEnum(input, v, d.values);
    case 'bool':
      return typeof v === 'boolean' ? E.right(v) : E.left(valueError(input, `must be true or false, got ${preview(v)}`));
    case 'shape': {
      const s = validShape(input, v);
      if (E.isLeft(s)) return s;
      return s.right.length === d.rank ? s : E.left(shapeError(input, `must be ${d.rank} non-negative integers, got ${preview(v)}`));
    }
  }
};

/** The attrs in force for the given raw attrs: the op's own, then each selected variant's. */
export const attrDefsFor = (def: AnyOpDef, chosen: Attrs): readonly AttrDef[] => {
  const out: AttrDef[] = [...def.attrs];
  for (const v of def.variants ?? []) {
    const sel = chosen[v.by];
    const list = typeof sel === 'string' && hasOwn(v.cases, sel) ? v.cases[sel] : [];
    out.push(...list);
  }
  return out;
};

/** Every attr name any variant of the op defines, with the variant(s) that define it. */
const variantOwners = (def: AnyOpDef): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const v of def.variants ?? [])
    for (const [value, list] of Object.entries(v.cases))
      for (const a of list) m.set(a.name, [...(m.get(a.name) ?? []), `${v.by} ${JSON.stringify(value)}`]);
  return m;
};

/**
 * The attrs of a request, complete: every attr of the op and of its selected variants, absent
 * and null filled with defaults, each checked against its domain, in the def's order.
 */
export const validateAttrs = (def: AnyOpDef, raw: unknown): Result<Record<string, unknown>> => {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    return E.left(valueError('attrs', `must be an object of attrs, got ${preview(raw)}`));
  const given = (raw ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // The selecting attrs first (they are among the op's own), so the variant's attrs are known.
  for (const a of def.attrs) {
    const v = checkAttr(a, hasOwn(given, a.name) ? given[a.name] : undefined);
    if (E.isLeft(v)) return v;
    out[a.name] = v.right;
  }
  const defs = attrDefsFor(def, out);
  for (const a of defs.slice(def.attrs.length)) {
    const v = checkAttr(a, hasOwn(given, a.name) ? given[a.name] : undefined);
    if (E.isLeft(v)) return v;
    out[a.name] = v.right;
  }
  // The reference's conventions last (a port never receives them: docs/protocol.md "Conventions").
  for (const a of def.conventions ?? []) {
    const v = checkAttr(a, hasOwn(given, a.name) ? given[a.name] : undefined);
    if (E.isLeft(v)) return v;
    out[a.name] = v.right;
  }
  const known = new Set([...defs, ...(def.conventions ?? [])].map((a) => a.name));
  for (const k of Object.keys(given)) {
    if (known.has(k)) continue;
    const owners = variantOwners(def).get(k);
    if (owners)
      return E.left(
        valueError(`attrs.${k}`, `is an attr of ${def.name} under ${owners.join(' or ')}, not under ${(def.variants ?? []).map((v) => `${v.by} ${JSON.stringify(out[v.by])}`).join(', ')}`),
      );
    return E.left(valueError(`attrs.${k}`, `is not an attr of ${def.name} (its attrs: ${defs.map((a) => a.name).join(', ') || 'none'})`));
  }
  return E.right(out);
};

// ------------------------------------------------------------------------------- inputs

export const presenceOf = (i: InputDef, attrs: Attrs): Presence =>
  i.presence === undefined ? 'required' : typeof i.presence === 'string' ? i.presence : i.presence.when(attrs);

const isTensor = (x: unknown): x is Tensor => x instanceof Tensor;

/** Presence, dtype and shape of every input, binding named dimensions; float32 slots read as float32. */
export const validateInputs = (
  def: AnyOpDef,
  raw: unknown,
  attrs: Attrs,
  bound: Readonly<Record<string, number>> = {},
): Result<{ inputs: Record<string, Tensor>; dims: Record<string, number> }> => {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    return E.left(valueError('inputs', `must be an object of tensors, got ${preview(raw)}`));
  const given = (raw ?? {}) as Record<string, unknown>;
  const names = new Set(def.inputs.map((i) => i.name));
  for (const k of Object.keys(given))
    if (!names.has(k)) return E.left(valueError(k, `is not an input of ${def.name} (its inputs: ${[...names].join(', ')})`));
  const dims: Record<string, number> = { ...bound };
  const inputs: Record<string, Tensor> = {};
  for (const i of def.inputs) {
    const presence = presenceOf(i, attrs);
    const t = hasOwn(given, i.name) ? given[i.name] : undefined;
    if (t === undefined || t === null) {
      if (presence === 'required') return E.left(valueError(i.name, `is missing: ${i.doc}`));
      continue;
    }
    if (presence === 'unused') continue;
    if (!isTensor(t)) return E.left(valueError(i.name, `is not a Tensor (got ${preview(t)})`));
    const allowed = [...i.dtypes, ...(i.accepts ?? [])];
    if (!allowed.includes(t.dtype)) return E.left(dtypeError(i.name, `has dtype ${t.dtype}, expected ${allowed.join(' or ')}`));
    const s = i.shape;
    if (Array.isArray(s)) {
      if (t.rank !== s.length)
        return E.left(shapeError(i.name, `has rank ${t.rank} (shape ${shapeString(t.shape)}), expected rank ${s.length} [${s.join(', ')}]`));
      for (let d = 0; d < s.length; d++) {
        const want = s[d];
        const got = t.shape[d];
        if (typeof want === 'number') {
          if (got !== want) return E.left(shapeError(i.name, `has shape ${shapeString(t.shape)}, dimension ${d} must be ${want}`));
        } else if (dims[want] === undefined) dims[want] = got;
        else if (dims[want] !== got)
          return E.left(shapeError(i.name, `has shape ${shapeString(t.shape)}: dimension ${d} (${want}) is ${got} but ${want} = ${dims[want]} ${hasOwn(bound, want) ? `from the attrs` : 'from an earlier input'}`));
      }
    } else if ('like' in s) {
      const other = inputs[s.like];
      if (other && other.shape.join(',') !== t.shape.join(','))
        return E.left(shapeError(i.name, `has shape ${shapeString(t.shape)} but ${s.like} has ${shapeString(other.shape)}; they must be equal`));
    }
    inputs[i.name] = i.read === 'float32' && t.dtype !== 'float32' ? adoptTensor('float32', t.shape, float32Data(t)) : t;
  }
  return E.right({ inputs, dims });
};

// ------------------------------------------------------------------------------- outputs

/** The shape of an output of a validated request (an upper bound for a `bounded` one); null when it is not returned. */
export const outputShape = (o: OutputDef, v: Valid<object>): readonly number[] | null => {
  const attrs = v.attrs as Attrs;
  if (o.when && !o.when.test(attrs)) return null;
  const s = o.shape;
  if (Array.isArray(s))
    return (s as readonly Dim[]).map((d) => (typeof d === 'number' ? d : v.dims[d] !== undefined ? v.dims[d] : Number(attrs[d])));
  if ('attr' in s) return attrs[s.attr] as readonly number[];
  return v.inputs[(s as { like: string }).like]?.shape ?? [];
};

/** What an output's size is driven by, for the Left of a request past the budget. */
const blameOf = (def: AnyOpDef, o: OutputDef): string => {
  const s = o.shape;
  if (!Array.isArray(s)) return 'attr' in s ? `attrs.${s.attr}` : (s as { like: string }).like;
  const attr = s.find((d) => typeof d === 'string' && def.attrs.concat(...(def.variants ?? []).flatMap((v) => Object.values(v.cases))).some((a) => a.name === d));
  if (attr !== undefined) return `attrs.${attr}`;
  const dim = s.find((d) => typeof d === 'string');
  const input = def.inputs.find((i) => Array.isArray(i.shape) && (i.shape as readonly Dim[]).includes(dim as string));
  return input?.name ?? 'inputs';
};

/** Refuses a request whose outputs would exceed the budget, before anything is allocated. */
export const checkOutputBudget = (def: AnyOpDef, v: Valid<object>, limits: Limits): Result<void> => {
  let total = 0;
  for (const o of def.outputs) {
    const shape = outputShape(o, v);
    if (shape === null) continue;
    let n = 1;
    for (const d of shape) n *= d;
    if (n > limits.maxElements)
      return E.left(limitError(blameOf(def, o), `makes ${o.name} ${shapeString(shape)} of ${n} elements, more than 2^31 − 1`));
    total += n * BYTES[o.dtype];
    if (total > limits.maxOutputBytes)
      return E.left(
        limitError(blameOf(def, o), `makes outputs of ${total} bytes (${o.name} ${shapeString(shape)}), past the output budget of ${limits.maxOutputBytes} bytes`),
      );
  }
  return E.right(undefined);
};

// ------------------------------------------------------------------------------- calling

/** Validates a request against its def: attrs, inputs, the def's value checks, the output budget. */
export const validate = <A extends object>(def: OpDef<A, object>, rawInputs: unknown, rawAttrs: unknown, limits: Limits = DEFAULT_LIMITS): Result<Valid<A>> => {
  const attrs = validateAttrs(def as AnyOpDef, rawAttrs);
  if (E.isLeft(attrs)) return attrs;
  const bound = def.bind ? def.bind(attrs.right as unknown as A) : {};
  const ins = validateInputs(def as AnyOpDef, rawInputs, attrs.right, bound);
  if (E.isLeft(ins)) return ins;
  const v: Valid<A> = { inputs: ins.right.inputs, attrs: attrs.right as unknown as A, dims: ins.right.dims };
  if (def.check) {
    const c = def.check(v);
    if (E.isLeft(c)) return c;
  }
  const b = checkOutputBudget(def as AnyOpDef, v, limits);
  if (E.isLeft(b)) return b;
  return E.right(v);
};

/** Runs an op on raw inputs and attrs with the given kernels. */
export const callOp = <A extends object, O extends object>(
  def: OpDef<A, O>,
  inputs: unknown,
  attrs: unknown,
  kernels: Kernels,
  limits: Limits = DEFAULT_LIMITS,
): Result<O> => {
  const v = validate(def, inputs, attrs, limits);
  return E.isLeft(v) ? v : def.run(v.right, kernels);
};

/**
 * The public function of an op: `(inputs, attrs?, kernels?) => Result<outputs>`. `reference`
 * supplies the reference kernels lazily (src/ops/kernels.ts imports the family files, so the
 * record cannot be read while they load).
 */
export const opFn =
  <I, A extends object, O extends object>(def: OpDef<A, O>, reference: () => Kernels) =>
  (inputs: I, attrs: Partial<A> = {}, kernels?: Kernels): Result<O> =>
    callOp(def, inputs, attrs, kernels ?? reference());

// ------------------------------------------------------------------------------- describing

/** An attr domain in words, for docs/protocol.md and describe. */
export const domainText = (d: AttrDomain): string => {
  switch (d.kind) {
    case 'int':
      return d.min !== undefined && d.max !== undefined ? `integer in [${d.min}, ${d.max}]` : d.min !== undefined ? `integer ≥ ${d.min}` : 'integer';
    case 'number': {
      const lo = d.min === undefined ? '' : `${d.minOpen ? '>' : '≥'} ${d.min}`;
      const hi = d.max === undefined ? '' : `${d.maxOpen ? '<' : '≤'} ${d.max}`;
      const range = [lo, hi].filter((x) => x).join(' and ');
      return `finite number${range ? ` ${range}` : ''}${d.or ? ` (or ${d.or.join(', ')})` : ''}`;
    }
    case 'enum':
      return d.values.map((v) => JSON.stringify(v)).join(' | ');
    case 'bool':
      return 'true | false';
    case 'shape':
      return `${d.rank} non-negative integers`;
  }
};

const shapeText = (s: ShapeSpec | OutputDef['shape']): string =>
  Array.isArray(s) ? `[${s.join(', ')}]` : 'like' in s ? `like ${s.like}` : 'attr' in s ? `attrs.${s.attr}` : 'any';

const attrSchema = (a: AttrDef) => ({
  name: a.name,
  kind: a.domain.kind,
  domain: a.domain.kind === 'enum' ? a.domain.values : a.domain,
  ...(a.default === undefined ? { required: true } : { default: a.default }),
  doc: a.doc,
  ...(a.means ? { means: a.means } : {}),
});

/** The schema of an op, as `describe` returns it (JSON-ready). */
export const schemaOf = (def: AnyOpDef) => ({
  version: def.version,
  summary: def.summary,
  doc: def.doc,
  inputs: def.inputs.map((i) => ({
    name: i.name,
    dtypes: i.dtypes,
    ...(i.accepts ? { also_accepts: i.accepts } : {}),
    ...(i.integral ? { integral: i.integral } : {}),
    shape: shapeText(i.shape),
    presence: i.presence === undefined ? 'required' : typeof i.presence === 'string' ? i.presence : i.presence.doc,
    doc: i.doc,
  })),
  attrs: def.attrs.map(attrSchema),
  ...(def.variants
    ? { variants: def.variants.map((v) => ({ by: v.by, cases: Object.fromEntries(Object.entries(v.cases).map(([k, list]) => [k, list.map(attrSchema)])) })) }
    : {}),
  ...(def.conventions?.length ? { conventions: def.conventions.map(attrSchema) } : {}),
  outputs: def.outputs.map((o) => ({
    name: o.name,
    dtype: o.dtype,
    shape: `${o.bounded ? '≤ ' : ''}${shapeText(o.shape)}`,
    ...(o.addition ? { addition: true } : {}),
    ...(o.when ? { when: o.when.doc } : {}),
    tolerance: o.tolerance,
    ...(o.precision ? { precision: { model: o.precision.model, note: o.precision.note } } : {}),
    doc: o.doc,
  })),
  ...(def.kernels.length ? { kernels: def.kernels } : {}),
});

/** Every attr of a request's op with the request's values and the defaults of the rest (golden files). */
export const completeAttrs = (def: AnyOpDef, attrs: Attrs): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const a of def.attrs) out[a.name] = attrs[a.name] === undefined ? a.default : attrs[a.name];
  for (const a of attrDefsFor(def, out).slice(def.attrs.length)) out[a.name] = attrs[a.name] === undefined ? a.default : attrs[a.name];
  for (const [k, v] of Object.entries(attrs)) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
};
