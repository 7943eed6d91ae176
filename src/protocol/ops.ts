/**
 * The protocol's op table, read from the registry (src/mining/registry.ts): an op is its def. A
 * request runs through the def's validation and then its kernels; the reference server's own attr
 * `backend` (docs/protocol.md "Extensions") picks the kernels of the ops that run any.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Limits, type Result, DEFAULT_LIMITS, type Tensor, unsupported, valueError } from '../core/index.js';
import { type AnyOpDef, type Kernels, callOp, referenceKernels } from '../ops/index.js';
import { REGISTRY } from '../mining/registry.js';
import type { BackendPool } from '../gpu/pool.js';

export type Inputs = Readonly<Record<string, Tensor>>;
export type Attrs = Readonly<Record<string, unknown>>;
export type Outputs = Readonly<Record<string, Tensor>>;

/** What a request runs with besides its inputs and attrs. */
export interface OpContext {
  /** The backends `attrs.backend` names (a server keeps one pool for its life). */
  readonly backends?: BackendPool;
  readonly limits?: Limits;
}

/** The attr name of the reference server's backend choice. */
export const BACKEND_ATTR = 'backend';

/**
 * The kernels a request asks for: the reference's unless it names a backend (only an op that
 * runs kernels takes `backend`; for the others it is an attr they do not define).
 */
const kernelsFor = (def: AnyOpDef, attrs: Attrs, ctx: OpContext): Result<{ kernels: Kernels; attrs: Attrs }> => {
  if (!Object.prototype.hasOwnProperty.call(attrs, BACKEND_ATTR)) return E.right({ kernels: referenceKernels, attrs });
  const { [BACKEND_ATTR]: name, ...rest } = attrs;
  if (def.kernels.length === 0) return E.left(valueError('attrs.backend', `is not an attr of ${def.name}: it runs no heavy kernel`));
  if (name === undefined || name === null || name === 'reference') return E.right({ kernels: referenceKernels, attrs: rest });
  if (!ctx.backends) return E.left(unsupported('attrs.backend', `is ${JSON.stringify(name)}, but this caller offers only the reference`));
  return E.map((b: Kernels) => ({ kernels: b, attrs: rest }))(ctx.backends.resolve(name));
};

/** Runs one request's op: its kernels, its def's validation, its run. */
export const runOp = (def: AnyOpDef, inputs: Inputs, attrs: Attrs, ctx: OpContext = {}): Result<Outputs> =>
  E.chain((k: { kernels: Kernels; attrs: Attrs }) => callOp(def, inputs, k.attrs, k.kernels, ctx.limits ?? DEFAULT_LIMITS) as Result<Outputs>)(kernelsFor(def, attrs, ctx));

/** The ops the reference serves, by name (own names only: `toString` is no op). */
export const OPS = REGISTRY;
