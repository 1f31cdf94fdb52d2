"""Identifiers and addresses as the law stands since 1 July 2025, through the bus under uvicorn
and the real registry simulators: a household business's 12-digit personal ID is its tax code
where the contract allows it (its transport licence) and refused where it does not (the business
registry holds enterprises only); a date of birth known to the year only, and an address without
a district, flow from the population database through the evidence broker unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.registry_data import Citizen
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY,
    evidence_config,
    query_body,
    submitted_event,
)
from tests.support.receiver import Receiver

OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}
RENEWAL = "1.002859"  # needs business.registration and transport.licence, keyed by the tax code
RESIDENCE = "1.004194"  # needs citizen.identity and citizen.residence of the applicant
HOUSEHOLD = REGISTRY.household_licences()[0]


def year_only_citizen() -> Citizen:
    """A citizen whose date of birth the population database knows to the year only, whose
    permanent residence was recorded before the merger (with a district) and whose current one
    since (without)."""
    return next(
        c
        for c in REGISTRY.citizens
        if len(c.date_of_birth) == 4 and c.permanent.district is not None and c.current.district is None
    )


@pytest.fixture(scope="module")
def bus_config(
    servers: dict[str, SimulatorServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        yield evidence_config(
            tmp_path_factory.mktemp("evidence"), {name: server.url for name, server in servers.items()}
        )


def test_a_household_business_licence_is_found_by_the_owners_personal_id(bus: BusProcess) -> None:
    personal_id = HOUSEHOLD.tax_code
    assert len(personal_id) == 12 and REGISTRY.citizen(personal_id) is not None
    with bus.client(ONESTOP) as client:
        released = client.post(
            "/v1/evidence:query",
            json=query_body("transport.licence", {"tax_code": personal_id}, procedure=RENEWAL),
            headers=OFFICIAL,
        )
        # a person's identifier: the dataset is personal, so an official must be named
        anonymous = client.post(
            "/v1/evidence:query",
            json=query_body("transport.licence", {"tax_code": personal_id}, procedure=RENEWAL),
        )
    assert released.status_code == 200, released.text
    assert released.json()["data"]["taxCode"] == personal_id
    assert released.json()["data"]["issuer"].startswith("Sở Xây dựng")
    assert anonymous.status_code == 400 and anonymous.json()["code"] == "official_required"


def test_the_business_registry_refuses_a_personal_id_as_an_enterprise_code(bus: BusProcess) -> None:
    personal_id = HOUSEHOLD.tax_code
    with bus.client(ONESTOP) as client:
        refused = client.post(
            "/v1/evidence:query",
            json=query_body("business.registration", {"tax_code": personal_id}, procedure=RENEWAL),
            headers=OFFICIAL,
        )
    assert refused.status_code == 400, refused.text
    problem = refused.json()
    assert problem["code"] == "invalid_provider_request"
    assert "enterprise" in problem["detail"] and "12-digit personal ID" in problem["detail"]
    assert personal_id not in refused.text  # a person's identifier is never quoted back


@pytest.mark.parametrize(
    "tax_code",
    [
        "003185000123",  # 12 digits, but no province had 003: neither a personal ID nor a tax code
        "0100109107",  # a wrong check digit
        "038185000123 ",
        "",
        "0" * 300,
    ],
)
def test_what_is_no_taxpayers_code_is_refused_before_any_provider(bus: BusProcess, tax_code: str) -> None:
    with bus.client(ONESTOP) as client:
        refused = client.post(
            "/v1/evidence:query",
            json=query_body("transport.licence", {"tax_code": tax_code}, procedure=RENEWAL),
            headers=OFFICIAL,
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_evidence_query"
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/subject/tax_code"]


def residence_dossier(code: str, citizen: Citizen) -> dict[str, Any]:
    return submitted_event(
        code,
        RESIDENCE,
        {
            "procedureName": "Đăng ký thường trú",
            "applicant": {"type": "citizen", "name": citizen.full_name, "personalId": citizen.personal_id},
        },
    )


async def test_a_year_only_date_of_birth_reaches_the_one_stop_system_as_the_year(
    tmp_path: Path, servers: dict[str, SimulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    citizen = year_only_citizen()
    # a dossier code as real systems emit it: yyyyMMdd and a seven-digit daily sequence
    code = "000.00.00.H49-20250702-0012345"
    with Receiver("/evidence") as receiver:
        config = evidence_config(tmp_path, {name: s.url for name, s in servers.items()}, broker=True)
        config.subscribe(
            "onestop-evidence",
            receiver.url,
            system=ONESTOP,
            types=("dossier.evidence.collected",),
            filters=({"exact": {"recipient": ONESTOP}},),
        )
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                reply = await client.post(
                    "/v1/events",
                    json=residence_dossier(code, citizen),
                    headers={"Content-Type": "application/cloudevents+json"},
                )
                assert reply.status_code == 202, reply.text
                await receiver.wait_for(1, timeout=30)
    [event] = delivered(receiver.received)
    assert event["subject"] == code
    data = event["data"]
    assert data["complete"] is True, data["notFound"]
    found = {f["dataset"]: f["data"] for f in data["found"]}
    # the year alone, as the population database holds it: no day was invented on the way
    assert found["citizen.identity"]["dateOfBirth"] == citizen.date_of_birth
    assert len(citizen.date_of_birth) == 4
    residence = found["citizen.residence"]
    assert residence["permanent"]["district"] == citizen.permanent.district
    assert "district" not in residence["current"]
    assert residence["current"]["province"] == citizen.current.province
    assert residence["current"]["ward"] == citizen.current.ward
