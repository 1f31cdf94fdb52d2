"""The ``platforms:`` section (integration platforms: a provincial LGSP, the national NGSP) and how
a ``connectors:`` entry is reached: directly (``url``) or through a platform (``platform`` and
``service``), whose gateway URL, service path, token endpoint, consumer key and secret, metadata
headers and TLS it then takes. Checked at load with the file, line, path and fix of each problem
(docs/adapters.md, Integration platforms)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from connectors.base import PlatformSettings, TlsFiles
from lienthong.config.problems import JsonPath

DEFAULT_TOKEN_PATH = "/token"  # noqa: S105 (a path, no secret: WSO2 API Manager's gateway token endpoint)
# set by the platform's token: a metadata header of the same name would be overwritten or clash
RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "content-type", "traceparent"})


class _Loader(Protocol):
    def problem(self, path: JsonPath, message: str, fix: str, at_key: bool = False) -> None: ...

    def path(self, value: str) -> Path: ...

    def tls_files(self, at: JsonPath, section: Mapping[str, Any]) -> TlsFiles: ...


@dataclass(frozen=True, slots=True)
class Platform:
    """One checked ``platforms:`` entry."""

    name: str
    url: str
    token_url: str
    consumer_key: Mapping[str, str]
    consumer_secret: Mapping[str, str]
    client_auth: Literal["basic", "form"]
    scope: str | None
    headers: Mapping[str, str]
    services: Mapping[str, str]
    tls: TlsFiles


def platforms(loader: _Loader, entries: list[Mapping[str, Any]]) -> dict[str, Platform]:
    """The platforms by name (schema-valid entries; a duplicate name is a problem)."""
    found: dict[str, Platform] = {}
    for i, entry in enumerate(entries):
        at: JsonPath = ("platforms", i)
        name = entry["name"]
        if name in found:
            loader.problem(
                (*at, "name"), f"platform '{name}' is defined twice", "give each platform its own name"
            )
            continue
        url = str(entry["url"]).rstrip("/")
        token = entry["token"]
        token_url = str(token.get("url", DEFAULT_TOKEN_PATH))
        if token_url.startswith("/"):
            token_url = url + token_url
        headers = dict(entry.get("headers", {}))
        for header in headers:
            if header.lower() in RESERVED_HEADERS:
                loader.problem(
                    (*at, "headers", header),
                    f"the header '{header}' is set by the bus itself",
                    "remove it; the platform's token goes in Authorization",
                    at_key=True,
                )
        found[name] = Platform(
            name=name,
            url=url,
            token_url=token_url,
            consumer_key=_secret(loader, token["consumer_key"]),
            consumer_secret=_secret(loader, token["consumer_secret"]),
            client_auth=cast(Literal["basic", "form"], token.get("client_auth", "basic")),
            scope=token.get("scope"),
            headers=headers,
            services=dict(entry["services"]),
            tls=loader.tls_files((*at, "tls"), entry.get("tls", {})),
        )
    return found


def _secret(loader: _Loader, source: Mapping[str, str]) -> dict[str, str]:
    """A secret's source with a file's path made absolute (relative to the configuration's folder)."""
    return {"file": str(loader.path(source["file"]))} if "file" in source else dict(source)


@dataclass(frozen=True, slots=True)
class Reached:
    """Where a connector's calls go: its URL, TLS and platform (None: called directly)."""

    url: str
    tls: TlsFiles
    platform: PlatformSettings | None


def reached(
    loader: _Loader, at: JsonPath, entry: Mapping[str, Any], known: Mapping[str, Platform]
) -> Reached:
    """The URL, TLS and platform of the connector entry at ``at``."""
    if "platform" not in entry:
        if "url" not in entry:
            loader.problem(at, "the connector has no url", "give its url, or platform and service")
        return Reached(str(entry.get("url", "")), loader.tls_files((*at, "tls"), entry.get("tls", {})), None)
    name, service = entry["platform"], entry["service"]
    if "url" in entry:
        loader.problem(
            (*at, "url"),
            "the connector gives both url and platform",
            "remove url: the platform's URL and the service's path say where it is",
            at_key=True,
        )
    platform = known.get(name)
    if platform is None:
        loader.problem(
            (*at, "platform"),
            f"no platform '{name}' is listed under 'platforms'",
            f"use a configured platform ({', '.join(sorted(known)) or 'none'}), or add it under 'platforms'",
        )
        return Reached("", TlsFiles(), None)
    if service not in platform.services:
        loader.problem(
            (*at, "service"),
            f"the platform '{name}' has no service '{service}'",
            f"use one of its services ({', '.join(sorted(platform.services))}), or add it to its services",
        )
        return Reached("", TlsFiles(), None)
    _authorization_kept(loader, at, entry.get("auth", {}), name)
    tls = loader.tls_files((*at, "tls"), entry["tls"]) if "tls" in entry else platform.tls
    settings = PlatformSettings(
        name=name,
        service=service,
        token_url=platform.token_url,
        consumer_key=platform.consumer_key,
        consumer_secret=platform.consumer_secret,
        client_auth=platform.client_auth,
        scope=platform.scope,
        headers=platform.headers,
    )
    return Reached(platform.url + platform.services[service].rstrip("/"), tls, settings)


# auth: kinds that write the Authorization header, which a platform's token needs for itself
_AUTHORIZATION_KINDS = ("oauth2", "bearer", "basic")


def _authorization_kept(loader: _Loader, at: JsonPath, auth: Mapping[str, Any], platform: str) -> None:
    """A connector reached through a platform leaves the Authorization header to the platform's
    token: its own oauth2, bearer or basic credentials (or an API key sent as Authorization) would
    replace it on every call, and the gateway would refuse each one."""
    clashing = [kind for kind in _AUTHORIZATION_KINDS if kind in auth]
    api_key = auth.get("api_key")
    if isinstance(api_key, Mapping) and str(api_key.get("header", "")).lower() == "authorization":
        clashing.append("api_key")
    for kind in clashing:
        loader.problem(
            (*at, "auth", kind),
            f"the connector is reached through the platform '{platform}', whose token is sent in the "
            f"Authorization header; auth.{kind} would replace it on every call",
            f"remove auth.{kind}: the platform's token authenticates the bus (a service's own "
            "UsernameToken or API key header may stay), or reach the system directly with url",
            at_key=True,
        )


def auth_files(loader: _Loader, auth: Mapping[str, Any]) -> dict[str, Any]:
    """A connector's ``auth:`` with every secret file's path made absolute."""

    def absolute(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {
                key: str(loader.path(value)) if key == "file" or key.endswith("_file") else absolute(value)
                for key, value in node.items()
            }
        return node

    return cast(dict[str, Any], absolute(auth))


def auth_problems(loader: _Loader, at: JsonPath, auth: Mapping[str, Any]) -> None:
    """Each secret of ``auth:`` comes from exactly one place: an environment variable or a file."""
    sources = []
    if "api_key" in auth:
        sources.append((("api_key",), auth["api_key"], "env", "file"))
    if "oauth2" in auth:
        for field in ("client_id", "client_secret"):
            sources.append((("oauth2",), auth["oauth2"], f"{field}_env", f"{field}_file"))
    for where, spec, env, file in sources:
        if (env in spec) == (file in spec):
            loader.problem(
                (*at, *where),
                f"give exactly one of {env} and {file}",
                f"name the environment variable ({env}) or the file ({file}) holding the secret",
            )
