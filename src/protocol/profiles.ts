/**
 * Profiles: named sets of the reference's conventions (the `conventions` of the op defs,
 * docs/protocol.md "Conventions"), one per library whose choices differ from the original's.
 * `conform --profile torchvision` judges a port against the reference run under torchvision's
 * conventions instead of Caffe's; attribution then names what still differs. The default,
 * `caffe`, is the original: no convention changed.
 */
import { REGISTRY } from '../mining/registry.js';
import { checkAttr } from '../ops/index.js';
import * as E from 'fp-ts/lib/Either.js';

export interface Profile {
  readonly name: string;
  readonly doc: string;
  /** op → convention attr → value. */
  readonly conventions: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The dropout scale of torch and TF: 1/(1 − ratio) of the ratio as a double. */
const TORCH_DROPOUT = { ratio_precision: 'float64' } as const;
const TORCH_NMS = { threshold_cast: 'double' } as const;
const TORCH_SELECT = { ...TORCH_NMS, negatives: 'rank' } as const;

export const PROFILES: readonly Profile[] = [
  { name: 'caffe', doc: 'the original: Caffe, py-faster-rcnn and OHEM (the default; every convention at its default)', conventions: {} },
  {
    name: 'torchvision',
    doc: 'PyTorch and torchvision: F.cross_entropy (log-softmax, no clamp, mean over valid rows), torch.optim.SGD (lr outside the momentum buffer), F.dropout (the ratio as a double), torchvision.ops.nms (the float IoU against the threshold as a double), torchvision\'s SSD loss (⌈ratio·#pos⌉ negatives)',
    conventions: {
      nms: TORCH_NMS,
      ohem_select: TORCH_SELECT,
      ohem_step: TORCH_SELECT,
      softmax_loss: { clamp: 'log_softmax', empty_normalizer: 'nan' },
      sgd_update: { momentum_rule: 'torch' },
      dropout: TORCH_DROPOUT,
      dropout_backward: TORCH_DROPOUT,
    },
  },
  {
    name: 'onnxruntime',
    doc: 'ONNX Runtime: NonMaxSuppression (corners sorted per axis), SoftmaxCrossEntropyLoss (log-softmax, no clamp, mean over valid rows)',
    conventions: {
      nms: { corners: 'sorted' },
      softmax_loss: { clamp: 'log_softmax', empty_normalizer: 'nan' },
    },
  },
  {
    name: 'tfjs',
    doc: 'TensorFlow.js: tf.image.nonMaxSuppression (corners sorted, IoU ≥ threshold in double), tf.losses.softmaxCrossEntropy (log-softmax, no clamp), the dropout scale of the ratio as a double and its tf.grad (dy·scale first), tf.train.momentum (lr outside the accumulator)',
    conventions: {
      nms: { corners: 'sorted' },
      ohem_select: { corners: 'sorted', miner_nms: 'tfjs' },
      ohem_step: { corners: 'sorted', miner_nms: 'tfjs' },
      softmax_loss: { clamp: 'log_softmax', empty_normalizer: 'nan_grad' },
      dropout: TORCH_DROPOUT,
      dropout_backward: { ...TORCH_DROPOUT, grad_order: 'scale_first' },
      sgd_update: { momentum_rule: 'tf' },
    },
  },
];

export const profileNames = (): string[] => PROFILES.map((p) => p.name);

export const findProfile = (name: string): Profile | undefined => PROFILES.find((p) => p.name === name);

/** The conventions a profile sets for one op (none for an op it does not name). */
export const conventionsOf = (p: Profile, op: string): Readonly<Record<string, unknown>> => p.conventions[op] ?? {};

/** Problems of the declared profiles: an op or convention the registry lacks, a value outside its domain (a test requires none). */
export const profileProblems = (): string[] => {
  const out: string[] = [];
  for (const p of PROFILES)
    for (const [op, conv] of Object.entries(p.conventions)) {
      const def = REGISTRY.get(op);
      if (!def) {
        out.push(`${p.name}: no op ${op}`);
        continue;
      }
      for (const [name, value] of Object.entries(conv)) {
        const a = (def.conventions ?? []).find((c) => c.name === name);
        if (!a) out.push(`${p.name}: ${op} has no convention ${name}`);
        else if (E.isLeft(checkAttr(a, value))) out.push(`${p.name}: ${op}.${name} = ${JSON.stringify(value)} is outside its domain`);
      }
    }
  return out;
};
