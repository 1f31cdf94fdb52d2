"""``POST /v1/evidence:query``: a system asks for a dataset the state already holds.

The official acting in the requesting system names themself in ``X-Official-Id`` (required for
personal data, recorded in the audit log). The caller's deadline (``X-Deadline-Ms``, or
``Request-Timeout`` in seconds) is passed on to the provider call, bounded by
:data:`MAX_DEADLINE_S`. Errors are problem+json with stable codes; those that may pass (a provider
or the audit log unavailable) carry ``Retry-After``.
"""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from adapters.http import problems
from adapters.http.auth import current_caller
from adapters.http.body import _media_type, read_bounded
from adapters.http.direct import DirectRoute
from router import tracing
from router.audit import AuditUnavailable
from router.envelope import is_json_media_type
from router.errors import FieldError, LienthongError, UnsupportedMediaType
from router.evidence.errors import InvalidEvidenceQuery, NoProvider
from router.evidence.service import EvidenceQuery, EvidenceService
from router.providers import ProviderUnavailable

MAX_DEADLINE_S = 60.0
MAX_BODY_BYTES = 16 * 1024
MAX_OFFICIAL = 200
RETRY_AFTER_S = "5"

NAME = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


class EvidenceQueryBody(BaseModel):
    dataset: str = Field(max_length=128, pattern=NAME, examples=["citizen.identity"])
    subject: dict[str, str] = Field(
        max_length=8,
        description="The identifiers the dataset is keyed by, e.g. {personal_id: '022089001234'}.",
    )
    procedure: str = Field(max_length=64, pattern=r"^[0-9]+(\.[0-9A-Z]+)+$", examples=["1.002861"])
    dossier: str = Field(default="", max_length=64, description="The dossier code the data is for.")
    purpose: str = Field(max_length=64, pattern=r"^[a-z0-9_]+$", examples=["dossier_processing"])


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


def evidence_router(service: EvidenceService) -> APIRouter:
    # a hot path: served by Starlette directly (adapters/http/direct.py), documented by FastAPI
    router = APIRouter(tags=["evidence"], route_class=DirectRoute)

    @router.post(
        "/v1/evidence:query",
        response_model=EvidenceReply,
        summary="Ask for a dataset the state already holds (once-only)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EvidenceQueryBody.model_json_schema()}},
            },
            "parameters": [
                {
                    "name": "X-Official-Id",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": MAX_OFFICIAL},
                    "description": "the official acting (required for personal data)",
                },
                {
                    "name": "X-Deadline-Ms",
                    "in": "header",
                    "schema": {"type": "string"},
                    "description": "the caller's deadline in milliseconds (at most 60 s)",
                },
                {
                    "name": "Request-Timeout",
                    "in": "header",
                    "schema": {"type": "string"},
                    "description": "the caller's deadline in seconds, when X-Deadline-Ms is not given",
                },
            ],
        },
        responses={
            400: {"description": "invalid query or missing X-Official-Id (problem+json)"},
            403: {"description": "data_request_denied: no policy allows it (problem+json)"},
            404: {"description": "subject_not_found or unknown_dataset (problem+json)"},
            502: {"description": "the provider's reply was invalid or a fault (problem+json)"},
            503: {"description": "provider or audit log unavailable; Retry-After (problem+json)"},
            504: {"description": "provider_timeout (problem+json)"},
        },
    )
    async def query(request: Request) -> Response:
        who = await current_caller(request)
        headers = request.headers
        _check_content_type(headers.get("content-type"))
        body = _body(await read_bounded(request, MAX_BODY_BYTES))
        official = headers.get("x-official-id", "").strip()
        if len(official) > MAX_OFFICIAL:
            raise InvalidEvidenceQuery(
                "X-Official-Id is too long",
                (FieldError("/headers/X-Official-Id", f"at most {MAX_OFFICIAL} characters"),),
            )
        query = EvidenceQuery(
            requester=who.id,
            official=official,
            dataset=body.dataset,
            key=body.subject,
            procedure=body.procedure,
            dossier=body.dossier,
            purpose=body.purpose,
            deadline=deadline_of(headers.get("x-deadline-ms"), headers.get("request-timeout")),
            traceparent=headers.get(tracing.HEADER),
        )
        try:
            evidence = await service.query(query)
        except (ProviderUnavailable, AuditUnavailable, NoProvider) as error:
            return _retry_later(error, request.url.path)
        reply = {"data": evidence.data, "provenance": evidence.provenance.as_dict()}
        return Response(orjson.dumps(reply), media_type="application/json")

    return router


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


def _retry_later(error: LienthongError, instance: str) -> Response:
    response = problems.from_error(error, instance)
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response
