/**
 * What a golden case spells out about its op: the op's version, every attr with its default
 * (PROTOCOL.md's table, read from the reference's own DEFAULTS records so that the golden files
 * and the code cannot drift apart silently), the tie rule that decides its order, and which of its
 * outputs are additions to PROTOCOL.md that a port may leave out.
 */
import { ROI_POOL_DEFAULTS, ROI_POOL_BACKWARD_DEFAULTS } from '../ops/roiPool.js';
import { DROPOUT_DEFAULTS } from '../ops/activations.js';
import { SOFTMAX_CE_DEFAULTS, SMOOTH_L1_DEFAULTS } from '../ops/losses.js';
import { NMS_DEFAULTS } from '../ops/nms.js';
import { TOP_K_DEFAULTS } from '../ops/topK.js';
import { SGD_DEFAULTS } from '../ops/sgd.js';
import { ROI_LOSS_DEFAULTS } from '../mining/hardness.js';
import { SELECT_DEFAULTS, DIALECTS, type Dialect } from '../mining/select.js';

/**
 * The version of each op's semantics (like ONNX's `since_version`): bumped when the meaning of an
 * op changes, so that a golden case records which meaning its expected values are of.
 */
export const OP_VERSIONS: Readonly<Record<string, number>> = Object.freeze({
  roi_pool: 1,
  roi_pool_backward: 1,
  linear: 1,
  linear_backward: 1,
  relu: 1,
  relu_backward: 1,
  dropout: 1,
  dropout_backward: 1,
  softmax: 1,
  softmax_loss: 1,
  smooth_l1_loss: 1,
  nms: 1,
  top_k: 1,
  sgd_update: 1,
  ohem_roi_loss: 1,
  ohem_select: 1,
  ohem_step: 1,
});

export const DEFAULT_DIALECT: Dialect = 'caffe-ohem';

const isDialect = (d: unknown): d is Dialect => typeof d === 'string' && (DIALECTS as readonly string[]).includes(d);

/** The ohem_select attrs of a dialect, `dialect` first (caffe-ohem's include the nms attrs, its threshold named nms_threshold; ties is each dialect's own default). */
const selectDefaults = (d: Dialect): Record<string, unknown> => ({ dialect: d, ...SELECT_DEFAULTS[d] });

/**
 * Every optional attr of `op` with its default, in a fixed order; `null` where the default is
 * "absent" (softmax_loss's ignore_label, tf-hard-example-miner's max_negatives_per_positive: both
 * the reference and PROTOCOL.md read null as absent). Required attrs without a default
 * (roi_pool_backward's features_shape, top_k's k, sgd_update's lr) are not listed.
 */
export const attrDefaults = (op: string, dialect: Dialect = DEFAULT_DIALECT): Record<string, unknown> => {
  switch (op) {
    case 'roi_pool':
      return { ...ROI_POOL_DEFAULTS };
    case 'roi_pool_backward':
      return { ...ROI_POOL_BACKWARD_DEFAULTS };
    case 'dropout':
    case 'dropout_backward':
      return { ...DROPOUT_DEFAULTS };
    case 'softmax_loss':
      return { ...SOFTMAX_CE_DEFAULTS, ignore_label: null };
    case 'smooth_l1_loss':
      return { ...SMOOTH_L1_DEFAULTS };
    case 'nms':
      return { ...NMS_DEFAULTS };
    case 'top_k':
      return { ...TOP_K_DEFAULTS };
    case 'sgd_update':
      return { ...SGD_DEFAULTS };
    case 'ohem_roi_loss':
      return { ...ROI_LOSS_DEFAULTS };
    case 'ohem_select':
      return selectDefaults(dialect);
    case 'ohem_step':
      return {
        ...ROI_POOL_DEFAULTS,
        dropout_ratio: 0.5,
        ...selectDefaults(dialect),
        eps: ROI_LOSS_DEFAULTS.eps,
        sigma: SMOOTH_L1_DEFAULTS.sigma,
        normalization: SOFTMAX_CE_DEFAULTS.normalization,
      };
    default:
      return {};
  }
};

/** The dialect a request of ohem_select / ohem_step asks for (the default when it says none). */
export const dialectOf = (op: string, attrs: Readonly<Record<string, unknown>>): Dialect | null =>
  op === 'ohem_select' || op === 'ohem_step' ? (isDialect(attrs.dialect) ? attrs.dialect : DEFAULT_DIALECT) : null;

/**
 * The attrs of a request with every default spelled out: the defaults in their fixed order, each
 * replaced by the request's value where it gives one, then the request's other attrs (required
 * ones such as `k`, `lr`, `features_shape`) in the order it gives them.
 */
export const completeAttrs = (op: string, attrs: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const d = dialectOf(op, attrs);
  const defaults = attrDefaults(op, d ?? DEFAULT_DIALECT);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(defaults)) out[k] = attrs[k] === undefined ? v : attrs[k];
  for (const [k, v] of Object.entries(attrs)) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
};

export interface TiePolicy {
  /** `index_desc`, `index_asc`, or `none` for an op that orders nothing. */
  readonly rule: string;
  readonly note: string;
}

const ORDERING_OPS = new Set(['nms', 'top_k', 'ohem_select', 'ohem_step']);

/** The tie rule that decides a case's integer outputs (SPEC §2.2), from its complete attrs. */
export const tiePolicy = (op: string, attrs: Readonly<Record<string, unknown>>): TiePolicy => {
  if (!ORDERING_OPS.has(op)) return { rule: 'none', note: 'the op orders nothing' };
  const rule = String(attrs.ties);
  const how = rule === 'index_asc' ? 'ascending' : 'descending';
  return {
    rule,
    note: `equal values are ordered by position ${how} (SPEC §2.2; positions in the array being ordered); the expected indices follow this rule exactly`,
  };
};

/**
 * Outputs the reference returns beyond PROTOCOL.md's table (docs/mining.md: "additions"): a port
 * that leaves them out is not failing; one that returns them is held to them.
 */
export const OPTIONAL_OUTPUTS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  ohem_roi_loss: ['cls_loss', 'bbox_loss'],
  ohem_step: ['cls_loss', 'bbox_loss'],
});

export const optionalOutputs = (op: string): readonly string[] => OPTIONAL_OUTPUTS[op] ?? [];
