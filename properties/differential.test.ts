/**
 * Differential tests: every op of PROTOCOL.md, on fast-check-generated legal inputs (biased to the
 * nasty cases), answered by the reference through its protocol layer and by the independent numpy
 * oracle through the protocol; the answers must agree under PROTOCOL.md's comparison rules with
 * the per-output tolerances each arbitrary module states and justifies.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { handleRequest } from '../src/protocol/server.js';
import { startOracle } from './oracle.js';
import { compareOutputs } from '../src/conform/compare.js';
import { SUITES } from '../src/conform/suites.js';
import { fcParams } from './support.js';
import { ALIGN_COMBOS, ALIGN_BACKWARD_COMBOS, alignRequests, alignBackwardRequests, comboKey } from '../src/conform/arbitraries/roiAlign.js';
import { alignStepRequests } from '../src/conform/arbitraries/ohemStep.js';

const CASES = Number(process.env.DIFF_RUNS ?? 200);

const oracle = startOracle();
after(() => oracle?.close());

const counts: Record<string, number> = {};
after(() => {
  const line = Object.entries(counts)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  process.stderr.write(`differential cases agreed with the oracle: ${line}\n`);
});

let nextId = 0;
/** The suites, and the RoIAlign family once more per (dialect, pool_mode, aligned), and ohem_step on RoIAlign heads. */
const RUNS: { key: string; arb: fc.Arbitrary<Record<string, unknown>>; tol: (typeof SUITES)[number]['tolerances']; cases: number }[] = [
  // roi_align and roi_align_backward run per combo below (their suites draw from the same combos).
  ...SUITES.filter((s) => s.op !== 'roi_align' && s.op !== 'roi_align_backward').map((s) => ({ key: s.key, arb: s.arbitrary as unknown as fc.Arbitrary<Record<string, unknown>>, tol: s.tolerances, cases: CASES })),
  ...ALIGN_COMBOS.map((c) => ({ key: `roi_align/${comboKey(c)}`, arb: alignRequests(c) as unknown as fc.Arbitrary<Record<string, unknown>>, tol: SUITES.find((s) => s.op === 'roi_align')!.tolerances, cases: CASES })),
  ...ALIGN_BACKWARD_COMBOS.map((c) => ({ key: `roi_align_backward/${comboKey(c)}`, arb: alignBackwardRequests(c) as unknown as fc.Arbitrary<Record<string, unknown>>, tol: SUITES.find((s) => s.op === 'roi_align_backward')!.tolerances, cases: CASES })),
  { key: 'ohem_step/pooler roi_align', arb: alignStepRequests as unknown as fc.Arbitrary<Record<string, unknown>>, tol: SUITES.find((s) => s.op === 'ohem_step')!.tolerances, cases: Math.max(1, Math.ceil(CASES / 2)) },
];

for (const run of RUNS) {
  {
    const op = run.key;
    const arb = run.arb;
    const CASES_HERE = run.cases;
    test(`${op}: the reference and the numpy oracle agree on ${CASES_HERE} generated cases`, async (t) => {
      if (!oracle) {
        t.skip('python3 with numpy is missing (see the warning above)');
        return;
      }
      const tol = run.tol;
      await fc.assert(
        fc.asyncProperty(arb, async (req) => {
          const id = ++nextId;
          const ours = handleRequest({ id, ...req, encoding: 'b64' }) as Record<string, unknown>;
          const theirs = await oracle.request({ id, ...req });
          assert.equal(theirs.kind, 'ok', `oracle: ${JSON.stringify(theirs).slice(0, 400)}`);
          const resp = (theirs as { response: Record<string, unknown> }).response;
          assert.equal(resp.id, id, 'oracle answered another id');
          if ('error' in ours || 'error' in resp)
            assert.fail(`one side refused a legal request: reference ${JSON.stringify(ours.error ?? 'ok')}, oracle ${JSON.stringify(resp.error ?? 'ok')}`);
          const m = compareOutputs(ours.outputs as Record<string, unknown>, resp.outputs as Record<string, unknown>, tol);
          if (m) assert.fail(`${op}.${m.output}: ${m.message}`);
          counts[op] = (counts[op] ?? 0) + 1;
        }),
        fcParams(CASES_HERE),
      );
      assert.ok(counts[op] >= CASES_HERE, `${op}: only ${counts[op]} cases compared`);
    });
  }
}
