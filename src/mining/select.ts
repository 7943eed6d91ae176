/**
 * Selection of the hard RoIs (SPEC §2, docs/mining.md §2): the original OHEM rule (`caffe-ohem`)
 * and three other implementations' rules as named dialects (DIALECTS.md), all built from the same
 * pure pieces — `greedyNms` and `orderDescending` — so they differ only where the originals do.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type Result,
  type Tensor,
  adoptTensor,
  checkEnum,
  checkFinite,
  checkInt,
  checkNumber,
  checkTensor,
  checkIntegerValues,
  checkNoNaN,
  rangeError,
  valueError,
} from '../core/index.js';
import { greedyNms, BOX_CONVENTIONS, SUPPRESS_RULES, NMS_PRECISIONS, type NmsAttrs } from '../ops/nms.js';
import { orderDescending, TIE_RULES, type TieRule } from '../ops/topK.js';

export const DIALECTS = ['caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'] as const;
export type Dialect = (typeof DIALECTS)[number];

export interface CaffeOhemAttrs {
  readonly batch_size: number;
  readonly use_nms: boolean;
  readonly nms_threshold: number;
  readonly box_convention: NmsAttrs['box_convention'];
  readonly suppress: NmsAttrs['suppress'];
  readonly ties: TieRule;
  readonly precision: NmsAttrs['precision'];
}
export interface MmdetOhemAttrs {
  readonly num: number;
  readonly pos_fraction: number;
  readonly neg_pos_ub: number;
  readonly ties: TieRule;
}
export interface TfMinerAttrs {
  readonly loss_type: 'both' | 'cls' | 'loc';
  readonly cls_loss_weight: number;
  readonly loc_loss_weight: number;
  readonly num_hard_examples: number;
  readonly iou_threshold: number;
  readonly max_negatives_per_positive: number | null;
  readonly min_negatives_per_image: number;
  readonly ties: TieRule;
}
export interface SsdAttrs {
  readonly neg_pos_ratio: number;
  readonly ties: TieRule;
}

/** The defaults of every dialect, as docs/mining.md §2 lists them. */
export const SELECT_DEFAULTS = Object.freeze({
  'caffe-ohem': Object.freeze<CaffeOhemAttrs>({
    batch_size: 128,
    use_nms: true,
    nms_threshold: 0.7,
    box_convention: 'plus1',
    suppress: 'gt',
    ties: 'index_desc',
    precision: 'float32',
  }),
  'mmdet-ohem': Object.freeze<MmdetOhemAttrs>({ num: 512, pos_fraction: 0.25, neg_pos_ub: -1, ties: 'index_desc' }),
  'tf-hard-example-miner': Object.freeze<TfMinerAttrs>({
    loss_type: 'both',
    cls_loss_weight: 0.05,
    loc_loss_weight: 0.06,
    num_hard_examples: 64,
    iou_threshold: 0.7,
    max_negatives_per_positive: null,
    min_negatives_per_image: 0,
    ties: 'index_asc',
  }),
  'ssd-hard-negative': Object.freeze<SsdAttrs>({ neg_pos_ratio: 3, ties: 'index_desc' }),
});

export type SelectAttrs = { readonly dialect?: Dialect } & Partial<CaffeOhemAttrs & MmdetOhemAttrs & TfMinerAttrs & SsdAttrs>;

export interface SelectInputs {
  readonly loss?: Tensor;
  readonly rois: Tensor;
  readonly labels: Tensor;
  readonly cls_loss?: Tensor;
  readonly bbox_loss?: Tensor;
}

/** Validated, plain-array view of the selection's inputs. */
export interface SelectData {
  readonly R: number;
  readonly loss: ArrayLike<number> | null;
  readonly rois: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
  readonly cls: ArrayLike<number> | null;
  readonly bbox: ArrayLike<number> | null;
}

const F = ['float32', 'float64'] as const;

// ------------------------------------------------------------------------------------ helpers

/** RoI indices grouped by image (trunc of the batch column), images ascending, indices ascending. */
const byImage = (rois: ArrayLike<number>, R: number): number[][] => {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < R; i++) {
    const g = Math.trunc(rois[i * 5]);
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(i);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((g) => groups.get(g)!);
};

const gather = (values: ArrayLike<number>, idx: ArrayLike<number>): Float64Array => Float64Array.from(idx as ArrayLike<number>, (i) => values[i]);

/** The first `k` of `idx` ordered by `values[idx]` descending under the tie rule (positions in idx). */
const topOf = (idx: readonly number[], values: ArrayLike<number>, k: number, ties: TieRule): number[] => {
  const order = orderDescending(gather(values, idx), ties);
  return Array.from(order.subarray(0, Math.min(k, idx.length)), (p) => idx[p]);
};

const boxesOf = (rois: ArrayLike<number>, idx: readonly number[]): Float64Array => {
  const b = new Float64Array(idx.length * 4);
  idx.forEach((i, p) => {
    for (let c = 0; c < 4; c++) b[p * 4 + c] = rois[i * 5 + 1 + c];
  });
  return b;
};

// ----------------------------------------------------------------------------------- dialects

/** SPEC §2.1: NMS per (image id, label) over float32-rounded losses, then top-B of the float64 losses. */
export const selectCaffeOhem = (d: SelectData, a: CaffeOhemAttrs): Int32Array => {
  const loss = d.loss!;
  let keep: number[];
  if (a.use_nms) {
    // Image ids are the float32 values of column 0 and labels the float32 label values, each
    // sorted ascending and compared by value (SPEC §2.1: `sorted unique` of the float arrays).
    const imgIds = [...new Set(Array.from({ length: d.R }, (_, i) => d.rois[i * 5]))].sort((x, y) => x - y);
    const labelSet = [...new Set(Array.from(d.labels))].sort((x, y) => x - y);
    const nmsAttrs: NmsAttrs = {
      threshold: a.nms_threshold,
      box_convention: a.box_convention,
      suppress: a.suppress,
      ties: a.ties,
      precision: a.precision,
    };
    keep = [];
    for (const g of imgIds)
      for (const c of labelSet) {
        const S: number[] = [];
        for (let i = 0; i < d.R; i++) if (d.labels[i] === c && d.rois[i * 5] === g) S.push(i);
        if (S.length === 0) continue;
        // The NMS scores are the float32-rounded losses whatever the precision of the IoU
        // arithmetic: the original hands NMS a float32 matrix (SPEC §2.1, pitfall 5).
        const k = greedyNms(boxesOf(d.rois, S), Float32Array.from(gather(loss, S)), nmsAttrs);
        for (const p of k) keep.push(S[p]);
      }
  } else keep = Array.from({ length: d.R }, (_, i) => i);
  // Final ranking on the float64 losses; ties by position in the keep list (SPEC §2.2).
  return Int32Array.from(topOf(keep, loss, a.batch_size, a.ties));
};

/** mmdetection OHEMSampler: cls loss only, positive and negative pools with quotas, ascending output. */
export const selectMmdet = (d: SelectData, a: MmdetOhemAttrs): Int32Array => {
  const cls = d.cls!;
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < d.R; i++) (d.labels[i] > 0 ? pos : neg).push(i);
  const expectedPos = Math.floor(a.num * a.pos_fraction);
  const takePos = pos.length <= expectedPos ? pos : topOf(pos, cls, expectedPos, a.ties);
  let expectedNeg = a.num - takePos.length;
  if (a.neg_pos_ub >= 0) expectedNeg = Math.min(expectedNeg, Math.floor(a.neg_pos_ub * Math.max(1, takePos.length)));
  const takeNeg = neg.length <= expectedNeg ? neg : topOf(neg, cls, expectedNeg, a.ties);
  const asc = (xs: number[]) => [...xs].sort((x, y) => x - y);
  return Int32Array.from([...asc(takePos), ...asc(takeNeg)]);
};

/** TF Object Detection API HardExampleMiner: class-agnostic NMS per image, optional neg:pos ratio. */
export const selectTfMiner = (d: SelectData, a: TfMinerAttrs): Int32Array => {
  const out: number[] = [];
  for (const img of byImage(d.rois, d.R)) {
    const losses = Float64Array.from(img, (i) =>
      a.loss_type === 'cls' ? d.cls![i] : a.loss_type === 'loc' ? d.bbox![i] : d.cls![i] * a.cls_loss_weight + d.bbox![i] * a.loc_loss_weight,
    );
    const k = greedyNms(boxesOf(d.rois, img), losses, {
      threshold: a.iou_threshold,
      box_convention: 'continuous',
      suppress: 'gt',
      ties: a.ties,
      precision: 'float32',
    });
    // TF's NMS stops at max_output_size: the greedy keep list's prefix is exactly that.
    const n = a.num_hard_examples === 0 ? k.length : Math.min(a.num_hard_examples, k.length);
    let selected = Array.from(k.subarray(0, n), (p) => img[p]);
    if (a.max_negatives_per_positive !== null) {
      const P = selected.filter((i) => d.labels[i] > 0).length;
      const maxNeg = Math.max(a.min_negatives_per_image, Math.floor(a.max_negatives_per_positive * P));
      let negSeen = 0;
      selected = selected.filter((i) => {
        if (d.labels[i] > 0) return true;
        negSeen++;
        return negSeen <= maxNeg;
      });
    }
    out.push(...selected);
  }
  return Int32Array.from(out);
};

/** SSD hard negative mining: every positive, plus the top ⌊ratio·P⌋ negatives by cls loss, per image. */
export const selectSsd = (d: SelectData, a: SsdAttrs): Int32Array => {
  const out: number[] = [];
  for (const img of byImage(d.rois, d.R)) {
    const pos = img.filter((i) => d.labels[i] > 0);
    const neg = img.filter((i) => d.labels[i] === 0);
    const nNeg = Math.min(Math.floor(a.neg_pos_ratio * pos.length), neg.length);
    const chosen = [...pos, ...topOf(neg, d.cls!, nNeg, a.ties)].sort((x, y) => x - y);
    out.push(...chosen);
  }
  return Int32Array.from(out);
};

// --------------------------------------------------------------------------------- validation

const tie = (v: unknown, def: TieRule) => checkEnum('attrs.ties', v ?? def, TIE_RULES);

/** Validates the dialect's attrs, filling defaults. */
export const dialectAttrs = (
  attrs: SelectAttrs,
): Result<
  | { dialect: 'caffe-ohem'; a: CaffeOhemAttrs }
  | { dialect: 'mmdet-ohem'; a: MmdetOhemAttrs }
  | { dialect: 'tf-hard-example-miner'; a: TfMinerAttrs }
  | { dialect: 'ssd-hard-negative'; a: SsdAttrs }
> => {
  const dl = checkEnum('attrs.dialect', attrs.dialect ?? 'caffe-ohem', DIALECTS);
  if (E.isLeft(dl)) return dl;
  const v = <T>(name: keyof typeof attrs, def: T): unknown => (attrs[name] === undefined ? def : attrs[name]);
  const all = <T extends Record<string, Result<unknown>>>(r: T): Result<{ [K in keyof T]: T[K] extends Result<infer A> ? A : never }> => {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(r)) {
      if (E.isLeft(x)) return x;
      out[k] = x.right;
    }
    return E.right(out as never);
  };
  switch (dl.right) {
    case 'caffe-ohem': {
      const D = SELECT_DEFAULTS['caffe-ohem'];
      const useNms = v('use_nms', D.use_nms);
      return E.map((a: CaffeOhemAttrs) => ({ dialect: 'caffe-ohem' as const, a }))(
        all({
          batch_size: checkInt('attrs.batch_size', v('batch_size', D.batch_size), 1),
          use_nms: typeof useNms === 'boolean' ? E.right(useNms) : E.left(valueError('attrs.use_nms', `must be true or false, got ${JSON.stringify(useNms)}`)),
          nms_threshold: checkNumber('attrs.nms_threshold', v('nms_threshold', D.nms_threshold), 0, 1),
          box_convention: checkEnum('attrs.box_convention', v('box_convention', D.box_convention), BOX_CONVENTIONS),
          suppress: checkEnum('attrs.suppress', v('suppress', D.suppress), SUPPRESS_RULES),
          ties: tie(attrs.ties, D.ties),
          precision: checkEnum('attrs.precision', v('precision', D.precision), NMS_PRECISIONS),
        }) as Result<CaffeOhemAttrs>,
      );
    }
    case 'mmdet-ohem': {
      const D = SELECT_DEFAULTS['mmdet-ohem'];
      const ub = v('neg_pos_ub', D.neg_pos_ub);
      return E.map((a: MmdetOhemAttrs) => ({ dialect: 'mmdet-ohem' as const, a }))(
        all({
          num: checkInt('attrs.num', v('num', D.num), 1),
          pos_fraction: checkNumber('attrs.pos_fraction', v('pos_fraction', D.pos_fraction), 0, 1),
          neg_pos_ub: ub === -1 ? E.right(-1) : checkNumber('attrs.neg_pos_ub', ub, 0),
          ties: tie(attrs.ties, D.ties),
        }) as Result<MmdetOhemAttrs>,
      );
    }
    case 'tf-hard-example-miner': {
      const D = SELECT_DEFAULTS['tf-hard-example-miner'];
      const ratio = attrs.max_negatives_per_positive;
      return E.map((a: TfMinerAttrs) => ({ dialect: 'tf-hard-example-miner' as const, a }))(
        all({
          loss_type: checkEnum('attrs.loss_type', v('loss_type', D.loss_type), ['both', 'cls', 'loc'] as const),
          cls_loss_weight: checkNumber('attrs.cls_loss_weight', v('cls_loss_weight', D.cls_loss_weight)),
          loc_loss_weight: checkNumber('attrs.loc_loss_weight', v('loc_loss_weight', D.loc_loss_weight)),
          num_hard_examples: checkInt('attrs.num_hard_examples', v('num_hard_examples', D.num_hard_examples), 0),
          iou_threshold: checkNumber('attrs.iou_threshold', v('iou_threshold', D.iou_threshold), 0, 1),
          max_negatives_per_positive: ratio === undefined || ratio === null ? E.right(null) : checkNumber('attrs.max_negatives_per_positive', ratio, 0),
          min_negatives_per_image: checkInt('attrs.min_negatives_per_image', v('min_negatives_per_image', D.min_negatives_per_image), 0),
          ties: tie(attrs.ties, D.ties),
        }) as Result<TfMinerAttrs>,
      );
    }
    case 'ssd-hard-negative': {
      const D = SELECT_DEFAULTS['ssd-hard-negative'];
      return E.map((a: SsdAttrs) => ({ dialect: 'ssd-hard-negative' as const, a }))(
        all({
          neg_pos_ratio: checkNumber('attrs.neg_pos_ratio', v('neg_pos_ratio', D.neg_pos_ratio), 0),
          ties: tie(attrs.ties, D.ties),
        }) as Result<SsdAttrs>,
      );
    }
  }
};

/** Which loss inputs a dialect reads. */
const needs = (d: ReturnType<typeof dialectAttrs> extends Result<infer A> ? A : never): ('loss' | 'cls_loss' | 'bbox_loss')[] => {
  switch (d.dialect) {
    case 'caffe-ohem':
      return ['loss'];
    // `loss` is PROTOCOL.md's input of ohem_select, so every dialect requires it, even those that rank by its parts.
    case 'mmdet-ohem':
    case 'ssd-hard-negative':
      return ['loss', 'cls_loss'];
    case 'tf-hard-example-miner':
      return d.a.loss_type === 'cls' ? ['loss', 'cls_loss'] : d.a.loss_type === 'loc' ? ['loss', 'bbox_loss'] : ['loss', 'cls_loss', 'bbox_loss'];
  }
};

/** Runs a validated dialect on validated data. */
export const runDialect = (d: ReturnType<typeof dialectAttrs> extends Result<infer A> ? A : never, data: SelectData): Int32Array => {
  switch (d.dialect) {
    case 'caffe-ohem':
      return selectCaffeOhem(data, d.a);
    case 'mmdet-ohem':
      return selectMmdet(data, d.a);
    case 'tf-hard-example-miner':
      return selectTfMiner(data, d.a);
    case 'ssd-hard-negative':
      return selectSsd(data, d.a);
  }
};

/** `ohem_select`: the hard RoIs' indices under the chosen dialect (docs/mining.md §2). */
export const selectHard = (inputs: SelectInputs, attrs: SelectAttrs = {}): Result<{ readonly hard_inds: Tensor<'int32'> }> => {
  const ins = (inputs ?? {}) as Partial<SelectInputs>;
  const env = new Map<string, number>();
  const rois = checkTensor('rois', ins.rois, ['R', 5], F, env);
  if (E.isLeft(rois)) return rois;
  const roisFin = checkFinite('rois', rois.right);
  if (E.isLeft(roisFin)) return roisFin;
  const R = env.get('R')!;
  for (let i = 0; i < R; i++)
    if (Math.trunc(rois.right.data[i * 5]) < 0) return E.left(rangeError('rois', `row ${i} has batch index ${rois.right.data[i * 5]} < 0`));
  const labels = checkTensor('labels', ins.labels, ['R'], [...F, 'int32'], env);
  if (E.isLeft(labels)) return labels;
  const labOk = checkIntegerValues('labels', labels.right, 0, Infinity, 'class id');
  if (E.isLeft(labOk)) return labOk;
  const d = dialectAttrs(attrs ?? {});
  if (E.isLeft(d)) return d;
  const loss: Record<string, ArrayLike<number> | null> = { loss: null, cls_loss: null, bbox_loss: null };
  for (const name of needs(d.right)) {
    const t = checkTensor(name, ins[name], ['R'], F, env);
    if (E.isLeft(t)) return t;
    const ok = checkNoNaN(name, t.right);
    if (E.isLeft(ok)) return ok;
    loss[name] = t.right.data;
  }
  // Boxes and labels as the float32 blobs the original holds.
  const f32 = (t: Tensor) => (t.dtype === 'float32' ? t.data : Float32Array.from(t.data));
  const data: SelectData = {
    R,
    loss: loss.loss,
    rois: f32(rois.right),
    labels: f32(labels.right),
    cls: loss.cls_loss,
    bbox: loss.bbox_loss,
  };
  const hard = runDialect(d.right, data);
  return E.right({ hard_inds: adoptTensor('int32', [hard.length], hard) });
};
