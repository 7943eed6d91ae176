/**
 * `ohem-ref conform --port "<command>"`: drives another implementation that speaks PROTOCOL.md
 * (JSON lines on its stdin/stdout) through the golden vectors and the fast-check properties, op by
 * op, and reports every disagreement with the reference.
 *
 * Per suite (an op, or an op/dialect): first the golden cases (expected outputs from the files,
 * compared under each file's tolerances), then `runs` requests drawn from the suite's arbitrary,
 * each answered by the reference (in process) and by the port and compared (a differential
 * property). On a disagreement fast-check shrinks the request; the smallest failing request, with
 * both answers, is written to `<failures>/<suite>.json` (replay it with `--replay FILE`) and as a
 * one-line `<suite>.request.jsonl` that can be piped into the port.
 *
 * Robustness: a port that crashes, hangs past the per-request timeout, writes a line that is not a
 * JSON object, answers with another id, or answers with the wrong shape or dtype is reported for
 * that suite; it is restarted (its whole process group killed) and conform carries on. A suite
 * whose port dies on every request is given up after two tries; one that keeps dying is given up
 * after `maxRestarts` restarts. Nothing here waits without a timeout, and the report is always
 * printed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { handleRequest, PROTOCOL_VERSION } from '../protocol/server.js';
import { decodeTensor, encodeTensor } from '../protocol/codec.js';
import { spawnPort, type PortClient } from '../protocol/client.js';
import { decodeAnswer, measureOutputs, type Tolerance, type Worst } from './compare.js';
import { optionalOutputs } from './defaults.js';
import { loadGolden, type GoldenCase } from './golden.js';
import { selectSuites, type Req, type Suite } from './suites.js';
import { reduceRequest } from './reduce.js';
import { stableJson } from './json.js';

export const DEFAULT_GOLDEN_DIR = fileURLToPath(new URL('../../golden/', import.meta.url));
export const DEFAULT_RUNS = 100;
export const DEFAULT_SEED = 20161604;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_STARTUP_MS = 30_000;
export const DEFAULT_FAILURES_DIR = 'conform-failures';

export interface ConformOptions {
  /** Shell command that starts the port. */
  readonly port: string;
  /** Ops or suite keys (`ohem_select/mmdet-ohem`) to run; all when absent. */
  readonly ops?: readonly string[];
  /** Generated requests per suite (0: golden cases only). */
  readonly runs?: number;
  readonly seed?: number;
  /** Per-request timeout. */
  readonly timeoutMs?: number;
  /** Extra time allowed to the first request after each (re)start of the port (its start-up). */
  readonly startupMs?: number;
  /** Golden folder; null: no golden cases. */
  readonly golden?: string | null;
  readonly failuresDir?: string;
  /** Wall-clock budget of one suite's property phase, shrinking included. */
  readonly budgetMs?: number;
  /** Restarts of the port allowed within one suite before the suite is given up (default 20). */
  readonly maxRestarts?: number;
  readonly cwd?: string;
  /** Progress lines (stderr by default). */
  readonly log?: (line: string) => void;
  /** Aborting stops conform after killing the port; the report of what ran is still returned. */
  readonly signal?: AbortSignal;
}

export type Verdict = 'pass' | 'fail' | 'unsupported' | 'not run';

export interface Problem {
  readonly kind: string;
  count: number;
  readonly example: string;
}

export interface SuiteReport {
  readonly suite: string;
  readonly op: string;
  readonly golden: { passed: number; failed: number; unsupported: number; skipped: number; total: number };
  readonly properties: {
    passed: number;
    failed: number;
    /** The run (1-based) that failed first. */
    failedAt: number;
    /** Steps of conform's own structural reduction after fast-check's shrinking. */
    reduced: number;
    unsupported: number;
    skipped: number;
    ran: boolean;
    shrinks: number;
    interrupted: boolean;
  };
  worst: Worst | null;
  verdict: Verdict;
  readonly problems: Problem[];
  /** What went wrong first, in one line. */
  firstFailure: string | null;
  /** The counterexample, summarised in one line. */
  counterexample: string | null;
  /** Names of the golden cases that failed (the first few). */
  goldenFailures: string[];
  failureFile: string | null;
  notes: string[];
  /** Unsupported because the port's describe does not list the op. */
  notInDescribe?: boolean;
}

export interface ConformReport {
  readonly port: string;
  readonly portInfo: string;
  readonly seed: number;
  readonly runs: number;
  readonly timeoutMs: number;
  readonly goldenDir: string | null;
  readonly goldenCases: number;
  readonly goldenProblems: readonly string[];
  readonly suites: readonly SuiteReport[];
  readonly fatal: string | null;
  readonly exitCode: number;
}

// ------------------------------------------------------------------------------------ the port

type Answer =
  | { readonly kind: 'outputs'; readonly outputs: Record<string, unknown>; readonly response: Record<string, unknown> }
  | { readonly kind: 'error'; readonly code: string; readonly message: string; readonly response: Record<string, unknown> }
  | { readonly kind: 'crash'; readonly detail: string }
  | { readonly kind: 'hang'; readonly detail: string }
  | { readonly kind: 'garbage'; readonly detail: string }
  | { readonly kind: 'wrong id'; readonly detail: string; readonly response: Record<string, unknown> };

const FATAL = new Set(['crash', 'hang', 'garbage', 'wrong id']);
/** A suite whose port has failed its first requests this many times in a row, answering none, is given up. */
const GIVE_UP_AFTER = 2;

const live = new Set<PortClient>();
let exitHook = false;
const killAllOnExit = () => {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) c.kill();
  });
};

const lastLine = (s: string): string => s.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? '';

/** One port process at a time; restarted after anything that leaves its answer stream in doubt. */
class PortSession {
  private client: PortClient | null = null;
  starts = 0;
  private nextId = 0;
  private fresh = false;

  constructor(
    private readonly command: string,
    private readonly timeoutMs: number,
    private readonly cwd: string | undefined,
    private readonly startupMs: number = DEFAULT_STARTUP_MS,
  ) {
    killAllOnExit();
  }

  private async discard(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    c.kill();
    await c.close(500);
    live.delete(c);
  }

  async ask(req: Readonly<Record<string, unknown>>): Promise<Answer> {
    if (this.client && !this.client.alive()) await this.discard();
    if (!this.client) {
      this.client = spawnPort(this.command, { timeoutMs: this.timeoutMs, processGroup: true, cwd: this.cwd });
      live.add(this.client);
      this.starts++;
      this.fresh = true;
    }
    // A fresh port gets its start-up time on a describe (any answer will do), so that a port
    // that hangs on one op costs one timeout per hang, not one start-up allowance.
    if (this.fresh && req.op !== 'describe') {
      const probe = await this.send({ op: 'describe' }, this.timeoutMs + this.startupMs);
      if (probe.kind !== 'outputs' && probe.kind !== 'error')
        return { ...probe, detail: `after a (re)start, the port did not answer describe: ${probe.detail}` } as Answer;
    }
    return this.send(req, this.fresh ? this.timeoutMs + this.startupMs : this.timeoutMs);
  }

  private async send(req: Readonly<Record<string, unknown>>, ms: number): Promise<Answer> {
    this.fresh = false;
    if (!this.client) return { kind: 'crash', detail: 'the port is not running' };
    const id = `c${++this.nextId}`;
    const o = await this.client.request({ ...req, id }, ms);
    switch (o.kind) {
      case 'timeout':
        await this.discard();
        return { kind: 'hang', detail: `no answer within ${o.ms} ms${o.ms > this.timeoutMs ? ' (its start-up included)' : ''}; the port was killed` };
      case 'exited': {
        await this.discard();
        const how = o.signal ? `signal ${o.signal}` : `exit code ${o.code}`;
        const err = lastLine(o.stderr);
        return { kind: 'crash', detail: `the port exited (${how})${err ? `; stderr: ${err}` : ''}` };
      }
      case 'garbage':
        await this.discard();
        return { kind: 'garbage', detail: `answered ${JSON.stringify(o.line.slice(0, 120))}, not a JSON object` };
      case 'ok': {
        const r = o.response;
        const isError = typeof r.error === 'object' && r.error !== null;
        if (r.id !== id && !(isError && r.id === null)) {
          await this.discard();
          return { kind: 'wrong id', detail: `answered id ${JSON.stringify(r.id)} to request ${JSON.stringify(id)}`, response: r };
        }
        if (isError) {
          const e = r.error as Record<string, unknown>;
          return { kind: 'error', code: String(e.code), message: String(e.message ?? ''), response: r };
        }
        if (typeof r.outputs === 'object' && r.outputs !== null && !Array.isArray(r.outputs))
          return { kind: 'outputs', outputs: r.outputs as Record<string, unknown>, response: r };
        await this.discard();
        return { kind: 'garbage', detail: 'answered a JSON object with neither "outputs" nor "error"' };
      }
    }
  }

  /** Kills the port now (an interrupted run); the request in flight resolves as a crash. */
  killNow(): void {
    this.client?.kill();
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    await c.close(2000);
    live.delete(c);
  }
}

// ------------------------------------------------------------------------------------ judging

type Judged =
  | { readonly verdict: 'pass'; readonly worst: Worst | null }
  | { readonly verdict: 'unsupported' }
  | { readonly verdict: 'fail'; readonly kind: string; readonly message: string; readonly output?: string };

const judge = (
  ans: Answer,
  reference: Record<string, unknown>,
  tolerances: Readonly<Record<string, Tolerance>>,
  optional: readonly string[],
): Judged => {
  switch (ans.kind) {
    case 'outputs': {
      const m = measureOutputs(reference, ans.outputs, tolerances, { optional, strictExtra: false });
      if (!m.mismatch) return { verdict: 'pass', worst: m.worst };
      const kind = m.mismatch.kind === 'value' || !m.mismatch.kind ? 'mismatch' : m.mismatch.kind;
      return { verdict: 'fail', kind, message: `${m.mismatch.output}: ${m.mismatch.message}`, output: m.mismatch.output };
    }
    case 'error':
      if (ans.code === 'unsupported' || ans.code === 'unknown_op') return { verdict: 'unsupported' };
      return { verdict: 'fail', kind: `refused (${ans.code})`, message: `a legal request was answered ${ans.code}: ${ans.message.slice(0, 300)}` };
    default:
      return { verdict: 'fail', kind: ans.kind, message: ans.detail };
  }
};

const worse = (a: Worst | null, b: Worst | null): Worst | null => {
  if (!b) return a;
  if (!a) return b;
  return b.ratio > a.ratio || (b.ratio === a.ratio && b.err > a.err) ? b : a;
};

/** Every tensor of a response with both its exact bits and its decimals (a failure file is read by people). */
const readable = (outputs: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(outputs)) {
    const t = decodeAnswer(k, v);
    out[k] = E.isRight(t) ? { ...encodeTensor(t.right, 'b64'), data: encodeTensor(t.right, 'data').data } : v;
  }
  return out;
};

const answerForFile = (ans: Answer): unknown => {
  switch (ans.kind) {
    case 'outputs':
      return { outputs: readable(ans.outputs) };
    case 'error':
      return ans.response;
    case 'wrong id':
      return { outcome: ans.kind, detail: ans.detail, response: ans.response };
    default:
      return { outcome: ans.kind, detail: ans.detail };
  }
};

/** A request in one line: op, attrs, and each input's dtype, shape and first values. */
export const summarise = (req: Req, maxValues = 12): string => {
  const ins = Object.entries(req.inputs).map(([k, v]) => {
    const t = v as { dtype?: string; shape?: number[]; data?: unknown[] };
    const d = t.data ?? [];
    const vals = d.slice(0, maxValues).map((x) => (typeof x === 'number' ? Number(x.toPrecision(8)) : x));
    return `${k} ${t.dtype}[${(t.shape ?? []).join(',')}] [${vals.join(', ')}${d.length > maxValues ? ', …' : ''}]`;
  });
  return `${req.op} ${JSON.stringify(req.attrs ?? {})} ${ins.join('; ')}`;
};

const fileSafe = (key: string): string => key.replace(/\//g, '__');

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

// ------------------------------------------------------------------------------------ one suite

interface SuiteContext {
  readonly signal?: AbortSignal;
  readonly session: PortSession;
  readonly runs: number;
  readonly seed: number;
  readonly budgetMs: number;
  readonly maxRestarts: number;
  readonly failuresDir: string;
  readonly port: string;
  readonly log: (s: string) => void;
}

const newReport = (suite: Suite, goldenTotal: number): SuiteReport => ({
  suite: suite.key,
  op: suite.op,
  golden: { passed: 0, failed: 0, unsupported: 0, skipped: 0, total: goldenTotal },
  properties: { passed: 0, failed: 0, failedAt: 0, reduced: 0, unsupported: 0, skipped: 0, ran: false, shrinks: 0, interrupted: false },
  worst: null,
  verdict: 'not run',
  problems: [],
  firstFailure: null,
  counterexample: null,
  goldenFailures: [],
  failureFile: null,
  notes: [],
});

const runSuite = async (suite: Suite, golden: readonly GoldenCase[], ctx: SuiteContext): Promise<SuiteReport> => {
  const rep = newReport(suite, golden.length);
  const optional = optionalOutputs(suite.op);
  const startsBefore = ctx.session.starts;
  let consecutiveFatal = 0;
  let anyAnswer = false;
  let gaveUp: string | null = null;
  const restarts = () => Math.max(0, ctx.session.starts - startsBefore - 1);
  const canGoOn = (): boolean => {
    if (ctx.signal?.aborted) gaveUp ??= 'interrupted';
    if (gaveUp) return false;
    if (!anyAnswer && consecutiveFatal >= GIVE_UP_AFTER) gaveUp = `gave up: the port failed on all of its first ${consecutiveFatal} requests`;
    else if (restarts() >= ctx.maxRestarts) gaveUp = `gave up after ${restarts()} restarts of the port`;
    return gaveUp === null;
  };
  const record = (ans: Answer, j: Judged) => {
    if (FATAL.has(ans.kind)) consecutiveFatal++;
    else {
      consecutiveFatal = 0;
      anyAnswer = true;
    }
    if (j.verdict !== 'fail') return;
    const p = rep.problems.find((x) => x.kind === j.kind);
    if (p) p.count++;
    else rep.problems.push({ kind: j.kind, count: 1, example: j.message });
    rep.firstFailure ??= `${j.kind}: ${j.message}`;
  };
  const writeFailure = (what: Record<string, unknown>, request: Record<string, unknown>) => {
    mkdirSync(ctx.failuresDir, { recursive: true });
    const base = join(ctx.failuresDir, fileSafe(suite.key));
    const file = `${base}.json`;
    const body = {
      suite: suite.key,
      op: suite.op,
      ...what,
      replay: `ohem-ref conform --replay ${shellQuote(file)} --port ${shellQuote(ctx.port)}`,
      pipe: `${ctx.port} < ${shellQuote(`${base}.request.jsonl`)}`,
      request,
    };
    writeFileSync(file, stableJson(body));
    writeFileSync(`${base}.request.jsonl`, JSON.stringify({ id: 'replay', ...request }) + '\n');
    rep.failureFile = file;
  };

  // 1. golden cases
  let goldenFailure: { c: GoldenCase; ans: Answer; j: Judged } | null = null;
  for (const c of golden) {
    if (!canGoOn()) {
      rep.golden.skipped++;
      continue;
    }
    const ans = await ctx.session.ask(c.request as unknown as Record<string, unknown>);
    if (ctx.signal?.aborted) {
      rep.golden.skipped++; // the answer was cut short by the interruption: not the port's fault
      continue;
    }
    const j = judge(ans, c.expected as Record<string, unknown>, c.tolerance, c.optional_outputs ?? optional);
    record(ans, j);
    if (j.verdict === 'pass') {
      rep.golden.passed++;
      rep.worst = worse(rep.worst, j.worst);
    } else if (j.verdict === 'unsupported') rep.golden.unsupported++;
    else {
      rep.golden.failed++;
      if (rep.goldenFailures.length < 3) rep.goldenFailures.push(c.name);
      goldenFailure ??= { c, ans, j };
    }
  }

  // 2. differential properties, shrunk on failure
  let propFailure: { req: Req; ours: Record<string, unknown>; ans: Answer; j: Judged } | null = null;
  if (ctx.runs > 0 && canGoOn()) {
    rep.properties.ran = true;
    let failedOnce = false;
    // While shrinking, only the same failure (kind and output) counts: the counterexample shows the bug first seen.
    let signature = '';
    const sig = (j: Judged) => (j.verdict === 'fail' ? `${j.kind}:${j.output ?? ''}` : '');
    const property = fc.asyncProperty(suite.arbitrary, async (req: Req) => {
      if (!canGoOn()) return true; // given up: the last failure found stays the counterexample
      const ours = handleRequest({ id: 0, ...req, encoding: 'b64' }) as Record<string, unknown>;
      if ('error' in ours) {
        if (!failedOnce) rep.properties.skipped++;
        rep.notes.push(`the reference refused a generated request (${JSON.stringify(ours.error).slice(0, 200)}): a bug of ohem-ref, please report it`);
        return true;
      }
      const ans = await ctx.session.ask(req as unknown as Record<string, unknown>);
      if (ctx.signal?.aborted) return true;
      const j = judge(ans, ours.outputs as Record<string, unknown>, suite.tolerances, optional);
      if (!failedOnce) record(ans, j);
      else if (FATAL.has(ans.kind)) consecutiveFatal++;
      if (j.verdict === 'fail' && (!failedOnce || sig(j) === signature)) {
        if (!failedOnce) signature = sig(j);
        failedOnce = true;
        propFailure = { req, ours: ours.outputs as Record<string, unknown>, ans, j };
        return false;
      }
      if (!failedOnce) {
        if (j.verdict === 'pass') {
          rep.properties.passed++;
          rep.worst = worse(rep.worst, j.worst);
        } else rep.properties.unsupported++;
      }
      return true;
    });
    const details = await fc.check(property, {
      numRuns: ctx.runs,
      seed: ctx.seed,
      interruptAfterTimeLimit: ctx.budgetMs,
      markInterruptAsFailure: false,
      endOnFailure: false,
    });
    rep.properties.interrupted = details.interrupted;
    if (details.failed) {
      rep.properties.failed = 1;
      rep.properties.failedAt = details.numRuns;
      rep.properties.shrinks = details.numShrinks;
      const first = propFailure as { req: Req; ours: Record<string, unknown>; ans: Answer; j: Judged } | null;
      // fast-check's shrinking works on the arbitrary's structure; reduce the request's own too
      if (first && first.j.verdict === 'fail' && first.j.kind !== 'hang') {
        const kind0 = first.j.kind;
        const r = await reduceRequest(first.req, async (cand) => {
          if (!canGoOn()) return false;
          const ours = handleRequest({ id: 0, ...cand, encoding: 'b64' }) as Record<string, unknown>;
          if ('error' in ours) return false;
          const ans = await ctx.session.ask(cand as unknown as Record<string, unknown>);
          if (ctx.signal?.aborted) return false;
          const j = judge(ans, ours.outputs as Record<string, unknown>, suite.tolerances, optional);
          if (FATAL.has(ans.kind)) consecutiveFatal++;
          if (j.verdict !== 'fail' || sig(j) !== signature) return false;
          propFailure = { req: cand, ours: ours.outputs as Record<string, unknown>, ans, j };
          return true;
        }, FATAL.has(kind0) ? 10 : 400);
        rep.properties.reduced = r.steps;
      }
      const pf = propFailure as { req: Req; ours: Record<string, unknown>; ans: Answer; j: Judged } | null;
      if (pf && pf.j.verdict === 'fail') {
        writeFailure(
          {
            source: `property: fast-check seed ${ctx.seed}, path ${JSON.stringify(details.counterexamplePath)}, failed at run ${details.numRuns}, shrunk ${details.numShrinks} times by fast-check and ${rep.properties.reduced} more steps by conform's reduction (rows, attrs, values)`,
            kind: pf.j.kind,
            message: pf.j.message,
            tolerance: suite.tolerances,
            optional_outputs: optional,
            reference: { outputs: readable(pf.ours) },
            port: answerForFile(pf.ans),
          },
          pf.req as unknown as Record<string, unknown>,
        );
        rep.firstFailure = `${pf.j.kind}: ${pf.j.message}`;
        rep.counterexample = summarise(pf.req);
      }
    } else if (details.interrupted && details.numRuns < ctx.runs)
      rep.notes.push(`property phase stopped by its time budget after ${details.numRuns} of ${ctx.runs} runs`);
  }

  if (goldenFailure && !rep.failureFile) {
    const g = goldenFailure as { c: GoldenCase; ans: Answer; j: Judged };
    if (g.j.verdict === 'fail')
      writeFailure(
        {
          source: `golden case ${g.c.name}`,
          kind: g.j.kind,
          message: g.j.message,
          tolerance: g.c.tolerance,
          optional_outputs: g.c.optional_outputs,
          reference: { outputs: g.c.expected },
          port: answerForFile(g.ans),
        },
        g.c.request as unknown as Record<string, unknown>,
      );
    rep.counterexample = `golden ${g.c.name}: ${summarise(g.c.request)}`;
  }

  if (gaveUp) rep.notes.push(gaveUp);
  const interrupted = gaveUp === 'interrupted';
  const failed = rep.golden.failed + rep.properties.failed > 0 || (gaveUp !== null && !interrupted);
  const passed = rep.golden.passed + rep.properties.passed > 0;
  rep.verdict = failed ? 'fail' : interrupted ? 'not run' : passed ? 'pass' : rep.golden.unsupported + rep.properties.unsupported > 0 ? 'unsupported' : 'not run';
  if (rep.verdict === 'pass' && rep.golden.unsupported + rep.properties.unsupported > 0)
    rep.notes.push(`${rep.golden.unsupported + rep.properties.unsupported} cases answered unsupported (attr values the port does not implement)`);
  return rep;
};

// ------------------------------------------------------------------------------------ the run

export const runConform = async (options: ConformOptions): Promise<ConformReport> => {
  const log = options.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const runs = options.runs ?? DEFAULT_RUNS;
  const seed = options.seed ?? DEFAULT_SEED;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const goldenDir = options.golden === undefined ? DEFAULT_GOLDEN_DIR : options.golden;
  const { suites, unknown } = selectSuites(options.ops);
  const base = {
    port: options.port,
    seed,
    runs,
    timeoutMs,
    goldenDir,
  };
  if (unknown.length)
    return { ...base, portInfo: '', goldenCases: 0, goldenProblems: [], suites: [], fatal: `unknown op(s): ${unknown.join(', ')}`, exitCode: 2 };

  let goldenCases: GoldenCase[] = [];
  let goldenProblems: string[] = [];
  if (goldenDir !== null) {
    const g = loadGolden(goldenDir);
    if ('error' in g) return { ...base, portInfo: '', goldenCases: 0, goldenProblems: [g.error], suites: [], fatal: g.error, exitCode: 2 };
    goldenCases = [...g.cases];
    goldenProblems = [...g.problems];
  }

  const session = new PortSession(options.port, timeoutMs, options.cwd, options.startupMs ?? DEFAULT_STARTUP_MS);
  const onAbort = () => session.killNow();
  options.signal?.addEventListener('abort', onAbort);
  const reports: SuiteReport[] = [];
  let fatal: string | null = null;
  let portInfo = '';
  try {
    // describe: which ops the port offers (a port without describe is assumed to offer them all)
    let offered: Set<string> | null = null;
    let d = await session.ask({ op: 'describe' });
    if (d.kind === 'crash' || d.kind === 'hang') d = await session.ask({ op: 'describe' });
    if (d.kind === 'outputs') {
      const info = (d.response.info ?? {}) as Record<string, unknown>;
      portInfo = `${String(info.name ?? '?')} ${String(info.version ?? '?')}, protocol ${String(info.protocol ?? '?')}`;
      if (info.protocol !== undefined && info.protocol !== PROTOCOL_VERSION) log(`conform: the port says protocol ${String(info.protocol)}; this is protocol ${PROTOCOL_VERSION}`);
      if (Array.isArray(info.ops)) offered = new Set(info.ops.map(String));
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
      const t0 = Date.now();
      let rep: SuiteReport;
      try {
        rep = await runSuite(suite, golden, {
          session,
          runs,
          seed,
          budgetMs: options.budgetMs ?? 120_000,
          maxRestarts: options.maxRestarts ?? 20,
          failuresDir: options.failuresDir ?? DEFAULT_FAILURES_DIR,
          port: options.port,
          log,
          signal: options.signal,
        });
      } catch (e) {
        rep = { ...newReport(suite, golden.length), verdict: 'fail', firstFailure: `conform itself failed: ${(e as Error)?.stack ?? e}` };
      }
      reports.push(rep);
      log(`conform: ${suite.key.padEnd(34)} ${rep.verdict.padEnd(11)} (${Date.now() - t0} ms)`);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
  if (options.signal?.aborted) fatal ??= 'interrupted';
  const failed = fatal !== null || reports.some((r) => r.verdict === 'fail') || goldenProblems.length > 0;
  return { ...base, portInfo, goldenCases: goldenCases.length, goldenProblems, suites: reports, fatal, exitCode: failed ? 1 : 0 };
};

// ------------------------------------------------------------------------------------ the table

const fmtWorst = (w: Worst | null): string => {
  if (!w) return '—';
  if (w.err === 0) return '0';
  const e = w.err.toExponential(1);
  return Number.isFinite(w.ratio) ? `${e} (${w.ratio < 0.01 ? '<1' : Math.round(w.ratio * 100)}% of tol)` : `${e} (exact required)`;
};

const fmtCounts = (passed: number, failed: number, unsupported: number, skipped: number, total: number): string => {
  if (total === 0) return '—';
  const parts = [`${passed}/${total}`];
  if (failed) parts.push(`${failed} failed`);
  if (unsupported) parts.push(`${unsupported} unsupported`);
  if (skipped) parts.push(`${skipped} skipped`);
  return parts.join(', ');
};

export const formatReport = (r: ConformReport): string => {
  const lines: string[] = [];
  lines.push(`ohem-ref conform — port: ${r.port}${r.portInfo ? ` (${r.portInfo})` : ''}`);
  lines.push(
    `golden: ${r.goldenDir === null ? 'off' : `${r.goldenCases} cases`} · properties: ${r.runs} runs per suite, seed ${r.seed} · timeout ${r.timeoutMs} ms per request`,
  );
  for (const p of r.goldenProblems) lines.push(`GOLDEN FILES: ${p}`);
  if (r.fatal) lines.push(`STOPPED: ${r.fatal}`);
  lines.push('');
  const head = ['op', 'golden', 'properties', 'worst |Δ|', 'result'];
  const rows = r.suites.map((s) => {
    const g = s.golden;
    const p = s.properties;
    let props = '—';
    if (p.ran) {
      props = p.failed
        ? `FAILED at run ${p.failedAt}`
        : fmtCounts(p.passed, 0, p.unsupported, p.skipped, p.passed + p.unsupported + p.skipped);
      if (p.interrupted && !p.failed) props += ' (time budget)';
    } else if (s.verdict === 'unsupported' && g.total === 0) props = 'unsupported';
    const golden = s.verdict === 'unsupported' && g.passed + g.failed + g.unsupported === 0 ? (g.total ? `unsupported (${g.total})` : '—') : fmtCounts(g.passed, g.failed, g.unsupported, g.skipped, g.total);
    const result = s.verdict === 'fail' ? `FAIL: ${s.problems.map((x) => `${x.kind}${x.count > 1 ? ` ×${x.count}` : ''}`).join(', ') || 'see below'}` : s.verdict;
    return [s.suite, golden, props, s.verdict === 'pass' ? fmtWorst(s.worst) : '—', result];
  });
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((x, c) => x.padEnd(w[c])).join('  ').trimEnd();
  lines.push(line(head), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line));
  lines.push('');
  for (const s of r.suites) {
    if (s.verdict !== 'fail' && s.notes.length === 0) continue;
    if (s.verdict === 'fail') {
      lines.push(`✗ ${s.suite}: ${s.firstFailure ?? 'failed'}`);
      if (s.counterexample) {
        const how = s.properties.failed ? `shrunk ×${s.properties.shrinks} by fast-check, ×${s.properties.reduced} by conform` : 'a golden case';
        lines.push(`    counterexample (${how}): ${s.counterexample.length > 400 ? s.counterexample.slice(0, 400) + ' …' : s.counterexample}`);
      }
      if (s.goldenFailures.length) lines.push(`    golden cases failed: ${s.golden.failed} (${s.goldenFailures.join(', ')}${s.golden.failed > s.goldenFailures.length ? ', …' : ''})`);
      for (const p of s.problems) if (p.count > 1 || !s.firstFailure?.includes(p.example)) lines.push(`    ${p.kind} ×${p.count}, e.g. ${p.example.length > 300 ? p.example.slice(0, 300) + ' …' : p.example}`);
      if (s.failureFile) lines.push(`    smallest failing request and both answers: ${s.failureFile}`);
    }
    for (const n of s.notes) lines.push(`  ${s.suite}: ${n}`);
  }
  const absent = [...new Set(r.suites.filter((s) => s.notInDescribe).map((s) => s.op))];
  if (absent.length) lines.push(`not in the port's describe (unsupported, not failed): ${absent.join(', ')}`);
  const count = (v: Verdict) => r.suites.filter((s) => s.verdict === v).length;
  lines.push(
    `${count('pass')} passed, ${count('fail')} failed, ${count('unsupported')} unsupported${count('not run') ? `, ${count('not run')} not run` : ''} (of ${r.suites.length} suites)${r.exitCode === 0 ? '' : ' — conform FAILED'}`,
  );
  return lines.join('\n') + '\n';
};

// ------------------------------------------------------------------------------------ replay

const preview = (outputs: Record<string, unknown>): string[] =>
  Object.entries(outputs).map(([k, v]) => {
    const t = decodeAnswer(k, v);
    if (E.isLeft(t)) return `  ${k}: (does not decode: ${t.left.message})`;
    const d = Array.from(t.right.data);
    return `  ${k} ${t.right.dtype} [${t.right.shape.join(', ')}]: [${d.slice(0, 24).join(', ')}${d.length > 24 ? `, … (${d.length})` : ''}]`;
  });

/**
 * Replays one request (a failure file written by conform, or a golden case file) against a port:
 * prints the reference's answer, the port's and the verdict. Exit code 0 when they agree.
 */
export const replay = async (file: string, port: string, timeoutMs: number, out: (s: string) => void, cwd?: string, startupMs = DEFAULT_STARTUP_MS): Promise<number> => {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    out(`ohem-ref conform --replay: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const request = j.request as Req | undefined;
  if (!request || typeof request.op !== 'string') {
    out(`ohem-ref conform --replay: ${file} holds no "request"\n`);
    return 2;
  }
  const tol = (j.tolerance ?? {}) as Record<string, Tolerance>;
  const optional = (j.optional_outputs as string[] | undefined) ?? optionalOutputs(request.op);
  let reference: Record<string, unknown>;
  if (j.expected) reference = j.expected as Record<string, unknown>;
  else {
    const ours = handleRequest({ id: 0, ...request, encoding: 'b64' }) as Record<string, unknown>;
    if ('error' in ours) {
      out(`the reference refuses this request: ${JSON.stringify(ours.error)}\n`);
      return 2;
    }
    reference = ours.outputs as Record<string, unknown>;
  }
  const session = new PortSession(port, timeoutMs, cwd, startupMs);
  try {
    const ans = await session.ask(request as unknown as Record<string, unknown>);
    const v = judge(ans, reference, tol, optional);
    const lines = [`request: ${request.op} ${JSON.stringify(request.attrs ?? {})}`, 'reference:', ...preview(reference)];
    if (ans.kind === 'outputs') lines.push('port:', ...preview(ans.outputs));
    else if (ans.kind === 'error') lines.push(`port: error ${ans.code}: ${ans.message}`);
    else lines.push(`port: ${ans.kind}: ${ans.detail}`);
    lines.push(v.verdict === 'fail' ? `DISAGREE — ${v.kind}: ${v.message}` : v.verdict === 'unsupported' ? 'the port answers unsupported' : 'agree');
    out(lines.join('\n') + '\n');
    return v.verdict === 'fail' ? 1 : 0;
  } finally {
    await session.close();
  }
};
