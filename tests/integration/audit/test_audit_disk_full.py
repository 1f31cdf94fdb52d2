"""A full disk under the audit store (a real write failure: the kernel's file-size limit in a child
process, which root cannot bypass as it can file modes): the records are refused with
AuditUnavailable, the store reports unhealthy, and it recovers by itself once there is room."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.support.paths import ROOT

CHILD = Path(__file__).with_name("audit_disk_full_child.py")


def test_a_full_disk_withholds_then_recovers(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path / "audit.db")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout.splitlines()[-1])
    assert report["while_full"].startswith("AuditUnavailable: the audit log could not be written")
    assert report["healthy_while_full"] is False
    assert report["failures"] == 1.0
    assert report["healthy_after"] is True
    assert report["records"] == ["req-100", "req-0"]  # none of the refused batch was written
    assert report["problems"] == []
