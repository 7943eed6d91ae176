#!/usr/bin/env python3
"""An ohem-ref port (protocol 1.1) that delegates every op to PyTorch / torchvision, written the
way a porter would write it: the framework computes, this file only validates, converts and calls.
Nothing here re-implements Caffe's arithmetic; where the library parts from the original, the
answer parts too, and conform shows where.

    npx ohem-ref conform --port "python3 examples/ports/torchvision_port.py"

Written against torch 1.13.1 / torchvision 0.14.1 on CPU (Debian's python3-torch and
python3-torchvision), numpy ≥ 1.22. Every float32 output is answered as b64 (the exact bits).
`torch.set_num_threads(1)`: reductions then run in one fixed order (and the port shares a machine).

What each op delegates to
-------------------------
roi_pool            torch.ops.torchvision.roi_pool (the C++ op behind torchvision.ops.roi_pool; it
                    returns (output, argmax), argmax int32, -1 for an empty bin)
roi_pool_backward   torch.ops.torchvision._roi_pool_backward (what autograd calls); mode "scatter"
                    only
roi_align           torchvision.ops.roi_align (dialect "torchvision", pool_mode "avg", aligned
                    false/true, any sampling_ratio; <= 0 is torchvision's adaptive grid)
roi_align_backward  autograd through torchvision.ops.roi_align
nms                 torchvision.ops.nms
linear              torch.nn.functional.linear (float32 BLAS)
linear_backward     autograd through F.linear
relu / _backward    torch.relu / autograd
dropout / _backward x * mask * scale with torch ops (F.dropout draws its own mask, so a given mask
                    has to be applied by hand), scale = torch.tensor(1/(1-ratio), float32);
                    backward by autograd
softmax             torch.softmax(x, dim=1)
softmax_loss        F.cross_entropy (reduction "mean" = valid, "sum" = none, "sum" / R =
                    batch_size and full), prob = torch.softmax, scores_grad by autograd
smooth_l1_loss      F.smooth_l1_loss(inside_w * (pred - target), 0, beta = 1/sigma^2,
                    reduction "none"), times outside_w, summed, / R; pred_grad by autograd
top_k               torch.sort(stable=True): descending for ties "index_asc"; ascending then
                    flipped (the original's np.argsort(v)[::-1]) for "index_desc"
sgd_update          torch.optim.SGD(lr = lr*lr_mult, momentum, weight_decay = weight_decay*
                    decay_mult), p.grad = grad / iter_size, the momentum buffer = `history`
ohem_roi_loss       -torch.log(p.clamp(min=eps)) and F.smooth_l1_loss(beta=1), float32, widened to
                    float64 at the end
ohem_select         caffe-ohem: torchvision.ops.batched_nms over the (image, label) groups, then a
                    stable torch.sort of the float64 losses; tf-hard-example-miner:
                    torchvision.ops.nms per image; mmdet-ohem and ssd-hard-negative: stable
                    torch.sort (where mmdetection calls torch.topk and torchvision's SSD an
                    unstable sort)
ohem_step           the Fast R-CNN head in torch: torchvision.ops.roi_pool -> F.linear -> relu ->
                    dropout (given masks) -> F.linear -> relu -> dropout -> cls_score / bbox_pred,
                    losses F.cross_entropy + smooth L1, every gradient by autograd

Where torch / torchvision are known to differ from the original (Caffe + py-faster-rcnn)
-----------------------------------------------------------------------------------------
Sources: pytorch/vision torchvision/csrc/ops/cpu/{nms,roi_pool,roi_align}_kernel.cpp (nms at
01d5d10, roi_pool at 1b911f8), torchvision/ops/boxes.py (0.14.1, installed), torch 1.13
torch/optim/sgd.py and aten/src/ATen/native/cpu/BinaryOpsKernel.cpp (smooth_l1), ohem-ref's SPEC.md
(sections 4-9 and 13) for the original.

* nms, no "+1": torchvision's areas are (x2 - x1) * (y2 - y1) and the overlap max(0, min - max):
  the continuous convention; py-faster-rcnn adds 1 to every extent. `box_convention: plus1` is
  not expressible.
* nms, the threshold: the kernel tests `ovr > iou_threshold` with `ovr` in the boxes' dtype and
  `iou_threshold` a C++ double, so a float32 IoU is compared with the *double* threshold. The
  original's GPU / NumPy NMS compares with the threshold rounded to float32 (suppress "gt"). The
  two agree when fl32(t) <= t (0.5, 0.7); when fl32(t) > t (0.3 -> 0.30000001, 0.1, 0.6, ...) an
  IoU equal to fl32(t) is suppressed by torchvision and kept by the original (torchvision then
  acts like the Cython NMS's ">="). This port declares suppress "gt" (torchvision's documented
  rule "IoU > iou_threshold") and passes the threshold as given: the difference shows up, as it
  would in a real port. `suppress: ge` is not expressible.
* nms, ties: the kernel orders by a stable descending sort: equal scores by index ascending
  ("index_asc"); the original's argsort()[::-1] puts them index descending.
* nms, dtype: boxes and scores must share a dtype; precision "float32" casts both to float32
  (scores rounded before ordering, as the original), "float64" both to float64.
* batched_nms: on CPU with at most 4000 box coordinates (<= 1000 boxes) it adds a per-group
  offset, group * (max coordinate + 1), to all four coordinates and runs one NMS. That assumes
  0 <= x1 < x2 (its docstring says so): with negative coordinates boxes of different groups can
  land on each other and suppress each other (label 0 at (0,0,10,10), label 1 at
  (-11,-11,-1,-1): the original keeps both, batched_nms drops the second); and the offset
  changes the float32 rounding of every IoU.
  Above 1000 boxes it loops over the groups. Its keep list is ordered by score over all groups,
  not concatenated group by group as py-faster-rcnn's loop does, so equal float64 losses in
  different groups are ordered differently in the final top-B.
* roi_pool forward: the same arithmetic as Caffe (C round, +1 extents, float32 bin sizes,
  first max wins, argmax h*W + w). But the CPU kernel does not range-check the batch index
  (it reads out of bounds): this port refuses batch indices outside [0, N) and non-finite RoIs
  itself, before the call. torchvision needs rois in the features' dtype: float64 rois are cast
  to float32 (as Caffe's float blobs would hold them).
* roi_pool backward: torchvision scatters every bin's gradient to its argmax (no in-RoI test);
  Caffe's GPU backward gathers with an inclusive in-RoI test and so drops the gradient of the
  float32 overshoot row/column (RoI extent 57 at 7 bins) and of malformed RoIs. `mode: caffe`
  (the default) is not expressible; ohem_step's features_grad is torchvision's scatter.
* roi_align: torchvision has no max mode; gh*gw < 0 (aligned RoIs with negative extents and an
  adaptive grid) makes the CPU kernel throw ("cannot create std::vector larger than max_size()"),
  answered invalid_input; the batch index is not range-checked by the kernel (refused here).
* softmax_loss: F.cross_entropy is log_softmax + nll_loss: no FLT_MIN clamp (a loss can exceed
  Caffe's 87.3365); reduction "mean" with every label ignored is 0/0 = NaN (Caffe divides by
  max(1, count): 0); targets must be int64, float labels are truncated with .long(); the
  gradient comes from log_softmax's backward (dy - exp(y) * sum(dy)), rounded differently from
  Caffe's (p - [k = y]) / Z.
* smooth_l1_loss: torch's beta is 1/sigma^2 and its kernel computes 0.5 * z * z / beta and
  z - 0.5 * beta in float32 (beta itself rounded to float32); Caffe computes 0.5 * sigma^2 * x^2
  in double and stores it once. Last-bit differences.
* dropout: torch's own dropout scales with mask.div_(1 - p) (fl32(1 - p), then a float32
  division); Caffe stores scale = 1 / (1 - fl32(ratio)) (double) as a float. This port multiplies
  by fl32(1 / (1 - ratio)) from the double ratio: equal to Caffe's unless rounding the ratio to
  float32 first moves the rounded scale (ratio 0.6: 2.5 here, 2.5000002 in Caffe; 0.9: 10 here,
  9.999998 in Caffe). dropout_backward by autograd multiplies dy by the scale before the mask:
  dy = -3e38 where the mask is 0 gives (-inf) * 0 = NaN here, -0 in Caffe (dy * mask * scale).
* sgd_update: torch's SGD keeps lr out of the momentum buffer: buf = m*buf + (g + wd*theta),
  theta -= lr*buf; Caffe: v = m*v + lr*(g + wd*theta), theta -= v. The `history` answered is
  torch's buffer: lr times smaller than Caffe's v (lr 0: torch's buffer is g, Caffe's v is 0).
  From zero history the new param agrees; from a nonzero (Caffe) history it differs unless
  lr = 1 (param 1, grad 0.5, history 0.1, lr 0.1: Caffe 0.85995 / 0.14005, torch 0.94095 /
  0.5905). With momentum 0 torch leaves the buffer alone: `history` comes back unchanged.
* linear / linear_backward: the float32 BLAS rounds every product and accumulates in float32
  (so does Caffe's cuBLAS sgemm); ohem-ref models float64 sums of exact products, rounded once.
  Under cancellation the product's rounding shows: x = (2, -1.9978775), w = (3, 2.9159226):
  torch 0.17434406, the exact sum 0.17434382 (db = the column sums of dy: float32 sums likewise).
* ohem_roi_loss / the mining: torch computes the smooth L1 hardness and its row sums in float32;
  2016 NumPy (legacy scalar promotion) computed them in float64. clamp(min=eps) rounds eps to
  float32 and the clamped loss is the float32 log (36.043652 rather than 36.04365338911715).
* top_k: torch.topk's order among equal values is unspecified (PyTorch docs); a stable sort gives
  a defined one.
* mmdet-ohem (torch.topk in mmdetection) and ssd-hard-negative (torchvision SSD's unstable
  double sort, `rank < ratio * num_pos`, so ceil rather than floor of a fractional ratio * P)
  are ported with stable sorts and SSD's rank test as torchvision writes it.

Everything else (dtype promotion, summation order of BLAS and reductions) moves last bits only.
Attr names this port does not implement are answered `unsupported` naming attrs.<name>; attr
values it cannot express `unsupported` naming the attr; malformed inputs `invalid_input` naming
the input. `describe` lists, per op, the values of every closed attr it can express.
"""
import base64
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision import ops as tvops

torch.set_num_threads(1)

PORT_NAME = "torchvision-port"
PORT_VERSION = "0.1.0"

MAX_RANK = 8
MAX_ELEMENTS = 2**31 - 1
MAX_INPUT_BYTES = 1 << 30
MAX_OUTPUT_BYTES = 1 << 30
# Elementary steps one request may cost (a guard against requests that would run for minutes).
MAX_WORK = 4e9
MAX_NMS_BOXES = 20000
ROI_COORD_LIMIT = 2.0**29  # scaled RoI coordinates become C ints in the kernels
INT32_MAX = 2**31 - 1
FLT_MAX = float(np.finfo(np.float32).max)

DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int32": np.dtype("<i4")}
NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class PortError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def invalid(msg):
    return PortError("invalid_input", msg)


def unsupported(msg):
    return PortError("unsupported", msg)


# ----------------------------------------------------------------------------------- tensors


def decode_tensor(name, t, budget):
    """A protocol tensor -> a numpy array (dtype and shape as sent). `budget` is a one-item list of
    bytes still allowed for this request's inputs."""
    where = f"inputs.{name}"
    if not isinstance(t, dict):
        raise invalid(f"{where} is not a tensor object {{dtype, shape, data | b64}}")
    dt = DTYPES.get(t.get("dtype")) if isinstance(t.get("dtype"), str) else None
    if dt is None:
        raise invalid(f"{where}: dtype {t.get('dtype')!r} is not float32, float64 or int32")
    shape = t.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise invalid(f"{where}: shape must be a list of at most {MAX_RANK} dimensions")
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise invalid(f"{where}: shape {shape!r} must hold non-negative integers")
        dims.append(d)
    count = 1
    for d in dims:
        count *= d
    if count > MAX_ELEMENTS:
        raise invalid(f"{where}: shape {dims} has {count} elements, more than 2^31 - 1")
    nbytes = count * dt.itemsize
    if nbytes > budget[0]:
        raise invalid(f"{where}: {nbytes} bytes exceed this port's input budget ({MAX_INPUT_BYTES} bytes per request)")
    budget[0] -= nbytes
    if "b64" in t:
        if not isinstance(t["b64"], str):
            raise invalid(f"{where}: b64 must be a string")
        try:
            raw = base64.b64decode(t["b64"], validate=True)
        except (ValueError, TypeError):
            raise invalid(f"{where}: b64 is not valid base64")
        if len(raw) != nbytes:
            raise invalid(f"{where}: b64 holds {len(raw)} bytes, shape {dims} of {t['dtype']} needs {nbytes}")
        a = np.frombuffer(raw, dtype=dt).copy()
    elif "data" in t:
        data = t["data"]
        if not isinstance(data, list):
            data = [data]  # a scalar written bare
        flat = _flatten(data, where)
        if len(flat) != count:
            raise invalid(f"{where}: data holds {len(flat)} values, shape {dims} needs {count}")
        if dt.kind == "i":
            for v in flat:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() or not (-(2**31) <= v <= INT32_MAX):
                    raise invalid(f"{where}: int32 data must be integers in int32 range, got {v!r}")
            a = np.array([int(v) for v in flat], dtype=dt)
        else:
            vals = []
            for v in flat:
                if isinstance(v, str) and v in NONFINITE:
                    vals.append(NONFINITE[v])
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    vals.append(float(v))
                else:
                    raise invalid(f"{where}: data values must be numbers or \"NaN\", \"Infinity\", \"-Infinity\", got {v!r}")
            a = np.array(vals, dtype=np.float64).astype(dt)
    else:
        raise invalid(f"{where}: a tensor needs data or b64")
    return a.reshape(dims)


def _flatten(data, where, depth=0):
    if depth > MAX_RANK:
        raise invalid(f"{where}: data is nested deeper than {MAX_RANK} levels")
    if all(not isinstance(v, list) for v in data):
        return data
    out = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v, where, depth + 1))
        else:
            out.append(v)
    return out


def encode_tensor(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if not a.flags.c_contiguous:
        a = a.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    wire = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.int32): "int32"}[a.dtype]
    return {"dtype": wire, "shape": list(a.shape), "b64": base64.b64encode(a.astype(DTYPES[wire]).tobytes()).decode("ascii")}


def out_budget(*shapes_and_sizes):
    """Refuse before allocating: (name, count, itemsize) triples."""
    total = 0
    for name, count, itemsize in shapes_and_sizes:
        total += count * itemsize
        if count > MAX_ELEMENTS:
            raise invalid(f"{name} makes an output of {count} elements, more than 2^31 - 1")
    if total > MAX_OUTPUT_BYTES:
        raise invalid(f"{shapes_and_sizes[0][0]} makes outputs of {total} bytes, more than this port's budget ({MAX_OUTPUT_BYTES})")


def work_budget(name, steps):
    if steps > MAX_WORK:
        raise invalid(f"{name} makes a request of about {steps:.3g} steps, more than this port runs in one request ({MAX_WORK:.0e})")


# ----------------------------------------------------------------------------------- inputs


class Inputs:
    """Typed access to the decoded inputs, with symbolic dims shared across inputs."""

    def __init__(self, arrays):
        self.a = arrays
        self.env = {}

    def has(self, name):
        return name in self.a

    def get(self, name, dims, dtypes, as_dtype=None):
        if name not in self.a:
            raise invalid(f"inputs.{name} is required")
        x = self.a[name]
        if x.dtype.name not in dtypes:
            raise invalid(f"inputs.{name}: dtype {x.dtype.name} is not one of {', '.join(dtypes)}")
        if dims is not None:
            if x.ndim != len(dims):
                raise invalid(f"inputs.{name}: shape {list(x.shape)} must be [{', '.join(map(str, dims))}]")
            for d, want in zip(x.shape, dims):
                if isinstance(want, int):
                    if d != want:
                        raise invalid(f"inputs.{name}: shape {list(x.shape)} must be [{', '.join(map(str, dims))}]")
                elif want in self.env and self.env[want] != d:
                    raise invalid(f"inputs.{name}: shape {list(x.shape)}: {want} is {d} here but {self.env[want]} elsewhere")
                else:
                    self.env[want] = d
        if as_dtype is not None:
            x = x.astype(as_dtype)
        return x


F32 = ("float32", "float64")
F32I = ("float32", "float64", "int32")


def t32(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32, order="C"))  # (keeps 0-d arrays 0-d)


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64, order="C"))


def check_finite(name, a):
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        i = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        raise invalid(f"inputs.{name}: element {i} is {a.ravel()[i]!r}, it must be finite")


def check_integers(name, a, lo, hi, what):
    """Integer values in [lo, hi) (labels, batch indices); returns int64."""
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.trunc(a))
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise invalid(f"inputs.{name}: element {i} is {a.ravel()[i]!r}, a {what} must be an integer")
    v = a.astype(np.float64)
    bad = (v < lo) | (v >= hi)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise invalid(f"inputs.{name}: element {i} is {a.ravel()[i]!r}, a {what} must be in [{lo}, {hi})")
    return v.astype(np.int64)


def check_mask(name, m):
    if not np.isin(m, (0, 1)).all():
        i = int(np.flatnonzero(~np.isin(m, (0, 1)).ravel())[0])
        raise invalid(f"inputs.{name}: element {i} is {m.ravel()[i]!r}, a dropout mask holds 0 and 1 only")
    return m.astype(np.float32)


# ----------------------------------------------------------------------------------- attrs


class Attrs:
    def __init__(self, raw, op, names):
        self.raw = {k: v for k, v in raw.items() if v is not None}  # null means absent
        self.extra = ()  # names besides the dialect's that a mining op accepts (ohem_step's own)
        for k in raw:
            if k not in names:
                raise unsupported(f"attrs.{k}: {op} of this port does not implement this attr")

    def int(self, name, default, lo=None, hi=None, required=False):
        v = self.raw.get(name, None)
        if v is None:
            if required:
                raise invalid(f"attrs.{name} is required")
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            raise invalid(f"attrs.{name}: {v!r} is not an integer")
        v = int(v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise invalid(f"attrs.{name}: {v} is outside [{lo}, {hi if hi is not None else 'inf'}]")
        return v

    def num(self, name, default, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False, required=False):
        v = self.raw.get(name, None)
        if v is None:
            if required:
                raise invalid(f"attrs.{name} is required")
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise invalid(f"attrs.{name}: {v!r} is not a number")
        v = float(v)
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            lb = "(" if lo_open else "["
            rb = ")" if hi_open else "]"
            raise invalid(f"attrs.{name}: {v!r} is outside {lb}{lo}, {hi}{rb}")
        return v

    def bool(self, name, default):
        v = self.raw.get(name, None)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise invalid(f"attrs.{name}: {v!r} is not true or false")
        return v

    def enum(self, name, default, contract, capable):
        v = self.raw.get(name, default)
        if v not in contract:
            raise invalid(f"attrs.{name}: {v!r} is not one of {', '.join(map(json.dumps, contract))}")
        if v not in capable:
            raise unsupported(f"attrs.{name}: {json.dumps(v)} is not expressible with torchvision (this port offers {', '.join(map(json.dumps, capable))})")
        return v


# What the contract allows and what torch / torchvision can express (describe's capabilities).
BOX = ("plus1", "continuous")
SUPPRESS = ("gt", "ge")
TIES = ("index_desc", "index_asc")
PRECISION = ("float32", "float64")
NORMALIZATION = ("valid", "batch_size", "full", "none")
DIALECTS = ("caffe-ohem", "mmdet-ohem", "tf-hard-example-miner", "ssd-hard-negative")
RA_DIALECTS = ("torchvision", "mmcv", "onnxruntime")

CAP_NMS = {"box_convention": ["continuous"], "suppress": ["gt"], "ties": ["index_asc"], "precision": ["float32", "float64"]}
CAP_SELECT = {
    "dialect": list(DIALECTS),
    "use_nms": [True, False],
    "box_convention": ["continuous"],
    "suppress": ["gt"],
    "ties": ["index_asc"],
    "precision": ["float32", "float64"],
    "loss_type": ["both", "cls", "loc"],
}
CAP_ROI_ALIGN = {"dialect": ["torchvision"], "pool_mode": ["avg"], "aligned": [False, True]}
CAPABILITIES = {
    "roi_pool_backward": {"mode": ["scatter"]},
    "roi_align": dict(CAP_ROI_ALIGN),
    "roi_align_backward": dict(CAP_ROI_ALIGN),
    "nms": dict(CAP_NMS),
    "softmax_loss": {"normalization": list(NORMALIZATION)},
    "top_k": {"ties": ["index_desc", "index_asc"]},
    "ohem_select": dict(CAP_SELECT),
    "ohem_step": dict(CAP_SELECT, normalization=list(NORMALIZATION)),
}

POOL_ATTRS = ("pooled_h", "pooled_w", "spatial_scale")
NMS_ATTRS = ("box_convention", "suppress", "ties", "precision")
DIALECT_ATTRS = {
    "caffe-ohem": ("batch_size", "use_nms", "nms_threshold") + NMS_ATTRS,
    "mmdet-ohem": ("num", "pos_fraction", "neg_pos_ub", "ties"),
    "tf-hard-example-miner": ("loss_type", "cls_loss_weight", "loc_loss_weight", "num_hard_examples", "iou_threshold",
                              "max_negatives_per_positive", "min_negatives_per_image", "ties"),
    "ssd-hard-negative": ("neg_pos_ratio", "ties"),
}


def pool_attrs(A):
    ph = A.int("pooled_h", 7, 1, INT32_MAX)
    pw = A.int("pooled_w", 7, 1, INT32_MAX)
    s = A.num("spatial_scale", 0.0625, 0, FLT_MAX, lo_open=True)
    return ph, pw, s


def features_shape_attr(A):
    fs = A.raw.get("features_shape")
    if fs is None:
        raise invalid("attrs.features_shape is required: [N, C, H, W]")
    if not isinstance(fs, list) or len(fs) != 4 or any(isinstance(d, bool) or not isinstance(d, (int, float)) or not float(d).is_integer() or d < 0 for d in fs):
        raise invalid(f"attrs.features_shape: {fs!r} must be four non-negative integers [N, C, H, W]")
    fs = [int(d) for d in fs]
    n = fs[0] * fs[1] * fs[2] * fs[3]
    out_budget(("attrs.features_shape", n, 4))
    return fs


def check_rois(I, name, n_images, scale, dims=("R", 5)):
    """rois [R, 5] as float32 (torchvision needs the features' dtype), finite, batch index in
    [0, N), scaled coordinates within C int range. torchvision's kernels check none of this."""
    rois = I.get(name, list(dims), F32, np.float32)
    check_finite(name, rois)
    if rois.shape[0]:
        b = np.trunc(rois[:, 0])
        bad = (b < 0) | (b >= n_images)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise invalid(f"inputs.{name}: row {r} has batch index {rois[r, 0]!r}, outside [0, {n_images}) for {n_images} image(s)")
        scaled = np.abs(rois[:, 1:].astype(np.float32) * np.float32(scale))
        if not (scaled <= ROI_COORD_LIMIT).all():
            r = int(np.flatnonzero(~(scaled <= ROI_COORD_LIMIT).all(axis=1))[0])
            raise invalid(f"inputs.{name}: row {r} scales beyond +-2^29 (the kernels compute RoI extents in C int)")
    return rois


# ----------------------------------------------------------------------------------- ops


def op_roi_pool(raw, I):
    A = Attrs(raw, "roi_pool", POOL_ATTRS)
    ph, pw, s = pool_attrs(A)
    feats = I.get("features", ["N", "C", "H", "W"], F32, np.float32)
    n, c, h, w = feats.shape
    rois = check_rois(I, "rois", n, s)
    r = rois.shape[0]
    out_budget(("attrs.pooled_h", r * c * ph * pw, 4), ("attrs.pooled_w", r * c * ph * pw, 4))
    work_budget("attrs.pooled_h", r * c * ((h + ph) * (w + pw) + ph * pw))
    top, argmax = torch.ops.torchvision.roi_pool(t32(feats), t32(rois), s, ph, pw)
    return {"top": top, "argmax": argmax.to(torch.int32)}


def op_roi_pool_backward(raw, I):
    A = Attrs(raw, "roi_pool_backward", POOL_ATTRS + ("features_shape", "mode"))
    ph, pw, s = pool_attrs(A)
    A.enum("mode", "caffe", ("caffe", "scatter"), ("scatter",))
    n, c, h, w = features_shape_attr(A)
    rois = check_rois(I, "rois", n, s)
    r = rois.shape[0]
    I.env.update(R=r)
    argmax = I.get("argmax", ["R", c, ph, pw], ("int32",))
    bad = (argmax < -1) | (argmax >= h * w)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise invalid(f"inputs.argmax: element {i} is {argmax.ravel()[i]}, outside [-1, {h * w}) for a {h}x{w} map")
    top_grad = I.get("top_grad", ["R", c, ph, pw], F32, np.float32)
    work_budget("inputs.top_grad", r * c * ph * pw + n * c * h * w)
    g = torch.ops.torchvision._roi_pool_backward(t32(top_grad), t32(rois), torch.from_numpy(np.asarray(argmax, order="C")),
                                                  s, ph, pw, n, c, h, w)
    return {"features_grad": g}


RA_ATTRS = POOL_ATTRS + ("sampling_ratio", "aligned", "pool_mode", "dialect", "max_init")


def roi_align_attrs(A):
    ph, pw, s = pool_attrs(A)
    sr = A.int("sampling_ratio", 0, -(2**31), INT32_MAX)
    aligned = A.bool("aligned", False)
    A.enum("dialect", "torchvision", RA_DIALECTS, ("torchvision",))
    A.enum("pool_mode", "avg", ("avg", "max"), ("avg",))
    A.num("max_init", -10000.0)  # mmcv max only: no effect on torchvision's avg
    return ph, pw, s, sr, aligned


def roi_align_work(rois, c, ph, pw, s, sr):
    """An upper bound of torchvision's per-RoI sampling grid (its pre-calc vector holds
    gh*gw*PH*PW entries per RoI): refuse requests that would allocate or loop past the budget."""
    r = rois.shape[0]
    if r == 0:
        return
    if sr > 0:
        gh = np.full(r, float(sr))
        gw = gh
    else:
        ext_w = np.abs(rois[:, 3].astype(np.float64) - rois[:, 1]) * s + 1
        ext_h = np.abs(rois[:, 4].astype(np.float64) - rois[:, 2]) * s + 1
        gh = np.ceil(ext_h / ph) + 1
        gw = np.ceil(ext_w / pw) + 1
    per_roi = gh * gw * ph * pw
    if per_roi.max() > 2e7:
        i = int(np.argmax(per_roi))
        raise invalid(f"inputs.rois: row {i} needs a sampling grid of about {per_roi[i]:.3g} points (sampling_ratio {sr}), more than this port allocates")
    work_budget("inputs.rois", float(per_roi.sum()) * (c + 1))


def call_torchvision(what, f):
    """torchvision's own argument errors (the gh*gw < 0 vector) as invalid_input."""
    try:
        return f()
    except (RuntimeError, ValueError) as e:
        raise invalid(f"{what}: torchvision refuses it: {str(e).splitlines()[0]}")


def op_roi_align(raw, I):
    A = Attrs(raw, "roi_align", RA_ATTRS)
    ph, pw, s, sr, aligned = roi_align_attrs(A)
    feats = I.get("features", ["N", "C", "H", "W"], F32, np.float32)
    n, c, h, w = feats.shape
    rois = check_rois(I, "rois", n, s)
    out_budget(("attrs.pooled_h", rois.shape[0] * c * ph * pw, 4))
    roi_align_work(rois, c, ph, pw, s, sr)
    top = call_torchvision("inputs.rois", lambda: tvops.roi_align(t32(feats), t32(rois), (ph, pw), s, sr, aligned))
    return {"top": top}


def op_roi_align_backward(raw, I):
    A = Attrs(raw, "roi_align_backward", RA_ATTRS + ("features_shape",))
    ph, pw, s, sr, aligned = roi_align_attrs(A)
    n, c, h, w = features_shape_attr(A)
    rois = check_rois(I, "rois", n, s)
    I.env.update(R=rois.shape[0])
    top_grad = I.get("top_grad", ["R", c, ph, pw], F32, np.float32)
    roi_align_work(rois, c, ph, pw, s, sr)
    feats = torch.zeros((n, c, h, w), dtype=torch.float32, requires_grad=True)

    def run():
        out = tvops.roi_align(feats, t32(rois), (ph, pw), s, sr, aligned)
        out.backward(t32(top_grad))

    call_torchvision("inputs.rois", run)
    g = feats.grad if feats.grad is not None else torch.zeros((n, c, h, w))
    return {"features_grad": g}


def nms_attrs(A, thr_name="threshold", thr_default=0.7):
    thr = A.num(thr_name, thr_default, 0, 1)
    A.enum("box_convention", "plus1", BOX, CAP_NMS["box_convention"])
    A.enum("suppress", "gt", SUPPRESS, CAP_NMS["suppress"])
    A.enum("ties", "index_desc", TIES, CAP_NMS["ties"])
    precision = A.enum("precision", "float32", PRECISION, CAP_NMS["precision"])
    return thr, (torch.float32 if precision == "float32" else torch.float64)


def op_nms(raw, I):
    A = Attrs(raw, "nms", ("threshold",) + NMS_ATTRS)
    thr, dt = nms_attrs(A)
    boxes = I.get("boxes", ["n", 4], F32)
    scores = I.get("scores", ["n"], F32)
    if boxes.shape[0] > MAX_NMS_BOXES:
        raise invalid(f"inputs.boxes: {boxes.shape[0]} boxes, more than this port's NMS takes ({MAX_NMS_BOXES}: it is quadratic)")
    keep = tvops.nms(torch.from_numpy(boxes).to(dt), torch.from_numpy(scores).to(dt), thr)
    return {"keep": keep.to(torch.int32)}


def op_linear(raw, I):
    Attrs(raw, "linear", ())
    x = I.get("x", ["R", "Kin"], F32, np.float32)
    w = I.get("w", ["M", "Kin"], F32, np.float32)
    b = I.get("b", ["M"], F32, np.float32)
    out_budget(("inputs.x", x.shape[0] * w.shape[0], 4))
    work_budget("inputs.x", x.shape[0] * w.shape[0] * max(1, x.shape[1]))
    return {"y": F.linear(t32(x), t32(w), t32(b))}


def op_linear_backward(raw, I):
    Attrs(raw, "linear_backward", ())
    x = I.get("x", ["R", "Kin"], F32, np.float32)
    w = I.get("w", ["M", "Kin"], F32, np.float32)
    dy = I.get("dy", ["R", "M"], F32, np.float32)
    work_budget("inputs.x", 2 * x.shape[0] * w.shape[0] * max(1, x.shape[1]))
    xt = t32(x).requires_grad_(True)
    wt = t32(w).requires_grad_(True)
    bt = torch.zeros(w.shape[0], dtype=torch.float32, requires_grad=True)
    F.linear(xt, wt, bt).backward(t32(dy))
    return {"dx": xt.grad, "dw": wt.grad, "db": bt.grad}


def op_relu(raw, I):
    Attrs(raw, "relu", ())
    return {"y": torch.relu(t32(I.get("x", None, F32)))}


def op_relu_backward(raw, I):
    Attrs(raw, "relu_backward", ())
    x = I.get("x", None, F32, np.float32)
    dy = I.get("dy", None, F32, np.float32)
    if dy.shape != x.shape:
        raise invalid(f"inputs.dy: shape {list(dy.shape)} must equal x's {list(x.shape)}")
    xt = t32(x).requires_grad_(True)
    torch.relu(xt).backward(t32(dy))
    return {"dx": xt.grad}


def dropout_scale(A):
    ratio = A.num("ratio", 0.5, 0, 1, hi_open=True)
    if np.float32(ratio) >= 1:
        raise invalid(f"attrs.ratio: {ratio!r} rounds to 1 in float32: the scale 1/(1 - ratio) is infinite")
    return torch.tensor(1.0 / (1.0 - ratio), dtype=torch.float32)


def op_dropout(raw, I):
    A = Attrs(raw, "dropout", ("ratio",))
    scale = dropout_scale(A)
    x = I.get("x", None, F32, np.float32)
    m = check_mask("mask", I.get("mask", None, F32I))
    if m.shape != x.shape:
        raise invalid(f"inputs.mask: shape {list(m.shape)} must equal x's {list(x.shape)}")
    return {"y": t32(x) * t32(m) * scale}


def op_dropout_backward(raw, I):
    A = Attrs(raw, "dropout_backward", ("ratio",))
    scale = dropout_scale(A)
    dy = I.get("dy", None, F32, np.float32)
    m = check_mask("mask", I.get("mask", None, F32I))
    if m.shape != dy.shape:
        raise invalid(f"inputs.mask: shape {list(m.shape)} must equal dy's {list(dy.shape)}")
    # the backward torch's F.dropout records (aten::native_dropout_backward: grad * mask * scale)
    return {"dx": torch.ops.aten.native_dropout_backward(t32(dy), t32(m) != 0, float(scale))}


def op_softmax(raw, I):
    Attrs(raw, "softmax", ())
    x = I.get("x", ["R", "K"], F32, np.float32)
    return {"prob": torch.softmax(t32(x), dim=1)}


def cross_entropy(scores, labels, normalization, ignore_index):
    """F.cross_entropy with the protocol's normalization: valid = reduction mean (over the
    non-ignored), none = sum, batch_size / full = sum / R (for [R, K] scores: outer = R, inner = 1)."""
    if normalization == "valid":
        return F.cross_entropy(scores, labels, ignore_index=ignore_index, reduction="mean")
    total = F.cross_entropy(scores, labels, ignore_index=ignore_index, reduction="sum")
    if normalization == "none":
        return total
    return total / max(1, scores.shape[0])


def softmax_loss_attrs(A):
    norm = A.enum("normalization", "valid", NORMALIZATION, NORMALIZATION)
    ig = A.raw.get("ignore_label")
    if ig is not None:
        ig = A.int("ignore_label", None, -(2**31), INT32_MAX)
    return norm, ig


def op_softmax_loss(raw, I):
    A = Attrs(raw, "softmax_loss", ("normalization", "ignore_label"))
    norm, ig = softmax_loss_attrs(A)
    scores = I.get("scores", ["R", "K"], F32, np.float32)
    labels = I.get("labels", ["R"], F32I)
    k = scores.shape[1]
    lab = labels.astype(np.float64)
    if labels.dtype.kind == "f" and not np.isfinite(lab).all():
        raise invalid("inputs.labels: labels must be finite class ids")
    lab = np.trunc(lab)  # Caffe's (int) cast; torch needs int64 targets
    valid = lab != (ig if ig is not None else np.nan)
    bad = valid & ((lab < 0) | (lab >= k))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise invalid(f"inputs.labels: element {i} is {labels[i]!r}, a class id must be in [0, {k})" + ("" if ig is None else f" or equal ignore_label {ig}"))
    target = torch.from_numpy(lab.astype(np.int64))
    st = t32(scores).requires_grad_(True)
    loss = cross_entropy(st, target, norm, ig if ig is not None else -100)
    loss.backward()
    return {"loss": loss.detach().to(torch.float32).reshape(()), "prob": torch.softmax(t32(scores), dim=1), "scores_grad": st.grad}


def smooth_l1_beta(A):
    sigma = A.num("sigma", 1.0, 0, math.inf, lo_open=True)
    s2 = np.float32(sigma) * np.float32(sigma)
    if not (np.isfinite(s2) and s2 > 0):
        raise invalid(f"attrs.sigma: {sigma!r}: sigma^2 is {s2} in float32, it must be positive and finite")
    return 1.0 / (sigma * sigma)


def smooth_l1_sum(pred, target, inside, outside, beta):
    d = inside * (pred - target)
    e = F.smooth_l1_loss(d, torch.zeros_like(d), reduction="none", beta=beta)
    return (outside * e).sum()


def op_smooth_l1_loss(raw, I):
    A = Attrs(raw, "smooth_l1_loss", ("sigma",))
    beta = smooth_l1_beta(A)
    pred = I.get("pred", ["R", "D"], F32, np.float32)
    target = I.get("target", ["R", "D"], F32, np.float32)
    inside = I.get("inside_w", ["R", "D"], F32, np.float32)
    outside = I.get("outside_w", ["R", "D"], F32, np.float32)
    pt = t32(pred).requires_grad_(True)
    loss = smooth_l1_sum(pt, t32(target), t32(inside), t32(outside), beta) / pred.shape[0]
    loss.backward()
    return {"loss": loss.detach().reshape(()), "pred_grad": pt.grad}


def op_top_k(raw, I):
    A = Attrs(raw, "top_k", ("k", "ties"))
    k = A.int("k", None, 0, None, required=True)
    ties = A.enum("ties", "index_desc", TIES, CAPABILITIES["top_k"]["ties"])
    v = I.get("values", ["n"], F32)
    return {"indices": stable_order(torch.from_numpy(v), ties)[:k].to(torch.int32)}


def stable_order(v, ties):
    """Positions by value descending. index_asc: a stable descending sort; index_desc: a stable
    ascending sort, reversed — the original's np.argsort(v)[::-1] with a stable sort."""
    if ties == "index_asc":
        return torch.sort(v, descending=True, stable=True).indices
    return torch.flip(torch.sort(v, descending=False, stable=True).indices, dims=[0])


def op_sgd_update(raw, I):
    A = Attrs(raw, "sgd_update", ("lr", "momentum", "weight_decay", "lr_mult", "decay_mult", "iter_size"))
    lr = A.num("lr", None, required=True)
    momentum = A.num("momentum", 0.9)
    wd = A.num("weight_decay", 0.0005)
    lr_mult = A.num("lr_mult", 1.0)
    decay_mult = A.num("decay_mult", 1.0)
    iter_size = A.int("iter_size", 1, 1, INT32_MAX)
    param = I.get("param", None, F32, np.float32)
    grad = I.get("grad", None, F32, np.float32)
    hist = I.get("history", None, F32, np.float32)
    for name, a in (("grad", grad), ("history", hist)):
        if a.shape != param.shape:
            raise invalid(f"inputs.{name}: shape {list(a.shape)} must equal param's {list(param.shape)}")
    p = torch.nn.Parameter(t32(param).clone())
    try:
        opt = torch.optim.SGD([p], lr=lr * lr_mult, momentum=momentum, weight_decay=wd * decay_mult)
    except ValueError as e:  # torch refuses negative lr, momentum, weight_decay
        msg = str(e)
        which = "attrs.momentum" if "momentum" in msg else "attrs.weight_decay" if "weight_decay" in msg else "attrs.lr"
        raise invalid(f"{which}: torch.optim.SGD refuses it: {msg}")
    p.grad = t32(grad) / iter_size
    opt.state[p]["momentum_buffer"] = t32(hist).clone()
    opt.step()
    return {"param": p.detach(), "history": opt.state[p]["momentum_buffer"]}


# ----------------------------------------------------------------------------------- mining


def roi_loss_torch(prob, labels, bbox=None, eps=2.0**-52):
    """The hardness of OHEMDataLayer.forward as a torch porter writes it from the original's
    numpy: -log(max(p_label, eps)) in float32, widened; the unnormalised smooth L1 (sigma 1) of the
    foreground RoIs with the float32 difference and F.smooth_l1_loss and the row sum in float64
    (the original's numpy promotes there). `bbox` = (pred, targets, inside, outside)."""
    r = prob.shape[0]
    p = prob[torch.arange(r), labels]
    cls = -torch.log(torch.clamp(p, min=eps))
    if bbox is None:
        box = torch.zeros(r, dtype=torch.float32)
    else:
        pred, tgt, w_in, w_out = bbox
        x = (w_in * (pred - tgt)).double()
        s = F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=1.0)
        box = torch.where(labels > 0, (w_out.double() * s).sum(dim=1), torch.zeros(r, dtype=torch.float64))
    cls64 = cls.double()
    box64 = box.double()
    return cls64 + box64, cls64, box64


def op_ohem_roi_loss(raw, I):
    A = Attrs(raw, "ohem_roi_loss", ("eps",))
    eps = A.num("eps", 2.0**-52, 0, math.inf, lo_open=True)
    prob = I.get("cls_prob", ["R", "K"], F32, np.float32)
    labels = check_integers("labels", I.get("labels", ["R"], F32I), 0, prob.shape[1], "class id")
    names = ("bbox_pred", "bbox_targets", "bbox_inside_weights", "bbox_outside_weights")
    given = [n for n in names if I.has(n)]
    bbox = None
    if given:
        if len(given) != 4:
            missing = [n for n in names if n not in given][0]
            raise invalid(f"inputs.{missing}: the four bbox inputs come together (given: {', '.join(given)})")
        bbox = tuple(t32(I.get(n, ["R", "D"], F32, np.float32)) for n in names)
    loss, cls, box = roi_loss_torch(t32(prob), torch.from_numpy(labels), bbox, eps)
    return {"loss": loss, "cls_loss": cls, "bbox_loss": box}


def select_attrs(A, for_step=False):
    dialect = A.enum("dialect", "caffe-ohem", DIALECTS, CAP_SELECT["dialect"])
    allowed = DIALECT_ATTRS[dialect]
    for k in A.raw:
        if k not in allowed and k not in ("dialect",) and k not in A.extra:
            raise unsupported(f"attrs.{k}: not an attr of the {dialect} dialect in this port")
    ties_default = {"caffe-ohem": "index_desc", "mmdet-ohem": "index_desc", "tf-hard-example-miner": "index_asc", "ssd-hard-negative": "index_desc"}[dialect]
    ties = A.enum("ties", ties_default, TIES, CAP_SELECT["ties"])
    c = {"dialect": dialect, "ties": ties}
    if dialect == "caffe-ohem":
        c["batch_size"] = A.int("batch_size", 128, 1 if for_step else 0, None)
        c["use_nms"] = A.bool("use_nms", True)
        c["nms_threshold"] = A.num("nms_threshold", 0.7, 0, 1)
        A.enum("box_convention", "plus1", BOX, CAP_SELECT["box_convention"])
        A.enum("suppress", "gt", SUPPRESS, CAP_SELECT["suppress"])
        p = A.enum("precision", "float32", PRECISION, CAP_SELECT["precision"])
        c["dt"] = torch.float32 if p == "float32" else torch.float64
    elif dialect == "mmdet-ohem":
        c["num"] = A.int("num", 512, 1, None)
        c["pos_fraction"] = A.num("pos_fraction", 0.25, 0, 1)
        ub = A.raw.get("neg_pos_ub", -1)
        c["neg_pos_ub"] = -1 if ub == -1 else A.num("neg_pos_ub", -1, 0)
    elif dialect == "tf-hard-example-miner":
        c["loss_type"] = A.enum("loss_type", "both", ("both", "cls", "loc"), CAP_SELECT["loss_type"])
        c["cls_loss_weight"] = A.num("cls_loss_weight", 0.05)
        c["loc_loss_weight"] = A.num("loc_loss_weight", 0.06)
        c["num_hard_examples"] = A.int("num_hard_examples", 64, 0, None)
        c["iou_threshold"] = A.num("iou_threshold", 0.7, 0, 1)
        r = A.raw.get("max_negatives_per_positive")
        c["max_negatives_per_positive"] = None if r is None else A.num("max_negatives_per_positive", None, 0)
        c["min_negatives_per_image"] = A.int("min_negatives_per_image", 0, 0, None)
    else:
        c["neg_pos_ratio"] = A.num("neg_pos_ratio", 3.0, 0)
    return c


def select_needs(c):
    if c["dialect"] in ("mmdet-ohem", "ssd-hard-negative"):
        return ("cls_loss",)
    if c["dialect"] == "tf-hard-example-miner":
        return {"cls": ("cls_loss",), "loc": ("bbox_loss",), "both": ("cls_loss", "bbox_loss")}[c["loss_type"]]
    return ()


def select_hard(c, loss, rois, labels, cls_loss=None, bbox_loss=None):
    """hard_inds (int64 tensor) of one dialect. loss, cls_loss, bbox_loss: float64 [R]; rois
    float32 or float64 [R, 5]; labels int64 [R]."""
    r = loss.shape[0]
    d = c["dialect"]
    if d == "caffe-ohem":
        if c["use_nms"] and r:
            # the original's groups: image id by the float32 value of rois[:, 0], then label
            _, img = torch.unique(rois[:, 0].to(torch.float32), return_inverse=True)
            lab_values, lab = torch.unique(labels, return_inverse=True)
            groups = img * lab_values.numel() + lab
            # one torchvision.ops.nms per (image, label) group, in the original's loop order:
            # batched_nms would hand back one keep list in score order, so equal losses of two
            # groups would come out by RoI index instead of the original's group order.
            parts = []
            for g in torch.unique(groups).tolist():
                idx = torch.nonzero(groups == g).flatten()
                parts.append(idx[tvops.nms(rois[idx, 1:5].to(c["dt"]), loss[idx].to(c["dt"]), c["nms_threshold"])])
            keep = torch.cat(parts)
        else:
            keep = torch.arange(r)
        order = torch.sort(loss[keep], descending=True, stable=True).indices
        return keep[order[: c["batch_size"]]]
    img = torch.trunc(rois[:, 0].double()).long()
    out = []
    if d == "mmdet-ohem":
        pos = torch.nonzero(labels > 0).flatten()
        neg = torch.nonzero(labels == 0).flatten()
        n_pos = int(c["num"] * c["pos_fraction"])
        pos = pos if pos.numel() <= n_pos else pos[torch.sort(cls_loss[pos], descending=True, stable=True).indices[:n_pos]]
        pos = pos.unique()
        n_neg = c["num"] - pos.numel()
        if c["neg_pos_ub"] >= 0:
            n_neg = min(n_neg, int(c["neg_pos_ub"] * max(1, pos.numel())))
        neg = neg if neg.numel() <= n_neg else neg[torch.sort(cls_loss[neg], descending=True, stable=True).indices[:n_neg]]
        return torch.cat([pos, neg.unique()])
    for g in torch.unique(img).tolist():
        idx = torch.nonzero(img == g).flatten()
        if d == "tf-hard-example-miner":
            lt = c["loss_type"]
            il = cls_loss[idx] if lt == "cls" else bbox_loss[idx] if lt == "loc" else cls_loss[idx] * c["cls_loss_weight"] + bbox_loss[idx] * c["loc_loss_weight"]
            sel = tvops.nms(rois[idx, 1:5].to(torch.float32), il.to(torch.float32), c["iou_threshold"])
            if c["num_hard_examples"] > 0:
                sel = sel[: c["num_hard_examples"]]
            if c["max_negatives_per_positive"] is not None:
                is_pos = labels[idx[sel]] > 0
                max_neg = max(c["min_negatives_per_image"], int(math.floor(c["max_negatives_per_positive"] * int(is_pos.sum()))))
                sel = sel[is_pos | (torch.cumsum((~is_pos).long(), 0) <= max_neg)]
            out.append(idx[sel])
        else:  # ssd-hard-negative, as torchvision's SSD compute_loss writes it
            fg = labels[idx] > 0
            neg_loss = cls_loss[idx].clone()
            neg_loss[fg] = -math.inf
            order = torch.sort(neg_loss, descending=True, stable=True).indices
            rank = torch.sort(order, stable=True).indices
            num_negative = c["neg_pos_ratio"] * int(fg.sum())
            keep = fg | (rank < num_negative)
            out.append(idx[keep])
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def select_inputs(I, c):
    loss = I.get("loss", ["R"], F32, np.float64)
    rois = I.get("rois", ["R", 5], F32)
    check_finite("rois", rois)
    if rois.shape[0] and (np.trunc(rois[:, 0]) < 0).any():
        r = int(np.flatnonzero(np.trunc(rois[:, 0]) < 0)[0])
        raise invalid(f"inputs.rois: row {r} has batch index {rois[r, 0]!r} < 0")
    labels = check_integers("labels", I.get("labels", ["R"], F32I), 0, 2**31, "class id")
    extra = {n: t64(I.get(n, ["R"], F32, np.float64)) for n in select_needs(c)}
    if rois.shape[0] > MAX_NMS_BOXES:
        raise invalid(f"inputs.rois: {rois.shape[0]} RoIs, more than this port's NMS takes ({MAX_NMS_BOXES})")
    return t64(loss), torch.from_numpy(np.ascontiguousarray(rois)), torch.from_numpy(labels), extra


def op_ohem_select(raw, I):
    A = Attrs(raw, "ohem_select", ("dialect", "ties") + tuple({a for v in DIALECT_ATTRS.values() for a in v}))
    c = select_attrs(A)
    loss, rois, labels, extra = select_inputs(I, c)
    hard = select_hard(c, loss, rois, labels, extra.get("cls_loss"), extra.get("bbox_loss"))
    return {"hard_inds": hard.to(torch.int32)}


PARAMS = ("fc6_w", "fc6_b", "fc7_w", "fc7_b", "cls_score_w", "cls_score_b", "bbox_pred_w", "bbox_pred_b")
STEP_ATTRS = POOL_ATTRS + ("dropout_ratio", "eps", "sigma", "normalization")


def op_ohem_step(raw, I):
    A = Attrs(raw, "ohem_step", STEP_ATTRS + ("dialect", "ties") + tuple({a for v in DIALECT_ATTRS.values() for a in v}))
    A.extra = STEP_ATTRS
    ph, pw, s = pool_attrs(A)
    ratio = A.num("dropout_ratio", 0.5, 0, 1, hi_open=True)
    if np.float32(ratio) >= 1:
        raise invalid(f"attrs.dropout_ratio: {ratio!r} rounds to 1 in float32")
    eps = A.num("eps", 2.0**-52, 0, math.inf, lo_open=True)
    beta = smooth_l1_beta(A)
    norm = A.enum("normalization", "valid", NORMALIZATION, NORMALIZATION)
    c = select_attrs(A, for_step=True)

    feats = I.get("features", ["N", "C", "H", "W"], F32, np.float32)
    n, ch, h, w = feats.shape
    P = {}
    P["fc6_w"] = I.get("fc6_w", ["H6", ch * ph * pw], F32, np.float32)
    P["fc6_b"] = I.get("fc6_b", ["H6"], F32, np.float32)
    P["fc7_w"] = I.get("fc7_w", ["H7", "H6"], F32, np.float32)
    P["fc7_b"] = I.get("fc7_b", ["H7"], F32, np.float32)
    P["cls_score_w"] = I.get("cls_score_w", ["K", "H7"], F32, np.float32)
    P["cls_score_b"] = I.get("cls_score_b", ["K"], F32, np.float32)
    k = I.env["K"]
    P["bbox_pred_w"] = I.get("bbox_pred_w", [4 * k, "H7"], F32, np.float32)
    P["bbox_pred_b"] = I.get("bbox_pred_b", [4 * k], F32, np.float32)
    rois = check_rois(I, "rois", n, s)
    r = rois.shape[0]
    labels = check_integers("labels", I.get("labels", ["R"], F32I), 0, k, "class id")
    tgt = I.get("bbox_targets", ["R", 4 * k], F32, np.float32)
    w_in = I.get("bbox_inside_weights", ["R", 4 * k], F32, np.float32)
    w_out = I.get("bbox_outside_weights", ["R", 4 * k], F32, np.float32)
    masks = {}
    if ratio > 0:
        for name, dim in (("readonly_mask6", "H6"), ("readonly_mask7", "H7"), ("train_mask6", "H6"), ("train_mask7", "H7")):
            masks[name] = t32(check_mask(name, I.get(name, ["R", dim], F32I)))
    h6, h7 = I.env["H6"], I.env["H7"]
    work_budget("inputs.rois", 3 * r * (ch * ph * pw * h6 + h6 * h7 + h7 * 5 * k) + 3 * r * ch * ((h + ph) * (w + pw)))
    out_budget(("inputs.features", n * ch * h * w + sum(a.size for a in P.values()), 4))

    scale = torch.tensor(1.0 / (1.0 - ratio), dtype=torch.float32)
    ft = t32(feats).requires_grad_(True)
    pt = {name: t32(a).requires_grad_(True) for name, a in P.items()}
    rt = t32(rois)

    def head(rois_t, m6, m7):
        pool = tvops.roi_pool(ft, rois_t, (ph, pw), s).flatten(1)
        x6 = torch.relu(F.linear(pool, pt["fc6_w"], pt["fc6_b"]))
        if m6 is not None:
            x6 = x6 * m6 * scale
        x7 = torch.relu(F.linear(x6, pt["fc7_w"], pt["fc7_b"]))
        if m7 is not None:
            x7 = x7 * m7 * scale
        return F.linear(x7, pt["cls_score_w"], pt["cls_score_b"]), F.linear(x7, pt["bbox_pred_w"], pt["bbox_pred_b"])

    lab_t = torch.from_numpy(labels)
    bbox_in = (t32(tgt), t32(w_in), t32(w_out))
    with torch.no_grad():
        score_ro, bbox_ro = head(rt, masks.get("readonly_mask6"), masks.get("readonly_mask7"))
        prob = torch.softmax(score_ro, dim=1)
        roi_loss, cls_loss, bbox_loss = roi_loss_torch(prob, lab_t, (bbox_ro,) + bbox_in, eps)
        hard = select_hard(c, roi_loss, rt, lab_t, cls_loss, bbox_loss)
    if hard.numel() == 0:
        raise invalid("inputs.labels: the selection is empty (no hard RoI): ohem_step needs at least one")
    m6 = masks["train_mask6"][hard] if ratio > 0 else None
    m7 = masks["train_mask7"][hard] if ratio > 0 else None
    score, bbox = head(rt[hard], m6, m7)
    loss_cls = cross_entropy(score, lab_t[hard], norm, -100)
    loss_bbox = smooth_l1_sum(bbox, bbox_in[0][hard], bbox_in[1][hard], bbox_in[2][hard], beta) / hard.numel()
    (loss_cls + loss_bbox).backward()
    out = {"roi_loss": roi_loss, "cls_loss": cls_loss, "bbox_loss": bbox_loss, "hard_inds": hard.to(torch.int32),
           "loss_cls": loss_cls.detach().reshape(()), "loss_bbox": loss_bbox.detach().reshape(())}
    for name in PARAMS:
        g = pt[name].grad
        out[name + "_grad"] = g if g is not None else torch.zeros_like(pt[name])
    out["features_grad"] = ft.grad if ft.grad is not None else torch.zeros_like(ft)
    return out


OPS = {
    "roi_pool": (op_roi_pool, ("features", "rois")),
    "roi_pool_backward": (op_roi_pool_backward, ("rois", "argmax", "top_grad")),
    "roi_align": (op_roi_align, ("features", "rois")),
    "roi_align_backward": (op_roi_align_backward, ("rois", "top_grad", "argmax_y", "argmax_x")),
    "linear": (op_linear, ("x", "w", "b")),
    "linear_backward": (op_linear_backward, ("x", "w", "dy")),
    "relu": (op_relu, ("x",)),
    "relu_backward": (op_relu_backward, ("x", "dy")),
    "dropout": (op_dropout, ("x", "mask")),
    "dropout_backward": (op_dropout_backward, ("dy", "mask")),
    "softmax": (op_softmax, ("x",)),
    "softmax_loss": (op_softmax_loss, ("scores", "labels")),
    "smooth_l1_loss": (op_smooth_l1_loss, ("pred", "target", "inside_w", "outside_w")),
    "nms": (op_nms, ("boxes", "scores")),
    "top_k": (op_top_k, ("values",)),
    "sgd_update": (op_sgd_update, ("param", "grad", "history")),
    "ohem_roi_loss": (op_ohem_roi_loss, ("cls_prob", "labels", "bbox_pred", "bbox_targets", "bbox_inside_weights", "bbox_outside_weights")),
    "ohem_select": (op_ohem_select, ("loss", "rois", "labels", "cls_loss", "bbox_loss")),
    "ohem_step": (op_ohem_step, ("features", "rois", "labels", "bbox_targets", "bbox_inside_weights", "bbox_outside_weights") + PARAMS
                  + ("readonly_mask6", "readonly_mask7", "train_mask6", "train_mask7")),
}


def describe_info():
    return {
        "name": PORT_NAME,
        "version": PORT_VERSION,
        "protocol": 1,
        "protocol_minor": 1,
        "library": {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
                    "python": sys.version.split()[0]},
        "ops": ["describe", *OPS],
        "capabilities": CAPABILITIES,
        "limits": {"max_rank": MAX_RANK, "max_elements": MAX_ELEMENTS, "max_input_bytes": MAX_INPUT_BYTES,
                   "max_output_bytes": MAX_OUTPUT_BYTES},
    }


# ----------------------------------------------------------------------------------- loop


def answer(line):
    req_id = None
    try:
        try:
            req = json.loads(line)
        except ValueError as e:
            raise PortError("bad_request", f"the line is not valid JSON: {e}")
        if not isinstance(req, dict):
            raise PortError("bad_request", "a request is a JSON object with a string \"op\"")
        req_id = req.get("id")
        if isinstance(req_id, float) and not math.isfinite(req_id):
            req_id = None  # a NaN / Infinity id cannot be written back as JSON
            raise PortError("bad_request", "\"id\" must be a string or a finite number")
        if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (str, int, float))):
            raise PortError("bad_request", "\"id\" must be a string or a number")
        op = req.get("op")
        if not isinstance(op, str):
            raise PortError("bad_request", "the request lacks a string \"op\"")
        attrs = req.get("attrs")
        attrs = {} if attrs is None else attrs
        inputs = req.get("inputs")
        inputs = {} if inputs is None else inputs
        if not isinstance(attrs, dict):
            raise PortError("bad_request", "\"attrs\" must be an object")
        if not isinstance(inputs, dict):
            raise PortError("bad_request", "\"inputs\" must be an object of tensors")
        if op == "describe":
            return {"id": req_id, "outputs": {}, "info": describe_info()}
        if op not in OPS:
            raise PortError("unknown_op", f"op {op!r} is not implemented by this port")
        fn, names = OPS[op]
        budget = [MAX_INPUT_BYTES]
        decoded = {}
        for name, t in inputs.items():
            if name not in names:
                raise invalid(f"inputs.{name} is not an input of {op}")
            decoded[name] = decode_tensor(name, t, budget)
        with np.errstate(all="ignore"):
            outputs = fn(attrs, Inputs(decoded))
        return {"id": req_id, "outputs": {k: encode_tensor(v) for k, v in outputs.items()}}
    except PortError as e:
        return {"id": req_id, "error": {"code": e.code, "message": e.message}}
    except MemoryError:
        return {"id": req_id, "error": {"code": "invalid_input", "message": "the request needs more memory than this machine has"}}
    except Exception as e:  # a bug of this port: say so, keep serving
        return {"id": req_id, "error": {"code": "internal", "message": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}}


def main():
    out = sys.stdout
    for raw in sys.stdin.buffer:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.write(json.dumps({"id": None, "error": {"code": "bad_request", "message": "the line is not UTF-8"}}) + "\n")
            out.flush()
            continue
        if not line.strip():
            continue
        try:
            text = json.dumps(answer(line), allow_nan=False)
        except (ValueError, TypeError) as e:  # never expected: the answer is built from JSON-safe parts
            text = json.dumps({"id": None, "error": {"code": "internal", "message": f"could not write the answer: {e}"}})
        out.write(text + "\n")
        out.flush()


if __name__ == "__main__":
    main()
