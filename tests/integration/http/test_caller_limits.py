"""Limits per caller on the bus under uvicorn (issue 16, item 3): a key-guessing flood gets 429
after its failed authentications, which are logged (never the key) and counted; a system over
its publish limit gets 429 with Retry-After while another system is not affected; a per-system
override; the gauge of distinct subjects a system read; refused access-report reads recorded once;
each 429 counted by route class and the limit that refused it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bus import ONESTOP, OPERATOR, OUTSIDER, PORTAL, WAREHOUSE, BusConfig, BusProcess
from tests.support.events import status_changed
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV

FAILED_AUTHENTICATIONS = 5
PUBLISHES = 3
CITIZEN = "001099012345"
NAMED = {"X-Official-Id": "citizen:self"}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
LIMITS = {
    "failed_authentication": {"requests": FAILED_AUTHENTICATIONS, "per": "1h"},
    "publish": {"requests": PUBLISHES, "per": "1h"},
    "systems": {OUTSIDER: {"publish": {"requests": 1, "per": "1h"}}},
}


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusProcess]:
    directory = tmp_path_factory.mktemp("caller-limits")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        config = BusConfig(
            directory,
            extra_policies=[
                {"systems": [WAREHOUSE, OUTSIDER], "publish": ["dossier.*"]},
                {"systems": [PORTAL], "read_access_log": True},
            ],
            sections={"audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV}, "limits": LIMITS},
        )
        with BusProcess(config) as process:
            yield process


def metric(bus: BusProcess, prefix: str) -> float:
    with bus.client(OPERATOR) as client:
        text = client.get("/metrics").text
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, (prefix, lines)
    return float(lines[0].rsplit(" ", 1)[1])


def test_a_key_guessing_flood_gets_401s_then_429_logged_and_counted(bus: BusProcess) -> None:
    guesses = [secrets.token_urlsafe(32) for _ in range(FAILED_AUTHENTICATIONS + 2)]
    replies = [
        httpx.get(f"{bus.url}/v1/subscriptions", headers={"Authorization": f"Bearer {guess}"})
        for guess in guesses
    ]
    assert [r.status_code for r in replies] == [401] * FAILED_AUTHENTICATIONS + [429, 429]
    refused = replies[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # a valid key from the same address is not the flood's
    with bus.client(PORTAL) as client:
        assert client.get("/v1/subscriptions").status_code == 200
    counted = 'lienthong_failed_authentications_total{reason="unknown_key",route_class="default"}'
    assert metric(bus, counted) == FAILED_AUTHENTICATIONS
    log = bus.log.read_text()
    lines = [line for line in log.splitlines() if "failed authentication from 127.0.0.1" in line]
    assert len(lines) == FAILED_AUTHENTICATIONS
    assert all("default" in line and "unknown_key" in line for line in lines)
    assert not any(guess in log for guess in guesses)
    limited = 'lienthong_rate_limited_total{reason="failed_authentications",route_class="default"}'
    assert metric(bus, limited) == 2


def test_a_system_over_its_publish_limit_gets_429_and_another_is_not_affected(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        sent = [
            client.post("/v1/events", json=status_changed(1, n), headers=STRUCTURED)
            for n in range(PUBLISHES + 1)
        ]
    assert [r.status_code for r in sent] == [202] * PUBLISHES + [429], sent[-1].text
    assert sent[-1].json()["code"] == "rate_limited"
    assert int(sent[-1].headers["Retry-After"]) >= 1
    limited = 'lienthong_rate_limited_total{reason="system_limit",route_class="publish"}'
    before = metric(bus, limited)
    with bus.client(ONESTOP) as client:
        assert client.post("/v1/events", json=status_changed(1, 9), headers=STRUCTURED).status_code == 429
    assert metric(bus, limited) == before + 1
    with bus.client(WAREHOUSE) as client:
        other = client.post("/v1/events", json=status_changed(2, 1, source=WAREHOUSE), headers=STRUCTURED)
    assert other.status_code == 202, other.text


def test_the_document_says_where_429_can_come(bus: BusProcess) -> None:
    with bus.client(OPERATOR) as client:  # this address's failed authentications are spent
        paths = client.get("/openapi.json").json()["paths"]
    limited = paths["/v1/events"]["post"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
    assert "429" not in paths["/healthz"]["get"]["responses"]


def test_a_system_has_its_own_limit(bus: BusProcess) -> None:
    with bus.client(OUTSIDER) as client:
        sent = [
            client.post("/v1/events", json=status_changed(3, n, source=OUTSIDER), headers=STRUCTURED)
            for n in range(2)
        ]
    assert [r.status_code for r in sent] == [202, 429], sent[0].text


def test_the_distinct_subjects_a_system_reads_are_a_gauge(bus: BusProcess) -> None:
    subjects = [f"0010990123{n:02d}" for n in range(10, 17)]
    gauge = f'lienthong_caller_distinct_subjects{{system="{PORTAL}"}}'
    with bus.client(PORTAL) as client:
        for subject in subjects + subjects[:3]:  # read again: still distinct subjects only
            assert client.get(f"/v1/subjects/{subject}/access-log", headers=NAMED).status_code == 200
    assert metric(bus, gauge) == len(subjects)


def test_refused_access_report_reads_are_recorded_once_with_their_count(bus: BusProcess) -> None:
    with bus.client(OUTSIDER) as client:
        refused = [client.get(f"/v1/subjects/{CITIZEN}/access-log") for _ in range(6)]
    assert {r.status_code for r in refused} == {403}
    with bus.client(PORTAL) as client:
        report = client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED).json()
    denied = [e for e in report["entries"] if e["requester"] == OUTSIDER]
    assert [e["outcome"] for e in denied] == ["access_log_denied"]


def test_limits_are_checked_at_config_load(tmp_path: Path) -> None:
    from lienthong.config import load_settings
    from router.errors import ConfigError

    config = BusConfig(
        tmp_path,
        sections={
            "limits": {
                "evidence": {"requests": 10, "per": "0.5s"},
                "systems": {"000.00.00.H99/nobody": {"publish": {"requests": 1, "per": "1m"}}},
            }
        },
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config.write())
    text = str(raised.value)
    assert "lienthong.yaml:" in text and "/limits/evidence/per" in text and "Fix: use a period from" in text
    assert "/limits/systems/000.00.00.H99~1nobody" in text and "no system" in text


def test_a_reload_puts_new_limits_in_force(tmp_path: Path) -> None:
    config = BusConfig(tmp_path, sections={"limits": {"publish": {"requests": 1, "per": "1h"}}})
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        sent = [client.post("/v1/events", json=status_changed(4, n), headers=STRUCTURED) for n in range(2)]
        assert [r.status_code for r in sent] == [202, 429]
        # the count so far stands: a period twice as long holds a burst that has room left
        config.sections["limits"] = {"publish": {"requests": 100, "per": "2h"}}
        config.write()
        with bus.client(OPERATOR) as operator:
            reloaded = operator.post("/v1/admin/reload")
        assert reloaded.status_code == 200 and reloaded.json()["limits_changed"] is True, reloaded.text
        again = client.post("/v1/events", json=status_changed(4, 2), headers=STRUCTURED)
        assert again.status_code == 202, again.text
