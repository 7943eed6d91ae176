/**
 * What a golden case and a conform suite spell out about an op, every fact read from its def in
 * the registry: the op's version, every attr with its default, the tie rule that decides its
 * order, and which of its outputs are additions a port may leave out.
 */
import { completeAttrs as completeFromDef, type AnyOpDef } from '../ops/index.js';
import { REGISTRY } from '../mining/registry.js';

/** The def of a protocol op (a programming error if there is none: callers pass registry names). */
export const defOf = (op: string): AnyOpDef => {
  const d = REGISTRY.get(op);
  if (!d) throw new Error(`no op ${op} in the registry`);
  return d;
};

/** The version of each op's semantics (like ONNX's since_version), from its def. */
export const OP_VERSIONS: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(REGISTRY.defs.map((d) => [d.name, d.version])));

/** The variant-selecting attr values of a request (its dialect), with the defaults. */
export const variantOf = (op: string, attrs: Readonly<Record<string, unknown>>): Readonly<Record<string, string>> => {
  const d = defOf(op);
  const out: Record<string, string> = {};
  for (const v of d.variants ?? []) {
    const own = d.attrs.find((a) => a.name === v.by)!;
    out[v.by] = String(attrs[v.by] ?? own.default);
  }
  return out;
};

/** The dialect a request of ohem_select / ohem_step asks for (the default when it says none); null for other ops. */
export const dialectOf = (op: string, attrs: Readonly<Record<string, unknown>>): string | null => variantOf(op, attrs).dialect ?? null;

/**
 * The attrs of a request with every default spelled out: the def's attrs in their order (the
 * selected variant's after them), each replaced by the request's value where it gives one;
 * `null` where the default is "absent". Required attrs the request gives keep their place.
 */
export const completeAttrs = (op: string, attrs: Readonly<Record<string, unknown>>): Record<string, unknown> => completeFromDef(defOf(op), attrs);

/** Every attr of `op` with its default, under the given variant choice (`{ dialect: 'mmdet-ohem' }`). */
export const attrDefaults = (op: string, choice: Readonly<Record<string, string>> = {}): Record<string, unknown> => completeAttrs(op, choice);

export interface TiePolicy {
  /** `index_desc`, `index_asc`, or `none` for an op that orders nothing. */
  readonly rule: string;
  readonly note: string;
}

/** The tie rule that decides a case's integer outputs (SPEC §2.2), from its complete attrs: ops with a `ties` attr order things. */
export const tiePolicy = (op: string, attrs: Readonly<Record<string, unknown>>): TiePolicy => {
  if (!('ties' in attrs)) return { rule: 'none', note: 'the op orders nothing' };
  const rule = String(attrs.ties);
  const how = rule === 'index_asc' ? 'ascending' : 'descending';
  return {
    rule,
    note: `equal values are ordered by position ${how} (SPEC §2.2; positions in the array being ordered); the expected indices follow this rule exactly`,
  };
};

/** Outputs the reference returns beyond the original op table (its def marks them `addition`): a port that leaves them out is not failing. */
export const optionalOutputs = (op: string): readonly string[] => defOf(op).outputs.filter((o) => o.addition).map((o) => o.name);
