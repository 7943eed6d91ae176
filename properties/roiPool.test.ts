/**
 * roiPool / roiPoolBackward (SPEC §5.1 forward, §5.2 Caffe's gather backward, §5.3 torchvision's
 * scatter backward; pitfalls 14–18).
 *
 * The references below are written from SPEC's text as plain loops, deliberately not the way
 * src/ops/roiPool.ts is written: the forward scans every bin's window; the caffe backward is the
 * literal per-bottom-element gather (every cell loops over every RoI), which the op replaces by a
 * filtered scatter; C round is written as truncation plus a step away from zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { roiPool, roiPoolBackward } from '../src/ops/roiPool.js';
import { T, right, leftNaming, noThrow, assertPure, assertBitEqual, fcParams } from './support.js';
import { poolCases, backwardCases, poolTensors, backwardTensors, type PoolCase } from '../src/conform/arbitraries/roiPool.js';

// ------------------------------------------------------------------ the naive reference (SPEC §5)

/** C `round`: drop the fraction, then step away from zero when it was at least one half. */
const cRound = (x: number): number => {
  const t = Math.trunc(x);
  return Math.abs(x - t) >= 0.5 ? t + Math.sign(x) : t;
};
/** −FLT_MAX from its bits (0x7f7fffff), not from the project's constant. */
const NEG_FLT_MAX = -new Float32Array(new Uint32Array([0x7f7fffff]).buffer)[0];

interface Box {
  b: number;
  sw: number;
  sh: number;
  ew: number;
  eh: number;
  binH: number;
  binW: number;
}

/** SPEC §5.1: (int) batch, C-rounded float32 products, inclusive +1 extents clamped to ≥ 1, float32 bin sizes. */
const boxOf = (rois: ArrayLike<number>, r: number, scale: number, PH: number, PW: number): Box => {
  const s = Math.fround(scale);
  const end = (k: number) => cRound(Math.fround(rois[r * 5 + k] * s));
  const [sw, sh, ew, eh] = [end(1), end(2), end(3), end(4)];
  const Wr = Math.max(ew - sw + 1, 1);
  const Hr = Math.max(eh - sh + 1, 1);
  return { b: Math.trunc(rois[r * 5]), sw, sh, ew, eh, binH: Math.fround(Hr / PH), binW: Math.fround(Wr / PW) };
};

/** The window [h0, h1) × [w0, w1) of bin (ph, pw): floor/ceil of float32 products, + start, clipped (SPEC §5.1). */
const windowOf = (g: Box, ph: number, pw: number, H: number, W: number) => {
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    h0: clip(Math.floor(Math.fround(ph * g.binH)) + g.sh, H),
    h1: clip(Math.ceil(Math.fround((ph + 1) * g.binH)) + g.sh, H),
    w0: clip(Math.floor(Math.fround(pw * g.binW)) + g.sw, W),
    w1: clip(Math.ceil(Math.fround((pw + 1) * g.binW)) + g.sw, W),
  };
};

interface Dims {
  N: number;
  C: number;
  H: number;
  W: number;
}

/** SPEC §5.1 forward, bin by bin. */
const naiveForward = (f: ArrayLike<number>, d: Dims, rois: ArrayLike<number>, R: number, PH: number, PW: number, scale: number) => {
  const top = new Float32Array(R * d.C * PH * PW);
  const argmax = new Int32Array(R * d.C * PH * PW);
  for (let r = 0; r < R; r++) {
    const g = boxOf(rois, r, scale, PH, PW);
    for (let c = 0; c < d.C; c++)
      for (let ph = 0; ph < PH; ph++)
        for (let pw = 0; pw < PW; pw++) {
          const o = ((r * d.C + c) * PH + ph) * PW + pw;
          const { h0, h1, w0, w1 } = windowOf(g, ph, pw, d.H, d.W);
          if (h1 <= h0 || w1 <= w0) {
            top[o] = 0;
            argmax[o] = -1;
            continue;
          }
          let m = NEG_FLT_MAX;
          let a = -1;
          for (let h = h0; h < h1; h++)
            for (let w = w0; w < w1; w++) {
              const v = f[((g.b * d.C + c) * d.H + h) * d.W + w];
              if (v > m) {
                m = v;
                a = h * d.W + w;
              }
            }
          top[o] = m;
          argmax[o] = a;
        }
  }
  return { top, argmax };
};

/** SPEC §5.2, literally: one bottom element at a time, over every RoI of its image, float32 sum. */
const naiveGather = (rois: ArrayLike<number>, argmax: ArrayLike<number>, tg: ArrayLike<number>, R: number, d: Dims, PH: number, PW: number, scale: number) => {
  const out = new Float32Array(d.N * d.C * d.H * d.W);
  // The kernel recomputes each RoI's box per element; the same numbers, computed once here.
  const boxes = Array.from({ length: R }, (_, r) => boxOf(rois, r, scale, PH, PW));
  for (let n = 0; n < d.N; n++)
    for (let c = 0; c < d.C; c++)
      for (let h = 0; h < d.H; h++)
        for (let w = 0; w < d.W; w++) {
          let g = 0;
          for (let r = 0; r < R; r++) {
            const b = boxes[r];
            if (b.b !== n) continue;
            if (!(b.sw <= w && w <= b.ew && b.sh <= h && h <= b.eh)) continue;
            const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
            const phs = clip(Math.floor(Math.fround(Math.fround(h - b.sh) / b.binH)), PH);
            const phe = clip(Math.ceil(Math.fround(Math.fround(h - b.sh + 1) / b.binH)), PH);
            const pws = clip(Math.floor(Math.fround(Math.fround(w - b.sw) / b.binW)), PW);
            const pwe = clip(Math.ceil(Math.fround(Math.fround(w - b.sw + 1) / b.binW)), PW);
            for (let ph = phs; ph < phe; ph++)
              for (let pw = pws; pw < pwe; pw++) {
                const o = ((r * d.C + c) * PH + ph) * PW + pw;
                if (argmax[o] === h * d.W + w) g = Math.fround(g + tg[o]);
              }
          }
          out[((n * d.C + c) * d.H + h) * d.W + w] = g;
        }
  return out;
};

/** SPEC §5.3: grad[argmax] += top_grad, bins in (r, c, ph, pw) order, float32 sums. */
const naiveScatter = (rois: ArrayLike<number>, argmax: ArrayLike<number>, tg: ArrayLike<number>, R: number, d: Dims, PH: number, PW: number) => {
  const out = new Float32Array(d.N * d.C * d.H * d.W);
  for (let r = 0; r < R; r++)
    for (let c = 0; c < d.C; c++)
      for (let k = 0; k < PH * PW; k++) {
        const o = (r * d.C + c) * PH * PW + k;
        if (argmax[o] === -1) continue;
        const i = (Math.trunc(rois[r * 5]) * d.C + c) * d.H * d.W + argmax[o];
        out[i] = Math.fround(out[i] + tg[o]);
      }
  return out;
};

const attrsOf = (c: PoolCase) => ({ pooled_h: c.pooled_h, pooled_w: c.pooled_w, spatial_scale: c.spatial_scale });
const flt = (xs: number[]) => Float32Array.from(xs);

// ------------------------------------------------------------------ forward

test('roiPool equals the max over each bin window computed from SPEC §5.1 (bit-exact top, exact argmax), NaN/±∞ features included', () => {
  fc.assert(
    fc.property(poolCases({ specials: true }), (c) => {
      const { top, argmax } = right(roiPool(poolTensors(c), attrsOf(c)));
      const shape = [c.R, c.C, c.pooled_h, c.pooled_w];
      assert.deepEqual([top.shape, argmax.shape, top.dtype, argmax.dtype], [shape, shape, 'float32', 'int32']);
      const want = naiveForward(flt(c.features), c, flt(c.rois), c.R, c.pooled_h, c.pooled_w, c.spatial_scale);
      assertBitEqual(top.data, want.top, 'top');
      assert.deepEqual(Array.from(argmax.data), Array.from(want.argmax), 'argmax');
    }),
    fcParams(),
  );
});

test('an empty bin gives +0 and −1; a non-empty bin gives −1 only when nothing in it beats −FLT_MAX, and never NaN', () => {
  fc.assert(
    fc.property(poolCases({ specials: true }), (c) => {
      const { top, argmax } = right(roiPool(poolTensors(c), attrsOf(c)));
      const f = flt(c.features);
      const rois = flt(c.rois);
      for (let r = 0; r < c.R; r++) {
        const g = boxOf(rois, r, c.spatial_scale, c.pooled_h, c.pooled_w);
        for (let ch = 0; ch < c.C; ch++)
          for (let ph = 0; ph < c.pooled_h; ph++)
            for (let pw = 0; pw < c.pooled_w; pw++) {
              const o = ((r * c.C + ch) * c.pooled_h + ph) * c.pooled_w + pw;
              const { h0, h1, w0, w1 } = windowOf(g, ph, pw, c.H, c.W);
              const cells: number[] = [];
              for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) cells.push(f[((g.b * c.C + ch) * c.H + h) * c.W + w]);
              assert.ok(!Number.isNaN(top.data[o]), 'top is never NaN');
              if (cells.length === 0) {
                assert.ok(Object.is(top.data[o], 0) && argmax.data[o] === -1, `empty bin ${o}: ${top.data[o]}, ${argmax.data[o]}`);
              } else if (argmax.data[o] === -1) {
                assert.ok(cells.every((v) => !(v > NEG_FLT_MAX)), `bin ${o} has a value above −FLT_MAX but argmax −1`);
                assert.equal(top.data[o], NEG_FLT_MAX);
              }
            }
      }
    }),
    fcParams(),
  );
});

test('argmax points into the bin at a cell holding the max, the first such cell in row-major order (h outer, w inner)', () => {
  fc.assert(
    fc.property(poolCases({ specials: true }), (c) => {
      const { top, argmax } = right(roiPool(poolTensors(c), attrsOf(c)));
      const f = flt(c.features);
      const rois = flt(c.rois);
      for (let r = 0; r < c.R; r++) {
        const g = boxOf(rois, r, c.spatial_scale, c.pooled_h, c.pooled_w);
        for (let ch = 0; ch < c.C; ch++)
          for (let ph = 0; ph < c.pooled_h; ph++)
            for (let pw = 0; pw < c.pooled_w; pw++) {
              const o = ((r * c.C + ch) * c.pooled_h + ph) * c.pooled_w + pw;
              const a = argmax.data[o];
              if (a === -1) continue;
              const { h0, h1, w0, w1 } = windowOf(g, ph, pw, c.H, c.W);
              const ah = Math.floor(a / c.W);
              const aw = a % c.W;
              assert.ok(h0 <= ah && ah < h1 && w0 <= aw && aw < w1, `argmax ${a} outside bin ${o}'s window`);
              const plane = (g.b * c.C + ch) * c.H * c.W;
              const best = f[plane + a];
              assert.ok(!Number.isNaN(best), 'NaN is never chosen');
              assert.ok(Object.is(top.data[o], best), 'top is the value at argmax');
              for (let h = h0; h < h1; h++)
                for (let w = w0; w < w1; w++) {
                  const v = f[plane + h * c.W + w];
                  assert.ok(!(v > best), `cell ${h * c.W + w} (${v}) beats the argmax cell (${best})`);
                  if (h * c.W + w < a) assert.ok(v !== best, `cell ${h * c.W + w} holds the max before argmax ${a}`);
                }
            }
      }
    }),
    fcParams(),
  );
});

test('C round at exactly ±x.5 after scaling goes away from zero (8/16 → 1, −8/16 → −1, ±40/16 → ±3); just below a tie goes to zero', () => {
  // Along one axis of 8 cells: a RoI from x to cell 5, pooled to exactly one bin per cell
  // (P = 5 − start + 1, bin size 1), so bin p holds cell start + p, or is empty when that is < 0.
  const below = (v: number) => {
    const f = new Float32Array([v]);
    new Int32Array(f.buffer)[0] -= 1; // one float32 ulp toward zero
    return f[0];
  };
  const cases: Array<[number, number, number]> = [
    // [x, scale, C-rounded start], starts worked out by hand from C's round
    [8, 1 / 16, 1], // 0.5 → 1
    [-8, 1 / 16, -1], // −0.5 → −1 (JS Math.round: −0)
    [24, 1 / 16, 2], // 1.5 → 2
    [-24, 1 / 16, -2], // −1.5 → −2 (Math.round: −1)
    [40, 1 / 16, 3], // 2.5 → 3 (banker's: 2)
    [-40, 1 / 16, -3], // −2.5 → −3 (Math.round: −2)
    [below(8), 1 / 16, 0], // 0.49999997 → 0
    [-below(8), 1 / 16, 0], // −0.49999997 → 0
    [2.5, 1, 3],
    [-2.5, 1, -3],
    [-1, 0.5, -1], // −0.5 → −1
  ];
  const plane = Array.from({ length: 8 * 8 }, (_, i) => 100 - i); // distinct values: argmax names the cell
  const features = T('float32', [1, 1, 8, 8], plane);
  for (const [x, scale, start] of cases) {
    const x2 = 5 / scale; // end cell 5
    const P = 5 - start + 1;
    const expectCells = Array.from({ length: P }, (_, p) => (start + p >= 0 ? start + p : -1));
    // along w: rows 0..0
    const w = right(roiPool({ features, rois: T('float32', [1, 5], [0, x, 0, x2, 0]) }, { pooled_h: 1, pooled_w: P, spatial_scale: scale }));
    assert.deepEqual(Array.from(w.argmax.data), expectCells, `x1 = ${x} at scale ${scale}: start ${start}`);
    // along h: columns 0..0
    const h = right(roiPool({ features, rois: T('float32', [1, 5], [0, 0, x, 0, x2]) }, { pooled_h: P, pooled_w: 1, spatial_scale: scale }));
    assert.deepEqual(Array.from(h.argmax.data), expectCells.map((k) => (k < 0 ? -1 : k * 8)), `y1 = ${x} at scale ${scale}: start ${start}`);
  }
});

test('float64 rois and features are rounded to float32 first: x1 = 7.9999999999 is the float32 8, which scales to the tie 0.5 → 1', () => {
  const plane = Array.from({ length: 16 }, (_, i) => 100 - i);
  const f64 = right(
    roiPool({ features: T('float64', [1, 1, 4, 4], plane.map((v) => v + 1e-9)), rois: T('float64', [1, 5], [0, 7.9999999999, 0, 48, 0]) }, { pooled_h: 1, pooled_w: 3 }),
  );
  // In double, 7.9999999999/16 < 0.5 would round to 0; through float32 it is 8/16 = 0.5 → 1: cells 1..3.
  assert.deepEqual(Array.from(f64.argmax.data), [1, 2, 3]);
  assert.deepEqual(Array.from(f64.top.data), [99, 98, 97]);
  const dx = right(
    roiPoolBackward(
      { rois: T('float64', [1, 5], [0, 7.9999999999, 0, 48, 0]), argmax: f64.argmax, top_grad: T('float64', [1, 1, 1, 3], [0.1, 0.2, 0.3]) },
      { pooled_h: 1, pooled_w: 3, features_shape: [1, 1, 4, 4] },
    ),
  ).features_grad;
  assert.deepEqual(Array.from(dx.data.slice(0, 4)), [0, Math.fround(0.1), Math.fround(0.2), Math.fround(0.3)]);
});

test('a batch index is truncated: −0.5 pools image 0, 1.999 pools image 1', () => {
  const features = T('float32', [2, 1, 2, 2], [1, 1, 1, 1, 2, 2, 2, 2]);
  const rois = T('float32', [2, 5], [-0.5, 0, 0, 16, 16, 1.999, 0, 0, 16, 16]);
  const { top } = right(roiPool({ features, rois }, { pooled_h: 1, pooled_w: 1 }));
  assert.deepEqual(Array.from(top.data), [1, 2]);
});

test('a RoI wholly off the map has only empty bins (0, −1); one partly off pools only the cells on the map', () => {
  const features = T('float32', [1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i + 1));
  const off = right(roiPool({ features, rois: T('float32', [1, 5], [0, -160, -160, -32, -32]) }, {}));
  assert.ok(off.top.data.every((v) => Object.is(v, 0)));
  assert.ok(off.argmax.data.every((v) => v === -1));
  // x, y from −2 to 5 cells: 8×8 RoI, bins of 8/7 cells, the map is its cells 2..5
  const part = right(roiPool({ features, rois: T('float32', [1, 5], [0, -32, -32, 80, 80]) }, {}));
  for (let i = 0; i < 49; i++) {
    const a = part.argmax.data[i];
    if (a !== -1) assert.equal(part.top.data[i], a + 1, 'the value at argmax (max of an increasing map)');
  }
  // bin size fl32(8/7): bin 0 spans cells [−2, 0), bin 5 [3, 5), bin 6 [4, 7) — clipped to the 4 cells
  assert.equal(part.argmax.data[0], -1, 'bin (0, 0) covers only cells −2, −1');
  assert.equal(part.argmax.data[5 * 7 + 5], 15, 'bin (5, 5) is the map corner (3, 3)');
  assert.equal(part.argmax.data[48], -1, 'bin (6, 6) lies beyond the map');
});

// ------------------------------------------------------------------ the float32 overshoot (pitfall 16)

/** A RoI 57 cells high (y 0..56·16 at 1/16) on a map of 60 rows × 4 columns, max planted at (57, 1). */
const overshootCase = (axis: 'h' | 'w') => {
  const [H, W] = axis === 'h' ? [60, 4] : [4, 60];
  const f = Array.from({ length: H * W }, (_, i) => Math.fround(Math.sin(i) / 10));
  const planted = axis === 'h' ? 57 * W + 1 : 1 * W + 57;
  f[planted] = 100;
  const roi = axis === 'h' ? [0, 0, 0, 48, 896] : [0, 0, 0, 896, 48];
  return { H, W, features: T('float32', [1, 1, H, W], f), rois: T('float32', [1, 5], roi), planted };
};

test('overshoot: a RoI 57 cells high at PH = 7 has its last bin end one row past the RoI (float32, not exact arithmetic)', () => {
  const g = boxOf([0, 0, 0, 48, 896], 0, 1 / 16, 7, 7);
  assert.equal(g.eh - g.sh + 1, 57);
  assert.equal(windowOf(g, 6, 0, 60, 4).h1, 58, 'hend of bin 6 = Hr + 1 in float32');
  assert.equal(Math.ceil(7 * (57 / 7)), 57, 'exact (double) arithmetic would end the bin at Hr');
  const { features, rois, planted } = overshootCase('h');
  const { top, argmax } = right(roiPool({ features, rois }, {}));
  let seen = 0;
  for (let pw = 0; pw < 7; pw++)
    if (argmax.data[42 + pw] === planted) {
      seen++;
      assert.equal(top.data[42 + pw], 100);
    }
  assert.ok(seen >= 1, 'the last row of bins pools row 57, outside the RoI');
  for (let i = 0; i < 42; i++) assert.notEqual(argmax.data[i], planted);
});

for (const axis of ['h', 'w'] as const) {
  const line = axis === 'h' ? 'row' : 'column';
  test(`overshoot (${line}): caffe backward drops exactly the gradient of maxima in the overshoot ${line} 57; scatter keeps it`, () => {
    const { H, W, features, rois, planted } = overshootCase(axis);
    const { argmax } = right(roiPool({ features, rois }, {}));
    const top_grad = T('float32', [1, 1, 7, 7], Array.from({ length: 49 }, (_, i) => i + 1));
    const inputs = { rois, argmax, top_grad };
    const caffe = right(roiPoolBackward(inputs, { features_shape: [1, 1, H, W] })).features_grad.data;
    const scatter = right(roiPoolBackward(inputs, { features_shape: [1, 1, H, W], mode: 'scatter' })).features_grad.data;
    const inOvershoot = (i: number) => (axis === 'h' ? Math.floor(i / W) : i % W) === 57;
    const received = new Float64Array(H * W); // what each cell's bins carry (small integers: exact)
    for (let i = 0; i < 49; i++) if (argmax.data[i] !== -1) received[argmax.data[i]] += i + 1;
    assert.ok(received[planted] > 0, 'the planted max in the overshoot line is some bin\'s argmax');
    for (let i = 0; i < H * W; i++) {
      assert.equal(scatter[i], received[i], `scatter, cell ${i}`);
      assert.equal(caffe[i], inOvershoot(i) ? 0 : received[i], `caffe, cell ${i}`);
    }
  });
}

test('a RoI 56 cells high does not overshoot: both backward modes agree', () => {
  const features = T('float32', [1, 1, 60, 2], Array.from({ length: 120 }, (_, i) => i));
  const rois = T('float32', [1, 5], [0, 0, 0, 16, 880]);
  const { argmax } = right(roiPool({ features, rois }, {}));
  const top_grad = T('float32', [1, 1, 7, 7], new Array(49).fill(1));
  const a = right(roiPoolBackward({ rois, argmax, top_grad }, { features_shape: [1, 1, 60, 2] })).features_grad;
  const b = right(roiPoolBackward({ rois, argmax, top_grad }, { features_shape: [1, 1, 60, 2], mode: 'scatter' })).features_grad;
  assertBitEqual(a.data, b.data, 'caffe vs scatter');
  assert.equal(a.data.reduce((s, v) => s + v, 0), 49);
});

// ------------------------------------------------------------------ malformed RoIs

test('a malformed RoI (x2 < x1) pools the single column round(x1·s); its caffe gradient is dropped, scatter keeps it', () => {
  const H = 4;
  const W = 12;
  const features = T('float32', [1, 1, H, W], Array.from({ length: H * W }, (_, i) => Math.fround(Math.cos(i))));
  for (const roi of [
    [0, 160, 0, 80, 48], // x: 10 .. 5 → one column, 10
    [0, 160, 48, 80, 0], // and y: 3 .. 0 → one row, 3
  ]) {
    const rois = T('float32', [1, 5], roi);
    const { argmax } = right(roiPool({ features, rois }, {}));
    assert.ok(argmax.data.every((a) => a % W === 10), 'every bin pools column 10');
    if (roi[2] > roi[4]) assert.ok(argmax.data.every((a) => Math.floor(a / W) === 3), 'every bin pools row 3');
    const top_grad = T('float32', [1, 1, 7, 7], new Array(49).fill(0.5));
    const caffe = right(roiPoolBackward({ rois, argmax, top_grad }, { features_shape: [1, 1, H, W] })).features_grad;
    const scatter = right(roiPoolBackward({ rois, argmax, top_grad }, { features_shape: [1, 1, H, W], mode: 'scatter' })).features_grad;
    assert.ok(caffe.data.every((v) => v === 0), 'caffe drops it all');
    assert.equal(scatter.data.reduce((s, v) => s + v, 0), 24.5);
    scatter.data.forEach((v, i) => assert.ok(v === 0 || i % W === 10));
  }
});

// ------------------------------------------------------------------ backward

test('caffe backward equals the literal per-element gather of SPEC §5.2 bit for bit (legal, arbitrary and mixed argmax; NaN/∞ gradients)', () => {
  fc.assert(
    fc.property(backwardCases({ mode: 'caffe', specials: true }), (c) => {
      const { features_grad } = right(roiPoolBackward(backwardTensors(c), { ...attrsOf(c), features_shape: [c.N, c.C, c.H, c.W] }));
      assert.deepEqual(features_grad.shape, [c.N, c.C, c.H, c.W]);
      assert.equal(features_grad.dtype, 'float32');
      const want = naiveGather(flt(c.rois), c.argmax, flt(c.top_grad), c.R, c, c.pooled_h, c.pooled_w, c.spatial_scale);
      assertBitEqual(features_grad.data, want, 'features_grad');
    }),
    fcParams(),
  );
});

test('scatter backward adds every non-empty bin into its argmax in (r, c, ph, pw) order (bit-exact), and conserves the total top gradient', () => {
  fc.assert(
    fc.property(backwardCases({ mode: 'scatter' }), (c) => {
      const { features_grad } = right(roiPoolBackward(backwardTensors(c), { ...attrsOf(c), features_shape: [c.N, c.C, c.H, c.W], mode: 'scatter' }));
      const tg = flt(c.top_grad);
      assertBitEqual(features_grad.data, naiveScatter(flt(c.rois), c.argmax, tg, c.R, c, c.pooled_h, c.pooled_w), 'features_grad');
      // Conservation: Σ grad = Σ top_grad over bins with argmax ≠ −1. Each cell sums its k terms
      // in float32, off the exact sum by at most (k − 1)·2^-24·Σ|terms|; all cells together by
      // at most (kmax − 1)·2^-24·Σ|top_grad|. Small integer gradients sum exactly everywhere.
      let total = 0;
      let mag = 0;
      const terms = new Map<number, number>();
      for (let i = 0; i < tg.length; i++) {
        if (c.argmax[i] === -1) continue;
        total += tg[i];
        mag += Math.abs(tg[i]);
        const r = Math.floor(i / (c.C * c.pooled_h * c.pooled_w));
        const key = (Math.trunc(c.rois[r * 5]) * c.C + (Math.floor(i / (c.pooled_h * c.pooled_w)) % c.C)) * c.H * c.W + c.argmax[i];
        terms.set(key, (terms.get(key) ?? 0) + 1);
      }
      const kmax = Math.max(1, ...terms.values());
      const sum = features_grad.data.reduce((s, v) => s + v, 0);
      // (plus the two float64 sums here, in different orders: ≤ n·2^-53·Σ|top_grad|)
      const tol = c.top_grad.every(Number.isInteger) ? 0 : ((kmax - 1) * 2 ** -24 + tg.length * 2 ** -53) * mag;
      assert.ok(Math.abs(sum - total) <= tol, `Σ features_grad ${sum} vs Σ top_grad ${total} (tolerance ${tol})`);
    }),
    fcParams(),
  );
});

test('with a legal forward argmax, scatter − caffe is exactly the gradient of the maxima outside their RoI’s inclusive box (SPEC §5.2 consequences)', () => {
  const arb = poolCases().chain((c) =>
    fc.array(fc.integer({ min: -3, max: 3 }), { minLength: c.R * c.C * c.pooled_h * c.pooled_w, maxLength: c.R * c.C * c.pooled_h * c.pooled_w }).map((g) => ({ c, g })),
  );
  fc.assert(
    fc.property(arb, ({ c, g }) => {
      const { rois, features } = poolTensors(c);
      const { argmax } = right(roiPool({ rois, features }, attrsOf(c)));
      const top_grad = T('float32', argmax.shape as number[], g);
      const attrs = { ...attrsOf(c), features_shape: [c.N, c.C, c.H, c.W] };
      const caffe = right(roiPoolBackward({ rois, argmax, top_grad }, attrs)).features_grad.data;
      const scatter = right(roiPoolBackward({ rois, argmax, top_grad }, { ...attrs, mode: 'scatter' })).features_grad.data;
      // Small integers: every sum is exact, so the difference is exactly the dropped terms.
      const dropped = new Float64Array(caffe.length);
      const bins = c.pooled_h * c.pooled_w;
      for (let i = 0; i < g.length; i++) {
        const a = argmax.data[i];
        if (a === -1) continue;
        const r = Math.floor(i / (c.C * bins));
        const ch = Math.floor(i / bins) % c.C;
        const b = boxOf(rois.data, r, c.spatial_scale, c.pooled_h, c.pooled_w);
        const h = Math.floor(a / c.W);
        const w = a % c.W;
        if (!(b.sw <= w && w <= b.ew && b.sh <= h && h <= b.eh)) dropped[(b.b * c.C + ch) * c.H * c.W + a] += g[i];
      }
      for (let i = 0; i < caffe.length; i++) assert.equal(scatter[i] - caffe[i], dropped[i], `cell ${i}`);
    }),
    fcParams(),
  );
});

test('a larger case (32 channels, 38×50 map, 200 RoIs, one of them 57 rows high): caffe backward equals the literal gather', () => {
  const N = 1, C = 32, H = 38, W = 50, R = 200;
  const f = Array.from({ length: N * C * H * W }, (_, i) => Math.fround(Math.sin(i * 0.7) * 3));
  const rois: number[] = [];
  for (let r = 0; r < R; r++) {
    const x1 = ((r * 37) % 700) - 40;
    const y1 = ((r * 53) % 500) - 40;
    rois.push(0, x1, y1, x1 + ((r * 97) % 400), y1 + ((r * 71) % 300));
  }
  rois.splice(0, 5, 0, 8, 0, 600, 896); // 57 rows high from row 0: its overshoot row 57 is off this map
  const features = T('float32', [N, C, H, W], f);
  const roisT = T('float32', [R, 5], rois);
  const { argmax } = right(roiPool({ features, rois: roisT }, {}));
  const tg = Array.from({ length: argmax.size }, (_, i) => Math.fround(Math.cos(i)));
  const { features_grad } = right(roiPoolBackward({ rois: roisT, argmax, top_grad: T('float32', argmax.shape as number[], tg) }, { features_shape: [N, C, H, W] }));
  assertBitEqual(features_grad.data, naiveGather(roisT.data, argmax.data, flt(tg), R, { N, C, H, W }, 7, 7, 0.0625), 'features_grad');
});

// ------------------------------------------------------------------ bad inputs

const F = T('float32', [1, 2, 4, 4], new Array(32).fill(1));
const ROIS = T('float32', [2, 5], [0, 0, 0, 32, 32, 0, 16, 16, 48, 48]);
const fwd = (inputs: Record<string, unknown>, attrs: Record<string, unknown> = {}) =>
  noThrow(() => roiPool({ features: F, rois: ROIS, ...inputs } as never, attrs as never), 'roiPool');

test('roiPool: bad inputs give a Left naming the input', () => {
  leftNaming(fwd({ features: T('float32', [2, 4, 4], new Array(32).fill(0)) }), 'features'); // rank 3
  leftNaming(fwd({ features: T('int32', [1, 2, 4, 4], new Array(32).fill(0)) }), 'features');
  leftNaming(fwd({ features: undefined }), 'features');
  leftNaming(fwd({ features: [[1]] }), 'features');
  leftNaming(fwd({ rois: T('float32', [2, 4], new Array(8).fill(0)) }), 'rois'); // [R, 4]
  leftNaming(fwd({ rois: T('float32', [5], [0, 0, 0, 1, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('int32', [1, 5], [0, 0, 0, 1, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('float32', [1, 5], [1, 0, 0, 1, 1]) }), 'rois'); // batch index = N
  leftNaming(fwd({ rois: T('float32', [1, 5], [7, 0, 0, 1, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('float32', [1, 5], [-1, 0, 0, 1, 1]) }), 'rois'); // negative
  leftNaming(fwd({ rois: T('float32', [1, 5], [0, NaN, 0, 1, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('float32', [1, 5], [NaN, 0, 0, 1, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('float32', [1, 5], [0, 0, 0, Infinity, 1]) }), 'rois');
  leftNaming(fwd({ rois: T('float64', [1, 5], [0, 0, 0, 1e39, 1]) }), 'rois'); // +∞ as a float32
  leftNaming(fwd({ rois: T('float32', [1, 5], [0, 0, 0, 2 ** 35, 1]) }), 'rois'); // beyond C int extents
  for (const v of [0, 2.5, -1, '7', NaN, Infinity, 2 ** 31]) leftNaming(fwd({}, { pooled_h: v }), 'attrs.pooled_h');
  for (const v of [0, 1.5]) leftNaming(fwd({}, { pooled_w: v }), 'attrs.pooled_w');
  for (const v of [0, -0.0625, NaN, Infinity, 1e39, '0.0625']) leftNaming(fwd({}, { spatial_scale: v }), 'attrs.spatial_scale');
  // a legal corner: no RoIs
  const empty = right(fwd({ rois: T('float32', [0, 5], []) }));
  assert.deepEqual(empty.top.shape, [0, 2, 7, 7]);
});

const good = () => {
  const { argmax } = right(roiPool({ features: F, rois: ROIS }, {}));
  return { rois: ROIS, argmax, top_grad: T('float32', [2, 2, 7, 7], new Array(196).fill(1)) };
};
const bwd = (inputs: Record<string, unknown>, attrs: Record<string, unknown> = {}) =>
  noThrow(() => roiPoolBackward({ ...good(), ...inputs } as never, { features_shape: [1, 2, 4, 4], ...attrs } as never), 'roiPoolBackward');

test('roiPoolBackward: bad inputs give a Left naming the input', () => {
  const bins = (v: number) => T('int32', [2, 2, 7, 7], Array.from({ length: 196 }, (_, i) => (i === 100 ? v : -1)));
  leftNaming(bwd({ argmax: bins(16) }), 'argmax'); // H·W
  leftNaming(bwd({ argmax: bins(-2) }), 'argmax');
  leftNaming(bwd({ argmax: T('float32', [2, 2, 7, 7], new Array(196).fill(0)) }), 'argmax');
  leftNaming(bwd({ argmax: T('int32', [2, 2, 7, 6], new Array(196 - 28).fill(0)) }), 'argmax');
  leftNaming(bwd({}, { pooled_h: 6 }), 'argmax'); // [R, C, 6, 7] expected
  leftNaming(bwd({ argmax: undefined }), 'argmax');
  leftNaming(bwd({ top_grad: T('float32', [2, 2, 7, 6], new Array(196 - 28).fill(0)) }), 'top_grad');
  leftNaming(bwd({ top_grad: T('float32', [2, 2, 49], new Array(196).fill(0)) }), 'top_grad');
  leftNaming(bwd({ top_grad: T('int32', [2, 2, 7, 7], new Array(196).fill(0)) }), 'top_grad');
  leftNaming(bwd({ top_grad: undefined }), 'top_grad');
  leftNaming(bwd({}, { features_shape: undefined }), 'attrs.features_shape');
  for (const v of [[1, 2, 4], [1, 2, 4, -4], [1, 2, 4, 2.5], 'abc', [1, 2, 4, '4']])
    leftNaming(bwd({}, { features_shape: v }), 'attrs.features_shape');
  leftNaming(bwd({}, { features_shape: [1, 3, 4, 4] }), 'argmax'); // C disagrees with argmax
  leftNaming(bwd({}, { features_shape: [1, 2, 4, 2] }), 'argmax'); // a legal forward argmax beyond this map
  leftNaming(bwd({}, { mode: 'foo' }), 'attrs.mode');
  leftNaming(bwd({}, { spatial_scale: 0 }), 'attrs.spatial_scale');
  leftNaming(bwd({}, { pooled_w: 2.5 }), 'attrs.pooled_w');
  leftNaming(bwd({ rois: T('float32', [2, 5], [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]) }), 'rois'); // batch 1 ≥ N = 1
  leftNaming(bwd({ rois: T('float32', [2, 5], [0, 0, 0, 1, 1, 0, 0, NaN, 1, 1]) }), 'rois');
  leftNaming(bwd({ rois: T('float32', [3, 5], new Array(15).fill(0)) }), 'argmax'); // R disagrees
});

test('generated malformed inputs always give a Left naming the input, never a throw', () => {
  type Fault = { input: string; inputs?: Record<string, unknown>; attrs?: Record<string, unknown> };
  const fault: fc.Arbitrary<{ op: 'fwd' | 'bwd'; f: Fault }> = fc.oneof(
    fc.integer({ min: 1, max: 6 }).filter((k) => k !== 4).map((k) => ({ op: 'fwd' as const, f: { input: 'features', inputs: { features: T('float32', new Array(k).fill(1), [1]) } } })),
    fc.integer({ min: 1, max: 9 }).filter((k) => k !== 5).map((k) => ({ op: 'fwd' as const, f: { input: 'rois', inputs: { rois: T('float32', [1, k], new Array(k).fill(0)) } } })),
    fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -1000, max: -1 })).map((b) => ({ op: 'fwd' as const, f: { input: 'rois', inputs: { rois: T('float32', [1, 5], [b, 0, 0, 1, 1]) } } })),
    fc.constantFrom(NaN, Infinity, -Infinity).map((v) => ({ op: 'bwd' as const, f: { input: 'rois', inputs: { rois: T('float32', [2, 5], [0, 0, 0, 1, 1, 0, 0, 0, v, 1]) } } })),
    fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true })).map((v) => ({ op: 'fwd' as const, f: { input: 'attrs.pooled_h', attrs: { pooled_h: v } } })),
    fc.oneof(fc.double({ max: 0 }), fc.constant(NaN)).map((v) => ({ op: 'bwd' as const, f: { input: 'attrs.spatial_scale', attrs: { spatial_scale: v } } })),
    fc.oneof(fc.integer({ min: 16, max: 10 ** 6 }), fc.integer({ min: -(10 ** 6), max: -2 })).map((v) => ({
      op: 'bwd' as const,
      f: { input: 'argmax', inputs: { argmax: T('int32', [2, 2, 7, 7], Array.from({ length: 196 }, (_, i) => (i === 7 ? v : 0))) } },
    })),
    fc.string().filter((s) => s !== 'caffe' && s !== 'scatter').map((m) => ({ op: 'bwd' as const, f: { input: 'attrs.mode', attrs: { mode: m } } })),
    fc.array(fc.integer({ min: -3, max: 5 }), { maxLength: 6 }).filter((s) => s.length !== 4 || s.some((d) => d < 0)).map((s) => ({ op: 'bwd' as const, f: { input: 'attrs.features_shape', attrs: { features_shape: s } } })),
    fc.integer({ min: 1, max: 3 }).map((k) => ({ op: 'bwd' as const, f: { input: 'top_grad', inputs: { top_grad: T('float32', [2, 2, 7, 7 + k], new Array(196 + 28 * k).fill(0)) } } })),
  );
  fc.assert(
    fc.property(fault, ({ op, f }) => {
      leftNaming(op === 'fwd' ? fwd(f.inputs ?? {}, f.attrs) : bwd(f.inputs ?? {}, f.attrs), f.input);
    }),
    fcParams(),
  );
});

// ------------------------------------------------------------------ purity

test('roiPool and roiPoolBackward change none of their arguments', () => {
  fc.assert(
    fc.property(backwardCases({ specials: true }), (c) => {
      const p = poolTensors(c);
      assertPure([p.features, p.rois], () => right(roiPool(p, attrsOf(c))));
      const b = backwardTensors(c);
      const attrs = Object.freeze({ ...attrsOf(c), features_shape: Object.freeze([c.N, c.C, c.H, c.W]), mode: c.mode });
      assertPure([b.rois, b.argmax, b.top_grad], () => right(roiPoolBackward(b, attrs)));
      // same inputs, same bits
      const again = right(roiPoolBackward(b, attrs)).features_grad.data;
      assertBitEqual(again, right(roiPoolBackward(b, attrs)).features_grad.data, 'second call');
    }),
    fcParams(),
  );
});

// ------------------------------------------------------------------ the generators reach the nasty cases

test('the shared case generators reach every nasty case often enough (coverage of the differential arbitraries)', () => {
  const counts = { halfPos: 0, halfNeg: 0, tall57: 0, overshootOnMap: 0, malformed: 0, emptyBin: 0, offMap: 0, tiedMax: 0, noRois: 0, scale1: 0, pooledNot7: 0 };
  const cases = fc.sample(poolCases(), { numRuns: 600, seed: 7 });
  for (const c of cases) {
    if (c.R === 0) counts.noRois++;
    if (c.spatial_scale !== 0.0625) counts.scale1++;
    if (c.pooled_h !== 7 || c.pooled_w !== 7) counts.pooledNot7++;
    const f = flt(c.features);
    const rois = flt(c.rois);
    const flags = new Set<string>();
    for (let r = 0; r < c.R; r++) {
      const s = Math.fround(c.spatial_scale);
      for (let k = 1; k < 5; k++) {
        const v = Math.fround(rois[r * 5 + k] * s);
        if (Math.abs(v - Math.trunc(v)) === 0.5) flags.add(v > 0 ? 'halfPos' : 'halfNeg');
        if (v < 0 || v > (k % 2 === 1 ? c.W : c.H)) flags.add('offMap');
      }
      const g = boxOf(rois, r, c.spatial_scale, c.pooled_h, c.pooled_w);
      if (g.eh - g.sh + 1 === 57 || g.ew - g.sw + 1 === 57) flags.add('tall57');
      if (g.eh < g.sh || g.ew < g.sw) flags.add('malformed');
      if ((c.pooled_h === 7 && g.eh - g.sh + 1 === 57 && g.eh + 1 < c.H && g.eh + 1 >= 0) || (c.pooled_w === 7 && g.ew - g.sw + 1 === 57 && g.ew + 1 < c.W && g.ew + 1 >= 0))
        flags.add('overshootOnMap');
      for (let ph = 0; ph < c.pooled_h; ph++)
        for (let pw = 0; pw < c.pooled_w; pw++) {
          const { h0, h1, w0, w1 } = windowOf(g, ph, pw, c.H, c.W);
          if (h1 <= h0 || w1 <= w0) {
            flags.add('emptyBin');
            continue;
          }
          let best = -Infinity;
          let ties = 0;
          for (let h = h0; h < h1; h++)
            for (let w = w0; w < w1; w++) {
              const v = f[(g.b * c.C * c.H + h) * c.W + w];
              if (v > best) [best, ties] = [v, 1];
              else if (v === best) ties++;
            }
          if (ties > 1) flags.add('tiedMax');
        }
    }
    for (const k of flags) counts[k as keyof typeof counts]++;
  }
  const min: Record<keyof typeof counts, number> = { halfPos: 0.3, halfNeg: 0.1, tall57: 0.2, overshootOnMap: 0.03, malformed: 0.1, emptyBin: 0.3, offMap: 0.4, tiedMax: 0.3, noRois: 0.02, scale1: 0.2, pooledNot7: 0.2 };
  for (const [k, frac] of Object.entries(min))
    assert.ok(counts[k as keyof typeof counts] >= frac * cases.length, `${k}: ${counts[k as keyof typeof counts]} of ${cases.length} cases (want ≥ ${frac})`);

  // Backward: caffe must actually drop something (overshoot, malformed or a foreign argmax) in a fair share of cases.
  const bc = fc.sample(backwardCases({ mode: 'caffe' }), { numRuns: 300, seed: 7 });
  let drops = 0;
  const from = { forward: 0, arbitrary: 0, mixed: 0 };
  for (const c of bc) {
    from[c.argmaxFrom]++;
    const t = backwardTensors(c);
    const attrs = { ...attrsOf(c), features_shape: [c.N, c.C, c.H, c.W] };
    const a = right(roiPoolBackward(t, attrs)).features_grad.data;
    const b = right(roiPoolBackward(t, { ...attrs, mode: 'scatter' })).features_grad.data;
    if (a.some((v, i) => v !== b[i])) drops++;
  }
  assert.ok(drops >= 0.2 * bc.length, `caffe dropped gradient in only ${drops} of ${bc.length} cases`);
  for (const [k, n] of Object.entries(from)) assert.ok(n >= 0.1 * bc.length, `argmax from ${k}: ${n} cases`);
});
