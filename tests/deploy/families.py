"""Metric families of the bus and the PromQL that references them."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

# Every family the bus exposes or is being given (adapters/metrics.py, the evidence broker, the
# audit store, the portal connector), as prometheus_client names them: counters without ``_total``.
KNOWN: dict[str, str] = {
    "lienthong_events_received": "counter",
    "lienthong_events_rejected": "counter",
    "lienthong_events_routed": "counter",
    "lienthong_delivery_attempts": "counter",
    "lienthong_deliveries": "counter",
    "lienthong_delivery_latency_seconds": "histogram",
    "lienthong_dead_letters": "gauge",
    "lienthong_subscription_lag": "gauge",
    "lienthong_sink_circuit_state": "gauge",
    "lienthong_evidence_requests": "counter",
    "lienthong_evidence_provider_latency_seconds": "histogram",
    "lienthong_evidence_cache": "counter",
    "lienthong_evidence_fields": "counter",
    "lienthong_audit_records": "counter",
    "lienthong_audit_write_failures": "counter",
    "lienthong_audit_head_seq": "gauge",
    "lienthong_audit_checkpoints": "counter",
    "lienthong_audit_checkpoint_failures": "counter",
    "lienthong_audit_checkpoint_witnessed_seq": "gauge",
    "lienthong_portal_sync_lag_seconds": "histogram",
    "lienthong_portal_unsynced_dossiers": "gauge",
    "lienthong_portal_calls": "counter",
    "lienthong_portal_held_transitions": "counter",
    # the portal connector's figures (connectors/portal/metrics.py)
    "lienthong_portal_oldest_unsynced_seconds": "gauge",
    "lienthong_portal_reconciled_dossiers": "counter",
    "lienthong_portal_dossiers": "gauge",
    "lienthong_portal_online_submission_ratio": "gauge",
    "lienthong_portal_online_processing_ratio": "gauge",
    "lienthong_portal_on_time_ratio": "gauge",
    "lienthong_portal_scorecard_received": "gauge",
    "lienthong_portal_scorecard_finished": "gauge",
    "lienthong_portal_scorecard_on_time_ratio": "gauge",
    "lienthong_portal_scorecard_online_submission_ratio": "gauge",
    "lienthong_portal_scorecard_online_services_ratio": "gauge",
    "lienthong_portal_catalogue_procedures": "gauge",
    "lienthong_portal_catalogue_syncs": "counter",
    "lienthong_portal_unusual_moves": "counter",
    "lienthong_portal_releases": "counter",
    "lienthong_portal_truncated_texts": "counter",
    "lienthong_portal_unknown_databases": "counter",
    # limits per caller (adapters/http/rate_limit.py, adapters/caller_metrics.py)
    "lienthong_failed_authentications": "counter",
    "lienthong_rate_limited": "counter",
    "lienthong_caller_distinct_subjects": "gauge",
}

_CREATED_BY = {"counter", "histogram", "summary"}
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def sample_names(family: str, kind: str) -> set[str]:
    """The names a query can use for a family's samples (``lienthong_deliveries_total``...)."""
    return {family + suffix for suffix in _SUFFIXES.get(kind, ("",))}


def exposed(metrics_text: str, prefix: str = "lienthong_") -> dict[str, str]:
    """The families (name -> type) of a /metrics body, those without samples included.

    prometheus_client adds an ``X_created`` gauge (a creation time) to each counter and histogram
    ``X``: an artefact of the client library, not a family of its own, so it is left out."""
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(metrics_text)
        if family.name.startswith(prefix)
    }
    return {
        name: kind
        for name, kind in families.items()
        if not (name.endswith("_created") and families.get(name.removesuffix("_created")) in _CREATED_BY)
    }


def referenced(expr: str) -> set[str]:
    """The lienthong metric names a PromQL expression selects."""
    return set(re.findall(r"\blienthong_[a-z0-9_]+", expr))
