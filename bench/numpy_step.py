"""Times the numpy oracle's ohem_step on the very inputs the TypeScript bench wrote.

argv: dir. dir/manifest.json lists {"attrs": {...}, "inputs": {name: {"dtype", "shape", "file"}}}.
Prints one JSON line: {"seconds", "hard_inds", "loss_cls", "loss_bbox"}.
"""
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "properties", "oracle"))
from codec import Attrs, Inputs  # noqa: E402
from ops import ohem_step  # noqa: E402

d = sys.argv[1]
manifest = json.load(open(os.path.join(d, "manifest.json")))
arrays = {}
for name, spec in manifest["inputs"].items():
    dt = {"float32": "<f4", "int32": "<i4", "float64": "<f8"}[spec["dtype"]]
    arrays[name] = np.fromfile(os.path.join(d, spec["file"]), dtype=dt).reshape(spec["shape"])
ins = Inputs({name: {} for name in arrays})
ins.cache.update(arrays)  # already decoded: time the compute, not base64
t0 = time.perf_counter()
out = ohem_step(Attrs(manifest["attrs"]), ins)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "hard_inds": [int(i) for i in out["hard_inds"]],
                  "loss_cls": float(out["loss_cls"]), "loss_bbox": float(out["loss_bbox"])}))
