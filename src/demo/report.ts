/**
 * The demo's report: the figures (SVG), report/index.html (the figures inline, the summary table,
 * the settings and the honest notes), report/results.json (every number plotted), and the summary
 * table for the terminal. Text builders are pure; `writeReport` is the one function that writes.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Result, valueError } from '../core/index.js';
import type { Detection } from './evaluate.js';
import { barPanel, type DrawnBox, esc, legendRow, linePanel, SCENE_TOP, scenePanel, svgDocument, type Series } from './svg.js';
import type { RunHistory, SamplerName } from './train.js';
import { CLASSES, type Entry, type World } from './world.js';

export const COLORS: Record<SamplerName, string> = { standard: '#1f77b4', standard_bg0: '#9467bd', ohem: '#d62728' };
export const NAMES: Record<SamplerName, string> = { standard: 'standard sampler (FRCN)', standard_bg0: 'standard, BG_THRESH_LO 0', ohem: 'OHEM' };
/** Colours for boxes drawn over the gray scenes (brighter than the plot colours). */
const BOX_COLORS: Record<SamplerName, string> = { standard: '#39a0ff', standard_bg0: '#c08cff', ohem: '#ff4d4d' };

export interface SceneView {
  /** A training scene, all its proposals, the standard sampler's draw and OHEM's hard RoIs on it (indices into entry rows). */
  readonly train: {
    readonly entry: Entry;
    /** The standard sampler's draw (BG_THRESH_LO 0.1) and the same draw rule with BG_THRESH_LO 0. */
    readonly sampled: Int32Array;
    readonly sampledBg0: Int32Array;
    readonly hardEarly: Int32Array;
    readonly earlyIter: number;
    readonly hard: Int32Array;
  };
  /** A held-out scene and each model's detections on it (score ≥ threshold). */
  readonly test: { readonly entry: Entry; readonly detections: Record<SamplerName, readonly (Detection & { cls: number })[]>; readonly threshold: number };
}

export interface DemoSettings {
  readonly seed: number;
  readonly iters: number;
  readonly evalEvery: number;
  readonly backend: string;
  readonly world: World['config'];
  readonly featureChannels: number;
  readonly pooled: number;
  readonly hidden: number;
  readonly roisPerImage: number;
  readonly dropout: number;
  readonly solver: { base_lr: number; gamma: number; stepsize: number; momentum: number; weight_decay: number; iter_size: number };
}

export interface DemoResults {
  readonly settings: DemoSettings;
  readonly runs: Record<SamplerName, RunHistory>;
  readonly seconds: { readonly world: number; readonly total: number } & Readonly<Record<SamplerName, number>>;
  readonly scene: SceneView;
}

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

const SMOOTH = 20;
const SAMPLER_ORDER: readonly SamplerName[] = ['standard', 'standard_bg0', 'ohem'];

/** Summary numbers of a run: the last evaluation, and the last SMOOTH iterations' batch numbers. */
export const summarize = (r: RunHistory) => {
  const ev = r.evals[r.evals.length - 1];
  const tail = r.iters.slice(-SMOOTH);
  const mean = (f: (x: (typeof tail)[number]) => number) => tail.reduce((a, x) => a + f(x), 0) / tail.length;
  const best = r.evals.reduce((b, e) => (e.mAP > b.mAP ? e : b), r.evals[0]);
  return {
    mAP: ev.mAP,
    ap: ev.ap,
    allRoiLoss: ev.loss,
    allRoiLossCls: ev.lossCls,
    allRoiLossBbox: ev.lossBbox,
    initialAllRoiLoss: r.evals[0].loss,
    batchLoss: mean((x) => x.lossCls + x.lossBbox),
    fgFraction: mean((x) => x.fgFraction),
    lowIouFraction: r.iters.reduce((a, x) => a + x.lowIouFraction, 0) / r.iters.length,
    distractorFraction: r.iters.reduce((a, x) => a + x.distractorFraction, 0) / r.iters.length,
    bestMAP: best.mAP,
    bestIter: best.iter,
  };
};

// ------------------------------------------------------------------------------------ figures

export const lossFigure = (res: DemoResults): string => {
  const batch: Series[] = SAMPLER_ORDER.map((s) => {
    const it = res.runs[s].iters;
    const sm = movingAverage(it.map((x) => x.lossCls + x.lossBbox), SMOOTH);
    return { name: NAMES[s], color: COLORS[s], points: it.map((x, i) => [x.iter, sm[i]] as const) };
  });
  const all: Series[] = SAMPLER_ORDER.map((s) => ({
    name: NAMES[s],
    color: COLORS[s],
    markers: true,
    points: res.runs[s].evals.map((e) => [e.iter, e.loss] as const),
  }));
  const ys = [...batch, ...all].flatMap((s) => s.points.slice(s.markers ? 1 : 0).map((p) => p[1]));
  const yMax = Math.max(...ys) * 1.08;
  const x: [number, number] = [0, res.settings.iters];
  const w = 1100, h = 330;
  const body =
    linePanel({ title: 'Loss of the batch trained on (what Caffe displays)', xLabel: `iteration (mean of the last ${SMOOTH})`, yLabel: 'loss_cls + loss_bbox', series: batch, xRange: x, yRange: [0, yMax] }, 0, 0, w / 2, h) +
    linePanel({ title: 'Loss over ALL RoIs of the held-out scenes', xLabel: 'iteration', yLabel: 'loss_cls + loss_bbox', series: all, xRange: x, yRange: [0, yMax] }, w / 2, 0, w / 2, h);
  return svgDocument(w, h, body, 'Mined-batch loss and all-RoI loss of each sampler');
};

export const mapFigure = (res: DemoResults): string => {
  const series: Series[] = SAMPLER_ORDER.map((s) => ({
    name: `${NAMES[s]}`,
    color: COLORS[s],
    markers: true,
    width: 2.5,
    points: res.runs[s].evals.map((e) => [e.iter, e.mAP] as const),
  }));
  const w = 1100, h = 330;
  const bars = barPanel(
    {
      title: `AP per class after ${res.settings.iters} iterations`,
      yLabel: 'AP',
      groups: CLASSES.slice(1) as unknown as string[],
      series: SAMPLER_ORDER.map((s) => ({ name: NAMES[s], color: COLORS[s], values: summarize(res.runs[s]).ap })),
    },
    w / 2,
    0,
    w / 2,
    h,
  );
  const body =
    linePanel({ title: 'mAP on the held-out scenes (VOC07 11-point, IoU 0.5)', xLabel: 'iteration', yLabel: 'mAP', series, xRange: [0, res.settings.iters], yRange: [0, 1], legend: 'bottom-right' }, 0, 0, w / 2, h) + bars;
  return svgDocument(w, h, body, 'mAP over iterations and AP per class');
};

export const batchFigure = (res: DemoResults): string => {
  const sm = (s: SamplerName, f: (x: RunHistory['iters'][number]) => number) => {
    const it = res.runs[s].iters;
    const v = movingAverage(it.map(f), SMOOTH);
    return it.map((x, i) => [x.iter, v[i]] as const);
  };
  const fg: Series[] = SAMPLER_ORDER.map((s) => ({ name: NAMES[s], color: COLORS[s], points: sm(s, (x) => x.fgFraction) }));
  const low: Series[] = SAMPLER_ORDER.flatMap((s) => [
    { name: `${NAMES[s]}: IoU < 0.1 with every GT`, color: COLORS[s], points: sm(s, (x) => x.lowIouFraction) },
    { name: `${NAMES[s]}: on a look-alike distractor`, color: COLORS[s], dash: '5,3', points: sm(s, (x) => x.distractorFraction) },
  ]);
  const w = 1100, h = 330;
  const body =
    linePanel({ title: 'Foreground fraction of the batch trained on', xLabel: `iteration (mean of the last ${SMOOTH})`, yLabel: 'fg RoIs / RoIs', series: fg, xRange: [0, res.settings.iters], yRange: [0, 0.6], hlines: [{ y: 0.25, label: 'FG_FRACTION 0.25', color: '#555' }] }, 0, 0, w / 2, h) +
    linePanel({ title: 'Where the batch comes from', xLabel: `iteration (mean of the last ${SMOOTH})`, yLabel: 'share of the batch', series: low, xRange: [0, res.settings.iters], yRange: [0, 1] }, w / 2, 0, w / 2, h);
  return svgDocument(w, h, body, 'Foreground fraction of the mined batches');
};

const boxOf = (b: ArrayLike<number>, i: number): [number, number, number, number] => [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
const GT: DrawnBox['style'] = { color: '#ffd400', width: 2.5 };
const FG: DrawnBox['style'] = { color: '#2ca02c', width: 1.6 };
const BG: DrawnBox['style'] = { color: '#ff3b3b', width: 1.2, opacity: 0.8 };
const DIS: DrawnBox['style'] = { color: '#ff4dff', width: 2 };
const PROP: DrawnBox['style'] = { color: '#7fd3ff', width: 0.8, opacity: 0.55 };

export const sceneFigure = (res: DemoResults): string => {
  const { entry, sampled, sampledBg0, hardEarly, earlyIter, hard } = res.scene.train;
  const size = entry.scene.size, scale = 1.4, pw = size * scale + 24, ph = size * scale + SCENE_TOP + 14;
  const gt = entry.scene.objects.map((o): DrawnBox => ({ box: o.box, style: GT }));
  const styleOf = (i: number) => (entry.labels[i] > 0 ? FG : entry.origin[i] === 1 ? DIS : BG);
  // Background first, so the foreground and distractor boxes stay visible on top.
  const rows = (inds: ArrayLike<number>): DrawnBox[] =>
    Array.from(inds)
      .sort((a, b) => (styleOf(a) === BG ? 0 : 1) - (styleOf(b) === BG ? 0 : 1))
      .map((i) => ({ box: boxOf(entry.boxes, i), style: styleOf(i) }));
  const all = Array.from({ length: entry.labels.length }, (_, i): DrawnBox => ({ box: boxOf(entry.boxes, i), style: PROP }));
  const count = (inds: ArrayLike<number>) => {
    const a = Array.from(inds);
    return `${a.length} RoIs, ${a.filter((i) => entry.labels[i] > 0).length} fg, ${a.filter((i) => entry.labels[i] === 0 && entry.origin[i] === 1).length} on distractors`;
  };
  const panel = (boxes: DrawnBox[], title: string, sub: string, col: number, row: number) =>
    scenePanel(entry.scene.image, size, [...boxes, ...gt], title, 10 + col * pw, 10 + row * ph, scale, sub);
  const body =
    panel(all, 'All RoIs', `${entry.labels.length} proposals and GT boxes`, 0, 0) +
    panel(rows(sampled), 'Standard sampler (a draw)', count(sampled), 1, 0) +
    panel(rows(sampledBg0), 'Standard, BG_THRESH_LO 0 (a draw)', count(sampledBg0), 2, 0) +
    panel(rows(hardEarly), `OHEM’s hard RoIs at iteration ${earlyIter}`, count(hardEarly), 0, 1) +
    panel(rows(hard), `OHEM’s hard RoIs at iteration ${res.settings.iters}`, count(hard), 1, 1) +
    legendColumn(
      [
        { label: 'ground truth', style: GT },
        { label: 'foreground RoI (IoU ≥ 0.5)', style: FG },
        { label: 'background RoI', style: BG },
        { label: 'background RoI on a look-alike distractor', style: DIS },
        { label: 'proposal', style: PROP },
      ],
      10 + 2 * pw,
      10 + ph + 40,
    );
  return svgDocument(3 * pw + 10, 2 * ph + 20, body, 'One training scene: its RoIs, the standard sampler’s draws and OHEM’s hard RoIs');
};

const legendColumn = (items: readonly { label: string; style: DrawnBox['style'] }[], x: number, y: number): string =>
  items.map((it, i) => legendRow([it], x, y + 20 * i)).join('');

export const detectionFigure = (res: DemoResults): string => {
  const { entry, detections, threshold } = res.scene.test;
  const size = entry.scene.size, scale = 1.4, pw = size * scale + 24;
  const gt = entry.scene.objects.map((o): DrawnBox => ({ box: o.box, style: { ...GT, width: 1.5, dash: '4,3' } }));
  const panel = (s: SamplerName, x: number) => {
    const d = detections[s];
    const boxes = d.map((x): DrawnBox => ({ box: x.box as [number, number, number, number], style: { color: BOX_COLORS[s], width: 2 }, label: `${CLASSES[x.cls]} ${x.score.toFixed(2)}` }));
    return scenePanel(entry.scene.image, size, [...gt, ...boxes], NAMES[s], x, 10, scale, `${d.length} detections with score ≥ ${threshold}`);
  };
  const body =
    SAMPLER_ORDER.map((s, i) => panel(s, 10 + i * pw)).join('') +
    legendRow([{ label: 'ground truth; detections after class-wise NMS at 0.3', style: { ...GT, dash: '4,3' } }], 10, size * scale + SCENE_TOP + 30);
  return svgDocument(3 * pw + 10, size * scale + SCENE_TOP + 40, body, 'Detections of the three models on one held-out scene');
};

// --------------------------------------------------------------------------------- the table

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '—');
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;

export const summaryRows = (res: DemoResults): string[][] => {
  const head = ['sampler', 'mAP', ...CLASSES.slice(1).map((c) => `AP ${c}`), 'all-RoI loss', '(at start)', 'batch loss', 'fg in batch', 'IoU<0.1 in batch', 'time'];
  const rows = SAMPLER_ORDER.map((s) => {
    const m = summarize(res.runs[s]);
    return [NAMES[s], f3(m.mAP), ...m.ap.map(f3), f3(m.allRoiLoss), f3(m.initialAllRoiLoss), f3(m.batchLoss), pct(m.fgFraction), pct(m.lowIouFraction), `${res.seconds[s].toFixed(1)} s`];
  });
  return [head, ...rows];
};

const signed = (v: number) => (Math.abs(v) < 0.0005 ? '±0.000' : `${v > 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`);

/** The comparisons the report states, computed from the numbers (so the words follow the results). */
export const findings = (res: DemoResults): { loss: string; ablation: string } => {
  const o = summarize(res.runs.ohem), st = summarize(res.runs.standard), b0 = summarize(res.runs.standard_bg0);
  const dmap = o.mAP - st.mAP, dloss = o.allRoiLoss - st.allRoiLoss, dbatch = o.batchLoss - st.batchLoss;
  const loss =
    `OHEM − standard: mAP ${signed(dmap)}, all-RoI loss ${signed(dloss)}, batch loss ${signed(dbatch)}` +
    (dbatch > 0 && dloss < 0
      ? ': the loss a training log shows is higher for OHEM while its loss over all RoIs is lower (R-FCN#32, soeaver/caffe-model#64).'
      : '.');
  const gain = b0.mAP - st.mAP;
  const ablation =
    `Ablation, the standard sampler with BG_THRESH_LO 0 (random background from every RoI below IoU 0.5): mAP ${b0.mAP.toFixed(3)}, all-RoI loss ${b0.allRoiLoss.toFixed(3)}. ` +
    (dmap > 0
      ? `Of OHEM's ${signed(dmap)} mAP over the standard sampler, ${signed(gain)} comes with BG_THRESH_LO 0 alone (background the 0.1 band never draws, such as the isolated look-alikes, enters the batch) and ${signed(o.mAP - b0.mAP)} from ranking the RoIs by their loss.`
      : `OHEM is ${signed(o.mAP - b0.mAP)} mAP from it.`);
  return { loss, ablation };
};

export const terminalTable = (res: DemoResults): string => {
  const rows = summaryRows(res);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  const f = findings(res);
  return [
    line(rows[0]),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    '',
    `mAP: VOC07 11-point AP at IoU 0.5 on ${res.settings.world.testImages} held-out scenes after ${res.settings.iters} iterations; all-RoI loss: mean loss over every RoI of those scenes.`,
    `batch loss and fg in batch: the RoIs trained on, mean of the last ${SMOOTH} iterations (the loss is what Caffe's display shows); IoU<0.1 in batch: share of all RoIs trained on below IoU 0.1 with every GT.`,
    f.loss,
    f.ablation,
    `One seed (${res.settings.seed}), one small synthetic world: the direction of the effect, not the paper's numbers (VOC07, VGG16: 66.9 → 69.9 mAP).`,
  ].join('\n');
};

// ---------------------------------------------------------------------------------- the HTML

export const htmlReport = (res: DemoResults, figures: Record<'loss' | 'map' | 'batch' | 'scene' | 'detections', string>): string => {
  const rows = summaryRows(res);
  const st = res.settings;
  const o = summarize(res.runs.ohem), s = summarize(res.runs.standard);
  const f = findings(res);
  const inline = (svg: string) => svg.replace(/^<\?xml[^>]*>\s*/, '');
  const table = `<table>\n<thead><tr>${rows[0].map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>\n<tbody>\n${rows
    .slice(1)
    .map((r) => `<tr>${r.map((v, i) => (i === 0 ? `<th>${esc(v)}</th>` : `<td>${esc(v)}</td>`)).join('')}</tr>`)
    .join('\n')}\n</tbody>\n</table>`;
  const settings: [string, string][] = [
    ['seed', String(st.seed)],
    ['world', `${st.world.trainImages} training and ${st.world.testImages} held-out scenes of ${st.world.size}×${st.world.size} px; ${st.world.proposals} proposals per scene (+ the GT boxes in training); classes ${CLASSES.slice(1).join(', ')}; look-alike distractors (outlines with a dim inside) and clutter as background`],
    ['features', `fixed, not learned: ${st.featureChannels} channels at stride 16 (5×5 blur, edge and centre-surround filters as one InnerProduct over image patches, |·| / ReLU, max pooling by roi_pool over 16×16-pixel cells and mean pooling)`],
    ['head', `roi_pool ${st.pooled}×${st.pooled} (spatial_scale 1/16) → fc6 ${st.hidden} → ReLU → fc7 ${st.hidden} → ReLU → cls_score ${CLASSES.length} / bbox_pred ${4 * CLASSES.length}; dropout ${st.dropout}`],
    ['batches', `iter_size ${st.solver.iter_size} passes of one image; ${st.roisPerImage} RoIs per image: OHEM the ${st.roisPerImage} hardest of all RoIs (caffe-ohem: hardness = cls + bbox loss of a read-only pass, NMS 0.7 per label, top ${st.roisPerImage}); standard: fg fraction 0.25 with IoU ≥ 0.5, bg with IoU in [0.1, 0.5) (BG_THRESH_LO 0: [0, 0.5)), drawn without replacement from the seed`],
    ['solver', `Caffe SGD, base_lr ${st.solver.base_lr}, momentum ${st.solver.momentum}, weight_decay ${st.solver.weight_decay}, "step" policy gamma ${st.solver.gamma} at ${st.solver.stepsize}; ${st.iters} iterations; weights lr×1 decay×1, biases lr×2 decay×0`],
    ['evaluation', `every ${st.evalEvery} iterations on the held-out scenes: score > 0.05, class-wise NMS 0.3, ≤ 100 per image, VOC07 11-point AP at IoU ≥ 0.5`],
    ['backend', st.backend],
    ['wall time', `world ${res.seconds.world.toFixed(1)} s, ${SAMPLER_ORDER.map((k) => `${NAMES[k]} ${res.seconds[k].toFixed(1)} s`).join(', ')}, total ${res.seconds.total.toFixed(1)} s (training time includes the evaluations)`],
  ];
  const fig = (id: string, svg: string, caption: string) => `<figure id="${id}">\n${inline(svg)}<figcaption>${caption}</figcaption>\n</figure>`;
  return `<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<title>ohem-ref demo: OHEM vs the standard Fast R-CNN sampler</title>
<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1140px; margin: 24px auto; color: #222; line-height: 1.45; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
thead th { background: #f3f3f3; }
tbody th { text-align: left; }
figure { margin: 18px 0; }
figcaption { font-size: 13px; color: #444; max-width: 1100px; }
.settings td { text-align: left; }
.note { background: #fff8e0; border-left: 4px solid #e0b000; padding: 8px 12px; font-size: 14px; }
.ablation { background: #f2ecfa; border-left-color: #9467bd; }
</style>
</head>
<body>
<h1>OHEM vs the standard Fast R-CNN sampler, side by side</h1>
<p>The same synthetic detection world, the same initial head, image order, iterations, learning-rate schedule and Caffe SGD; only the choice of the RoIs trained on differs: Fast R-CNN's standard sampler (background from IoU [0.1, 0.5)), the same sampler with BG_THRESH_LO 0 (an ablation: background from every RoI below 0.5, as OHEM's configuration sets it), and OHEM. The paper's anchor (VOC07, VGG16): Fast R-CNN 66.9 → 69.9 mAP with OHEM. Here: ${esc(f3(s.mAP))} → ${esc(f3(o.mAP))} mAP on ${st.world.testImages} held-out scenes (one seed of one small world: the direction of the effect, not a benchmark).</p>
${table}
<p class="note ablation">${esc(f.ablation)}</p>
<p class="note">The loss a training log shows for OHEM is the loss of the <em>hard</em> RoIs it selected, so it sits higher than the standard sampler's (${esc(f3(o.batchLoss))} vs ${esc(f3(s.batchLoss))} over the last ${SMOOTH} iterations). It is not the model getting worse: over <em>all</em> RoIs of the held-out scenes OHEM's loss is ${esc(f3(o.allRoiLoss))} against ${esc(f3(s.allRoiLoss))} (R-FCN#32, soeaver/caffe-model#64).</p>
${fig('loss', figures.loss, `Left: the loss of the batch trained on, as a training log shows it (moving mean of ${SMOOTH} iterations). Right: the mean loss over every RoI of the held-out scenes (background down to IoU 0), measured at each evaluation. Same y scale.`)}
${fig('map', figures.map, `Left: mAP (VOC07 11-point, IoU ≥ 0.5) on the held-out scenes at each evaluation. Right: AP of each class after the last iteration.`)}
${fig('batch', figures.batch, `Left: the share of foreground RoIs in the batch trained on. The standard sampler fixes it at 0.25 (when an image has 16 foreground RoIs); OHEM's follows from the losses. Right: the share of the batch that lies below IoU 0.1 with every ground-truth box — RoIs the standard sampler can never draw (BG_THRESH_LO 0.1) — and the share on the look-alike distractors (background proposals around them).`)}
${fig('scene', figures.scene, `One training scene: among the first 20 training scenes with a look-alike distractor, the one whose distractor holds the most of OHEM's final hard RoIs (chosen to show what OHEM mines; the right-hand plot above gives the share over all of training). OHEM ranks every RoI by its loss under the current weights and keeps the ${st.roisPerImage} hardest after NMS at 0.7 within each label; the standard sampler draws at random within its IoU bands, so a distractor far from every object (IoU &lt; 0.1) never enters its batch.`)}
${fig('detections', figures.detections, 'One held-out scene (the first with at least two objects and two distractors): each model’s detections with score ≥ 0.5 after class-wise NMS. Dashed yellow: ground truth. The outlined shapes with a dim inside are background.')}
<h2>Settings</h2>
<table class="settings">
<tbody>
${settings.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}
</tbody>
</table>
<p>Every number above is in <code>results.json</code>. Regenerate with <code>npm start -- --seed ${st.seed} --iters ${st.iters}</code>.</p>
</body>
</html>
`;
};

/** Writes the report's files under `dir`; returns their paths. */
export const writeReport = (dir: string, res: DemoResults): Result<string[]> => {
  try {
    mkdirSync(dir, { recursive: true });
    const figures = { loss: lossFigure(res), map: mapFigure(res), batch: batchFigure(res), scene: sceneFigure(res), detections: detectionFigure(res) };
    const files: [string, string][] = [
      ['loss.svg', figures.loss],
      ['map.svg', figures.map],
      ['fg_fraction.svg', figures.batch],
      ['scene.svg', figures.scene],
      ['detections.svg', figures.detections],
      ['index.html', htmlReport(res, figures)],
      ['results.json', JSON.stringify(resultsJson(res), null, 1)],
    ];
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
    return E.right(files.map(([name]) => join(dir, name)));
  } catch (e) {
    return E.left(valueError('--out', `cannot write the report to ${dir}: ${(e as Error).message}`));
  }
};

export const resultsJson = (res: DemoResults) => ({
  settings: res.settings,
  seconds: res.seconds,
  summary: Object.fromEntries(SAMPLER_ORDER.map((s) => [s, summarize(res.runs[s])])),
  runs: Object.fromEntries(SAMPLER_ORDER.map((s) => [s, { iters: res.runs[s].iters, evals: res.runs[s].evals }])),
});
