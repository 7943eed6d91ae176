/**
 * `npm run bench`: speed of the reference ops beside numpy on the same inputs, in the same run.
 * Ratios are the point (this machine's speed varies); nothing here asserts a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { adoptTensor } from '../src/core/internal.js';
import { linear } from '../src/ops/linear.js';
import { seedRng, uniforms } from '../src/core/prng.js';
import { ohemStep } from '../src/mining/ohemStep.js';
import { makeCase, SMALL, VGG16, type HeadShape } from './heads.js';
import { benchGpu } from './gpu.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const log = (s: string) => process.stderr.write(s);

const randomF32 = (seed: number, n: number): Float32Array => {
  const r = seedRng(seed);
  if (E.isLeft(r)) throw new Error(r.left.message);
  const [u] = uniforms(r.right, n);
  return Float32Array.from(u, (v) => v * 2 - 1);
};

interface Row {
  readonly what: string;
  readonly shape: string;
  readonly seconds: number;
  readonly gflops: number;
}

const best = (reps: number, f: () => void): number => {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, (performance.now() - t0) / 1000);
  }
  return b;
};

const numpy = (dir: string, R: number, K: number, M: number, env: NodeJS.ProcessEnv): { seconds: number; gflops: number } | string => {
  const r = spawnSync(process.env.PYTHON ?? 'python3', [join(here, 'numpy_linear.py'), dir, String(R), String(K), String(M), '5'], { env, encoding: 'utf8' });
  if (r.status !== 0) return `numpy failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

const benchLinear = (R: number, K: number, M: number): Row[] => {
  const shape = `(R,K,M)=(${R},${K},${M})`;
  log(`linear ${shape}: `);
  const x = randomF32(1, R * K), w = randomF32(2, M * K), b = randomF32(3, M);
  const X = adoptTensor('float32', [R, K], x), W = adoptTensor('float32', [M, K], w), B = adoptTensor('float32', [M], b);
  let y: Float32Array | undefined;
  const run = () => {
    const out = linear({ x: X, w: W, b: B });
    if (E.isLeft(out)) throw new Error(out.left.message);
    y = out.right.y.data as unknown as Float32Array;
  };
  run(); // JIT warm-up
  const reps = R * K * M > 1e9 ? 2 : 4;
  const ours = best(reps, run);
  log('ours done; ');
  const flops = 2 * R * K * M;
  const rows: Row[] = [{ what: 'ohem-ref linear (TypeScript, 1 thread, 4×4 blocked)', shape, seconds: ours, gflops: flops / ours / 1e9 }];
  const dir = mkdtempSync(join(tmpdir(), 'ohem-bench-'));
  try {
    writeFileSync(join(dir, 'x.f32'), x);
    writeFileSync(join(dir, 'w.f32'), w);
    writeFileSync(join(dir, 'b.f32'), b);
    const { OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...clean } = process.env;
    const variants: [string, NodeJS.ProcessEnv][] = [
      ['numpy float32 (OpenBLAS, 1 thread)', { ...clean, OPENBLAS_NUM_THREADS: '1' }],
      ['numpy float32 (OpenBLAS, all cores)', clean],
      [`numpy float32 (OpenBLAS, machine env${OPENBLAS_CORETYPE ? ` CORETYPE=${OPENBLAS_CORETYPE}` : ''})`, process.env],
    ];
    void OPENBLAS_L2_SIZE;
    for (const [what, env] of variants) {
      const r = numpy(dir, R, K, M, env);
      if (typeof r === 'string') {
        log(`${what}: ${r}\n`);
        continue;
      }
      rows.push({ what, shape, seconds: r.seconds, gflops: r.gflops });
    }
    // Same inputs, same answer: the comparison is of two computations of one thing.
    const yn = new Float32Array(readFileSync(join(dir, 'y.f32')).buffer.slice(0));
    let worst = 0;
    for (let i = 0; i < y!.length; i++) worst = Math.max(worst, Math.abs(y![i] - yn[i]) / (Math.abs(yn[i]) + 1e-3));
    log(`numpy done (max relative difference of the outputs ${worst.toExponential(2)})\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
};

const table = (rows: Row[]): string => {
  const ref = new Map<string, number>();
  for (const r of rows) if (r.what.startsWith('ohem-ref')) ref.set(r.shape, r.gflops);
  const head = ['implementation', 'shape', 'time', 'GFLOP/s', '× ohem-ref'];
  const body = rows.map((r) => [r.what, r.shape, `${(r.seconds * 1000).toFixed(1)} ms`, r.gflops.toFixed(2), (r.gflops / ref.get(r.shape)!).toFixed(2)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  return [fmt(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(fmt)].join('\n');
};

const simpleTable = (head: string[], body: string[][]): string => {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  return [fmt(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(fmt)].join('\n');
};

/** ohemStep on one head, ours and the numpy oracle's on the same inputs. */
const benchStep = (s: HeadShape): string[][] => {
  const shape = `R=${s.R}, B=${s.B}, C=${s.C}, ${s.H}×${s.W}, fc ${s.C * s.P * s.P}→${s.H6}→${s.H7}→${s.K}/${4 * s.K}`;
  log(`ohemStep ${s.name} (${shape}): building inputs; `);
  const c = makeCase(s);
  log('ours… ');
  const t0 = performance.now();
  const r = ohemStep(c.attrs)(c.params, c.batch, c.masks);
  const ours = (performance.now() - t0) / 1000;
  if (E.isLeft(r)) throw new Error(r.left.message);
  log(`${ours.toFixed(1)} s; numpy… `);
  const dir = mkdtempSync(join(tmpdir(), 'ohem-step-'));
  const rows: string[][] = [[s.name, shape, 'ohem-ref ohemStep (TypeScript, 1 thread)', `${ours.toFixed(2)} s`, '1.00']];
  try {
    const inputs: Record<string, { dtype: string; shape: readonly number[]; file: string }> = {};
    const all = { ...c.params, ...c.batch, ...c.masks } as Record<string, { dtype: string; shape: readonly number[]; data: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number } }>;
    for (const [name, t] of Object.entries(all)) {
      writeFileSync(join(dir, `${name}.bin`), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      inputs[name] = { dtype: t.dtype, shape: t.shape, file: `${name}.bin` };
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ attrs: c.attrs, inputs }));
    const { OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...clean } = process.env;
    void OPENBLAS_CORETYPE;
    void OPENBLAS_L2_SIZE;
    for (const [what, env] of [
      ['numpy oracle ohem_step (OpenBLAS, 1 thread)', { ...clean, OPENBLAS_NUM_THREADS: '1' }],
      ['numpy oracle ohem_step (OpenBLAS, all cores)', clean],
    ] as const) {
      const p = spawnSync(process.env.PYTHON ?? 'python3', [join(here, 'numpy_step.py'), dir], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) {
        rows.push([s.name, shape, what, `failed: ${(p.stderr || '').trim().split('\n').pop()}`, '—']);
        continue;
      }
      const o = JSON.parse(p.stdout.trim().split('\n').pop()!);
      const same = JSON.stringify(o.hard_inds) === JSON.stringify(Array.from(r.right.hard_inds.data));
      rows.push([s.name, shape, `${what}${same ? '' : ' — hard_inds DIFFER'}`, `${o.seconds.toFixed(2)} s`, (ours / o.seconds).toFixed(1)]);
    }
    log('done\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
};

/** Peak resident memory of the read-only pass at two chunk sizes (each in a fresh process). */
const benchMemory = (R: number, chunks: readonly number[]): string[][] =>
  chunks.map((chunk) => {
    log(`read-only pass memory, VGG16 head, R=${R}, chunk ${chunk}… `);
    const p = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'readonly_memory.ts'), String(chunk), String(R)], { encoding: 'utf8' });
    if (p.status !== 0) return [String(chunk), 'failed', (p.stderr || '').trim().split('\n').pop() ?? '', ''];
    const o = JSON.parse(p.stdout.trim().split('\n').pop()!);
    log('done\n');
    return [String(chunk), `${o.baseMiB.toFixed(0)} MiB`, `${o.peakMiB.toFixed(0)} MiB`, `+${(o.peakMiB - o.baseMiB).toFixed(0)} MiB`, `${o.seconds.toFixed(1)} s`];
  });

const main = () => {
  const only = process.argv.slice(2);
  const want = (k: string) => only.length === 0 || only.includes(k);
  if (want('linear')) {
    const rows = [...benchLinear(256, 4096, 4096), ...benchLinear(512, 1024, 1024)];
    process.stdout.write(`\n## linear forward, y = x·Wᵀ + b (float32)\n\n${table(rows)}\n`);
  }
  if (want('step')) {
    const rows = [...benchStep(SMALL), ...benchStep(VGG16)];
    process.stdout.write(
      `\n## ohemStep: one OHEM iteration (read-only pass, hardness, caffe-ohem selection, train pass, backward)\n\n` +
        `${simpleTable(['head', 'shape', 'implementation', 'time', 'ohem-ref ÷ this'], rows)}\n`,
    );
  }
  if (want('gpu')) process.stdout.write(benchGpu());
  if (want('memory')) {
    const R = 256;
    const rows = benchMemory(R, [16, 256]);
    process.stdout.write(
      `\n## read-only pass memory (VGG16 head, R = ${R} RoIs; resident set of a fresh process)\n\n` +
        `${simpleTable(['chunk', 'before (params, inputs)', 'peak', 'added by the pass', 'time'], rows)}\n`,
    );
  }
};

main();
