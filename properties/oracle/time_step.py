#!/usr/bin/env python3
"""Time the oracle's ohem_step on the VGG16 head (the numpy reference point of a benchmark).

    python3 properties/oracle/time_step.py [--rois 2000] [--batch 128] [--pipe]

Random but realistic inputs: one image, a 512 x 38 x 50 conv5_3 map (a 600 x 800 image at 1/16),
R proposals of 16..800 px, 25 % foreground with bbox targets in their class slots, VGG16's
fc6 25088 -> 4096, fc7 4096 -> 4096, cls_score 21, bbox_pred 84, dropout 0.5 with random masks,
caffe-ohem with NMS, batch_size B. Default: calls ops.ohem_step in-process (the oracle's compute
time); --pipe also sends the same request through oracle.py (adds JSON/base64 transfer)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from codec import Attrs, Inputs  # noqa: E402
from ops import ohem_step  # noqa: E402

F32 = np.float32


def wire(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    dt = {np.dtype(F32): ("float32", "<f4"), np.dtype(np.int32): ("int32", "<i4")}[a.dtype]
    return {"dtype": dt[0], "shape": list(a.shape), "b64": base64.b64encode(a.astype(dt[1]).tobytes()).decode()}


def vgg16_request(R: int, B: int, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    C, H, W, K = 512, 38, 50, 21
    D, F, H6, H7 = 4 * K, C * 7 * 7, 4096, 4096
    x1 = rng.uniform(0, 16 * W - 17, R)
    y1 = rng.uniform(0, 16 * H - 17, R)
    x2 = np.minimum(x1 + rng.uniform(16, 800, R), 16 * W - 1)
    y2 = np.minimum(y1 + rng.uniform(16, 600, R), 16 * H - 1)
    rois = np.stack([np.zeros(R), x1, y1, x2, y2], 1).astype(F32)
    fg = rng.random(R) < 0.25
    labels = np.where(fg, rng.integers(1, K, R), 0).astype(F32)
    tgt = np.zeros((R, D), F32)
    win = np.zeros((R, D), F32)
    for i in np.nonzero(fg)[0]:
        c = int(labels[i])
        tgt[i, 4 * c:4 * c + 4] = rng.standard_normal(4)
        win[i, 4 * c:4 * c + 4] = 1
    inputs = {
        "features": np.maximum(rng.standard_normal((1, C, H, W)), 0).astype(F32),
        "rois": rois, "labels": labels, "bbox_targets": tgt,
        "bbox_inside_weights": win, "bbox_outside_weights": (win > 0).astype(F32),
        "fc6_w": (rng.standard_normal((H6, F), dtype=F32) * F32(0.01)),
        "fc6_b": np.full(H6, 0.1, F32),
        "fc7_w": (rng.standard_normal((H7, H6), dtype=F32) * F32(0.01)),
        "fc7_b": np.full(H7, 0.1, F32),
        "cls_score_w": (rng.standard_normal((K, H7), dtype=F32) * F32(0.01)),
        "cls_score_b": np.zeros(K, F32),
        "bbox_pred_w": (rng.standard_normal((D, H7), dtype=F32) * F32(0.001)),
        "bbox_pred_b": np.zeros(D, F32),
    }
    for name, n in (("readonly_mask6", H6), ("readonly_mask7", H7), ("train_mask6", H6), ("train_mask7", H7)):
        inputs[name] = (rng.random((R, n)) >= 0.5).astype(F32)
    attrs = {"pooled_h": 7, "pooled_w": 7, "spatial_scale": 0.0625, "dropout_ratio": 0.5,
             "dialect": "caffe-ohem", "batch_size": B}
    return attrs, inputs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rois", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--pipe", action="store_true")
    a = ap.parse_args()
    attrs, inputs = vgg16_request(a.rois, a.batch)
    wired = {k: wire(v) for k, v in inputs.items()}
    for _ in range(a.repeat):
        t = time.perf_counter()
        ins = Inputs(wired)
        for name in wired:
            ins.arr(name)  # base64 -> arrays (cached), timed apart from the compute
        t_dec = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        out = ohem_step(Attrs(attrs), ins)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(f"ohem_step in-process: {dt:.2f} s wall, {dc:.2f} s CPU, plus {t_dec:.2f} s base64 decoding "
              f"(R={a.rois}, B={len(out['hard_inds'])}, "
              f"loss_cls={float(out['loss_cls']):.6g}, loss_bbox={float(out['loss_bbox']):.6g})")
    if a.pipe:
        line = json.dumps({"id": 1, "op": "ohem_step", "attrs": attrs, "inputs": wired}) + "\n"
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "oracle.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        t = time.perf_counter()
        p.stdin.write(line.encode())
        p.stdin.flush()
        resp = json.loads(p.stdout.readline())
        dt = time.perf_counter() - t
        p.stdin.close()
        p.wait()
        assert "outputs" in resp, resp.get("error")
        print(f"ohem_step through oracle.py: {dt:.2f} s (request {len(line) / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
