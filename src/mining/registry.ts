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

// sgd_update is the last row of the protocol's table, after the mining ops.
const ops = OP_DEFS.filter((d) => d.name !== 'sgd_update');
const sgd = OP_DEFS.filter((d) => d.name === 'sgd_update');

export const ALL_DEFS: readonly AnyOpDef[] = Object.freeze([...ops, roiLossDef, selectDef, stepDef, ...sgd]);

export const REGISTRY: Registry = makeRegistry(ALL_DEFS);
