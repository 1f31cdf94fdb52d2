"""Sinks and data providers whose calls are recorded as spans (when tracing is on).

Each wraps the port it implements and changes nothing but the trace context it passes on: the
receiver or the registry sees the bus's span as the parent of its own work. Span attributes name
datasets, providers, subscriptions and event ids, never a subject's identifiers: a trace backend
is not a place for personal data (the audit log is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from router import tracing
from router.ports import StoredMessage
from router.providers import DataProvider, DataRequest, circuit_state_of
from router.sinks import Sink
from router.tracing import AttributeValue, Tracer


class TracedSink:
    """A subscription's sink; each call (each attempt) is a ``send <subscription>`` span."""

    def __init__(self, sink: Sink, tracer: Tracer, subscription: str) -> None:
        self._sink = sink
        self._tracer = tracer
        self._subscription = subscription

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        parent = tracing.of_headers(messages[0].headers)
        attributes: dict[str, AttributeValue] = {
            "messaging.system": tracing.MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": self._subscription,
            "messaging.batch.message_count": len(messages),
        }
        if len(messages) == 1:
            event_id = messages[0].header("ce_id")
            if event_id is not None:
                attributes["messaging.message.id"] = event_id.decode("utf-8", "replace")
        with tracing.recording(
            self._tracer, f"send {self._subscription}", "producer", parent, attributes
        ) as span:
            await self._sink.send(_reparented(messages, span.traceparent), idempotency_key)

    async def close(self) -> None:
        await self._sink.close()


def _reparented(messages: Sequence[StoredMessage], traceparent: str) -> list[StoredMessage]:
    """The messages with the span as their parent, for those of the span's own trace: events of
    other traces in the same batch keep their context rather than join a trace not theirs."""
    trace_id = tracing.trace_id(traceparent)
    return [
        replace(message, headers=tracing.with_traceparent(message.headers, traceparent))
        if tracing.trace_id(tracing.of_headers(message.headers)) == trace_id
        else message
        for message in messages
    ]


class TracedProvider:
    """A data provider; each lookup (with its retries) is a ``fetch <dataset>`` span."""

    def __init__(self, provider: DataProvider, tracer: Tracer) -> None:
        self._provider = provider
        self._tracer = tracer

    @property
    def name(self) -> str:
        return self._provider.name

    @property
    def datasets(self) -> frozenset[str]:
        return self._provider.datasets

    @property
    def circuit_state(self) -> str:
        return circuit_state_of(self._provider)

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        context = request.context
        attributes: dict[str, AttributeValue] = {
            "lienthong.dataset": request.dataset,
            "lienthong.provider": self._provider.name,
        }
        if context.procedure:
            attributes["lienthong.procedure"] = context.procedure
        with tracing.recording(
            self._tracer, f"fetch {request.dataset}", "client", context.traceparent, attributes
        ) as span:
            traced = replace(request, context=replace(context, traceparent=span.traceparent))
            return await self._provider.fetch(traced)

    async def aclose(self) -> None:
        await self._provider.aclose()
