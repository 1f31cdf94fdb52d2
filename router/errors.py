"""Errors as types. Each carries a stable ``code`` that clients can rely on.

The HTTP adapter renders them as RFC 9457 problem+json (``type`` = ``/problems/<code>``); the CLI
prints them; nothing else turns them into text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong at one place; ``pointer`` is an RFC 6901 JSON pointer into the input."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.message}


class LienthongError(Exception):
    """Base of the errors the bus reports to a caller."""

    code: str = "internal_error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class MalformedEvent(LienthongError):
    code = "malformed_event"
    status = 400
    title = "The request is not a valid CloudEvent"


class MalformedJson(LienthongError):
    code = "malformed_json"
    status = 400
    title = "The body is not valid JSON"


class InvalidRequest(LienthongError):
    """A query parameter, header or body of a management call is not valid, or names nothing."""

    code = "invalid_request"
    status = 400
    title = "The request's parameters are not valid"


class UnsupportedMediaType(LienthongError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported content type"


class UnknownType(LienthongError):
    code = "unknown_type"
    status = 422
    title = "The event type is not registered"


class SchemaViolation(LienthongError):
    code = "schema_violation"
    status = 422
    title = "The event data does not match its schema"


class PayloadTooLarge(LienthongError):
    code = "payload_too_large"
    status = 413
    title = "The request is too large"


class Unauthenticated(LienthongError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(LienthongError):
    code = "forbidden"
    status = 403
    title = "Not allowed by policy"


class NotFound(LienthongError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unavailable(LienthongError):
    code = "unavailable"
    status = 503
    title = "Temporarily unavailable"


class ConfigError(LienthongError):
    """A configuration file is invalid; ``detail`` names the file, the path and the fix."""

    code = "config_error"
    status = 500
    title = "Invalid configuration"
