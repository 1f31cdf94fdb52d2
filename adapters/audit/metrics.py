"""The audit store's metrics: records written, writes that failed (each one withheld data), and
the checkpoints its witnesses took or failed to take."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        self._head = Gauge(
            "lienthong_audit_head_seq",
            "The number of the audit log's newest record",
            registry=registry,
        )
        self._taken = Counter(
            "lienthong_audit_checkpoints",
            "Signed checkpoints of the audit log's head taken by a witness",
            ["witness"],
            registry=registry,
        )
        self._checkpoint_failures = Counter(
            "lienthong_audit_checkpoint_failures",
            "Attempts to hand a checkpoint to a witness that failed (each is retried)",
            ["witness"],
            registry=registry,
        )
        self._witnessed = Gauge(
            "lienthong_audit_checkpoint_witnessed_seq",
            "The record number of the newest checkpoint a witness took",
            ["witness"],
            registry=registry,
        )

    def written(self, records: int) -> None:
        self._records.inc(records)

    def failed(self) -> None:
        self._failures.inc()

    def head(self, seq: int) -> None:
        self._head.set(seq)

    def checkpoint_taken(self, witness: str, seq: int) -> None:
        self._taken.labels(witness).inc()
        self._witnessed.labels(witness).set(seq)

    def checkpoint_failed(self, witness: str) -> None:
        self._checkpoint_failures.labels(witness).inc()
