"""The evidence providers as the operator console shows them, one row per provider: calls, errors,
the circuit, latency percentiles and the cache hit rate, since this instance started.

Counts come back from the broker's Prometheus metrics (:mod:`adapters.evidence_metrics`): calls
are the provider lookups (cache misses), errors the lookups answered with a provider error, the
latency percentiles are read from the histogram's buckets as Prometheus's ``histogram_quantile``
reads them, and the cache hit rate adds up the provider's datasets. The circuit is the
provider's breaker as it is now.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from router.providers import (
    CircuitOpen,
    InvalidProviderReply,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
    circuit_state_of,
)

LATENCY = "lienthong_evidence_provider_latency_seconds"
REQUESTS = "lienthong_evidence_requests"
CACHE = "lienthong_evidence_cache"
# The outcomes of a lookup that got no answer from its provider, the errors of a row: every
# provider error but "no such record" (an answer) and a request the bus refused to send. A lookup
# refused by an open circuit is one of them, so that calls, errors and the circuit agree.
PROVIDER_ERRORS = frozenset(
    {
        ProviderError.code,
        ProviderUnavailable.code,
        CircuitOpen.code,
        ProviderTimeout.code,
        ProviderFault.code,
        InvalidProviderReply.code,
    }
)

Row = dict[str, str | int | float | None]
# upper bound (seconds, ``inf`` for the last), cumulative count
Buckets = Sequence[tuple[float, float]]


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of a histogram's cumulative buckets, interpolated linearly within the
    bucket it falls in, as Prometheus's ``histogram_quantile`` does; ``None`` without
    observations. A quantile in the last (unbounded) bucket is the highest finite bound."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


class _Readings:
    """The broker's metric samples, read in one pass over the registry."""

    def __init__(self, registry: CollectorRegistry, dataset_providers: Mapping[str, str]) -> None:
        self.buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.hits: dict[str, int] = defaultdict(int)
        self.lookups: dict[str, int] = defaultdict(int)
        for metric in registry.collect():
            for sample in metric.samples:
                labels = sample.labels
                if sample.name == f"{LATENCY}_bucket":
                    self.buckets[labels["provider"]].append((float(labels["le"]), sample.value))
                elif sample.name == f"{LATENCY}_count":
                    self.calls[labels["provider"]] += int(sample.value)
                elif sample.name == f"{REQUESTS}_total" and labels.get("outcome") in PROVIDER_ERRORS:
                    self.errors[labels["provider"]] += int(sample.value)
                elif sample.name == f"{CACHE}_total":
                    provider = dataset_providers.get(labels["dataset"])
                    if provider is not None:
                        self.lookups[provider] += int(sample.value)
                        if labels.get("result") == "hit":
                            self.hits[provider] += int(sample.value)


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def provider_rows(
    registry: CollectorRegistry, providers: Mapping[str, object], dataset_providers: Mapping[str, str]
) -> list[Row]:
    """A row per provider, by name. ``dataset_providers`` maps each dataset of the catalogue to
    its provider (the cache is counted by dataset). The cache hit rate is ``None`` for a provider
    without cacheable lookups; latencies are ``None`` before its first call."""
    readings = _Readings(registry, dataset_providers)
    rows: list[Row] = []
    for name in sorted(providers):
        buckets = readings.buckets.get(name, [])
        lookups = readings.lookups.get(name, 0)
        rows.append(
            {
                "provider": name,
                "calls": readings.calls.get(name, 0),
                "errors": readings.errors.get(name, 0),
                "circuit": circuit_state_of(providers[name]),
                "p50 (ms)": _milliseconds(quantile(0.5, buckets)),
                "p99 (ms)": _milliseconds(quantile(0.99, buckets)),
                "cache hit rate": readings.hits.get(name, 0) / lookups if lookups else None,
            }
        )
    return rows
