"""The portal's protocol over HTTP: a session, renewed before it gets old and when the portal
refuses it, and one call per service, judged by its ``error_code`` (and, for a create, by the
"already exists" message that comes with a success code).

The envelope (:mod:`connectors.portal.envelope`) decides how a call is put on the wire; this
module logs in when the envelope needs a session and reads every reply the same way:
``{error_code, message, result}``.

Sessions: a session older than ``max_session_age_s`` is renewed before the call (the portal's
session lifetime is unknown; OpenCPS renews every 10 minutes). A call answered HTTP 401, or with
an ``error_code`` configured as "session expired", renews the session once for every concurrent
caller that saw it refused and is repeated exactly once.

HTTP goes through :class:`adapters.rest.RestProvider` (pooling, timeouts, a circuit breaker). A
service call is a POST that is not safe to repeat blindly, so the provider makes one attempt;
the caller (the subscription's delivery) decides about retries, and the sync logic makes every
repeat safe by looking the dossier up first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.rest import RestProvider
from connectors.portal import protocol
from connectors.portal.envelope import Credentials, Envelope, EnvelopeError, Request
from connectors.portal.metrics import PortalMetrics
from router.providers import InvalidProviderReply, ProviderError, ProviderFault

# The portal's words end up in dead letters and the log: as much as a person reads, not what a
# broken adapter may send (its reply may hold up to the connector's max_reply_bytes).
MAX_TEXT = 500
UNAUTHORISED = 401

__all__ = ["Codes", "Credentials", "PortalClient", "PortalError", "Reply"]


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
    """How replies are judged (options can change every part).

    ``success``: the ``error_code`` values of success. ``already_exists`` with
    ``already_exists_message``: a create answered with one of those codes *and* a message
    containing the fragment (case-insensitive, NFC) did not write the dossier: it was there
    already (a success code with that message never counts as written). ``session_expired``: codes that mean "log in again" (HTTP 401 always does).
    """

    success: frozenset[str] = protocol.DEFAULT_SUCCESS
    already_exists: frozenset[str] = protocol.DEFAULT_ALREADY_EXISTS
    already_exists_message: str = protocol.DEFAULT_ALREADY_EXISTS_MESSAGE
    session_expired: frozenset[str] = protocol.DEFAULT_SESSION_EXPIRED

    def outcome(self, service: str, fields: Mapping[str, Any], code: str, message: str, result: Any) -> str:
        """ok, not_found (a lookup with an empty ``result``), already_exists (a create),
        session_expired or rejected."""
        creating = service == protocol.SYNC and fields.get(protocol.UPDATING_KEY) != protocol.TRUE
        # a create answered success with "already exists" wrote nothing: never counted as written
        listed = code in self.already_exists or code in self.success
        if creating and listed and protocol.says(message, self.already_exists_message):
            return "already_exists"
        if code in self.success:
            if service == protocol.LOOKUP and (result is None or result == []):
                return "not_found"
            return "ok"
        if code in self.session_expired:
            return "session_expired"
        return "rejected"


@dataclass(frozen=True, slots=True)
class Reply:
    code: str
    message: str
    result: Any = None  # the reply's ``result`` as sent (an array for the data services)
    outcome: str = "ok"

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "not_found")


@dataclass
class PortalClient:
    http: RestProvider
    envelope: Envelope
    metrics: PortalMetrics
    credentials: Credentials = field(default_factory=Credentials)
    codes: Codes = field(default_factory=Codes)
    max_session_age_s: float = protocol.DEFAULT_SESSION_MAX_AGE_S
    clock: Callable[[], float] = time.monotonic
    _session: str | None = None
    _born: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    logins: int = 0

    @property
    def can_look_up(self) -> bool:
        return self.envelope.can_look_up

    async def session(self, *, stale: str | None = None) -> str:
        """The current session, renewed when older than the maximum age; ``stale`` names one the
        portal refused, to be replaced once for every concurrent caller that saw it refused."""
        async with self._lock:
            old = self._session is not None and self.clock() - self._born >= self.max_session_age_s
            if self._session is None or old or (stale is not None and stale == self._session):
                self._session = await self._login()
                self._born = self.clock()
            return self._session

    async def _login(self) -> str:
        if self.credentials.missing:
            self.metrics.call("login", "rejected")
            raise PortalError(self.credentials.missing, retryable=True)
        status, data = await self._post("login", self.envelope.login(self.credentials))
        code = "" if status == UNAUTHORISED else _bounded(protocol.code_of(data["error_code"]))
        session = data.get("session")
        if code not in self.codes.success or not isinstance(session, str) or not session:
            # wrong credentials do not fix themselves; but do not make every event a dead letter
            # for it either: retryable, so the circuit opens and /readyz shows the sink down
            self.metrics.call("login", "rejected")
            said = "HTTP 401" if status == UNAUTHORISED else f"error_code {code}"
            raise PortalError(
                f"login refused: {said}: {_bounded(str(data.get('message', '')))}",
                retryable=True,
                code=code or None,
            )
        self.metrics.call("login", "ok")
        self.logins += 1
        return session

    async def call(self, service: str, fields: Mapping[str, Any], *, endpoint: str = "integration") -> Reply:
        """One service call on ``endpoint`` (auth, integration or share); a session the portal
        refused is renewed and the call repeated once."""
        if not self.envelope.holds_session:
            return await self._call_once(service, fields, endpoint, "")
        session = await self.session()
        reply = await self._call_once(service, fields, endpoint, session)
        if reply.outcome == "session_expired":
            session = await self.session(stale=session)
            reply = await self._call_once(service, fields, endpoint, session)
            if reply.outcome == "session_expired":
                raise PortalError(
                    f"{service}: the portal refused a fresh session", retryable=True, code=reply.code
                )
        return reply

    async def _call_once(self, service: str, fields: Mapping[str, Any], endpoint: str, session: str) -> Reply:
        if self.credentials.missing and not self.envelope.holds_session:
            self.metrics.call(service, "rejected")
            raise PortalError(self.credentials.missing, retryable=True)
        try:
            request = self.envelope.request(
                service, fields, endpoint=endpoint, session=session, credentials=self.credentials
            )
        except EnvelopeError as error:
            raise PortalError(f"{service}: {error}", retryable=False) from None
        status, data = await self._post(service, request)
        if status == UNAUTHORISED:
            if not self.envelope.holds_session:  # a bridge refusing its token: no session to renew
                self.metrics.call(service, "rejected")
                raise PortalError(f"{service}: the bridge answered HTTP 401", retryable=True)
            self.metrics.call(service, "session_expired")
            return Reply(protocol.code_of(data.get("error_code", "")), "HTTP 401", None, "session_expired")
        code = _bounded(protocol.code_of(data["error_code"]))
        message = _bounded(str(data.get("message", "")))
        result = data.get("result")
        outcome = self.codes.outcome(service, fields, code, message, result)
        self.metrics.call(service, outcome)
        return Reply(code, message, result, outcome)

    async def _post(self, operation: str, request: Request) -> tuple[int, dict[str, Any]]:
        """The reply's HTTP status (200, or 401 with whatever body) and its JSON object."""
        try:
            data = await self.http.request(
                request.method,
                request.url,
                params=request.params,
                json=request.body,
                headers=request.headers,
            )
        except InvalidProviderReply as error:
            self.metrics.call(operation, "malformed")
            raise PortalError(f"{operation}: unreadable reply: {error.detail}", retryable=True) from None
        except ProviderFault as error:
            # an HTTP error status with a body: 5xx may pass, 4xx will not; 401 is the session's
            status = int(error.fault_code) if error.fault_code.isdigit() else 0
            if status == UNAUTHORISED:
                return status, {}
            self.metrics.call(operation, "unavailable" if status >= 500 else "rejected")
            raise PortalError(f"{operation}: {error.detail}", retryable=status >= 500) from None
        except ProviderError as error:  # unreachable, timed out, 502-504, circuit open
            self.metrics.call(operation, "unavailable")
            raise PortalError(f"{operation}: {error.detail}", retryable=True) from None
        if not isinstance(data, dict) or "error_code" not in data:
            # success is read from error_code only: a reply without one is not a success
            self.metrics.call(operation, "malformed")
            raise PortalError(f"{operation}: the reply has no error_code: {str(data)[:200]}", retryable=True)
        return 200, data

    async def aclose(self) -> None:
        await self.http.aclose()
