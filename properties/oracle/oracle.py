#!/usr/bin/env python3
"""ohem-ref Python oracle: a JSON-lines server speaking PROTOCOL.md (protocol 1.1).

Written from SPEC.md and PROTOCOL.md only, independently of the
TypeScript reference (see README.md in this folder). Run from the repository root:

    python3 properties/oracle/oracle.py

One request per stdin line, one response per stdout line, in order, flushed after each line.
Logs go to stderr. EOF: exit 0. No request, however malformed, stops the loop.

Protocol 1.1 (PROTOCOL.md, "Version 1.1 — amendments"): describe says protocol 1, protocol_minor 1;
an attr name the op does not define is `unsupported` (ops.check_attr_names, before the op runs);
every answer to a line that parsed as a JSON object carries its id (null when it has none). The
request field "encoding" is not an attr and is ignored: outputs are always b64.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from codec import Attrs, Inputs, OracleError, encode_tensor  # noqa: E402
from ops import OP_ATTRS, OPS, check_attr_names  # noqa: E402

NAME = "ohem-ref-python-oracle"
VERSION = "1"
PROTOCOL = 1
PROTOCOL_MINOR = 1


def log(msg: str) -> None:
    print(f"[oracle] {msg}", file=sys.stderr, flush=True)


def _reject_constant(name: str):
    # bare NaN / Infinity literals are not JSON; non-finite values travel as strings
    raise ValueError(f"{name} is not valid JSON")


def handle_line(line: bytes) -> dict:
    """One request line -> one response object. Never raises."""
    req_id = None
    try:
        try:
            text = line.decode("utf-8")
            req = json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise OracleError("bad_request", f"the line is not valid JSON: {e}") from None
        if not isinstance(req, dict):
            raise OracleError("bad_request", "the request must be a JSON object")
        req_id = req.get("id")
        op = req.get("op")
        if op is None:
            raise OracleError("bad_request", "the request has no 'op'")
        if not isinstance(op, str):
            raise OracleError("bad_request", "'op' must be a string")
        attrs = req.get("attrs", {})
        inputs = req.get("inputs", {})
        if attrs is None:
            attrs = {}
        if inputs is None:
            inputs = {}
        if not isinstance(attrs, dict):
            raise OracleError("bad_request", "'attrs' must be an object")
        if not isinstance(inputs, dict):
            raise OracleError("bad_request", "'inputs' must be an object")
        if op == "describe":
            return {"id": req_id, "outputs": {},
                    "info": {"name": NAME, "version": VERSION, "protocol": PROTOCOL,
                             "protocol_minor": PROTOCOL_MINOR, "ops": list(OPS)}}
        fn = OPS.get(op)
        if fn is None:
            raise OracleError("unknown_op", f"op '{op}' is not implemented by this oracle")
        check_attr_names(op, attrs)  # PROTOCOL.md 1.1 amendment 1
        ins, ats = Inputs(inputs), Attrs(attrs)
        outputs = fn(ats, ins)
        # input names the op does not read are ignored (PROTOCOL.md: additions are fine), but logged
        unused = sorted(set(inputs) - set(ins.cache))
        if unused:
            log(f"id={req_id!r} op={op}: ignored inputs {unused}")
        undeclared = sorted(ats.seen - set(OP_ATTRS[op]))
        if undeclared:  # an oracle bug: an attr read but missing from ops.OP_ATTRS
            log(f"id={req_id!r} op={op}: INTERNAL attrs read but not declared in OP_ATTRS: {undeclared}")
        return {"id": req_id, "outputs": {k: encode_tensor(v) for k, v in outputs.items()}}
    except OracleError as e:
        return {"id": req_id, "error": {"code": e.code, "message": e.message}}
    except Exception as e:  # a bug of the oracle: answer 'internal', keep serving
        log(traceback.format_exc())
        return {"id": req_id, "error": {"code": "internal", "message": f"{type(e).__name__}: {e}"}}


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def response_parts(resp: dict) -> list[bytes]:
    """The response line as byte pieces. A success is written piecewise, each tensor's b64 bytes
    as they are (pure base64: nothing to escape), so a large output is never re-scanned by the
    JSON encoder nor copied into one string; the line is the same JSON json.dumps would write."""
    if "outputs" not in resp or not resp["outputs"]:
        return [_dumps(resp), b"\n"]
    parts = [b'{"id":', _dumps(resp["id"]), b',"outputs":{']
    for i, (name, t) in enumerate(resp["outputs"].items()):
        parts.append((b"," if i else b"") + _dumps(name) + b':{"dtype":' + _dumps(t["dtype"])
                     + b',"shape":' + _dumps(t["shape"]) + b',"b64":"')
        parts.append(t["b64"])
        parts.append(b'"}')
    parts.append(b"}}\n")
    return parts


def main() -> int:
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        resp = handle_line(line)  # JSON allows the trailing \r\n as whitespace
        try:
            parts = response_parts(resp)
        except (TypeError, ValueError) as e:
            parts = [_dumps({"id": None if not isinstance(resp.get("id"), (str, int, float))
                             else resp.get("id"),
                             "error": {"code": "internal", "message": f"unserialisable response: {e}"}}), b"\n"]
        for p in parts:
            stdout.write(p)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
