"""The OpenAPI document is the API: schemathesis generates requests from the
bus's own /openapi.json, valid and invalid, and sends them to a real bus (``lienthong serve`` on
the example configuration, on loopback). Every answer is checked against the document: its
status is documented, its media type, headers and body are those documented for that status, a
request that fits the document is not refused as malformed, one that does not fit it is refused,
a protected operation refuses a missing or wrong key, and no answer is a server error.

Bounded: at most EXAMPLES generated requests per operation (plus schemathesis' coverage cases),
with a fixed seed, so that a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import stdnum.vn.mst
from hypothesis import strategies as st

from router.identifiers import is_tax_code
from tests.support.api_fuzz import fuzz
from tests.support.example_bus import ExampleBus, example_bus

EXAMPLES = 25
SEED = 22
# what refuses a request that does not fit the document: schemathesis' list, and 413 (a batch
# over http.max_batch is payload_too_large)
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

# Who calls each operation, by the example's systems: the operator (admin grant) may call every
# operation; the one-stop shop publishes; the portal reads access reports.
CALLERS = {
    ("POST", "/v1/events"): "motcua",
    ("GET", "/v1/subjects/{subject_id}/access-log"): "dvcqg",
}
OPERATOR = "vanhanh"
SUBSCRIPTION = "portal-dossiers"
EVENT_TYPE = "dossier.status.changed"
PORTAL_CONNECTOR = "portal"

# Checks left out where the document cannot say what the bus checks, with the reason:
EXCLUDED_CHECKS: dict[tuple[str, str], list[str]] = {
    # The data must match the contract of the event's type (a JSON Schema of the registry, with
    # formats such as a tax code's check digit), binary mode needs ce- headers with
    # application/json only, and an event's source must be the caller: a generated event that
    # fits the document is still refused (422, 400, 403), as documented.
    ("POST", "/v1/events"): ["positive_data_acceptance"],
    # A purge names its letters by at least one of three query parameters: OpenAPI cannot say
    # "at least one of these parameters"; naming none is refused (400 invalid_request).
    ("DELETE", "/v1/subscriptions/{name}/dead-letters"): ["positive_data_acceptance"],
    # The official is named by one of two headers (X-Official-Token, or X-Official-Id where the
    # system may assert it), for an evidence query only when the body's dataset is personal:
    # OpenAPI cannot say "one of these headers", nor tie a header to the body; naming neither is
    # refused (400 official_required).
    ("GET", "/v1/subjects/{subject_id}/access-log"): ["positive_data_acceptance"],
    ("POST", "/v1/evidence:query"): ["positive_data_acceptance"],
    # A release needs a named official (one of the two headers, as above) and a dossier the
    # portal sync holds: a generated one is refused (400 official_required, 404, 409), as documented.
    ("POST", "/v1/portal/dossiers/{dossier}/release"): ["positive_data_acceptance"],
}


def _with_check_digit(code: str) -> str:
    return code[:9] + stdnum.vn.mst.calc_check_digit(code[:9]) + code[10:]


# The document names the tax code's format (its check digit is no regular expression); this
# teaches schemathesis to generate such codes, as a client would send them.
schemathesis.openapi.format(
    "vn-tax-code",
    st.from_regex(r"\A[0-9]{10}(-?[0-9]{3})?\Z").map(_with_check_digit).filter(is_tax_code),
)


def _operation(method: str, path: str, settings: dict[str, Any]) -> dict[str, Any]:
    # by name: separate include-method and include-path filters would each match on their own
    return {"include-name": f"{method} {path}", **settings}


def _config(bus: ExampleBus) -> schemathesis.Config:
    operations = [
        _operation(method, path, {"headers": {"Authorization": f"Bearer {bus.keys[caller]}"}})
        for (method, path), caller in CALLERS.items()
    ]
    operations += [
        _operation(method, path, {"checks": {name: {"enabled": False} for name in names}})
        for (method, path), names in EXCLUDED_CHECKS.items()
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {bus.keys[OPERATOR]}"},
            # names of the example configuration, so that requests reach a subscription or a
            # contract rather than stop at 404 (other names are tried by hand in test_api_errors)
            "parameters": {"name": SUBSCRIPTION, "event_type": EVENT_TYPE, "connector": PORTAL_CONNECTOR},
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            "checks": {
                "enabled": True,
                "negative_data_rejection": {"expected-statuses": REFUSALS},
            },
            "workers": 1,
            # stateful sequences: their checks (use_after_free...) read DELETE as deleting the
            # resource at its path, which a purge of dead letters is not
            "phases": {"stateful": {"enabled": False}},
            "operations": operations,
        }
    )


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleBus]:
    with example_bus(Path(tmp_path_factory.mktemp("openapi"))) as running:
        yield running


@pytest.mark.slow
def test_every_operation_answers_as_the_document_says(bus: ExampleBus) -> None:
    schema = schemathesis.openapi.from_url(f"{bus.url}/openapi.json", config=_config(bus))
    run = fuzz(schema)
    print(run.summary())  # shown with -rP: what the run covered
    assert not run.findings and not run.errors, run.report()
    documented = {
        f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item
    }
    assert documented <= run.operations, "operations left untested"
