"""Witnesses: where the bus hands its signed checkpoints, to be kept beyond its own reach.

- :class:`FileWitness` appends each checkpoint as one line to a file opened ``O_APPEND`` (never
  truncated, never rewritten), fsynced before it counts as taken. It protects against whoever can
  write the database but not that file: in production, a volume of another host, or a file made
  append-only (``chattr +a``) that the bus's user cannot change back.
- :class:`WebhookWitness` POSTs each checkpoint (``application/json``, the checkpoint's line) to
  another agency's system, which answers 2xx once it has kept it. Reading back
  (``lienthong audit verify --checkpoints URL``) is a GET of the same URL, answered with the
  checkpoints it holds, one a line (docs/audit.md, "The witness protocol"). The bus reads at most
  ``MAX_REPLY_BYTES`` (1 MiB) of its answer; a longer one is a failure.

A witness raises :class:`WitnessError` when it did not take a checkpoint; the publisher retries.
File I/O runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import aiohttp

from adapters.aiohttp_session import LazySession, ReplyTooLarge, SessionClosed, read_reply_bounded
from adapters.audit.checkpoints import Checkpoint
from adapters.private_files import SHARED_WITH_GROUP, open_private

# what the bus reads of a webhook witness's answer to a POST (it needs only the status): a witness
# that streams more is refused, so that it cannot fill the bus's memory
MAX_REPLY_BYTES = 1024 * 1024


def default_witness_file(database: Path) -> Path:
    """The file witness of a configuration that names none: beside the database. It catches what
    is done through the database alone (SQL); a witness on another host catches more."""
    return Path(f"{database}.checkpoints")


class WitnessError(Exception):
    """The witness did not take the checkpoint (the reason, without any secret)."""


class Witness(Protocol):
    @property
    def name(self) -> str: ...

    async def take(self, checkpoint: Checkpoint) -> None:
        """Returns once the witness holds ``checkpoint``; raises :class:`WitnessError` otherwise."""
        ...

    async def close(self) -> None: ...


class FileWitness:
    def __init__(self, path: Path, name: str = "file") -> None:
        self.path = Path(path)
        self.name = name
        self._fd: int | None = None

    async def take(self, checkpoint: Checkpoint) -> None:
        data = (checkpoint.line() + "\n").encode("ascii")
        try:
            await asyncio.to_thread(self._append, data)
        except OSError as error:
            raise WitnessError(f"cannot append to {self.path}: {error.strerror or error}") from None

    def _append(self, data: bytes) -> None:
        """Worker thread: one write of the whole line (O_APPEND: it lands after whatever is there,
        even if another writer appended meanwhile), then fsync."""
        if self._fd is None:
            # No O_CREAT of missing folders: a witness volume that is not mounted must show as a
            # failure, not as a new file on the bus's own disk.
            self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW, SHARED_WITH_GROUP)
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"only {written} of {len(data)} bytes written")
            os.fsync(self._fd)
        except OSError:
            self._close()  # opened again next time: the file may have been replaced or remounted
            raise

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


class WebhookWitness:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
        name: str = "webhook",
    ) -> None:
        self.url = url
        self.name = name
        self.timeout_s = timeout_s
        self._headers = {**(headers or {}), "Content-Type": "application/json"}
        self._session = LazySession(
            lambda: aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        )

    async def take(self, checkpoint: Checkpoint) -> None:
        try:
            session = self._session.get()
            async with session.post(
                self.url,
                data=checkpoint.line().encode("ascii"),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                allow_redirects=False,
            ) as response:
                if not 200 <= response.status < 300:
                    raise WitnessError(f"{self.url} answered {response.status}")
                await read_reply_bounded(response, MAX_REPLY_BYTES)
        except ReplyTooLarge as error:
            raise WitnessError(f"{self.url}: {error}") from None
        except (aiohttp.ClientError, TimeoutError, SessionClosed) as error:
            raise WitnessError(f"{self.url}: {type(error).__name__} {error}".rstrip()) from None

    async def close(self) -> None:
        await self._session.aclose()
