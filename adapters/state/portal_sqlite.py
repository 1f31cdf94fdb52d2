"""SqlitePortalState: :class:`adapters.state.portal.PortalStateRows` in one SQLite file (WAL), for a
bus on one machine. One worker thread owns the connection, so the event loop never waits on the
disk; ``lienthong portal reconcile`` may open the same file meanwhile (the busy timeout)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from adapters.private_files import create_private
from adapters.sqlite_wal import use_wal
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

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dossier (
    code TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    status INTEGER,
    record BLOB,
    synced_digest TEXT,
    pending_since REAL,
    event_time REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    channel TEXT,
    return_method TEXT,
    due_at TEXT,
    finished_at TEXT,
    datasets BLOB,
    components BLOB
);
CREATE INDEX IF NOT EXISTS dossier_event_time ON dossier (event_time);
CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY, code TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS step (
    event_id TEXT PRIMARY KEY, code TEXT NOT NULL, status INTEGER NOT NULL, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS step_code ON step (code);
CREATE TABLE IF NOT EXISTS accepted_move (
    code TEXT NOT NULL,
    from_status INTEGER NOT NULL,
    to_status INTEGER NOT NULL,
    at REAL NOT NULL,
    official TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (code, from_status, to_status)
);
CREATE TABLE IF NOT EXISTS unusual_move (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    from_status INTEGER NOT NULL,
    to_status INTEGER NOT NULL,
    at REAL NOT NULL,
    accepted INTEGER NOT NULL
);
"""

# compare-and-set on the version, as in the shared database (adapters.state.portal_postgres)
_SAVE = dossier_save("dossier", (), lambda _: "?")


class SqlitePortalState:
    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        self._durable = durable
        self._pool: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-state")
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            use_wal(db, 10.0)  # `lienthong portal reconcile` may share the file: a 10 s busy timeout
            db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._pool is None:
            return
        await self._run(self._close)
        self._pool.shutdown(wait=True)
        self._pool = None

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._pool is None:
            raise RuntimeError("the portal sync state is not open")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the portal sync state is not open")
        return self._db

    async def load(self, code: str, event_id: str | None) -> tuple[bool, DossierRow | None]:
        def read() -> tuple[bool, DossierRow | None]:
            applied = event_id is not None and (
                self.db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone()
                is not None
            )
            row = self.db.execute(f"SELECT {DOSSIER_COLUMNS} FROM dossier WHERE code = ?", (code,)).fetchone()  # noqa: S608
            return applied, None if row is None else DossierRow(*row)

        return await self._run(read)

    async def save(self, row: DossierRow, applied: str | None) -> None:
        def write() -> None:
            with self.db:
                self.db.execute("BEGIN")
                cursor = self.db.execute(_SAVE, tuple(row))
                if cursor.rowcount != 1:
                    raise DossierConflict(row.code, row.version)  # the transaction rolls back
                if applied is not None:
                    self.db.execute(
                        "INSERT OR IGNORE INTO applied (event_id, code, at) VALUES (?, ?, ?)",
                        (applied, row.code, time.time()),
                    )

        await self._run(write)

    async def states(self, since: float | None, after: str, limit: int) -> list[DossierRow]:
        def read() -> list[DossierRow]:
            rows = self.db.execute(
                f"SELECT {DOSSIER_COLUMNS} FROM dossier WHERE record IS NOT NULL AND code > ? "  # noqa: S608
                "AND event_time >= ? ORDER BY code LIMIT ?",
                (after, since if since is not None else float("-inf"), limit),
            ).fetchall()
            return [DossierRow(*row) for row in rows]

        return await self._run(read)

    async def unsynced(self) -> dict[str, float]:
        def read() -> dict[str, float]:
            rows = self.db.execute("SELECT code, pending_since FROM dossier WHERE pending_since IS NOT NULL")
            return {code: since for code, since in rows}

        return await self._run(read)

    async def was_applied(self, event_id: str) -> bool:
        def read() -> bool:
            return (
                self.db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone()
                is not None
            )

        return await self._run(read)

    async def mark_applied(self, event_id: str, code: str, at: float) -> None:
        def write() -> None:
            self.db.execute(
                "INSERT OR IGNORE INTO applied (event_id, code, at) VALUES (?, ?, ?)", (event_id, code, at)
            )

        await self._run(write)

    async def add_step(self, event_id: str, code: str, status: int, at: str) -> None:
        def write() -> None:
            self.db.execute(
                "INSERT OR IGNORE INTO step (event_id, code, status, at) VALUES (?, ?, ?, ?)",
                (event_id, code, status, at),
            )

        await self._run(write)

    async def histories(self, since: float | None) -> list[HistoryRow]:
        def read() -> list[HistoryRow]:
            floor = since if since is not None else float("-inf")
            steps: dict[str, list[tuple[int, str]]] = {}
            for code, status, at in self.db.execute(
                "SELECT s.code, s.status, s.at FROM step s JOIN dossier d ON d.code = s.code "
                "WHERE d.event_time >= ? ORDER BY s.rowid",
                (floor,),
            ):
                steps.setdefault(code, []).append((int(status), str(at)))
            rows = self.db.execute(
                "SELECT code, agency, record FROM dossier WHERE record IS NOT NULL AND event_time >= ?",
                (floor,),
            )
            return [(code, agency, bytes(record), steps.get(code, [])) for code, agency, record in rows]

        return await self._run(read)

    async def accept_moves(
        self, code: str, moves: Sequence[tuple[int, int]], official: str, reason: str
    ) -> None:
        def write() -> None:
            now = time.time()
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "INSERT OR REPLACE INTO accepted_move (code, from_status, to_status, at, official, reason) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(code, old, new, now, official, reason) for old, new in moves],
                )

        await self._run(write)

    async def is_accepted(self, code: str, old: int, new: int) -> bool:
        def read() -> bool:
            row = self.db.execute(
                "SELECT 1 FROM accepted_move WHERE code = ? AND from_status = ? AND to_status = ?",
                (code, old, new),
            ).fetchone()
            return row is not None

        return await self._run(read)

    async def note_unusual(self, event_id: str, code: str, old: int, new: int, accepted: bool) -> bool:
        def write() -> bool:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO unusual_move (event_id, code, from_status, to_status, at, accepted) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, code, old, new, time.time(), int(accepted)),
            )
            return cursor.rowcount == 1

        return await self._run(write)

    async def unusual_moves(
        self, after: int, limit: int, dossier: str | None, latest: int | None
    ) -> list[MoveRow]:
        def read() -> list[MoveRow]:
            if latest is not None:
                rows = self.db.execute(
                    f"SELECT {MOVE_COLUMNS} FROM unusual_move ORDER BY seq DESC LIMIT ?",  # noqa: S608
                    (latest,),
                ).fetchall()
            else:
                where = "seq > ?"
                args: list[object] = [after]
                if dossier is not None:
                    where += " AND code = ?"
                    args.append(dossier)
                rows = self.db.execute(
                    f"SELECT {MOVE_COLUMNS} FROM unusual_move WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
                    (*args, limit),
                ).fetchall()
            return [
                MoveRow(seq, e, c, old, new, at, bool(accepted)) for seq, e, c, old, new, at, accepted in rows
            ]

        return await self._run(read)

    async def figures(self, agencies: Sequence[str] | None) -> list[FigureRow]:
        def read() -> list[FigureRow]:
            where: str = ""
            args: tuple[str, ...] = ()
            if agencies is not None:
                if not agencies:
                    return []
                where = f"WHERE agency IN ({','.join('?' * len(agencies))})"
                args = tuple(agencies)
            rows = self.db.execute(
                "SELECT agency, COUNT(*), "  # noqa: S608 - the WHERE clause holds only placeholders
                "SUM(channel = 'online'), "
                "SUM(status = 10), "
                "SUM(status = 10 AND channel = 'online' AND return_method = 'online'), "
                "SUM(status IN (9, 10) AND due_at IS NOT NULL AND finished_at IS NOT NULL), "
                "SUM(status IN (9, 10) AND due_at IS NOT NULL AND finished_at IS NOT NULL "
                "AND finished_at <= due_at), "
                f"SUM(pending_since IS NOT NULL) FROM dossier {where} GROUP BY agency ORDER BY agency",
                args,
            ).fetchall()
            return [figure_row(row[0], row[1:]) for row in rows]

        return await self._run(read)
