"""The evidence broker's metrics (:class:`router.evidence.metrics.EvidenceMetrics`) on
prometheus-client. Names are fixed: dashboards and alerts use them.

- ``lienthong_evidence_requests_total{dataset,provider,outcome}``: queries, by outcome
  (``released`` or the error code);
- ``lienthong_evidence_provider_latency_seconds{provider}``: provider calls (cache misses);
- ``lienthong_evidence_cache_total{dataset,result}``: cache lookups, ``hit`` or ``miss``;
- ``lienthong_evidence_fields_total{procedure,how}``: fields of collected dossiers, filled by the
  bus (``auto``) or left for the applicant (``asked``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from adapters.metrics import _Cached

# Registry lookups: from a millisecond (a cache-warm local registry) to the longest deadline.
PROVIDER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusEvidenceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = _Cached(
            Counter(
                "lienthong_evidence_requests",
                "Evidence queries answered, by dataset, provider and outcome (released, or the error code).",
                ["dataset", "provider", "outcome"],
                registry=registry,
            )
        )
        self._latency = _Cached(
            Histogram(
                "lienthong_evidence_provider_latency_seconds",
                "Time of a data provider call (retries included), by provider.",
                ["provider"],
                buckets=PROVIDER_BUCKETS,
                registry=registry,
            )
        )
        self._cache = _Cached(
            Counter(
                "lienthong_evidence_cache",
                "Evidence cache lookups of cacheable datasets: hit or miss.",
                ["dataset", "result"],
                registry=registry,
            )
        )
        self._fields = _Cached(
            Counter(
                "lienthong_evidence_fields",
                "Fields of collected dossiers: filled by the bus (auto) or still asked of the applicant (asked).",
                ["procedure", "how"],
                registry=registry,
            )
        )

    def request(self, dataset: str, provider: str, outcome: str) -> None:
        self._requests.get(dataset, provider, outcome).inc()

    def provider_latency(self, provider: str, seconds: float) -> None:
        self._latency.get(provider).observe(seconds)

    def cache(self, dataset: str, hit: bool) -> None:
        self._cache.get(dataset, "hit" if hit else "miss").inc()

    def fields(self, procedure: str, how: str, count: int) -> None:
        self._fields.get(procedure, how).inc(count)
