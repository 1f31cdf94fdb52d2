"""A registry's own error text may name the person asked about: through the evidence API of the
bus under uvicorn, a SOAP fault string and a REST problem's ``detail`` that quote a citizen's
name and personal ID reach the requester as the provider's name and fault code only, and the
operator's log as text (control characters as spaces)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV, evidence_config, query_body, transport_firm
from tests.support.refusing import NAME, OTHER_ID, TEXT, refusing_registries

TAX, MANAGER, _ = transport_firm()
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}


@pytest.fixture(scope="module")
def refusing() -> Iterator[SimulatorServer]:
    with refusing_registries() as server:
        yield server


@pytest.fixture(scope="module")
def bus_config(refusing: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        yield evidence_config(
            tmp_path_factory.mktemp("refusing"),
            dict.fromkeys(("population", "business", "vehicle"), refusing.url),
        )


@pytest.mark.parametrize(
    ("dataset", "subject", "provider", "code"),
    [
        ("citizen.identity", {"personal_id": MANAGER}, "population", "Server"),
        ("business.registration", {"tax_code": TAX}, "business", "409"),
    ],
)
def test_the_registrys_text_is_in_the_log_not_in_the_requesters_problem(
    bus: BusProcess, dataset: str, subject: dict[str, str], provider: str, code: str
) -> None:
    with bus.client(ONESTOP) as client:
        answer = client.post("/v1/evidence:query", json=query_body(dataset, subject), headers=OFFICIAL)
    assert answer.status_code == 502, answer.text
    problem = answer.json()
    assert problem["code"] == "provider_fault"
    assert problem["detail"] == f"{provider} refused the request: fault {code} (not retryable)"
    for personal in (NAME, OTHER_ID, "Ngọc", "khoá"):
        assert personal not in answer.text
    log = bus.log.read_text("utf-8")
    assert f"{provider} answered " in log
    assert TEXT.replace("\n", " ") in log
