/**
 * Child process of the bench: peak resident memory of the read-only pass alone at one chunk
 * size. argv: chunk R. Prints one JSON line {chunk, R, baseMiB, peakMiB, seconds}.
 */
import * as E from 'fp-ts/lib/Either.js';
import { makeCase, VGG16 } from './heads.js';
import { readonlyForward, validateStep } from '../src/mining/ohemStep.js';
import { referenceKernels } from '../src/ops/index.js';

const [chunk, R] = process.argv.slice(2).map(Number);
const c = makeCase({ ...VGG16, R });
const step = validateStep({ ...c.attrs, dropout_ratio: 0.5, chunk_size: chunk }, c.params, c.batch, c.masks);
if (E.isLeft(step)) throw new Error(step.left.message);
globalThis.gc?.();
const base = process.memoryUsage().rss;
let peak = base;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const t0 = performance.now();
// The sampling timer cannot fire during the synchronous pass; maxRSS (kernel high-water) covers it.
const before = process.resourceUsage().maxRSS * 1024;
const r = readonlyForward(step.right, referenceKernels);
const seconds = (performance.now() - t0) / 1000;
clearInterval(timer);
if (E.isLeft(r)) throw new Error(r.left.message);
const after = process.resourceUsage().maxRSS * 1024;
const mib = (b: number) => b / 2 ** 20;
process.stdout.write(JSON.stringify({ chunk, R, baseMiB: mib(Math.max(base, before)), peakMiB: mib(Math.max(after, peak)), seconds }) + '\n');
