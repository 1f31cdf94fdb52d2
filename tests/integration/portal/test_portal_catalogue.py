"""The procedure catalogue read from the portal simulator with
``lienthong portal catalogue sync``: imported, a second sync changes nothing and says so,
withdrawn procedures are marked (not deleted), the report lists the procedures whose evidence
needs are not configured, and a malformed or oversized catalogue reply is refused, changing
nothing. ``serve`` syncs it periodically when configured and answers the report on the API, over
the real portal's ~2,000 procedures; the CLI's cases run on a smaller catalogue of the same
shape, since each sync reads every procedure once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import mapping
from connectors.portal.connector import PortalConnector
from connectors.portal.connector import from_settings as portal_from_settings
from simulators.portal import create_app
from simulators.portal_catalogue import PROCEDURES, Catalogue
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP
from tests.support.cli import lienthong
from tests.support.demo import copy_of_examples
from tests.support.portal import portal_rig
from tests.support.waiting import wait_until

# the CLI cases' catalogue: large enough for paging and the "more failed" summary, small enough
# that their five syncs stay quick
SIZE = 300


@pytest.fixture
def portal() -> Iterator[SimulatorServer]:
    app, _ = create_app(catalogue_size=SIZE)
    server = SimulatorServer(app).start()
    try:
        yield server
    finally:
        server.stop()


def _config(folder: Path, portal_url: str) -> Path:
    """The example configuration, its portal connector pointed at the simulator."""
    path = copy_of_examples(folder)
    document = yaml.safe_load(path.read_text())
    document["transport"]["path"] = str(folder / "var" / "lienthong.db")
    (connector,) = [c for c in document["connectors"] if c["kind"] == "portal"]
    connector["url"] = portal_url
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "LIENTHONG_PORTAL_USER": "lienthong", "LIENTHONG_PORTAL_PASSWORD": "demo-password"}


def _sync(config: Path, *extra: str) -> tuple[int, dict[str, Any] | str]:
    done = lienthong("portal", "catalogue", "sync", "--config", str(config), *extra, env=_env(), timeout=240)
    if "--json" in extra and done.returncode == 0:
        return done.returncode, orjson.loads(done.stdout)
    return done.returncode, done.stdout + done.stderr


def _fault(url: str, body: dict[str, Any]) -> None:
    httpx.put(f"{url}/_sim/catalogue", json=body, timeout=5).raise_for_status()


def test_catalogue_sync_is_idempotent_marks_withdrawals_and_reports_missing_needs(
    tmp_path: Path, portal: SimulatorServer
) -> None:
    config = _config(tmp_path, portal.url)
    expected = Catalogue(size=SIZE)  # the simulator's catalogue, computed the same way from its seed
    configured = {p["code"] for p in yaml.safe_load(config.read_text())["procedures"]}
    assert len(expected.procedures) == SIZE
    assert configured <= set(expected.procedures)

    code, first = _sync(config, "--json")
    assert code == 0, first
    assert isinstance(first, dict)
    sync = first["sync"]
    assert (sync["listed"], sync["added"], sync["changed"], sync["unchanged"]) == (
        SIZE,
        SIZE,
        0,
        0,
    )
    assert sync["failed"] == {} and sync["withdrawn"] == []
    assert sync["agencies"]["listed"] == len(expected.agencies)
    assert sync["fields"]["listed"] == len(expected.fields)
    needs = first["needs"]
    assert (needs["imported"], needs["configured"]) == (SIZE, len(configured))
    missing = {p["code"] for p in needs["procedures"]}
    assert missing == set(expected.procedures) - configured

    # idempotent: the same catalogue again writes nothing and says so
    code, second = _sync(config)
    assert code == 0, second
    assert f"0 added, 0 changed, {SIZE} unchanged, 0 withdrawn" in str(second)
    assert "nothing changed: the catalogue already matches the portal" in str(second)

    # a withdrawn procedure is marked, not deleted; a renamed one is updated
    gone, renamed = sorted(set(expected.procedures) - configured)[:2]
    _fault(portal.url, {"withdraw": [gone], "rename": {renamed: "Thủ tục đã đổi tên"}})
    code, third = _sync(config, "--json")
    assert code == 0, third
    assert isinstance(third, dict)
    assert (third["sync"]["changed"], third["sync"]["withdrawn"]) == (1, [gone])
    assert third["needs"]["imported"] == SIZE - 1
    assert gone not in {p["code"] for p in third["needs"]["procedures"]}
    code, fourth = _sync(config, "--json")
    assert isinstance(fourth, dict) and fourth["sync"]["changes"] == 0

    # listed again: unmarked
    _fault(portal.url, {"restore": [gone]})
    code, fifth = _sync(config, "--json")
    assert isinstance(fifth, dict) and fifth["sync"]["returned"] == [gone]

    report = lienthong("portal", "catalogue", "report", "--config", str(config), env=_env())
    assert report.returncode == 0, report.stderr
    assert f"{SIZE} procedure(s) imported, {len(configured)} with needs configured" in report.stdout
    assert renamed in report.stdout


@pytest.mark.parametrize(
    ("service", "mode", "message"),
    [
        ("LayDanhSachTTHC", "not_a_list", "LayDanhSachTTHC: the reply's result is dict, not an array"),
        ("LayDanhSachTTHC", "bad_item", "LayDanhSachTTHC[3].MATTHC: expected a non-empty text"),
        ("LayDanhSachTTHC", "oversized", "LayDanhSachTTHC: 30000 items, more than the 20000 allowed"),
        (
            "LayDanhSachTTHC",
            "empty",
            "LayDanhSachTTHC: the portal listed no procedure; the catalogue is left as it is",
        ),
        ("LayDanhMucCoQuan", "bad_item", "LayDanhMucCoQuan[3].MADONVI: expected a non-empty text"),
        ("LayDanhMucLinhVuc", "not_a_list", "LayDanhMucLinhVuc: the reply's result is dict, not an array"),
    ],
)
def test_a_malformed_catalogue_is_refused_and_changes_nothing(
    tmp_path: Path, portal: SimulatorServer, service: str, mode: str, message: str
) -> None:
    config = _config(tmp_path, portal.url)
    _fault(portal.url, {"fault": {service: mode}})
    code, out = _sync(config)
    assert code == 1, out
    assert f"catalogue sync failed, nothing changed: {message}" in str(out)
    assert "Traceback" not in str(out)
    report = lienthong("portal", "catalogue", "report", "--config", str(config), env=_env())
    assert report.returncode == 0, report.stderr
    assert "0 procedure(s) imported" in report.stdout


def test_a_malformed_procedure_keeps_what_was_read_before(tmp_path: Path, portal: SimulatorServer) -> None:
    config = _config(tmp_path, portal.url)
    assert _sync(config)[0] == 0
    _fault(portal.url, {"fault": {"LayThuTuc": "not_a_list"}})
    code, out = _sync(config)
    assert code == 1
    assert f"0 added, 0 changed, 0 unchanged, 0 withdrawn, 0 listed again, {SIZE} failed" in str(out)
    assert "LayThuTuc: the reply's result is dict, not an array" in str(out)
    assert f"and {SIZE - 20} more failed" in str(out)
    report = lienthong("portal", "catalogue", "report", "--config", str(config), env=_env())
    assert f"{SIZE} procedure(s) imported" in report.stdout


def test_serve_syncs_the_catalogue_and_answers_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PROCEDURES >= 2000  # the portal rig's simulator lists as many as the real portal
    with portal_rig(tmp_path, monkeypatch, options={"catalogue_every": "1h"}) as rig:
        wait_until(
            lambda: rig.metric("lienthong_portal_catalogue_syncs_total", '{outcome="ok"}') == 1,
            "the catalogue synced at start",
            within=120,
        )
        assert rig.metric("lienthong_portal_catalogue_procedures", '{state="listed"}') == PROCEDURES
        assert rig.metric("lienthong_portal_catalogue_procedures", '{state="missing_needs"}') == PROCEDURES
        assert httpx.get(f"{rig.bus.url}/v1/portal/catalogue/report", timeout=5).status_code == 401
        with rig.bus.client(ONESTOP) as client:
            reply = client.get("/v1/portal/catalogue/report")
        assert reply.status_code == 200, reply.text
        (portal,) = reply.json()["portal"]
        assert (portal["connector"], portal["imported"], portal["missing_needs"]) == (
            "portal",
            PROCEDURES,
            PROCEDURES,
        )


async def test_the_catalogues_result_codes_fill_maGiayToKetQua_under_the_configured_ones(
    tmp_path: Path, portal: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """766 counts an electronic result only with its result code: after a sync, a result of a
    procedure with one result in the catalogue (KETQUATHUCHIEN) carries that code, and a code
    configured in ``result_codes`` wins over the catalogue's."""
    monkeypatch.setenv("LIENTHONG_PORTAL_USER", "lienthong")
    monkeypatch.setenv("LIENTHONG_PORTAL_PASSWORD", "demo-password")
    expected = Catalogue(size=SIZE)
    first, second = sorted(expected.procedures)[:2]
    settings = ConnectorSettings(
        name="portal",
        kind="portal",
        url=portal.url,
        options={
            "agency_code": "000.00.00.H49",
            "username_env": "LIENTHONG_PORTAL_USER",
            "password_env": "LIENTHONG_PORTAL_PASSWORD",
            "result_codes": {second: "KQ-TINH-01"},
        },
    )
    connector = portal_from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    assert isinstance(connector, PortalConnector)
    await connector.open()
    try:
        assert connector.sync.body.result_codes == {second: "KQ-TINH-01"}  # before any sync
        await connector.sync_catalogue()
        listed = expected.procedure(first)
        assert listed is not None
        (result,) = listed["KETQUATHUCHIEN"]
        issued = {"documents": [{"name": "Giấy chứng nhận", "url": "https://kq.example/1.pdf"}]}
        for procedure, code in ((first, result["MAKETQUA"]), (second, "KQ-TINH-01")):
            record = mapping.apply_result({"MaTTHC": procedure}, issued, connector.sync.body)
            assert record["DanhSachGiayToKetQua"][0]["MaGiayToKetQua"] == code
    finally:
        await connector.aclose()
