"""A real Prometheus (Debian's binary) scrapes a real bus with the project's scrape configuration
and alert rules: the counts it stores are the events published, every rule loads and evaluates,
every dashboard query runs, and a stopped bus raises LienthongInstanceDown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.deploy.dashboard_file import expressions
from tests.deploy.dashboard_file import load as dashboard
from tests.deploy.prometheus_server import PROMETHEUS_DIR, PrometheusServer, eventually, scrape_config
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import status_changed
from tests.support.receiver import Receiver

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
PUBLISHED = 30
J = 'job="lienthong"'
# the families of adapters/metrics.py: a running bus that delivered events has samples of each
CORE = (
    "lienthong_events_received",
    "lienthong_events_routed",
    "lienthong_deliveries",
    "lienthong_delivery_attempts",
    "lienthong_delivery_latency_seconds",
    "lienthong_dead_letters",
    "lienthong_subscription_lag",
    "lienthong_sink_circuit_state",
)


@pytest.fixture
def portal() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def alert_names() -> set[str]:
    document = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {rule["alert"] for group in document["groups"] for rule in group["rules"]}


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Grafana sends it: its variables replaced."""
    return expr.replace("$__rate_interval", "1m").replace("$subscription", ".*")


def test_prometheus_scrapes_the_bus_and_counts_what_was_published(
    tmp_path: Path, prometheus: str, portal: Receiver
) -> None:
    (tmp_path / "bus").mkdir()
    (tmp_path / "prometheus").mkdir()
    bus = BusProcess(BusConfig(tmp_path / "bus").subscribe("portal", portal.url)).start()
    try:
        with bus.client(ONESTOP) as client:
            batch = [status_changed(n % 3, n) for n in range(PUBLISHED - 1)]
            assert client.post("/v1/events", json=batch, headers=BATCH).status_code == 202
            single = status_changed(3, 0)
            assert client.post("/v1/events", json=single, headers=STRUCTURED).status_code == 202
            bad = status_changed(4, 0)
            bad["data"]["status"] = "not a status"
            assert client.post("/v1/events", json=bad, headers=STRUCTURED).status_code == 422

        config = scrape_config(f"127.0.0.1:{bus.config.port}")
        with PrometheusServer(prometheus, config, tmp_path / "prometheus") as server:
            # what Prometheus stored equals what was published and delivered
            delivered = f'sum(lienthong_deliveries_total{{{J}, subscription="portal", outcome="delivered"}})'
            eventually(
                lambda: True if server.value(delivered) == PUBLISHED else None,
                f"Prometheus shows {PUBLISHED} deliveries",
            )
            received = (
                f'lienthong_events_received_total{{{J}, type="dossier.status.changed", source="{ONESTOP}"}}'
            )
            assert server.value(received) == PUBLISHED
            assert (
                server.value(f'sum(lienthong_events_routed_total{{{J}, subscription="portal"}})') == PUBLISHED
            )
            assert server.value(f"sum(lienthong_delivery_latency_seconds_count{{{J}}})") == PUBLISHED
            rejected = f'sum(lienthong_events_rejected_total{{{J}, reason="schema_violation"}})'
            assert server.value(rejected) == 1
            assert server.value(f'lienthong_dead_letters{{{J}, subscription="portal"}}') == 0
            assert server.value(f'lienthong_sink_circuit_state{{{J}, subscription="portal"}}') == 0
            assert server.value(f'up{{{J}, instance="127.0.0.1:{bus.config.port}"}}') == 1
            assert len(portal.received) == PUBLISHED

            # the shipped rules load, and each has been evaluated without error
            def rules_evaluated() -> list[dict[str, object]] | None:
                groups = server.api("rules")["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                names = {rule["name"] for rule in rules}
                healthy = all(rule["health"] == "ok" for rule in rules)
                return rules if names == alert_names() and healthy else None

            eventually(rules_evaluated, "every alert rule loaded and evaluated")
            assert server.query('ALERTS{alertname=~"Lienthong.*", alertstate="firing"}') == []

            # every dashboard query is valid PromQL, and those over the bus's own families show data
            # (a rate needs two scrapes in its window)
            scrapes = f"count_over_time(up{{{J}}}[1m])"
            eventually(lambda: True if (server.value(scrapes) or 0) >= 3 else None, "three scrapes")
            for expr in expressions(dashboard()):
                result = server.query(grafana_to_promql(expr))
                if any(family in expr for family in CORE) and "ALERTS" not in expr:
                    assert result, f"no data for {expr}"

            # the bus stops: the instance-down alert starts (pending for its 'for' of a minute)
            bus.stop()
            pending = f'ALERTS{{alertname="LienthongInstanceDown", alertstate="pending", {J}}}'
            eventually(lambda: server.query(pending) or None, "LienthongInstanceDown pending")
    finally:
        bus.stop()
