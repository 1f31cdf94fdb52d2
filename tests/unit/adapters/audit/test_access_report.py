"""The citizen's access report over a real audit store: who may read it, what it shows, and that
reading it is itself recorded before anything is released."""

from __future__ import annotations

import pytest

from adapters.audit import SqliteAuditLog
from router.access_report import (
    ACCESS_LOG_DATASET,
    AccessLogDenied,
    AccessReport,
    InvalidSubjectId,
)
from router.audit import AuditUnavailable
from router.directory import Directory, System
from router.evidence.errors import OfficialRequired
from router.policy import Policy, Rule
from tests.unit.adapters.audit.conftest import CITIZEN, OTHER, access

PORTAL = System("000.00.00.G22/dvcqg", "000.00.00.G22", "dvcqg", member_name="Văn phòng Chính phủ")
TRANSPORT = System(
    "000.00.00.H44/motcua", "000.00.00.H44", "motcua", member_name="Sở Giao thông vận tải tỉnh Quảng Bình"
)
OUTSIDER = System("000.00.00.H56/motcua", "000.00.00.H56", "motcua")


def report(store: SqliteAuditLog) -> AccessReport:
    policy = Policy([Rule(systems=(PORTAL.id,), read_access_log=True)])
    return AccessReport(store, Directory([PORTAL, TRANSPORT, OUTSIDER]), policy)


async def test_the_report_names_who_looked_and_records_the_reading(store: SqliteAuditLog) -> None:
    await store.record([access(1, requester=TRANSPORT.id), access(2, subject=OTHER)])
    page = await report(store).read(
        PORTAL, CITIZEN, official="citizen", request_id="r-read", before=None, limit=10
    )
    assert page.subject == CITIZEN and page.next_before is None
    reading, looked = page.entries
    # the reading itself comes first: the citizen sees that the portal read their log
    assert (
        reading.dataset,
        reading.requester,
        reading.requester_name,
        reading.official,
        reading.outcome,
    ) == (
        ACCESS_LOG_DATASET,
        PORTAL.id,
        "Văn phòng Chính phủ",
        "citizen",
        "released",
    )
    assert looked.requester_name == "Sở Giao thông vận tải tỉnh Quảng Bình"
    assert looked.requester_member == "000.00.00.H44"
    assert (looked.official, looked.dataset, looked.purpose, looked.procedure) == (
        "canbo.01",
        "citizen.identity",
        "dossier_processing",
        "1.002861",
    )
    assert (looked.dossier, looked.outcome, looked.provider) == (
        "000.00.00.H49-261127-0001",
        "released",
        "population",
    )
    assert looked.at.endswith("Z") and looked.at[10] == "T"
    assert await store.verify() == []


async def test_a_requester_no_longer_in_the_directory_is_shown_by_its_code(store: SqliteAuditLog) -> None:
    await store.record([access(1, requester="000.00.00.H99/cu")])
    page = await report(store).read(
        PORTAL, CITIZEN, official="citizen", request_id="r", before=None, limit=10
    )
    assert (page.entries[1].requester_member, page.entries[1].requester_name) == (
        "000.00.00.H99",
        "000.00.00.H99",
    )


async def test_pages_run_from_newest_to_oldest(store: SqliteAuditLog) -> None:
    await store.record([access(n) for n in range(5)])
    access_report = report(store)
    first = await access_report.read(
        PORTAL, CITIZEN, official="citizen", request_id="a", before=None, limit=4
    )
    assert [e.seq for e in first.entries] == [6, 5, 4, 3] and first.next_before == 3
    second = await access_report.read(PORTAL, CITIZEN, official="citizen", request_id="b", before=3, limit=4)
    assert [e.seq for e in second.entries] == [2, 1] and second.next_before is None


async def test_a_system_without_the_grant_is_refused_and_the_attempt_recorded(store: SqliteAuditLog) -> None:
    with pytest.raises(AccessLogDenied, match="read_access_log"):
        await report(store).read(OUTSIDER, CITIZEN, official="x", request_id="r", before=None, limit=10)
    [attempt] = await store.for_subject(CITIZEN)
    assert (attempt.requester, attempt.dataset, attempt.outcome) == (
        OUTSIDER.id,
        ACCESS_LOG_DATASET,
        "access_log_denied",
    )


async def test_a_reader_must_be_named_and_the_attempt_is_recorded(store: SqliteAuditLog) -> None:
    with pytest.raises(OfficialRequired, match="X-Official-Id"):
        await report(store).read(PORTAL, CITIZEN, official="", request_id="r", before=None, limit=10)
    [attempt] = await store.for_subject(CITIZEN)
    assert (attempt.requester, attempt.outcome) == (PORTAL.id, "official_required")


@pytest.mark.parametrize("subject", ["12345", "001099O12345", "097099012345", "0100109107", "x" * 40, ""])
async def test_only_personal_ids_and_tax_codes_are_subjects(store: SqliteAuditLog, subject: str) -> None:
    with pytest.raises(InvalidSubjectId):
        await report(store).read(PORTAL, subject, official="citizen", request_id="r", before=None, limit=10)
    assert await store.latest() == []


async def test_a_tax_code_is_a_subject(store: SqliteAuditLog) -> None:
    await store.record([access(1, subject="0100109106-001")])
    page = await report(store).read(
        PORTAL, "0100109106001", official="citizen", request_id="r", before=None, limit=10
    )
    assert [e.request_id for e in page.entries] == ["r", "req-1"]


async def test_nothing_is_released_when_the_reading_cannot_be_recorded(store: SqliteAuditLog) -> None:
    await store.record([access(1)])
    await store.close()
    with pytest.raises(AuditUnavailable):
        await report(store).read(PORTAL, CITIZEN, official="citizen", request_id="r", before=None, limit=10)
