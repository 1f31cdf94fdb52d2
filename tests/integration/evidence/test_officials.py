"""Officials are verified, not asserted: evidence queries and access-report reads on the bus under
uvicorn, with the real registry simulators and the real audit store. A token of the trusted issuer
names a verified official in the audit record; every forged, stale or misdirected token is refused
with ``official_token_invalid`` and nothing is released or recorded as released; ``X-Official-Id``
alone is refused from a system not allowed to assert it, and recorded as asserted from one that is."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, OPERATOR, PORTAL, WAREHOUSE, BusConfig, BusProcess
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    PROCEDURES,
    evidence_config,
    query_body,
    registries,
    transport_firm,
)
from tests.support.officials import (
    ISSUER,
    OFFICIAL,
    IdentityProvider,
    ec_provider_token,
    hmac_with_public_key,
    unsigned,
)

TAX, MANAGER, PLATES = transport_firm()
PROVIDER = IdentityProvider()
LEGACY = WAREHOUSE  # the one system allowed to name its official in X-Official-Id
IDENTITY = query_body("citizen.identity", {"personal_id": MANAGER})


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusProcess]:
    with registries() as servers, pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = evidence_config(tmp_path_factory.mktemp("officials"), _urls(servers))
        config.asserted_officials = [LEGACY]
        config.sections["officials"] = PROVIDER.section()
        config.extra_policies += [
            {
                "systems": [LEGACY],
                "request": [
                    {
                        "datasets": ["citizen.identity"],
                        "procedures": list(PROCEDURES),
                        "purposes": ["dossier_processing"],
                    }
                ],
            },
            {"systems": [PORTAL], "read_access_log": True},
        ]
        with BusProcess(config) as process:
            yield process


def _urls(servers: dict[str, SimulatorServer]) -> dict[str, str]:
    return {name: server.url for name, server in servers.items()}


def audit_rows(bus: BusProcess) -> list[tuple[str, str, str, str, str]]:
    """Every record of the bus's audit file: request id, requester, official, basis, outcome."""
    path = Path(bus.config.directory) / "audit.db"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT request_id, requester, official, official_basis, outcome FROM access_records ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def test_a_valid_token_names_a_verified_official_in_the_audit_record(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query", json=IDENTITY, headers={"X-Official-Token": PROVIDER.token()}
        )
    assert reply.status_code == 200, reply.text
    request_id = reply.json()["provenance"]["request_id"]
    [record] = [row for row in audit_rows(bus) if row[0] == request_id]
    assert record == (request_id, ONESTOP, OFFICIAL, f"verified:{ISSUER}", "released")


def test_a_token_decides_even_beside_an_asserted_header(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query",
            json=IDENTITY,
            headers={"X-Official-Token": PROVIDER.token(), "X-Official-Id": "someone.else"},
        )
    assert reply.status_code == 200, reply.text
    request_id = reply.json()["provenance"]["request_id"]
    assert [row[2:4] for row in audit_rows(bus) if row[0] == request_id] == [(OFFICIAL, f"verified:{ISSUER}")]


FORGED: dict[str, Callable[[], str]] = {
    "expired": lambda: PROVIDER.token(exp=int(time.time()) - 3600),
    "not yet valid": lambda: PROVIDER.token(nbf=int(time.time()) + 3600),
    "another audience": lambda: PROVIDER.token(aud="cong-dich-vu-cong"),
    "another issuer": lambda: IdentityProvider(issuer="https://sso.attacker.example").token(),
    "a forged signature": lambda: IdentityProvider().token(),  # same issuer and kid, another key
    "another algorithm's key": ec_provider_token,
    "alg none": lambda: unsigned(PROVIDER.claims()),
    "HS256 with the public key": lambda: hmac_with_public_key(PROVIDER, PROVIDER.claims()),
    "not a JWT": lambda: "canbo.motcua.07",
}


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
def test_a_token_that_does_not_verify_is_refused_and_nothing_is_released(
    bus: BusProcess, forged: Callable[[], str]
) -> None:
    before = audit_rows(bus)
    token = forged()
    with bus.client(ONESTOP) as client:
        reply = client.post("/v1/evidence:query", json=IDENTITY, headers={"X-Official-Token": token})
    assert reply.status_code == 403, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["code"] == "official_token_invalid" and "data" not in problem
    assert OFFICIAL not in reply.text and MANAGER not in reply.text and token not in reply.text
    assert audit_rows(bus) == before  # nothing released, nothing recorded as released


def test_only_an_asserted_header_is_refused_from_a_system_not_allowed_to_assert(bus: BusProcess) -> None:
    before = audit_rows(bus)
    with bus.client(ONESTOP) as client:
        reply = client.post("/v1/evidence:query", json=IDENTITY, headers={"X-Official-Id": "canbo.motcua.01"})
    assert reply.status_code == 403, reply.text
    assert reply.json()["code"] == "official_token_required"
    assert "canbo.motcua.01" not in reply.text and MANAGER not in reply.text
    assert audit_rows(bus) == before


def test_a_system_allowed_to_assert_is_recorded_as_asserted(bus: BusProcess) -> None:
    with bus.client(LEGACY) as client:
        reply = client.post("/v1/evidence:query", json=IDENTITY, headers={"X-Official-Id": "canbo.kho.02"})
    assert reply.status_code == 200, reply.text
    request_id = reply.json()["provenance"]["request_id"]
    [record] = [row for row in audit_rows(bus) if row[0] == request_id]
    assert record == (request_id, LEGACY, "canbo.kho.02", "asserted", "released")


def test_an_access_report_read_is_verified_the_same_way(bus: BusProcess) -> None:
    citizen = PROVIDER.token(sub="citizen:" + MANAGER[-4:])
    with bus.client(PORTAL) as client:
        read = client.get(f"/v1/subjects/{MANAGER}/access-log", headers={"X-Official-Token": citizen})
        asserted = client.get(f"/v1/subjects/{MANAGER}/access-log", headers={"X-Official-Id": "citizen:self"})
        forged = client.get(f"/v1/subjects/{MANAGER}/access-log", headers={"X-Official-Token": unsigned({})})
    assert read.status_code == 200, read.text
    # the citizen sees how each official was known
    assert {entry["official_basis"] for entry in read.json()["entries"]} >= {f"verified:{ISSUER}", "asserted"}
    assert [r.status_code for r in (asserted, forged)] == [403, 403]
    assert [r.json()["code"] for r in (asserted, forged)] == [
        "official_token_required",
        "official_token_invalid",
    ]
    readings = [row for row in audit_rows(bus) if row[1] == PORTAL]
    assert [row[2:] for row in readings] == [("citizen:" + MANAGER[-4:], f"verified:{ISSUER}", "released")]


def test_a_reload_changes_the_trusted_issuers_and_who_may_assert(tmp_path: Path) -> None:
    """The routes read the issuers and the directory in force: an issuer added by a reload is
    trusted at once, and a system whose leave to assert is withdrawn is refused at once."""
    rotated = IdentityProvider(issuer="https://vneid.test.gov.vn")
    reader = {"systems": [PORTAL], "read_access_log": True}
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = BusConfig(
            tmp_path,
            extra_policies=[reader],
            sections={
                "audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV},
                "officials": PROVIDER.section(),
            },
        )
        with BusProcess(config) as bus, bus.client(PORTAL) as portal, bus.client(OPERATOR) as operator:
            report = f"/v1/subjects/{MANAGER}/access-log"
            assert portal.get(report, headers={"X-Official-Id": "citizen:self"}).status_code == 200
            assert portal.get(report, headers={"X-Official-Token": rotated.token()}).status_code == 403
            config.sections["officials"] = {
                "issuers": [*PROVIDER.section()["issuers"], *rotated.section()["issuers"]]
            }
            config.asserted_officials = []
            config.write()
            assert operator.post("/v1/admin/reload").status_code == 200
            assert portal.get(report, headers={"X-Official-Token": rotated.token()}).status_code == 200
            refused = portal.get(report, headers={"X-Official-Id": "citizen:self"})
            assert (refused.status_code, refused.json()["code"]) == (403, "official_token_required")
