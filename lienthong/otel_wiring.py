"""Wiring of the optional OpenTelemetry export: the tracer a configuration asks for, if any.

``adapters.otel`` (and the OpenTelemetry SDK) is imported only when the configuration has a
``tracing`` section, so a bus without it neither needs nor loads the packages.
"""

from __future__ import annotations

from adapters.version import package_version
from lienthong.config.settings import TracingSettings
from router.tracing import Tracer


def tracer_of(settings: TracingSettings | None) -> Tracer | None:
    """The tracer of a ``tracing`` section; None (no spans) without one."""
    if settings is None:
        return None
    from adapters.otel import OtlpTracer  # noqa: PLC0415 (optional packages, imported when used)

    return OtlpTracer(
        settings.otlp_endpoint,
        service_name=settings.service_name,
        sample_ratio=settings.sample_ratio,
        export_interval_s=settings.export_interval_s,
        export_timeout_s=settings.export_timeout_s,
        version=package_version(default=""),
    )
