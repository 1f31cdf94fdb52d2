"""How a REST connector authenticates to its system (the ``auth:`` setting of a ``connectors:``
entry): an API key in a header, or OAuth2 client credentials. Secrets are read from the
environment variables the configuration names, when the connector is built; a missing one is a
ConfigError naming the variable. A TLS client certificate (``tls:``) authenticates on its own or
with either of these."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.rest import OAuth2ClientCredentials
from router.errors import ConfigError

DEFAULT_API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """The credentials of a RestEndpoint: ``api_key`` (header, key) or ``oauth2``, or neither."""

    api_key: tuple[str, str] | None = None
    oauth2: OAuth2ClientCredentials | None = None


def client_auth(name: str, auth: Mapping[str, Any]) -> ClientAuth:
    """The credentials of the connector ``name`` from its ``auth:`` setting (schema-checked)."""
    if "api_key" in auth:
        spec = auth["api_key"]
        return ClientAuth(
            api_key=(
                str(spec.get("header", DEFAULT_API_KEY_HEADER)),
                _secret(name, "api_key.env", spec["env"]),
            )
        )
    if "oauth2" in auth:
        spec = auth["oauth2"]
        return ClientAuth(
            oauth2=OAuth2ClientCredentials(
                token_url=str(spec["token_url"]),
                client_id=_secret(name, "oauth2.client_id_env", spec["client_id_env"]),
                client_secret=_secret(name, "oauth2.client_secret_env", spec["client_secret_env"]),
                scope=spec.get("scope"),
            )
        )
    return ClientAuth()


def _secret(name: str, setting: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(
            f"connector {name!r}: auth.{setting} names the environment variable {variable}, which is "
            "not set: set it to the credential"
        )
    return value
