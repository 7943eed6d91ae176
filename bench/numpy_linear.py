"""Times y = x @ w.T + b in numpy float32 on the very inputs the TypeScript bench wrote.

argv: dir R K M repeats. Prints one JSON line: {"seconds": best, "gflops": ..., "threads": ...}.
Also writes y.f32 so the bench can check both computed the same thing.
"""
import json
import os
import sys
import time

import numpy as np

d, R, K, M, reps = sys.argv[1], *map(int, sys.argv[2:6])
x = np.fromfile(os.path.join(d, "x.f32"), dtype="<f4").reshape(R, K)
w = np.fromfile(os.path.join(d, "w.f32"), dtype="<f4").reshape(M, K)
b = np.fromfile(os.path.join(d, "b.f32"), dtype="<f4")
y = x @ w.T + b  # warm-up (thread pool start, page faults)
best = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    y = x @ w.T + b
    best = min(best, time.perf_counter() - t0)
y.astype("<f4").tofile(os.path.join(d, "y.f32"))
print(json.dumps({"seconds": best, "gflops": 2 * R * K * M / best / 1e9,
                  "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                  "coretype": os.environ.get("OPENBLAS_CORETYPE", "unset")}))
