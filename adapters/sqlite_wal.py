"""Switching a SQLite connection to write-ahead logging when other connections open the file at
the same moment.

``PRAGMA journal_mode = WAL`` takes the file's exclusive lock without calling the busy handler, so
a second connection opening a new file while the first converts it gets "database is locked" at
once, whatever its ``busy_timeout``. :func:`use_wal` tries again with a short pause until the
connection's own busy timeout has passed, which is what every other statement already does.
"""

from __future__ import annotations

import sqlite3
import time

_FIRST_PAUSE_S = 0.001
_LONGEST_PAUSE_S = 0.05


def use_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Sets ``conn``'s journal mode to WAL and returns the mode SQLite reports (``wal`` unless the
    file cannot use it, e.g. in memory). Raises ``sqlite3.OperationalError`` when the file stays
    locked for ``busy_timeout_s``."""
    deadline = time.monotonic() + busy_timeout_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE_S)
