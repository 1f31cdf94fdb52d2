"""The evidence providers' rows of the operator console, from a real Prometheus registry fed by
the broker's metrics and from the providers' circuit breakers."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from adapters.evidence_figures import provider_rows, quantile
from adapters.evidence_metrics import PrometheusEvidenceMetrics
from router.provider_calls import GuardedCalls
from router.providers import CallPolicy, ProviderUnavailable
from router.subscriptions import BreakerPolicy

DATASETS = {
    "business.registration": "business",
    "citizen.identity": "population",
    "vehicle.registration": "vehicle",
}


class Guarded:
    """A provider that calls through a circuit breaker, as the registries' clients do."""

    def __init__(self, name: str) -> None:
        self.guard = GuardedCalls(name, CallPolicy(max_attempts=1, breaker=BreakerPolicy(1, 3600.0)))

    @property
    def circuit_state(self) -> str:
        return self.guard.circuit_state


class NoBreaker:
    pass


async def fail_once(provider: Guarded) -> None:
    async def down() -> None:
        raise ProviderUnavailable("HTTP 503")

    with pytest.raises(ProviderUnavailable):
        await provider.guard.call(down)


def test_a_row_per_provider_with_calls_errors_circuit_latency_and_cache_hit_rate() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusEvidenceMetrics(registry)
    # business: 2 lookups (3 ms and 40 ms), 2 answers from the cache
    for seconds in (0.003, 0.040):
        metrics.provider_latency("business", seconds)
        metrics.cache("business.registration", hit=False)
        metrics.request("business.registration", "business", "released")
    for _ in range(2):
        metrics.cache("business.registration", hit=True)
        metrics.request("business.registration", "business", "released")
    # population: one lookup that found no such citizen (an answer, not an error)
    metrics.provider_latency("population", 0.2)
    metrics.cache("citizen.identity", hit=False)
    metrics.request("citizen.identity", "population", "subject_not_found")
    # vehicle: down, then refused by its open circuit; a denied query never reached it
    metrics.provider_latency("vehicle", 2.0)
    metrics.request("vehicle.registration", "vehicle", "provider_unavailable")
    metrics.provider_latency("vehicle", 0.0001)
    metrics.request("vehicle.registration", "vehicle", "provider_circuit_open")
    metrics.request("vehicle.registration", "vehicle", "data_request_denied")

    vehicle = Guarded("vehicle")
    asyncio.run(fail_once(vehicle))
    providers = {"vehicle": vehicle, "business": Guarded("business"), "population": NoBreaker()}
    rows = provider_rows(registry, providers, DATASETS)

    assert [row["provider"] for row in rows] == ["business", "population", "vehicle"]
    business, population, vehicle_row = rows
    assert business == {
        "provider": "business",
        "calls": 2,
        "errors": 0,
        "circuit": "closed",
        # 1 observation in the 2.5-5 ms bucket, 1 in 25-50 ms: the median is the first's top bound
        "p50 (ms)": pytest.approx(5.0),
        "p99 (ms)": pytest.approx(25 + 25 * 0.98),
        "cache hit rate": 0.5,
    }
    assert (population["calls"], population["errors"], population["circuit"]) == (1, 0, "unknown")
    assert population["cache hit rate"] == 0.0
    assert (vehicle_row["calls"], vehicle_row["errors"], vehicle_row["circuit"]) == (2, 2, "open")
    assert vehicle_row["cache hit rate"] is None  # no cache lookup counted for it


def test_a_provider_not_called_yet_has_no_latency() -> None:
    [row] = provider_rows(CollectorRegistry(), {"business": Guarded("business")}, DATASETS)
    assert row == {
        "provider": "business",
        "calls": 0,
        "errors": 0,
        "circuit": "closed",
        "p50 (ms)": None,
        "p99 (ms)": None,
        "cache hit rate": None,
    }


def test_quantiles_are_interpolated_within_their_bucket() -> None:
    buckets = [(0.1, 10.0), (0.2, 20.0), (0.4, 40.0), (float("inf"), 40.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.2)
    assert quantile(0.25, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.3)
    assert quantile(0.5, list(reversed(buckets))) == pytest.approx(0.2)  # any order
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.5, []) is None
    # beyond the last finite bound: that bound, as Prometheus answers
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == pytest.approx(0.1)
