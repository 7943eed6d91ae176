/**
 * The complete registry: every op the reference declares — the ops' (src/ops/registry.ts) and the
 * mining stage's (hardness, selection with its dialects, the step) — in the protocol table's
 * order. The protocol's op table, `describe`, golden request filling, conform's suites and
 * docs/protocol.md's op table all read this list and nothing else.
 */
import { OP_DEFS, makeRegistry, type AnyOpDef, type Registry } from '../ops/index.js';
import { roiLossDef } from './hardness.js';
import { selectDef } from './select.js';
import { stepDef } from './ohemStep.js';

// The protocol's table order: the original's ops, the mining ops, sgd_update, then the RoIAlign family.
const before = OP_DEFS.slice(0, OP_DEFS.findIndex((d) => d.name === 'sgd_update'));
const after = OP_DEFS.slice(OP_DEFS.findIndex((d) => d.name === 'sgd_update'));

export const ALL_DEFS: readonly AnyOpDef[] = Object.freeze([...before, roiLossDef, selectDef, stepDef, ...after]);

export const REGISTRY: Registry = makeRegistry(ALL_DEFS);
