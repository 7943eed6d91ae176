/**
 * A port's capabilities (protocol 1.1 amendment 7, docs/protocol.md "Capabilities"): `describe`
 * may list per op the attr values the port implements. conform then draws only those values —
 * a request is narrowed by replacing a value the port leaves out with one it lists — and reports
 * what it could not cover. Coverage counts, per suite, the values of every enum and bool attr
 * among the requests the port answered, the defaults included, so that a report says what was
 * never tested.
 */
import { attrDefsFor, type AnyOpDef, type AttrDef } from '../ops/index.js';
import type { Req } from './suites.js';

/** op → attr → the values the port implements; under the key `outputs`, the outputs it returns (absent: all). */
export type Capabilities = ReadonlyMap<string, ReadonlyMap<string, readonly unknown[]>>;

/** The key of a port's list of the outputs it returns. */
export const OUTPUTS_KEY = 'outputs';

/** The outputs of an op that a port's capabilities say it does not return (a port may leave them out). */
export const outputsLeftOut = (def: AnyOpDef, caps: Capabilities): string[] => {
  const listed = caps.get(def.name)?.get(OUTPUTS_KEY);
  return listed ? def.outputs.map((o) => o.name).filter((n) => !listed.includes(n)) : [];
};

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

const valuesOf = (a: AttrDef): readonly unknown[] | null => (a.domain.kind === 'enum' ? a.domain.values : a.domain.kind === 'bool' ? [false, true] : null);

/** Every attr an op may have (its own and every variant's), by name. */
const allAttrs = (def: AnyOpDef): Map<string, AttrDef> => {
  const m = new Map<string, AttrDef>();
  for (const a of def.attrs) m.set(a.name, a);
  for (const v of def.variants ?? []) for (const list of Object.values(v.cases)) for (const a of list) if (!m.has(a.name)) m.set(a.name, a);
  return m;
};

/**
 * Reads `info.capabilities` of a describe answer against the registry. Returns the capabilities
 * and a note per entry that names no op or attr of the contract, or a value outside the attr's
 * domain (such entries are ignored).
 */
export const parseCapabilities = (raw: unknown, defOf: (op: string) => AnyOpDef | undefined): { caps: Capabilities; notes: string[] } => {
  const caps = new Map<string, Map<string, readonly unknown[]>>();
  const notes: string[] = [];
  if (raw === undefined) return { caps, notes };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { caps, notes: ['info.capabilities is not an object: ignored'] };
  for (const [op, attrs] of Object.entries(raw as Record<string, unknown>)) {
    const def = defOf(op);
    if (!def) {
      notes.push(`info.capabilities.${op}: not an op of the contract (ignored)`);
      continue;
    }
    if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
      notes.push(`info.capabilities.${op}: not an object of attr → values (ignored)`);
      continue;
    }
    const known = allAttrs(def);
    const m = new Map<string, readonly unknown[]>();
    for (const [name, values] of Object.entries(attrs as Record<string, unknown>)) {
      if (name === OUTPUTS_KEY) {
        const outs = Array.isArray(values) ? values.filter((v) => def.outputs.some((o) => o.name === v)) : [];
        if (!Array.isArray(values) || outs.length !== values.length || outs.length === 0)
          notes.push(`info.capabilities.${op}.outputs: must list outputs of ${op} (${def.outputs.map((o) => o.name).join(', ')})${outs.length ? '; the others ignored' : ' (ignored)'}`);
        if (outs.length) m.set(OUTPUTS_KEY, outs);
        continue;
      }
      const a = known.get(name);
      if (!a) {
        notes.push(`info.capabilities.${op}.${name}: not an attr of ${op} (ignored)`);
        continue;
      }
      if (!Array.isArray(values) || values.length === 0) {
        notes.push(`info.capabilities.${op}.${name}: not a non-empty list of values (ignored)`);
        continue;
      }
      const domain = valuesOf(a);
      const bad = domain ? values.filter((v) => !domain.includes(v)) : [];
      if (bad.length) notes.push(`info.capabilities.${op}.${name}: ${bad.map((v) => JSON.stringify(v)).join(', ')} outside the attr's domain (ignored)`);
      const ok = domain ? values.filter((v) => domain.includes(v)) : values;
      if (ok.length) m.set(name, ok);
    }
    caps.set(op, m);
  }
  return { caps, notes };
};

/** A 32-bit FNV-1a hash of a string: the narrowing's choice among the listed values (deterministic, so shrinking replays it). */
const hash = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
};

/** The value a request gives an attr, or its default. */
export const effective = (req: Req, a: AttrDef): unknown => (hasOwn(req.attrs, a.name) && req.attrs[a.name] !== null && req.attrs[a.name] !== undefined ? req.attrs[a.name] : a.default);

/**
 * The request with every attr value the capabilities leave out replaced by one they list. A
 * variant selector (a dialect) is never changed: its suite is not run at all when left out.
 */
export const narrow = (def: AnyOpDef, req: Req, caps: Capabilities): Req => {
  const own = caps.get(def.name);
  if (!own || own.size === 0) return req;
  const selectors = new Set((def.variants ?? []).map((v) => v.by));
  let attrs: Record<string, unknown> | null = null;
  const h = hash(JSON.stringify(req.inputs).slice(0, 4096));
  for (const a of attrDefsFor(def, { ...Object.fromEntries(def.attrs.map((x) => [x.name, effective(req, x)])) })) {
    const allowed = own.get(a.name);
    if (!allowed || selectors.has(a.name)) continue;
    const v = effective(req, a);
    if (allowed.some((x) => x === v)) continue;
    attrs ??= { ...req.attrs };
    attrs[a.name] = allowed[h % allowed.length];
  }
  return attrs ? { ...req, attrs } : req;
};

/** Whether a request's attr values all lie within the capabilities (golden cases are skipped otherwise). */
export const withinCapabilities = (def: AnyOpDef, req: Req, caps: Capabilities): { ok: boolean; outside: string[] } => {
  const own = caps.get(def.name);
  if (!own) return { ok: true, outside: [] };
  const outside: string[] = [];
  for (const a of attrDefsFor(def, Object.fromEntries(def.attrs.map((x) => [x.name, effective(req, x)])))) {
    const allowed = own.get(a.name);
    const v = effective(req, a);
    if (allowed && !allowed.some((x) => x === v)) outside.push(`${a.name} = ${JSON.stringify(v)}`);
  }
  return { ok: outside.length === 0, outside };
};

/** Per attr (enum and bool), each value's count of answered requests; the default of each marked. */
export interface Coverage {
  readonly attrs: readonly { readonly name: string; readonly values: readonly { readonly value: unknown; readonly count: number; readonly isDefault: boolean; readonly excluded: boolean }[] }[];
}

export class CoverageCounter {
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(
    private readonly def: AnyOpDef,
    private readonly variant: Readonly<Record<string, string>>,
    private readonly caps: Capabilities,
  ) {}

  /** The enum and bool attrs of this suite (its variant's included, the selectors left out). */
  private attrDefs(): AttrDef[] {
    const selectors = new Set((this.def.variants ?? []).map((v) => v.by));
    const chosen = { ...Object.fromEntries(this.def.attrs.map((a) => [a.name, a.default])), ...this.variant };
    return attrDefsFor(this.def, chosen).filter((a) => !selectors.has(a.name) && valuesOf(a) !== null);
  }

  add(req: Req): void {
    for (const a of this.attrDefs()) {
      const key = JSON.stringify(effective(req, a));
      const m = this.counts.get(a.name) ?? new Map<string, number>();
      m.set(key, (m.get(key) ?? 0) + 1);
      this.counts.set(a.name, m);
    }
  }

  report(): Coverage {
    const own = this.caps.get(this.def.name);
    return {
      attrs: this.attrDefs().map((a) => ({
        name: a.name,
        values: (valuesOf(a) ?? []).map((value) => ({
          value,
          count: this.counts.get(a.name)?.get(JSON.stringify(value)) ?? 0,
          isDefault: value === a.default,
          excluded: own?.get(a.name) !== undefined && !own.get(a.name)!.some((x) => x === value),
        })),
      })),
    };
  }
}
