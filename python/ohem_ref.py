"""ohem_ref — a one-file Python client of the ohem-ref golden reference (numpy only).

Use it inside your own port's test suite: it spawns the reference server (`ohem-ref serve`,
which speaks ohem-ref's JSON-lines protocol), keeps it for its life, sends numpy arrays with
their exact bits and hands back numpy arrays with the reference's exact bits. It also reads the
golden vectors (the JSON files of the package's `golden/` folder) and checks your answers
against them under their published tolerances.

    import numpy as np
    from ohem_ref import Reference, OhemRefError, golden_cases

    with Reference() as ref:                      # `npx ohem-ref serve`, or $OHEM_REF_COMMAND
        features = np.random.rand(1, 3, 16, 16).astype(np.float32)
        rois = np.array([[0, 0, 0, 100, 80]], np.float32)
        out = ref.roi_pool(features, rois, pooled_h=7, pooled_w=7, spatial_scale=0.0625)
        out["top"], out.argmax                    # numpy arrays: float32 [1, 3, 7, 7], int32
        try:
            ref.nms(np.zeros((2, 3), np.float32), np.zeros(2, np.float32))
        except OhemRefError as e:
            print(e.code, e.message)              # invalid_input  boxes: shape [2, 3] …

    for case in golden_cases("nms"):
        case.check(my_nms(case.inputs["boxes"], case.inputs["scores"], **case.attrs))

Requirements: Python >= 3.9 and numpy. Node.js runs the server itself; nothing else is imported.

The wire (the protocol's own words): one JSON request per line on the server's stdin, one answer
per line on its stdout, in order; a tensor is {"dtype": "float32" | "float64" | "int32",
"shape": [...], "b64": <little-endian bytes, base64>}. Every request here asks
"encoding": "b64", so float outputs come back bit for bit.
"""

import base64
import hashlib
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

__all__ = ["Reference", "OhemRefError", "Outputs", "GoldenCase", "golden_cases", "encode_tensor", "decode_tensor",
           "DEFAULT_COMMAND"]

DEFAULT_COMMAND = "npx ohem-ref serve"

_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int32": np.dtype("<i4")}
_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class OhemRefError(Exception):
    """Every failure this client reports.

    `.code` is the protocol's error code (`bad_request`, `unknown_op`, `invalid_input`,
    `unsupported`, `internal`) when the server answered one, or one of the client's own:
    `crashed` (the server exited or its output ended), `timeout` (no answer in time; the server
    was killed), `not_started` (the command could not be run), `protocol` (an answer that is
    not the protocol's: garbage, another id), `golden` (a golden file that is missing or does not
    match MANIFEST.json's sha256). `.message` is the one sentence that explains it; `.op` the op
    of the request, when there was one. After `crashed`, `timeout` or `protocol` the next call
    starts a fresh server.
    """

    def __init__(self, code, message, op=None):
        super().__init__(f"{code}: {message}" if op is None else f"{op}: {code}: {message}")
        self.code = code
        self.message = message
        self.op = op


class Outputs(dict):
    """An op's outputs: a dict name → numpy array that also allows `out.top` for `out["top"]`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no output {name!r} (outputs: {', '.join(self) or 'none'})") from None


# ------------------------------------------------------------------------------------ tensors


def encode_tensor(name, value):
    """A numpy array (float32, float64 or int32; any byte order or layout) → a protocol tensor
    with its exact little-endian bytes. Any other dtype is refused: the reference's semantics
    depend on the dtype, so this client never converts silently (cast it yourself:
    `np.asarray(x, np.float32)`)."""
    a = np.asarray(value)
    wire = {("f", 4): "float32", ("f", 8): "float64", ("i", 4): "int32"}.get((a.dtype.kind, a.dtype.itemsize))
    if wire is None:
        hint = " (cast it: np.asarray(x, np.int32) for indices and labels)" if a.dtype.kind in "iub" else ""
        raise OhemRefError("invalid_input", f"inputs.{name}: dtype {a.dtype} is not sent; the protocol carries "
                           f"float32, float64 and int32 only{hint}")
    data = a.astype(_DTYPES[wire], copy=False).tobytes(order="C")
    return {"dtype": wire, "shape": [int(d) for d in a.shape], "b64": base64.b64encode(data).decode("ascii")}


def decode_tensor(name, t):
    """A protocol tensor ({dtype, shape, b64 | data}) → a writable numpy array of its dtype."""
    if not isinstance(t, dict) or t.get("dtype") not in _DTYPES or not isinstance(t.get("shape"), list):
        raise OhemRefError("protocol", f"output {name!r} is not a protocol tensor: {str(t)[:80]}")
    dt = _DTYPES[t["dtype"]]
    shape = tuple(int(d) for d in t["shape"])
    if "b64" in t:
        a = np.frombuffer(base64.b64decode(t["b64"]), dtype=dt)
    else:
        data = t.get("data")
        data = data if isinstance(data, list) else [data]
        a = np.array([_NONFINITE.get(v, v) if isinstance(v, str) else v for v in _flatten(data)], dtype=np.float64).astype(dt)
    if a.size != int(np.prod(shape, dtype=np.int64)):
        raise OhemRefError("protocol", f"output {name!r} holds {a.size} values for shape {list(shape)}")
    return a.reshape(shape).copy()


def _flatten(data):
    out = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _json_attr(v):
    """numpy scalars and arrays, tuples → plain JSON values (attrs such as features_shape)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_json_attr(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_attr(x) for k, x in v.items()}
    return v


# ------------------------------------------------------------------------------------ server


class Reference:
    """The reference server as a Python object: one process, kept for the object's life.

    command: the server command, a string (split like a shell would) or a list; default: the
        environment variable OHEM_REF_COMMAND, else "npx ohem-ref serve" (run it where ohem-ref is
        installed, or pass cwd). For a checkout: "node bin/ohem-ref.mjs serve".
    cwd: the server's working directory (default: the current one).
    timeout: seconds to wait for each answer. A server that does not answer in time is killed
        (with its process group) and `OhemRefError("timeout")` raised; the next call restarts it.
    startup_timeout: extra seconds for the first answer after each start (npx and the
        TypeScript loader take a while).

    Every op of the protocol is a method taking its tensors positionally (numpy arrays) and its
    attrs as keywords, returning `Outputs` (a dict name → numpy array):

        with Reference() as ref:
            keep = ref.nms(boxes, scores, threshold=0.5, suppress="ge").keep
            grads = ref.ohem_step({"features": f, "rois": r, ...}, batch_size=64)

    `ref.call(op, inputs, **attrs)` sends any op; `ref.describe()` returns the server's info.
    Errors are `OhemRefError` with the protocol's `code` and `message`.
    """

    def __init__(self, command=None, cwd=None, timeout=60.0, startup_timeout=120.0, env=None):
        command = command if command is not None else os.environ.get("OHEM_REF_COMMAND") or DEFAULT_COMMAND
        self.argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        if not self.argv:
            raise OhemRefError("not_started", "the server command is empty")
        self.cwd = cwd
        self.timeout = float(timeout)
        self.startup_timeout = float(startup_timeout)
        self.env = env
        self._proc = None
        self._lines = None
        self._stderr = deque(maxlen=40)
        self._fresh = False
        self._next_id = 0
        self._lock = threading.Lock()
        self.restarts = -1  # how many times a server was (re)started, minus the first

    # -------------------------------------------------------------------- process

    def _start(self):
        kwargs = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # its own process group: a kill reaches npx's children too
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, bufsize=0, **kwargs)
        except OSError as e:
            raise OhemRefError("not_started", f"could not run {' '.join(self.argv)!r}: {e}") from None
        lines = queue.Queue()
        stderr = deque(maxlen=40)

        def read_stdout():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)  # end of output

        def read_stderr():
            for line in proc.stderr:
                stderr.append(line.decode("utf-8", "replace").rstrip())

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        self._proc, self._lines, self._stderr, self._fresh = proc, lines, stderr, True
        self.restarts += 1

    def _kill(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                if os.name == "posix":
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        proc.kill()
                else:
                    proc.kill()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def _last_stderr(self):
        """The server's last words: its first error-looking line of the tail, else the tail's end."""
        tail = [line for line in list(self._stderr)[-12:] if line.strip()]
        if not tail:
            return "(nothing on stderr)"
        errors = [line for line in tail if "Error" in line or "error" in line]
        return (errors[0] if errors else tail[-1])[:300]

    def close(self):
        """Ends the server: closes its input (it exits at EOF), then kills it if it lingers."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self._kill()
        except Exception:
            pass

    # -------------------------------------------------------------------- requests

    def request(self, req):
        """Sends one request object (an id is added) and returns the raw answer object. Raises
        OhemRefError for a dead, hung or garbled server; error answers are returned as they are."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                self._start()
            self._next_id += 1
            rid = self._next_id
            op = req.get("op")
            line = json.dumps({**req, "id": rid}, allow_nan=False) + "\n"
            try:
                self._proc.stdin.write(line.encode("utf-8"))
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                code = self._proc.poll()
                self._kill()
                raise OhemRefError("crashed", f"the server exited (status {code}) before reading the request; "
                                   f"last stderr: {self._last_stderr()}", op) from None
            wait = self.timeout + (self.startup_timeout if self._fresh else 0)
            deadline = time.monotonic() + wait
            while True:
                try:
                    raw = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    self._kill()
                    raise OhemRefError("timeout", f"no answer within {wait:g} s; the server was killed "
                                       f"(the next call starts a new one)", op) from None
                if raw is None:
                    try:
                        code = self._proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    self._kill()
                    raise OhemRefError("crashed", f"the server's output ended (exit status {code}); "
                                       f"last stderr: {self._last_stderr()}", op)
                if raw.strip():
                    break
            self._fresh = False
            try:
                ans = json.loads(raw.decode("utf-8"))
            except ValueError:
                self._kill()
                raise OhemRefError("protocol", f"the server wrote a line that is not JSON: {raw[:120]!r}", op) from None
            if not isinstance(ans, dict) or ans.get("id") != rid:
                self._kill()
                raise OhemRefError("protocol", f"expected the answer to request {rid}, got {str(ans)[:120]}", op)
            return ans

    def call(self, op, inputs=None, /, **attrs):
        """Runs `op` on `inputs` ({name: numpy array}) with `attrs` (keywords; None leaves an attr
        out, i.e. its default) and returns Outputs (name → numpy array, exact bits)."""
        tensors = {}
        for name, value in (inputs or {}).items():
            if value is not None:
                tensors[name] = encode_tensor(name, value)
        clean = {k: _json_attr(v) for k, v in attrs.items() if v is not None}
        try:
            req = {"op": op, "attrs": clean, "inputs": tensors, "encoding": "b64"}
            json.dumps(clean, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise OhemRefError("invalid_input", f"attrs: {e} (attrs are JSON values: numbers, strings, booleans, lists)", op) from None
        ans = self.request(req)
        if "error" in ans:
            err = ans["error"] if isinstance(ans["error"], dict) else {}
            raise OhemRefError(str(err.get("code", "internal")), str(err.get("message", ans["error"])), op)
        outs = ans.get("outputs")
        if not isinstance(outs, dict):
            raise OhemRefError("protocol", f"the answer has no outputs: {str(ans)[:120]}", op)
        return Outputs((name, decode_tensor(name, t)) for name, t in outs.items())

    def describe(self):
        """The server's `info`: name, version, protocol (and protocol_minor), ops, …"""
        ans = self.request({"op": "describe"})
        if "error" in ans:
            err = ans["error"] if isinstance(ans["error"], dict) else {}
            raise OhemRefError(str(err.get("code", "internal")), str(err.get("message", "")), "describe")
        return ans.get("info", {})

    # -------------------------------------------------------------------- one method per op

    def roi_pool(self, features, rois, **attrs):
        """RoI max pooling (SPEC §5.1). attrs: pooled_h 7, pooled_w 7, spatial_scale 0.0625. → top, argmax"""
        return self.call("roi_pool", {"features": features, "rois": rois}, **attrs)

    def roi_pool_backward(self, rois, argmax, top_grad, **attrs):
        """attrs: as roi_pool, features_shape [N, C, H, W] (required), mode "caffe" | "scatter". → features_grad"""
        return self.call("roi_pool_backward", {"rois": rois, "argmax": argmax, "top_grad": top_grad}, **attrs)

    def roi_align(self, features, rois, **attrs):
        """RoIAlign (SPEC §13). attrs: pooled_h, pooled_w, spatial_scale, sampling_ratio 0, aligned False,
        pool_mode "avg" | "max", dialect "torchvision" | "mmcv" | "onnxruntime", max_init. → top (+ argmax_y/x)"""
        return self.call("roi_align", {"features": features, "rois": rois}, **attrs)

    def roi_align_backward(self, rois, top_grad, argmax_y=None, argmax_x=None, **attrs):
        """attrs: as roi_align, features_shape. → features_grad"""
        return self.call("roi_align_backward", {"rois": rois, "top_grad": top_grad, "argmax_y": argmax_y, "argmax_x": argmax_x}, **attrs)

    def linear(self, x, w, b):
        """y = x·wᵀ + b (float32)."""
        return self.call("linear", {"x": x, "w": w, "b": b})

    def linear_backward(self, x, w, dy):
        """→ dx, dw, db"""
        return self.call("linear_backward", {"x": x, "w": w, "dy": dy})

    def relu(self, x):
        return self.call("relu", {"x": x})

    def relu_backward(self, x, dy):
        return self.call("relu_backward", {"x": x, "dy": dy})

    def dropout(self, x, mask, **attrs):
        """y = x·mask·fl32(1/(1−ratio)). attrs: ratio 0.5."""
        return self.call("dropout", {"x": x, "mask": mask}, **attrs)

    def dropout_backward(self, dy, mask, **attrs):
        return self.call("dropout_backward", {"dy": dy, "mask": mask}, **attrs)

    def softmax(self, x):
        return self.call("softmax", {"x": x})

    def softmax_loss(self, scores, labels, **attrs):
        """Caffe SoftmaxWithLoss. attrs: normalization "valid" | "batch_size" | "full" | "none", ignore_label.
        → loss, prob, scores_grad"""
        return self.call("softmax_loss", {"scores": scores, "labels": labels}, **attrs)

    def smooth_l1_loss(self, pred, target, inside_w, outside_w, **attrs):
        """Caffe SmoothL1Loss (÷ R). attrs: sigma 1. → loss, pred_grad"""
        return self.call("smooth_l1_loss", {"pred": pred, "target": target, "inside_w": inside_w, "outside_w": outside_w}, **attrs)

    def nms(self, boxes, scores, **attrs):
        """Greedy NMS. attrs: threshold 0.7, box_convention "plus1" | "continuous", suppress "gt" | "ge",
        ties "index_desc" | "index_asc", precision "float32" | "float64". → keep"""
        return self.call("nms", {"boxes": boxes, "scores": scores}, **attrs)

    def top_k(self, values, **attrs):
        """attrs: k (required), ties. → indices"""
        return self.call("top_k", {"values": values}, **attrs)

    def sgd_update(self, param, grad, history, **attrs):
        """Caffe SGD (lr inside the momentum buffer). attrs: lr (required), momentum, weight_decay, lr_mult,
        decay_mult, iter_size. → param, history"""
        return self.call("sgd_update", {"param": param, "grad": grad, "history": history}, **attrs)

    def ohem_roi_loss(self, cls_prob, labels, bbox_pred=None, bbox_targets=None, bbox_inside_weights=None,
                      bbox_outside_weights=None, **attrs):
        """The per-RoI hardness (SPEC §1). attrs: eps 2⁻⁵². → loss, cls_loss, bbox_loss (float64)"""
        return self.call("ohem_roi_loss", {"cls_prob": cls_prob, "labels": labels, "bbox_pred": bbox_pred,
                                           "bbox_targets": bbox_targets, "bbox_inside_weights": bbox_inside_weights,
                                           "bbox_outside_weights": bbox_outside_weights}, **attrs)

    def ohem_select(self, loss, rois, labels, cls_loss=None, bbox_loss=None, **attrs):
        """Hard-example selection (SPEC §2; docs/mining.md §2). attrs: dialect and its attrs. → hard_inds"""
        return self.call("ohem_select", {"loss": loss, "rois": rois, "labels": labels, "cls_loss": cls_loss,
                                         "bbox_loss": bbox_loss}, **attrs)

    def ohem_step(self, inputs, /, **attrs):
        """One OHEM iteration (docs/mining.md §4). inputs: a dict of the batch (features, rois, labels,
        bbox_targets, bbox_inside_weights, bbox_outside_weights), the eight head parameters (fc6_w …
        bbox_pred_b) and, with dropout, the four masks. → roi_loss, hard_inds, loss_cls, loss_bbox,
        <param>_grad, features_grad, …"""
        return self.call("ohem_step", inputs, **attrs)


# ------------------------------------------------------------------------------------ golden


def _golden_dir(golden_dir=None):
    if golden_dir is not None:
        return Path(golden_dir)
    env = os.environ.get("OHEM_REF_GOLDEN")
    if env:
        return Path(env)
    installed = Path.cwd() / "node_modules" / "ohem-ref" / "golden"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "golden"


class GoldenCase:
    """One golden vector: the request a port receives, the reference's outputs, the tolerances.

    name, suite, op, dialect, title, spec, tags; attrs (dict, every attr spelled out, None where
    the default is "absent"); inputs and expected (dicts of numpy arrays, exact bits); tolerance
    ({output: {"atol", "rtol", "note"}}); optional_outputs (outputs a port may leave out);
    request (the raw request object); path.
    """

    def __init__(self, doc, path):
        self.doc = doc
        self.path = Path(path)
        self.name = doc["name"]
        self.suite = doc.get("suite", doc["op"])
        self.op = doc["op"]
        self.dialect = doc.get("dialect")
        self.title = doc.get("title", "")
        self.spec = doc.get("spec", "")
        self.tags = list(doc.get("tags", []))
        self.request = doc["request"]
        self.attrs = dict(self.request.get("attrs") or {})
        self.inputs = {n: decode_tensor(n, t) for n, t in (self.request.get("inputs") or {}).items()}
        self.expected = {n: decode_tensor(n, t) for n, t in doc["expected"].items()}
        self.tolerance = dict(doc.get("tolerance", {}))
        self.optional_outputs = list(doc.get("optional_outputs", []))

    def __repr__(self):
        return f"GoldenCase({self.name!r})"

    def call(self, ref):
        """This case's request sent to `ref` (a Reference, or any object with `.call`)."""
        return ref.call(self.op, self.inputs, **self.attrs)

    def problems(self, outputs):
        """The disagreements of `outputs` ({name: array}) with the expected outputs, [] when none.
        Rules (PROTOCOL.md "Comparison rules", as conform applies them): dtype and shape equal;
        int32 outputs and outputs with atol = rtol = 0 exact (−0 equals +0, NaN equals NaN);
        else |got − expected| ≤ atol + rtol·|got|. Outputs not expected are ignored; an expected
        output that is missing is a problem unless optional."""
        out = []
        for name, want in self.expected.items():
            if name not in outputs:
                if name not in self.optional_outputs:
                    out.append(f"{name}: missing")
                continue
            got = np.asarray(outputs[name])
            if got.dtype != want.dtype or got.shape != want.shape:
                out.append(f"{name}: {got.dtype} {list(got.shape)}, expected {want.dtype} {list(want.shape)}")
                continue
            tol = self.tolerance.get(name, {"atol": 0, "rtol": 0, "note": "exact"})
            g = got.astype(np.float64).ravel()
            w = want.astype(np.float64).ravel()
            both_nan = np.isnan(g) & np.isnan(w)
            if want.dtype.kind == "i" or (tol.get("atol", 0) == 0 and tol.get("rtol", 0) == 0):
                ok = (g == w) | both_nan
            else:
                with np.errstate(invalid="ignore"):
                    ok = (g == w) | both_nan | (np.abs(g - w) <= tol["atol"] + tol["rtol"] * np.abs(g))
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                if want.dtype.kind == "i" and want.ndim == 1:
                    out.append(f"{name}: {got.tolist()[:20]} vs expected {want.tolist()[:20]}")
                else:
                    out.append(f"{name}[{i}]: {g[i]!r} vs expected {w[i]!r} (atol {tol.get('atol')}, rtol {tol.get('rtol')}: "
                               f"{tol.get('note', '')}); {int((~ok).sum())} of {ok.size} differ")
        return out

    def check(self, outputs):
        """Asserts that `outputs` agree with this case (see `problems`): raises AssertionError
        listing every disagreement."""
        p = self.problems(outputs)
        if p:
            raise AssertionError(f"{self.name}: " + "; ".join(p))


def golden_cases(op=None, golden_dir=None, verify=True):
    """Yields the golden vectors as GoldenCase objects, in MANIFEST.json's order.

    op: an op ("nms"), a suite ("ohem_select/mmdet-ohem") or None for all.
    golden_dir: default $OHEM_REF_GOLDEN, else ./node_modules/ohem-ref/golden, else the folder
        `golden` next to this file's parent (a checkout of ohem-ref).
    verify: check every file against MANIFEST.json's sha256 (OhemRefError "golden" if one differs).
    """
    root = _golden_dir(golden_dir)
    manifest_path = root / "MANIFEST.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OhemRefError("golden", f"cannot read {manifest_path}: {e} (set OHEM_REF_GOLDEN or pass golden_dir)") from None
    for entry in manifest.get("cases", []):
        if op is not None and op not in (entry.get("op"), entry.get("suite")):
            continue
        path = root / entry["file"]
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise OhemRefError("golden", f"cannot read {path}: {e}") from None
        if verify and entry.get("sha256") and hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise OhemRefError("golden", f"{path} does not match MANIFEST.json's sha256")
        yield GoldenCase(json.loads(raw.decode("utf-8")), path)


if __name__ == "__main__":  # a smoke test: python3 ohem_ref.py
    with Reference() as _ref:
        _info = _ref.describe()
        print(f"{_info.get('name')} {_info.get('version')} (protocol {_info.get('protocol')}"
              f".{_info.get('protocol_minor', 0)}): {len(_info.get('ops', []))} ops", file=sys.stderr)
