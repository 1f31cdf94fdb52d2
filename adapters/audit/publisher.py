"""Publishing checkpoints: when the store signs its head, and how each witness gets it.

A checkpoint is signed when the log is opened, once ``every_records`` records were committed since
the last one, every ``interval_s`` seconds if the head moved meanwhile, and when the log is closed.
Each witness has a loop of its own that hands it the newest checkpoint it has not taken: a witness
that fails is retried (back-off from ``retry_initial_s`` doubling to ``retry_max_s``), and a newer
checkpoint replaces an older one still waiting, since the newer covers it. Failures are counted
(``lienthong_audit_checkpoint_failures_total``) and logged; the bus keeps serving: a witness
being away delays the protection, it does not stop access to data. What a witness holds shows in
``lienthong_audit_checkpoint_witnessed_seq``, to alert on when it falls behind the head.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.audit.chain import Head
from adapters.audit.checkpoints import Checkpoint, sign
from adapters.audit.metrics import AuditMetrics
from adapters.audit.signing import Signer
from adapters.audit.witnesses import Witness

log = logging.getLogger("lienthong.audit")


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    every_records: int = 1000
    interval_s: float = 300.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    # how long closing waits for the witnesses to take the last checkpoint
    close_timeout_s: float = 10.0


class _WitnessLoop:
    """Hands one witness the newest checkpoint offered, retrying until it takes it."""

    def __init__(self, witness: Witness, policy: CheckpointPolicy, metrics: AuditMetrics) -> None:
        self.witness = witness
        self._policy = policy
        self._metrics = metrics
        self._pending: Checkpoint | None = None
        self._offered = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.task = asyncio.create_task(self._run(), name=f"audit-witness-{witness.name}")

    def offer(self, checkpoint: Checkpoint) -> None:
        self._pending = checkpoint
        self._idle.clear()
        self._offered.set()

    @property
    def holds_all(self) -> bool:
        return self._idle.is_set()

    async def idle(self) -> None:
        """Returns once the witness holds every checkpoint offered so far."""
        await self._idle.wait()

    async def _run(self) -> None:
        backoff = self._policy.retry_initial_s
        while True:
            await self._offered.wait()
            self._offered.clear()
            checkpoint = self._pending
            if checkpoint is None:
                continue
            try:
                await self.witness.take(checkpoint)
            except Exception as error:  # WitnessError, or a witness's bug: retried all the same
                self._metrics.checkpoint_failed(self.witness.name)
                log.warning(
                    "audit checkpoint %d not taken by witness %s (retry in %g s): %s",
                    checkpoint.seq,
                    self.witness.name,
                    backoff,
                    error,
                )
                # a newer checkpoint offered meanwhile is sent at once, else this one after the back-off
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._offered.wait()
                backoff = min(backoff * 2, self._policy.retry_max_s)
                self._offered.set()
                continue
            backoff = self._policy.retry_initial_s
            self._metrics.checkpoint_taken(self.witness.name, checkpoint.seq)
            if self._pending is checkpoint:
                self._pending = None
                self._idle.set()


class CheckpointPublisher:
    """Signs the head of one log and hands it to its witnesses (on the event loop)."""

    def __init__(
        self,
        signer: Signer,
        witnesses: Sequence[Witness],
        policy: CheckpointPolicy,
        metrics: AuditMetrics,
        *,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.signer = signer
        self.witnesses = tuple(witnesses)
        self.policy = policy
        self._metrics = metrics
        self._clock = clock
        self._loops: list[_WitnessLoop] = []
        self._timer: asyncio.Task[None] | None = None
        self._log = ""
        self._head: Head | None = None
        self._key_id = ""
        self._signed: Head | None = None  # the head of the last checkpoint signed
        self.latest: Checkpoint | None = None

    def start(self, log_id: str, head: Head, key_id: str) -> None:
        """Starts the witness loops and signs the head the log was opened at."""
        self._log = log_id
        self._loops = [_WitnessLoop(w, self.policy, self._metrics) for w in self.witnesses]
        self.advanced(head, key_id)
        self._publish()
        self._timer = asyncio.create_task(self._tick(), name="audit-checkpoints")

    def advanced(self, head: Head, key_id: str) -> None:
        """The log committed up to ``head``: a checkpoint is due after ``every_records``."""
        self._head, self._key_id = head, key_id
        signed = self._signed.seq if self._signed is not None else 0
        if self._loops and head.seq - signed >= self.policy.every_records:
            self._publish()

    def _publish(self) -> None:
        head = self._head
        if head is None or head == self._signed:
            return
        checkpoint = sign(self.signer, self._log, head, self._key_id, self._clock())
        self._signed, self.latest = head, checkpoint
        for loop in self._loops:
            loop.offer(checkpoint)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.policy.interval_s)
            self._publish()

    async def close(self) -> None:
        """Signs the last head, waits (a bounded time) for the witnesses to take it, then stops."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        self._publish()
        waiting = [loop.idle() for loop in self._loops]
        if waiting:
            try:
                async with asyncio.timeout(self.policy.close_timeout_s):
                    await asyncio.gather(*waiting)
            except TimeoutError:
                late = [loop.witness.name for loop in self._loops if not loop.holds_all]
                log.error(
                    "audit checkpoint %d not taken by %s before closing: the log's last records are "
                    "not witnessed",
                    self._signed.seq if self._signed else 0,
                    ", ".join(late),
                )
        for loop in self._loops:
            loop.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop.task
        for witness in self.witnesses:
            with contextlib.suppress(Exception):
                await witness.close()
