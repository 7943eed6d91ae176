/**
 * conform's report, for people: the table (golden and generated counted apart), each failure
 * with both sides labelled, its attribution, its smallest request summarised sparsely (the values
 * that matter, with their indices) and its failure file; precision notes, coverage (the values
 * never tested, the defaults marked), probes beyond the domain, and a closing summary of the
 * divergences in one line per op.
 */
import * as E from 'fp-ts/lib/Either.js';
import { encodeTensor } from '../protocol/codec.js';
import { REGISTRY } from '../mining/registry.js';
import { attrDefsFor } from '../ops/index.js';
import { decodeAnswer, type Worst } from './compare.js';
import { effective } from './capabilities.js';
import { indexText, num, unravel } from './judge.js';
import type { Answer } from './session.js';
import type { Req } from './suites.js';
import type { ConformReport, SuiteReport, Verdict } from './run.js';

/** Every tensor of a response with both its exact bits and its decimals (a failure file is read by people). */
export const readable = (outputs: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(outputs)) {
    const t = decodeAnswer(k, v);
    out[k] = E.isRight(t) ? { ...encodeTensor(t.right, 'b64'), data: encodeTensor(t.right, 'data').data } : v;
  }
  return out;
};

export const answerForFile = (ans: Answer): unknown => {
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

export const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const DEFAULT_MARK = '°';

/** A request's attrs in force, each with its value, the defaults marked ° (`threshold 0.3, box_convention plus1°`). */
export const attrsText = (req: Req): string => {
  const def = REGISTRY.get(req.op);
  if (!def) return JSON.stringify(req.attrs ?? {});
  const chosen = Object.fromEntries(def.attrs.map((a) => [a.name, effective(req, a)]));
  return attrDefsFor(def, chosen)
    .map((a) => {
      const v = effective(req, a);
      const given = req.attrs?.[a.name] !== undefined && req.attrs?.[a.name] !== null;
      return `${a.name} ${v === null || v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v)}${!given || v === a.default ? DEFAULT_MARK : ''}`;
    })
    .join(', ');
};

/** A tensor in a few words: all its values when few, else its non-zero values with their indices when few, else the first ones. */
const tensorText = (name: string, t: unknown, maxValues: number): string => {
  const d = decodeAnswer(name, t);
  if (E.isLeft(d)) return `${name} (does not decode)`;
  const x = d.right;
  const head = `${name} ${x.dtype}[${x.shape.join(',')}]`;
  const vals = Array.from(x.data);
  if (vals.length <= maxValues) return `${head} [${vals.map((v) => num(v, x.dtype)).join(', ')}]`;
  const nz = vals.map((v, i) => [i, v] as const).filter(([, v]) => v !== 0);
  if (nz.length <= maxValues) return `${head} ${nz.length ? `{${nz.map(([i, v]) => `${indexText(unravel(i, x.shape))}: ${num(v, x.dtype)}`).join(', ')}}` : '{}'} (the other ${vals.length - nz.length} are 0)`;
  return `${head} [${vals.slice(0, maxValues).map((v) => num(v, x.dtype)).join(', ')}, … (${vals.length})]`;
};

/** A request in one line: op, its attrs (defaults marked °), each input's dtype, shape and values. */
export const summarise = (req: Req, maxValues = 16): string =>
  `${req.op} (${attrsText(req)}); ${Object.entries(req.inputs)
    .map(([k, v]) => tensorText(k, v, maxValues))
    .join('; ')}`;

// ------------------------------------------------------------------------------------ the table

const fmtWorst = (w: Worst | null): string => {
  if (!w) return '—';
  if (w.err === 0) return '0';
  const e = w.err.toExponential(1);
  return Number.isFinite(w.ratio) ? `${e} (${w.ratio < 0.01 ? '<1' : Math.round(w.ratio * 100)}% of tol)` : `${e} (beyond tol)`;
};

const fmtCounts = (c: { passed: number; precision: number; failed: number; unsupported: number; skipped: number }, total: number, extra: string[] = []): string => {
  if (total === 0 && extra.length === 0) return '—';
  const parts = [`${c.passed}/${total}`];
  if (c.precision) parts.push(`${c.precision} precision`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.unsupported) parts.push(`${c.unsupported} unsupported`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return [...parts, ...extra].join(', ');
};

const pct = (share: number): string => `${share < 0.01 ? '<1' : Math.round(share * 100)}%`;

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n) + ' …' : s);

const problemText = (s: SuiteReport): string =>
  s.problems.map((x) => `${x.kind} ×${x.golden + x.generated}${x.golden && x.generated ? ` (golden ${x.golden}, generated ${x.generated})` : ''}`).join(', ');

const resultText = (s: SuiteReport): string => {
  if (s.verdict === 'fail') return `FAIL: ${problemText(s) || (s.firstFailure?.startsWith('precision') ? 'precision (--strict)' : 'see below')}`;
  return s.verdict;
};

const row = (s: SuiteReport): string[] => {
  const g = s.golden;
  const p = s.properties;
  let props = '—';
  if (p.ran) {
    const answered = p.passed + p.precision + p.failedRuns;
    props = p.failedRuns
      ? `${p.failedRuns}/${answered} FAILED (${p.failed} signature${p.failed === 1 ? '' : 's'})`
      : fmtCounts({ ...p, failed: 0, skipped: 0 }, answered);
    if (p.interrupted && !p.failedRuns) props += ' (time budget)';
  } else if (s.verdict === 'unsupported' && g.total === 0) props = 'unsupported';
  const extra = [...(g.beyond ? [`${g.beyond} beyond the domain`] : []), ...(g.uncovered ? [`${g.uncovered} outside its capabilities`] : [])];
  const inside = g.total - g.beyond - g.uncovered;
  const golden =
    s.verdict === 'unsupported' && g.passed + g.failed + g.unsupported + g.precision === 0 ? (g.total ? `unsupported (${g.total})` : '—') : fmtCounts(g, inside, extra);
  const worst = s.verdict === 'pass' ? fmtWorst(s.worst) : s.verdict === 'precision' ? `${pct(s.precisionShare)} of the f32 bound` : '—';
  return [s.suite, golden, props, worst, resultText(s)];
};

/** What was never tested in a suite: the enum and bool values no answered request had (defaults marked °). */
const untested = (s: SuiteReport): string[] => {
  if (!s.coverage || !s.properties.ran) return [];
  const out: string[] = [];
  for (const a of s.coverage.attrs)
    for (const v of a.values)
      if (v.count === 0) out.push(`${a.name} ${typeof v.value === 'string' ? v.value : JSON.stringify(v.value)}${v.isDefault ? DEFAULT_MARK : ''}${v.excluded ? ' (left out by its capabilities)' : ''}`);
  return out;
};

const coverageText = (s: SuiteReport): string =>
  (s.coverage?.attrs ?? [])
    .map((a) => `${a.name} ${a.values.map((v) => `${typeof v.value === 'string' ? v.value : JSON.stringify(v.value)}${v.isDefault ? DEFAULT_MARK : ''} ${v.count}`).join(' / ')}`)
    .join(' · ');

/** The closing summary: one line per op that diverges, each divergence with what explains it. */
export const divergenceLines = (r: ConformReport): string[] => {
  const byOp = new Map<string, string[]>();
  const add = (op: string, s: string) => {
    const l = byOp.get(op) ?? [];
    if (!l.includes(s)) l.push(s);
    byOp.set(op, l);
  };
  for (const s of r.suites) {
    for (const f of s.failures) {
      const what = f.output ? `${f.output} differs` : f.kind;
      add(
        s.op,
        f.attribution
          ? `${what}; reproduced by ${f.attribution.label}: the port ${f.attribution.means}`
          : f.output
            ? `${what} (${f.kind}; no convention of the reference reproduces it)`
            : clip(`${f.kind}: ${f.message}`, 160),
      );
    }
    if (s.failures.length === 0 && s.verdict === 'fail' && s.firstFailure) add(s.op, clip(s.firstFailure, 160));
    if (s.verdict === 'precision')
      add(s.op, `precision only: ${s.precisionOutputs.join(', ')} beyond the exact-reference tolerance in ${s.golden.precision + s.properties.precision} answer(s), within the float32 precision model (at most ${pct(s.precisionShare)} of its bound)`);
  }
  return [...byOp.entries()].map(([op, l]) => `  ${op}: ${l.join('; ')}`);
};

export const formatReport = (r: ConformReport): string => {
  const lines: string[] = [];
  lines.push(`ohem-ref conform — port: ${r.port}${r.portInfo ? ` (${r.portInfo})` : ''}`);
  lines.push(
    `profile ${r.profile}${r.strict ? ' (strict: precision fails)' : ''} · golden: ${r.goldenDir === null ? 'off' : `${r.goldenCases} cases`} · generated: ${r.runs} answered runs per suite, seed ${r.seed} · timeout ${r.timeoutMs} ms per request`,
  );
  for (const p of r.goldenProblems) lines.push(`GOLDEN FILES: ${p}`);
  for (const n of r.capabilityNotes) lines.push(`capabilities: ${n}`);
  if (r.fatal) lines.push(`STOPPED: ${r.fatal}`);
  lines.push('');
  const head = ['op', 'golden', 'generated', 'worst |Δ|', 'result'];
  const rows = r.suites.map(row);
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((x) => x[c].length)));
  const line = (x: string[]) => x.map((v, c) => v.padEnd(w[c])).join('  ').trimEnd();
  lines.push(line(head), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line));
  lines.push('');
  for (const s of r.suites) {
    const never = untested(s);
    if (s.verdict !== 'fail' && s.verdict !== 'precision' && s.notes.length === 0 && s.probes.length === 0 && never.length === 0) continue;
    if (s.verdict === 'fail') {
      if (s.failures.length === 0) {
        lines.push(`✗ ${s.suite}: ${s.firstFailure ?? 'failed'}`);
        if (s.counterexample) lines.push(`    counterexample (a golden case): ${clip(s.counterexample, 600)}`);
      }
      s.failures.forEach((f, i) => {
        lines.push(`✗ ${s.suite}${s.failures.length > 1 ? ` (${i + 1} of ${s.failures.length})` : ''}: ${f.kind}: ${clip(f.message, 500)}`);
        if (f.attribution) lines.push(`    reproduced by ${f.attribution.label}: the port ${f.attribution.means}${f.attribution.also.length ? ` (also by ${f.attribution.also.join(', ')})` : ''}`);
        else if (f.kind === 'mismatch') lines.push(`    no convention of the reference reproduces it`);
        lines.push(`    ${f.runs} generated request(s) failed this way, first at run ${f.firstRun}; smallest (shrunk ×${f.shrinks} by fast-check, ×${f.reduced} by conform):`);
        lines.push(`      ${clip(f.counterexample, 900)}`);
        if (f.file) lines.push(`    request and both answers: ${f.file}`);
      });
      if (s.goldenFailures.length) lines.push(`    golden cases failed: ${s.golden.failed} (${s.goldenFailures.join(', ')}${s.golden.failed > s.goldenFailures.length ? ', …' : ''})`);
      for (const p of s.problems)
        if (!s.failures.some((f) => f.kind === p.kind) && !s.firstFailure?.includes(p.example))
          lines.push(`    ${p.kind} ×${p.golden + p.generated}, e.g. ${clip(p.example, 300)}`);
      if (s.failures.length === 0 && s.failureFile) lines.push(`    request and both answers: ${s.failureFile}`);
    }
    if (s.verdict === 'precision' || (s.precisionNote && s.verdict !== 'fail'))
      lines.push(`≈ ${s.suite}: ${s.golden.precision + s.properties.precision} answer(s) beyond the exact-reference tolerance, within the float32 precision model: ${clip(s.precisionNote ?? '', 400)}`);
    const agrees = [...new Set(s.probes.filter((p) => p.outcome === 'agrees').map((p) => p.what))];
    if (agrees.length) lines.push(`  ${s.suite}: beyond the domain, answered as the reference does: ${agrees.join('; ')}`);
    for (const p of s.probes.filter((x) => x.outcome !== 'agrees'))
      lines.push(
        `  ${s.suite}: beyond the domain (${p.what}): ${p.outcome === 'refuses' ? `stricter than the reference: refuses it (${clip(p.detail, 160)})` : p.outcome === 'differs' ? `answers otherwise than the reference (information, not a failure): ${clip(p.detail.split(' — ')[0], 160)}` : `does not answer: ${clip(p.detail, 160)}`}${p.count > 1 ? ` ×${p.count}` : ''}`,
      );
    if (never.length) lines.push(`  ${s.suite}: never tested: ${never.join(', ')} (coverage: ${coverageText(s)})`);
    for (const n of s.notes) lines.push(`  ${s.suite}: ${n}`);
  }
  const absent = [...new Set(r.suites.filter((s) => s.notInDescribe && s.notes.length === 0).map((s) => s.op))];
  if (absent.length) lines.push(`not in the port's describe (unsupported, not failed): ${absent.join(', ')}`);
  const div = divergenceLines(r);
  if (div.length) lines.push('', 'divergences:', ...div);
  const count = (v: Verdict) => r.suites.filter((s) => s.verdict === v).length;
  lines.push(
    '',
    `${count('pass')} passed, ${count('precision') ? `${count('precision')} precision, ` : ''}${count('fail')} failed, ${count('unsupported')} unsupported${count('not run') ? `, ${count('not run')} not run` : ''} (of ${r.suites.length} suites) in ${(r.elapsedMs / 1000).toFixed(1)} s${r.exitCode === 0 ? '' : ' — conform FAILED'}`,
  );
  return lines.join('\n') + '\n';
};
