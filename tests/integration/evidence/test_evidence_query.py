"""``POST /v1/evidence:query`` against the bus under uvicorn and the real registry simulators:
release with provenance, the cache, policy, and every way a provider fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulators.server import Faults, SimulatorServer
from tests.support.bus import ONESTOP, OUTSIDER, BusConfig, BusProcess
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    evidence_config,
    query_body,
    registries,
    transport_firm,
)
from tests.support.simulators import requests_seen, set_faults

TAX, MANAGER, PLATES = transport_firm()
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}


@pytest.fixture(scope="module")
def bus_config(
    servers: dict[str, SimulatorServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        yield evidence_config(
            tmp_path_factory.mktemp("evidence"),
            {name: server.url for name, server in servers.items()},
            # residence as sensitive data: never cached
            dataset_changes={"citizen.residence": {"personal_data": "sensitive", "cache": "never"}},
        )


def test_public_data_is_released_with_provenance_then_served_from_the_cache(
    bus: BusProcess, servers: dict[str, SimulatorServer]
) -> None:
    before = requests_seen(servers["business"].url)
    with bus.client(ONESTOP) as client:
        first = client.post("/v1/evidence:query", json=query_body("business.registration", {"tax_code": TAX}))
        second = client.post(
            "/v1/evidence:query", json=query_body("business.registration", {"tax_code": TAX})
        )
        metrics = client.get("/metrics").text
    assert first.status_code == 200, first.text
    data, provenance = first.json()["data"], first.json()["provenance"]
    assert data["taxCode"] == TAX and data["legalRepresentative"]["fullName"]
    # public data: the representative's personal ID and birth date are not released (not audited)
    assert set(data["legalRepresentative"]) == {"fullName"}
    assert provenance["provider"] == "business" and provenance["dataset"] == "business.registration"
    assert provenance["cache_hit"] is False and provenance["request_id"]
    assert second.json()["provenance"]["cache_hit"] is True
    assert second.json()["data"] == data
    assert requests_seen(servers["business"].url) == before + 1
    assert (
        'lienthong_evidence_requests_total{dataset="business.registration",outcome="released",provider="business"} 2.0'
        in metrics
    )
    assert 'lienthong_evidence_cache_total{dataset="business.registration",result="hit"} 1.0' in metrics
    assert 'lienthong_evidence_provider_latency_seconds_count{provider="business"} 1.0' in metrics


def test_personal_data_is_minimised_for_the_purpose_and_needs_an_official(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        released = client.post(
            "/v1/evidence:query",
            json=query_body("citizen.identity", {"personal_id": MANAGER}),
            headers=OFFICIAL,
        )
        anonymous = client.post(
            "/v1/evidence:query", json=query_body("citizen.identity", {"personal_id": MANAGER})
        )
    assert released.status_code == 200, released.text
    assert set(released.json()["data"]) == {"personalId", "fullName", "sex", "dateOfBirth"}
    assert anonymous.status_code == 400
    assert anonymous.json()["code"] == "official_required"


def test_sensitive_data_is_never_cached(bus: BusProcess, servers: dict[str, SimulatorServer]) -> None:
    before = requests_seen(servers["population"].url)
    with bus.client(ONESTOP) as client:
        replies = [
            client.post(
                "/v1/evidence:query",
                # the household business registration needs the applicant's residence
                json=query_body("citizen.residence", {"personal_id": MANAGER}, procedure="1.001612"),
                headers=OFFICIAL,
            )
            for _ in range(2)
        ]
    assert [r.status_code for r in replies] == [200, 200], replies[0].text
    assert [r.json()["provenance"]["cache_hit"] for r in replies] == [False, False]
    assert requests_seen(servers["population"].url) == before + 2


def test_no_match_is_404(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query",
            json=query_body("vehicle.registration", {"plate": "99Z-999.99"}),
            headers=OFFICIAL,
        )
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "subject_not_found"


def test_a_requester_not_allowed_for_the_purpose_is_refused_before_any_call(
    bus: BusProcess, servers: dict[str, SimulatorServer]
) -> None:
    before = requests_seen(servers["business"].url)
    subject = {"tax_code": "0100109106"}
    with bus.client(ONESTOP) as client:
        wrong_purpose = client.post(
            "/v1/evidence:query", json=query_body("business.registration", subject, purpose="marketing")
        )
        wrong_procedure = client.post(
            "/v1/evidence:query", json=query_body("business.registration", subject, procedure="1.000894")
        )
    with bus.client(OUTSIDER) as outsider:
        stranger = outsider.post("/v1/evidence:query", json=query_body("business.registration", subject))
    for reply in (wrong_purpose, wrong_procedure, stranger):
        assert reply.status_code == 403, reply.text
        assert reply.json()["code"] == "data_request_denied"
    assert requests_seen(servers["business"].url) == before


def test_bad_queries_are_400_with_pointers(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        wrong_key = client.post(
            "/v1/evidence:query", json=query_body("business.registration", {"plate": "14B-123.45"})
        )
        unknown = client.post("/v1/evidence:query", json=query_body("land.parcel", {"id": "1"}))
        bad_deadline = client.post(
            "/v1/evidence:query",
            json=query_body("business.registration", {"tax_code": TAX}),
            headers={"X-Deadline-Ms": "soon"},
        )
        malformed = client.post("/v1/evidence:query", json={"subject": {"tax_code": 1}, "purpose": "x"})
        control = client.post(
            "/v1/evidence:query", json=query_body("vehicle.registration", {"plate": "14B-123.45\u0000"})
        )
        openapi = client.get("/openapi.json").json()
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_evidence_query"
    assert {"/dataset", "/subject/tax_code", "/procedure"} <= {
        e["pointer"] for e in malformed.json()["errors"]
    }
    assert "requestBody" in openapi["paths"]["/v1/evidence:query"]["post"]
    # a control character, which no provider's request or the audit log can carry, named by place
    assert control.status_code == 400 and control.json()["code"] == "invalid_evidence_query"
    assert [e["pointer"] for e in control.json()["errors"]] == ["/subject/plate"]
    assert "14B-123.45" not in control.text
    assert wrong_key.status_code == 400 and wrong_key.json()["code"] == "invalid_evidence_query"
    assert {e["pointer"] for e in wrong_key.json()["errors"]} == {"/subject/tax_code", "/subject/plate"}
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_dataset"
    assert (
        bad_deadline.status_code == 400
        and bad_deadline.json()["errors"][0]["pointer"] == "/headers/X-Deadline-Ms"
    )


def test_a_provider_slower_than_the_callers_deadline_is_504(
    bus: BusProcess, servers: dict[str, SimulatorServer]
) -> None:
    plate = PLATES[0]
    set_faults(servers["vehicle"].url, Faults(latency_s=1.5))
    try:
        with bus.client(ONESTOP) as client:
            reply = client.post(
                "/v1/evidence:query",
                json=query_body("vehicle.registration", {"plate": plate}),
                headers={**OFFICIAL, "X-Deadline-Ms": "300"},
            )
    finally:
        set_faults(servers["vehicle"].url, Faults())
    assert reply.status_code == 504, reply.text
    assert reply.json()["code"] == "provider_timeout"


def test_a_provider_that_is_down_is_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    with registries() as servers:
        config = evidence_config(tmp_path, {name: server.url for name, server in servers.items()})
        servers["business"].stop()  # really stopped: connections are refused
        with BusProcess(config) as bus, bus.client(ONESTOP) as client:
            reply = client.post(
                "/v1/evidence:query", json=query_body("business.registration", {"tax_code": TAX})
            )
    assert reply.status_code == 503, reply.text
    assert reply.json()["code"] in {"provider_unavailable", "provider_circuit_open"}
    assert reply.headers["retry-after"] == "5"


def test_unauthenticated_queries_are_401(bus: BusProcess) -> None:
    reply = httpx.post(
        f"{bus.url}/v1/evidence:query", json=query_body("business.registration", {"tax_code": TAX})
    )
    assert reply.status_code == 401


def test_personal_data_is_withheld_while_the_audit_log_cannot_be_written(bus: BusProcess) -> None:
    """Another process holds the audit database's write lock (as a stuck writer or a backup
    would): the access record cannot be written, so the data is not released; once the lock is
    gone, it is again."""
    body = query_body("citizen.identity", {"personal_id": MANAGER})
    audit = sqlite3.connect(bus.config.directory / "audit.db", timeout=10, isolation_level=None)
    try:
        audit.execute("BEGIN EXCLUSIVE")
        with bus.client(ONESTOP) as client:
            withheld = client.post("/v1/evidence:query", json=body, headers=OFFICIAL)
        audit.execute("ROLLBACK")
    finally:
        audit.close()
    assert withheld.status_code == 503, withheld.text
    assert withheld.json()["code"] == "audit_unavailable"
    assert "data" not in withheld.json() and MANAGER not in withheld.text
    assert withheld.headers["retry-after"] == "5"
    with bus.client(ONESTOP) as client:
        released = client.post("/v1/evidence:query", json=body, headers=OFFICIAL)
    assert released.status_code == 200, released.text
