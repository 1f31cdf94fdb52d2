"""The portal's protocol over HTTP: a session, renewed when it expires, and one call per
operation, judged by its ``error_code`` alone (never by the message text).

HTTP goes through :class:`adapters.rest.RestProvider` (pooling, timeouts, a circuit breaker). A
service call is a POST that is not safe to repeat blindly, so the provider makes one attempt;
the caller (the subscription's delivery) decides about retries, and the sync logic makes every
repeat safe by looking the dossier up first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.rest import RestProvider
from connectors.portal import protocol
from connectors.portal.metrics import PortalMetrics
from router.providers import InvalidProviderReply, ProviderError, ProviderFault

# The portal's words end up in dead letters and the log: as much as a person reads, not what a
# broken adapter may send (its reply may hold up to the connector's max_reply_bytes).
MAX_TEXT = 500


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else f"{text[:MAX_TEXT]}... ({len(text)} characters)"


class PortalError(Exception):
    """A portal call failed. ``retryable``: the portal was unreachable, failing or answered
    something unreadable (trying again may help) versus it understood and refused."""

    def __init__(self, detail: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True, slots=True)
class Codes:
    """The portal's ``error_code`` values the connector acts on (options can change them)."""

    success: frozenset[str] = protocol.SUCCESS_CODES
    not_found: frozenset[str] = frozenset({protocol.NOT_FOUND})
    already_exists: frozenset[str] = frozenset({protocol.ALREADY_EXISTS})
    does_not_exist: frozenset[str] = frozenset({protocol.DOES_NOT_EXIST})
    session_expired: frozenset[str] = frozenset({protocol.SESSION_EXPIRED})

    def outcome(self, code: str) -> str:
        for name in ("success", "not_found", "already_exists", "does_not_exist", "session_expired"):
            if code in getattr(self, name):
                return "ok" if name == "success" else name
        return "rejected"


@dataclass(frozen=True, slots=True)
class Reply:
    code: str
    message: str
    data: Any = None
    outcome: str = "ok"

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    agency: str  # madonvi: the province's agency code as the portal knows it
    missing: str = ""  # why there are no credentials (the environment lacks them)


@dataclass
class PortalClient:
    http: RestProvider
    credentials: Credentials
    metrics: PortalMetrics
    codes: Codes = field(default_factory=Codes)
    login_path: str = protocol.LOGIN_PATH
    service_path: str = protocol.SERVICE_PATH
    _session: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    logins: int = 0

    async def session(self, *, stale: str | None = None) -> str:
        """The current session; ``stale`` names one the portal refused, to be replaced once for
        every concurrent caller that saw it refused."""
        async with self._lock:
            if self._session is None or (stale is not None and stale == self._session):
                self._session = await self._login()
            return self._session

    async def _login(self) -> str:
        if self.credentials.missing:
            self.metrics.call("login", "rejected")
            raise PortalError(self.credentials.missing, retryable=True)
        body = {"username": self.credentials.username, "password": self.credentials.password}
        data = await self._post("login", self.login_path, body)
        code = _bounded(protocol.code_of(data["error_code"]))
        session = data.get("session")
        if code not in self.codes.success or not isinstance(session, str) or not session:
            self.metrics.call("login", "rejected")
            # wrong credentials do not fix themselves; but do not make every event a dead letter
            # for it either: retryable, so the circuit opens and /readyz shows the sink down
            raise PortalError(
                f"login refused: error_code {code}: {_bounded(str(data.get('message', '')))}",
                retryable=True,
                code=code,
            )
        self.metrics.call("login", "ok")
        self.logins += 1
        return session

    async def call(self, operation: str, fields: Mapping[str, Any]) -> Reply:
        """One operation; a session that expired is renewed and the call repeated once."""
        session = await self.session()
        reply = await self._call_once(operation, fields, session)
        if reply.outcome == "session_expired":
            session = await self.session(stale=session)
            reply = await self._call_once(operation, fields, session)
            if reply.outcome == "session_expired":
                raise PortalError(
                    f"{operation}: the portal refused a fresh session", retryable=True, code=reply.code
                )
        return reply

    async def _call_once(self, operation: str, fields: Mapping[str, Any], session: str) -> Reply:
        body = {"session": session, "madonvi": self.credentials.agency, "service": operation, **fields}
        data = await self._post(operation, self.service_path, body)
        code = _bounded(protocol.code_of(data["error_code"]))
        outcome = self.codes.outcome(code)
        self.metrics.call(operation, outcome)
        return Reply(code, _bounded(str(data.get("message", ""))), data.get("data"), outcome)

    async def _post(self, operation: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            data = await self.http.request("POST", path, json=body)
        except InvalidProviderReply as error:
            self.metrics.call(operation, "malformed")
            raise PortalError(f"{operation}: unreadable reply: {error.detail}", retryable=True) from None
        except ProviderFault as error:
            # an HTTP error status with a body: 5xx may pass, 4xx will not
            status = int(error.fault_code) if error.fault_code.isdigit() else 0
            self.metrics.call(operation, "unavailable" if status >= 500 else "rejected")
            raise PortalError(f"{operation}: {error.detail}", retryable=status >= 500) from None
        except ProviderError as error:  # unreachable, timed out, 502-504, circuit open
            self.metrics.call(operation, "unavailable")
            raise PortalError(f"{operation}: {error.detail}", retryable=True) from None
        if not isinstance(data, dict) or "error_code" not in data:
            # success is read from error_code only: a reply without one is not a success
            self.metrics.call(operation, "malformed")
            raise PortalError(f"{operation}: the reply has no error_code: {str(data)[:200]}", retryable=True)
        return data

    async def aclose(self) -> None:
        await self.http.aclose()
