"""Refused access-report reads aggregated per window, on an injected clock; and the report writes
one record per window saying how many refusals it stands for."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from router.access_report import ACCESS_LOG_PURPOSE, AccessLogDenied, AccessReport
from router.audit import AccessRecord, ChainProblem, StoredAccessRecord
from router.directory import Directory, System
from router.refusal_windows import RefusalWindows

OUTSIDER = System("000.00.00.H56/motcua", "000.00.00.H56", "motcua")
CITIZEN = "001099012345"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorded:
    def __init__(self) -> None:
        self.records: list[AccessRecord] = []

    async def record(self, records: Sequence[AccessRecord]) -> None:
        self.records.extend(records)

    async def for_subject(
        self, subject: str, *, limit: int = 100, before: int | None = None
    ) -> list[StoredAccessRecord]:
        return []

    async def latest(self, limit: int = 50, *, before: int | None = None) -> list[StoredAccessRecord]:
        return []

    async def verify(self) -> list[ChainProblem]:
        return []

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class NoGrant:
    def may_read_access_log(self, system_id: str) -> bool:
        return False


def test_one_record_per_window_standing_for_the_refusals_counted() -> None:
    clock = Clock()
    windows = RefusalWindows(lambda: 60.0, clock)
    assert windows.admit("A/x", CITIZEN, "denied") == 1
    assert [windows.admit("A/x", CITIZEN, "denied") for _ in range(4)] == [0] * 4
    assert windows.admit("A/x", "001099012399", "denied") == 1  # another subject
    assert windows.admit("B/y", CITIZEN, "denied") == 1  # another caller
    clock.now = 60.0
    assert windows.admit("A/x", CITIZEN, "denied") == 5  # this one and the 4 counted
    assert windows.admit("A/x", CITIZEN, "denied") == 0


async def test_the_report_records_a_flood_of_refusals_once_with_its_count() -> None:
    clock = Clock()
    audit = Recorded()
    report = AccessReport(audit, Directory([OUTSIDER]), NoGrant(), RefusalWindows(lambda: 60.0, clock))
    for _ in range(10):
        with pytest.raises(AccessLogDenied):
            await report.read(OUTSIDER, CITIZEN, official="", request_id="r", before=None, limit=10)
    assert [r.purpose for r in audit.records] == [ACCESS_LOG_PURPOSE]
    clock.now = 61.0
    with pytest.raises(AccessLogDenied):
        await report.read(OUTSIDER, CITIZEN, official="", request_id="r", before=None, limit=10)
    assert len(audit.records) == 2
    assert "refused 10 times" in audit.records[1].purpose
    assert audit.records[1].outcome == "access_log_denied"
