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
RETRY_AFTER_S = "5"


class MethodNotAllowed(e.LienthongError):
    """The path exists, not for this method: ``Allow`` names every method served there."""

    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class ClientDisconnected(e.LienthongError):
    """The client closed its connection before its body was read whole: nothing was done."""

    code = "client_disconnected"
    status = 400
    title = "The client went away"


class HeadersTooLarge(e.LienthongError):
    """The request's headers are too many, or its request line and headers too long: nothing
    of it was read further. ``http.max_headers`` and ``http.max_head`` set the limits."""

    code = "headers_too_large"
    status = 431
    title = "Request header fields too large"


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


def from_error(error: e.LienthongError, instance: str, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    if isinstance(error, e.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="lienthong"'
    if error.status == 503:
        # whatever became unavailable (the log, the audit store, a provider) may come back
        headers["Retry-After"] = RETRY_AFTER_S
    return problem(error.status, error.code, error.title, error.detail, instance, error.errors, headers)


def catalogue() -> dict[str, dict[str, Any]]:
    """Every stable code with its status and title, served at ``/problems``."""
    out: dict[str, dict[str, Any]] = {}
    stack: list[type[e.LienthongError]] = [e.LienthongError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        out[cls.code] = {"status": cls.status, "title": cls.title, "description": (cls.__doc__ or "").strip()}
    return out
