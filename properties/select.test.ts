/**
 * Properties of the selection of hard RoIs, `selectHard` / protocol `ohem_select`, in its four
 * dialects (SPEC §2, §4, pitfalls 5–8; DIALECTS.md §1a–§1c; docs/mining.md §2).
 *
 * The independent formulations below are written from the texts: SPEC §2.1's pseudo-code for
 * caffe-ohem (literal `argsort()` then reversed, built on a stable sort, which is what the
 * `index_desc` rule means; a greedy NMS loop over SPEC §4's `devIoU` arithmetic, each step
 * rounded to float32), and docs/mining.md §2's bullet lists for mmdet-ohem,
 * tf-hard-example-miner and ssd-hard-negative. Invariants, metamorphic relations and
 * hand-built cases pin the individual rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { selectHard } from '../src/mining/select.js';
import { handleRequest } from '../src/protocol/server.js';
import { type Tensor } from '../src/core/index.js';
import { fcParams, right, leftNaming, noThrow, T, assertPure } from './support.js';
import {
  requests,
  selectCases,
  selectRequest,
  caffeAttrsArb,
  mmdetAttrsArb,
  tfAttrsArb,
  ssdAttrsArb,
  CLAMPED_LOSS,
  type Req,
  type SelectCase,
  type Dialect,
  type Box,
} from '../src/conform/arbitraries/mining.js';

const fr = Math.fround;
type Ties = 'index_desc' | 'index_asc';
type Conv = 'plus1' | 'continuous';
type Attrs = Record<string, unknown>;

// ------------------------------------------------------------------ orderings (SPEC §2.2)

/**
 * Positions of `v` by value descending. `index_desc`: `argsort()` ascending with a stable sort,
 * then reversed (2016 NumPy for n ≤ 16: equal values come out by position descending);
 * `index_asc`: a stable sort by value descending (TF/JAX/ONNX: lower position first).
 */
const argsortDesc = (v: readonly number[], ties: Ties): number[] => {
  const pos = v.map((_, i) => i);
  if (ties === 'index_desc') return pos.sort((a, b) => (v[a] < v[b] ? -1 : v[a] > v[b] ? 1 : 0)).reverse();
  return pos.sort((a, b) => (v[a] > v[b] ? -1 : v[a] < v[b] ? 1 : 0));
};

// ------------------------------------------------------------------ NMS (SPEC §4)

interface NmsOpts {
  threshold: number;
  conv: Conv;
  suppress: 'gt' | 'ge';
  ties: Ties;
  precision: 'float32' | 'float64';
}

/** IoU as `devIoU`: every step rounded to float32 under precision float32; +1 extents under plus1. */
const iouSpec = (a: Box, b: Box, conv: Conv, precision: 'float32' | 'float64' = 'float32'): number => {
  const r = precision === 'float32' ? fr : (x: number) => x;
  const ext = (lo: number, hi: number) => (conv === 'plus1' ? r(r(hi - lo) + 1) : r(hi - lo));
  const w = Math.max(ext(Math.max(a[0], b[0]), Math.min(a[2], b[2])), 0);
  const h = Math.max(ext(Math.max(a[1], b[1]), Math.min(a[3], b[3])), 0);
  const inter = r(w * h);
  const area = (p: Box) => r(ext(p[0], p[2]) * ext(p[1], p[3]));
  return r(inter / r(r(area(a) + area(b)) - inter));
};

/** The suppression predicate (SPEC §4 table): `gt` IoU > fl32(thr) (float32) / thr; `ge` IoU ≥ thr as a double. */
const suppresses = (iou: number, o: NmsOpts): boolean =>
  o.suppress === 'gt' ? iou > (o.precision === 'float32' ? fr(o.threshold) : o.threshold) : iou >= o.threshold;

/** Greedy NMS: walk in descending score order; a live box is kept and kills the later live boxes it suppresses. */
const nmsSpec = (boxes: Box[], scores: number[], o: NmsOpts): number[] => {
  const bx = boxes.map((b) => (o.precision === 'float32' ? (b.map(fr) as Box) : b));
  const sc = o.precision === 'float32' ? scores.map(fr) : scores;
  const order = argsortDesc(sc, o.ties);
  const dead = new Set<number>();
  const keep: number[] = [];
  order.forEach((i, p) => {
    if (dead.has(i)) return;
    keep.push(i);
    for (const j of order.slice(p + 1)) if (!dead.has(j) && suppresses(iouSpec(bx[i], bx[j], o.conv, o.precision), o)) dead.add(j);
  });
  return keep;
};

// ------------------------------------------------------------------ the dialects, from the texts

const boxOf = (c: SelectCase, i: number): Box => [c.rois[5 * i + 1], c.rois[5 * i + 2], c.rois[5 * i + 3], c.rois[5 * i + 4]];
const imgOf = (c: SelectCase, i: number): number => c.rois[5 * i];
const idx = (n: number) => Array.from({ length: n }, (_, i) => i);
const sortedUnique = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);

/** SPEC §2.1 / docs §2 caffe-ohem: NMS per (image, label) on the losses (fl32 under precision float32), keep list, top-B of the float64 losses. */
const caffeSpec = (c: SelectCase, a: Attrs): number[] => {
  const B = (a.batch_size as number | undefined) ?? 128;
  const ties = (a.ties as Ties | undefined) ?? 'index_desc';
  const L = c.loss;
  let keep: number[];
  if ((a.use_nms as boolean | undefined) ?? true) {
    const o: NmsOpts = {
      threshold: (a.nms_threshold as number | undefined) ?? 0.7,
      conv: (a.box_convention as Conv | undefined) ?? 'plus1',
      suppress: (a.suppress as 'gt' | 'ge' | undefined) ?? 'gt',
      ties,
      precision: (a.precision as 'float32' | 'float64' | undefined) ?? 'float32',
    };
    keep = [];
    const imgs = sortedUnique(idx(c.R).map((i) => fr(imgOf(c, i))));
    const labs = sortedUnique(c.labels.map(fr)); // of the WHOLE minibatch
    for (const g of imgs)
      for (const l of labs) {
        const S = idx(c.R).filter((i) => fr(c.labels[i]) === l && fr(imgOf(c, i)) === g);
        if (S.length === 0) continue;
        // The scores are the losses, which nms rounds to float32 under precision float32 (the
        // original's float32 matrix D) and keeps in float64 under float64 (protocol 1.1, amendment 4).
        const K = nmsSpec(S.map((i) => boxOf(c, i)), S.map((i) => L[i]), o);
        keep.push(...K.map((p) => S[p]));
      }
  } else keep = idx(c.R);
  const H = argsortDesc(keep.map((i) => L[i]), ties).slice(0, Math.min(keep.length, B));
  return H.map((p) => keep[p]);
};

/** docs §2 mmdet-ohem: pos/neg pools with quotas, ranked by cls_loss, pos ascending then neg ascending. */
const mmdetSpec = (c: SelectCase, a: Attrs): number[] => {
  const num = (a.num as number | undefined) ?? 512;
  const pf = (a.pos_fraction as number | undefined) ?? 0.25;
  const ub = (a.neg_pos_ub as number | undefined) ?? -1;
  const ties = (a.ties as Ties | undefined) ?? 'index_desc';
  const P = idx(c.R).filter((i) => c.labels[i] > 0);
  const N = idx(c.R).filter((i) => c.labels[i] === 0);
  const pick = (pool: number[], k: number) => (pool.length <= k ? pool : argsortDesc(pool.map((i) => c.cls[i]), ties).slice(0, k).map((p) => pool[p]));
  const takenPos = pick(P, Math.floor(num * pf));
  let expNeg = num - takenPos.length;
  if (ub >= 0) expNeg = Math.min(expNeg, Math.floor(ub * Math.max(1, takenPos.length)));
  const takenNeg = pick(N, expNeg);
  const asc = (xs: number[]) => [...xs].sort((x, y) => x - y);
  return [...asc(takenPos), ...asc(takenNeg)];
};

/** The images of a case: trunc(batch index), ascending, each with its ascending RoI indices. */
const images = (c: SelectCase): number[][] =>
  sortedUnique(idx(c.R).map((i) => Math.trunc(imgOf(c, i)))).map((g) => idx(c.R).filter((i) => Math.trunc(imgOf(c, i)) === g));

/** docs §2 tf-hard-example-miner: per image, class-agnostic continuous NMS, prefix, optional ratio step. */
const tfSpec = (c: SelectCase, a: Attrs): number[] => {
  const type = (a.loss_type as string | undefined) ?? 'both';
  const wc = (a.cls_loss_weight as number | undefined) ?? 0.05;
  const wl = (a.loc_loss_weight as number | undefined) ?? 0.06;
  const nhe = (a.num_hard_examples as number | undefined) ?? 64;
  const ratio = (a.max_negatives_per_positive as number | null | undefined) ?? null;
  const minNeg = (a.min_negatives_per_image as number | undefined) ?? 0;
  const o: NmsOpts = {
    threshold: (a.iou_threshold as number | undefined) ?? 0.7,
    conv: 'continuous',
    suppress: 'gt',
    ties: (a.ties as Ties | undefined) ?? 'index_asc',
    precision: 'float32',
  };
  const out: number[] = [];
  for (const img of images(c)) {
    const losses = img.map((i) => (type === 'cls' ? c.cls[i] : type === 'loc' ? c.bbox[i] : c.cls[i] * wc + c.bbox[i] * wl));
    const keep = nmsSpec(img.map((i) => boxOf(c, i)), losses, o).map((p) => img[p]);
    let sel = nhe === 0 ? keep : keep.slice(0, nhe);
    if (ratio !== null) {
      const nPos = sel.filter((i) => c.labels[i] > 0).length;
      const maxNeg = Math.max(minNeg, Math.floor(ratio * nPos));
      let seen = 0;
      sel = sel.filter((i) => c.labels[i] > 0 || ++seen <= maxNeg);
    }
    out.push(...sel);
  }
  return out;
};

/** docs §2 ssd-hard-negative: per image every positive plus the ⌊ratio·|P|⌋ top negatives, ascending. */
const ssdSpec = (c: SelectCase, a: Attrs): number[] => {
  const ratio = (a.neg_pos_ratio as number | undefined) ?? 3;
  const ties = (a.ties as Ties | undefined) ?? 'index_desc';
  const out: number[] = [];
  for (const img of images(c)) {
    const P = img.filter((i) => c.labels[i] > 0);
    const N = img.filter((i) => c.labels[i] === 0);
    const n = Math.min(Math.floor(ratio * P.length), N.length);
    const negs = argsortDesc(N.map((i) => c.cls[i]), ties).slice(0, n).map((p) => N[p]);
    out.push(...[...P, ...negs].sort((x, y) => x - y));
  }
  return out;
};

// ------------------------------------------------------------------ helpers

const tensorsOfReq = (r: Req): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(r.inputs).map(([n, j]) => [n, T(j.dtype, j.shape, j.data)]));
const runReq = (r: Req): number[] => [...right(noThrow(() => selectHard(tensorsOfReq(r) as never, r.attrs as never))).hard_inds.data];
const sel = (dialect: Dialect, attrs: Attrs, c: SelectCase, extras = false) => runReq(selectRequest(dialect, attrs, c, extras));

/** A case from explicit rows: [img, x1, y1, x2, y2], labels, losses (cls = loss, bbox = 0 unless given). */
const mk = (rows: number[][], labels: number[], loss: number[], cls = loss, bbox = loss.map(() => 0)): SelectCase => ({
  R: rows.length,
  rois: rows.flat().map(fr),
  labels,
  labelsDtype: 'float32',
  loss,
  cls,
  bbox,
});

const caseWith = (conv: Conv, attrsArb: fc.Arbitrary<Attrs>) => fc.tuple(attrsArb, selectCases(conv));
const caffeCases = caffeAttrsArb.chain((a) => selectCases((a.box_convention as Conv | undefined) ?? 'plus1').map((c) => [a, c] as const));

const groupKey = (c: SelectCase, i: number) => `${fr(imgOf(c, i))}/${fr(c.labels[i])}`;
const distinct = (xs: number[]) => new Set(xs).size === xs.length;

// ================================================================== caffe-ohem

test('caffe-ohem: equals SPEC §2.1 / docs §2 (precision float32) over generated cases and attrs', () => {
  fc.assert(
    fc.property(caffeCases.filter(([a]) => a.precision !== 'float64'), ([a, c]) => {
      assert.deepEqual(sel('caffe-ohem', a, c), caffeSpec(c, a));
    }),
    fcParams(),
  );
});

test('caffe-ohem: at most batch_size distinct RoI indices, in descending float64 loss order', () => {
  fc.assert(
    fc.property(caffeCases, ([a, c]) => {
      const h = sel('caffe-ohem', a, c);
      const B = (a.batch_size as number | undefined) ?? 128;
      assert.ok(h.length <= Math.min(B, c.R), `${h.length} > min(${B}, ${c.R})`);
      assert.ok(distinct(h), 'distinct');
      assert.ok(h.every((i) => Number.isInteger(i) && i >= 0 && i < c.R), 'indices < R (never 2R: SPEC §1.4)');
      for (let j = 1; j < h.length; j++) assert.ok(c.loss[h[j - 1]] >= c.loss[h[j]], `position ${j}: not descending`);
    }),
    fcParams(),
  );
});

test('caffe-ohem, use_nms false: batch_size ≥ R selects every RoI; otherwise the first B by (loss desc, index by the tie rule)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(0, CLAMPED_LOSS, 1), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 25 }),
      fc.option(fc.constantFrom<Ties>('index_desc', 'index_asc'), { nil: undefined }),
      (loss, B, ties) => {
        const c = mk(loss.map((_, i) => [0, i, i, i + 5, i + 5]), loss.map(() => 0), loss);
        const a: Attrs = { use_nms: false, batch_size: B, ...(ties ? { ties } : {}) };
        const h = sel('caffe-ohem', a, c);
        const rule = ties ?? 'index_desc';
        const want = idx(c.R)
          .sort((x, y) => loss[y] - loss[x] || (rule === 'index_desc' ? y - x : x - y))
          .slice(0, B);
        assert.deepEqual(h, want);
        if (B >= c.R) assert.deepEqual([...h].sort((x, y) => x - y), idx(c.R));
      },
    ),
    fcParams(),
  );
  // by hand: losses [1, c, 0, c, 1, 0]
  const loss = [1, CLAMPED_LOSS, 0, CLAMPED_LOSS, 1, 0];
  const c = mk(loss.map(() => [0, 0, 0, 9, 9]), loss.map(() => 0), loss);
  assert.deepEqual(sel('caffe-ohem', { use_nms: false }, c), [3, 1, 4, 0, 5, 2]);
  assert.deepEqual(sel('caffe-ohem', { use_nms: false, ties: 'index_asc' }, c), [1, 3, 0, 4, 2, 5]);
  assert.deepEqual(sel('caffe-ohem', { use_nms: false, batch_size: 3 }, c), [3, 1, 4]);
});

test('caffe-ohem with NMS: a smaller batch is a prefix of the full ranking, and every kept-but-unselected RoI has loss ≤ the smallest selected', () => {
  fc.assert(
    fc.property(caffeCases, ([a, c]) => {
      const all = sel('caffe-ohem', { ...a, batch_size: c.R + 1 }, c);
      const h = sel('caffe-ohem', a, c);
      assert.deepEqual(h, all.slice(0, h.length), 'prefix');
      if (h.length === 0) return;
      const minSel = Math.min(...h.map((i) => c.loss[i]));
      for (const i of all.slice(h.length)) assert.ok(c.loss[i] <= minSel, `RoI ${i} (loss ${c.loss[i]}) left out above ${minSel}`);
    }),
    fcParams(),
  );
});

test('caffe-ohem with NMS (default attrs): no two selected RoIs of one (image, label) group overlap with +1 float32 IoU > fl32(0.7), and every dropped RoI is suppressed by a kept one of its group scoring at least as high in float32', () => {
  fc.assert(
    fc.property(
      selectCases('plus1'),
      (c) => {
        const h = sel('caffe-ohem', { batch_size: c.R }, c);
        const thr = fr(0.7);
        for (let x = 0; x < h.length; x++)
          for (let y = x + 1; y < h.length; y++) {
            const i = h[x];
            const j = h[y];
            if (groupKey(c, i) !== groupKey(c, j)) continue;
            const iou = iouSpec(boxOf(c, i), boxOf(c, j), 'plus1');
            assert.ok(!(iou > thr), `RoIs ${i} and ${j} of group ${groupKey(c, i)} both kept with IoU ${iou}`);
          }
        const kept = new Set(h);
        for (const j of idx(c.R).filter((j) => !kept.has(j))) {
          const by = h.filter((i) => groupKey(c, i) === groupKey(c, j) && fr(c.loss[i]) >= fr(c.loss[j]) && iouSpec(boxOf(c, i), boxOf(c, j), 'plus1') > thr);
          assert.ok(by.length > 0, `RoI ${j} dropped but no kept RoI of its group suppresses it`);
        }
      },
    ),
    fcParams(),
  );
});

test('caffe-ohem: RoIs of different labels or images never suppress each other (a fg and a bg RoI with identical boxes are both kept)', () => {
  const box = [10, 10, 40, 40];
  // fg + bg, same image, identical boxes
  assert.deepEqual(sel('caffe-ohem', {}, mk([[0, ...box], [0, ...box]], [1, 0], [2, 1])), [0, 1]);
  // same label, two images
  assert.deepEqual(sel('caffe-ohem', {}, mk([[0, ...box], [1, ...box]], [3, 3], [2, 1])), [0, 1]);
  // same label and image: one suppresses the other (IoU 1)
  assert.deepEqual(sel('caffe-ohem', {}, mk([[0, ...box], [0, ...box]], [3, 3], [2, 1])), [0]);
  // property: a RoI alone in its (image, label) group is always kept when B ≥ R
  fc.assert(
    fc.property(selectCases('plus1'), (c) => {
      const h = new Set(sel('caffe-ohem', { batch_size: c.R }, c));
      const count = new Map<string, number>();
      for (const i of idx(c.R)) count.set(groupKey(c, i), (count.get(groupKey(c, i)) ?? 0) + 1);
      for (const i of idx(c.R)) if (count.get(groupKey(c, i)) === 1) assert.ok(h.has(i), `RoI ${i} alone in ${groupKey(c, i)} was dropped`);
    }),
    fcParams(),
  );
});

test('caffe-ohem: image ids are the float values of column 0 (docs §2: compare values, not truncated ints)', () => {
  const box = [10, 10, 40, 40];
  assert.deepEqual(sel('caffe-ohem', {}, mk([[0, ...box], [0.5, ...box]], [1, 1], [2, 1])), [0, 1]);
});

test('caffe-ohem: the NMS score is fl32(loss) (a float32 tie decided by the tie rule), the final ranking is the float64 loss', () => {
  const box = [0, 0, 20, 20];
  const hi = 1 + 2 ** -30; // fl32(hi) = fl32(1) = 1
  assert.equal(fr(hi), 1);
  // one group, identical boxes, float64 losses [hi, 1]: inside NMS they tie in float32, so the
  // tie rule picks — index_desc keeps position 1 (the smaller float64 loss), index_asc position 0
  const same = mk([[0, ...box], [0, ...box]], [1, 1], [hi, 1]);
  assert.deepEqual(sel('caffe-ohem', {}, same), [1]);
  assert.deepEqual(sel('caffe-ohem', { ties: 'index_asc' }, same), [0]);
  // two groups (bg first in the keep list): keep = [0, 1]; float64 ranking puts 0 (hi) first,
  // although a float32 ranking would tie and index_desc would put keep position 1 first
  const two = mk([[0, ...box], [0, ...box]], [0, 1], [hi, 1]);
  assert.deepEqual(sel('caffe-ohem', {}, two), [0, 1]);
  const two2 = mk([[0, ...box], [0, ...box]], [0, 1], [1, hi]);
  assert.deepEqual(sel('caffe-ohem', { ties: 'index_asc' }, two2), [1, 0]);
});

test('caffe-ohem: the final tie rule works on keep-list positions, and the keep list runs (image asc, label asc)', () => {
  // every loss equal, boxes far apart (no suppression): the order is the keep list's, reversed for index_desc
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(0, 1, 2), fc.constantFrom(0, 1, 2, 10)), { minLength: 1, maxLength: 16 }),
      fc.constantFrom<Ties>('index_desc', 'index_asc'),
      fc.constantFrom(CLAMPED_LOSS, 0, 1),
      (groups, ties, v) => {
        const c = mk(groups.map(([g], i) => [g, 30 * i, 0, 30 * i + 10, 10]), groups.map(([, l]) => l), groups.map(() => v));
        const byGroup = (x: number, y: number) => groups[x][0] - groups[y][0] || groups[x][1] - groups[y][1];
        // inside a group all scores tie: NMS order = positions by the rule; the keep list concatenates groups
        const keep = idx(c.R).sort((x, y) => byGroup(x, y) || (ties === 'index_desc' ? y - x : x - y));
        const want = ties === 'index_desc' ? [...keep].reverse() : keep;
        assert.deepEqual(sel('caffe-ohem', { ties }, c), want);
      },
    ),
    fcParams(),
  );
  // by hand: RoIs 0..3 in groups (img 1, lbl 0), (img 0, lbl 10), (img 0, lbl 2), (img 0, lbl 0);
  // keep = [3, 2, 1, 0] ((0,0), (0,2), (0,10), (1,0)); all tie; index_desc reverses positions
  const rows = [[1, 0, 0, 9, 9], [0, 50, 0, 59, 9], [0, 100, 0, 109, 9], [0, 150, 0, 159, 9]];
  const c = mk(rows, [0, 10, 2, 0], [CLAMPED_LOSS, CLAMPED_LOSS, CLAMPED_LOSS, CLAMPED_LOSS]);
  assert.deepEqual(sel('caffe-ohem', { ties: 'index_asc' }, c), [3, 2, 1, 0]);
  assert.deepEqual(sel('caffe-ohem', {}, c), [0, 1, 2, 3]);
});

test('caffe-ohem: permuting the RoIs of a tie-free input permutes hard_inds accordingly', () => {
  fc.assert(
    fc.property(
      // distinct losses, also as float32 NMS scores
      caffeCases.map(([a, c]) => [a, { ...c, loss: c.loss.map((v, i) => v + i * 0.001) }] as const).filter(([, c]) => new Set(c.loss.map(fr)).size === c.R),
      fc.nat(),
      ([a, c], seed) => {
        const perm = idx(c.R).sort((x, y) => ((x * 7919 + seed) % 17) - ((y * 7919 + seed) % 17) || x - y); // new i ← old perm[i]
        const p: SelectCase = {
          ...c,
          rois: perm.flatMap((i) => c.rois.slice(5 * i, 5 * i + 5)),
          labels: perm.map((i) => c.labels[i]),
          loss: perm.map((i) => c.loss[i]),
          cls: perm.map((i) => c.cls[i]),
          bbox: perm.map((i) => c.bbox[i]),
        };
        assert.deepEqual(sel('caffe-ohem', a, p).map((i) => perm[i]), sel('caffe-ohem', a, c));
      },
    ),
    fcParams(),
  );
});

test('caffe-ohem, precision: float32 rounds the NMS scores to fl32(loss) (SPEC §2.1: D is a float32 matrix), float64 keeps the float64 losses (protocol 1.1, amendment 4)', () => {
  const box = [0, 0, 20, 20];
  const hi = 1 + 2 ** -30;
  // identical boxes, one group: float64 losses [hi, 1] tie as float32 scores (index_desc keeps
  // position 1) and differ as float64 scores (the higher, position 0, is kept)
  const c = mk([[0, ...box], [0, ...box]], [1, 1], [hi, 1]);
  assert.deepEqual(sel('caffe-ohem', { precision: 'float32' }, c), [1]);
  assert.deepEqual(sel('caffe-ohem', { precision: 'float64' }, c), [0]);
  // The protocol 1.1 example: two identical boxes with losses 36.04365342268542 and 36.04365338911715.
  const e = mk([[0, ...box], [0, ...box]], [0, 0], [36.04365342268542, 36.04365338911715]);
  assert.deepEqual(sel('caffe-ohem', {}, e), [1]);
  assert.deepEqual(sel('caffe-ohem', { precision: 'float64' }, e), [0]);
  fc.assert(
    fc.property(caffeCases.map(([a, c]) => [{ ...a, precision: 'float64' }, c] as const), ([a, c]) => {
      assert.deepEqual(sel('caffe-ohem', a, c), caffeSpec(c, a));
    }),
    fcParams(),
  );
});

// ================================================================== mmdet-ohem

test('mmdet-ohem: equals docs §2 over generated cases and attrs', () => {
  fc.assert(
    fc.property(caseWith('plus1', mmdetAttrsArb), ([a, c]) => {
      assert.deepEqual(sel('mmdet-ohem', a, c), mmdetSpec(c, a));
    }),
    fcParams(),
  );
});

test('mmdet-ohem: the quotas, all positives when they fit, the top cls_loss of each pool, positives ascending then negatives ascending', () => {
  fc.assert(
    fc.property(caseWith('plus1', mmdetAttrsArb), ([a, c]) => {
      const h = sel('mmdet-ohem', a, c);
      const num = (a.num as number | undefined) ?? 512;
      const pf = (a.pos_fraction as number | undefined) ?? 0.25;
      const ub = (a.neg_pos_ub as number | undefined) ?? -1;
      const P = idx(c.R).filter((i) => c.labels[i] > 0);
      const N = idx(c.R).filter((i) => c.labels[i] === 0);
      const pos = h.filter((i) => c.labels[i] > 0);
      const neg = h.filter((i) => c.labels[i] === 0);
      assert.deepEqual(h, [...pos, ...neg], 'positives first');
      assert.deepEqual(pos, [...pos].sort((x, y) => x - y), 'positives ascending');
      assert.deepEqual(neg, [...neg].sort((x, y) => x - y), 'negatives ascending');
      assert.ok(distinct(h));
      const qPos = Math.floor(num * pf);
      assert.equal(pos.length, Math.min(P.length, qPos), '#pos = min(|P|, floor(num·pos_fraction))');
      if (P.length <= qPos) assert.deepEqual(pos, P, 'all positives taken when they fit');
      let qNeg = num - pos.length;
      if (ub >= 0) qNeg = Math.min(qNeg, Math.floor(ub * Math.max(1, pos.length)));
      assert.equal(neg.length, Math.min(N.length, qNeg), '#neg = min(|N|, num − #pos, floor(ub·max(1, #pos)))');
      for (const [chosen, pool] of [
        [pos, P],
        [neg, N],
      ] as const) {
        if (chosen.length === 0) continue;
        const lo = Math.min(...chosen.map((i) => c.cls[i]));
        for (const i of pool) if (!chosen.includes(i)) assert.ok(c.cls[i] <= lo, `RoI ${i} (cls ${c.cls[i]}) left out above ${lo}`);
      }
    }),
    fcParams(),
  );
});

test('mmdet-ohem: ranks by cls_loss only (the loss and bbox_loss inputs change nothing)', () => {
  fc.assert(
    fc.property(caseWith('plus1', mmdetAttrsArb), fc.nat(), ([a, c], seed) => {
      const base = sel('mmdet-ohem', a, c);
      const other: SelectCase = { ...c, loss: c.loss.map((_, i) => ((i * 31 + seed) % 11) * 7.5), bbox: c.bbox.map((_, i) => ((i * 17 + seed) % 5) * 100) };
      assert.deepEqual(sel('mmdet-ohem', a, other, true), base);
      assert.deepEqual(sel('mmdet-ohem', a, c, true), base);
    }),
    fcParams(100),
  );
  // by hand: num 4, pos_fraction 0.5; positives 0, 1, 2 with cls [3, 1, 2]; negatives 3..6 with cls [0, 5, 4, 1]
  const c = mk(idx(7).map((i) => [0, 20 * i, 0, 20 * i + 9, 9]), [1, 1, 2, 0, 0, 0, 0], [0, 9, 9, 9, 0, 0, 0], [3, 1, 2, 0, 5, 4, 1]);
  assert.deepEqual(sel('mmdet-ohem', { num: 4, pos_fraction: 0.5 }, c), [0, 2, 4, 5]);
  // neg_pos_ub 0.5 with 2 positives: floor(0.5·2) = 1 negative
  assert.deepEqual(sel('mmdet-ohem', { num: 4, pos_fraction: 0.5, neg_pos_ub: 0.5 }, c), [0, 2, 4]);
  // pos_fraction 0: no positive, max(1, 0) = 1 → floor(2·1) = 2 negatives
  assert.deepEqual(sel('mmdet-ohem', { num: 4, pos_fraction: 0, neg_pos_ub: 2 }, c), [4, 5]);
});

// ================================================================== tf-hard-example-miner

test('tf-hard-example-miner: equals docs §2 over generated cases and attrs', () => {
  fc.assert(
    fc.property(caseWith('continuous', tfAttrsArb), ([a, c]) => {
      assert.deepEqual(sel('tf-hard-example-miner', a, c), tfSpec(c, a));
    }),
    fcParams(),
  );
});

test('tf-hard-example-miner: loss_type both ranks by cls_loss·0.05 + bbox_loss·0.06 (defaults), cls and loc by one part', () => {
  fc.assert(
    fc.property(caseWith('continuous', tfAttrsArb), ([a, c]) => {
      const wc = (a.cls_loss_weight as number | undefined) ?? 0.05;
      const wl = (a.loc_loss_weight as number | undefined) ?? 0.06;
      const mixed = c.cls.map((v, i) => v * wc + c.bbox[i] * wl);
      const both = sel('tf-hard-example-miner', { ...a, loss_type: 'both' }, c);
      assert.deepEqual(both, sel('tf-hard-example-miner', { ...a, loss_type: 'cls' }, { ...c, cls: mixed }), 'both ≡ cls on the weighted sum');
      assert.deepEqual(both, sel('tf-hard-example-miner', { ...a, loss_type: 'loc' }, { ...c, bbox: mixed }), 'both ≡ loc on the weighted sum');
      // cls ignores bbox_loss, loc ignores cls_loss
      assert.deepEqual(sel('tf-hard-example-miner', { ...a, loss_type: 'cls' }, c), sel('tf-hard-example-miner', { ...a, loss_type: 'cls' }, { ...c, bbox: c.bbox.map(() => 7) }, true));
      assert.deepEqual(sel('tf-hard-example-miner', { ...a, loss_type: 'loc' }, c), sel('tf-hard-example-miner', { ...a, loss_type: 'loc' }, { ...c, cls: c.cls.map(() => 7) }, true));
    }),
    fcParams(100),
  );
  // by hand, defaults (0.05, 0.06): cls [10, 0], bbox [0, 9]: 0.5 < 0.54 → RoI 1 first
  const c = mk([[0, 0, 0, 9, 9], [0, 50, 0, 59, 9]], [1, 1], [0, 0], [10, 0], [0, 9]);
  assert.deepEqual(sel('tf-hard-example-miner', {}, c), [1, 0]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, c), [0, 1]);
});

test('tf-hard-example-miner: class-agnostic NMS with continuous boxes and IoU > threshold (a fg and a bg RoI suppress each other)', () => {
  const box = [10, 10, 40, 40];
  // fg + bg identical: the harder one only
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, mk([[0, ...box], [0, ...box]], [1, 0], [1, 2])), [1]);
  // continuous IoU of (0,0,10,7) and (0,0,10,10) is 70/100 = fl32(0.7): not > → both kept (plus1 would give 88/121 and suppress)
  const at = mk([[0, 0, 0, 10, 10], [0, 0, 0, 10, 7]], [1, 1], [0, 0], [2, 1]);
  assert.equal(iouSpec([0, 0, 10, 10], [0, 0, 10, 7], 'continuous'), fr(0.7));
  assert.ok(iouSpec([0, 0, 10, 10], [0, 0, 10, 7], 'plus1') > fr(0.7));
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, at), [0, 1]);
  // (0,0,10,8): 0.8 > 0.7 → suppressed
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, mk([[0, 0, 0, 10, 10], [0, 0, 0, 10, 8]], [1, 0], [0, 0], [2, 1])), [0]);
  // but never across images
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, mk([[0, ...box], [1, ...box]], [1, 0], [1, 2])), [0, 1]);
  // property: no two selected RoIs of one image overlap with continuous float32 IoU > fl32(iou_threshold)
  fc.assert(
    fc.property(caseWith('continuous', tfAttrsArb), ([a, c]) => {
      const thr = fr((a.iou_threshold as number | undefined) ?? 0.7);
      const h = sel('tf-hard-example-miner', a, c);
      for (let x = 0; x < h.length; x++)
        for (let y = x + 1; y < h.length; y++)
          if (Math.trunc(imgOf(c, h[x])) === Math.trunc(imgOf(c, h[y])))
            assert.ok(!(iouSpec(boxOf(c, h[x]), boxOf(c, h[y]), 'continuous') > thr), `RoIs ${h[x]}, ${h[y]} overlap`);
    }),
    fcParams(100),
  );
});

test('tf-hard-example-miner: at most num_hard_examples per image (0 = all NMS survivors); the ratio step keeps every selected positive and ≤ max(min_neg, ⌊r·#pos⌋) negatives, in selection order', () => {
  fc.assert(
    fc.property(caseWith('continuous', tfAttrsArb), ([a, c]) => {
      const nhe = (a.num_hard_examples as number | undefined) ?? 64;
      const noRatio = { ...a, max_negatives_per_positive: null };
      const plain = sel('tf-hard-example-miner', noRatio, c);
      const imgOfIdx = (i: number) => Math.trunc(imgOf(c, i));
      const imgs = sortedUnique(idx(c.R).map(imgOfIdx));
      // images ascending, each image's entries contiguous
      assert.deepEqual(plain.map(imgOfIdx), [...plain.map(imgOfIdx)].sort((x, y) => x - y), 'images ascending');
      for (const g of imgs) {
        const mine = plain.filter((i) => imgOfIdx(i) === g);
        if (nhe > 0) assert.ok(mine.length <= nhe, `image ${g}: ${mine.length} > ${nhe}`);
        if (nhe === 0) assert.ok(mine.length >= 1, `image ${g}: NMS keeps at least one RoI`);
      }
      const r = a.max_negatives_per_positive as number | null | undefined;
      if (r === null || r === undefined) return;
      const minNeg = (a.min_negatives_per_image as number | undefined) ?? 0;
      const withRatio = sel('tf-hard-example-miner', a, c);
      // a subsequence of the plain selection with every positive of it
      let k = 0;
      for (const i of withRatio) {
        while (k < plain.length && plain[k] !== i) k++;
        assert.ok(k < plain.length, `RoI ${i} is not in the plain selection order`);
        k++;
      }
      assert.deepEqual(withRatio.filter((i) => c.labels[i] > 0), plain.filter((i) => c.labels[i] > 0), 'every selected positive kept');
      for (const g of imgs) {
        const pos = plain.filter((i) => imgOfIdx(i) === g && c.labels[i] > 0).length;
        const negsPlain = plain.filter((i) => imgOfIdx(i) === g && c.labels[i] === 0);
        const negs = withRatio.filter((i) => imgOfIdx(i) === g && c.labels[i] === 0);
        const cap = Math.max(minNeg, Math.floor(r * pos));
        assert.equal(negs.length, Math.min(cap, negsPlain.length), `image ${g}: negatives`);
        assert.deepEqual(negs, negsPlain.slice(0, negs.length), `image ${g}: the first negatives in selection order`);
      }
    }),
    fcParams(),
  );
});

test('tf-hard-example-miner: min_negatives_per_image gives negatives to an image without positives; default ties index_asc', () => {
  // image 0: negatives only, losses [1, 3, 2]; image 1: one positive and two negatives
  const rows = [[0, 0, 0, 9, 9], [0, 50, 0, 59, 9], [0, 100, 0, 109, 9], [1, 0, 0, 9, 9], [1, 50, 0, 59, 9], [1, 100, 0, 109, 9]];
  const c = mk(rows, [0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 0, 0], [1, 3, 2, 5, 4, 6]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls', max_negatives_per_positive: 1, min_negatives_per_image: 0 }, c), [5, 4]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls', max_negatives_per_positive: 1, min_negatives_per_image: 2 }, c), [1, 2, 5, 3, 4]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls', max_negatives_per_positive: 0 }, c), [4]);
  // ties: all equal → positions ascending by default, descending with index_desc
  const t = mk(rows.slice(0, 3), [0, 1, 0], [0, 0, 0], [2, 2, 2]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, t), [0, 1, 2]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls', ties: 'index_desc' }, t), [2, 1, 0]);
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls', num_hard_examples: 2 }, t), [0, 1]);
});

test('tf-hard-example-miner and ssd-hard-negative: the image is trunc(batch index) (docs §2), so 0 and 0.5 are one image', () => {
  const box = [10, 10, 40, 40];
  // tf: identical boxes in image trunc(0) = trunc(0.5) = 0: one suppresses the other
  assert.deepEqual(sel('tf-hard-example-miner', { loss_type: 'cls' }, mk([[0, ...box], [0.5, ...box]], [1, 0], [1, 2])), [1]);
  // ssd: the positive of batch 0 lends its quota to the negative of batch 0.5
  assert.deepEqual(sel('ssd-hard-negative', {}, mk([[0.5, ...box], [0, ...box]], [0, 1], [1, 2])), [0, 1]);
  // and 1.9 is image 1, after image 0 (images ascending)
  assert.deepEqual(sel('ssd-hard-negative', {}, mk([[1.9, ...box], [0, ...box], [1, ...box]], [1, 1, 0], [1, 2, 3])), [1, 0, 2]);
});

// ================================================================== ssd-hard-negative

test('ssd-hard-negative: equals docs §2 over generated cases and attrs', () => {
  fc.assert(
    fc.property(caseWith('plus1', ssdAttrsArb), ([a, c]) => {
      assert.deepEqual(sel('ssd-hard-negative', a, c), ssdSpec(c, a));
    }),
    fcParams(),
  );
});

test('ssd-hard-negative: every positive, min(⌊ratio·#pos⌋, #neg) top negatives per image, ascending per image, images ascending; no positives → nothing', () => {
  fc.assert(
    fc.property(caseWith('plus1', ssdAttrsArb), ([a, c]) => {
      const ratio = (a.neg_pos_ratio as number | undefined) ?? 3;
      const h = sel('ssd-hard-negative', a, c);
      const imgOfIdx = (i: number) => Math.trunc(imgOf(c, i));
      assert.ok(distinct(h));
      assert.deepEqual(h.map(imgOfIdx), [...h.map(imgOfIdx)].sort((x, y) => x - y), 'images ascending');
      for (const g of sortedUnique(idx(c.R).map(imgOfIdx))) {
        const mine = h.filter((i) => imgOfIdx(i) === g);
        assert.deepEqual(mine, [...mine].sort((x, y) => x - y), `image ${g}: ascending`);
        const P = idx(c.R).filter((i) => imgOfIdx(i) === g && c.labels[i] > 0);
        const N = idx(c.R).filter((i) => imgOfIdx(i) === g && c.labels[i] === 0);
        assert.deepEqual(mine.filter((i) => c.labels[i] > 0), P, `image ${g}: every positive`);
        const negs = mine.filter((i) => c.labels[i] === 0);
        assert.equal(negs.length, Math.min(Math.floor(ratio * P.length), N.length), `image ${g}: #neg`);
        if (P.length === 0) assert.equal(mine.length, 0, `image ${g} has no positive`);
        if (negs.length > 0) {
          const lo = Math.min(...negs.map((i) => c.cls[i]));
          for (const i of N) if (!negs.includes(i)) assert.ok(c.cls[i] <= lo, `negative ${i} left out above ${lo}`);
        }
      }
    }),
    fcParams(),
  );
  // by hand: image 0: positive 1, negatives 0, 2, 3 with cls [5, -, 1, 7], ratio 2 → 0 and 3; image 1: negatives only → nothing
  const rows = [[0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [0, 0, 0, 9, 9], [1, 0, 0, 9, 9]];
  const c = mk(rows, [0, 4, 0, 0, 0], [0, 0, 0, 0, 0], [5, 0, 1, 7, 100]);
  assert.deepEqual(sel('ssd-hard-negative', { neg_pos_ratio: 2 }, c), [0, 1, 3]);
  assert.deepEqual(sel('ssd-hard-negative', {}, c), [0, 1, 2, 3]);
});

// ================================================================== requests, bad input, purity

test('the differential requests are legal: the reference answers every one through the protocol', () => {
  for (const [key, arb] of Object.entries(requests)) {
    fc.assert(
      fc.property(arb, (req) => {
        assert.ok(req.op === 'ohem_roi_loss' || (req.op === 'ohem_select' && typeof req.attrs.dialect === 'string'), key);
        for (const [n, t] of Object.entries(req.inputs)) {
          assert.equal(t.data.length, t.shape.reduce((x, y) => x * y, 1), `${key}: ${n} size`);
          assert.ok(t.data.every((v) => Number.isFinite(v)), `${key}: ${n} finite`);
          if (t.dtype === 'float32') assert.ok(t.data.every((v) => fr(v) === v), `${key}: ${n} float32-representable`);
        }
        const resp = handleRequest({ id: 1, ...req }) as { error?: unknown; outputs?: unknown };
        assert.ok(!('error' in resp), `${key}: ${JSON.stringify(resp.error)}`);
      }),
      fcParams(50),
    );
  }
});

/** A valid request of each dialect to break one piece of. */
const validCase = mk(
  [[0, 0, 0, 9, 9], [0, 1, 1, 10, 10], [1, 0, 0, 9, 9], [0, 50, 0, 59, 9]],
  [1, 0, 2, 0],
  [3, 1, 2, 0.5],
  [2, 1, 1, 0.5],
  [1, 0, 1, 0],
);
const validInputs = (): Record<string, Tensor> => tensorsOfReq(selectRequest('caffe-ohem', {}, validCase, true));
const leftNamingOneOf = (r: ReturnType<typeof selectHard>, names: string[]) => {
  assert.ok(r._tag === 'Left', `expected a Left naming one of ${names}`);
  assert.ok(names.includes(r.left.input), `named ${r.left.input}, expected one of ${names}`);
  leftNaming(r, r.left.input);
};
const badSel = (inputs: Record<string, unknown>, attrs: Attrs) => noThrow(() => selectHard(inputs as never, attrs as never));

test('the valid base case is accepted by every dialect (so each bad input below breaks exactly one thing)', () => {
  for (const dialect of ['caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'])
    assert.ok(right(badSel(validInputs(), { dialect })).hard_inds.size > 0, dialect);
});

test('bad attrs → Left naming attrs.<name>', () => {
  const cases: [Attrs, string][] = [
    [{ dialect: 'detectron' }, 'attrs.dialect'],
    [{ dialect: 3 }, 'attrs.dialect'],
    [{ batch_size: -4 }, 'attrs.batch_size'],
    [{ batch_size: 2.5 }, 'attrs.batch_size'],
    [{ nms_threshold: 1.5 }, 'attrs.nms_threshold'],
    [{ nms_threshold: -0.1 }, 'attrs.nms_threshold'],
    [{ nms_threshold: NaN }, 'attrs.nms_threshold'],
    [{ use_nms: 'yes' }, 'attrs.use_nms'],
    [{ ties: 'random' }, 'attrs.ties'],
    [{ box_convention: 'pixel' }, 'attrs.box_convention'],
    [{ suppress: 'gte' }, 'attrs.suppress'],
    [{ precision: 'float16' }, 'attrs.precision'],
    [{ dialect: 'mmdet-ohem', num: 0 }, 'attrs.num'],
    [{ dialect: 'mmdet-ohem', pos_fraction: 1.5 }, 'attrs.pos_fraction'],
    [{ dialect: 'mmdet-ohem', pos_fraction: -0.25 }, 'attrs.pos_fraction'],
    [{ dialect: 'mmdet-ohem', neg_pos_ub: -2 }, 'attrs.neg_pos_ub'],
    [{ dialect: 'mmdet-ohem', ties: 'first' }, 'attrs.ties'],
    [{ dialect: 'tf-hard-example-miner', loss_type: 'focal' }, 'attrs.loss_type'],
    [{ dialect: 'tf-hard-example-miner', iou_threshold: 1.5 }, 'attrs.iou_threshold'],
    [{ dialect: 'tf-hard-example-miner', num_hard_examples: -1 }, 'attrs.num_hard_examples'],
    [{ dialect: 'tf-hard-example-miner', max_negatives_per_positive: -1 }, 'attrs.max_negatives_per_positive'],
    [{ dialect: 'tf-hard-example-miner', min_negatives_per_image: -1 }, 'attrs.min_negatives_per_image'],
    [{ dialect: 'tf-hard-example-miner', cls_loss_weight: 'x' }, 'attrs.cls_loss_weight'],
    [{ dialect: 'ssd-hard-negative', neg_pos_ratio: -1 }, 'attrs.neg_pos_ratio'],
    [{ dialect: 'ssd-hard-negative', ties: 'x' }, 'attrs.ties'],
  ];
  for (const [attrs, name] of cases) leftNaming(badSel(validInputs(), attrs), name);
  // Protocol 1.1 (amendment 3): batch_size 0 is the original's slice [0:0], an empty selection.
  assert.deepEqual(Array.from(right(badSel(validInputs(), { batch_size: 0 })).hard_inds.data), []);
  // An attr of another dialect, or of none, is named as what it is.
  assert.match(leftNaming(badSel(validInputs(), { num: 3 }), 'attrs.num').message, /under dialect "mmdet-ohem"/);
  assert.match(leftNaming(badSel(validInputs(), { nms_thresh: 0.5 }), 'attrs.nms_thresh').message, /is not an attr of ohem_select/);
});

test('missing or malformed loss inputs → Left naming them', () => {
  const without = (n: string) => Object.fromEntries(Object.entries(validInputs()).filter(([k]) => k !== n));
  leftNaming(badSel(without('loss'), {}), 'loss');
  leftNaming(badSel(without('cls_loss'), { dialect: 'mmdet-ohem' }), 'cls_loss');
  leftNaming(badSel(without('cls_loss'), { dialect: 'ssd-hard-negative' }), 'cls_loss');
  leftNaming(badSel(without('cls_loss'), { dialect: 'tf-hard-example-miner', loss_type: 'cls' }), 'cls_loss');
  leftNaming(badSel(without('cls_loss'), { dialect: 'tf-hard-example-miner' }), 'cls_loss');
  leftNaming(badSel(without('bbox_loss'), { dialect: 'tf-hard-example-miner', loss_type: 'loc' }), 'bbox_loss');
  leftNaming(badSel(without('bbox_loss'), { dialect: 'tf-hard-example-miner' }), 'bbox_loss');
  // docs §2 (tf): cls_loss is an input for `cls` and `both` only, so `loc` needs none
  right(badSel(without('cls_loss'), { dialect: 'tf-hard-example-miner', loss_type: 'loc' }));
  const dialects: [string, string, Attrs][] = [
    ['loss', 'caffe-ohem', {}],
    ['cls_loss', 'mmdet-ohem', {}],
    ['cls_loss', 'ssd-hard-negative', {}],
    ['cls_loss', 'tf-hard-example-miner', { loss_type: 'cls' }],
    ['bbox_loss', 'tf-hard-example-miner', { loss_type: 'loc' }],
  ];
  fc.assert(
    fc.property(fc.constantFrom(...dialects), fc.integer({ min: 0, max: 3 }), fc.constantFrom('nan', 'short', 'rank2', 'int32'), ([n, dialect, extra], at, how) => {
      const v = [...validInputs()[n].data];
      v[at] = NaN;
      const t =
        how === 'nan'
          ? T('float64', [4], v)
          : how === 'short'
            ? T('float64', [3], [1, 2, 3])
            : how === 'rank2'
              ? T('float64', [4, 1], [1, 2, 3, 4])
              : T('int32', [4], [1, 2, 3, 4]);
      leftNaming(badSel({ ...validInputs(), [n]: t }, { dialect, ...extra }), n);
    }),
    fcParams(60),
  );
});

test('bad labels and rois → Left naming them (labels −1 or 2.5, rois [R,4], negative batch index, NaN box)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'),
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom(-1, 2.5, -3, 0.5, NaN),
      (dialect, at, bad) => {
        const lab = [...validInputs().labels.data];
        lab[at] = bad;
        leftNaming(badSel({ ...validInputs(), labels: T('float32', [4], lab) }, { dialect }), 'labels');
        const rois = [...validInputs().rois.data];
        rois[5 * at] = -1;
        leftNaming(badSel({ ...validInputs(), rois: T('float32', [4, 5], rois) }, { dialect }), 'rois');
        const nanRois = [...validInputs().rois.data];
        nanRois[5 * at + 1 + (at % 4)] = NaN;
        leftNaming(badSel({ ...validInputs(), rois: T('float32', [4, 5], nanRois) }, { dialect }), 'rois');
        leftNaming(badSel({ ...validInputs(), rois: T('float32', [4, 4], new Array(16).fill(1)) }, { dialect }), 'rois');
        leftNaming(badSel({ ...validInputs(), rois: undefined }, { dialect }), 'rois');
        leftNaming(badSel({ ...validInputs(), labels: undefined }, { dialect }), 'labels');
        // R disagrees between rois and labels: either may be the one named
        leftNamingOneOf(badSel({ ...validInputs(), rois: T('float32', [3, 5], new Array(15).fill(1)) }, { dialect }), ['rois', 'labels']);
        leftNamingOneOf(badSel({ ...validInputs(), labels: T('float32', [5], [0, 0, 0, 0, 0]) }, { dialect }), ['rois', 'labels']);
      },
    ),
    fcParams(60),
  );
});

test('purity: selectHard never writes into its inputs, in every dialect', () => {
  const all: [Dialect, fc.Arbitrary<readonly [Attrs, SelectCase]>][] = [
    ['caffe-ohem', caffeCases],
    ['mmdet-ohem', caseWith('plus1', mmdetAttrsArb)],
    ['tf-hard-example-miner', caseWith('continuous', tfAttrsArb)],
    ['ssd-hard-negative', caseWith('plus1', ssdAttrsArb)],
  ];
  for (const [dialect, arb] of all)
    fc.assert(
      fc.property(arb, ([a, c]) => {
        const r = selectRequest(dialect, a, c, true);
        const t = tensorsOfReq(r);
        assertPure(Object.values(t), () => selectHard(t as never, r.attrs as never));
      }),
      fcParams(50),
    );
});
