"""The evidence cache across a reload: records of a dataset whose connector now points at another
registry are dropped, so the next query asks the new registry; a reload that changes nothing of
a dataset keeps its cached records. A real bus, real simulators, the file rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators import business as business_simulator
from simulators import population as population_simulator
from simulators import vehicle as vehicle_simulator
from tests.support.bus import ONESTOP, OPERATOR, BusProcess
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV, evidence_config, query_body, transport_firm
from tests.support.simulators import requests_seen, serving


@pytest.fixture
def simulators() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            "population": stack.enter_context(serving(population_simulator.create_app()[0])).url,
            "business": stack.enter_context(serving(business_simulator.create_app()[0])).url,
            "vehicle": stack.enter_context(serving(vehicle_simulator.create_app()[0])).url,
            "other business": stack.enter_context(serving(business_simulator.create_app()[0])).url,
        }


def query(bus: BusProcess) -> dict[str, Any]:
    tax_code, _, _ = transport_firm()
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query", json=query_body("business.registration", {"tax_code": tax_code})
        )
    assert reply.status_code == 200, reply.text
    provenance: dict[str, Any] = reply.json()["provenance"]
    return provenance


def rewrite_and_reload(bus: BusProcess, change: Any) -> None:
    document = yaml.safe_load(bus.path.read_text())
    change(document)
    bus.path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    with bus.client(OPERATOR) as client:
        answer = client.post("/v1/admin/reload")
    assert answer.status_code == 200, answer.text


def test_a_reload_drops_cached_records_of_a_dataset_whose_registry_changed(
    tmp_path: Path, simulators: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    urls = {name: url for name, url in simulators.items() if name != "other business"}
    config = evidence_config(tmp_path, urls, dataset_changes={"business.registration": {"cache": "1h"}})
    old, new = simulators["business"], simulators["other business"]
    with BusProcess(config) as bus:
        assert query(bus)["cache_hit"] is False
        assert query(bus)["cache_hit"] is True
        asked = requests_seen(old)

        # a reload that leaves the dataset and its connector alone keeps the cache
        rewrite_and_reload(bus, lambda d: d["policies"].append({"systems": [OPERATOR], "admin": True}))
        assert query(bus)["cache_hit"] is True

        def move(document: dict[str, Any]) -> None:
            connector = next(c for c in document["connectors"] if c["name"] == "business")
            connector["url"] = new

        rewrite_and_reload(bus, move)
        answer = query(bus)
        assert answer["cache_hit"] is False  # asked again, of the registry now configured
        assert requests_seen(new) == 1
        assert requests_seen(old) == asked
        assert query(bus)["cache_hit"] is True


def test_the_openapi_document_follows_the_catalogue_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    urls = {name: "http://127.0.0.1:9" for name in ("population", "business", "vehicle")}
    with BusProcess(evidence_config(tmp_path, urls)) as bus:

        def branches() -> dict[str, dict[str, Any]]:
            with bus.client(OPERATOR) as client:
                document = client.get("/openapi.json").json()
            query_schema = document["components"]["schemas"]["EvidenceQuery"]
            return {branch["title"]: branch for branch in query_schema["oneOf"]}

        before = branches()
        assert before["citizen.identity"]["properties"]["subject"]["required"] == ["personal_id"]
        assert before["citizen.identity"]["required"] == ["dossier"]  # personal data, for a dossier

        def relabel(document: dict[str, Any]) -> None:
            dataset = next(d for d in document["datasets"] if d["name"] == "business.registration")
            dataset["description"] = "renamed by a reload"

        rewrite_and_reload(bus, relabel)
        assert branches()["business.registration"]["description"] == "renamed by a reload"
