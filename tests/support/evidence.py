"""The once-only exchange for integration tests: the three registry simulators, and a bus
configured with connectors to them, the example's catalogue, an audit log and the broker."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from simulators import business as business_simulator
from simulators import population as population_simulator
from simulators import vehicle as vehicle_simulator
from simulators.registry_data import Registry, build
from simulators.server import SimulatorServer
from tests.support.bus import BROKER, ONESTOP, BusConfig
from tests.support.simulators import serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lienthong.yaml"
AGENCY = "000.00.00.H49"
AUDIT_KEY_ENV = "LIENTHONG_AUDIT_KEY"
AUDIT_KEY = "test-only audit key, at least thirty-two characters long"
REGISTRY: Registry = build()
PROCEDURES = ["1.002861", "1.002859", "1.002856", "1.001612", "1.004194"]
# every dataset of the example but the citizen store's (tests that need it add it)
REGISTRY_DATASETS = [
    "citizen.identity",
    "citizen.residence",
    "business.registration",
    "transport.licence",
    "vehicle.registration",
]


@contextmanager
def registries() -> Iterator[dict[str, SimulatorServer]]:
    """The population (SOAP), business (REST) and vehicle (SOAP) simulators on free ports."""
    with ExitStack() as stack:
        yield {
            "population": stack.enter_context(serving(population_simulator.create_app()[0])),
            "business": stack.enter_context(serving(business_simulator.create_app()[0])),
            "vehicle": stack.enter_context(serving(vehicle_simulator.create_app()[0])),
        }


def registry_connector(name: str, url: str) -> dict[str, Any]:
    """The example's connector entry ``name`` (population, business or vehicle: a configured
    ``kind: soap`` or ``kind: rest``) calling the registry at ``url`` (a simulator's), with the
    example's own path on it and its contract files named by absolute path."""
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    entry: dict[str, Any] = copy.deepcopy(next(c for c in data["connectors"] if c["name"] == name))
    entry["url"] = url.rstrip("/") + urlsplit(entry["url"]).path
    options = entry.get("options", {})
    for document in ("wsdl", "openapi", "reply_xsd"):
        if document in options and urlsplit(options[document]).scheme not in ("http", "https"):
            options[document] = str(EXAMPLE.parent / options[document])
    for dataset in options.get("datasets", {}).values():
        if "schema" in dataset:
            dataset["schema"] = str(EXAMPLE.parent / dataset["schema"])
    return entry


def example_catalogue() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    return copy.deepcopy(data["datasets"]), copy.deepcopy(data["procedures"])


def evidence_config(
    directory: Path,
    urls: Mapping[str, str],
    *,
    dataset_changes: Mapping[str, Mapping[str, Any]] | None = None,
    broker: bool = False,
    broker_retry: Mapping[str, Any] | None = None,
    extra_connectors: list[dict[str, Any]] | None = None,
    extra_datasets: Sequence[str] = (),
) -> BusConfig:
    """A bus whose one-stop system may request the example's datasets for its procedures, with
    the audit log in ``directory``; ``broker`` adds the evidence broker's subscription.
    ``dataset_changes`` overrides entries of the example's datasets (e.g. a cache policy)."""
    datasets, procedures = example_catalogue()
    wanted = [*REGISTRY_DATASETS, *extra_datasets]
    datasets = [d for d in datasets if d["name"] in wanted]
    for entry in datasets:
        entry.update((dataset_changes or {}).get(entry["name"], {}))
    names = {d["name"] for d in datasets}
    for procedure in procedures:
        procedure["needs"] = [n for n in procedure["needs"] if n["dataset"] in names]
    connectors: list[dict[str, Any]] = [
        registry_connector(name, url)
        | {
            "timeout": "2s",
            "deadline": "4s",
            "max_attempts": 2,
            "circuit_breaker": {"failure_threshold": 100, "reset_timeout": "200ms"},
        }
        for name, url in urls.items()
    ]
    config = BusConfig(
        directory,
        extra_policies=[
            {
                "systems": [ONESTOP],
                "subscribe": ["dossier.evidence.collected"],
                "request": [
                    {"datasets": ["*"], "procedures": PROCEDURES, "purposes": ["dossier_processing"]}
                ],
            },
            {
                "systems": [BROKER],
                "subscribe": ["dossier.submitted"],
                "publish": ["dossier.evidence.collected"],
            },
        ],
        sections={
            "connectors": connectors + list(extra_connectors or []),
            "datasets": datasets,
            "procedures": procedures,
            "audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV},
        },
    )
    if broker:
        config.subscriptions.append(
            {
                "name": "evidence-broker",
                "system": BROKER,
                "types": ["dossier.submitted"],
                "sink": {"evidence": {"deadline": "5s"}},
                "retry": dict(
                    broker_retry
                    or {
                        "max_attempts": 3,
                        "max_elapsed": "3s",
                        "initial_backoff": "50ms",
                        "max_backoff": "200ms",
                    }
                ),
                "circuit_breaker": {"failure_threshold": 50, "reset_timeout": "200ms"},
            }
        )
    return config


def transport_firm() -> tuple[str, str, list[str]]:
    """A licensed transport enterprise: its tax code, its legal representative's personal ID, and
    its vehicles' plates."""
    licence = REGISTRY.licences[0]
    firm = REGISTRY.enterprise(licence.tax_code)
    assert firm is not None
    plates = [v.plate for v in REGISTRY.vehicles if v.owner_id == firm.tax_code]
    return firm.tax_code, firm.legal_representative, plates


def submitted_event(code: str, procedure: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A structured-mode ``dossier.submitted`` v2 from the one-stop system."""
    return {
        "specversion": "1.0",
        "id": f"submitted-{code}",
        "source": ONESTOP,
        "type": "dossier.submitted",
        "subject": code,
        "time": "2024-05-02T08:00:00+07:00",
        "datacontenttype": "application/json",
        "dataschema": "urn:lienthong:schema:dossier.submitted:2",
        "data": {
            "dossierCode": code,
            "agencyCode": AGENCY,
            "procedureCode": procedure,
            "submittedAt": "2024-05-02T08:00:00+07:00",
            **data,
        },
    }


def query_body(dataset: Any, subject: Mapping[str, str], /, **changes: Any) -> dict[str, Any]:
    """A ``POST /v1/evidence:query`` body for the transport licence procedure; ``changes``
    replace or add members (hostile values included)."""
    body: dict[str, Any] = {
        "dataset": dataset,
        "subject": dict(subject),
        "procedure": "1.002861",
        "dossier": "000.00.00.H49-261127-0001",
        "purpose": "dossier_processing",
    }
    body.update(changes)
    return body
