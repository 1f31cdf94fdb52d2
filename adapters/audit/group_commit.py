"""Group commit of access records, shared by the audit log's stores (SQLite and PostgreSQL).

Records arriving while a write is in flight wait in a queue and go to the store together, as one
write: only one write is ever in flight, so the chain's head needs no locking, and a failing write
(disk full, database down) costs one attempt, not one per caller.

Every failure reaches the callers as :class:`~router.audit.AuditUnavailable`, counted in
``lienthong_audit_write_failures_total``: the caller withholds the data. A caller waits at most
``timeout_s`` (a hung disk or database must not hold requests); a record written after its caller
gave up shows an access whose data was in fact withheld, the safe side to err on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from adapters.audit.metrics import AuditMetrics
from router.audit import AuditUnavailable

log = logging.getLogger("lienthong.audit")

RowT = TypeVar("RowT")


class GroupCommit(Generic[RowT]):
    """Hands queued rows to ``write`` one batch at a time; ``last_failed`` tells whether the
    latest write (or a caller's wait) failed, for the store's health check."""

    def __init__(
        self,
        write: Callable[[list[RowT]], Awaitable[None]],
        metrics: AuditMetrics,
        *,
        timeout_s: float,
        describe: Callable[[Exception], str] = str,
    ) -> None:
        self._write = write
        self._metrics = metrics
        self.timeout_s = timeout_s
        self._describe = describe  # a failure as the log and the callers see it
        self._pending: list[tuple[list[RowT], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.last_failed = False

    async def submit(self, rows: list[RowT]) -> None:
        """Returns once ``rows`` are written; AuditUnavailable if they are not within the timeout."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A caller that timed out no longer awaits it: its outcome must not be reported as lost.
        written.add_done_callback(_retrieve)
        self._pending.append((rows, written))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="audit-flush")
        try:
            async with asyncio.timeout(self.timeout_s):
                await asyncio.shield(written)
        except TimeoutError:
            self.last_failed = True  # a hung write: the health check probes until one goes through
            self._metrics.failed()
            raise AuditUnavailable(
                f"the audit log did not take the record within {self.timeout_s:g} s"
            ) from None
        except AuditUnavailable:
            self._metrics.failed()
            raise

    async def drain(self) -> None:
        """Waits for the rows handed over so far to be written (or to fail)."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [row for rows, _ in batch for row in rows]
            try:
                await self._write(rows)
            except Exception as error:
                self.last_failed = True
                detail = self._describe(error)
                log.error("audit records not written (%d): %s", len(rows), detail)
                failure = AuditUnavailable(f"the audit log could not be written: {detail}")
                for _, written in batch:
                    if not written.done():
                        written.set_exception(failure)
                continue
            self.last_failed = False
            self._metrics.written(len(rows))
            for _, written in batch:
                if not written.done():
                    written.set_result(None)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
