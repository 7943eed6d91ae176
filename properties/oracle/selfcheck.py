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
    assert o.err("top_k", {"values": v64}, {"k": 0}) == "invalid_input"

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

    o.close()
    print(f"selfcheck: all {o.n} oracle calls and checks passed", file=sys.stderr)
    return 0


FLT_MIN_F = F32(np.finfo(np.float32).tiny)

if __name__ == "__main__":
    sys.exit(main())
