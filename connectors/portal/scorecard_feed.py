"""The scorecard's inputs from the portal sync: each dossier's status history as the bus sent it
to the portal (the record's status moves and the progress items, each at its own time) and the
dates of its record; the catalogue's online procedures and legal maximum durations.

The history of a dossier the bus learned of from the portal (``TraCuuHoSo``, older than the bus)
starts with what its record says: its status at ``NgayKetThucXuLy`` when that status ends
processing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.portal import mapping
from connectors.portal.catalogue import ProcedureEntry
from router.scorecard import ENDINGS, Dossier, Offer, Step


def _date(record: Mapping[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    if not value:
        return None
    try:
        return mapping.parse_portal_date(str(value))
    except mapping.MappingError:
        return None


def dossier_of(code: str, agency: str, record: Mapping[str, Any], sent: Sequence[tuple[int, str]]) -> Dossier:
    steps = []
    for status, at in sent:
        moment = _date({"at": at}, "at")
        if moment is not None:
            steps.append(Step(status, moment))
    if not steps:
        last = str(record.get("TrangThaiHoSo", ""))
        ended = _date(record, "NgayKetThucXuLy")
        if ended is not None and last.isdigit() and int(last) in ENDINGS:
            steps.append(Step(int(last), ended))
    steps.sort(key=lambda step: step.at)  # stable: steps at the same second keep the order sent
    channel = record.get("KenhThucHien")
    return Dossier(
        code=code,
        agency=agency,
        procedure=str(record.get("MaTTHC", "")),
        channel="" if channel is None else str(channel),
        received_at=_date(record, "NgayTiepNhan") or _date(record, "NgayNopHoSo"),
        due_at=_date(record, "NgayHenTra"),
        steps=tuple(steps),
    )


def offer_of(procedures: Sequence[ProcedureEntry]) -> Offer:
    online = frozenset(p.code for p in procedures if p.online)
    by_agency: dict[str, set[str]] = {}
    for procedure in procedures:
        for agency in {procedure.agency, *procedure.performers} - {""}:
            by_agency.setdefault(agency, set()).add(procedure.code)
    return Offer(online, {agency: frozenset(codes) for agency, codes in by_agency.items()})
