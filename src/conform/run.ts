/**
 * Running conform (`ohem-ref conform --port "<command>"`): per suite (an op, or an op/dialect),
 * the golden cases, then an exploration of `runs` generated requests that keeps going after a
 * failure, then one shrink per distinct failure signature (up to `maxFailures`), each with its
 * own failure file. The port session, judging, attribution and reporting live in their own
 * modules; this one holds no state beyond one call.
 *
 * - Every request a port is judged on lies inside protocol 1.1's domain (domain.ts); what the
 *   generators draw beyond it is sent as a probe, reported as information.
 * - A port's capabilities (describe's info.capabilities) narrow the requests to its values; an
 *   `unsupported` answer does not use up a run (fast-check draws again), and conform learns the
 *   attr value it names so that it stops asking.
 * - A failure's signature is its kind and what explains it (the attribution: the alternative
 *   convention that reproduces the port's answer), or the enum attrs away from their defaults
 *   when nothing does; the outputs that differ are reported with it.
 * - Verdicts: pass; precision (beyond the tolerance but within the float32 precision model:
 *   reported, not failed, unless `strict`); fail; unsupported; not run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { PROTOCOL_VERSION } from '../protocol/server.js';
import { REGISTRY } from '../mining/registry.js';
import { attrDefsFor, type AnyOpDef } from '../ops/index.js';
import type { Worst } from './compare.js';
import { optionalOutputs } from './defaults.js';
import { loadGolden, type GoldenCase } from './golden.js';
import { selectSuites, type Req, type Suite } from './suites.js';
import { reduceRequest } from './reduce.js';
import { stableJson } from './json.js';
import { PortSession, isFatal, DEFAULT_STARTUP_MS, DEFAULT_TIMEOUT_MS, type Answer } from './session.js';
import { judge, worse, type Judged, type JudgeOptions } from './judge.js';
import { intoDomain, type Beyond } from './domain.js';
import { CoverageCounter, effective, narrow, outputsLeftOut, parseCapabilities, withinCapabilities, type Capabilities, type Coverage } from './capabilities.js';
import { attribute, type Attribution } from './attribution.js';
import { conventionsOf, findProfile, profileNames, type Profile } from '../protocol/profiles.js';
import { precisionBounds, referenceAnswer } from './reference.js';
import { answerForFile, readable, shellQuote, summarise } from './report.js';

export { DEFAULT_STARTUP_MS, DEFAULT_TIMEOUT_MS };
export const DEFAULT_GOLDEN_DIR = fileURLToPath(new URL('../../golden/', import.meta.url));
export const DEFAULT_RUNS = 100;
export const DEFAULT_SEED = 20161604;
export const DEFAULT_FAILURES_DIR = 'conform-failures';
export const DEFAULT_MAX_FAILURES = 5;
export const DEFAULT_PROFILE = 'caffe';

export interface ConformOptions {
  /** Shell command that starts the port. */
  readonly port: string;
  /** Ops or suite keys (`ohem_select/mmdet-ohem`) to run; all when absent. */
  readonly ops?: readonly string[];
  /** Generated requests per suite that the port answers (0: golden cases only). */
  readonly runs?: number;
  readonly seed?: number;
  /** Per-request timeout. */
  readonly timeoutMs?: number;
  /** Extra time allowed to the first request after each (re)start of the port (its start-up). */
  readonly startupMs?: number;
  /** Golden folder; null: no golden cases. */
  readonly golden?: string | null;
  readonly failuresDir?: string;
  /** Wall-clock budget of one suite's generated phase (exploration and shrinking). */
  readonly budgetMs?: number;
  /** Restarts of the port allowed within one suite before the suite is given up (default 20). */
  readonly maxRestarts?: number;
  /** Distinct failure signatures shrunk per suite, each with its own failure file (default 5). */
  readonly maxFailures?: number;
  /** The conventions the reference is run under (default `caffe`: the original's). */
  readonly profile?: string;
  /** A `precision` verdict counts as a failure. */
  readonly strict?: boolean;
  readonly cwd?: string;
  /** Progress lines (stderr by default). */
  readonly log?: (line: string) => void;
  /** Aborting stops conform after killing the port; the report of what ran is still returned. */
  readonly signal?: AbortSignal;
}

export type Verdict = 'pass' | 'precision' | 'fail' | 'unsupported' | 'not run';

export interface Problem {
  readonly kind: string;
  /** Golden cases and generated requests that failed this way. */
  golden: number;
  generated: number;
  readonly example: string;
}

/** One distinct divergence of a suite: its smallest request, both answers, what explains it. */
export interface FailureReport {
  readonly signature: string;
  readonly kind: string;
  readonly output: string | null;
  /** The message of the smallest failing request. */
  readonly message: string;
  /** Generated requests (of the exploration) that failed with this signature. */
  readonly runs: number;
  /** The exploration's run (1-based, answered requests) where it was first seen. */
  readonly firstRun: number;
  readonly shrinks: number;
  readonly reduced: number;
  readonly attribution: Attribution | null;
  readonly counterexample: string;
  readonly file: string | null;
  /** The reference's and the port's values at the differing elements, with the indices. */
  readonly elements: readonly string[];
}

/** A request beyond the contract's domain, sent as information. */
export interface ProbeReport {
  readonly what: string;
  readonly outcome: 'agrees' | 'refuses' | 'differs' | 'fails';
  readonly detail: string;
  count: number;
}

export interface SuiteReport {
  readonly suite: string;
  readonly op: string;
  readonly golden: { passed: number; precision: number; failed: number; unsupported: number; skipped: number; beyond: number; uncovered: number; total: number };
  readonly properties: {
    passed: number;
    precision: number;
    /** Distinct failure signatures. */
    failed: number;
    /** Generated requests that failed (all signatures). */
    failedRuns: number;
    /** The run (1-based) that failed first. */
    failedAt: number;
    /** fast-check's shrinks and conform's reduction steps of the first failure. */
    shrinks: number;
    reduced: number;
    unsupported: number;
    /** Requests not asked: their attr values were answered unsupported before. */
    skipped: number;
    ran: boolean;
    interrupted: boolean;
  };
  worst: Worst | null;
  verdict: Verdict;
  readonly problems: Problem[];
  /** What went wrong first, in one line. */
  firstFailure: string | null;
  /** The first failure's counterexample, summarised in one line. */
  counterexample: string | null;
  /** Names of the golden cases that failed (the first few). */
  goldenFailures: string[];
  /** The first failure file. */
  failureFile: string | null;
  readonly failures: FailureReport[];
  /** The first `precision` difference, in one line. */
  precisionNote: string | null;
  /** The outputs found within their precision models only, and the largest share of a bound used. */
  readonly precisionOutputs: string[];
  precisionShare: number;
  readonly probes: ProbeReport[];
  coverage: Coverage | null;
  notes: string[];
  /** Unsupported because the port's describe does not list the op (or its capabilities leave out the dialect). */
  notInDescribe?: boolean;
}

export interface ConformReport {
  readonly port: string;
  readonly portInfo: string;
  readonly seed: number;
  readonly runs: number;
  readonly timeoutMs: number;
  readonly profile: string;
  readonly strict: boolean;
  readonly goldenDir: string | null;
  readonly goldenCases: number;
  readonly goldenProblems: readonly string[];
  readonly capabilityNotes: readonly string[];
  readonly suites: readonly SuiteReport[];
  readonly fatal: string | null;
  readonly exitCode: number;
  readonly elapsedMs: number;
}

/** A suite whose port has failed its first requests this many times in a row, answering none, is given up. */
const GIVE_UP_AFTER = 2;
/** A suite whose port has answered this many requests unsupported and none otherwise is left as unsupported. */
const UNSUPPORTED_GIVE_UP = 25;
/** Probes beyond the domain per kind and suite. */
const PROBES_PER_KIND = 2;

// ------------------------------------------------------------------------------------ a trial

interface Trial {
  readonly req: Req;
  readonly reference: Record<string, unknown>;
  readonly ans: Answer;
  readonly j: Judged;
  readonly attribution: Attribution | null;
  readonly signature: string;
}

interface SuiteContext {
  readonly suite: Suite;
  readonly session: PortSession;
  readonly profile: Profile;
  readonly caps: Capabilities;
  readonly runs: number;
  readonly seed: number;
  readonly budgetMs: number;
  readonly maxRestarts: number;
  readonly maxFailures: number;
  readonly strict: boolean;
  readonly failuresDir: string;
  readonly port: string;
  readonly signal?: AbortSignal;
}

const fileSafe = (key: string): string => key.replace(/\//g, '__');

const newReport = (suite: Suite, goldenTotal: number): SuiteReport => ({
  suite: suite.key,
  op: suite.op,
  golden: { passed: 0, precision: 0, failed: 0, unsupported: 0, skipped: 0, beyond: 0, uncovered: 0, total: goldenTotal },
  properties: { passed: 0, precision: 0, failed: 0, failedRuns: 0, failedAt: 0, reduced: 0, unsupported: 0, skipped: 0, ran: false, shrinks: 0, interrupted: false },
  worst: null,
  verdict: 'not run',
  problems: [],
  firstFailure: null,
  counterexample: null,
  goldenFailures: [],
  failureFile: null,
  failures: [],
  precisionNote: null,
  precisionOutputs: [],
  precisionShare: 0,
  probes: [],
  coverage: null,
  notes: [],
});

/** The enum and bool attrs in force of a request that are not at their defaults, as `a=v` (a signature's attr region). */
const attrRegion = (def: AnyOpDef, req: Req): string => {
  const selectors = new Set((def.variants ?? []).map((v) => v.by));
  const chosen = Object.fromEntries(def.attrs.map((a) => [a.name, effective(req, a)]));
  return attrDefsFor(def, chosen)
    .filter((a) => !selectors.has(a.name) && (a.domain.kind === 'enum' || a.domain.kind === 'bool') && effective(req, a) !== a.default)
    .map((a) => `${a.name}=${String(effective(req, a))}`)
    .join(',');
};

/** An attr as a request spells it: `name=value` when given, `name` (its default) when left out. */
const spelled = (req: Req, name: string): string => {
  const v = req.attrs[name];
  return v === undefined || v === null ? name : `${name}=${JSON.stringify(v)}`;
};

/** One suite's run: its counters, the port's health, what it learned, the failures by signature. */
class SuiteRun {
  readonly rep: SuiteReport;
  private readonly def: AnyOpDef;
  private readonly conventions: Readonly<Record<string, unknown>>;
  private readonly optional: readonly string[];
  private readonly startsBefore: number;
  private consecutiveFatal = 0;
  private anyAnswer = false;
  private gaveUp: string | null = null;
  /** What the port answered unsupported, naming the attr: `attr=value` as given, or `attr` absent (its default). */
  private readonly refused = new Set<string>();
  private readonly coverage: CoverageCounter;
  private readonly probeKinds = new Map<string, number>();

  constructor(private readonly ctx: SuiteContext, goldenTotal: number) {
    this.rep = newReport(ctx.suite, goldenTotal);
    this.def = ctx.suite.def;
    this.conventions = conventionsOf(ctx.profile, ctx.suite.op);
    this.optional = [...optionalOutputs(ctx.suite.op), ...outputsLeftOut(this.def, ctx.caps)];
    this.startsBefore = ctx.session.starts;
    this.coverage = new CoverageCounter(this.def, ctx.suite.dialect ? { [this.def.variants![0].by]: ctx.suite.dialect } : {}, ctx.caps);
  }

  private restarts(): number {
    return Math.max(0, this.ctx.session.starts - this.startsBefore - 1);
  }

  canGoOn(): boolean {
    if (this.ctx.signal?.aborted) this.gaveUp ??= 'interrupted';
    if (this.gaveUp) return false;
    if (!this.anyAnswer && this.consecutiveFatal >= GIVE_UP_AFTER) this.gaveUp = `gave up: the port failed on all of its first ${this.consecutiveFatal} requests`;
    else if (this.restarts() >= this.ctx.maxRestarts) this.gaveUp = `gave up after ${this.restarts()} restarts of the port`;
    else if (!this.anyAnswer && this.rep.properties.unsupported + this.rep.golden.unsupported >= UNSUPPORTED_GIVE_UP) {
      this.gaveUp = `stopped asking: the port answered its first ${UNSUPPORTED_GIVE_UP} requests unsupported`;
      return false;
    }
    return this.gaveUp === null;
  }

  get stoppedBy(): string | null {
    return this.gaveUp;
  }

  /** The request a generated value becomes: narrowed to the capabilities, then moved into the domain. */
  prepare(raw: Req): { req: Req; original: Req; beyond: readonly Beyond[] } {
    const narrowed = narrow(this.def, raw, this.ctx.caps);
    const d = intoDomain(this.def, narrowed);
    return { req: d.req, original: narrowed, beyond: d.beyond };
  }

  /**
   * Whether the port has already answered one of this request's attrs unsupported, as the request
   * spells it: an attr given (name and value: a port may refuse the name itself, as protocol 1.1
   * says, or one value), or an attr left out (the port refused its default).
   */
  knownUnsupported(req: Req): boolean {
    if (this.refused.size === 0) return false;
    const chosen = Object.fromEntries(this.def.attrs.map((a) => [a.name, effective(req, a)]));
    return attrDefsFor(this.def, chosen).some((a) => this.refused.has(spelled(req, a.name)));
  }

  private judging(req: Req): JudgeOptions {
    return { tolerances: this.ctx.suite.tolerances, precision: precisionBounds(this.def, req, this.conventions), optional: this.optional };
  }

  /** Asks the reference and the port, judges, attributes a failure. Null when the reference refuses the request (a bug of ours, noted). */
  async trial(req: Req, expected?: { outputs: Record<string, unknown>; judging: JudgeOptions }, explore = true): Promise<Trial | null> {
    let reference: Record<string, unknown>;
    let judging: JudgeOptions;
    if (expected) ({ outputs: reference, judging } = expected);
    else {
      const r = referenceAnswer(req, this.conventions);
      if ('error' in r) {
        // While shrinking, a candidate the reference refuses is just not a counterexample.
        if (explore) this.note(`the reference refused a generated request (${r.error.code}: ${r.error.message.slice(0, 200)}): a bug of ohem-ref, please report it`);
        return null;
      }
      reference = r.outputs;
      judging = this.judging(req);
    }
    const ans = await this.ctx.session.ask(req as unknown as Record<string, unknown>);
    if (isFatal(ans)) this.consecutiveFatal++;
    else {
      this.consecutiveFatal = 0;
      if (ans.kind === 'outputs' || (ans.kind === 'error' && ans.code !== 'unsupported' && ans.code !== 'unknown_op')) this.anyAnswer = true;
    }
    const j = judge(ans, reference, judging);
    if (j.verdict === 'unsupported' && j.attr) this.refused.add(spelled(req, j.attr));
    if (explore && j.verdict !== 'unsupported' && (ans.kind === 'outputs' || ans.kind === 'error')) this.coverage.add(req);
    let attribution: Attribution | null = null;
    let signature = '';
    if (j.verdict === 'fail') {
      attribution = expected ? null : attribute(this.def, req, ans, this.conventions, judging, this.ctx.caps);
      // What explains a failure tells two bugs apart better than the output it shows in first
      // (one rounding bug moves top in one request and only argmax in another).
      signature = isFatal(ans) ? j.kind : `${j.kind}|${attribution ? attribution.label : `unexplained|${attrRegion(this.def, req)}`}`;
    }
    return { req, reference, ans, j, attribution, signature };
  }

  note(n: string): void {
    if (!this.rep.notes.includes(n)) this.rep.notes.push(n);
  }

  problem(j: Judged, golden: boolean): void {
    if (j.verdict !== 'fail') return;
    const p = this.rep.problems.find((x) => x.kind === j.kind);
    if (p) golden ? p.golden++ : p.generated++;
    else this.rep.problems.push({ kind: j.kind, golden: golden ? 1 : 0, generated: golden ? 0 : 1, example: j.message });
    this.rep.firstFailure ??= `${j.kind}: ${j.message}`;
  }

  counted(j: Judged, golden: boolean): void {
    const c = golden ? this.rep.golden : this.rep.properties;
    if (j.verdict === 'pass' || j.verdict === 'precision') {
      this.rep.worst = worse(this.rep.worst, j.worst);
      if (j.verdict === 'pass') c.passed++;
      else {
        c.precision++;
        this.rep.precisionNote ??= j.message;
        if (!this.rep.precisionOutputs.includes(j.output)) this.rep.precisionOutputs.push(j.output);
        this.rep.precisionShare = Math.max(this.rep.precisionShare, j.diff.share);
      }
    } else if (j.verdict === 'unsupported') c.unsupported++;
  }

  /**
   * Probes what lies beyond the domain in a request, one thing at a time (the rest moved into the
   * domain), at most PROBES_PER_KIND times per kind; records what the port does with it.
   */
  async probe(original: Req, beyond: readonly Beyond[]): Promise<void> {
    for (const b of beyond) {
      const n = this.probeKinds.get(b.what) ?? 0;
      if (n >= PROBES_PER_KIND || !this.canGoOn()) continue;
      this.probeKinds.set(b.what, n + 1);
      const req = intoDomain(this.def, original, b).req;
      const r = referenceAnswer(req, this.conventions);
      if ('error' in r) continue;
      const ans = await this.ctx.session.ask(req as unknown as Record<string, unknown>);
      if (isFatal(ans)) this.consecutiveFatal++;
      const j = judge(ans, r.outputs, this.judging(req));
      const outcome: ProbeReport['outcome'] =
        ans.kind === 'error' ? 'refuses' : j.verdict === 'pass' || j.verdict === 'precision' ? 'agrees' : ans.kind === 'outputs' ? 'differs' : 'fails';
      const detail = ans.kind === 'error' ? `${ans.code}: ${ans.message.slice(0, 160)}` : j.verdict === 'fail' ? j.message.slice(0, 200) : '';
      const p = this.rep.probes.find((x) => x.what === b.what && x.outcome === outcome);
      if (p) p.count++;
      else this.rep.probes.push({ what: b.what, outcome, detail, count: 1 });
    }
  }

  writeFailure(n: number, what: Record<string, unknown>, request: Req): string {
    mkdirSync(this.ctx.failuresDir, { recursive: true });
    const base = join(this.ctx.failuresDir, `${fileSafe(this.ctx.suite.key)}${n > 1 ? `.${n}` : ''}`);
    const file = `${base}.json`;
    const body = {
      suite: this.ctx.suite.key,
      op: this.ctx.suite.op,
      profile: this.ctx.profile.name,
      ...(Object.keys(this.conventions).length ? { conventions: this.conventions } : {}),
      ...what,
      replay: `ohem-ref conform --replay ${shellQuote(file)} --port ${shellQuote(this.ctx.port)}`,
      pipe: `${this.ctx.port} < ${shellQuote(`${base}.request.jsonl`)}`,
      request,
    };
    writeFileSync(file, stableJson(body));
    writeFileSync(`${base}.request.jsonl`, JSON.stringify({ id: 'replay', ...request }) + '\n');
    return file;
  }

  finish(): SuiteReport {
    const rep = this.rep;
    rep.coverage = this.coverage.report();
    if (this.gaveUp) this.note(this.gaveUp);
    const interrupted = this.gaveUp === 'interrupted';
    const stoppedUnsupported = this.gaveUp?.startsWith('stopped asking') ?? false;
    const failed = rep.golden.failed + rep.properties.failed > 0 || (this.gaveUp !== null && !interrupted && !stoppedUnsupported);
    const precise = rep.golden.precision + rep.properties.precision > 0;
    const passed = rep.golden.passed + rep.properties.passed > 0 || precise;
    rep.verdict = failed || (precise && this.ctx.strict) ? 'fail' : interrupted ? 'not run' : precise ? 'precision' : passed ? 'pass' : rep.golden.unsupported + rep.properties.unsupported > 0 ? 'unsupported' : 'not run';
    if (precise && this.ctx.strict) rep.firstFailure ??= `precision (--strict): ${rep.precisionNote}`;
    return rep;
  }
}

// ------------------------------------------------------------------------------------ one suite

const describeFailure = (t: Trial): string[] => {
  if (t.j.verdict !== 'fail' || !t.j.diff) return [];
  return t.j.diff.elements.filter((e) => e.fails).map((e) => `${t.j.verdict === 'fail' ? t.j.output : ''}[${e.index.join(', ')}]: reference ${e.reference}, port ${e.port}`);
};

const runSuite = async (ctx: SuiteContext, golden: readonly GoldenCase[]): Promise<SuiteReport> => {
  const run = new SuiteRun(ctx, golden.length);
  const rep = run.rep;
  const { suite } = ctx;

  // 1. golden cases (inside the capabilities and the domain; the rest are counted apart)
  let goldenFailure: { c: GoldenCase; t: Trial } | null = null;
  for (const c of golden) {
    if (!run.canGoOn()) {
      rep.golden.skipped++;
      continue;
    }
    const req = c.request as unknown as Req;
    if (!withinCapabilities(suite.def, req, ctx.caps).ok) {
      rep.golden.uncovered++;
      continue;
    }
    const d = intoDomain(suite.def, req);
    if (d.beyond.length) {
      rep.golden.beyond++;
      await run.probe(req, d.beyond);
      continue;
    }
    const t = await run.trial(req, {
      outputs: c.expected as Record<string, unknown>,
      judging: { tolerances: c.tolerance, precision: precisionBounds(suite.def, req), optional: [...(c.optional_outputs ?? optionalOutputs(suite.op)), ...outputsLeftOut(suite.def, ctx.caps)] },
    });
    if (ctx.signal?.aborted) {
      rep.golden.skipped++; // the answer was cut short by the interruption: not the port's fault
      continue;
    }
    if (!t) continue;
    run.problem(t.j, true);
    run.counted(t.j, true);
    if (t.j.verdict === 'fail') {
      rep.golden.failed++;
      if (rep.goldenFailures.length < 3) rep.goldenFailures.push(c.name);
      goldenFailure ??= { c, t };
    }
  }

  // 2. exploration: every generated request, failures grouped by signature
  const deadline = Date.now() + ctx.budgetMs;
  const found = new Map<string, { index: number; firstRun: number; count: number; trial: Trial }>();
  if (ctx.runs > 0 && run.canGoOn()) {
    rep.properties.ran = true;
    let index = -1; // the position in fast-check's stream of generated values (skipped ones included)
    let answered = 0;
    const explore = fc.asyncProperty(suite.arbitrary, async (raw: Req) => {
      index++;
      if (!run.canGoOn()) return true;
      const { req, original, beyond } = run.prepare(raw);
      if (beyond.length) await run.probe(original, beyond);
      if (run.knownUnsupported(req)) {
        rep.properties.skipped++;
        fc.pre(false);
      }
      const t = await run.trial(req);
      if (!t || ctx.signal?.aborted) return true;
      if (t.j.verdict === 'unsupported') {
        run.counted(t.j, false);
        fc.pre(false); // not a run: fast-check draws again
      }
      answered++;
      run.counted(t.j, false);
      if (t.j.verdict === 'fail') {
        run.problem(t.j, false);
        rep.properties.failedRuns++;
        const f = found.get(t.signature);
        if (f) f.count++;
        else found.set(t.signature, { index, firstRun: answered, count: 1, trial: t });
      }
      return true;
    });
    const details = await fc.check(explore, {
      numRuns: ctx.runs,
      seed: ctx.seed,
      interruptAfterTimeLimit: Math.max(1, deadline - Date.now()),
      markInterruptAsFailure: false,
      maxSkipsPerRun: 20,
    });
    rep.properties.interrupted = details.interrupted;
    if (details.interrupted && answered < ctx.runs) run.note(`generated phase stopped by its time budget after ${answered} of ${ctx.runs} runs`);
    else if (answered < ctx.runs && rep.properties.unsupported + rep.properties.skipped > 0 && !run.stoppedBy)
      run.note(`${answered} of ${ctx.runs} runs answered: fast-check gave up drawing past the port's unsupported values`);

    // 3. one shrink per signature (fast-check replays the failing value by its path, then conform reduces it)
    let n = 0;
    for (const [signature, f] of found) {
      if (++n > ctx.maxFailures) {
        run.note(`${found.size - ctx.maxFailures} more failure signature(s) not shrunk (--max-failures ${ctx.maxFailures})`);
        break;
      }
      let smallest = f.trial;
      const stillFails = async (cand: Req): Promise<boolean> => {
        if (!run.canGoOn() && !ctx.signal?.aborted) return false;
        if (ctx.signal?.aborted || run.knownUnsupported(cand)) return false;
        const t = await run.trial(cand, undefined, false);
        if (!t || t.signature !== signature) return false;
        smallest = t;
        return true;
      };
      let shrinks = 0;
      const fatal = isFatal(f.trial.ans);
      if (Date.now() < deadline && run.canGoOn()) {
        const shrink = fc.asyncProperty(suite.arbitrary, async (raw: Req) => {
          const { req, beyond } = run.prepare(raw);
          void beyond;
          return !(await stillFails(req));
        });
        const d = await fc.check(shrink, { seed: ctx.seed, path: String(f.index), numRuns: 1, interruptAfterTimeLimit: Math.max(1, deadline - Date.now()), markInterruptAsFailure: false });
        shrinks = d.numShrinks;
      }
      let reduced = 0;
      if (suite.reducible && smallest.j.verdict === 'fail' && smallest.j.kind !== 'hang' && Date.now() < deadline && run.canGoOn()) {
        const r = await reduceRequest(suite.def, smallest.req, stillFails, fatal ? 10 : 400);
        reduced = r.steps;
      }
      const s = smallest;
      const j = s.j as Extract<Judged, { verdict: 'fail' }>;
      const file = run.writeFailure(
        n,
        {
          source: `property: fast-check seed ${ctx.seed}, path ${JSON.stringify(String(f.index))} (value ${f.index} of the stream), first seen at run ${f.firstRun} (${f.count} run(s) failed this way), shrunk ${shrinks} times by fast-check and ${reduced} more steps by conform's reduction (attrs, inputs, dimensions, values)`,
          signature,
          kind: j.kind,
          message: j.message,
          ...(s.attribution ? { attribution: { reproduced_by: s.attribution.label, means: s.attribution.means, also: s.attribution.also } } : {}),
          tolerance: suite.tolerances,
          ...(Object.keys(precisionBounds(suite.def, s.req)).length ? { precision: Object.fromEntries(suite.def.outputs.filter((o) => o.precision).map((o) => [o.name, { model: o.precision!.model, note: o.precision!.note }])) } : {}),
          optional_outputs: optionalOutputs(suite.op),
          reference: { outputs: readable(s.reference) },
          port: answerForFile(s.ans),
        },
        s.req,
      );
      rep.failures.push({
        signature,
        kind: j.kind,
        output: j.output ?? null,
        message: j.message,
        runs: f.count,
        firstRun: f.firstRun,
        shrinks,
        reduced,
        attribution: s.attribution,
        counterexample: summarise(s.req),
        file,
        elements: describeFailure(s),
      });
    }
    rep.properties.failed = found.size;
    const first = rep.failures[0];
    if (first) {
      rep.properties.failedAt = first.firstRun;
      rep.properties.shrinks = first.shrinks;
      rep.properties.reduced = first.reduced;
      rep.firstFailure = `${first.kind}: ${first.message}`;
      rep.counterexample = first.counterexample;
      rep.failureFile = first.file;
    }
  }

  if (goldenFailure && !rep.failureFile) {
    const { c, t } = goldenFailure;
    const j = t.j as Extract<Judged, { verdict: 'fail' }>;
    rep.failureFile = run.writeFailure(
      1,
      {
        source: `golden case ${c.name}`,
        kind: j.kind,
        message: j.message,
        tolerance: c.tolerance,
        optional_outputs: c.optional_outputs,
        reference: { outputs: c.expected },
        port: answerForFile(t.ans),
      },
      c.request as unknown as Req,
    );
    rep.counterexample = `golden ${c.name}: ${summarise(c.request as unknown as Req)}`;
    const attribution = attribute(suite.def, c.request as unknown as Req, t.ans, conventionsOf(ctx.profile, suite.op), { tolerances: c.tolerance, optional: c.optional_outputs ?? [] }, ctx.caps);
    if (attribution) run.note(`golden case ${c.name}: reproduced by ${attribution.label}: the port ${attribution.means}`);
  }
  return run.finish();
};

// ------------------------------------------------------------------------------------ the run

export const runConform = async (options: ConformOptions): Promise<ConformReport> => {
  const t0 = Date.now();
  const log = options.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const runs = options.runs ?? DEFAULT_RUNS;
  const seed = options.seed ?? DEFAULT_SEED;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const goldenDir = options.golden === undefined ? DEFAULT_GOLDEN_DIR : options.golden;
  const profileName = options.profile ?? DEFAULT_PROFILE;
  const strict = options.strict ?? false;
  const base = { port: options.port, seed, runs, timeoutMs, goldenDir, profile: profileName, strict };
  const stop = (fatal: string, goldenProblems: string[] = []): ConformReport => ({
    ...base,
    portInfo: '',
    goldenCases: 0,
    goldenProblems,
    capabilityNotes: [],
    suites: [],
    fatal,
    exitCode: 2,
    elapsedMs: Date.now() - t0,
  });
  const profile = findProfile(profileName);
  if (!profile) return stop(`unknown profile ${JSON.stringify(profileName)} (profiles: ${profileNames().join(', ')})`);
  const { suites, unknown } = selectSuites(options.ops);
  if (unknown.length) return stop(`unknown op(s): ${unknown.join(', ')}`);

  let goldenCases: GoldenCase[] = [];
  let goldenProblems: string[] = [];
  if (goldenDir !== null) {
    const g = loadGolden(goldenDir);
    if ('error' in g) return stop(g.error, [g.error]);
    goldenCases = [...g.cases];
    goldenProblems = [...g.problems];
  }
  // Golden files hold the original's answers: under another profile, only the ops it leaves alone keep them.
  if (profile.name !== DEFAULT_PROFILE) goldenCases = goldenCases.filter((c) => Object.keys(conventionsOf(profile, c.request.op)).length === 0);

  const session = new PortSession(options.port, { timeoutMs, cwd: options.cwd, startupMs: options.startupMs ?? DEFAULT_STARTUP_MS });
  const onAbort = () => session.killNow();
  options.signal?.addEventListener('abort', onAbort);
  const reports: SuiteReport[] = [];
  let fatal: string | null = null;
  let portInfo = '';
  let capabilityNotes: string[] = [];
  try {
    // describe: which ops the port offers (a port without describe is assumed to offer them all), and its capabilities
    let offered: Set<string> | null = null;
    let caps: Capabilities = new Map();
    let d = await session.ask({ op: 'describe' });
    if (d.kind === 'crash' || d.kind === 'hang') d = await session.ask({ op: 'describe' });
    if (d.kind === 'outputs') {
      const info = (d.response.info ?? {}) as Record<string, unknown>;
      portInfo = `${String(info.name ?? '?')} ${String(info.version ?? '?')}, protocol ${String(info.protocol ?? '?')}${info.protocol_minor !== undefined ? `.${String(info.protocol_minor)}` : ''}`;
      if (info.protocol !== undefined && info.protocol !== PROTOCOL_VERSION) log(`conform: the port says protocol ${String(info.protocol)}; this is protocol ${PROTOCOL_VERSION}`);
      if (Array.isArray(info.ops)) offered = new Set(info.ops.map(String));
      const parsed = parseCapabilities(info.capabilities, (op) => REGISTRY.get(op));
      caps = parsed.caps;
      capabilityNotes = parsed.notes;
    } else if (d.kind === 'error') portInfo = `no describe (${d.code})`;
    else if (d.kind === 'crash' || d.kind === 'hang') fatal = `the port did not start: ${d.detail}`;
    else portInfo = `describe: ${d.kind}: ${d.detail}`;

    for (const suite of suites) {
      if (options.signal?.aborted && !fatal) fatal = 'interrupted; the suites after this point were not run';
      if (fatal) {
        reports.push({ ...newReport(suite, 0), notes: [options.signal?.aborted ? 'not run: interrupted' : 'not run: the port did not start'] });
        continue;
      }
      const golden = goldenCases.filter((c) => c.suite === suite.key);
      if (offered && !offered.has(suite.op)) {
        reports.push({ ...newReport(suite, golden.length), verdict: 'unsupported', notInDescribe: true });
        continue;
      }
      const selector = suite.def.variants?.[0]?.by;
      const allowed = selector ? caps.get(suite.op)?.get(selector) : undefined;
      if (suite.dialect && allowed && !allowed.includes(suite.dialect)) {
        reports.push({ ...newReport(suite, golden.length), verdict: 'unsupported', notInDescribe: true, notes: [`the port's capabilities leave out ${selector} ${suite.dialect}`] });
        continue;
      }
      const ts = Date.now();
      let rep: SuiteReport;
      try {
        rep = await runSuite(
          {
            suite,
            session,
            profile,
            caps,
            runs,
            seed,
            budgetMs: options.budgetMs ?? 120_000,
            maxRestarts: options.maxRestarts ?? 20,
            maxFailures: options.maxFailures ?? DEFAULT_MAX_FAILURES,
            strict,
            failuresDir: options.failuresDir ?? DEFAULT_FAILURES_DIR,
            port: options.port,
            signal: options.signal,
          },
          golden,
        );
      } catch (e) {
        rep = { ...newReport(suite, golden.length), verdict: 'fail', firstFailure: `conform itself failed: ${(e as Error)?.stack ?? e}` };
      }
      reports.push(rep);
      log(`conform: ${suite.key.padEnd(34)} ${rep.verdict.padEnd(11)} (${Date.now() - ts} ms)`);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
  if (options.signal?.aborted) fatal ??= 'interrupted';
  const failed = fatal !== null || reports.some((r) => r.verdict === 'fail') || goldenProblems.length > 0;
  return { ...base, portInfo, goldenCases: goldenCases.length, goldenProblems, capabilityNotes, suites: reports, fatal, exitCode: failed ? 1 : 0, elapsedMs: Date.now() - t0 };
};
