"""``GET /v1/subjects/{id}/access-log`` on the bus under uvicorn: records written by the real audit
store into the bus's audit file, read back by an allowed and a refused system; and an evidence
query whose access the citizen then sees, in a log that still verifies after the bus stopped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.audit import SqliteAuditLog
from router.audit import AccessRecord
from tests.support.bus import ONESTOP, OUTSIDER, PORTAL, BusConfig, BusProcess
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY,
    evidence_config,
    query_body,
    registries,
    transport_firm,
)
from tests.support.paths import ROOT

CITIZEN = "001099012345"
NAMED = {"X-Official-Id": "citizen:self"}  # the portal names the citizen logged in
TRANSPORT_DEPARTMENT = "Sở Giao thông vận tải tỉnh Quảng Bình"
NAMES = {"000.00.00.H49": TRANSPORT_DEPARTMENT, "000.00.00.G22": "Văn phòng Chính phủ"}
READER = {"systems": [PORTAL], "read_access_log": True}
SEEDED = 5


def seed(path: Path) -> None:
    """Records written through the store's own API into the file the bus will open."""

    async def write() -> None:
        store = SqliteAuditLog(path, AUDIT_KEY.encode())
        await store.start()
        try:
            await store.record(
                [
                    AccessRecord(
                        request_id=f"seed-{n}",
                        requester=ONESTOP,
                        official="canbo.giaothong.01",
                        dataset="citizen.identity",
                        subject=CITIZEN if n % 2 else "001099012399",
                        purpose="dossier_processing",
                        procedure="1.002861",
                        dossier=f"000.00.00.H49-261127-000{n}",
                        outcome="released",
                        provider="population",
                    )
                    for n in range(1, 2 * SEEDED)
                ]
            )
        finally:
            await store.close()

    asyncio.run(write())


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusConfig]:
    directory = tmp_path_factory.mktemp("access-log")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        seed(directory / "audit.db")
        yield BusConfig(
            directory,
            extra_policies=[READER],
            member_names=NAMES,
            sections={"audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV}},
        )


def test_an_allowed_system_reads_who_looked_and_its_reading_is_recorded(bus: BusProcess) -> None:
    with bus.client(PORTAL) as client:
        first = client.get(f"/v1/subjects/{CITIZEN}/access-log", headers={"X-Official-Id": "citizen:self"})
        second = client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["subject"] == CITIZEN and body["next_before"] is None
    reading, *seeded = body["entries"]
    assert (reading["dataset"], reading["requester"], reading["requester_name"], reading["official"]) == (
        "audit.access_log",
        PORTAL,
        "Văn phòng Chính phủ",
        "citizen:self",
    )
    assert [e["request_id"] for e in seeded] == ["seed-9", "seed-7", "seed-5", "seed-3", "seed-1"]
    entry = seeded[0]
    assert entry["requester"] == ONESTOP and entry["requester_name"] == TRANSPORT_DEPARTMENT
    assert (entry["official"], entry["dataset"], entry["purpose"], entry["procedure"]) == (
        "canbo.giaothong.01",
        "citizen.identity",
        "dossier_processing",
        "1.002861",
    )
    assert (entry["dossier"], entry["outcome"]) == ("000.00.00.H49-261127-0009", "released")
    assert entry["at"].endswith("Z")
    # the second reading shows the first one
    assert second.json()["entries"][1]["request_id"] == reading["request_id"]


def test_pages_go_from_newest_to_oldest(bus: BusProcess) -> None:
    seen: list[str] = []
    with bus.client(PORTAL) as client:
        before = None
        while True:
            params = {"limit": 2, **({"before": before} if before else {})}
            page = client.get(f"/v1/subjects/{CITIZEN}/access-log", params=params, headers=NAMED).json()
            seen += [e["request_id"] for e in page["entries"] if e["request_id"].startswith("seed")]
            before = page["next_before"]
            if before is None:
                break
    assert seen == ["seed-9", "seed-7", "seed-5", "seed-3", "seed-1"]


def test_a_reading_names_its_reader_or_is_refused_and_recorded(bus: BusProcess) -> None:
    with bus.client(PORTAL) as client:
        anonymous = client.get(f"/v1/subjects/{CITIZEN}/access-log")
        named = client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED)
    assert anonymous.status_code == 400
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["code"] == "official_required"
    assert "seed" not in anonymous.text
    # the refused attempt is in the report, just before this reading
    refused = named.json()["entries"][1]
    assert (refused["requester"], refused["official"], refused["outcome"]) == (
        PORTAL,
        "",
        "official_required",
    )


def test_a_system_without_the_grant_is_refused(bus: BusProcess) -> None:
    for system in (OUTSIDER, ONESTOP):
        with bus.client(system) as client:
            reply = client.get(f"/v1/subjects/{CITIZEN}/access-log")
        assert reply.status_code == 403
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["code"] == "access_log_denied"
        assert "seed" not in reply.text


@pytest.mark.parametrize("subject", ["12345", "00109901234X", "0100109107"])
def test_the_subject_must_be_a_personal_id_or_a_tax_code(bus: BusProcess, subject: str) -> None:
    with bus.client(PORTAL) as client:
        reply = client.get(f"/v1/subjects/{subject}/access-log", headers=NAMED)
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_subject_id"


def test_bad_paging_and_no_key_are_problems(bus: BusProcess) -> None:
    with bus.client(PORTAL) as client:
        assert client.get(f"/v1/subjects/{CITIZEN}/access-log", params={"limit": 0}).json()["code"] == (
            "invalid_request"
        )
        assert client.get(f"/v1/subjects/{CITIZEN}/access-log", params={"before": "x"}).status_code == 400
    assert httpx.get(f"{bus.url}/v1/subjects/{CITIZEN}/access-log").json()["code"] == "unauthenticated"


def test_the_audit_store_is_in_readiness_and_metrics(bus: BusProcess) -> None:
    with bus.client(PORTAL) as client:
        client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED)
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text
    assert ready["checks"]["audit"] is True
    records = next(line for line in metrics.splitlines() if line.startswith("lienthong_audit_records_total"))
    assert float(records.split()[1]) >= 1
    assert "lienthong_audit_write_failures_total 0.0" in metrics


def test_an_evidence_query_shows_in_the_citizens_report_and_the_log_verifies(tmp_path: Path) -> None:
    _, manager, _ = transport_firm()
    with pytest.MonkeyPatch.context() as env, registries() as servers:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = evidence_config(tmp_path, {name: server.url for name, server in servers.items()})
        config.extra_policies.append(READER)
        config.member_names.update(NAMES)
        with BusProcess(config) as bus:
            with bus.client(ONESTOP) as client:
                released = client.post(
                    "/v1/evidence:query",
                    headers={"X-Official-Id": "canbo.motcua.01"},
                    json=query_body(
                        "citizen.identity", {"personal_id": manager}, dossier="000.00.00.H49-240502-0001"
                    ),
                )
            assert released.status_code == 200, released.text
            with bus.client(PORTAL) as client:
                report = client.get(f"/v1/subjects/{manager}/access-log", headers=NAMED).json()
        assert bus.process is not None and bus.process.returncode == 0
        verify = subprocess.run(
            [sys.executable, "-m", "lienthong", "audit", "verify", "--config", str(bus.path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    _, query = report["entries"]
    assert (query["requester_name"], query["official"], query["dataset"], query["outcome"]) == (
        TRANSPORT_DEPARTMENT,
        "canbo.motcua.01",
        "citizen.identity",
        "released",
    )
    assert query["request_id"] == released.json()["provenance"]["request_id"]
    assert query["dossier"] == "000.00.00.H49-240502-0001" and query["procedure"] == "1.002861"
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "2 records, chain intact" in verify.stdout


def test_a_vehicle_lookup_shows_in_its_owners_report(tmp_path: Path) -> None:
    # vehicle.registration is keyed by the plate; the example names the owner as whose data it
    # is (subject_in_record: /owner/id), so a person owning the vehicle sees the lookup
    vehicle = next(v for v in REGISTRY.vehicles if len(v.owner_id) == 12)  # owned by a person
    with pytest.MonkeyPatch.context() as env, registries() as servers:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = evidence_config(tmp_path, {name: server.url for name, server in servers.items()})
        config.extra_policies.append(READER)
        with BusProcess(config) as bus:
            with bus.client(ONESTOP) as client:
                released = client.post(
                    "/v1/evidence:query",
                    headers={"X-Official-Id": "canbo.motcua.01"},
                    json=query_body(
                        "vehicle.registration", {"plate": vehicle.plate}, dossier="000.00.00.H49-240502-0003"
                    ),
                )
            assert released.status_code == 200, released.text
            with bus.client(PORTAL) as client:
                report = client.get(f"/v1/subjects/{vehicle.owner_id}/access-log", headers=NAMED).json()
    lookups = [e for e in report["entries"] if e["dataset"] == "vehicle.registration"]
    assert [(e["outcome"], e["dossier"]) for e in lookups] == [("released", "000.00.00.H49-240502-0003")]
    assert lookups[0]["request_id"] == released.json()["provenance"]["request_id"]


def test_the_bus_does_not_start_without_its_audit_log(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()  # a directory where the database should be
    config = BusConfig(tmp_path, sections={"audit": {"path": "audit.db"}})
    with pytest.raises(RuntimeError, match="the bus exited") as failed:
        BusProcess(config).start()
    assert "cannot open the audit log" in str(failed.value)


def test_a_short_audit_key_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, "too short")
        with pytest.raises(RuntimeError, match="the bus exited") as failed:
            BusProcess(BusConfig(tmp_path)).start()
    assert "LIENTHONG_AUDIT_KEY holds 9 bytes" in str(failed.value)
