"""How a portal service call is put on the wire: the portal's own envelope, or a provincial
bridge's (``shared/reference/portal-dvcqg.md`` §2.1-2.3, §4).

The sync speaks in the portal's vocabulary (a service name and its keys: ``mahoso``,
``isUpdating``, ``data``); an :class:`Envelope` turns that into one HTTP request:

- :class:`PortalEnvelope`, the portal's own: POST to the endpoint's path, a JSON object with
  ``session`` and ``madonvi`` as top-level keys merged with the service's keys; the connector
  logs in first. A ``dstcode`` header, when configured, goes on every service call, and on the
  login only when it is not empty (as OpenCPS sends it).
- :class:`BridgeEnvelope`, a provincial bridge that holds the portal session itself: the bare
  JSON array of ``data`` posted to the create, update or progress URL, each with its own query
  parameters (Hà Giang: one URL, ``?MaDinhDanhDV=<agency>&isUpdating=True|False``; Thanh Hóa: a
  create URL and an update URL), no login, optionally a bearer token. A lookup URL is optional:
  without one the sync creates, and updates when the bridge answers "already exists".

Both read the same reply, ``{error_code, message, result}`` (:mod:`connectors.portal.session`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.portal import protocol


class EnvelopeError(Exception):
    """The envelope cannot carry the call (a bridge without a URL for the service)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the connector reads from the environment when it starts."""

    username: str = ""
    password: str = ""
    token: str = ""  # a bridge's bearer token
    missing: str = ""  # why some are missing (the environment lacks them)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: ``url`` a path under the connector's URL, or absolute."""

    url: str
    body: Any
    method: str = "POST"
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Envelope(Protocol):
    @property
    def holds_session(self) -> bool:
        """True: requests carry the portal's session, got by :meth:`login` first."""
        ...

    @property
    def can_look_up(self) -> bool:
        """True: ``TraCuuHoSo`` can be asked (a bridge may offer no lookup)."""
        ...

    def login(self, credentials: Credentials) -> Request: ...

    def request(
        self,
        service: str,
        fields: Mapping[str, Any],
        *,
        endpoint: str,
        session: str,
        credentials: Credentials,
    ) -> Request:
        """The request of ``service`` with its keys ``fields``; raises EnvelopeError."""
        ...


@dataclass(frozen=True, slots=True)
class Paths:
    """The portal's three endpoints, as paths under the connector's URL (or absolute URLs)."""

    auth: str = protocol.AUTH_PATH
    integration: str = protocol.INTEGRATION_PATH
    share: str = protocol.SHARE_PATH

    def of(self, endpoint: str) -> str:
        if endpoint not in protocol.ENDPOINTS:
            raise EnvelopeError(f"no endpoint {endpoint!r}; the portal has {', '.join(protocol.ENDPOINTS)}")
        path: str = getattr(self, endpoint)
        return path


@dataclass(frozen=True, slots=True)
class PortalEnvelope:
    agency: str  # madonvi
    paths: Paths = field(default_factory=Paths)
    dstcode: str | None = None  # None: not configured, no header

    @property
    def holds_session(self) -> bool:
        return True

    @property
    def can_look_up(self) -> bool:
        return True

    def login(self, credentials: Credentials) -> Request:
        headers = {"dstcode": self.dstcode} if self.dstcode else {}
        body = {"username": credentials.username, "password": credentials.password}
        return Request(self.paths.auth, body, headers=headers)

    def request(
        self,
        service: str,
        fields: Mapping[str, Any],
        *,
        endpoint: str,
        session: str,
        credentials: Credentials,
    ) -> Request:
        headers = {} if self.dstcode is None else {"dstcode": self.dstcode}
        body = {"session": session, "madonvi": self.agency, "service": service, **fields}
        return Request(self.paths.of(endpoint), body, headers=headers)


@dataclass(frozen=True, slots=True)
class BridgeUrl:
    """A bridge URL and its query parameters; a parameter's value may hold ``{agency}`` (the
    connector's agency code) and, for the lookup, ``{dossier}`` (the dossier code)."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)

    def params_for(self, **values: str) -> dict[str, str]:
        def filled(template: str) -> str:
            for name, value in values.items():
                template = template.replace("{" + name + "}", value)
            return template

        return {name: filled(template) for name, template in self.params.items()}


@dataclass(frozen=True, slots=True)
class BridgeEnvelope:
    agency: str
    create: BridgeUrl
    update: BridgeUrl
    progress: BridgeUrl
    lookup: BridgeUrl | None = None

    @property
    def holds_session(self) -> bool:
        return False

    @property
    def can_look_up(self) -> bool:
        return self.lookup is not None

    def login(self, credentials: Credentials) -> Request:
        raise EnvelopeError("a bridge holds the portal's session: there is no login")

    def request(
        self,
        service: str,
        fields: Mapping[str, Any],
        *,
        endpoint: str,
        session: str,
        credentials: Credentials,
    ) -> Request:
        headers = {"Authorization": f"Bearer {credentials.token}"} if credentials.token else {}
        if service == protocol.LOOKUP:
            if self.lookup is None:
                raise EnvelopeError("the bridge has no lookup URL (bridge.lookup_url)")
            dossier = str(fields.get(protocol.LOOKUP_KEY, ""))
            params = self.lookup.params_for(agency=self.agency, dossier=dossier)
            return Request(self.lookup.url, None, method="GET", params=params, headers=headers)
        if service == protocol.SYNC:
            target = self.update if fields.get(protocol.UPDATING_KEY) == protocol.TRUE else self.create
        elif service == protocol.PROGRESS:
            target = self.progress
        else:
            raise EnvelopeError(f"the bridge envelope carries no {service}")
        params = target.params_for(agency=self.agency)
        return Request(target.url, list(fields.get("data", ())), params=params or None, headers=headers)
