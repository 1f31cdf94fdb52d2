"""Delivery of one subscription's queue to its sink: in order per partition, with retries, a
circuit breaker and dead letters.

The caller (the consume loop) hands :meth:`SubscriptionDelivery.handle` the messages it fetched,
grouped by partition, and commits their offsets once it returns. ``handle`` therefore returns only
when every message is either delivered or durably dead-lettered; anything else (the dead-letter
store failing, a stop, a cancellation) raises, nothing is committed and the messages come again.

Within a partition, messages go out strictly in order (a subject lives in one partition, so this
is order per subject); partitions proceed concurrently. Each sink call has its own budget:

- attempts: ``RetryPolicy.max_attempts`` calls that reached the sink;
- time: no attempt starts later than ``max_elapsed_s`` after the first one;
- back-off: full jitter between 0 and ``initial * 2**n`` capped at ``max_backoff_s``, or exactly
  what the sink asked for (``Retry-After``), which is never shortened: if it points past the
  deadline the call gives up at once instead of knocking early.

While the sink's circuit is open, calls wait for it (burning no attempts) within the same time
budget. When the circuit would stay open past a call's deadline, the call waits until the deadline
and then takes a last chance: the circuit half-opens early for it and it makes the probe
(:meth:`router.breaker.CircuitBreaker.acquire_last_chance`). If another call's probe is in flight
at that moment, it waits for that probe's outcome instead (at most ``max_backoff_s``) and goes on
if the circuit closed. A call gets one last chance, never more: it is the one attempt that may
start after the deadline. So a sink that is down for longer than the breaker's pause, but
shorter than the retry budget, loses no event.

A call that fails for good dead-letters its events; a batch the sink *rejected* is retried
event by event so that only the culprit is dead-lettered. A batch that ran out of budget is
dead-lettered whole: the sink was failing throughout (unavailable, overloaded), which says nothing
about any one event, and re-sending each event alone would multiply the outage by the batch size.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from router import tracing
from router.breaker import CircuitBreaker, Permit
from router.metrics import CircuitState, Metrics, NoMetrics
from router.ports import DeadLetterQuery, DeadLetterStore, NewDeadLetter, StoredMessage
from router.recipients import addressed_to
from router.sinks import Sink, SinkError
from router.subscriptions import OnDeadLetter, RetryPolicy, Subscription

log = logging.getLogger("lienthong.delivery")

RETRIES_EXHAUSTED = "retries_exhausted"
REJECTED_BY_SINK = "rejected_by_sink"
HELD_SUBJECT = "held_subject"

# A header the bus puts on the copies of replayed dead letters (its value names the replay, one
# value per replay request). A replayed copy releases the hold on its subject by itself, in queue
# order, which needs no out-of-band signal that could arrive too early or too late. The name has
# no ``ce_`` prefix, so sinks never see it.
REPLAY_HEADER = "lienthong_replay"

# Dead letters read per query when loading the holds at start.
_PAGE = 1000
# Dead-lettered events logged one by one per call; the rest in one line.
_LOGGED_PER_CALL = 100

HELD_DETAIL = "an earlier event of the subject is a dead letter (on_dead_letter: hold_subject)"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class DeliveryStopped(Exception):
    """The delivery was closed while it had work in hand; that work is not committed and is
    delivered again later (by this process after a restart, or by another group member)."""


def event_id(message: StoredMessage) -> str:
    """The CloudEvents id of a message, or its queue position if it somehow has none."""
    raw = message.header("ce_id")
    if raw:
        return raw.decode("utf-8", "replace")
    return f"{message.topic}/{message.partition}/{message.offset}"


def idempotency_key(messages: Sequence[StoredMessage]) -> str:
    """The event id for one event; for a batch, a digest of its ids in order (same batch, same key)."""
    if len(messages) == 1:
        return event_id(messages[0])
    digest = hashlib.sha256("\n".join(event_id(m) for m in messages).encode()).hexdigest()
    return f"batch-{digest}"


class _CircuitGaveUp(SinkError):
    """The circuit stayed open for the whole time budget of a call and refused its last chance."""


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    attempts: int
    error: SinkError


class _Budget:
    """The retry budget of one sink call, as tenacity ``stop`` and ``wait`` strategies.

    tenacity's own ``stop_after_delay`` reads ``time.monotonic`` itself and counts every try;
    this one reads the delivery's clock (tests run on fake time), counts only the calls that
    reached the sink, and never plans a sleep that ends past the deadline.
    """

    __slots__ = ("_clock", "_jitter", "_policy", "calls", "deadline", "last_chance_taken")

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        # made on the first wait: most calls go through at their first attempt and never wait
        self._jitter: wait_random_exponential | None = None
        self.deadline = clock() + policy.max_elapsed_s
        self.calls = 0
        # The call's one try after its deadline while the circuit refused it (see the module doc)
        self.last_chance_taken = False

    def left(self) -> float:
        return self.deadline - self._clock()

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, SinkError) and error.retry_after_s is not None:
            return max(0.0, error.retry_after_s)
        if self._jitter is None:
            policy = self._policy
            self._jitter = wait_random_exponential(
                multiplier=policy.initial_backoff_s, max=policy.max_backoff_s
            )
        return max(0.0, min(self._jitter(state), self.left()))

    def stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome is not None else None
        left = self.left()
        return (
            isinstance(error, _CircuitGaveUp)
            or self.calls >= self._policy.max_attempts
            or left <= 0
            or state.upcoming_sleep > left
        )


def _retryable(error: BaseException) -> bool:
    return isinstance(error, SinkError) and error.retryable


class SubscriptionDelivery:
    """Delivers the messages of one subscription's delivery queue to its sink.

    Owns the sink it is given (:meth:`close` closes it) and the sink's circuit breaker.
    """

    def __init__(
        self,
        subscription: Subscription,
        sink: Sink,
        dead_letters: DeadLetterStore,
        metrics: Metrics | None = None,
        *,
        max_concurrency: int = 16,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if subscription.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.subscription = subscription
        self._name = subscription.name
        self._sink = sink
        self._store = dead_letters
        self._metrics: Metrics = metrics if metrics is not None else NoMetrics()
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(max_concurrency)
        self._hold = subscription.on_dead_letter is OnDeadLetter.HOLD_SUBJECT
        # held subject -> the replay that caused the hold (None when not caused by a replayed copy)
        self._held: dict[str, str | None] = {}
        # partitions this delivery has handled a batch of: a partition first seen after the start
        # may come from another process (a rebalance), whose holds are read again from the store
        self._partitions_seen: set[int] = set()
        self._started = False
        self._stopping = asyncio.Event()
        # Set by drain(): calls in flight finish, but no back-off or circuit wait starts or goes on
        self._draining = asyncio.Event()
        # Set (and replaced) whenever a call reports to the breaker: wakes callers waiting for the
        # outcome of a half-open probe.
        self._breaker_moved = asyncio.Event()
        self._last_error: SinkError | None = None
        self._breaker = CircuitBreaker(subscription.breaker, clock=clock, on_change=self._circuit_changed)

    # --- what the bus reads and tells (router.bus.DeliveryState) ----------------------------------

    @property
    def circuit_state(self) -> str:
        """``closed``, ``half_open`` or ``open``."""
        return self._breaker.state.name.lower()

    @property
    def held_subjects(self) -> frozenset[str]:
        return frozenset(self._held)

    def release(self, subjects: Sequence[str]) -> None:
        """Forgets held subjects whose dead letters were purged through this process (a purge
        through another one reaches this delivery through the store: :meth:`_lift_purged_holds`)."""
        for subject in subjects:
            self._held.pop(subject, None)

    # --- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Loads the subjects on hold and reports the starting metrics (``handle`` does it if needed)."""
        if self._started:
            return
        if self._hold:
            await self._load_holds()
        self._metrics.dead_letters(self._name, await self._store.count(self._name))
        self._metrics.circuit(self._name, self._breaker.state)
        self._started = True

    async def _holds_of_new_partitions(
        self, partition_batches: Mapping[int, Sequence[StoredMessage]]
    ) -> None:
        """A partition handled for the first time after the first batch was another process's
        until a rebalance: the subjects it held (in a dead-letter store the processes share) are
        read again before its messages go out. The partitions of the first batch need no reading:
        :meth:`start` has just read them."""
        fresh = {
            partition for partition, messages in partition_batches.items() if messages
        } - self._partitions_seen
        if not fresh:
            return
        if self._partitions_seen:
            await self._load_holds()
        self._partitions_seen |= fresh

    async def _load_holds(self) -> None:
        subjects = await self._store.held_subjects(self._name)
        if not subjects:
            return
        # A hold caused by a replayed copy must survive a restart as such, or the next copy of
        # the same replay would lift it and overtake the copy that failed: read the causes back
        # from the letters' own messages.
        causes: dict[str, str] = {}
        after = 0
        while True:
            page = await self._store.list(
                DeadLetterQuery(subscription=self._name, after_id=after, limit=_PAGE)
            )
            for letter in page:
                replay = _replay_of(letter.message)
                if replay is not None:
                    causes.setdefault(letter.subject, replay)
            if len(page) < _PAGE:
                break
            after = page[-1].id
        for subject in subjects:
            self._held.setdefault(subject, causes.get(subject))

    async def _lift_purged_holds(self, messages: Sequence[StoredMessage]) -> None:
        """A hold ends when its subject's letters are replayed (the copies lift it, in queue
        order) or purged. A purge is made through any process of the bus, which need not be the
        one holding the subject: before events of held subjects are held again, the store says
        which of those subjects a purge released since (:meth:`DeadLetterStore.purged_holds`).
        Holds only matter when an event of their subject comes, so that is when they are asked
        about, once per partition batch, and never when no event of a held subject comes."""
        subjects = {message.key for message in messages if message.key in self._held}
        if not subjects:
            return
        for subject in await self._store.purged_holds(self._name, sorted(subjects)):
            log.info("%s: subject %s released: its dead letters were purged", self._name, subject)
            self._held.pop(subject, None)

    def drain(self) -> None:
        """The first step of a shutdown: sink calls in flight (and the rest of a batch going
        through) carry on, so a healthy sink's batch is finished and committed; but a call that
        would wait (back-off after a failure, an open circuit) ends at once with
        :class:`DeliveryStopped` instead, so a sink that is down does not hold the shutdown up.
        Its events are not committed and are delivered again at the next start."""
        self._draining.set()

    def stop(self) -> None:
        """Makes work in hand end soon: back-off and circuit waits end, no new call starts,
        nothing more is dead-lettered; ``handle`` raises :class:`DeliveryStopped`."""
        self._draining.set()
        self._stopping.set()

    async def close(self) -> None:
        self.stop()
        await self._sink.close()

    # --- delivering ------------------------------------------------------------------------------

    async def handle(self, partition_batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        """Delivers or dead-letters every message given; raises if that could not be done."""
        self._check_running()
        await self.start()
        if self._hold:
            await self._holds_of_new_partitions(partition_batches)
        batches = [messages for messages in partition_batches.values() if messages]
        if len(batches) == 1:
            await self._partition(batches[0])
            return
        try:
            async with asyncio.TaskGroup() as group:
                for messages in batches:
                    group.create_task(self._bounded(messages))
        except BaseExceptionGroup as failed:
            # The task group cancelled the other partitions; report the first real cause.
            raise failed.exceptions[0] from failed

    async def _bounded(self, messages: Sequence[StoredMessage]) -> None:
        async with self._slots:
            await self._partition(messages)

    async def _partition(self, messages: Sequence[StoredMessage]) -> None:
        """One partition's messages, strictly in order, in sink calls of up to ``batch_size``.

        Chunks are cut one at a time, after the previous one finished, so that a subject put on
        hold by one chunk holds its later events in the next.
        """
        messages = addressed_to(self.subscription, messages)
        if self._held:
            await self._lift_purged_holds(messages)
        position = 0
        while position < len(messages):
            chunk: list[StoredMessage] = []
            held: list[StoredMessage] = []
            while position < len(messages) and len(chunk) < self.subscription.batch_size:
                message = messages[position]
                position += 1
                (held if self._is_held(message) else chunk).append(message)
            if held:
                await self._dead_letter(held, HELD_SUBJECT, 0, HELD_DETAIL)
            if chunk:
                await self._deliver(chunk)

    async def _deliver(self, chunk: Sequence[StoredMessage]) -> None:
        failure = await self._send(chunk)
        if failure is None:
            self._metrics.delivered(self._name, "delivered", self._latencies(chunk))
            return
        if len(chunk) > 1 and failure.reason == REJECTED_BY_SINK:
            log.info(
                "%s: the sink rejected a batch of %d; sending its events one by one", self._name, len(chunk)
            )
            for message in chunk:
                if self._is_held(message):
                    await self._dead_letter([message], HELD_SUBJECT, 0, HELD_DETAIL)
                else:
                    await self._deliver([message])
            return
        await self._dead_letter(chunk, failure.reason, failure.attempts, failure.error.detail)

    async def _send(self, chunk: Sequence[StoredMessage]) -> _Failure | None:
        """One sink call with its retries; the failure if it did not go through.

        The first attempt is made directly: a healthy sink takes it, and the retry machinery
        (a tenacity loop, its state and strategies) is only built for a call that failed.
        """
        budget = _Budget(self.subscription.retry, self._clock)
        key = idempotency_key(chunk)
        try:
            await self._attempt(chunk, key, budget)
        except SinkError as error:
            if not error.retryable:
                return _Failure(REJECTED_BY_SINK, budget.calls, error)
            return await self._retry(chunk, key, budget, error)
        return None

    async def _retry(
        self, chunk: Sequence[StoredMessage], key: str, budget: _Budget, first: SinkError
    ) -> _Failure | None:
        """The retries of a call whose first attempt failed with ``first`` (retryable): tenacity
        sees that failure as its own first attempt, so its stop, wait and attempt numbers are
        those of the whole call."""
        replayed = False

        async def attempt() -> None:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first
            await self._attempt(chunk, key, budget)

        retrying = AsyncRetrying(
            sleep=self._pause,
            stop=budget.stop,
            wait=budget.wait,
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            await retrying(attempt)
        except SinkError as error:
            reason = RETRIES_EXHAUSTED if error.retryable else REJECTED_BY_SINK
            return _Failure(reason, budget.calls, error)
        return None

    async def _attempt(self, chunk: Sequence[StoredMessage], key: str, budget: _Budget) -> None:
        permit = await self._permit(budget)
        budget.calls += 1
        try:
            await self._sink.send(chunk, key)
        except SinkError as error:
            self._last_error = error
            # A sink that answered (a refusal, or a retry asked for by a healthy sink) is up: the
            # circuit has no reason to open.
            if error.retryable and not error.sink_healthy:
                self._breaker.failure(permit)
            else:
                self._breaker.success(permit)
            self._metrics.delivery_attempt(
                self._name, "retryable_error" if error.retryable else "permanent_error"
            )
            raise
        except Exception as error:
            # A sink must raise SinkError only; anything else is a bug in the adapter. Treated as a
            # retryable failure so the events end up as (replayable) dead letters, not stuck forever.
            log.exception("%s: the sink raised %s instead of SinkError", self._name, type(error).__name__)
            self._breaker.failure(permit)
            self._metrics.delivery_attempt(self._name, "retryable_error")
            self._last_error = SinkError(f"{type(error).__name__}: {error}", retryable=True)
            raise self._last_error from error
        except BaseException:
            self._breaker.release(permit)
            raise
        else:
            self._breaker.success(permit)
            self._metrics.delivery_attempt(self._name, "ok")
        finally:
            self._breaker_moved.set()
            self._breaker_moved = asyncio.Event()

    async def _permit(self, budget: _Budget) -> Permit:
        """A breaker permit, waiting while the circuit is open, within the call's time budget and
        its last chance (see the module doc)."""
        reported = False
        while True:
            self._check_running()
            permit = self._breaker.acquire()
            if permit is not None:
                return permit
            if not reported:
                self._metrics.delivery_attempt(self._name, "circuit_open")
                reported = True
            left = budget.left()
            if left <= 0:
                return await self._last_chance(budget)
            retry_in = self._breaker.retry_in()
            # Until the pause ends (None: a probe is in flight), a call's outcome, or the deadline,
            # whichever comes first: a circuit closed by another call lets this one go at once.
            await self._breaker_wait(left if retry_in is None else min(retry_in, left))

    async def _last_chance(self, budget: _Budget) -> Permit:
        """The call's deadline has come with the circuit refusing it: its one probe, or the outcome
        of the probe in flight (waited for at most ``max_backoff_s``) if that closes the circuit."""
        if budget.last_chance_taken:
            raise self._gave_up()
        budget.last_chance_taken = True
        permit = self._breaker.acquire_last_chance()
        if permit is not None:
            return permit
        until = self._clock() + self.subscription.retry.max_backoff_s
        while self._breaker.retry_in() is None and (left := until - self._clock()) > 0:
            await self._breaker_wait(left)
            self._check_running()
        permit = self._breaker.acquire()
        if permit is None:
            raise self._gave_up()
        return permit

    def _gave_up(self) -> _CircuitGaveUp:
        last = f" (last error: {self._last_error.detail})" if self._last_error else ""
        return _CircuitGaveUp(f"the sink's circuit is open{last}", retryable=True)

    async def _dead_letter(
        self, messages: Sequence[StoredMessage], reason: str, attempts: int, last_error: str
    ) -> None:
        # A stopping delivery dead-letters nothing: its failures may be the stop's own doing
        # (a closed sink), and what is not finished is simply delivered again later.
        self._check_running()
        letters = [
            NewDeadLetter(
                subscription=self._name,
                event_id=event_id(message),
                subject=message.key,
                reason=reason,
                attempts=attempts,
                last_error=last_error,
                message=message,
            )
            for message in messages
        ]
        await self._store.add(letters)
        if self._hold:
            for message in messages:
                self._held.setdefault(message.key, _replay_of(message))
        # one line per event, carrying its id, subject, type and trace id (bounded per call)
        for message in messages[:_LOGGED_PER_CALL]:
            log.warning(
                "%s: event dead-lettered (%s after %d attempt(s)): %s",
                self._name,
                reason,
                attempts,
                last_error,
                extra={**tracing.log_fields(message), "subscription": self._name},
            )
        if len(messages) > _LOGGED_PER_CALL:
            log.warning(
                "%s: %d more event(s) dead-lettered (%s)",
                self._name,
                len(messages) - _LOGGED_PER_CALL,
                reason,
                extra={"subscription": self._name},
            )
        # the gauge first: once the outcome is counted, the dead-letter count already shows it
        self._metrics.dead_letters(self._name, await self._store.count(self._name))
        self._metrics.delivered(self._name, "dead_lettered", self._latencies(messages))

    # --- helpers ---------------------------------------------------------------------------------

    def _is_held(self, message: StoredMessage) -> bool:
        if not self._hold or message.key not in self._held:
            return False
        replay = _replay_of(message)
        # A replayed copy lifts a hold that an earlier failure caused, but not one caused by
        # another copy of the same replay: that copy failed again, and order must still hold.
        if replay is not None and self._held[message.key] != replay:
            del self._held[message.key]
            return False
        return True

    def _latencies(self, messages: Sequence[StoredMessage]) -> list[float]:
        now = self._wall_clock()
        return [max(0.0, now - m.timestamp_ms / 1000) for m in messages]

    def _circuit_changed(self, state: CircuitState) -> None:
        log.info("%s: circuit %s", self._name, state.name.lower())
        self._metrics.circuit(self._name, state)

    def _check_running(self) -> None:
        if self._stopping.is_set():
            raise DeliveryStopped(f"the delivery of '{self._name}' is stopping")

    async def _pause(self, seconds: float) -> None:
        """Sleeps (on the injected sleep), ended early by a stop."""
        await self._until(self._sleep(seconds))

    async def _breaker_wait(self, seconds: float) -> None:
        """Sleeps (on the injected sleep), ended early by a stop or by any call reporting to the
        breaker (a probe's outcome among them)."""
        await self._until(self._sleep(seconds), self._breaker_moved.wait())

    async def _until(self, *awaitables: Awaitable[Any]) -> None:
        """Awaits the first of ``awaitables`` to finish; a drain or a stop raises DeliveryStopped
        (a wait is the one thing a draining delivery does not do)."""
        work = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
        if self._draining.is_set():
            for task in work:
                task.cancel()
            self._check_draining()
        stop = asyncio.ensure_future(self._draining.wait())
        try:
            await asyncio.wait((*work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*work, stop):
                task.cancel()
        self._check_draining()

    def _check_draining(self) -> None:
        if self._draining.is_set():
            raise DeliveryStopped(f"the delivery of '{self._name}' is stopping (no more waits)")


def _replay_of(message: StoredMessage) -> str | None:
    raw = message.header(REPLAY_HEADER)
    return None if raw is None else raw.decode("utf-8", "replace")
