"""The request head (request line and headers) bounded while it arrives, before it is parsed whole.

uvicorn's httptools protocol keeps no limit of its own: the C parser gathers a header's value in
memory until its end, so a single header of 100 MiB is held whole before the application sees the
request. :class:`BoundedHeadProtocol` counts the bytes received while a head is incomplete and,
past the limit, answers ``431 headers_too_large`` (problem+json) and closes the connection. A
chunk in which one head completes and the next begins is not counted, so that pipelined requests
are never refused for their sum; the bound holds within one read of the socket.

A connection closed while a request is still arriving (a refused head, or a body refused by
:mod:`adapters.http.limits` with ``Connection: close``) lingers, as nginx's does: the answer is
sent and the sending side shut (FIN), then what the client still sends is read and dropped, at
most :data:`LINGER_BYTES` or :data:`LINGER_S`, before the socket closes. Closed at once, the
socket would answer the client's next bytes with a reset, and the client's kernel would drop the
answer unread.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapters.http import problems

DEFAULT_MAX_HEAD_BYTES = 64 << 10
LINGER_BYTES = 16 << 20  # more than the socket buffers between a client and the bus hold
LINGER_S = 5.0


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: its ``close`` lingers while a request is
    still arriving (see the module)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedHeadProtocol) -> None:
        self.real = transport
        self.protocol = protocol
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def is_closing(self) -> bool:
        return self.lingering or self.real.is_closing()

    def close(self) -> None:
        if self.lingering or self.real.is_closing():
            return
        if not self.protocol.request_arriving or not self.real.can_write_eof():
            self.real.close()
            return
        self.lingering = True
        self.real.write_eof()
        self.real.resume_reading()
        self.protocol.linger(self.real)


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on each request's head (see the module)."""

    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES
    _in_head = False  # between a message's first byte and the end of its headers
    _head_bytes = 0
    _heads_completed = 0
    request_arriving = False  # a request's head or body is not all received yet
    _linger_left = 0
    _linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(transport, self)))

    def linger(self, transport: asyncio.Transport) -> None:
        """Drops what arrives, up to the bounds, then closes (see the module)."""
        self._linger_left = LINGER_BYTES
        self._linger_timer = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._linger_timer is not None:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self._linger_timer.cancel()
                cast(_LingeringTransport, self.transport).real.close()
            return
        if self.transport.is_closing():
            return
        completed = self._heads_completed
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        if self._heads_completed == completed:
            self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse()

    def eof_received(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            cast(_LingeringTransport, self.transport).real.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self.request_arriving = True

    def on_message_complete(self) -> None:
        self.request_arriving = False
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_completed += 1
        super().on_headers_complete()

    def _refuse(self) -> None:
        refused = problems.HeadersTooLarge(
            f"the request line and headers exceed the limit of {self.max_head_bytes} bytes"
        )
        response = problems.from_error(refused, "/")
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + bytes(response.body))
        self._in_head = False
        self.transport.close()


def bounded_head_protocol(max_head_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``uvicorn.Config(http=...)``) for this limit."""
    return type("BoundedHeadProtocol", (BoundedHeadProtocol,), {"max_head_bytes": max_head_bytes})
