"""The portal envelope contract (portal-dvcqg.md §1, §2.1-2.3, §4), against the portal simulator
served on loopback.

1. Requests built by hand from the facts of the reference, as the real clients send them
   (OpenCPS's direct client "OC", the Hà Giang bridge client "HG", the Thanh Hóa one-stop system
   "TD"), not from our connector, are taken by the simulator's envelope; requests no client
   sends are refused.
2. The connector's own requests, recorded on their way to the simulator, are checked key by key
   against the same facts, for both envelopes.

The dossier inside ``data`` is the body contract's business (tests/contract/test_portal_bodies.py);
here a dossier shaped as OC sends it (every scalar a string) must pass the envelope: it is taken,
or refused only for one of its own fields (a rule of the body, never of the envelope).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.connector import PortalConnector, PortalSink
from connectors.portal.connector import from_settings as portal
from connectors.portal.envelope import Paths
from router.providers import CallPolicy
from simulators.portal import (
    BRIDGE_CREATE,
    BRIDGE_LOOKUP,
    BRIDGE_PROGRESS,
    BRIDGE_SYNC,
    BRIDGE_UPDATE,
    INVALID,
    PASSWORD,
    USERNAME,
    create_app,
    portal_of,
)
from simulators.server import SimulatorServer
from tests.support.messages import stored
from tests.support.portal import AGENCY, PASSWORD_ENV, USER_ENV, code, status_changed, submitted

# OC: a dossier as OpenCPS sends it (String.valueOf everywhere, "" for what it does not know)
OC_DOSSIER: dict[str, Any] = {
    "MaHoSo": "000.00.12.H22-210607-0012",
    "MaTTHC": "1.001612",
    "TenTTHC": "Đăng ký khai sinh",
    "ChuHoSo": "Nguyễn Văn An",
    "LoaiDoiTuong": "1",
    "MaDoiTuong": "",
    "NgayTiepNhan": "20210607081500",
    "NgayHenTra": "20210610170000",
    "TrangThaiHoSo": "2",
    "HinhThuc": "0",
    "DonViXuLy": "UBND xã Phương Thiện",
    "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "022089000123"}],
    "TaiLieuNop": [],
    "DanhSachLePhi": [],
    "DanhSachTepDinhKemKhac": [],
    "DanhSachHoSoBoSung": [],
    "DanhSachGiayToKetQua": [],
}
OC_PROGRESS: dict[str, Any] = {
    "MaHoSo": OC_DOSSIER["MaHoSo"],
    "NguoiXuLy": "Chuyên viên",
    "ChucDanh": "",
    "ThoiDiemXuLy": "20210607090000",
    "PhongBanXuLy": "Một cửa",
    "NoiDungXuLy": "Tiếp nhận hồ sơ - ",
    "TrangThai": "2",
    "NgayBatDau": "20210607081500",
    "NgayKetThucTheoQuyDinh": "",
}
# OC's headers (§2.1): JSON both ways, UTF-8
OC_HEADERS = {"Accept": "application/json", "Content-Type": "application/json", "Charset": "utf-8"}


def envelope_took(reply: dict[str, Any]) -> bool:
    """The request was taken: the simulator answered success, envelope and body alike."""
    return protocol.code_of(reply["error_code"]) == "0"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Recorder:
    """Wraps the simulator's app and keeps every request the connector sends it."""

    app: Any
    requests: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        self.requests.append(
            Seen(
                scope["method"],
                scope["path"],
                dict(parse_qsl(scope["query_string"].decode())),
                {k.decode().lower(): v.decode() for k, v in scope["headers"]},
                orjson.loads(raw) if raw else None,
            )
        )
        replayed = False

        async def again() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, again, send)


@pytest.fixture
def simulator() -> Iterator[tuple[SimulatorServer, Any]]:
    app, state = create_app(dstcode="QNH")
    server = SimulatorServer(app).start()
    try:
        yield server, portal_of(state)
    finally:
        server.stop()


def login(url: str) -> str:
    reply = httpx.post(
        f"{url}{Paths().auth}",
        content=orjson.dumps({"username": USERNAME, "password": PASSWORD}),
        headers={**OC_HEADERS, "dstcode": "QNH"},
        timeout=5,
    ).json()
    assert protocol.code_of(reply["error_code"]) == "0", reply
    session: str = reply["session"]
    return session


def oc_call(url: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(
        f"{url}{Paths().integration}",
        content=orjson.dumps(body),
        headers={**OC_HEADERS, "dstcode": "QNH"},
        timeout=5,
    )
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.json()
    return answer


# --- 1. real clients' requests --------------------------------------------------------------------


def test_oc_requests_are_taken(simulator: tuple[SimulatorServer, Any]) -> None:
    url = simulator[0].url
    session = login(url)
    dossier = OC_DOSSIER["MaHoSo"]
    lookup = {"session": session, "madonvi": AGENCY, "service": "TraCuuHoSo", "mahoso": dossier}
    assert oc_call(url, lookup) == {"error_code": 0, "message": "Thành công", "result": []}
    create = {
        "session": session,
        "madonvi": AGENCY,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": [OC_DOSSIER],
    }
    assert envelope_took(oc_call(url, create))
    # OC's manual path sends several dossiers in one call
    many = {**create, "data": [{**OC_DOSSIER, "MaHoSo": code(1)}, {**OC_DOSSIER, "MaHoSo": code(2)}]}
    assert envelope_took(oc_call(url, many))
    assert envelope_took(oc_call(url, {**many, "isUpdating": "True"}))
    progress = {
        "session": session,
        "madonvi": AGENCY,
        "service": "CapNhatTienDoHoSoMC",
        "data": [OC_PROGRESS],
    }
    assert envelope_took(oc_call(url, progress))


def oc_share_call(url: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(
        f"{url}{Paths().share}",
        content=orjson.dumps(body),
        headers={**OC_HEADERS, "dstcode": "QNH"},
        timeout=5,
    )
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.json()
    return answer


def test_oc_catalogue_requests_are_answered_as_section_2_6_and_2_7_say(
    simulator: tuple[SimulatorServer, Any],
) -> None:
    """The catalogue calls as OpenCPS makes them (§1, §2.6, §2.7): the lists on the share
    endpoint, LayThuTuc with camel-case maTTHC on the integration endpoint; every reply a
    ``result`` array with the upper-case keys the reference names."""
    url = simulator[0].url
    envelope = {"session": login(url), "madonvi": AGENCY}
    listed = oc_share_call(url, {**envelope, "service": "LayDanhSachTTHC"})
    assert protocol.code_of(listed["error_code"]) == "0"
    assert listed["result"] and all({"MATTHC", "TENTTHC"} <= set(item) for item in listed["result"])
    agencies = oc_share_call(url, {**envelope, "service": "LayDanhMucCoQuan"})["result"]
    assert agencies and all({"MADONVI", "TENDONVI", "CAPDONVI"} <= set(item) for item in agencies)
    fields = oc_share_call(url, {**envelope, "service": "LayDanhMucLinhVuc"})["result"]
    assert fields and all({"MALINHVUC", "TENLINHVUC", "MANGANH"} <= set(item) for item in fields)
    code = listed["result"][0]["MATTHC"]
    (procedure,) = oc_call(url, {**envelope, "service": "LayThuTuc", "maTTHC": code})["result"]
    assert procedure["MATTHC"] == code
    assert {"TENTTHC", "LINHVUCTHUCHIEN", "CACHTHUCTHUCHIEN", "KETQUATHUCHIEN", "COQUANTHUCHIEN"} <= set(
        procedure
    )
    kenh = [way["KENH"] for way in procedure["CACHTHUCTHUCHIEN"]]
    assert kenh and all(k in (1, 2, 3) for k in kenh)  # KENH is a number in LayThuTuc (§2.6)
    unknown = oc_call(url, {**envelope, "service": "LayThuTuc", "maTTHC": "9.999999"})
    assert unknown["result"] == []  # not found is an empty result, never an error code


def test_a_short_agency_code_as_madonvi_is_taken(simulator: tuple[SimulatorServer, Any]) -> None:
    url = simulator[0].url
    body = {
        "session": login(url),
        "madonvi": "H56.14",
        "service": "TraCuuHoSo",
        "mahoso": "G09.20-20260609-0092637",
    }
    assert oc_call(url, body)["result"] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"isUpdating": True}, "isUpdating"),  # a JSON boolean: every client sends the string
        ({"isUpdating": "1"}, "isUpdating"),
        ({"data": OC_DOSSIER}, "data"),  # one object, not an array
        ({"data": []}, "data"),
        ({"service": "DongBoHoSo"}, "service"),
        ({"madonvi": ""}, "madonvi"),
    ],
)
def test_requests_no_client_sends_are_refused(
    simulator: tuple[SimulatorServer, Any], change: dict[str, Any], words: str
) -> None:
    url = simulator[0].url
    body = {
        "session": login(url),
        "madonvi": AGENCY,
        "service": "DongBoHoSoMC",
        "isUpdating": "False",
        "data": [OC_DOSSIER],
        **change,
    }
    reply = oc_call(url, body)
    assert (reply["error_code"], words in reply["message"]) == (INVALID, True), reply


def test_hg_and_td_bridge_requests_are_taken(simulator: tuple[SimulatorServer, Any]) -> None:
    url = simulator[0].url
    # HG: one URL, the agency and isUpdating as query parameters, a bare array, no session
    hg = httpx.post(
        f"{url}{BRIDGE_SYNC}",
        params={"MaDinhDanhDV": "000.00.01.H22", "isUpdating": "False"},
        content=orjson.dumps([OC_DOSSIER]),
        headers={"Content-Type": "application/json"},
        timeout=5,
    ).json()
    assert envelope_took(hg)
    # TD: a bare one-element array to its create and update URLs
    td = {**OC_DOSSIER, "MaHoSo": "000.00.12.H56-250225-10234"}
    for path in (BRIDGE_CREATE, BRIDGE_UPDATE):
        assert envelope_took(httpx.post(f"{url}{path}", json=[td], timeout=5).json())
    assert envelope_took(httpx.post(f"{url}{BRIDGE_PROGRESS}", json=[OC_PROGRESS], timeout=5).json())
    found = httpx.get(f"{url}{BRIDGE_LOOKUP}", params={"mahoso": "nothing-here"}, timeout=5).json()
    assert found == {"error_code": 0, "message": "Thành công", "result": []}
    # an object is not what a bridge takes; nor an HG call without its agency
    assert httpx.post(f"{url}{BRIDGE_CREATE}", json=td, timeout=5).json()["error_code"] == INVALID
    no_agency = httpx.post(f"{url}{BRIDGE_SYNC}", params={"isUpdating": "True"}, json=[td], timeout=5)
    assert no_agency.json()["error_code"] == INVALID


# --- 2. the connector's own requests --------------------------------------------------------------

FAST = CallPolicy(timeout_s=5, deadline_s=10, max_attempts=1)


@asynccontextmanager
async def connector_to(
    recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> AsyncIterator[PortalSink]:
    monkeypatch.setenv(USER_ENV, USERNAME)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("LIENTHONG_TEST_BRIDGE_TOKEN", "bridge-token")
    server = SimulatorServer(recorder).start()
    settings = ConnectorSettings(
        name="portal",
        kind="portal",
        url=server.url,
        call_policy=FAST,
        options={"agency_code": AGENCY, **options},
    )
    connector = portal(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    assert isinstance(connector, PortalConnector)
    await connector.open()
    try:
        yield PortalSink(connector.sync)
    finally:
        await connector.aclose()
        server.stop()


async def send(sink: PortalSink, *events: dict[str, Any]) -> None:
    for event in events:
        await sink.send(
            [stored(event["id"], event["subject"], data=event["data"], event_type=event["type"])], "k"
        )


def scalars_are_text(body: dict[str, Any]) -> bool:
    return all(isinstance(v, str) for v in body.values() if not isinstance(v, list | dict))


async def test_the_connectors_portal_envelope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths(auth="/mapi/login", integration="/mapi/g", share="/mapi/share")
    app, _ = create_app(paths=paths, dstcode="QNH")
    recorder = Recorder(app)
    options = {
        "username_env": USER_ENV,
        "password_env": PASSWORD_ENV,
        "auth_path": paths.auth,
        "integration_path": paths.integration,
        "share_path": paths.share,
        "dstcode": "QNH",
    }
    async with connector_to(recorder, tmp_path, monkeypatch, options) as sink:
        await send(sink, submitted(0), status_changed(0, 1, 2))
    first, lookup, create, update = recorder.requests
    for seen in recorder.requests:  # §1: POST JSON both ways, and the dstcode on every call
        assert seen.method == "POST"
        assert seen.headers["content-type"] == "application/json"
        assert seen.headers["accept"] == "application/json"
        assert seen.headers["dstcode"] == "QNH"
    assert (first.path, first.body) == (paths.auth, {"username": USERNAME, "password": PASSWORD})
    session = lookup.body["session"]
    assert lookup.path == paths.integration
    assert lookup.body == {"session": session, "madonvi": AGENCY, "service": "TraCuuHoSo", "mahoso": code(0)}
    assert set(create.body) == {"session", "madonvi", "service", "isUpdating", "data"}
    assert (create.body["service"], create.body["isUpdating"]) == ("DongBoHoSoMC", "False")
    assert isinstance(create.body["data"], list) and [d["MaHoSo"] for d in create.body["data"]] == [code(0)]
    assert (update.body["isUpdating"], update.body["session"]) == ("True", session)  # known: no lookup
    assert all(scalars_are_text(seen.body) for seen in recorder.requests)


async def test_an_empty_dstcode_goes_on_service_calls_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = create_app()
    recorder = Recorder(app)
    options = {"username_env": USER_ENV, "password_env": PASSWORD_ENV, "dstcode": ""}
    async with connector_to(recorder, tmp_path, monkeypatch, options) as sink:
        await send(sink, submitted(0))
    login_seen, *calls = recorder.requests
    assert "dstcode" not in login_seen.headers
    assert calls and all(seen.headers.get("dstcode") == "" for seen in calls)


async def test_without_dstcode_no_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = create_app()
    recorder = Recorder(app)
    options = {"username_env": USER_ENV, "password_env": PASSWORD_ENV}
    async with connector_to(recorder, tmp_path, monkeypatch, options) as sink:
        await send(sink, submitted(0))
    assert recorder.requests and all("dstcode" not in seen.headers for seen in recorder.requests)


async def test_the_connectors_bridge_envelope_td(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, state = create_app(bridge_token="bridge-token")
    recorder = Recorder(app)
    options = {
        "envelope": "bridge",
        "bridge": {
            "create_url": BRIDGE_CREATE,
            "update_url": BRIDGE_UPDATE,
            "progress_url": BRIDGE_PROGRESS,
            "lookup_url": BRIDGE_LOOKUP,
            "lookup_params": {"mahoso": "{dossier}"},
            "bearer_env": "LIENTHONG_TEST_BRIDGE_TOKEN",
        },
    }
    async with connector_to(recorder, tmp_path, monkeypatch, options) as sink:
        await send(sink, submitted(0), status_changed(0, 1, 2))
    lookup, create, update = recorder.requests
    assert (lookup.method, lookup.path, lookup.query, lookup.body) == (
        "GET",
        BRIDGE_LOOKUP,
        {"mahoso": code(0)},
        None,
    )
    assert (create.path, update.path) == (BRIDGE_CREATE, BRIDGE_UPDATE)
    for seen in (create, update):  # a bare array, no session, no madonvi, no service
        assert isinstance(seen.body, list) and [d["MaHoSo"] for d in seen.body] == [code(0)]
    assert all(seen.headers["authorization"] == "Bearer bridge-token" for seen in recorder.requests)
    assert portal_of(state).logins == 0
    assert portal_of(state).store.dossiers[code(0)]["MaHoSo"] == code(0)


async def test_the_connectors_bridge_envelope_hg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, state = create_app()
    recorder = Recorder(app)
    params = {"MaDinhDanhDV": "{agency}"}
    options = {
        "envelope": "bridge",
        "bridge": {
            "create_url": BRIDGE_SYNC,
            "create_params": {**params, "isUpdating": "False"},
            "update_url": BRIDGE_SYNC,
            "update_params": {**params, "isUpdating": "True"},
            "progress_url": BRIDGE_PROGRESS,
        },
    }
    async with connector_to(recorder, tmp_path, monkeypatch, options) as sink:
        await send(sink, submitted(0), status_changed(0, 1, 2))
    create, update = recorder.requests  # no lookup URL: the create goes first
    assert (create.path, create.query) == (BRIDGE_SYNC, {"MaDinhDanhDV": AGENCY, "isUpdating": "False"})
    assert (update.path, update.query) == (BRIDGE_SYNC, {"MaDinhDanhDV": AGENCY, "isUpdating": "True"})
    assert all(
        isinstance(seen.body, list) and "authorization" not in seen.headers for seen in recorder.requests
    )
    assert portal_of(state).logins == 0
