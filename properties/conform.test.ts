/**
 * `ohem-ref conform` against ports whose behaviour we know:
 * - the independent numpy oracle passes completely (through the CLI, as a user runs it);
 * - fixture ports that are the oracle with exactly one trap (properties/fixtures/) fail conform
 *   on exactly that op, with a shrunk counterexample that replays;
 * - ports that crash, hang, write garbage, answer another id or the wrong shape are reported for
 *   that op, restarted, and conform carries on; a port that cannot start stops conform cleanly;
 * - PORTING.md's minimal example port passes for the ops it implements.
 * Small --runs keep the whole file well under a minute.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { runConform, formatReport, replay, type ConformReport, type SuiteReport } from '../src/conform/conform.js';
import { SUITES } from '../src/conform/suites.js';
import { conformCommand } from '../src/conform/commands.js';
import { describeInfo } from '../src/protocol/server.js';
import { oracleAvailability, ORACLE_COMMAND, PYTHON } from './oracle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ohem-ref.mjs');
const fixture = (name: string, ...args: string[]) => [PYTHON, JSON.stringify(join(ROOT, 'properties', 'fixtures', name)), ...args].join(' ');
const RUNS = 30;

const tmp = mkdtempSync(join(tmpdir(), 'ohem-conform-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const available = oracleAvailability();
/** Skips loudly without python3 + numpy (every port here is Python), fails in CI. */
const needPython = (t: { skip: (m: string) => void }): boolean => {
  if (available.ok) return true;
  if (process.env.CI === 'true') assert.fail(`python3 with numpy is required in CI: ${available.why}`);
  t.skip(`python3 with numpy is missing: ${available.why}`);
  return false;
};

const row = (r: ConformReport, key: string): SuiteReport => {
  const s = r.suites.find((x) => x.suite === key);
  assert.ok(s, `no row for ${key}`);
  return s!;
};

const show = (title: string, r: ConformReport) => process.stderr.write(`\n# ${title}\n${formatReport(r)}`);

test('the numpy oracle passes conform completely (npx ohem-ref conform --port "python3 oracle.py")', (t) => {
  if (!needPython(t)) return;
  const r = spawnSync(process.execPath, [BIN, 'conform', '--port', ORACLE_COMMAND, '--runs', String(RUNS), '--failures', join(tmp, 'oracle-failures')], {
    encoding: 'utf8',
    timeout: 120_000,
    cwd: tmp,
  });
  process.stderr.write(`\n# conform: the numpy oracle\n${r.stdout}`);
  assert.equal(r.status, 0, `conform failed the oracle:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
  const lines = r.stdout.split('\n');
  for (const s of SUITES) {
    const l = lines.find((x) => x.startsWith(s.key + ' '));
    assert.ok(l, `no row for ${s.key}`);
    assert.match(l!, new RegExp(`\\s\\d+/\\d+(, \\d+ beyond the domain)?\\s+${RUNS}/${RUNS}\\s.*\\spass$`), `row of ${s.key}: ${l}`);
  }
  assert.match(r.stdout, new RegExp(`${SUITES.length} passed, 0 failed, 0 unsupported`));
  assert.ok(!existsSync(join(tmp, 'oracle-failures')), 'no failure file for a passing port');
});

// Each fixture is the oracle with one trap. `control` is a neighbouring op that must still pass.
const FIXTURES: { file: string; trap: string; op: string; control: string; small: (req: any) => boolean; attribution?: RegExp }[] = [
  {
    file: 'wrong_round.py',
    trap: 'JS Math.round in roi_pool',
    op: 'roi_pool',
    control: 'nms',
    // the smallest RoI list that shows it: one RoI
    small: (req: any) => req.inputs.rois.shape[0] === 1,
  },
  {
    file: 'wrong_nms_continuous.py',
    trap: 'continuous boxes in NMS',
    op: 'nms',
    control: 'top_k',
    small: (req: any) => req.inputs.boxes.shape[0] <= 2,
    attribution: /^box_convention = continuous$/,
  },
  { file: 'wrong_ties.py', trap: 'index_asc ties in top_k', op: 'top_k', control: 'nms', small: (req: any) => req.inputs.values.shape[0] <= 2, attribution: /^ties = index_asc$/ },
  {
    file: 'wrong_eps.py',
    trap: 'FLT_MIN instead of 2^-52 in the hardness',
    op: 'ohem_roi_loss',
    control: 'softmax_loss',
    small: (req: any) => req.inputs.cls_prob.shape[0] === 1,
    attribution: /^eps = FLT_MIN$/,
  },
  {
    file: 'wrong_smooth_l1.py',
    trap: 'no division by B in the smooth L1 loss',
    op: 'smooth_l1_loss',
    control: 'softmax_loss',
    // R = 1 cannot show a missing division by R: the shrunk case has exactly 2 rows
    small: (req: any) => req.inputs.pred.shape[0] === 2,
  },
];

// The ports below are independent processes: run them side by side.
describe('ports whose faults are known', { concurrency: 4 }, () => {
for (const f of FIXTURES)
  test(`a port with ${f.trap} fails conform on exactly ${f.op}, with a shrunk counterexample that replays`, async (t) => {
    if (!needPython(t)) return;
    const port = fixture(f.file);
    const failures = join(tmp, `fail-${f.file}`);
    const r = await runConform({ port, ops: [f.op, f.control], runs: RUNS, failuresDir: failures, log: () => undefined });
    show(`conform: ${f.file} (${f.trap})`, r);
    assert.equal(r.exitCode, 1);
    const bad = row(r, f.op);
    assert.equal(bad.verdict, 'fail');
    assert.equal(bad.properties.failed, 1, 'one divergence, one signature');
    // attributed where the reference has a convention that reproduces it; said so where it has none
    const f0 = bad.failures[0];
    if (f.attribution) assert.match(f0.attribution?.label ?? 'none', f.attribution);
    else assert.equal(f0.attribution, null, `${f.op}: nothing in the reference reproduces ${f.trap}`);
    const text = formatReport(r);
    assert.match(text, f.attribution ? /reproduced by / : /no convention of the reference reproduces it/);
    assert.match(text, new RegExp(`^  ${f.op}: `, 'm'), 'a divergence line for the op');
    assert.ok(bad.golden.failed >= 1, 'a golden case must fail too');
    assert.ok(bad.problems.every((p) => p.kind === 'mismatch'), `only value mismatches: ${JSON.stringify(bad.problems)}`);
    assert.equal(row(r, f.control).verdict, 'pass', `${f.control} must still pass`);
    // the failure file: the shrunk request with both answers
    const file = join(failures, `${f.op}.json`);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(j.op, f.op);
    assert.equal(j.kind, 'mismatch');
    assert.ok(j.reference?.outputs && j.port?.outputs, 'both answers are in the file');
    assert.match(j.source, /fast-check seed 20161604/);
    assert.ok(f.small(j.request), `not shrunk: ${JSON.stringify(j.request).slice(0, 600)}`);
    assert.ok(existsSync(join(failures, `${f.op}.request.jsonl`)));
    // it replays: the fixture still disagrees, the oracle agrees
    const out: string[] = [];
    assert.equal(await replay(file, port, 10_000, (s) => out.push(s)), 1, out.join(''));
    assert.match(out.join(''), /DISAGREE/);
    if (f.op === 'roi_pool') assert.equal(await replay(file, ORACLE_COMMAND, 10_000, () => undefined), 0);
  });

test('a port that crashes, hangs, writes garbage, answers another id or the wrong shape is reported for that op and restarted; conform carries on', async (t) => {
  if (!needPython(t)) return;
  const port = fixture('misbehave.py', 'relu=crash', 'relu_backward=hang', 'dropout=garbage', 'dropout_backward=wrong-id', 'softmax=wrong-shape');
  const t0 = Date.now();
  const r = await runConform({
    port,
    ops: ['relu', 'relu_backward', 'dropout', 'dropout_backward', 'softmax', 'linear'],
    runs: RUNS,
    timeoutMs: 1500,
    failuresDir: join(tmp, 'fail-misbehave'),
    log: () => undefined,
  });
  show('conform: misbehave.py (transport faults)', r);
  assert.equal(r.exitCode, 1);
  const expect: Record<string, RegExp> = {
    relu: /^crash: the port exited \(exit code 3\); stderr: fixture: segmentation fault in relu/,
    relu_backward: /^hang: no answer within 1500 ms/,
    dropout: /^garbage: answered "Traceback/,
    dropout_backward: /^wrong id: answered id "not-c\d+" to request "c\d+"/,
    softmax: /^wrong shape: prob: shape reference \[\d+,\d+\], port \[\d+\]/,
  };
  for (const [op, re] of Object.entries(expect)) {
    const s = row(r, op);
    assert.equal(s.verdict, 'fail', op);
    assert.match(s.firstFailure ?? '', re, `${op}: ${s.firstFailure}`);
  }
  // restarted after every fault: the op after them all still passes
  assert.equal(row(r, 'linear').verdict, 'pass');
  assert.equal(row(r, 'linear').golden.failed, 0);
  const text = formatReport(r);
  assert.match(text, /FAIL: crash ×2/);
  assert.match(text, /FAIL: hang ×2/);
  assert.ok(Date.now() - t0 < 45_000, 'conform must not wait on a hung port');
  // the hung and crashed ports are gone (their process groups were killed)
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  if (ps.status === 0) assert.ok(!ps.stdout.includes('relu_backward=hang'), 'a hung fixture port is still running');
});

test('a port that crashes only on bigger inputs: conform restarts it through shrinking and finds the smallest crashing request', async (t) => {
  if (!needPython(t)) return;
  const r = await runConform({
    port: fixture('misbehave.py', 'relu=crash-big'),
    ops: ['relu', 'relu_backward'],
    runs: RUNS,
    golden: null,
    maxRestarts: 12,
    failuresDir: join(tmp, 'fail-crash-big'),
    log: () => undefined,
  });
  show('conform: misbehave.py relu=crash-big (no golden)', r);
  const s = row(r, 'relu');
  assert.equal(s.verdict, 'fail');
  assert.match(s.firstFailure ?? '', /^crash:/);
  const j = JSON.parse(readFileSync(join(tmp, 'fail-crash-big', 'relu.json'), 'utf8'));
  const n = j.request.inputs.x.data.length;
  // it crashes above 6 values; the arbitrary's shapes are [R,K], [R,4K], [R,K,2,2] with K ≥ 2
  assert.ok(n > 6 && n <= 12, `counterexample has ${n} values`);
  assert.equal(row(r, 'relu_backward').verdict, 'pass');
});

test('a port that cannot start stops conform cleanly, with the reason and a full report', async () => {
  const r = await runConform({ port: fixture('misbehave.py', 'dead'), ops: ['relu', 'nms'], runs: RUNS, timeoutMs: 2000, startupMs: 5000, log: () => undefined });
  const text = formatReport(r);
  assert.equal(r.exitCode, 1);
  assert.match(r.fatal ?? '', /did not start: .*exit code 7.*refusing to start/);
  assert.match(text, /STOPPED: the port did not start/);
  assert.deepEqual(r.suites.map((s) => s.verdict), ['not run', 'not run']);
  const missing = await runConform({ port: 'ohem-ref-no-such-port-command', ops: ['relu'], runs: 1, log: () => undefined });
  assert.equal(missing.exitCode, 1);
  assert.match(missing.fatal ?? '', /did not start/);
});

test('an interrupted run kills the hung port at once and still returns the report of what ran', async (t) => {
  if (!needPython(t)) return;
  const abort = new AbortController();
  const t0 = Date.now();
  const pending = runConform({
    port: fixture('misbehave.py', 'relu=hang'),
    ops: ['linear', 'relu', 'nms'],
    runs: 5,
    timeoutMs: 60_000,
    signal: abort.signal,
    failuresDir: join(tmp, 'fail-interrupted'),
    log: (l) => {
      if (l.includes('linear')) setTimeout(() => abort.abort(), 500); // relu is hanging by then
    },
  });
  const r = await pending;
  assert.ok(Date.now() - t0 < 30_000, 'the abort must not wait for the 60 s timeout');
  assert.equal(r.exitCode, 1);
  assert.match(r.fatal ?? '', /interrupted/);
  assert.deepEqual(r.suites.map((s) => s.verdict), ['pass', 'not run', 'not run']);
  assert.match(formatReport(r), /STOPPED: interrupted/);
});

test('a strict but correct port (contract dtypes only, integer batch indices only, unknown attrs unsupported) passes with no failure; conform reports it stricter, as information', async (t) => {
  if (!needPython(t)) return;
  const schema = join(tmp, 'schema.json');
  writeFileSync(schema, JSON.stringify(describeInfo()));
  const r = await runConform({ port: fixture('strict_port.py', JSON.stringify(schema)), runs: RUNS, failuresDir: join(tmp, 'fail-strict'), log: () => undefined });
  show('conform: strict_port.py (strict but correct)', r);
  assert.equal(r.exitCode, 0, formatReport(r));
  assert.ok(r.suites.every((s) => s.verdict === 'pass'), r.suites.filter((s) => s.verdict !== 'pass').map((s) => `${s.suite}: ${s.verdict}`).join('; '));
  const probes = r.suites.flatMap((s) => s.probes.map((p) => `${s.suite}: ${p.what}: ${p.outcome}`));
  // the float64 features and the fractional batch indices the reference also answers: refused, reported as information
  for (const what of [/^roi_pool: float64 features .*: refuses$/, /^roi_pool: fractional batch indices in rois: refuses$/, /^ohem_select\/caffe-ohem: fractional batch indices in rois: refuses$/])
    assert.ok(probes.some((p) => what.test(p)), `${what} among ${probes.join(' | ')}`);
  assert.match(formatReport(r), /stricter than the reference: refuses it/);
  // every request the port was judged on lies inside the domain: nothing it refused counted as a failure
  assert.ok(r.suites.every((s) => s.problems.length === 0));
});

test('a port accumulating linear in float32 (a plain sgemm, as every BLAS does) gets the verdict precision, not fail; --strict fails it', async (t) => {
  if (!needPython(t)) return;
  const port = fixture('float32_gemm.py');
  const r = await runConform({ port, ops: ['linear', 'linear_backward', 'softmax', 'softmax_loss'], runs: 60, failuresDir: join(tmp, 'fail-f32'), log: () => undefined });
  show('conform: float32_gemm.py (float32 accumulation)', r);
  assert.equal(r.exitCode, 0, formatReport(r));
  const lin = row(r, 'linear');
  assert.equal(lin.verdict, 'precision');
  assert.equal(lin.properties.failed, 0);
  assert.ok(lin.properties.precision > 0 && lin.precisionShare > 0 && lin.precisionShare <= 1);
  assert.deepEqual(lin.precisionOutputs, ['y']);
  for (const s of r.suites) assert.ok(s.verdict === 'pass' || s.verdict === 'precision', `${s.suite}: ${s.verdict}`);
  assert.match(formatReport(r), /linear: precision only: y beyond the exact-reference tolerance/);
  const strict = await runConform({ port, ops: ['linear'], runs: 60, strict: true, failuresDir: join(tmp, 'fail-f32-strict'), log: () => undefined });
  assert.equal(strict.exitCode, 1);
  assert.equal(row(strict, 'linear').verdict, 'fail');
});

test('a port with two independent bugs in one op gets both reported, each shrunk into its own failure file and attributed to its own convention', async (t) => {
  if (!needPython(t)) return;
  const failures = join(tmp, 'fail-two');
  const r = await runConform({ port: fixture('two_bugs.py'), ops: ['softmax_loss', 'softmax'], runs: 100, failuresDir: failures, log: () => undefined });
  show('conform: two_bugs.py (two bugs in softmax_loss)', r);
  assert.equal(r.exitCode, 1);
  const s = row(r, 'softmax_loss');
  assert.equal(s.verdict, 'fail');
  assert.equal(s.failures.length, 2, JSON.stringify(s.failures.map((f) => f.signature)));
  const byLabel = new Map(s.failures.map((f) => [f.attribution?.label, f]));
  const clamp = byLabel.get('clamp = log_softmax');
  const empty = byLabel.get('empty_normalizer = nan');
  assert.ok(clamp && empty, [...byLabel.keys()].join(', '));
  // each shrunk to the request that shows it: one row whose p underflows; one row, ignored
  assert.equal((clamp!.file && JSON.parse(readFileSync(clamp!.file, 'utf8')).request.inputs.labels.shape[0]), 1);
  const e = JSON.parse(readFileSync(empty!.file!, 'utf8'));
  assert.equal(e.attribution.reproduced_by, 'empty_normalizer = nan');
  assert.ok(e.request.inputs.labels.data.every((l: number) => l === e.request.attrs.ignore_label), 'every label ignored');
  assert.notEqual(clamp!.file, empty!.file);
  assert.ok(existsSync(join(failures, 'softmax_loss.json')) && existsSync(join(failures, 'softmax_loss.2.json')));
  assert.equal(row(r, 'softmax').verdict, 'pass');
  const text = formatReport(r);
  assert.match(text, /softmax_loss: loss differs; reproduced by clamp = log_softmax.*; loss differs; reproduced by empty_normalizer = nan/);
  // each replays with its own verdict
  assert.equal(await replay(clamp!.file!, fixture('two_bugs.py'), 10_000, () => undefined), 1);
  assert.equal(await replay(empty!.file!, ORACLE_COMMAND, 10_000, () => undefined), 0);
});

test('a port that declares capabilities is sampled only in its values, and the coverage lists what it never saw, the defaults marked', async (t) => {
  if (!needPython(t)) return;
  const r = await runConform({ port: fixture('capabilities_port.py'), ops: ['nms', 'top_k', 'ohem_select', 'roi_pool'], runs: RUNS, failuresDir: join(tmp, 'fail-caps'), log: () => undefined });
  show('conform: capabilities_port.py (declares capabilities)', r);
  // the port answers every value it left out wrongly on purpose: a pass means none was sent
  assert.equal(r.exitCode, 0, formatReport(r));
  const nms = row(r, 'nms');
  assert.equal(nms.verdict, 'pass');
  assert.equal(nms.properties.passed, RUNS);
  const cov = new Map(nms.coverage!.attrs.map((a) => [a.name, new Map(a.values.map((v) => [v.value, v]))]));
  assert.equal(cov.get('box_convention')!.get('plus1')!.count, 0);
  assert.equal(cov.get('box_convention')!.get('plus1')!.excluded, true);
  assert.ok(cov.get('box_convention')!.get('continuous')!.count >= RUNS);
  assert.equal(cov.get('suppress')!.get('ge')!.count, 0);
  assert.ok(nms.golden.uncovered > 0, 'golden cases outside the capabilities are not sent');
  const text = formatReport(r);
  assert.match(text, /nms: never tested: box_convention plus1° \(left out by its capabilities\), suppress ge \(left out by its capabilities\)/);
  assert.match(text, /top_k: never tested: ties index_desc° \(left out by its capabilities\)/);
  // roi_pool without argmax: the port lists the outputs it returns, and only those are compared
  assert.equal(row(r, 'roi_pool').verdict, 'pass');
  for (const d of ['mmdet-ohem', 'tf-hard-example-miner', 'ssd-hard-negative']) {
    const s = row(r, `ohem_select/${d}`);
    assert.equal(s.verdict, 'unsupported');
    assert.match(s.notes.join(' '), new RegExp(`capabilities leave out dialect ${d}`));
  }
});

test('a port that answers unsupported without declaring capabilities: no run is used up by it, the port is not asked again for a value it refused', async (t) => {
  if (!needPython(t)) return;
  const r = await runConform({ port: fixture('misbehave.py', 'nms=unsupported-plus1'), ops: ['nms'], runs: RUNS, golden: null, failuresDir: join(tmp, 'fail-unsup'), log: () => undefined });
  show('conform: misbehave.py nms=unsupported-plus1', r);
  const s = row(r, 'nms');
  assert.equal(s.verdict, 'pass', formatReport(r));
  assert.equal(s.properties.passed, RUNS, 'every run answered');
  assert.ok(s.properties.unsupported >= 1 && s.properties.unsupported <= 2, `asked ${s.properties.unsupported} times (once for the default, maybe once spelled out)`);
  assert.ok(s.properties.skipped > 0, 'requests for the refused value were drawn again, not sent');
  assert.match(formatReport(r), /nms: never tested: box_convention plus1°/);
});

test('PORTING.md\'s minimal example port passes conform for the ops it implements; the rest are unsupported, not failed', async (t) => {
  if (!needPython(t)) return;
  const r = await runConform({ port: `${PYTHON} ${JSON.stringify(join(ROOT, 'examples', 'minimal_port.py'))}`, runs: RUNS, failuresDir: join(tmp, 'fail-minimal'), log: () => undefined });
  show('conform: examples/minimal_port.py', r);
  assert.equal(r.exitCode, 0, formatReport(r));
  for (const op of ['relu', 'nms', 'top_k']) {
    const s = row(r, op);
    assert.equal(s.verdict, 'pass', op);
    assert.equal(s.properties.passed, RUNS);
    assert.ok(s.golden.passed === s.golden.total && s.golden.total > 0);
  }
  for (const s of r.suites) if (!['relu', 'nms', 'top_k'].includes(s.suite)) assert.equal(s.verdict, 'unsupported', s.suite);
});
});

test('conform refuses bad arguments with exit code 2', async () => {
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  const out = process.stdout.write.bind(process.stdout);
  const capture = (s: string | Uint8Array) => (err.push(String(s)), true);
  process.stderr.write = capture as typeof process.stderr.write;
  process.stdout.write = capture as typeof process.stdout.write;
  try {
    assert.equal(await conformCommand([]), 2);
    assert.equal(await conformCommand(['--port', 'true', '--runs', 'many']), 2);
    assert.equal(await conformCommand(['--port', 'true', '--bogus']), 2);
    assert.equal(await conformCommand(['--port', 'true', '--ops', 'roi_align_rotated']), 2);
  } finally {
    process.stderr.write = write;
    process.stdout.write = out;
  }
  assert.match(err.join(''), /--port "<command>" is required/);
  assert.match(err.join(''), /--runs must be an integer/);
  assert.match(err.join(''), /unknown op.*roi_align/);
});
