"""REST providers: a pooled HTTP client (aiohttp, :mod:`adapters.provider_http`) with timeouts,
behind the bus's call guards.

One :class:`RestProvider` per endpoint (one connection pool, one circuit breaker). Calls are
retried (:mod:`router.provider_calls`) only when repeating them is harmless: idempotent methods
(GET, HEAD, PUT, DELETE, OPTIONS) or calls carrying an ``Idempotency-Key``. Authentication: an
API key header, a fixed bearer token, OAuth2 client credentials (the token is cached, refreshed
shortly before it expires, and once more on a 401: :mod:`adapters.outbound_auth`), any other
:class:`~adapters.outbound_auth.OutboundAuth`, or a TLS client certificate.

Replies are JSON, checked against a JSON Schema when the call gives one; a provider that answers
XML can be read as JSON (``xml=True``) through the hardened parser.

Status codes: 2xx ok; 408 -> ``ProviderTimeout``; 429, 502, 503, 504 -> ``ProviderUnavailable``
(retryable); other 4xx/5xx -> ``ProviderFault`` with the status as code (not retried).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import orjson

from adapters import reply_sizes
from adapters.outbound_auth import OAuth2Auth, OAuth2ClientCredentials, OutboundAuth, combine
from adapters.provider_http import AiohttpClient, ClientFactory, HttpSettings, ProviderHttp
from adapters.tls import client_tls
from adapters.xml import XmlLimits, XmlRejected, element_to_data, parse_xml
from router import tracing
from router.provider_calls import GuardedCalls
from router.providers import (
    MAX_OPERATOR_TEXT,
    CallPolicy,
    InvalidProviderReply,
    ProviderAuthFailed,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
)
from schemas.validation import CompiledSchema, lower

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
UNAVAILABLE = frozenset({429, 502, 503, 504})
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024

log = logging.getLogger("lienthong.providers")


@dataclass(frozen=True, slots=True)
class RestEndpoint:
    name: str
    base_url: str
    policy: CallPolicy = field(default_factory=CallPolicy)
    api_key: tuple[str, str] | None = None  # (header name, key)
    bearer: str | None = None
    oauth2: OAuth2ClientCredentials | None = None
    # any other credentials (adapters.outbound_auth), on top of the ones above
    auth: OutboundAuth | None = None
    client_cert: tuple[str, str] | None = None  # (certificate file, key file)
    ca_file: str | None = None
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES


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
        # the token endpoint is called with the provider's own client (its TLS settings)
        self.token = (
            OAuth2Auth(endpoint.oauth2, name=endpoint.name, http=self._http) if endpoint.oauth2 else None
        )
        self.auth = combine([self.token, endpoint.auth])

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

    async def document(self, path: str, limit: int) -> bytes:
        """A document the provider publishes (its OpenAPI description, JSON or YAML) as it is
        served: one GET with the endpoint's credentials, at most ``limit`` bytes (larger:
        ``InvalidProviderReply``), a status other than 2xx the error :meth:`request` raises."""

        async def attempt() -> bytes:
            headers = {"Accept": "application/json, application/yaml;q=0.9, text/yaml;q=0.9"}
            status, body = await self._send("GET", path, None, None, headers, limit)
            if status >= 300:
                self._read(status, body, None, False)  # raises the status's error
            return body

        return await self.guard.call(attempt)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: int | None = None,
    ) -> tuple[int, bytes]:
        auth = self.auth
        if auth is None:
            return await self._exchange(method, path, params, content, headers, limit)
        status, body = await self._exchange(
            method, path, params, content, {**headers, **await auth.headers()}, limit
        )
        if status == 401 and await auth.refresh_after_unauthorized():
            # the provider may have revoked the token early: one fresh token, one more try
            status, body = await self._exchange(
                method, path, params, content, {**headers, **await auth.headers()}, limit
            )
            if status == 401:
                raise ProviderAuthFailed(
                    f"{self.endpoint.name}: the provider refused a fresh token (HTTP 401)"
                )
        return status, body

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: int | None = None,
    ) -> tuple[int, bytes]:
        status, body = await self._http.exchange(
            method,
            path,
            params=params,
            content=content,
            headers=headers,
            limit=self.endpoint.max_reply_bytes if limit is None else limit,
        )
        reply_sizes.note(len(body))
        return status, body

    def _read(self, status: int, body: bytes, schema: CompiledSchema | None, xml: bool) -> Any:
        name = self.endpoint.name
        if status == 408:
            raise ProviderTimeout(f"{name}: HTTP 408")
        if status in UNAVAILABLE:
            raise ProviderUnavailable(f"{name}: HTTP {status}", status=status)
        if status >= 300:
            raise _fault(name, status, body)
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
        if self.auth is not None:
            await self.auth.aclose()
        await self._http.aclose()


def _fault(name: str, status: int, body: bytes) -> ProviderError:
    """A refusal; the text of a JSON error body (``detail``, ``message`` or ``error``) goes to the
    operator's log, never to the requester (router.providers.ProviderFault)."""
    message = f"HTTP {status}"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "message", "error"):
            if isinstance(data.get(key), str):
                message = data[key][:MAX_OPERATOR_TEXT]
                break
    detail = body[:1000].decode("utf-8", "replace") if body else None
    fault = ProviderFault(str(status), message, fault_detail=detail, retryable=False, provider=name)
    log.info("%s answered HTTP %s: %s", name, status, fault.operator_text)
    return fault
