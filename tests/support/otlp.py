"""A real OTLP/HTTP trace collector for tests: the webhook test receiver on ``/v1/traces``, and the
spans of what it got, decoded with OpenTelemetry's own protobuf definitions.

    with Receiver(OTLP_PATH) as collector:
        ...                                   # a bus with tracing.otlp_endpoint = collector.url
        found = await wait_for_spans(collector, lambda s: s.name == "publish dossier.submitted")
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from router import tracing
from tests.support.receiver import Receiver

OTLP_PATH = "/v1/traces"


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    kind: str  # "server", "client", "producer", "consumer", "internal"
    trace_id: str  # lower-case hex, as in traceparent
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: Mapping[str, Any]
    status: str  # "unset", "ok", "error"
    status_message: str
    service_name: str

    def is_parent_in(self, traceparent: str | None) -> bool:
        """Whether a ``traceparent`` names this span as the parent (in its trace)."""
        found = tracing.parse(traceparent)
        return found is not None and (found.trace_id, found.parent_id) == (self.trace_id, self.span_id)


def spans(collector: Receiver) -> list[ExportedSpan]:
    """Every span the collector has received, in the order exported."""
    found: list[ExportedSpan] = []
    for request in list(collector.received):
        assert request.headers.get("content-type") == "application/x-protobuf", request.headers
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                found.extend(_span(span, str(service)) for span in scope_spans.spans)
    return found


async def wait_for_spans(
    collector: Receiver, predicate: Callable[[ExportedSpan], bool], count: int = 1, timeout: float = 15.0
) -> list[ExportedSpan]:
    """The spans matching ``predicate``, once there are at least ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        matching = [span for span in spans(collector) if predicate(span)]
        if len(matching) >= count:
            return matching
        if time.monotonic() > deadline:
            names = sorted({span.name for span in spans(collector)})
            raise TimeoutError(f"{len(matching)} of {count} spans matched; the collector has {names}")
        await asyncio.sleep(0.05)


def _span(span: Span, service: str) -> ExportedSpan:
    return ExportedSpan(
        name=span.name,
        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower(),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        attributes=_attributes(span.attributes),
        status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_").lower(),
        status_message=span.status.message,
        service_name=service,
    )


def _attributes(values: Any) -> dict[str, Any]:
    return {value.key: _value(value) for value in values}


def _value(pair: KeyValue) -> Any:
    value: AnyValue = pair.value
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)
