"""The portal sync state: per dossier, what the bus knows of it and what the portal acknowledged.

This is "the bus's last known state of each dossier": the full portal record the dossier's
events add up to (``record``, ``status``), the digest of the record the portal last acknowledged
(``synced_digest``; None before the first acknowledgement), and since when the portal has been
behind (``pending_since``, the bus time of the oldest event not yet acknowledged). It also keeps
the ids of the events applied (so a redelivered event makes no call) and, for the operators'
figures, the channel, the return method and the dates that matter.

:class:`SyncStateStore` is what the connector reads and writes, in these types; where the rows
live is its :class:`~adapters.state.portal.PortalStateRows`: a SQLite file beside the bus's data on
a single machine, the shared state database (``state.postgres``) for a bus of several processes,
so that a dossier whose partition moves to another process carries on where it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from adapters.state.portal import DossierRow, MoveRow, PortalStateRows
from adapters.state.portal_sqlite import SqlitePortalState
from connectors.portal.mapping import Collected


def digest(record: Mapping[str, Any]) -> str:
    """A record's digest, independent of key order."""
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class DossierState:
    code: str
    agency: str
    event_time: float  # bus time (s since the epoch) of the latest event applied
    status: int | None = None
    record: dict[str, Any] | None = None  # None: only evidence is known so far
    synced_digest: str | None = None
    pending_since: float | None = None
    version: int = 0
    channel: str | None = None
    return_method: str | None = None
    collected: tuple[Collected, ...] = ()  # records the bus collected for the dossier (once-only)
    components: tuple[str, ...] = ()  # dossier components those datasets stand for

    @property
    def in_sync(self) -> bool:
        return self.record is not None and self.synced_digest == digest(self.record)

    def with_record(self, record: dict[str, Any], event_time: float) -> DossierState:
        """The state once ``record`` is what the portal should hold."""
        pending = self.pending_since
        if self.synced_digest != digest(record):
            pending = event_time if pending is None else min(pending, event_time)
        else:
            pending = None
        return replace(
            self,
            record=record,
            status=int(record["TrangThaiHoSo"]),
            pending_since=pending,
            event_time=max(self.event_time, event_time),
        )


@dataclass(frozen=True, slots=True)
class UnusualMove:
    """A status move the table does not list that the bus forwarded (``accepted``: under
    ``strict``, after an operator released the dossier)."""

    seq: int
    event_id: str
    dossier: str
    from_status: int
    to_status: int
    at: float
    accepted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "dossier": self.dossier,
            "from": self.from_status,
            "to": self.to_status,
            "at": self.at,
            "accepted_by_release": self.accepted,
        }


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    """The ministry's scorecard for one agency, from the dossiers the bus synchronised."""

    agency: str
    dossiers: int = 0
    submitted_online: int = 0
    returned: int = 0  # dossiers whose result was returned (10)
    processed_online: int = 0  # of those, submitted online and returned online
    finished: int = 0  # processed or returned (9, 10) with a promised date (NgayHenTra)
    on_time: int = 0  # of those, processing ended by the promised date
    unsynced: int = 0

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def online_submission_rate(self) -> float | None:
        return self._share(self.submitted_online, self.dossiers)

    @property
    def online_processing_rate(self) -> float | None:
        return self._share(self.processed_online, self.returned)

    @property
    def on_time_rate(self) -> float | None:
        return self._share(self.on_time, self.finished)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "dossiers": self.dossiers,
            "submitted_online": self.submitted_online,
            "online_submission_rate": self.online_submission_rate,
            "returned": self.returned,
            "processed_online": self.processed_online,
            "online_processing_rate": self.online_processing_rate,
            "finished_with_due_date": self.finished,
            "on_time": self.on_time,
            "on_time_rate": self.on_time_rate,
            "unsynced": self.unsynced,
        }


class SyncStateStore:
    """One portal connector's sync state, over the rows of ``rows``."""

    def __init__(self, rows: PortalStateRows) -> None:
        self.rows = rows

    @classmethod
    def in_file(cls, path: Path, *, durable: bool = False) -> SyncStateStore:
        """The state in the SQLite file ``path`` (a bus on one machine)."""
        return cls(SqlitePortalState(path, durable=durable))

    async def open(self) -> None:
        await self.rows.open()

    async def close(self) -> None:
        await self.rows.close()

    # --- dossiers ------------------------------------------------------------------------------

    async def get(self, code: str) -> DossierState | None:
        return (await self.load(code))[1]

    async def load(self, code: str, event_id: str | None = None) -> tuple[bool, DossierState | None]:
        """Whether the event was applied already, and the dossier's state: one trip to the store."""
        applied, row = await self.rows.load(code, event_id)
        return applied, None if row is None else _state(row)

    async def save(self, state: DossierState, *, applied: str | None = None) -> DossierState:
        """Writes the state, and records the event ``applied`` in the same transaction; returns
        the state with its new version."""
        saved = replace(state, version=state.version + 1)
        record = saved.record or {}
        row = DossierRow(
            saved.code,
            saved.agency,
            saved.status,
            None if saved.record is None else orjson.dumps(saved.record),
            saved.synced_digest,
            saved.pending_since,
            saved.event_time,
            saved.version,
            saved.channel,
            saved.return_method,
            record.get("NgayHenTra"),
            record.get("NgayKetThucXuLy"),
            orjson.dumps([item.as_json() for item in saved.collected]),
            orjson.dumps(list(saved.components)),
        )
        await self.rows.save(row, applied)
        return saved

    async def states(
        self, *, since: float | None = None, after: str = "", limit: int = 500
    ) -> list[DossierState]:
        """Dossiers with a record whose latest event is at or after ``since``, by code, a page
        at a time (``after`` the last code of the previous page)."""
        return [_state(row) for row in await self.rows.states(since, after, limit)]

    async def unsynced(self) -> dict[str, float]:
        """Dossier -> since when the portal has been behind, for every dossier not in sync."""
        return await self.rows.unsynced()

    # --- events applied ------------------------------------------------------------------------

    async def was_applied(self, event_id: str) -> bool:
        return await self.rows.was_applied(event_id)

    async def mark_applied(self, event_id: str, code: str, at: float) -> None:
        await self.rows.mark_applied(event_id, code, at)

    # --- the status history, for the scorecard ---------------------------------------------------

    async def add_step(self, event_id: str, code: str, status: int, at: str) -> None:
        """A status the bus sent the portal (record or progress), at ``at`` (yyyyMMddHHmmss);
        once per event."""
        await self.rows.add_step(event_id, code, status, at)

    async def histories(
        self, *, since: float | None = None
    ) -> list[tuple[str, str, dict[str, Any], list[tuple[int, str]]]]:
        """(code, agency, record, [(status, at)] in the order sent) of every dossier with a
        record whose latest event is at or after ``since``."""
        return [
            (code, agency, orjson.loads(record), steps)
            for code, agency, record, steps in await self.rows.histories(since)
        ]

    # --- unusual moves and operators' releases --------------------------------------------------

    async def accept_moves(
        self, code: str, moves: Sequence[tuple[int, int]], *, official: str, reason: str
    ) -> None:
        """Records that an operator accepted these moves of the dossier (a release)."""
        await self.rows.accept_moves(code, moves, official, reason)

    async def is_accepted(self, code: str, old: int, new: int) -> bool:
        return await self.rows.is_accepted(code, old, new)

    async def note_unusual(self, event_id: str, code: str, old: int, new: int, *, accepted: bool) -> bool:
        """Lists an unusual move once per event; False when the event's move was listed already
        (a retry of the same event)."""
        return await self.rows.note_unusual(event_id, code, old, new, accepted)

    async def unusual_moves(
        self, *, after: int = 0, limit: int = 100, dossier: str | None = None, latest: int | None = None
    ) -> list[UnusualMove]:
        """The unusual moves forwarded, oldest first, a page at a time (``after`` a ``seq``); or
        with ``latest``, the latest that many, newest first."""
        return [_move(row) for row in await self.rows.unusual_moves(after, limit, dossier, latest)]

    # --- figures -------------------------------------------------------------------------------

    async def figures(self, agencies: Sequence[str] | None = None) -> list[AgencyFigures]:
        """Per agency (all, or those given): the scorecard counts."""
        return [AgencyFigures(*row) for row in await self.rows.figures(agencies)]


def _move(row: MoveRow) -> UnusualMove:
    return UnusualMove(row.seq, row.event_id, row.code, row.from_status, row.to_status, row.at, row.accepted)


def _state(row: DossierRow) -> DossierState:
    return DossierState(
        code=row.code,
        agency=row.agency,
        event_time=row.event_time,
        status=row.status,
        record=None if row.record is None else orjson.loads(row.record),
        synced_digest=row.synced_digest,
        pending_since=row.pending_since,
        version=row.version,
        channel=row.channel,
        return_method=row.return_method,
        collected=tuple(Collected.of_json(item) for item in orjson.loads(row.datasets or b"[]")),
        components=tuple(orjson.loads(row.components or b"[]")),
    )
