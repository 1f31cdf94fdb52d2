"""The API's machine-readable documents, from a running bus: the AsyncAPI 3.0 document (valid
against the official schema, showing each caller only what it may see) and the OpenAPI document
(valid OpenAPI 3.1); and ``lienthong docs asyncapi``."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.support import asyncapi
from tests.support.bus import OPERATOR, OUTSIDER, PORTAL, WAREHOUSE, BusConfig, BusProcess
from tests.support.paths import ROOT


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory) -> BusConfig:
    config = BusConfig(tmp_path_factory.mktemp("documents"))
    config.subscribe("portal-status", "http://127.0.0.1:9/portal/events")
    config.subscribe(
        "warehouse-submitted",
        "https://warehouse.example:8443/in",
        system=WAREHOUSE,
        types=("dossier.submitted",),
    )
    return config


def channels_of(document: dict[str, object]) -> set[str]:
    channels = document["channels"]
    assert isinstance(channels, dict)
    return {name for name in channels if name.startswith("deliver.")}


def test_the_asyncapi_document_needs_a_key(bus: BusProcess) -> None:
    reply = httpx.get(f"{bus.url}/v1/asyncapi.json")
    assert reply.status_code == 401
    assert reply.json()["code"] == "unauthenticated"


def test_each_caller_sees_the_types_and_only_its_own_subscriptions(bus: BusProcess) -> None:
    seen: dict[str, set[str]] = {}
    for system in (PORTAL, WAREHOUSE, OUTSIDER, OPERATOR):
        with bus.client(system) as client:
            reply = client.get("/v1/asyncapi.json")
        assert reply.status_code == 200, reply.text
        document = reply.json()
        assert asyncapi.errors(document) == [], system
        assert "dossier.status.changed.v2" in document["components"]["messages"]
        assert document["servers"]["bus"]["host"] == bus.url.removeprefix("http://")
        seen[system] = channels_of(document)
    assert seen == {
        PORTAL: {"deliver.portal-status"},
        WAREHOUSE: {"deliver.warehouse-submitted"},
        OUTSIDER: set(),
        OPERATOR: {"deliver.portal-status", "deliver.warehouse-submitted"},
    }


def test_the_openapi_document_is_valid_openapi_3_1(bus: BusProcess) -> None:
    document = httpx.get(f"{bus.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises OpenAPIValidationError with the path of the first problem
    assert "/v1/asyncapi.json" in document["paths"]
    # the hot paths, served by Starlette directly (adapters/http/direct.py), are documented too
    publish = document["paths"]["/v1/events"]["post"]
    assert set(publish["requestBody"]["content"]) >= {"application/cloudevents+json", "application/json"}
    assert publish["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublishReply"
    }
    query = document["paths"]["/v1/evidence:query"]["post"]
    assert {p["name"] for p in query["parameters"]} >= {"X-Official-Id", "X-Deadline-Ms"}
    assert query["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EvidenceReply"
    }
    broken = {**document, "paths": {"/v1/events": {"post": {"responses": "none"}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_error_of_every_operation_is_documented_as_a_problem_with_its_codes(bus: BusProcess) -> None:
    document = httpx.get(f"{bus.url}/openapi.json").json()
    catalogue = httpx.get(f"{bus.url}/problems").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's, never sent
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if int(status) < 400:
                    continue
                assert set(response["content"]) == {"application/problem+json"}, (method, path, status)
                problem, narrowed = response["content"]["application/problem+json"]["schema"]["allOf"]
                assert problem == {"$ref": "#/components/schemas/Problem"}
                for code in narrowed["properties"]["code"]["enum"]:
                    assert catalogue[code]["status"] == int(status), (method, path, code)
            # a key is needed exactly where a missing one is answered 401
            assert ("security" in operation) == ("401" in responses), (method, path)
    paths = document["paths"]
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {
        "text/plain; version=1.0.0; charset=utf-8"
    }
    contract = paths["/v1/types/{event_type}/versions/{version}/schema"]["get"]["responses"]["200"]
    assert set(contract["content"]) == {"application/schema+json"}
    assert set(paths["/v1/events"]["post"]["requestBody"]["content"]) == {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
    }


def test_docs_asyncapi_prints_the_whole_document(bus: BusProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "docs", "asyncapi", "--config", str(bus.path)],
        check=False,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert asyncapi.errors(document) == []
    assert channels_of(document) == {"deliver.portal-status", "deliver.warehouse-submitted"}
    assert document["servers"]["sink-warehouse-submitted"] == {
        "host": "warehouse.example:8443",
        "protocol": "https",
        "pathname": "/in",
        "title": "the sink of warehouse-submitted",
        "description": f"The webhook of {WAREHOUSE}.",
    }
