"""A one-stop-shop system's dossier, as the event payloads it publishes on the bus.

The one-stop system (Hệ thống thông tin giải quyết TTHC) owns the dossier; the bus only carries
what happens to it. :class:`Dossier` is the little the system knows when it receives an
application (who applies, for which procedure, the vehicles named on the form); the functions
below turn it into the ``data`` of ``dossier.submitted`` v2, ``dossier.status.changed``,
``dossier.progress.updated`` and ``dossier.result.issued`` (unsigned: the issuing agency signs it),
and :func:`cloud_event` wraps a payload in a structured-mode CloudEvent.

Pure data: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VIETNAM = dt.timezone(dt.timedelta(hours=7))


def timestamp(at: dt.datetime) -> str:
    """RFC 3339 in Vietnam's time, to the second (what one-stop systems write)."""
    return at.astimezone(VIETNAM).isoformat(timespec="seconds")


def dossier_code(agency: str, received: dt.date, sequence: int) -> str:
    """TT 01/2018 Art. 19: the receiving agency, the date of receipt (yymmdd), the day's number
    padded to at least 4 digits, as real one-stop systems write it (a busy agency passes 9999)."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"a dossier's sequence number is 1 to {MAX_SEQUENCE}")
    return f"{agency}-{received:%y%m%d}-{sequence:04d}"


# router.identifiers: a daily sequence has at most 10 digits
MAX_SEQUENCE = 9_999_999_999


@dataclass(frozen=True)
class Applicant:
    """An enterprise applying (the road-transport procedures are applied for by enterprises)."""

    tax_code: str
    name: str


@dataclass(frozen=True)
class Dossier:
    code: str
    agency: str
    procedure: str
    procedure_name: str
    applicant: Applicant
    submitted_at: dt.datetime
    manager_id: str | None = None  # the transport manager's personal ID, when the form names one
    plates: Sequence[str] = field(default_factory=tuple)


def submitted(dossier: Dossier) -> dict[str, Any]:
    """``dossier.submitted`` v2: what the procedure's needs are keyed by (applicant, manager,
    vehicles), and no copies of documents the state already holds."""
    data: dict[str, Any] = {
        "dossierCode": dossier.code,
        "agencyCode": dossier.agency,
        "procedureCode": dossier.procedure,
        "procedureName": dossier.procedure_name,
        "applicant": {
            "type": "business",
            "name": dossier.applicant.name,
            "taxCode": dossier.applicant.tax_code,
        },
        "channel": "online",
        "submittedAt": timestamp(dossier.submitted_at),
        "status": 1,
    }
    if dossier.manager_id is not None:
        data["representative"] = {"personalId": dossier.manager_id, "role": "transport_manager"}
    if dossier.plates:
        data["vehicles"] = [{"plate": plate} for plate in dossier.plates]
    return data


def status_changed(dossier: Dossier, status: int, previous: int, at: dt.datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dossierCode": dossier.code,
        "agencyCode": dossier.agency,
        "procedureCode": dossier.procedure,
        "status": status,
        "previousStatus": previous,
        "changedAt": timestamp(at),
    }
    if status in (3, 7, 8, 9, 10):
        data["finishedAt"] = timestamp(at)
    if status == 10:
        data["returnedAt"] = timestamp(at)
        data["returnMethod"] = "online"
    return data


def progress_updated(
    dossier: Dossier, status: int, handler: str, title: str, department: str, content: str, at: dt.datetime
) -> dict[str, Any]:
    return {
        "dossierCode": dossier.code,
        "agencyCode": dossier.agency,
        "handler": handler,
        "title": title,
        "department": department,
        "handledAt": timestamp(at),
        "content": content,
        "status": status,
    }


def result_issued(
    dossier: Dossier,
    *,
    result_code: str,
    title: str,
    issuing_agency: Mapping[str, str],
    issued_at: dt.datetime,
    valid_until: dt.datetime,
    document_url: str,
    document_sha256: str,
) -> dict[str, Any]:
    """``dossier.result.issued``, unsigned: the issuing agency adds its signature
    (adapters.signatures.sign) before it is published."""
    return {
        "dossierCode": dossier.code,
        "agencyCode": dossier.agency,
        "procedureCode": dossier.procedure,
        "resultCode": result_code,
        "title": title,
        "holder": {"taxCode": dossier.applicant.tax_code, "name": dossier.applicant.name},
        "issuedAt": timestamp(issued_at),
        "validUntil": timestamp(valid_until),
        "issuingAgency": dict(issuing_agency),
        "documents": [
            {
                "id": f"kq-{dossier.code}",
                "name": title,
                "componentCode": "KQ1",
                "url": document_url,
                "mediaType": "application/pdf",
                "sha256": document_sha256,
            }
        ],
    }


def cloud_event(event_id: str, source: str, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A structured-mode CloudEvent; the dossier code is the subject (it orders a dossier's events)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": data["dossierCode"],
        "time": timestamp(dt.datetime.now(dt.UTC)),
        "datacontenttype": "application/json",
        "data": dict(data),
    }
