/**
 * The head's heavy kernels in every backend that runs here — the reference ops and each gpu.js
 * mode — beside numpy on the same inputs, in the same run, and `auto`'s choice.
 *
 * headlessgl needs an X display: without DISPLAY, this runs its headlessgl part (and `auto`, so
 * that headlessgl is a candidate) again under `xvfb-run -a` and reads back its rows as JSON.
 * Each kernel's output is checked against the reference's in the same run (pooling: bit-equal;
 * dense: the largest |Δ| relative to the output's scale).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { adoptTensor, seedRng, uniforms, type Tensor } from '../src/core/internal.js';
import { createBackend, type Backend } from '../src/gpu/index.js';
import { roiPool, roiPoolBackward, type Kernels } from '../src/ops/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const log = (s: string) => process.stderr.write(s);

export interface GpuRow {
  readonly kernel: string;
  readonly shape: string;
  readonly impl: string;
  readonly seconds: number | null;
  readonly gflops: number | null;
  readonly check: string;
}

// ------------------------------------------------------------------------------ the inputs

/** RoI pooling: a VGG16 conv5 map (512 × 38 × 50 at stride 16), 128 RoIs, 7 × 7 bins. */
const POOL = { N: 1, C: 512, H: 38, W: 50, R: 128, PH: 7, PW: 7, scale: 1 / 16 };
/** Dense: 128 RoIs through a 2048 → 2048 layer (1.07 GFLOP forward, 2.15 backward). */
const DENSE = { R: 128, K: 2048, M: 2048 };

const uniform = (seed: number, n: number, lo = -1, hi = 1): Float32Array => {
  const r = seedRng(seed);
  if (E.isLeft(r)) throw new Error(r.left.message);
  const [u] = uniforms(r.right, n);
  return Float32Array.from(u, (v) => lo + (hi - lo) * v);
};

interface Inputs {
  readonly features: Tensor;
  readonly rois: Tensor;
  readonly poolAttrs: { pooled_h: number; pooled_w: number; spatial_scale: number };
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly b: Float32Array;
  readonly dy: Float32Array;
  readonly topGrad: Tensor;
}

const inputs = (): Inputs => {
  const { N, C, H, W, R, PH, PW, scale } = POOL;
  const u = uniform(11, R * 4);
  const rois = new Float32Array(R * 5);
  const imgW = W / scale, imgH = H / scale;
  for (let r = 0; r < R; r++) {
    // Fast R-CNN-like boxes: 32 to 400 pixels on a side, anywhere on the image.
    const bw = 32 + 368 * Math.abs(u[r * 4]), bh = 32 + 368 * Math.abs(u[r * 4 + 1]);
    const x1 = Math.fround(Math.abs(u[r * 4 + 2]) * (imgW - bw)), y1 = Math.fround(Math.abs(u[r * 4 + 3]) * (imgH - bh));
    rois.set([0, x1, y1, Math.fround(x1 + bw), Math.fround(y1 + bh)], r * 5);
  }
  const { R: RR, K, M } = DENSE;
  return {
    features: adoptTensor('float32', [N, C, H, W], uniform(12, N * C * H * W, -2, 2)),
    rois: adoptTensor('float32', [R, 5], rois),
    poolAttrs: { pooled_h: PH, pooled_w: PW, spatial_scale: scale },
    x: uniform(13, RR * K),
    w: uniform(14, M * K, -0.05, 0.05),
    b: uniform(15, M),
    dy: uniform(16, RR * M),
    topGrad: adoptTensor('float32', [R, C, PH, PW], uniform(17, R * C * PH * PW)),
  };
};

// ------------------------------------------------------------------------------ timing

const best = (reps: number, f: () => void): number => {
  f(); // warm-up: JIT, kernel compiles, texture allocation
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
};

const must = <A>(r: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

const bitEqual = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
};
const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0, s = 0;
  for (let i = 0; i < b.length; i++) (d = Math.max(d, Math.abs(a[i] - b[i]))), (s = Math.max(s, Math.abs(b[i])));
  return d / (s || 1);
};

interface Reference {
  readonly pool: { top: Float32Array; argmax: Int32Array };
  readonly grad: Float32Array;
  readonly y: Float32Array;
  readonly g: { dx: Float32Array; dw: Float32Array; db: Float32Array };
}

const SHAPES = {
  roi_pool: `${POOL.R} RoIs, ${POOL.C}×${POOL.H}×${POOL.W}, ${POOL.PH}×${POOL.PW}`,
  roi_pool_backward: `caffe, same`,
  linear: `(R,K,M)=(${DENSE.R},${DENSE.K},${DENSE.M})`,
  linear_backward: 'same',
};
const FLOPS = { linear: 2 * DENSE.R * DENSE.K * DENSE.M, linear_backward: 4 * DENSE.R * DENSE.K * DENSE.M + DENSE.R * DENSE.M };

/** Times the four kernels on one backend; checks each output against `ref` (or makes it the reference). */
const runKernels = (ops: Kernels, label: string, inp: Inputs, ref: Reference | null): { rows: GpuRow[]; out: Reference } => {
  const { R, K, M } = DENSE;
  let pool: { top: Float32Array; argmax: Int32Array } | undefined;
  let grad: Float32Array | undefined;
  let y: Float32Array | undefined;
  let g: Reference['g'] | undefined;
  const rows: GpuRow[] = [];
  const row = (kernel: keyof typeof SHAPES, seconds: number, check: string) =>
    rows.push({ kernel, shape: SHAPES[kernel], impl: label, seconds, gflops: kernel in FLOPS ? FLOPS[kernel as keyof typeof FLOPS] / seconds / 1e9 : null, check });
  log(`  ${label}: roi_pool… `);
  const tPool = best(2, () => {
    const p = must(roiPool({ features: inp.features, rois: inp.rois }, inp.poolAttrs, ops));
    pool = { top: p.top.data as unknown as Float32Array, argmax: p.argmax.data as unknown as Int32Array };
  });
  row('roi_pool', tPool, ref ? (bitEqual(pool!.argmax, ref.pool.argmax) && bitEqual(pool!.top, ref.pool.top) ? 'bit-equal' : 'DIFFERS') : 'reference');
  log('backward… ');
  const argmax = adoptTensor('int32', [POOL.R, POOL.C, POOL.PH, POOL.PW], (ref ?? { pool: pool! }).pool.argmax);
  const tBack = best(2, () => {
    grad = must(
      roiPoolBackward(
        { rois: inp.rois, argmax, top_grad: inp.topGrad },
        { ...inp.poolAttrs, features_shape: [POOL.N, POOL.C, POOL.H, POOL.W], mode: 'caffe' },
        ops,
      ),
    ).features_grad.data as unknown as Float32Array;
  });
  row('roi_pool_backward', tBack, ref ? (bitEqual(grad!, ref.grad) ? 'bit-equal' : 'DIFFERS') : 'reference');
  log('linear… ');
  const tLin = best(2, () => {
    y = must(ops.linear({ x: inp.x, w: inp.w, b: inp.b, R, K, M }));
  });
  row('linear', tLin, ref ? `max|Δ|/max|y| ${relDiff(y!, ref.y).toExponential(1)}` : 'reference');
  log('backward… ');
  const tLinB = best(1, () => {
    g = must(ops.linearBackward({ x: inp.x, w: inp.w, dy: inp.dy, R, K, M }));
  });
  row('linear_backward', tLinB, ref ? `max|Δ|/scale dx ${relDiff(g!.dx, ref.g.dx).toExponential(1)}, dW ${relDiff(g!.dw, ref.g.dw).toExponential(1)}` : 'reference');
  log('done\n');
  return { rows, out: { pool: pool!, grad: grad!, y: y!, g: g! } };
};

// ------------------------------------------------------------------------------ the modes

interface ModeResult {
  readonly rows: GpuRow[];
  readonly unavailable: string[];
  readonly auto?: string;
}

/** The rows of every listed backend here, checked against the reference computed in this process. */
const runModes = (modes: readonly ('reference' | 'cpu' | 'webasm' | 'headlessgl')[], withAuto: boolean): ModeResult => {
  const inp = inputs();
  log('reference ops (for the checks):\n');
  const ref = runKernels(must(createBackend({ mode: 'reference' })), 'ohem-ref reference ops (TypeScript, 1 thread)', inp, null);
  const rows = modes.includes('reference') ? [...ref.rows] : [];
  const unavailable: string[] = [];
  for (const m of modes) {
    if (m === 'reference') continue;
    const b = createBackend({ mode: m });
    if (E.isLeft(b)) {
      unavailable.push(`gpujs-${m}: ${b.left.message.replace(/^backend: /, '')}`);
      continue;
    }
    try {
      rows.push(...runKernels(b.right, `gpu.js ${m} (${b.right.device})`, inp, ref.out).rows);
      const ran = Object.values(b.right.kernelsRan());
      if (ran.some((c) => c !== ran[0])) throw new Error(`gpujs-${m} ran kernels on ${[...new Set(ran)].join(', ')}`);
    } finally {
      void b.right.destroy();
    }
  }
  let auto: string | undefined;
  if (withAuto) {
    log('auto… ');
    const a: Backend = must(createBackend({ mode: 'auto' }));
    auto = `${a.name}: ${a.reason}`;
    void a.destroy();
    log('done\n');
  }
  return { rows, unavailable, auto };
};

const numpyRows = (inp: Inputs, argmax: Int32Array): GpuRow[] => {
  const dir = mkdtempSync(join(tmpdir(), 'ohem-gpu-bench-'));
  try {
    const bytes = (a: ArrayLike<number> & ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(join(dir, 'pool.json'), JSON.stringify(POOL));
    writeFileSync(join(dir, 'features.f32'), bytes(inp.features.data as unknown as Float32Array));
    writeFileSync(join(dir, 'rois.f32'), bytes(inp.rois.data as unknown as Float32Array));
    writeFileSync(join(dir, 'argmax.i32'), bytes(argmax));
    writeFileSync(join(dir, 'top_grad.f32'), bytes(inp.topGrad.data as unknown as Float32Array));
    writeFileSync(join(dir, 'dense.json'), JSON.stringify(DENSE));
    for (const [n, a] of [['x', inp.x], ['w', inp.w], ['b', inp.b], ['dy', inp.dy]] as const) writeFileSync(join(dir, `${n}.f32`), bytes(a));
    const { OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...clean } = process.env;
    void OPENBLAS_CORETYPE;
    void OPENBLAS_L2_SIZE;
    const rows: GpuRow[] = [];
    for (const [what, env] of [
      ['numpy (OpenBLAS, 1 thread; pooling: the numpy oracle)', { ...clean, OPENBLAS_NUM_THREADS: '1' }],
      ['numpy (OpenBLAS, all cores; pooling: the numpy oracle)', clean],
    ] as const) {
      log(`  ${what}… `);
      const p = spawnSync(process.env.PYTHON ?? 'python3', [join(here, 'numpy_kernels.py'), dir, '2'], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
      if (p.status !== 0) {
        log(`failed: ${(p.stderr || p.error?.message || '').trim().split('\n').pop()}\n`);
        continue;
      }
      const o = JSON.parse(p.stdout.trim().split('\n').pop()!) as Record<keyof typeof SHAPES, number>;
      for (const k of Object.keys(SHAPES) as (keyof typeof SHAPES)[])
        rows.push({ kernel: k, shape: SHAPES[k], impl: what, seconds: o[k], gflops: k in FLOPS ? FLOPS[k as keyof typeof FLOPS] / o[k] / 1e9 : null, check: 'same inputs' });
      log('done\n');
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const table = (rows: GpuRow[]): string => {
  const order = ['roi_pool', 'roi_pool_backward', 'linear', 'linear_backward'];
  const sorted = [...rows].sort((a, b) => order.indexOf(a.kernel) - order.indexOf(b.kernel));
  const refTime = new Map(rows.filter((r) => r.impl.startsWith('ohem-ref')).map((r) => [r.kernel, r.seconds!]));
  const head = ['kernel', 'shape', 'implementation', 'time', 'GFLOP/s', '× reference time', 'output vs reference'];
  const body = sorted.map((r) => [
    r.kernel,
    r.shape,
    r.impl,
    r.seconds === null ? '—' : `${(r.seconds * 1000).toFixed(1)} ms`,
    r.gflops === null ? '—' : r.gflops.toFixed(2),
    r.seconds === null || !refTime.get(r.kernel) ? '—' : (r.seconds / refTime.get(r.kernel)!).toFixed(2),
    r.check,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  return [fmt(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(fmt)].join('\n');
};

/** `npm run bench gpu`: the table, the modes that could not run and why, and auto's choice. */
export const benchGpu = (): string => {
  const display = !!process.env.DISPLAY;
  const xvfb = !display && spawnSync('sh', ['-c', 'command -v xvfb-run']).status === 0;
  const local = runModes(display ? ['reference', 'cpu', 'webasm', 'headlessgl'] : ['reference', 'cpu', 'webasm'], display || !xvfb);
  const rows = [...local.rows];
  const unavailable = [...local.unavailable];
  let auto = local.auto;
  if (xvfb) {
    log('headlessgl and auto, under xvfb-run -a:\n');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
    const p = spawnSync('xvfb-run', ['-a', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--child'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    });
    if (p.status === 0) {
      const o = JSON.parse(p.stdout.trim().split('\n').pop()!) as ModeResult;
      rows.push(...o.rows);
      unavailable.push(...o.unavailable);
      auto = o.auto;
    } else unavailable.push(`gpujs-headlessgl: the run under xvfb-run failed (exit ${p.status})`);
  } else if (!display) unavailable.push('gpujs-headlessgl: no DISPLAY and no xvfb-run (apt-get install xvfb xauth)');
  const webgpu = createBackend({ mode: 'webgpu' });
  if (E.isLeft(webgpu)) unavailable.push(`gpujs-webgpu: ${webgpu.left.message.replace(/^backend: /, '')}`);
  log('numpy, same inputs:\n');
  const inp = inputs();
  const argmax = roiPool({ features: inp.features, rois: inp.rois }, inp.poolAttrs);
  rows.push(...numpyRows(inp, must(argmax).argmax.data as unknown as Int32Array));
  return (
    `\n## the heavy kernels: reference ops, gpu.js modes, numpy (same inputs, same run)\n\n${table(rows)}\n\n` +
    `GFLOP/s for the dense layers only (RoI pooling is comparisons and copies). Times include every upload and read-back.\n\n` +
    `Not run here:\n${unavailable.map((u) => `- ${u}`).join('\n')}\n\n` +
    `auto: ${auto ?? '(not measured)'}\n`
  );
};

if (process.argv.includes('--child')) {
  // Under xvfb-run: headlessgl's rows and auto (with headlessgl a candidate), as JSON on stdout.
  const r = runModes(['headlessgl'], true);
  process.stdout.write(JSON.stringify(r) + '\n');
}
