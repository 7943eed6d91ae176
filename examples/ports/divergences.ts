/**
 * `npm run divergences`: runs conform on every adapter of this folder (under `caffe` and under
 * its own profile) and writes docs/divergences.md (src/conform/divergences.ts builds the page).
 *
 *     npm run divergences                  rewrite docs/divergences.md
 *     npm run divergences -- --check       exit 1 if the page would change (byte for byte)
 *     npm run divergences -- --runs 30 --only tfjs,onnxruntime --out /tmp/d.md
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { DIVERGENCES_MD, divergencesMarkdown, readCommitted, runAdapters } from '../../src/conform/divergences.js';

const RUNS = 100;

const main = async (): Promise<number> => {
  let values: { runs?: string; check?: boolean; only?: string; out?: string };
  try {
    ({ values } = parseArgs({ options: { runs: { type: 'string' }, check: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`divergences: ${(e as Error).message}\n`);
    return 2;
  }
  const runs = values.runs === undefined ? RUNS : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 0) {
    process.stderr.write(`divergences: --runs ${values.runs}: not a whole number ≥ 0\n`);
    return 2;
  }
  const t0 = Date.now();
  const results = await runAdapters({ runs, only: values.only?.split(','), log: (l) => process.stderr.write(`${l}\n`) });
  const md = divergencesMarkdown(results, { runs });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (values.check) {
    const same = readCommitted() === md;
    process.stderr.write(same ? `divergences: ${DIVERGENCES_MD} is current (${seconds} s)\n` : `divergences: ${DIVERGENCES_MD} would change: run npm run divergences (${seconds} s)\n`);
    return same ? 0 : 1;
  }
  const out = values.out ?? DIVERGENCES_MD;
  writeFileSync(out, md);
  process.stderr.write(`divergences: wrote ${out} in ${seconds} s\n`);
  return 0;
};

main().then((code) => process.exit(code));
