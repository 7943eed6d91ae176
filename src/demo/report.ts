/**
 * The demo's report: the figures (SVG), report/index.html (the figures inline, the table, the
 * written reading, the settings), report/results.json (every number plotted, the per-seed runs),
 * and the table for the terminal. Text builders are pure; `writeReport` is the one function that
 * writes.
 *
 * Conventions: a curve or bar is the mean over the seeds with an error bar of ± one standard
 * deviation over the seeds (and the seeds as small dots where there is room); a paired difference
 * against the standard sampler is drawn and printed with its 95 % t-interval over the same seeds.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Result, valueError } from '../core/index.js';
import { BOX_COLORS, COLORS, isMiner, NAMES, type SamplerName } from './miners.js';
import { digestOf, pairOf, resultsJson, type DemoResults, type Digest, type SamplerSummary } from './results.js';
import { sign, type Brief, type Spread } from './stats.js';
import {
  barPanel,
  type DrawnBox,
  esc,
  intervalPanel,
  legendRow,
  linePanel,
  SCENE_TOP,
  scenePanel,
  stackPanel,
  svgDocument,
  type Series,
} from './svg.js';
import { SMOOTH, type SamplerRun } from './task.js';
import { CLASSES } from './world.js';

export { NAMES, COLORS } from './miners.js';

/** Moving average over the last `w` values (fewer at the start). */
export const movingAverage = (v: readonly number[], w: number): number[] => {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    if (i >= w) s -= v[i - w];
    out.push(s / Math.min(i + 1, w));
  }
  return out;
};

const samplersOf = (res: DemoResults): readonly SamplerName[] => res.settings.samplers;
const sum = (res: DemoResults, s: SamplerName): SamplerSummary => res.summary[s]!;
const ds = (d: Digest, s: SamplerName) => d.summary[s]!;
const seedsOf = (d: Digest) => `${d.settings.seeds.length} seed${d.settings.seeds.length > 1 ? 's' : ''}`;
const errOf = (sp: Spread): [number, number] => (Number.isFinite(sp.sd) ? [sp.mean - sp.sd, sp.mean + sp.sd] : [NaN, NaN]);
/** Pixel offsets that keep the error bars of k series at one x apart. */
const offsets = (k: number, gap = 5) => Array.from({ length: k }, (_, i) => (i - (k - 1) / 2) * gap);
const seedsText = (res: DemoResults) => `${res.settings.seeds.length} seed${res.settings.seeds.length > 1 ? 's' : ''}`;

// ------------------------------------------------------------------------------------ figures

/** Mean over the seeds of a per-iteration curve (the binned values), smoothed over about SMOOTH iterations. */
const meanCurve = (res: DemoResults, s: SamplerName, f: (r: SamplerRun) => readonly number[]) => {
  const runs = res.runs[s]!;
  const c0 = runs[0].curve;
  const values = c0.iter.map((_, i) => runs.reduce((a, r) => a + f(r)[i], 0) / runs.length);
  const sm = movingAverage(values, Math.max(1, Math.round(SMOOTH / c0.bin)));
  return c0.iter.map((it, i) => [it, sm[i]] as const);
};

export const mapFigure = (res: DemoResults): string => {
  const ss = samplersOf(res);
  const dx = offsets(ss.length);
  const series: Series[] = ss.map((s, i) => {
    const ev = sum(res, s).evals;
    return { name: NAMES[s], color: COLORS[s], markers: true, width: 2, dx: dx[i], points: ev.iter.map((it, k) => [it, ev.mAP[k].mean] as const), err: ev.mAP.map(errOf) };
  });
  const w = 1100, h = 360;
  const groups = ['mAP', ...CLASSES.slice(1).map((c) => `AP ${c}`)];
  const bars = barPanel(
    {
      title: `After ${res.settings.iters} iterations (mean ± sd; dots: the seeds)`,
      yLabel: 'AP',
      groups,
      digits: -1,
      series: ss.map((s) => {
        const m = sum(res, s);
        const all = [m.mAP, ...m.ap];
        return { name: NAMES[s], color: COLORS[s], values: all.map((x) => x.mean), err: all.map(errOf), dots: all.map((x) => x.values) };
      }),
    },
    w / 2,
    0,
    w / 2,
    h,
  );
  const body =
    linePanel(
      { title: `mAP on the held-out scenes (mean ± sd over ${seedsText(res)})`, xLabel: 'iteration', yLabel: 'mAP (VOC07 11-point, IoU 0.5)', series, xRange: [0, res.settings.iters], yRange: [0, 1], legend: 'bottom-right' },
      0,
      0,
      w / 2,
      h,
    ) + bars;
  return svgDocument(w, h, body, 'mAP over iterations and after training, per sampler, with the spread over the seeds');
};

export const pairedFigure = (res: DemoResults): string => {
  const ref = res.settings.reference;
  const w = 1100;
  if (!ref) return svgDocument(w, 60, `<text x="20" y="30">No paired comparison: the standard sampler did not run.</text>\n`, 'Paired differences against the standard sampler');
  const others = samplersOf(res).filter((s) => s !== ref);
  const ph = 76 + 30 * others.length;
  // `better`: the sign of a difference that favours the sampler (mAP up, loss down).
  const rows = (f: (m: SamplerSummary) => Spread | null, digits: number, better: 1 | -1) =>
    others.map((s) => {
      const d = f(sum(res, s))!;
      const ci = Number.isFinite(d.lo) ? ` [${fmtSigned(d.lo, digits)}, ${fmtSigned(d.hi, digits)}]` : '';
      const wins = d.values.filter((v) => v * better > 0).length;
      return { name: NAMES[s], color: COLORS[s], mean: d.mean, lo: d.lo, hi: d.hi, dots: d.values, note: `${fmtSigned(d.mean, digits)}${ci}; ${better > 0 ? '>' : '<'} 0 on ${wins} of ${d.values.length}` };
    });
  const body =
    intervalPanel({ title: `mAP − the standard sampler’s mAP on the same seed: mean (large dot), 95 % t-interval (bar), each seed (small dots)`, xLabel: 'Δ mAP (right of 0: better than standard)', rows: rows((m) => m.dMAP, 3, 1), ref: 0, refLabel: 'standard' }, 0, 0, w, ph) +
    intervalPanel({ title: `all-RoI loss − the standard sampler’s, on the same seed`, xLabel: 'Δ all-RoI loss (left of 0: lower loss than standard)', rows: rows((m) => m.dAllRoiLoss, 3, -1), ref: 0, refLabel: 'standard' }, 0, ph, w, ph);
  return svgDocument(w, 2 * ph, body, 'Paired differences against the standard sampler over the same seeds');
};

export const lossFigure = (res: DemoResults): string => {
  const ss = samplersOf(res);
  const dx = offsets(ss.length);
  const batch: Series[] = ss.map((s) => ({ name: NAMES[s], color: COLORS[s], points: meanCurve(res, s, (r) => r.curve.batchLoss) }));
  const all: Series[] = ss.map((s, i) => {
    const ev = sum(res, s).evals;
    return { name: NAMES[s], color: COLORS[s], markers: true, dx: dx[i], points: ev.iter.map((it, k) => [it, ev.loss[k].mean] as const), err: ev.loss.map(errOf) };
  });
  const ys = [...batch.flatMap((s) => s.points.map((p) => p[1])), ...all.flatMap((s) => s.points.slice(1).map((p) => p[1])), ...all.flatMap((s) => (s.err ?? []).slice(1).map((e) => e[1]))].filter(Number.isFinite);
  const yMax = Math.max(...ys) * 1.08;
  const x: [number, number] = [0, res.settings.iters];
  const w = 1100, h = 360;
  const body =
    linePanel({ title: 'Loss of the batch trained on (what Caffe displays)', xLabel: `iteration (mean over seeds, smoothed over ${SMOOTH})`, yLabel: 'loss_cls + loss_bbox', series: batch, xRange: x, yRange: [0, yMax] }, 0, 0, w / 2, h) +
    linePanel({ title: `Loss over ALL RoIs of the held-out scenes (mean ± sd)`, xLabel: 'iteration', yLabel: 'loss_cls + loss_bbox', series: all, xRange: x, yRange: [0, yMax] }, w / 2, 0, w / 2, h);
  return svgDocument(w, h, body, 'Mined-batch loss and all-RoI loss of each sampler');
};

export const batchFigure = (res: DemoResults): string => {
  const ss = samplersOf(res);
  const fg: Series[] = ss.map((s) => ({ name: NAMES[s], color: COLORS[s], points: meanCurve(res, s, (r) => r.curve.fg) }));
  const w = 1100, h = 360;
  const bars = barPanel(
    {
      title: `The batches over all of training (mean ± sd; dots: the seeds)`,
      yLabel: 'share of the RoIs trained on',
      groups: ['foreground (IoU ≥ 0.5)', 'IoU < 0.1 with every GT', 'on a look-alike distractor'],
      yRange: [0, 1],
      percent: true,
      digits: 0,
      series: ss.map((s) => {
        const m = sum(res, s);
        const all = [m.fgFraction, m.lowIouFraction, m.distractorFraction];
        return { name: NAMES[s], color: COLORS[s], values: all.map((x) => x.mean), err: all.map(errOf), dots: all.map((x) => x.values) };
      }),
    },
    w / 2,
    0,
    w / 2,
    h,
  );
  const body =
    linePanel(
      { title: 'Foreground fraction of the batch trained on', xLabel: `iteration (mean over seeds, smoothed over ${SMOOTH})`, yLabel: 'fg RoIs / RoIs', series: fg, xRange: [0, res.settings.iters], yRange: [0, 0.7], hlines: [{ y: 0.25, label: 'FG_FRACTION 0.25', color: '#555' }] },
      0,
      0,
      w / 2,
      h,
    ) + bars;
  return svgDocument(w, h, body, 'The composition of the batches each sampler trains on');
};

export const costFigure = (res: DemoResults): string => {
  const ss = samplersOf(res);
  const w = 1100, h = 70 + 34 * ss.length;
  const rows = ss.map((s) => {
    const c = res.cost[s]!;
    const total = c.secondsPerIter.mean * 1000;
    const ro = total * c.readonlyShare.mean;
    const sd = c.secondsPerIter.sd * 1000;
    return {
      name: NAMES[s],
      color: COLORS[s],
      segments: [
        { value: ro, label: 'read-only pass', dark: true },
        { value: total - ro, label: 'the rest', dark: false },
      ],
      err: Number.isFinite(sd) ? ([total - sd, total + sd] as const) : undefined,
      note: `${total.toFixed(1)} ms/iter${isMiner(s) ? `, ${(100 * c.readonlyShare.mean).toFixed(0)} % read-only` : ''}, ${sum(res, s).roisPerPass.mean.toFixed(0)} RoIs/pass`,
    };
  });
  const body =
    stackPanel({ title: `Cost: milliseconds per training iteration (2 passes and the update; mean ± sd over ${seedsText(res)}); dark: the read-only pass`, xLabel: 'ms per iteration', rows }, 0, 0, w, h);
  return svgDocument(w, h, body, 'Time per iteration of each sampler and the share of its read-only pass');
};

const boxOf = (b: ArrayLike<number>, i: number): [number, number, number, number] => [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
const GT: DrawnBox['style'] = { color: '#ffd400', width: 2.5 };
const FG: DrawnBox['style'] = { color: '#2ca02c', width: 1.6 };
const BG: DrawnBox['style'] = { color: '#ff3b3b', width: 1.2, opacity: 0.8 };
const DIS: DrawnBox['style'] = { color: '#ff4dff', width: 2 };
const PROP: DrawnBox['style'] = { color: '#7fd3ff', width: 0.8, opacity: 0.55 };

export const sceneFigure = (res: DemoResults): string => {
  const sc = res.scene!;
  const entry = sc.train;
  const size = entry.size, scale = 1.1, pw = size * scale + 20, ph = size * scale + SCENE_TOP + 12;
  const gt = entry.objects.map((o): DrawnBox => ({ box: o.box, style: GT }));
  const styleOf = (i: number) => (entry.labels[i] > 0 ? FG : entry.origin[i] === 1 ? DIS : BG);
  // Background first, so the foreground and distractor boxes stay visible on top.
  const rows = (inds: ArrayLike<number>): DrawnBox[] =>
    Array.from(inds)
      .sort((a, b) => (styleOf(a) === BG ? 0 : 1) - (styleOf(b) === BG ? 0 : 1))
      .map((i) => ({ box: boxOf(entry.boxes, i), style: styleOf(i) }));
  const all = Array.from({ length: entry.labels.length }, (_, i): DrawnBox => ({ box: boxOf(entry.boxes, i), style: PROP }));
  const count = (inds: ArrayLike<number>) => {
    const a = Array.from(inds);
    return `${a.length} RoIs, ${a.filter((i) => entry.labels[i] > 0).length} fg, ${a.filter((i) => entry.labels[i] === 0 && entry.origin[i] === 1).length} on look-alikes`;
  };
  const cells: { boxes: DrawnBox[]; title: string; sub: string }[] = [{ boxes: all, title: 'All RoIs', sub: `${entry.labels.length} proposals and GT boxes` }];
  for (const s of samplersOf(res)) {
    const r = sc.rois[s];
    if (!r) continue;
    cells.push({ boxes: rows(r), title: isMiner(s) ? NAMES[s] : `${NAMES[s]} (a draw)`, sub: count(r) });
  }
  const cols = 4;
  const legendCell = cells.length;
  const nrows = Math.ceil((cells.length + 1) / cols);
  const body =
    cells.map((c, i) => scenePanel(entry.image, size, [...c.boxes, ...gt], c.title, 10 + (i % cols) * pw, 10 + Math.floor(i / cols) * ph, scale, c.sub)).join('') +
    legendColumn(
      [
        { label: 'ground truth', style: GT },
        { label: 'foreground RoI (IoU ≥ 0.5)', style: FG },
        { label: 'background RoI', style: BG },
        { label: 'background RoI on a look-alike', style: DIS },
        { label: 'proposal', style: PROP },
      ],
      10 + (legendCell % cols) * pw,
      10 + Math.floor(legendCell / cols) * ph + 50,
    );
  return svgDocument(cols * pw + 10, nrows * ph + 20, body, 'One training scene: its RoIs, the standard samplers’ draws and each miner’s RoIs');
};

const legendColumn = (items: readonly { label: string; style: DrawnBox['style'] }[], x: number, y: number): string =>
  items.map((it, i) => legendRow([it], x, y + 20 * i)).join('');

export const detectionFigure = (res: DemoResults): string => {
  const sc = res.scene!;
  const entry = sc.test;
  const size = entry.size, scale = 1.1, pw = size * scale + 20, ph = size * scale + SCENE_TOP + 12;
  const gt = entry.objects.map((o): DrawnBox => ({ box: o.box, style: { ...GT, width: 1.5, dash: '4,3' } }));
  const ss = samplersOf(res).filter((s) => sc.detections[s]);
  const cols = Math.min(4, ss.length);
  const panel = (s: SamplerName, i: number) => {
    const d = sc.detections[s]!;
    const boxes = d.map((x): DrawnBox => ({ box: x.box as [number, number, number, number], style: { color: BOX_COLORS[s], width: 2 }, label: `${CLASSES[x.cls]} ${x.score.toFixed(2)}` }));
    return scenePanel(entry.image, size, [...gt, ...boxes], NAMES[s], 10 + (i % cols) * pw, 10 + Math.floor(i / cols) * ph, scale, `${d.length} detections with score ≥ ${sc.threshold}`);
  };
  const nrows = Math.ceil(ss.length / cols);
  const body =
    ss.map(panel).join('') + legendRow([{ label: 'ground truth; detections after class-wise NMS at 0.3', style: { ...GT, dash: '4,3' } }], 10, nrows * ph + 22);
  return svgDocument(cols * pw + 10, nrows * ph + 34, body, 'Detections of each model on one held-out scene');
};

// --------------------------------------------------------------------------------- the table

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '—');
export const fmtSigned = (v: number, d = 3) => (!Number.isFinite(v) ? '—' : Math.abs(v) < 0.5 * 10 ** -d ? (0).toFixed(d) : `${v > 0 ? '+' : '−'}${Math.abs(v).toFixed(d)}`);
const pm = (s: Brief, d = 3) => (Number.isFinite(s.sd) ? `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}` : s.mean.toFixed(d));
const pct = (s: Brief) => `${(100 * s.mean).toFixed(1)} %`;
const interval = (s: Spread | null, d = 3) => (!s ? '(reference)' : Number.isFinite(s.lo) ? `${fmtSigned(s.mean, d)} [${fmtSigned(s.lo, d)}, ${fmtSigned(s.hi, d)}]` : fmtSigned(s.mean, d));

/** The table: a header and one row per sampler. */
export const summaryRows = (d: Digest): string[][] => {
  const head = [
    'sampler',
    'mAP (mean ± sd)',
    'Δ mAP vs standard [95 % CI]',
    'all-RoI loss',
    'Δ all-RoI loss [95 % CI]',
    'batch loss',
    'RoIs/pass',
    'fg',
    'IoU<0.1',
    'look-alike',
    'ms/iter',
    'read-only',
  ];
  const rows = d.settings.samplers.map((s) => {
    const m = ds(d, s);
    const c = d.cost[s]!;
    return [
      NAMES[s],
      pm(m.mAP),
      interval(m.dMAP),
      pm(m.allRoiLoss),
      interval(m.dAllRoiLoss),
      f3(m.batchLoss.mean),
      m.roisPerPass.mean.toFixed(1),
      pct(m.fgFraction),
      pct(m.lowIouFraction),
      pct(m.distractorFraction),
      pm({ ...c.secondsPerIter, mean: 1000 * c.secondsPerIter.mean, sd: 1000 * c.secondsPerIter.sd }, 1),
      isMiner(s) ? `${(100 * c.readonlyShare.mean).toFixed(0)} %` : '—',
    ];
  });
  return [head, ...rows];
};

/** What each column means (printed under the table). */
export const tableNotes = (d: Digest): string[] => [
  `mAP: VOC07 11-point AP at IoU 0.5 on ${d.settings.testImages} held-out scenes after ${d.settings.iters} iterations, mean ± sample sd over ${seedsOf(d)} (${d.settings.seeds.join(', ')}; each seed its own world, initial weights and image order, shared by all samplers). all-RoI loss: mean training loss over every RoI of those scenes.`,
  `Δ … vs standard: the paired difference to the standard sampler on the same seeds, mean and 95 % t-interval (t with ${Math.max(0, d.settings.seeds.length - 1)} degree${d.settings.seeds.length === 2 ? '' : 's'} of freedom).`,
  `batch loss: the loss of the RoIs trained on, mean of the last ${SMOOTH} iterations (what Caffe displays). RoIs/pass, fg, IoU<0.1 (below 0.1 with every GT), look-alike (background on a look-alike distractor): the batches over all of training.`,
  `ms/iter: wall time of a training iteration (2 passes of one image and the update; evaluations excluded), mean ± sd over the seeds, with ${d.settings.jobs} run${d.settings.jobs > 1 ? 's' : ''} at a time; read-only: the share of it spent in the read-only pass, which is timed alone (readonlyForward of src/mining/ohemStep.ts on the same weights and images) on one iteration in ${Math.max(1, Math.round(d.settings.iters / 25))}.`,
];

// ----------------------------------------------------------------------- the written reading

/** "a–b" of the values at `digits`, or one value when they print the same. */
const range = (v: readonly number[], digits: number) => {
  const [lo, hi] = [Math.min(...v).toFixed(digits), Math.max(...v).toFixed(digits)];
  return lo === hi ? lo : `${lo}–${hi}`;
};
const list = (xs: readonly string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** The reading of the figures, sentence by sentence, computed from the numbers (so the words follow the results). */
export const findings = (d: Digest): string[] => {
  const ss = d.settings.samplers;
  const n = d.settings.seeds.length;
  const out: string[] = [];
  const ranked = [...ss].sort((a, b) => ds(d, b).mAP.mean - ds(d, a).mAP.mean);
  out.push(`Ranked by mean mAP over ${seedsOf(d)}: ${ranked.map((s) => `${NAMES[s]} ${pm(ds(d, s).mAP)}`).join('; ')}.`);
  const ref = d.settings.reference;
  if (ref && n > 1) {
    const above: string[] = [], below: string[] = [], across: string[] = [];
    for (const s of ss) {
      if (s === ref) continue;
      const dm = ds(d, s).dMAP!;
      const wins = dm.values.filter((v) => v > 0).length;
      const txt = `${NAMES[s]} (${interval(dm)}, higher on ${wins} of ${n} seeds)`;
      (sign(dm) > 0 ? above : sign(dm) < 0 ? below : across).push(txt);
    }
    if (above.length) out.push(`Against the standard sampler on the same seeds, the 95 % interval of the mAP difference lies above 0 for ${list(above)}.`);
    if (below.length) out.push(`It lies below 0 for ${list(below)}.`);
    if (across.length) out.push(`It contains 0 for ${list(across)}: with ${n} seeds these are not distinguishable from the standard sampler.`);
  }
  const miners = ranked.filter(isMiner);
  if (miners.length >= 2 && n > 1) {
    const [a, b] = miners;
    const ab = pairOf(d.pairs, a, b)!;
    const wins = ab.values.filter((v) => v > 0).length;
    out.push(
      `Among the miners, ${NAMES[a]} has the highest mean mAP; against the next, ${NAMES[b]}, it differs by ${interval(ab)} (higher on ${wins} of ${n} seeds)` +
        (sign(ab) === 0 ? ': the interval contains 0, so these seeds do not separate the two.' : '.'),
    );
  }
  if (ref) {
    const st = ds(d, ref);
    const paradox = ss.filter((s) => s !== ref && ds(d, s).batchLoss.mean > st.batchLoss.mean && ds(d, s).allRoiLoss.mean < st.allRoiLoss.mean);
    if (paradox.length)
      out.push(
        `The loss a training log shows misleads: ${list(paradox.map((s) => NAMES[s]))} end with a higher loss on the batch they train on than the standard sampler (${list(paradox.map((s) => f3(ds(d, s).batchLoss.mean)))} against ${f3(st.batchLoss.mean)}) and a lower loss over all held-out RoIs (${list(paradox.map((s) => f3(ds(d, s).allRoiLoss.mean)))} against ${f3(st.allRoiLoss.mean)}): their batches are the hard RoIs (R-FCN#32, soeaver/caffe-model#64).`,
      );
  }
  if (ref && ss.includes('standard_bg0') && ss.includes('caffe-ohem')) {
    const st = ds(d, ref).mAP.mean, b0 = ds(d, 'standard_bg0').mAP.mean, oh = ds(d, 'caffe-ohem').mAP.mean;
    const rest = pairOf(d.pairs, 'caffe-ohem', 'standard_bg0');
    if (oh - st > 0.005 && rest)
      out.push(
        `BG_THRESH_LO 0 alone (random background from every RoI below IoU 0.5) moves the mean mAP by ${fmtSigned(b0 - st)}, ${Math.round((100 * (b0 - st)) / (oh - st))} % of caffe-ohem’s ${fmtSigned(oh - st)}; the rest comes with ranking the RoIs by their loss (caffe-ohem − BG_THRESH_LO 0: ${interval(rest)}, higher on ${rest.values.filter((v) => v > 0).length} of ${n} seeds).`,
      );
  }
  const comp = ss.filter(isMiner);
  if (comp.length) {
    const byLow = [...comp].sort((a, b) => ds(d, b).lowIouFraction.mean - ds(d, a).lowIouFraction.mean);
    const byDis = [...comp].sort((a, b) => ds(d, b).distractorFraction.mean - ds(d, a).distractorFraction.mean);
    const fgs = comp.map((s) => `${NAMES[s]} ${pct(ds(d, s).fgFraction)}`);
    const std = ss.includes('standard') ? ds(d, 'standard') : null;
    out.push(
      `Batches: the foreground share is ${list(fgs)}` +
        (std ? ` (standard ${pct(std.fgFraction)}${Math.abs(std.fgFraction.mean - 0.25) < 0.03 ? ', held near FG_FRACTION 0.25 by its quota' : ''})` : '') +
        `. Of the miners, ${NAMES[byLow[0]]} trains most on RoIs below IoU 0.1 with every object (${pct(ds(d, byLow[0]).lowIouFraction)}` +
        (std ? `; standard ${pct(std.lowIouFraction)}` : '') +
        `) and ${NAMES[byDis[0]]} most on the look-alike distractors (${pct(ds(d, byDis[0]).distractorFraction)}` +
        (std ? `; standard ${pct(std.distractorFraction)}` : '') +
        ').',
    );
    if (ref) {
      const base = d.cost[ref]!.secondsPerIter.mean;
      const ratios = comp.map((s) => d.cost[s]!.secondsPerIter.mean / base);
      const shares = comp.map((s) => d.cost[s]!.readonlyShare.mean);
      const costliest = [...comp].sort((a, b) => d.cost[b]!.secondsPerIter.mean - d.cost[a]!.secondsPerIter.mean)[0];
      const biggest = [...comp].sort((a, b) => ds(d, b).roisPerPass.mean - ds(d, a).roisPerPass.mean)[0];
      out.push(
        `Cost: an iteration of ${comp.length > 1 ? 'a miner' : NAMES[comp[0]]} takes ${range(ratios, 1)} × the standard sampler’s time (${(1000 * base).toFixed(1)} ms), and its read-only pass over every RoI is ${range(shares.map((x) => 100 * x), 0)} % of that iteration.` +
          (ds(d, biggest).roisPerPass.mean > 1.2 * d.settings.roisPerImage
            ? ` ${NAMES[biggest]} trains on the most RoIs per pass (${ds(d, biggest).roisPerPass.mean.toFixed(0)}, against ${d.settings.roisPerImage} for the standard sampler)${biggest === costliest ? ' and is the costliest miner per iteration' : ''}.`
            : ''),
      );
    }
  }
  out.push(
    n < 5
      ? `${n} seed${n > 1 ? 's' : ''} of one small synthetic world: intervals are wide, and a difference whose interval contains 0 is not a finding. The direction of an effect here is not the paper's size of it (VOC07, VGG16: Fast R-CNN 66.9 → 69.9 mAP with OHEM).`
      : `${n} seeds of one small synthetic world: the direction of an effect here is not the paper's size of it (VOC07, VGG16: Fast R-CNN 66.9 → 69.9 mAP with OHEM).`,
  );
  return out;
};

export const terminalTable = (d: Digest): string => {
  const rows = summaryRows(d);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line), '', ...tableNotes(d), '', ...findings(d)].join('\n');
};

// ---------------------------------------------------------------------------------- the HTML

export type Figures = Record<'map' | 'paired' | 'loss' | 'batch' | 'cost' | 'scene' | 'detections', string>;

export const htmlReport = (res: DemoResults, figures: Figures): string => {
  const dg = digestOf(res);
  const rows = summaryRows(dg);
  const st = res.settings;
  const inline = (svg: string) => svg.replace(/^<\?xml[^>]*>\s*/, '');
  const table = `<table>\n<thead><tr>${rows[0].map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows
    .slice(1)
    .map((r) => `<tr>${r.map((v, i) => (i === 0 ? `<th>${esc(v)}</th>` : `<td>${esc(v)}</td>`)).join('')}</tr>`)
    .join('\n')}\n</tbody>\n</table>`;
  const attrs = (a: Readonly<Record<string, unknown>>) =>
    Object.entries(a)
      .filter(([k]) => k !== 'dialect')
      .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
      .join(', ');
  const minerRows = Object.entries(st.minerAttrs).map(([d, m]) => `<tr><th>${esc(d)}</th><td><code>${esc(attrs(m!.attrs))}</code></td><td>${esc(m!.reason)}</td></tr>`);
  const settings: [string, string][] = [
    ['seeds', `${st.seeds.join(', ')}: each seed its own world, initial weights, image order and draws, the same for every sampler`],
    ['world', `${st.world.trainImages} training and ${st.world.testImages} held-out scenes of ${st.world.size}×${st.world.size} px; ${st.world.proposals} proposals per scene (+ the GT boxes in training); classes ${CLASSES.slice(1).join(', ')}; look-alike distractors (outlines with a dim inside) and clutter as background`],
    ['features', `fixed, not learned: ${st.featureChannels} channels at stride 16 (5×5 blur, edge and centre-surround filters as one InnerProduct over image patches, |·| / ReLU, max pooling by roi_pool over 16×16-pixel cells and mean pooling)`],
    [
      'head',
      `${st.pooler === 'roi_align' ? `RoIAlign (${attrs(st.poolerAttrs)})` : 'roi_pool'} ${st.pooled}×${st.pooled} (spatial_scale 1/16) → fc6 ${st.hidden} → ReLU → fc7 ${st.hidden} → ReLU → cls_score ${CLASSES.length} / bbox_pred ${4 * CLASSES.length}; dropout ${st.dropout}`,
    ],
    ['batches', `iter_size ${st.solver.iter_size} passes of one image; the standard samplers draw ${st.roisPerImage} RoIs per image (fg fraction 0.25 with IoU ≥ 0.5, bg with IoU in [0.1, 0.5), BG_THRESH_LO 0: [0, 0.5)); each miner ranks every RoI of the image by a read-only pass (ohemStep) and trains on what its dialect picks (below)`],
    ['solver', `Caffe SGD, base_lr ${st.solver.base_lr}, momentum ${st.solver.momentum}, weight_decay ${st.solver.weight_decay}, "step" policy gamma ${st.solver.gamma} at ${st.solver.stepsize}; ${st.iters} iterations; weights lr×1 decay×1, biases lr×2 decay×0`],
    ['evaluation', `every ${st.evalEvery} iterations on the held-out scenes: score > 0.05, class-wise NMS 0.3, ≤ 100 per image, VOC07 11-point AP at IoU ≥ 0.5`],
    ['backend', `${st.backend}; ${st.jobs} worker thread${st.jobs > 1 ? 's' : ''} (changes the clock, not a number)`],
    ['wall time', `${res.seconds.total.toFixed(1)} s in all`],
  ];
  const fig = (id: string, svg: string, caption: string) => `<figure id="${id}">\n${inline(svg)}<figcaption>${caption}</figcaption>\n</figure>`;
  const sc = res.scene;
  return `<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<title>ohem-ref demo: which hard-example miner?</title>
<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1300px; margin: 24px auto; color: #222; line-height: 1.45; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
.settings td, .miners td { white-space: normal; }
thead th { background: #f3f3f3; }
tbody th { text-align: left; white-space: nowrap; }
figure { margin: 18px 0; }
figcaption { font-size: 13px; color: #444; max-width: 1100px; }
.settings td, .miners td { text-align: left; }
.notes { font-size: 12px; color: #444; }
.reading { background: #fff8e0; border-left: 4px solid #e0b000; padding: 8px 12px 8px 28px; font-size: 14px; }
</style>
</head>
<body>
<h1>Which hard-example miner? Six samplers side by side</h1>
<p>The same synthetic detection world, initial head, image order, iterations, learning-rate schedule and Caffe SGD for every sampler, over ${esc(seedsText(res))}; only the choice of the RoIs trained on differs: Fast R-CNN's standard sampler, the same with BG_THRESH_LO 0, and four hard-example miners as their implementations select (docs/mining.md): the original OHEM (caffe-ohem), mmdetection's OHEMSampler, the TF Object Detection API's HardExampleMiner and SSD's hard negatives. Numbers are mean ± sd over the seeds; differences to the standard sampler are paired on the same seeds, with 95 % t-intervals.</p>
${table}
<ul class="notes">${tableNotes(dg).map((t) => `<li>${esc(t)}</li>`).join('')}</ul>
<h2>What the figures show</h2>
<ul class="reading">${findings(dg).map((t) => `<li>${esc(t)}</li>`).join('\n')}</ul>
${fig('map', figures.map, `Left: mAP on the held-out scenes at each evaluation, mean over the seeds with ± 1 sd error bars (the bars of the samplers are set slightly apart). Right: mAP and AP per class after the last iteration, mean ± sd, each seed a dot.`)}
${fig('paired', figures.paired, `Each sampler minus the standard sampler on the same seed (world, initial weights, image order): the mean difference (large dot), its 95 % t-interval (bar) and each seed's difference (small dots). An interval that crosses the dashed line at 0 is not a difference these seeds can tell.`)}
${fig('loss', figures.loss, `Left: the loss of the batch trained on, as a training log shows it (mean over the seeds). Right: the mean loss over every RoI of the held-out scenes (background down to IoU 0) at each evaluation, mean ± sd. Same y scale: a miner's batch loss sits high because its batch is the hard RoIs.`)}
${fig('batch', figures.batch, `Left: the share of foreground RoIs in the batch trained on. Right: over all of training, the share of the batch that is foreground, that lies below IoU 0.1 with every ground-truth box (RoIs the standard sampler never draws, BG_THRESH_LO 0.1) and that sits on a look-alike distractor; mean ± sd, seeds as dots.`)}
${fig('cost', figures.cost, `Wall time per training iteration, mean ± sd over the seeds, with ${st.jobs} run${st.jobs > 1 ? 's' : ''} at a time. The dark part is the read-only pass (the head's forward over every RoI of the image, OHEM's price), timed alone on probe iterations; the light part is the rest (sampling or selection, the train pass, backward and the update).`)}
${sc ? fig('scene', figures.scene, `One training scene of seed ${sc.seed} (training scene ${sc.trainIndex}: the first with at least two objects and two look-alike distractors, chosen before any training): all its RoIs, a draw of each standard sampler, and the RoIs each miner trains on in it under its final weights.`) : ''}
${sc ? fig('detections', figures.detections, `Held-out scene ${sc.testIndex} of seed ${sc.seed} (the first with at least two objects and two distractors): each model’s detections with score ≥ ${sc.threshold} after class-wise NMS. Dashed yellow: ground truth. The outlined shapes with a dim inside are background.`) : ''}
<h2>The miners’ attrs</h2>
<table class="miners">
<thead><tr><th>dialect</th><th>attrs given to ohemStep</th><th>why</th></tr></thead>
<tbody>
${minerRows.join('\n')}
</tbody>
</table>
<h2>Settings</h2>
<table class="settings">
<tbody>
${settings.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}
</tbody>
</table>
<p>Every number above is in <code>results.json</code>. Regenerate with <code>npm start -- --seed ${st.seeds[0]} --seeds ${st.seeds.length} --iters ${st.iters}${st.pooler !== 'roi_pool' ? ` --pooler ${st.pooler}` : ''}</code>.</p>
</body>
</html>
`;
};

export const FIGURE_FILES: Readonly<Record<keyof Figures, string>> = {
  map: 'map.svg',
  paired: 'paired.svg',
  loss: 'loss.svg',
  batch: 'batch.svg',
  cost: 'cost.svg',
  scene: 'scene.svg',
  detections: 'detections.svg',
};

/** Writes the report's files under `dir`; returns their paths. */
export const writeReport = (dir: string, res: DemoResults): Result<string[]> => {
  try {
    mkdirSync(dir, { recursive: true });
    const figures: Figures = {
      map: mapFigure(res),
      paired: pairedFigure(res),
      loss: lossFigure(res),
      batch: batchFigure(res),
      cost: costFigure(res),
      scene: res.scene ? sceneFigure(res) : '',
      detections: res.scene ? detectionFigure(res) : '',
    };
    const files: [string, string][] = [
      ...(Object.keys(FIGURE_FILES) as (keyof Figures)[]).filter((k) => figures[k]).map((k): [string, string] => [FIGURE_FILES[k], figures[k]]),
      ['index.html', htmlReport(res, figures)],
      ['results.json', JSON.stringify(resultsJson(res), null, 1)],
    ];
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
    return E.right(files.map(([name]) => join(dir, name)));
  } catch (e) {
    return E.left(valueError('--out', `cannot write the report to ${dir}: ${(e as Error).message}`));
  }
};

