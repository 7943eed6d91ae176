/**
 * Precision models: the second, wider bound of the float outputs that a port computing in plain
 * float32 may use (docs/protocol.md "Comparison"). The reference sums in float64 and rounds once;
 * Caffe's cuBLAS, torch, ONNX Runtime and tfjs accumulate in float32, in an order of their own.
 * Each model is the textbook forward-error bound of that computation (Higham, Accuracy and
 * Stability of Numerical Algorithms, §3.1), plus the reference's own rounding; a difference
 * within it is conform's verdict `precision`, beyond it `fail`.
 */
import type { Tensor } from '../core/internal.js';
import type { Attrs, Inputs, PrecisionModel } from './def.js';

/** The float32 unit roundoff. */
export const U32 = 2 ** -24;
/** An absolute allowance for results in float32's subnormal range (where rounding is absolute, 2^-150 a step). */
const TINY = 2 ** -140;

const data = (t: Tensor | undefined): ArrayLike<number> => (t ? t.data : []);

/**
 * A dot product of n terms accumulated in float32 in any order (blocked, pairwise, FMA or not):
 * |fl(Σ) − Σ| ≤ γ_n·Σ|terms| with γ_n = n·u/(1 − n·u); one more u for the reference's rounding
 * and one for the port's store.
 */
export const dotBound = (n: number, sumAbs: number): number => ((n + 2) * U32 * sumAbs) / Math.max(1e-3, 1 - n * U32) + TINY;

/**
 * The bounds of an [I, J] result whose element (i, j) sums n terms |term(i, j, t)|, t < n, plus
 * |extra(i, j)| (a bias): one float32 dot product each.
 */
const productBounds = (I: number, J: number, n: number, term: (i: number, j: number, t: number) => number, extra?: (i: number, j: number) => number): Float64Array => {
  const out = new Float64Array(I * J);
  for (let i = 0; i < I; i++)
    for (let j = 0; j < J; j++) {
      let s = extra ? Math.abs(extra(i, j)) : 0;
      for (let t = 0; t < n; t++) s += Math.abs(term(i, j, t));
      out[i * J + j] = dotBound(extra ? n + 1 : n, s);
    }
  return out;
};

/** The [M, K] of linear's w and the R of its rows (from x or dy). */
const linearDims = (inputs: Inputs, rowsOf: 'x' | 'dy'): { R: number; M: number; K: number } => {
  const M = inputs.w?.shape[0] ?? 0;
  const K = inputs.w?.shape[1] ?? 0;
  const per = rowsOf === 'x' ? K : M;
  return { R: per === 0 ? 0 : data(inputs[rowsOf]).length / per, M, K };
};

const model = (name: string, note: string, bound: (inputs: Inputs) => Float64Array): PrecisionModel => ({ model: name, note, bound });

/** linear's y = x·Wᵀ + b: K products and the bias per element. */
export const LINEAR_Y = model('float32 dot product', '|Δy| ≤ (K + 3)·u·(Σ_k |x·w| + |b|): a GEMM accumulating K products and the bias in float32, in any order', (inputs) => {
  const [x, w, b] = [data(inputs.x), data(inputs.w), data(inputs.b)];
  const { R, M, K } = linearDims(inputs, 'x');
  return productBounds(R, M, K, (r, m, k) => x[r * K + k] * w[m * K + k], (_r, m) => b[m] ?? 0);
});

/** linear_backward's dx = dy·W (M terms), dw = dyᵀ·x (R terms), db = Σ_r dy (R terms). */
export const LINEAR_BACKWARD: Readonly<Record<'dx' | 'dw' | 'db', PrecisionModel>> = {
  dx: model('float32 dot product', '|Δdx| ≤ (M + 2)·u·Σ_m |dy·w|: M products accumulated in float32', (inputs) => {
    const [dy, w] = [data(inputs.dy), data(inputs.w)];
    const { R, M, K } = linearDims(inputs, 'dy');
    return productBounds(R, K, M, (r, k, m) => dy[r * M + m] * w[m * K + k]);
  }),
  dw: model('float32 dot product', '|Δdw| ≤ (R + 2)·u·Σ_r |dy·x|: R products accumulated in float32', (inputs) => {
    const [dy, x] = [data(inputs.dy), data(inputs.x)];
    const { R, M, K } = linearDims(inputs, 'dy');
    return productBounds(M, K, R, (m, k, r) => dy[r * M + m] * x[r * K + k]);
  }),
  db: model('float32 sum', '|Δdb| ≤ (R + 2)·u·Σ_r |dy|: R terms accumulated in float32', (inputs) => {
    const dy = data(inputs.dy);
    const { R, M } = linearDims(inputs, 'dy');
    return productBounds(1, M, R, (_i, m, r) => dy[r * M + m]);
  }),
};

/**
 * The relative error bound of each probability of a row-wise softmax computed in float32:
 * x − max rounded in float32 moves exp by a factor (1 ± u·|x − max|) — the conditioning of exp,
 * which no port can avoid unless it computes in float64 —, the sum Σ e^(x − max) carries the
 * weighted mean of those, plus K + 4 roundings (the K exps and adds, the division, the store).
 * Twice that, for the reference's own roundings and a port that takes exp of float32 arguments.
 */
export const softmaxRelativeBounds = (x: ArrayLike<number>, R: number, K: number): { rel: Float64Array; p: Float64Array } => {
  const rel = new Float64Array(R * K);
  const p = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    const o = r * K;
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, x[o + k]);
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(x[o + k] - m);
    let mean = 0; // Σ p_j·|x_j − max|
    for (let k = 0; k < K; k++) {
      p[o + k] = Math.exp(x[o + k] - m) / z;
      mean += p[o + k] * Math.abs(x[o + k] - m);
    }
    for (let k = 0; k < K; k++) rel[o + k] = 2 * U32 * (Math.abs(x[o + k] - m) + mean + K + 4);
  }
  return { rel, p };
};

const rowsOf = (t: Tensor | undefined): { R: number; K: number } => ({ R: t?.shape[0] ?? 0, K: t?.shape[1] ?? 0 });

/** softmax's prob from its input x [R, K]. */
export const SOFTMAX_PROB = (input: string): PrecisionModel => ({
  model: 'float32 softmax',
  note: '|Δp| ≤ 2u·p·(|x − max| + Σ_j p_j·|x_j − max| + K + 4): x − max rounded in float32 (the conditioning of exp), K + 4 roundings',
  bound: (inputs: Inputs) => {
    const { R, K } = rowsOf(inputs[input]);
    const { rel, p } = softmaxRelativeBounds(data(inputs[input]), R, K);
    return rel.map((e, i) => e * p[i] + TINY);
  },
});

/** What both softmax_loss models read: the softmax bound of every p, the labels, the normaliser Z. */
const lossTerms = (inputs: Inputs, attrs: Attrs) => {
  const { R, K } = rowsOf(inputs.scores);
  const labels = data(inputs.labels);
  const { rel, p } = softmaxRelativeBounds(data(inputs.scores), R, K);
  const ignore = typeof attrs.ignore_label === 'number' ? attrs.ignore_label : null;
  const valid = (r: number) => labels[r] !== ignore;
  let n = 0;
  for (let r = 0; r < R; r++) if (valid(r)) n++;
  const z = attrs.normalization === 'valid' ? Math.max(1, n) : attrs.normalization === 'none' ? 1 : Math.max(1, R);
  return { R, K, labels, rel, p, valid, z };
};

/** softmax_loss's loss: each valid row's −ln p_y moves by p_y's relative error; the mean adds 3u·L. */
export const SOFTMAX_LOSS_LOSS: PrecisionModel = {
  model: 'float32 softmax',
  note: '|ΔL| ≤ Σ_valid rel(p_y)/Z + 3u·L, rel(p) the softmax bound: −ln p moves by p\'s relative error',
  bound: (inputs: Inputs, attrs: Attrs) => {
    const { R, K, labels, rel, p, valid, z } = lossTerms(inputs, attrs);
    let err = 0;
    let loss = 0;
    for (let r = 0; r < R; r++)
      if (valid(r)) {
        err += rel[r * K + labels[r]];
        loss += -Math.log(Math.max(p[r * K + labels[r]], 2 ** -126));
      }
    return Float64Array.of((err + 3 * U32 * loss) / z + TINY);
  },
};

/** softmax_loss's scores_grad = (p − [k = y])/Z: p's error over Z, plus two roundings. */
export const SOFTMAX_LOSS_GRAD: PrecisionModel = {
  model: 'float32 softmax',
  note: '|Δg| ≤ rel(p)·p/Z + 2u·|g|: the softmax bound of p, scaled by 1/Z',
  bound: (inputs: Inputs, attrs: Attrs) => {
    const { K, labels, rel, p, z } = lossTerms(inputs, attrs);
    return rel.map((e, i) => (e * p[i] + 2 * U32 * Math.abs(p[i] - (labels[Math.floor(i / K)] === i % K ? 1 : 0))) / z + TINY);
  },
};
