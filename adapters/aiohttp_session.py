"""An aiohttp session made on first use, for the bus's outgoing HTTP clients (REST providers,
webhook sinks).

aiohttp's ClientSession belongs to the event loop it was made on, and the bus builds its
providers and sinks while it wires the configuration, before uvicorn runs the loop: the session
is made on the first call. A closed session stays closed, so that a late retry cannot open a new
pool behind its owner's back; each client says in its own error terms that it was closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import aiohttp


class SessionClosed(RuntimeError):
    """The client was closed (the bus stopping, or a reload replacing it)."""


class LazySession:
    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self) -> aiohttp.ClientSession:
        """The session, made now if this is the first call; SessionClosed once closed."""
        if self._closed:
            raise SessionClosed("the HTTP client was closed")
        if self._session is None:
            self._session = self._make()
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ReplyTooLarge(Exception):
    """A reply's body is larger than the reader allows; the connection is closed, the rest unread."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the reply is larger than {limit} bytes")
        self.limit = limit


async def read_reply_bounded(reply: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body of ``reply``, read no further than ``limit`` bytes (counted as decoded): raises
    :class:`ReplyTooLarge` beyond, before the rest arrives; the connection is then closed, never
    reused with an unread body on it."""
    size = reply.content_length
    if size is not None and size > limit:
        reply.close()
        raise ReplyTooLarge(limit)
    if size is not None and "Content-Encoding" not in reply.headers:
        return await reply.read()  # at most ``limit`` bytes, in one go
    # chunked, or compressed although asked for identity: counted as it is decoded
    body = bytearray()
    async for chunk in reply.content.iter_any():
        body += chunk
        if len(body) > limit:
            reply.close()
            raise ReplyTooLarge(limit)
    return bytes(body)
