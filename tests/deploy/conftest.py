"""The Prometheus binaries the deployment tests run (Debian's ``prometheus`` package).

Without them a test skips with the reason, except when ``LIENTHONG_REQUIRE_PROMETHEUS=1`` (CI):
then it fails, so that CI cannot pass without having run them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRE_ENV = "LIENTHONG_REQUIRE_PROMETHEUS"
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def binary(name: str) -> str:
    """The path of ``name`` (promtool, prometheus), or skip (fail when required) if absent."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if found is not None:
        return found
    reason = f"{name} not found: install Debian's prometheus package (apt-get install prometheus)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def promtool() -> str:
    return binary("promtool")


@pytest.fixture
def prometheus() -> str:
    return binary("prometheus")
