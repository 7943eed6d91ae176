/**
 * `ohem-ref demo` — the main job: which hard-example miner to use. Six samplers — Fast R-CNN's
 * standard sampler, the same with BG_THRESH_LO 0, and the four mining dialects (caffe-ohem,
 * mmdet-ohem, tf-hard-example-miner, ssd-hard-negative) — trained side by side on the synthetic
 * detection world of each of several seeds, evaluated on held-out scenes, compared with their
 * spread over the seeds and their cost, reported in pictures (report/index.html) and in a table
 * on stdout. Progress goes to stderr.
 *
 * Every number but the clock's is a pure function of the options: one seed gives the same bytes
 * whether it runs alone or among others, inline or on worker threads.
 */
import { availableParallelism } from 'node:os';
import * as E from 'fp-ts/lib/Either.js';
import { type Result, checkEnum, checkInt, rangeError, relabel, valueError } from '../core/index.js';
import { createBackend, PROTOCOL_BACKENDS, type ProtocolBackend } from '../gpu/index.js';
import { FEATURE_CHANNELS } from './features.js';
import { isMiner, MINER_ATTRS, NAMES, SAMPLERS, type MinerName, type SamplerName } from './miners.js';
import { runTasks } from './pool.js';
import { makeProgress, type ProgressSink } from './progress.js';
import { terminalTable, writeReport } from './report.js';
import { digestOf, referenceOf, summarize, type DemoResults, type SceneView } from './results.js';
import type { DemoSettings } from './settings.js';
import { poolerAttrs, type SamplerRun, type TaskOutcome, type TaskSpec, type TaskTiming } from './task.js';
import type { TrainConfig } from './train.js';
import { WORLD_DEFAULTS, type WorldConfig } from './world.js';

/** Every backend of src/gpu, by its protocol name (reference, gpujs-cpu, gpujs-webasm, gpujs-headlessgl, gpujs-webgpu, auto). */
export const BACKENDS = Object.keys(PROTOCOL_BACKENDS) as ProtocolBackend[];
export const POOLERS = ['roi_pool', 'roi_align'] as const;
export type Pooler = (typeof POOLERS)[number];

export interface DemoOptions {
  readonly iters: number;
  /** The first seed; the run uses seeds seed, seed + 1, …, seed + seeds − 1. */
  readonly seed: number;
  readonly seeds: number;
  readonly samplers: readonly SamplerName[];
  readonly out: string;
  readonly backend: string;
  readonly pooler: Pooler;
  /** Worker threads (default: the cores, at most one per task; 1 runs inline). Changes the clock only. */
  readonly jobs?: number;
  /** Smaller worlds for tests. */
  readonly world?: Partial<WorldConfig>;
  readonly evalEvery?: number;
  /** Per-dialect attrs over MINER_ATTRS (tests). */
  readonly minerAttrs?: TrainConfig['minerAttrs'];
}

/**
 * The defaults of `npm start`: all six samplers, 3 seeds, 300 iterations. The budget is
 * `npm ci && npm start` in under 3 minutes on a shared 2-core machine: a miner's iteration costs
 * about 3 × the standard sampler's (half of it the read-only pass), and 3 seeds × 6 samplers × 300
 * iterations took about 100 s there with other jobs running, 600 iterations over 4 minutes when
 * they left the demo one core. Three is the fewest seeds that give a spread and a t-interval (a
 * wide one: t(0.975, 2) = 4.3); `--seeds` and `--iters` buy tighter intervals with time.
 */
export const DEMO_DEFAULTS = Object.freeze({
  iters: 300,
  seed: 2016,
  seeds: 3,
  samplers: SAMPLERS,
  out: 'report',
  backend: 'reference',
  pooler: 'roi_pool' as Pooler,
}) satisfies DemoOptions;

/** The head and solver shared by every sampler (see the README's demo section for the reasons). */
export const HEAD = Object.freeze({ pooled: 3, hidden: 64, roisPerImage: 64, dropout: 0 });

export const trainConfig = (o: Pick<DemoOptions, 'iters' | 'evalEvery'> & Partial<Pick<DemoOptions, 'pooler' | 'minerAttrs'>>): TrainConfig => {
  const pooler = poolerAttrs(o.pooler ?? 'roi_pool');
  return {
    iters: o.iters,
    evalEvery: o.evalEvery ?? Math.max(1, Math.round(o.iters / 4)),
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
    ...(pooler ? { pooler } : {}),
    ...(o.minerAttrs ? { minerAttrs: o.minerAttrs } : {}),
  };
};

/** Checks the options: a Left names the option. */
export const checkOptions = (o: DemoOptions): Result<DemoOptions> => {
  const it = checkInt('--iters', o.iters, 1, 1_000_000);
  if (E.isLeft(it)) return it;
  const sd = checkInt('--seed', o.seed, 0);
  if (E.isLeft(sd)) return sd;
  const n = checkInt('--seeds', o.seeds, 1, 1000);
  if (E.isLeft(n)) return n;
  if (o.jobs !== undefined) {
    const j = checkInt('--jobs', o.jobs, 1, 256);
    if (E.isLeft(j)) return j;
  }
  if (!Array.isArray(o.samplers) || o.samplers.length === 0) return E.left(rangeError('--samplers', 'names no sampler'));
  for (const s of o.samplers) {
    const c = checkEnum('--samplers', s, SAMPLERS);
    if (E.isLeft(c)) return c;
  }
  if (new Set(o.samplers).size !== o.samplers.length) return E.left(valueError('--samplers', 'names a sampler twice'));
  if (typeof o.out !== 'string' || o.out.length === 0) return E.left(rangeError('--out', 'must be a directory path'));
  const b = checkEnum('--backend', o.backend, BACKENDS);
  if (E.isLeft(b)) return b;
  const p = checkEnum('--pooler', o.pooler, POOLERS);
  if (E.isLeft(p)) return p;
  return E.right(o);
};

export interface DemoIo {
  readonly stderr: ProgressSink;
  readonly stdout: { write(s: string): unknown };
  readonly now: () => number;
}

/** The cost order of the tasks within a seed: the miners first (SSD's large batches first of all), the standard samplers last. */
const COST_ORDER: readonly SamplerName[] = ['ssd-hard-negative', 'caffe-ohem', 'tf-hard-example-miner', 'mmdet-ohem', 'standard', 'standard_bg0'];

/** The tasks of a run: one per (seed, sampler), seed-major, costly first within a seed. */
export const demoTasks = (o: DemoOptions): TaskSpec[] => {
  const train = trainConfig(o);
  const { kernels: _k, ...plain } = train;
  void _k;
  const order = [...o.samplers].sort((a, b) => COST_ORDER.indexOf(a) - COST_ORDER.indexOf(b));
  return Array.from({ length: o.seeds }, (_, k) => o.seed + k).flatMap((seed, k) =>
    order.map((sampler, j) => ({ seed, sampler, train: plain, world: o.world ?? {}, backend: o.backend, scene: k === 0, sceneEntries: k === 0 && j === 0 })),
  );
};

export const defaultJobs = (tasks: number): number => Math.max(1, Math.min(availableParallelism(), tasks));

/** Runs the demo; returns the results and the report's files. */
export const runDemo = async (options: DemoOptions, io: DemoIo): Promise<Result<{ results: DemoResults; files: string[] }>> => {
  const ok = checkOptions(options);
  if (E.isLeft(ok)) return ok;
  const o = ok.right;
  // The backend runs the heavy kernels (in every worker); one not available here is a Left naming --backend.
  const backend = createBackend({ mode: PROTOCOL_BACKENDS[o.backend as ProtocolBackend] });
  if (E.isLeft(backend)) return E.left(relabel(backend.left, '--backend', `${o.backend}: ${backend.left.what}`));
  if (backend.right.name !== 'reference') io.stderr.write(`backend: ${backend.right.name} (${backend.right.reason})\n`);
  void backend.right.destroy();
  const tStart = io.now();
  const tasks = demoTasks(o);
  const jobs = o.jobs ?? defaultJobs(tasks.length);
  const train = trainConfig(o);
  const world: WorldConfig = { ...WORLD_DEFAULTS, ...o.world };
  const seeds = Array.from({ length: o.seeds }, (_, k) => o.seed + k);
  io.stderr.write(
    `${o.samplers.length} samplers × ${o.seeds} seed${o.seeds > 1 ? 's' : ''} (${seeds.join(', ')}) × ${o.iters} iterations, ${jobs} worker${jobs > 1 ? ' threads' : ' (inline)'}; ` +
      `each seed: ${world.trainImages} training + ${world.testImages} held-out scenes of ${world.size}×${world.size} px, ${world.proposals} proposals each\n`,
  );
  const done = new Array<number>(tasks.length).fill(0);
  const bar = makeProgress(io.stderr, 'training', tasks.length * o.iters, io.now, Math.max(1, Math.round((tasks.length * o.iters) / 20)));
  const progress = () => done.reduce((a, b) => a + b, 0);
  const outcomes = await runTasks(tasks, jobs, {
    now: io.now,
    onProgress: (id, iter) => {
      done[id] = iter;
      bar.tick(progress(), NaN, `${tasks.filter((_, i) => done[i] >= o.iters).length}/${tasks.length} runs`);
    },
    onDone: (id, out) => {
      done[id] = o.iters;
      const t = tasks[id];
      bar.log(
        `seed ${t.seed}  ${NAMES[t.sampler].padEnd(22)} mAP ${out.run.final.mAP.toFixed(3)}  all-RoI loss ${out.run.final.allRoiLoss.toFixed(3)}  ${(out.timing.iterSeconds / o.iters * 1000).toFixed(1)} ms/iter  (${out.timing.totalSeconds.toFixed(1)} s)`,
      );
    },
  });
  if (E.isLeft(outcomes)) return outcomes;
  bar.done(`${tasks.length} runs`);
  const results = assemble(o, tasks, outcomes.right, train, world, jobs, (io.now() - tStart) / 1000);
  const files = writeReport(o.out, results);
  if (E.isLeft(files)) return files;
  io.stdout.write(`\n${terminalTable(digestOf(results))}\n\nreport: ${files.right.find((f) => f.endsWith('index.html'))} (${results.seconds.total.toFixed(1)} s)\n`);
  return E.right({ results, files: files.right });
};

/** The results of the outcomes (pure but for the total seconds given). */
export const assemble = (o: DemoOptions, tasks: readonly TaskSpec[], outcomes: readonly TaskOutcome[], train: TrainConfig, world: WorldConfig, jobs: number, total: number): DemoResults => {
  const seeds = Array.from({ length: o.seeds }, (_, k) => o.seed + k);
  const runs: Partial<Record<SamplerName, SamplerRun[]>> = {};
  const timing: Partial<Record<SamplerName, TaskTiming[]>> = {};
  for (const s of o.samplers) {
    runs[s] = seeds.map((seed) => outcomes[tasks.findIndex((t) => t.seed === seed && t.sampler === s)].run);
    timing[s] = seeds.map((seed) => outcomes[tasks.findIndex((t) => t.seed === seed && t.sampler === s)].timing);
  }
  const minerAttrs: DemoSettings['minerAttrs'] = Object.fromEntries(
    o.samplers.filter(isMiner).map((m: MinerName) => [m, { attrs: { ...MINER_ATTRS[m].attrs, ...(o.minerAttrs?.[m] ?? {}) }, reason: MINER_ATTRS[m].reason }]),
  );
  const settings: DemoSettings = {
    seeds,
    samplers: o.samplers,
    reference: referenceOf(o.samplers),
    iters: o.iters,
    evalEvery: train.evalEvery,
    backend: o.backend,
    pooler: o.pooler,
    poolerAttrs: train.pooler ?? {},
    world,
    featureChannels: FEATURE_CHANNELS,
    pooled: train.pooled,
    hidden: train.hidden,
    roisPerImage: train.rois_per_image,
    dropout: train.dropout_ratio,
    solver: {
      base_lr: train.solver.base_lr,
      gamma: train.solver.gamma ?? 0.1,
      stepsize: train.solver.stepsize ?? 30000,
      momentum: train.solver.momentum ?? 0.9,
      weight_decay: train.solver.weight_decay ?? 0.0005,
      iter_size: train.solver.iter_size ?? 1,
    },
    minerAttrs,
    jobs,
  };
  const { summary, cost, pairs } = summarize(settings, runs, timing);
  let scene: SceneView | null = null;
  const first = tasks.map((t, i) => ({ t, out: outcomes[i] })).filter((x) => x.t.seed === seeds[0] && x.out.scene);
  const withEntries = first.find((x) => x.out.scene?.entries);
  if (withEntries) {
    const sc = withEntries.out.scene!;
    scene = {
      seed: seeds[0],
      trainIndex: sc.trainIndex,
      testIndex: sc.testIndex,
      train: sc.entries!.train,
      test: sc.entries!.test,
      rois: Object.fromEntries(first.map((x) => [x.t.sampler, x.out.scene!.trainRois])),
      detections: Object.fromEntries(first.map((x) => [x.t.sampler, x.out.scene!.detections])),
      threshold: sc.threshold,
    };
  }
  return { settings, runs, timing, summary, cost, pairs, seconds: { total }, scene };
};
