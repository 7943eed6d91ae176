/**
 * The `golden` and `conform` commands of the `ohem-ref` CLI (argument parsing with node:util
 * parseArgs; the work is in golden.ts and conform.ts).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { spawnPort } from '../protocol/client.js';
import { generateGolden, DEFAULT_GOLDEN_SEED, DEFAULT_PER_SUITE } from './golden.js';
import {
  runConform,
  formatReport,
  replay,
  DEFAULT_GOLDEN_DIR,
  DEFAULT_RUNS,
  DEFAULT_SEED,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_STARTUP_MS,
  DEFAULT_FAILURES_DIR,
  DEFAULT_MAX_FAILURES,
  DEFAULT_PROFILE,
  profileNames,
  PROFILES,
} from './conform.js';

export const GOLDEN_HELP = `  ohem-ref golden [--out DIR] [--seed S] [--per-op N] [--no-oracle]
                            write the golden vectors: one JSON case per file (request with
                            every attr spelled out, expected outputs as b64 bits and decimals,
                            per-output tolerance, tie rule, tags) and MANIFEST.json (protocol
                            version, sha256 of every file); every case is cross-checked against
                            the numpy oracle (default --out golden, --seed ${DEFAULT_GOLDEN_SEED},
                            --per-op ${DEFAULT_PER_SUITE} generated cases per op and dialect, plus SPEC's edges)
`;

export const CONFORM_HELP = `  ohem-ref conform --port "<command>" [options]
                            run a port that speaks the protocol (docs/protocol.md) through the
                            golden vectors and generated requests inside the contract's domain;
                            print a table per op, every distinct divergence with the convention
                            that reproduces it, coverage, and a summary; exit 1 on any failure
                            (unsupported ops and attr values are reported, not failed)
      --ops a,b             ops or op/dialect suites to run (default: all)
      --runs N              generated requests per suite that the port answers (default ${DEFAULT_RUNS};
                            an unsupported answer does not use up a run)
      --profile NAME        judge against these conventions (default ${DEFAULT_PROFILE}; ${profileNames().join(', ')}):
${PROFILES.map((p) => `                              ${p.name}: ${p.doc}`).join('\n')}
      --strict              a difference within the float32 precision model fails (default: verdict precision)
      --max-failures N      distinct failure signatures shrunk per suite, each with its own file (default ${DEFAULT_MAX_FAILURES})
      --seed S              fast-check seed (default ${DEFAULT_SEED})
      --timeout MS          per-request timeout; a port that exceeds it is restarted (default ${DEFAULT_TIMEOUT_MS})
      --startup MS          extra time for the first request after each start of the port (default ${DEFAULT_STARTUP_MS})
      --golden DIR          golden folder (default: the package's golden/); --no-golden skips it
      --failures DIR        where the shrunk counterexamples go (default ${DEFAULT_FAILURES_DIR}/)
      --budget MS           time limit of one suite's generated phase, shrinking included (default 120000)
      --max-restarts N      restarts of a crashing or hanging port allowed per suite (default 20)
      --json FILE           also write the report as JSON
  ohem-ref conform --replay FILE --port "<command>"
                            send the request of a failure file (or a golden case) to the port
                            and judge both answers as conform did (its tolerances, precision
                            models and profile)
`;

const fail = (cmd: string, msg: string, out: NodeJS.WritableStream): number => {
  out.write(`ohem-ref ${cmd}: ${msg}\n`);
  return 2;
};

const intArg = (name: string, v: string | undefined, d: number): number | string =>
  v === undefined ? d : /^-?\d+$/.test(v.trim()) ? Number(v) : `--${name} must be an integer, got ${JSON.stringify(v)}`;

const ORACLE = fileURLToPath(new URL('../../properties/oracle/oracle.py', import.meta.url));

export const goldenCommand = async (args: string[]): Promise<number> => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: { out: { type: 'string' }, seed: { type: 'string' }, 'per-op': { type: 'string' }, 'no-oracle': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return fail('golden', `${(e as Error).message}\n\n${GOLDEN_HELP}`, process.stderr);
  }
  if (values.help) {
    process.stdout.write(GOLDEN_HELP);
    return 0;
  }
  const seed = intArg('seed', values.seed as string | undefined, DEFAULT_GOLDEN_SEED);
  const perSuite = intArg('per-op', values['per-op'] as string | undefined, DEFAULT_PER_SUITE);
  if (typeof seed === 'string') return fail('golden', seed, process.stderr);
  if (typeof perSuite === 'string' || perSuite < 0) return fail('golden', String(perSuite), process.stderr);
  let oracle = null;
  if (!values['no-oracle']) {
    const probe = spawnSync(process.env.PYTHON ?? 'python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (!existsSync(ORACLE) || probe.error || probe.status !== 0)
      return fail('golden', 'the numpy oracle cannot run here (python3 with numpy, properties/oracle/oracle.py); every case must be cross-checked: install numpy, or pass --no-oracle to write unchecked cases', process.stderr);
    oracle = spawnPort(`${process.env.PYTHON ?? 'python3'} ${JSON.stringify(ORACLE)}`, { timeoutMs: 60_000, processGroup: true });
  }
  const out = (values.out as string | undefined) ?? 'golden';
  try {
    const r = await generateGolden({ out, seed, perSuite, oracle });
    const suites = Object.keys(r.manifest.suites).length;
    process.stdout.write(
      `golden: wrote ${r.written} cases for ${suites} suites to ${out}/ (${(r.bytes / 1024).toFixed(0)} KiB)${oracle ? ', each agreed with the numpy oracle' : ', NOT cross-checked (--no-oracle)'}\n`,
    );
    if (r.refused.length) {
      process.stdout.write(`golden: REFUSED ${r.refused.length} case(s):\n${r.refused.map((x) => `  ${x.name}: ${x.why}`).join('\n')}\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    process.stderr.write(`ohem-ref golden: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await oracle?.close();
  }
};

export const conformCommand = async (args: string[]): Promise<number> => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        ops: { type: 'string' },
        runs: { type: 'string' },
        seed: { type: 'string' },
        timeout: { type: 'string' },
        startup: { type: 'string' },
        golden: { type: 'string' },
        'no-golden': { type: 'boolean' },
        failures: { type: 'string' },
        budget: { type: 'string' },
        'max-restarts': { type: 'string' },
        'max-failures': { type: 'string' },
        profile: { type: 'string' },
        strict: { type: 'boolean' },
        json: { type: 'string' },
        replay: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return fail('conform', `${(e as Error).message}\n\n${CONFORM_HELP}`, process.stderr);
  }
  if (values.help) {
    process.stdout.write(CONFORM_HELP);
    return 0;
  }
  const port = values.port as string | undefined;
  if (!port || port.trim() === '') return fail('conform', `--port "<command>" is required\n\n${CONFORM_HELP}`, process.stderr);
  const nums: Record<string, number> = {};
  for (const [name, d] of [
    ['runs', DEFAULT_RUNS],
    ['seed', DEFAULT_SEED],
    ['timeout', DEFAULT_TIMEOUT_MS],
    ['startup', DEFAULT_STARTUP_MS],
    ['budget', 120_000],
    ['max-restarts', 20],
    ['max-failures', DEFAULT_MAX_FAILURES],
  ] as const) {
    const v = intArg(name, values[name] as string | undefined, d);
    if (typeof v === 'string') return fail('conform', v, process.stderr);
    const min = name === 'runs' || name === 'startup' || name === 'max-restarts' ? 0 : 1; // max-failures ≥ 1
    if (name !== 'seed' && v < min) return fail('conform', `--${name} must be ≥ ${min}`, process.stderr);
    nums[name] = v;
  }
  if (values.replay) return replay(values.replay as string, port, nums.timeout, (s) => process.stdout.write(s), undefined, nums.startup);
  const golden = values['no-golden'] ? null : ((values.golden as string | undefined) ?? DEFAULT_GOLDEN_DIR);
  const ops = (values.ops as string | undefined)?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // Ctrl-C: kill the port, stop, and still print the report of what ran; a second Ctrl-C exits at once.
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write(`\nohem-ref conform: ${sig}: stopping (the port is killed; the report follows)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const report = await runConform({
    signal: abort.signal,
    port,
    ops,
    runs: nums.runs,
    seed: nums.seed,
    timeoutMs: nums.timeout,
    startupMs: nums.startup,
    golden,
    failuresDir: (values.failures as string | undefined) ?? DEFAULT_FAILURES_DIR,
    budgetMs: nums.budget,
    maxRestarts: nums['max-restarts'],
    maxFailures: nums['max-failures'],
    profile: (values.profile as string | undefined) ?? DEFAULT_PROFILE,
    strict: values.strict === true,
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (report.exitCode === 2 && report.suites.length === 0) return fail('conform', report.fatal ?? 'cannot run', process.stderr);
  process.stdout.write(formatReport(report));
  if (values.json) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(values.json as string, JSON.stringify(report, null, 1) + '\n');
  }
  return abort.signal.aborted ? 130 : report.exitCode;
};
