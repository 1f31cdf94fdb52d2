"""How the bus authenticates its calls to a provider: the headers each request carries, a token
renewed after an HTTP 401, and the WS-Security header of SOAP calls.

:class:`OutboundAuth` is what the SOAP and REST providers (and the configured kinds) call; the
configuration builds one per connector (:mod:`connectors.client_auth`), with the secrets already
read from the environment or from files. The kinds:

- :class:`HeaderAuth`: fixed headers (a static bearer token, an API key, HTTP Basic) and/or a
  WS-Security UsernameToken;
- :class:`OAuth2Auth`: OAuth2 client credentials (RFC 6749 section 4.4). The token is cached and
  renewed shortly before it expires; one request to the token endpoint at a time, whatever the
  concurrency; after a 401 the token is replaced once, and every caller refused with the same
  token shares that one replacement. Several connectors may share one token (:class:`TokenState`:
  an integration platform's, one per consumer key);
- :class:`PlatformHeaders`: the tracing/identity metadata an integration platform (LGSP/NGSP)
  asks of each request, fixed or made per request (``{request_id}``, ``{procedure}``,
  ``{uuid}``, ``{timestamp}``);
- :class:`CombinedAuth`: several of these at once (a platform's token and its metadata, plus the
  service's own UsernameToken).

A token endpoint that is down is ``provider_auth_unavailable`` (retryable); one that refuses the
credentials or answers something that is not a token (HTML, garbage, an oversized body) is
``provider_auth_failed``. Messages name the connector and what went wrong, never a secret, a
token or the endpoint's reply.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import orjson
from zeep.wsse.username import UsernameToken

from adapters.provider_http import AiohttpClient, HttpSettings, ProviderHttp
from router.providers import (
    InvalidProviderReply,
    ProviderAuthFailed,
    ProviderAuthUnavailable,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    current_request,
)

# a token is renewed this long before the provider says it expires (clock skew, slow calls), or a
# tenth of its lifetime when that is shorter (a platform issuing tokens for a minute)
TOKEN_MARGIN_S = 30.0
# a token reply is a few hundred bytes; anything near this is not one
MAX_TOKEN_REPLY_BYTES = 64 * 1024
# when the token endpoint gives no expires_in
DEFAULT_TOKEN_LIFETIME_S = 300.0
# RFC 6750 b64token: what may follow "Bearer " without breaking the header
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_UNAVAILABLE = frozenset({429, 502, 503, 504})


class OutboundAuth(Protocol):
    """The credentials of a provider's calls."""

    async def headers(self) -> Mapping[str, str]:
        """What the next request carries (Authorization, an API key, platform metadata)."""
        ...

    async def refresh_after_unauthorized(self) -> bool:
        """After an HTTP 401 to a request that carried :meth:`headers`: a new token (once for all
        callers refused with the same one); False if there is nothing to renew."""
        ...

    def soap_security(self) -> Any | None:
        """zeep's ``wsse`` object (a UsernameToken) for SOAP calls, or None."""
        ...

    async def aclose(self) -> None: ...


def basic_credentials(user: str, password: str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HeaderAuth:
    """Fixed headers and/or a WS-Security UsernameToken: nothing to renew."""

    def __init__(
        self, headers: Mapping[str, str] | None = None, *, wsse: UsernameToken | None = None
    ) -> None:
        self._headers = dict(headers or {})
        self._wsse = wsse

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def refresh_after_unauthorized(self) -> bool:
        return False

    def soap_security(self) -> Any | None:
        return self._wsse

    async def aclose(self) -> None:
        return None


def bearer(token: str) -> HeaderAuth:
    return HeaderAuth({"Authorization": f"Bearer {token}"})


def api_key(header: str, key: str) -> HeaderAuth:
    return HeaderAuth({header: key})


def basic(user: str, password: str) -> HeaderAuth:
    return HeaderAuth({"Authorization": basic_credentials(user, password)})


def ws_security(username: str, password: str) -> HeaderAuth:
    return HeaderAuth(wsse=UsernameToken(username, password))


class PlatformHeaders:
    """An integration platform's metadata headers: each value fixed, or with placeholders filled
    in per request: ``{request_id}`` (the bus's id of the lookup, as in its audit log and
    provenance), ``{procedure}`` (the procedure code the data is for), ``{uuid}`` (a new random
    id) and ``{timestamp}`` (the request's UTC time, ISO 8601)."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        self._templates = dict(templates)

    async def headers(self) -> Mapping[str, str]:
        lookup = current_request.get()
        fill = {
            "{request_id}": lookup.request_id if lookup is not None else uuid.uuid4().hex,
            "{procedure}": lookup.procedure if lookup is not None else "",
            "{timestamp}": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        values = {}
        for name, template in self._templates.items():
            value = template
            if "{" in value:
                value = value.replace("{uuid}", uuid.uuid4().hex)
                for placeholder, filled in fill.items():
                    value = value.replace(placeholder, filled)
            values[name] = value
        return values

    async def refresh_after_unauthorized(self) -> bool:
        return False

    def soap_security(self) -> Any | None:
        return None

    async def aclose(self) -> None:
        return None


class CombinedAuth:
    """Several credentials on one call: their headers merged (later ones win), a 401 renews every
    part that can, the first UsernameToken is the SOAP header."""

    def __init__(self, parts: Sequence[OutboundAuth]) -> None:
        self.parts = tuple(parts)

    async def headers(self) -> Mapping[str, str]:
        merged: dict[str, str] = {}
        for part in self.parts:
            merged.update(await part.headers())
        return merged

    async def refresh_after_unauthorized(self) -> bool:
        renewed = False
        for part in self.parts:
            renewed = await part.refresh_after_unauthorized() or renewed
        return renewed

    def soap_security(self) -> Any | None:
        return next((s for s in (p.soap_security() for p in self.parts) if s is not None), None)

    async def aclose(self) -> None:
        for part in self.parts:
            await part.aclose()


def combine(parts: Sequence[OutboundAuth | None]) -> OutboundAuth | None:
    """One credential for ``parts`` (None left out); None when there is none."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else CombinedAuth(present)


@dataclass(frozen=True, slots=True)
class OAuth2ClientCredentials:
    """An OAuth2 client-credentials grant. ``client_auth`` says how the client proves itself at
    the token endpoint: ``basic`` (an Authorization header, RFC 6749 section 2.3.1, as WSO2 API
    Manager's examples do) or ``form`` (client_id and client_secret in the form body, as some
    provincial platforms' clients do)."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    client_auth: Literal["basic", "form"] = "basic"

    def __repr__(self) -> str:  # never the secret, in a log or a traceback
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id=..., client_secret=...)"


# why a token was fetched: the first call, one about to expire, or a 401 to the one in use
TokenReason = Literal["first", "expiry", "unauthorized"]


class TokenState:
    """The access token of one grant and its renewal, shared by every :class:`OAuth2Auth` of that
    grant: an integration platform gives one consumer key and secret per connected system, so
    every connector reached through it uses one token, renewed by one request at a time."""

    def __init__(self, name: str) -> None:
        self.lock = asyncio.Lock()
        self.value: str | None = None
        self.renew_at = 0.0
        # the token this task's last request carried, to tell a stale refusal from a current one
        self.given: ContextVar[str | None] = ContextVar(f"oauth2-token-{name}", default=None)
        self.fetched = 0
        # token requests finished, and the error of the last if it failed: a caller that waited
        # on a request that failed shares its error rather than asking again (an endpoint down
        # would otherwise be asked once per waiting caller, in turn, each waiting its timeout)
        self.finished = 0
        self.failure: ProviderError | None = None


# the shared tokens of a running bus, by what they were granted for
TokenStates = dict[Any, TokenState]


class OAuth2Auth:
    """OAuth2 client credentials: an access token for all concurrent callers.

    ``http`` is the client the token endpoint is called with (a provider passes its own, so the
    endpoint shares its TLS settings); without one the auth makes and closes its own.
    ``observe`` is told each token request's reason (a metric). ``state``: the token shared with
    other connectors of the same grant (a platform's); without one the auth keeps its own."""

    def __init__(
        self,
        grant: OAuth2ClientCredentials,
        *,
        name: str,
        http: ProviderHttp | None = None,
        tls: Any = True,
        timeout_s: float = 5.0,
        observe: Callable[[TokenReason], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        state: TokenState | None = None,
    ) -> None:
        self.grant = grant
        self.name = name
        self._own_http = http is None
        self._http: ProviderHttp = http or AiohttpClient(
            HttpSettings(name=name, base_url=grant.token_url, timeout_s=timeout_s, tls=tls, max_connections=4)
        )
        self._observe = observe
        self._clock = clock
        self.state = state or TokenState(name)

    @property
    def fetched(self) -> int:
        """Token requests made for this auth's grant (by it or a connector sharing its token)."""
        return self.state.fetched

    async def token(self) -> str:
        state = self.state
        value = state.value
        if value is None or self._clock() >= state.renew_at:
            finished = state.finished
            async with state.lock:  # one token request at a time; the others wait and reuse it
                self._raise_failure_since(finished)
                if state.value is None or self._clock() >= state.renew_at:
                    await self._fetch_recorded("first" if state.value is None else "expiry")
                value = state.value
        assert value is not None
        state.given.set(value)
        return value

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def refresh_after_unauthorized(self) -> bool:
        state = self.state
        refused = state.given.get()
        finished = state.finished
        async with state.lock:
            self._raise_failure_since(finished)
            if state.value is None or state.value == refused:
                await self._fetch_recorded("unauthorized")
        return True

    def soap_security(self) -> Any | None:
        return None

    def invalidate(self) -> None:
        """Forget the token (the next call fetches one)."""
        self.state.value = None

    def _raise_failure_since(self, finished: int) -> None:
        """The error of the last token request, if it failed after the caller began to wait."""
        state = self.state
        if state.finished != finished and state.failure is not None:
            raise copy.copy(state.failure) from None

    async def _fetch_recorded(self, reason: TokenReason) -> None:
        state = self.state
        try:
            await self._fetch(reason)
        except ProviderError as error:
            state.failure = error
            raise
        else:
            state.failure = None
        finally:
            state.finished += 1

    async def _fetch(self, reason: TokenReason) -> None:
        grant, name = self.grant, self.name
        form = {"grant_type": "client_credentials"}
        if grant.scope:
            form["scope"] = grant.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if grant.client_auth == "basic":
            headers["Authorization"] = basic_credentials(grant.client_id, grant.client_secret)
        else:
            form |= {"client_id": grant.client_id, "client_secret": grant.client_secret}
        if self._observe is not None:
            self._observe(reason)
        self.state.fetched += 1
        try:
            status, content = await self._http.exchange(
                "POST",
                grant.token_url,
                params=None,
                content=urlencode(form).encode(),
                headers=headers,
                limit=MAX_TOKEN_REPLY_BYTES,
            )
        except ProviderTimeout:
            raise ProviderAuthUnavailable(f"{name}: the token endpoint did not answer in time") from None
        except ProviderUnavailable:
            raise ProviderAuthUnavailable(f"{name}: the token endpoint cannot be reached") from None
        except InvalidProviderReply:
            raise ProviderAuthFailed(
                f"{name}: the token endpoint's reply is larger than {MAX_TOKEN_REPLY_BYTES} bytes"
            ) from None
        if status in _UNAVAILABLE:
            raise ProviderAuthUnavailable(f"{name}: the token endpoint answered HTTP {status}")
        if status != 200:
            raise ProviderAuthFailed(
                f"{name}: the token endpoint refused the client credentials (HTTP {status})"
            )
        value, lifetime = _token_of(content, name)
        self.state.value = value
        self.state.renew_at = self._clock() + lifetime - min(TOKEN_MARGIN_S, lifetime / 10)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()


def _token_of(content: bytes, name: str) -> tuple[str, float]:
    """The access token and its lifetime from a token reply (RFC 6749 section 5.1)."""
    refused = ProviderAuthFailed(
        f"{name}: the token endpoint's reply is not a token (JSON with access_token and expires_in)"
    )
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise refused from None
    if not isinstance(body, dict):
        raise refused
    value = body.get("access_token")
    lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME_S)
    if isinstance(lifetime, str) and lifetime.isdigit():  # some servers send it as a string
        lifetime = int(lifetime)
    if (
        not isinstance(value, str)
        or len(value) > 8192
        or not _B64TOKEN.fullmatch(value)
        or isinstance(lifetime, bool)
        or not isinstance(lifetime, int | float)
        or not 0 < lifetime <= 366 * 86400
    ):
        raise refused
    return value, float(lifetime)
