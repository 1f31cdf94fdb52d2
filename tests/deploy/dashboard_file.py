"""deploy/grafana/dashboards/lienthong.json as data: its panels and their PromQL."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.conftest import DEPLOY
from tests.deploy.families import referenced

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "lienthong.json"


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    out: list[dict[str, Any]] = []
    for panel in document["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def expressions(document: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(document) for target in panel.get("targets", [])]


def covered(document: dict[str, Any]) -> set[str]:
    """The lienthong metric names the dashboard's queries select."""
    return set().union(*(referenced(expr) for expr in expressions(document)))
