"""Webhook sinks: events delivered by HTTP POST with aiohttp.

One event goes in CloudEvents HTTP *binary* mode by default (attributes in ``ce-`` headers, the
data as the body, so a receiver that knows nothing of CloudEvents still gets plain JSON), or in
*structured* mode (``application/cloudevents+json``) when the sink's options say ``mode:
structured``. Several events go as one ``application/cloudevents-batch+json`` body.

Every sink shares one client (:func:`new_http_client`), hence one connection pool with HTTP/1.1 keep-alive
across subscriptions; each sink has its own timeout and extra headers. aiohttp rather than httpx,
by measurement as for REST providers (adapters/provider_http.py): with one event per call, the
sinks' default, httpx's pool cost the bus more CPU per delivered event than everything else of
the delivery together (docs/benchmarks.md, "End to end").

Redirects are not followed: the configured URL is the receiver the operator vetted; following a
3xx would hand the event, with its credentials and Idempotency-Key, to whatever URL the response
names. A 3xx is reported as a permanent failure so the operator fixes the URL.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl

from adapters.aiohttp_session import LazySession, SessionClosed
from adapters.version import package_version
from router import envelope, tracing
from router.errors import ConfigError
from router.ports import StoredMessage
from router.sinks import Sink, SinkError, SinkFactory
from router.subscriptions import SinkSpec

BINARY = "binary"
STRUCTURED = "structured"
DEFAULT_TIMEOUT_S = 5.0
# How much of a response body is read: enough for an error message, not a memory hazard.
MAX_RESPONSE_BYTES = 4096
# The detail kept from an error body (it ends up in dead letters and logs).
MAX_DETAIL_CHARS = 300
# Statuses that mean "not now" rather than "no": timeout, too early, too many requests.
RETRYABLE_4XX = frozenset({408, 425, 429})
# Headers the sink owns; configured extra headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "accept-encoding",
        "connection",
        "content-length",
        "content-type",
        "host",
        "idempotency-key",
        "traceparent",
        "transfer-encoding",
        "user-agent",
    }
)

# The CloudEvents HTTP binding keeps printable ASCII in header values as is, except space, '"' and
# '%'; everything else is percent-encoded as UTF-8. ``quote`` keeps letters, digits and "_.-~"
# anyway; ``safe`` adds the rest of printable ASCII minus those three.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_NEEDS_ENCODING = re.compile(r'[^\x21-\x7e]|["%]')
# A header name (RFC 9110 "token").
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


USER_AGENT = f"lienthong/{package_version()}"


def encode_header_value(value: str) -> str:
    """A context attribute as an HTTP header value, per the CloudEvents HTTP binding."""
    # Most values (ids, types, sources, times) need no encoding: one scan instead of quote()'s
    # per-character work, on every header of every delivered event.
    if _NEEDS_ENCODING.search(value) is None:
        return value
    return quote(value, safe=_HEADER_SAFE, encoding="utf-8")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date), or ``None``."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def new_http_client(*, max_connections: int = 100, keepalive_s: float = 30.0) -> LazySession:
    """The client every webhook sink shares, its session made on first use (close it when the bus
    stops)."""

    def new_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=keepalive_s),
            # sinks pass their own timeout per request; this is only the fallback
            timeout=aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT_S),
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers are called statelessly
            trust_env=False,
            # The sink sends what the configuration and the event say, nothing of aiohttp's: no
            # Accept, no compression, and no Content-Type on an event without data (in binary
            # mode Content-Type is the event's datacontenttype).
            skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type"),
            # Only the status counts: a 2xx in an encoding aiohttp cannot decode (br, zstd
            # behind some proxies) must not read as a failure, and send the events again.
            auto_decompress=False,
        )

    return LazySession(new_session)


class WebhookSink:
    def __init__(
        self,
        client: LazySession,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        mode: str = BINARY,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if mode not in (BINARY, STRUCTURED):
            raise ValueError(f"mode must be '{BINARY}' or '{STRUCTURED}', not {mode!r}")
        self.url = url
        self._target = yarl.URL(url)  # parsed once, not per request
        self.mode = mode
        self._client = client
        # ceil_threshold: aiohttp would round a timeout over 5 s up to the next whole second
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, ceil_threshold=math.inf)
        self._timeout_s = timeout_s
        self._headers: dict[str, str] = dict(headers or {})
        self._headers["User-Agent"] = USER_AGENT
        # Compressed error bodies would be unreadable when only their first bytes are read.
        self._headers["Accept-Encoding"] = "identity"

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        if not messages:
            return
        headers = dict(self._headers)
        # Encoded like the ce-id header, so that for one event the two are the same string.
        headers["Idempotency-Key"] = encode_header_value(idempotency_key)
        if len(messages) > 1:
            headers["Content-Type"] = envelope.BATCH
            body = envelope.batch_bytes(messages)
        elif self.mode == STRUCTURED:
            headers["Content-Type"] = envelope.STRUCTURED
            body = envelope.structured_bytes(messages[0])
        else:
            headers.update(binary_headers(messages[0]))
            body = messages[0].value
        # W3C trace context of the (first) event, whatever the mode: receivers that trace join it
        traceparent = tracing.of_headers(messages[0].headers)
        if traceparent is not None:
            headers[tracing.HEADER] = traceparent
        await self._post(body, headers)

    async def close(self) -> None:
        """Nothing of its own to release: the client is shared and closed by its owner."""

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            session = self._client.get()
        except SessionClosed:
            raise SinkError("the webhook client was closed", retryable=True) from None
        try:
            async with session.post(
                self._target, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                text = (await _read_some(response)).decode("utf-8", "replace")
                failure = _status_error(response, text)
        except TimeoutError as error:
            raise SinkError(
                f"no answer within {self._timeout_s:g}s ({type(error).__name__})", retryable=True
            ) from error
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as error:
            raise SinkError(f"unsupported URL: {error}", retryable=False) from error
        except (aiohttp.ClientError, OSError) as error:
            # Connection refused or reset, DNS, TLS (a certificate that fails verification is also
            # a ValueError: it must be caught here first), a protocol error of the receiver: all
            # may pass once the receiver is fixed, so the events wait for it.
            raise SinkError(
                f"{type(error).__name__}: {error or 'connection failed'}", retryable=True
            ) from error
        except ValueError as error:
            # the request itself is invalid (a header value aiohttp refuses): sending it again
            # cannot help
            raise SinkError(f"invalid request: {error}", retryable=False) from error
        if failure is not None:
            raise failure


def binary_headers(message: StoredMessage) -> dict[str, str]:
    """The ``ce-`` headers and Content-Type of one event in HTTP binary mode."""
    headers: dict[str, str] = {}
    for name, raw in message.headers:
        if name.startswith(envelope.KAFKA_PREFIX):
            attribute = name[len(envelope.KAFKA_PREFIX) :]
            headers[envelope.HTTP_PREFIX + attribute] = encode_header_value(raw.decode("utf-8", "replace"))
        elif name == "content-type":
            content_type = raw.decode("ascii", "replace")
            # A media type is printable ASCII; the bus validated it, this only guards the header.
            if content_type.isprintable() and content_type.isascii():
                headers["Content-Type"] = content_type
    if message.value and "Content-Type" not in headers:
        headers["Content-Type"] = envelope.JSON
    return headers


def _status_error(response: aiohttp.ClientResponse, text: str) -> SinkError | None:
    """What a response's status means for delivery: ``None`` when the events were taken."""
    status = response.status
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status} {response.reason or ''}".rstrip()
    text = " ".join(text.split())
    if text:
        detail += f": {text[:MAX_DETAIL_CHARS]}"
    if 300 <= status < 400:
        return SinkError(
            f"{detail} (redirects are not followed: fix the sink's URL)", retryable=False, status=status
        )
    if status in RETRYABLE_4XX or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return SinkError(detail, retryable=True, status=status, retry_after_s=retry_after)
    return SinkError(detail, retryable=False, status=status)


async def _read_some(response: aiohttp.ClientResponse) -> bytes:
    """Up to MAX_RESPONSE_BYTES of the body. A body read to its end lets the connection be reused;
    a longer one is cut and its connection closed."""
    data = bytearray()
    try:
        while len(data) < MAX_RESPONSE_BYTES:
            chunk = await response.content.read(MAX_RESPONSE_BYTES - len(data))
            if not chunk:
                return bytes(data)
            data += chunk
        if not response.content.at_eof():
            response.close()  # the rest is never read: the connection is not reused
    except (TimeoutError, aiohttp.ClientError):
        # The status is what counts: a receiver that answered took (or refused) the events even
        # if the rest of its body got lost.
        response.close()
    return bytes(data)


def webhook_sink_factory(client: LazySession) -> SinkFactory:
    """Builds webhook sinks from subscription sink specs, all on ``client``.

    Options: ``url`` (http or https, required), ``timeout_s`` (seconds, default 5),
    ``mode`` (``binary`` default, or ``structured``), ``headers`` (extra headers, e.g. credentials).
    """

    def build(spec: SinkSpec) -> Sink:
        if spec.kind != "webhook":
            raise ConfigError(f"the webhook factory cannot build a '{spec.kind}' sink")
        options = spec.options
        return WebhookSink(
            client,
            _url(options),
            timeout_s=_timeout(options),
            mode=_mode(options),
            headers=_headers(options),
        )

    return build


def _url(options: Mapping[str, Any]) -> str:
    url = options.get("url")
    if not isinstance(url, str):
        raise ConfigError("webhook sink: 'url' is required (an http or https URL)")
    if not url.isascii() or not url.isprintable() or " " in url:
        # yarl would drop a CR/LF silently and post to another path; a NUL would fail every call
        raise ConfigError(
            "webhook sink: 'url' must be printable ASCII without spaces (percent-encode a path, write a "
            f"host in its xn-- form), not {url!r}"
        )
    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"webhook sink: 'url' is not a valid URL: {error}") from None
    host = parsed.raw_host or ""
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        # DNS limits; such a host would fail every call rather than the configuration check
        raise ConfigError(f"webhook sink: the host of 'url' is not a valid host name: {host[:80]!r}")
    if parsed.scheme not in ("http", "https") or not host:
        raise ConfigError(f"webhook sink: 'url' must be an http or https URL, not {url!r}")
    if parsed.user is not None or parsed.password is not None:
        raise ConfigError(
            "webhook sink: 'url' may not carry credentials; put them in 'headers' (e.g. Authorization)"
        )
    return url


def _timeout(options: Mapping[str, Any]) -> float:
    timeout = options.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(f"webhook sink: 'timeout_s' must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def _mode(options: Mapping[str, Any]) -> str:
    mode = options.get("mode", BINARY)
    if mode not in (BINARY, STRUCTURED):
        raise ConfigError(f"webhook sink: 'mode' must be '{BINARY}' or '{STRUCTURED}', not {mode!r}")
    return str(mode)


def _headers(options: Mapping[str, Any]) -> dict[str, str]:
    headers = options.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigError("webhook sink: 'headers' must map header names to values")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigError("webhook sink: 'headers' names and values must be strings")
        if not _TOKEN.fullmatch(name):
            raise ConfigError(
                f"webhook sink: {name!r} is not a header name (RFC 9110: letters, digits, !#$%&'*+-.^_`|~)"
            )
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(envelope.HTTP_PREFIX):
            raise ConfigError(f"webhook sink: the header '{name}' is set by the bus and cannot be configured")
        if not value.isascii() or not value.isprintable():
            raise ConfigError(f"webhook sink: the value of header '{name}' must be printable ASCII")
        out[name] = value
    return out
