"""A citizen's access report: who looked at a person's data, when, and why.

Estonia's data tracker shows a citizen every query about them; this is lienthong's. Only systems
the policy grants ``read_access_log`` (the portal, acting for the logged-in citizen) may read it.
Reading it is itself an access to personal data, so it is recorded in the same log before the
report is released (dataset :data:`ACCESS_LOG_DATASET`): the citizen sees that their report was
read, and by whom, and if that record cannot be written the report is withheld
(:class:`~router.audit.AuditUnavailable`). A refused attempt is recorded too, on a best-effort basis,
and repeated ones are aggregated (:mod:`router.refusal_windows`): one record per window, whose
``purpose`` says how many refusals it stands for.

The rows name the requester's member by its name (``Sở Giao thông vận tải tỉnh Quảng Bình``), as
the directory knows it, rather than by its code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from router.audit import AccessRecord, AuditLog, AuditUnavailable, StoredAccessRecord
from router.directory import Directory, System
from router.errors import FieldError, Forbidden, LienthongError
from router.evidence.errors import OfficialRequired
from router.identifiers import is_personal_id, is_tax_code
from router.refusal_windows import RefusalWindows

log = logging.getLogger("lienthong.audit")

ACCESS_LOG_DATASET = "audit.access_log"
ACCESS_LOG_PURPOSE = "access_report"
RELEASED = "released"
DENIED = "access_log_denied"
MAX_PAGE = 500
MAX_SUBJECT_LENGTH = 32


class InvalidSubjectId(LienthongError):
    """The subject is neither a 12-digit personal ID nor a tax code."""

    code = "invalid_subject_id"
    status = 400
    title = "Not a personal ID or a tax code"


class AccessLogDenied(Forbidden):
    """The caller's policy does not grant ``read_access_log``."""

    code = "access_log_denied"
    title = "Not allowed to read access logs"


class AccessLogPolicy(Protocol):
    """What the report needs of :class:`router.policy.Policy`."""

    def may_read_access_log(self, system_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One access, as the citizen reads it."""

    seq: int
    at: str  # RFC 3339, UTC
    requester: str  # the system, <agency code>/<system>
    requester_member: str  # the agency code
    requester_name: str  # the member's name, or its code when the directory has none
    official: str
    dataset: str
    purpose: str
    procedure: str
    dossier: str
    outcome: str
    provider: str
    request_id: str
    # how the bus knew the official: verified:<issuer>, asserted, or empty (router.officials)
    official_basis: str = ""


@dataclass(frozen=True, slots=True)
class AccessPage:
    subject: str
    entries: tuple[AccessEntry, ...]
    next_before: int | None  # pass as ``before`` for the next (older) page; None at the end


def check_subject(subject: str) -> str:
    """``subject`` if it is a personal ID or a tax code (the identifiers a report is kept by)."""
    if len(subject) <= MAX_SUBJECT_LENGTH and (is_personal_id(subject) or is_tax_code(subject)):
        return subject
    raise InvalidSubjectId(
        "the subject must be a 12-digit personal ID (e.g. 001099012345) or a tax code "
        "(10 digits, or 13 as 0100109106-001)",
        (FieldError("/subject", "not a personal ID or a tax code"),),
    )


def refused_purpose(refusals: int) -> str:
    """The ``purpose`` of a record of refused reads standing for ``refusals`` of them."""
    if refusals == 1:
        return ACCESS_LOG_PURPOSE
    return f"{ACCESS_LOG_PURPOSE} (refused {refusals} times: this one and those since the previous record)"


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AccessReport:
    def __init__(
        self,
        audit: AuditLog,
        directory: Directory,
        policy: AccessLogPolicy,
        refusals: RefusalWindows | None = None,
    ) -> None:
        self.audit = audit
        self.directory = directory
        self.policy = policy
        self.refusals = refusals  # None: every refusal recorded on its own

    async def read(
        self,
        caller: System,
        subject: str,
        *,
        official: str,
        request_id: str,
        before: int | None,
        limit: int,
        official_basis: str = "",
    ) -> AccessPage:
        """The page of ``subject``'s accesses numbered below ``before``, newest first;
        ``official_basis`` says how the bus knows ``official`` (router.officials)."""
        subject = check_subject(subject)
        limit = max(1, min(limit, MAX_PAGE))
        if not self.policy.may_read_access_log(caller.id):
            await self._note_refusal(caller, subject, official, request_id)
            raise AccessLogDenied(f"no policy lets '{caller.id}' read access logs (read_access_log)")
        if not official:
            # a report names who read it, as an evidence query names its official: the portal
            # names the citizen logged in, so a leaked key cannot read reports anonymously
            await self._note_refusal(caller, subject, official, request_id, OfficialRequired.code)
            raise OfficialRequired(
                "an access report is read for someone: name them in X-Official-Token (or X-Official-Id "
                "where allowed; for the portal, the citizen logged in)"
            )
        # Before anything leaves: AuditUnavailable withholds the report.
        reading = self._reading(caller, subject, official, request_id, RELEASED)
        await self.audit.record([replace(reading, official_basis=official_basis)])
        records = await self.audit.for_subject(subject, limit=limit + 1, before=before)
        more = len(records) > limit
        records = records[:limit]
        return AccessPage(
            subject=subject,
            entries=tuple(self._entry(record) for record in records),
            next_before=records[-1].seq if more else None,
        )

    def _entry(self, record: StoredAccessRecord) -> AccessEntry:
        system = self.directory.get(record.requester)
        member = system.member if system is not None else record.requester.partition("/")[0]
        name = system.member_name if system is not None and system.member_name else member
        return AccessEntry(
            seq=record.seq,
            at=rfc3339(record.at),
            requester=record.requester,
            requester_member=member,
            requester_name=name,
            official=record.official,
            dataset=record.dataset,
            purpose=record.purpose,
            procedure=record.procedure,
            dossier=record.dossier,
            outcome=record.outcome,
            provider=record.provider,
            request_id=record.request_id,
            official_basis=record.official_basis,
        )

    @staticmethod
    def _reading(
        caller: System,
        subject: str,
        official: str,
        request_id: str,
        outcome: str,
        purpose: str = ACCESS_LOG_PURPOSE,
    ) -> AccessRecord:
        return AccessRecord(
            request_id=request_id,
            requester=caller.id,
            official=official,
            dataset=ACCESS_LOG_DATASET,
            subject=subject,
            purpose=purpose,
            procedure="",
            dossier="",
            outcome=outcome,
        )

    async def _note_refusal(
        self, caller: System, subject: str, official: str, request_id: str, outcome: str = DENIED
    ) -> None:
        stands_for = 1 if self.refusals is None else self.refusals.admit(caller.id, subject, outcome)
        if not stands_for:
            return  # counted into the record of its window
        purpose = refused_purpose(stands_for)
        try:
            await self.audit.record([self._reading(caller, subject, official, request_id, outcome, purpose)])
        except AuditUnavailable:
            log.warning("record of a refused access-log read by %s not written", caller.id)
