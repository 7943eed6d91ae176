/**
 * The divergence matrix (docs/divergences.md, `npm run divergences`): conform run on adapters
 * that delegate every op to a real library (examples/ports/), once under the `caffe` profile —
 * where each library parts from the original, with the smallest counterexample and the
 * reference convention that reproduces it — and once under the library's own profile, which
 * must pass wherever a convention exists. The page is generated; nothing in it is typed by hand
 * except each adapter's porting notes below.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SEED, runConform, type ConformReport, type SuiteReport } from './run.js';
import { findProfile } from '../protocol/profiles.js';

/** The repository root (the adapters live in examples/ports/, which the package does not ship). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const DEBIAN_PYTHON = '/usr/bin/python3';

export interface Adapter {
  /** The column's name, also the adapter's profile. */
  readonly name: string;
  /** Command that starts the adapter, from the repository root. */
  readonly command: string;
  /** The library versions it runs, or why it cannot run here. */
  readonly versions: () => { readonly ok: true; readonly versions: Readonly<Record<string, string>> } | { readonly ok: false; readonly why: string };
  /** What a porter on top of this library must do by hand (the page's "Porting on top of" list). */
  readonly porting: readonly string[];
}

const npmVersion = (pkg: string): string | null => {
  try {
    return (createRequire(join(REPO_ROOT, 'package.json'))(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
};

const npmVersions = (pkgs: readonly string[]) => {
  const out: Record<string, string> = {};
  for (const p of pkgs) {
    const v = npmVersion(p);
    if (v === null) return { ok: false as const, why: `${p} is not installed (npm ci installs it: a devDependency)` };
    out[p] = v;
  }
  return { ok: true as const, versions: out };
};

const torchVersions = () => {
  if (!existsSync(DEBIAN_PYTHON)) return { ok: false as const, why: `${DEBIAN_PYTHON} is missing` };
  try {
    const out = execFileSync(DEBIAN_PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    const [torch, torchvision] = out.trim().split(/\s+/);
    return { ok: true as const, versions: { torch, torchvision } };
  } catch {
    return { ok: false as const, why: `${DEBIAN_PYTHON} cannot import torch and torchvision (Debian: apt-get install python3-torchvision)` };
  }
};

export const ADAPTERS: readonly Adapter[] = [
  {
    name: 'torchvision',
    command: `${DEBIAN_PYTHON} examples/ports/torchvision_port.py`,
    versions: torchVersions,
    porting: [
      'Run `torchvision.ops.nms` once per (image, label) group in the original\'s loop order and concatenate: `batched_nms` returns one keep list in score order, so equal losses of two groups come out by RoI index instead of group order.',
      '`torchvision.ops.nms` compares its float IoU with the threshold as a double: an IoU of exactly fl32(threshold) is suppressed where the original keeps it (reproduced by `threshold_cast = double`).',
      '`F.cross_entropy` has no FLT_MIN clamp and gives NaN when every label is ignored; clamp p at FLT_MIN and floor the normaliser at 1 by hand to match Caffe (`clamp`, `empty_normalizer`).',
      '`torch.optim.SGD` keeps lr outside the momentum buffer and leaves it untouched at momentum 0: write Caffe\'s update v = m·v + lr·g, θ −= v yourself, or convert the buffer by lr (`momentum_rule = torch`).',
      'Compute the dropout scale as fl32(1/(1 − fl32(ratio))), not from the double ratio (`ratio_precision`); use the backward torch records (`native_dropout_backward`), not autograd through a hand-written x·mask·scale.',
      'Compute the mining hardness in float64 from the float32 blobs, as the original\'s numpy does; `F.linear` is an ordinary float32 GEMM (precision only).',
    ],
  },
  {
    name: 'onnxruntime',
    command: 'npx tsx examples/ports/onnxruntime.ts',
    versions: () => npmVersions(['onnxruntime-node', 'onnx-proto']),
    porting: [
      '`NonMaxSuppression` sorts each box\'s corners, so a flipped box (x2 < x1) is a real box to it and an empty one to the original (`corners = sorted`); it has continuous areas (no +1), ties lower index first and float32 IoU > fl32(threshold).',
      '`SoftmaxCrossEntropyLoss` is the exact log-softmax without Caffe\'s FLT_MIN clamp, and its mean over a batch whose every label is ignored is NaN (`clamp`, `empty_normalizer`).',
      '`MaxRoiPool` has no argmax output: the RoI pooling backward cannot be fed from it; inference ONNX has no gradient or optimizer ops and no mining ops (not expressible).',
      'Gemm (MLAS) accumulates in float32 (precision only). With the dropout scale computed inside the graph, ORT\'s DivMulFusion turns x·(1/(1 − r)) into x/(1 − r): pass Caffe\'s float32 scale as an input.',
    ],
  },
  {
    name: 'tfjs',
    command: 'npx tsx examples/ports/tfjs.ts',
    versions: () => npmVersions(['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu']),
    porting: [
      'TensorFlow.js has float32 tensors only: float64 losses and scores are rounded on entry (distinct values can tie), and its NMS compares the IoU, in double, with `>=` (`miner_nms = tfjs`, `corners = sorted`).',
      '`tf.losses.softmaxCrossEntropy` has no FLT_MIN clamp, and an all-ignored batch gives NaN loss and NaN gradients (`clamp`, `empty_normalizer = nan_grad`).',
      '`tf.train.momentum` keeps lr outside the accumulator, also at momentum 0 (`momentum_rule = tf`); `tf.grad` of x·mask·scale multiplies by the scale before the mask (`grad_order = scale_first`).',
      '`tf.losses.huberLoss` builds its linear part as |e| − min(|e|, δ): its gradient loses about δ·2⁻²⁴ to cancellation, and tiny gradients vanish (no reference convention reproduces it).',
      'There is no RoIAlign: `tf.image.cropAndResize` with the OD API\'s box mapping gives its last bits on the map, but samples outside [0, H − 1] get the extrapolation value where RoIAlign clamps to the border (no reference convention reproduces it); there is no RoIPool and no gradient for CropAndResize.',
    ],
  },
];

export interface AdapterRun {
  readonly adapter: Adapter;
  readonly versions: Readonly<Record<string, string>> | null;
  readonly why: string | null;
  readonly caffe: ConformReport | null;
  readonly own: ConformReport | null;
}

export interface MatrixOptions {
  readonly runs: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /** Only these adapters (all when absent). */
  readonly only?: readonly string[];
}

/** Runs conform on every adapter, under `caffe` and under its own profile (an adapter that cannot run here is reported, not run). */
export const runAdapters = async (o: MatrixOptions): Promise<AdapterRun[]> => {
  const out: AdapterRun[] = [];
  for (const adapter of ADAPTERS) {
    if (o.only && !o.only.includes(adapter.name)) continue;
    const v = adapter.versions();
    if (!v.ok) {
      o.log?.(`divergences: ${adapter.name}: not run (${v.why})`);
      out.push({ adapter, versions: null, why: v.why, caffe: null, own: null });
      continue;
    }
    const run = (profile: string) => {
      o.log?.(`divergences: ${adapter.name} under --profile ${profile} …`);
      return runConform({ port: adapter.command, runs: o.runs, seed: o.seed ?? DEFAULT_SEED, profile, cwd: REPO_ROOT, failuresDir: join(REPO_ROOT, 'conform-failures', 'divergences', `${adapter.name}-${profile}`), log: () => {} });
    };
    const caffe = await run('caffe');
    const own = await run(adapter.name);
    out.push({ adapter, versions: v.versions, why: null, caffe, own });
  }
  return out;
};

// ---------------------------------------------------------------------------------- the cells

export type CellVerdict = 'matches' | 'precision only' | 'diverges' | 'not expressible' | 'not run';

export interface Cell {
  readonly verdict: CellVerdict;
  /** The conventions that reproduce its divergences (`threshold_cast = double`), in order; `none` where none does. */
  readonly causes: readonly string[];
}

const cellOf = (s: SuiteReport | undefined): Cell => {
  if (!s) return { verdict: 'not run', causes: [] };
  switch (s.verdict) {
    case 'pass':
      return { verdict: 'matches', causes: [] };
    case 'precision':
      return { verdict: 'precision only', causes: [] };
    case 'fail':
      return { verdict: 'diverges', causes: s.failures.length ? [...new Set(s.failures.map((f) => (f.attribution ? f.attribution.label : 'none')))] : ['none'] };
    case 'unsupported':
      return { verdict: 'not expressible', causes: [] };
    default:
      return { verdict: 'not run', causes: [] };
  }
};

const cellText = (c: Cell): string =>
  c.verdict === 'diverges' ? `diverges: ${c.causes.map((x) => (x === 'none' ? 'no convention' : `\`${x}\``)).join(', ')}` : c.verdict;

/** The matrix's rows: every suite any run reports, in the reports' order. */
const suitesOf = (runs: readonly AdapterRun[]): string[] => {
  const names: string[] = [];
  for (const r of runs) for (const s of r.caffe?.suites ?? []) if (!names.includes(s.suite)) names.push(s.suite);
  return names;
};

/** suite → adapter → cell, under `caffe` (what the committed page's table states; its test compares these). */
export const matrixCells = (runs: readonly AdapterRun[]): Map<string, Map<string, Cell>> => {
  const m = new Map<string, Map<string, Cell>>();
  for (const suite of suitesOf(runs)) {
    const row = new Map<string, Cell>();
    for (const r of runs) row.set(r.adapter.name, cellOf(r.caffe?.suites.find((s) => s.suite === suite)));
    m.set(suite, row);
  }
  return m;
};

const totals = (r: ConformReport): string => {
  const n = (v: string) => r.suites.filter((s) => s.verdict === v).length;
  return `${n('pass')} pass, ${n('precision')} precision, ${n('fail')} failed, ${n('unsupported')} not expressible (of ${r.suites.length} suites)`;
};

const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

const failureLines = (s: SuiteReport): string[] =>
  s.failures.map((f) => {
    const cause = f.attribution ? `reproduced by ${code(f.attribution.label)}: the library ${f.attribution.means}` : 'no convention of the reference reproduces it';
    return `- **${s.suite}** — ${clip(f.message, 240)}. ${cause}. Smallest request: ${code(clip(f.counterexample, 400))}`;
  });

/** docs/divergences.md, from the runs. Deterministic: seeded, no times, no machine paths. */
export const divergencesMarkdown = (runs: readonly AdapterRun[], o: { readonly runs: number; readonly seed?: number }): string => {
  const L: string[] = [];
  const versions = (r: AdapterRun) => (r.versions ? Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ') : `not run: ${r.why}`);
  L.push('# Where real libraries part from the original OHEM');
  L.push('');
  L.push('<!-- Generated by `npm run divergences` (src/conform/divergences.ts); a test checks its table. Do not edit. -->');
  L.push('');
  L.push(
    'Each column is an adapter in `examples/ports/` that delegates every op to one library, as a porter would, and declares in its `describe` the attr values the library can express. `ohem-ref conform` judges it against the reference under the `caffe` profile (the original\'s conventions): a cell *matches*, is *precision only* (within the float32 precision model, not exact), *diverges* (with the reference convention that reproduces the library, or none), or is *not expressible* with the library. Under the library\'s own profile (`conform --profile <library>`, docs/protocol.md "Profiles") the reference takes those conventions, and what still differs is what no convention explains.',
  );
  L.push('');
  L.push(`Runs: ${o.runs} answered generated requests per suite plus the golden set, fast-check seed ${o.seed ?? DEFAULT_SEED}.`);
  L.push('');
  for (const r of runs) L.push(`- **${r.adapter.name}** (${code(r.adapter.command)}): ${versions(r)}`);
  L.push('');
  L.push('## The matrix (profile `caffe`)');
  L.push('');
  L.push(`| suite | ${runs.map((r) => r.adapter.name).join(' | ')} |`);
  L.push(`|---|${runs.map(() => '---').join('|')}|`);
  for (const [suite, row] of matrixCells(runs)) L.push(`| ${suite} | ${runs.map((r) => cellText(row.get(r.adapter.name)!)).join(' | ')} |`);
  L.push('');
  for (const r of runs) {
    L.push(`## ${r.adapter.name}`);
    L.push('');
    if (!r.caffe || !r.own) {
      L.push(`Not run: ${r.why}.`);
      L.push('');
      continue;
    }
    const profile = findProfile(r.adapter.name);
    L.push(`Under \`caffe\`: ${totals(r.caffe)}. Under \`--profile ${r.adapter.name}\`${profile ? ` (${profile.doc})` : ''}: ${totals(r.own)}.`);
    L.push('');
    const div = r.caffe.suites.filter((s) => s.verdict === 'fail');
    if (div.length) {
      L.push('Divergences under `caffe`, each with its smallest counterexample:');
      L.push('');
      for (const s of div) L.push(...failureLines(s));
      L.push('');
    }
    const prec = r.caffe.suites.filter((s) => s.verdict === 'precision');
    if (prec.length) {
      L.push(`Precision only: ${prec.map((s) => `${s.suite} (${s.precisionOutputs.join(', ')}, at most ${Math.max(1, Math.round(s.precisionShare * 100))}% of the float32 bound)`).join('; ')}.`);
      L.push('');
    }
    const left = r.own.suites.filter((s) => s.verdict === 'fail');
    L.push(left.length ? `Still differing under \`--profile ${r.adapter.name}\` (no convention of the reference reproduces these):` : `Under \`--profile ${r.adapter.name}\` nothing differs.`);
    if (left.length) {
      L.push('');
      for (const s of left) L.push(...failureLines(s));
    }
    L.push('');
    const ne = r.caffe.suites.filter((s) => s.verdict === 'unsupported').map((s) => s.suite);
    if (ne.length) {
      L.push(`Not expressible: ${ne.join(', ')}.`);
      L.push('');
    }
    L.push(`### Porting on top of ${r.adapter.name}`);
    L.push('');
    for (const p of r.adapter.porting) L.push(`- ${p}`);
    L.push('');
  }
  return `${L.join('\n').replace(/\n+$/, '')}\n`;
};

/** The cells of a committed page's table: suite → adapter → the cell text (what the test compares). */
export const parseMatrix = (md: string): Map<string, Map<string, string>> => {
  const lines = md.split('\n');
  const at = lines.findIndex((l) => l.startsWith('| suite |'));
  const m = new Map<string, Map<string, string>>();
  if (at < 0) return m;
  const heads = lines[at].split('|').slice(2, -1).map((s) => s.trim());
  for (let i = at + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i].split('|').slice(1, -1).map((s) => s.trim());
    m.set(cells[0], new Map(heads.map((h, k) => [h, cells[k + 1]])));
  }
  return m;
};

/** The committed page. */
export const DIVERGENCES_MD = join(REPO_ROOT, 'docs', 'divergences.md');
export const readCommitted = (): string | null => (existsSync(DIVERGENCES_MD) ? readFileSync(DIVERGENCES_MD, 'utf8') : null);

export { cellText };
