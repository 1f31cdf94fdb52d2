"""RFC 9457 problem details: every error the API returns, in one shape.

``type`` is ``/problems/<code>`` (a relative URI the API itself serves, describing the code);
``code`` repeats the stable code for clients that do not want to parse URIs; schema errors list
``errors`` with RFC 6901 JSON pointers into the request.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from router import errors as e

PROBLEM_JSON = "application/problem+json"

# Codes the HTTP layer itself produces, beside those of router.errors.
EXTRA_CODES: dict[str, tuple[int, str]] = {
    "method_not_allowed": (405, "Method not allowed"),
    "invalid_request": (400, "The request's parameters are not valid"),
    "client_disconnected": (400, "The client went away"),
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    errors: tuple[e.FieldError, ...] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if errors:
        body["errors"] = [error.as_dict() for error in errors]
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def from_error(error: e.LienthongError, instance: str) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, e.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="lienthong"'
    if isinstance(error, e.Unavailable):
        headers["Retry-After"] = "5"
    return problem(error.status, error.code, error.title, error.detail, instance, error.errors, headers)


def catalogue() -> dict[str, dict[str, Any]]:
    """Every stable code with its status and title, served at ``/problems``."""
    out: dict[str, dict[str, Any]] = {}
    stack: list[type[e.LienthongError]] = [e.LienthongError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        out[cls.code] = {"status": cls.status, "title": cls.title, "description": (cls.__doc__ or "").strip()}
    for code, (status, title) in EXTRA_CODES.items():
        out[code] = {"status": status, "title": title, "description": ""}
    return out
