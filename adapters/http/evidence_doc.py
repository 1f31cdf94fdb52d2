"""The OpenAPI request of ``POST /v1/evidence:query``, from the catalogue in force.

Which identifiers a query's ``subject`` carries, and whether it needs a ``dossier``, depend on
the dataset (router.evidence.service checks them): the body is one of a branch per dataset of
the catalogue, so that a query that fits the document fits the bus. The component is written
each time the document is built, which happens again after a reload (adapters.http.openapi).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.http.identifiers_doc import PERSON_OR_ENTERPRISE, PERSONAL_ID, PROCEDURE_CODE, TAXPAYER_CODE
from adapters.http.openapi import DocumentPart
from router.evidence.catalogue import Catalogue, Dataset
from router.evidence.service import MAX_KEY_VALUE

COMPONENT = "EvidenceQuery"
NAME = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"
PROCEDURE = r"^[0-9]+(\.[0-9A-Z]+)+$"
PURPOSE = r"^[a-z0-9_]+$"
MAX_DATASET = 128
MAX_TEXT = 64
MAX_SUBJECT_KEYS = 8
# free-form text (a dossier, an identifier the provider judges): no control character, which a
# provider's request header refuses and a PostgreSQL text column (the audit log) cannot hold
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

# the schema of each identifier whose form the bus checks: those of KEY_FORMATS
# (router.evidence.service), which a test holds to the same names
KEY_SCHEMAS: dict[str, dict[str, Any]] = {
    "personal_id": PERSONAL_ID,
    "tax_code": TAXPAYER_CODE,
    "holder": PERSON_OR_ENTERPRISE,
    "procedure": PROCEDURE_CODE,
}

# an identifier the provider judges (a plate); those of KEY_SCHEMAS are shorter than MAX_KEY_VALUE
_ANY_KEY: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_VALUE,
    "pattern": NO_CONTROL,
}


def query_schema(catalogue: Catalogue) -> dict[str, Any]:
    """The body of an evidence query to the datasets of ``catalogue``."""
    schema: dict[str, Any] = {
        "title": COMPONENT,
        "type": "object",
        "required": ["dataset", "subject", "procedure", "purpose"],
        "properties": {
            "dataset": {"type": "string", "maxLength": MAX_DATASET, "pattern": NAME},
            "subject": {
                "type": "object",
                "maxProperties": MAX_SUBJECT_KEYS,
                "description": "the identifiers the dataset is keyed by, e.g. {personal_id: '022089001234'}",
            },
            "procedure": {
                "type": "string",
                "maxLength": MAX_TEXT,
                "pattern": PROCEDURE,
                "examples": ["1.002861"],
            },
            "dossier": {
                "type": "string",
                "maxLength": MAX_TEXT,
                "pattern": NO_CONTROL,
                "description": "the dossier the data is for",
            },
            "purpose": {"type": "string", "maxLength": MAX_TEXT, "pattern": PURPOSE},
        },
    }
    branches = [_dataset_branch(dataset) for _, dataset in sorted(catalogue.datasets.items())]
    if branches:
        schema["oneOf"] = branches
    return schema


def _dataset_branch(dataset: Dataset) -> dict[str, Any]:
    keys = {name: KEY_SCHEMAS.get(name, _ANY_KEY) for name in dataset.key}
    branch: dict[str, Any] = {
        "title": dataset.name,
        "description": dataset.description,
        "properties": {
            "dataset": {"const": dataset.name},
            "subject": {"required": list(dataset.key), "properties": keys, "additionalProperties": False},
        },
    }
    if dataset.personal:
        # personal data is released for a dossier, which the audit record names
        branch["required"] = ["dossier"]
        branch["properties"]["dossier"] = {"pattern": r"\S"}
    return branch


def evidence_document(catalogue: Callable[[], Catalogue]) -> DocumentPart:
    """The document part writing the ``EvidenceQuery`` component from ``catalogue()``."""

    def write(document: dict[str, Any]) -> None:
        document.setdefault("components", {}).setdefault("schemas", {})[COMPONENT] = query_schema(catalogue())

    return write
