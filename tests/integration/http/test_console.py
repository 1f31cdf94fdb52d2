"""The operator console (/console) on the bus under uvicorn: who may see it (over plain HTTP), and
the real page in headless Chromium: it loads, its figures follow published events without a
reload, a dead letter is replayed from the page to a real webhook receiver, and the evidence
providers' figures follow queries answered by the real registry simulators."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from adapters.http.console.routes import COOKIE
from simulators.server import Faults
from tests.support.browser import chromium
from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.events import dossier_code, status_changed
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    evidence_config,
    query_body,
    registries,
    transport_firm,
)
from tests.support.receiver import Fault, Receiver
from tests.support.simulators import set_faults

if TYPE_CHECKING:
    from playwright.sync_api import Page

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TYPE = "dossier.status.changed"
REFUSED = dossier_code(7)  # the receiver refuses this dossier's events: they become dead letters


@pytest.fixture
def bus(tmp_path: Path, receiver: Receiver) -> Iterator[BusProcess]:
    receiver.reset()
    config = BusConfig(tmp_path).subscribe(
        "portal",
        receiver.url,
        retry={"max_attempts": 2, "max_elapsed": "2s", "initial_backoff": "10ms", "max_backoff": "20ms"},
    )
    with BusProcess(config) as running:
        yield running


@contextmanager
def signed_in(bus: BusProcess, system: str) -> Iterator[httpx.Client]:
    """A client holding the console session of ``system`` (an operator)."""
    with httpx.Client(base_url=bus.url, timeout=30) as client:
        reply = client.post("/console/login", content=f"api_key={bus.config.keys[system]}", headers=FORM)
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == "/console"
        yield client


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen: {what}")
        time.sleep(0.05)


# --- who may see it ------------------------------------------------------------------------------


def test_console_is_closed_to_all_but_operators(bus: BusProcess) -> None:
    with httpx.Client(base_url=bus.url, timeout=30) as anonymous:
        # default deny: the page sends to the login form, the figures and actions answer 401
        page = anonymous.get("/console")
        assert (page.status_code, page.headers["location"]) == (303, "/console/login")
        live = anonymous.get("/console/live")
        assert live.status_code == 401
        assert live.headers["content-type"].startswith("application/problem+json")
        assert (
            anonymous.post("/console/replay", content="subscription=portal", headers=FORM).status_code == 401
        )
        login = anonymous.get("/console/login")
        assert login.status_code == 200 and 'name="api_key"' in login.text
        assert "default-src 'none'" in login.headers["content-security-policy"]
        # a wrong key, and a real key without the admin grant
        wrong = anonymous.post("/console/login", content="api_key=lt_not-a-key", headers=FORM)
        assert wrong.status_code == 401 and COOKIE not in wrong.cookies
        portal_key = bus.config.keys[PORTAL]
        denied = anonymous.post("/console/login", content=f"api_key={portal_key}", headers=FORM)
        assert denied.status_code == 403 and COOKIE not in denied.cookies
        assert f"{PORTAL} does not hold the admin grant" in denied.text
        # the bearer header of the API opens nothing here
        bearer = {"Authorization": f"Bearer {bus.config.keys[OPERATOR]}"}
        assert anonymous.get("/console/live", headers=bearer).status_code == 401
        # a forged cookie is no session
        anonymous.cookies.set(COOKIE, "eyJzIjoiMDAwIn0.AAAA", path="/console")
        assert anonymous.get("/console").status_code == 303

    with signed_in(bus, OPERATOR) as operator:
        [cookie] = [c for c in operator.cookies.jar if c.name == COOKIE]
        assert cookie.path == "/console"
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
        assert cookie.expires is not None and cookie.expires > time.time()
        page = operator.get("/console")
        assert page.status_code == 200
        assert f"signed in as <strong>{OPERATOR}</strong>" in page.text
        assert page.headers["cache-control"] == "no-store"
        # actions need the session's CSRF token, and the bus's own origin
        no_token = operator.post("/console/replay", content="subscription=portal", headers=FORM)
        assert no_token.status_code == 403
        assert no_token.json()["code"] == "forbidden"
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        foreign = operator.post(
            "/console/replay",
            content=f"subscription=portal&csrf={csrf.group(1)}",
            headers={**FORM, "Origin": "http://attacker.example"},
        )
        assert foreign.status_code == 403
        # signing out ends the browser's session, and any copy of its cookie
        copied = operator.cookies.get(COOKIE)
        assert copied
        out = operator.post("/console/logout", content=f"csrf={csrf.group(1)}", headers=FORM)
        assert (out.status_code, out.headers["location"]) == (303, "/console/login")
        assert operator.get("/console").status_code == 303
        operator.cookies.set(COOKIE, copied, path="/console")
        assert operator.get("/console").status_code == 303
        assert operator.get("/console/live").status_code == 401


def test_optional_parts_show_as_not_configured(bus: BusProcess) -> None:
    with signed_in(bus, OPERATOR) as operator:
        page = operator.get("/console").text
    for section in ("portal", "evidence"):
        assert re.search(rf'data-table="{section}">not configured<', page), section
    # every bus has its audit log (docs/audit.md): empty here
    assert re.search(r'data-table="audit">no audit entries yet<', page)


# --- the page in Chromium ------------------------------------------------------------------------


def test_console_in_chromium_shows_live_figures_and_replays_a_dead_letter(
    bus: BusProcess, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.fail_when(lambda r: r.headers.get("ce-subject") == REFUSED, Fault(400))
    with chromium() as browser:
        page = browser.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

        # a system without the admin grant is refused at the door
        page.goto(f"{bus.url}/console")
        assert page.url == f"{bus.url}/console/login"
        page.fill("#api_key", bus.config.keys[PORTAL])
        with page.expect_navigation() as refused:
            page.click("button[type=submit]")
        assert refused.value is not None and refused.value.status == 403

        page.goto(f"{bus.url}/console/login")
        page.fill("#api_key", bus.config.keys[OPERATOR])
        page.click("button[type=submit]")
        page.wait_for_url(f"{bus.url}/console")
        console_errors.clear()  # the refused sign-in's 403 was logged
        assert page.inner_text("header .who") == f"signed in as {OPERATOR}"
        received = page.locator(f'tr:has([data-type="{TYPE}"]) [data-figure="received"]')
        assert received.inner_text() == "0"
        assert page.inner_text('[data-table="dead-letters"]') == "no dead letters waiting"

        # events published through the API show up without a reload: the page stays the same
        # document (the marker survives) while its figures change
        page.evaluate("window.stillTheSamePage = true")
        events = [status_changed(1, 1), status_changed(2, 1), status_changed(7, 1)]
        with bus.client(ONESTOP) as publisher:
            assert publisher.post("/v1/events", json=events, headers=BATCH).status_code == 202
        eventually(lambda: len(receiver.received) == 2, "the two accepted events delivered")
        portal = page.locator('tr:has([data-subscription="portal"])')
        page.wait_for_function(
            """() => {
                const cell = (css) => document.querySelector(css)?.textContent;
                return cell('tr:has([data-type="dossier.status.changed"]) [data-figure="received"]') === "3"
                    && cell('tr:has([data-subscription="portal"]) [data-figure="delivered"]') === "2"
                    && cell('tr:has([data-subscription="portal"]) [data-figure="dead-letters"]') === "1";
            }""",
            timeout=20_000,
        )
        assert page.evaluate("window.stillTheSamePage") is True
        assert portal.locator('[data-figure="circuit"]').inner_text() == "closed"
        assert portal.locator('[data-figure="dead-lettered"]').inner_text() == "1"
        letter = page.locator(f'[data-table="dead-letters"] tr:has-text("{REFUSED}")')
        assert letter.count() == 1
        assert "rejected_by_sink" in letter.inner_text()
        assert "400" in letter.inner_text()

        screenshot = tmp_path / "console.png"
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"console screenshot: {screenshot}")

        # the receiver is fixed; the operator replays the dead letter from the page
        receiver.clear_faults()
        letter.get_by_role("button", name="replay").click()
        page.wait_for_url(re.compile(r"/console\?replayed=1&subscription=portal$"))
        assert page.inner_text(".notice") == "Replayed 1 dead letter of portal."
        eventually(
            lambda: any(r.headers.get("ce-subject") == REFUSED for r in receiver.received),
            "the replayed event delivered",
        )
        page.wait_for_function(
            """() => document.querySelector('[data-table="dead-letters"]')?.textContent
                     === "no dead letters waiting" """,
            timeout=20_000,
        )
        page.screenshot(path=str(tmp_path / "console-replayed.png"), full_page=True)
        print(f"console screenshot after the replay: {tmp_path / 'console-replayed.png'}")
        assert console_errors == []


# The cells of a provider's row of the evidence table, by column header.
EVIDENCE_ROW = """(provider) => {
    const table = document.querySelector('table[data-table="evidence"]');
    if (!table) return null;
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    const row = [...table.querySelectorAll("tbody tr")].find((tr) => tr.cells[0].textContent === provider);
    return row ? Object.fromEntries(heads.map((head, i) => [head, row.cells[i].textContent])) : null;
}"""


def sign_in(page: Page, bus: BusProcess) -> None:
    page.goto(f"{bus.url}/console/login")
    page.fill("#api_key", bus.config.keys[OPERATOR])
    page.click("button[type=submit]")
    page.wait_for_url(f"{bus.url}/console")


def test_console_in_chromium_shows_the_evidence_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tax_code, manager, plates = transport_firm()
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    with registries() as servers:
        config = evidence_config(tmp_path, {name: server.url for name, server in servers.items()})
        # the vehicle registry answers 503 to everything; its circuit opens at the first failure
        [vehicle] = [c for c in config.sections["connectors"] if c["name"] == "vehicle"]
        vehicle["circuit_breaker"] = {"failure_threshold": 1, "reset_timeout": "1h"}
        set_faults(servers["vehicle"].url, Faults(error_rate=1.0))
        with BusProcess(config) as bus, chromium() as browser:
            page = browser.new_page()
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            sign_in(page, bus)
            section = page.inner_text('[data-table="evidence"]')
            before = page.evaluate(EVIDENCE_ROW, "business")
            assert before is not None, f"the evidence providers section says: {section}"
            assert before["calls"] == "0"

            official = {"X-Official-Id": "canbo.motcua.01"}
            with bus.client(ONESTOP) as client:
                business = query_body("business.registration", {"tax_code": tax_code})
                for _ in range(2):  # a lookup, then the cache
                    assert client.post("/v1/evidence:query", json=business).status_code == 200
                identity = query_body("citizen.identity", {"personal_id": manager})
                reply = client.post("/v1/evidence:query", json=identity, headers=official)
                assert reply.status_code == 200, reply.text
                vehicle_query = query_body("vehicle.registration", {"plate": plates[0]})
                reply = client.post("/v1/evidence:query", json=vehicle_query, headers=official)
                assert reply.status_code == 503, reply.text

            # the page follows without a reload
            page.wait_for_function(
                f"""() => {{
                    const row = {EVIDENCE_ROW};
                    return row("business")?.calls === "1" && row("population")?.calls === "1"
                        && row("vehicle")?.circuit === "open";
                }}""",
                timeout=20_000,
            )
            rows = {name: page.evaluate(EVIDENCE_ROW, name) for name in ("business", "population", "vehicle")}
            page.screenshot(path=str(tmp_path / "console-evidence.png"), full_page=True)
            print(f"console screenshot: {tmp_path / 'console-evidence.png'}")
    columns = ["provider", "calls", "errors", "circuit", "p50 (ms)", "p99 (ms)", "cache hit rate"]
    assert all(list(row) == columns for row in rows.values())
    business_row, population_row, vehicle_row = rows["business"], rows["population"], rows["vehicle"]
    assert (business_row["errors"], business_row["circuit"], business_row["cache hit rate"]) == (
        "0",
        "closed",
        "0.50",
    )
    assert (population_row["errors"], population_row["circuit"], population_row["cache hit rate"]) == (
        "0",
        "closed",
        "0.00",
    )
    assert (vehicle_row["calls"], vehicle_row["errors"]) == ("1", "1")
    for row in rows.values():  # a latency once called: a number of milliseconds
        assert float(row["p50 (ms)"]) > 0 and float(row["p99 (ms)"]) >= float(row["p50 (ms)"])
    assert console_errors == []
