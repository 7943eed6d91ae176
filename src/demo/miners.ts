/**
 * The six samplers the demo compares, and the attrs each mining dialect runs with here.
 *
 *   standard                Fast R-CNN's `_sample_rois` (sampler.ts): 64 RoIs per image, a quarter
 *                           foreground, background from IoU [0.1, 0.5); trained with `fastRcnnStep`;
 *   standard_bg0            the same with BG_THRESH_LO 0 (background from every RoI below 0.5);
 *   caffe-ohem … ssd-…      every RoI of the image goes to `ohemStep({ dialect, ...attrs })`: a
 *                           read-only pass scores every RoI, the dialect picks the RoIs to train on.
 *
 * The dialects' defaults are sized for other models (mmdet's `num` 512 for FPN heads, TF's
 * Faster R-CNN weights); `MINER_ATTRS` fits each to this world's 64-RoI-per-image batches and says
 * why. The reasons are printed in the report beside the attrs.
 */
import type { Dialect } from '../mining/select.js';

export type StandardName = 'standard' | 'standard_bg0';
export type MinerName = Dialect;
export type SamplerName = StandardName | MinerName;

/** Every sampler, in the order of the table and the plots. */
export const SAMPLERS: readonly SamplerName[] = ['standard', 'standard_bg0', 'caffe-ohem', 'mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative'];

export const isMiner = (s: SamplerName): s is MinerName => s !== 'standard' && s !== 'standard_bg0';

/** Display names. */
export const NAMES: Readonly<Record<SamplerName, string>> = {
  standard: 'standard (FRCN)',
  standard_bg0: 'standard, BG_LO 0',
  'caffe-ohem': 'caffe-ohem',
  'mmdet-ohem': 'mmdet-ohem',
  'tf-hard-example-miner': 'tf-hard-example-miner',
  'ssd-hard-negative': 'ssd-hard-negative',
};

/** Plot colours (the tab10 palette; OHEM's original in red, as before). */
export const COLORS: Readonly<Record<SamplerName, string>> = {
  standard: '#1f77b4',
  standard_bg0: '#9467bd',
  'caffe-ohem': '#d62728',
  'mmdet-ohem': '#ff7f0e',
  'tf-hard-example-miner': '#2ca02c',
  'ssd-hard-negative': '#8c564b',
};

/** Brighter colours for boxes drawn over the gray scenes. */
export const BOX_COLORS: Readonly<Record<SamplerName, string>> = {
  standard: '#39a0ff',
  standard_bg0: '#c08cff',
  'caffe-ohem': '#ff4d4d',
  'mmdet-ohem': '#ffa64d',
  'tf-hard-example-miner': '#5ee05e',
  'ssd-hard-negative': '#e0a070',
};

export interface MinerSetting {
  /** The `ohem_select` attrs given to `ohemStep` (the dialect's other attrs keep their defaults). */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Why these values, for the report. */
  readonly reason: string;
}

/** The attrs each dialect runs with in this world, with the reasons (docs/mining.md §2 for the rules). */
export const MINER_ATTRS: Readonly<Record<MinerName, MinerSetting>> = {
  'caffe-ohem': {
    attrs: { dialect: 'caffe-ohem', batch_size: 64, use_nms: true, nms_threshold: 0.7 },
    reason:
      'OHEM’s own configuration (fast_rcnn_ohem.yml): BATCH_SIZE 64 per image with IMS_PER_BATCH 1 and iter_size 2, OHEM_NMS_THRESH 0.7 per (image, label); hardness = cls + bbox loss',
  },
  'mmdet-ohem': {
    attrs: { dialect: 'mmdet-ohem', num: 64, pos_fraction: 0.25, neg_pos_ub: -1 },
    reason:
      'mmdetection’s rcnn OHEMSampler with num scaled from 512 (its FPN heads) to this world’s 64 RoIs per image; pos_fraction 0.25 and neg_pos_ub −1 are its config’s values. It ranks by the classification loss only, within the positive and the negative pool',
  },
  'tf-hard-example-miner': {
    attrs: {
      dialect: 'tf-hard-example-miner',
      loss_type: 'both',
      cls_loss_weight: 1,
      loc_loss_weight: 1,
      num_hard_examples: 64,
      iou_threshold: 0.7,
      max_negatives_per_positive: 3,
      min_negatives_per_image: 3,
    },
    reason:
      'num_hard_examples 64 (the batch) after class-agnostic NMS at 0.7 (its default, the same threshold as caffe-ohem); the TF OD API builds the miner with the model’s loss weights, here 1 and 1 (loss_cls + loss_bbox); max_negatives_per_positive 3 is the 1:3 of FG_FRACTION 0.25; min_negatives_per_image 3 (its SSD configs’ value) so that an image whose hardest RoIs hold no positive still trains on something',
  },
  'ssd-hard-negative': {
    attrs: { dialect: 'ssd-hard-negative', neg_pos_ratio: 3 },
    reason:
      'SSD’s 3:1, which is also the 1:3 of FG_FRACTION 0.25. SSD keeps every positive and has no batch cap, so its batch is 4 × the image’s foreground RoIs: larger than 64 on most images of this world (the RoIs column shows it)',
  },
};

/** Parses `--samplers a,b,…` (or `all`): a list of known names, no duplicates, in the given order; or the bad name. */
export const parseSamplers = (spec: string): { ok: SamplerName[] } | { bad: string } => {
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) return { bad: spec };
  if (parts.length === 1 && parts[0] === 'all') return { ok: [...SAMPLERS] };
  const out: SamplerName[] = [];
  for (const p of parts) {
    if (!(SAMPLERS as readonly string[]).includes(p) || out.includes(p as SamplerName)) return { bad: p };
    out.push(p as SamplerName);
  }
  return { ok: out };
};
