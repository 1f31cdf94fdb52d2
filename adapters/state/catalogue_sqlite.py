"""SqliteCatalogue: :class:`adapters.state.catalogue.CatalogueRows` in one SQLite file (WAL), used
from one worker thread; the command line may open the same file while the bus runs."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from adapters.private_files import create_private
from adapters.sqlite_wal import use_wal
from adapters.state.catalogue import EntryRow

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS procedure (
    code TEXT PRIMARY KEY, entry BLOB NOT NULL, digest TEXT NOT NULL,
    synced_at REAL NOT NULL, gone_since REAL
);
CREATE TABLE IF NOT EXISTS register (
    kind TEXT NOT NULL, code TEXT NOT NULL, entry BLOB NOT NULL, digest TEXT NOT NULL,
    gone_since REAL, PRIMARY KEY (kind, code)
);
CREATE TABLE IF NOT EXISTS sync_run (at REAL NOT NULL, report BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS last_sync (one INTEGER PRIMARY KEY CHECK (one = 1), at REAL NOT NULL);
"""


class SqliteCatalogue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-catalogue")
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            use_wal(db, 10.0)  # the command line may share the file with serve: a 10 s busy timeout
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._pool is None:
            return
        await self._run(self.db.close)
        self._db = None
        self._pool.shutdown(wait=True)
        self._pool = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._pool is None:
            raise RuntimeError("the portal catalogue is not open")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the portal catalogue is not open")
        return self._db

    async def digests(self) -> dict[str, tuple[str, bool]]:
        def read() -> dict[str, tuple[str, bool]]:
            rows = self.db.execute("SELECT code, digest, gone_since IS NOT NULL FROM procedure")
            return {code: (value, bool(gone)) for code, value, gone in rows}

        return await self._run(read)

    async def apply(
        self,
        procedures: Sequence[EntryRow],
        withdrawn: Collection[str],
        returned: Collection[str],
        registers: Mapping[str, Sequence[EntryRow]],
        report: bytes,
        now: float,
    ) -> dict[str, int]:
        def write() -> dict[str, int]:
            changed: dict[str, int] = {}
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "INSERT OR REPLACE INTO procedure (code, entry, digest, synced_at, gone_since) "
                    "VALUES (?, ?, ?, ?, NULL)",
                    [(row.code, row.entry, row.digest, now) for row in procedures],
                )
                self.db.executemany(
                    "UPDATE procedure SET gone_since = ? WHERE code = ?", [(now, code) for code in withdrawn]
                )
                self.db.executemany(
                    "UPDATE procedure SET gone_since = NULL WHERE code = ?", [(code,) for code in returned]
                )
                for kind, items in registers.items():
                    changed[kind] = self._write_register(kind, items, now)
                self.db.execute("INSERT OR REPLACE INTO last_sync (one, at) VALUES (1, ?)", (now,))
                if procedures or withdrawn or returned or any(changed.values()):
                    self.db.execute("INSERT INTO sync_run (at, report) VALUES (?, ?)", (now, report))
            return changed

        return await self._run(write)

    def _write_register(self, kind: str, items: Sequence[EntryRow], now: float) -> int:
        known = {
            code: (value, gone)
            for code, value, gone in self.db.execute(
                "SELECT code, digest, gone_since IS NOT NULL FROM register WHERE kind = ?", (kind,)
            )
        }
        changed = 0
        for row in items:
            if known.get(row.code) != (row.digest, False):
                changed += 1
                self.db.execute(
                    "INSERT OR REPLACE INTO register (kind, code, entry, digest, gone_since) "
                    "VALUES (?, ?, ?, ?, NULL)",
                    (kind, row.code, row.entry, row.digest),
                )
        listed = {row.code for row in items}
        gone = [code for code, (_, was_gone) in known.items() if code not in listed and not was_gone]
        self.db.executemany(
            "UPDATE register SET gone_since = ? WHERE kind = ? AND code = ?", [(now, kind, c) for c in gone]
        )
        return changed + len(gone)

    async def last_sync(self) -> float | None:
        def read() -> float | None:
            row = self.db.execute("SELECT at FROM last_sync").fetchone()
            return None if row is None else float(row[0])

        return await self._run(read)

    async def procedures(self, withdrawn: bool) -> list[bytes]:
        def read() -> list[bytes]:
            where = "" if withdrawn else "WHERE gone_since IS NULL"
            rows = self.db.execute(f"SELECT entry FROM procedure {where} ORDER BY code")  # noqa: S608
            return [bytes(raw) for (raw,) in rows]

        return await self._run(read)

    async def counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            listed, gone = self.db.execute(
                "SELECT COALESCE(SUM(gone_since IS NULL), 0), COALESCE(SUM(gone_since IS NOT NULL), 0) "
                "FROM procedure"
            ).fetchone()
            return {"listed": int(listed), "withdrawn": int(gone)}

        return await self._run(read)
