/**
 * An explicit compute backend for the head's heavy ops (RoI pooling and the dense layers):
 *
 *   createBackend({ mode }) : Either<OhemError, Backend>
 *
 * `mode` is `reference` (the blocked TypeScript ops), a gpu.js mode (`cpu`, `webasm`,
 * `headlessgl`, `webgpu`) or `auto`. The Backend reports the mode that actually runs; a mode
 * that is not available here is a Left saying why, never a quiet fallback; `auto` measures the
 * candidates that are available on a small probe and keeps the fastest, saying which and why.
 * `destroy()` releases the gpu.js instance (and its GL context).
 *
 * gpu.js (and the native `gl` module under it) is loaded only here, on the first createBackend
 * of a gpu.js mode, so the library and `ohem-ref serve` start, and work, where they cannot load.
 */
import { createRequire } from 'node:module';
import * as E from 'fp-ts/lib/Either.js';
import type { GPU } from 'gpu.js';
import { type Result, checkEnum, engineFailure, rangeError, unsupported, type OhemError } from '../core/index.js';
import { type Kernels, type RoiPoolJob, type LinearJob, referenceKernels } from '../ops/index.js';
import { createKernelSet, DEFAULT_TILE_LIMIT, KERNEL_CLASS, linearBackward, linearForward, poolBackward, poolForward, type GpuMode, type KernelSet } from './kernels.js';

export const BACKEND_MODES = ['auto', 'reference', 'cpu', 'webasm', 'headlessgl', 'webgpu'] as const;
export type BackendMode = (typeof BACKEND_MODES)[number];
/** What runs: the reference ops or one gpu.js mode. */
export type RunningMode = 'reference' | GpuMode;
export type BackendName = 'reference' | `gpujs-${GpuMode | 'webgpu'}`;

/** The protocol's spelling of each backend (`attrs.backend`), and the createBackend mode it asks for. */
export const PROTOCOL_BACKENDS = {
  reference: 'reference',
  'gpujs-cpu': 'cpu',
  'gpujs-webasm': 'webasm',
  'gpujs-headlessgl': 'headlessgl',
  'gpujs-webgpu': 'webgpu',
  auto: 'auto',
} as const satisfies Record<string, BackendMode>;
export type ProtocolBackend = keyof typeof PROTOCOL_BACKENDS;

export interface Backend extends Kernels {
  /** `reference` or `gpujs-<mode>`: what actually runs. */
  readonly name: BackendName;
  readonly mode: RunningMode;
  /** What the caller asked for (`auto` or the mode itself). */
  readonly requested: BackendMode;
  /** Why this backend: for `auto`, the probe's measurements. */
  readonly reason: string;
  /** The device in words (the GL renderer, WebAssembly, JavaScript). */
  readonly device: string;
  /** The gpu.js kernel class of every kernel that has run, by kernel name (empty for the reference). */
  kernelsRan(): Readonly<Record<string, string>>;
  /** gpu.js kernel calls so far, by kernel name: one per tile. */
  kernelCalls(): Readonly<Record<string, number>>;
  /** `auto` only: what the probe measured for every candidate. */
  readonly probe?: readonly ProbeResult[];
  /** Releases the gpu.js instance; any later call of an op fails with a Left naming `backend`. */
  destroy(): Promise<void>;
}

export interface BackendOptions {
  readonly mode: BackendMode;
  /**
   * Most elements in one kernel argument or output (default 2^23): the drivers tile the work to
   * fit. Tests lower it to exercise the tiling on small shapes; above 2^23 index arithmetic can
   * pass 2^24 and stop being exact, so larger values are refused.
   */
  readonly tileLimit?: number;
  /** `auto` only: the dense-layer probe (R, K, M), default (64, 1024, 1024). */
  readonly probe?: { readonly R: number; readonly K: number; readonly M: number };
}

// --------------------------------------------------------------------------- loading gpu.js

type GpuModule = { GPU: new (settings: { mode: string }) => GPU };
type Loaded = { ok: true; mod: GpuModule } | { ok: false; why: string };

const load = (): Loaded => {
  try {
    const require = createRequire(import.meta.url);
    return { ok: true, mod: require('gpu.js') as GpuModule };
  } catch (e) {
    return { ok: false, why: `gpu.js could not be loaded (${firstLine(e)}); it is a dependency of ohem-ref: run npm ci` };
  }
};

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

const gone = (mode: string, why: string): OhemError => unsupported('backend', `${mode} is not available here: ${why}`);

/** Why headless GL is missing, as precisely as can be told (the gl module, or the display). */
const headlessWhy = (): string => {
  try {
    const require = createRequire(import.meta.url);
    const make = require('gl') as (w: number, h: number) => unknown;
    const ctx = make(1, 1) as { getExtension?: (n: string) => { destroy(): void } | null } | null;
    if (ctx) {
      ctx.getExtension?.('STACKGL_destroy_context')?.destroy();
      return 'gl made a context but gpu.js refused it (its feature checks failed)';
    }
    return process.env.DISPLAY
      ? `the gl module could not open a GL context on DISPLAY=${process.env.DISPLAY}`
      : 'the gl module needs an X display and DISPLAY is unset: run under `xvfb-run -a` (Debian: apt-get install xvfb xauth)';
  } catch (e) {
    return (
      `the optional native module gl@8.1.6 did not load (${firstLine(e)}): install the build packages ` +
      '(apt-get install python3 pkg-config libxi-dev libx11-dev libxext-dev libglu1-mesa-dev libglew-dev) and run `npm rebuild gl`'
    );
  }
};

const WEBGPU_WHY =
  "gpu.js's webgpu kernels return Promises and the head's heavy ops are synchronous; besides, webgpu needs navigator.gpu from the " +
  'webgpu package ≥ 0.6.2 (gpu.js 2.24.1 pins 0.2.9, which needs glibc 2.38) and a Vulkan driver newer than Debian 12 has (docs/semantics.md, gpu.js backends)';

// --------------------------------------------------------------------------- the gpu.js backend

const deviceOf = (mode: GpuMode): string =>
  mode === 'headlessgl'
    ? `headless-gl 8.1.6 (WebGL 1 through ANGLE) on DISPLAY=${process.env.DISPLAY ?? '?'}`
    : mode === 'webasm'
      ? 'WebAssembly, synchronous (one thread)'
      : 'JavaScript (gpu.js cpu kernels, one thread)';

const gpuBackend = (mod: GpuModule, mode: GpuMode, requested: BackendMode, limit: number, reason: string): Result<Backend> => {
  let gpu: GPU;
  try {
    gpu = new mod.GPU({ mode });
  } catch (e) {
    return E.left(gone(mode, mode === 'headlessgl' ? headlessWhy() : firstLine(e)));
  }
  let ks: KernelSet | null = createKernelSet(gpu, mode, limit);
  /**
   * Runs a device call as a kernel of the contract: a destroyed backend, a kernel that fell back
   * to another mode or failed on the device, a shape past a tile limit — every exception of
   * gpu.js or of the drivers — is the kernel's Left, tagged EngineError and naming `backend`.
   */
  const guard = <A>(f: (k: KernelSet) => A): Result<A> => {
    if (ks === null) return E.left(engineFailure('backend', `gpujs-${mode} was destroyed`));
    try {
      return E.right(f(ks));
    } catch (e) {
      return E.left(engineFailure('backend', firstLine(e)));
    }
  };
  const backend: Backend = {
    name: `gpujs-${mode}`,
    mode,
    requested,
    reason,
    device: deviceOf(mode),
    linear: (j) => guard((k) => linearForward(k, j.x, j.w, j.b, j.R, j.K, j.M)),
    linearBackward: (j) => guard((k) => linearBackward(k, j.x, j.w, j.dy, j.R, j.K, j.M)),
    roiPool: (j) => guard((k) => poolForward(k, j)),
    roiPoolBackward: (j) => guard((k) => poolBackward(k, j)),
    // No gpu.js RoIAlign kernels (yet): the RoIAlign family runs the reference kernels.
    roiAlign: referenceKernels.roiAlign,
    roiAlignBackward: referenceKernels.roiAlignBackward,
    cropAndResize: referenceKernels.cropAndResize,
    kernelsRan: () => Object.fromEntries(ks?.ran ?? lastRan),
    kernelCalls: () => Object.fromEntries(ks?.calls ?? lastCalls),
    destroy: () => {
      if (ks === null) return Promise.resolve();
      lastRan = new Map(ks.ran);
      lastCalls = new Map(ks.calls);
      ks = null;
      return Promise.resolve(gpu.destroy()).then(
        () => undefined,
        () => undefined,
      );
    },
  };
  let lastRan: ReadonlyMap<string, string> = new Map();
  let lastCalls: ReadonlyMap<string, number> = new Map();
  return E.right(Object.freeze(backend));
};

const referenceBackend = (requested: BackendMode, reason: string, probe?: readonly ProbeResult[]): Backend =>
  Object.freeze({
    ...(probe ? { probe } : {}),
    ...referenceKernels,
    name: 'reference' as const,
    mode: 'reference' as const,
    requested,
    reason,
    device: 'TypeScript reference ops (4×4 register-blocked dense layers, one thread)',
    kernelsRan: () => ({}),
    kernelCalls: () => ({}),
    destroy: () => Promise.resolve(),
  });

// --------------------------------------------------------------------------- createBackend

/**
 * A backend for the heavy ops, or a Left naming `backend` (a mode not available here, with the
 * reason and what would make it available) or `mode` / `tileLimit` (a bad option).
 */
export const createBackend = (options: BackendOptions): Result<Backend> => {
  const mode = checkEnum<BackendMode>('mode', options?.mode, BACKEND_MODES);
  if (E.isLeft(mode)) return mode;
  const limit = options?.tileLimit ?? DEFAULT_TILE_LIMIT;
  if (!Number.isInteger(limit) || limit < 64 || limit > DEFAULT_TILE_LIMIT)
    return E.left(rangeError('tileLimit', `must be an integer in [64, 2^23], got ${limit}: past 2^23 elements, index arithmetic can pass 2^24 and lose exactness`));
  switch (mode.right) {
    case 'reference':
      return E.right(referenceBackend('reference', 'asked for'));
    case 'webgpu': {
      const loaded = load();
      return E.left(gone('webgpu', loaded.ok ? WEBGPU_WHY : loaded.why));
    }
    case 'auto':
      return auto(options, limit);
    default: {
      const loaded = load();
      if (!loaded.ok) return E.left(gone(mode.right, loaded.why));
      return gpuBackend(loaded.mod, mode.right, mode.right, limit, 'asked for');
    }
  }
};

/** What `auto` measured: each candidate's probe time, or why it was not a candidate. */
export interface ProbeResult {
  readonly name: BackendName;
  readonly ms?: number;
  readonly why?: string;
}

/**
 * `auto`: every synchronous mode available here (the reference always; gpu.js cpu, webasm and,
 * under a display, headlessgl) runs the probe — a dense forward (R, K, M) and a RoI pooling of
 * 64 RoIs over a 256×38×50 map — once to compile and warm, then twice timed; the fastest best
 * time wins. The reference is kept unless a gpu.js mode is at least 1.25× faster: it is exact,
 * and on a CPU-only machine it is the fastest anyway (GPUJS.md).
 */
const auto = (options: BackendOptions, limit: number): Result<Backend> => {
  const probe = options.probe ?? { R: 64, K: 1024, M: 1024 };
  const job = probeJob(probe.R, probe.K, probe.M);
  const refTime = time(referenceKernels, job);
  if (E.isLeft(refTime)) return refTime;
  const results: ProbeResult[] = [{ name: 'reference', ms: refTime.right }];
  const loaded = load();
  let best: { backend: Backend; ms: number } | null = null;
  for (const m of ['headlessgl', 'webasm', 'cpu'] as const) {
    if (!loaded.ok) {
      results.push({ name: `gpujs-${m}`, why: loaded.why });
      continue;
    }
    const b = gpuBackend(loaded.mod, m, 'auto', limit, '');
    if (E.isLeft(b)) {
      results.push({ name: `gpujs-${m}`, why: b.left.message.replace(/^backend: /, '') });
      continue;
    }
    const t = time(b.right, job);
    if (E.isLeft(t)) {
      results.push({ name: `gpujs-${m}`, why: `its probe failed: ${t.left.what}` });
      void b.right.destroy();
      continue;
    }
    const ms = t.right;
    results.push({ name: `gpujs-${m}`, ms });
    if (best === null || ms < best.ms) {
      if (best) void best.backend.destroy();
      best = { backend: b.right, ms };
    } else void b.right.destroy();
  }
  results.push({ name: 'gpujs-webgpu', why: WEBGPU_WHY });
  const refMs = results[0].ms!;
  const table = results.map((r) => (r.ms !== undefined ? `${r.name} ${r.ms.toFixed(1)} ms` : `${r.name} unavailable (${r.why})`)).join('; ');
  const what = `probe: dense (R,K,M)=(${probe.R},${probe.K},${probe.M}) + RoI pooling of 64 RoIs on 256×38×50`;
  if (best && best.ms * 1.25 <= refMs) {
    const reason = `auto picked ${best.backend.name}: ${(refMs / best.ms).toFixed(2)}× faster than the reference ops on the ${what} (${table})`;
    // The same instance (its kernels are compiled and warm), with the reason.
    return E.right(Object.freeze({ ...best.backend, reason, probe: results }));
  }
  if (best) void best.backend.destroy();
  const fastest = best ? `the fastest gpu.js mode, ${best.backend.name}, took ${(best.ms / refMs).toFixed(2)}× the reference's time` : 'no gpu.js mode is available';
  return E.right(referenceBackend('auto', `auto picked the reference ops: ${fastest} on the ${what}, and a gpu.js mode must be ≥ 1.25× faster to be preferred (${table})`, results));
};

interface ProbeJob {
  readonly linear: LinearJob;
  readonly pool: RoiPoolJob;
}

const probeJob = (R: number, K: number, M: number): ProbeJob => {
  // Deterministic filler (a Weyl sequence); the probe only times.
  const fill = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => (((i * 0.6180339887 + s) % 1) - 0.5) * 2);
  const [N, C, H, W] = [1, 256, 38, 50];
  const rois = new Float32Array(64 * 5);
  for (let r = 0; r < 64; r++) rois.set([0, (r * 37) % 400, (r * 53) % 300, 400 + ((r * 29) % 380), 300 + ((r * 31) % 300)], r * 5);
  return {
    linear: { x: fill(R * K, 0.1), w: fill(M * K, 0.2), b: fill(M, 0.3), R, K, M },
    pool: { features: fill(N * C * H * W, 0.4), N, C, H, W, rois, R: 64, pooledH: 7, pooledW: 7, scale32: Math.fround(1 / 16) },
  };
};

/** Best of two timed runs after a warm-up (compiles, JIT), in ms; the Left of a failing run. */
const time = (b: Kernels, j: ProbeJob): Result<number> => {
  const once = (): Result<unknown> => {
    const y = b.linear(j.linear);
    return E.isLeft(y) ? y : b.roiPool(j.pool);
  };
  const warm = once();
  if (E.isLeft(warm)) return warm;
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    const r = once();
    if (E.isLeft(r)) return r;
    best = Math.min(best, performance.now() - t0);
  }
  return E.right(best);
};

/** The kernel class each gpu.js mode must report (for tests and reports). */
export const EXPECTED_KERNEL_CLASS = KERNEL_CLASS;
