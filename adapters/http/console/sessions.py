"""Signed session cookies for the operator console, and the CSRF tokens of its forms.

A browser cannot send the bearer header on a navigation, so an operator posts the API key once
and gets a cookie naming the system, a fingerprint of the key used, an expiry and a random session
id, signed with HMAC-SHA256. The cookie is checked against the directory and the policy on every
request, so a revoked key or a withdrawn admin grant ends the session at once. Signing out
revokes the session's id until it would have expired, so a copy of the cookie is refused too;
the revocations live in a :class:`router.state.SessionRevocations`: the shared state database
when the bus has one (every process refuses the copy), else this process's memory
(:class:`LocalRevocations`). The CSRF token of a session is an HMAC of its id: forms carry it, the cookie
cannot forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

import orjson

from router.state import SessionRevocations

# Set it to the same value on every instance behind one address, so a session survives a
# failover; without it each process signs with its own random secret.
SECRET_ENV = "LIENTHONG_CONSOLE_SECRET"  # noqa: S105 (the name of the variable, not a secret)
MIN_SECRET_CHARS = 32
FINGERPRINT_CHARS = 32


def console_secret() -> bytes:
    """The signing secret: ``$LIENTHONG_CONSOLE_SECRET``, or a random one for this process."""
    configured = os.environ.get(SECRET_ENV, "")
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        return configured.encode("utf-8")
    return secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Session:
    system: str
    key_fingerprint: str  # of the key hash the operator signed in with
    expires_at: float  # seconds since the epoch
    id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Signing out needs an admin's API key, so the list cannot be flooded by strangers; bounded anyway.
MAX_REVOKED = 10_000


class LocalRevocations:
    """:class:`router.state.SessionRevocations` in this process's memory (a bus of one process)."""

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}  # session id -> when it would have expired

    async def revoke(self, session_id: str, expires_at: float) -> None:
        self.add(session_id, expires_at, time.time())

    def add(self, session_id: str, expires_at: float, now: float) -> None:
        self._revoked = {i: e for i, e in self._revoked.items() if e > now}
        if len(self._revoked) >= MAX_REVOKED:  # the oldest go first: they expire first anyway
            for oldest in sorted(self._revoked, key=self._revoked.__getitem__)[: MAX_REVOKED // 10]:
                del self._revoked[oldest]
        self._revoked[session_id] = expires_at

    async def revoked(self, session_id: str) -> bool:
        return session_id in self._revoked


class SessionSigner:
    def __init__(self, secret: bytes, ttl_s: float, revocations: SessionRevocations | None = None) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self.revocations: SessionRevocations = LocalRevocations() if revocations is None else revocations

    async def revoke(self, session: Session) -> None:
        """Ends a session for good (signing out): its cookie, or any copy of it, reads as None."""
        await self.revocations.revoke(session.id, session.expires_at)

    async def current(self, cookie: str | None) -> Session | None:
        """The session of a cookie value (:meth:`read`) unless it was revoked."""
        session = self.read(cookie)
        if session is None or await self.revocations.revoked(session.id):
            return None
        return session

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def fingerprint(self, key_hash: str) -> str:
        """A keyed digest of a stored key hash: names the key without putting its hash in the cookie."""
        return self._mac("key", key_hash.encode()).hex()[:FINGERPRINT_CHARS]

    def issue(self, system: str, key_hash: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        issued = time.time() if now is None else now
        session = Session(system, self.fingerprint(key_hash), issued + self.ttl_s, secrets.token_hex(16))
        payload = orjson.dumps(
            {"s": session.system, "k": session.key_fingerprint, "e": session.expires_at, "i": session.id}
        )
        return session, f"{_b64(payload)}.{_b64(self._mac('session', payload))}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie value, or None when it is missing, forged, malformed or expired
        (whether it was revoked is :meth:`current`'s question)."""
        if not cookie or len(cookie) > 1024:
            return None
        payload_text, _, mac_text = cookie.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            fields = orjson.loads(payload)
            session = Session(str(fields["s"]), str(fields["k"]), float(fields["e"]), str(fields["i"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if session.expires_at <= (time.time() if now is None else now):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.id.encode()).hex()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        # bytes: compare_digest refuses (TypeError) a str holding non-ASCII characters
        return token is not None and hmac.compare_digest(
            token.encode("utf-8"), self.csrf_token(session).encode("ascii")
        )
