"""The consume loop shared by the router and every subscription's delivery: fetch, handle,
commit. Nothing is committed that was not handled, so a crash redelivers, never loses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from router.ports import Consumer, StoredMessage

log = logging.getLogger("lienthong.consume")

Handler = Callable[[Mapping[int, Sequence[StoredMessage]]], Awaitable[None]]

# What a loop fetches at most at a time, unless its transport says otherwise.
MAX_MESSAGES = 1000


class ConsumeLoop:
    """Runs ``handler`` over a consumer until stopped.

    The commit of a handled batch overlaps the fetching and handling of the next one (at most
    one commit in flight, awaited before the next is issued, so offsets only move forward): a
    durable commit costs a disk flush, and waiting for it idle would halve throughput. A crash
    before it lands only redelivers that batch.

    Stopping is graceful: the batch in hand is finished (bounded by the caller's drain timeout,
    after which the task is cancelled and the batch is simply not committed) and committed.
    A handler that fails has its partitions rewound and is tried again after a pause.
    """

    def __init__(
        self,
        name: str,
        consumer: Consumer,
        handler: Handler,
        *,
        max_messages: int = MAX_MESSAGES,
        poll_timeout_s: float = 0.5,
        error_pause_s: float = 1.0,
        commits: bool = True,
    ) -> None:
        """``commits``: False when the handler commits the offsets itself, with what it produced
        (the router's transactional routing on Kafka)."""
        self.name = name
        self._consumer = consumer
        self._handler = handler
        self._max_messages = max_messages
        self._poll_timeout_s = poll_timeout_s
        self._error_pause_s = error_pause_s
        self._commits = commits
        self._stopping = asyncio.Event()
        self._commit: asyncio.Task[None] | None = None
        self.failures = 0
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    batches = await self._consumer.fetch(self._max_messages, self._poll_timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    self.failures += 1
                    self.last_error = f"{type(error).__name__}: {error}"
                    log.exception("%s: fetching failed; trying again", self.name)
                    await self._pause()
                    continue
                if not batches:
                    continue
                try:
                    await self._handler(batches)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    await self._settle()
                    await self._consumer.rewind(list(batches))
                    if self._stopping.is_set():
                        break  # cut short by the stop itself: delivered again at the next start
                    self.failures += 1
                    self.last_error = f"{type(error).__name__}: {error}"
                    log.exception("%s: handling failed; the batch will be retried", self.name)
                    await self._pause()
                    continue
                await self._settle()
                if self._commits:
                    offsets = {p: msgs[-1].offset + 1 for p, msgs in batches.items() if msgs}
                    self._commit = asyncio.create_task(self._consumer.commit(offsets))
                self.last_error = None
        finally:
            await self._settle()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._error_pause_s)

    async def _settle(self) -> None:
        """Waits for the commit in flight; a failed one is logged, not raised."""
        commit, self._commit = self._commit, None
        if commit is None:
            return
        try:
            await commit
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            # The next commit covers these offsets too; a crash before it redelivers them.
            log.exception("%s: committing offsets failed; the next commit covers them", self.name)
