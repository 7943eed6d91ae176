/**
 * `ohem-ref tour` — the main job until the training demo lands: SPEC.md's worked examples, each a
 * protocol request answered by the reference and (when python3 with numpy is here) by the
 * independent numpy oracle, checked against the value SPEC.md derives by hand. A table on stdout;
 * exit code 1 if anything disagrees.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { handleRequest } from '../protocol/server.js';
import { spawnPort, type PortClient } from '../protocol/client.js';
import { decodeTensor } from '../protocol/codec.js';
import * as E from 'fp-ts/lib/Either.js';

type Req = { op: string; attrs?: Record<string, unknown>; inputs: Record<string, unknown> };
type Outputs = Record<string, number[]>;

interface Example {
  readonly title: string;
  readonly spec: string;
  readonly expected: string;
  readonly request: Req;
  /** Reads the answer down to what the example is about, as text. */
  readonly show: (o: Outputs) => string;
}

const f32 = (shape: number[], data: number[]) => ({ dtype: 'float32', shape, data });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The 57-row RoI's backward with its last bin's max in the overshoot row 57, in either mode. */
const overshootBackward = (mode: 'caffe' | 'scatter'): Req => ({
  op: 'roi_pool_backward',
  attrs: { pooled_h: 7, pooled_w: 1, spatial_scale: 0.0625, features_shape: [1, 1, 64, 1], mode },
  inputs: {
    rois: f32([1, 5], [0, 0, 0, 0, 56 * 16]),
    argmax: { dtype: 'int32', shape: [1, 1, 7, 1], data: [8, 16, 24, 32, 40, 48, 57] },
    top_grad: f32([1, 1, 7, 1], [1, 1, 1, 1, 1, 1, 1]),
  },
});

const EXAMPLES: readonly Example[] = [
  {
    title: 'C round, half away from zero: x1 = −40 at scale 1/16 is −2.5 → −3 (Math.round: −2)',
    spec: '§5.1, pitfall 14',
    // Row of 8 cells valued 0..7; RoI x ∈ [−3, 3] after rounding, Wr = 7, bin_w = 1: the three
    // bins left of the map are empty (argmax −1), then cells 0, 1, 2, 3.
    expected: 'argmax [-1,-1,-1,0,1,2,3]',
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 1, pooled_w: 7, spatial_scale: 0.0625 },
      inputs: { features: f32([1, 1, 1, 8], range(8)), rois: f32([1, 5], [0, -40, 0, 40, 0]) },
    },
    show: (o) => `argmax [${o.argmax.join(',')}]`,
  },
  {
    title: 'float32 bin overshoot: a RoI 57 cells high at PH = 7 pools row 57 in its last bin',
    spec: '§5.1 quirk, pitfall 16',
    // Column of 64 cells valued by row; RoI rows 0..56 (Hr = 57): bin 6 spans rows 48..57.
    expected: 'last bin argmax 57',
    request: {
      op: 'roi_pool',
      attrs: { pooled_h: 7, pooled_w: 1, spatial_scale: 0.0625 },
      inputs: { features: f32([1, 1, 64, 1], range(64)), rois: f32([1, 5], [0, 0, 0, 0, 56 * 16]) },
    },
    show: (o) => `last bin argmax ${o.argmax[6]}`,
  },
  {
    title: 'caffe backward drops the overshoot row\'s gradient (the in-RoI test is inclusive of row 56 only)',
    spec: '§5.2, pitfall 18',
    expected: 'grad[row 57] = 0',
    request: overshootBackward('caffe'),
    show: (o) => `grad[row 57] = ${o.features_grad[57]}`,
  },
  {
    title: '… while torchvision\'s scatter backward keeps it',
    spec: '§5.3',
    expected: 'grad[row 57] = 1',
    request: overshootBackward('scatter'),
    show: (o) => `grad[row 57] = ${o.features_grad[57]}`,
  },
  {
    title: 'NMS test vector: IoU 81/119 = 0.6806723 survives 0.7, IoU 0.9 is suppressed',
    spec: '§4',
    expected: 'keep [0,1]',
    request: {
      op: 'nms',
      attrs: { threshold: 0.7 },
      inputs: { boxes: f32([3, 4], [0, 0, 9, 9, 1, 1, 10, 10, 0, 0, 9, 8]), scores: f32([3], [0.9, 0.8, 0.7]) },
    },
    show: (o) => `keep [${o.keep.join(',')}]`,
  },
  {
    title: 'IoU exactly 0.5 = fl32(0.5): GPU/NumPy NMS (IoU > t) keeps the box …',
    spec: '§4 boundary analysis, pitfall 7',
    expected: 'keep [0,1]',
    request: {
      op: 'nms',
      attrs: { threshold: 0.5, suppress: 'gt' },
      inputs: { boxes: f32([2, 4], [0, 0, 9, 9, 0, 0, 9, 4]), scores: f32([2], [0.9, 0.8]) },
    },
    show: (o) => `keep [${o.keep.join(',')}]`,
  },
  {
    title: '… the Cython CPU NMS (IoU ≥ t) suppresses it',
    spec: '§4 boundary analysis',
    expected: 'keep [0]',
    request: {
      op: 'nms',
      attrs: { threshold: 0.5, suppress: 'ge' },
      inputs: { boxes: f32([2, 4], [0, 0, 9, 9, 0, 0, 9, 4]), scores: f32([2], [0.9, 0.8]) },
    },
    show: (o) => `keep [${o.keep.join(',')}]`,
  },
  {
    title: 'Tie order, the reference rule index_desc: equal values by position descending',
    spec: '§2.2, pitfall 8',
    expected: 'indices [5,7,6,3,2,1,0,4]',
    request: { op: 'top_k', attrs: { k: 8 }, inputs: { values: { dtype: 'float64', shape: [8], data: [1, 1, 1, 1, 0, 2, 1, 1] } } },
    show: (o) => `indices [${o.indices.join(',')}]`,
  },
  {
    title: '… and the TF/JAX alternative index_asc',
    spec: '§2.2',
    expected: 'indices [5,0,1,2,3,6,7,4]',
    request: {
      op: 'top_k',
      attrs: { k: 8, ties: 'index_asc' },
      inputs: { values: { dtype: 'float64', shape: [8], data: [1, 1, 1, 1, 0, 2, 1, 1] } },
    },
    show: (o) => `indices [${o.indices.join(',')}]`,
  },
  {
    title: 'SoftmaxWithLoss clamps p at FLT_MIN: a probability that underflows costs 87.3365, not ∞',
    spec: '§7, pitfall 2',
    expected: 'loss 87.3365',
    request: { op: 'softmax_loss', inputs: { scores: f32([1, 2], [0, -200]), labels: f32([1], [1]) } },
    show: (o) => `loss ${o.loss[0].toFixed(4)}`,
  },
  {
    title: 'SmoothL1Loss divides by the number of RoIs: (0.125 + 2.5) / 2',
    spec: '§6, pitfall 19',
    expected: 'loss 1.3125',
    request: {
      op: 'smooth_l1_loss',
      inputs: {
        pred: f32([2, 4], [0.5, 0, 0, 0, 3, 0, 0, 0]),
        target: f32([2, 4], [0, 0, 0, 0, 0, 0, 0, 0]),
        inside_w: f32([2, 4], [1, 1, 1, 1, 1, 1, 1, 1]),
        outside_w: f32([2, 4], [1, 1, 1, 1, 1, 1, 1, 1]),
      },
    },
    show: (o) => `loss ${o.loss[0]}`,
  },
  {
    title: 'Caffe SGD puts lr inside the momentum buffer: θ=1, g=0.5, lr=0.1, wd=5e-4 → θ = 1 − 0.1·0.5005',
    spec: '§9, pitfall 22',
    expected: 'param 0.94995',
    request: {
      op: 'sgd_update',
      attrs: { lr: 0.1, momentum: 0.9, weight_decay: 0.0005 },
      inputs: { param: f32([1], [1]), grad: f32([1], [0.5]), history: f32([1], [0]) },
    },
    show: (o) => `param ${Number(o.param[0].toPrecision(6))}`,
  },
  {
    title: 'The mining loss clamps at ε = 2⁻⁵² (double epsilon): p = 0 costs −ln 2⁻⁵², not −ln FLT_MIN',
    spec: '§1.2, pitfall 2',
    expected: 'loss 36.04365338911715',
    request: { op: 'ohem_roi_loss', inputs: { cls_prob: f32([1, 2], [1, 0]), labels: f32([1], [1]) } },
    show: (o) => `loss ${o.loss[0]}`,
  },
  {
    title: '`loss += bbox_loss` is element-wise: R hardness values = cls + unnormalised smooth L1',
    spec: '§1.4, pitfall 1',
    // RoI 0 (bg): −fl32(ln 0.5) = 0.6931472 (its bbox slots are ignored); RoI 1 (class 1): + 0.5·0.5² + (2 − 0.5)
    expected: 'loss [0.693147182464600,2.318147182464600]',
    request: {
      op: 'ohem_roi_loss',
      inputs: {
        cls_prob: f32([2, 2], [0.5, 0.5, 0.5, 0.5]),
        labels: f32([2], [0, 1]),
        bbox_pred: f32([2, 8], [0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0.5, 2, 0, 0]),
        bbox_targets: f32([2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        bbox_inside_weights: f32([2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]),
        bbox_outside_weights: f32([2, 8], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]),
      },
    },
    show: (o) => `loss [${o.loss.map((v) => v.toFixed(15)).join(',')}]`,
  },
  {
    title: 'OHEM NMS runs per (image, label): bg RoI 2 (IoU 0.98 with bg RoI 0) is suppressed, fg RoI 1 on the same box is not',
    spec: '§2.2, pitfall 6',
    expected: 'hard_inds [1,0]',
    request: {
      op: 'ohem_select',
      inputs: {
        loss: { dtype: 'float64', shape: [3], data: [1, 2, 0.5] },
        rois: f32([3, 5], [0, 0, 0, 99, 99, 0, 0, 0, 99, 99, 0, 1, 1, 99, 99]),
        labels: f32([3], [0, 1, 0]),
      },
    },
    show: (o) => `hard_inds [${o.hard_inds.join(',')}]`,
  },
];

const ORACLE = fileURLToPath(new URL('../../properties/oracle/oracle.py', import.meta.url));

const decodeOutputs = (resp: Record<string, unknown>): Outputs | string => {
  if ('error' in resp) return `error: ${JSON.stringify(resp.error)}`;
  const out: Outputs = {};
  for (const [k, v] of Object.entries(resp.outputs as Record<string, unknown>)) {
    const t = decodeTensor(k, v);
    if (E.isLeft(t)) return `undecodable ${k}: ${t.left.message}`;
    out[k] = Array.from(t.right.data);
  }
  return out;
};

const startOracle = (): PortClient | string => {
  if (!existsSync(ORACLE)) return 'oracle not shipped with this copy';
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'python3 with numpy not found';
  return spawnPort(`python3 ${JSON.stringify(ORACLE)}`, { timeoutMs: 30_000 });
};

export const runTour = async (options: { oracle: boolean }): Promise<number> => {
  const oracle = options.oracle ? startOracle() : 'disabled (--no-oracle)';
  const rows: string[][] = [];
  let failures = 0;
  for (const [i, ex] of EXAMPLES.entries()) {
    const ours = decodeOutputs(handleRequest({ id: i, ...ex.request }) as Record<string, unknown>);
    const oursShown = typeof ours === 'string' ? ours : ex.show(ours);
    let theirsShown = '—';
    if (typeof oracle !== 'string') {
      const o = await oracle.request({ id: i, ...ex.request });
      theirsShown = o.kind === 'ok' ? ((r) => (typeof r === 'string' ? r : ex.show(r)))(decodeOutputs(o.response)) : `oracle ${o.kind}`;
    }
    const ok = oursShown === ex.expected && (typeof oracle === 'string' || theirsShown === ex.expected);
    if (!ok) failures++;
    rows.push([String(i + 1), ex.title, ex.spec, ex.expected, oursShown, theirsShown, ok ? 'agree' : 'DISAGREE']);
  }
  if (typeof oracle !== 'string') await oracle.close();
  const head = ['#', 'example', 'SPEC.md', 'SPEC says', 'ohem-ref', 'numpy oracle', ''];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((s, c) => s.padEnd(w[c])).join('  ');
  process.stdout.write(
    [
      'ohem-ref tour: the traps of porting OHEM, computed by the reference and checked',
      '',
      line(head),
      w.map((n) => '─'.repeat(n)).join('  '),
      ...rows.map(line),
      '',
      typeof oracle === 'string' ? `numpy oracle: ${oracle}` : 'numpy oracle: properties/oracle/oracle.py (written from SPEC.md, independently)',
      failures === 0 ? `all ${rows.length} examples agree with SPEC.md` : `${failures} of ${rows.length} examples DISAGREE`,
      '',
    ].join('\n'),
  );
  return failures === 0 ? 0 : 1;
};
