"""The portal simulator as a real server: its protocol (reads answered in ``result``, a duplicate
create answered 0 with "đã tồn tại" and nothing written), its strict validation (a bad request
gets the portal's error with an error_code, never a crash), its configurable endpoints, dstcode
and expired-session reply, and its state across restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.portal import protocol
from connectors.portal.envelope import Paths
from simulators.portal import BRIDGE_UPDATE, INVALID, PASSWORD, REFUSED, USERNAME, create_app, portal_of
from tests.support.bus import free_port
from tests.support.simulators import serving

DOSSIER = "000.00.00.H49-240502-0001"
AGENCY = "000.00.00.H49"


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MaHoSo": DOSSIER,
        "MaTTHC": "1.000894",
        "ChuHoSo": "Nguyễn Văn A",
        "LoaiDoiTuong": "1",
        "TrangThaiHoSo": "1",
        "NgayNopHoSo": "20240502083000",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "022089000123"}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


class Client:
    def __init__(self, url: str, paths: Paths | None = None, headers: dict[str, str] | None = None) -> None:
        paths = paths or Paths()
        self.http = httpx.Client(base_url=url, timeout=5, headers=headers)
        self.paths = paths
        login = self.http.post(paths.auth, json={"username": USERNAME, "password": PASSWORD}).json()
        assert login["error_code"] == 0
        self.session = login["session"]

    def call(self, service: str, endpoint: str = "integration", **fields: Any) -> dict[str, Any]:
        reply = self.http.post(
            self.paths.of(endpoint),
            json={"session": self.session, "madonvi": AGENCY, "service": service, **fields},
        )
        assert reply.status_code == 200
        body: dict[str, Any] = reply.json()
        return body

    def sync(self, updating: str, *records: dict[str, Any]) -> dict[str, Any]:
        return self.call(protocol.SYNC, isUpdating=updating, data=list(records))


def test_create_look_up_update_and_progress() -> None:
    app, _ = create_app()
    with serving(app) as server:
        client = Client(server.url)
        assert client.call(protocol.LOOKUP, mahoso=DOSSIER) == {
            "error_code": 0,
            "message": "Thành công",
            "result": [],
        }
        assert client.sync("False", record())["error_code"] == 0
        duplicate = client.sync("False", record(ChuHoSo="Người Khác"))
        assert duplicate["error_code"] == "0" and "đã tồn tại" in duplicate["message"]
        assert httpx.get(f"{server.url}/_sim/dossiers/{DOSSIER}").json()["ChuHoSo"] == "Nguyễn Văn A"
        assert client.sync("True", record(TrangThaiHoSo="2"))["error_code"] == 0
        (found,) = client.call(protocol.LOOKUP, mahoso=DOSSIER)["result"]
        assert found["TrangThaiHoSo"] == "2"
        step = {
            "MaHoSo": DOSSIER,
            "NguoiXuLy": "B",
            "ThoiDiemXuLy": "20240502090000",
            "NoiDungXuLy": "x",
            "TrangThai": "2",
        }
        assert client.call(protocol.PROGRESS, data=[step])["error_code"] == 0
        other = dict(step, MaHoSo="000.00.00.H49-240502-0002")
        assert client.call(protocol.PROGRESS, data=[other])["error_code"] == REFUSED
        log = httpx.get(f"{server.url}/_sim/log/{DOSSIER}").json()
        assert [(e["service"], e["error_code"], e.get("written")) for e in log] == [
            ("TraCuuHoSo", "0", None),
            ("DongBoHoSoMC", "0", True),
            ("DongBoHoSoMC", "0", False),
            ("DongBoHoSoMC", "0", True),
            ("TraCuuHoSo", "0", None),
            ("CapNhatTienDoHoSoMC", "0", None),
        ]


def test_the_call_log_records_when_each_call_was_received() -> None:
    """On the portal's own clock (given here), through the adapter and the bridge alike: what the
    demo times a sync by."""
    app, state = create_app()
    ticks = iter([1_000.0, 1_000.25, 1_000.5])
    portal_of(state).wall_clock = lambda: next(ticks)
    with serving(app) as server:
        client = Client(server.url)
        client.call(protocol.LOOKUP, mahoso=DOSSIER)
        client.sync("False", record())
        assert httpx.post(f"{server.url}{BRIDGE_UPDATE}", json=[record(TrangThaiHoSo="2")]).status_code == 200
        log = httpx.get(f"{server.url}/_sim/log/{DOSSIER}").json()
    assert [(e["service"], e.get("status"), e["received_at"]) for e in log] == [
        (protocol.LOOKUP, None, 1_000.0),
        (protocol.SYNC, "1", 1_000.25),
        (protocol.SYNC, "2", 1_000.5),
    ]


@pytest.mark.parametrize(
    ("bad", "names"),
    [
        (record(NgayNopHoSo="2024-05-02T08:30:00"), "NgayNopHoSo"),
        (record(NgayHenTra="20240230083000"), "NgayHenTra"),  # 30 February
        (record(TrangThaiHoSo="11"), "TrangThaiHoSo"),
        (record(TrangThaiHoSo=4), "TrangThaiHoSo"),  # a number: every real client sends "4"
        (record(LoaiDoiTuong="5"), "LoaiDoiTuong"),
        (record(ChuHoSo=None), "ChuHoSo"),
        (record(DinhDanhCHS=[{"LoaiDinhDanh": "1", "SoDinhDanh": "02208900012"}]), "DinhDanhCHS"),
        (record(MaHoSo=" "), "MaHoSo"),
        (record(Unknown="x"), "Unknown"),
        (record(TaiLieuNop=[{"TenTepDinhKem": "a", "DuocSoHoa": True}]), "DuocSoHoa"),
    ],
)
def test_bad_records_get_the_portals_error_naming_the_field(bad: dict[str, Any], names: str) -> None:
    app, _ = create_app()
    with serving(app) as server:
        reply = Client(server.url).sync("False", bad)
        assert reply["error_code"] == INVALID
        assert names in reply["message"]


def test_bad_requests_never_crash_the_portal() -> None:
    app, _ = create_app()
    with serving(app) as server:
        client = Client(server.url)
        service, login = Paths().integration, Paths().auth
        assert client.sync("yes", record())["error_code"] == INVALID
        assert client.sync("true", record())["error_code"] == INVALID  # the strings real clients send
        assert client.call("XoaHoSo")["error_code"] == INVALID
        assert client.call(protocol.LOOKUP, mahoso=42)["error_code"] == INVALID
        assert client.call(protocol.LOOKUP, endpoint="share", mahoso=DOSSIER)["error_code"] == INVALID
        raw = httpx.post(f"{server.url}{service}", content=b"{not json", timeout=5)
        assert (raw.status_code, raw.json()["error_code"]) == (200, INVALID)
        for path in (service, login):  # JSON, but not an object
            for body in (b"[]", b'"x"', b"7"):
                reply = httpx.post(f"{server.url}{path}", content=body, timeout=5)
                assert (reply.status_code, reply.json()["error_code"]) == (200, INVALID)
        expired = httpx.post(f"{server.url}{service}", json={"session": "nope"}, timeout=5)
        assert expired.status_code == 401
        wrong = httpx.post(f"{server.url}{login}", json={"username": "x", "password": "y"}, timeout=5)
        assert wrong.json()["error_code"] == REFUSED
        no_agency = client.http.post(service, json={"session": client.session, "service": protocol.LOOKUP})
        assert no_agency.json()["error_code"] == INVALID


def test_a_short_agency_code_is_taken_as_madonvi() -> None:
    app, _ = create_app()
    with serving(app) as server:
        client = Client(server.url)
        body = {"session": client.session, "madonvi": "H56.14", "service": protocol.LOOKUP, "mahoso": DOSSIER}
        assert client.http.post(Paths().integration, json=body).json()["error_code"] == 0


def test_endpoints_are_configurable_and_dstcode_is_checked_when_configured() -> None:
    paths = Paths(auth="/mapi/login", integration="/mapi/g", share="/mapi/share")
    app, _ = create_app(paths=paths, dstcode="QNH")
    with serving(app) as server:
        refused = httpx.post(
            f"{server.url}/mapi/login", json={"username": USERNAME, "password": PASSWORD}, timeout=5
        )
        assert refused.json()["error_code"] == REFUSED and "dstcode" in refused.json()["message"]
        client = Client(server.url, paths, headers={"dstcode": "QNH"})
        assert client.call(protocol.LOOKUP, mahoso=DOSSIER)["result"] == []
        body = {"session": client.session, "madonvi": AGENCY, "service": protocol.LOOKUP, "mahoso": DOSSIER}
        without = httpx.post(f"{server.url}/mapi/g", json=body, timeout=5).json()
        assert without["error_code"] == REFUSED
        assert httpx.post(f"{server.url}{Paths().integration}", json=body, timeout=5).status_code == 404


def test_ended_sessions_get_the_configured_reply() -> None:
    app, _ = create_app()
    with serving(app) as server:
        client = Client(server.url)
        ended = {"status": 200, "body": {"error_code": "99", "message": "Phiên đã hết hạn"}}
        expired = httpx.post(f"{server.url}/_sim/expire-sessions", json=ended, timeout=5).json()
        assert expired["expired"] == 1
        reply = client.http.post(
            Paths().integration,
            json={
                "session": client.session,
                "madonvi": AGENCY,
                "service": protocol.LOOKUP,
                "mahoso": DOSSIER,
            },
        )
        assert (reply.status_code, reply.json()) == (200, ended["body"])
        assert (
            httpx.post(f"{server.url}/_sim/expire-sessions", json={"status": "x"}, timeout=5).status_code
            == 400
        )


def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "portal.db"
    app, _ = create_app(state=state)
    with serving(app) as server:
        client = Client(server.url)
        assert client.sync("False", record())["error_code"] == 0
        assert client.sync("True", record(TrangThaiHoSo="2"))["error_code"] == 0
    again, _ = create_app(state=state)
    with serving(again) as server:
        assert httpx.get(f"{server.url}/_sim/dossiers/{DOSSIER}").json()["TrangThaiHoSo"] == "2"
        assert len(httpx.get(f"{server.url}/_sim/log/{DOSSIER}").json()) == 2
        client = Client(server.url)  # sessions do not survive: a fresh login
        assert client.sync("True", record(TrangThaiHoSo="4"))["error_code"] == 0
        assert [e["seq"] for e in httpx.get(f"{server.url}/_sim/log/{DOSSIER}").json()] == [1, 2, 3]


def test_sessions_expire_on_their_own() -> None:
    app, _ = create_app()
    with serving(app) as server:
        httpx.put(f"{server.url}/_sim/portal", json={"session_ttl_s": 0}, timeout=5).raise_for_status()
        client = Client(server.url)
        assert (
            client.http.post(
                Paths().integration,
                json={"session": client.session, "madonvi": AGENCY, "service": protocol.LOOKUP},
            ).status_code
            == 401
        )
        assert httpx.put(f"{server.url}/_sim/portal", json={"nope": 1}, timeout=5).status_code == 400


def test_lienthong_simulate_portal_keeps_its_state_file(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "lienthong",
        "simulate",
        "portal",
        "--port",
        str(port),
        "--state",
        str(tmp_path / "p.db"),
    ]
    url = f"http://127.0.0.1:{port}"
    for round_ in range(2):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/_sim/stats", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the simulator did not start"
                    time.sleep(0.1)
            if round_ == 0:
                assert Client(url).sync("False", record())["error_code"] == 0
            else:
                assert httpx.get(f"{url}/_sim/dossiers/{DOSSIER}", timeout=5).json()["MaHoSo"] == DOSSIER
        finally:
            process.terminate()
            process.wait(10)
