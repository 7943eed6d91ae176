/**
 * InnerProduct (SPEC §8.1, docs/semantics.md §5): y = x·Wᵀ + b with W of shape (M, K) (out, in), and its backward.
 *
 * The one kernel is `matmulNT`: C[p, s] = Σ_q A[p, q]·B[s, q], both operands row-major with the
 * reduction axis contiguous. It is register-blocked 4×4 (16 float64 accumulators, 8 loads per
 * 16 multiply-adds) over packed panels and cache-blocked over q, which is what makes plain JS reach ~4 GFLOP/s on one
 * core here (GPUJS.md's table), about 3–4× a naive triple loop. Accumulation is float64 and the
 * result is stored once as float32 (DESIGN.md); Caffe's cuBLAS sums in float32 in an unspecified
 * order, so a port is compared with a tolerance that scales with Σ|x·w| (see properties).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, type Tensor, adoptTensor, checkFinite, valueError } from '../core/internal.js';
import { type InputDef, type OpDef, type Tolerance, opFn } from './def.js';
import { referenceKernels } from './kernels.js';
import { LINEAR_BACKWARD, LINEAR_Y } from './precision.js';

type Num = ArrayLike<number>;

/** Reduction-axis block: a packed 4-row panel of A and the packed panels of B for one block stay in cache. */
const KB = 256;

/**
 * C = A·Bᵀ (+ bias per column s) with A [P, Q], B [S, Q], C [P, S] float32, float64 sums.
 *
 * Per block of the reduction axis, B's rows are packed four at a time into interleaved panels
 * (b0[q], b1[q], b2[q], b3[q], …) and A's rows likewise, so the 4×4 inner loop reads two
 * sequential streams instead of eight strided ones. `acc` keeps every partial sum in float64.
 */
export const matmulNT = (a: Num, b: Num, P: number, Q: number, S: number, bias?: Num): Float32Array => {
  const acc = new Float64Array(P * S);
  if (bias) for (let p = 0; p < P; p++) for (let s = 0; s < S; s++) acc[p * S + s] = bias[s];
  const P4 = P - (P % 4);
  const S4 = S - (S % 4);
  const pa = new Float64Array(4 * KB);
  const pb = new Float64Array(S4 * KB);
  for (let q0 = 0; q0 < Q; q0 += KB) {
    const q1 = Math.min(Q, q0 + KB);
    const L = q1 - q0;
    for (let s = 0; s < S4; s += 4) {
      const base = s * KB;
      const b0 = s * Q + q0, b1 = b0 + Q, b2 = b1 + Q, b3 = b2 + Q;
      for (let q = 0, j = base; q < L; q++, j += 4) {
        pb[j] = b[b0 + q]; pb[j + 1] = b[b1 + q]; pb[j + 2] = b[b2 + q]; pb[j + 3] = b[b3 + q];
      }
    }
    for (let p = 0; p < P4; p += 4) {
      const a0 = p * Q + q0, a1 = a0 + Q, a2 = a1 + Q, a3 = a2 + Q;
      for (let q = 0, i = 0; q < L; q++, i += 4) {
        pa[i] = a[a0 + q]; pa[i + 1] = a[a1 + q]; pa[i + 2] = a[a2 + q]; pa[i + 3] = a[a3 + q];
      }
      for (let s = 0; s < S4; s += 4) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
        let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
        let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let q = 0, i = 0, j = s * KB; q < L; q++, i += 4, j += 4) {
          const x0 = pa[i], x1 = pa[i + 1], x2 = pa[i + 2], x3 = pa[i + 3];
          const w0 = pb[j], w1 = pb[j + 1], w2 = pb[j + 2], w3 = pb[j + 3];
          c00 += x0 * w0; c01 += x0 * w1; c02 += x0 * w2; c03 += x0 * w3;
          c10 += x1 * w0; c11 += x1 * w1; c12 += x1 * w2; c13 += x1 * w3;
          c20 += x2 * w0; c21 += x2 * w1; c22 += x2 * w2; c23 += x2 * w3;
          c30 += x3 * w0; c31 += x3 * w1; c32 += x3 * w2; c33 += x3 * w3;
        }
        let o = p * S + s;
        acc[o] += c00; acc[o + 1] += c01; acc[o + 2] += c02; acc[o + 3] += c03; o += S;
        acc[o] += c10; acc[o + 1] += c11; acc[o + 2] += c12; acc[o + 3] += c13; o += S;
        acc[o] += c20; acc[o + 1] += c21; acc[o + 2] += c22; acc[o + 3] += c23; o += S;
        acc[o] += c30; acc[o + 1] += c31; acc[o + 2] += c32; acc[o + 3] += c33;
      }
      // Leftover columns s ∈ [S4, S): 4 rows × 1 column.
      for (let s = S4; s < S; s++) {
        const bs = s * Q + q0;
        let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        for (let q = 0, i = 0; q < L; q++, i += 4) {
          const w = b[bs + q];
          c0 += pa[i] * w; c1 += pa[i + 1] * w; c2 += pa[i + 2] * w; c3 += pa[i + 3] * w;
        }
        acc[p * S + s] += c0; acc[(p + 1) * S + s] += c1; acc[(p + 2) * S + s] += c2; acc[(p + 3) * S + s] += c3;
      }
    }
    // Leftover rows p ∈ [P4, P): 1 row × every column.
    for (let p = P4; p < P; p++) {
      const ap = p * Q + q0;
      for (let s = 0; s < S; s++) {
        const bs = s * Q + q0;
        let c = 0;
        for (let q = 0; q < L; q++) c += a[ap + q] * b[bs + q];
        acc[p * S + s] += c;
      }
    }
  }
  return Float32Array.from(acc);
};

/** Row-major transpose of an [rows, cols] matrix (the backward needs its reduction axes contiguous). */
export const transpose = (a: Num, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols);
  const TB = 32;
  for (let i0 = 0; i0 < rows; i0 += TB)
    for (let j0 = 0; j0 < cols; j0 += TB) {
      const i1 = Math.min(rows, i0 + TB);
      const j1 = Math.min(cols, j0 + TB);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = a[i * cols + j];
    }
  return out;
};

// ---------------------------------------------------------------- the kernels

/** A dense forward job: y [R, M] = x [R, K]·wᵀ + b on validated float32 data. */
export interface LinearJob {
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly b: Float32Array;
  readonly R: number;
  readonly K: number;
  readonly M: number;
}
/** A dense backward job: dx [R, K], dw [M, K], db [M] from x [R, K], w [M, K], dy [R, M]. */
export interface LinearBackwardJob {
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly dy: Float32Array;
  readonly R: number;
  readonly K: number;
  readonly M: number;
}
export interface LinearGrads {
  readonly dx: Float32Array;
  readonly dw: Float32Array;
  readonly db: Float32Array;
}

/** y = x·Wᵀ + b (SPEC §8.1): the reference kernel. */
export const linearKernel = (j: LinearJob): Result<Float32Array> => E.right(matmulNT(j.x, j.w, j.R, j.K, j.M, j.b));

/**
 * The backward on validated float32 data (SPEC §8.1): dx = dy·W [R, K], dW = dyᵀ·x [M, K],
 * db = Σ_r dy [M], each sum in float64 stored once. These are one pass's gradients; Caffe
 * accumulates them into the param diff (beta = 1) across sharers and iter_size — the caller sums.
 */
export const linearBackwardKernel = (j: LinearBackwardJob): Result<LinearGrads> => {
  const { x, w, dy, R, K, M } = j;
  const dyT = transpose(dy, R, M); // [M, R]
  const dx = matmulNT(dy, transpose(w, M, K), R, M, K);
  const dw = matmulNT(dyT, transpose(x, R, K), M, R, K);
  const db = new Float32Array(M);
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let r = 0; r < R; r++) s += dyT[m * R + r];
    db[m] = s;
  }
  return E.right({ dx, dw, db });
};

/** A float32 output that overflowed although its inputs were finite is an error, not a silent Inf/NaN. */
export const finiteOutput = (name: string, d: ArrayLike<number>): Result<void> => {
  for (let i = 0; i < d.length; i++)
    if (!Number.isFinite(d[i])) return E.left(valueError(name, `element ${i} overflowed float32 (${d[i]}) from finite inputs`));
  return E.right(undefined);
};

// ---------------------------------------------------------------- the defs

const dense = (name: string, shape: readonly string[], doc: string): InputDef => ({ name, dtypes: ['float32'], accepts: ['float64'], read: 'float32', shape, doc });

// Tolerance between two implementations that both accumulate in float64 (the reference and its
// oracle: each sum in float64, one rounding to float32): only the summation order differs, an
// error of about n·2^-53·Σ|x·w| in double, far below a float32 ulp. The stored float32 can then
// differ only where that tiny double difference straddles a float32 rounding boundary: by one
// ulp, which is at most 2^-23·|b| (rtol) — atol covers results that cancel to (near) zero, where
// that double error, though tiny, is not small relative to |b|.
const ONE_ULP: Tolerance = { atol: 1e-9, rtol: 2 ** -23, note: 'float64 sums in two orders, one float32 rounding: ≤ 1 ulp (+1e-9 for cancellation to ~0)' };

const data32 = (t: Tensor): Float32Array => t.data as unknown as Float32Array;

const checkAllFinite = (v: { inputs: Readonly<Record<string, Tensor>> }, names: readonly string[]): Result<void> => {
  for (const n of names) {
    const f = checkFinite(n, v.inputs[n]);
    if (E.isLeft(f)) return f;
  }
  return E.right(undefined);
};

export interface LinearInputs {
  readonly x: Tensor;
  readonly w: Tensor;
  readonly b: Tensor;
}
export interface LinearBackwardInputs {
  readonly x: Tensor;
  readonly w: Tensor;
  readonly dy: Tensor;
}

export const linearDef: OpDef<Record<string, never>, { readonly y: Tensor<'float32'> }> = {
  name: 'linear',
  version: 1,
  summary: 'InnerProduct: y = x·Wᵀ + b',
  doc: 'docs/semantics.md#innerproduct',
  inputs: [dense('x', ['R', 'K'], 'the input rows [R, K]'), dense('w', ['M', 'K'], 'the weights [M, K] (out, in)'), dense('b', ['M'], 'the bias [M]')],
  attrs: [],
  outputs: [{ name: 'y', dtype: 'float32', shape: ['R', 'M'], tolerance: ONE_ULP, precision: LINEAR_Y, doc: 'y [R, M], each sum accumulated in float64 and stored once' }],
  kernels: ['linear'],
  check: (v) => checkAllFinite(v, ['x', 'w', 'b']),
  run: (v, k) => {
    const { R, K, M } = v.dims;
    const y = k.linear({ x: data32(v.inputs.x), w: data32(v.inputs.w), b: data32(v.inputs.b), R, K, M });
    if (E.isLeft(y)) return y;
    const fin = finiteOutput('y', y.right);
    return E.isLeft(fin) ? fin : E.right({ y: adoptTensor('float32', [R, M], y.right) });
  },
};

export const linearBackwardDef: OpDef<Record<string, never>, { readonly dx: Tensor<'float32'>; readonly dw: Tensor<'float32'>; readonly db: Tensor<'float32'> }> = {
  name: 'linear_backward',
  version: 1,
  summary: 'the gradients of linear for a given dy: dx = dy·W, dW = dyᵀ·x, db = Σ dy (one pass; the caller accumulates)',
  doc: 'docs/semantics.md#innerproduct',
  inputs: [dense('x', ['R', 'K'], 'the forward\'s input [R, K]'), dense('w', ['M', 'K'], 'the weights [M, K]'), dense('dy', ['R', 'M'], 'the gradient of y [R, M]')],
  attrs: [],
  outputs: [
    { name: 'dx', dtype: 'float32', precision: LINEAR_BACKWARD.dx, shape: ['R', 'K'], tolerance: ONE_ULP, doc: 'dy·W' },
    { name: 'dw', dtype: 'float32', precision: LINEAR_BACKWARD.dw, shape: ['M', 'K'], tolerance: ONE_ULP, doc: 'dyᵀ·x' },
    { name: 'db', dtype: 'float32', precision: LINEAR_BACKWARD.db, shape: ['M'], tolerance: ONE_ULP, doc: 'Σ_r dy' },
  ],
  kernels: ['linearBackward'],
  check: (v) => checkAllFinite(v, ['x', 'w', 'dy']),
  run: (v, k) => {
    const { R, K, M } = v.dims;
    const g = k.linearBackward({ x: data32(v.inputs.x), w: data32(v.inputs.w), dy: data32(v.inputs.dy), R, K, M });
    if (E.isLeft(g)) return g;
    for (const [name, d] of [['dx', g.right.dx], ['dw', g.right.dw], ['db', g.right.db]] as const) {
      const ok = finiteOutput(name, d);
      if (E.isLeft(ok)) return ok;
    }
    return E.right({ dx: adoptTensor('float32', [R, K], g.right.dx), dw: adoptTensor('float32', [M, K], g.right.dw), db: adoptTensor('float32', [M], g.right.db) });
  },
};

/** y = x·Wᵀ + b (SPEC §8.1). x [R, K], w [M, K], b [M] → y [R, M] float32. */
export const linear = opFn<LinearInputs, Record<string, never>, { readonly y: Tensor<'float32'> }>(linearDef, () => referenceKernels);
/** Backward of `linear` for dy [R, M] (SPEC §8.1). */
export const linearBackward = opFn<LinearBackwardInputs, Record<string, never>, { readonly dx: Tensor<'float32'>; readonly dw: Tensor<'float32'>; readonly db: Tensor<'float32'> }>(
  linearBackwardDef,
  () => referenceKernels,
);
