"""httpx's AsyncClient in the shape of a provider's HTTP client (adapters.provider_http.ProviderHttp):
the comparison point of the bus's aiohttp client in ``bench.evidence --rest-client httpx``."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from adapters.provider_http import AiohttpClient, ClientFactory, HttpSettings, too_large
from router.providers import ProviderTimeout, ProviderUnavailable


class HttpxClient:
    """httpx's AsyncClient, for comparison runs against the bus's aiohttp client."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=dict(settings.headers),
            verify=settings.tls,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections // 2,
            ),
            trust_env=False,
            follow_redirects=False,
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
        if self._http.is_closed:
            raise ProviderUnavailable(f"{name}: the connector was closed (a reload replaced it)")
        try:
            async with self._http.stream(
                method, url, params=params, content=content, headers=headers
            ) as reply:
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise too_large(name, limit)
                return reply.status_code, bytes(body)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(f"{name}: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{name}: {type(error).__name__}: {error}") from None

    async def aclose(self) -> None:
        await self._http.aclose()


CLIENTS: dict[str, ClientFactory] = {"aiohttp": AiohttpClient, "httpx": HttpxClient}
