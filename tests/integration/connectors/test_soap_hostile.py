"""Hostile SOAP replies: the adapter refuses them with a clear error, reads no file and makes no
connection on their behalf."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.soap import SoapEndpoint, SoapProvider
from router.providers import CallPolicy, InvalidProviderReply
from simulators.population import WSDL
from tests.support.simulators import serving
from tests.unit.adapters.test_xml_hostile import BILLION_LAUGHS, quadratic_blowup

REQUEST = {"MaYeuCau": "r", "MaDVC": "d", "MaDonVi": "000.00.00.H49", "SoDinhDanh": "001099000001"}
ENVELOPE = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{}</soap:Body></soap:Envelope>'


def replying(body: bytes) -> Starlette:
    async def answer(_: Request) -> Response:
        return Response(body, media_type="text/xml")

    return Starlette(routes=[Route("/population", answer, methods=["POST"])])


async def call_with_reply(body: bytes, **options: Any) -> InvalidProviderReply:
    with serving(replying(body)) as server:
        soap = SoapProvider(
            SoapEndpoint(
                name="hostile",
                wsdl=str(WSDL),
                address=f"{server.url}/population",
                policy=CallPolicy(max_attempts=1),
                **options,
            )
        )
        try:
            with pytest.raises(InvalidProviderReply) as caught:
                await soap.call("TraCuuCongDan", REQUEST)
        finally:
            await soap.aclose()
    return caught.value


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


async def test_billion_laughs_and_quadratic_blowup() -> None:
    for body in (BILLION_LAUGHS, quadratic_blowup()):
        error = await call_with_reply(body)
        assert "DOCTYPE" in error.detail


async def test_external_entity_to_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>'
        + ENVELOPE.format("<r>&x;</r>")
    ).encode()
    error = await call_with_reply(body)
    assert "TOP-SECRET-CONTENT" not in str(error)


async def test_external_dtd_over_the_network(listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
    body = (f'<?xml version="1.0"?><!DOCTYPE e SYSTEM "{url}">' + ENVELOPE.format("<r/>")).encode()
    await call_with_reply(body)
    with pytest.raises(BlockingIOError):
        listener.accept()


async def test_oversized_and_deeply_nested_replies() -> None:
    big = ENVELOPE.format("<r>" + "x" * 20_000 + "</r>").encode()
    assert "larger" in (await call_with_reply(big, max_reply_bytes=10_000)).detail
    deep = ENVELOPE.format("<a>" * 5000 + "</a>" * 5000).encode()
    await call_with_reply(deep)


async def test_not_xml_at_all() -> None:
    await call_with_reply(b"<html>oops")
