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
for (const suite of SUITES) {
  {
    const op = suite.key;
    const arb = suite.arbitrary;
    test(`${op}: the reference and the numpy oracle agree on ${CASES} generated cases`, async (t) => {
      if (!oracle) {
        t.skip('python3 with numpy is missing (see the warning above)');
        return;
      }
      const tol = suite.tolerances;
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
        fcParams(CASES),
      );
      assert.ok(counts[op] >= CASES, `${op}: only ${counts[op]} cases compared`);
    });
  }
}
