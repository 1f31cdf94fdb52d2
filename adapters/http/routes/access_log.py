"""``GET /v1/subjects/{subject_id}/access-log``: a citizen's access report (router.access_report),
for the systems granted ``read_access_log``. Pages go from the newest access to the oldest:
``next_before`` is the ``before`` of the next page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from adapters.http.auth import Authenticated
from adapters.http.identifiers_doc import PERSON_OR_ENTERPRISE
from adapters.http.officials import OFFICIAL_ERRORS, Verifier, official_of_request
from adapters.http.officials import parameters as official_parameters
from adapters.http.responses import AUTHENTICATED, PARAMETERS, errors
from router.access_report import MAX_PAGE, AccessEntry, AccessLogDenied, AccessReport, InvalidSubjectId
from router.audit import AuditUnavailable
from router.evidence.errors import OfficialRequired


class AccessEntryReply(BaseModel):
    seq: int = Field(description="the record's number in the audit log")
    at: str = Field(description="when (RFC 3339, UTC)")
    requester: str = Field(description="the system that asked, <agency code>/<system>")
    requester_member: str = Field(description="its member's agency code")
    requester_name: str = Field(description="its member's name, e.g. Sở Giao thông vận tải tỉnh Quảng Bình")
    official: str = Field(description="the official acting in that system")
    official_basis: str = Field(
        description="how the bus knew the official: `verified:<issuer>` (a signed identity token), "
        "`asserted` (named by the calling system alone), or empty when no official was named"
    )
    dataset: str
    purpose: str
    procedure: str = Field(description="the procedure code, e.g. 1.000894")
    dossier: str = Field(description="the dossier code")
    outcome: str = Field(description="released, or why nothing was (an error code)")
    provider: str = Field(description="the system that holds the data")
    request_id: str


class AccessLogReply(BaseModel):
    subject: str
    entries: list[AccessEntryReply]
    next_before: int | None = Field(description="`before` for the next, older page; null at the end")


def _reply(entry: AccessEntry) -> AccessEntryReply:
    return AccessEntryReply.model_validate(entry, from_attributes=True)


def _fixed(report: AccessReport) -> Callable[[], AccessReport]:
    return lambda: report


def access_log_router(report: AccessReport | Callable[[], AccessReport], officials: Verifier) -> APIRouter:
    """``report`` or a function giving the report of the configuration in force (reloads);
    ``officials`` the verifier of officials' tokens of the configuration in force."""
    current = report if not isinstance(report, AccessReport) else _fixed(report)
    router = APIRouter(tags=["audit"])

    @router.get(
        "/v1/subjects/{subject_id}/access-log",
        response_model=AccessLogReply,
        summary="Who accessed a person's (or an enterprise's) data, when and why; newest first",
        responses=errors(
            *AUTHENTICATED,
            *PARAMETERS,
            InvalidSubjectId,
            OfficialRequired,
            *OFFICIAL_ERRORS,
            AccessLogDenied,
            AuditUnavailable,
        ),
        # neither header is required by FastAPI but by the report (official_required), so that a
        # refusal for want of an official is audited like any other
        openapi_extra={
            "parameters": official_parameters("who reads (for the portal, the citizen logged in)")
        },
    )
    async def access_log(
        request: Request,
        subject_id: Annotated[str, Path(json_schema_extra=PERSON_OR_ENTERPRISE)],
        who: Authenticated,
        before: Annotated[int | None, Query(ge=1, description="records numbered below this")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> AccessLogReply:
        official = official_of_request(request.headers, who, officials)
        page = await current().read(
            who,
            subject_id,
            official="" if official is None else official.id,
            official_basis="" if official is None else official.audit_basis,
            request_id=uuid.uuid4().hex,
            before=before,
            limit=limit,
        )
        return AccessLogReply(
            subject=page.subject, entries=[_reply(e) for e in page.entries], next_before=page.next_before
        )

    return router
