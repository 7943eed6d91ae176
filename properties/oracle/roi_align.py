"""The RoIAlign family of the ohem-ref Python oracle: roi_align, roi_align_backward and
crop_and_resize, SPEC.md §13 (protocol entries §13.1, forward §13.2, backward §13.3, rounding
§13.5, crop_and_resize §13.6).

Written from SPEC.md §13 and PROTOCOL.md only. Every step of §13.2 / §13.3 / §13.6 is computed on
np.float32 scalars or float32 arrays, one rounding per operation, in the order the SPEC writes it
(NumPy 2 / NEP 50: every operand below is float32 or a Python scalar that NumPy converts to
float32, never a float64 array). Float64 `features` / `rois` / `boxes` are rounded to float32
first (as for roi_pool); the float64 precision of crop_and_resize (tfjs) computes in double from
those float32 values and rounds once at the store.

Layout: plain-array kernels (align_geoms, roi_align_forward, roi_align_backward_kernel,
crop_and_resize_kernel) that ops.ohem_step composes, and the three op wrappers. The forward is
vectorised over the samples, bins and channels of one RoI, one float32 array operation per step of
the SPEC; the bin sums are np.add.accumulate over the samples in the SPEC's order (iy outer, ix
inner; accumulate is a sequential float32 loop, unlike np.sum's pairwise reduction), the two max
rules an exactly equivalent vectorised "first strict maximum" (_first_max). The backward is one
np.add.at per RoI (sequential float32 adds in the SPEC's r, c, ph, pw, iy, ix, corner order).
selfcheck.py holds both against literal loop-by-loop transcriptions bit for bit.

Choices where SPEC §13 leaves room (the TypeScript side must make the same):
* Refusals (all invalid_input, never a crash), checked per RoI in row order, first failure wins:
  a non-finite rois row; trunc(b) outside [0, N) (every dialect); a coordinate whose float32
  steps 1-3 overflow (fl(x·s) or the extent infinite); mmcv with `aligned` and rw < 0 or rh < 0
  (checked before the >= 1 clamp, which `aligned` skips anyway); ceil(bh) or ceil(bw) outside the
  C int range; torchvision / onnxruntime with gh·gw < 0; |gh·gw| > 2^31 - 1 (the C int product
  overflows). Limits of this oracle (PROTOCOL.md 1.1 amendment 5), invalid_input naming 'rois':
  more than MAX_GRID = 2^22 samples (PH·PW·gh·gw) in one RoI, more than MAX_SAMPLES = 2^30
  bilinear sample·channel evaluations (C·PH·PW·gh·gw summed over the RoIs with gh, gw > 0) in the
  request; an output or features_grad of more than MAX_ELEMENTS = 2^28 elements is invalid_input
  naming the attr that sizes it.
* A map with H = 0 or W = 0: the forward is invalid_input naming 'features' when C >= 1 and some
  RoI has gh > 0 and gw > 0 (every sample reads the map, even an out-of-range one: 0·v[b,c,0,0]);
  the backward writes nothing (its corners are range-guarded) and returns the empty gradient.
* `spatial_scale` must be finite and > 0 as a double; it is used as fl32(spatial_scale) and an
  overflow to float32 infinity is invalid_input. `max_init` is any finite number, used as
  fl32(max_init) (a value beyond the float32 range becomes -inf or +inf); it is validated for
  every dialect and mode but only mmcv max reads it.
* Combination errors, in this order: dialect onnxruntime in roi_align_backward (attrs.dialect);
  pool_mode max with dialect torchvision (attrs.pool_mode); onnxruntime with sampling_ratio < 0
  (attrs.sampling_ratio).
* roi_align_backward, mmcv max: argmax_y / argmax_x must be finite (NaN/inf: invalid_input naming
  them); a bin is skipped iff argmax_y == -1 (argmax_x is not tested); argmax inputs are not read
  for avg.
* crop_and_resize: crop_h = 1 (TF C++) is 0.5·fl32(y1 + y2)·(H - 1) -- the sum of two floats is a
  float in C++, the rest in double, stored as float32; the float64 precision sums in double.
  Nearest rounds the coordinate half up for both precisions (roundf and Math.round agree on the
  in-range coordinates, which are >= 0). A float32 coordinate that overflows to NaN (an infinite
  box extent times H - 1 = 0) is invalid_input naming 'boxes'. box_ind may also arrive as a
  float tensor of integer values. extrapolation_value is stored as fl32 in both precisions.
  maxpool 2: each 2x2 window (stride 2, VALID: a last odd row / column is dropped) is scanned in
  row-major order from -inf with a strict `>`, so the first maximum wins, NaN never wins and a
  window of NaN / -inf only gives -inf.
"""

from __future__ import annotations

import math
import os

import numpy as np

from codec import F32, F64, I32, Attrs, Inputs, check_shape, invalid

ALIGN_DIALECTS = ("torchvision", "mmcv", "onnxruntime")
POOL_MODES = ("avg", "max")
INT_MAX = 2 ** 31 - 1
MAX_SAMPLES = 1 << 30    # bilinear sample·channel evaluations per request
MAX_GRID = 1 << 22       # samples (PH·PW·gh·gw) of one RoI
MAX_ELEMENTS = 1 << 28   # elements of an array the oracle allocates from attrs
# elements per working array of the kernels; OHEM_ORACLE_ALIGN_CHUNK (testing only) shrinks it so
# that the chunked paths run on small cases (changes no bit: the chunks keep the SPEC's order)
CHUNK = max(1, int(os.environ.get("OHEM_ORACLE_ALIGN_CHUNK", 1 << 20)))


# ============================================================ attrs

class AlignCfg:
    """The validated roi_align attrs (SPEC §13.1)."""

    __slots__ = ("PH", "PW", "s", "sr", "aligned", "mode", "dialect", "max_init")

    @property
    def mmcv_max(self) -> bool:
        return self.dialect == "mmcv" and self.mode == "max"


def align_attrs(attrs: Attrs, dialect_attr: str = "dialect", backward: bool = False) -> AlignCfg:
    """pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned, pool_mode, <dialect_attr>, max_init.

    dialect_attr is 'dialect' for the ops and 'roi_align_dialect' for ohem_step; backward: the
    request needs roi_align_backward (onnxruntime has none)."""
    cfg = AlignCfg()
    cfg.PH = attrs.int("pooled_h", 7, minimum=1)
    cfg.PW = attrs.int("pooled_w", 7, minimum=1)
    scale = attrs.float("spatial_scale", 0.0625)
    if not scale > 0:
        raise invalid(f"attrs.spatial_scale must be > 0, got {scale!r}")
    with np.errstate(over="ignore"):
        cfg.s = F32(scale)
    if not np.isfinite(cfg.s):
        raise invalid(f"attrs.spatial_scale {scale!r} overflows float32")
    cfg.sr = attrs.int("sampling_ratio", 0)
    cfg.aligned = attrs.bool("aligned", False)
    cfg.mode = attrs.enum("pool_mode", "avg", POOL_MODES)
    cfg.dialect = attrs.enum(dialect_attr, "torchvision", ALIGN_DIALECTS)
    mi = attrs.float("max_init", -10000.0)
    with np.errstate(over="ignore"):
        cfg.max_init = F32(mi)
    if backward and cfg.dialect == "onnxruntime":
        raise invalid(f"attrs.{dialect_attr} is 'onnxruntime', which has no RoIAlign backward "
                      f"(SPEC §13.3); use torchvision or mmcv")
    if cfg.mode == "max" and cfg.dialect == "torchvision":
        raise invalid(f"attrs.pool_mode 'max' is not defined for {dialect_attr} 'torchvision' "
                      f"(torchvision has no max RoIAlign, SPEC §13.1)")
    if cfg.dialect == "onnxruntime" and cfg.sr < 0:
        raise invalid(f"attrs.sampling_ratio must be >= 0 for dialect onnxruntime, got {cfg.sr}")
    return cfg


def check_elements(what: str, shape) -> None:
    """An array the oracle allocates from attrs: at most MAX_ELEMENTS, every dimension counted as
    at least 1 (so an empty output with an absurd pooled or crop size is refused too)."""
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    if n > MAX_ELEMENTS:
        raise invalid(f"{what}: an array of shape {list(shape)} is more than this oracle's limit of "
                      f"{MAX_ELEMENTS} elements (empty dimensions counted as 1)")


# ============================================================ geometry (SPEC §13.2 steps 1-5)

class AlignGeom:
    """One RoI: batch index b, float32 starts ys, xs and bin sizes bh, bw, grid gh, gw (ints)."""

    __slots__ = ("b", "ys", "xs", "bh", "bw", "gh", "gw")

    @property
    def samples(self) -> int:
        """samples per bin actually visited (the loops run only for gh > 0 and gw > 0)."""
        return self.gh * self.gw if self.gh > 0 and self.gw > 0 else 0


def _ceil_int(v: np.float32, what: str, r: int, name: str) -> int:
    c = math.ceil(float(v))
    if not -INT_MAX - 1 <= c <= INT_MAX:
        raise invalid(f"input '{name}' row {r}: the adaptive grid ceil({what}) = {c} overflows a C int")
    return c


def align_geoms(rois: np.ndarray, N: int, cfg: AlignCfg, name: str = "rois") -> list[AlignGeom]:
    """Steps 1-5 of SPEC §13.2 for every row of float32 rois [R,5], with the refusals of the
    module docstring."""
    s = cfg.s
    off = F32(0.5) if cfg.aligned else F32(0)
    one = F32(1)
    PHf, PWf = F32(cfg.PH), F32(cfg.PW)
    out = []
    for r in range(rois.shape[0]):
        row = rois[r]
        if not np.all(np.isfinite(row)):
            raise invalid(f"input '{name}' row {r} holds a non-finite value")
        b = math.trunc(float(row[0]))
        if not 0 <= b < N:
            raise invalid(f"input '{name}' row {r}: batch index {float(row[0])!r} truncates to {b}, "
                          f"outside [0, {N})")
        with np.errstate(over="ignore", invalid="ignore"):
            xs = F32(F32(row[1] * s) - off)  # step 2: fl(fl(x1·s) - off)
            ys = F32(F32(row[2] * s) - off)
            xe = F32(F32(row[3] * s) - off)
            ye = F32(F32(row[4] * s) - off)
            rw = F32(xe - xs)  # step 3: continuous extent, no +1
            rh = F32(ye - ys)
        if not all(np.isfinite(v) for v in (xs, ys, xe, ye, rw, rh)):
            raise invalid(f"input '{name}' row {r}: a coordinate times spatial_scale (or the RoI "
                          f"extent) overflows float32")
        if cfg.dialect == "mmcv" and cfg.aligned and (rw < 0 or rh < 0):
            raise invalid(f"input '{name}' row {r}: mmcv rejects an aligned RoI of negative size "
                          f"(width {float(rw)!r}, height {float(rh)!r})")
        if not cfg.aligned:
            rw = one if rw < one else rw
            rh = one if rh < one else rh
        g = AlignGeom()
        g.b, g.xs, g.ys = b, xs, ys
        g.bh = F32(rh / PHf)  # step 4
        g.bw = F32(rw / PWf)
        if cfg.sr > 0:  # step 5
            g.gh = g.gw = cfg.sr
        else:
            g.gh = _ceil_int(g.bh, "bin height", r, name)
            g.gw = _ceil_int(g.bw, "bin width", r, name)
        prod = g.gh * g.gw
        if cfg.dialect != "mmcv" and prod < 0:
            raise invalid(f"input '{name}' row {r}: the sampling grid is {g.gh} x {g.gw} (negative "
                          f"product), which {cfg.dialect} refuses (SPEC §13.2 step 5)")
        if abs(prod) > INT_MAX:
            raise invalid(f"input '{name}' row {r}: the sampling grid {g.gh} x {g.gw} overflows a C int")
        out.append(g)
    return out


def check_work(geoms: list[AlignGeom], C: int, cfg: AlignCfg, name: str = "rois") -> None:
    for r, g in enumerate(geoms):
        if g.samples * cfg.PH * cfg.PW > MAX_GRID:
            raise invalid(f"input '{name}' row {r}: {cfg.PH}x{cfg.PW} bins of {g.gh}x{g.gw} samples are "
                          f"more than this oracle's limit of {MAX_GRID} samples per RoI")
    work = sum(g.samples for g in geoms) * cfg.PH * cfg.PW * C
    if work > MAX_SAMPLES:
        raise invalid(f"input '{name}': the RoIs need {work} bilinear sample evaluations "
                      f"(C·PH·PW·gh·gw summed), more than this oracle's limit of {MAX_SAMPLES}")


def check_reads(geoms: list[AlignGeom], C: int, H: int, W: int) -> None:
    if H * W == 0 and C > 0 and any(g.samples > 0 for g in geoms):
        raise invalid(f"input 'features' has an empty {H}x{W} map but a RoI samples it")


# ============================================================ samples and bilinear weights (steps 6-7)

def _coords(start: np.float32, bin_: np.float32, g: int, P: int) -> np.ndarray:
    """Step 6 on one axis: float32 [P, g], c = fl(fl(start + fl(p·bin)) + fl(fl((i+0.5)·bin) / g))."""
    p = np.arange(P, dtype=F32)[:, None]
    i = (np.arange(g, dtype=F32) + F32(0.5)).astype(F32)[None, :]
    a = (start + (p * bin_).astype(F32)).astype(F32)
    b = ((i * bin_).astype(F32) / F32(g)).astype(F32)
    return (a + b).astype(F32)


def _axis(c: np.ndarray, L: int):
    """Step 7 on one axis for float32 coordinates c (any shape, finite) and extent L >= 1:
    (oob, lo, hi, l, h) with oob = c < -1 or c > L; else c <- 0 if c <= 0, lo = trunc(c),
    lo >= L-1 -> lo = hi = L-1 and c = L-1, else hi = lo+1; l = fl(c - lo), h = fl(1 - l).
    Out-of-range entries get lo = hi = 0 (their weights are zeroed by the caller)."""
    oob = (c < F32(-1)) | (c > F32(L))
    cc = np.where(c <= F32(0), F32(0), c).astype(F32)
    cc = np.where(oob, F32(0), cc).astype(F32)
    lo = cc.astype(np.int64)  # cc in [0, L]: truncation
    top = lo >= L - 1
    lo = np.where(top, L - 1, lo)
    hi = np.where(top, L - 1, lo + 1)
    cc = np.where(top, F32(L - 1), cc).astype(F32)
    l = (cc - lo.astype(F32)).astype(F32)
    h = (F32(1) - l).astype(F32)
    lo = np.where(oob, 0, lo)
    hi = np.where(oob, 0, hi)
    return oob, lo, hi, l, h


def _grid(g: AlignGeom, PH: int, PW: int, H: int, W: int):
    """Samples of one RoI (gh, gw > 0) in [PH, PW, gh, gw] order: (yy [PH,gh], xx [PW,gw], oob,
    weights w1..w4 float32, positions p1..p4 = row·W + col, int64). Out-of-range samples: all four
    weights 0 at position 0 (SPEC §13.2 step 7)."""
    yy = _coords(g.ys, g.bh, g.gh, PH)
    xx = _coords(g.xs, g.bw, g.gw, PW)
    oy, yl, yh, ly, hy = _axis(yy, H)
    ox, xl, xh, lx, hx = _axis(xx, W)

    def Y(a):
        return a[:, None, :, None]

    def X(a):
        return a[None, :, None, :]

    shape = (PH, PW, g.gh, g.gw)
    oob = np.broadcast_to(Y(oy) | X(ox), shape)
    ws = [np.where(oob, F32(0), (Y(a) * X(c)).astype(F32)).astype(F32)
          for a, c in ((hy, hx), (hy, lx), (ly, hx), (ly, lx))]
    ps = [np.where(oob, 0, Y(a) * W + X(c)) for a, c in ((yl, xl), (yl, xh), (yh, xl), (yh, xh))]
    return yy, xx, oob, ws, ps


# ============================================================ forward (steps 8-10)

def _first_max(v: np.ndarray):
    """Over axis 0 of float32 v: (first, val) = the first position of the largest non-NaN value
    and that element itself (its own bits: of equal -0.0 / +0.0 the first). Where every entry is
    NaN or -inf, val is the first of them (NaN or -inf), which no strict comparison lets win.
    Scanning v in order with `if v > best: best = v` from any best ends at val exactly when
    val > best: this is that scan, vectorised."""
    vv = np.where(np.isnan(v), F32(-np.inf), v)
    first = np.argmax(vv == vv.max(axis=0)[None], axis=0)
    return first, np.take_along_axis(v, first[None], axis=0)[0]


def roi_align_forward(feats: np.ndarray, geoms: list[AlignGeom], cfg: AlignCfg):
    """SPEC §13.2 on float32 features [N,C,H,W]: (top [R,C,PH,PW], argmax_y, argmax_x) float32,
    the argmax arrays only for mmcv max (else None). geoms from align_geoms; check_reads done."""
    N, C, H, W = feats.shape
    PH, PW = cfg.PH, cfg.PW
    R = len(geoms)
    mm = cfg.mmcv_max
    ort_max = cfg.dialect == "onnxruntime" and cfg.mode == "max"
    top = np.zeros((R, PH, PW, C), dtype=F32)
    ay = ax = None
    if mm:
        top.fill(cfg.max_init)  # no sample (gh <= 0 or gw <= 0): max_init, argmax -1
        ay = np.full((R, PH, PW, C), -1, dtype=F32)
        ax = np.full((R, PH, PW, C), -1, dtype=F32)
    if R and C and H * W:
        ft = np.ascontiguousarray(feats.transpose(0, 2, 3, 1)).reshape(N, H * W, C)
        ph_idx = np.arange(PH)[:, None, None]
        pw_idx = np.arange(PW)[None, :, None]
        for r, g in enumerate(geoms):
            S = g.samples
            if S == 0:
                continue  # avg -> 0 (0 / count), ORT max -> 0, mmcv max -> max_init
            yy, xx, _, ws, ps = _grid(g, PH, PW, H, W)
            # [PH, PW, gh, gw] -> [S, PH, PW]: sample k = iy·gw + ix, the SPEC's loop order
            ws = [w.reshape(PH, PW, S).transpose(2, 0, 1) for w in ws]
            ps = [p.reshape(PH, PW, S).transpose(2, 0, 1) for p in ps]
            fb = ft[g.b]
            if mm:
                m = np.full((PH, PW, C), cfg.max_init, dtype=F32)
                arg = np.full((PH, PW, C), -1, dtype=np.int64)
            elif ort_max:
                m = None
            else:
                acc = np.zeros((PH, PW, C), dtype=F32)
            step = max(1, CHUNK // max(1, PH * PW * C))
            for k0 in range(0, S, step):
                k1 = min(S, k0 + step)
                with np.errstate(invalid="ignore", over="ignore"):
                    t = [(ws[j][k0:k1, :, :, None] * fb[ps[j][k0:k1]]).astype(F32) for j in range(4)]
                    if ort_max:  # step 10: max of the weighted corner terms, max(a,b) = a<b ? b : a
                        v = t[0]
                        for j in (1, 2, 3):
                            v = np.where(v < t[j], t[j], v)
                    else:  # the interpolated value: ((t1 + t2) + t3) + t4
                        v = (((t[0] + t[1]).astype(F32) + t[2]).astype(F32) + t[3]).astype(F32)
                    if mm or ort_max:
                        first, val = _first_max(v)
                        if mm:  # step 9: m = v if v > m, in sample order: the first strict maximum
                            upd = val > m
                            np.copyto(m, val, where=upd)
                            arg = np.where(upd, k0 + first, arg)
                        elif m is None:  # step 10: top = t of sample 0, then top = top < t ? t : top
                            m = np.where(np.isnan(v[0]), v[0], val).astype(F32)
                        else:
                            m = np.where(m < val, val, m).astype(F32)
                    else:  # step 8: acc = fl(acc + v) in sample order (iy outer, ix inner)
                        v[0] += acc
                        np.add.accumulate(v, axis=0, dtype=F32, out=v)  # sequential float32 sums
                        acc = v[-1].copy()
            if mm:
                top[r] = m
                won = arg >= 0
                a = np.where(won, arg, 0)
                ay[r] = np.where(won, yy[ph_idx, a // g.gw], F32(-1))
                ax[r] = np.where(won, xx[pw_idx, a % g.gw], F32(-1))
            elif ort_max:
                top[r] = m
            else:
                top[r] = (acc / F32(S)).astype(F32)  # count = max(gh·gw, 1) = S here

    def nchw(a):
        return None if a is None else np.ascontiguousarray(a.transpose(0, 3, 1, 2))

    return nchw(top), nchw(ay), nchw(ax)


# ============================================================ backward (SPEC §13.3)

def roi_align_backward_kernel(geoms: list[AlignGeom], top_grad: np.ndarray, shape: tuple, cfg: AlignCfg,
                              argmax_y: np.ndarray | None = None, argmax_x: np.ndarray | None = None):
    """features_grad float32 [N,C,H,W] of SPEC §13.3.

    avg: for r, c, ph, pw, iy, ix (in range samples only), corners k = 1..4:
      grad[b,c,pk] = fl(grad[b,c,pk] + fl(fl(g·wk) / count)), count = gh·gw.
    mmcv max: for r, c, ph, pw with argmax_y != -1 and (argmax_y, argmax_x) in range, k = 1..4:
      grad[b,c,pk] = fl(grad[b,c,pk] + fl(g·wk)), the weights of step 7 at the stored (y, x).
    np.add.at adds one term at a time in index order, each rounded to float32."""
    N, C, H, W = shape
    grad = np.zeros(N * C * H * W, dtype=F32)
    R = len(geoms)
    PH, PW = cfg.PH, cfg.PW
    if R == 0 or C == 0 or H * W == 0:
        return grad.reshape(shape)
    HW = H * W
    if cfg.mmcv_max:
        b = np.array([g.b for g in geoms], dtype=np.int64)[:, None, None, None]
        cc = np.arange(C, dtype=np.int64)[None, :, None, None]
        base = (b * C + cc) * HW
        oy, yl, yh, ly, hy = _axis(argmax_y, H)
        ox, xl, xh, lx, hx = _axis(argmax_x, W)
        ok = (argmax_y != F32(-1)) & ~oy & ~ox
        with np.errstate(invalid="ignore", over="ignore"):
            vals = np.stack([(top_grad * (a * c).astype(F32)).astype(F32)
                             for a, c in ((hy, hx), (hy, lx), (ly, hx), (ly, lx))], axis=-1)
        idx = np.stack([base + a * W + c for a, c in ((yl, xl), (yl, xh), (yh, xl), (yh, xh))], axis=-1)
        with np.errstate(invalid="ignore", over="ignore"):
            np.add.at(grad, idx[ok], vals[ok])
        return grad.reshape(shape)
    for r, g in enumerate(geoms):
        S = g.samples
        if S == 0:
            continue
        count = F32(S)
        _, _, oob, ws, ps = _grid(g, PH, PW, H, W)
        W4 = np.stack(ws, axis=-1)  # [PH, PW, gh, gw, 4]
        P4 = np.stack(ps, axis=-1)
        inr = np.broadcast_to(~oob[..., None], W4.shape)
        step = max(1, CHUNK // max(1, W4.size))
        for c0 in range(0, C, step):
            c1 = min(C, c0 + step)
            G = top_grad[r, c0:c1, :, :, None, None, None]
            with np.errstate(invalid="ignore", over="ignore"):
                vals = ((G * W4[None]).astype(F32) / count).astype(F32)
            base = (g.b * C + np.arange(c0, c1, dtype=np.int64)) * HW
            idx = base[:, None, None, None, None, None] + P4[None]
            m = np.broadcast_to(inr[None], vals.shape)
            with np.errstate(invalid="ignore", over="ignore"):
                np.add.at(grad, idx[m], vals[m])
    return grad.reshape(shape)


# ============================================================ the two RoIAlign ops

def _rois5(inputs: Inputs) -> np.ndarray:
    rois = inputs.float32("rois", 2)
    if rois.shape[1] != 5:
        raise invalid(f"input 'rois' must have shape [R,5], got {list(rois.shape)}")
    return rois


def roi_align(attrs: Attrs, inputs: Inputs) -> dict:
    """RoIAlign forward, SPEC §13.1-§13.2 (dialects torchvision, mmcv, onnxruntime).
    Outputs top f32 [R,C,PH,PW]; for mmcv max also argmax_y, argmax_x f32 [R,C,PH,PW] (the
    unclamped step-6 coordinates of the winning sample, -1/-1 when none won).
    Kernels: align_geoms, roi_align_forward."""
    cfg = align_attrs(attrs)
    feats = inputs.float32("features", 4)
    N, C, H, W = feats.shape
    rois = _rois5(inputs)
    R = rois.shape[0]
    check_elements("attrs.pooled_h, attrs.pooled_w", (R, C, cfg.PH, cfg.PW))
    geoms = align_geoms(rois, N, cfg)
    check_work(geoms, C, cfg)
    check_reads(geoms, C, H, W)
    top, ay, ax = roi_align_forward(feats, geoms, cfg)
    if cfg.mmcv_max:
        return {"top": top, "argmax_y": ay, "argmax_x": ax}
    return {"top": top}


def roi_align_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """RoIAlign backward, SPEC §13.3: avg (torchvision, mmcv) and mmcv max (inputs argmax_y,
    argmax_x required). Attr features_shape [N,C,H,W]. Output features_grad f32 [N,C,H,W].
    Kernel: roi_align_backward_kernel."""
    cfg = align_attrs(attrs, backward=True)
    N, C, H, W = attrs.int_list("features_shape", 4)
    check_elements("attrs.features_shape", (N, C, H, W))
    rois = _rois5(inputs)
    R = rois.shape[0]
    top_grad = inputs.float32("top_grad", 4)
    check_shape("top_grad", top_grad, (R, C, cfg.PH, cfg.PW))
    ay = ax = None
    if cfg.mmcv_max:
        ay = inputs.float32("argmax_y", 4)
        check_shape("argmax_y", ay, (R, C, cfg.PH, cfg.PW))
        ax = inputs.float32("argmax_x", 4)
        check_shape("argmax_x", ax, (R, C, cfg.PH, cfg.PW))
        for name, a in (("argmax_y", ay), ("argmax_x", ax)):
            if not np.all(np.isfinite(a)):
                raise invalid(f"input '{name}' holds a non-finite value")
    geoms = align_geoms(rois, N, cfg)
    check_work(geoms, C, cfg)
    return {"features_grad": roi_align_backward_kernel(geoms, top_grad, (N, C, H, W), cfg, ay, ax)}


# ============================================================ crop_and_resize (SPEC §13.6)

def _crop_axis(a1, a2, n: int, L: int, prec: str):
    """In-image coordinates of the n crop rows (or columns) of one box on an axis of extent L.

    float32 (TF C++): n > 1: sc = fl(fl(fl(a2 - a1)·(L-1)) / (n-1)), c_i = fl(fl(a1·(L-1)) + fl(i·sc));
      n = 1: c = fl32(0.5·fl32(a1 + a2)·(L-1)) with the products in double.
    float64 (tfjs): the same formulas in double.
    Returns (c, out, lo, hi, frac): out = c < 0 or c > L-1; for in-range entries lo = floor(c),
    hi = ceil(c), frac = c - lo in the working precision (0 elsewhere)."""
    if prec == "float32":
        Lm1 = F32(L - 1)
        with np.errstate(over="ignore", invalid="ignore"):
            if n > 1:
                sc = F32(F32(F32(a2 - a1) * Lm1) / F32(n - 1))
                c = (F32(a1 * Lm1) + (np.arange(n, dtype=F32) * sc).astype(F32)).astype(F32)
            else:
                c = np.array([0.5 * float(F32(a1 + a2)) * float(L - 1)], dtype=F64).astype(F32)
        if np.any(np.isnan(c)):
            return None
    else:
        a1, a2 = float(a1), float(a2)
        Lm1 = float(L - 1)
        if n > 1:
            sc = (a2 - a1) * Lm1 / (n - 1)
            c = a1 * Lm1 + np.arange(n, dtype=F64) * sc
        else:
            c = np.array([0.5 * (a1 + a2) * Lm1], dtype=F64)
    out = (c < 0) | (c > Lm1)
    cs = np.where(out, 0, c)
    lo = np.floor(cs).astype(np.int64)
    hi = np.ceil(cs).astype(np.int64)
    frac = (cs - lo.astype(c.dtype)).astype(c.dtype)
    return c, out, lo, hi, frac


def crop_and_resize_kernel(feats: np.ndarray, boxes: np.ndarray, box_ind: np.ndarray, ch: int, cw: int,
                           method: str, extrap: float, prec: str) -> np.ndarray:
    """crops float32 [R,C,ch,cw] of SPEC §13.6 (NCHW), before any max pool."""
    N, C, H, W = feats.shape
    R = boxes.shape[0]
    crops = np.zeros((R, C, ch, cw), dtype=F32)
    with np.errstate(over="ignore"):
        ev = F32(extrap)  # fl32: beyond the float32 range it is ±inf
    for r in range(R):
        y1, x1, y2, x2 = (F32(v) for v in boxes[r])
        ya = _crop_axis(y1, y2, ch, H, prec)
        xa = _crop_axis(x1, x2, cw, W, prec)
        if ya is None or xa is None:
            raise invalid(f"input 'boxes' row {r}: the crop coordinates overflow float32 (NaN)")
        _, oy, ty, by, ly = ya
        _, ox, lx_, rx, lx = xa
        if C == 0 or np.all(oy) or np.all(ox):  # also every H = 0 or W = 0 map: nothing is read
            crops[r] = ev
            continue
        img = feats[box_ind[r]]
        out = np.empty((C, ch, cw), dtype=F32)
        if method == "nearest":
            # round half up (= roundf / Math.round on the in-range coordinates, all >= 0)
            yi = np.where(ly >= 0.5, ty + 1, ty)
            xi = np.where(lx >= 0.5, lx_ + 1, lx_)
            yi = np.where(oy, 0, yi)
            xi = np.where(ox, 0, xi)
            out[:] = img[:, yi[:, None], xi[None, :]]
        else:
            tl = img[:, ty[:, None], lx_[None, :]]
            tr = img[:, ty[:, None], rx[None, :]]
            bl = img[:, by[:, None], lx_[None, :]]
            br = img[:, by[:, None], rx[None, :]]
            with np.errstate(invalid="ignore", over="ignore"):
                if prec == "float32":
                    fx = lx[None, None, :]
                    fy = ly[None, :, None]
                    t = (tl + ((tr - tl).astype(F32) * fx).astype(F32)).astype(F32)
                    u = (bl + ((br - bl).astype(F32) * fx).astype(F32)).astype(F32)
                    out[:] = (t + ((u - t).astype(F32) * fy).astype(F32)).astype(F32)
                else:
                    fx = lx[None, None, :]
                    fy = ly[None, :, None]
                    tl, tr, bl, br = (a.astype(F64) for a in (tl, tr, bl, br))
                    t = tl + (tr - tl) * fx
                    u = bl + (br - bl) * fx
                    out[:] = (t + (u - t) * fy).astype(F32)
        out[:, oy, :] = ev
        out[:, :, ox] = ev
        crops[r] = out
    return crops


def maxpool2(crops: np.ndarray) -> np.ndarray:
    """2x2 stride-2 VALID max pool over the last two axes: -inf, then row-major `if v > m: m = v`."""
    R, C, h, w = crops.shape
    oh, ow = h // 2, w // 2
    m = np.full((R, C, oh, ow), -np.inf, dtype=F32)
    for di in (0, 1):
        for dj in (0, 1):
            v = crops[:, :, di:2 * oh:2, dj:2 * ow:2]
            m = np.where(v > m, v, m).astype(F32)
    return m


def _box_ind(inputs: Inputs, R: int, N: int) -> np.ndarray:
    a = inputs.arr("box_ind")
    if a.ndim != 1 or a.shape[0] != R:
        raise invalid(f"input 'box_ind' has shape {list(a.shape)}; expected [{R}]")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.floor(a)):
            raise invalid("input 'box_ind' must hold integers")
    ind = a.astype(np.int64)
    bad = (ind < 0) | (ind >= N)
    if np.any(bad):
        i = int(np.nonzero(bad)[0][0])
        raise invalid(f"input 'box_ind' row {i} is {int(ind[i])}, outside [0, {N})")
    return ind


def crop_and_resize(attrs: Attrs, inputs: Inputs) -> dict:
    """TF crop_and_resize, SPEC §13.6, on NCHW features: precision float32 (TF C++) or float64
    (tfjs), method bilinear or nearest, then (maxpool 2) the OD API's 2x2/2 VALID max pool.
    Output crops f32 [R,C,crop_h,crop_w] (÷2 each with maxpool 2). Kernel: crop_and_resize_kernel."""
    ch = attrs.int("crop_h", 14, minimum=1)
    cw = attrs.int("crop_w", 14, minimum=1)
    method = attrs.enum("method", "bilinear", ("bilinear", "nearest"))
    extrap = attrs.float("extrapolation_value", 0.0)
    prec = attrs.enum("precision", "float32", ("float32", "float64"))
    mp = attrs.int("maxpool", 0)
    if mp not in (0, 2):
        raise invalid(f"attrs.maxpool must be 0 or 2, got {mp}")
    feats = inputs.float32("features", 4)
    N, C, H, W = feats.shape
    boxes = inputs.float32("boxes", 2)
    if boxes.shape[1] != 4:
        raise invalid(f"input 'boxes' must have shape [R,4], got {list(boxes.shape)}")
    R = boxes.shape[0]
    if not np.all(np.isfinite(boxes)):
        i = int(np.nonzero(~np.all(np.isfinite(boxes), axis=1))[0][0])
        raise invalid(f"input 'boxes' row {i} holds a non-finite value")
    ind = _box_ind(inputs, R, N)
    check_elements("attrs.crop_h, attrs.crop_w", (R, C, ch, cw))
    crops = crop_and_resize_kernel(feats, boxes, ind, ch, cw, method, extrap, prec)
    if mp == 2:
        crops = maxpool2(crops)
    return {"crops": crops}
