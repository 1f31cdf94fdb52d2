"""The OpenAPI request of ``POST /v1/events``: a CloudEvent exactly as :mod:`router.envelope`
checks it, in each of the three modes (docs/api.md, Publishing).

What OpenAPI cannot state is said in the descriptions and answered with its own code: the ce-
headers are required in binary mode only (``400 malformed_event`` without them); ``source`` must
be the caller (``403 forbidden``); ``type`` must be registered and ``data`` must match its
contract (``422 unknown_type``, ``422 schema_violation``: ``GET /v1/types`` lists them); the body
is at most ``http.max_body`` bytes (``413``); an event carries at most 32 extension attributes.
"""

from __future__ import annotations

from typing import Any

from router import envelope, tracing

_ATTRIBUTE: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": envelope.MAX_ATTRIBUTE_LENGTH}
# optional attributes may be null, which counts as absent
_OPTIONAL: dict[str, Any] = {**_ATTRIBUTE, "type": ["string", "null"]}
# application/json or any +json type, with parameters (datacontenttype and binary mode's Content-Type)
JSON_MEDIA_TYPE = r"^\s*(application/json|[^;\s]*\+json)\s*(;.*)?$"

_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "specversion": {"const": envelope.SPECVERSION},
    "id": {
        **_OPTIONAL,
        "description": "unique per source; generated when absent (a re-sent id is a duplicate)",
    },
    "source": {**_ATTRIBUTE, "description": "the calling system's id, e.g. 000.00.00.H49/motcua"},
    "type": {**_ATTRIBUTE, "description": "a registered type (GET /v1/types), e.g. dossier.status.changed"},
    "subject": {
        **_OPTIONAL,
        "minLength": 0,
        "description": "the ordering key; taken from the data when the type names one",
    },
    "time": {**_OPTIONAL, "format": "date-time", "description": "RFC 3339, with a time zone"},
    "datacontenttype": {**_OPTIONAL, "pattern": JSON_MEDIA_TYPE, "description": "JSON data only"},
    "dataschema": {**_OPTIONAL, "description": "a version of the type's contract; default: the latest"},
}

_EXTENSION: dict[str, Any] = {
    "description": "an extension attribute: a string, an integer of 32 bits or a boolean",
    "anyOf": [
        {"type": "string", "maxLength": envelope.MAX_ATTRIBUTE_LENGTH},
        {"type": "integer", "minimum": -(2**31) + 1, "maximum": 2**31 - 1},
        {"type": "boolean"},
    ],
}

STRUCTURED_EVENT: dict[str, Any] = {
    "title": "CloudEvent",
    "description": "A CloudEvent 1.0 in structured mode; JSON data only, in `data`.",
    "type": "object",
    "required": ["specversion", "source", "type"],
    "properties": {**_ATTRIBUTES, "data": {"description": "the event's data, as its type's contract says"}},
    # lower-case letters and digits, at most 20 (CloudEvents); data_base64 is refused
    "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
    "additionalProperties": _EXTENSION,
}


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def publish_request(max_batch: int) -> dict[str, Any]:
    """The ``openapi_extra`` of the publish route: its body in the three modes, its headers."""
    binary = "binary mode (Content-Type application/json): required"
    return {
        "requestBody": {
            "required": True,
            "description": "One CloudEvent (structured or binary mode) or a batch of them, UTF-8.",
            "content": {
                envelope.STRUCTURED: {"schema": {"$ref": "#/components/schemas/CloudEvent"}},
                envelope.BATCH: {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": max_batch,
                        "items": {"$ref": "#/components/schemas/CloudEvent"},
                        "description": "all accepted or none",
                    }
                },
                envelope.JSON: {
                    "schema": {"description": "binary mode: the data; the attributes are ce- headers"}
                },
            },
        },
        "parameters": [
            _header("ce-specversion", {"const": envelope.SPECVERSION}, binary),
            _header("ce-source", _ATTRIBUTE, f"{binary}; the calling system's id"),
            _header("ce-type", _ATTRIBUTE, f"{binary}; a registered type"),
            _header("ce-id", _ATTRIBUTE, "binary mode: generated when absent"),
            _header("ce-subject", {**_ATTRIBUTE, "minLength": 0}, "binary mode: the ordering key"),
            _header("ce-time", {**_ATTRIBUTE, "format": "date-time"}, "binary mode: RFC 3339"),
            _header("ce-dataschema", _ATTRIBUTE, "binary mode: a version of the type's contract"),
            _header(
                tracing.HEADER,
                {"type": "string"},
                "W3C trace context, for events that carry none (docs/observability.md)",
            ),
        ],
    }


def add_cloudevent_schema(document: dict[str, Any]) -> None:
    """The ``CloudEvent`` component the publish body refers to (an OpenAPI document part)."""
    document.setdefault("components", {}).setdefault("schemas", {})["CloudEvent"] = STRUCTURED_EVENT
