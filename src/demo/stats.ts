/**
 * The demo's statistics over seeds: mean, sample standard deviation, and Student-t 95 % intervals
 * for a mean and for a paired difference (the same seeds under two samplers). Pure.
 *
 * With n seeds the interval is mean ± t(0.975, n − 1) · sd / √n. Few seeds give wide intervals on
 * purpose: t(0.975, 2) = 4.30, t(0.975, 4) = 2.78.
 */

/** t(0.975, df) for df = 1 … 30 (two-sided 95 %); beyond 30 the normal 1.96 is within 2 %. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064,
  2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export const tQuantile975 = (df: number): number => (df < 1 ? NaN : df <= 30 ? T975[df - 1] : 1.96);

export interface Spread {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN for one value. */
  readonly sd: number;
  /** The 95 % t-interval of the mean; [NaN, NaN] for one value. */
  readonly lo: number;
  readonly hi: number;
  readonly values: readonly number[];
}

export const spread = (values: readonly number[]): Spread => {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  const half = n > 1 ? (tQuantile975(n - 1) * sd) / Math.sqrt(n) : NaN;
  return { n, mean, sd, lo: mean - half, hi: mean + half, values };
};

/** A spread reduced to what a table prints. */
export type Brief = Pick<Spread, 'n' | 'mean' | 'sd'>;

export const brief = (s: Spread): Brief => ({ n: s.n, mean: s.mean, sd: s.sd });

/** The paired difference a − b over the same seeds (values in the same order), as a Spread. */
export const paired = (a: readonly number[], b: readonly number[]): Spread => {
  if (a.length !== b.length) throw new Error(`paired: ${a.length} values against ${b.length}`);
  return spread(a.map((x, i) => x - b[i]));
};

/** Whether the interval lies wholly above (1), wholly below (−1) or across 0 (0); 0 without an interval. */
export const sign = (s: Spread): -1 | 0 | 1 => (!Number.isFinite(s.lo) ? 0 : s.lo > 0 ? 1 : s.hi < 0 ? -1 : 0);
