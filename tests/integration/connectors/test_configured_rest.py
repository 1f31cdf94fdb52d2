"""Datasets configured from YAML alone (``kind: rest``), fetched through the evidence API of the
bus under uvicorn: the social insurance registry simulator, by operationId from the OpenAPI 3.1
document it serves (parameters placed where the document says, the reply checked against its
types, a list followed by its next links), and by a URL template without a document (a page
parameter under a hard cap)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from simulators import rest_openapi_insurance as insurance_simulator
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV
from tests.support.simulators import serving

INSURANCE = insurance_simulator.InsuranceRegistry()
PEOPLE = list(INSURANCE.insured)
SEVEN = PEOPLE[7]  # seven periods: three pages
UNINSURED = next(c.personal_id for c in INSURANCE.registry.citizens if c.personal_id not in INSURANCE.insured)
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}
DOSSIER = "000.00.00.H49-261127-0002"
PERIOD = {
    "from": "/tuThang",
    "to": {"path": "/denThang", "optional": True},  # deep-copied where used: safe_dump aliases shared values
    "employer": "/donVi",
    "salary": "/mucLuong",
}


@pytest.fixture(scope="module")
def registry() -> Iterator[SimulatorServer]:
    with serving(insurance_simulator.create_app(INSURANCE)[0]) as server:
        yield server


def connectors(url: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "insurance",
            "kind": "rest",
            "url": url,
            "timeout": "2s",
            "deadline": "4s",
            "options": {
                "openapi": f"{url}/openapi.json",
                "datasets": {
                    "insurance.record": {
                        "operation": "getInsured",
                        "parameters": {"personalId": "{subject.personal_id}", "X-Ma-Ho-So": "{dossier}"},
                        "reply": {
                            "personalId": "/soDinhDanh",
                            "bookNumber": "/soSoBHXH",
                            "fullName": "/hoTen",
                            "sex": {"path": "/gioiTinh", "map": {"Nam": "male", "Nữ": "female"}},
                            "dateOfBirth": {"path": "/ngaySinh", "type": "date"},
                            "status": {
                                "path": "/trangThai",
                                "map": {
                                    "DANG_THAM_GIA": "active",
                                    "TAM_DUNG": "paused",
                                    "DA_HUONG_CHE_DO": "retired",
                                },
                            },
                            "office": {"path": "/noiDangKy", "optional": True},
                        },
                        "not_found": [{"status": 404}],
                    },
                    "insurance.periods": {
                        "operation": "listPeriods",
                        "parameters": {"personalId": "{subject.personal_id}"},
                        "list": "/items",
                        "pages": {"next": "/next", "max_pages": 5},
                        "reply": copy.deepcopy(PERIOD),
                        "not_found": [{"status": 404}],
                    },
                },
            },
        },
        {
            "name": "insurance-plain",
            "kind": "rest",
            "url": url,
            "timeout": "2s",
            "deadline": "4s",
            "options": {
                "datasets": {
                    "insurance.recent_periods": {
                        "path": "/api/v1/insured/{subject.personal_id}/periods",
                        "list": "/items",
                        "pages": {"page_param": "page", "max_pages": 2},
                        "reply": copy.deepcopy(PERIOD),
                        "not_found": [{"status": 404}],
                    }
                }
            },
        },
    ]


def dataset(name: str, provider: str) -> dict[str, Any]:
    return {
        "name": name,
        "provider": provider,
        "key": ["personal_id"],
        "personal_data": "personal",
        "fields": {"dossier_processing": "*"},
    }


@pytest.fixture(scope="module")
def bus_config(registry: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        yield BusConfig(
            tmp_path_factory.mktemp("configured-rest"),
            extra_policies=[
                {
                    "systems": [ONESTOP],
                    "request": [
                        {"datasets": ["*"], "procedures": ["1.000001"], "purposes": ["dossier_processing"]}
                    ],
                }
            ],
            sections={
                "connectors": connectors(registry.url),
                "datasets": [
                    dataset("insurance.record", "insurance"),
                    dataset("insurance.periods", "insurance"),
                    dataset("insurance.recent_periods", "insurance-plain"),
                ],
                "audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV},
            },
        )


def query(name: str, personal_id: str) -> dict[str, Any]:
    return {
        "dataset": name,
        "subject": {"personal_id": personal_id},
        "procedure": "1.000001",
        "dossier": DOSSIER,
        "purpose": "dossier_processing",
    }


def test_a_record_by_operation_id(bus: BusProcess) -> None:
    person = PEOPLE[1]
    with bus.client(ONESTOP) as client:
        answer = client.post("/v1/evidence:query", json=query("insurance.record", person), headers=OFFICIAL)
    assert answer.status_code == 200, answer.text
    held = INSURANCE.insured[person]
    assert answer.json()["data"] == {
        "personalId": person,
        "bookNumber": held["soSoBHXH"],
        "fullName": held["hoTen"],
        "sex": {"Nam": "male", "Nữ": "female"}[held["gioiTinh"]],
        "dateOfBirth": held["ngaySinh"],
        "status": "paused",
        "office": held["noiDangKy"],
    }
    sent = INSURANCE.requests[-1]
    assert sent["path"] == f"/api/v1/insured/{person}" and sent["headers"]["x-ma-ho-so"] == DOSSIER


@pytest.mark.parametrize("dossier", ["H49-1\r\nX-Injected: 1", "H49-1\u0000", "H49-1\u007f"])
def test_a_dossier_with_a_control_character_is_refused_before_any_call(bus: BusProcess, dossier: str) -> None:
    # the dossier goes into a header of the provider's request (X-Ma-Ho-So) and into the audit log
    calls = len(INSURANCE.requests)
    with bus.client(ONESTOP) as client:
        answer = client.post(
            "/v1/evidence:query",
            json={**query("insurance.record", PEOPLE[1]), "dossier": dossier},
            headers=OFFICIAL,
        )
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_evidence_query", answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/dossier"]
    assert "H49-1" not in answer.text and len(INSURANCE.requests) == calls


def test_not_insured_is_not_found(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        answer = client.post(
            "/v1/evidence:query", json=query("insurance.record", UNINSURED), headers=OFFICIAL
        )
    assert answer.status_code == 404 and answer.json()["code"] == "subject_not_found", answer.text
    assert UNINSURED not in answer.text


def test_a_list_followed_page_by_page(bus: BusProcess) -> None:
    before = len(INSURANCE.requests)
    with bus.client(ONESTOP) as client:
        answer = client.post("/v1/evidence:query", json=query("insurance.periods", SEVEN), headers=OFFICIAL)
    assert answer.status_code == 200, answer.text
    items = answer.json()["data"]["items"]
    assert [i["from"] for i in items] == [p["tuThang"] for p in INSURANCE.periods[SEVEN]]
    assert "to" not in items[-1]  # an open period: the optional field is left out
    assert len(INSURANCE.requests) - before == 3


def test_a_list_longer_than_its_cap_is_refused(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        short = client.post(
            "/v1/evidence:query", json=query("insurance.recent_periods", PEOPLE[4]), headers=OFFICIAL
        )
        long = client.post(
            "/v1/evidence:query", json=query("insurance.recent_periods", SEVEN), headers=OFFICIAL
        )
    assert short.status_code == 200, short.text
    assert len(short.json()["data"]["items"]) == 4
    assert long.status_code == 502 and long.json()["code"] == "invalid_provider_reply", long.text
    assert "2 pages" in long.json()["detail"]


def test_a_reply_that_breaks_the_documents_types_is_refused(bus: BusProcess) -> None:
    person = PEOPLE[2]
    INSURANCE.insured[person] = {**INSURANCE.insured[person], "gioiTinh": "X-secret-value"}
    with bus.client(ONESTOP) as client:
        answer = client.post("/v1/evidence:query", json=query("insurance.record", person), headers=OFFICIAL)
    assert answer.status_code == 502 and answer.json()["code"] == "invalid_provider_reply", answer.text
    assert "/gioiTinh" in answer.json()["detail"] and "X-secret-value" not in answer.text
