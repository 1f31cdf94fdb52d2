"""Files only the bus's own user reads: created with an exact mode, whatever the umask.

SQLite creates a database with mode 0644 less the umask, so under the common umask 022 anyone on
the host could read the log's events, the dead letters' personal data or the audit records.
:func:`create_private` creates the file first, empty (SQLite takes an empty file for a new
database), with the mode set by ``fchmod`` rather than through the umask; SQLite gives the
``-wal`` and ``-shm`` files beside it the database's own mode. A file that exists keeps its mode.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600  # the bus's user reads and writes; nobody else
SHARED_WITH_GROUP = 0o640  # and its group reads (a witness file another process copies off the host)


def create_private(path: Path, mode: int = PRIVATE) -> None:
    """Creates ``path`` empty with exactly ``mode``, unless it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def open_private(path: Path, flags: int, mode: int = PRIVATE) -> int:
    """``os.open(path, flags | O_CREAT)``: a file it creates gets exactly ``mode``."""
    create_private(path, mode)
    return os.open(path, flags | os.O_CREAT, mode)
