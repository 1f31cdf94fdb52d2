"""The tracing port on OpenTelemetry: spans exported over OTLP/HTTP (protobuf) to a collector.

Optional: the packages come with the ``otel`` extra (``pip install 'lienthong[otel]'``), and the
bus only imports this module when the configuration has a ``tracing`` section. Spans are batched
and sent from the SDK's own thread, so the event loop never waits for the collector; a collector
that is down loses spans (the SDK logs it), never events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from router import tracing
from router.tracing import AttributeValue, SpanKind

_KINDS: Mapping[SpanKind, trace.SpanKind] = {
    "server": trace.SpanKind.SERVER,
    "client": trace.SpanKind.CLIENT,
    "producer": trace.SpanKind.PRODUCER,
    "consumer": trace.SpanKind.CONSUMER,
    "internal": trace.SpanKind.INTERNAL,
}


class OtelSpan:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    @property
    def traceparent(self) -> str:
        context = self._span.get_span_context()
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"

    def fail(self, code: str, summary: str) -> None:
        self._span.set_attribute("error.type", code)
        self._span.set_status(Status(StatusCode.ERROR, summary))

    def end(self) -> None:
        self._span.end()


class OtlpTracer:
    """Spans of one bus process, as the OpenTelemetry service ``service_name``."""

    def __init__(
        self,
        endpoint: str,
        *,
        service_name: str,
        sample_ratio: float = 1.0,
        export_interval_s: float = 5.0,
        export_timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        version: str = "",
    ) -> None:
        resource = Resource.create({"service.name": service_name, "service.version": version})
        # A sampled parent (the publisher traces this call) is always followed; new traces are
        # kept in the configured ratio.
        self._provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio))
        )
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=export_timeout_s, headers=dict(headers or {}))
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=int(export_interval_s * 1000))
        )
        self._tracer = self._provider.get_tracer("lienthong", version)

    def start(
        self, name: str, kind: SpanKind, parent: str | None, attributes: Mapping[str, AttributeValue]
    ) -> OtelSpan:
        span = self._tracer.start_span(
            name, context=_context(parent), kind=_KINDS[kind], attributes=attributes
        )
        return OtelSpan(span)

    async def close(self) -> None:
        # flushes what is batched; the exporter's HTTP calls block, so not on the event loop
        await asyncio.to_thread(self._provider.shutdown)


def _context(traceparent: str | None) -> Context:
    """The OpenTelemetry context whose current span is the remote parent ``traceparent``, or an
    empty one (a new trace)."""
    parent = tracing.parse(traceparent)
    if parent is None:
        return Context()
    remote = SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.parent_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parent.flags, 16)),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(remote))
