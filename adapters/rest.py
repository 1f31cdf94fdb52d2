"""REST providers: a pooled HTTP client (aiohttp, :mod:`adapters.provider_http`) with timeouts,
behind the bus's call guards.

One :class:`RestProvider` per endpoint (one connection pool, one circuit breaker). Calls are
retried (:mod:`router.provider_calls`) only when repeating them is harmless: idempotent methods
(GET, HEAD, PUT, DELETE, OPTIONS) or calls carrying an ``Idempotency-Key``. Authentication: an
API key header, a fixed bearer token, OAuth2 client credentials (the token is cached, refreshed
shortly before it expires, and once more on a 401), or a TLS client certificate.

Replies are JSON, checked against a JSON Schema when the call gives one; a provider that answers
XML can be read as JSON (``xml=True``) through the hardened parser.

Status codes: 2xx ok; 408 -> ``ProviderTimeout``; 429, 502, 503, 504 -> ``ProviderUnavailable``
(retryable); other 4xx/5xx -> ``ProviderFault`` with the status as code (not retried).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jsonschema_rs
import orjson

from adapters.provider_http import AiohttpClient, ClientFactory, HttpSettings, ProviderHttp
from adapters.tls import client_tls
from adapters.xml import XmlLimits, XmlRejected, element_to_data, parse_xml
from router import tracing
from router.provider_calls import GuardedCalls
from router.providers import (
    CallPolicy,
    InvalidProviderReply,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
)
from schemas.validation import CompiledSchema, lower

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
UNAVAILABLE = frozenset({429, 502, 503, 504})
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
# a token is renewed this long before the provider says it expires (clock skew, slow calls)
TOKEN_MARGIN_S = 30.0


@dataclass(frozen=True, slots=True)
class OAuth2ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class RestEndpoint:
    name: str
    base_url: str
    policy: CallPolicy = field(default_factory=CallPolicy)
    api_key: tuple[str, str] | None = None  # (header name, key)
    bearer: str | None = None
    oauth2: OAuth2ClientCredentials | None = None
    client_cert: tuple[str, str] | None = None  # (certificate file, key file)
    ca_file: str | None = None
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES


class OAuth2Token:
    """An OAuth2 access token, fetched once for all concurrent callers and renewed when due."""

    def __init__(self, http: ProviderHttp, grant: OAuth2ClientCredentials, name: str, limit: int) -> None:
        self._http = http
        self._limit = limit
        self._grant = grant
        self._name = name
        self._value: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    async def get(self, *, stale: str | None = None) -> str:
        """The current token; ``stale`` names one the provider refused, to be replaced."""
        async with self._lock:
            due = self._value is None or time.monotonic() >= self._expires - TOKEN_MARGIN_S
            if due or (stale is not None and stale == self._value):
                await self._fetch()
            assert self._value is not None
            return self._value

    async def _fetch(self) -> None:
        grant = self._grant
        form = {"grant_type": "client_credentials"}
        if grant.scope:
            form["scope"] = grant.scope
        credentials = base64.b64encode(f"{grant.client_id}:{grant.client_secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            status, content = await self._http.exchange(
                "POST",
                grant.token_url,
                params=None,
                content=urlencode(form).encode(),
                headers=headers,
                limit=self._limit,
            )
        except ProviderTimeout:
            raise ProviderTimeout(f"{self._name}: the token endpoint did not answer") from None
        except ProviderUnavailable as error:
            cause = error.detail.removeprefix(f"{self._name}: ")
            raise ProviderUnavailable(f"{self._name}: token endpoint: {cause}") from None
        if status in UNAVAILABLE:
            raise ProviderUnavailable(f"{self._name}: token endpoint HTTP {status}")
        if status != 200:
            raise ProviderFault(str(status), "the token endpoint refused the client credentials")
        try:
            body = orjson.loads(content)
            value, lifetime = str(body["access_token"]), float(body.get("expires_in", 300))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidProviderReply(
                f"{self._name}: the token endpoint's reply has no access_token"
            ) from None
        self._value = value
        self._expires = time.monotonic() + lifetime
        self.fetched += 1


def compile_schema(schema: Mapping[str, Any]) -> CompiledSchema:
    """A reply schema (JSON Schema 2020-12, with the bus's identifier formats), compiled once."""
    return CompiledSchema(lower(dict(schema)), jsonschema_rs.Registry([]))


class RestProvider:
    """Calls to one endpoint through a client of ``client``'s class (aiohttp's; bench.evidence
    passes others to compare)."""

    def __init__(self, endpoint: RestEndpoint, client: ClientFactory = AiohttpClient) -> None:
        self.endpoint = endpoint
        self.guard = GuardedCalls(endpoint.name, endpoint.policy)
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if endpoint.api_key is not None:
            headers[endpoint.api_key[0]] = endpoint.api_key[1]
        if endpoint.bearer is not None:
            headers["Authorization"] = f"Bearer {endpoint.bearer}"
        self._http: ProviderHttp = client(
            HttpSettings(
                name=endpoint.name,
                base_url=endpoint.base_url,
                timeout_s=endpoint.policy.timeout_s,
                tls=client_tls(endpoint.client_cert, endpoint.ca_file),
                headers=headers,
            )
        )
        self.token = (
            OAuth2Token(self._http, endpoint.oauth2, endpoint.name, endpoint.max_reply_bytes)
            if endpoint.oauth2
            else None
        )

    @property
    def circuit_state(self) -> str:
        return self.guard.circuit_state

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        schema: CompiledSchema | None = None,
        xml: bool = False,
        deadline: float | None = None,
        traceparent: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One call; the reply body as data (``None`` when empty). ``deadline`` is absolute
        ``time.monotonic()``; ``traceparent`` (W3C trace context) is passed on as a header;
        ``headers`` are the call's own (a connector's per-call routing or token header)."""
        method = method.upper()
        headers = dict(headers or {})
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if traceparent is not None and tracing.parse(traceparent) is not None:
            headers[tracing.HEADER] = traceparent
        content = orjson.dumps(json) if json is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"

        async def attempt() -> Any:
            status, body = await self._send(method, path, params, content, headers)
            return self._read(status, body, schema, xml)

        safe = method in IDEMPOTENT or idempotency_key is not None
        return await self.guard.call(attempt, deadline=deadline, retry=safe)

    async def get(self, path: str, **options: Any) -> Any:
        return await self.request("GET", path, **options)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        token = await self.token.get() if self.token else None
        status, body = await self._exchange(method, path, params, content, headers, token)
        if status == 401 and self.token is not None:
            # the provider may have revoked the token early: one fresh token, one more try
            token = await self.token.get(stale=token)
            status, body = await self._exchange(method, path, params, content, headers, token)
        return status, body

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        token: str | None,
    ) -> tuple[int, bytes]:
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        return await self._http.exchange(
            method, path, params=params, content=content, headers=headers, limit=self.endpoint.max_reply_bytes
        )

    def _read(self, status: int, body: bytes, schema: CompiledSchema | None, xml: bool) -> Any:
        name = self.endpoint.name
        if status == 408:
            raise ProviderTimeout(f"{name}: HTTP 408")
        if status in UNAVAILABLE:
            raise ProviderUnavailable(f"{name}: HTTP {status}", status=status)
        if status >= 300:
            raise _fault(status, body)
        if not body:
            return None
        try:
            data = (
                element_to_data(parse_xml(body, XmlLimits(max_bytes=self.endpoint.max_reply_bytes)))
                if xml
                else orjson.loads(body)
            )
        except XmlRejected as error:
            raise InvalidProviderReply(f"{name}: {error.detail}") from None
        except orjson.JSONDecodeError as error:
            raise InvalidProviderReply(f"{name}: the reply is not JSON: {error}") from None
        if schema is not None and not schema.is_valid(data):
            # the reply may be about a person: its values are not repeated to the requester
            problems = "; ".join(
                f"{e.pointer or '/'}: {e.message}" for e in schema.errors(data, "", quote=False)[:5]
            )
            raise InvalidProviderReply(f"{name}: the reply does not match its schema: {problems}")
        return data

    async def aclose(self) -> None:
        await self._http.aclose()


def _fault(status: int, body: bytes) -> ProviderError:
    """A refusal: the message from a JSON error body (``detail``, ``message`` or ``error``)."""
    message = f"HTTP {status}"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "message", "error"):
            if isinstance(data.get(key), str):
                message = data[key][:300]
                break
    detail = body[:1000].decode("utf-8", "replace") if body else None
    return ProviderFault(str(status), message, fault_detail=detail, retryable=False)
