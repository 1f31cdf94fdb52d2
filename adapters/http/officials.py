"""The official behind a request, read from its headers in one place for every route that needs
one (the evidence query, the access report): ``X-Official-Token``, the official's signed identity
token, or ``X-Official-Id``, the calling system's unproven assertion (router.officials decides
which is accepted). The API key stays in ``Authorization``, so the two never clash."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.official_tokens import MAX_TOKEN
from router.directory import System
from router.errors import FieldError, InvalidRequest, LienthongError
from router.officials import Official, OfficialTokenInvalid, OfficialTokenRequired, TokenVerifier, official_of

TOKEN_HEADER = "X-Official-Token"  # noqa: S105 (a header name, not a secret)
ID_HEADER = "X-Official-Id"
MAX_OFFICIAL = 200
# what an operation that reads an official may answer for it, besides its own errors
OFFICIAL_ERRORS = (InvalidRequest, OfficialTokenRequired, OfficialTokenInvalid)

Verifier = Callable[[], TokenVerifier]


def official_of_request(
    headers: Mapping[str, str],
    caller: System,
    verifier: Verifier,
    too_long: type[LienthongError] = InvalidRequest,
) -> Official | None:
    """The official of the request (None when it names none); raises OfficialTokenInvalid,
    OfficialTokenRequired, or ``too_long`` (the route's error for a bad parameter) for an
    X-Official-Id that is too long."""
    asserted = headers.get("x-official-id", "").strip()
    if len(asserted) > MAX_OFFICIAL:
        raise too_long(
            f"{ID_HEADER} is too long",
            (FieldError(f"/headers/{ID_HEADER}", f"at most {MAX_OFFICIAL} characters"),),
        )
    token = headers.get("x-official-token")
    return official_of(caller, None if token is None else token.strip(), asserted, verifier())


def parameters(asserted_description: str) -> list[dict[str, Any]]:
    """The two headers as OpenAPI parameters; neither is required by the document, as the bus
    needs one only for personal data (which the body's dataset decides)."""
    return [
        {
            "name": TOKEN_HEADER,
            "in": "header",
            "schema": {"type": "string", "maxLength": MAX_TOKEN},
            "description": (
                "the official's signed identity token (a JWT of an issuer the bus trusts, "
                "officials.issuers): its configured claim is the official recorded in the audit log, "
                "as verified"
            ),
        },
        {
            "name": ID_HEADER,
            "in": "header",
            "schema": {"type": "string", "maxLength": MAX_OFFICIAL},
            "description": (
                f"{asserted_description}, asserted by the calling system: accepted only from a system "
                "allowed to (officials: {accept_asserted_header: true}), recorded as asserted"
            ),
        },
    ]
