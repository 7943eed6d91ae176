/**
 * `ohem-ref demo` — the main job: OHEM and the standard Fast R-CNN sampler trained side by side on
 * one synthetic detection world, evaluated on held-out scenes, reported in pictures
 * (report/index.html) and in a table on stdout. Progress goes to stderr.
 *
 * Everything but the clock, the progress bar and the files is a pure function of the options: the
 * same seed gives the same world, the same runs and the same numbers.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, checkEnum, checkInt, rangeError, relabel, split } from '../core/index.js';
import { createBackend, PROTOCOL_BACKENDS, type Backend, type ProtocolBackend } from '../gpu/index.js';
import { ohemStep } from '../mining/ohemStep.js';
import { FEATURE_CHANNELS } from './features.js';
import { makeProgress, type ProgressSink } from './progress.js';
import { type DemoResults, type DemoSettings, NAMES, terminalTable, writeReport } from './report.js';
import { stream, streamsFromSeed } from './rng.js';
import { FAST_RCNN_SAMPLER, sampleRois } from './sampler.js';
import { initParams, runSampler, SAMPLERS, type RunHistory, type SamplerName, type TrainConfig } from './train.js';
import { type Entry, makeWorld, WORLD_DEFAULTS, type WorldConfig } from './world.js';

/** Every backend of src/gpu, by its protocol name (reference, gpujs-cpu, gpujs-webasm, gpujs-headlessgl, gpujs-webgpu, auto). */
export const BACKENDS = Object.keys(PROTOCOL_BACKENDS) as ProtocolBackend[];

export interface DemoOptions {
  readonly iters: number;
  readonly seed: number;
  readonly out: string;
  readonly backend: string;
  /** Smaller worlds for tests. */
  readonly world?: Partial<WorldConfig>;
  readonly evalEvery?: number;
}

export const DEMO_DEFAULTS: DemoOptions = Object.freeze({ iters: 1000, seed: 2016, out: 'report', backend: 'reference' });

/** The head and solver shared by every sampler (see the README's demo section for the reasons). */
export const HEAD = Object.freeze({ pooled: 3, hidden: 64, roisPerImage: 64, dropout: 0 });

export const trainConfig = (o: DemoOptions): TrainConfig => ({
  iters: o.iters,
  evalEvery: o.evalEvery ?? Math.max(1, Math.round(o.iters / 8)),
  pooled: HEAD.pooled,
  hidden: HEAD.hidden,
  rois_per_image: HEAD.roisPerImage,
  dropout_ratio: HEAD.dropout,
  solver: {
    base_lr: 0.01,
    gamma: 0.1,
    // OHEM's schedule drops the rate once, at 30k of 40k iterations: the same three quarters here.
    stepsize: Math.max(1, Math.round(0.75 * o.iters)),
    momentum: 0.9,
    weight_decay: 0.0005,
    iter_size: 2,
  },
});

/** Checks the options: a Left names the option. */
export const checkOptions = (o: DemoOptions): Result<DemoOptions> => {
  const it = checkInt('--iters', o.iters, 1, 1_000_000);
  if (E.isLeft(it)) return it;
  const sd = checkInt('--seed', o.seed, 0);
  if (E.isLeft(sd)) return sd;
  if (typeof o.out !== 'string' || o.out.length === 0) return E.left(rangeError('--out', 'must be a directory path'));
  const b = checkEnum('--backend', o.backend, BACKENDS);
  if (E.isLeft(b)) return b;
  return E.right(o);
};

/** The first scene with enough objects and distractors (else the one with the most distractors). */
const pickScene = (entries: readonly Entry[], minObjects: number, minDistractors: number): Entry =>
  entries.find((e) => e.scene.objects.length >= minObjects && e.scene.distractors.length >= minDistractors) ??
  entries.reduce((b, e) => (e.scene.distractors.length > b.scene.distractors.length ? e : b), entries[0]);

export interface DemoIo {
  readonly stderr: ProgressSink;
  readonly stdout: { write(s: string): unknown };
  readonly now: () => number;
}

/** Runs the demo; returns the results and the report's files. */
export const runDemo = (options: DemoOptions, io: DemoIo): Result<{ results: DemoResults; files: string[] }> => {
  const ok = checkOptions(options);
  if (E.isLeft(ok)) return ok;
  const o = ok.right;
  // The backend runs the heavy kernels of every sampler; one not available here is a Left naming --backend.
  const backend = createBackend({ mode: PROTOCOL_BACKENDS[o.backend as ProtocolBackend] });
  if (E.isLeft(backend)) return E.left(relabel(backend.left, '--backend', `${o.backend}: ${backend.left.what}`));
  const tStart = io.now();
  const streams = streamsFromSeed(o.seed);
  if (E.isLeft(streams)) return streams;
  if (io.stderr.isTTY) io.stderr.write('building the synthetic world …');
  const world = makeWorld(o.seed, { ...WORLD_DEFAULTS, ...o.world });
  if (E.isLeft(world)) return world;
  const w = world.right;
  const tWorld = (io.now() - tStart) / 1000;
  io.stderr.write(`${io.stderr.isTTY ? '\r' : ''}world: ${w.train.length} training + ${w.test.length} held-out scenes, ${w.config.size}×${w.config.size} px, ${w.config.proposals} proposals each (${tWorld.toFixed(1)} s)\n`);
  try {
    return runWith(o, io, w, tStart, tWorld, streams.right, backend.right);
  } finally {
    void backend.right.destroy();
  }
};

const runWith = (
  o: DemoOptions,
  io: DemoIo,
  w: ReturnType<typeof makeWorld> extends Result<infer A> ? A : never,
  tStart: number,
  tWorld: number,
  rngs: ReturnType<typeof streamsFromSeed> extends Result<infer A> ? A : never,
  backend: Backend,
): Result<{ results: DemoResults; files: string[] }> => {
  if (backend.name !== 'reference') io.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
  const cfg = { ...trainConfig(o), kernels: backend };
  const init = initParams(rngs.init, FEATURE_CHANNELS * cfg.pooled * cfg.pooled, cfg.hidden);
  const runs = {} as Record<SamplerName, RunHistory>;
  const seconds = {} as Record<SamplerName, number>;
  for (const s of SAMPLERS) {
    const t0 = io.now();
    const bar = makeProgress(io.stderr, NAMES[s].padEnd(24), o.iters, io.now);
    let smooth = NaN;
    let lastMap = NaN;
    const r = runSampler(w, s, init, cfg, rngs, {
      onIter: (rec) => {
        const l = rec.lossCls + rec.lossBbox;
        smooth = Number.isNaN(smooth) ? l : 0.95 * smooth + 0.05 * l;
        bar.tick(rec.iter, smooth, Number.isNaN(lastMap) ? '' : `mAP ${lastMap.toFixed(3)}`);
        if (rec.iter % cfg.evalEvery === 0 || rec.iter === o.iters) bar.status('evaluating …');
      },
      onEval: (e) => {
        lastMap = e.mAP;
      },
    });
    if (E.isLeft(r)) return r;
    runs[s] = r.right;
    seconds[s] = (io.now() - t0) / 1000;
    const last = r.right.evals[r.right.evals.length - 1];
    bar.done(`mAP ${last.mAP.toFixed(3)}  all-RoI loss ${last.loss.toFixed(3)}`);
  }
  // The pictures. A training scene: among the first 20 with at least one object and one distractor,
  // the one where OHEM's final hard RoIs hold the most distractor RoIs (the caption says so); its
  // RoIs, the standard sampler's draw, and OHEM's hard RoIs early (the first evaluation after 0)
  // and at the end.
  const mine = (params: RunHistory['params'], e: Entry): Result<Int32Array> =>
    E.map((m: { hard_inds: { data: ArrayLike<number> } }) => Int32Array.from(m.hard_inds.data))(
      ohemStep({ pooled_h: cfg.pooled, pooled_w: cfg.pooled, spatial_scale: 1 / 16, dropout_ratio: 0, batch_size: cfg.rois_per_image })(params, e.batch),
    );
  const candidates = w.train.filter((e) => e.scene.objects.length >= 1 && e.scene.distractors.length >= 1).slice(0, 20);
  let trainEntry = candidates[0] ?? w.train[0];
  let hard: Int32Array<ArrayBufferLike> = new Int32Array(0);
  let most = -1;
  for (const e of candidates.length ? candidates : [trainEntry]) {
    const h = mine(runs.ohem.params, e);
    if (E.isLeft(h)) return h;
    const onDistractors = Array.from(h.right).filter((i) => e.origin[i] === 1 && e.labels[i] === 0).length;
    if (onDistractors > most) [most, trainEntry, hard] = [onDistractors, e, h.right];
  }
  const early = runs.ohem.snapshots[Math.min(1, runs.ohem.snapshots.length - 1)];
  const hardEarly = mine(early.params, trainEntry);
  if (E.isLeft(hardEarly)) return hardEarly;
  const [drawRng, drawRng0] = split(split(rngs.sampler, 2)[1], 2);
  const sampled = sampleRois(stream(drawRng), trainEntry.overlaps, { ...FAST_RCNN_SAMPLER, rois_per_image: cfg.rois_per_image });
  if (E.isLeft(sampled)) return sampled;
  const sampledBg0 = sampleRois(stream(drawRng0), trainEntry.overlaps, { ...FAST_RCNN_SAMPLER, bg_thresh_lo: 0, rois_per_image: cfg.rois_per_image });
  if (E.isLeft(sampledBg0)) return sampledBg0;
  const testEntry = pickScene(w.test, 2, 2);
  const testIndex = w.test.indexOf(testEntry);
  const threshold = 0.5;
  const detsOf = (s: SamplerName) =>
    runs[s].lastEval.detections.flatMap((list, cls) => list.filter((d) => d.image === testIndex && d.score >= threshold).map((d) => ({ ...d, cls })));
  const settings: DemoSettings = {
    seed: o.seed,
    iters: o.iters,
    evalEvery: cfg.evalEvery,
    backend: o.backend,
    world: w.config,
    featureChannels: FEATURE_CHANNELS,
    pooled: cfg.pooled,
    hidden: cfg.hidden,
    roisPerImage: cfg.rois_per_image,
    dropout: cfg.dropout_ratio,
    solver: {
      base_lr: cfg.solver.base_lr,
      gamma: cfg.solver.gamma ?? 0.1,
      stepsize: cfg.solver.stepsize ?? 30000,
      momentum: cfg.solver.momentum ?? 0.9,
      weight_decay: cfg.solver.weight_decay ?? 0.0005,
      iter_size: cfg.solver.iter_size ?? 1,
    },
  };
  const results: DemoResults = {
    settings,
    runs,
    seconds: { world: tWorld, ...seconds, total: (io.now() - tStart) / 1000 },
    scene: {
      train: { entry: trainEntry, sampled: sampled.right, sampledBg0: sampledBg0.right, hardEarly: hardEarly.right, earlyIter: early.iter, hard },
      test: { entry: testEntry, detections: { standard: detsOf('standard'), standard_bg0: detsOf('standard_bg0'), ohem: detsOf('ohem') }, threshold },
    },
  };
  const files = writeReport(o.out, results);
  if (E.isLeft(files)) return files;
  io.stdout.write(`\n${terminalTable(results)}\n\nreport: ${files.right.find((f) => f.endsWith('index.html'))} (${results.seconds.total.toFixed(1)} s)\n`);
  return E.right({ results, files: files.right });
};
