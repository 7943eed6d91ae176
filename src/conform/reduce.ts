/**
 * A second, structural shrinker for a failing request, run after fast-check's. The arbitraries
 * build requests with `chain` (the dims first, then data of those dims), which fast-check shrinks
 * poorly across the dims; this pass knows the protocol's shapes: it drops attrs (back to their
 * defaults), optional inputs, rows (the R dimension that an op's inputs share), and sets values to 0 or to
 * their integer part — keeping each step only if the reference still accepts the request and the
 * port still fails it the same way. Greedy, bounded by a number of tries.
 */
import type { Req } from './suites.js';

type JT = { dtype: string; shape: number[]; data?: unknown[]; b64?: string };

/** Inputs that share their first dimension (the RoIs, boxes, rows) per op. */
const ROW_GROUPS: Readonly<Record<string, readonly string[]>> = {
  roi_pool: ['rois'],
  roi_pool_backward: ['rois', 'argmax', 'top_grad'],
  linear: ['x'],
  linear_backward: ['x', 'dy'],
  relu: ['x'],
  relu_backward: ['x', 'dy'],
  dropout: ['x', 'mask'],
  dropout_backward: ['dy', 'mask'],
  softmax: ['x'],
  softmax_loss: ['scores', 'labels'],
  smooth_l1_loss: ['pred', 'target', 'inside_w', 'outside_w'],
  nms: ['boxes', 'scores'],
  top_k: ['values'],
  sgd_update: ['param', 'grad', 'history'],
  ohem_roi_loss: ['cls_prob', 'labels', 'bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights'],
  ohem_select: ['loss', 'rois', 'labels', 'cls_loss', 'bbox_loss'],
};

/** Inputs an op accepts but does not need, dropped together (the reference says whether that is legal). */
const OPTIONAL_INPUTS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  ohem_roi_loss: [['bbox_pred', 'bbox_targets', 'bbox_inside_weights', 'bbox_outside_weights']],
  ohem_select: [['cls_loss'], ['bbox_loss']],
};

/**
 * Ops whose legal requests carry a side condition the reference cannot check (ohem_step's
 * selection must be unambiguous and its branches away from their kinks, see
 * arbitraries/ohemStep.ts): a structural change could make a correct port fail, so they are left
 * to fast-check alone.
 */
const NOT_REDUCED = new Set(['ohem_step']);

const rowSize = (t: JT): number => t.shape.slice(1).reduce((a, b) => a * b, 1);

const dropRow = (req: Req, names: readonly string[], r: number): Req | null => {
  const inputs: Record<string, unknown> = { ...req.inputs };
  for (const n of names) {
    const t = inputs[n] as JT | undefined;
    if (!t) continue;
    if (!Array.isArray(t.data) || t.shape.length === 0 || t.shape[0] <= 1 || r >= t.shape[0]) return null;
    const k = rowSize(t);
    inputs[n] = { ...t, shape: [t.shape[0] - 1, ...t.shape.slice(1)], data: [...t.data.slice(0, r * k), ...t.data.slice((r + 1) * k)] };
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
export const reduceRequest = async (req: Req, stillFails: (r: Req) => Promise<boolean>, maxTries = 400): Promise<ReduceResult> => {
  if (NOT_REDUCED.has(req.op)) return { request: req, steps: 0, tries: 0 };
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
  for (let pass = 0; pass < 4 && tries < maxTries; pass++) {
    const before = steps;
    // attrs back to their defaults
    for (const k of Object.keys(cur.attrs)) {
      const { [k]: _drop, ...rest } = cur.attrs;
      void _drop;
      await attempt({ ...cur, attrs: rest });
    }
    // optional inputs
    for (const group of OPTIONAL_INPUTS[cur.op] ?? []) {
      if (!group.every((n) => n in cur.inputs)) continue;
      await attempt({ ...cur, inputs: Object.fromEntries(Object.entries(cur.inputs).filter(([n]) => !group.includes(n))) });
    }
    // rows: chunks of half the rows, then of a quarter … then single rows (ddmin-like)
    const group = ROW_GROUPS[cur.op] ?? [];
    const rows = () => ((cur.inputs[group[0]] as JT | undefined)?.shape?.[0] ?? 0);
    const dropRows = (r: Req, start: number, n: number): Req | null => {
      let c: Req | null = r;
      for (let i = 0; i < n && c; i++) c = dropRow(c, group, start);
      return c;
    };
    for (let n = Math.floor(rows() / 2); n >= 1; n = Math.floor(n / 2))
      for (let start = 0; start + n <= rows() && rows() > 1; ) if (!(await attempt(dropRows(cur, start, n)))) start += n;
    // values: a whole tensor to 0, else each value to 0, to its integer part, or a tiny one to ±1
    for (const name of Object.keys(cur.inputs)) {
      const t = cur.inputs[name] as JT;
      if (!Array.isArray(t.data) || t.data.length === 0) continue;
      if (t.data.every((v) => v === 0)) continue;
      if (await attempt(withData(cur, name, t.data.map(() => 0)))) continue;
      for (let i = 0; i < t.data.length; i++) {
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
