#!/usr/bin/env python3
"""A minimal ohem-ref port: three ops of PROTOCOL.md (relu, top_k, nms) in plain NumPy, speaking
the protocol on stdin/stdout. It passes `ohem-ref conform` for the ops it implements and is
reported "unsupported" for the others (they are not in its describe).

    npx ohem-ref conform --port "python3 examples/minimal_port.py"

Read it as a template: a port is a loop that reads one JSON request per line and writes one JSON
answer per line, in order, flushed; tensors are {dtype, shape, data | b64}; errors are values.
"""
import base64
import json
import sys

import numpy as np

DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int32": np.dtype("<i4")}
NONFINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}


class ProtocolError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def decode(name, t):
    """A protocol tensor -> a numpy array of its dtype and shape."""
    dt = DTYPES.get(t.get("dtype"))
    if dt is None:
        raise ProtocolError("invalid_input", f"{name}: dtype {t.get('dtype')!r} is not float32, float64 or int32")
    shape = tuple(t["shape"])
    if "b64" in t:
        a = np.frombuffer(base64.b64decode(t["b64"]), dtype=dt)
    else:
        a = np.array([NONFINITE.get(v, v) for v in t["data"]], dtype=np.float64).astype(dt)
    return a.reshape(shape)


def encode(a):
    """A numpy array -> a protocol tensor with its exact little-endian bytes."""
    a = np.ascontiguousarray(a)
    wire = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.int32): "int32"}[a.dtype]
    return {"dtype": wire, "shape": list(a.shape), "b64": base64.b64encode(a.astype(DTYPES[wire]).tobytes()).decode()}


# ------------------------------------------------------------------------------------------ ops

def relu(attrs, x):
    """y = x where x > 0, else 0 (a selection: no arithmetic)."""
    x = x.astype(np.float32)
    return {"y": np.where(x > 0, x, np.float32(0)).astype(np.float32)}


def order_desc(values, ties):
    """Positions by value descending; equal values by position descending (index_desc, the
    reference rule) or ascending (index_asc). SPEC §2.2."""
    pos = np.arange(values.shape[0])
    return np.lexsort((-pos if ties == "index_desc" else pos, -values))


def top_k(attrs, values):
    k = int(attrs["k"])
    return {"indices": order_desc(values, attrs.get("ties") or "index_desc")[:k].astype(np.int32)}


def nms(attrs, boxes, scores):
    """Greedy NMS, SPEC §4, every step in the working precision (float32 by default)."""
    thr = float(attrs.get("threshold", 0.7))
    plus1 = attrs.get("box_convention", "plus1") == "plus1"
    suppress_ge = attrs.get("suppress", "gt") == "ge"
    ties = attrs.get("ties", "index_desc")
    dt = np.float32 if attrs.get("precision", "float32") == "float32" else np.float64
    b = boxes.astype(dt)
    s = scores.astype(dt)  # float32: the scores are rounded before they are ordered
    one = dt(1) if plus1 else dt(0)
    zero = dt(0)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = ((x2 - x1) + one) * ((y2 - y1) + one)
    order = order_desc(s, ties)
    suppressed = np.zeros(b.shape[0], dtype=bool)
    keep = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for n, i in enumerate(order):
            if suppressed[i]:
                continue
            keep.append(i)
            for j in order[n + 1:]:
                if suppressed[j]:
                    continue
                w = max((min(x2[i], x2[j]) - max(x1[i], x1[j])) + one, zero)
                h = max((min(y2[i], y2[j]) - max(y1[i], y1[j])) + one, zero)
                inter = dt(w * h)
                iou = dt(inter / dt((area[i] + area[j]) - inter))  # 0/0 is NaN: never suppresses
                if (float(iou) >= thr) if suppress_ge else (iou > dt(thr)):
                    suppressed[j] = True
    return {"keep": np.array(keep, dtype=np.int32)}


OPS = {
    "relu": lambda a, i: relu(a, decode("x", i["x"])),
    "top_k": lambda a, i: top_k(a, decode("values", i["values"])),
    "nms": lambda a, i: nms(a, decode("boxes", i["boxes"]), decode("scores", i["scores"])),
}


# ------------------------------------------------------------------------------------------ loop

def answer(line):
    req_id = None
    try:
        try:
            req = json.loads(line)
        except ValueError as e:
            raise ProtocolError("bad_request", f"the line is not JSON: {e}")
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            raise ProtocolError("bad_request", 'a request is a JSON object with a string "op"')
        req_id = req.get("id")
        op = req["op"]
        if op == "describe":
            return {"id": req_id, "outputs": {},
                    "info": {"name": "minimal-python-port", "version": "1", "protocol": 1, "ops": ["describe", *OPS]}}
        if op not in OPS:
            raise ProtocolError("unknown_op", f"op {op!r} is not implemented by this port")
        outputs = OPS[op](req.get("attrs") or {}, req.get("inputs") or {})
        return {"id": req_id, "outputs": {k: encode(v) for k, v in outputs.items()}}
    except ProtocolError as e:
        return {"id": req_id, "error": {"code": e.code, "message": e.message}}
    except (KeyError, TypeError, ValueError) as e:
        return {"id": req_id, "error": {"code": "invalid_input", "message": f"{type(e).__name__}: {e}"}}


for line in sys.stdin:
    if line.strip():
        sys.stdout.write(json.dumps(answer(line)) + "\n")
        sys.stdout.flush()
