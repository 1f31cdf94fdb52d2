"""Several connections opening one new SQLite file at once all end in WAL mode.

SQLite answers "database is locked" to ``PRAGMA journal_mode = WAL`` at once, busy timeout or not,
when another connection is converting the same new file; :func:`adapters.sqlite_wal.use_wal` waits
for it as the busy timeout would.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from adapters.sqlite_wal import use_wal

ROUNDS = 150
OPENERS = 4


def test_connections_opening_a_new_file_at_once_all_use_wal(tmp_path: Path) -> None:
    failures: list[str] = []
    modes: list[str] = []

    def open_file(path: Path, start: threading.Barrier) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            start.wait()
            modes.append(use_wal(conn, 5.0))
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            failures.append(str(error))
        finally:
            conn.close()

    for round_no in range(ROUNDS):
        path = tmp_path / f"{round_no}.db"
        start = threading.Barrier(OPENERS)
        openers = [threading.Thread(target=open_file, args=(path, start)) for _ in range(OPENERS)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert failures == []
    assert modes == ["wal"] * (ROUNDS * OPENERS)


def test_a_file_locked_longer_than_the_timeout_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, isolation_level=None)
    waiter.execute("PRAGMA busy_timeout = 50")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            use_wal(waiter, 0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        waiter.close()
