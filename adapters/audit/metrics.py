"""The audit store's metrics: records written, and writes that failed (each one withheld data)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self._records = Counter(
            "lienthong_audit_records",
            "Access records written durably to the audit log",
            registry=registry,
        )
        self._failures = Counter(
            "lienthong_audit_write_failures",
            "Calls to write access records that failed (the data they covered was withheld)",
            registry=registry,
        )

    def written(self, records: int) -> None:
        self._records.inc(records)

    def failed(self) -> None:
        self._failures.inc()
