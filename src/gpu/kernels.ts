/**
 * gpu.js kernels for the head's heavy ops — RoI pooling forward (argmax and value), its backward
 * as Caffe's gather (and torchvision's scatter, as a gather), the dense layer forward and backward
 * (dx, dW, db) — and the host-side drivers that tile the work so that every flat index a kernel
 * computes stays an exact float32 integer.
 *
 * Why the kernels look the way they do (docs/semantics.md, "gpu.js backends", has the measurements):
 *
 *  - **Indices.** webasm, headlessgl and webgpu do index arithmetic in float32: a flat index past
 *    2^24 is inexact (measured here: reading a[2^24 + 1] returns a[2^24]). Every kernel call gets
 *    arguments and an output of at most `limit` elements (default 2^23), so every index, and every
 *    intermediate of index arithmetic (at most twice an index), stays below 2^24. The drivers cut
 *    the work into tiles — column slabs of weights, channel slabs of features, RoI ranges — and
 *    put the pieces back together on the host. Outputs are 2-D or 3-D, so thread ids never need
 *    to be decoded from a large flat index.
 *  - **Float32 decisions stay on the host.** The RoI bin bounds need a float32 division
 *    (bin = fl32(Hr / PH)) whose rounding decides the 57-cell overshoot (SPEC §5.1); GLSL allows
 *    division 2.5 ulp of error. So the host computes every per-RoI, per-bin integer window with
 *    the reference's own `roiGeometry`, `binBounds` and `gatherWindows`, C rounding included, and
 *    the kernels only compare, count and add: no kernel rounds anything.
 *  - **Ties and NaN.** The max scans row-major with strict `>` from −FLT_MAX, as Caffe does, so the
 *    first maximum wins and NaN never does (checked in every mode).
 *  - **Subnormals.** headless GL (Mesa llvmpipe) flushes subnormals to zero in arithmetic and
 *    comparisons (measured: 2e-40 > 1e-40 is false there) but moves their bits through textures
 *    untouched. The argmax kernel therefore takes, in headlessgl mode and only when the features
 *    hold subnormals, a second array `sub` = f·2^149 for subnormal f (an exact integer below 2^23)
 *    and 0 otherwise, and compares two values that both lie in the flushed range by `sub`. The
 *    pooled values are then bit-exact in every mode. Gradient sums cannot be rescued that way: a
 *    headlessgl gradient that involves subnormal terms or partial sums differs from the reference
 *    by the flushed amounts (below 2^-126 each); see docs/semantics.md.
 *  - **Summation order.** The gather adds, per feature cell, in RoI, then ph, then pw order with
 *    `Math.fround` after each addition (a no-op in GLSL and wasm, whose floats are float32; a real
 *    rounding in cpu mode, whose kernels run as JavaScript doubles): bit-exact with the reference
 *    in every mode. Tiles over RoIs continue the sum from the previous tile's output, so tiling
 *    changes no bit. The dense kernels sum k = 0, 1, … in the device's float (float32 on GL and
 *    wasm, float64 in cpu mode); they match the reference within a float32-accumulation bound.
 */
import type { GPU, IKernelRunShortcut } from 'gpu.js';
import { binBounds, gatherWindows, roiGeometry, type RoiPoolJob, type RoiPoolKernelOutputs, type RoiPoolBackwardJob } from '../ops/index.js';

/**
 * A failure of a gpu.js kernel (a fallback to another mode, a limit, a device error). It is thrown
 * inside src/gpu only: backend.ts turns it into the kernel's Left (tagged EngineError) at the
 * kernel contract, so nothing throws out of the backend.
 */
export class GpuFailure extends Error {
  override readonly name = 'GpuFailure';
}
const engineError = (message: string): GpuFailure => new GpuFailure(message);

/** The gpu.js modes a synchronous backend can run in, with the kernel class each must report. */
export const KERNEL_CLASS = { cpu: 'CPUKernel', webasm: 'WebAssemblyKernel', headlessgl: 'HeadlessGLKernel' } as const;
export type GpuMode = keyof typeof KERNEL_CLASS;

/** Largest number of elements of any kernel argument or output: 2^23, so index arithmetic stays below 2^24. */
export const DEFAULT_TILE_LIMIT = 2 ** 23;

const FLT_MAX_SRC = '3.4028234663852886e38';

/** floor(a / b) for non-negative integers a, b < 2^23, exact even where the device's division is not (GLSL). */
const IDIV = `function idiv(a, b) {
  let q = Math.floor(a / b);
  if (q * b > a) { q = q - 1; }
  if ((q + 1) * b <= a) { q = q + 1; }
  return q;
}`;

/**
 * Argmax of each bin. Output [PW, PH, Rt·Ct]: thread (x, y, z) = (pw, ph, r·Ct + c). `bnd` holds
 * per RoI nb = 1 + 2·PH + 2·PW integers: batch, hstart[PH], hend[PH], wstart[PW], wend[PW]
 * (already clipped). Returns the cell index h·W + w, −1 for a non-empty bin with nothing above
 * −FLT_MAX, −2 for an empty bin (the host turns −2 into −1 and its value into 0).
 */
const POOL_ARGMAX = `function poolArgmax(f, sub, useSub, bnd, nb, PH, PW, C, H, W) {
  const z = this.thread.z;
  const r = idiv(z, C);
  const c = z - r * C;
  const o = r * nb;
  const b = bnd[o];
  const hs = bnd[o + 1 + this.thread.y];
  const he = bnd[o + 1 + PH + this.thread.y];
  const ws = bnd[o + 1 + 2 * PH + this.thread.x];
  const we = bnd[o + 1 + 2 * PH + PW + this.thread.x];
  if (he <= hs || we <= ws) {
    return -2;
  }
  const base = (b * C + c) * H * W;
  let best = -${FLT_MAX_SRC};
  let bestSub = 0;
  let at = -1;
  for (let i = 0; i < he - hs; i++) {
    for (let j = 0; j < we - ws; j++) {
      const cell = (hs + i) * W + ws + j;
      const v = f[base + cell];
      if (useSub > 0) {
        const s = sub[base + cell];
        if ((s != 0 || v == 0) && (bestSub != 0 || best == 0)) {
          if (s > bestSub) {
            best = v;
            bestSub = s;
            at = cell;
          }
        } else if (v > best) {
          best = v;
          bestSub = s;
          at = cell;
        }
      } else if (v > best) {
        best = v;
        at = cell;
      }
    }
  }
  return at;
}`;

/** The pooled value of each bin from its argmax code: a copy of the chosen feature, −FLT_MAX, or 0. */
const POOL_VALUE = `function poolValue(f, am, bnd, nb, PH, PW, C, H, W) {
  const z = this.thread.z;
  const a = am[(z * PH + this.thread.y) * PW + this.thread.x];
  if (a >= 0) {
    const r = idiv(z, C);
    const c = z - r * C;
    const b = bnd[r * nb];
    return f[(b * C + c) * H * W + a];
  }
  if (a == -1) {
    return -${FLT_MAX_SRC};
  }
  return 0;
}`;

/**
 * Caffe's ROIPoolBackward gather (SPEC §5.2): one thread per feature cell. Output [W, H, N·Ct]:
 * thread (x, y, z) = (w, h, n·Ct + c). For each RoI of this tile in order, if its batch is n, the
 * bins [p0, p1) × [q0, q1) the host derived for row h and column w (empty when the cell fails the
 * in-RoI test) are scanned in ph, pw order and every bin whose argmax is this cell adds its
 * gradient, in float32. `g0` is the sum so far (zeros for the first RoI tile).
 */
const POOL_GATHER = `function poolGather(g0, am, tg, bat, winH, winW, Rn, Ct, PH, PW, H, W) {
  const z = this.thread.z;
  const n = idiv(z, Ct);
  const c = z - n * Ct;
  const h = this.thread.y;
  const w = this.thread.x;
  const cell = h * W + w;
  let g = g0[(z * H + h) * W + w];
  for (let r = 0; r < Rn; r++) {
    if (bat[r] == n) {
      const p0 = winH[(r * H + h) * 2];
      const p1 = winH[(r * H + h) * 2 + 1];
      const q0 = winW[(r * W + w) * 2];
      const q1 = winW[(r * W + w) * 2 + 1];
      for (let i = 0; i < p1 - p0; i++) {
        for (let j = 0; j < q1 - q0; j++) {
          const o = ((r * Ct + c) * PH + p0 + i) * PW + q0 + j;
          if (am[o] == cell) {
            g = Math.fround(g + tg[o]);
          }
        }
      }
    }
  }
  return g;
}`;

/** y[r, m] = b[m] + Σ_k x[r, k]·w[m, k]. Output [Mt, Rt]: thread (x, y) = (m, r). */
const LIN_FWD = `function linFwd(x, w, b, K) {
  const m = this.thread.x;
  const r = this.thread.y;
  let s = b[m];
  for (let k = 0; k < K; k++) {
    s += x[r * K + k] * w[m * K + k];
  }
  return s;
}`;

/** dx[r, k] = Σ_m dy[r, m]·w[m, k] over a [M, Kt] slab of w. Output [Kt, Rt]. */
const LIN_DX = `function linDx(dy, w, M, Kt) {
  const k = this.thread.x;
  const r = this.thread.y;
  let s = 0;
  for (let m = 0; m < M; m++) {
    s += dy[r * M + m] * w[m * Kt + k];
  }
  return s;
}`;

/** dW[m, k] = Σ_r dy[r, m]·x[r, k] over [R, Mt] and [R, Kt] slabs. Output [Kt, Mt]. */
const LIN_DW = `function linDw(dy, x, R, Mt, Kt) {
  const k = this.thread.x;
  const m = this.thread.y;
  let s = 0;
  for (let r = 0; r < R; r++) {
    s += dy[r * Mt + m] * x[r * Kt + k];
  }
  return s;
}`;

/** db[m] = Σ_r dy[r, m] over an [R, Mt] slab. Output [Mt]. */
const LIN_DB = `function linDb(dy, R, Mt) {
  const m = this.thread.x;
  let s = 0;
  for (let r = 0; r < R; r++) {
    s += dy[r * Mt + m];
  }
  return s;
}`;

export const GPU_KERNEL_NAMES = ['poolArgmax', 'poolValue', 'poolGather', 'linFwd', 'linDx', 'linDw', 'linDb'] as const;
export type GpuKernelName = (typeof GPU_KERNEL_NAMES)[number];
const SOURCES: Record<GpuKernelName, string> = {
  poolArgmax: POOL_ARGMAX,
  poolValue: POOL_VALUE,
  poolGather: POOL_GATHER,
  linFwd: LIN_FWD,
  linDx: LIN_DX,
  linDw: LIN_DW,
  linDb: LIN_DB,
};

type Nested = Float32Array | Nested[] | number[];

/**
 * The seven kernels on one gpu.js instance, each run through `run`, which sets the output size,
 * calls the kernel, checks that the kernel that ran is the mode's own class (gpu.js falls back
 * to its cpu kernel with only a console warning when a build fails) and flattens the result.
 */
export interface KernelSet {
  readonly mode: GpuMode;
  readonly limit: number;
  run(name: GpuKernelName, output: readonly number[], args: readonly unknown[]): Float32Array;
  /** Kernel class that ran, per kernel that has run at least once. */
  readonly ran: ReadonlyMap<GpuKernelName, string>;
  /** Every call so far, per kernel (tiles counted one by one). */
  readonly calls: ReadonlyMap<GpuKernelName, number>;
}

export const createKernelSet = (gpu: GPU, mode: GpuMode, limit: number): KernelSet => {
  gpu.addFunction(IDIV as never);
  const settings = {
    dynamicOutput: true,
    dynamicArguments: true,
    // Runtime loop bounds: GLSL needs a constant ceiling; the tiles keep every bound below it.
    loopMaxIterations: limit,
    precision: 'single' as const,
    tactic: 'precision' as const,
    // Four floats per RGBA texel on GL: a quarter of the texture memory and read-back.
    optimizeFloatMemory: mode === 'headlessgl',
  };
  const kernels = new Map<GpuKernelName, IKernelRunShortcut>();
  const ran = new Map<GpuKernelName, string>();
  const calls = new Map<GpuKernelName, number>();
  const want = KERNEL_CLASS[mode];
  const get = (name: GpuKernelName): IKernelRunShortcut => {
    let k = kernels.get(name);
    if (!k) {
      k = gpu.createKernel(SOURCES[name] as never, settings);
      kernels.set(name, k);
    }
    return k;
  };
  return {
    mode,
    limit,
    ran,
    calls,
    run(name, output, args) {
      for (const a of args)
        if (a instanceof Float32Array && a.length > limit) throw engineError(`${name} was handed ${a.length} elements, past the tile limit ${limit} (a driver bug)`);
      const n = output.reduce((p, q) => p * q, 1);
      if (n > limit) throw engineError(`${name} output of ${n} cells, past the tile limit ${limit} (a driver bug)`);
      const k = get(name);
      k.setOutput([...output]);
      let out: Nested;
      try {
        out = (k as unknown as (...a: unknown[]) => Nested)(...args);
      } catch (e) {
        throw engineError(`gpu.js ${mode} kernel ${name} failed: ${(e as Error)?.message ?? String(e)}`);
      }
      const cls = (k as unknown as { kernel?: { constructor: { name: string } } }).kernel?.constructor.name ?? 'unknown';
      ran.set(name, cls);
      calls.set(name, (calls.get(name) ?? 0) + 1);
      if (cls !== want)
        throw engineError(`gpu.js ran kernel ${name} on ${cls}, not ${want}: it fell back from ${mode} (${(k as unknown as { fallbackReason?: string }).fallbackReason ?? 'no reason given'})`);
      return flatten(out, n);
    },
  };
};

/** A gpu.js result (Float32Array, or nested arrays of rows) as one row-major Float32Array. */
const flatten = (out: Nested, n: number): Float32Array => {
  // A copy: gpu.js may hand back a view of a read-back buffer it reuses on the next call.
  if (out instanceof Float32Array) return out.slice(0, n);
  const flat = new Float32Array(n);
  let o = 0;
  const walk = (a: Nested): void => {
    if (a instanceof Float32Array || typeof (a as number[])[0] === 'number') {
      flat.set(a as ArrayLike<number>, o);
      o += a.length;
    } else for (const b of a as Nested[]) walk(b);
  };
  walk(out);
  if (o !== n) throw engineError(`a kernel returned ${o} values where ${n} were expected`);
  return flat;
};

// ------------------------------------------------------------------ host-side helpers

/** Columns [c0, c1) of a row-major [rows, cols] matrix as a contiguous [rows, c1 − c0] copy (or a view when whole). */
const colSlab = (a: ArrayLike<number>, rows: number, cols: number, c0: number, c1: number): Float32Array => {
  if (c0 === 0 && c1 === cols) return asF32(a, rows * cols);
  const w = c1 - c0;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) out[r * w + c] = a[r * cols + c0 + c];
  return out;
};
/** Rows [r0, r1) of a row-major [rows, cols] matrix (a view, no copy, for a Float32Array). */
const rowSlab = (a: ArrayLike<number>, cols: number, r0: number, r1: number): Float32Array =>
  a instanceof Float32Array ? a.subarray(r0 * cols, r1 * cols) : Float32Array.from({ length: (r1 - r0) * cols }, (_, i) => a[r0 * cols + i]);
const asF32 = (a: ArrayLike<number>, n: number): Float32Array =>
  a instanceof Float32Array && a.length === n ? a : Float32Array.from({ length: n }, (_, i) => a[i]);

const tooBig = (what: string, n: number, limit: number) =>
  engineError(`${what} is ${n} elements, more than one gpu.js kernel argument may hold exactly (${limit}); the reference ops have no such limit`);

/** Largest tile extent t ≤ total with t·per ≤ limit (at least 1; callers check per ≤ limit). */
const span = (total: number, per: number, limit: number): number => Math.max(1, Math.min(total, Math.floor(limit / Math.max(per, 1))));

// ------------------------------------------------------------------ dense layers

/** y [R, M] = x [R, K]·wᵀ + b, tiled over output rows and columns. */
export const linearForward = (ks: KernelSet, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, R: number, K: number, M: number): Float32Array => {
  const L = ks.limit;
  const y = new Float32Array(R * M);
  if (R === 0 || M === 0) return y;
  if (K === 0) {
    for (let r = 0; r < R; r++) for (let m = 0; m < M; m++) y[r * M + m] = b[m];
    return y;
  }
  if (K > L) throw tooBig('a row of x (K)', K, L);
  const Mt = span(M, K, L);
  const Rt = Math.min(span(R, K, L), span(R, Mt, L));
  for (let m0 = 0; m0 < M; m0 += Mt) {
    const m1 = Math.min(M, m0 + Mt);
    const ws = rowSlab(w, K, m0, m1);
    const bs = rowSlab(b, 1, m0, m1);
    for (let r0 = 0; r0 < R; r0 += Rt) {
      const r1 = Math.min(R, r0 + Rt);
      const t = ks.run('linFwd', [m1 - m0, r1 - r0], [rowSlab(x, K, r0, r1), ws, bs, K]);
      place(y, M, t, r0, r1, m0, m1);
    }
  }
  return y;
};

/** Writes a [r1 − r0, c1 − c0] tile into a row-major matrix with `cols` columns. */
const place = (dst: Float32Array, cols: number, tile: Float32Array, r0: number, r1: number, c0: number, c1: number): void => {
  const w = c1 - c0;
  if (c0 === 0 && w === cols) dst.set(tile, r0 * cols);
  else for (let r = r0; r < r1; r++) dst.set(tile.subarray((r - r0) * w, (r - r0 + 1) * w), r * cols + c0);
};

/** dx = dy·W [R, K], dW = dyᵀ·x [M, K], db = Σ_r dy [M], each tiled so every argument fits. */
export const linearBackward = (
  ks: KernelSet,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  R: number,
  K: number,
  M: number,
): { dx: Float32Array; dw: Float32Array; db: Float32Array } => {
  const L = ks.limit;
  const dx = new Float32Array(R * K);
  const dw = new Float32Array(M * K);
  const db = new Float32Array(M);
  if (R === 0 || M === 0) return { dx, dw, db };
  if (M > L) throw tooBig('a row of dy (M)', M, L);
  if (R > L) throw tooBig('a column of dy (R)', R, L);
  if (K > 0) {
    // dx: tiles of Kt columns of w (an [M, Kt] slab) and Rt rows of dy.
    const Kt = span(K, M, L);
    const Rt = Math.min(span(R, M, L), span(R, Kt, L));
    for (let k0 = 0; k0 < K; k0 += Kt) {
      const k1 = Math.min(K, k0 + Kt);
      const wsl = colSlab(w, M, K, k0, k1);
      for (let r0 = 0; r0 < R; r0 += Rt) {
        const r1 = Math.min(R, r0 + Rt);
        place(dx, K, ks.run('linDx', [k1 - k0, r1 - r0], [rowSlab(dy, M, r0, r1), wsl, M, k1 - k0]), r0, r1, k0, k1);
      }
    }
    // dW: [R, Mt] slabs of dy against [R, Kt] slabs of x.
    const Mt = span(M, R, L);
    const Kt2 = Math.min(span(K, R, L), span(K, Mt, L));
    for (let m0 = 0; m0 < M; m0 += Mt) {
      const m1 = Math.min(M, m0 + Mt);
      const dys = colSlab(dy, R, M, m0, m1);
      for (let k0 = 0; k0 < K; k0 += Kt2) {
        const k1 = Math.min(K, k0 + Kt2);
        place(dw, K, ks.run('linDw', [k1 - k0, m1 - m0], [dys, colSlab(x, R, K, k0, k1), R, m1 - m0, k1 - k0]), m0, m1, k0, k1);
      }
    }
  }
  const Mb = span(M, R, L);
  for (let m0 = 0; m0 < M; m0 += Mb) {
    const m1 = Math.min(M, m0 + Mb);
    db.set(ks.run('linDb', [m1 - m0], [colSlab(dy, R, M, m0, m1), R, m1 - m0]), m0);
  }
  return { dx, dw, db };
};

// ------------------------------------------------------------------ RoI pooling

const SUBNORMAL_SCALE = 2 ** 149;
const FLT_MIN_NORMAL = 2 ** -126;

/** f·2^149 for subnormal f (an exact integer, |·| < 2^23), else 0; null when there are none. */
const subnormalKeys = (f: Float32Array): Float32Array | null => {
  let any = false;
  for (let i = 0; i < f.length; i++) {
    const v = f[i];
    if (v !== 0 && Math.abs(v) < FLT_MIN_NORMAL) {
      any = true;
      break;
    }
  }
  if (!any) return null;
  const s = new Float32Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i];
    if (v !== 0 && Math.abs(v) < FLT_MIN_NORMAL) s[i] = v * SUBNORMAL_SCALE;
  }
  return s;
};

/** Channels [c0, c1) of an [N, C, P] array (P = H·W or PH·PW) as a contiguous [N, c1 − c0, P] array. */
const channelSlab = (a: ArrayLike<number>, N: number, C: number, P: number, c0: number, c1: number): Float32Array => {
  if (c0 === 0 && c1 === C) return asF32(a, N * C * P);
  const ct = c1 - c0;
  const out = new Float32Array(N * ct * P);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < ct; c++) {
      const src = (n * C + c0 + c) * P;
      const dst = (n * ct + c) * P;
      for (let i = 0; i < P; i++) out[dst + i] = a[src + i];
    }
  return out;
};

/**
 * RoI pooling forward on the device, tiled over channels and RoIs. Bin bounds come from the
 * reference's own float32 code; the device finds each bin's first maximum and copies it out.
 */
export const poolForward = (ks: KernelSet, a: RoiPoolJob): RoiPoolKernelOutputs => {
  const L = ks.limit;
  const { N, C, H, W, pooledH: PH, pooledW: PW, R } = a;
  const top = new Float32Array(R * C * PH * PW);
  const argmax = new Int32Array(top.length);
  const plane = H * W;
  const bins = PH * PW;
  const nb = 1 + 2 * PH + 2 * PW;
  if (N * plane > L) throw tooBig('one channel of every image (N·H·W)', N * plane, L);
  if (bins > L) throw tooBig('one RoI channel (PH·PW)', bins, L);
  if (nb > L) throw tooBig('the bin bounds of one RoI', nb, L);
  // Per RoI: batch, then the clipped bin bounds of every bin row and column (SPEC §5.1).
  const bnd = new Float32Array(R * nb);
  const hs = new Int32Array(PH), he = new Int32Array(PH), wsA = new Int32Array(PW), weA = new Int32Array(PW);
  for (let r = 0; r < R; r++) {
    const g = roiGeometry(a.rois, r, a.scale32, PH, PW);
    binBounds(PH, g.binH, g.startH, H, hs, he);
    binBounds(PW, g.binW, g.startW, W, wsA, weA);
    const o = r * nb;
    bnd[o] = g.batch;
    bnd.set(hs, o + 1);
    bnd.set(he, o + 1 + PH);
    bnd.set(wsA, o + 1 + 2 * PH);
    bnd.set(weA, o + 1 + 2 * PH + PW);
  }
  const sub = ks.mode === 'headlessgl' ? subnormalKeys(a.features) : null;
  const Ct = span(C, N * plane, L);
  const Rt = Math.min(span(R, Ct * bins, L), span(R, nb, L));
  for (let c0 = 0; c0 < C; c0 += Ct) {
    const c1 = Math.min(C, c0 + Ct);
    const ct = c1 - c0;
    const f = channelSlab(a.features, N, C, plane, c0, c1);
    const s = sub ? channelSlab(sub, N, C, plane, c0, c1) : ONE_ZERO;
    for (let r0 = 0; r0 < R; r0 += Rt) {
      const r1 = Math.min(R, r0 + Rt);
      const b = bnd.subarray(r0 * nb, r1 * nb);
      const out = [PW, PH, (r1 - r0) * ct];
      const am = ks.run('poolArgmax', out, [f, s, sub ? 1 : 0, b, nb, PH, PW, ct, H, W]);
      const val = ks.run('poolValue', out, [f, am, b, nb, PH, PW, ct, H, W]);
      // Tile [r, c, bin] → output [R, C, PH, PW].
      for (let r = r0; r < r1; r++)
        for (let c = 0; c < ct; c++) {
          const src = ((r - r0) * ct + c) * bins;
          const dst = (r * C + c0 + c) * bins;
          for (let i = 0; i < bins; i++) {
            const code = am[src + i];
            argmax[dst + i] = code === -2 ? -1 : code;
            top[dst + i] = val[src + i];
          }
        }
    }
  }
  return { top, argmax };
};
const ONE_ZERO = new Float32Array(1);

/**
 * RoI pooling backward as a gather on the device. `caffe`: the windows are Caffe's (inclusive,
 * unclamped in-RoI test, float32 bin division; SPEC §5.2). `scatter` (torchvision, SPEC §5.3):
 * every bin adds into its argmax cell; when every argmax lies inside its bin's forward window —
 * always so for a forward's own argmax — a cell need only look at the bins whose window covers
 * it, else it looks at every bin of every RoI of its image. Either way each cell receives its
 * terms in (RoI, ph, pw) order, as the reference adds them.
 */
export const poolBackward = (ks: KernelSet, a: RoiPoolBackwardJob): Float32Array => {
  const L = ks.limit;
  const { N, C, H, W, pooledH: PH, pooledW: PW, R } = a;
  const grad = new Float32Array(N * C * H * W);
  const plane = H * W;
  const bins = PH * PW;
  if (N * plane > L) throw tooBig('one channel of every image (N·H·W)', N * plane, L);
  if (bins > L) throw tooBig('one RoI channel (PH·PW)', bins, L);
  if (2 * Math.max(H, W) > L) throw tooBig('the windows of one RoI', 2 * Math.max(H, W), L);
  const bat = new Float32Array(R);
  const winH = new Float32Array(R * H * 2);
  const winW = new Float32Array(R * W * 2);
  const s0 = new Int32Array(Math.max(H, W, PH, PW)), s1 = new Int32Array(Math.max(H, W, PH, PW));
  const hs = new Int32Array(PH), he = new Int32Array(PH), wsA = new Int32Array(PW), weA = new Int32Array(PW);
  // scatter: can every bin's argmax be found from the cell's side (inside the bin's forward window)?
  let local = a.mode === 'scatter';
  for (let r = 0; r < R; r++) {
    const g = roiGeometry(a.rois, r, a.scale32, PH, PW);
    bat[r] = g.batch;
    if (a.mode === 'caffe') {
      gatherWindows(PH, g.binH, g.startH, g.endH, s0.subarray(0, H), s1.subarray(0, H));
      for (let h = 0; h < H; h++) (winH[(r * H + h) * 2] = s0[h]), (winH[(r * H + h) * 2 + 1] = s1[h]);
      gatherWindows(PW, g.binW, g.startW, g.endW, s0.subarray(0, W), s1.subarray(0, W));
      for (let w = 0; w < W; w++) (winW[(r * W + w) * 2] = s0[w]), (winW[(r * W + w) * 2 + 1] = s1[w]);
      continue;
    }
    binBounds(PH, g.binH, g.startH, H, hs, he);
    binBounds(PW, g.binW, g.startW, W, wsA, weA);
    coverage(hs, he, H, winH, r);
    coverage(wsA, weA, W, winW, r);
    if (local)
      for (let c = 0; c < C && local; c++)
        for (let ph = 0; ph < PH && local; ph++)
          for (let pw = 0; pw < PW; pw++) {
            const am = a.argmax[((r * C + c) * PH + ph) * PW + pw];
            if (am < 0) continue;
            const h = Math.floor(am / W), w = am - Math.floor(am / W) * W;
            if (h < hs[ph] || h >= he[ph] || w < wsA[pw] || w >= weA[pw]) {
              local = false;
              break;
            }
          }
  }
  if (a.mode === 'scatter' && !local) {
    // Some argmax lies outside its bin's window (not a forward's argmax): scan every bin.
    for (let i = 0; i < R * H; i++) (winH[i * 2] = 0), (winH[i * 2 + 1] = PH);
    for (let i = 0; i < R * W; i++) (winW[i * 2] = 0), (winW[i * 2 + 1] = PW);
  }
  const Ct = Math.min(span(C, N * plane, L), span(C, bins, L));
  const Rt = Math.min(span(R, Ct * bins, L), span(R, 2 * Math.max(H, W), L));
  for (let c0 = 0; c0 < C; c0 += Ct) {
    const c1 = Math.min(C, c0 + Ct);
    const ct = c1 - c0;
    let g: Float32Array = new Float32Array(N * ct * plane);
    for (let r0 = 0; r0 < R; r0 += Rt) {
      const r1 = Math.min(R, r0 + Rt);
      const am = tileRC(a.argmax, C, bins, r0, r1, c0, c1);
      const tg = tileRC(a.topGrad, C, bins, r0, r1, c0, c1);
      g = ks.run('poolGather', [W, H, N * ct], [
        g,
        am,
        tg,
        bat.subarray(r0, r1),
        winH.subarray(r0 * H * 2, r1 * H * 2),
        winW.subarray(r0 * W * 2, r1 * W * 2),
        r1 - r0,
        ct,
        PH,
        PW,
        H,
        W,
      ]);
    }
    for (let n = 0; n < N; n++) grad.set(g.subarray(n * ct * plane, (n + 1) * ct * plane), (n * C + c0) * plane);
  }
  return grad;
};

/** For each cell x < size, the bins [first, last + 1) whose [start, end) window holds x (contiguous: bounds never decrease). */
const coverage = (starts: Int32Array, ends: Int32Array, size: number, win: Float32Array, r: number): void => {
  const P = starts.length;
  for (let x = 0; x < size; x++) {
    let p0 = 0;
    while (p0 < P && !(starts[p0] <= x && x < ends[p0])) p0++;
    let p1 = p0;
    while (p1 < P && starts[p1] <= x && x < ends[p1]) p1++;
    win[(r * size + x) * 2] = p0 === P ? 0 : p0;
    win[(r * size + x) * 2 + 1] = p0 === P ? 0 : p1;
  }
};

/** RoIs [r0, r1) × channels [c0, c1) of an [R, C, bins] array, contiguous, as float32 (argmax codes < 2^24 are exact). */
const tileRC = (a: ArrayLike<number>, C: number, bins: number, r0: number, r1: number, c0: number, c1: number): Float32Array => {
  const ct = c1 - c0;
  const out = new Float32Array((r1 - r0) * ct * bins);
  for (let r = r0; r < r1; r++) {
    const src = (r * C + c0) * bins;
    const dst = (r - r0) * ct * bins;
    for (let i = 0; i < ct * bins; i++) out[dst + i] = a[src + i];
  }
  return out;
};

