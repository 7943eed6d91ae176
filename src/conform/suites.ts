/**
 * The conformance suites: one per op of PROTOCOL.md, and one per dialect for the two ops that take
 * a `dialect` attr (ohem_select, ohem_step). Each suite has the fast-check arbitrary of legal
 * protocol requests (src/conform/arbitraries, biased to the cases where ports go wrong) and the
 * per-output tolerances, each with the note that justifies it. `golden` draws its generated cases
 * from these arbitraries; `conform` runs them as differential properties against a port; the
 * differential tests run them against the numpy oracle.
 */
import type fc from 'fast-check';
import type { Tolerance } from './compare.js';
import * as roi from './arbitraries/roiPool.js';
import * as nms from './arbitraries/nms.js';
import * as elementwise from './arbitraries/elementwise.js';
import * as lin from './arbitraries/linear.js';
import * as mining from './arbitraries/mining.js';
import * as step from './arbitraries/ohemStep.js';
import { DEFAULT_DIALECT } from './defaults.js';

export interface Req {
  readonly op: string;
  readonly attrs: Record<string, unknown>;
  readonly inputs: Record<string, unknown>;
}

export interface Suite {
  /** `op`, or `op/dialect` for ohem_select and ohem_step (`ohem_select/caffe-ohem` …). */
  readonly key: string;
  readonly op: string;
  readonly dialect: string | null;
  readonly arbitrary: fc.Arbitrary<Req>;
  readonly tolerances: Readonly<Record<string, Tolerance>>;
}

type Module = { requests: Record<string, fc.Arbitrary<Req>>; tolerances: Record<string, Record<string, Tolerance>> };

const MODULES = [roi, nms, elementwise, lin, mining, step] as unknown as Module[];

/** PROTOCOL.md's table order (dialect suites in DIALECTS.md's order, the default first). */
const ORDER = [
  'roi_pool',
  'roi_pool_backward',
  'linear',
  'linear_backward',
  'relu',
  'relu_backward',
  'dropout',
  'dropout_backward',
  'softmax',
  'softmax_loss',
  'smooth_l1_loss',
  'nms',
  'top_k',
  'ohem_roi_loss',
  'ohem_select/caffe-ohem',
  'ohem_select/mmdet-ohem',
  'ohem_select/tf-hard-example-miner',
  'ohem_select/ssd-hard-negative',
  'ohem_step/caffe-ohem',
  'ohem_step/mmdet-ohem',
  'ohem_step/tf-hard-example-miner',
  'ohem_step/ssd-hard-negative',
  'sgd_update',
];

const build = (): readonly Suite[] => {
  const byKey = new Map<string, Suite>();
  for (const m of MODULES)
    for (const [name, arbitrary] of Object.entries(m.requests)) {
      const [op, given] = name.split('/');
      const dialect = op === 'ohem_select' || op === 'ohem_step' ? (given ?? DEFAULT_DIALECT) : null;
      const key = dialect ? `${op}/${dialect}` : op;
      byKey.set(key, { key, op, dialect, arbitrary, tolerances: m.tolerances[name] ?? {} });
    }
  const missing = ORDER.filter((k) => !byKey.has(k));
  const extra = [...byKey.keys()].filter((k) => !ORDER.includes(k));
  if (missing.length || extra.length) throw new Error(`conform suites out of step with the arbitraries: missing ${missing}, unlisted ${extra}`);
  return ORDER.map((k) => byKey.get(k)!);
};

export const SUITES: readonly Suite[] = build();

/**
 * The suites an `--ops` list selects: an entry names an op (every suite of that op) or a suite
 * key (`ohem_select/mmdet-ohem`). Returns the unknown entries too.
 */
export const selectSuites = (names: readonly string[] | undefined): { suites: Suite[]; unknown: string[] } => {
  if (!names || names.length === 0) return { suites: [...SUITES], unknown: [] };
  const unknown = names.filter((n) => !SUITES.some((s) => s.key === n || s.op === n));
  return { suites: SUITES.filter((s) => names.some((n) => s.key === n || s.op === n)), unknown };
};
