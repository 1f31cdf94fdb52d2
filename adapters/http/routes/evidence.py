"""``POST /v1/evidence:query``: a system asks for a dataset the state already holds.

The official acting in the requesting system is named by a signed identity token
(``X-Official-Token``) or, from a system allowed to, asserted in ``X-Official-Id``
(adapters.http.officials); one is required for personal data and recorded in the audit log. The caller's deadline (``X-Deadline-Ms``, or
``Request-Timeout`` in seconds) is passed on to the provider call, bounded by
:data:`MAX_DEADLINE_S`. Errors are problem+json with stable codes; those that may pass (a provider
or the audit log unavailable) carry ``Retry-After``.
"""

from __future__ import annotations

import functools
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from adapters.http.auth import current_caller
from adapters.http.body import _media_type, read_bounded
from adapters.http.direct import DirectRoute
from adapters.http.evidence_doc import (
    COMPONENT,
    MAX_DATASET,
    MAX_SUBJECT_KEYS,
    MAX_TEXT,
    NAME,
    NO_CONTROL,
    PROCEDURE,
    PURPOSE,
)
from adapters.http.officials import OFFICIAL_ERRORS, Verifier, official_of_request
from adapters.http.officials import parameters as official_parameters
from adapters.http.responses import AUTHENTICATED, READ_BODY, errors
from router import tracing
from router.audit import AuditUnavailable
from router.envelope import is_json_media_type
from router.errors import FieldError, UnsupportedMediaType
from router.evidence.errors import (
    DataRequestDenied,
    InvalidEvidenceQuery,
    NoProvider,
    OfficialRequired,
    UnknownDataset,
)
from router.evidence.service import EvidenceQuery, EvidenceService
from router.providers import (
    CircuitOpen,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
    SubjectNotFound,
)

MAX_DEADLINE_S = 60.0
MAX_BODY_BYTES = 16 * 1024
# a deadline header: a positive decimal number (float() reads more forms; these it always reads
# as positive, and 32 characters keep it from rounding to zero)
POSITIVE_NUMBER = r"^(?:[0-9]*[1-9][0-9]*(?:\.[0-9]*)?|0*\.[0-9]*[1-9][0-9]*)$"
MAX_NUMBER = 32


class EvidenceQueryBody(BaseModel):
    """The body as the route reads it; the document's schema (adapters.http.evidence_doc) adds
    what each dataset of the catalogue needs."""

    dataset: str = Field(max_length=MAX_DATASET, pattern=NAME)
    subject: dict[str, Annotated[str, Field(pattern=NO_CONTROL)]] = Field(max_length=MAX_SUBJECT_KEYS)
    procedure: str = Field(max_length=MAX_TEXT, pattern=PROCEDURE)
    dossier: str = Field(default="", max_length=MAX_TEXT, pattern=NO_CONTROL)
    purpose: str = Field(max_length=MAX_TEXT, pattern=PURPOSE)


class ProvenanceReply(BaseModel):
    provider: str
    dataset: str
    retrieved_at: str
    cache_hit: bool
    request_id: str


class EvidenceReply(BaseModel):
    data: dict[str, object]
    provenance: ProvenanceReply


def deadline_of(deadline_ms: str | None, request_timeout: str | None) -> float | None:
    """The absolute monotonic deadline the caller asked for, or None."""
    raw, header, scale = (
        (deadline_ms, "X-Deadline-Ms", 0.001)
        if deadline_ms is not None
        else (request_timeout, "Request-Timeout", 1.0)
    )
    if raw is None:
        return None
    try:
        seconds = float(raw) * scale
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InvalidEvidenceQuery(
            f"{header} must be a positive number",
            (
                FieldError(
                    f"/headers/{header}",
                    "a positive number (milliseconds for X-Deadline-Ms, seconds for Request-Timeout)",
                ),
            ),
        )
    return time.monotonic() + min(seconds, MAX_DEADLINE_S)


def evidence_router(service: EvidenceService, officials: Verifier) -> APIRouter:
    """``officials`` gives the verifier of officials' tokens of the configuration in force."""
    # a hot path: served by Starlette directly (adapters/http/direct.py), documented by FastAPI
    router = APIRouter(tags=["evidence"], route_class=DirectRoute)

    @router.post(
        "/v1/evidence:query",
        response_model=EvidenceReply,
        summary="Ask for a dataset the state already holds (once-only)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{COMPONENT}"}}},
            },
            "parameters": [
                # The bus needs an official for personal data only (official_required); OpenAPI
                # cannot make a header depend on the body's dataset, so neither is required here.
                *official_parameters("the official acting (needed for personal data)"),
                {
                    "name": "X-Deadline-Ms",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": MAX_NUMBER, "pattern": POSITIVE_NUMBER},
                    "description": "the caller's deadline in milliseconds (at most 60 s)",
                },
                {
                    "name": "Request-Timeout",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": MAX_NUMBER, "pattern": POSITIVE_NUMBER},
                    "description": "the caller's deadline in seconds, when X-Deadline-Ms is not given",
                },
            ],
        },
        responses=errors(
            *AUTHENTICATED,
            *READ_BODY,
            InvalidEvidenceQuery,
            OfficialRequired,
            *OFFICIAL_ERRORS,
            InvalidProviderRequest,
            DataRequestDenied,
            UnknownDataset,
            SubjectNotFound,
            ProviderError,
            ProviderFault,
            InvalidProviderReply,
            ProviderUnavailable,
            CircuitOpen,
            AuditUnavailable,
            NoProvider,
            ProviderTimeout,
        ),
    )
    async def query(request: Request) -> Response:
        who = await current_caller(request)
        headers = _headers(request.scope["headers"])
        _check_content_type(headers.get("content-type"))
        body = _body(await read_bounded(request, MAX_BODY_BYTES))
        official = official_of_request(headers, who, officials, InvalidEvidenceQuery)
        query = EvidenceQuery(
            requester=who.id,
            official="" if official is None else official.id,
            official_basis="" if official is None else official.audit_basis,
            dataset=body.dataset,
            key=body.subject,
            procedure=body.procedure,
            dossier=body.dossier,
            purpose=body.purpose,
            deadline=deadline_of(headers.get("x-deadline-ms"), headers.get("request-timeout")),
            traceparent=headers.get(tracing.HEADER),
        )
        # an error that may pass (a provider or the audit log unavailable) carries Retry-After,
        # as every 503 does (adapters.http.problems)
        evidence = await service.query(query)
        reply = {"data": evidence.data, "provenance": evidence.provenance.as_dict()}
        return Response(orjson.dumps(reply), media_type="application/json")

    return router


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers by name, each its first value, as ``Request.headers.get`` reads them
    (names come lower-case from the server); one dict for the route's half a dozen lookups,
    where each of ``Headers``' scans the whole list and raises KeyError for an absent header."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


@functools.lru_cache(maxsize=64)  # the few Content-Types clients send; a refusal is not kept
def _check_content_type(content_type: str | None) -> None:
    """A body announced as anything but UTF-8 JSON is refused (415) rather than read as JSON;
    a body without a Content-Type is read as JSON."""
    if content_type is None:
        return
    essence, params = _media_type(content_type)
    charset = params.get("charset")
    if not is_json_media_type(essence) or charset not in (None, "utf-8", "utf8"):
        raise UnsupportedMediaType(f"send the query as application/json (UTF-8), not {content_type[:100]!r}")


def _body(raw: bytes) -> EvidenceQueryBody:
    try:
        return EvidenceQueryBody.model_validate_json(raw)
    except ValidationError as error:
        found = tuple(
            FieldError("/" + "/".join(str(part) for part in item.get("loc", ())), str(item.get("msg", "")))
            for item in error.errors()[:50]
        )
        raise InvalidEvidenceQuery("the query does not fit POST /v1/evidence:query", found) from None
