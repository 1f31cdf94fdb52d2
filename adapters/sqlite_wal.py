"""Switching a SQLite connection to write-ahead logging when other connections open the file at
the same moment.

``PRAGMA journal_mode = WAL`` takes the file's exclusive lock without calling the busy handler
when another connection holds the lock it needs to write (converting the same new file, say), so
it answers "database is locked" at once, whatever the connection's ``busy_timeout``.
:func:`use_wal` tries again with a short pause until the busy timeout has passed, which is what
every other statement already does.
"""

from __future__ import annotations

import sqlite3
import time

_FIRST_PAUSE_S = 0.001
_LONGEST_PAUSE_S = 0.05
_BUSY, _LOCKED = 5, 6  # SQLite's primary result codes (an extended code keeps them in its low byte)


def use_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Sets ``conn``'s busy timeout to ``busy_timeout_s`` and its journal mode to WAL; returns
    the mode SQLite reports (``wal`` unless the file cannot use it, e.g. in memory). Raises
    ``sqlite3.OperationalError`` when the file stays locked for ``busy_timeout_s`` in all."""
    deadline = time.monotonic() + busy_timeout_s
    pause = _FIRST_PAUSE_S
    _set_busy_timeout(conn, busy_timeout_s)
    try:
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in (_BUSY, _LOCKED):
                    raise
                if deadline - time.monotonic() <= pause:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
            # the next try may wait in the busy handler: only for what is left of the timeout
            _set_busy_timeout(conn, deadline - time.monotonic())
    finally:
        _set_busy_timeout(conn, busy_timeout_s)


def _set_busy_timeout(conn: sqlite3.Connection, seconds: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
