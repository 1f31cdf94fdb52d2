"""One process per log file: an advisory lock next to the database.

The log keeps its offsets and topic catalogue in memory (that is what makes appends cheap), so two
processes writing the same file would hand out the same offsets. The kernel drops the lock when the
process dies, kill -9 included, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from adapters.private_files import open_private
from router.ports import TransportError


class ProcessLock:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = Path(f"{database}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = open_private(self.path, os.O_RDWR)
        except OSError as exc:
            raise TransportError(f"cannot open lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise TransportError(f"the log {self.database} is in use by another process") from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
