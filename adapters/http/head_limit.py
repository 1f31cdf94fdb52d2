"""The request head (request line and headers) bounded while it arrives, before it is parsed whole.

uvicorn's httptools protocol keeps no limit of its own: the C parser gathers a header's value in
memory until its end, so a single header of 100 MiB is held whole before the application sees the
request. :class:`BoundedHeadProtocol` counts the bytes received while a head is incomplete and,
past the limit, answers ``431 headers_too_large`` (problem+json) and closes the connection. A
chunk in which one head completes and the next begins is not counted, so that pipelined requests
are never refused for their sum; the bound holds within one read of the socket.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapters.http import problems

DEFAULT_MAX_HEAD_BYTES = 64 << 10


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on each request's head (see the module)."""

    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES
    _in_head = False  # between a message's first byte and the end of its headers
    _head_bytes = 0
    _heads_completed = 0

    def data_received(self, data: bytes) -> None:
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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

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
        self.transport.close()
        self._in_head = False


def bounded_head_protocol(max_head_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``uvicorn.Config(http=...)``) for this limit."""
    return type("BoundedHeadProtocol", (BoundedHeadProtocol,), {"max_head_bytes": max_head_bytes})
