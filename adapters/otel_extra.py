"""Whether the ``otel`` extra is installed: the packages :mod:`adapters.otel` imports, looked up
without importing them, so that a configuration asking for tracing is refused with a clear message
when they are missing.
"""

from __future__ import annotations

import importlib.util

# what adapters.otel imports: the SDK and the OTLP/HTTP exporter (the ``otel`` extra)
_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")


def otel_installed() -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in _MODULES)
    except ModuleNotFoundError:  # a parent package is missing
        return False
