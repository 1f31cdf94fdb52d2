"""The portal simulator as a real server: its protocol, its strict validation (a bad request gets
the portal's error with an error_code, never a crash) and its state across restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.portal import protocol
from simulators.portal import PASSWORD, USERNAME, create_app
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
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=5)
        login = self.http.post(protocol.LOGIN_PATH, json={"username": USERNAME, "password": PASSWORD}).json()
        assert login["error_code"] == 0
        self.session = login["session"]

    def call(self, service: str, **fields: Any) -> dict[str, Any]:
        reply = self.http.post(
            protocol.SERVICE_PATH,
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
        assert client.call(protocol.LOOKUP, mahoso=DOSSIER)["error_code"] == protocol.NOT_FOUND
        assert client.sync("False", record())["error_code"] == 0
        assert client.sync("False", record())["error_code"] == protocol.ALREADY_EXISTS
        assert client.sync("True", record(TrangThaiHoSo="2"))["error_code"] == 0
        assert client.call(protocol.LOOKUP, mahoso=DOSSIER)["data"]["TrangThaiHoSo"] == "2"
        step = {
            "MaHoSo": DOSSIER,
            "NguoiXuLy": "B",
            "ThoiDiemXuLy": "20240502090000",
            "NoiDungXuLy": "x",
            "TrangThai": "2",
        }
        assert client.call(protocol.PROGRESS, data=[step])["error_code"] == 0
        other = dict(step, MaHoSo="000.00.00.H49-240502-0002")
        assert client.call(protocol.PROGRESS, data=[other])["error_code"] == protocol.DOES_NOT_EXIST
        log = httpx.get(f"{server.url}/_sim/log/{DOSSIER}").json()
        assert [(e["service"], e["error_code"]) for e in log] == [
            ("TraCuuHoSo", "01"),
            ("DongBoHoSoMC", "0"),
            ("DongBoHoSoMC", "02"),
            ("DongBoHoSoMC", "0"),
            ("TraCuuHoSo", "0"),
            ("CapNhatTienDoHoSoMC", "0"),
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
        assert reply["error_code"] == protocol.INVALID
        assert names in reply["message"]


def test_bad_requests_never_crash_the_portal() -> None:
    app, _ = create_app()
    with serving(app) as server:
        client = Client(server.url)
        assert client.sync("yes", record())["error_code"] == protocol.INVALID
        assert client.call("XoaHoSo")["error_code"] == protocol.INVALID
        assert client.call(protocol.LOOKUP, mahoso=42)["error_code"] == protocol.INVALID
        raw = httpx.post(f"{server.url}{protocol.SERVICE_PATH}", content=b"{not json", timeout=5)
        assert (raw.status_code, raw.json()["error_code"]) == (200, protocol.INVALID)
        for path in (protocol.SERVICE_PATH, protocol.LOGIN_PATH):  # JSON, but not an object
            for body in (b"[]", b'"x"', b"7"):
                reply = httpx.post(f"{server.url}{path}", content=body, timeout=5)
                assert (reply.status_code, reply.json()["error_code"]) == (200, protocol.INVALID)
        expired = httpx.post(f"{server.url}{protocol.SERVICE_PATH}", json={"session": "nope"}, timeout=5)
        assert expired.json()["error_code"] == protocol.SESSION_EXPIRED
        wrong = httpx.post(
            f"{server.url}{protocol.LOGIN_PATH}", json={"username": "x", "password": "y"}, timeout=5
        )
        assert wrong.json()["error_code"] == protocol.BAD_CREDENTIALS
        bad_agency = client.http.post(
            protocol.SERVICE_PATH,
            json={"session": client.session, "madonvi": "H49", "service": protocol.LOOKUP},
        )
        assert bad_agency.json()["error_code"] == protocol.INVALID


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
        assert client.call(protocol.LOOKUP, mahoso=DOSSIER)["error_code"] == protocol.SESSION_EXPIRED
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
