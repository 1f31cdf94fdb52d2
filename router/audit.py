"""The audit port: every access to personal data leaves a record, or the data is not released.

Records are kept in a chain by the store (each holds an HMAC, under a key the database does not
hold, of itself and the one before), its head signed and handed to witnesses off the host, so a
changed, removed or inserted record is detectable even by whoever can write the store. The
subject (whose data) is stored only as a keyed hash (HMAC): the log tells who looked at a
person's data without being a copy of the population database itself. Writing is part of the
data path: :class:`AuditUnavailable` from :meth:`AuditLog.record` means the caller must withhold
the data (X-Road stops its traffic when its message log fails, for the same reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from router.errors import LienthongError


class AuditUnavailable(LienthongError):
    """The audit record could not be written: the data it would have recorded is withheld."""

    code = "audit_unavailable"
    status = 503
    title = "The audit log is unavailable; data is withheld"


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access to a dataset, as the requester made it.

    ``requester`` is the system (``<agency code>/<system>``), ``official`` the person acting in it
    (from a verified identity token, or the ``X-Official-Id`` header a system may assert, like
    X-Road's user id; ``official_basis`` says which), ``subject`` the identifier of whose data
    it is (the store keeps only its keyed hash), ``outcome`` a stable word (``released``,
    ``not_found``, ``denied``, ``provider_unavailable``, ``provider_timeout``,
    ``invalid_provider_reply``...)."""

    request_id: str
    requester: str
    official: str
    dataset: str
    subject: str
    purpose: str
    procedure: str
    dossier: str
    outcome: str
    provider: str = ""
    cache_hit: bool = False
    # how the bus knows the official: ``verified:<issuer>`` (a signed identity token),
    # ``asserted`` (the X-Official-Id header of a system allowed to send it), empty for none
    official_basis: str = ""


# Operators' actions (configuration reload, dead-letter replay or purge...) are recorded in the
# same chain, as records without a subject whose dataset is ``admin.<action>``.
ADMIN_PREFIX = "admin."


def admin_action(
    request_id: str,
    requester: str,
    official: str,
    action: str,
    outcome: str,
    detail: str = "",
    *,
    official_basis: str = "",
    dossier: str = "",
) -> AccessRecord:
    """The record of an operator's action, e.g. ``admin_action(rid, system, user, "replay",
    "done", "subscription portal-dossiers: 12 dead letters")``; ``detail`` goes in ``purpose``,
    ``dossier`` names the dossier an action is about (a portal release)."""
    return AccessRecord(
        request_id=request_id,
        requester=requester,
        official=official,
        dataset=ADMIN_PREFIX + action,
        subject="",
        purpose=detail,
        procedure="",
        dossier=dossier,
        outcome=outcome,
        official_basis=official_basis,
    )


@dataclass(frozen=True, slots=True)
class StoredAccessRecord:
    """An :class:`AccessRecord` as the log holds it: numbered, timed, chained."""

    seq: int
    at: float  # seconds since the epoch (UTC)
    request_id: str
    requester: str
    official: str
    dataset: str
    subject_hash: str
    purpose: str
    procedure: str
    dossier: str
    outcome: str
    provider: str
    cache_hit: bool
    previous_hash: str
    hash: str
    official_basis: str = ""


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where the chain breaks: the record ``seq`` and what is wrong with it."""

    seq: int
    detail: str


class AuditLog(Protocol):
    async def record(self, records: Sequence[AccessRecord]) -> None:
        """Appends the records durably, in order, before returning; raises
        :class:`AuditUnavailable` if they could not be written (then none is)."""
        ...

    async def for_subject(
        self, subject: str, *, limit: int = 100, before: int | None = None
    ) -> list[StoredAccessRecord]:
        """The newest records about ``subject`` (its identifier; the store hashes it), newest
        first; with ``before``, only those numbered below it (the next page)."""
        ...

    async def latest(self, limit: int = 50, *, before: int | None = None) -> list[StoredAccessRecord]:
        """The newest records of any subject, newest first (for the operator's console)."""
        ...

    async def verify(self) -> list[ChainProblem]:
        """Checks the whole chain; empty when no record was changed, removed or inserted."""
        ...

    async def healthy(self) -> bool: ...

    async def close(self) -> None: ...
