"""W3C Trace Context (``traceparent``) for events: taken from the publisher, or started by the bus.

An event carries its trace context as the CloudEvents distributed-tracing extension attribute
``traceparent`` (stored as the ``ce_traceparent`` header, sent to sinks as ``ce-traceparent``
and as the W3C ``traceparent`` header). When a publisher gave none, the bus starts a trace so
that every event has one.

By default the bus records no spans of its own and passes the context on unchanged, as the W3C
recommendation asks of a participant that does not trace. With a :class:`Tracer` (OpenTelemetry
export, off unless configured) it records a span for each publish, each sink call and each
provider call, and passes on its own span as the parent, so a trace shows the bus's steps
between the publisher and the receivers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from router.envelope import CloudEvent
from router.ports import Headers, StoredMessage

ATTRIBUTE = "traceparent"
HEADER = "traceparent"
KAFKA_HEADER = "ce_traceparent"

# version 00: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; lower-case hex only.
# Later versions may append fields after a dash; a receiver reads the first four.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_SAMPLED = "01"


@dataclass(frozen=True, slots=True)
class TraceParent:
    trace_id: str
    parent_id: str
    flags: str

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def parse(value: str | None) -> TraceParent | None:
    """The trace context of a ``traceparent`` value, or None if it is absent or not valid
    (an all-zero trace or parent id, version ``ff``, extra fields on version 00...)."""
    if not value:
        return None
    found = _TRACEPARENT.match(value.strip())
    if found is None:
        return None
    version, trace_id, parent_id, flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return TraceParent(trace_id, parent_id, flags)


# Trace ids must be unique, not secret (W3C Trace Context; OpenTelemetry's generator does the same):
# a seeded Mersenne Twister instead of os.urandom, whose system call per event cost a tenth of
# the Kafka router's CPU.
_ids = random.Random()
_PARENT_BITS = (1 << 64) - 1


def new() -> TraceParent:
    """A new trace, sampled (the bus starts it because the publisher gave none)."""
    value = new_traceparent()
    return TraceParent(value[3:35], value[36:52], _SAMPLED)


def new_traceparent() -> str:
    """:func:`new` as a ``traceparent`` value, built with no object: the router starts one for
    every message a producer on Kafka sent without a trace context."""
    ids = _ids.getrandbits(192)  # the trace id and the parent id from one draw; neither may be all zero
    return f"00-{ids >> 64 or 1:032x}-{ids & _PARENT_BITS or 1:016x}-{_SAMPLED}"


def trace_id(value: str | None) -> str | None:
    found = parse(value)
    return None if found is None else found.trace_id


def stamp(events: Iterable[CloudEvent], request_traceparent: str | None = None) -> None:
    """Gives every event a trace context: its own ``traceparent`` attribute if it has a valid
    one, else the request's (the HTTP ``traceparent`` header), else a new trace per request.

    An invalid ``traceparent`` attribute is replaced, as W3C Trace Context asks of an invalid
    header: tracing must never be the reason an event is refused.
    """
    fallback = parse(request_traceparent)
    started = False
    for event in events:
        own = event.extensions.get(ATTRIBUTE)
        if isinstance(own, str) and parse(own) is not None:
            continue
        if fallback is None:
            fallback = new()
            started = True
        event.extensions[ATTRIBUTE] = str(fallback)
        event.trace_started = started


def of_headers(headers: Headers) -> str | None:
    """The ``traceparent`` of a stored message (Kafka binary mode), if it has a valid one."""
    for name, raw in headers:
        if name == KAFKA_HEADER:
            value = raw.decode("ascii", "replace")
            return value if parse(value) is not None else None
    return None


def log_fields(message: StoredMessage) -> dict[str, str]:
    """The fields a log line about one stored event carries (``extra=`` of a logging call):
    ``event_id``, ``subject``, ``event_type`` and ``trace_id``, as far as the event has them."""
    fields: dict[str, str] = {}
    for name, raw in message.headers:
        if name == "ce_id":
            fields["event_id"] = raw.decode("utf-8", "replace")
        elif name == "ce_subject":
            fields["subject"] = raw.decode("utf-8", "replace")
        elif name == "ce_type":
            fields["event_type"] = raw.decode("utf-8", "replace")
        elif name == KAFKA_HEADER:
            found = trace_id(raw.decode("ascii", "replace"))
            if found is not None:
                fields["trace_id"] = found
    return fields


# --- spans (the port of an optional tracing backend) ---------------------------------------------

SpanKind = Literal["server", "client", "producer", "consumer", "internal"]
MESSAGING_SYSTEM = "lienthong"  # the messaging.system attribute of the bus's spans
AttributeValue = str | int | float | bool


class Span(Protocol):
    """One recorded step of a trace."""

    @property
    def traceparent(self) -> str:
        """The context to pass on to the next hop: this span as its parent."""
        ...

    def fail(self, code: str, summary: str) -> None:
        """Marks the step as failed, with the stable error code and a summary that names no
        subject (:func:`error_summary`)."""
        ...

    def end(self) -> None: ...


class Tracer(Protocol):
    """Where the bus records its spans (an OpenTelemetry exporter, in ``adapters.otel``)."""

    def start(
        self, name: str, kind: SpanKind, parent: str | None, attributes: Mapping[str, AttributeValue]
    ) -> Span:
        """A span started now, a child of ``parent`` (a ``traceparent`` value; a new trace if
        None or not valid)."""
        ...

    async def close(self) -> None:
        """Sends the spans not yet exported and stops."""
        ...


def error_code(error: BaseException) -> str:
    """The stable code of an error for a span: a bus error's own code (``schema_violation``,
    ``provider_unavailable``...), else the exception's type."""
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else type(error).__name__


def error_summary(error: BaseException) -> str:
    """What a span may say of an error: its fixed title (or the HTTP status of a sink's reply),
    never its detail, which quotes identifiers, data and replies (a trace backend is not a place
    for personal data)."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and not isinstance(getattr(error, "title", None), str):
        return f"HTTP {status}"  # a sink's failed call: the receiver's status, not its body
    title = getattr(error, "title", None)
    return title if isinstance(title, str) else type(error).__name__


@contextmanager
def recording(
    tracer: Tracer, name: str, kind: SpanKind, parent: str | None, attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    """A span around a block: failed if the block raises, ended when it leaves."""
    span = tracer.start(name, kind, parent, attributes)
    try:
        yield span
    except BaseException as error:
        span.fail(error_code(error), error_summary(error))
        raise
    finally:
        span.end()


def with_traceparent(headers: Headers, traceparent: str) -> Headers:
    """The headers of a stored message with its ``ce_traceparent`` replaced."""
    return (*(h for h in headers if h[0] != KAFKA_HEADER), (KAFKA_HEADER, traceparent.encode("ascii")))
