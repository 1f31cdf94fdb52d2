"""The process test_audit_disk_full.py runs: an audit store whose disk fills up.

``python audit_disk_full_child.py PATH``: opens the store at PATH and writes one record; then
lowers its own file-size limit (RLIMIT_FSIZE) to just above the files' size, so that SQLite's next
writes fail as on a full disk (the kernel refuses them: EFBIG, which Python does not turn into a
signal), tries to write a batch, and reports; raises the limit back (the disk freed) and reports
again. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from adapters.audit import AuditMetrics, SqliteAuditLog
from router.audit import AccessRecord, AuditUnavailable


def access(n: int, purpose: str = "dossier_processing") -> AccessRecord:
    return AccessRecord(
        f"req-{n}",
        "000.00.00.H49/motcua",
        "canbo",
        "citizen.identity",
        "001099012345",
        purpose,
        "1.002861",
        "",
        "released",
    )


async def main(path: Path) -> dict[str, Any]:
    registry = CollectorRegistry()
    store = SqliteAuditLog(path, b"disk-full test key, thirty-two bytes+", metrics=AuditMetrics(registry))
    await store.start()
    await store.record([access(0)])
    report: dict[str, Any] = {}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    largest = max(os.path.getsize(f) for f in (path, Path(f"{path}-wal")) if f.exists())
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 4096, hard))
    try:
        await store.record([access(n, "x" * 2000) for n in range(1, 100)])
        report["while_full"] = "written"
    except AuditUnavailable as error:
        report["while_full"] = f"AuditUnavailable: {error}"
    report["healthy_while_full"] = await store.healthy()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    report["healthy_after"] = await store.healthy()
    await store.record([access(100)])
    report["records"] = [r.request_id for r in await store.latest()]
    report["problems"] = [p.detail for p in await store.verify()]
    report["failures"] = registry.get_sample_value("lienthong_audit_write_failures_total")
    await store.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))), flush=True)
