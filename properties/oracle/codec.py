"""Tensor codec and attr/input helpers for the ohem-ref Python oracle (PROTOCOL.md, "Messages").

Written from PROTOCOL.md and SPEC.md only (independence rule: nothing
under src/ was read). Every helper raises OracleError with the protocol error code and one
sentence that names the offending input or attr.
"""

from __future__ import annotations

import binascii
import math
from typing import Any

import numpy as np

F32 = np.float32
F64 = np.float64
I32 = np.int32

# little-endian numpy dtypes of the three wire dtypes
WIRE_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int32": np.dtype("<i4")}
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class OracleError(Exception):
    """An error answer: code is one of bad_request, unknown_op, invalid_input, unsupported, internal."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> OracleError:
    return OracleError("invalid_input", message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---------------------------------------------------------------- decoding

def decode_tensor(name: str, t: Any) -> np.ndarray:
    """Wire tensor -> numpy array of its own wire dtype (float32, float64 or int32), validated."""
    if not isinstance(t, dict):
        raise invalid(f"input '{name}' must be a tensor object with dtype, shape and data or b64")
    dtype = t.get("dtype")
    if dtype not in WIRE_DTYPES:
        raise invalid(f"input '{name}' has dtype {dtype!r}; expected one of float32, float64, int32")
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise invalid(f"input '{name}' has shape {shape!r}; expected a list of non-negative integers")
    count = math.prod(shape)  # prod([]) == 1: a scalar holds one value
    has_data, has_b64 = "data" in t, "b64" in t
    if has_data == has_b64:
        raise invalid(f"input '{name}' must carry exactly one of 'data' or 'b64'")
    np_dtype = WIRE_DTYPES[dtype]
    if has_b64:
        b64 = t["b64"]
        if not isinstance(b64, str):
            raise invalid(f"input '{name}' b64 must be a base64 string")
        try:
            # = base64.b64decode(b64, validate=True), without its str -> bytes copy
            raw = binascii.a2b_base64(b64, strict_mode=True)
        except (binascii.Error, ValueError):
            raise invalid(f"input '{name}' b64 is not valid base64") from None
        if len(raw) != count * np_dtype.itemsize:
            raise invalid(
                f"input '{name}' b64 holds {len(raw)} bytes; shape {shape} of {dtype} needs "
                f"{count * np_dtype.itemsize}")
        arr = np.frombuffer(raw, dtype=np_dtype)  # read-only: no op writes into its inputs
    else:
        data = t["data"]
        if not isinstance(data, list):
            raise invalid(f"input '{name}' data must be a flat list of values")
        if len(data) != count:
            raise invalid(f"input '{name}' has {len(data)} data values but shape {shape} needs {count}")
        if dtype == "int32":
            vals = []
            for v in data:
                if _is_int(v):
                    iv = v
                elif isinstance(v, float) and math.isfinite(v) and v == math.floor(v):
                    iv = int(v)  # 3.0 is accepted as 3 (JSON writers may not distinguish)
                else:
                    raise invalid(f"input '{name}' is int32 but holds the non-integer value {v!r}")
                if not INT32_MIN <= iv <= INT32_MAX:
                    raise invalid(f"input '{name}' is int32 but holds {iv}, outside the int32 range")
                vals.append(iv)
            arr = np.array(vals, dtype=np_dtype)
        else:
            vals = []
            for v in data:
                if _is_number(v):
                    vals.append(float(v))
                elif isinstance(v, str) and v in NONFINITE:
                    vals.append(NONFINITE[v])
                else:
                    raise invalid(f"input '{name}' holds {v!r}; expected a number or NaN/Infinity/-Infinity")
            # decimal -> double (Python's correctly rounded parse) -> float32 when dtype is float32
            with np.errstate(over="ignore"):
                arr = np.array(vals, dtype=np.float64).astype(np_dtype)
    return arr.astype(np_dtype.newbyteorder("="), copy=False).reshape(shape)


def encode_tensor(arr: np.ndarray) -> dict:
    """numpy array -> wire tensor with exact bits (b64, little-endian), dtype and shape.
    The b64 value is ASCII bytes (oracle.py writes it into the response line as is)."""
    arr = np.asarray(arr)
    for wire, dt in WIRE_DTYPES.items():
        if arr.dtype == dt.newbyteorder("="):
            raw = np.ascontiguousarray(arr, dtype=dt)
            return {"dtype": wire, "shape": [int(d) for d in arr.shape],
                    "b64": binascii.b2a_base64(raw.reshape(-1).view(np.uint8), newline=False)}
    raise OracleError("internal", f"output of dtype {arr.dtype} has no wire dtype")


# ---------------------------------------------------------------- inputs

class Inputs:
    """Decoded inputs of one request, with typed accessors that validate."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.cache: dict[str, np.ndarray] = {}

    def has(self, name: str) -> bool:
        return name in self.raw

    def arr(self, name: str) -> np.ndarray:
        if name not in self.raw:
            raise invalid(f"input '{name}' is required but missing")
        if name not in self.cache:
            self.cache[name] = decode_tensor(name, self.raw[name])
        return self.cache[name]

    def float32(self, name: str, rank: int | None = None) -> np.ndarray:
        """A float input computed in float32: float64 is rounded to float32, int32 is rejected."""
        a = self.arr(name)
        if a.dtype.kind != "f":
            raise invalid(f"input '{name}' must be float32 or float64, got int32")
        check_rank(name, a, rank)
        return a.astype(F32, copy=False)  # the decoded array itself when it is float32 (never mutated)

    def float_keep(self, name: str, rank: int | None = None) -> np.ndarray:
        """A float input that keeps its dtype (float32 or float64)."""
        a = self.arr(name)
        if a.dtype.kind != "f":
            raise invalid(f"input '{name}' must be float32 or float64, got int32")
        check_rank(name, a, rank)
        return a

    def out_dtype(self, name: str):
        """Dtype of an output that PROTOCOL.md's table leaves open: the float dtype this input arrived
        in (float64 -> float64, else float32). The value is still the float32 result, widened exactly."""
        return F64 if self.arr(name).dtype == np.dtype(F64) else F32

    def int32(self, name: str, rank: int | None = None) -> np.ndarray:
        a = self.arr(name)
        if a.dtype != np.dtype(I32):
            raise invalid(f"input '{name}' must be int32, got {a.dtype.name}")
        check_rank(name, a, rank)
        return a

    def labels(self, name: str, n: int, k: int, ignore_label: int | None = None) -> np.ndarray:
        """Class labels [n] given as float (integers in value) or int32 -> int64 array.

        Non-integer, non-finite or out-of-range [0, k) values are rejected; a label equal to
        ignore_label (when set) is exempt from the range check (Caffe tests ignore first)."""
        a = self.arr(name)
        check_rank(name, a, 1)
        if a.shape[0] != n:
            raise invalid(f"input '{name}' has {a.shape[0]} labels but there are {n} rows")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise invalid(f"input '{name}' holds a non-finite label")
            if not np.all(a == np.floor(a)):
                bad = a[a != np.floor(a)][0]
                raise invalid(f"input '{name}' holds the non-integer label {float(bad)!r}")
        lab = a.astype(np.int64)
        ok = (lab >= 0) & (lab < k)
        if ignore_label is not None:
            ok |= lab == ignore_label
        if not np.all(ok):
            bad = lab[~ok][0]
            raise invalid(f"input '{name}' holds the label {int(bad)}, outside [0, {k})")
        return lab


def check_rank(name: str, a: np.ndarray, rank: int | None) -> None:
    if rank is not None and a.ndim != rank:
        raise invalid(f"input '{name}' must have rank {rank}, got shape {list(a.shape)}")


def check_shape(name: str, a: np.ndarray, shape: tuple | list) -> None:
    if tuple(a.shape) != tuple(shape):
        raise invalid(f"input '{name}' has shape {list(a.shape)}; expected {list(shape)}")


def check_no_nan(name: str, a: np.ndarray) -> None:
    if a.dtype.kind == "f" and np.any(np.isnan(a)):
        raise invalid(f"input '{name}' holds NaN")


def check_finite(name: str, a: np.ndarray) -> None:
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise invalid(f"input '{name}' holds a non-finite value (NaN or infinity)")


# ---------------------------------------------------------------- attrs

_MISSING = object()


class Attrs:
    def __init__(self, raw: dict):
        self.raw = raw
        self.seen: set[str] = set()

    def _get(self, name: str, default: Any) -> Any:
        self.seen.add(name)
        v = self.raw.get(name, _MISSING)
        if v is _MISSING or v is None:
            if default is _MISSING:
                raise invalid(f"attrs.{name} is required but missing")
            return default
        return v

    def int(self, name: str, default: Any = _MISSING, minimum: int | None = None) -> int:
        v = self._get(name, default)
        if isinstance(v, float) and math.isfinite(v) and v == math.floor(v):
            v = int(v)  # 7.0 is 7 (a JSON writer may not distinguish)
        if not _is_int(v):
            raise invalid(f"attrs.{name} must be an integer, got {v!r}")
        if minimum is not None and v < minimum:
            raise invalid(f"attrs.{name} must be >= {minimum}, got {v}")
        return v

    def float(self, name: str, default: Any = _MISSING) -> float:
        v = self._get(name, default)
        if isinstance(v, str) and v in NONFINITE:
            v = NONFINITE[v]
        if not _is_number(v):
            raise invalid(f"attrs.{name} must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise invalid(f"attrs.{name} must be finite, got {v!r}")
        return v

    def enum(self, name: str, default: Any, choices: tuple[str, ...]) -> str:
        v = self._get(name, default)
        if v not in choices:
            raise invalid(f"attrs.{name} is {v!r}; expected one of {', '.join(choices)}")
        return v

    def int_list(self, name: str, length: int, default: Any = _MISSING) -> list[int]:
        v = self._get(name, default)
        if not isinstance(v, list) or len(v) != length:
            raise invalid(f"attrs.{name} must be a list of {length} non-negative integers, got {v!r}")
        out = []
        for d in v:
            if isinstance(d, float) and math.isfinite(d) and d == math.floor(d):
                d = int(d)
            if not _is_int(d) or d < 0:
                raise invalid(f"attrs.{name} must be a list of {length} non-negative integers, got {v!r}")
            out.append(d)
        return out

    def bool(self, name: str, default: Any = _MISSING) -> bool:
        v = self._get(name, default)
        if not isinstance(v, bool):
            raise invalid(f"attrs.{name} must be true or false, got {v!r}")
        return v

    def optional_float(self, name: str) -> float | None:
        """A number, or None when the attr is absent or null."""
        self.seen.add(name)
        if self.raw.get(name) is None:
            return None
        return self.float(name)

    def optional_int(self, name: str) -> int | None:
        self.seen.add(name)
        if self.raw.get(name) is None:
            return None
        return self.int(name)
