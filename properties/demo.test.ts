/**
 * The demo (`ohem-ref demo`, src/demo): the world is a pure function of its seed; a short run of
 * every sampler lowers the loss over all RoIs; VOC AP matches cases computed by hand from the
 * VOC07 definition (ties in score, duplicate detections, recall exactly on an 11-point threshold);
 * the standard sampler keeps Fast R-CNN's quotas and IoU bands; each mining dialect, with the
 * attrs the demo gives it, keeps its own rule on a hand-built batch (mmdet's positive fraction, the
 * TF miner's negatives per positive, SSD's 3:1); a multi-seed run gives each seed the same bytes
 * inline, on worker threads and alone; the statistics match hand computations; the report's files
 * exist and are well-formed XML (the SVGs and the XHTML-compatible index.html); the README's
 * generated section rebuilds from what it embeds and matches a fresh run's results.json; the CLI
 * refuses a backend, a sampler or a pooler it does not have with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { seedRng, split } from '../src/core/index.js';
import { makeWorld, worldBytes, bboxTransform, bboxTransformInv, iou, K, type WorldConfig } from '../src/demo/world.js';
import { vocAp, type Detection } from '../src/demo/evaluate.js';
import { sampleRois, FAST_RCNN_SAMPLER } from '../src/demo/sampler.js';
import { stream, streamsFromSeed } from '../src/demo/rng.js';
import { initParams, runSampler, stepConfig, SAMPLERS } from '../src/demo/train.js';
import { DEMO_DEFAULTS, runDemo, trainConfig, type DemoOptions } from '../src/demo/demo.js';
import { barLine, makeProgress } from '../src/demo/progress.js';
import { FEATURE_CHANNELS } from '../src/demo/features.js';
import { MINER_ATTRS, parseSamplers } from '../src/demo/miners.js';
import { paired, spread, tQuantile975 } from '../src/demo/stats.js';
import { digestOf, type ResultsJson } from '../src/demo/results.js';
import { blockOf, digestIn, readmeBlock, withResults } from '../src/demo/readme.js';
import { FIGURE_FILES, summaryRows } from '../src/demo/report.js';
import { ohemStep, type StepBatch } from '../src/mining/ohemStep.js';
import { adoptTensor } from '../src/core/internal.js';
import { fcParams, right, leftNaming } from './support.js';

const TINY: Partial<WorldConfig> = { size: 160, trainImages: 6, testImages: 3, proposals: 48 };

// ------------------------------------------------------------------------------- the world

test('world: the same seed gives the same bytes, another seed other bytes', () => {
  const a = worldBytes(right(makeWorld(11, TINY)));
  const b = worldBytes(right(makeWorld(11, TINY)));
  const c = worldBytes(right(makeWorld(12, TINY)));
  assert.ok(a.length > 10_000);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'same seed, different bytes');
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)), 'different seeds, same bytes');
});

test('world: labels and targets follow SPEC §3.2 (fg iff IoU ≥ 0.5, GT boxes included, targets normalised per class)', () => {
  const w = right(makeWorld(5, { ...TINY, trainImages: 12 }));
  const n = new Float64Array(K), s = new Float64Array(4 * K), s2 = new Float64Array(4 * K);
  for (const e of w.train) {
    const G = e.scene.objects.length;
    const R = e.labels.length;
    for (let g = 0; g < G; g++) assert.equal(e.overlaps[g], 1, 'the GT boxes come first with overlap 1');
    for (let i = 0; i < R; i++) {
      // The max IoU recomputed here, straight from the +1 definition.
      let best = 0;
      for (const o of e.scene.objects) {
        const [x1, y1, x2, y2] = o.box;
        const bx = e.boxes.subarray(4 * i, 4 * i + 4);
        const iw = Math.min(x2, bx[2]) - Math.max(x1, bx[0]) + 1, ih = Math.min(y2, bx[3]) - Math.max(y1, bx[1]) + 1;
        if (iw > 0 && ih > 0) best = Math.max(best, (iw * ih) / ((x2 - x1 + 1) * (y2 - y1 + 1) + (bx[2] - bx[0] + 1) * (bx[3] - bx[1] + 1) - iw * ih));
      }
      assert.equal(e.overlaps[i], Math.fround(best));
      assert.equal(e.labels[i] > 0, Math.fround(best) >= 0.5, `RoI ${i}: label ${e.labels[i]} at IoU ${best}`);
      const c = e.labels[i];
      const tg = e.batch.bbox_targets.data, wi = e.batch.bbox_inside_weights.data;
      for (let k = 0; k < 4 * K; k++) assert.equal(wi[i * 4 * K + k], c > 0 && Math.floor(k / 4) === c ? 1 : 0);
      if (c > 0) {
        n[c]++;
        for (let k = 0; k < 4; k++) {
          s[4 * c + k] += tg[i * 4 * K + 4 * c + k];
          s2[4 * c + k] += tg[i * 4 * K + 4 * c + k] ** 2;
        }
      }
    }
  }
  for (let c = 1; c < K; c++) {
    if (n[c] < 2) continue;
    for (let k = 0; k < 4; k++) {
      const mean = s[4 * c + k] / n[c];
      assert.ok(Math.abs(mean) < 1e-5, `class ${c} target ${k}: normalised mean ${mean}`);
      assert.ok(Math.abs(s2[4 * c + k] / n[c] - mean * mean - 1) < 1e-4, `class ${c} target ${k}: normalised variance`);
    }
  }
});

test('world: a bad configuration is a Left naming it', () => {
  leftNaming(makeWorld(1, { size: 100 }), 'world.size');
  leftNaming(makeWorld(1, { trainImages: 0 }), 'world.trainImages');
  leftNaming(makeWorld(-1, TINY), 'seed');
});

test('bbox targets: the inverse of Fast R-CNN’s transform returns the GT box with x2, y2 one pixel further (the original’s missing −1)', () => {
  const box = fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 80 }));
  fc.assert(
    fc.property(box, box, ([x, y, w, h], [gx, gy, gw, gh]) => {
      const ex = [x, y, x + w - 1, y + h - 1], gt = [gx, gy, gx + gw - 1, gy + gh - 1];
      const d = bboxTransform(ex, 0, gt, 0);
      const back = bboxTransformInv(ex, 0, d, 0, 10_000);
      const want = [gt[0], gt[1], gt[2] + 1, gt[3] + 1];
      back.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-9, `coordinate ${i}: ${v} vs ${want[i]}`));
    }),
    fcParams(),
  );
  // Clipped to the image: [0, size − 1].
  assert.deepEqual(bboxTransformInv([0, 0, 9, 9], 0, [0, 0, Math.log(4), Math.log(4)], 0, 20), [0, 0, 19, 19]);
});

// ---------------------------------------------------------------------------------- AP

const det = (image: number, score: number, box: number[]): Detection => ({ image, score, box: box as [number, number, number, number] });
const A = [0, 0, 99, 99], B = [200, 0, 299, 99];
const ap = (d: Detection[], gts: number[][], metric: '11point' | 'area' = '11point') => right(vocAp(d, gts, { metric }));

test('VOC AP: hand cases from the VOC07 definition (11-point, IoU ≥ 0.5, duplicates are false positives)', () => {
  // Two objects found once each, nothing else: AP 1.
  assert.equal(ap([det(0, 0.9, A), det(0, 0.8, B)], [[...A, ...B]]).ap, 1);
  // A duplicate between two hits: tp 1,0,1; recall .5,.5,1; precision 1,.5,2/3.
  // t = 0…0.5 → 1 (six thresholds), t = 0.6…1 → 2/3 (five): (6 + 10/3)/11 = 28/33.
  const dup = ap([det(0, 0.9, A), det(0, 0.8, [1, 1, 99, 99]), det(0, 0.7, B)], [[...A, ...B]]);
  assert.deepEqual(Array.from(dup.tp), [1, 0, 1]);
  assert.ok(Math.abs(dup.ap - 28 / 33) < 1e-12, `AP ${dup.ap}`);
  // The same case by the VOC2010+ area: 0.5·1 + 0.5·(2/3) = 5/6.
  assert.ok(Math.abs(ap([det(0, 0.9, A), det(0, 0.8, [1, 1, 99, 99]), det(0, 0.7, B)], [[...A, ...B]], 'area').ap - 5 / 6) < 1e-12);
  // A detection whose best-overlapping GT is already taken is a false positive even if another GT
  // overlaps it by ≥ 0.5 (the devkit matches the max-IoU GT only).
  const Bnear = [10, 0, 109, 99];
  const second = [2, 0, 101, 99]; // IoU with A 0.96, with Bnear 0.85
  assert.ok(iou(second, 0, A, 0) > iou(second, 0, Bnear, 0) && iou(second, 0, Bnear, 0) >= 0.5);
  const taken = ap([det(0, 0.9, A), det(0, 0.8, second)], [[...A, ...Bnear]]);
  assert.deepEqual(Array.from(taken.tp), [1, 0]);
  assert.ok(Math.abs(taken.ap - 6 / 11) < 1e-12);
  // IoU exactly 0.5 (+1 convention: 100 / (100 + 200 − 100)) is a hit: ≥, as the devkit.
  assert.equal(iou([0, 0, 9, 9], 0, [0, 0, 9, 19], 0), 0.5);
  assert.equal(ap([det(0, 1, [0, 0, 9, 19])], [[0, 0, 9, 9]]).ap, 1);
  // Detections in another image do not match: AP 0; no GT at all: NaN (the devkit's 0/0).
  assert.equal(ap([det(1, 0.9, A)], [[...A], []]).ap, 0);
  assert.ok(Number.isNaN(ap([det(0, 0.9, A)], [[]]).ap));
  assert.equal(ap([], [[...A]]).ap, 0);
});

test('VOC AP: ties in score keep the input order (a stable sort, as the devkit’s MATLAB sort)', () => {
  const miss = [400, 400, 450, 450];
  // Tie at 0.8 between a miss (first) and a hit: tp 0,1,1 → precision 0, .5, 2/3 → AP 2/3.
  const missFirst = ap([det(0, 0.8, miss), det(0, 0.8, A), det(0, 0.5, B)], [[...A, ...B]]);
  assert.deepEqual(Array.from(missFirst.tp), [0, 1, 1]);
  assert.ok(Math.abs(missFirst.ap - 2 / 3) < 1e-12, `AP ${missFirst.ap}`);
  // The hit first: tp 1,0,1 → 28/33. The tie order changes the AP, so it is pinned.
  const hitFirst = ap([det(0, 0.8, A), det(0, 0.8, miss), det(0, 0.5, B)], [[...A, ...B]]);
  assert.ok(Math.abs(hitFirst.ap - 28 / 33) < 1e-12, `AP ${hitFirst.ap}`);
  // A tie between two detections of the same object: the first in input order takes it.
  const twin = ap([det(0, 0.7, [0, 0, 98, 98]), det(0, 0.7, A)], [[...A]]);
  assert.deepEqual(Array.from(twin.tp), [1, 0]);
});

test('VOC AP: a recall of exactly 3/10 counts at the 0.3 threshold (k/10, not numpy’s 0.30000000000000004)', () => {
  const gts = [Array.from({ length: 10 }, (_, i) => [i * 110, 0, i * 110 + 99, 99]).flat()];
  const d = [0, 1, 2].map((i) => det(0, 1 - i / 10, [i * 110, 0, i * 110 + 99, 99]));
  const r = ap(d, gts);
  assert.equal(r.recall[2], 0.3);
  assert.ok(Math.abs(r.ap - 4 / 11) < 1e-12, `AP ${r.ap} (3/11 would mean the 0.3 threshold missed)`);
});

test('VOC AP: properties — in [0, 1], 1 for perfect detections, invariant to the order of the input when scores are distinct', () => {
  const boxArb = fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 5, max: 60 }), fc.integer({ min: 5, max: 60 })).map(([x, y, w, h]) => [x, y, x + w, y + h]);
  const caseArb = fc.record({
    // Distinct GT boxes per image (two identical GT boxes cannot both be the max-IoU match of a detection).
    gts: fc.array(fc.uniqueArray(boxArb, { maxLength: 4, selector: (b) => b.join(',') }), { minLength: 1, maxLength: 3 }),
    dets: fc.array(fc.record({ image: fc.nat(2), box: boxArb }), { maxLength: 12 }),
  });
  fc.assert(
    fc.property(caseArb, fc.boolean(), ({ gts, dets }, useArea) => {
      const g = gts.map((x) => x.flat());
      const ds = dets.filter((d) => d.image < gts.length).map((d, i) => det(d.image, 1 - i / 100, d.box));
      const npos = gts.reduce((s, x) => s + x.length, 0);
      const r = ap(ds, g, useArea ? 'area' : '11point');
      if (npos === 0) return assert.ok(Number.isNaN(r.ap));
      assert.ok(r.ap >= 0 && r.ap <= 1 + 1e-12, `AP ${r.ap}`);
      assert.equal(ap([...ds].reverse(), g, useArea ? 'area' : '11point').ap, r.ap);
      // Every GT box found once, first: AP 1.
      const perfect = gts.flatMap((x, im) => x.map((b, j) => det(im, 2 + j / 10, b)));
      assert.ok(Math.abs(ap([...perfect, ...ds], g, useArea ? 'area' : '11point').ap - 1) < 1e-12);
    }),
    fcParams(100),
  );
});

test('VOC AP: bad input is a Left naming it', () => {
  leftNaming(vocAp([det(3, 0.5, A)], [[...A]]), 'detections');
  leftNaming(vocAp([det(0, NaN, A)], [[...A]]), 'detections');
  leftNaming(vocAp([], [[1, 2, 3]]), 'gts');
  leftNaming(vocAp([], [[...A]], { iouThreshold: 2 }), 'opts.iouThreshold');
});

// ------------------------------------------------------------------------------- sampler

test('standard sampler: 16 fg from IoU ≥ 0.5, the rest bg from IoU in [0.1, 0.5), distinct, never below 0.1, reproducible', () => {
  const overlapArb = fc.array(fc.oneof(fc.constantFrom(0, 0.0999, 0.1, 0.4999, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 150 });
  fc.assert(
    fc.property(overlapArb, fc.nat(1000), (ov, seed) => {
      const o = Float32Array.from(ov);
      const draw = () => right(sampleRois(stream(right(seedRng(seed))), o));
      const inds = draw();
      assert.deepEqual(Array.from(draw()), Array.from(inds), 'same stream, same draw');
      assert.equal(new Set(inds).size, inds.length, 'distinct');
      const nFg = Array.from(o).filter((v) => v >= 0.5).length;
      const nBg = Array.from(o).filter((v) => v >= 0.1 && v < 0.5).length;
      const fg = Math.min(16, nFg);
      assert.equal(inds.length, fg + Math.min(64 - fg, nBg));
      inds.forEach((i, k) => (k < fg ? assert.ok(o[i] >= 0.5) : assert.ok(o[i] >= 0.1 && o[i] < 0.5, `bg RoI at IoU ${o[i]}`)));
    }),
    fcParams(),
  );
  leftNaming(sampleRois(stream(right(seedRng(1))), [0.5], { ...FAST_RCNN_SAMPLER, fg_fraction: 2 }), 'sampler.fg_fraction');
});

// ------------------------------------------------------------------------------ training

test('training: a short run lowers the loss over all held-out RoIs, for every sampler', () => {
  const w = right(makeWorld(3, { size: 160, trainImages: 10, testImages: 4, proposals: 64 }));
  const st = right(streamsFromSeed(3));
  const cfg = { ...trainConfig({ iters: 30 }), evalEvery: 30 };
  const init = initParams(st.init, FEATURE_CHANNELS * cfg.pooled * cfg.pooled, cfg.hidden);
  assert.equal(SAMPLERS.length, 6);
  for (const s of SAMPLERS) {
    const r = right(runSampler(w, s, init, cfg, st));
    assert.equal(r.evals.length, 2);
    assert.equal(r.iters.length, 30);
    const [first, last] = [r.evals[0], r.evals[1]];
    assert.ok(last.loss < 0.8 * first.loss, `${s}: all-RoI loss ${first.loss} → ${last.loss}`);
    for (const it of r.iters) assert.ok(it.rois > 0 && it.fgFraction >= 0 && it.fgFraction <= 1);
    if (s !== 'ssd-hard-negative') for (const it of r.iters) assert.ok(it.rois <= 2 * cfg.rois_per_image, `${s}: ${it.rois} RoIs`);
    if (s === 'standard') assert.ok(r.iters.every((it) => it.lowIouFraction === 0), 'the standard sampler never draws IoU < 0.1');
    // Without a clock every timing is 0, and the numbers are the same with one.
    assert.deepEqual(r.timing, { iterSeconds: 0, evalSeconds: 0, probes: s.startsWith('standard') ? 0 : 30, probeIterSeconds: 0, probeReadonlySeconds: 0 });
  }
  let t = 0;
  const timed = right(runSampler(w, 'caffe-ohem', init, { ...cfg, iters: 4, evalEvery: 4 }, st, { now: () => (t += 1) }));
  const plain = right(runSampler(w, 'caffe-ohem', init, { ...cfg, iters: 4, evalEvery: 4 }, st));
  assert.deepEqual(timed.evals, plain.evals);
  assert.ok(timed.timing.iterSeconds > 0 && timed.timing.probeReadonlySeconds > 0 && timed.timing.probes === 4);
});

// ---------------------------------------------------------------------------- the dialects

/**
 * A hand-built batch: one 16×16 feature map (image 256 px at stride 16) and 225 RoIs of 32×32 px on
 * a 16-px grid (every two overlap by IoU ≤ 1/3, so no NMS at 0.7 suppresses any), `P` of them
 * foreground of classes 1–3 with small regression targets.
 */
const handBatch = (P: number, seed: number): StepBatch => {
  const s = stream(right(seedRng(seed)));
  const C = FEATURE_CHANNELS, H = 16, W = 16, R = 225, D = 4 * K;
  const rois = new Float32Array(R * 5), labels = new Float32Array(R);
  const tg = new Float32Array(R * D), wi = new Float32Array(R * D);
  const pos = new Set(s.choice(Array.from({ length: R }, (_, i) => i), P));
  for (let i = 0; i < R; i++) {
    const x = (i % 15) * 16, y = Math.floor(i / 15) * 16;
    rois.set([0, x, y, x + 31, y + 31], i * 5);
    if (pos.has(i)) {
      const c = 1 + (i % 3);
      labels[i] = c;
      for (let k = 0; k < 4; k++) {
        tg[i * D + 4 * c + k] = 0.5 * s.normal();
        wi[i * D + 4 * c + k] = 1;
      }
    }
  }
  return {
    features: adoptTensor('float32', [1, C, H, W], Float32Array.from(s.normals(C * H * W))),
    rois: adoptTensor('float32', [R, 5], rois),
    labels: adoptTensor('float32', [R], labels),
    bbox_targets: adoptTensor('float32', [R, D], tg),
    bbox_inside_weights: adoptTensor('float32', [R, D], wi),
    bbox_outside_weights: adoptTensor('float32', [R, D], Float32Array.from(wi)),
  };
};

/** The `k` indices of `idx` with the largest `v` (no ties in these cases). */
const topBy = (idx: number[], v: ArrayLike<number>, k: number) => [...idx].sort((a, b) => v[b] - v[a]).slice(0, k);

test('dialects: each miner, with the attrs the demo gives it, keeps its own rule on a hand-built batch', () => {
  const cfg = trainConfig({ iters: 10 });
  const params = initParams(right(seedRng(77)), FEATURE_CHANNELS * cfg.pooled * cfg.pooled, 16);
  for (const [P, seed] of [[40, 1], [5, 2], [0, 3]] as const) {
    const b = handBatch(P, seed);
    const lab = b.labels.data;
    const run = (d: keyof typeof MINER_ATTRS) => {
      const r = ohemStep(stepConfig(cfg, d))(params, b);
      return r;
    };
    const R = lab.length;
    const all = Array.from({ length: R }, (_, i) => i);
    const posIdx = all.filter((i) => lab[i] > 0), negIdx = all.filter((i) => lab[i] === 0);
    const isPos = (i: number) => lab[i] > 0;
    // caffe-ohem: the 64 hardest by roi_loss (nothing is suppressed), in descending loss.
    {
      const r = right(run('caffe-ohem'));
      const h = Array.from(r.hard_inds.data);
      assert.deepEqual(h, topBy(all, r.roi_loss.data, 64), `caffe-ohem P=${P}`);
    }
    // mmdet-ohem (num 64, pos_fraction 0.25): ⌊64 · 0.25⌋ = 16 positives at most, the hardest by
    // cls_loss; negatives fill the rest of 64; output ascending within each pool.
    {
      const r = right(run('mmdet-ohem'));
      const h = Array.from(r.hard_inds.data);
      const hp = h.filter(isPos), hn = h.filter((i) => !isPos(i));
      assert.equal(hp.length, Math.min(16, P), `mmdet positives P=${P}`);
      assert.equal(h.length, 64, 'mmdet fills num');
      if (P >= 16) assert.equal(hp.length / h.length, 0.25, 'the positive fraction');
      assert.deepEqual(hp, topBy(posIdx, r.cls_loss.data, 16).sort((x, y) => x - y));
      assert.deepEqual(hn, topBy(negIdx, r.cls_loss.data, 64 - hp.length).sort((x, y) => x - y));
      assert.deepEqual(h, [...hp, ...hn], 'positives first');
    }
    // tf-hard-example-miner: the 64 hardest by cls + bbox (weights 1, 1) after NMS (none here), then
    // every positive among them and at most max(3, ⌊3 · #pos⌋) negatives, in selection order.
    {
      const r = right(run('tf-hard-example-miner'));
      const h = Array.from(r.hard_inds.data);
      const score = Float64Array.from(all, (i) => r.cls_loss.data[i] + r.bbox_loss.data[i]);
      const sel = topBy(all, score, 64);
      const Psel = sel.filter(isPos).length;
      const maxNeg = Math.max(3, Math.floor(3 * Psel));
      const hn = h.filter((i) => !isPos(i));
      assert.ok(hn.length <= maxNeg, `TF: ${hn.length} negatives for ${Psel} positives`);
      assert.equal(hn.length, Math.min(maxNeg, 64 - Psel));
      assert.equal(h.filter(isPos).length, Psel);
      let neg = 0;
      assert.deepEqual(h, sel.filter((i) => isPos(i) || ++neg <= maxNeg), 'selection order');
    }
    // ssd-hard-negative: every positive and the 3·#pos hardest negatives by cls_loss (3:1), ascending.
    {
      const r = run('ssd-hard-negative');
      if (P === 0) {
        leftNaming(r, 'labels'); // no positive: SSD selects nothing, and the step says so
        continue;
      }
      const h = Array.from(right(r).hard_inds.data);
      const hn = h.filter((i) => !isPos(i));
      assert.equal(h.filter(isPos).length, P);
      assert.equal(hn.length, Math.min(3 * P, negIdx.length));
      assert.equal(hn.length / P, 3, 'SSD 3:1');
      assert.deepEqual(h, [...posIdx, ...topBy(negIdx, right(r).cls_loss.data, 3 * P)].sort((x, y) => x - y));
    }
  }
  assert.deepEqual(parseSamplers('standard, caffe-ohem'), { ok: ['standard', 'caffe-ohem'] });
  assert.deepEqual(parseSamplers('all'), { ok: [...SAMPLERS] });
  assert.deepEqual(parseSamplers('standard,ohem'), { bad: 'ohem' });
  assert.deepEqual(parseSamplers('standard,standard'), { bad: 'standard' });
});

test('pooler: --pooler roi_align gives every step and the evaluation the RoIAlign attrs; roi_pool gives none', () => {
  const align = trainConfig({ iters: 10, pooler: 'roi_align' });
  for (const s of SAMPLERS) {
    const c = stepConfig(align, s) as Record<string, unknown>;
    assert.equal(c.pooler, 'roi_align', s);
    assert.equal(c.sampling_ratio, 2);
    assert.equal(c.aligned, true);
    assert.ok(!('pooler' in stepConfig(trainConfig({ iters: 10 }), s)));
  }
  assert.equal(stepConfig(align, 'standard').selection, 'all');
  assert.equal(stepConfig(align, 'mmdet-ohem').dialect, 'mmdet-ohem');
  // The step and the evaluation take them: a short RoIAlign run of every sampler lowers the
  // all-RoI loss, and it is not the RoI-pooling run.
  const w = right(makeWorld(3, { size: 160, trainImages: 10, testImages: 4, proposals: 64 }));
  const st = right(streamsFromSeed(3));
  const cfg = { ...trainConfig({ iters: 30, pooler: 'roi_align' }), evalEvery: 30 };
  const init = initParams(st.init, FEATURE_CHANNELS * cfg.pooled * cfg.pooled, cfg.hidden);
  for (const s of SAMPLERS) {
    const r = right(runSampler(w, s, init, cfg, st));
    assert.ok(r.evals[1].loss < 0.8 * r.evals[0].loss, `${s} on RoIAlign: all-RoI loss ${r.evals[0].loss} → ${r.evals[1].loss}`);
    if (s === 'caffe-ohem') {
      const pool = right(runSampler(w, s, init, { ...cfg, pooler: undefined }, st));
      assert.notEqual(pool.evals[1].loss, r.evals[1].loss);
    }
  }
});

// ------------------------------------------------------------------------------- statistics

test('statistics: mean, sample sd, t-intervals and paired differences by hand', () => {
  const s = spread([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.sd - Math.sqrt(5 / 3)) < 1e-12);
  const half = (3.182 * Math.sqrt(5 / 3)) / 2;
  assert.ok(Math.abs(s.lo - (2.5 - half)) < 1e-12 && Math.abs(s.hi - (2.5 + half)) < 1e-12);
  const one = spread([0.7]);
  assert.equal(one.mean, 0.7);
  assert.ok(Number.isNaN(one.sd) && Number.isNaN(one.lo));
  // Paired: the differences' spread, not the difference of spreads.
  const d = paired([0.9, 0.8, 0.95], [0.8, 0.7, 0.85]);
  assert.ok(Math.abs(d.mean - 0.1) < 1e-12 && d.sd < 1e-12);
  assert.equal(tQuantile975(2), 4.303);
  assert.equal(tQuantile975(100), 1.96);
});

// ----------------------------------------------------------------------- progress and report

test('progress: a bar with count, loss and it/s; \\r on a TTY, whole lines every N iterations otherwise', () => {
  const line = barLine('OHEM', 50, 200, 0.52346, 12.5, 4, 20);
  assert.match(line, /^OHEM │█████ {15}│  50\/200  loss 0\.5235  12\.5 it\/s  4\.0s eta 12\.0s$/);
  let t = 0;
  const now = () => t;
  const tty: string[] = [];
  const p = makeProgress({ isTTY: true, columns: 200, write: (s) => tty.push(s) }, 'x', 10, now);
  for (let i = 1; i <= 10; i++) {
    t += 200;
    p.tick(i, 1 / i);
  }
  p.done();
  assert.ok(tty.slice(0, -1).every((s) => s.startsWith('\r') && !s.includes('\n')));
  assert.equal(tty[tty.length - 1], '\n');
  // A log line on a TTY ends with a newline and the bar is drawn again below it.
  const logged: string[] = [];
  const l = makeProgress({ isTTY: true, columns: 200, write: (s) => logged.push(s) }, 'x', 10, now);
  l.tick(10, 1);
  l.log('seed 1 done');
  assert.match(logged[logged.length - 2], /^\rseed 1 done\s*\n$/);
  assert.match(logged[logged.length - 1], /^\rx │/);
  assert.doesNotMatch(barLine('all', 1, 2, NaN, 1, 1), /loss/, 'no loss, no loss column');
  const pipe: string[] = [];
  const q = makeProgress({ isTTY: false, write: (s) => pipe.push(s) }, 'x', 10, now, 5);
  for (let i = 1; i <= 10; i++) q.tick(i, 1);
  q.done('end');
  assert.equal(pipe.length, 2);
  assert.ok(pipe.every((s) => s.endsWith('\n') && !s.includes('\r')));
});

/**
 * A strict XML well-formedness check (enough for SVG and XHTML-compatible HTML): one root element,
 * properly nested and closed tags, quoted and unique attributes, only the five predefined or
 * numeric entities, no raw `<` or `&` in text or attribute values.
 */
const checkXml = (text: string, what: string): { root: string; elements: Map<string, number> } => {
  const fail = (msg: string, at: number): never => assert.fail(`${what}: ${msg} at offset ${at}: ${JSON.stringify(text.slice(at, at + 60))}`);
  const entity = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;
  const checkText = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const ch = text[i];
      if (ch === '<') fail('raw < in text', i);
      if (ch === '&') {
        entity.lastIndex = i;
        if (!entity.test(text)) fail('bad entity', i);
      }
    }
  };
  const name = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const stack: string[] = [];
  const elements = new Map<string, number>();
  let root = '';
  let i = 0;
  let closedRoot = false;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const end = lt < 0 ? text.length : lt;
    if (stack.length === 0 && text.slice(i, end).trim() !== '') fail('text outside the root element', i);
    checkText(i, end);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const c = text.indexOf('-->', lt + 4);
      if (c < 0) fail('unclosed comment', lt);
      i = c + 3;
    } else if (text.startsWith('<?', lt)) {
      const c = text.indexOf('?>', lt);
      if (c < 0 || root) fail('misplaced processing instruction', lt);
      i = c + 2;
    } else if (text.startsWith('<!DOCTYPE', lt)) {
      const c = text.indexOf('>', lt);
      if (root) fail('DOCTYPE after the root', lt);
      i = c + 1;
    } else if (text.startsWith('</', lt)) {
      name.lastIndex = lt + 2;
      if (!name.test(text)) fail('bad end tag', lt);
      const tag = text.slice(lt + 2, name.lastIndex);
      const c = text.indexOf('>', name.lastIndex);
      if (text.slice(name.lastIndex, c).trim() !== '') fail('junk in end tag', lt);
      if (stack.pop() !== tag) fail(`</${tag}> does not close the open element`, lt);
      if (stack.length === 0) closedRoot = true;
      i = c + 1;
    } else {
      if (closedRoot) fail('a second root element', lt);
      name.lastIndex = lt + 1;
      if (!name.test(text)) fail('bad start tag', lt);
      const tag = text.slice(lt + 1, name.lastIndex);
      let j = name.lastIndex;
      const seen = new Set<string>();
      for (;;) {
        const ws = /\s*/y;
        ws.lastIndex = j;
        ws.test(text);
        const hadSpace = ws.lastIndex > j;
        j = ws.lastIndex;
        if (text.startsWith('/>', j) || text[j] === '>') break;
        if (!hadSpace) fail('attributes must be separated by white space', j);
        name.lastIndex = j;
        if (!name.test(text)) fail('bad attribute name', j);
        const attr = text.slice(j, name.lastIndex);
        if (seen.has(attr)) fail(`duplicate attribute ${attr}`, j);
        seen.add(attr);
        j = name.lastIndex;
        if (text[j] !== '=') fail(`attribute ${attr} without a value`, j);
        const q = text[j + 1];
        if (q !== '"' && q !== "'") fail(`unquoted value of ${attr}`, j);
        const close = text.indexOf(q, j + 2);
        if (close < 0) fail('unclosed attribute value', j);
        checkText(j + 2, close);
        j = close + 1;
      }
      elements.set(tag, (elements.get(tag) ?? 0) + 1);
      if (!root) root = tag;
      if (text.startsWith('/>', j)) {
        if (stack.length === 0) closedRoot = true;
        i = j + 2;
      } else {
        stack.push(tag);
        i = j + 1;
      }
    }
  }
  if (stack.length) fail(`unclosed <${stack[stack.length - 1]}>`, text.length);
  if (!root) fail('no root element', 0);
  return { root, elements };
};

test('the XML checker itself rejects what it must', () => {
  assert.equal(checkXml('<svg a="1"><g/><text>x &amp; y</text></svg>', 'ok').root, 'svg');
  for (const bad of ['<a><b></a></b>', '<a x=1/>', '<a x="1" x="2"/>', '<a>1 < 2</a>', '<a>&nbsp;</a>', '<a/><b/>', '<a>', '<a x="<"/>'])
    assert.throws(() => checkXml(bad, 'bad'), assert.AssertionError, bad);
});

const TINY_RUN: Omit<DemoOptions, 'out'> = {
  iters: 6,
  seed: 9,
  seeds: 2,
  samplers: SAMPLERS,
  backend: 'reference',
  pooler: 'roi_pool',
  evalEvery: 3,
  world: { size: 160, trainImages: 6, testImages: 3, proposals: 48 },
};
const quiet = { stderr: { isTTY: false, write: () => 0 }, stdout: { write: () => 0 }, now: () => performance.now() };

/** A tiny demo run into a fresh directory; the directory is removed after `f`. */
const withRun = async <A>(o: Partial<DemoOptions>, f: (dir: string, r: Awaited<ReturnType<typeof runDemo>>) => A | Promise<A>, io: Parameters<typeof runDemo>[1] = quiet): Promise<A> => {
  const dir = mkdtempSync(join(tmpdir(), 'ohem-demo-'));
  try {
    return await f(dir, await runDemo({ ...TINY_RUN, ...o, out: dir }, io));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
const readJson = (dir: string): ResultsJson => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));

test('report: a tiny demo run writes index.html and the SVGs, all well-formed, with the plots, their error bars and the table', async () => {
  const out: string[] = [];
  const err: string[] = [];
  await withRun(
    { jobs: 1 },
    (dir, r) => {
      const { files, results } = right(r);
      const svgs = Object.values(FIGURE_FILES);
      assert.equal(svgs.length, 7);
      for (const f of [...svgs, 'index.html', 'results.json']) {
        assert.ok(existsSync(join(dir, f)), `${f} missing`);
        assert.ok(files.includes(join(dir, f)));
      }
      for (const f of svgs) {
        const { root, elements } = checkXml(readFileSync(join(dir, f), 'utf8'), f);
        assert.equal(root, 'svg');
        assert.ok((elements.get('path') ?? 0) + (elements.get('image') ?? 0) + (elements.get('rect') ?? 0) >= 2, `${f} draws nothing`);
      }
      // Error bars: whiskers with caps (one path each) on every plot of numbers over seeds.
      for (const f of ['map.svg', 'paired.svg', 'loss.svg', 'batch.svg', 'cost.svg']) {
        const bars = (readFileSync(join(dir, f), 'utf8').match(/<path d="M[-\d.]+,[-\d.]+ L[-\d.]+,[-\d.]+ M/g) ?? []).length;
        assert.ok(bars >= SAMPLERS.length - 1, `${f}: ${bars} error bars`);
      }
      const html = readFileSync(join(dir, 'index.html'), 'utf8');
      assert.ok(html.startsWith('<!DOCTYPE html>'));
      const { root, elements } = checkXml(html, 'index.html');
      assert.equal(root, 'html');
      assert.equal(elements.get('svg'), 7, 'seven figures inline');
      assert.ok((elements.get('table') ?? 0) >= 3 && (elements.get('figure') ?? 0) === 7);
      for (const s of SAMPLERS) assert.ok(html.includes(`<th>${s === 'standard' ? 'standard (FRCN)' : s === 'standard_bg0' ? 'standard, BG_LO 0' : s}</th>`), `${s} row`);
      for (const d of Object.keys(MINER_ATTRS)) assert.ok(html.includes(`<th>${d}</th>`), `${d}'s attrs`);
      const json = readJson(dir);
      assert.deepEqual(json.settings.seeds, [9, 10]);
      for (const s of SAMPLERS) {
        assert.equal(json.runs[s]!.length, 2);
        assert.equal(json.runs[s]![0].evals.length, 3);
        assert.equal(json.summary[s]!.mAP.n, 2);
        assert.ok(json.cost[s]!.secondsPerIter.mean > 0);
        assert.equal(json.cost[s]!.readonlyShare.mean > 0, !s.startsWith('standard'), `${s}: read-only share`);
      }
      assert.equal(json.summary.standard!.dMAP, null);
      assert.deepEqual(json.summary['caffe-ohem']!.dMAP!.values, json.runs['caffe-ohem']!.map((r, i) => r.final.mAP - json.runs.standard![i].final.mAP));
      // The terminal table names every sampler with its mean mAP.
      const table = out.join('');
      for (const s of SAMPLERS) assert.ok(table.includes(results.summary[s]!.mAP.mean.toFixed(3)), `${s} in the table`);
      assert.match(table, /standard \(FRCN\)/);
      assert.match(table, /Ranked by mean mAP over 2 seeds/);
      assert.ok(err.join('').includes('12 runs'), 'progress lines on stderr');
    },
    { stderr: { isTTY: false, write: (x) => err.push(x) }, stdout: { write: (x) => out.push(x) }, now: () => performance.now() },
  );
});

test('determinism: each seed of a multi-seed run gives the same bytes inline, on two worker threads, and alone', async () => {
  const inline = await withRun({ jobs: 1 }, (dir) => readJson(dir));
  const threads = await withRun({ jobs: 2 }, (dir) => readJson(dir));
  const alone = await withRun({ jobs: 1, seed: 10, seeds: 1 }, (dir) => readJson(dir));
  for (const s of SAMPLERS) {
    for (let k = 0; k < 2; k++) assert.equal(JSON.stringify(threads.runs[s]![k]), JSON.stringify(inline.runs[s]![k]), `${s}, seed ${9 + k}`);
    assert.equal(JSON.stringify(alone.runs[s]![0]), JSON.stringify(inline.runs[s]![1]), `${s}, seed 10 alone`);
  }
  assert.equal(JSON.stringify(threads.summary), JSON.stringify(inline.summary));
  assert.equal(JSON.stringify(threads.scene), JSON.stringify(inline.scene));
  assert.notEqual(JSON.stringify(inline.runs.standard![0]), JSON.stringify(inline.runs.standard![1]), 'two seeds, two worlds');
});

const README = fileURLToPath(new URL('../README.md', import.meta.url));

test('README: the generated section rebuilds byte for byte from the digest it embeds (generated, not typed)', () => {
  const b = blockOf(readFileSync(README, 'utf8'));
  assert.ok(b, 'README.md has the BEGIN/END DEMO RESULTS markers');
  const d = digestIn(b.text);
  assert.ok(d, 'the block embeds its digest');
  assert.equal(readmeBlock(d), b.text);
  // The table in the block is the table of the digest.
  for (const row of summaryRows(d).slice(1)) assert.ok(b.text.includes(`| ${row.join(' | ')} |`), row[0]);
  assert.deepEqual(d.settings.samplers, [...SAMPLERS]);
  assert.equal(d.settings.seeds.length, DEMO_DEFAULTS.seeds);
  assert.equal(d.settings.iters, DEMO_DEFAULTS.iters);
});

test('README: the section generated from a fresh run’s results.json holds that run’s numbers', async () => {
  await withRun({ jobs: 1 }, (dir) => {
    const json = readJson(dir);
    const readme = readFileSync(README, 'utf8');
    const next = right(withResults(readme, json));
    const b = blockOf(next)!;
    // Everything outside the block is untouched.
    const old = blockOf(readme)!;
    assert.equal(next.slice(0, b.start), readme.slice(0, old.start));
    assert.equal(next.slice(b.end), readme.slice(old.end));
    const d = digestIn(b.text)!;
    assert.deepEqual(d, JSON.parse(JSON.stringify(digestOf(json as never))));
    for (const s of SAMPLERS) {
      const m = json.summary[s]!.mAP;
      assert.ok(b.text.includes(`${m.mean.toFixed(3)} ± ${m.sd.toFixed(3)}`), `${s}: mAP ${m.mean} ± ${m.sd}`);
      assert.ok(b.text.includes(`${json.summary[s]!.allRoiLoss.mean.toFixed(3)} ± ${json.summary[s]!.allRoiLoss.sd.toFixed(3)}`));
    }
    assert.equal(readmeBlock(d), b.text);
    // Without markers there is nothing to replace.
    leftNaming(withResults('# no markers\n', json), '--update-readme');
  });
});

test('demo options: an unknown or unavailable backend, sampler or pooler or a bad option is a Left naming it; the CLI exits 2 with a clear message', async () => {
  const io = { stderr: { write: () => 0 }, stdout: { write: () => 0 }, now: () => 0 };
  const base = { ...DEMO_DEFAULTS, out: 'x' };
  const e = leftNaming(await runDemo({ ...base, iters: 1, backend: 'gpu' }, io), '--backend');
  assert.equal(e._tag, 'ValueError');
  // Every backend of src/gpu is a name the demo takes; one that cannot run here says why.
  const u = leftNaming(await runDemo({ ...base, iters: 1, backend: 'gpujs-webgpu' }, io), '--backend');
  assert.equal(u._tag, 'Unsupported');
  assert.match(u.message, /webgpu is not available here/);
  leftNaming(await runDemo({ ...base, iters: 0 }, io), '--iters');
  leftNaming(await runDemo({ ...base, seeds: 0 }, io), '--seeds');
  leftNaming(await runDemo({ ...base, samplers: [] }, io), '--samplers');
  leftNaming(await runDemo({ ...base, samplers: ['standard', 'standard'] }, io), '--samplers');
  leftNaming(await runDemo({ ...base, samplers: ['ohem' as never] }, io), '--samplers');
  leftNaming(await runDemo({ ...base, pooler: 'roi_warp' as never }, io), '--pooler');
  leftNaming(await runDemo({ ...base, jobs: 0 }, io), '--jobs');
  const bin = fileURLToPath(new URL('../bin/ohem-ref.mjs', import.meta.url));
  const cli = (...args: string[]) => spawnSync(process.execPath, [bin, 'demo', ...args], { encoding: 'utf8' });
  const bad = cli('--backend', 'webgl');
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--backend: is "webgl", expected one of "reference", "gpujs-cpu"/);
  const help = cli('--help');
  assert.equal(help.status, 0);
  for (const o of ['--iters', '--seed', '--seeds', '--samplers', '--jobs', '--pooler', '--out', '--backend', '--update-readme', '--help']) assert.ok(help.stdout.includes(o), `usage lacks ${o}`);
  const iters = cli('--iters', 'many');
  assert.equal(iters.status, 2);
  assert.match(iters.stderr, /--iters must be a non-negative integer/);
  const samplers = cli('--samplers', 'standard,ohem');
  assert.equal(samplers.status, 2);
  assert.match(samplers.stderr, /--samplers: "ohem" is not a sampler/);
  const pooler = cli('--pooler', 'roi_warp');
  assert.equal(pooler.status, 2);
  assert.match(pooler.stderr, /--pooler: is "roi_warp", expected one of "roi_pool", "roi_align"/);
  const noResults = cli('--update-readme', '--out', join(tmpdir(), 'ohem-no-such-dir'), '--readme', join(tmpdir(), 'ohem-no-such-readme.md'));
  assert.equal(noResults.status, 1);
  assert.match(noResults.stderr, /cannot read .*results\.json/);
});

test('streams: one seed splits into independent, reproducible streams', () => {
  const a = right(streamsFromSeed(4)), b = right(streamsFromSeed(4));
  assert.deepEqual(a, b);
  const [x, y] = split(right(seedRng(4)), 2);
  assert.notDeepEqual(stream(x).permutation(20), stream(y).permutation(20));
});
