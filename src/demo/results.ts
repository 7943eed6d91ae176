/**
 * The demo's results over seeds: the per-seed runs (deterministic), their timings (the clock), and
 * the summary per sampler — mean, spread and 95 % t-interval over the seeds, and the paired
 * difference against the reference sampler (`standard` when it ran) on the same seeds. Pure.
 */
import type { DemoSettings } from './settings.js';
import { isMiner, type MinerName, type SamplerName } from './miners.js';
import { brief, paired, spread, type Brief, type Spread } from './stats.js';
import type { Detection } from './evaluate.js';
import type { SamplerRun, SceneEntry, TaskTiming } from './task.js';

export interface SceneView {
  /** The seed whose world the scenes come from (the first). */
  readonly seed: number;
  readonly trainIndex: number;
  readonly testIndex: number;
  readonly train: SceneEntry;
  readonly test: SceneEntry;
  /** Per sampler: the RoIs it trains on in the training scene (a miner's selection under its final weights; a standard sampler's draw). */
  readonly rois: Partial<Record<SamplerName, Int32Array>>;
  readonly detections: Partial<Record<SamplerName, readonly (Detection & { readonly cls: number })[]>>;
  readonly threshold: number;
}

export interface SamplerSummary {
  readonly mAP: Spread;
  readonly ap: readonly Spread[];
  readonly allRoiLoss: Spread;
  readonly initialAllRoiLoss: Spread;
  readonly batchLoss: Spread;
  /** Paired against the reference sampler on the same seeds (this − reference); null for the reference itself. */
  readonly dMAP: Spread | null;
  readonly dAllRoiLoss: Spread | null;
  readonly fgFraction: Spread;
  readonly lowIouFraction: Spread;
  readonly distractorFraction: Spread;
  readonly roisPerPass: Spread;
  /** At each evaluation: mAP and all-RoI loss over the seeds. */
  readonly evals: { readonly iter: readonly number[]; readonly mAP: readonly Spread[]; readonly loss: readonly Spread[] };
}

/** The clock's numbers per sampler (not deterministic). */
export interface SamplerCost {
  /** Seconds per training iteration (iter_size passes and the update; evaluations excluded). */
  readonly secondsPerIter: Spread;
  /** The read-only pass's share of an iteration, on the probe iterations (0 for the standard samplers). */
  readonly readonlyShare: Spread;
  /** Seconds per run (training, evaluations, world). */
  readonly runSeconds: Spread;
}

export interface DemoResults {
  readonly settings: DemoSettings;
  readonly runs: Readonly<Partial<Record<SamplerName, readonly SamplerRun[]>>>;
  readonly timing: Readonly<Partial<Record<SamplerName, readonly TaskTiming[]>>>;
  readonly summary: Readonly<Partial<Record<SamplerName, SamplerSummary>>>;
  readonly cost: Readonly<Partial<Record<SamplerName, SamplerCost>>>;
  /** mAP of a − mAP of b on the same seeds, for every two samplers a before b in the run's order (key `a|b`). */
  readonly pairs: Readonly<Record<string, Spread>>;
  readonly seconds: { readonly total: number };
  readonly scene: SceneView | null;
}

export const summarizeSampler = (runs: readonly SamplerRun[], ref: readonly SamplerRun[] | null): SamplerSummary => {
  const f = (g: (r: SamplerRun) => number) => spread(runs.map(g));
  const K1 = runs[0].final.ap.length;
  const iters = runs[0].evals.map((e) => e.iter);
  return {
    mAP: f((r) => r.final.mAP),
    ap: Array.from({ length: K1 }, (_, c) => f((r) => r.final.ap[c])),
    allRoiLoss: f((r) => r.final.allRoiLoss),
    initialAllRoiLoss: f((r) => r.final.initialAllRoiLoss),
    batchLoss: f((r) => r.final.batchLoss),
    dMAP: ref ? paired(runs.map((r) => r.final.mAP), ref.map((r) => r.final.mAP)) : null,
    dAllRoiLoss: ref ? paired(runs.map((r) => r.final.allRoiLoss), ref.map((r) => r.final.allRoiLoss)) : null,
    fgFraction: f((r) => r.final.fgFraction),
    lowIouFraction: f((r) => r.final.lowIouFraction),
    distractorFraction: f((r) => r.final.distractorFraction),
    roisPerPass: f((r) => r.final.roisPerPass),
    evals: {
      iter: iters,
      mAP: iters.map((_, k) => f((r) => r.evals[k].mAP)),
      loss: iters.map((_, k) => f((r) => r.evals[k].loss)),
    },
  };
};

export const costOf = (t: readonly TaskTiming[], iters: number): SamplerCost => ({
  secondsPerIter: spread(t.map((x) => x.iterSeconds / iters)),
  readonlyShare: spread(t.map((x) => (x.probes > 0 && x.probeIterSeconds > 0 ? x.probeReadonlySeconds / x.probeIterSeconds : 0))),
  runSeconds: spread(t.map((x) => x.totalSeconds)),
});

/** The reference of the paired comparisons: `standard` if it ran, else null. */
export const referenceOf = (samplers: readonly SamplerName[]): SamplerName | null => (samplers.includes('standard') ? 'standard' : null);

export const summarize = (settings: DemoSettings, runs: DemoResults['runs'], timing: DemoResults['timing']) => {
  const ref = settings.reference;
  const summary: Partial<Record<SamplerName, SamplerSummary>> = {};
  const cost: Partial<Record<SamplerName, SamplerCost>> = {};
  for (const s of settings.samplers) {
    summary[s] = summarizeSampler(runs[s]!, ref && s !== ref ? runs[ref]! : null);
    cost[s] = costOf(timing[s]!, settings.iters);
  }
  const pairs: Record<string, Spread> = {};
  settings.samplers.forEach((a, i) =>
    settings.samplers.slice(i + 1).forEach((b) => {
      pairs[`${a}|${b}`] = paired(runs[a]!.map((r) => r.final.mAP), runs[b]!.map((r) => r.final.mAP));
    }),
  );
  return { summary, cost, pairs };
};

/** The mAP difference a − b from the pairs (either order). */
export const pairOf = (pairs: Readonly<Record<string, Spread>>, a: SamplerName, b: SamplerName): Spread | null => {
  const d = pairs[`${a}|${b}`];
  if (d) return d;
  const r = pairs[`${b}|${a}`];
  return r ? { ...r, mean: -r.mean, lo: -r.hi, hi: -r.lo, values: r.values.map((v) => -v) } : null;
};

/**
 * What the table, its notes and the written reading read, and nothing else: the README's
 * generated section is built from this (embedded there), the report from the same numbers.
 */
export interface Digest {
  readonly settings: Pick<DemoSettings, 'seeds' | 'samplers' | 'reference' | 'iters' | 'jobs' | 'pooler' | 'backend' | 'roisPerImage'> & {
    readonly testImages: number;
    readonly proposals: number;
    /** The attrs each dialect ran with (their reasons are MINER_ATTRS'). */
    readonly minerAttrs: Readonly<Partial<Record<MinerName, Readonly<Record<string, unknown>>>>>;
  };
  readonly summary: Readonly<
    Partial<
      Record<
        SamplerName,
        { readonly [K in 'mAP' | 'allRoiLoss' | 'batchLoss' | 'fgFraction' | 'lowIouFraction' | 'distractorFraction' | 'roisPerPass']: Brief } & Pick<SamplerSummary, 'dMAP' | 'dAllRoiLoss'>
      >
    >
  >;
  readonly cost: Readonly<Partial<Record<SamplerName, { readonly secondsPerIter: Brief; readonly readonlyShare: Brief }>>>;
  readonly pairs: Readonly<Record<string, Spread>>;
  readonly seconds: { readonly total: number };
}

/** Numbers rounded to 6 significant digits, recursively (the digest is embedded in the README). */
const round6 = <T>(x: T): T =>
  (typeof x === 'number' ? (Number.isFinite(x) ? Number(x.toPrecision(6)) : x) : Array.isArray(x) ? x.map(round6) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round6(v)])) : x) as T;


export const digestOf = (res: Pick<DemoResults, 'settings' | 'summary' | 'cost' | 'pairs' | 'seconds'>): Digest => {
  const st = res.settings;
  const miners = st.samplers.filter(isMiner);
  return round6({
    settings: {
      seeds: st.seeds,
      samplers: st.samplers,
      reference: st.reference,
      iters: st.iters,
      jobs: st.jobs,
      pooler: st.pooler,
      backend: st.backend,
      roisPerImage: st.roisPerImage,
      minerAttrs: Object.fromEntries(Object.entries(st.minerAttrs).map(([k, v]) => [k, v!.attrs])),
      testImages: st.world.testImages,
      proposals: st.world.proposals,
    },
    summary: Object.fromEntries(
      st.samplers.map((s) => {
        const m = res.summary[s]!;
        return [
          s,
          {
            mAP: brief(m.mAP),
            allRoiLoss: brief(m.allRoiLoss),
            batchLoss: brief(m.batchLoss),
            dMAP: m.dMAP,
            dAllRoiLoss: m.dAllRoiLoss,
            fgFraction: brief(m.fgFraction),
            lowIouFraction: brief(m.lowIouFraction),
            distractorFraction: brief(m.distractorFraction),
            roisPerPass: brief(m.roisPerPass),
          },
        ];
      }),
    ),
    cost: Object.fromEntries(st.samplers.map((s) => [s, { secondsPerIter: brief(res.cost[s]!.secondsPerIter), readonlyShare: brief(res.cost[s]!.readonlyShare) }])),
    // The reading compares the two best miners, and caffe-ohem with BG_THRESH_LO 0: those pairs.
    pairs: Object.fromEntries(Object.entries(res.pairs).filter(([k]) => k.split('|').every((x) => x === 'standard_bg0' || miners.includes(x as MinerName)))),
    seconds: res.seconds,
  });
};

/** results.json: everything plotted, the per-seed runs (deterministic) and the clock's numbers apart. */
export const resultsJson = (res: DemoResults) => ({
  settings: res.settings,
  summary: res.summary,
  cost: res.cost,
  pairs: res.pairs,
  seconds: res.seconds,
  timing: res.timing,
  runs: res.runs,
  scene: res.scene
    ? {
        seed: res.scene.seed,
        trainIndex: res.scene.trainIndex,
        testIndex: res.scene.testIndex,
        rois: Object.fromEntries(Object.entries(res.scene.rois).map(([k, v]) => [k, Array.from(v)])),
      }
    : null,
});
export type ResultsJson = ReturnType<typeof resultsJson>;
