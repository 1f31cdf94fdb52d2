"""What each operation answers besides success, declared once: the OpenAPI ``responses`` of a
route, built from the error classes it can raise.

Every error is problem+json (:mod:`adapters.http.problems`). A route lists its errors by class;
:func:`errors` groups them by status into responses whose schema is the ``Problem`` component
narrowed to that status and those codes, so that a client (and schemathesis, which checks the
API against the document) knows exactly which codes each status of each operation carries.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from adapters.http.problems import PROBLEM_JSON, ClientDisconnected
from router.errors import (
    InvalidRequest,
    LienthongError,
    MalformedJson,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)

ErrorClass = type[LienthongError]
Responses = dict[int | str, dict[str, Any]]

PROBLEM_REF = "#/components/schemas/Problem"

# The errors shared by many routes.
AUTHENTICATED: tuple[ErrorClass, ...] = (Unauthenticated,)
# a FastAPI route's parameters or JSON body that do not fit their declaration (app.on_invalid)
PARAMETERS: tuple[ErrorClass, ...] = (InvalidRequest,)
# a JSON body FastAPI reads for the route: not JSON, or the client went away
FASTAPI_JSON_BODY: tuple[ErrorClass, ...] = (MalformedJson, ClientDisconnected)
# a body the route reads itself, bounded (adapters.http.body.read_bounded)
READ_BODY: tuple[ErrorClass, ...] = (ClientDisconnected, PayloadTooLarge, UnsupportedMediaType)
JSON_BODY: tuple[ErrorClass, ...] = (*READ_BODY, MalformedJson)

# Headers sent with every problem of a status (adapters.http.problems.from_error).
_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'the scheme to use: `Bearer realm="lienthong"`',
            "required": True,
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "seconds to wait before asking again",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


_TEXT: dict[str, Any] = {"type": "string"}

# RFC 9457 problem details, as every error of the API is answered (adapters.http.problems)
PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<code>`, served by this API"},
        "title": _TEXT,
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": _TEXT,
        "code": {"type": "string", "description": "the stable code (GET /problems lists them all)"},
        "instance": {"type": "string", "description": "the path of the request"},
        "errors": {
            "type": "array",
            "description": "what was wrong, where (some codes)",
            "items": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "RFC 6901 JSON pointer into the request"},
                    "detail": _TEXT,
                    # config_invalid locates each problem in the configuration file
                    "file": _TEXT,
                    "line": {"type": "integer"},
                    "column": {"type": "integer"},
                    "fix": _TEXT,
                    "text": _TEXT,
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def errors(*classes: ErrorClass) -> Responses:
    """The responses of ``classes``, one per status, each naming its codes."""
    by_status: dict[int, dict[str, str]] = defaultdict(dict)
    for cls in classes:
        by_status[cls.status][cls.code] = cls.title
    responses: Responses = {}
    for status, codes in sorted(by_status.items()):
        listed = "; ".join(f"`{code}`: {title}" for code, title in sorted(codes.items()))
        response: dict[str, Any] = {
            "description": listed,
            "content": {
                PROBLEM_JSON: {
                    "schema": {
                        "allOf": [
                            {"$ref": PROBLEM_REF},
                            {
                                "properties": {
                                    "status": {"const": status},
                                    "code": {"enum": sorted(codes)},
                                    "type": {"enum": [f"/problems/{code}" for code in sorted(codes)]},
                                }
                            },
                        ]
                    }
                }
            },
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


def media(media_type: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A success response of one media type (``responses={200: media(...)}``)."""
    return {"description": description, "content": {media_type: {"schema": schema}}}
