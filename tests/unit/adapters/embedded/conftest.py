"""Fixtures for the embedded log: real SQLite files in a temporary directory, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.embedded import EmbeddedLog

MakeLog = Callable[..., Awaitable[EmbeddedLog]]


@pytest.fixture
async def make_log(tmp_path: Path) -> AsyncIterator[MakeLog]:
    """Opens (and later closes) an EmbeddedLog; by default on the same file each time, to test reopening."""
    opened: list[EmbeddedLog] = []

    async def make(path: Path | None = None, **options: Any) -> EmbeddedLog:
        log = EmbeddedLog(path or tmp_path / "log.db", **options)
        await log.start()
        opened.append(log)
        return log

    yield make
    for log in opened:
        await log.close()


@pytest.fixture
async def log(make_log: MakeLog) -> EmbeddedLog:
    return await make_log()
