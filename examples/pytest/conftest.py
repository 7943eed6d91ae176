"""pytest set-up for the example: python/ohem_ref.py on the import path, one reference server per
session, and the skip reasons printed in the summary (`-rs`) so that no golden case is skipped
silently.

The reference command: $OHEM_REF_COMMAND, else `npx ohem-ref serve` (run from the repo root), e.g.

    OHEM_REF_COMMAND="node bin/ohem-ref.mjs serve" python3 -m pytest examples/pytest -q
"""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from ohem_ref import OhemRefError, Reference  # noqa: E402


def pytest_configure(config):
    chars = getattr(config.option, "reportchars", "") or ""
    if "s" not in chars and "a" not in chars and "A" not in chars:
        config.option.reportchars = chars + "s"


@pytest.fixture(scope="session")
def ref():
    """The reference server, started once (cwd: the repo root, where `npx ohem-ref` resolves)."""
    r = Reference(cwd=str(REPO))
    try:
        info = r.describe()
    except OhemRefError as e:
        r.close()
        pytest.fail(f"the reference did not start ({' '.join(r.argv)}): {e.code}: {e.message}. "
                    "Set OHEM_REF_COMMAND to a working `ohem-ref serve` command.", pytrace=False)
    r.info = info
    yield r
    r.close()
