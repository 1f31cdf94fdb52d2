"""The Grafana dashboard: valid, provisioned as compose mounts it, and with a panel for every
metric family of the bus (read from a running bus's /metrics, so a new family without a panel
fails here)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy import compose_file
from tests.deploy.conftest import DEPLOY
from tests.deploy.dashboard_file import DASHBOARD, covered, expressions, panels
from tests.deploy.dashboard_file import load as dashboard
from tests.deploy.families import KNOWN, exposed, referenced, sample_names
from tests.support.bus import BusConfig, BusProcess
from tests.support.portal import portal_rig

GRAFANA = DEPLOY / "grafana"
WIDTH = 24  # Grafana's grid


def test_the_dashboard_is_well_formed() -> None:
    document = dashboard()
    assert document["uid"] == "lienthong" and document["title"]
    ids = [panel["id"] for panel in panels(document)]
    assert len(ids) == len(set(ids)), f"repeated panel ids: {[i for i, n in Counter(ids).items() if n > 1]}"
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    cells: set[tuple[int, int]] = set()
    for panel in panels(document):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= WIDTH, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel.get("description"), panel["id"]
        # every query goes to the data source the viewer picks
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_every_query_selects_job_lienthong() -> None:
    """Prometheus may scrape more than lienthong: a panel must not add up another job's series."""
    for expr in expressions(dashboard()):
        if referenced(expr):
            assert expr.count('job="lienthong"') >= len(referenced(expr)), expr


def test_the_dashboard_covers_every_known_family() -> None:
    names = covered(dashboard())
    missing = {family for family, kind in KNOWN.items() if not sample_names(family, kind) & names}
    assert not missing, f"families without a panel: {sorted(missing)}"


def test_the_dashboard_selects_only_metrics_the_bus_has() -> None:
    """A misspelt metric makes a panel that stays empty."""
    names = set().union(*(sample_names(family, kind) for family, kind in KNOWN.items()))
    unknown = covered(dashboard()) - names
    assert not unknown, f"unknown metrics in the dashboard: {sorted(unknown)}"


def uncovered(metrics_text: str, expected: set[str]) -> set[str]:
    """The families of a /metrics body that no panel selects (``expected`` checks the parse)."""
    families = exposed(metrics_text)
    assert expected <= set(families), f"{sorted(expected - set(families))} not in /metrics"
    names = covered(dashboard())
    return {family for family, kind in families.items() if not sample_names(family, kind) & names}


def test_the_dashboard_covers_every_family_the_running_bus_exposes(tmp_path: Path) -> None:
    config = BusConfig(tmp_path).subscribe("portal", "http://127.0.0.1:9/events")
    with BusProcess(config) as bus:
        reply = httpx.get(f"{bus.url}/metrics", timeout=10)
    assert reply.status_code == 200
    missing = uncovered(reply.text, {"lienthong_events_received", "lienthong_deliveries"})
    assert not missing, f"families of /metrics without a panel: {sorted(missing)}"


def test_the_dashboard_covers_the_portal_connectors_families(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal connector registers its families only when configured: a bus with it."""
    with portal_rig(tmp_path, monkeypatch) as rig:
        text = rig.metrics()
    missing = uncovered(text, {"lienthong_events_received", "lienthong_portal_calls"})
    assert not missing, f"families of /metrics without a panel: {sorted(missing)}"


def test_grafana_provisioning_matches_the_compose_mounts() -> None:
    compose = compose_file.load()
    mounts = compose_file.mounts(compose["services"]["grafana"])
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "lienthong.yaml").read_text())
    dashboards_dir = providers["providers"][0]["options"]["path"]
    assert mounts["./grafana/dashboards"] == dashboards_dir
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD.name}"
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
