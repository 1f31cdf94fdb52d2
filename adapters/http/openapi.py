"""``/openapi.json``: FastAPI's document of the routes, made exact.

FastAPI documents a ``422 Validation Error`` for every route with parameters; this API answers
those errors ``400 invalid_request`` (problem+json), declared on each route with the rest of
its errors (:mod:`adapters.http.responses`), so FastAPI's entry and its schemas go. The
``Problem`` component that the error responses refer to is added, and the API key as the
security of every operation that answers 401, and the refusals of the input limits
(:mod:`adapters.http.limits`) that any operation may answer: 431, and 413 with a body. Parts that depend on the
configuration in force (the evidence catalogue) are written by :data:`DocumentPart` functions
each time the document is built: it is built again when the configuration changes (a reload).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from adapters.http.problems import HeadersTooLarge
from adapters.http.responses import PROBLEM, PROBLEM_REF, errors
from router.errors import PayloadTooLarge

# changes the built document in place (a request body read from the configuration in force)
DocumentPart = Callable[[dict[str, Any]], None]

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"
SECURITY_SCHEME = "apiKey"
API_KEY: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "a system's API key (`lienthong keys new <system id>`): `Authorization: Bearer <key>`",
}


def serve_document(
    app: FastAPI, parts: Sequence[DocumentPart] = (), version: Callable[[], Hashable] = lambda: None
) -> None:
    """Makes ``app.openapi`` build the exact document, again whenever ``version()`` changes."""
    built: dict[Hashable, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        current = version()
        if current not in built:
            built.clear()
            built[current] = document(app, parts)
        app.openapi_schema = built[current]
        return built[current]

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI, parts: Sequence[DocumentPart] = ()) -> dict[str, Any]:
    out = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for operations in out.get("paths", {}).values():
        for operation in operations.values():
            _drop_fastapi_validation(operation["responses"])
            _add_input_limits(operation)
            # an operation that may answer 401 is one that needs a key
            if "401" in operation["responses"]:
                operation["security"] = [{SECURITY_SCHEME: []}]
    components = out.setdefault("components", {})
    components["securitySchemes"] = {SECURITY_SCHEME: API_KEY}
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas[PROBLEM_REF.rsplit("/", 1)[1]] = PROBLEM
    for part in parts:
        part(out)
    return out


def _add_input_limits(operation: dict[str, Any]) -> None:
    """The refusals of adapters.http.limits, which any operation may answer: 431 (too many
    headers, too long a head) and, for one that takes a body, 413 (the body over the limit)."""
    responses = operation["responses"]
    responses.setdefault("431", errors(HeadersTooLarge)[431])
    if "requestBody" in operation:
        responses.setdefault("413", errors(PayloadTooLarge)[413])


def _drop_fastapi_validation(responses: dict[str, Any]) -> None:
    found = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if found.get("$ref") == _FASTAPI_VALIDATION:
        del responses["422"]
