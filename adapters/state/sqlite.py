"""SqliteStateStore: the :class:`router.state.StateStore` port in one SQLite file, for a bus on one
machine.

Its audit log is :class:`adapters.audit.SqliteAuditLog` (a file of its own, as the single-machine
default has always kept it); its publish dedup is a table of this file. The embedded transport
deduplicates inside its own append and needs no dedup store; this one is for a single process on a
transport that keeps no dedup ids. One thread owns the connection, so the event loop never touches
SQLite; claims from one process need no lease (there is no other process), but the contract is the
same as PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from adapters.sqlite_wal import use_wal
from router.state import CLAIM_LEASE_S, Claim, ClaimState, Placed, StateUnavailable

T = TypeVar("T")

BUSY_TIMEOUT_S = 5.0

# Versions of the file's schema, applied in order (PRAGMA user_version holds the last applied).
VERSIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE publish_dedup (
            topic TEXT NOT NULL,
            dedup_id TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            settled_at REAL,
            partition_no INTEGER,
            offset_no INTEGER,
            PRIMARY KEY (topic, dedup_id)
        ) WITHOUT ROWID;
        """,
    ),
)


class SqliteStateStore:
    def __init__(self, path: Path, *, retention_s: float = 7 * 86400.0) -> None:
        self.path = Path(path)
        self.retention_s = retention_s
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._dedup = SqliteDedup(self)

    @property
    def dedup(self) -> SqliteDedup:
        return self._dedup

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """``job`` on the store's thread, in a transaction; a failure as StateUnavailable."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="lienthong-state")

        def in_transaction() -> T:
            conn = self._require()
            # IMMEDIATE: the write lock from the first read on, so that two processes claiming one
            # id take turns (a deferred transaction would let both read "not claimed")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = job(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return result

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, in_transaction)
        except sqlite3.Error as error:
            raise StateUnavailable(f"the state store {self.path} failed: {error}") from None

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                use_wal(conn, BUSY_TIMEOUT_S)  # another store may be opening the file this moment
                conn.execute("PRAGMA synchronous=FULL")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    async def start(self) -> None:
        await self.migrate()

    async def migrate(self) -> list[int]:
        def apply(conn: sqlite3.Connection) -> list[int]:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            applied = []
            for version, sql in VERSIONS:
                if version > current:
                    for statement in filter(str.strip, sql.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")
                    applied.append(version)
            return applied

        return await self.run(apply)

    async def healthy(self) -> bool:
        try:
            await self.run(lambda conn: conn.execute("SELECT 1").fetchone())
        except StateUnavailable:
            return False
        return True

    async def close(self) -> None:
        if self._executor is None:
            return
        executor, self._executor = self._executor, None

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(executor, close)
        executor.shutdown()


class SqliteDedup:
    """:class:`router.state.PublishDedup` in the table ``publish_dedup`` of the store's file."""

    def __init__(self, store: SqliteStateStore, lease_s: float = CLAIM_LEASE_S) -> None:
        self._store = store
        self.lease_s = lease_s

    async def claim(self, topic: str, dedup_ids: Sequence[str]) -> Mapping[str, Claim]:
        retention_s, lease_s = self._store.retention_s, self.lease_s

        def claim(conn: sqlite3.Connection) -> dict[str, Claim]:
            now = time.time()
            found: dict[str, Claim] = {}
            for dedup_id in dedup_ids:
                row = conn.execute(
                    "SELECT claimed_at, settled_at, partition_no, offset_no FROM publish_dedup"
                    " WHERE topic = ? AND dedup_id = ?",
                    (topic, dedup_id),
                ).fetchone()
                expired = row is not None and (
                    (row[1] is None and row[0] < now - lease_s)
                    or (row[1] is not None and row[1] < now - retention_s)
                )
                if row is None or expired:
                    conn.execute(
                        "INSERT OR REPLACE INTO publish_dedup (topic, dedup_id, claimed_at) VALUES (?, ?, ?)",
                        (topic, dedup_id, now),
                    )
                    found[dedup_id] = Claim(ClaimState.MINE)
                elif row[1] is not None:
                    found[dedup_id] = Claim(ClaimState.DUPLICATE, int(row[2] or 0), row[3])
                else:
                    found[dedup_id] = Claim(ClaimState.IN_FLIGHT)
            return found

        return await self._store.run(claim) if dedup_ids else {}

    async def settle(self, topic: str, placed: Sequence[Placed]) -> None:
        def settle(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE publish_dedup SET settled_at = ?, partition_no = ?, offset_no = ?"
                " WHERE topic = ? AND dedup_id = ?",
                [(time.time(), p.partition, p.offset, topic, p.dedup_id) for p in placed],
            )

        if placed:
            await self._store.run(settle)

    async def release(self, topic: str, dedup_ids: Sequence[str]) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM publish_dedup WHERE topic = ? AND dedup_id = ? AND settled_at IS NULL",
                [(topic, dedup_id) for dedup_id in dedup_ids],
            )

        if dedup_ids:
            await self._store.run(release)

    async def seen(self, topic: str, dedup_id: str) -> bool:
        since = time.time() - self._store.retention_s

        def seen(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "SELECT 1 FROM publish_dedup WHERE topic = ? AND dedup_id = ? AND settled_at >= ?",
                    (topic, dedup_id, since),
                ).fetchone()
                is not None
            )

        return await self._store.run(seen)
