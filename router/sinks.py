"""The sink port: where a subscription's events leave the bus.

A sink receives messages in Kafka binary mode (see :mod:`router.envelope`): one message is a single
event, several are a batch. It either takes them all or raises :class:`SinkError`, which says
whether trying again later may help. Delivery (retries, circuit breaker, dead letters) is the
caller's business, so a sink makes exactly one attempt per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from router.ports import StoredMessage
from router.subscriptions import SinkSpec


class SinkError(Exception):
    """A sink call failed.

    ``retryable`` is the sink's judgement: the receiver was unavailable, overloaded or slow (try
    again later) versus it understood the call and refused it (trying again gives the same answer).
    ``retry_after_s`` is the receiver's own request for a pause (HTTP ``Retry-After``), if any.
    ``sink_healthy``: the sink itself works and asks for a retry because of something behind it
    (the evidence collector, when a provider it pulls from is down): the failure does not count
    toward opening the sink's circuit, which would hold up every other event of the subscription.
    """

    def __init__(
        self,
        detail: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        sink_healthy: bool = False,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.sink_healthy = sink_healthy

    @property
    def code(self) -> str:
        """A stable code for what happened, as traces record it."""
        return "sink_unavailable" if self.retryable else "sink_rejected"

    def __repr__(self) -> str:
        return (
            f"SinkError({self.detail!r}, retryable={self.retryable}, status={self.status}, "
            f"retry_after_s={self.retry_after_s})"
        )


class Sink(Protocol):
    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        """Delivers the messages in one call (one event, or a batch when there are several).

        ``idempotency_key`` is the same on every attempt of the same call, so a receiver that
        honours it sees a retried call once. Raises :class:`SinkError` on failure, nothing else.
        """
        ...

    async def close(self) -> None:
        """Releases what the sink holds of its own (not resources shared with other sinks)."""
        ...


class SinkFactory(Protocol):
    """Builds the sink a subscription's :class:`SinkSpec` describes (one factory per ``kind``).

    Raises :class:`router.errors.ConfigError` when the options make no sense for the kind.
    """

    def __call__(self, spec: SinkSpec) -> Sink: ...
