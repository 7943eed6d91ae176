/**
 * The conformance suites, read from the registry: one per op, and one per value of an op's
 * variant (`ohem_select/mmdet-ohem`: the dialects of ohem_select and ohem_step). Each suite pairs
 * its def (the tolerances of its outputs) with the fast-check arbitrary of legal requests that
 * src/conform/arbitraries declares under the suite's key. `golden` draws its generated cases from
 * them, `conform` runs them as differential properties against a port, and the differential tests
 * run them against the numpy oracle.
 */
import type fc from 'fast-check';
import type { AnyOpDef, Tolerance } from '../ops/index.js';
import { REGISTRY } from '../mining/registry.js';
import { ARBITRARIES, UNREDUCIBLE } from './arbitraries/index.js';

export interface Req {
  readonly op: string;
  readonly attrs: Record<string, unknown>;
  readonly inputs: Record<string, unknown>;
}

export interface Suite {
  /** `op`, or `op/dialect` for ohem_select and ohem_step (`ohem_select/caffe-ohem` …). */
  readonly key: string;
  readonly op: string;
  readonly def: AnyOpDef;
  readonly dialect: string | null;
  readonly arbitrary: fc.Arbitrary<Req>;
  readonly tolerances: Readonly<Record<string, Tolerance>>;
  /** Whether conform's structural reduction may shrink its failing requests (src/conform/reduce.ts). */
  readonly reducible: boolean;
}

/** The suite keys of a def: its name, or `name/value` for each value of its first variant. */
export const suiteKeys = (d: AnyOpDef): readonly { key: string; dialect: string | null }[] => {
  const v = d.variants?.[0];
  if (!v) return [{ key: d.name, dialect: null }];
  return Object.keys(v.cases).map((value) => ({ key: `${d.name}/${value}`, dialect: value }));
};

/** The suites of the registry, and the suite keys that have no generator (a test requires none). */
const build = (): { suites: readonly Suite[]; missing: readonly string[]; extra: readonly string[] } => {
  const suites: Suite[] = [];
  const missing: string[] = [];
  for (const def of REGISTRY.defs)
    for (const { key, dialect } of suiteKeys(def)) {
      const arbitrary = Object.prototype.hasOwnProperty.call(ARBITRARIES, key) ? ARBITRARIES[key] : undefined;
      if (!arbitrary) {
        missing.push(key);
        continue;
      }
      suites.push({ key, op: def.name, def, dialect, arbitrary, tolerances: Object.fromEntries(def.outputs.map((o) => [o.name, o.tolerance])), reducible: !UNREDUCIBLE.has(key) });
    }
  const extra = Object.keys(ARBITRARIES).filter((k) => !suites.some((s) => s.key === k));
  return { suites, missing, extra };
};

const BUILT = build();
/** Suite keys of the registry without a generator, and generators without an op: both empty (properties/contract.test.ts). */
export const SUITE_GAPS = { missing: BUILT.missing, extra: BUILT.extra } as const;

export const SUITES: readonly Suite[] = BUILT.suites;

/**
 * The suites an `--ops` list selects: an entry names an op (every suite of that op) or a suite
 * key (`ohem_select/mmdet-ohem`). Returns the unknown entries too.
 */
export const selectSuites = (names: readonly string[] | undefined): { suites: Suite[]; unknown: string[] } => {
  if (!names || names.length === 0) return { suites: [...SUITES], unknown: [] };
  const unknown = names.filter((n) => !SUITES.some((s) => s.key === n || s.op === n));
  return { suites: SUITES.filter((s) => names.some((n) => s.key === n || s.op === n)), unknown };
};
