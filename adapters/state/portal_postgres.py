"""PostgresPortalState: :class:`adapters.state.portal.PortalStateRows` in the shared state
database, one connector's rows (its name in every key) among the deployment's. Every process of
the bus reads and writes the same rows, so a dossier whose partition moves to another process
carries on there: its applied events, record, acknowledged digest, pending time and operators'
releases are where it left them. The database out of reach raises
:class:`~router.state.StateUnavailable`: the portal sink's call fails and is tried again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from adapters.state.portal import (
    DOSSIER_COLUMNS,
    MOVE_COLUMNS,
    DossierConflict,
    DossierRow,
    FigureRow,
    HistoryRow,
    MoveRow,
    dossier_save,
    figure_row,
)
from adapters.state.postgres import PostgresStateStore

_SAVE = dossier_save("portal_dossier", ("connector",), lambda number: f"${number}")
_APPLY = (
    "INSERT INTO portal_applied (connector, event_id, code, at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING"
)
_FIGURES = """
SELECT agency, count(*),
    count(*) FILTER (WHERE channel = 'online'),
    count(*) FILTER (WHERE status = 10),
    count(*) FILTER (WHERE status = 10 AND channel = 'online' AND return_method = 'online'),
    count(*) FILTER (WHERE status IN (9, 10) AND due_at IS NOT NULL AND finished_at IS NOT NULL),
    count(*) FILTER (WHERE status IN (9, 10) AND due_at IS NOT NULL AND finished_at IS NOT NULL
                     AND finished_at <= due_at),
    count(*) FILTER (WHERE pending_since IS NOT NULL)
FROM portal_dossier WHERE connector = $1 AND ($2::text[] IS NULL OR agency = ANY($2::text[]))
GROUP BY agency ORDER BY agency COLLATE "C"
"""


class PostgresPortalState:
    """The sync state of the portal connector ``connector`` in ``store`` (started by its owner)."""

    def __init__(self, store: PostgresStateStore, connector: str) -> None:
        self._store = store
        self.connector = connector

    async def open(self) -> None:
        """Nothing to open: the store's owner started it (and migrated its schema)."""

    async def close(self) -> None:
        """Nothing to close: the store's owner closes it."""

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async with self._store.connection() as conn:
            return list(await conn.fetch(query, self.connector, *args))

    async def _execute(self, query: str, *args: Any) -> str:
        async with self._store.connection() as conn:
            return str(await conn.execute(query, self.connector, *args))

    async def load(self, code: str, event_id: str | None) -> tuple[bool, DossierRow | None]:
        async with self._store.connection() as conn:
            applied = event_id is not None and (
                await conn.fetchval(
                    "SELECT 1 FROM portal_applied WHERE connector = $1 AND event_id = $2",
                    self.connector,
                    event_id,
                )
                is not None
            )
            row = await conn.fetchrow(
                f"SELECT {DOSSIER_COLUMNS} FROM portal_dossier WHERE connector = $1 AND code = $2",  # noqa: S608
                self.connector,
                code,
            )
        return applied, None if row is None else _dossier(row)

    async def save(self, row: DossierRow, applied: str | None) -> None:
        async with self._store.connection() as conn, conn.transaction():
            if await conn.execute(_SAVE, self.connector, *row) != "INSERT 0 1":
                raise DossierConflict(row.code, row.version)  # the transaction rolls back
            if applied is not None:
                await conn.execute(_APPLY, self.connector, applied, row.code, time.time())

    async def states(self, since: float | None, after: str, limit: int) -> list[DossierRow]:
        rows = await self._fetch(
            f"SELECT {DOSSIER_COLUMNS} FROM portal_dossier WHERE connector = $1 AND record IS NOT NULL"  # noqa: S608
            ' AND code COLLATE "C" > $2 AND event_time >= $3 ORDER BY code COLLATE "C" LIMIT $4',
            after,
            since if since is not None else float("-inf"),
            limit,
        )
        return [_dossier(row) for row in rows]

    async def unsynced(self) -> dict[str, float]:
        rows = await self._fetch(
            "SELECT code, pending_since FROM portal_dossier WHERE connector = $1 AND pending_since IS NOT NULL"
        )
        return {str(row[0]): float(row[1]) for row in rows}

    async def was_applied(self, event_id: str) -> bool:
        rows = await self._fetch(
            "SELECT 1 FROM portal_applied WHERE connector = $1 AND event_id = $2", event_id
        )
        return bool(rows)

    async def mark_applied(self, event_id: str, code: str, at: float) -> None:
        await self._execute(_APPLY, event_id, code, at)

    async def add_step(self, event_id: str, code: str, status: int, at: str) -> None:
        await self._execute(
            "INSERT INTO portal_step (connector, event_id, code, status, at) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING",
            event_id,
            code,
            status,
            at,
        )

    async def histories(self, since: float | None) -> list[HistoryRow]:
        floor = since if since is not None else float("-inf")
        async with self._store.connection() as conn:
            step_rows = await conn.fetch(
                "SELECT s.code, s.status, s.at FROM portal_step s JOIN portal_dossier d"
                " ON d.connector = s.connector AND d.code = s.code"
                " WHERE s.connector = $1 AND d.event_time >= $2 ORDER BY s.seq",
                self.connector,
                floor,
            )
            rows = await conn.fetch(
                "SELECT code, agency, record FROM portal_dossier"
                " WHERE connector = $1 AND record IS NOT NULL AND event_time >= $2",
                self.connector,
                floor,
            )
        steps: dict[str, list[tuple[int, str]]] = {}
        for code, status, at in step_rows:
            steps.setdefault(code, []).append((int(status), str(at)))
        return [(code, agency, bytes(record), steps.get(code, [])) for code, agency, record in rows]

    async def accept_moves(
        self, code: str, moves: Sequence[tuple[int, int]], official: str, reason: str
    ) -> None:
        now = time.time()
        async with self._store.connection() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO portal_accepted_move (connector, code, from_status, to_status, at, official, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (connector, code, from_status, to_status)"
                " DO UPDATE SET at = excluded.at, official = excluded.official, reason = excluded.reason",
                [(self.connector, code, old, new, now, official, reason) for old, new in moves],
            )

    async def is_accepted(self, code: str, old: int, new: int) -> bool:
        rows = await self._fetch(
            "SELECT 1 FROM portal_accepted_move WHERE connector = $1 AND code = $2"
            " AND from_status = $3 AND to_status = $4",
            code,
            old,
            new,
        )
        return bool(rows)

    async def note_unusual(self, event_id: str, code: str, old: int, new: int, accepted: bool) -> bool:
        status = await self._execute(
            "INSERT INTO portal_unusual_move (connector, event_id, code, from_status, to_status, at, accepted)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            event_id,
            code,
            old,
            new,
            time.time(),
            accepted,
        )
        return status == "INSERT 0 1"

    async def unusual_moves(
        self, after: int, limit: int, dossier: str | None, latest: int | None
    ) -> list[MoveRow]:
        if latest is not None:
            rows = await self._fetch(
                f"SELECT {MOVE_COLUMNS} FROM portal_unusual_move WHERE connector = $1"  # noqa: S608
                " ORDER BY seq DESC LIMIT $2",
                latest,
            )
        else:
            rows = await self._fetch(
                f"SELECT {MOVE_COLUMNS} FROM portal_unusual_move WHERE connector = $1 AND seq > $2"  # noqa: S608
                " AND ($3::text IS NULL OR code = $3) ORDER BY seq LIMIT $4",
                after,
                dossier,
                limit,
            )
        return [MoveRow(*row) for row in rows]

    async def figures(self, agencies: Sequence[str] | None) -> list[FigureRow]:
        if agencies is not None and not agencies:
            return []
        rows = await self._fetch(_FIGURES, None if agencies is None else list(agencies))
        return [figure_row(row[0], row[1:]) for row in rows]


def _dossier(row: Any) -> DossierRow:
    values = list(row)
    for i in (
        DossierRow._fields.index("record"),
        DossierRow._fields.index("datasets"),
        DossierRow._fields.index("components"),
    ):
        if values[i] is not None:
            values[i] = bytes(values[i])
    return DossierRow(*values)
