/**
 * Attr domains for the generators, read from the registry: an enum attr is drawn from the values
 * its def declares (for a dialect's attr, under that dialect), so a generator cannot drift from the
 * contract, and a capability list can narrow them in one place.
 */
import fc from 'fast-check';
import { attrDefsFor, type AttrDef } from '../../ops/index.js';
import { REGISTRY } from '../../mining/registry.js';

const defOf = (op: string, name: string, variant: Readonly<Record<string, string>>): AttrDef => {
  const d = REGISTRY.get(op);
  // The selecting attrs at their defaults unless the variant says otherwise (caffe-ohem's attrs by default).
  const chosen = d ? { ...Object.fromEntries((d.variants ?? []).map((v) => [v.by, d.attrs.find((x) => x.name === v.by)?.default])), ...variant } : variant;
  const a = d && attrDefsFor(d, chosen).find((x) => x.name === name);
  if (!a) throw new Error(`${op} has no attr ${name} under ${JSON.stringify(variant)}`); // a generator bug
  return a;
};

/** The values of an enum attr of `op` (under `variant`, e.g. `{ dialect: 'mmdet-ohem' }`). */
export const enumValues = <T extends string>(op: string, name: string, variant: Readonly<Record<string, string>> = {}): readonly T[] => {
  const a = defOf(op, name, variant);
  if (a.domain.kind !== 'enum') throw new Error(`${op}.${name} is not an enum`);
  return a.domain.values as readonly T[];
};

/** An arbitrary of an enum attr's values, in the def's order (the default first when it is). */
export const enumArb = <T extends string>(op: string, name: string, variant: Readonly<Record<string, string>> = {}): fc.Arbitrary<T> =>
  fc.constantFrom(...enumValues<T>(op, name, variant));
