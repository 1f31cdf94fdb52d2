"""How a configured connector authenticates its calls: the small interface its kinds call
(:class:`OutboundAuth`), and the implementation on the ``auth:`` setting the bus reads today
(:mod:`connectors.client_auth`: an API key header, or OAuth2 client credentials).

The kinds only ask for headers before a call, a WS-Security object for a SOAP envelope, and a
fresh credential after a 401 (then they try once more), so another implementation (platform
profiles, HTTP Basic, a static bearer token, UsernameToken) plugs in without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from adapters.provider_http import AiohttpClient, ClientFactory, HttpSettings, ProviderHttp
from adapters.rest import DEFAULT_MAX_REPLY_BYTES, OAuth2Token
from connectors.client_auth import client_auth


class OutboundAuth(Protocol):
    async def headers(self) -> Mapping[str, str]:
        """The headers that authenticate the next call."""
        ...

    async def refresh_after_unauthorized(self) -> bool:
        """The provider answered 401: renew the credential; whether a second try may help."""
        ...

    def soap_security(self) -> Any | None:
        """A zeep WS-Security object signing or carrying credentials in the envelope, or None."""
        ...

    async def aclose(self) -> None: ...


class NoAuth:
    async def headers(self) -> Mapping[str, str]:
        return {}

    async def refresh_after_unauthorized(self) -> bool:
        return False

    def soap_security(self) -> Any | None:
        return None

    async def aclose(self) -> None:
        pass


class ConfiguredAuth:
    """``auth: {api_key: {header, env}}`` or ``auth: {oauth2: {token_url, client_id_env,
    client_secret_env, scope}}``; secrets read from the environment when built."""

    def __init__(
        self, name: str, auth: Mapping[str, Any], timeout_s: float, client: ClientFactory = AiohttpClient
    ) -> None:
        credentials = client_auth(name, auth)
        self._static = dict([credentials.api_key]) if credentials.api_key is not None else {}
        self._http: ProviderHttp | None = None
        self._token: OAuth2Token | None = None
        self._last: str | None = None
        if credentials.oauth2 is not None:
            self._http = client(
                HttpSettings(
                    name=f"{name} token endpoint", base_url=credentials.oauth2.token_url, timeout_s=timeout_s
                )
            )
            self._token = OAuth2Token(self._http, credentials.oauth2, name, DEFAULT_MAX_REPLY_BYTES)

    async def headers(self) -> Mapping[str, str]:
        if self._token is None:
            return self._static
        self._last = await self._token.get()
        return {**self._static, "Authorization": f"Bearer {self._last}"}

    async def refresh_after_unauthorized(self) -> bool:
        if self._token is None:
            return False
        await self._token.get(stale=self._last)
        return True

    def soap_security(self) -> Any | None:
        return None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def outbound_auth(name: str, auth: Mapping[str, Any], timeout_s: float) -> OutboundAuth:
    return ConfiguredAuth(name, auth, timeout_s) if auth else NoAuth()
