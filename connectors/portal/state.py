"""The portal sync state: per dossier, what the bus knows of it and what the portal acknowledged.

This is "the bus's last known state of each dossier": the full portal record the dossier's
events add up to (``record``, ``status``), the digest of the record the portal last acknowledged
(``synced_digest``; None before the first acknowledgement), and since when the portal has been
behind (``pending_since``, the bus time of the oldest event not yet acknowledged). It also keeps
the ids of the events applied (so a redelivered event makes no call) and, for the operators'
figures, the channel, the return method and the dates that matter.

SQLite in WAL mode in the bus's data folder, used from one worker thread so the event loop never
waits on the disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import orjson

from adapters.private_files import create_private
from connectors.portal.mapping import Collected

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

_COLUMNS = (
    "code, agency, status, record, synced_digest, pending_since, event_time, version, channel, "
    "return_method, datasets, components"
)

_MOVE_COLUMNS = "seq, event_id, code, from_status, to_status, at, accepted"


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
    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        self._durable = durable
        self._pool: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    # --- life cycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-state")
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=10000")  # `lienthong portal reconcile` may share the file
        db.executescript(_SCHEMA)
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

    # --- dossiers ------------------------------------------------------------------------------

    async def get(self, code: str) -> DossierState | None:
        return (await self.load(code))[1]

    async def load(self, code: str, event_id: str | None = None) -> tuple[bool, DossierState | None]:
        """Whether the event was applied already, and the dossier's state: one trip to the disk."""

        def read() -> tuple[bool, DossierState | None]:
            applied = event_id is not None and (
                self.db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone()
                is not None
            )
            row = self.db.execute(f"SELECT {_COLUMNS} FROM dossier WHERE code = ?", (code,)).fetchone()  # noqa: S608
            return applied, None if row is None else _state(row)

        return await self._run(read)

    async def save(self, state: DossierState, *, applied: str | None = None) -> DossierState:
        """Writes the state, and records the event ``applied`` in the same transaction; returns
        the state with its new version."""

        def write() -> DossierState:
            saved = replace(state, version=state.version + 1)
            record = saved.record or {}
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute(
                    "INSERT OR REPLACE INTO dossier (code, agency, status, record, synced_digest, "
                    "pending_since, event_time, version, channel, return_method, due_at, finished_at, "
                    "datasets, components) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
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
                    ),
                )
                if applied is not None:
                    self.db.execute(
                        "INSERT OR IGNORE INTO applied (event_id, code, at) VALUES (?, ?, ?)",
                        (applied, saved.code, time.time()),
                    )
            return saved

        return await self._run(write)

    async def states(
        self, *, since: float | None = None, after: str = "", limit: int = 500
    ) -> list[DossierState]:
        """Dossiers with a record whose latest event is at or after ``since``, by code, a page
        at a time (``after`` the last code of the previous page)."""

        def read() -> list[DossierState]:
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM dossier WHERE record IS NOT NULL AND code > ? "  # noqa: S608
                "AND event_time >= ? ORDER BY code LIMIT ?",
                (after, since if since is not None else float("-inf"), limit),
            ).fetchall()
            return [_state(row) for row in rows]

        return await self._run(read)

    async def unsynced(self) -> dict[str, float]:
        """Dossier -> since when the portal has been behind, for every dossier not in sync."""

        def read() -> dict[str, float]:
            rows = self.db.execute("SELECT code, pending_since FROM dossier WHERE pending_since IS NOT NULL")
            return {code: since for code, since in rows}

        return await self._run(read)

    # --- events applied ------------------------------------------------------------------------

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

    # --- the status history, for the scorecard ---------------------------------------------------

    async def add_step(self, event_id: str, code: str, status: int, at: str) -> None:
        """A status the bus sent the portal (record or progress), at ``at`` (yyyyMMddHHmmss);
        once per event."""

        def write() -> None:
            self.db.execute(
                "INSERT OR IGNORE INTO step (event_id, code, status, at) VALUES (?, ?, ?, ?)",
                (event_id, code, status, at),
            )

        await self._run(write)

    async def histories(
        self, *, since: float | None = None
    ) -> list[tuple[str, str, dict[str, Any], list[tuple[int, str]]]]:
        """(code, agency, record, [(status, at)] in the order sent) of every dossier with a
        record whose latest event is at or after ``since``."""

        def read() -> list[tuple[str, str, dict[str, Any], list[tuple[int, str]]]]:
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
            return [
                (code, agency, orjson.loads(record), steps.get(code, [])) for code, agency, record in rows
            ]

        return await self._run(read)

    # --- unusual moves and operators' releases --------------------------------------------------

    async def accept_moves(
        self, code: str, moves: Sequence[tuple[int, int]], *, official: str, reason: str
    ) -> None:
        """Records that an operator accepted these moves of the dossier (a release)."""

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

    async def note_unusual(self, event_id: str, code: str, old: int, new: int, *, accepted: bool) -> bool:
        """Lists an unusual move once per event; False when the event's move was listed already
        (a retry of the same event)."""

        def write() -> bool:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO unusual_move (event_id, code, from_status, to_status, at, accepted) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, code, old, new, time.time(), int(accepted)),
            )
            return cursor.rowcount == 1

        return await self._run(write)

    async def unusual_moves(
        self, *, after: int = 0, limit: int = 100, dossier: str | None = None, latest: int | None = None
    ) -> list[UnusualMove]:
        """The unusual moves forwarded, oldest first, a page at a time (``after`` a ``seq``); or
        with ``latest``, the latest that many, newest first."""

        def read() -> list[UnusualMove]:
            if latest is not None:
                rows = self.db.execute(
                    f"SELECT {_MOVE_COLUMNS} FROM unusual_move ORDER BY seq DESC LIMIT ?",  # noqa: S608
                    (latest,),
                ).fetchall()
                return [_move(row) for row in rows]
            where = "seq > ?"
            args: list[object] = [after]
            if dossier is not None:
                where += " AND code = ?"
                args.append(dossier)
            rows = self.db.execute(
                f"SELECT {_MOVE_COLUMNS} FROM unusual_move WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
                (*args, limit),
            ).fetchall()
            return [_move(row) for row in rows]

        return await self._run(read)

    # --- figures -------------------------------------------------------------------------------

    async def figures(self, agencies: Sequence[str] | None = None) -> list[AgencyFigures]:
        """Per agency (all, or those given): the scorecard counts."""

        def read() -> list[AgencyFigures]:
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
            return [AgencyFigures(str(row[0]), *(int(v or 0) for v in row[1:])) for row in rows]

        return await self._run(read)


def _move(row: Sequence[Any]) -> UnusualMove:
    seq, event_id, code, old, new, at, accepted = row
    return UnusualMove(seq, event_id, code, old, new, at, bool(accepted))


def _state(row: Sequence[Any]) -> DossierState:
    (
        code,
        agency,
        status,
        record,
        synced,
        pending,
        event_time,
        version,
        channel,
        method,
        datasets,
        components,
    ) = row
    return DossierState(
        code=code,
        agency=agency,
        event_time=event_time,
        status=status,
        record=None if record is None else orjson.loads(record),
        synced_digest=synced,
        pending_since=pending,
        version=version,
        channel=channel,
        return_method=method,
        collected=tuple(Collected.of_json(item) for item in orjson.loads(datasets or b"[]")),
        components=tuple(orjson.loads(components or b"[]")),
    )
