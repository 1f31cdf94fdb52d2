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


class ConsumeLoop:
    """Runs ``handler`` over a consumer until stopped.

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
        max_messages: int = 500,
        poll_timeout_s: float = 0.5,
        error_pause_s: float = 1.0,
    ) -> None:
        self.name = name
        self._consumer = consumer
        self._handler = handler
        self._max_messages = max_messages
        self._poll_timeout_s = poll_timeout_s
        self._error_pause_s = error_pause_s
        self._stopping = asyncio.Event()
        self.failures = 0
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            batches = await self._consumer.fetch(self._max_messages, self._poll_timeout_s)
            if not batches:
                continue
            try:
                await self._handler(batches)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._stopping.is_set():
                    # work cut short by the stop itself: not committed, delivered again next start
                    await self._consumer.rewind(list(batches))
                    break
                self.failures += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("%s: handling failed; the batch will be retried", self.name)
                await self._consumer.rewind(list(batches))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._error_pause_s)
                continue
            await self._consumer.commit({p: msgs[-1].offset + 1 for p, msgs in batches.items() if msgs})
            self.last_error = None
