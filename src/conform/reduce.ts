/**
 * A second, structural shrinker for a failing request, run after fast-check's. The arbitraries
 * build requests with `chain` (the dims first, then data of those dims), which fast-check shrinks
 * poorly across the dims; this pass reads the op's def: it drops attrs (back to their defaults),
 * optional inputs, and indices of every named dimension — rows and columns alike (R, K, M, C…,
 * removed from every input that carries the dimension) — and sets values to 0 or to their
 * integer part, keeping each step only if the reference still accepts the request and the port
 * still fails it the same way. Greedy, bounded by a number of tries.
 */
import { presenceOf, type AnyOpDef } from '../ops/index.js';
import type { Req } from './suites.js';

type JT = { dtype: string; shape: number[]; data?: unknown[]; b64?: string };

/** Where each named dimension of an op sits in its inputs: dim → (input, axis). */
const dimensionsOf = (def: AnyOpDef, req: Req): Map<string, { input: string; axis: number }[]> => {
  const dims = new Map<string, { input: string; axis: number }[]>();
  const add = (dim: string, input: string, axis: number) => dims.set(dim, [...(dims.get(dim) ?? []), { input, axis }]);
  const byInput = new Map<string, string[]>(); // an input's dims, axis by axis
  for (const i of def.inputs) {
    const t = req.inputs[i.name] as JT | undefined;
    if (!t || !Array.isArray(t.shape)) continue;
    const s = i.shape;
    let names: string[];
    if (Array.isArray(s)) names = (s as readonly (string | number)[]).map((d, axis) => (typeof d === 'string' ? d : `#fixed${axis}`));
    else if ('like' in s) names = byInput.get(s.like) ?? t.shape.map((_, axis) => `${s.like}#${axis}`);
    else names = t.shape.map((_, axis) => `${i.name}#${axis}`);
    byInput.set(i.name, names);
    names.forEach((d, axis) => {
      if (!d.startsWith('#fixed')) add(d, i.name, axis);
    });
  }
  return dims;
};

/** The tensor without index `idx` along `axis` (null if it has no data array or the axis is too short). */
const dropIndex = (t: JT, axis: number, idx: number): JT | null => {
  if (!Array.isArray(t.data) || axis >= t.shape.length || t.shape[axis] <= 1 || idx >= t.shape[axis]) return null;
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = t.shape[axis];
  const data = t.data.filter((_, k) => Math.floor(k / inner) % n !== idx);
  const shape = t.shape.map((d, a) => (a === axis ? d - 1 : d));
  return { ...t, shape, data };
};

const dropAlong = (req: Req, where: readonly { input: string; axis: number }[], idx: number): Req | null => {
  const inputs: Record<string, unknown> = { ...req.inputs };
  for (const { input, axis } of where) {
    const t = dropIndex(inputs[input] as JT, axis, idx);
    if (!t) return null;
    inputs[input] = t;
  }
  return { ...req, inputs };
};

const withData = (req: Req, name: string, data: unknown[]): Req => ({ ...req, inputs: { ...req.inputs, [name]: { ...(req.inputs[name] as JT), data } } });

export interface ReduceResult {
  readonly request: Req;
  readonly steps: number;
  readonly tries: number;
}

/**
 * Reduces `req` while `stillFails` holds (it must answer false for a request the reference
 * refuses). `maxTries` bounds the requests sent to the port.
 */
export const reduceRequest = async (def: AnyOpDef, req: Req, stillFails: (r: Req) => Promise<boolean>, maxTries = 400): Promise<ReduceResult> => {
  let cur = req;
  let steps = 0;
  let tries = 0;
  const attempt = async (cand: Req | null): Promise<boolean> => {
    if (!cand || tries >= maxTries) return false;
    tries++;
    if (await stillFails(cand)) {
      cur = cand;
      steps++;
      return true;
    }
    return false;
  };
  const optional = def.inputs.filter((i) => presenceOf(i, cur.attrs) === 'optional').map((i) => i.name);
  for (let pass = 0; pass < 4 && tries < maxTries; pass++) {
    const before = steps;
    // attrs back to their defaults
    for (const k of Object.keys(cur.attrs)) {
      const { [k]: _drop, ...rest } = cur.attrs;
      void _drop;
      await attempt({ ...cur, attrs: rest });
    }
    // optional inputs: all of them, then one by one
    const present = optional.filter((n) => n in cur.inputs);
    for (const group of [present, ...present.map((n) => [n])]) {
      if (group.length === 0 || !group.every((n) => n in cur.inputs)) continue;
      await attempt({ ...cur, inputs: Object.fromEntries(Object.entries(cur.inputs).filter(([n]) => !group.includes(n))) });
    }
    // every named dimension, the largest first: chunks of half its indices, a quarter … single ones (ddmin-like)
    const dims = [...dimensionsOf(def, cur).keys()];
    const sizeOf = (dim: string): number => {
      const w = dimensionsOf(def, cur).get(dim)?.[0];
      return w ? ((cur.inputs[w.input] as JT).shape[w.axis] ?? 0) : 0;
    };
    dims.sort((a, b) => sizeOf(b) - sizeOf(a));
    for (const dim of dims) {
      const drop = (r: Req, start: number, n: number): Req | null => {
        let c: Req | null = r;
        for (let i = 0; i < n && c; i++) c = dropAlong(c, dimensionsOf(def, c).get(dim) ?? [], start);
        return c;
      };
      for (let n = Math.floor(sizeOf(dim) / 2); n >= 1; n = Math.floor(n / 2))
        for (let start = 0; start + n <= sizeOf(dim) && sizeOf(dim) > 1; ) if (!(await attempt(drop(cur, start, n)))) start += n;
    }
    // values: a whole tensor to 0, else each value to 0, to its integer part, or a tiny one to ±1
    for (const name of Object.keys(cur.inputs)) {
      const t = cur.inputs[name] as JT;
      if (!Array.isArray(t.data) || t.data.length === 0) continue;
      if (t.data.every((v) => v === 0)) continue;
      if (await attempt(withData(cur, name, t.data.map(() => 0)))) continue;
      for (let i = 0; i < t.data.length && tries < maxTries; i++) {
        const d = (cur.inputs[name] as JT).data!;
        const v = d[i];
        if (typeof v !== 'number' || v === 0) continue;
        if (await attempt(withData(cur, name, d.map((x, j) => (j === i ? 0 : x))))) continue;
        const t2 = Math.trunc(v);
        if (t2 !== v && t2 !== 0 && (await attempt(withData(cur, name, d.map((x, j) => (j === i ? t2 : x)))))) continue;
        const s1 = Math.sign(v);
        if (Math.abs(v) < 1 && s1 !== v) await attempt(withData(cur, name, d.map((x, j) => (j === i ? s1 : x))));
      }
    }
    if (steps === before) break;
  }
  return { request: cur, steps, tries };
};
