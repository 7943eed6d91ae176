/**
 * The ops' declarations, collected: every `OpDef` of src/ops, in the protocol table's order. The
 * mining stage adds its own (src/mining/registry.ts holds the complete list); src/protocol,
 * src/conform and docs/protocol.md read that list and nothing else.
 */
import type { AnyOpDef } from './def.js';
import { roiPoolDef, roiPoolBackwardDef } from './roiPool.js';
import { linearDef, linearBackwardDef } from './linear.js';
import { reluDef, reluBackwardDef, dropoutDef, dropoutBackwardDef, softmaxDef } from './activations.js';
import { softmaxLossDef, smoothL1Def } from './losses.js';
import { nmsDef } from './nms.js';
import { topKDef } from './topK.js';
import { sgdDef } from './sgd.js';
import { roiAlignDef, roiAlignBackwardDef, cropAndResizeDef } from './roiAlign.js';

export const OP_DEFS: readonly AnyOpDef[] = Object.freeze([
  roiPoolDef,
  roiPoolBackwardDef,
  linearDef,
  linearBackwardDef,
  reluDef,
  reluBackwardDef,
  dropoutDef,
  dropoutBackwardDef,
  softmaxDef,
  softmaxLossDef,
  smoothL1Def,
  nmsDef,
  topKDef,
  sgdDef,
  roiAlignDef,
  roiAlignBackwardDef,
  cropAndResizeDef,
]);

/** A registry: defs by name, own-property lookups only (an op named `toString` is no op). */
export interface Registry {
  readonly defs: readonly AnyOpDef[];
  readonly names: readonly string[];
  /** The def of `name`, or undefined: never a prototype member. */
  readonly get: (name: unknown) => AnyOpDef | undefined;
}

export const makeRegistry = (defs: readonly AnyOpDef[]): Registry => {
  const byName = new Map<string, AnyOpDef>();
  for (const d of defs) {
    if (byName.has(d.name)) throw new Error(`two defs named ${d.name}`); // a programming error, at import
    byName.set(d.name, d);
  }
  return Object.freeze({
    defs,
    names: defs.map((d) => d.name),
    get: (name: unknown) => (typeof name === 'string' ? byName.get(name) : undefined),
  });
};
