"""The portal connector's sync state as rows: what a store of it keeps, whatever the database.

The portal connector (:mod:`connectors.portal.state`) reads and writes its per-dossier state
through :class:`PortalStateRows`, with two implementations: one SQLite file on a single machine
(:mod:`.portal_sqlite`) and the shared PostgreSQL database for a bus of several processes
(:mod:`.portal_postgres`), where a dossier whose partition moves to another process carries on
there with its applied events, record, acknowledged digest and operators' releases. The rows
hold plain values (the record and the collected datasets as JSON bytes); the connector turns them
into its own types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol


class DossierConflict(Exception):
    """A save refused because the dossier's stored version is not the one the row follows:
    another process (or ``lienthong portal reconcile``) saved the dossier since it was read."""

    def __init__(self, code: str, version: int) -> None:
        super().__init__(f"dossier {code}: saved elsewhere since version {version - 1} was read")
        self.code = code


class DossierRow(NamedTuple):
    code: str
    agency: str
    status: int | None
    record: bytes | None  # JSON; None: only evidence is known so far
    synced_digest: str | None
    pending_since: float | None
    event_time: float
    version: int
    channel: str | None
    return_method: str | None
    due_at: str | None  # the record's NgayHenTra (yyyyMMddHHmmss), for the figures
    finished_at: str | None  # the record's NgayKetThucXuLy
    datasets: bytes  # JSON list of the records collected
    components: bytes  # JSON list of the components they stand for


# A dossier row's columns, in DossierRow's order (the same names in both databases).
DOSSIER_COLUMNS = ", ".join(DossierRow._fields)
MOVE_COLUMNS = "seq, event_id, code, from_status, to_status, at, accepted"


def dossier_save(table: str, scope: tuple[str, ...], placeholder: Callable[[int], str]) -> str:
    """The statement saving a dossier row into ``table``, whose primary key is the ``scope``
    columns (none in a file of one connector's rows) and ``code``; its parameters are the scope's
    values, then the row's. A compare-and-set on the version: a row is written only over the
    version it follows, else nothing changes (and the caller raises :class:`DossierConflict`).
    ``placeholder(n)`` writes the n-th parameter (1-based) in the database's dialect."""
    columns = (*scope, *DossierRow._fields)
    values = ", ".join(placeholder(number) for number in range(1, len(columns) + 1))
    updated = ", ".join(f"{name} = excluded.{name}" for name in DossierRow._fields[1:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"  # noqa: S608 (fixed names)
        f" ON CONFLICT ({', '.join((*scope, 'code'))}) DO UPDATE SET {updated}"
        f" WHERE {table}.version = excluded.version - 1"
    )


class MoveRow(NamedTuple):
    seq: int
    event_id: str
    code: str
    from_status: int
    to_status: int
    at: float
    accepted: bool


class FigureRow(NamedTuple):
    agency: str
    dossiers: int
    submitted_online: int
    returned: int
    processed_online: int
    finished: int
    on_time: int
    unsynced: int


# (code, agency, record JSON, [(status, at)] in the order sent)
HistoryRow = tuple[str, str, bytes, list[tuple[int, str]]]


class PortalStateRows(Protocol):
    """One portal connector's sync state. Every method but :meth:`open` and :meth:`close` may
    raise :class:`router.state.StateUnavailable` when the shared database is out of reach."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, code: str, event_id: str | None) -> tuple[bool, DossierRow | None]:
        """Whether the event was applied already, and the dossier's row."""
        ...

    async def save(self, row: DossierRow, applied: str | None) -> None:
        """Writes the row, and the event ``applied`` with it in one transaction, only if the
        stored version is the one ``row.version`` follows (``row.version - 1``; no row at all for
        version 1): compare-and-set, so a process that read a dossier before another saved it
        cannot write its stale copy back. Raises :class:`DossierConflict` when the version moved."""
        ...

    async def states(self, since: float | None, after: str, limit: int) -> list[DossierRow]: ...

    async def unsynced(self) -> dict[str, float]: ...

    async def was_applied(self, event_id: str) -> bool: ...

    async def mark_applied(self, event_id: str, code: str, at: float) -> None: ...

    async def add_step(self, event_id: str, code: str, status: int, at: str) -> None: ...

    async def histories(self, since: float | None) -> list[HistoryRow]: ...

    async def accept_moves(
        self, code: str, moves: Sequence[tuple[int, int]], official: str, reason: str
    ) -> None: ...

    async def is_accepted(self, code: str, old: int, new: int) -> bool: ...

    async def note_unusual(self, event_id: str, code: str, old: int, new: int, accepted: bool) -> bool:
        """Lists the move once per event: False when it was listed already."""
        ...

    async def unusual_moves(
        self, after: int, limit: int, dossier: str | None, latest: int | None
    ) -> list[MoveRow]: ...

    async def figures(self, agencies: Sequence[str] | None) -> list[FigureRow]: ...


def figure_row(agency: Any, counts: Sequence[Any]) -> FigureRow:
    """A figures row from the database's agency and counts (a SUM over no row is NULL)."""
    dossiers, online, returned, processed, finished, on_time, unsynced = (int(v or 0) for v in counts)
    return FigureRow(str(agency), dossiers, online, returned, processed, finished, on_time, unsynced)
