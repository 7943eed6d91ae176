/**
 * Tiny ONNX graphs for the ONNX Runtime port (examples/ports/onnxruntime.ts): a ModelProto built
 * with onnx-proto from a list of nodes, and an LRU cache of InferenceSessions keyed by what the
 * graph depends on.
 *
 * Nothing here computes anything: it only spells graphs and runs them. Every number an answer
 * holds comes out of ONNX Runtime's kernels.
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const { onnx } = onnxProto;

/** Element types the port's graphs use. */
export type ElemType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';

const ONNX_TYPE: Readonly<Record<ElemType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A graph input or output: name, element type and (for inputs) the concrete shape. */
export interface ValueSpec {
  readonly name: string;
  readonly type: ElemType;
  /** Omitted for outputs: ONNX Runtime infers them. A string is a symbolic dimension (dim_param). */
  readonly shape?: readonly (number | string)[];
}

/** An attribute value, typed as ONNX wants it (an int and a float are different attributes). */
export type AttrValue =
  | { readonly kind: 'int'; readonly v: number }
  | { readonly kind: 'float'; readonly v: number }
  | { readonly kind: 'string'; readonly v: string }
  | { readonly kind: 'ints'; readonly v: readonly number[] };

export const attr = {
  int: (v: number): AttrValue => ({ kind: 'int', v }),
  /** Stored as a protobuf `float`: the value is rounded to float32 on the way into the model. */
  float: (v: number): AttrValue => ({ kind: 'float', v }),
  string: (v: string): AttrValue => ({ kind: 'string', v }),
  ints: (v: readonly number[]): AttrValue => ({ kind: 'ints', v }),
};

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** An `undefined` entry is no attribute (handy for conditional attrs). */
  readonly attrs?: Readonly<Record<string, AttrValue | undefined>>;
}

/** A constant of the graph (an initializer): a scalar or a small tensor. */
export interface ConstSpec {
  readonly name: string;
  readonly type: 'float32' | 'float64' | 'int64';
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

export interface GraphSpec {
  /** The default-domain opset the model imports (it fixes which version of each op runs). */
  readonly opset: number;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly consts?: readonly ConstSpec[];
}

const typeProto = (v: ValueSpec) =>
  onnx.TypeProto.create({
    tensorType: onnx.TypeProto.Tensor.create({
      elemType: ONNX_TYPE[v.type],
      ...(v.shape ? { shape: onnx.TensorShapeProto.create({ dim: v.shape.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'string' ? { dimParam: d } : { dimValue: d })) }) } : {}),
    }),
  });

const attributeProto = (name: string, a: AttrValue) => {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return onnx.AttributeProto.create({ name, type: T.INT, i: a.v });
    case 'float':
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.v });
    case 'string':
      return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.v) });
    case 'ints':
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.v] });
  }
};

const constProto = (c: ConstSpec) => {
  const bytes =
    c.type === 'float32'
      ? new Uint8Array(Float32Array.from(c.values).buffer)
      : c.type === 'float64'
        ? new Uint8Array(Float64Array.from(c.values).buffer)
        : new Uint8Array(BigInt64Array.from(c.values.map((v) => BigInt(v))).buffer);
  return onnx.TensorProto.create({ name: c.name, dataType: ONNX_TYPE[c.type], dims: [...c.shape], rawData: bytes });
};

/** The serialized ModelProto of a graph (IR version 8, the default domain at `spec.opset`). */
export const buildModel = (spec: GraphSpec): Uint8Array => {
  const graph = onnx.GraphProto.create({
    name: 'ohem_ref_port',
    node: spec.nodes.map((n, k) =>
      onnx.NodeProto.create({
        name: `n${k}_${n.op}`,
        opType: n.op,
        domain: '',
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs ?? {}).flatMap(([name, a]) => (a === undefined ? [] : [attributeProto(name, a)])),
      }),
    ),
    initializer: (spec.consts ?? []).map(constProto),
    input: spec.inputs.map((v) => onnx.ValueInfoProto.create({ name: v.name, type: typeProto(v) })),
    output: spec.outputs.map((v) => onnx.ValueInfoProto.create({ name: v.name, type: typeProto({ name: v.name, type: v.type }) })),
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'ohem-ref onnxruntime port',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: spec.opset })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
};

/** One thread: deterministic summation order, and the port shares its machine. */
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  logSeverityLevel: 3,
};

/**
 * InferenceSessions by key, least recently used evicted (and released) past `capacity`. The key
 * is the caller's: everything the graph depends on (op, graph attrs, input shapes and dtypes),
 * never the input values. A session whose creation failed is not kept.
 */
export class SessionCache {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  created = 0;
  hits = 0;

  constructor(readonly capacity = 64) {}

  get size(): number {
    return this.sessions.size;
  }

  async get(key: string, build: () => GraphSpec): Promise<ort.InferenceSession> {
    const have = this.sessions.get(key);
    if (have) {
      this.hits++;
      this.sessions.delete(key);
      this.sessions.set(key, have);
      return have;
    }
    const p = ort.InferenceSession.create(buildModel(build()), SESSION_OPTIONS);
    this.sessions.set(key, p);
    this.created++;
    try {
      await p;
    } catch (e) {
      this.sessions.delete(key);
      throw e;
    }
    while (this.sessions.size > this.capacity) {
      const [oldest, s] = this.sessions.entries().next().value as [string, Promise<ort.InferenceSession>];
      this.sessions.delete(oldest);
      void s.then((x) => x.release()).catch(() => undefined);
    }
    return p;
  }
}

/** An ONNX Runtime tensor from a typed array (the array is used as is, not copied). */
export const ortTensor = (type: ElemType, data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array, dims: readonly number[]): ort.Tensor =>
  new ort.Tensor(type === 'bool' ? 'bool' : type, data, [...dims]);

export const ORT_VERSION: string = ort.env.versions?.common ?? 'unknown';
