"""The HTTP clients of REST providers (adapters.provider_http) against real servers on loopback:
bounded replies (announced, chunked or compressed), URLs under the base URL, and every transport
failure turned into a provider error. Both clients (aiohttp, the bus's; httpx, kept for
comparison runs) must behave the same."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from adapters.provider_http import AiohttpClient, ClientFactory, HttpSettings, ProviderHttp
from bench.httpx_client import CLIENTS
from router.providers import (
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderTimeout,
    ProviderUnavailable,
)
from simulators.server import SimulatorServer
from tests.support.bus import free_port
from tests.support.simulators import serving

LIMIT = 64 * 1024


async def _echo(request: Request) -> Response:
    body = await request.body()
    seen = f"{request.method} {request.url.path}?{request.url.query} {request.headers.get('x-extra')} "
    return Response(seen.encode() + body, media_type="text/plain")


async def _announced(request: Request) -> Response:
    return Response(b"x" * (LIMIT + 1), media_type="application/json")


async def _chunked(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 2):
            yield b"y" * 1024

    return StreamingResponse(chunks(), media_type="application/json")


async def _gzip(request: Request) -> Response:
    size = int(request.query_params["size"])
    # sent compressed although the bus asks for identity: read decoded, and counted decoded
    return Response(
        gzip.compress(b"z" * size), media_type="application/json", headers={"Content-Encoding": "gzip"}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    app = Starlette(
        routes=[
            Route("/prefix/echo", _echo, methods=["GET", "POST"]),
            Route("/echo", _echo, methods=["GET", "POST"]),
            Route("/prefix/announced", _announced),
            Route("/prefix/chunked", _chunked),
            Route("/prefix/gzip", _gzip),
        ]
    )
    with serving(app) as running:
        yield running


@pytest.fixture(params=sorted(CLIENTS))
def client_class(request: pytest.FixtureRequest) -> ClientFactory:
    return CLIENTS[request.param]


async def _exchange(
    client: ProviderHttp, url: str, *, method: str = "GET", content: bytes | None = None
) -> tuple[int, bytes]:
    return await client.exchange(
        method, url, params=None, content=content, headers={"X-Extra": "e"}, limit=LIMIT
    )


async def test_paths_go_under_the_base_url_and_absolute_urls_as_they_are(
    server: SimulatorServer, client_class: ClientFactory
) -> None:
    client = client_class(HttpSettings("p", f"{server.url}/prefix", timeout_s=5, headers={"Accept": "*/*"}))
    try:
        under = await client.exchange(
            "POST", "/echo", params={"a": "1"}, content=b"{}", headers={"X-Extra": "e"}, limit=LIMIT
        )
        absolute = await _exchange(client, f"{server.url}/echo")
    finally:
        await client.aclose()
    assert under == (200, b"POST /prefix/echo?a=1 e {}")
    assert absolute == (200, b"GET /echo? e ")


@pytest.mark.parametrize("path", ["/announced", "/chunked", "/gzip?size=1000000"])
async def test_a_reply_past_the_limit_is_refused_and_the_client_goes_on(
    server: SimulatorServer, client_class: ClientFactory, path: str
) -> None:
    client = client_class(HttpSettings("p", f"{server.url}/prefix", timeout_s=5))
    try:
        with pytest.raises(InvalidProviderReply, match="larger than"):
            await _exchange(client, path)
        assert (await _exchange(client, "/echo"))[0] == 200
        assert await _exchange(client, "/gzip?size=100") == (200, b"z" * 100)
    finally:
        await client.aclose()


async def test_a_closed_client_refuses_calls_and_opens_no_new_pool(
    server: SimulatorServer, client_class: ClientFactory
) -> None:
    client = client_class(HttpSettings("p", f"{server.url}/prefix", timeout_s=5))
    assert (await _exchange(client, "/echo"))[0] == 200
    await client.aclose()
    # a retry of a connector that a reload closed meanwhile
    with pytest.raises(ProviderUnavailable, match="closed"):
        await _exchange(client, "/echo")


async def test_nothing_listening_is_unavailable(client_class: ClientFactory) -> None:
    client = client_class(HttpSettings("p", f"http://127.0.0.1:{free_port()}", timeout_s=5))
    try:
        with pytest.raises(ProviderUnavailable, match="p: "):
            await _exchange(client, "/echo")
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server on loopback whose answers ``handle`` writes byte for byte (no HTTP library
    to tidy them up): its base URL."""
    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()


@pytest.mark.parametrize(
    "reply", [b"this is not HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"]
)
async def test_a_broken_reply_is_unavailable(client_class: ClientFactory, reply: bytes) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    async with raw_server(answer) as url:
        client = client_class(HttpSettings("p", url, timeout_s=5))
        try:
            with pytest.raises(ProviderUnavailable):
                await _exchange(client, "/echo")
        finally:
            await client.aclose()


async def test_a_silent_server_is_a_timeout(client_class: ClientFactory) -> None:
    held: list[asyncio.StreamWriter] = []

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # reads the request, never answers

    async with raw_server(never) as url:
        client = client_class(HttpSettings("p", url, timeout_s=0.2))
        try:
            with pytest.raises(ProviderTimeout):
                await _exchange(client, "/echo")
        finally:
            await client.aclose()
            for writer in held:
                writer.close()


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\x00b", "a\x7fb"])
async def test_a_header_value_with_a_control_character_is_an_invalid_request_that_names_no_value(
    server: SimulatorServer, value: str
) -> None:
    # the bus's client (the httpx one, kept for comparison runs, sends a DEL as it is)
    client = AiohttpClient(HttpSettings("p", f"{server.url}/prefix", timeout_s=5))
    try:
        with pytest.raises(InvalidProviderRequest) as raised:
            await client.exchange(
                "GET", "/echo", params=None, content=None, headers={"X-Extra": value}, limit=LIMIT
            )
        assert (await _exchange(client, "/echo"))[0] == 200
    finally:
        await client.aclose()
    assert raised.value.code == "invalid_provider_request" and value not in raised.value.detail
