#!/usr/bin/env python3
"""Self-check of the Python oracle: hand-derived cases from SPEC.md and literal (slow, loop-by-loop)
transcriptions of the Caffe kernels held against the oracle's vectorised ops.

Drives oracle.py through a pipe one request at a time (so it also checks per-line flushing).
Run from the repository root:  python3 properties/oracle/selfcheck.py
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ops import c_round  # noqa: E402

F32 = np.float32
FLT_MAX = F32(np.finfo(np.float32).max)


class Oracle:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "oracle.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.n = 0

    def raw(self, line: str) -> dict:
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())  # blocks unless the oracle flushed

    def call(self, op: str, inputs: dict, attrs: dict | None = None) -> dict:
        self.n += 1
        req = {"id": self.n, "op": op, "attrs": attrs or {}, "inputs": {k: t(v) for k, v in inputs.items()}}
        resp = self.raw(json.dumps(req))
        assert resp["id"] == self.n, resp
        return resp

    def ok(self, op, inputs, attrs=None) -> dict:
        resp = self.call(op, inputs, attrs)
        assert "outputs" in resp, resp
        return {k: dec(v) for k, v in resp["outputs"].items()}

    def err(self, op, inputs, attrs=None) -> str:
        resp = self.call(op, inputs, attrs)
        assert "error" in resp, resp
        return resp["error"]["code"]

    def errm(self, op, inputs, attrs=None) -> tuple[str, str]:
        resp = self.call(op, inputs, attrs)
        assert "error" in resp, resp
        return resp["error"]["code"], resp["error"]["message"]

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=10) == 0


def t(a) -> dict:
    """numpy array -> wire tensor (b64 for floats, exercising the codec's b64 path)."""
    a = np.asarray(a)
    if a.dtype == np.float32:
        return {"dtype": "float32", "shape": list(a.shape), "b64": base64.b64encode(a.astype("<f4").tobytes()).decode()}
    if a.dtype == np.float64:
        return {"dtype": "float64", "shape": list(a.shape), "b64": base64.b64encode(a.astype("<f8").tobytes()).decode()}
    return {"dtype": "int32", "shape": list(a.shape), "data": [int(v) for v in a.ravel()]}


def dec(tt: dict) -> np.ndarray:
    dt = {"float32": "<f4", "float64": "<f8", "int32": "<i4"}[tt["dtype"]]
    return np.frombuffer(base64.b64decode(tt["b64"]), dtype=dt).reshape(tt["shape"])


# ---------------------------------------------------------------- literal kernels (SPEC §5)

def literal_geom(roi, scale, PH, PW):
    s = F32(scale)
    sw, sh, ew, eh = (c_round(F32(F32(roi[j]) * s)) for j in (1, 2, 3, 4))
    rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
    return int(F32(roi[0])), sw, sh, ew, eh, F32(F32(rh) / F32(PH)), F32(F32(rw) / F32(PW))


def literal_roi_pool(feats, rois, PH, PW, scale):
    N, C, H, W = feats.shape
    R = rois.shape[0]
    top = np.zeros((R, C, PH, PW), F32)
    am = np.full((R, C, PH, PW), -1, np.int32)
    for r in range(R):
        b, sw, sh, ew, eh, bh, bw = literal_geom(rois[r], scale, PH, PW)
        for c in range(C):
            for ph in range(PH):
                for pw in range(PW):
                    hs = min(max(math.floor(F32(F32(ph) * bh)) + sh, 0), H)
                    he = min(max(math.ceil(F32(F32(ph + 1) * bh)) + sh, 0), H)
                    ws = min(max(math.floor(F32(F32(pw) * bw)) + sw, 0), W)
                    we = min(max(math.ceil(F32(F32(pw + 1) * bw)) + sw, 0), W)
                    if he <= hs or we <= ws:
                        continue
                    mv, mi = -FLT_MAX, -1
                    for h in range(hs, he):
                        for w in range(ws, we):
                            if feats[b, c, h, w] > mv:
                                mv, mi = feats[b, c, h, w], h * W + w
                    top[r, c, ph, pw], am[r, c, ph, pw] = mv, mi
    return top, am


def literal_backward_caffe(rois, am, tg, shape, PH, PW, scale):
    """SPEC §5.2 pseudo-code, one bottom element at a time, float32 accumulation."""
    N, C, H, W = shape
    out = np.zeros(shape, F32)
    geoms = [literal_geom(rois[r], scale, PH, PW) for r in range(rois.shape[0])]
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    g = F32(0)
                    for r, (b, sw, sh, ew, eh, bh, bw) in enumerate(geoms):
                        if b != n or not (sw <= w <= ew and sh <= h <= eh):
                            continue
                        phs = min(max(math.floor(F32(F32(h - sh) / bh)), 0), PH)
                        phe = min(max(math.ceil(F32(F32(h - sh + 1) / bh)), 0), PH)
                        pws = min(max(math.floor(F32(F32(w - sw) / bw)), 0), PW)
                        pwe = min(max(math.ceil(F32(F32(w - sw + 1) / bw)), 0), PW)
                        for ph in range(phs, phe):
                            for pw in range(pws, pwe):
                                if am[r, c, ph, pw] == h * W + w:
                                    g = F32(g + tg[r, c, ph, pw])
                    out[n, c, h, w] = g
    return out


def literal_backward_scatter(rois, am, tg, shape):
    N, C, H, W = shape
    out = np.zeros(shape, F32)
    for r in range(rois.shape[0]):
        b = int(F32(rois[r, 0]))
        for c in range(C):
            for ph in range(am.shape[2]):
                for pw in range(am.shape[3]):
                    a = am[r, c, ph, pw]
                    if a != -1:
                        out[b, c, a // W, a % W] = F32(out[b, c, a // W, a % W] + tg[r, c, ph, pw])
    return out


def bits_equal(a, b) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def bits_equal_nan(a, b) -> bool:
    """bits_equal, except that any NaN equals any NaN (sign and payload of a NaN are the hardware's
    and the operand order's: x86 makes inf - inf and 0·inf the negative default NaN)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    return bool(np.array_equal(na, nb)) and a[~na].tobytes() == b[~nb].tobytes()


# ---------------------------------------------------------------- checks

def main() -> int:
    o = Oracle()

    # describe, bad lines, unknown op, interleaving
    d = o.raw('{"id": "d", "op": "describe"}')
    assert d["info"]["protocol"] == 1 and "roi_pool" in d["info"]["ops"], d
    assert o.raw("{not json")["error"]["code"] == "bad_request"
    r = o.raw('{"id": 7}')
    assert r == {"id": 7, "error": {"code": "bad_request", "message": r["error"]["message"]}}, r
    assert o.raw('{"id": 8, "op": "nope"}')["error"]["code"] == "unknown_op"

    # --- C round (SPEC §5.1, §12.14)
    for x, want in ((-2.5, -3), (2.5, 3), (0.5, 1), (1.5, 2), (-0.5, -1), (0.49999997, 0), (-1.4, -1)):
        assert c_round(F32(x)) == want, (x, c_round(F32(x)))
    # observable: x1 = -5, x2 = 3 at scale 0.5 -> sw = round(-2.5) = -3, ew = round(1.5) = 2, Wr = 6,
    # PW = 2, bin_w = 3: bin 0 is [-3,0) -> empty. (Banker's/Math.round -2 would give [0,1), non-empty.)
    feats = np.arange(1 * 1 * 4 * 8, dtype=F32).reshape(1, 1, 4, 8)
    rois = np.array([[0, -5, 0, 3, 0]], F32)
    out = o.ok("roi_pool", {"features": feats, "rois": rois}, {"pooled_h": 1, "pooled_w": 2, "spatial_scale": 0.5})
    assert out["argmax"][0, 0, 0, 0] == -1 and out["top"][0, 0, 0, 0] == 0, out
    assert out["argmax"][0, 0, 0, 1] == 2 and out["top"][0, 0, 0, 1] == 2, out  # row 0, cols 0..2 -> max at col 2

    # --- the 57-cell overshoot (SPEC §5.1): Hr = 57, PH = 7 -> last bin rows 48..58 (one past eh = 56)
    H, W = 60, 3
    feats = np.zeros((1, 1, H, W), F32)
    feats[0, 0, 57, 1] = 5.0  # row 57 = eh + 1, outside the RoI
    rois = np.array([[0, 0, 0, 2, 56]], F32)  # scale 1: sh = 0, eh = 56, Hr = 57
    out = o.ok("roi_pool", {"features": feats, "rois": rois}, {"pooled_h": 7, "pooled_w": 1, "spatial_scale": 1.0})
    assert out["top"][0, 0, 6, 0] == 5.0 and out["argmax"][0, 0, 6, 0] == 57 * W + 1, out
    assert out["argmax"][0, 0, 5, 0] == 40 * W + 0, out  # bin 5 rows 40..49, all zero -> first element
    tg = np.ones((1, 1, 7, 1), F32)
    common = {"pooled_h": 7, "pooled_w": 1, "spatial_scale": 1.0, "features_shape": [1, 1, H, W]}
    gc = o.ok("roi_pool_backward", {"rois": rois, "argmax": out["argmax"], "top_grad": tg}, common)["features_grad"]
    gs = o.ok("roi_pool_backward", {"rois": rois, "argmax": out["argmax"], "top_grad": tg},
              {**common, "mode": "scatter"})["features_grad"]
    assert gc[0, 0, 57, 1] == 0 and gs[0, 0, 57, 1] == 1, (gc[0, 0, 57, 1], gs[0, 0, 57, 1])  # caffe drops it
    assert gc.sum() == 6 and gs.sum() == 7

    # first max wins, NaN never selected, all -inf -> -FLT_MAX / -1, -0.0 bits kept
    feats = np.array([[[[np.nan, 3, 3], [-np.inf, -np.inf, -np.inf], [-0.0, 0.0, -1]]]], F32)
    rois = np.array([[0, 0, 0, 2, 0], [0, 0, 1, 2, 1], [0, 0, 2, 1, 2]], F32)
    out = o.ok("roi_pool", {"features": feats, "rois": rois}, {"pooled_h": 1, "pooled_w": 1, "spatial_scale": 1})
    assert out["argmax"].ravel().tolist() == [1, -1, 6], out
    assert out["top"][1, 0, 0, 0] == -FLT_MAX and np.signbit(out["top"][2, 0, 0, 0]), out

    # random cases vs literal kernels, including overshoot sizes and malformed/out-of-map RoIs
    rng = np.random.default_rng(1)
    n_lost = n_overshoot = 0
    for trial in range(12):
        N, C, H, W = 2, 3, int(rng.integers(4, 70)), int(rng.integers(4, 30))
        PH, PW = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        if trial % 3 == 0:
            H, PH = 64, 7  # room for the overshoot row 57 of a 57-row RoI
        scale = [1.0, 0.5, 0.0625, 0.25][trial % 4]
        feats = rng.integers(-3, 4, size=(N, C, H, W)).astype(F32)  # small ints: many ties
        R = 6
        rois = np.zeros((R, 5), F32)
        rois[:, 0] = rng.integers(0, N, R)
        xs = rng.uniform(-10, W + 10, (R, 2)) / scale
        ys = rng.uniform(-10, H + 10, (R, 2)) / scale
        rois[:, 1], rois[:, 3] = xs.min(1), xs.max(1)
        rois[:, 2], rois[:, 4] = ys.min(1), ys.max(1)
        rois[0, 1:] = [0, 0, (W - 1) / scale, 56 / scale]  # Hr = 57 when scale divides
        rois[1, 1:] = [5 / scale, 5 / scale, 1 / scale, 2 / scale]  # malformed: end < start
        feats[int(rois[0, 0]), :, 57:58, :] = 9  # the overshoot row wins the last bin of RoI 0
        attrs = {"pooled_h": PH, "pooled_w": PW, "spatial_scale": scale}
        out = o.ok("roi_pool", {"features": feats, "rois": rois}, attrs)
        lt, la = literal_roi_pool(feats, rois, PH, PW, scale)
        assert bits_equal(out["top"], lt) and bits_equal(out["argmax"], la), trial
        tg = rng.standard_normal((R, C, PH, PW)).astype(F32)
        ba = {**attrs, "features_shape": [N, C, H, W]}
        gc = o.ok("roi_pool_backward", {"rois": rois, "argmax": la, "top_grad": tg}, ba)["features_grad"]
        assert bits_equal(gc, literal_backward_caffe(rois, la, tg, (N, C, H, W), PH, PW, scale)), trial
        gs = o.ok("roi_pool_backward", {"rois": rois, "argmax": la, "top_grad": tg},
                  {**ba, "mode": "scatter"})["features_grad"]
        assert bits_equal(gs, literal_backward_scatter(rois, la, tg, (N, C, H, W))), trial
        n_lost += int(np.sum(gc != gs))
        n_overshoot += int(H == 64 and np.any(la[0, :, 6, :] // W == 57))
    assert n_lost > 0 and n_overshoot >= 4, (n_lost, n_overshoot)  # the drop cases were exercised

    # roi_pool input errors
    f1 = np.zeros((1, 1, 4, 4), F32)
    assert o.err("roi_pool", {"features": f1, "rois": np.array([[1, 0, 0, 1, 1]], F32)}) == "invalid_input"
    assert o.err("roi_pool", {"features": f1, "rois": np.array([[0, 0, 0, 1]], F32)}) == "invalid_input"
    assert o.err("roi_pool", {"features": f1, "rois": np.array([[0, 0, 0, 1, 1]], F32)}, {"pooled_h": 0}) == "invalid_input"
    assert o.err("roi_pool", {"features": f1, "rois": np.array([[0, 0, 0, 1, 1]], F32)}, {"spatial_scale": -1}) == "invalid_input"

    # --- NMS test vector (SPEC §4)
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10]], F32)
    sc = np.array([0.9, 0.8], F32)
    assert o.ok("nms", {"boxes": boxes, "scores": sc})["keep"].tolist() == [0, 1]
    assert o.ok("nms", {"boxes": boxes, "scores": sc}, {"threshold": 0.68})["keep"].tolist() == [0]
    assert F32(F32(81) / F32(119)) == F32(0.6806723)
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 8]], F32)
    assert o.ok("nms", {"boxes": boxes, "scores": sc})["keep"].tolist() == [0]
    # IoU exactly 0.5: (0,0,9,9) vs (0,0,9,4) -> 50/100. gt keeps, ge suppresses.
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 4]], F32)
    assert o.ok("nms", {"boxes": boxes, "scores": sc}, {"threshold": 0.5})["keep"].tolist() == [0, 1]
    assert o.ok("nms", {"boxes": boxes, "scores": sc}, {"threshold": 0.5, "suppress": "ge"})["keep"].tolist() == [0]
    # continuous: (0,0,10,10) vs (0,0,10,5) -> 50/100 = 0.5 exactly
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], F32)
    assert o.ok("nms", {"boxes": boxes, "scores": sc},
                {"threshold": 0.5, "box_convention": "continuous"})["keep"].tolist() == [0, 1]
    assert o.ok("nms", {"boxes": boxes, "scores": sc},
                {"threshold": 0.5, "box_convention": "continuous", "suppress": "ge"})["keep"].tolist() == [0]
    # ties: equal scores, disjoint boxes -> order by position
    boxes = np.array([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21]], F32)
    eq = np.array([1, 1, 1], F32)
    assert o.ok("nms", {"boxes": boxes, "scores": eq})["keep"].tolist() == [2, 1, 0]
    assert o.ok("nms", {"boxes": boxes, "scores": eq}, {"ties": "index_asc"})["keep"].tolist() == [0, 1, 2]
    # float32 score rounding creates a tie that float64 does not see
    s64 = np.array([1.0, 1.0 + 2.0**-30, 0.5], np.float64)
    assert o.ok("nms", {"boxes": boxes, "scores": s64})["keep"].tolist() == [1, 0, 2]
    assert o.ok("nms", {"boxes": boxes, "scores": s64}, {"ties": "index_asc"})["keep"].tolist() == [0, 1, 2]
    assert o.ok("nms", {"boxes": boxes, "scores": s64}, {"ties": "index_asc", "precision": "float64"})["keep"].tolist() == [1, 0, 2]
    assert o.ok("nms", {"boxes": np.zeros((0, 4), F32), "scores": np.zeros(0, F32)})["keep"].shape == (0,)
    assert o.err("nms", {"boxes": boxes, "scores": eq}, {"threshold": 1.5}) == "invalid_input"
    assert o.err("nms", {"boxes": boxes, "scores": eq}, {"suppress": "gte"}) == "invalid_input"

    # --- top_k (SPEC §2.1, §2.2)
    v = np.array([1, 1, 1, 1, 0, 2, 1, 1], np.float64)
    assert o.ok("top_k", {"values": v}, {"k": 4})["indices"].tolist() == [5, 7, 6, 3]
    assert o.ok("top_k", {"values": v}, {"k": 4, "ties": "index_asc"})["indices"].tolist() == [5, 0, 1, 2]
    assert o.ok("top_k", {"values": v}, {"k": 100})["indices"].tolist() == [5, 7, 6, 3, 2, 1, 0, 4]
    v64 = np.array([1.0, 1.0 + 2.0**-40], np.float64)  # float64 must not be rounded to float32
    assert o.ok("top_k", {"values": v64}, {"k": 2})["indices"].tolist() == [1, 0]
    assert o.err("top_k", {"values": v64}, {}) == "invalid_input"
    # PROTOCOL.md 1.1 amendment 3: k = 0 gives an empty int32 [0]; k < 0 is invalid
    r0 = o.ok("top_k", {"values": v64}, {"k": 0})["indices"]
    assert r0.shape == (0,) and r0.dtype == np.int32, r0
    code, msg = o.errm("top_k", {"values": v64}, {"k": -1})
    assert code == "invalid_input" and "attrs.k" in msg, msg

    # --- softmax / softmax_loss (SPEC §7)
    x = np.array([[0, 0], [0, 200], [1, 2]], F32)
    lab = np.array([0, 0, 1], F32)
    out = o.ok("softmax_loss", {"scores": x, "labels": lab})
    p = out["prob"]
    assert p[0].tolist() == [0.5, 0.5] and p[1, 0] == 0 and p[1, 1] == 1
    want = (math.log(2) + -math.log(float(FLT_MIN_F)) - math.log(float(p[2, 1]))) / 3
    assert abs(float(out["loss"]) - want) < 1e-5 * want, (out["loss"], want)
    assert out["loss"].shape == ()
    g = out["scores_grad"]
    assert np.allclose(g[0], [-0.5 / 3, 0.5 / 3]) and np.allclose(g[1], [-1 / 3, 1 / 3])
    out = o.ok("softmax_loss", {"scores": x, "labels": np.array([0, 7, 1], F32)}, {"ignore_label": 7})
    assert np.all(out["scores_grad"][1] == 0)
    assert abs(float(out["loss"]) - (math.log(2) - math.log(float(p[2, 1]))) / 2) < 1e-6
    out = o.ok("softmax_loss", {"scores": x, "labels": np.array([0, 7, 1], F32)},
               {"ignore_label": 7, "normalization": "full"})
    assert abs(float(out["loss"]) - (math.log(2) - math.log(float(p[2, 1]))) / 3) < 1e-6  # full = R, not R*K
    out = o.ok("softmax_loss", {"scores": x, "labels": np.array([0, 7, 1], F32)},
               {"ignore_label": 7, "normalization": "none"})
    assert abs(float(out["loss"]) - (math.log(2) - math.log(float(p[2, 1])))) < 1e-6
    assert o.err("softmax_loss", {"scores": x, "labels": np.array([0, 2, 1], F32)}) == "invalid_input"
    assert o.err("softmax_loss", {"scores": x, "labels": np.array([0, 0.5, 1], F32)}) == "invalid_input"
    assert o.ok("softmax_loss", {"scores": x, "labels": np.array([0, 0, 1], np.int32)})["loss"].dtype == np.float32

    # --- smooth_l1_loss (SPEC §6): d = w_in (pred - target); |d| < 1 -> 0.5 d², else |d| - 0.5
    pred = np.array([[0.5, 3.0, 0.0, 1.0], [2.0, 0.0, 0.0, -2.0]], F32)
    tgt = np.zeros((2, 4), F32)
    win = np.array([[1, 1, 1, 1], [2, 0, 1, 1]], F32)
    wout = np.array([[1, 1, 1, 2], [1, 1, 1, 1]], F32)
    out = o.ok("smooth_l1_loss", {"pred": pred, "target": tgt, "inside_w": win, "outside_w": wout})
    # row0: 0.125 + 2.5 + 0 + 2*(0.5) ; row1: d=4 -> 3.5, 0, 0, 1.5
    assert float(out["loss"]) == (0.125 + 2.5 + 0 + 1.0 + 3.5 + 0 + 0 + 1.5) / 2, out["loss"]
    assert out["pred_grad"].tolist() == [[0.25, 0.5, 0.0, 1.0], [1.0, 0.0, 0.0, -0.5]], out["pred_grad"]
    out = o.ok("smooth_l1_loss", {"pred": pred, "target": tgt, "inside_w": win, "outside_w": wout}, {"sigma": 3})
    # sigma 3: threshold 1/9; 0.5 -> 0.5 - 0.5/9
    assert abs(float(out["loss"]) - ((0.5 - 0.5 / 9) + (3 - 0.5 / 9) + 0 + 2 * (1 - 0.5 / 9)
                                     + (4 - 0.5 / 9) + 0 + 0 + (2 - 0.5 / 9)) / 2) < 1e-5

    # --- linear
    xx = np.array([[1, 2, 3]], F32)
    ww = np.array([[1, 0, 0], [0, 1, 1]], F32)
    bb = np.array([0.5, -1], F32)
    assert o.ok("linear", {"x": xx, "w": ww, "b": bb})["y"].tolist() == [[1.5, 4.0]]
    out = o.ok("linear_backward", {"x": xx, "w": ww, "dy": np.array([[1, 2]], F32)})
    assert out["dx"].tolist() == [[1, 2, 2]] and out["dw"].tolist() == [[1, 2, 3], [2, 4, 6]] and out["db"].tolist() == [1, 2]
    assert o.err("linear", {"x": xx, "w": ww.T.copy(), "b": bb}) == "invalid_input"

    # --- relu, dropout
    xr = np.array([-1, 0, 2.5, -0.0], F32)
    assert o.ok("relu", {"x": xr})["y"].tolist() == [0, 0, 2.5, 0]
    assert o.ok("relu_backward", {"x": xr, "dy": np.array([1, 1, 1, 1], F32)})["dx"].tolist() == [0, 0, 1, 0]
    m = np.array([1, 0, 1, 1], F32)
    assert o.ok("dropout", {"x": xr, "mask": m})["y"].tolist() == [-2, 0, 5, 0]
    assert o.ok("dropout_backward", {"dy": np.ones(4, F32), "mask": m}, {"ratio": 0.8})["dx"].tolist()[0] == float(F32(1.0 / (1.0 - float(F32(0.8)))))
    assert o.err("dropout", {"x": xr, "mask": np.array([1, 0.5, 1, 1], F32)}) == "invalid_input"
    assert o.err("dropout", {"x": xr, "mask": m}, {"ratio": 1}) == "invalid_input"

    # --- sgd_update (SPEC §9)
    th = np.array([1.0, -2.0], F32)
    gr = np.array([0.5, 1.0], F32)
    hi = np.array([0.1, 0.0], F32)
    out = o.ok("sgd_update", {"param": th, "grad": gr, "history": hi},
               {"lr": 0.001, "iter_size": 2, "lr_mult": 2, "decay_mult": 1})
    lr2 = F32(F32(0.001) * F32(2))
    g = (gr * F32(0.5)) + (F32(F32(0.0005) * F32(1)) * th)
    v = (F32(0.9) * hi) + (lr2 * g)
    assert bits_equal(out["history"], v.astype(F32)) and bits_equal(out["param"], (th - v).astype(F32))
    assert o.err("sgd_update", {"param": th, "grad": gr, "history": hi}, {}) == "invalid_input"

    # codec errors
    assert o.raw('{"id":1,"op":"relu","inputs":{"x":{"dtype":"float16","shape":[1],"data":[1]}}}')["error"]["code"] == "invalid_input"
    assert o.raw('{"id":1,"op":"relu","inputs":{"x":{"dtype":"float32","shape":[2],"b64":"AAAAAA=="}}}')["error"]["code"] == "invalid_input"
    assert o.raw('{"id":1,"op":"relu","inputs":{"x":{"dtype":"float32","shape":[-1],"data":[]}}}')["error"]["code"] == "invalid_input"
    r = o.raw('{"id":1,"op":"relu","inputs":{"x":{"dtype":"float32","shape":[],"data":["-Infinity"]}}}')
    assert r["outputs"]["y"]["shape"] == [] and dec(r["outputs"]["y"]).tolist() == 0.0

    check_pool_specials(o)
    check_roi_loss(o)
    check_select(o)
    check_step(o)
    check_protocol_11(o)
    check_roi_align(o)
    check_crop(o)
    check_step_align(o)

    o.close()
    print(f"selfcheck: all {o.n} oracle calls and checks passed", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- RoI pooling: special values

def check_pool_specials(o: Oracle) -> None:
    """NaN, ±inf, -0.0, -FLT_MAX in the windows, an all-NaN map, a window of 40000 cells and R = 0,
    the vectorised roi_pool / roi_pool_backward against the literal kernels, bit for bit."""
    rng = np.random.default_rng(7)
    for trial in range(8):
        N, C, H, W = 2, 4, int(rng.integers(3, 20)), int(rng.integers(3, 20))
        PH, PW = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        feats = rng.integers(-2, 3, size=(N, C, H, W)).astype(F32)
        special = rng.choice(np.array([np.nan, -np.inf, np.inf, -0.0, -FLT_MAX], F32), size=feats.shape)
        pick = rng.random(feats.shape) < 0.35
        feats[pick] = special[pick]
        if trial == 0:
            feats[:] = np.nan  # every bin: -FLT_MAX, argmax -1
        if trial == 1:
            feats[:] = np.where(rng.random(feats.shape) < 0.5, F32(-np.inf), F32(-FLT_MAX))
        R = 8
        rois = np.zeros((R, 5), F32)
        rois[:, 0] = rng.integers(0, N, R)
        xs = np.sort(rng.uniform(-3, W + 3, (R, 2)), axis=1)
        ys = np.sort(rng.uniform(-3, H + 3, (R, 2)), axis=1)
        rois[:, 1], rois[:, 3], rois[:, 2], rois[:, 4] = xs[:, 0], xs[:, 1], ys[:, 0], ys[:, 1]
        attrs = {"pooled_h": PH, "pooled_w": PW, "spatial_scale": 1.0}
        out = o.ok("roi_pool", {"features": feats, "rois": rois}, attrs)
        lt, la = literal_roi_pool(feats, rois, PH, PW, 1.0)
        assert bits_equal(out["top"], lt) and bits_equal(out["argmax"], la), trial
        if trial == 0:
            assert np.all(la == -1) and np.all((lt == -FLT_MAX) | (lt == 0)), trial
        tg = rng.standard_normal((R, C, PH, PW)).astype(F32)
        ba = {**attrs, "features_shape": [N, C, H, W]}
        gc = o.ok("roi_pool_backward", {"rois": rois, "argmax": la, "top_grad": tg}, ba)["features_grad"]
        assert bits_equal(gc, literal_backward_caffe(rois, la, tg, (N, C, H, W), PH, PW, 1.0)), trial
        gs = o.ok("roi_pool_backward", {"rois": rois, "argmax": la, "top_grad": tg},
                  {**ba, "mode": "scatter"})["features_grad"]
        assert bits_equal(gs, literal_backward_scatter(rois, la, tg, (N, C, H, W))), trial
    # one 200 x 200 window (40000 cells: the kernel's wide position type)
    feats = rng.standard_normal((1, 2, 200, 200)).astype(F32)
    feats[0, 0, 150, 170] = 100
    feats[0, 1, 199, 199] = 100
    feats[0, 1, 199, 198] = 100  # tie: the first in row-major order wins
    rois = np.array([[0, 0, 0, 199, 199]], F32)
    out = o.ok("roi_pool", {"features": feats, "rois": rois}, {"pooled_h": 1, "pooled_w": 1, "spatial_scale": 1.0})
    assert out["argmax"].ravel().tolist() == [150 * 200 + 170, 199 * 200 + 198], out["argmax"]
    # no RoIs
    out = o.ok("roi_pool", {"features": feats, "rois": np.zeros((0, 5), F32)}, {"pooled_h": 3, "pooled_w": 2})
    assert out["top"].shape == (0, 2, 3, 2) and out["argmax"].shape == (0, 2, 3, 2)


# ---------------------------------------------------------------- ohem_roi_loss (docs/mining.md §1)

LN_EPS = 36.04365338911715  # -ln(2^-52), SPEC §1.2


def literal_roi_loss(prob, labels, bb, eps=2.0 ** -52):
    """docs/mining.md §1, one RoI and one k at a time."""
    R = prob.shape[0]
    cls, box = np.zeros(R), np.zeros(R)
    for i in range(R):
        y = int(labels[i])
        p = F32(prob[i, y])
        cls[i] = -math.log(eps) if eps > float(p) else -float(F32(math.log(float(p))))
        if bb is not None and y > 0:
            pred, tgt, win, wout = bb
            acc = 0.0
            for k in range(pred.shape[1]):
                if win[i, k] != 0:
                    x = float(F32(win[i, k] * F32(pred[i, k] - tgt[i, k])))
                    s = 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5
                    acc = acc + float(wout[i, k]) * s
            box[i] = acc
    return cls, box


def check_roi_loss(o: Oracle) -> None:
    # the float32 branch at p = 2^-52 is fl32(ln 2^-52) correctly rounded: 36.04365158081055 (the exact
    # value lies 0.474 ulp above it). NumPy 2's SIMD float32 log gives the next float up, 36.04365539550781
    # (the "36.043655..." of SPEC §1.2); the oracle does not use it (see ops.roi_loss_kernel).
    assert -math.log(2.0 ** -52) == LN_EPS and float(F32(LN_EPS)) == 36.04365158081055
    prob = np.array([[0, 1, 0],                 # y 0: p = 0            -> clamp, double
                     [2.0 ** -52, 0.5, 0.5],    # y 0: p = 2^-52 exactly -> float32 branch
                     [0, 1, 0],                 # y 1: p = 1            -> -0.0
                     [0.25, 0.5, 0.25],         # y 1: p = 0.5
                     [2.0 ** -53, 0.5, 0.5],    # y 0: p < eps          -> clamp
                     [1e-45, 0.5, 0.5]], F32)   # y 0: denormal         -> clamp
    labels = np.array([0, 0, 1, 1, 0, 0], F32)
    out = o.ok("ohem_roi_loss", {"cls_prob": prob, "labels": labels})
    cls = out["cls_loss"]
    assert cls.dtype == np.float64 and out["loss"].dtype == np.float64 and cls.shape == (6,)
    assert cls[0] == LN_EPS and cls[4] == LN_EPS and cls[5] == LN_EPS, cls
    assert cls[1] == 36.04365158081055 and cls[1] != LN_EPS, cls[1]  # = -fl32(ln 2^-52)
    assert cls[2] == 0 and np.signbit(cls[2]), cls[2]  # -fl32(ln 1) = -0.0
    assert cls[3] == float(F32(math.log(2))), cls[3]  # 0.6931471824645996, the float32 log
    assert bits_equal(out["loss"], cls) and np.all(out["bbox_loss"] == 0) and not np.any(np.signbit(out["bbox_loss"]))
    # eps attr: p == eps keeps the float32 branch, p < eps is -ln(eps) in double
    out = o.ok("ohem_roi_loss", {"cls_prob": np.array([[0.25, 0.75], [0.2, 0.8]], F32), "labels": np.array([0, 0], F32)},
               {"eps": 0.25})
    assert out["cls_loss"].tolist() == [float(F32(math.log(4))), math.log(4)], out["cls_loss"]
    assert float(F32(math.log(4))) != math.log(4)

    # bbox term, hand case: K = 2, D = 8, sigma 1, strict |x| < 1, no 1/N
    R, D = 5, 8
    pred, tgt = np.zeros((R, D), F32), np.zeros((R, D), F32)
    win, wout = np.zeros((R, D), F32), np.zeros((R, D), F32)
    for i in (0, 1):  # rows 0 (y = 1) and 1 (y = 0) are the same: row 1 gets 0
        pred[i] = [5, 5, 5, 5, 0.5, 3.0, -1.0, 7.0]  # slots 0..3 have w_in 0: skipped
        win[i] = [0, 0, 0, 0, 1, 1, 1, 0]
        wout[i] = [1, 1, 1, 1, 1, 2, 1, 1]
    # 0.5 -> 0.125 ; 3 -> 2.5 (x2) ; |-1| = 1 is not < 1 -> 0.5 ; k = 7 skipped  => 5.625
    pred[2, 4], win[2, 4], wout[2, 4] = 0.25, 2, 3      # x = 0.5 -> 0.125 * 3 = 0.375
    pred[2, 5], tgt[2, 5], win[2, 5] = -1.0, 3.0, -0.5  # x = -0.5*-4 = 2 -> 1.5
    wout[2, 5] = 1
    # float32 arithmetic: fl32(0.1f - 0.3f) is a tie-to-even away from the double difference
    pred[3, 4], tgt[3, 4], win[3, 4], wout[3, 4] = 0.1, 0.3, 1, 0.1
    x = F32(F32(0.1) - F32(0.3))
    assert float(x) != float(F32(0.1)) - float(F32(0.3))
    want3 = float(F32(0.1)) * (0.5 * float(x) * float(x))
    pred[4, 6], win[4, 6], wout[4, 6] = 1 - 2.0 ** -24, 1, 1  # just below 1: 0.5 x^2
    labels = np.array([1, 0, 1, 1, 1], F32)
    prob = np.zeros((R, 2), F32)  # p = 0: cls = LN_EPS for every row
    bb = {"bbox_pred": pred, "bbox_targets": tgt, "bbox_inside_weights": win, "bbox_outside_weights": wout}
    out = o.ok("ohem_roi_loss", {"cls_prob": prob, "labels": labels, **bb})
    want = [5.625, 0.0, 1.875, want3, 0.5 * (1 - 2.0 ** -24) ** 2]
    assert out["bbox_loss"].tolist() == want, (out["bbox_loss"], want)
    # loss += bbox_loss is element-wise: length R, loss_i = cls_i + bbox_i (never a 2R concatenation)
    assert out["loss"].shape == (R,) and out["loss"].tolist() == [LN_EPS + w for w in want], out["loss"]
    assert out["loss"][0] == 41.66865338911715
    # random cases vs the literal transcription
    rng = np.random.default_rng(3)
    R, K = 40, 4
    prob = rng.dirichlet(np.ones(K) * 0.3, R).astype(F32)
    prob[::7, 0] = 0
    prob[::5, 1] = 1
    labels = rng.integers(0, K, R).astype(F32)
    pred, tgt = rng.standard_normal((2, R, 4 * K)).astype(F32) * F32(1.5)
    win = (rng.random((R, 4 * K)) < 0.4).astype(F32) * rng.choice(np.array([1, 2, -0.5], F32), (R, 4 * K))
    wout = rng.choice(np.array([1, 0.5, 3], F32), (R, 4 * K))
    out = o.ok("ohem_roi_loss", {"cls_prob": prob, "labels": labels, "bbox_pred": pred, "bbox_targets": tgt,
                                 "bbox_inside_weights": win, "bbox_outside_weights": wout})
    lc, lb = literal_roi_loss(prob, labels, (pred, tgt, win, wout))
    assert bits_equal(out["cls_loss"], lc) and bits_equal(out["bbox_loss"], lb)
    assert bits_equal(out["loss"], lc + lb) and np.any(lb > 0)
    # errors
    code, msg = o.errm("ohem_roi_loss", {"cls_prob": prob, "labels": labels, "bbox_pred": pred,
                                         "bbox_targets": tgt, "bbox_inside_weights": win})
    assert code == "invalid_input" and "bbox_outside_weights" in msg, msg
    code, msg = o.errm("ohem_roi_loss", {"cls_prob": prob, "labels": np.full(R, K, F32)})
    assert code == "invalid_input" and "labels" in msg, msg
    assert o.err("ohem_roi_loss", {"cls_prob": prob, "labels": labels}, {"eps": 0}) == "invalid_input"
    code, msg = o.errm("ohem_roi_loss", {"cls_prob": prob, "labels": labels, "bbox_pred": pred,
                                         "bbox_targets": tgt[:, :5], "bbox_inside_weights": win,
                                         "bbox_outside_weights": wout})
    assert code == "invalid_input" and "bbox_targets" in msg, msg


# ---------------------------------------------------------------- ohem_select (docs/mining.md §2)

def box_rois(batch, boxes) -> np.ndarray:
    return np.concatenate([np.array(batch, F32)[:, None], np.array(boxes, F32)], axis=1)


def check_select(o: Oracle) -> None:
    A = [0, 0, 9, 9]
    def sel(inputs, attrs=None):
        return o.ok("ohem_select", inputs, attrs)["hard_inds"].tolist()

    # --- caffe-ohem: NMS per (image, label); fg and bg never suppress each other; two images
    rois = box_rois([0, 0, 0, 1, 0], [A, [0, 0, 9, 8], A, A, [1, 1, 10, 10]])
    labels = np.array([1, 1, 0, 0, 1], F32)
    loss = np.array([5, 4, 3, 2, 1], np.float64)
    # keep = img 0: label 0 [2], label 1 [0, 4] (1 has IoU 0.9 with 0; 4 has 81/119 = 0.68); img 1: [3]
    assert sel({"loss": loss, "rois": rois, "labels": labels}) == [0, 2, 3, 4]
    assert sel({"loss": loss, "rois": rois, "labels": labels}, {"batch_size": 3}) == [0, 2, 3]
    assert sel({"loss": loss, "rois": rois, "labels": labels}, {"use_nms": False, "batch_size": 3}) == [0, 1, 2]
    assert sel({"loss": loss, "rois": rois, "labels": labels}, {"nms_threshold": 0.95}) == [0, 1, 2, 3, 4]
    assert sel({"loss": loss, "rois": rois, "labels": labels}, {"nms_threshold": 0.6}) == [0, 2, 3]
    # NMS scores are fl32(loss): 1 + 2^-30 ties 1.0 in float32, the tie rule picks the survivor;
    # the final order is by the float64 loss
    rois2 = box_rois([0, 0, 0], [A, A, [50, 50, 60, 60]])
    l2 = np.array([1 + 2.0 ** -30, 1.0, 1 + 2.0 ** -40], np.float64)
    lab2 = np.array([1, 1, 1], F32)
    assert sel({"loss": l2, "rois": rois2, "labels": lab2}) == [2, 1]  # index_desc: position 1 survives
    assert sel({"loss": l2, "rois": rois2, "labels": lab2}, {"ties": "index_asc"}) == [0, 2]
    # PROTOCOL.md 1.1 amendment 4: precision float64 keeps the NMS scores in float64 too, so
    # 1 + 2^-30 beats 1.0 and RoI 0 survives (float32 scores: tie -> RoI 1 by index_desc)
    assert sel({"loss": l2, "rois": rois2, "labels": lab2}, {"precision": "float64"}) == [0, 2]
    assert sel({"loss": l2, "rois": rois2, "labels": lab2}, {"precision": "float64", "ties": "index_asc"}) == [0, 2]
    # final ties are by position in the keep list, not by RoI index: keep = [1 (label 0), 0 (label 1)]
    rois3 = box_rois([0, 0], [A, [50, 50, 60, 60]])
    l3 = np.array([7, 7], np.float64)
    lab3 = np.array([1, 0], F32)
    assert sel({"loss": l3, "rois": rois3, "labels": lab3}) == [0, 1]
    assert sel({"loss": l3, "rois": rois3, "labels": lab3}, {"ties": "index_asc"}) == [1, 0]
    assert sel({"loss": l3, "rois": rois3, "labels": lab3}, {"use_nms": False}) == [1, 0]  # positions = RoI indices
    # image ids are the float32 values: 0.0 and 0.5 are two groups; -0.0 and 0.0 are one
    l4 = np.array([2, 1], np.float64)
    assert sel({"loss": l4, "rois": box_rois([0, 0.5], [A, A]), "labels": np.array([1, 1], F32)}) == [0, 1]
    assert sel({"loss": l4, "rois": box_rois([-0.0, 0], [A, A]), "labels": np.array([1, 1], F32)}) == [0]
    code, msg = o.errm("ohem_select", {"loss": l4, "rois": box_rois([-1, 0], [A, A]), "labels": np.array([1, 1], F32)})
    assert code == "invalid_input" and "rois" in msg, msg
    assert sel({"loss": np.zeros(0), "rois": np.zeros((0, 5), F32), "labels": np.zeros(0, F32)}) == []
    code, msg = o.errm("ohem_select", {"loss": l4, "rois": box_rois([0, 0], [A, A]), "labels": np.array([1, 1], F32)},
                       {"dialect": "ohem-v2"})
    assert code == "invalid_input" and "dialect" in msg, msg
    assert o.err("ohem_select", {"loss": np.array([np.nan, 1]), "rois": box_rois([0, 0], [A, A]),
                                 "labels": np.array([1, 1], F32)}) == "invalid_input"

    # --- mmdet-ohem: pos/neg pools ranked by cls_loss only; output pos asc then neg asc
    labels = np.array([0, 2, 1, 0, 1, 0, 3, 0, 0, 1], F32)  # P = 1 2 4 6 9, N = 0 3 5 7 8
    cls = np.array([0.5, 0.1, 0.9, 0.7, 0.3, 0.2, 0.9, 0.6, 0.4, 0.9], np.float64)
    rois = box_rois([0] * 10, [A] * 10)
    base = {"loss": cls[::-1].copy(), "rois": rois, "labels": labels, "cls_loss": cls}  # `loss` is not used
    mm = {"dialect": "mmdet-ohem", "num": 8}
    # floor(8 * 0.25) = 2 positives of three tied at 0.9 (RoIs 2, 6, 9): index_desc -> 9, 6
    assert sel(base, mm) == [6, 9, 0, 3, 5, 7, 8]  # 8 - 2 = 6 >= 5 negatives: all
    assert sel(base, {**mm, "ties": "index_asc"}) == [2, 6, 0, 3, 5, 7, 8]
    assert sel(base, {**mm, "neg_pos_ub": 1}) == [6, 9, 3, 7]  # min(6, floor(1 * 2)) = 2
    assert sel(base, {**mm, "neg_pos_ub": 1.5}) == [6, 9, 0, 3, 7]  # floor(1.5 * 2) = 3
    assert sel(base, {**mm, "pos_fraction": 1}) == [1, 2, 4, 6, 9, 0, 3, 7]  # all 5 positives, 3 negatives
    assert sel(base, {**mm, "num": 3, "pos_fraction": 0.5}) == [9, 3, 7]  # floor(1.5) = 1 positive
    allneg = {**base, "labels": np.zeros(10, F32)}
    # no positive: floor(1 * max(1, 0)) = 1 negative, of 2, 6, 9 tied at 0.9
    assert sel(allneg, {**mm, "neg_pos_ub": 1}) == [9]
    assert sel(allneg, {**mm, "neg_pos_ub": 1, "ties": "index_asc"}) == [2]
    code, msg = o.errm("ohem_select", {"loss": cls, "rois": rois, "labels": labels}, mm)
    assert code == "invalid_input" and "cls_loss" in msg, msg
    assert o.err("ohem_select", base, {**mm, "neg_pos_ub": -2}) == "invalid_input"
    assert o.err("ohem_select", base, {**mm, "pos_fraction": 1.5}) == "invalid_input"

    # --- tf-hard-example-miner: per image, NMS (continuous, IoU > 0.7) on the weighted losses,
    #     selection order, ratio step
    rois = box_rois([0, 0, 0, 0, 0, 0, 1, 1, 1],
                    [[0, 0, 4, 4], [0, 0, 4, 2.6], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70],
                     [0.2, 0, 4.2, 4], [0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]])
    # box 1 vs 0: continuous IoU 10.4/16 = 0.65 (kept; with +1 it would be 18/25 = 0.72);
    # box 5 vs 0: 15.2/16.8 = 0.905 (suppressed)
    labels = np.array([0, 1, 0, 0, 2, 0, 0, 0, 0], F32)
    cls = np.array([1.0, 0.5, 0.9, 0.8, 0.1, 0.2, 0.3, 0.3, 0.2], np.float64)
    bbl = np.array([0, 0.5, 0, 0, 0.1, 0, 0, 0.5, 0], np.float64)
    # both: 0.05, 0.055, 0.045, 0.04, 0.011, 0.01 | 0.015, 0.045, 0.01
    tf = {"dialect": "tf-hard-example-miner"}
    base = {"loss": cls, "rois": rois, "labels": labels, "cls_loss": cls, "bbox_loss": bbl}
    assert sel(base, tf) == [1, 0, 2, 3, 4, 7, 6, 8]
    assert sel(base, {**tf, "num_hard_examples": 3}) == [1, 0, 2, 7, 6, 8]
    assert sel(base, {**tf, "num_hard_examples": 0}) == [1, 0, 2, 3, 4, 7, 6, 8]
    assert sel(base, {**tf, "max_negatives_per_positive": 1}) == [1, 0, 2, 4]  # 2 positives -> 2 negatives; image 1: 0
    assert sel(base, {**tf, "max_negatives_per_positive": 1, "min_negatives_per_image": 1}) == [1, 0, 2, 4, 7]
    assert sel(base, {**tf, "max_negatives_per_positive": 0.5}) == [1, 0, 4]
    # loss_type cls: image 1 ties 0.3 / 0.3 -> index_asc by default
    assert sel(base, {**tf, "loss_type": "cls"}) == [0, 2, 3, 1, 4, 6, 7, 8]
    assert sel(base, {**tf, "loss_type": "cls", "ties": "index_desc"}) == [0, 2, 3, 1, 4, 7, 6, 8]
    # loc: 0.5, 0.1, then the zero losses by index (index_asc): 0, 2, 3 (5 suppressed by 0) | 7, 6, 8
    assert sel(base, {**tf, "loss_type": "loc"}) == [1, 4, 0, 2, 3, 7, 6, 8]
    # iou 0.6: 1 suppresses 0 (0.65); 5 vs 1 is 9.88/16.52 = 0.598, and 0 no longer suppresses 5
    assert sel(base, {**tf, "iou_threshold": 0.6}) == [1, 2, 3, 4, 5, 7, 6, 8]
    assert sel({k: v for k, v in base.items() if k != "bbox_loss"}, {**tf, "loss_type": "cls"}) == [0, 2, 3, 1, 4, 6, 7, 8]
    code, msg = o.errm("ohem_select", {k: v for k, v in base.items() if k != "bbox_loss"}, tf)
    assert code == "invalid_input" and "bbox_loss" in msg, msg

    # --- ssd-hard-negative: per image all positives + the floor(r * P) hardest negatives, ascending
    labels = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0], F32)
    cls = np.array([0.4, 0.0, 0.5, 0.4, 0.1, 0.4, 0.2, 0.9, 0.9, 0.9, 0.0, 0.0, 0.7, 0.9], np.float64)
    rois = box_rois([0] * 7 + [1] * 3 + [2] * 4, [A] * 14)
    base = {"loss": cls, "rois": rois, "labels": labels, "cls_loss": cls}
    ssd = {"dialect": "ssd-hard-negative"}
    # image 0: 3 negatives: 2 (0.5) and two of 0, 3, 5 (0.4): index_desc -> 5, 3; image 1: no positive
    assert sel(base, ssd) == [1, 2, 3, 5, 10, 11, 12, 13]
    assert sel(base, {**ssd, "ties": "index_asc"}) == [0, 1, 2, 3, 10, 11, 12, 13]
    assert sel(base, {**ssd, "neg_pos_ratio": 0.5}) == [1, 10, 11, 13]  # floor(0.5) = 0; floor(1) = 1
    assert sel(base, {**ssd, "neg_pos_ratio": 0}) == [1, 10, 11]
    assert o.err("ohem_select", {"loss": cls, "rois": rois, "labels": labels}, ssd) == "invalid_input"


# ---------------------------------------------------------------- ohem_step (docs/mining.md §3-§4)

def tiny_head(seed: int, R: int = 12, N: int = 2, C: int = 2, H: int = 8, W: int = 8, H6: int = 5, H7: int = 4,
              K: int = 3):
    """A tiny head on a 2-image map, spatial_scale 0.5, 2 x 2 pooling."""
    rng = np.random.default_rng(seed)
    D = 4 * K
    x1 = rng.integers(0, 10, R)
    y1 = rng.integers(0, 10, R)
    rois = np.stack([rng.integers(0, N, R), x1, y1, x1 + rng.integers(2, 7, R), y1 + rng.integers(2, 7, R)],
                    1).astype(F32)
    labels = rng.integers(0, K, R).astype(F32)
    tgt = np.zeros((R, D), F32)
    win = np.zeros((R, D), F32)
    for i in range(R):
        c = int(labels[i])
        if c > 0:
            tgt[i, 4 * c:4 * c + 4] = rng.standard_normal(4)
            win[i, 4 * c:4 * c + 4] = 1
    F = C * 2 * 2
    inputs = {"features": rng.standard_normal((N, C, H, W)).astype(F32), "rois": rois, "labels": labels,
              "bbox_targets": tgt, "bbox_inside_weights": win, "bbox_outside_weights": (win > 0).astype(F32)}
    for name, shape in (("fc6_w", (H6, F)), ("fc6_b", (H6,)), ("fc7_w", (H7, H6)), ("fc7_b", (H7,)),
                        ("cls_score_w", (K, H7)), ("cls_score_b", (K,)), ("bbox_pred_w", (D, H7)),
                        ("bbox_pred_b", (D,))):
        inputs[name] = (rng.standard_normal(shape) * 0.7).astype(F32)
    for name, n in (("readonly_mask6", H6), ("readonly_mask7", H7), ("train_mask6", H6), ("train_mask7", H7)):
        inputs[name] = (rng.random((R, n)) < 0.5).astype(F32)
    return inputs


PARAMS = ("fc6_w", "fc6_b", "fc7_w", "fc7_b", "cls_score_w", "cls_score_b", "bbox_pred_w", "bbox_pred_b")
POOL = {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5}


def composed_step(o: Oracle, I: dict, ratio: float, sel_attrs: dict, align: dict | None = None) -> dict:
    """ohem_step spelled out with the single ops, docs/mining.md §3-§4. align: the roi_align op's
    attrs (pooler roi_align: roi_align ... roi_align_backward), None for roi_pool."""
    R = I["rois"].shape[0]
    N, C, H, W = I["features"].shape

    def head(rois, m6, m7):
        if align is None:
            pool = o.ok("roi_pool", {"features": I["features"], "rois": rois}, POOL)
        else:
            pool = o.ok("roi_align", {"features": I["features"], "rois": rois}, align)
        x = pool["top"].reshape(rois.shape[0], -1)
        a6 = o.ok("linear", {"x": x, "w": I["fc6_w"], "b": I["fc6_b"]})["y"]
        h6 = o.ok("relu", {"x": a6})["y"]
        if ratio > 0:
            h6 = o.ok("dropout", {"x": h6, "mask": m6}, {"ratio": ratio})["y"]
        a7 = o.ok("linear", {"x": h6, "w": I["fc7_w"], "b": I["fc7_b"]})["y"]
        h7 = o.ok("relu", {"x": a7})["y"]
        if ratio > 0:
            h7 = o.ok("dropout", {"x": h7, "mask": m7}, {"ratio": ratio})["y"]
        score = o.ok("linear", {"x": h7, "w": I["cls_score_w"], "b": I["cls_score_b"]})["y"]
        bbox = o.ok("linear", {"x": h7, "w": I["bbox_pred_w"], "b": I["bbox_pred_b"]})["y"]
        return pool, x, a6, h6, a7, h7, score, bbox

    bb = {"bbox_targets": I["bbox_targets"], "bbox_inside_weights": I["bbox_inside_weights"],
          "bbox_outside_weights": I["bbox_outside_weights"]}
    *_, score, bbox = head(I["rois"], I.get("readonly_mask6"), I.get("readonly_mask7"))
    prob = o.ok("softmax", {"x": score})["prob"]
    rl = o.ok("ohem_roi_loss", {"cls_prob": prob, "labels": I["labels"], "bbox_pred": bbox, **bb})
    hard = o.ok("ohem_select", {"loss": rl["loss"], "rois": I["rois"], "labels": I["labels"],
                                "cls_loss": rl["cls_loss"], "bbox_loss": rl["bbox_loss"]}, sel_attrs)["hard_inds"]
    m6 = I["train_mask6"][hard] if ratio > 0 else None
    m7 = I["train_mask7"][hard] if ratio > 0 else None
    pool, x, a6, h6, a7, h7, score, bbox = head(I["rois"][hard], m6, m7)
    sl = o.ok("softmax_loss", {"scores": score, "labels": I["labels"][hard]})
    l1 = o.ok("smooth_l1_loss", {"pred": bbox, "target": I["bbox_targets"][hard],
                                 "inside_w": I["bbox_inside_weights"][hard], "outside_w": I["bbox_outside_weights"][hard]})
    gc = o.ok("linear_backward", {"x": h7, "w": I["cls_score_w"], "dy": sl["scores_grad"]})
    gb = o.ok("linear_backward", {"x": h7, "w": I["bbox_pred_w"], "dy": l1["pred_grad"]})
    dh7 = (gc["dx"] + gb["dx"]).astype(F32)
    if ratio > 0:
        dh7 = o.ok("dropout_backward", {"dy": dh7, "mask": m7}, {"ratio": ratio})["dx"]
    da7 = o.ok("relu_backward", {"x": a7, "dy": dh7})["dx"]
    g7 = o.ok("linear_backward", {"x": h6, "w": I["fc7_w"], "dy": da7})
    dh6 = g7["dx"]
    if ratio > 0:
        dh6 = o.ok("dropout_backward", {"dy": dh6, "mask": m6}, {"ratio": ratio})["dx"]
    da6 = o.ok("relu_backward", {"x": a6, "dy": dh6})["dx"]
    g6 = o.ok("linear_backward", {"x": x, "w": I["fc6_w"], "dy": da6})
    if align is None:
        fg = o.ok("roi_pool_backward", {"rois": I["rois"][hard], "argmax": pool["argmax"],
                                        "top_grad": g6["dx"].reshape(pool["top"].shape)},
                  {**POOL, "features_shape": [N, C, H, W]})["features_grad"]
    else:
        bi = {"rois": I["rois"][hard], "top_grad": g6["dx"].reshape(pool["top"].shape)}
        if "argmax_y" in pool:
            bi.update(argmax_y=pool["argmax_y"], argmax_x=pool["argmax_x"])
        fg = o.ok("roi_align_backward", bi, {**align, "features_shape": [N, C, H, W]})["features_grad"]
    return {"roi_loss": rl["loss"], "cls_loss": rl["cls_loss"], "bbox_loss": rl["bbox_loss"], "hard_inds": hard,
            "loss_cls": sl["loss"], "loss_bbox": l1["loss"],
            "fc6_w_grad": g6["dw"], "fc6_b_grad": g6["db"], "fc7_w_grad": g7["dw"], "fc7_b_grad": g7["db"],
            "cls_score_w_grad": gc["dw"], "cls_score_b_grad": gc["db"],
            "bbox_pred_w_grad": gb["dw"], "bbox_pred_b_grad": gb["db"], "features_grad": fg}


def pool64(feats, rois):
    """Float64 RoI max pooling on the literal float32 bin geometry (2 x 2, scale 0.5)."""
    N, C, H, W = feats.shape
    out = np.zeros((rois.shape[0], C, 2, 2))
    for r in range(rois.shape[0]):
        b, sw, sh, ew, eh, bh, bw = literal_geom(rois[r], 0.5, 2, 2)
        for ph in range(2):
            for pw in range(2):
                hs = min(max(math.floor(F32(F32(ph) * bh)) + sh, 0), H)
                he = min(max(math.ceil(F32(F32(ph + 1) * bh)) + sh, 0), H)
                ws = min(max(math.floor(F32(F32(pw) * bw)) + sw, 0), W)
                we = min(max(math.ceil(F32(F32(pw + 1) * bw)) + sw, 0), W)
                if he > hs and we > ws:
                    out[r, :, ph, pw] = feats[b, :, hs:he, ws:we].reshape(C, -1).max(axis=1)
    return out.reshape(rois.shape[0], -1)


def loss64(P: dict, feats, I: dict, hard, pool_fn=None) -> float:
    """loss_cls + loss_bbox of the train pass over the hard RoIs, dropout 0, all in float64."""
    x = (pool_fn or pool64)(feats, I["rois"][hard])
    h6 = np.maximum(x @ P["fc6_w"].T + P["fc6_b"], 0)
    h7 = np.maximum(h6 @ P["fc7_w"].T + P["fc7_b"], 0)
    s = h7 @ P["cls_score_w"].T + P["cls_score_b"]
    bb = h7 @ P["bbox_pred_w"].T + P["bbox_pred_b"]
    m = s.max(axis=1, keepdims=True)
    logp = s - m - np.log(np.exp(s - m).sum(axis=1, keepdims=True))
    y = I["labels"][hard].astype(int)
    B = len(hard)
    lc = -logp[np.arange(B), y].sum() / B
    d = I["bbox_inside_weights"][hard] * (bb - I["bbox_targets"][hard])
    e = np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5) * I["bbox_outside_weights"][hard]
    return lc + e.sum() / B


def check_step(o: Oracle) -> None:
    # 1. with dropout: ohem_step == the single ops composed (bit for bit), for every dialect
    I = tiny_head(11)
    R = I["rois"].shape[0]
    dialects = [{"batch_size": 5}, {"batch_size": 5, "use_nms": False},
                {"dialect": "mmdet-ohem", "num": 6, "pos_fraction": 0.5},
                {"dialect": "tf-hard-example-miner", "num_hard_examples": 3},
                {"dialect": "ssd-hard-negative", "neg_pos_ratio": 1}]
    first = None
    for sa in dialects:
        step = o.ok("ohem_step", I, {**POOL, "dropout_ratio": 0.5, **sa})
        comp = composed_step(o, I, 0.5, sa)
        assert set(step) == set(comp), sorted(set(step) ^ set(comp))
        for k in comp:
            assert bits_equal(step[k], np.asarray(comp[k])), (sa, k, step[k], comp[k])
        assert step["roi_loss"].shape == (R,) and step["loss_cls"].shape == () and step["hard_inds"].dtype == np.int32
        for p in PARAMS:
            assert step[p + "_grad"].shape == I[p].shape and step[p + "_grad"].dtype == np.float32
        if first is None:
            first = step
            assert len(step["hard_inds"]) == 5 and np.all(step["fc6_w_grad"] != 0)
        assert bits_equal(step["roi_loss"], first["roi_loss"])  # the read-only pass does not depend on the dialect
    # the read-only pass uses readonly_mask*, the train pass train_mask* rows hard_inds
    I2 = {**I, "train_mask6": 1 - I["train_mask6"]}
    s2 = o.ok("ohem_step", I2, {**POOL, "dropout_ratio": 0.5, "batch_size": 5})
    assert bits_equal(s2["roi_loss"], first["roi_loss"]) and not bits_equal(s2["fc6_w_grad"], first["fc6_w_grad"])

    # 2. dropout 0 (no masks): gradients against central differences of a float64 transcription
    I = tiny_head(8, R=14)
    for m in ("readonly_mask6", "readonly_mask7", "train_mask6", "train_mask7"):
        del I[m]
    step = o.ok("ohem_step", I, {**POOL, "dropout_ratio": 0, "batch_size": 6})
    comp = composed_step(o, I, 0.0, {"batch_size": 6})
    for k in comp:
        assert bits_equal(step[k], np.asarray(comp[k])), k
    hard = step["hard_inds"]
    labs = I["labels"][hard]
    assert len(hard) == 6 and np.any(labs > 0) and np.any(labs == 0), labs
    P = {p: I[p].astype(np.float64) for p in PARAMS}
    feats = I["features"].astype(np.float64)
    f0 = loss64(P, feats, I, hard)
    assert abs(f0 - (float(step["loss_cls"]) + float(step["loss_bbox"]))) < 1e-5 * max(1, abs(f0))
    h = 1e-6
    for name in PARAMS + ("features",):
        g = step[name + "_grad"].astype(np.float64)
        base = feats if name == "features" else P[name]
        fd = np.zeros(base.shape)
        for idx in np.ndindex(base.shape):
            keep = base[idx]
            base[idx] = keep + h
            fp = loss64(P, feats, I, hard)
            base[idx] = keep - h
            fm = loss64(P, feats, I, hard)
            base[idx] = keep
            fd[idx] = (fp - fm) / (2 * h)
        err = np.abs(g - fd).max() / max(1e-3, np.abs(fd).max())
        assert err < 1e-5, (name, err, g, fd)  # measured: <= 1e-7
        if os.environ.get("SELFCHECK_VERBOSE"):
            print(f"  fd {name}: max |grad - fd| / max |fd| = {err:.2e}", file=sys.stderr)
        assert np.abs(fd).max() > 0, name
    assert np.count_nonzero(step["features_grad"]) > 0

    # 3. validation: each failure is invalid_input naming the input
    I = tiny_head(11)
    at = {**POOL, "dropout_ratio": 0.5, "batch_size": 5}
    bad = [("fc6_w", {"fc6_w": I["fc6_w"][:, :-1]}, at),
           ("fc6_b", {"fc6_b": I["fc6_b"][:-1]}, at),
           ("fc7_w", {"fc7_w": I["fc7_w"][:, :-1]}, at),
           ("cls_score_w", {"cls_score_w": I["cls_score_w"][:, :-1]}, at),
           ("bbox_pred_w", {"bbox_pred_w": I["bbox_pred_w"][:-4]}, at),
           ("bbox_pred_b", {"bbox_pred_b": I["bbox_pred_b"][:-1]}, at),
           ("labels", {"labels": np.full(R, 3, F32)}, at),
           ("labels", {"labels": np.full(R, 0.5, F32)}, at),
           ("rois", {"rois": np.concatenate([np.full((R, 1), 2, F32), I["rois"][:, 1:]], 1)}, at),
           ("rois", {"rois": I["rois"][:, :4].copy()}, at),
           ("bbox_targets", {"bbox_targets": I["bbox_targets"][:, :-1]}, at),
           ("bbox_outside_weights", {"bbox_outside_weights": I["bbox_outside_weights"][:-1]}, at),
           ("readonly_mask6", {"readonly_mask6": I["readonly_mask6"] * 2}, at),
           ("train_mask7", {"train_mask7": I["train_mask7"][:, :-1]}, at),
           ("features", {"features": I["features"][0]}, at),
           ("dropout_ratio", {}, {**at, "dropout_ratio": 1}),
           ("dialect", {}, {**at, "dialect": "nope"}),
           ("rois", {"labels": np.zeros(R, F32)},
            {**POOL, "dropout_ratio": 0.5, "dialect": "ssd-hard-negative"}),  # B = 0
           ("attrs.batch_size", {}, {**at, "batch_size": 0}),  # ohem_step needs B >= 1 (1.1 amendment 3)
           # 1.1 amendment 1: an attr of another dialect / of pooler roi_align is invalid_input
           ("attrs.batch_size", {}, {**at, "dialect": "ssd-hard-negative"}),
           ("attrs.num", {}, {**at, "num": 4}),
           ("attrs.aligned", {}, {**at, "aligned": True}),
           ("attrs.roi_align_dialect", {}, {**at, "pooler": "roi_pool", "roi_align_dialect": "mmcv"})]
    for want, change, attrs in bad:
        code, msg = o.errm("ohem_step", {**I, **change}, attrs)
        assert code == "invalid_input" and want in msg, (want, msg)
    code, msg = o.errm("ohem_step", {k: v for k, v in I.items() if k != "train_mask7"}, at)
    assert code == "invalid_input" and "train_mask7" in msg, msg
    # dropout_ratio 0: the masks are optional (and not read)
    noms = {k: v for k, v in I.items() if "mask" not in k}
    s0 = o.ok("ohem_step", noms, {**at, "dropout_ratio": 0})
    s0b = o.ok("ohem_step", {**noms, "train_mask6": I["train_mask6"] * 0}, {**at, "dropout_ratio": 0})
    assert bits_equal(s0["fc6_w_grad"], s0b["fc6_w_grad"])


FLT_MIN_F = F32(np.finfo(np.float32).tiny)


# ---------------------------------------------------------------- protocol 1.1 (PROTOCOL.md amendments)

def check_protocol_11(o: Oracle) -> None:
    d = o.raw('{"id": "d11", "op": "describe"}')
    assert d["id"] == "d11" and d["info"]["protocol"] == 1 and d["info"]["protocol_minor"] == 1, d
    for op in ("roi_align", "roi_align_backward", "crop_and_resize"):
        assert op in d["info"]["ops"], op
    # amendment 6: bad_request answers about the rest of an object keep its id
    for line, want_id in (('{"id": 5, "op": 3}', 5), ('{"id": "x", "op": "relu", "attrs": [1]}', "x"),
                          ('{"id": 9, "op": "relu", "inputs": 4}', 9), ('{"op": "relu", "attrs": 1}', None),
                          ('[1, 2]', None), ('{"id": 3.5}', 3.5)):
        r = o.raw(line)
        assert r["id"] == want_id and r["error"]["code"] == "bad_request", (line, r)
    # amendment 1: unknown attrs are unsupported naming attrs.<name>; `backend` included
    x = {"x": np.array([1, -1], F32)}
    resp = o.call("relu", x, {"backend": "cpu"})
    assert resp["error"]["code"] == "unsupported" and "attrs.backend" in resp["error"]["message"], resp
    resp = o.call("roi_pool", {"features": np.zeros((1, 1, 2, 2), F32), "rois": np.zeros((1, 5), F32)},
                  {"pooled_h": 1, "sampling_ratio": 2})
    assert resp["error"]["code"] == "unsupported" and "attrs.sampling_ratio" in resp["error"]["message"], resp
    resp = o.call("nms", {"boxes": np.zeros((0, 4), F32), "scores": np.zeros(0, F32)}, {"nms_threshold": 0.5})
    assert resp["error"]["code"] == "unsupported" and "attrs.nms_threshold" in resp["error"]["message"], resp
    # the top-level "encoding" is not an attr: ignored (the oracle always answers b64)
    req = {"id": "enc", "op": "relu", "encoding": "b64", "inputs": {"x": t(np.array([2, -2], F32))}}
    r = o.raw(json.dumps(req))
    assert r["id"] == "enc" and dec(r["outputs"]["y"]).tolist() == [2, 0], r
    # an attr of another dialect is invalid_input naming it
    A = [0, 0, 9, 9]
    base = {"loss": np.array([2, 1], np.float64), "rois": box_rois([0, 0], [A, A]), "labels": np.array([1, 1], F32),
            "cls_loss": np.array([2, 1], np.float64)}
    for attrs, name in (({"num": 4}, "num"), ({"dialect": "mmdet-ohem", "batch_size": 3}, "batch_size"),
                        ({"dialect": "ssd-hard-negative", "precision": "float64"}, "precision"),
                        ({"dialect": "tf-hard-example-miner", "use_nms": True}, "use_nms"),
                        ({"pooler": "roi_align"}, "pooler")):
        resp = o.call("ohem_select", base, attrs)
        code = "unsupported" if name == "pooler" else "invalid_input"  # pooler: not an ohem_select attr
        assert resp["error"]["code"] == code and f"attrs.{name}" in resp["error"]["message"], (attrs, resp)
    # the shared ties attr belongs to every dialect
    assert o.ok("ohem_select", base, {"dialect": "mmdet-ohem", "ties": "index_asc", "num": 2, "pos_fraction": 1})["hard_inds"].tolist() == [0, 1]
    # amendment 3: batch_size 0 -> empty hard_inds, with and without NMS
    for un in (True, False):
        h = o.ok("ohem_select", base, {"batch_size": 0, "use_nms": un})["hard_inds"]
        assert h.shape == (0,) and h.dtype == np.int32, h
    code, msg = o.errm("ohem_select", base, {"batch_size": -1})
    assert code == "invalid_input" and "attrs.batch_size" in msg, msg
    # amendment 2: beyond the domain is still answered (float64 where f32 is asked, fractional batch index)
    f64 = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4) + 0.1
    r64 = o.ok("roi_align", {"features": f64, "rois": np.array([[0.7, 0, 0, 3, 3]])}, {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 1})
    r32 = o.ok("roi_align", {"features": f64.astype(F32), "rois": np.array([[0, 0, 0, 3, 3]], F32)},
               {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 1})
    assert bits_equal(r64["top"], r32["top"]), (r64, r32)


# ---------------------------------------------------------------- RoIAlign (SPEC §13): literal transcriptions

def lit_align_geom(roi, scale, aligned, PH, PW, sr):
    """SPEC §13.2 steps 1-5 for one RoI, scalar float32: (b, xs, ys, rw, rh, bh, bw, gh, gw)."""
    s = F32(scale)
    off = F32(0.5) if aligned else F32(0)
    b = math.trunc(float(roi[0]))
    xs, ys, xe, ye = (F32(F32(F32(roi[j]) * s) - off) for j in (1, 2, 3, 4))
    rw, rh = F32(xe - xs), F32(ye - ys)
    rw0, rh0 = rw, rh
    if not aligned:
        rw, rh = max(rw, F32(1)), max(rh, F32(1))
    bh, bw = F32(rh / F32(PH)), F32(rw / F32(PW))
    gh = sr if sr > 0 else int(math.ceil(bh))
    gw = sr if sr > 0 else int(math.ceil(bw))
    return b, xs, ys, rw0, rh0, bh, bw, gh, gw


def lit_refusal(roi, N, scale, aligned, PH, PW, sr, dialect) -> bool:
    """True when SPEC §13.1 makes the RoI invalid_input."""
    b, xs, ys, rw, rh, bh, bw, gh, gw = lit_align_geom(roi, scale, aligned, PH, PW, sr)
    if not 0 <= b < N:
        return True
    if dialect == "mmcv":
        return aligned and (rw < 0 or rh < 0)
    return gh * gw < 0


def lit_bilinear(H, W, y, x):
    """SPEC §13.2 step 7 at (y, x): (in_range, [(w, row, col)] x 4)."""
    if y < -1 or y > H or x < -1 or x > W:
        return False, [(F32(0), 0, 0)] * 4
    if y <= 0:
        y = F32(0)
    if x <= 0:
        x = F32(0)
    yl, xl = int(y), int(x)
    if yl >= H - 1:
        yl = yh = H - 1
        y = F32(yl)
    else:
        yh = yl + 1
    if xl >= W - 1:
        xl = xh = W - 1
        x = F32(xl)
    else:
        xh = xl + 1
    ly, lx = F32(y - F32(yl)), F32(x - F32(xl))
    hy, hx = F32(F32(1) - ly), F32(F32(1) - lx)
    return True, [(F32(hy * hx), yl, xl), (F32(hy * lx), yl, xh), (F32(ly * hx), yh, xl), (F32(ly * lx), yh, xh)]


def lit_sample(start, bin_, p, i, g):
    """step 6: fl(fl(start + fl(p·bin)) + fl(fl((i + 0.5)·bin) / g))"""
    return F32(F32(start + F32(F32(p) * bin_)) + F32(F32(F32(i + 0.5) * bin_) / F32(g)))


def literal_roi_align(feats, rois, PH, PW, scale, sr, aligned, mode, dialect, max_init=-10000.0):
    """SPEC §13.2, loop by loop: (top, argmax_y, argmax_x)."""
    N, C, H, W = feats.shape
    R = rois.shape[0]
    top = np.zeros((R, C, PH, PW), F32)
    ay = np.full((R, C, PH, PW), -1, F32)
    ax = np.full((R, C, PH, PW), -1, F32)
    with np.errstate(all="ignore"):
        for r in range(R):
            b, xs, ys, _, _, bh, bw, gh, gw = lit_align_geom(rois[r], scale, aligned, PH, PW, sr)
            count = F32(max(gh * gw, 1))
            for c in range(C):
                for ph in range(PH):
                    for pw in range(PW):
                        acc, m, first, ort = F32(0), F32(max_init), True, F32(0)
                        for iy in range(gh):
                            y = lit_sample(ys, bh, ph, iy, gh)
                            for ix in range(gw):
                                x = lit_sample(xs, bw, pw, ix, gw)
                                _, ws = lit_bilinear(H, W, y, x)
                                tt = [F32(w * feats[b, c, yy, xx]) for w, yy, xx in ws]
                                v = F32(F32(F32(tt[0] + tt[1]) + tt[2]) + tt[3])
                                acc = F32(acc + v)
                                if v > m:
                                    m, ay[r, c, ph, pw], ax[r, c, ph, pw] = v, y, x
                                tm = tt[0]
                                for tj in tt[1:]:
                                    tm = tj if tm < tj else tm
                                if first:
                                    ort, first = tm, False
                                else:
                                    ort = tm if ort < tm else ort
                        if mode == "avg":
                            top[r, c, ph, pw] = F32(acc / count)
                        elif dialect == "mmcv":
                            top[r, c, ph, pw] = m
                        else:
                            top[r, c, ph, pw] = ort
    return top, ay, ax


def literal_roi_align_backward(rois, tg, shape, PH, PW, scale, sr, aligned, mode, ay=None, ax=None):
    """SPEC §13.3, loop by loop (avg: every dialect with a backward; max: mmcv)."""
    N, C, H, W = shape
    grad = np.zeros(shape, F32)
    with np.errstate(all="ignore"):
        for r in range(rois.shape[0]):
            b, xs, ys, _, _, bh, bw, gh, gw = lit_align_geom(rois[r], scale, aligned, PH, PW, sr)
            count = F32(gh * gw)
            for c in range(C):
                for ph in range(PH):
                    for pw in range(PW):
                        g = tg[r, c, ph, pw]
                        if mode == "max":
                            if ay[r, c, ph, pw] == -1:
                                continue
                            ok, ws = lit_bilinear(H, W, ay[r, c, ph, pw], ax[r, c, ph, pw])
                            if ok:
                                for w, yy, xx in ws:
                                    grad[b, c, yy, xx] = F32(grad[b, c, yy, xx] + F32(g * w))
                            continue
                        for iy in range(gh):
                            y = lit_sample(ys, bh, ph, iy, gh)
                            for ix in range(gw):
                                x = lit_sample(xs, bw, pw, ix, gw)
                                ok, ws = lit_bilinear(H, W, y, x)
                                if ok:
                                    for w, yy, xx in ws:
                                        grad[b, c, yy, xx] = F32(grad[b, c, yy, xx] + F32(F32(g * w) / count))
    return grad


ALIGN_VARIANTS = (("torchvision", "avg"), ("mmcv", "avg"), ("mmcv", "max"), ("onnxruntime", "avg"),
                  ("onnxruntime", "max"))


def check_roi_align(o: Oracle) -> None:
    def ra(feats, rois, **attrs):
        return o.ok("roi_align", {"features": feats, "rois": rois}, attrs)

    def ramp(H, W):
        return np.arange(H * W, dtype=F32).reshape(1, 1, H, W)

    # --- the worked examples of SPEC §13.7, exact values
    one = {"spatial_scale": 1}
    for d in ("torchvision", "onnxruntime"):  # E1 (TV = C2 = ORT-10)
        out = ra(ramp(8, 6), np.array([[0, 0, 0, 3, 3]], F32), pooled_h=2, pooled_w=2, dialect=d, **one)
        assert out["top"].ravel().tolist() == [5.25, 6.75, 14.25, 15.75] and set(out) == {"top"}, out
    out = ra(ramp(8, 6), np.array([[0, 0, 0, 3, 3]], F32), pooled_h=2, pooled_w=2, aligned=True, **one)
    assert out["top"].ravel().tolist() == [2.1875, 3.625, 10.8125, 12.25], out
    box = np.array([[0, 1, 1, 3, 3]], F32)
    e2l = [7.5, 8, 8.5, 9, 10, 10.5, 11, 11.5, 12.5, 13, 13.5, 14, 15, 15.5, 16, 16.5]
    e2a = [4.5, 5, 5.5, 6, 7, 7.5, 8, 8.5, 9.5, 10, 10.5, 11, 12, 12.5, 13, 13.5]
    for d in ("torchvision", "onnxruntime"):  # E2
        assert ra(ramp(5, 5), box, pooled_h=4, pooled_w=4, dialect=d, **one)["top"].ravel().tolist() == e2l
        assert ra(ramp(5, 5), box, pooled_h=4, pooled_w=4, aligned=True, dialect=d, **one)["top"].ravel().tolist() == e2a
    for al, want in ((True, [5, 6, 9, 10]), (False, [7.5, 8.5, 11.5, 12.5])):  # E3
        assert ra(ramp(4, 4), box, pooled_h=2, pooled_w=2, sampling_ratio=1, aligned=al, **one)["top"].ravel().tolist() == want
    # E4: the three max rules on [[1,2,3],[4,5,6],[7,8,9]], box (0,0,3,3) aligned, 1x1, sr 2
    f9 = (ramp(3, 3) + 1).astype(F32)
    b9 = np.array([[0, 0, 0, 3, 3]], F32)
    e4 = {"pooled_h": 1, "pooled_w": 1, "sampling_ratio": 2, "aligned": True, **one}
    for d in ("torchvision", "mmcv", "onnxruntime"):
        assert ra(f9, b9, dialect=d, **e4)["top"].ravel().tolist() == [5.0]
    mm = ra(f9, b9, dialect="mmcv", pool_mode="max", **e4)
    assert mm["top"].ravel().tolist() == [8] and mm["argmax_y"].ravel().tolist() == [1.75] \
        and mm["argmax_x"].ravel().tolist() == [1.75], mm
    g = o.ok("roi_align_backward", {"rois": b9, "top_grad": np.ones((1, 1, 1, 1), F32), "argmax_y": mm["argmax_y"],
                                    "argmax_x": mm["argmax_x"]},
             {**e4, "dialect": "mmcv", "pool_mode": "max", "features_shape": [1, 1, 3, 3]})["features_grad"]
    assert g.ravel().tolist() == [0, 0, 0, 0, .0625, .1875, 0, .1875, .5625], g
    assert ra(f9, b9, dialect="onnxruntime", pool_mode="max", **e4)["top"].ravel().tolist() == [5.0625]
    fm = np.full((1, 1, 3, 3), -20000, F32)
    mm = ra(fm, b9, dialect="mmcv", pool_mode="max", **e4)
    assert mm["top"].ravel().tolist() == [-10000] and mm["argmax_y"].ravel().tolist() == [-1] \
        and mm["argmax_x"].ravel().tolist() == [-1], mm
    g = o.ok("roi_align_backward", {"rois": b9, "top_grad": np.ones((1, 1, 1, 1), F32), "argmax_y": mm["argmax_y"],
                                    "argmax_x": mm["argmax_x"]},
             {**e4, "dialect": "mmcv", "pool_mode": "max", "features_shape": [1, 1, 3, 3]})["features_grad"]
    assert not np.any(g), g
    assert ra(fm, b9, dialect="mmcv", pool_mode="max", max_init=-3.4028235e38, **e4)["top"].ravel().tolist() == [-20000]
    assert ra(fm, b9, dialect="onnxruntime", pool_mode="max", **e4)["top"].ravel().tolist() == [-1250]
    # E5: the float32 range test (second sample at y = -1.0 exactly in float32)
    f5 = np.array([[[[10, 20, 30], [40, 50, 60], [70, 80, 90]]]], F32)
    r5 = np.array([[0, 0, -34, 20, -2]], F32)
    for d in ("torchvision", "onnxruntime"):
        assert ra(f5, r5, pooled_h=2, pooled_w=1, spatial_scale=0.1, sampling_ratio=1, dialect=d)["top"].ravel().tolist() == [0, 20]
    # E6: the float32 grid, gh = ceil(9.000001) = 10 (float64 would give 9)
    f6 = ((np.arange(70 * 70) % 7) ** 2).astype(F32).reshape(1, 1, 70, 70)
    top6 = ra(f6, np.array([[0, 0, 0, 210, 210]], F32), pooled_h=7, pooled_w=7, spatial_scale=0.3)["top"]
    assert top6[0, 0, 0, :3].tolist() == [float(F32(10.545)), float(F32(12.279996)), float(F32(15.645007))], top6[0, 0, 0, :3]
    # E7: the mmcv sentinel: the winning sample sits at y = -1 exactly, its gradient is dropped
    f7 = np.array([[[[5, 1], [1, 1]]]], F32)
    r7 = np.array([[0, 0, -1.5, 1, -0.5]], F32)
    e7 = {"pooled_h": 1, "pooled_w": 1, "sampling_ratio": 1, **one}
    assert ra(f7, r7, **e7)["top"].ravel().tolist() == [3]
    mm = ra(f7, r7, dialect="mmcv", pool_mode="max", **e7)
    assert mm["top"].ravel().tolist() == [3] and mm["argmax_y"].ravel().tolist() == [-1] \
        and mm["argmax_x"].ravel().tolist() == [0.5], mm
    tg1 = np.ones((1, 1, 1, 1), F32)
    g = o.ok("roi_align_backward", {"rois": r7, "top_grad": tg1, "argmax_y": mm["argmax_y"], "argmax_x": mm["argmax_x"]},
             {**e7, "dialect": "mmcv", "pool_mode": "max", "features_shape": [1, 1, 2, 2]})["features_grad"]
    assert g.ravel().tolist() == [0, 0, 0, 0], g
    for d in ("torchvision", "mmcv"):
        g = o.ok("roi_align_backward", {"rois": r7, "top_grad": tg1},
                 {**e7, "dialect": d, "features_shape": [1, 1, 2, 2]})["features_grad"]
        assert g.ravel().tolist() == [.5, .5, 0, 0], g
    # E8: aligned, x2 < x1
    e8 = {"pooled_h": 1, "pooled_w": 1, "aligned": True, **one}
    f5r = ramp(5, 5)
    for d in ("torchvision", "onnxruntime"):
        assert ra(f5r, np.array([[0, 3, 1, 1, 4]], F32), sampling_ratio=2, dialect=d, **e8)["top"].ravel().tolist() == [11.5]
        assert ra(f5r, np.array([[0, 3, 3, 1, 1]], F32), dialect=d, **e8)["top"].ravel().tolist() == [0]
        code, msg = o.errm("roi_align", {"features": f5r, "rois": np.array([[0, 3, 1, 1, 4]], F32)}, {"dialect": d, **e8})
        assert code == "invalid_input" and "rois" in msg and "row 0" in msg, msg
    for sr in (0, 2):
        code, msg = o.errm("roi_align", {"features": f5r, "rois": np.array([[0, 3, 1, 1, 4]], F32)},
                           {"dialect": "mmcv", "sampling_ratio": sr, **e8})
        assert code == "invalid_input" and "rois" in msg, msg
    # mmcv without aligned clamps the extent: no error, flipped RoI of width 1
    assert ra(f5r, np.array([[0, 3, 1, 1, 4]], F32), dialect="mmcv", pooled_h=1, pooled_w=1, **one)["top"].shape == (1, 1, 1, 1)

    # --- refusals (SPEC §13.1), each invalid_input naming the input or attr
    f = np.zeros((2, 1, 4, 4), F32)
    r = np.array([[0, 0, 0, 2, 2]], F32)
    bad = [("attrs.pool_mode", {}, {"pool_mode": "max"}),
           ("attrs.sampling_ratio", {}, {"dialect": "onnxruntime", "sampling_ratio": -1}),
           ("attrs.dialect", {}, {"dialect": "caffe2"}),
           ("attrs.pooled_h", {}, {"pooled_h": 0}),
           ("attrs.spatial_scale", {}, {"spatial_scale": 0}),
           ("attrs.aligned", {}, {"aligned": 1}),
           ("attrs.max_init", {}, {"max_init": "-Infinity"}),
           ("rois", {"rois": np.array([[2, 0, 0, 2, 2]], F32)}, {}),
           ("rois", {"rois": np.array([[-1, 0, 0, 2, 2]], F32)}, {"dialect": "mmcv"}),
           ("rois", {"rois": np.array([[0, np.nan, 0, 2, 2]], F32)}, {}),
           ("rois", {"rois": np.array([[0, 0, 0, np.inf, 2]], F32)}, {"dialect": "onnxruntime"}),
           ("rois", {"rois": np.array([[0, 0, 0, 2]], F32)}, {}),
           ("rois", {"rois": np.array([[0, 0, 0, 3e38, 2]], F32)}, {"spatial_scale": 8}),
           ("rois", {"rois": np.array([[0, 0, 0, 2, 2]], F32)}, {"sampling_ratio": 100000}),
           ("features", {"features": np.zeros((1, 1, 0, 4), F32)}, {}),
           ("features", {"features": np.zeros((1, 4, 4), F32)}, {})]
    for d in ("torchvision", "mmcv", "onnxruntime"):
        code, msg = o.errm("roi_align", {"features": f, "rois": np.array([[2.5, 0, 0, 2, 2]], F32)}, {"dialect": d})
        assert code == "invalid_input" and "rois" in msg, msg
    for want, change, attrs in bad:
        code, msg = o.errm("roi_align", {"features": f, "rois": r, **change}, attrs)
        assert code == "invalid_input" and want in msg, (want, msg)
    # an empty map is fine when nothing samples it (C = 0, or no RoI)
    assert o.ok("roi_align", {"features": np.zeros((1, 0, 0, 4), F32), "rois": r})["top"].shape == (1, 0, 7, 7)
    assert o.ok("roi_align", {"features": np.zeros((1, 2, 0, 4), F32), "rois": np.zeros((0, 5), F32)})["top"].shape == (0, 2, 7, 7)
    # backward refusals
    bs = {"features_shape": [2, 1, 4, 4], "pooled_h": 1, "pooled_w": 1, "spatial_scale": 1}
    tg = np.ones((1, 1, 1, 1), F32)
    bad = [("attrs.dialect", {}, {**bs, "dialect": "onnxruntime"}),
           ("attrs.features_shape", {}, {"pooled_h": 1, "pooled_w": 1}),
           ("attrs.features_shape", {}, {**bs, "features_shape": [2, 1, 4]}),
           ("argmax_y", {}, {**bs, "dialect": "mmcv", "pool_mode": "max"}),
           ("argmax_x", {"argmax_y": tg, "argmax_x": tg * np.nan}, {**bs, "dialect": "mmcv", "pool_mode": "max"}),
           ("top_grad", {"top_grad": np.ones((1, 1, 2, 1), F32)}, bs),
           ("rois", {"rois": np.array([[5, 0, 0, 2, 2]], F32)}, bs),
           ("rois", {"rois": np.array([[0, 3, 1, 1, 4]], F32)}, {**bs, "aligned": True}),
           ("attrs.pool_mode", {}, {**bs, "pool_mode": "max"})]
    for want, change, attrs in bad:
        code, msg = o.errm("roi_align_backward", {"rois": r, "top_grad": tg, **change}, attrs)
        assert code == "invalid_input" and want in msg, (want, msg)
    # no argmax outputs except for mmcv max; the argmax inputs are not needed for avg
    assert set(ra(f, r, dialect="onnxruntime", pool_mode="max")) == {"top"}
    assert set(ra(f, r, dialect="mmcv")) == {"top"}

    # --- random cases against the literal transcriptions, bit for bit (SPEC §13.9's kinds of RoIs)
    scales = [1.0, 0.5, 0.25, 1 / 16, 1 / 3, 0.1, 2.0, 8.0]
    n_cmp = n_ref = n_oob = 0
    for trial in range(36):
        rng = np.random.default_rng([13, trial])  # one seed per trial: a failure reproduces alone
        N, C = 2, int(rng.integers(1, 3))
        H, W = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        PH, PW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s = scales[trial % len(scales)]
        sr = int(rng.integers(-1, 4))
        aligned = bool(trial % 2)
        if trial % 3 == 0:
            feats = rng.integers(-2, 3, size=(N, C, H, W)).astype(F32)  # ties for the max rules
        else:
            feats = rng.standard_normal((N, C, H, W)).astype(F32)
        if trial % 6 == 5:  # NaN / ±inf / -0.0 propagate as the formulas say
            special = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0], F32), size=feats.shape)
            pick = rng.random(feats.shape) < 0.2
            feats[pick] = special[pick]
        R = int(rng.integers(1, 5))
        fc = rng.uniform(-3, max(H, W) + 3, (R, 4))  # feature-space corners: off-map and sub-cell RoIs
        kind = rng.integers(0, 5, R)
        for i in range(R):
            if kind[i] == 1:  # on the -1 / H edges and on cell borders
                fc[i] = rng.choice(np.array([-1.5, -1, -0.5, 0, 1, H - 1, H, H + 0.5, W, W - 0.5]), 4)
            elif kind[i] == 2:  # sub-cell
                fc[i, 2:] = fc[i, :2] + rng.uniform(0, 0.6, 2)
            elif kind[i] == 3 and trial % 4 != 1:  # ordered corners
                fc[i] = [min(fc[i, 0], fc[i, 2]), min(fc[i, 1], fc[i, 3]), max(fc[i, 0], fc[i, 2]), max(fc[i, 1], fc[i, 3])]
        rois = np.concatenate([rng.integers(0, N, (R, 1)), fc / s], axis=1).astype(F32)
        for d, mode in ALIGN_VARIANTS:
            if d == "onnxruntime" and sr < 0:
                continue
            attrs = {"pooled_h": PH, "pooled_w": PW, "spatial_scale": s, "sampling_ratio": sr, "aligned": aligned,
                     "pool_mode": mode, "dialect": d}
            refuse = any(lit_refusal(rois[i], N, s, aligned, PH, PW, sr, d) for i in range(R))
            resp = o.call("roi_align", {"features": feats, "rois": rois}, attrs)
            if refuse:
                assert resp.get("error", {}).get("code") == "invalid_input", (trial, d, resp)
                n_ref += 1
                continue
            assert "outputs" in resp, (trial, d, mode, resp)
            out = {k: dec(v) for k, v in resp["outputs"].items()}
            lt, lay, lax = literal_roi_align(feats, rois, PH, PW, s, sr, aligned, mode, d)
            assert bits_equal_nan(out["top"], lt), (trial, d, mode, out["top"], lt)
            if d == "mmcv" and mode == "max":
                assert bits_equal(out["argmax_y"], lay) and bits_equal(out["argmax_x"], lax), (trial, d)
            n_cmp += 1
            if d == "onnxruntime":
                continue
            tgr = rng.standard_normal((R, C, PH, PW)).astype(F32)
            if trial % 6 == 5:
                tgr[rng.random(tgr.shape) < 0.1] = np.inf
            bi = {"rois": rois, "top_grad": tgr}
            if mode == "max":
                bi.update(argmax_y=out["argmax_y"], argmax_x=out["argmax_x"])
            gb = o.ok("roi_align_backward", bi, {**attrs, "features_shape": [N, C, H, W]})["features_grad"]
            lg = literal_roi_align_backward(rois, tgr, (N, C, H, W), PH, PW, s, sr, aligned, mode,
                                            out.get("argmax_y"), out.get("argmax_x"))
            assert bits_equal_nan(gb, lg), (trial, d, mode, gb, lg)
        n_oob += int(np.any(fc < -1) or np.any(fc > max(H, W)))
    assert n_cmp >= 100 and n_ref >= 3 and n_oob >= 5, (n_cmp, n_ref, n_oob)
    # a long grid (sr 12: 144 samples per bin, a long float32 accumulation), every variant
    rng = np.random.default_rng(99)
    feats = rng.standard_normal((1, 2, 9, 7)).astype(F32)
    rois = np.array([[0, -1.3, 0.7, 6.6, 9.2], [0, 2.2, 1.1, 2.9, 8.5]], F32)
    for d, mode in ALIGN_VARIANTS:
        attrs = {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 1, "sampling_ratio": 12, "aligned": True,
                 "pool_mode": mode, "dialect": d}
        out = o.ok("roi_align", {"features": feats, "rois": rois}, attrs)
        lt, lay, lax = literal_roi_align(feats, rois, 2, 2, 1, 12, True, mode, d)
        assert bits_equal(out["top"], lt), (d, mode)
        if d == "mmcv" and mode == "max":
            assert bits_equal(out["argmax_y"], lay) and bits_equal(out["argmax_x"], lax)
        if d != "onnxruntime":
            tgr = rng.standard_normal(lt.shape).astype(F32)
            bi = {"rois": rois, "top_grad": tgr, **({"argmax_y": lay, "argmax_x": lax} if mode == "max" else {})}
            gb = o.ok("roi_align_backward", bi, {**attrs, "features_shape": [1, 2, 9, 7]})["features_grad"]
            assert bits_equal(gb, literal_roi_align_backward(rois, tgr, (1, 2, 9, 7), 2, 2, 1, 12, True, mode, lay, lax))
    if os.environ.get("SELFCHECK_VERBOSE"):
        print(f"  roi_align random: {n_cmp} compared bit for bit, {n_ref} refused in both", file=sys.stderr)


# ---------------------------------------------------------------- crop_and_resize (SPEC §13.6)

def _half_up(x) -> int:
    """nearest integer, ties up (Math.round; = roundf for x >= 0), exact for any double."""
    from fractions import Fraction
    return math.floor(Fraction(float(x)) + Fraction(1, 2))


def literal_crop(feats, boxes, ind, ch, cw, method, ev, prec, maxpool=0):
    N, C, H, W = feats.shape
    R = boxes.shape[0]
    out = np.zeros((R, C, ch, cw), F32)

    def coord(a1, a2, n, L, i):
        if prec == "float32":
            if n > 1:
                sc = F32(F32(F32(a2 - a1) * F32(L - 1)) / F32(n - 1))
                return F32(F32(a1 * F32(L - 1)) + F32(F32(i) * sc))
            return F32(0.5 * float(F32(a1 + a2)) * (L - 1))
        a1, a2 = float(a1), float(a2)
        if n > 1:
            return a1 * (L - 1) + i * ((a2 - a1) * (L - 1) / (n - 1))
        return 0.5 * (a1 + a2) * (L - 1)

    with np.errstate(all="ignore"):
        for r in range(R):
            y1, x1, y2, x2 = (F32(v) for v in boxes[r])
            b = int(ind[r])
            for i in range(ch):
                yc = coord(y1, y2, ch, H, i)
                for j in range(cw):
                    xc = coord(x1, x2, cw, W, j)
                    for c in range(C):
                        if yc < 0 or yc > H - 1 or xc < 0 or xc > W - 1:
                            out[r, c, i, j] = F32(ev)
                        elif method == "nearest":
                            out[r, c, i, j] = feats[b, c, _half_up(yc), _half_up(xc)]
                        else:
                            ty, by, lx_, rx = math.floor(yc), math.ceil(yc), math.floor(xc), math.ceil(xc)
                            tl, tr = feats[b, c, ty, lx_], feats[b, c, ty, rx]
                            bl, br = feats[b, c, by, lx_], feats[b, c, by, rx]
                            if prec == "float32":
                                ly, lx = F32(yc - F32(ty)), F32(xc - F32(lx_))
                                tt = F32(tl + F32(F32(tr - tl) * lx))
                                u = F32(bl + F32(F32(br - bl) * lx))
                                out[r, c, i, j] = F32(tt + F32(F32(u - tt) * ly))
                            else:
                                ly, lx = yc - ty, xc - lx_
                                tl, tr, bl, br = float(tl), float(tr), float(bl), float(br)
                                tt = tl + (tr - tl) * lx
                                u = bl + (br - bl) * lx
                                out[r, c, i, j] = F32(tt + (u - tt) * ly)
    if maxpool == 2:
        pooled = np.zeros((R, C, ch // 2, cw // 2), F32)
        for idx in np.ndindex(pooled.shape):
            r, c, i, j = idx
            m = F32(-np.inf)
            for di in (0, 1):
                for dj in (0, 1):
                    v = out[r, c, 2 * i + di, 2 * j + dj]
                    if v > m:
                        m = v
            pooled[idx] = m
        return pooled
    return out


def check_crop(o: Oracle) -> None:
    def cr(feats, boxes, ind, **attrs):
        return o.ok("crop_and_resize", {"features": feats, "boxes": boxes, "box_ind": ind}, attrs)["crops"]

    ramp = np.arange(20, dtype=F32).reshape(1, 1, 4, 5)  # v = 5y + x
    i0 = np.array([0], np.int32)
    # bilinear basics: the whole map at its own size reproduces it; corner-aligned (crop-1) spacing
    for prec in ("float32", "float64"):
        assert bits_equal(cr(ramp, np.array([[0, 0, 1, 1]], F32), i0, crop_h=4, crop_w=5, precision=prec)[0], ramp[0])
        # 3 x 3 crop of the map: rows 0, 1.5, 3; cols 0, 2, 4 -> 5y + x
        c3 = cr(ramp, np.array([[0, 0, 1, 1]], F32), i0, crop_h=3, crop_w=3, precision=prec)
        assert c3.ravel().tolist() == [0, 2, 4, 7.5, 9.5, 11.5, 15, 17, 19], c3
        # flipped box flips the crop
        cf = cr(ramp, np.array([[1, 1, 0, 0]], F32), i0, crop_h=3, crop_w=3, precision=prec)
        assert cf.ravel().tolist() == [19, 17, 15, 11.5, 9.5, 7.5, 4, 2, 0], cf
        # crop size 1: the centre 0.5 (y1 + y2) (H - 1)
        c1 = cr(ramp, np.array([[0, 0, 1, 1]], F32), i0, crop_h=1, crop_w=1, precision=prec)
        assert c1.ravel().tolist() == [1.5 * 5 + 2], c1
        # off the map: extrapolation_value per row / column, never clamped
        ce = cr(ramp, np.array([[-1, 0, 1, 2]], F32), i0, crop_h=3, crop_w=3, extrapolation_value=-7, precision=prec)
        assert ce.ravel().tolist() == [-7, -7, -7, 0, 4, -7, 15, 19, -7], ce
        # nearest: 0.5 rounds up; rows 0, 1.5 -> 2, 3; cols 0, 2, 4
        cn = cr(ramp, np.array([[0, 0, 1, 1]], F32), i0, crop_h=3, crop_w=3, method="nearest", precision=prec)
        assert cn.ravel().tolist() == [0, 2, 4, 10, 12, 14, 15, 17, 19], cn
        # maxpool 2: 4 x 5 crop of the ramp -> 2 x 2 maxima of the 2x2 windows (last column dropped)
        cm = cr(ramp, np.array([[0, 0, 1, 1]], F32), i0, crop_h=4, crop_w=5, maxpool=2, precision=prec)
        assert cm.shape == (1, 1, 2, 2) and cm.ravel().tolist() == [6, 8, 16, 18], cm
    # the two precisions differ where float32 coordinates round (SPEC §13.9: tfjs vs TF C++)
    rng = np.random.default_rng(5)
    f = rng.standard_normal((2, 3, 7, 9)).astype(F32)
    boxes = rng.uniform(-0.2, 1.2, (6, 4)).astype(F32)
    boxes[0] = [0.1, 0.2, 0.1, 0.2]  # zero extent
    boxes[1] = [0.3, 0.9, 0.3 + 1e-4, 0.2]
    ind = np.array([0, 1, 1, 0, 1, 0], np.int32)
    n_diff = 0
    for trial in range(8):
        ch, cw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        for prec in ("float32", "float64"):
            for method in ("bilinear", "nearest"):
                for mp in (0, 2):
                    got = cr(f, boxes, ind, crop_h=ch, crop_w=cw, method=method, precision=prec, maxpool=mp,
                             extrapolation_value=0.25)
                    want = literal_crop(f, boxes, ind, ch, cw, method, 0.25, prec, mp)
                    assert bits_equal(got, want), (trial, prec, method, mp, got, want)
        a = cr(f, boxes, ind, crop_h=ch, crop_w=cw, precision="float32")
        b = cr(f, boxes, ind, crop_h=ch, crop_w=cw, precision="float64")
        n_diff += int(not bits_equal(a, b))
    assert n_diff > 0, n_diff
    # NaN / inf values, float box_ind, an empty map
    g = f.copy()
    g[0, 0, 3, 4] = np.nan
    g[1, 1, 2, 2] = np.inf
    for prec in ("float32", "float64"):
        for mp in (0, 2):
            got = cr(g, boxes, ind.astype(F32), crop_h=5, crop_w=4, precision=prec, maxpool=mp)
            assert bits_equal_nan(got, literal_crop(g, boxes, ind, 5, 4, "bilinear", 0.0, prec, mp)), (prec, mp)
    e = cr(np.zeros((1, 2, 0, 3), F32), np.array([[0, 0, 1, 1]], F32), i0, crop_h=2, crop_w=2, extrapolation_value=3)
    assert e.shape == (1, 2, 2, 2) and np.all(e == 3), e
    # refusals
    bad = [("box_ind", {"box_ind": np.array([1], np.int32)}, {}),
           ("box_ind", {"box_ind": np.array([-1], np.int32)}, {}),
           ("box_ind", {"box_ind": np.array([0, 0], np.int32)}, {}),
           ("boxes", {"boxes": np.array([[0, np.nan, 1, 1]], F32)}, {}),
           ("boxes", {"boxes": np.array([[0, 0, np.inf, 1]], F32)}, {}),
           ("boxes", {"boxes": np.array([[0, 0, 1]], F32)}, {}),
           ("attrs.maxpool", {}, {"maxpool": 3}),
           ("attrs.crop_h", {}, {"crop_h": 0}),
           ("attrs.method", {}, {"method": "bicubic"}),
           ("attrs.precision", {}, {"precision": "float16"}),
           ("attrs.extrapolation_value", {}, {"extrapolation_value": "NaN"})]
    for want, change, attrs in bad:
        code, msg = o.errm("crop_and_resize", {"features": ramp, "boxes": np.array([[0, 0, 1, 1]], F32),
                                               "box_ind": i0, **change}, attrs)
        assert code == "invalid_input" and want in msg, (want, msg)

    # SPEC §13.6 mappings (to within 3e-6, samples inside [0, H-1]):
    # RoIAlign(aligned, sr 1, P) on feature RoI [Y1, Y2] = crop_and_resize(P) on
    # y1n = (Y1 - 0.5 + d/2)/(H-1), y2n = (Y2 - 0.5 - d/2)/(H-1), d = (Y2 - Y1)/P (x alike);
    # crop 14 + maxpool 2 = mmcv max RoIAlign(aligned, sr 2, 7 x 7) with K = 14.
    H = W = 16
    f = rng.random((1, 2, H, W)).astype(F32)
    for P, sr, mode, K, mp in ((5, 1, "avg", 5, 0), (7, 2, "max", 14, 2)):
        for _ in range(6):
            Y1, X1 = rng.uniform(1.5, 5, 2)
            Y2, X2 = Y1 + rng.uniform(3, 9), X1 + rng.uniform(3, 9)
            dy, dx = (Y2 - Y1) / K, (X2 - X1) / K
            nb = np.array([[(Y1 - 0.5 + dy / 2) / (H - 1), (X1 - 0.5 + dx / 2) / (W - 1),
                            (Y2 - 0.5 - dy / 2) / (H - 1), (X2 - 0.5 - dx / 2) / (W - 1)]], F32)
            c = cr(f, nb, i0, crop_h=K, crop_w=K, maxpool=mp)
            a = o.ok("roi_align", {"features": f, "rois": np.array([[0, X1, Y1, X2, Y2]], F32)},
                     {"pooled_h": P, "pooled_w": P, "spatial_scale": 1, "aligned": True, "sampling_ratio": sr,
                      "dialect": "mmcv" if mode == "max" else "torchvision", "pool_mode": mode})["top"]
            assert c.shape == a.shape and np.abs(c - a).max() <= 3e-6, (P, np.abs(c - a).max())


# ---------------------------------------------------------------- ohem_step with pooler roi_align

def align_pool64(cfg: dict):
    """A float64 RoIAlign of the float32 sample geometry and weights (literal transcription):
    avg = Σ samples / count, mmcv max = the first strict maximum from max_init, in float64."""
    PH, PW, s, sr, al = cfg["pooled_h"], cfg["pooled_w"], cfg["spatial_scale"], cfg["sampling_ratio"], cfg["aligned"]
    mode = cfg.get("pool_mode", "avg")
    max_init = cfg.get("max_init", -10000.0)

    def pool(feats, rois):
        N, C, H, W = feats.shape
        out = np.zeros((rois.shape[0], C, PH, PW))
        for r in range(rois.shape[0]):
            b, xs, ys, _, _, bh, bw, gh, gw = lit_align_geom(rois[r], s, al, PH, PW, sr)
            for ph in range(PH):
                for pw in range(PW):
                    vals = []
                    for iy in range(gh):
                        y = lit_sample(ys, bh, ph, iy, gh)
                        for ix in range(gw):
                            x = lit_sample(xs, bw, pw, ix, gw)
                            _, ws = lit_bilinear(H, W, y, x)
                            vals.append(sum(float(w) * feats[b, :, yy, xx] for w, yy, xx in ws))
                    if mode == "avg":
                        out[r, :, ph, pw] = sum(vals) / max(gh * gw, 1) if vals else 0
                    else:
                        m = np.full(C, max_init)
                        for v in vals:
                            m = np.where(v > m, v, m)
                        out[r, :, ph, pw] = m
        return out.reshape(rois.shape[0], -1)
    return pool


def check_step_align(o: Oracle) -> None:
    ALIGN = [{"pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5, "sampling_ratio": 0, "aligned": False},
             {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5, "sampling_ratio": 2, "aligned": True},
             {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5, "sampling_ratio": 0, "aligned": True,
              "pool_mode": "max", "dialect": "mmcv"},
             {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5, "sampling_ratio": 1, "aligned": True, "dialect": "mmcv",
              "pool_mode": "max", "max_init": -3.4028235e38}]

    def step_attrs(al: dict) -> dict:
        sa = {k: v for k, v in al.items() if k != "dialect"}
        if "dialect" in al:
            sa["roi_align_dialect"] = al["dialect"]
        return {**sa, "pooler": "roi_align"}

    # 1. ohem_step(pooler roi_align) == roi_align -> linear -> ... -> roi_align_backward, bit for bit
    I = tiny_head(11)
    for al in ALIGN:
        for sa in ({"batch_size": 5}, {"dialect": "ssd-hard-negative", "neg_pos_ratio": 1}):
            step = o.ok("ohem_step", I, {"dropout_ratio": 0.5, **step_attrs(al), **sa})
            comp = composed_step(o, I, 0.5, sa, align=al)
            assert set(step) == set(comp), sorted(set(step) ^ set(comp))
            for k in comp:
                assert bits_equal(step[k], np.asarray(comp[k])), (al, sa, k)
            assert np.count_nonzero(step["features_grad"]) > 0
    # roi_pool is still the default and differs
    base = o.ok("ohem_step", I, {**POOL, "dropout_ratio": 0.5, "batch_size": 5})
    assert not bits_equal(base["roi_loss"], step["roi_loss"])

    # 2. gradients against float64 central differences (dropout 0), RoIs with no sample on a cell border
    I = tiny_head(8, R=14)
    for m in ("readonly_mask6", "readonly_mask7", "train_mask6", "train_mask7"):
        del I[m]
    rng = np.random.default_rng(21)
    I["rois"][:, 1:] += rng.uniform(0.05, 0.45, (14, 4)).astype(F32)  # off the integer grid
    for al in (ALIGN[0], ALIGN[2]):
        step = o.ok("ohem_step", I, {"dropout_ratio": 0, "batch_size": 6, **step_attrs(al)})
        comp = composed_step(o, I, 0.0, {"batch_size": 6}, align=al)
        for k in comp:
            assert bits_equal(step[k], np.asarray(comp[k])), k
        hard = step["hard_inds"]
        pool_fn = align_pool64(al)
        P = {p: I[p].astype(np.float64) for p in PARAMS}
        feats = I["features"].astype(np.float64)
        f0 = loss64(P, feats, I, hard, pool_fn)
        assert abs(f0 - (float(step["loss_cls"]) + float(step["loss_bbox"]))) < 1e-5 * max(1, abs(f0)), f0
        h = 1e-6
        for name in PARAMS + ("features",):
            g = step[name + "_grad"].astype(np.float64)
            arr = feats if name == "features" else P[name]
            fd = np.zeros(arr.shape)
            for idx in np.ndindex(arr.shape):
                keep = arr[idx]
                arr[idx] = keep + h
                fp = loss64(P, feats, I, hard, pool_fn)
                arr[idx] = keep - h
                fm = loss64(P, feats, I, hard, pool_fn)
                arr[idx] = keep
                fd[idx] = (fp - fm) / (2 * h)
            err = np.abs(g - fd).max() / max(1e-3, np.abs(fd).max())
            assert err < 1e-5, (al, name, err)
            if os.environ.get("SELFCHECK_VERBOSE"):
                print(f"  fd roi_align {al.get('dialect', 'torchvision')} {al.get('pool_mode', 'avg')} {name}: "
                      f"{err:.2e}", file=sys.stderr)
            assert np.abs(fd).max() > 0, name

    # 3. validation
    I = tiny_head(11)
    at = {"dropout_ratio": 0.5, "batch_size": 5, "pooled_h": 2, "pooled_w": 2, "spatial_scale": 0.5}
    bad = [("attrs.roi_align_dialect", {**at, "pooler": "roi_align", "roi_align_dialect": "onnxruntime"}),
           ("attrs.roi_align_dialect", {**at, "pooler": "roi_align", "roi_align_dialect": "caffe2"}),
           ("attrs.pool_mode", {**at, "pooler": "roi_align", "pool_mode": "max"}),
           ("attrs.pooler", {**at, "pooler": "roi_warp"}),
           ("attrs.max_init", {**at, "max_init": -1}),
           ("attrs.sampling_ratio", {**at, "pooler": "roi_pool", "sampling_ratio": 2})]
    for want, attrs in bad:
        code, msg = o.errm("ohem_step", I, attrs)
        assert code == "invalid_input" and want in msg, (want, msg)
    resp = o.call("ohem_step", I, {**at, "pooler": "roi_align", "dialect_of_roi_align": "mmcv"})
    assert resp["error"]["code"] == "unsupported", resp
    code, msg = o.errm("ohem_step", {**I, "rois": np.concatenate([I["rois"][:, :1], I["rois"][:, 3:], I["rois"][:, 1:3]], 1)},
                       {**at, "pooler": "roi_align", "aligned": True, "roi_align_dialect": "mmcv"})
    assert code == "invalid_input" and "rois" in msg, msg

if __name__ == "__main__":
    sys.exit(main())
