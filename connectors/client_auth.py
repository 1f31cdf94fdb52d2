"""How a connector authenticates to its system: the ``auth:`` setting of a ``connectors:`` entry
and the integration platform it is reached through (``platform:``), turned into one
:class:`adapters.outbound_auth.OutboundAuth`.

``auth:`` takes any of: ``api_key`` (a header), ``oauth2`` (client credentials), ``bearer`` (a
static token), ``basic`` (HTTP Basic), ``ws_security`` (a SOAP UsernameToken). A platform adds its
OAuth2 token (the consumer key and secret it issued) and its metadata headers. Secrets are read
when the connector is built, from the environment variable or the file the configuration names;
a missing or empty one is a ConfigError naming the variable or the file, never a value. A TLS
client certificate (``tls:``) authenticates on its own or with any of these.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

from prometheus_client import CollectorRegistry, Counter

from adapters.outbound_auth import (
    OAuth2Auth,
    OAuth2ClientCredentials,
    OutboundAuth,
    PlatformHeaders,
    TokenReason,
    TokenState,
    TokenStates,
    api_key,
    basic,
    bearer,
    combine,
    ws_security,
)
from adapters.tls import client_tls
from connectors.base import ConnectorSettings, PlatformSettings
from router.errors import ConfigError

DEFAULT_API_KEY_HEADER = "X-API-Key"
MAX_SECRET_BYTES = 16 * 1024


def outbound_auth(
    settings: ConnectorSettings,
    registry: CollectorRegistry | None = None,
    *,
    timeout_s: float | None = None,
    platform_tokens: TokenStates | None = None,
) -> OutboundAuth | None:
    """The credentials of the connector's calls (None: it calls without any). ``registry``
    receives the count of token requests by reason (``lienthong_provider_token_requests_total``),
    counted under the connector whose call asked. ``platform_tokens`` holds the platforms'
    tokens, shared by every connector built with it that names the same platform and consumer
    key (:attr:`connectors.base.ConnectorDeps.platform_tokens`); without it the connector keeps
    its own."""
    name = settings.name
    observe = _token_counter(registry, name) if registry is not None else None
    tls = client_tls(settings.tls.client_cert, settings.tls.ca_file)
    timeout = timeout_s if timeout_s is not None else settings.call_policy.timeout_s
    parts: list[OutboundAuth | None] = []
    if settings.platform is not None:
        parts.extend(_platform(name, settings.platform, tls, timeout, observe, platform_tokens))
    parts.extend(_auth(name, settings.auth, tls, timeout, observe))
    return combine(parts)


def _platform(
    name: str,
    platform: PlatformSettings,
    tls: Any,
    timeout_s: float,
    observe: Callable[[TokenReason], None] | None,
    tokens: TokenStates | None,
) -> list[OutboundAuth]:
    setting = f"platform {platform.name!r}: token"
    grant = OAuth2ClientCredentials(
        token_url=platform.token_url,
        client_id=secret(name, f"{setting}.consumer_key", platform.consumer_key),
        client_secret=secret(name, f"{setting}.consumer_secret", platform.consumer_secret),
        scope=platform.scope,
        client_auth=platform.client_auth,
    )
    # one token per platform and consumer key (the grant holds the key, secret and endpoint)
    state = None
    if tokens is not None:
        state = tokens.setdefault((platform.name, grant), TokenState(f"platform-{platform.name}"))
    parts: list[OutboundAuth] = [
        OAuth2Auth(grant, name=name, tls=tls, timeout_s=timeout_s, observe=observe, state=state)
    ]
    if platform.headers:
        parts.append(PlatformHeaders(platform.headers))
    return parts


def _auth(
    name: str,
    auth: Mapping[str, Any],
    tls: Any,
    timeout_s: float,
    observe: Callable[[TokenReason], None] | None,
) -> list[OutboundAuth]:
    parts: list[OutboundAuth] = []
    if "api_key" in auth:
        spec = auth["api_key"]
        key = secret(name, "auth.api_key", {k: v for k, v in spec.items() if k in ("env", "file")})
        parts.append(api_key(str(spec.get("header", DEFAULT_API_KEY_HEADER)), key))
    if "bearer" in auth:
        parts.append(bearer(secret(name, "auth.bearer", auth["bearer"])))
    if "basic" in auth:
        spec = auth["basic"]
        parts.append(
            basic(
                secret(name, "auth.basic.username", spec["username"]),
                secret(name, "auth.basic.password", spec["password"]),
            )
        )
    if "ws_security" in auth:
        spec = auth["ws_security"]
        parts.append(
            ws_security(
                secret(name, "auth.ws_security.username", spec["username"]),
                secret(name, "auth.ws_security.password", spec["password"]),
            )
        )
    if "oauth2" in auth:
        parts.append(
            OAuth2Auth(
                oauth2_grant(name, auth["oauth2"]), name=name, tls=tls, timeout_s=timeout_s, observe=observe
            )
        )
    return parts


def oauth2_grant(name: str, spec: Mapping[str, Any]) -> OAuth2ClientCredentials:
    """The grant of an ``auth.oauth2`` setting (``client_id_env`` or ``client_id_file``, the same
    for the secret)."""
    return OAuth2ClientCredentials(
        token_url=str(spec["token_url"]),
        client_id=secret(name, "auth.oauth2.client_id", _legacy(spec, "client_id")),
        client_secret=secret(name, "auth.oauth2.client_secret", _legacy(spec, "client_secret")),
        scope=spec.get("scope"),
        client_auth=cast(Literal["basic", "form"], spec.get("client_auth", "basic")),
    )


def _legacy(spec: Mapping[str, Any], field: str) -> dict[str, str]:
    return {where: spec[f"{field}_{where}"] for where in ("env", "file") if f"{field}_{where}" in spec}


def secret(name: str, setting: str, source: Mapping[str, str]) -> str:
    """The secret ``source`` names (``{env: VARIABLE}`` or ``{file: path}``); a ConfigError naming
    the variable or the file when it is missing or empty."""
    if "env" in source:
        variable = source["env"]
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(
                f"connector {name!r}: {setting} names the environment variable {variable}, which is "
                "not set: set it to the credential"
            )
        return value
    if "file" in source:
        path = Path(source["file"])
        try:
            with path.open("rb") as file:
                content = file.read(MAX_SECRET_BYTES + 1)
        except OSError as error:
            raise ConfigError(
                f"connector {name!r}: {setting} names the file {path}, which cannot be read "
                f"({error.strerror}): put the credential there"
            ) from None
        value = content.decode("utf-8", "replace").strip()
        if not value or len(content) > MAX_SECRET_BYTES:
            raise ConfigError(
                f"connector {name!r}: {setting} names the file {path}, which is empty or larger than "
                f"{MAX_SECRET_BYTES} bytes: put only the credential there"
            )
        return value
    raise ConfigError(f"connector {name!r}: {setting} gives neither env nor file: give one")


_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def _token_counter(registry: CollectorRegistry, name: str) -> Callable[[TokenReason], None]:
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = _COUNTERS[registry] = Counter(
            "lienthong_provider_token_requests",
            "Requests for an access token to a provider's (or its platform's) token endpoint, by "
            "reason: first, expiry (renewed before it expires), unauthorized (renewed after a 401).",
            ("connector", "reason"),
            registry=registry,
        )
    return lambda reason: counter.labels(name, reason).inc()
