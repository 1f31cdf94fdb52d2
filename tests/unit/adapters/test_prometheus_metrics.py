"""The Prometheus metrics adapter: names, labels and values as a scraper reads them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics import LATENCY_BUCKETS, PrometheusMetrics, render
from router.metrics import CircuitState


def scrape(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = render(metrics.registry)
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_every_metric_is_exposed_with_its_labels() -> None:
    metrics = PrometheusMetrics()
    metrics.event_received("dossier.submitted", "000.00.00.H49/motcua", 3)
    metrics.event_received("dossier.submitted", "000.00.00.H49/motcua")
    metrics.event_rejected("dossier.submitted", "000.00.00.H49/motcua", "schema_violation")
    metrics.event_routed("portal-status", 2)
    metrics.delivery_attempt("portal-status", "ok")
    metrics.delivery_attempt("portal-status", "retryable_error")
    metrics.delivery_attempt("portal-status", "retryable_error")
    metrics.delivered("portal-status", "delivered", [0.004, 0.2])
    metrics.delivered("portal-status", "dead_lettered", [61.0])
    metrics.dead_letters("portal-status", 5)
    metrics.lag("portal-status", 12)
    metrics.circuit("portal-status", CircuitState.HALF_OPEN)
    got = scrape(metrics)

    typ, src, sub = (
        ("type", "dossier.submitted"),
        ("source", "000.00.00.H49/motcua"),
        ("subscription", "portal-status"),
    )
    assert got[("lienthong_events_received_total", (src, typ))] == 4
    assert got[("lienthong_events_rejected_total", (("reason", "schema_violation"), src, typ))] == 1
    assert got[("lienthong_events_routed_total", (sub,))] == 2
    assert got[("lienthong_delivery_attempts_total", (("result", "ok"), sub))] == 1
    assert got[("lienthong_delivery_attempts_total", (("result", "retryable_error"), sub))] == 2
    assert got[("lienthong_deliveries_total", (("outcome", "delivered"), sub))] == 2
    assert got[("lienthong_deliveries_total", (("outcome", "dead_lettered"), sub))] == 1
    assert (
        got[("lienthong_delivery_latency_seconds_count", (sub,))] == 2
    )  # delivered events only: a dead letter is not observed
    assert got[("lienthong_delivery_latency_seconds_bucket", (("le", "0.005"), sub))] == 1
    assert got[("lienthong_delivery_latency_seconds_bucket", (("le", "0.25"), sub))] == 2
    assert got[("lienthong_delivery_latency_seconds_bucket", (("le", "60.0"), sub))] == 2
    assert got[("lienthong_delivery_latency_seconds_bucket", (("le", "+Inf"), sub))] == 2
    assert got[("lienthong_dead_letters", (sub,))] == 5
    assert got[("lienthong_subscription_lag", (sub,))] == 12
    assert got[("lienthong_sink_circuit_state", (sub,))] == 1


def test_gauges_follow_the_latest_value() -> None:
    metrics = PrometheusMetrics()
    metrics.circuit("s", CircuitState.OPEN)
    metrics.dead_letters("s", 3)
    assert scrape(metrics)[("lienthong_sink_circuit_state", (("subscription", "s"),))] == 2
    metrics.circuit("s", CircuitState.CLOSED)
    metrics.dead_letters("s", 0)
    got = scrape(metrics)
    assert got[("lienthong_sink_circuit_state", (("subscription", "s"),))] == 0
    assert got[("lienthong_dead_letters", (("subscription", "s"),))] == 0


def test_latency_buckets_span_a_millisecond_to_five_minutes() -> None:
    assert LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 300.0
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)


def test_two_buses_in_one_process_keep_separate_registries() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.event_routed("s")
    assert ("lienthong_events_routed_total", (("subscription", "s"),)) not in scrape(second)
