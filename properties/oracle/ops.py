"""The ops of the ohem-ref Python oracle, one function per op, each citing its SPEC.md section.

Written from SPEC.md, PROTOCOL.md, DIALECTS.md and docs/mining.md (the contract of
ohem_roi_loss, ohem_select, ohem_step) only.

Layout: each op is a thin wrapper that validates its inputs and attrs and calls a kernel on plain
numpy arrays (roi_pool_forward, roi_pool_backward_kernel, linear_forward, linear_backward_kernel,
relu_kernel, dropout_kernel, softmax_loss_kernel, smooth_l1_kernel, nms_kernel, roi_loss_kernel,
select_kernel, and roi_align.py's roi_align_forward, roi_align_backward_kernel); ohem_step
composes the same kernels, so it equals the single ops chained through the protocol bit for bit
(selfcheck.py checks that). The RoIAlign family (roi_align, roi_align_backward, crop_and_resize,
SPEC §13) lives in roi_align.py and is registered in OPS here.

Float32 discipline: every step the original computes in float32 is computed here on np.float32
scalars or float32 arrays, so each +, -, *, / is rounded to float32 exactly as in C. Under NumPy 2
(NEP 50) a Python float combined with a float32 array stays float32, but a float64 array combined
with a float32 one becomes float64 -- so every dtype below is explicit. Where the original sums a
long vector in float32 (BLAS/cuBLAS, order unspecified), this oracle accumulates in float64 and
rounds to float32 once; each such place says so. The conformance tolerance covers that.

An op is `fn(attrs: Attrs, inputs: Inputs) -> dict[str, np.ndarray]`, registered in OPS.

Output dtypes: as PROTOCOL.md's table says (argmax/keep/indices int32; top, y of linear, losses,
features_grad float32). Where the table names no dtype (relu, dropout, softmax, the prob and
scores_grad of softmax_loss, pred_grad, linear_backward, sgd_update) the output takes the float
dtype its primary input arrived in (Inputs.out_dtype): float32 for float32 inputs; for a float64
input the float32 result widened exactly to float64. Primary input: x for forward outputs, dy
for gradients, scores for softmax_loss, pred for smooth_l1_loss, param for sgd_update.
ohem_roi_loss's three outputs and ohem_step's roi_loss/cls_loss/bbox_loss are float64; ohem_step's
losses and gradients are float32; hard_inds int32.

Choices where docs/mining.md (or SPEC.md) leaves room -- the TypeScript side must make the same:
* ohem_roi_loss, cls term: clamp iff eps > p (Python's max(p, eps) returns eps only then), so
  p == eps keeps the float32 branch (SPEC §1.2; mining.md's "else (p <= eps)" is read with its
  own next sentence) and a NaN p gives NaN. The float32 log is fl32(libm log(p)), not NumPy 2's
  float32 log ufunc (a SIMD approximation, up to 3 ulp off on AVX-512, machine dependent): at
  p = 2^-52 that is 36.04365158081055, not SPEC §1.2's "36.043655...".
* ohem_roi_loss without the four bbox inputs: bbox_loss = +0 and loss = cls_loss exactly (so
  p = 1 gives loss -0.0, as the original with BBOX_REG off); with them loss = cls + bbox (+0.0).
  D is free (any D >= 0, the four shapes equal); D = 4K is only required by ohem_step.
* ohem_select: `loss` and `rois` are required by every dialect (mmdet-ohem does not rank by loss
  but the input is validated); labels only need to be integers >= 0. cls_loss / bbox_loss are
  read only by the dialects that use them. NaN in any ranked vector is invalid_input.
  tf: num_hard_examples accepts 0 (= all); min_negatives_per_image is an integer; the weights
  may be any finite numbers; NaN image losses (inf * 0) are invalid_input.
  mmdet: neg_pos_ub is a number, -1 or >= 0 (floor(neg_pos_ub * max(1, pos))).
  use_nms must be a JSON boolean.
* ohem_step: with dropout_ratio 0 dropout is the identity and the four masks are not read at all
  (neither applied nor validated). A NaN hardness from the read-only pass is invalid_input (it
  cannot be ranked); an empty selection (B = 0) is invalid_input naming 'rois'.

Protocol 1.1 (PROTOCOL.md, "Version 1.1 — amendments"):
* Attr names (amendment 1), checked by check_attr_names before the op runs, against OP_ATTRS: a
  name the op does not define -- `backend` (the reference server's own attr) included -- is
  `unsupported` naming attrs.<name> (this oracle answers as a port does); for ohem_select and
  ohem_step an attr the op defines only for another dialect (DIALECT_ATTRS), and for ohem_step
  a roi_align-only attr (STEP_ALIGN_ATTRS) with pooler roi_pool, is `invalid_input` naming
  attrs.<name>. Names count whatever their value (null included), in request order, unknown
  names first. `ties` belongs to every dialect; `precision`, `box_convention`, `suppress`,
  `nms_threshold`, `use_nms`, `batch_size` to caffe-ohem only. An invalid dialect / pooler value
  skips its part of that check (the op then names attrs.dialect / attrs.pooler). The top-level
  request field "encoding" is not an attr (ignored: outputs are always b64). Every attr error
  message names attrs.<name>.
* Zero counts (amendment 3): top_k k >= 0 (0 -> empty int32 [0]); ohem_select caffe-ohem
  batch_size >= 0 (0 -> empty hard_inds, with or without NMS); ohem_step batch_size >= 1.
* precision (amendment 4) in caffe-ohem (ohem_select and ohem_step): the NMS scores are the losses
  in the working precision -- fl32(loss) for "float32", the float64 loss for "float64" (this
  replaces docs/mining.md's "float32-rounded whatever the precision") -- with the IoU arithmetic
  in the same precision; the final top-B ordering is on the float64 losses either way. The
  tf-hard-example-miner dialect keeps its fixed float32 NMS.
* Beyond the domain (amendment 2) nothing became stricter: float64 where f32 is asked is rounded
  to float32, fractional batch indices are truncated, as before.
* Limits (amendment 5): roi_pool / roi_pool_backward and the RoIAlign family refuse an output or
  features_grad of more than 2^28 elements (empty dimensions counted as 1) with invalid_input
  naming the sizing attr, instead of failing to allocate it.

ohem_step pooler (attr `pooler`, default "roi_pool"): "roi_align" pools both passes with
roi_align.roi_align_forward and back-propagates with roi_align_backward_kernel (attrs pooled_h,
pooled_w, spatial_scale shared with roi_pool; sampling_ratio, aligned, pool_mode, max_init, and
roi_align_dialect torchvision | mmcv -- onnxruntime has no backward: invalid_input naming
attrs.roi_align_dialect). The RoIAlign refusals of roi_align.py apply to all R RoIs. The RoIAlign
family's own choices are listed in roi_align.py's docstring.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from codec import F32, F64, I32, Attrs, Inputs, OracleError, check_finite, check_no_nan, check_shape, invalid
from roi_align import (align_attrs, align_geoms, check_elements, check_reads, check_work, crop_and_resize, roi_align,
                       roi_align_backward, roi_align_backward_kernel, roi_align_forward)

FLT_MAX = F32(np.finfo(np.float32).max)
FLT_MIN = F32(np.finfo(np.float32).tiny)  # 1.17549435e-38, SPEC §7


# ============================================================ shared helpers

def c_round(x: np.float32) -> int:
    """C `round`: half away from zero (SPEC §5.1, §12 pitfall 14); NOT Python/NumPy banker's rounding.

    sign(x)*floor(|x|+0.5) evaluated in double: for a float32 x the sum |x|+0.5 is exact, so there
    is no float32 rounding of the +0.5 (0.49999997 must round to 0, not 1)."""
    v = float(x)
    r = math.floor(abs(v) + 0.5)
    return -r if v < 0 else r


def tie_order(values: np.ndarray, ties: str) -> np.ndarray:
    """Positions sorted by value descending, equal values by position (SPEC §2.2).

    ties "index_desc": equal values by position descending (the default);
    ties "index_asc":  equal values by position ascending.
    Written with an explicit secondary key (np.lexsort: last key is primary), never relying on
    np.argsort's (unstable) order. Negation is exact for floats; -0.0 and +0.0 compare equal and
    therefore tie."""
    pos = np.arange(values.shape[0], dtype=np.int64)
    secondary = -pos if ties == "index_desc" else pos
    return np.lexsort((secondary, -values))


def _pool_attrs(attrs: Attrs) -> tuple[int, int, np.float32]:
    ph = attrs.int("pooled_h", 7, minimum=1)
    pw = attrs.int("pooled_w", 7, minimum=1)
    scale = attrs.float("spatial_scale", 0.0625)
    if not scale > 0:
        raise invalid(f"attrs.spatial_scale must be > 0, got {scale!r}")
    return ph, pw, F32(scale)


class RoiGeom:
    """Geometry of one RoI as Caffe's ROIPooling recomputes it (SPEC §5.1), all float32 steps."""

    __slots__ = ("b", "sw", "sh", "ew", "eh", "bin_h", "bin_w")

    def __init__(self, r: int, roi: np.ndarray, n_images: int, scale: np.float32, PH: int, PW: int):
        b = roi[0]
        if not np.isfinite(b):
            raise invalid(f"input 'rois' row {r}: batch index {float(b)!r} is not finite")
        self.b = int(b)  # (int) cast: truncation toward zero
        if not 0 <= self.b < n_images:
            raise invalid(f"input 'rois' row {r}: batch index {float(b)!r} truncates to {self.b}, "
                          f"outside [0, {n_images})")
        ends = []
        for j in range(1, 5):
            with np.errstate(over="ignore"):
                prod = F32(roi[j] * scale)  # float32 product fl32(coord * scale)
            if not np.isfinite(prod):
                raise invalid(f"input 'rois' row {r}: coordinate {j} times spatial_scale is not finite")
            ends.append(c_round(prod))
        self.sw, self.sh, self.ew, self.eh = ends
        roi_w = max(self.ew - self.sw + 1, 1)  # inclusive end (+1), malformed RoIs forced to 1
        roi_h = max(self.eh - self.sh + 1, 1)
        self.bin_h = F32(F32(roi_h) / F32(PH))  # float32 division
        self.bin_w = F32(F32(roi_w) / F32(PW))

    def h_range(self, ph: int, H: int) -> tuple[int, int]:
        start = math.floor(F32(F32(ph) * self.bin_h))
        end = math.ceil(F32(F32(ph + 1) * self.bin_h))
        return min(max(start + self.sh, 0), H), min(max(end + self.sh, 0), H)

    def w_range(self, pw: int, W: int) -> tuple[int, int]:
        start = math.floor(F32(F32(pw) * self.bin_w))
        end = math.ceil(F32(F32(pw + 1) * self.bin_w))
        return min(max(start + self.sw, 0), W), min(max(end + self.sw, 0), W)


class GeomArrays:
    """The per-RoI geometry of a list of RoiGeom as arrays, for the vectorised kernels.

    b: int64 [R]; sw, sh, ew, eh: float64 [R] (each a rounded float32 product, so exactly
    representable in double); bin_h, bin_w: float32 [R]."""

    def __init__(self, geoms: list[RoiGeom], name: str = "rois"):
        self.R = len(geoms)
        self.b = np.array([g.b for g in geoms], dtype=np.int64)
        self.sw = np.array([float(g.sw) for g in geoms], dtype=F64)
        self.sh = np.array([float(g.sh) for g in geoms], dtype=F64)
        self.ew = np.array([float(g.ew) for g in geoms], dtype=F64)
        self.eh = np.array([float(g.eh) for g in geoms], dtype=F64)
        self.bin_h = np.array([g.bin_h for g in geoms], dtype=F32)
        self.bin_w = np.array([g.bin_w for g in geoms], dtype=F32)
        bad = ~(np.isfinite(self.bin_h) & np.isfinite(self.bin_w))
        if np.any(bad):
            raise invalid(f"input '{name}' row {int(np.nonzero(bad)[0][0])}: the RoI extent overflows float32")

    def take(self, idx: np.ndarray) -> "GeomArrays":
        out = object.__new__(GeomArrays)
        out.R = int(idx.shape[0])
        for k in ("b", "sw", "sh", "ew", "eh", "bin_h", "bin_w"):
            setattr(out, k, getattr(self, k)[idx])
        return out

    def ranges(self, P: int, extent: int, bin_size: np.ndarray, start: np.ndarray):
        """[start, end) of bins 0..P-1 of every RoI, [R, P] int64: floor(fl32(p·bin)) + start and
        ceil(fl32((p+1)·bin)) + start, clipped to [0, extent] (RoiGeom.h_range, vectorised).
        The float32 products are the same correctly rounded products as the scalar ones; the sums
        are exact in double (both terms are exactly representable and the clip is monotonic)."""
        p = np.arange(P + 1, dtype=F32)
        with np.errstate(over="ignore"):
            prod = (bin_size[:, None] * p[None, :]).astype(F32)
        lo = np.clip(np.floor(prod[:, :-1]).astype(F64) + start[:, None], 0, extent)
        hi = np.clip(np.ceil(prod[:, 1:]).astype(F64) + start[:, None], 0, extent)
        return lo.astype(np.int64), hi.astype(np.int64)


def _rois(inputs: Inputs, n_images: int, scale, PH, PW) -> list[RoiGeom]:
    rois = inputs.float32("rois", 2)
    if rois.shape[1] != 5:
        raise invalid(f"input 'rois' must have shape [R,5], got {list(rois.shape)}")
    return _geoms(rois, n_images, scale, PH, PW)


def _geoms(rois: np.ndarray, n_images: int, scale, PH, PW, name: str = "rois") -> list[RoiGeom]:
    """RoiGeom of every row of a float32 [R,5] array (its messages name the input 'rois')."""
    for r in range(rois.shape[0]):
        if not np.all(np.isfinite(rois[r])):
            raise invalid(f"input '{name}' row {r} holds a non-finite value")
    return [RoiGeom(r, rois[r], n_images, scale, PH, PW) for r in range(rois.shape[0])]


# ============================================================ RoI pooling

ROI_CHUNK = 1 << 20  # elements (bins x channels) per working array of the vectorised kernels


def roi_pool_forward(feats: np.ndarray, G: GeomArrays, PH: int, PW: int):
    """Caffe ROIPooling forward, SPEC §5.1, vectorised over channels and bins.

    Returns top f32 [R,C,PH,PW], argmax i32 [R,C,PH,PW]. For every bin the window is scanned in
    row-major order (h outer, w inner) with Caffe's own update rule applied to all C channels and
    to all bins of the same window shape at once:  if v > best: best = v, argmax = h·W + w,
    starting from best = -FLT_MAX, argmax = -1. Hence, exactly as in the kernel: the first maximum
    wins (strict >), NaN never wins (NaN > x is false), a value must beat -FLT_MAX strictly (a bin
    of -inf/-FLT_MAX/NaN only keeps -FLT_MAX and -1), and top holds the winning value's own bits
    (-0.0 stays -0.0). Empty bins: 0 and -1. Bins are grouped by window shape (hh, ww) so that
    every step is one gather of [bins, C] rows from a channels-last copy of the features."""
    N, C, H, W = feats.shape
    R = G.R
    nb = R * PH * PW
    top = np.zeros((nb, C), dtype=F32)
    arg = np.full((nb, C), -1, dtype=I32)
    if nb and C and H and W:
        hs, he = G.ranges(PH, H, G.bin_h, G.sh)  # [R, PH]
        ws, we = G.ranges(PW, W, G.bin_w, G.sw)  # [R, PW]
        shape3 = (R, PH, PW)
        HS = np.broadcast_to(hs[:, :, None], shape3).ravel()
        HE = np.broadcast_to(he[:, :, None], shape3).ravel()
        WS = np.broadcast_to(ws[:, None, :], shape3).ravel()
        WE = np.broadcast_to(we[:, None, :], shape3).ravel()
        B = np.broadcast_to(G.b[:, None, None], shape3).ravel()
        hh, ww = HE - HS, WE - WS
        live = np.nonzero((hh > 0) & (ww > 0))[0]
        ft = np.ascontiguousarray(feats.transpose(0, 2, 3, 1)).reshape(N * H * W, C)
        base = B * (H * W) + HS * W + WS  # row of ft holding the window's first element
        key = hh[live] * (W + 1) + ww[live]
        order = np.argsort(key, kind="stable")
        keys_sorted = key[order]
        cuts = np.nonzero(np.diff(keys_sorted))[0] + 1
        step = max(1, ROI_CHUNK // C)
        buf_best = np.empty((step, C), dtype=F32)
        kdt = np.int16 if int((hh * ww).max()) < 32767 else np.int32
        buf_k = np.empty((step, C), dtype=kdt)  # winning position k in the window, -1 = none
        buf_kt = np.empty((step, C), dtype=kdt)
        buf_v = np.empty((step, C), dtype=F32)
        buf_upd = np.empty((step, C), dtype=bool)
        for grp in np.split(live[order], cuts):
            if grp.shape[0] == 0:  # every bin empty: np.split yields one empty group
                continue
            gh, gw = int(hh[grp[0]]), int(ww[grp[0]])
            offs = (np.arange(gh, dtype=np.int64)[:, None] * W + np.arange(gw, dtype=np.int64)[None, :]).ravel()
            offs32 = offs.astype(I32)
            for c0 in range(0, grp.shape[0], step):
                ids = grp[c0:c0 + step]
                n = ids.shape[0]
                best, kk, kt = buf_best[:n], buf_k[:n], buf_kt[:n]
                v, upd = buf_v[:n], buf_upd[:n]
                best.fill(-FLT_MAX)
                kk.fill(-1)
                b0 = base[ids]
                for k, off in enumerate(offs.tolist()):  # row-major: h outer, w inner
                    np.take(ft, b0 + off, axis=0, out=v)
                    np.greater(v, best, out=upd)  # the kernel's strict `>`
                    np.copyto(best, v, where=upd)
                    # kk = upd ? k : kk, written branch-free (a masked integer copy is slow)
                    np.subtract(kdt(k), kk, out=kt)
                    np.multiply(kt, upd, out=kt)
                    np.add(kk, kt, out=kk)
                pos = offs32[kk]  # kk = -1 reads the last offset: overwritten below
                np.add(pos, (HS[ids] * W + WS[ids]).astype(I32)[:, None], out=pos)  # h·W + w
                lost = kk < 0  # no value beat -FLT_MAX (rare): top -FLT_MAX, argmax -1
                if lost.any():
                    pos[lost] = -1
                top[ids] = best
                arg[ids] = pos
    top = np.ascontiguousarray(top.reshape(R, PH, PW, C).transpose(0, 3, 1, 2))
    arg = np.ascontiguousarray(arg.reshape(R, PH, PW, C).transpose(0, 3, 1, 2))
    return top, arg


def roi_pool_backward_kernel(G: GeomArrays, argmax: np.ndarray, top_grad: np.ndarray,
                             shape: tuple, PH: int, PW: int, mode: str) -> np.ndarray:
    """ROIPooling backward, vectorised; see roi_pool_backward for the semantics.

    Every bin (r,c,ph,pw) names one element (its argmax); the bins that pass the mode's tests are
    added to that element with np.add.at on the float32 array, which adds one term at a time in
    index order -- the flattened (r, c, ph, pw) order, i.e. for each element its terms in the order
    RoI, ph, pw of the gather -- each addition rounded to float32. selfcheck.py holds this against
    literal per-element transcriptions bit for bit."""
    N, C, H, W = shape
    grad = np.zeros(N * C * H * W, dtype=F32)
    R = G.R
    if R == 0 or H * W == 0 or C == 0:
        return grad.reshape(shape)
    per = C * PH * PW
    step = max(1, (4 * ROI_CHUNK) // max(per, 1))
    php = np.arange(PH, dtype=np.int64)[None, None, :, None]
    pwp = np.arange(PW, dtype=np.int64)[None, None, None, :]
    cc = np.arange(C, dtype=np.int64)[None, :, None, None]
    for r0 in range(0, R, step):
        r1 = min(R, r0 + step)
        a = argmax[r0:r1].astype(np.int64)
        ok = a >= 0
        h = np.where(ok, a // W, 0)
        w = np.where(ok, a % W, 0)
        if mode == "caffe":
            def col(v):
                return v[r0:r1, None, None, None]
            sw, sh, ew, eh = col(G.sw), col(G.sh), col(G.ew), col(G.eh)
            ok &= (sw <= w) & (w <= ew) & (sh <= h) & (h <= eh)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                # float32 divisions fl32(fl32(h - sh) / bin_h), fl32(fl32(h - sh + 1) / bin_h): the
                # integer offsets are exact in double (sh is a rounded float32 value, h < H)
                bh, bw = col(G.bin_h), col(G.bin_w)
                phs = np.clip(np.floor(((h - sh).astype(F32) / bh).astype(F32)), 0, PH)
                phe = np.clip(np.ceil(((h - sh + 1).astype(F32) / bh).astype(F32)), 0, PH)
                pws = np.clip(np.floor(((w - sw).astype(F32) / bw).astype(F32)), 0, PW)
                pwe = np.clip(np.ceil(((w - sw + 1).astype(F32) / bw).astype(F32)), 0, PW)
            ok &= (phs <= php) & (php < phe) & (pws <= pwp) & (pwp < pwe)
        b = G.b[r0:r1, None, None, None]
        target = ((b * C + cc) * H + h) * W + w
        np.add.at(grad, target[ok], top_grad[r0:r1][ok])
    return grad.reshape(shape)


def roi_pool(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe ROIPooling forward, SPEC §5.1 (bit-identical to torchvision's for float32, §5.3).
    Kernel: roi_pool_forward."""
    PH, PW, scale = _pool_attrs(attrs)
    feats = inputs.float32("features", 4)
    N, C, H, W = feats.shape
    G = GeomArrays(_rois(inputs, N, scale, PH, PW))
    check_elements("attrs.pooled_h, attrs.pooled_w", (G.R, C, PH, PW))
    top, argmax = roi_pool_forward(feats, G, PH, PW)
    return {"top": top, "argmax": argmax}


def roi_pool_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """ROIPooling backward: mode "caffe" = Caffe GPU gather, SPEC §5.2; mode "scatter" = torchvision, SPEC §5.3.

    caffe: for every bottom element (n,c,h,w), over the RoIs of image n in RoI order, if the
    inclusive UNclamped in-RoI test sw<=w<=ew, sh<=h<=eh passes, the bins ph in [phs,phe),
    pw in [pws,pwe) (float32 divisions, clipped to [0,PH]/[0,PW]) whose argmax equals h*W+w
    contribute top_grad, accumulated in float32 in the order RoI, ph, pw.

    Implemented as the exactly equivalent filtered scatter: a bin (r,c,ph,pw) can only contribute
    to the one element its argmax names, so walking r, ph, pw in order and adding top_grad to
    that element when the gather's own conditions hold for it gives every element the same terms
    in the same float32 order. selfcheck.py holds this against a literal per-element gather.

    scatter: grad[argmax] += top_grad for every bin with argmax != -1, in the order r, ph, pw.
    Kernel: roi_pool_backward_kernel."""
    PH, PW, scale = _pool_attrs(attrs)
    mode = attrs.enum("mode", "caffe", ("caffe", "scatter"))
    N, C, H, W = attrs.int_list("features_shape", 4)
    check_elements("attrs.features_shape", (N, C, H, W))
    G = GeomArrays(_rois(inputs, N, scale, PH, PW))
    R = G.R
    argmax = inputs.int32("argmax", 4)
    check_shape("argmax", argmax, (R, C, PH, PW))
    top_grad = inputs.float32("top_grad", 4)
    check_shape("top_grad", top_grad, (R, C, PH, PW))
    if np.any((argmax < -1) | (argmax >= H * W)):
        bad = argmax[(argmax < -1) | (argmax >= H * W)][0]
        raise invalid(f"input 'argmax' holds {int(bad)}, outside [-1, {H * W}) for a {H}x{W} map")
    return {"features_grad": roi_pool_backward_kernel(G, argmax, top_grad, (N, C, H, W), PH, PW, mode)}


# ============================================================ InnerProduct, ReLU, Dropout

# OHEM_ORACLE_GEMM=float32 (environment) makes ohem_step run its linear layers as float32 GEMMs
# (numpy sgemm: y = fl32(x·Wᵀ) then + b in float32, Caffe's own two steps; db = float32 column sums)
# -- a float32 numpy timing point for benchmarks. Default: float64 accumulation, as the linear ops.
GEMM_FLOAT32 = os.environ.get("OHEM_ORACLE_GEMM", "") == "float32"


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = x·Wᵀ + b from float32 x. With float64 W and b (the default): every dot product and the
    bias are accumulated in float64 (BLAS dgemm) and rounded to float32 once. With float32 W and b
    (OHEM_ORACLE_GEMM=float32 in ohem_step): fl32(fl32(x·Wᵀ) + b), a float32 sgemm."""
    if w.dtype == np.float32:
        return ((x @ w.T).astype(F32) + b[None, :]).astype(F32)
    return (x.astype(F64) @ w.T + b[None, :]).astype(F32)


def linear_backward_kernel(x: np.ndarray, w: np.ndarray, dy: np.ndarray):
    """dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy from float32 x and dy. With a float64 W (the default)
    each is accumulated in float64 (dgemm) and rounded to float32 once; with a float32 W
    (OHEM_ORACLE_GEMM=float32) each is a float32 sgemm / float32 column sum."""
    if w.dtype == np.float32:
        return ((dy @ w).astype(F32), (dy.T @ x).astype(F32), dy.sum(axis=0, dtype=F32))
    x64, dy64 = x.astype(F64), dy.astype(F64)
    return ((dy64 @ w).astype(F32), (dy64.T @ x64).astype(F32), dy64.sum(axis=0).astype(F32))


def linear(attrs: Attrs, inputs: Inputs) -> dict:
    """InnerProduct forward y = x·Wᵀ + b, SPEC §8.1.

    Accumulation: the dot products and the bias are summed in float64 from the float32 inputs and
    rounded to float32 once (Caffe: float32 GEMM then a float32 bias GEMM; tolerance covers it)."""
    x = inputs.float32("x", 2)
    w = inputs.float32("w", 2)
    b = inputs.float32("b", 1)
    R, K = x.shape
    M = w.shape[0]
    check_shape("w", w, (M, K))
    check_shape("b", b, (M,))
    return {"y": linear_forward(x, w.astype(F64), b.astype(F64))}


def linear_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """InnerProduct backward dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy, SPEC §8.1 (one pass, no accumulation
    into earlier diffs). Accumulated in float64 from float32 inputs, rounded to float32 once."""
    x = inputs.float32("x", 2)
    w = inputs.float32("w", 2)
    dy = inputs.float32("dy", 2)
    R, K = x.shape
    M = w.shape[0]
    check_shape("w", w, (M, K))
    check_shape("dy", dy, (R, M))
    dx, dw, db = linear_backward_kernel(x, w.astype(F64), dy)
    od = inputs.out_dtype("dy")
    return {"dx": dx.astype(od), "dw": dw.astype(od), "db": db.astype(od)}


def relu_kernel(x: np.ndarray) -> np.ndarray:
    """x if x > 0 else +0, NaN stays NaN (float32)."""
    y = np.where(x > 0, x, F32(0))
    return np.where(np.isnan(x), x, y).astype(F32)


def relu_backward_kernel(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dy where x > 0, else +0 (a selection, not a product)."""
    return np.where(x > 0, dy, F32(0)).astype(F32)


def dropout_scale(ratio: float) -> np.float32:
    """Caffe DropoutLayer (SPEC §8.2): threshold_ is a float (ratio rounded to float32), and
    scale_ = 1. / (1. - threshold_) is evaluated in double and stored as float.
    (Differs in the last bit from fl32(1/(1-ratio)) for e.g. ratio 0.6, 0.8, 0.9; equal for 0.5.)"""
    return F32(1.0 / (1.0 - float(F32(ratio))))


def dropout_kernel(x: np.ndarray, m: np.ndarray, scale: np.float32) -> np.ndarray:
    """fl32(fl32(x·m)·scale) with a float32 0/1 mask (forward and backward alike)."""
    with np.errstate(invalid="ignore"):
        return ((x * m).astype(F32) * scale).astype(F32)


def relu(attrs: Attrs, inputs: Inputs) -> dict:
    """ReLU forward with slope 0, SPEC §8.3: y = x if x > 0 else +0; NaN stays NaN.

    (Read as max(x, 0); the slope term 0·min(x,0) is dropped, so -inf gives 0, not 0·-inf = NaN.)"""
    x = inputs.float32("x")
    return {"y": relu_kernel(x).astype(inputs.out_dtype("x"))}


def relu_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """ReLU backward, SPEC §8.3: dx = dy where x > 0, else 0 (gradient at exactly 0 is 0; NaN x -> 0).
    A selection, not a product: dy·0 is written as +0 even for non-finite dy."""
    x = inputs.float32("x")
    dy = inputs.float32("dy")
    check_shape("dy", dy, x.shape)
    return {"dx": relu_backward_kernel(x, dy).astype(inputs.out_dtype("dy"))}


def _dropout_scale_and_mask(attrs: Attrs, inputs: Inputs, like_arr: np.ndarray):
    ratio = attrs.float("ratio", 0.5)
    if not 0 <= ratio < 1:
        raise invalid(f"attrs.ratio must be in [0, 1), got {ratio!r}")
    return dropout_scale(ratio), _mask(inputs, "mask", like_arr.shape)


def _mask(inputs: Inputs, name: str, shape: tuple) -> np.ndarray:
    """A dropout mask input (any wire dtype) holding only 0 and 1, as float32."""
    m = inputs.arr(name)
    check_shape(name, m, shape)
    if not np.all((m == 0) | (m == 1)):
        raise invalid(f"input '{name}' must hold only 0 and 1")
    return m.astype(F32)


def dropout(attrs: Attrs, inputs: Inputs) -> dict:
    """Dropout TRAIN forward with an explicit mask, SPEC §8.2: y = fl32(fl32(x·m)·scale), a literal product
    (so x = ±inf or NaN with m = 0 gives NaN, as in Caffe)."""
    x = inputs.float32("x")
    scale, m = _dropout_scale_and_mask(attrs, inputs, x)
    return {"y": dropout_kernel(x, m, scale).astype(inputs.out_dtype("x"))}


def dropout_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """Dropout backward, SPEC §8.2: dx = fl32(fl32(dy·m)·scale) with the forward's mask."""
    dy = inputs.float32("dy")
    scale, m = _dropout_scale_and_mask(attrs, inputs, dy)
    return {"dx": dropout_kernel(dy, m, scale).astype(inputs.out_dtype("dy"))}


# ============================================================ Softmax, SoftmaxWithLoss

def _softmax_rows(x: np.ndarray) -> np.ndarray:
    """SPEC §7 Softmax over axis 1 of a float32 [R,K]: subtract the row max, exp, divide by the row sum.

    x - max: float32. exp: evaluated in double and rounded to float32 (a correctly rounded expf,
    barring double-rounding ties). Row sum: float64 accumulation rounded to float32 once.
    Division: float32."""
    with np.errstate(invalid="ignore", over="ignore"):
        m = x.max(axis=1, keepdims=True)
        d = (x - m).astype(F32)
        e = np.exp(d.astype(F64)).astype(F32)
        s = e.astype(F64).sum(axis=1, keepdims=True).astype(F32)
        return (e / s).astype(F32)


def _scores(inputs: Inputs, name: str) -> np.ndarray:
    x = inputs.float32(name, 2)
    if x.shape[1] == 0:
        raise invalid(f"input '{name}' must have at least one class column, got shape {list(x.shape)}")
    return x


def softmax(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe Softmax, SPEC §7 (also the readonly branch's cls_prob)."""
    return {"prob": _softmax_rows(_scores(inputs, "x")).astype(inputs.out_dtype("x"))}


def softmax_loss(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe SoftmaxWithLoss forward and backward (top gradient 1), SPEC §7.

    Normalizer, with Caffe's outer = R and inner = 1 (softmax over axis 1 of [R,K]):
      full -> outer·inner = R (NOT R·K); valid -> number of non-ignored rows (= R without
      ignore_label); batch_size -> R; none -> 1;  Z = max(1, that).
    loss = -(1/Z)·Σ_valid ln(max(p[i,y_i], FLT_MIN)): logs and sum in float64 from the float32
      probabilities, divided by Z in float64, rounded to float32 once.
    scores_grad = fl32(fl32(p - onehot) · fl32(1/Z)) with the unclamped p (Caffe scales by
      loss_weight = top_diff / Z computed in float); ignored rows are 0 in every class."""
    x = _scores(inputs, "scores")
    R, K = x.shape
    norm = attrs.enum("normalization", "valid", ("valid", "batch_size", "full", "none"))
    ignore = attrs.optional_int("ignore_label")
    lab = inputs.labels("labels", R, K, ignore)
    loss, p, grad = softmax_loss_kernel(x, lab, norm, ignore)
    od = inputs.out_dtype("scores")
    return {"loss": loss, "prob": p.astype(od), "scores_grad": grad.astype(od)}


def softmax_loss_kernel(x: np.ndarray, lab: np.ndarray, norm: str, ignore: int | None):
    """softmax_loss on float32 scores [R,K] and int labels: (loss f32 [], prob, scores_grad)."""
    R, K = x.shape
    p = _softmax_rows(x)
    ignored = (lab == ignore) if ignore is not None else np.zeros(R, dtype=bool)
    used = ~ignored
    count = {"valid": int(used.sum()), "batch_size": R, "full": R, "none": 1}[norm]
    Z = max(1, count)
    rows = np.nonzero(used)[0]
    picked = p[rows, lab[rows]]
    with np.errstate(divide="ignore"):
        # 0 - Σ (not -Σ) so that an all-ignored batch gives +0 like Caffe's `loss -= ...` from 0
        loss = (0.0 - np.sum(np.log(np.maximum(picked, FLT_MIN).astype(F64)))) / float(Z)
    grad = p.copy()
    grad[rows, lab[rows]] = (grad[rows, lab[rows]] - F32(1)).astype(F32)
    grad[ignored, :] = F32(0)
    grad = (grad * (F32(1) / F32(Z))).astype(F32)
    return np.array(loss, dtype=F32), p, grad


# ============================================================ SmoothL1Loss

def smooth_l1_loss(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe (CFR) SmoothL1Loss forward and backward (top gradient 1), SPEC §6.

    σ² = fl32(fl32(sigma)²) (a float in Caffe); d = fl32(w_in·fl32(pred - target));
    f(d) = 0.5·σ²·d² if |d| < 1/σ² else |d| - 0.5/σ², comparison and constants in double, the
      value evaluated as ((0.5·d)·d)·σ² in double, stored float32;  e = fl32(w_out·f(d));
    loss = Σ e / R (R = rows of pred): sum in float64, divided by R in float64, rounded once.
    pred_grad = fl32(fl32(fl32(f'(d)·w_in)·w_out)·fl32(1/R)) with f'(d) = fl32(σ²·d) inside,
      sign(d) outside (sign(0) = 0).
    R = 0 is rejected (Caffe would return 0/0 = NaN)."""
    pred = inputs.float32("pred", 2)
    R, D = pred.shape
    target = inputs.float32("target", 2)
    w_in = inputs.float32("inside_w", 2)
    w_out = inputs.float32("outside_w", 2)
    for name, a in (("target", target), ("inside_w", w_in), ("outside_w", w_out)):
        check_shape(name, a, (R, D))
    if R == 0:
        raise invalid("input 'pred' has 0 rows; the loss is divided by the number of rows")
    loss, g = smooth_l1_kernel(pred, target, w_in, w_out, _sigma2(attrs))
    return {"loss": loss, "pred_grad": g.astype(inputs.out_dtype("pred"))}


def _sigma2(attrs: Attrs) -> np.float32:
    """σ² = fl32(fl32(sigma)²) from attr 'sigma' (default 1), validated."""
    sigma = attrs.float("sigma", 1.0)
    if not sigma > 0:
        raise invalid(f"attrs.sigma must be > 0, got {sigma!r}")
    with np.errstate(over="ignore", under="ignore"):
        s2 = F32(F32(sigma) * F32(sigma))
    if not (np.isfinite(s2) and s2 > 0):
        raise invalid(f"attrs.sigma squared is not a positive finite float32, got {sigma!r}")
    return s2


def smooth_l1_kernel(pred, target, w_in, w_out, s2: np.float32):
    """smooth_l1_loss on float32 [R,D] arrays, R >= 1: (loss f32 [], pred_grad f32 [R,D])."""
    R = pred.shape[0]
    s2d = float(s2)
    with np.errstate(invalid="ignore", over="ignore"):
        d = (w_in * (pred - target).astype(F32)).astype(F32)
        d64 = d.astype(F64)
        ad64 = np.abs(d64)
        inside = ad64 < 1.0 / s2d
        e = np.where(inside, ((0.5 * d64) * d64) * s2d, ad64 - 0.5 / s2d).astype(F32)
        e = (w_out * e).astype(F32)
        loss = e.astype(F64).sum() / float(R)
        fprime = np.where(inside, (s2 * d).astype(F32), np.sign(d).astype(F32)).astype(F32)
        g = ((fprime * w_in).astype(F32) * w_out).astype(F32)
        g = (g * (F32(1) / F32(R))).astype(F32)
    return np.array(loss, dtype=F32), g


# ============================================================ NMS and top-k

def nms(attrs: Attrs, inputs: Inputs) -> dict:
    """Greedy NMS, SPEC §4 with PROTOCOL.md's notes on nms.

    order: score descending, ties by position (tie_order); with precision float32 the scores are
    rounded to float32 first. plus1: area = (x2-x1+1)(y2-y1+1), iw = max(0, min x2 - max x1 + 1);
    continuous: no +1. precision float32: every +, -, *, / on float32 values (boxes rounded to
    float32); float64: all in double. union = (area_i + area_j) - inter, i the kept box.
    suppress gt: IoU > threshold in the working precision (float32: fl32(threshold));
    ge: IoU promoted to double >= threshold (double). Output: kept positions in selection order."""
    threshold, conv, suppress, ties, prec = _nms_attrs(attrs)
    boxes = inputs.float_keep("boxes", 2)
    n = boxes.shape[0]
    if boxes.shape[1] != 4:
        raise invalid(f"input 'boxes' must have shape [n,4], got {list(boxes.shape)}")
    scores = inputs.float_keep("scores", 1)
    check_shape("scores", scores, (n,))
    check_finite("boxes", boxes)
    check_no_nan("scores", scores)
    dt = F32 if prec == "float32" else F64
    with np.errstate(over="ignore"):
        b = boxes.astype(dt)
    if not np.all(np.isfinite(b)):
        raise invalid("input 'boxes' overflows float32")
    return {"keep": nms_kernel(b, scores, threshold, conv, suppress, ties, prec)}


def _nms_attrs(attrs: Attrs, tname: str = "threshold") -> tuple:
    """(threshold, box_convention, suppress, ties, precision) of the nms op; ohem_select's
    caffe-ohem names the threshold attr 'nms_threshold'."""
    threshold = attrs.float(tname, 0.7)
    if not 0 <= threshold <= 1:
        raise invalid(f"attrs.{tname} must be in [0, 1], got {threshold!r}")
    conv = attrs.enum("box_convention", "plus1", ("plus1", "continuous"))
    suppress = attrs.enum("suppress", "gt", ("gt", "ge"))
    ties = attrs.enum("ties", "index_desc", ("index_desc", "index_asc"))
    prec = attrs.enum("precision", "float32", ("float32", "float64"))
    return threshold, conv, suppress, ties, prec


def nms_kernel(boxes: np.ndarray, scores: np.ndarray, threshold: float, conv: str, suppress: str,
               ties: str, prec: str) -> np.ndarray:
    """Greedy NMS on finite boxes [n,4] and NaN-free scores [n] (any float dtype): kept positions
    int32 in selection order. The boxes and scores are rounded to the working precision first
    (float32: huge float64 scores become ±inf)."""
    dt = F32 if prec == "float32" else F64
    n = boxes.shape[0]
    with np.errstate(over="ignore"):
        b = boxes.astype(dt)
        s = scores.astype(dt)  # float32: scores rounded before ordering (huge float64 -> inf)
    one, zero = dt(1), dt(0)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    if conv == "plus1":
        areas = ((x2 - x1 + one) * (y2 - y1 + one)).astype(dt)
    else:
        areas = ((x2 - x1) * (y2 - y1)).astype(dt)
    thr_gt = dt(threshold)
    order = tie_order(s, ties)
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for pos in range(n):
        i = order[pos]
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            if conv == "plus1":
                iw = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
                ih = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
            else:
                iw = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
                ih = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
            inter = (iw * ih).astype(dt)
            union = ((areas[i] + areas[rest]).astype(dt) - inter).astype(dt)
            iou = (inter / union).astype(dt)
            if suppress == "gt":
                hit = iou > thr_gt
            else:
                hit = iou.astype(F64) >= threshold
        suppressed[rest[hit]] = True
    return np.array(keep, dtype=I32)


def top_k(attrs: Attrs, inputs: Inputs) -> dict:
    """select_hard_examples, SPEC §2.1, with the tie rule of SPEC §2.2: the first min(k, n) positions
    by value descending, equal values by position descending (index_desc) or ascending (index_asc).
    values keep their dtype: float64 is ranked as float64, float32 as float32."""
    v = inputs.float_keep("values", 1)
    check_no_nan("values", v)
    k = attrs.int("k", minimum=0)  # PROTOCOL.md 1.1 amendment 3: k = 0 -> empty indices
    ties = attrs.enum("ties", "index_desc", ("index_desc", "index_asc"))
    order = tie_order(v, ties)
    return {"indices": order[:min(k, v.shape[0])].astype(I32)}


# ============================================================ SGD

def sgd_update(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe SGD solver step for one param, SPEC §9, all float32 like Caffe:

      if iter_size > 1:      g ← fl32(g · fl32(1 / iter_size))
      local_decay = fl32(fl32(weight_decay) · fl32(decay_mult));  if != 0: g ← fl32(g + fl32(local_decay·θ))
      local_rate  = fl32(fl32(lr) · fl32(lr_mult))
      v ← fl32(fl32(fl32(momentum)·v) + fl32(local_rate·g));   θ ← fl32(θ − v)
    (Caffe multiplies float attrs as floats; a fused multiply-add in BLAS may differ in the last bit.)"""
    lr = attrs.float("lr")
    momentum = attrs.float("momentum", 0.9)
    weight_decay = attrs.float("weight_decay", 0.0005)
    lr_mult = attrs.float("lr_mult", 1.0)
    decay_mult = attrs.float("decay_mult", 1.0)
    iter_size = attrs.int("iter_size", 1, minimum=1)
    theta = inputs.float32("param")
    g = inputs.float32("grad")
    v = inputs.float32("history")
    check_shape("grad", g, theta.shape)
    check_shape("history", v, theta.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        if iter_size > 1:
            g = (g * (F32(1) / F32(iter_size))).astype(F32)
        local_decay = F32(F32(weight_decay) * F32(decay_mult))
        if local_decay != 0:
            g = (g + (local_decay * theta).astype(F32)).astype(F32)
        local_rate = F32(F32(lr) * F32(lr_mult))
        v = ((F32(momentum) * v).astype(F32) + (local_rate * g).astype(F32)).astype(F32)
        theta = (theta - v).astype(F32)
    od = inputs.out_dtype("param")
    return {"param": theta.astype(od), "history": v.astype(od)}


# ============================================================ OHEM: hardness (docs/mining.md §1)

EPS_DEFAULT = 2.0 ** -52  # np.finfo(float).eps, SPEC §1.2 -- not FLT_MIN, not cfg.EPS
BBOX_INPUTS = ("bbox_pred", "bbox_targets", "bbox_inside_weights", "bbox_outside_weights")


def _eps(attrs: Attrs) -> float:
    eps = attrs.float("eps", EPS_DEFAULT)
    if not eps > 0:
        raise invalid(f"attrs.eps must be > 0, got {eps!r}")
    return eps


def roi_loss_kernel(prob: np.ndarray, lab: np.ndarray, bbox4, eps: float):
    """OHEMDataLayer's per-RoI hardness, docs/mining.md §1 / SPEC §1.2-1.4.

    prob f32 [R,K], lab int [R], bbox4 = (pred, targets, inside, outside) f32 [R,D] or None.
    Returns (loss, cls, bbox), float64 [R] each.

    cls: p = prob[i, y]. The original is -ln(max(p, eps)) with Python's builtin max, which returns
      eps only when eps > p (equality keeps p: SPEC §1.2's degenerate edge). So:
      eps > p  -> -ln(eps) in double (36.04365338911715 for 2^-52);
      otherwise -> -fl32(ln p): the float32 log of the float32 p, widened. Emulated as
      fl32(math.log(p)) -- libm's double log rounded to float32 -- which is what the 2016 NumPy's
      float32 loop (libm logf) gave to within its ulp, and what the TypeScript side computes
      (fround(Math.log(p))). NumPy 2.x's own float32 log is NOT used: on AVX-512 machines it runs
      a SIMD approximation measured here up to 3 ulp away from the correctly rounded value (for
      p ~ 0.78) and differs between machines. A NaN p is not < eps either: -ln(NaN) = NaN, as the
      builtin max(NaN, eps) returns NaN.
    bbox (only with bbox4): +0 for y = 0; for y > 0 the double sum, left to right from +0, over
      k ascending with inside[i,k] != 0 of  w_out·s(x),  x = fl32(inside·fl32(pred - target)),
      s(x) = 0.5·x·x if |x| < 1 else |x| - 0.5 in double. (Skipped k add +0.0, which changes no
      partial sum: a sum started at +0 is never -0.)
    loss = cls + bbox in double, element-wise (pitfall 1). Without bbox4: loss = cls exactly (the
      original with BBOX_REG off keeps -0.0 for p = 1) and bbox = +0."""
    R = prob.shape[0]
    p = prob[np.arange(R), lab].astype(F32)
    p64 = p.astype(F64)
    clamp = eps > p64
    cls = np.empty(R, dtype=F64)
    cls[clamp] = -math.log(eps)
    rest = np.nonzero(~clamp)[0]
    logs = np.array([math.log(v) if v > 0 else math.nan for v in p64[rest].tolist()], dtype=F64)
    cls[rest] = -(logs.astype(F32).astype(F64))
    bbox = np.zeros(R, dtype=F64)
    if bbox4 is None:
        return cls.copy(), cls, bbox
    pred, tgt, w_in, w_out = bbox4
    with np.errstate(invalid="ignore", over="ignore"):
        x = (w_in * (pred - tgt).astype(F32)).astype(F32).astype(F64)
        ax = np.abs(x)
        s = np.where(ax < 1.0, (0.5 * x) * x, ax - 0.5)
        term = w_out.astype(F64) * s
        use = (w_in != 0) & (lab > 0)[:, None]
        term = np.where(use, term, 0.0)
        for k in range(term.shape[1]):
            bbox = bbox + term[:, k]
        loss = cls + bbox
    return loss, cls, bbox


def ohem_roi_loss(attrs: Attrs, inputs: Inputs) -> dict:
    """OHEM per-RoI hardness, docs/mining.md §1 (SPEC §1.2-1.4, pitfalls 1-4). Kernel: roi_loss_kernel.

    Inputs cls_prob [R,K] (float32; float64 is rounded), labels [R] (integers in [0,K)), and all
    four or none of bbox_pred, bbox_targets, bbox_inside_weights, bbox_outside_weights [R,D] (any
    D >= 0; the four must agree). Outputs loss, cls_loss, bbox_loss float64 [R]."""
    eps = _eps(attrs)
    prob = inputs.float32("cls_prob", 2)
    R, K = prob.shape
    if K == 0:
        raise invalid(f"input 'cls_prob' must have at least one class column, got shape {list(prob.shape)}")
    lab = inputs.labels("labels", R, K)
    given = [n for n in BBOX_INPUTS if inputs.has(n)]
    bbox4 = None
    if given:
        missing = [n for n in BBOX_INPUTS if n not in given]
        if missing:
            raise invalid(f"input '{missing[0]}' is missing: give all four of {', '.join(BBOX_INPUTS)} or none")
        pred = inputs.float32("bbox_pred", 2)
        if pred.shape[0] != R:
            raise invalid(f"input 'bbox_pred' has shape {list(pred.shape)}; expected [{R}, D]")
        D = pred.shape[1]
        rest = [inputs.float32(n, 2) for n in BBOX_INPUTS[1:]]
        for n, a in zip(BBOX_INPUTS[1:], rest):
            check_shape(n, a, (R, D))
        bbox4 = (pred, *rest)
    loss, cls, bbox = roi_loss_kernel(prob, lab, bbox4, eps)
    return {"loss": loss, "cls_loss": cls, "bbox_loss": bbox}


# ============================================================ OHEM: selection (docs/mining.md §2)

DIALECTS = ("caffe-ohem", "mmdet-ohem", "tf-hard-example-miner", "ssd-hard-negative")
TIES = ("index_desc", "index_asc")


def _select_attrs(attrs: Attrs, min_batch: int = 0) -> dict:
    """The ohem_select attrs of docs/mining.md §2 for the chosen dialect, validated, defaults filled.
    An attr of another dialect never gets here: the server answers it invalid_input first
    (check_attr_names). min_batch: caffe-ohem's batch_size minimum (PROTOCOL.md 1.1 amendment 3:
    0 for ohem_select, 1 for ohem_step)."""
    d = attrs.enum("dialect", "caffe-ohem", DIALECTS)
    cfg: dict = {"dialect": d, "needs": ()}
    if d == "caffe-ohem":
        cfg["batch_size"] = attrs.int("batch_size", 128, minimum=min_batch)
        cfg["use_nms"] = attrs.bool("use_nms", True)
        (cfg["nms_threshold"], cfg["box_convention"], cfg["suppress"], cfg["ties"],
         cfg["precision"]) = _nms_attrs(attrs, "nms_threshold")
    elif d == "mmdet-ohem":
        cfg["needs"] = ("cls_loss",)
        cfg["num"] = attrs.int("num", 512, minimum=1)
        pf = attrs.float("pos_fraction", 0.25)
        if not 0 <= pf <= 1:
            raise invalid(f"attrs.pos_fraction must be in [0, 1], got {pf!r}")
        cfg["pos_fraction"] = pf
        ub = attrs.float("neg_pos_ub", -1)
        if not (ub == -1 or ub >= 0):
            raise invalid(f"attrs.neg_pos_ub must be -1 (no bound) or >= 0, got {ub!r}")
        cfg["neg_pos_ub"] = ub
        cfg["ties"] = attrs.enum("ties", "index_desc", TIES)
    elif d == "tf-hard-example-miner":
        lt = attrs.enum("loss_type", "both", ("both", "cls", "loc"))
        cfg["loss_type"] = lt
        cfg["needs"] = {"both": ("cls_loss", "bbox_loss"), "cls": ("cls_loss",), "loc": ("bbox_loss",)}[lt]
        cfg["cls_loss_weight"] = attrs.float("cls_loss_weight", 0.05)
        cfg["loc_loss_weight"] = attrs.float("loc_loss_weight", 0.06)
        cfg["num_hard_examples"] = attrs.int("num_hard_examples", 64, minimum=0)
        it = attrs.float("iou_threshold", 0.7)
        if not 0 <= it <= 1:
            raise invalid(f"attrs.iou_threshold must be in [0, 1], got {it!r}")
        cfg["iou_threshold"] = it
        mnp = attrs.optional_float("max_negatives_per_positive")
        if mnp is not None and not mnp >= 0:
            raise invalid(f"attrs.max_negatives_per_positive must be >= 0 (or absent), got {mnp!r}")
        cfg["max_negatives_per_positive"] = mnp
        cfg["min_negatives_per_image"] = attrs.int("min_negatives_per_image", 0, minimum=0)
        cfg["ties"] = attrs.enum("ties", "index_asc", TIES)
    else:  # ssd-hard-negative
        cfg["needs"] = ("cls_loss",)
        r = attrs.float("neg_pos_ratio", 3)
        if not r >= 0:
            raise invalid(f"attrs.neg_pos_ratio must be >= 0, got {r!r}")
        cfg["neg_pos_ratio"] = r
        cfg["ties"] = attrs.enum("ties", "index_desc", TIES)
    return cfg


def _top(values: np.ndarray, idx: np.ndarray, n: int, ties: str) -> np.ndarray:
    """The first n of the positions idx ordered by values[idx] descending, ties by position in idx."""
    return idx[tie_order(values[idx], ties)[:n]]


def select_kernel(cfg: dict, loss: np.ndarray, rois: np.ndarray, lab: np.ndarray,
                  cls_loss, bbox_loss) -> np.ndarray:
    """hard_inds (int64) of docs/mining.md §2 for one dialect.

    loss, cls_loss, bbox_loss float64 [R] (NaN-free); rois float32 [R,5] (finite, trunc(batch) >= 0);
    lab int64 [R] (>= 0)."""
    d = cfg["dialect"]
    R = loss.shape[0]
    ties = cfg["ties"]
    if d == "caffe-ohem":  # SPEC §2.1
        B = cfg["batch_size"]
        if not cfg["use_nms"]:
            return tie_order(loss, ties)[:min(R, B)]
        img = rois[:, 0]  # float32 values, compared as values (-0.0 == 0.0)
        keep = []
        labels = np.unique(lab)  # of the whole minibatch, ascending
        for g in np.unique(img):  # ascending
            in_img = img == g
            for c in labels:
                S = np.nonzero(in_img & (lab == c))[0]
                if S.size == 0:
                    continue
                # PROTOCOL.md 1.1 amendment 4: the NMS scores are the losses in the working
                # precision (nms_kernel rounds them to float32 for "float32", keeps float64 else)
                k = nms_kernel(rois[S, 1:5], loss[S], cfg["nms_threshold"], cfg["box_convention"],
                               cfg["suppress"], ties, cfg["precision"])
                keep.append(S[k])
        keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        return keep[tie_order(loss[keep], ties)[:min(keep.shape[0], B)]]
    if d == "mmdet-ohem":  # one pool over the whole input
        P = np.nonzero(lab > 0)[0]
        N = np.nonzero(lab == 0)[0]
        n_pos = math.floor(cfg["num"] * cfg["pos_fraction"])
        pos = P if P.shape[0] <= n_pos else np.sort(_top(cls_loss, P, n_pos, ties))
        n_neg = cfg["num"] - pos.shape[0]
        if cfg["neg_pos_ub"] >= 0:
            n_neg = min(n_neg, math.floor(cfg["neg_pos_ub"] * max(1, pos.shape[0])))
        neg = N if N.shape[0] <= n_neg else np.sort(_top(cls_loss, N, n_neg, ties))
        return np.concatenate([pos, neg]).astype(np.int64)
    images = np.trunc(rois[:, 0].astype(F64)).astype(np.int64)
    out = []
    if d == "tf-hard-example-miner":
        lt = cfg["loss_type"]
        if lt == "cls":
            il = cls_loss
        elif lt == "loc":
            il = bbox_loss
        else:
            il = cls_loss * cfg["cls_loss_weight"] + bbox_loss * cfg["loc_loss_weight"]
        if np.any(np.isnan(il)):
            raise invalid("inputs 'cls_loss' and 'bbox_loss' with the loss weights give a NaN image loss")
        for g in np.unique(images):
            idx = np.nonzero(images == g)[0]
            k = nms_kernel(rois[idx, 1:5], il[idx], cfg["iou_threshold"], "continuous", "gt", ties, "float32")
            sel = idx[k]
            if cfg["num_hard_examples"] > 0:
                sel = sel[:cfg["num_hard_examples"]]
            mnp = cfg["max_negatives_per_positive"]
            if mnp is not None:
                is_pos = lab[sel] > 0
                max_neg = max(cfg["min_negatives_per_image"], math.floor(mnp * int(is_pos.sum())))
                sel = sel[is_pos | (np.cumsum(~is_pos) <= max_neg)]
            out.append(sel)
    else:  # ssd-hard-negative
        for g in np.unique(images):
            idx = np.nonzero(images == g)[0]
            P = idx[lab[idx] > 0]
            N = idx[lab[idx] == 0]
            n_neg = min(math.floor(cfg["neg_pos_ratio"] * P.shape[0]), N.shape[0])
            out.append(np.sort(np.concatenate([P, _top(cls_loss, N, n_neg, ties)])))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def _loss_vector(inputs: Inputs, name: str, R: int | None) -> np.ndarray:
    v = inputs.float_keep(name, 1)
    if R is not None:
        check_shape(name, v, (R,))
    check_no_nan(name, v)
    return v.astype(F64)


def ohem_select(attrs: Attrs, inputs: Inputs) -> dict:
    """Hard-RoI selection, docs/mining.md §2 (caffe-ohem = SPEC §2). Kernel: select_kernel.

    Inputs loss [R] (float64; float32 is widened), rois [R,5] (finite; float64 is rounded to
    float32; trunc(batch index) >= 0), labels [R] (integers >= 0), and cls_loss / bbox_loss [R]
    for the dialects that rank by them. Output hard_inds int32 [B]."""
    cfg = _select_attrs(attrs)
    loss = _loss_vector(inputs, "loss", None)
    R = loss.shape[0]
    rois = inputs.float32("rois", 2)
    check_shape("rois", rois, (R, 5))
    check_finite("rois", rois)
    if np.any(np.trunc(rois[:, 0]) < 0):
        bad = int(np.nonzero(np.trunc(rois[:, 0]) < 0)[0][0])
        raise invalid(f"input 'rois' row {bad}: batch index {float(rois[bad, 0])!r} truncates below 0")
    lab = inputs.labels("labels", R, 2 ** 31)
    parts = {n: _loss_vector(inputs, n, R) for n in cfg["needs"]}
    hard = select_kernel(cfg, loss, rois, lab, parts.get("cls_loss"), parts.get("bbox_loss"))
    return {"hard_inds": hard.astype(I32)}


# ============================================================ OHEM: one step (docs/mining.md §3-§4)

POOLERS = ("roi_pool", "roi_align")
PARAMS = ("fc6_w", "fc6_b", "fc7_w", "fc7_b", "cls_score_w", "cls_score_b", "bbox_pred_w", "bbox_pred_b")
STEP_CHUNK = 512  # RoIs per chunk of the read-only pass (changes no bit: every row is independent)


class _Phases:
    """Phase timings of ohem_step on stderr when OHEM_ORACLE_TIMING is set (no effect otherwise)."""

    def __init__(self):
        self.on = bool(os.environ.get("OHEM_ORACLE_TIMING"))
        self.t = time.perf_counter()
        self.parts: list[str] = []

    def __call__(self, name: str) -> None:
        if self.on:
            now = time.perf_counter()
            self.parts.append(f"{name} {now - self.t:.2f}s")
            self.t = now

    def done(self) -> None:
        if self.on:
            print("[oracle] ohem_step phases: " + ", ".join(self.parts), file=sys.stderr, flush=True)


def ohem_step(attrs: Attrs, inputs: Inputs) -> dict:
    """One OHEM iteration for one forward batch, docs/mining.md §3-§4 (SPEC §1, §2, §5-§8),
    composed from this module's kernels. Nothing is updated.

    Precision: activations are float32 arrays; every linear layer is linear_forward /
    linear_backward_kernel, i.e. float64-accumulated dgemm rounded to float32 once (as the
    `linear` op), so the step agrees with a float32 implementation to the linear tolerance.
    dropout_ratio 0: dropout is the identity and the four masks are not read.

    pooler "roi_pool" (default): roi_pool_forward / roi_pool_backward_kernel (mode caffe).
    pooler "roi_align": both passes pool with roi_align_forward (attrs pooled_h, pooled_w,
    spatial_scale, sampling_ratio, aligned, pool_mode, roi_align_dialect torchvision | mmcv,
    max_init) and the backward is roi_align_backward_kernel on the hard RoIs (mmcv max: with the
    train forward's own argmax_y / argmax_x). The pooled [n, C, PH, PW] is flattened row-major
    (channel-major) into fc6's input either way."""
    ph_t = _Phases()
    pooler = attrs.enum("pooler", "roi_pool", POOLERS)
    if pooler == "roi_align":
        acfg = align_attrs(attrs, dialect_attr="roi_align_dialect", backward=True)
        PH, PW = acfg.PH, acfg.PW
    else:
        PH, PW, scale = _pool_attrs(attrs)
    ratio = attrs.float("dropout_ratio", 0.5)
    if not 0 <= ratio < 1:
        raise invalid(f"attrs.dropout_ratio must be in [0, 1), got {ratio!r}")
    cfg = _select_attrs(attrs, min_batch=1)
    eps = _eps(attrs)
    s2 = _sigma2(attrs)
    norm = attrs.enum("normalization", "valid", ("valid", "batch_size", "full", "none"))

    feats = inputs.float32("features", 4)
    N, C, H, W = feats.shape
    P = {}
    P["fc6_w"] = inputs.float32("fc6_w", 2)
    H6, F = P["fc6_w"].shape
    if F != C * PH * PW:
        raise invalid(f"input 'fc6_w' has {F} columns; the pooled features have C·PH·PW = "
                      f"{C}·{PH}·{PW} = {C * PH * PW}")
    P["fc6_b"] = inputs.float32("fc6_b", 1)
    check_shape("fc6_b", P["fc6_b"], (H6,))
    P["fc7_w"] = inputs.float32("fc7_w", 2)
    H7 = P["fc7_w"].shape[0]
    check_shape("fc7_w", P["fc7_w"], (H7, H6))
    P["fc7_b"] = inputs.float32("fc7_b", 1)
    check_shape("fc7_b", P["fc7_b"], (H7,))
    P["cls_score_w"] = inputs.float32("cls_score_w", 2)
    K = P["cls_score_w"].shape[0]
    if K == 0:
        raise invalid("input 'cls_score_w' has 0 rows; at least one class is needed")
    check_shape("cls_score_w", P["cls_score_w"], (K, H7))
    P["cls_score_b"] = inputs.float32("cls_score_b", 1)
    check_shape("cls_score_b", P["cls_score_b"], (K,))
    P["bbox_pred_w"] = inputs.float32("bbox_pred_w", 2)
    D = 4 * K
    if P["bbox_pred_w"].shape[0] != D:
        raise invalid(f"input 'bbox_pred_w' has {P['bbox_pred_w'].shape[0]} rows; expected D = 4K = {D}")
    check_shape("bbox_pred_w", P["bbox_pred_w"], (D, H7))
    P["bbox_pred_b"] = inputs.float32("bbox_pred_b", 1)
    check_shape("bbox_pred_b", P["bbox_pred_b"], (D,))

    rois = inputs.float32("rois", 2)
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise invalid(f"input 'rois' must have shape [R,5], got {list(rois.shape)}")
    R = rois.shape[0]
    if pooler == "roi_align":  # finite, batch index in [0, N), the roi_align refusals
        AG = align_geoms(rois, N, acfg)
        check_work(AG, C, acfg)
        check_reads(AG, C, H, W)
    else:
        G = GeomArrays(_geoms(rois, N, scale, PH, PW))  # finite, batch index in [0, N)
    lab = inputs.labels("labels", R, K)
    tgt = inputs.float32("bbox_targets", 2)
    check_shape("bbox_targets", tgt, (R, D))
    w_in = inputs.float32("bbox_inside_weights", 2)
    check_shape("bbox_inside_weights", w_in, (R, D))
    w_out = inputs.float32("bbox_outside_weights", 2)
    check_shape("bbox_outside_weights", w_out, (R, D))
    if ratio > 0:
        dscale = dropout_scale(ratio)
        ro6 = _mask(inputs, "readonly_mask6", (R, H6))
        ro7 = _mask(inputs, "readonly_mask7", (R, H7))
        tr6 = _mask(inputs, "train_mask6", (R, H6))
        tr7 = _mask(inputs, "train_mask7", (R, H7))
    else:
        dscale = ro6 = ro7 = tr6 = tr7 = None

    ph_t("decode+validate")
    P64 = P if GEMM_FLOAT32 else {k: v.astype(F64) for k, v in P.items()}  # see GEMM_FLOAT32
    ph_t("float64 weights")

    def drop(x, m):
        return x if m is None else dropout_kernel(x, m, dscale)

    def head(pool, m6, m7):
        """§3: pool [n, C·PH·PW] -> (a6, h6, a7, h7, score, bbox)."""
        a6 = linear_forward(pool, P64["fc6_w"], P64["fc6_b"])
        h6 = drop(relu_kernel(a6), m6)
        a7 = linear_forward(h6, P64["fc7_w"], P64["fc7_b"])
        h7 = drop(relu_kernel(a7), m7)
        score = linear_forward(h7, P64["cls_score_w"], P64["cls_score_b"])
        bbox = linear_forward(h7, P64["bbox_pred_w"], P64["bbox_pred_b"])
        return a6, h6, a7, h7, score, bbox

    # 1. read-only pass over all R RoIs (no gradient); the head runs in chunks of RoIs
    if pooler == "roi_align":
        pool_ro = roi_align_forward(feats, AG, acfg)[0].reshape(R, F)
    else:
        pool_ro = roi_pool_forward(feats, G, PH, PW)[0].reshape(R, F)
    ph_t(f"read-only {pooler}")
    prob = np.empty((R, K), dtype=F32)
    bbox_ro = np.empty((R, D), dtype=F32)
    for r0 in range(0, R, STEP_CHUNK):
        rows = slice(r0, min(R, r0 + STEP_CHUNK))
        *_, score, bbox = head(pool_ro[rows],
                               None if ro6 is None else ro6[rows], None if ro7 is None else ro7[rows])
        prob[rows] = _softmax_rows(score)
        bbox_ro[rows] = bbox
    ph_t("read-only head")
    # 2. hardness
    roi_loss, cls_loss, bbox_loss = roi_loss_kernel(prob, lab, (bbox_ro, tgt, w_in, w_out), eps)
    if np.any(np.isnan(roi_loss)):
        i = int(np.nonzero(np.isnan(roi_loss))[0][0])
        raise invalid(f"input 'features' or a parameter is not finite: the read-only pass gave RoI {i} "
                      f"a NaN hardness, which cannot be ranked")
    # 3. selection
    hard = select_kernel(cfg, roi_loss, rois, lab, cls_loss, bbox_loss)
    B = hard.shape[0]
    ph_t("hardness+selection")
    if B == 0:
        raise invalid(f"input 'rois': the {cfg['dialect']} selection chose no RoI (B = 0); ohem_step needs B >= 1")
    # 4. train pass over the hard RoIs, masks indexed by RoI
    if pooler == "roi_align":
        AGh = [AG[i] for i in hard.tolist()]
        top, arg_y, arg_x = roi_align_forward(feats, AGh, acfg)
    else:
        Gh = G.take(hard)
        top, argmax = roi_pool_forward(feats, Gh, PH, PW)
    pool = top.reshape(B, F)
    m6 = None if tr6 is None else tr6[hard]
    m7 = None if tr7 is None else tr7[hard]
    a6, h6, a7, h7, score, bbox = head(pool, m6, m7)
    # 5. losses (top gradient 1 on each)
    loss_cls, _, scores_grad = softmax_loss_kernel(score, lab[hard], norm, None)
    loss_bbox, pred_grad = smooth_l1_kernel(bbox, tgt[hard], w_in[hard], w_out[hard], s2)
    ph_t("train forward+losses")
    # 6. backward
    dh7_cls, g_cls_w, g_cls_b = linear_backward_kernel(h7, P64["cls_score_w"], scores_grad)
    dh7_box, g_box_w, g_box_b = linear_backward_kernel(h7, P64["bbox_pred_w"], pred_grad)
    dh7 = (dh7_cls + dh7_box).astype(F32)  # Caffe's Split layer sums its tops' diffs
    da7 = relu_backward_kernel(a7, drop(dh7, m7))
    dh6, g_fc7_w, g_fc7_b = linear_backward_kernel(h6, P64["fc7_w"], da7)
    da6 = relu_backward_kernel(a6, drop(dh6, m6))
    dpool, g_fc6_w, g_fc6_b = linear_backward_kernel(pool, P64["fc6_w"], da6)
    ph_t("head backward")
    if pooler == "roi_align":
        features_grad = roi_align_backward_kernel(AGh, dpool.reshape(B, C, PH, PW), (N, C, H, W), acfg,
                                                  arg_y, arg_x)
    else:
        features_grad = roi_pool_backward_kernel(Gh, argmax, dpool.reshape(B, C, PH, PW), (N, C, H, W),
                                                 PH, PW, "caffe")
    ph_t(f"{pooler} backward")
    ph_t.done()
    return {"roi_loss": roi_loss, "cls_loss": cls_loss, "bbox_loss": bbox_loss,
            "hard_inds": hard.astype(I32), "loss_cls": loss_cls, "loss_bbox": loss_bbox,
            "fc6_w_grad": g_fc6_w, "fc6_b_grad": g_fc6_b, "fc7_w_grad": g_fc7_w, "fc7_b_grad": g_fc7_b,
            "cls_score_w_grad": g_cls_w, "cls_score_b_grad": g_cls_b,
            "bbox_pred_w_grad": g_box_w, "bbox_pred_b_grad": g_box_b,
            "features_grad": features_grad}


# ============================================================ registry

OPS = {
    "roi_pool": roi_pool,
    "roi_pool_backward": roi_pool_backward,
    "linear": linear,
    "linear_backward": linear_backward,
    "relu": relu,
    "relu_backward": relu_backward,
    "dropout": dropout,
    "dropout_backward": dropout_backward,
    "softmax": softmax,
    "softmax_loss": softmax_loss,
    "smooth_l1_loss": smooth_l1_loss,
    "nms": nms,
    "top_k": top_k,
    "sgd_update": sgd_update,
    "ohem_roi_loss": ohem_roi_loss,
    "ohem_select": ohem_select,
    "ohem_step": ohem_step,
    "roi_align": roi_align,
    "roi_align_backward": roi_align_backward,
    "crop_and_resize": crop_and_resize,
}


# ============================================================ attr names (PROTOCOL.md 1.1 amendment 1)

POOL_ATTRS = ("pooled_h", "pooled_w", "spatial_scale")
ALIGN_ATTRS = POOL_ATTRS + ("sampling_ratio", "aligned", "pool_mode", "dialect", "max_init")
# the attrs each ohem_select dialect defines besides `dialect` (docs/mining.md §2)
DIALECT_ATTRS = {
    "caffe-ohem": ("batch_size", "use_nms", "nms_threshold", "box_convention", "suppress", "ties", "precision"),
    "mmdet-ohem": ("num", "pos_fraction", "neg_pos_ub", "ties"),
    "tf-hard-example-miner": ("loss_type", "cls_loss_weight", "loc_loss_weight", "num_hard_examples",
                              "iou_threshold", "max_negatives_per_positive", "min_negatives_per_image", "ties"),
    "ssd-hard-negative": ("neg_pos_ratio", "ties"),
}
ALL_DIALECT_ATTRS = tuple(sorted({n for v in DIALECT_ATTRS.values() for n in v}))
# ohem_step's roi_align-only attrs (pooled_h, pooled_w, spatial_scale are shared with roi_pool)
STEP_ALIGN_ATTRS = ("sampling_ratio", "aligned", "pool_mode", "roi_align_dialect", "max_init")
STEP_ATTRS = POOL_ATTRS + ("dropout_ratio", "eps", "sigma", "normalization", "pooler", "dialect")

OP_ATTRS = {
    "roi_pool": POOL_ATTRS,
    "roi_pool_backward": POOL_ATTRS + ("features_shape", "mode"),
    "linear": (), "linear_backward": (), "relu": (), "relu_backward": (), "softmax": (),
    "dropout": ("ratio",), "dropout_backward": ("ratio",),
    "softmax_loss": ("normalization", "ignore_label"),
    "smooth_l1_loss": ("sigma",),
    "nms": ("threshold", "box_convention", "suppress", "ties", "precision"),
    "top_k": ("k", "ties"),
    "sgd_update": ("lr", "momentum", "weight_decay", "lr_mult", "decay_mult", "iter_size"),
    "ohem_roi_loss": ("eps",),
    "ohem_select": ("dialect",) + ALL_DIALECT_ATTRS,
    "ohem_step": STEP_ATTRS + ALL_DIALECT_ATTRS + STEP_ALIGN_ATTRS,
    "roi_align": ALIGN_ATTRS,
    "roi_align_backward": ALIGN_ATTRS + ("features_shape",),
    "crop_and_resize": ("crop_h", "crop_w", "method", "extrapolation_value", "precision", "maxpool"),
}
assert set(OP_ATTRS) == set(OPS)


def check_attr_names(op: str, raw: dict) -> None:
    """PROTOCOL.md 1.1 amendment 1, checked before the op runs. An attr name the op does not
    define (`backend`, the reference server's own attr, included) is `unsupported` naming
    attrs.<name>. For ohem_select / ohem_step an attr that the op defines but only for another
    dialect (or, for ohem_step, only for pooler roi_align) is `invalid_input` naming attrs.<name>.
    Names are checked whatever their value (null included), in request order, unknown names
    first; an invalid `dialect` / `pooler` value skips its part of the second check (the op then
    reports that attr)."""
    known = OP_ATTRS[op]
    for name in raw:
        if name not in known:
            raise OracleError("unsupported", f"attrs.{name} is not implemented by this oracle for op '{op}'")
    if op not in ("ohem_select", "ohem_step"):
        return
    foreign: dict[str, str] = {}
    d = raw.get("dialect")
    d = "caffe-ohem" if d is None else d
    if isinstance(d, str) and d in DIALECT_ATTRS:
        for n in ALL_DIALECT_ATTRS:
            if n not in DIALECT_ATTRS[d]:
                owners = ", ".join(k for k, v in DIALECT_ATTRS.items() if n in v)
                foreign[n] = f"dialect '{d}' (it belongs to {owners})"
    if op == "ohem_step":
        p = raw.get("pooler")
        if p is None or p == "roi_pool":
            for n in STEP_ALIGN_ATTRS:
                foreign[n] = "pooler 'roi_pool' (it belongs to pooler 'roi_align')"
    for name in raw:
        if name in foreign:
            raise invalid(f"attrs.{name} is not an attr of {foreign[name]}")
