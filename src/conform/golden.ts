/**
 * `ohem-ref golden`: the golden vectors. One JSON file per case — the request exactly as a port
 * receives it (every attr default spelled out), the reference's outputs as exact little-endian
 * bits (b64) and as decimals, the tolerance of each output with its justification, the tie rule,
 * tags — and a MANIFEST.json with the protocol version and the sha256 of every case file.
 *
 * Cases: for every suite (every op of PROTOCOL.md; every dialect of ohem_select and ohem_step) a
 * handful drawn from the suite's fast-check arbitrary with a fixed seed, chosen to cover as many
 * tags as possible, plus the hand-picked SPEC edge cases of edges.ts. Every case is sent to the
 * independent numpy oracle as it is generated; a case the oracle disagrees with (or whose SPEC
 * check fails) is printed and not written, and the run fails.
 *
 * Deterministic: the same seed and sources give the same bytes (no timestamps, fixed key order).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { handleRequest, PROTOCOL_MINOR, PROTOCOL_VERSION, SERVER_NAME, SERVER_VERSION } from '../protocol/server.js';
import { decodeTensor, encodeTensor, type JsonTensor } from '../protocol/codec.js';
import type { PortClient } from '../protocol/client.js';
import { type Tolerance, decodeAnswer, measureOutputs } from './compare.js';
import { OP_VERSIONS, attrDefaults, completeAttrs, dialectOf, optionalOutputs, tiePolicy, variantOf, type TiePolicy } from './defaults.js';
import { EDGES, type Edge } from './edges.js';
import { SUITES, type Req, type Suite } from './suites.js';
import { stableJson } from './json.js';
import { precisionBounds } from './reference.js';

/**
 * 2: protocol 1.1 — every attr of the op's def spelled out (ohem_select/ohem_step: of the case's
 * dialect only), `protocol_minor` in every case and the manifest, ohem_select/ohem_step at op
 * version 2 (precision governs the NMS scores; batch_size 0 selects nothing).
 * 3: `precision` — each float output whose def has a precision model (linear, softmax,
 * softmax_loss) states the model, its justification and the bound at every element, so a port
 * that checks itself against the files alone can judge a float32-accumulation difference.
 */
export const GOLDEN_SCHEMA_VERSION = 3;
export const DEFAULT_GOLDEN_SEED = 20161604;
export const DEFAULT_PER_SUITE = 5;
/** Draws per suite from which the generated cases are chosen. */
const POOL = 40;
/** A generated case larger than this is passed over (the committed set stays small). */
const MAX_CASE_BYTES = 48 * 1024;

export type ExpectedTensor = JsonTensor & { readonly b64: string; readonly data: ReadonlyArray<number | string> };

export interface GoldenCase {
  readonly schema_version: number;
  readonly name: string;
  readonly suite: string;
  readonly op: string;
  readonly op_version: number;
  readonly protocol: number;
  readonly protocol_minor: number;
  readonly dialect: string | null;
  readonly title: string;
  readonly spec: string | null;
  readonly tags: readonly string[];
  readonly tie_policy: TiePolicy;
  readonly request: Req;
  readonly expected: Readonly<Record<string, ExpectedTensor>>;
  readonly tolerance: Readonly<Record<string, Tolerance>>;
  /** Outputs with a precision model: a port may differ from `expected` by up to `bound[i]` at element i. */
  readonly precision: Readonly<Record<string, PrecisionStatement>>;
  readonly optional_outputs: readonly string[];
  readonly provenance: Readonly<Record<string, string | number>>;
}

/** A precision model as a case file states it (src/ops/precision.ts declares the models). */
export interface PrecisionStatement {
  readonly model: string;
  readonly note: string;
  /** The absolute bound at each element, row-major, as decimals (float64, shortest round trip). */
  readonly bound: readonly number[];
}

export interface ManifestEntry {
  readonly file: string;
  readonly name: string;
  readonly suite: string;
  readonly op: string;
  readonly op_version: number;
  readonly dialect: string | null;
  readonly tags: readonly string[];
  readonly sha256: string;
}

export interface Manifest {
  readonly schema_version: number;
  readonly protocol: number;
  readonly protocol_minor: number;
  readonly generator: string;
  readonly reference: string;
  readonly seed: number;
  readonly per_suite: number;
  readonly op_versions: Readonly<Record<string, number>>;
  readonly suites: Readonly<Record<string, number>>;
  readonly cases: readonly ManifestEntry[];
}

export const sha256 = (bytes: string | Buffer): string => createHash('sha256').update(bytes).digest('hex');

const EXACT: Tolerance = { atol: 0, rtol: 0, note: 'exact' };

type Decoded = Record<string, number[]>;

const decodeAll = (outputs: Record<string, unknown>): Decoded => {
  const o: Decoded = {};
  for (const [k, v] of Object.entries(outputs)) {
    const t = decodeAnswer(k, v);
    if (E.isRight(t)) o[k] = Array.from(t.right.data);
  }
  return o;
};

/** The reference's answer to a complete request, as golden expected tensors (b64 + decimals). */
const referenceAnswer = (req: Req): { expected: Record<string, ExpectedTensor> } | { error: string } => {
  const resp = handleRequest({ id: 0, ...req, encoding: 'b64' }) as Record<string, unknown>;
  if ('error' in resp) return { error: JSON.stringify(resp.error) };
  const expected: Record<string, ExpectedTensor> = {};
  for (const [name, j] of Object.entries(resp.outputs as Record<string, JsonTensor>)) {
    const t = decodeTensor(name, j);
    if (E.isLeft(t)) return { error: `the reference's ${name} does not decode: ${t.left.message}` };
    // the codec writes −0 as 0 (JSON has no −0 of its own); the golden decimals keep the sign (json.ts writes -0.0)
    const data = encodeTensor(t.right, 'data').data!.map((v, i) => (Object.is(t.right.data[i], -0) ? -0 : v));
    expected[name] = { dtype: j.dtype, shape: [...j.shape], b64: j.b64!, data };
  }
  return { expected };
};

// ------------------------------------------------------------------------------------ tags

const numbers = (t: unknown): number[] => {
  const j = t as { data?: unknown[] } | undefined;
  return (j?.data ?? []).map((v) => (typeof v === 'number' ? v : Number(v)));
};
const dtypeOf = (t: unknown): string => (t as { dtype?: string } | undefined)?.dtype ?? '';
const hasDuplicates = (xs: number[]): boolean => new Set(xs).size < xs.length;
const fl = Math.fround;
/** C round (half away from zero). */
const cRound = (x: number): number => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

const roiTags = (rois: number[], attrs: Record<string, unknown>): string[] => {
  const tags: string[] = [];
  const s = fl(Number(attrs.spatial_scale));
  const ph = Number(attrs.pooled_h);
  const pw = Number(attrs.pooled_w);
  for (let r = 0; r * 5 < rois.length; r++) {
    const [b, ...c] = rois.slice(r * 5, r * 5 + 5).map(fl);
    const p = c.map((v) => fl(v * s));
    if (p.some((v) => Math.abs(v - Math.trunc(v)) === 0.5)) tags.push('edge:c-round');
    const [sw, sh, ew, eh] = p.map(cRound);
    if ((eh - sh + 1 === 57 && ph === 7) || (ew - sw + 1 === 57 && pw === 7)) tags.push('edge:overshoot-57');
    if (ew < sw || eh < sh) tags.push('edge:malformed-roi');
    if (b !== Math.trunc(b)) tags.push('edge:batch-trunc');
  }
  return tags;
};

/** Tags read off a case: non-default enum/boolean attrs, input dtypes, and the edges it touches. */
const autoTags = (op: string, req: Req, expected: Decoded): string[] => {
  const tags: string[] = [];
  const a = req.attrs;
  const defaults = attrDefaults(op, variantOf(op, a));
  for (const [k, v] of Object.entries(a))
    if (k !== 'dialect' && (typeof v === 'string' || typeof v === 'boolean') && v !== defaults[k]) tags.push(`${k}:${v}`);
  if (Object.values(req.inputs).some((t) => dtypeOf(t) === 'float64') && !['top_k', 'ohem_select'].includes(op)) tags.push('dtype:float64');
  const i = req.inputs;
  switch (op) {
    case 'roi_pool':
    case 'roi_pool_backward':
      tags.push(...roiTags(numbers(i.rois), a));
      if (op === 'roi_pool' && expected.argmax?.includes(-1)) tags.push('edge:empty-bin');
      break;
    case 'nms': {
      const sc = numbers(i.scores);
      if (hasDuplicates(a.precision === 'float64' ? sc : sc.map(fl))) tags.push('edge:ties');
      const bx = numbers(i.boxes);
      for (let k = 0; k * 4 < bx.length; k++) if (bx[k * 4 + 2] <= bx[k * 4] || bx[k * 4 + 3] <= bx[k * 4 + 1]) tags.push('edge:degenerate-box');
      break;
    }
    case 'top_k': {
      const v = numbers(i.values);
      if (hasDuplicates(v)) tags.push('edge:ties');
      if (Number(a.k) > v.length) tags.push('edge:k-above-n');
      break;
    }
    case 'softmax_loss': {
      if (a.ignore_label !== null && a.ignore_label !== undefined) tags.push('edge:ignore-label');
      const lab = numbers(i.labels);
      const K = (i.scores as { shape: number[] }).shape[1];
      if (lab.some((y, r) => y >= 0 && y < K && expected.prob?.[r * K + y] < 1.1754943508222875e-38)) tags.push('edge:flt-min-clamp');
      break;
    }
    case 'smooth_l1_loss':
      if (a.sigma !== 1) tags.push('edge:sigma');
      break;
    case 'dropout':
    case 'dropout_backward':
      if (a.ratio !== 0.5) tags.push('edge:dropout-scale');
      break;
    case 'sgd_update':
      if (Number(a.iter_size) > 1) tags.push('edge:iter-size');
      break;
    case 'ohem_roi_loss': {
      const p = numbers(i.cls_prob).map(fl);
      const lab = numbers(i.labels);
      const K = (i.cls_prob as { shape: number[] }).shape[1];
      const eps = Number(a.eps);
      const py = lab.map((y, r) => p[r * K + y]);
      if (py.some((v) => v < eps)) tags.push('edge:eps-clamp');
      if (py.some((v) => v === eps)) tags.push('edge:eps-equal');
      if ('bbox_pred' in i) tags.push('bbox');
      break;
    }
    case 'ohem_select':
      if (expected.hard_inds && hasDuplicates(numbers(i.loss))) tags.push('edge:ties');
      break;
    case 'ohem_step':
      if (Number(a.dropout_ratio) > 0) tags.push('dropout');
      break;
  }
  return [...new Set(tags)].sort();
};

// ------------------------------------------------------------------------------------ cases

interface Draft {
  readonly case: GoldenCase;
  readonly bytes: string;
  readonly file: string;
  readonly check?: Edge['check'];
}

const suiteDir = (suite: string): string => suite; // `ohem_select/mmdet-ohem` is a folder in a folder

const makeCase = (
  suite: Suite,
  raw: Req,
  meta: { name: string; title: string; spec: string | null; tags: readonly string[]; source: string },
  seed: number,
): { draft: Draft } | { error: string } => {
  const request: Req = { op: raw.op, attrs: completeAttrs(raw.op, raw.attrs ?? {}), inputs: raw.inputs };
  const ans = referenceAnswer(request);
  if ('error' in ans) return { error: `the reference refused it: ${ans.error}` };
  const decoded = decodeAll(ans.expected);
  const dialect = dialectOf(request.op, request.attrs);
  const tags = [...new Set([...meta.tags, ...(dialect ? [`dialect:${dialect}`] : []), ...autoTags(request.op, request, decoded)])].sort();
  const tolerance: Record<string, Tolerance> = {};
  for (const out of Object.keys(ans.expected)) tolerance[out] = suite.tolerances[out] ?? EXACT;
  const bounds = precisionBounds(suite.def, request);
  const precision: Record<string, PrecisionStatement> = {};
  for (const o of suite.def.outputs) {
    if (!o.precision || !(o.name in bounds) || !(o.name in ans.expected)) continue;
    precision[o.name] = { model: o.precision.model, note: o.precision.note, bound: Array.from(bounds[o.name]!) };
  }
  const name = `${suite.key}/${meta.name}`;
  const c: GoldenCase = {
    schema_version: GOLDEN_SCHEMA_VERSION,
    name,
    suite: suite.key,
    op: request.op,
    op_version: OP_VERSIONS[request.op] ?? 1,
    protocol: PROTOCOL_VERSION,
    protocol_minor: PROTOCOL_MINOR,
    dialect,
    title: meta.title,
    spec: meta.spec,
    tags,
    tie_policy: tiePolicy(request.op, request.attrs),
    request,
    expected: ans.expected,
    tolerance,
    precision,
    optional_outputs: [...optionalOutputs(request.op)],
    provenance: {
      generator: 'ohem-ref golden',
      reference: `${SERVER_NAME} ${SERVER_VERSION}`,
      source: meta.source,
      seed,
      cross_check: 'the numpy oracle (properties/oracle, written from SPEC.md) agreed within the tolerances when this case was generated',
    },
  };
  return { draft: { case: c, bytes: stableJson(c), file: `${suiteDir(suite.key)}/${meta.name}.json` } };
};

/** The generated drafts of one suite: a pool drawn with the seed, then a greedy cover of tags. */
const generatedDrafts = (suite: Suite, index: number, seed: number, perSuite: number, log: (s: string) => void): Draft[] => {
  const suiteSeed = (seed + 1009 * (index + 1)) | 0;
  const pool = fc.sample(suite.arbitrary, { seed: suiteSeed, numRuns: POOL });
  const drafts: { d: Draft; tags: Set<string>; k: number }[] = [];
  pool.forEach((req, k) => {
    const r = makeCase(
      suite,
      req,
      { name: 'gen-00', title: `generated: draw ${k} of the ${suite.key} arbitrary`, spec: null, tags: ['generated'], source: `fast-check draw ${k} of the ${suite.key} arbitrary (seed ${suiteSeed})` },
      seed,
    );
    if ('error' in r) {
      log(`golden: ${suite.key} draw ${k} skipped: ${r.error}`);
      return;
    }
    if (r.draft.bytes.length > MAX_CASE_BYTES) return;
    drafts.push({ d: r.draft, tags: new Set(r.draft.case.tags), k });
  });
  const chosen: typeof drafts = [];
  const covered = new Set<string>();
  while (chosen.length < perSuite && drafts.length > 0) {
    let best = 0;
    let bestScore = -1;
    drafts.forEach((x, j) => {
      const score = [...x.tags].filter((t) => !covered.has(t)).length;
      if (score > bestScore) {
        best = j;
        bestScore = score;
      }
    });
    const [x] = drafts.splice(best, 1);
    x.tags.forEach((t) => covered.add(t));
    chosen.push(x);
  }
  chosen.sort((a, b) => a.k - b.k);
  return chosen.map((x, j) => {
    const name = `gen-${String(j + 1).padStart(2, '0')}`;
    const c = { ...x.d.case, name: `${suite.key}/${name}` };
    return { case: c, bytes: stableJson(c), file: `${suiteDir(suite.key)}/${name}.json` };
  });
};

const edgeDrafts = (suite: Suite, seed: number, log: (s: string) => void): Draft[] =>
  EDGES.filter((e) => e.suite === suite.key).flatMap((e) => {
    const r = makeCase(suite, e.request, { name: `edge-${e.name}`, title: e.title, spec: e.spec, tags: ['spec-example', ...e.tags], source: 'hand-picked SPEC edge case (src/conform/edges.ts)' }, seed);
    if ('error' in r) {
      log(`golden: REFUSED ${suite.key}/edge-${e.name}: ${r.error}`);
      return [];
    }
    return [{ ...r.draft, check: e.check }];
  });

// ------------------------------------------------------------------------------------ generate

export interface GenerateOptions {
  readonly out: string;
  readonly seed?: number;
  readonly perSuite?: number;
  /** The numpy oracle (or any trusted port) to cross-check every case with; null: no cross-check. */
  readonly oracle: PortClient | null;
  readonly log?: (line: string) => void;
  /** Only these suites (for tests); all by default. */
  readonly suites?: readonly string[];
}

export interface Refusal {
  readonly name: string;
  readonly why: string;
}

export interface GenerateResult {
  readonly written: number;
  readonly refused: readonly Refusal[];
  readonly bytes: number;
  readonly manifest: Manifest;
}

/** Removes what an earlier run wrote (the files its manifest lists), and nothing else. */
const clearPrevious = (out: string): void => {
  const mpath = join(out, 'MANIFEST.json');
  if (!existsSync(mpath)) {
    if (existsSync(out) && readdirSync(out).length > 0)
      throw new Error(`${out} is not empty and holds no MANIFEST.json: not overwriting a folder golden did not write`);
    return;
  }
  const m = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
  for (const c of m.cases ?? []) rmSync(join(out, c.file), { force: true });
  rmSync(mpath, { force: true });
  // Remove the folders left empty, deepest first.
  const dirs = [...new Set((m.cases ?? []).flatMap((c) => {
    const parts = c.file.split('/').slice(0, -1);
    return parts.map((_, i) => join(out, ...parts.slice(0, i + 1)));
  }))].sort((a, b) => b.length - a.length);
  for (const d of dirs) if (existsSync(d) && readdirSync(d).length === 0) rmSync(d, { recursive: true });
};

export const generateGolden = async (options: GenerateOptions): Promise<GenerateResult> => {
  const seed = options.seed ?? DEFAULT_GOLDEN_SEED;
  const perSuite = options.perSuite ?? DEFAULT_PER_SUITE;
  const log = options.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const refused: Refusal[] = [];
  const accepted: Draft[] = [];
  let id = 0;
  for (const [index, suite] of SUITES.entries()) {
    if (options.suites && !options.suites.includes(suite.key)) continue;
    const drafts = [...generatedDrafts(suite, index, seed, perSuite, log), ...edgeDrafts(suite, seed, log)];
    for (const d of drafts) {
      const c = d.case;
      if (d.check) {
        const bad = d.check(decodeAll(c.expected));
        if (bad) {
          refused.push({ name: c.name, why: `SPEC's hand-derived answer: ${bad}` });
          log(`golden: REFUSED ${c.name}: ${bad}\n  request: ${JSON.stringify(c.request).slice(0, 2000)}`);
          continue;
        }
      }
      if (options.oracle) {
        const o = await options.oracle.request({ id: ++id, ...c.request });
        let why: string | null = null;
        if (o.kind !== 'ok') why = `the oracle ${o.kind === 'timeout' ? 'timed out' : o.kind === 'exited' ? 'exited' : 'wrote garbage'}`;
        else if ('error' in o.response) why = `the oracle refused it: ${JSON.stringify(o.response.error)}`;
        else {
          const m = measureOutputs(c.expected, o.response.outputs as Record<string, unknown>, c.tolerance).mismatch;
          if (m) why = `the oracle disagrees on ${m.output}: ${m.message}`;
        }
        if (why) {
          refused.push({ name: c.name, why });
          log(`golden: REFUSED ${c.name}: ${why}\n  request: ${JSON.stringify(c.request).slice(0, 2000)}`);
          continue;
        }
      }
      accepted.push(d);
    }
  }
  clearPrevious(options.out);
  let bytes = 0;
  const entries: ManifestEntry[] = [];
  const suites: Record<string, number> = {};
  for (const d of accepted) {
    const path = join(options.out, d.file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, d.bytes);
    bytes += Buffer.byteLength(d.bytes);
    const c = d.case;
    suites[c.suite] = (suites[c.suite] ?? 0) + 1;
    entries.push({ file: d.file, name: c.name, suite: c.suite, op: c.op, op_version: c.op_version, dialect: c.dialect, tags: c.tags, sha256: sha256(d.bytes) });
  }
  const manifest: Manifest = {
    schema_version: GOLDEN_SCHEMA_VERSION,
    protocol: PROTOCOL_VERSION,
    protocol_minor: PROTOCOL_MINOR,
    generator: 'ohem-ref golden',
    reference: `${SERVER_NAME} ${SERVER_VERSION}`,
    seed,
    per_suite: perSuite,
    op_versions: OP_VERSIONS,
    suites,
    cases: entries,
  };
  const mbytes = stableJson(manifest);
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'MANIFEST.json'), mbytes);
  return { written: accepted.length, refused, bytes: bytes + Buffer.byteLength(mbytes), manifest };
};

// ------------------------------------------------------------------------------------ load

export interface LoadedGolden {
  readonly manifest: Manifest;
  readonly cases: readonly GoldenCase[];
  /** Files missing, unreadable, or whose sha256 is not the manifest's. */
  readonly problems: readonly string[];
}

/** Reads a golden folder, checking every file against the manifest's sha256. */
export const loadGolden = (dir: string): LoadedGolden | { error: string } => {
  const mpath = join(dir, 'MANIFEST.json');
  if (!existsSync(mpath)) return { error: `${mpath} does not exist (generate it with \`ohem-ref golden --out ${dir}\`)` };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
  } catch (e) {
    return { error: `${mpath} is not JSON: ${(e as Error).message}` };
  }
  if (manifest.protocol !== PROTOCOL_VERSION) return { error: `${mpath} is for protocol ${manifest.protocol}; this is protocol ${PROTOCOL_VERSION}` };
  const cases: GoldenCase[] = [];
  const problems: string[] = [];
  for (const e of manifest.cases) {
    const p = join(dir, e.file);
    if (!existsSync(p)) {
      problems.push(`${e.file}: missing`);
      continue;
    }
    const bytes = readFileSync(p);
    if (sha256(bytes) !== e.sha256) problems.push(`${e.file}: sha256 differs from the manifest's (edited or corrupted)`);
    try {
      cases.push(JSON.parse(bytes.toString('utf8')) as GoldenCase);
    } catch (e2) {
      problems.push(`${e.file}: not JSON (${(e2 as Error).message})`);
    }
  }
  return { manifest, cases, problems };
};
