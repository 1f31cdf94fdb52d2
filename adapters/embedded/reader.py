"""The reader thread: fetches and queries run on a connection of their own, off the event loop.

In WAL mode readers never wait for the writer (they read the last committed snapshot), so reads go
to their own thread and never queue behind a group commit and its fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from router.ports import TransportError

T = TypeVar("T")


class Reader:
    def __init__(self, connect: Callable[[], sqlite3.Connection], *, name: str) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        # One thread: its connection is created on it (on first use) and never shared.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._closed = False

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs ``fn`` with the read connection on the reader thread; SQLite errors become TransportError."""
        if self._closed:
            raise TransportError("the log is closed")
        loop = asyncio.get_running_loop()
        try:
            pending = loop.run_in_executor(self._pool, self._call, fn)
        except RuntimeError as exc:  # the pool is shutting down
            raise TransportError("the log is closed") from exc
        return await pending

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        try:
            return fn(self._conn)
        except sqlite3.Error as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._close_connection)
        finally:
            self._pool.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
