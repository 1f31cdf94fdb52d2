"""The HTTP exchanges of REST providers: one request, its status and its body (bounded), the
transport's failures turned into the bus's provider errors.

:class:`ProviderHttp` is the shape; :class:`AiohttpClient` the bus's client (``bench/httpx_client.py``
holds one on httpx, so that ``bench.evidence --rest-client`` can compare the two in one run).
aiohttp rather than httpx, by measurement (docs/benchmarks.md, "Evidence queries"): httpcore's pool
scans its connections and polls every idle socket on each request, which at concurrency 50 is
the largest single cost of an uncached evidence query; aiohttp learns that a kept-alive connection
was closed from the event loop (``connection_lost``) instead, and parses replies in C (llhttp).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from adapters.aiohttp_session import LazySession, ReplyTooLarge, read_reply_bounded
from router.providers import (
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderTimeout,
    ProviderUnavailable,
)

# below the idle timeout of common servers (uvicorn's 5 s, nginx's 75 s): a connection is dropped
# by the bus before the provider closes it, so a request is rarely written to a closing socket
KEEPALIVE_S = 4.0


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What a client for one provider endpoint is built from."""

    name: str  # the endpoint's name, in error messages
    base_url: str
    timeout_s: float
    tls: ssl.SSLContext | bool = True  # adapters.tls.client_tls
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every request
    max_connections: int = 100


class ProviderHttp(Protocol):
    """One provider endpoint's HTTP client and connection pool."""

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str],
        limit: int,
    ) -> tuple[int, bytes]:
        """Status and body of one request (``url``: a path under the base URL, or absolute).
        Raises ``ProviderTimeout``, ``ProviderUnavailable`` (no connection, a broken reply) or
        ``InvalidProviderReply`` (a body larger than ``limit`` bytes)."""
        ...

    async def aclose(self) -> None: ...


def too_large(name: str, limit: int) -> InvalidProviderReply:
    return InvalidProviderReply(f"{name}: the reply is larger than {limit} bytes")


class AiohttpClient:
    """aiohttp's ClientSession, made on first use (adapters/aiohttp_session.py)."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self._base = settings.base_url.rstrip("/")
        self._session = LazySession(self._new_session)

    def _new_session(self) -> aiohttp.ClientSession:
        settings = self.settings
        connector = aiohttp.TCPConnector(
            limit=settings.max_connections, ssl=settings.tls, keepalive_timeout=KEEPALIVE_S
        )
        # per-attempt and whole-call time limits are the call guard's (router.provider_calls);
        # these bound each phase in case a client is used without one
        timeout = aiohttp.ClientTimeout(sock_connect=settings.timeout_s, sock_read=settings.timeout_s)
        return aiohttp.ClientSession(
            connector=connector,
            headers=dict(settings.headers),
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # providers are called statelessly
            trust_env=False,
        )

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str],
        limit: int,
    ) -> tuple[int, bytes]:
        name = self.settings.name
        if self._session.closed:
            raise ProviderUnavailable(f"{name}: the connector was closed (a reload replaced it)")
        session = self._session.get()
        target = url if "://" in url else self._base + url
        try:
            async with session.request(
                method, target, params=params, data=content, headers=headers, allow_redirects=False
            ) as reply:
                return reply.status, await read_reply_bounded(reply, limit)
        except ReplyTooLarge:
            raise too_large(name, limit) from None
        except TimeoutError as error:
            raise ProviderTimeout(f"{name}: {type(error).__name__}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise ProviderUnavailable(f"{name}: {type(error).__name__}: {error}") from None
        except ValueError:
            # aiohttp refuses to build the request (a control character in a header's value): the
            # message may quote the value, so it is left out
            raise InvalidProviderRequest(
                f"{name}: the request cannot be sent as HTTP (a header or the URL is malformed)",
                provider=name,
            ) from None

    async def aclose(self) -> None:
        await self._session.aclose()


ClientFactory = Callable[[HttpSettings], ProviderHttp]
