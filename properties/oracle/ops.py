"""The ops of the ohem-ref Python oracle, one function per op, each citing its SPEC.md section.

Written from /work/shared/SPEC.md and /work/shared/PROTOCOL.md only.

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
"""

from __future__ import annotations

import math

import numpy as np

from codec import F32, F64, I32, Attrs, Inputs, check_finite, check_no_nan, check_shape, invalid

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
        raise invalid(f"attr 'spatial_scale' must be > 0, got {scale!r}")
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


def _rois(inputs: Inputs, n_images: int, scale, PH, PW) -> list[RoiGeom]:
    rois = inputs.float32("rois", 2)
    if rois.shape[1] != 5:
        raise invalid(f"input 'rois' must have shape [R,5], got {list(rois.shape)}")
    for r in range(rois.shape[0]):
        if not np.all(np.isfinite(rois[r])):
            raise invalid(f"input 'rois' row {r} holds a non-finite value")
    return [RoiGeom(r, rois[r], n_images, scale, PH, PW) for r in range(rois.shape[0])]


# ============================================================ RoI pooling

def roi_pool(attrs: Attrs, inputs: Inputs) -> dict:
    """Caffe ROIPooling forward, SPEC §5.1 (bit-identical to torchvision's for float32, §5.3)."""
    PH, PW, scale = _pool_attrs(attrs)
    feats = inputs.float32("features", 4)
    N, C, H, W = feats.shape
    geoms = _rois(inputs, N, scale, PH, PW)
    R = len(geoms)
    top = np.zeros((R, C, PH, PW), dtype=F32)
    argmax = np.full((R, C, PH, PW), -1, dtype=I32)
    chan = np.arange(C)
    for r, g in enumerate(geoms):
        for ph in range(PH):
            hstart, hend = g.h_range(ph, H)
            for pw in range(PW):
                wstart, wend = g.w_range(pw, W)
                if hend <= hstart or wend <= wstart:
                    continue  # empty bin: top 0, argmax -1
                win = feats[g.b, :, hstart:hend, wstart:wend].reshape(C, -1)  # row-major: h outer, w inner
                # Scan from -FLT_MAX with strict '>': NaN never wins (treated as -inf), the first
                # maximum wins (np.argmax returns the first occurrence), and a bin whose values are
                # all <= -FLT_MAX keeps -FLT_MAX with argmax -1.
                cand = np.where(np.isnan(win), F32(-np.inf), win)
                i = np.argmax(cand, axis=1)
                best = cand[chan, i]
                won = best > -FLT_MAX
                ww = wend - wstart
                idx = (hstart + i // ww) * W + (wstart + i % ww)  # h*W + w in the channel plane
                top[r, :, ph, pw] = np.where(won, best, -FLT_MAX)
                argmax[r, :, ph, pw] = np.where(won, idx, -1)
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

    scatter: grad[argmax] += top_grad for every bin with argmax != -1, in the order r, ph, pw."""
    PH, PW, scale = _pool_attrs(attrs)
    mode = attrs.enum("mode", "caffe", ("caffe", "scatter"))
    N, C, H, W = attrs.int_list("features_shape", 4)
    geoms = _rois(inputs, N, scale, PH, PW)
    R = len(geoms)
    argmax = inputs.int32("argmax", 4)
    check_shape("argmax", argmax, (R, C, PH, PW))
    top_grad = inputs.float32("top_grad", 4)
    check_shape("top_grad", top_grad, (R, C, PH, PW))
    if np.any((argmax < -1) | (argmax >= H * W)):
        bad = argmax[(argmax < -1) | (argmax >= H * W)][0]
        raise invalid(f"input 'argmax' holds {int(bad)}, outside [-1, {H * W}) for a {H}x{W} map")
    grad = np.zeros((N, C, H, W), dtype=F32)
    if H * W == 0:
        return {"features_grad": grad}
    chan = np.arange(C)
    for r, g in enumerate(geoms):
        for ph in range(PH):
            for pw in range(PW):
                a = argmax[r, :, ph, pw].astype(np.int64)
                ok = a >= 0
                h = np.where(ok, a // W, 0)
                w = np.where(ok, a % W, 0)
                if mode == "caffe":
                    ok &= (g.sw <= w) & (w <= g.ew) & (g.sh <= h) & (h <= g.eh)
                    # the gather's bin range for element (h, w) of this RoI, float32 divisions
                    phs = np.floor((h - g.sh).astype(F32) / g.bin_h).astype(np.int64)
                    phe = np.ceil((h - g.sh + 1).astype(F32) / g.bin_h).astype(np.int64)
                    pws = np.floor((w - g.sw).astype(F32) / g.bin_w).astype(np.int64)
                    pwe = np.ceil((w - g.sw + 1).astype(F32) / g.bin_w).astype(np.int64)
                    phs, phe = np.clip(phs, 0, PH), np.clip(phe, 0, PH)
                    pws, pwe = np.clip(pws, 0, PW), np.clip(pwe, 0, PW)
                    ok &= (phs <= ph) & (ph < phe) & (pws <= pw) & (pw < pwe)
                c = chan[ok]
                # distinct channels -> distinct elements: one float32 add per element
                grad[g.b, c, h[ok], w[ok]] += top_grad[r, c, ph, pw]
    return {"features_grad": grad}


# ============================================================ InnerProduct, ReLU, Dropout

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
    y = x.astype(F64) @ w.astype(F64).T + b.astype(F64)[None, :]
    return {"y": y.astype(F32)}


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
    x64, w64, dy64 = x.astype(F64), w.astype(F64), dy.astype(F64)
    od = inputs.out_dtype("dy")
    return {"dx": (dy64 @ w64).astype(F32).astype(od),
            "dw": (dy64.T @ x64).astype(F32).astype(od),
            "db": dy64.sum(axis=0).astype(F32).astype(od)}


def relu(attrs: Attrs, inputs: Inputs) -> dict:
    """ReLU forward with slope 0, SPEC §8.3: y = x if x > 0 else +0; NaN stays NaN.

    (Read as max(x, 0); the slope term 0·min(x,0) is dropped, so -inf gives 0, not 0·-inf = NaN.)"""
    x = inputs.float32("x")
    y = np.where(x > 0, x, F32(0))
    y = np.where(np.isnan(x), x, y)
    return {"y": y.astype(F32).astype(inputs.out_dtype("x"))}


def relu_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """ReLU backward, SPEC §8.3: dx = dy where x > 0, else 0 (gradient at exactly 0 is 0; NaN x -> 0).
    A selection, not a product: dy·0 is written as +0 even for non-finite dy."""
    x = inputs.float32("x")
    dy = inputs.float32("dy")
    check_shape("dy", dy, x.shape)
    return {"dx": np.where(x > 0, dy, F32(0)).astype(F32).astype(inputs.out_dtype("dy"))}


def _dropout_scale_and_mask(attrs: Attrs, inputs: Inputs, like_arr: np.ndarray):
    ratio = attrs.float("ratio", 0.5)
    if not 0 <= ratio < 1:
        raise invalid(f"attr 'ratio' must be in [0, 1), got {ratio!r}")
    # Caffe DropoutLayer (SPEC §8.2): threshold_ is a float (ratio rounded to float32), and
    # scale_ = 1. / (1. - threshold_) is evaluated in double and stored as float.
    # (Differs in the last bit from fl32(1/(1-ratio)) for e.g. ratio 0.6, 0.8, 0.9; equal for 0.5.)
    scale = F32(1.0 / (1.0 - float(F32(ratio))))
    m = inputs.arr("mask")
    check_shape("mask", m, like_arr.shape)
    if not np.all((m == 0) | (m == 1)):
        raise invalid("input 'mask' must hold only 0 and 1")
    return scale, m.astype(F32)


def dropout(attrs: Attrs, inputs: Inputs) -> dict:
    """Dropout TRAIN forward with an explicit mask, SPEC §8.2: y = fl32(fl32(x·m)·scale), a literal product
    (so x = ±inf or NaN with m = 0 gives NaN, as in Caffe)."""
    x = inputs.float32("x")
    scale, m = _dropout_scale_and_mask(attrs, inputs, x)
    with np.errstate(invalid="ignore"):
        return {"y": ((x * m) * scale).astype(F32).astype(inputs.out_dtype("x"))}


def dropout_backward(attrs: Attrs, inputs: Inputs) -> dict:
    """Dropout backward, SPEC §8.2: dx = fl32(fl32(dy·m)·scale) with the forward's mask."""
    dy = inputs.float32("dy")
    scale, m = _dropout_scale_and_mask(attrs, inputs, dy)
    with np.errstate(invalid="ignore"):
        return {"dx": ((dy * m) * scale).astype(F32).astype(inputs.out_dtype("dy"))}


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
    od = inputs.out_dtype("scores")
    return {"loss": np.array(loss, dtype=F32), "prob": p.astype(od), "scores_grad": grad.astype(od)}


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
    sigma = attrs.float("sigma", 1.0)
    if not sigma > 0:
        raise invalid(f"attr 'sigma' must be > 0, got {sigma!r}")
    s2 = F32(F32(sigma) * F32(sigma))
    if not (np.isfinite(s2) and s2 > 0):
        raise invalid(f"attr 'sigma' squared is not a positive finite float32, got {sigma!r}")
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
    return {"loss": np.array(loss, dtype=F32), "pred_grad": g.astype(inputs.out_dtype("pred"))}


# ============================================================ NMS and top-k

def nms(attrs: Attrs, inputs: Inputs) -> dict:
    """Greedy NMS, SPEC §4 with PROTOCOL.md's notes on nms.

    order: score descending, ties by position (tie_order); with precision float32 the scores are
    rounded to float32 first. plus1: area = (x2-x1+1)(y2-y1+1), iw = max(0, min x2 - max x1 + 1);
    continuous: no +1. precision float32: every +, -, *, / on float32 values (boxes rounded to
    float32); float64: all in double. union = (area_i + area_j) - inter, i the kept box.
    suppress gt: IoU > threshold in the working precision (float32: fl32(threshold));
    ge: IoU promoted to double >= threshold (double). Output: kept positions in selection order."""
    threshold = attrs.float("threshold", 0.7)
    if not 0 <= threshold <= 1:
        raise invalid(f"attr 'threshold' must be in [0, 1], got {threshold!r}")
    conv = attrs.enum("box_convention", "plus1", ("plus1", "continuous"))
    suppress = attrs.enum("suppress", "gt", ("gt", "ge"))
    ties = attrs.enum("ties", "index_desc", ("index_desc", "index_asc"))
    prec = attrs.enum("precision", "float32", ("float32", "float64"))
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
        s = scores.astype(dt)  # float32: scores rounded before ordering (huge float64 -> inf)
    if not np.all(np.isfinite(b)):
        raise invalid("input 'boxes' overflows float32")
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
    return {"keep": np.array(keep, dtype=I32)}


def top_k(attrs: Attrs, inputs: Inputs) -> dict:
    """select_hard_examples, SPEC §2.1, with the tie rule of SPEC §2.2: the first min(k, n) positions
    by value descending, equal values by position descending (index_desc) or ascending (index_asc).
    values keep their dtype: float64 is ranked as float64, float32 as float32."""
    v = inputs.float_keep("values", 1)
    check_no_nan("values", v)
    k = attrs.int("k", minimum=1)
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
    # later: "ohem_roi_loss", "ohem_select", "ohem_step"
}
