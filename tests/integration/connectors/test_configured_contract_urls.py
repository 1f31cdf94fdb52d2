"""A configured connector's contract served by its system, against real servers on loopback: an
OpenAPI document served as YAML is read with the same refusals as a file (anchors and aliases,
size, nesting), and a WSDL served by URL is loaded by each connector built (a reload that changes the
entry builds one), not once for the process."""

from __future__ import annotations

import copy
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.generic.openapi import MAX_DOCUMENT_BYTES, MAX_YAML_BYTES
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, InvalidProviderContract, RequestContext
from simulators import population as population_simulator
from simulators import rest_openapi_insurance as insurance_simulator
from simulators.server import SimulatorServer
from tests.support.evidence import registry_connector, transport_firm
from tests.support.simulators import serving

INSURANCE = insurance_simulator.InsuranceRegistry()
PERSON = next(iter(INSURANCE.insured))
_TAX, MANAGER, _PLATES = transport_firm()
HOSTILE = {
    "anchors.yaml": "openapi: 3.1.0\ninfo: &info {title: t, version: '1'}\npaths: {}\nx: *info\n",
    "huge.yaml": "openapi: 3.1.0\npaths: {}\nx: '" + "a" * MAX_DOCUMENT_BYTES + "'\n",
    "big.yaml": "openapi: 3.1.0\npaths: {}\nx: '" + "a" * MAX_YAML_BYTES + "'\n",
    "deep.json": '{"openapi": "3.1.0", "x": ' + "[" * 2000 + "]" * 2000 + "}",
    "deep.yaml": "openapi: 3.1.0\nx: " + "[" * 500 + "]" * 500 + "\n",
}


@pytest.fixture(scope="module")
def insurance() -> Iterator[SimulatorServer]:
    with serving(insurance_simulator.create_app(INSURANCE)[0]) as server:
        yield server


@pytest.fixture(scope="module")
def hostile() -> Iterator[SimulatorServer]:
    async def document(request: Request) -> Response:
        return Response(HOSTILE[request.path_params["name"]], media_type="application/yaml")

    with serving(Starlette(routes=[Route("/{name}", document)])) as server:
        yield server


def insured_by_operation(url: str, document: str) -> ConnectorSettings:
    return ConnectorSettings(
        name="insurance",
        kind="rest",
        url=url,
        call_policy=CallPolicy(max_attempts=1),
        options={
            "openapi": document,
            "datasets": {
                "insurance.record": {
                    "operation": "getInsured",
                    "parameters": {"personalId": "{subject.personal_id}"},
                    "reply": {"name": "/hoTen"},
                }
            },
        },
    )


async def test_an_openapi_document_served_as_yaml(insurance: SimulatorServer, tmp_path: Path) -> None:
    connector: Any = builder("rest")(
        insured_by_operation(insurance.url, f"{insurance.url}/openapi.yaml"),
        ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path),
    )
    try:
        record = await connector.provider().fetch(
            DataRequest("insurance.record", {"personal_id": PERSON}, RequestContext())
        )
    finally:
        await connector.aclose()
    assert record == {"name": INSURANCE.insured[PERSON]["hoTen"]}


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("anchors.yaml", "anchors"),
        ("huge.yaml", "larger than"),
        ("big.yaml", "YAML larger than"),
        ("deep.json", "nests deeper than"),  # a RecursionError, a 500, when read recursively
        ("deep.yaml", "nests deeper than"),
    ],
)
async def test_a_hostile_yaml_document_served_by_url_is_refused(
    hostile: SimulatorServer, tmp_path: Path, name: str, refusal: str
) -> None:
    connector: Any = builder("rest")(
        insured_by_operation(hostile.url, f"{hostile.url}/{name}"),
        ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path),
    )
    try:
        with pytest.raises(InvalidProviderContract, match=refusal):
            await connector.provider().fetch(
                DataRequest("insurance.record", {"personal_id": PERSON}, RequestContext())
            )
    finally:
        await connector.aclose()


class WsdlRequests:
    """Counts the WSDL requests (``GET ...?wsdl``) to the app it wraps."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and b"wsdl" in scope["query_string"]:
            self.count += 1
        await self.app(scope, receive, send)


async def test_a_wsdl_served_by_url_is_loaded_again_by_a_connector_built_again(tmp_path: Path) -> None:
    counted = WsdlRequests(population_simulator.create_app()[0])
    with serving(counted) as server:
        entry = registry_connector("population", server.url)
        options = copy.deepcopy(entry["options"])
        options["wsdl"] = f"{entry['url']}?wsdl"
        settings = ConnectorSettings(
            name="population",
            kind="soap",
            url=entry["url"],
            call_policy=CallPolicy(max_attempts=1),
            options=options,
        )
        for built in (1, 2):  # the running connector, then the one a reload builds
            connector: Any = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
            try:
                record = await connector.provider().fetch(
                    DataRequest("citizen.identity", {"personal_id": MANAGER}, RequestContext())
                )
            finally:
                await connector.aclose()
            assert record["personalId"] == MANAGER
            assert counted.count == built
