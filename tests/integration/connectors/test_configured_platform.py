"""Configured REST datasets reached through an integration platform's gateway (the gateway
simulator in front of the social insurance registry simulator, published under a service path):
a next-page link that is a path from the gateway's origin is followed there (not under the
service path a second time), every connector naming the platform shares one token, and a
``kind: soap`` connector's WSDL served by URL on the gateway is asked with the platform's token."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings, PlatformSettings
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, RequestContext
from simulators import population as population_simulator
from simulators import rest_openapi_insurance as insurance_simulator
from simulators.gateway import TOKEN_PATH, Gateway, create_gateway
from tests.support.evidence import transport_firm
from tests.support.gateway import CONSUMER_KEY, CONSUMER_SECRET, KEY_ENV, SECRET_ENV
from tests.support.simulators import serving

SERVICE_PATH = "/bhxh/1.0"
INSURANCE = insurance_simulator.InsuranceRegistry(public_base=SERVICE_PATH)
SEVEN = list(INSURANCE.insured)[7]  # seven periods: three pages
PERIOD = {"from": "/tuThang", "to": {"path": "/denThang", "optional": True}, "employer": "/donVi"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[Gateway, str]]:
    with serving(insurance_simulator.create_app(INSURANCE)[0]) as registry:
        gateway = Gateway(
            services={"insurance": (SERVICE_PATH, registry.url)},
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
        )
        with serving(create_gateway(gateway)[0]) as server:
            yield gateway, server.url


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, CONSUMER_KEY)
    monkeypatch.setenv(SECRET_ENV, CONSUMER_SECRET)


def through_gateway(name: str, gateway_url: str, datasets: dict[str, Any]) -> ConnectorSettings:
    """A ``kind: rest`` connector as the configuration builds one with ``platform: lgsp`` and
    ``service: insurance`` (its URL the gateway's and the service's path)."""
    return ConnectorSettings(
        name=name,
        kind="rest",
        url=gateway_url + SERVICE_PATH,
        call_policy=CallPolicy(max_attempts=1),
        options={"datasets": datasets},
        platform=PlatformSettings(
            name="lgsp",
            service="insurance",
            token_url=gateway_url + TOKEN_PATH,
            consumer_key={"env": KEY_ENV},
            consumer_secret={"env": SECRET_ENV},
        ),
    )


def periods(name: str) -> dict[str, Any]:
    return {
        name: {
            "path": "/api/v1/insured/{subject.personal_id}/periods",
            "list": "/items",
            "pages": {"next": "/next", "max_pages": 5},
            "reply": copy.deepcopy(PERIOD),
        }
    }


def insured(name: str) -> dict[str, Any]:
    return {name: {"path": "/api/v1/insured/{subject.personal_id}", "reply": {"name": "/hoTen"}}}


def lookup(dataset: str) -> DataRequest:
    return DataRequest(dataset, {"personal_id": SEVEN}, RequestContext())


async def test_a_next_link_from_the_gateways_origin_is_followed_there(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    state, url = gateway
    state.reset()
    connector: Any = builder("rest")(
        through_gateway("insurance", url, periods("insurance.periods")),
        ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path),
    )
    try:
        record = await connector.provider().fetch(lookup("insurance.periods"))
    finally:
        await connector.aclose()
    assert len(record["items"]) == len(INSURANCE.periods[SEVEN]) == 7
    base = f"/api/v1/insured/{SEVEN}/periods"
    assert [(c.path, c.status) for c in state.record.calls] == [(base, 200)] * 3
    assert [r["query"] for r in INSURANCE.requests[-3:]] == [{}, {"page": "2"}, {"page": "3"}]


async def test_connectors_on_one_platform_share_one_token(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    state, url = gateway
    state.reset()
    deps = ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path)
    first: Any = builder("rest")(through_gateway("insurance-a", url, insured("a.insured")), deps)
    second: Any = builder("rest")(through_gateway("insurance-b", url, insured("b.insured")), deps)
    try:
        records = await asyncio.gather(
            *(first.provider().fetch(lookup("a.insured")) for _ in range(5)),
            *(second.provider().fetch(lookup("b.insured")) for _ in range(5)),
        )
    finally:
        await first.aclose()
        await second.aclose()
    assert records == [{"name": INSURANCE.insured[SEVEN]["hoTen"]}] * 10
    assert state.record.token_requests == 1
    assert state.record.unauthorized() == 0


POPULATION_PATH = "/dancu/1.0"
_TAX, MANAGER, _PLATES = transport_firm()


@pytest.fixture(scope="module")
def population_gateway() -> Iterator[tuple[Gateway, str]]:
    with serving(population_simulator.create_app()[0]) as registry:
        gateway = Gateway(
            services={"population": (POPULATION_PATH, registry.url)},
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
        )
        with serving(create_gateway(gateway)[0]) as server:
            yield gateway, server.url


def population_through_gateway(url: str) -> ConnectorSettings:
    """A ``kind: soap`` connector with ``platform: lgsp``, its WSDL served by URL on the gateway."""
    service = url + POPULATION_PATH + "/population"
    return ConnectorSettings(
        name="population",
        kind="soap",
        url=service,
        call_policy=CallPolicy(max_attempts=1),
        options={
            "wsdl": service + "?wsdl",
            "datasets": {
                "citizen.identity": {
                    "operation": "TraCuuCongDan",
                    "request": {
                        "MaYeuCau": "{request_id}",
                        "MaDVC": "1.002861",
                        "MaDonVi": "000.00.00.H46",
                        "SoDinhDanh": "{subject.personal_id}",
                    },
                    "reply": {"personalId": "/CongDan/SoDinhDanh"},
                }
            },
        },
        platform=PlatformSettings(
            name="lgsp",
            service="population",
            token_url=url + TOKEN_PATH,
            consumer_key={"env": KEY_ENV},
            consumer_secret={"env": SECRET_ENV},
        ),
    )


async def test_a_wsdl_served_by_url_on_the_gateway_is_asked_with_the_platforms_token(
    population_gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    state, url = population_gateway
    state.reset()
    deps = ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path)
    connector: Any = builder("soap")(population_through_gateway(url), deps)
    try:
        assert await connector.contract_problems() == []
        record = await connector.provider().fetch(
            DataRequest("citizen.identity", {"personal_id": MANAGER}, RequestContext())
        )
    finally:
        await connector.aclose()
    assert record == {"personalId": MANAGER}
    assert state.record.unauthorized() == 0
    assert state.record.token_requests == 1
    # a token refused on ?wsdl is renewed once, as on a call
    state.expire_tokens()
    again: Any = builder("soap")(population_through_gateway(url), deps)
    try:
        assert await again.contract_problems() == []
    finally:
        await again.aclose()
    assert state.record.unauthorized() == 1
    assert state.record.token_requests == 2
