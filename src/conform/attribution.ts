/**
 * Attribution: for a request the port answers otherwise than the reference, re-run the reference
 * under each alternative it knows — another value of an enum or bool attr of the op (the box
 * convention, the suppress rule, the tie order, the precision, the backward mode, the
 * normalization…), a numeric attr's declared alternatives (ε = FLT_MIN for 2^-52), another value
 * of one of the reference's conventions (the FLT_MIN clamp or the log-softmax, Caffe's or torch's
 * momentum) — and say which of them reproduces the port's answer: "the port's keep equals the
 * reference with suppress = ge". Every alternative is read from the op's def; none is listed here.
 */
import { attrDefsFor, type AnyOpDef, type AttrDef } from '../ops/index.js';
import { effective, type Capabilities } from './capabilities.js';
import { judge, type JudgeOptions } from './judge.js';
import { referenceAnswer } from './reference.js';
import type { Answer } from './session.js';
import type { Req } from './suites.js';

export interface Alternative {
  readonly attr: string;
  readonly value: unknown;
  /** How to name the value, when its number says less (FLT_MIN). */
  readonly name?: string;
  /** A reference-only convention (never sent to a port) rather than an attr of the protocol. */
  readonly convention: boolean;
  /** What the alternative means, in a phrase. */
  readonly means: string;
}

export interface Attribution {
  /** `suppress = ge`. */
  readonly label: string;
  readonly means: string;
  readonly alternative: Alternative;
  /** Further alternatives that reproduce the answer too. */
  readonly also: readonly string[];
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
export const labelOf = (a: Alternative): string => `${a.attr} = ${a.name ?? text(a.value)}`;

const otherValues = (a: AttrDef, current: unknown): Alternative[] => {
  const d = a.domain;
  const values: unknown[] = d.kind === 'enum' ? [...d.values] : d.kind === 'bool' ? [false, true] : (a.alternatives ?? []).map((x) => x.value);
  return values
    .filter((v) => v !== current)
    .map((value) => ({
      attr: a.name,
      value,
      convention: false,
      ...(a.alternatives?.find((x) => x.value === value)?.name ? { name: a.alternatives.find((x) => x.value === value)!.name } : {}),
      means: a.means?.[String(value)] ?? a.alternatives?.find((x) => x.value === value)?.means ?? `${a.name} ${text(value)} (${a.doc})`,
    }));
};

/**
 * The alternatives of a request: every other value of each enum and bool attr in force (the
 * variant selectors left out: a dialect is a suite of its own), each declared alternative of a
 * numeric attr, every other value of each convention (against the profile's).
 */
export const alternativesOf = (def: AnyOpDef, req: Req, conventions: Readonly<Record<string, unknown>>): Alternative[] => {
  const selectors = new Set((def.variants ?? []).map((v) => v.by));
  const chosen = Object.fromEntries(def.attrs.map((a) => [a.name, effective(req, a)]));
  const out: Alternative[] = [];
  for (const a of attrDefsFor(def, chosen)) if (!selectors.has(a.name)) out.push(...otherValues(a, effective(req, a)));
  for (const c of def.conventions ?? []) {
    const current = Object.prototype.hasOwnProperty.call(conventions, c.name) ? conventions[c.name] : c.default;
    out.push(...otherValues(c, current).map((x) => ({ ...x, convention: true })));
  }
  return out;
};

/**
 * Which alternative reproduces the port's answer (within the tolerances and precision bounds of
 * `judging`); null when none does. The conventions are tried first (a port cannot be told them),
 * then the attr values, leaving out those the port's capabilities say it does not implement (it
 * cannot be computing those). At most `max` alternatives are tried.
 */
export const attribute = (
  def: AnyOpDef,
  req: Req,
  ans: Answer,
  conventions: Readonly<Record<string, unknown>>,
  judging: JudgeOptions,
  caps: Capabilities = new Map(),
  max = 32,
): Attribution | null => {
  if (ans.kind !== 'outputs') return null;
  const own = caps.get(def.name);
  const all = alternativesOf(def, req, conventions).filter((a) => a.convention || !own?.get(a.attr) || own.get(a.attr)!.some((v) => v === a.value));
  const found: Alternative[] = [];
  for (const alt of [...all.filter((a) => a.convention), ...all.filter((a) => !a.convention)].slice(0, max)) {
    const r = alt.convention ? referenceAnswer(req, { ...conventions, [alt.attr]: alt.value }) : referenceAnswer({ ...req, attrs: { ...req.attrs, [alt.attr]: alt.value } }, conventions);
    if (!('outputs' in r)) continue;
    const j = judge(ans, r.outputs, judging);
    if (j.verdict === 'pass' || j.verdict === 'precision') found.push(alt);
  }
  if (found.length === 0) return null;
  const [first, ...rest] = found;
  return { label: labelOf(first), means: first.means, alternative: first, also: rest.map(labelOf) };
};
