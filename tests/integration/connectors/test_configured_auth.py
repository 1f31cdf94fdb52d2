"""Configured datasets behind OAuth2 client credentials, against the business registry
simulator: the example's ``business.registration`` (configuration alone) gives the records of
tests/data/registries, and a token the registry stops accepting mid-test is renewed once on
the 401 and the call tried again (the kinds' ``OutboundAuth`` interface)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import Connector, ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, RequestContext
from simulators import business, soap12_land
from simulators.registry_data import build
from simulators.server import SimulatorServer
from tests.support.evidence import registry_connector
from tests.support.paths import DATA
from tests.support.simulators import requests_seen, serving

REGISTRY = build()
SERVICE = business.BusinessRegistry(REGISTRY, auth=True)
ID_ENV, SECRET_ENV = "LIENTHONG_TEST_BUSINESS_ID", "LIENTHONG_TEST_BUSINESS_SECRET"


@pytest.fixture(scope="module")
def registry() -> Iterator[SimulatorServer]:
    with serving(business.create_app(service=SERVICE)[0]) as server:
        yield server


@pytest.fixture
async def connector(
    registry: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Connector]:
    monkeypatch.setenv(ID_ENV, SERVICE.client_id)
    monkeypatch.setenv(SECRET_ENV, SERVICE.client_secret)
    settings = ConnectorSettings(
        name="business-configured",
        kind="rest",
        url=registry.url,
        call_policy=CallPolicy(max_attempts=1),
        options=registry_connector("business", registry.url)["options"],
        auth={
            "oauth2": {
                "token_url": f"{registry.url}/oauth/token",
                "client_id_env": ID_ENV,
                "client_secret_env": SECRET_ENV,
            }
        },
    )
    built = builder("rest")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
    await built.start()
    try:
        yield built
    finally:
        await built.aclose()


def lookup(tax_code: str) -> DataRequest:
    return DataRequest("business.registration", {"tax_code": tax_code}, RequestContext())


async def test_the_configured_mapping_gives_the_registrys_records(connector: Connector) -> None:
    provider = connector.provider()
    assert provider is not None
    expected = json.loads((DATA / "registries" / "business.registration.json").read_text("utf-8"))
    for firm in REGISTRY.enterprises[:10]:
        assert await provider.fetch(lookup(firm.tax_code)) == expected[firm.tax_code]


async def test_a_refused_token_is_renewed_once_and_the_call_tried_again(
    connector: Connector, registry: SimulatorServer
) -> None:
    provider = connector.provider()
    assert provider is not None
    firm = REGISTRY.enterprises[0]
    await provider.fetch(lookup(firm.tax_code))
    issued, before = SERVICE.tokens_issued, requests_seen(registry.url)
    SERVICE.revoke_tokens()  # the registry no longer accepts the token the bus holds
    record = await provider.fetch(lookup(firm.tax_code))
    assert record["taxCode"] == firm.tax_code
    assert SERVICE.tokens_issued == issued + 1
    assert requests_seen(registry.url) - before == 3  # the 401, the token, the call again


async def test_a_soap_registry_behind_the_same_token_renews_once_on_401(
    registry: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    land = soap12_land.LandRegistry(REGISTRY, accepted_tokens=SERVICE.tokens)
    monkeypatch.setenv(ID_ENV, SERVICE.client_id)
    monkeypatch.setenv(SECRET_ENV, SERVICE.client_secret)
    with serving(soap12_land.create_app(land)[0]) as server:
        settings = ConnectorSettings(
            name="land",
            kind="soap",
            url=f"{server.url}{soap12_land.PATH}",
            call_policy=CallPolicy(max_attempts=1),
            options={
                "wsdl": str(soap12_land.WSDL),
                "datasets": {
                    "land.parcel": {
                        "operation": "TraCuuThuaDat",
                        "request": {
                            "MaYeuCau": "{request_id}",
                            "MaDVC": "{procedure}",
                            "MaHoSo": "{dossier}",
                            "CanBo": "{official}",
                            "MaThuaDat": "{subject.parcel_id}",
                        },
                        "reply": {"parcelId": "/ThuaDat/MaThuaDat"},
                    }
                },
            },
            auth={
                "oauth2": {
                    "token_url": f"{registry.url}/oauth/token",
                    "client_id_env": ID_ENV,
                    "client_secret_env": SECRET_ENV,
                }
            },
        )
        built = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
        provider = built.provider()
        assert provider is not None
        parcel = next(iter(land.parcels))
        request = DataRequest("land.parcel", {"parcel_id": parcel}, RequestContext())
        try:
            assert (await provider.fetch(request))["parcelId"] == parcel
            issued, before = SERVICE.tokens_issued, requests_seen(server.url)
            SERVICE.revoke_tokens()
            assert (await provider.fetch(request))["parcelId"] == parcel
            assert SERVICE.tokens_issued == issued + 1
            assert requests_seen(server.url) - before == 2  # the 401, then the call with the new token
        finally:
            await built.aclose()
