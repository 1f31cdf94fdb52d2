"""The Prometheus configuration and alert rules: promtool checks them and runs their unit tests;
every alert has a test in which it fires and a runbook section in docs/operations.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.families import KNOWN, referenced, sample_names

PROMETHEUS = DEPLOY / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"

# The list: each of these conditions has an alert.
REQUIRED_ALERTS = {
    "LienthongInstanceDown",
    "LienthongDeadLettersGrowing",
    "LienthongSinkCircuitOpen",
    "LienthongSubscriptionLagHigh",
    "LienthongPortalSyncLagging",
    "LienthongEvidenceProviderErrors",
    "LienthongAuditWriteFailures",
    "LienthongAuditCheckpointsNotWitnessed",
    "LienthongCallerReadsManySubjects",
}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_checks_the_scrape_config(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_runs_the_rules_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("threshold", "moved", "alert"),
    [
        ("> 1000\n", "> 100000\n", "LienthongSubscriptionLagHigh"),
        ("> 500\n", "> 700\n", "LienthongCallerReadsManySubjects"),
    ],
)
def test_promtool_fails_a_rule_that_does_not_fire_as_tested(
    promtool: str, tmp_path: Path, threshold: str, moved: str, alert: str
) -> None:
    """The unit tests do test something: with one alert's threshold moved, they fail, naming it."""
    text = (PROMETHEUS / "alerts.yml").read_text()
    broken = text.replace(threshold, moved)
    assert broken != text
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr


def test_every_required_condition_has_an_alert() -> None:
    names = {rule["alert"] for rule in rules()}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def test_every_alert_fires_in_a_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]
    }
    names = {rule["alert"] for rule in rules()}
    assert names <= fired, f"alerts never shown firing: {sorted(names - fired)}"


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    sections = anchors(OPERATIONS.read_text())
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        page, _, anchor = annotations["runbook"].partition("#")
        assert page == "docs/operations.md", rule["alert"]
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in docs/operations.md"


def test_the_scrape_config_loads_the_rules_and_scrapes_job_lienthong() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # the rules and the dashboard select job="lienthong"
    assert jobs["lienthong"]["metrics_path"] == "/metrics"


def test_the_rules_select_only_metrics_the_bus_has() -> None:
    """A misspelt metric makes an alert that never fires: every name must be a known family's."""
    names = set().union(*(sample_names(family, kind) for family, kind in KNOWN.items()))
    for rule in rules():
        unknown = referenced(rule["expr"]) - names
        assert not unknown, f"{rule['alert']}: unknown metrics {sorted(unknown)}"
