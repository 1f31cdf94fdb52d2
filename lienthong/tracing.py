"""Wiring of the optional OpenTelemetry export: the tracer a configuration asks for, if any.

``adapters.otel`` (and the OpenTelemetry SDK) is imported only when the configuration has a
``tracing`` section, so a bus without it neither needs nor loads the packages.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from adapters.version import package_version
from router.tracing import Tracer

if TYPE_CHECKING:  # lienthong.config imports this module (otel_installed)
    from lienthong.config.settings import TracingSettings

# what adapters.otel imports: the SDK and the OTLP/HTTP exporter (the ``otel`` extra)
_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")


def otel_installed() -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in _MODULES)
    except ModuleNotFoundError:  # a parent package is missing
        return False


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
