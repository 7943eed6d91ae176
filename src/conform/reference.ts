/**
 * The reference's side of a conform trial: its answer to a request (in process, as `serve`
 * answers it, every output as exact b64), under a profile's conventions; and the per-element
 * precision bounds of the request's float outputs, from their defs' precision models.
 */
import * as E from 'fp-ts/lib/Either.js';
import { handleRequest } from '../protocol/server.js';
import { decodeInputs } from '../protocol/codec.js';
import { DEFAULT_LIMITS } from '../core/index.js';
import { validate, type AnyOpDef } from '../ops/index.js';
import type { Req } from './suites.js';

export type ReferenceAnswer = { readonly outputs: Record<string, unknown> } | { readonly error: { readonly code: string; readonly message: string } };

/** The reference's answer to `req` with `conventions` (reference-only attrs) added to its attrs. */
export const referenceAnswer = (req: Req, conventions: Readonly<Record<string, unknown>> = {}): ReferenceAnswer => {
  const r = handleRequest({ id: 0, op: req.op, attrs: { ...req.attrs, ...conventions }, inputs: req.inputs, encoding: 'b64' }) as Record<string, unknown>;
  if ('error' in r) {
    const e = r.error as Record<string, unknown>;
    return { error: { code: String(e.code), message: String(e.message ?? '') } };
  }
  return { outputs: r.outputs as Record<string, unknown> };
};

/** Per float output with a precision model, its bound at each element (empty when the def has none or the request does not validate). */
export const precisionBounds = (def: AnyOpDef, req: Req, conventions: Readonly<Record<string, unknown>> = {}): Record<string, Float64Array> => {
  const models = def.outputs.filter((o) => o.precision);
  if (models.length === 0) return {};
  const inputs = decodeInputs(req.inputs as Record<string, unknown>, DEFAULT_LIMITS.maxInputBytes);
  if (E.isLeft(inputs)) return {};
  const v = validate(def, inputs.right, { ...req.attrs, ...conventions });
  if (E.isLeft(v)) return {};
  return Object.fromEntries(models.map((o) => [o.name, o.precision!.bound(v.right.inputs, v.right.attrs as Record<string, unknown>)]));
};
