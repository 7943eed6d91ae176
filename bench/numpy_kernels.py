"""Times the head's heavy kernels in numpy on the very inputs the TypeScript gpu bench wrote.

argv: dir reps. dir holds little-endian files: pool.json ({"N","C","H","W","R","PH","PW","scale"}),
features.f32, rois.f32, argmax.i32, top_grad.f32 (RoI pooling), dense.json ({"R","K","M"}), x.f32,
w.f32, b.f32, dy.f32 (dense). Prints one JSON line: best seconds per kernel.

RoI pooling runs the independent numpy oracle's own kernels (properties/oracle/ops.py: vectorised
numpy, float32, Caffe's semantics); the dense layers are float32 numpy GEMMs (OpenBLAS sgemm,
threads as OPENBLAS_NUM_THREADS says), y = x·Wᵀ + b, dx = dy·W, dW = dyᵀ·x, db = Σ dy.
"""
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "properties", "oracle"))
from ops import GeomArrays, _geoms, roi_pool_forward, roi_pool_backward_kernel  # noqa: E402

d, reps = sys.argv[1], int(sys.argv[2])
f32 = lambda name, shape: np.fromfile(os.path.join(d, name), dtype="<f4").reshape(shape)  # noqa: E731


def best(f):
    f()  # warm-up
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


out = {}
p = json.load(open(os.path.join(d, "pool.json")))
feats = f32("features.f32", (p["N"], p["C"], p["H"], p["W"]))
rois = f32("rois.f32", (p["R"], 5))
argmax = np.fromfile(os.path.join(d, "argmax.i32"), dtype="<i4").reshape(p["R"], p["C"], p["PH"], p["PW"])
top_grad = f32("top_grad.f32", (p["R"], p["C"], p["PH"], p["PW"]))
scale = np.float32(p["scale"])
G = GeomArrays(_geoms(rois, p["N"], scale, p["PH"], p["PW"]))
out["roi_pool"] = best(lambda: roi_pool_forward(feats, G, p["PH"], p["PW"]))
shape = (p["N"], p["C"], p["H"], p["W"])
out["roi_pool_backward"] = best(lambda: roi_pool_backward_kernel(G, argmax, top_grad, shape, p["PH"], p["PW"], "caffe"))

q = json.load(open(os.path.join(d, "dense.json")))
R, K, M = q["R"], q["K"], q["M"]
x, w, b, dy = f32("x.f32", (R, K)), f32("w.f32", (M, K)), f32("b.f32", (M,)), f32("dy.f32", (R, M))
out["linear"] = best(lambda: x @ w.T + b)
out["linear_backward"] = best(lambda: (dy @ w, dy.T @ x, dy.sum(axis=0)))
print(json.dumps(out))
