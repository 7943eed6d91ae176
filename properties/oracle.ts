/**
 * Access to the independent Python oracle (properties/oracle/oracle.py, numpy, written from SPEC.md).
 * Where python3 with numpy is missing the differential tests skip LOUDLY — except in CI
 * (CI=true), where a missing numpy is a failure: the differential tests must run there.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnPort, type PortClient } from '../src/protocol/client.js';

export const ORACLE_PATH = fileURLToPath(new URL('./oracle/oracle.py', import.meta.url));
export const PYTHON = process.env.PYTHON ?? 'python3';
export const ORACLE_COMMAND = `${PYTHON} ${JSON.stringify(ORACLE_PATH)}`;

export type OracleAvailability = { ok: true } | { ok: false; why: string };

export const oracleAvailability = (): OracleAvailability => {
  const r = spawnSync(PYTHON, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
  if (r.error) return { ok: false, why: `${PYTHON} could not be run (${r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `${PYTHON} has no numpy: ${r.stderr.trim().split('\n').pop()}` };
  return { ok: true };
};

/**
 * Returns an oracle client, or null after printing a loud warning. In CI a missing oracle throws,
 * failing the test that asked.
 */
export const startOracle = (): PortClient | null => {
  const a = oracleAvailability();
  if (!a.ok) {
    const msg = `THE DIFFERENTIAL TESTS AGAINST THE NUMPY ORACLE DID NOT RUN: ${a.why}. Install python3 and numpy.`;
    if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: this is a failure)`);
    process.stderr.write(`\n${'!'.repeat(100)}\n!!! ${msg}\n${'!'.repeat(100)}\n\n`);
    return null;
  }
  return spawnPort(ORACLE_COMMAND, { timeoutMs: 60_000 });
};
