"""Hostile replies from the systems the bus calls, served by a real HTTP server on loopback: the
portal's adapter (to the portal sink) and the citizen data store (to its data provider). Each is a
clear, bounded error of the kind the caller handles (SinkError for the delivery, a ProviderError
for the evidence query), never an exception that would reach the caller as a 500 or crash."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.citizen_store.connector import from_settings as citizen_store
from connectors.portal.connector import PortalConnector, PortalSink
from connectors.portal.connector import from_settings as portal
from router.providers import CallPolicy, DataRequest, ProviderError
from router.sinks import SinkError
from router.subscriptions import BreakerPolicy
from simulators.server import SimulatorServer
from tests.support.messages import stored
from tests.support.portal import AGENCY, PASSWORD_ENV, USER_ENV, status_changed
from tests.support.results import HOLDER_ID, SigningPki

MAX_DETAIL = 2000  # what a dead letter's last_error or a problem's detail may carry
POLICY = CallPolicy(
    timeout_s=5, deadline_s=10, max_attempts=1, breaker=BreakerPolicy(failure_threshold=10_000)
)


@dataclass
class Hostile:
    """A server answering every POST and GET with :attr:`reply`; logins succeed."""

    reply: bytes = b"{}"
    content_type: str = "application/json"
    calls: list[str] = field(default_factory=list)

    async def answer(self, request: Request) -> Response:
        self.calls.append(request.url.path)
        if request.url.path == "/auth/login":
            return Response(b'{"error_code": "0", "session": "s-1"}', media_type="application/json")
        return Response(self.reply, media_type=self.content_type)


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[Hostile, SimulatorServer]]:
    server = Hostile()
    app = Starlette(routes=[Route("/{path:path}", server.answer, methods=["GET", "POST"])])
    running = SimulatorServer(app).start()
    try:
        yield server, running
    finally:
        running.stop()


# --- the portal -----------------------------------------------------------------------------------


@pytest.fixture
async def portal_sink(
    hostile: tuple[Hostile, SimulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[PortalSink]:
    monkeypatch.setenv(USER_ENV, "lienthong")
    monkeypatch.setenv(PASSWORD_ENV, "password")
    settings = ConnectorSettings(
        name="portal",
        kind="portal",
        url=hostile[1].url,
        call_policy=POLICY,
        options={"agency_code": AGENCY, "username_env": USER_ENV, "password_env": PASSWORD_ENV},
    )
    connector = portal(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    assert isinstance(connector, PortalConnector)
    await connector.open()
    try:
        yield PortalSink(connector.sync)
    finally:
        await connector.aclose()


def _status_event() -> Any:
    event = status_changed(7, 1, 4)  # a dossier the bus never saw: it is looked up on the portal
    return stored(event["id"], event["subject"], data=event["data"], event_type=event["type"])


HUGE_TEXT = "x" * 3_000_000

PORTAL_REPLIES = [
    pytest.param(b"<html>502 Bad Gateway</html>", "unreadable", True, id="not JSON"),
    pytest.param(b"[]", "no error_code", True, id="an array"),
    pytest.param(b'{"message": "ok"}', "no error_code", True, id="no error_code"),
    pytest.param(b'{"error_code": {"0": 0}}', "error_code", False, id="error_code an object"),
    pytest.param(b'{"error_code": "0", "result": "dossier"}', "not an array", True, id="result a string"),
    pytest.param(
        b'{"error_code": "0", "result": {"MaHoSo": "x"}}', "not an array", True, id="result an object"
    ),
    pytest.param(b'{"error_code": "0", "result": [1, 2]}', "not an object", True, id="result of numbers"),
    pytest.param(
        b'{"error_code": "0", "result": [{"MaHoSo": "x", "TrangThaiHoSo": "four"}]}',
        "TrangThaiHoSo",
        False,
        id="status not a number",
    ),
    pytest.param(
        b'{"error_code": "0", "result": [{"MaHoSo": "x", "TrangThaiHoSo": [4]}]}',
        "TrangThaiHoSo",
        False,
        id="status a list",
    ),
    pytest.param(
        orjson.dumps({"error_code": "03", "message": HUGE_TEXT}), "error_code 03", False, id="huge message"
    ),
    pytest.param(
        b'{"error_code": "0", "data": "' + b"y" * 5_000_000 + b'"}', "unreadable", True, id="too large"
    ),
    pytest.param(b'{"error_code": ' + b"[" * 5000 + b"]" * 5000 + b"}", "unreadable", True, id="nested deep"),
]


@pytest.mark.parametrize(("reply", "words", "retryable"), PORTAL_REPLIES)
async def test_hostile_portal_replies_are_clear_sink_errors(
    hostile: tuple[Hostile, SimulatorServer],
    portal_sink: PortalSink,
    reply: bytes,
    words: str,
    retryable: bool,
) -> None:
    hostile[0].reply = reply
    with pytest.raises(SinkError) as raised:
        await portal_sink.send([_status_event()], "key-1")
    assert words in raised.value.detail
    assert raised.value.retryable is retryable
    assert len(raised.value.detail) <= MAX_DETAIL


# --- the citizen data store ---------------------------------------------------------------------

VERIFIED = {"thoiDiemXacThuc": "2026-01-01T00:00:00Z"}

STORE_REPLIES = [
    pytest.param(b"not json", id="not JSON"),
    pytest.param(b"[]", id="an array"),
    pytest.param(b'{"results": "all of them"}', id="results a string"),
    pytest.param(orjson.dumps({"results": [{"hieuLucDen": "soon", "vanBanKy": {}}]}), id="bad expiry"),
    pytest.param(orjson.dumps({"results": [{"hieuLucDen": 7}]}), id="expiry a number"),
    pytest.param(
        orjson.dumps({"results": [{"vanBanKy": [1], "xacThucChuKy": VERIFIED}]}), id="signed a list"
    ),
    pytest.param(orjson.dumps({"results": [{"vanBanKy": "x", "xacThucChuKy": VERIFIED}]}), id="signed text"),
    pytest.param(
        orjson.dumps({"results": [{"vanBanKy": {}, "xacThucChuKy": "yes"}]}), id="verification text"
    ),
    pytest.param(
        orjson.dumps({"results": [{"vanBanKy": {}, "xacThucChuKy": {"thoiDiemXacThuc": "x"}}]}), id="bad time"
    ),
    pytest.param(
        orjson.dumps(
            {
                "results": [
                    {
                        "vanBanKy": {
                            "signature": {"algorithm": "ES256", "value": "!", "certificates": ["?"]}
                        },
                        "xacThucChuKy": VERIFIED,
                    }
                ]
            }
        ),
        id="garbage signature",
    ),
    pytest.param(b'{"results": [' + b'"' + b"z" * 5_000_000 + b'"]}', id="too large"),
]


@pytest.fixture(scope="module")
def pki() -> SigningPki:
    return SigningPki()


@pytest.mark.parametrize("reply", STORE_REPLIES)
async def test_hostile_store_replies_are_clear_provider_errors(
    hostile: tuple[Hostile, SimulatorServer], pki: SigningPki, tmp_path: Path, reply: bytes
) -> None:
    hostile[0].reply = reply
    settings = ConnectorSettings(
        name="kho-ketqua",
        kind="citizen_store",
        url=hostile[1].url,
        call_policy=POLICY,
        options={"trust_anchors": str(pki.write_anchors(tmp_path))},
    )
    provider = citizen_store(settings, ConnectorDeps(CollectorRegistry(), tmp_path)).provider()
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.fetch(
                DataRequest("result.document", {"holder": HOLDER_ID, "procedure": "1.000894"})
            )
    finally:
        await provider.aclose()
    assert raised.value.code in ("invalid_provider_reply", "subject_not_found"), raised.value.detail
    assert len(raised.value.detail) <= MAX_DETAIL
