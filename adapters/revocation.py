"""Revocation of signing certificates: is the certificate of a verified result on its CA's
certificate revocation list (RFC 5280 CRL)?

:mod:`adapters.signatures` checks what a signature proves by itself; whether the CA has since
revoked the certificate needs outside data. The checker reads CRLs from

- files (``crl_files``: CRLs an operator copies in, for a bus with no path to the CAs), and
- URLs: those configured (``crl_urls``) and the certificate's own CRL distribution points, the
  latter fetched only from hosts the configuration names (``crl_hosts``): a certificate chooses
  its distribution point, and the bus calls no host it was not told to.

A fetch is bounded in time (``timeout``) and size (``max_bytes``), follows no redirect, and its
CRL is cached until its ``nextUpdate``. A CRL counts only if its issuer is the certificate's
issuer, its signature verifies with the issuer's key, and it is current (``thisUpdate`` passed,
``nextUpdate`` not). The certificate is then ``revoked`` if its serial number is listed, ``good``
if not; with no such CRL the status is ``unknown`` and the mode decides:

- ``require``: an unknown status refuses the result (``certificate_revocation_unknown``);
- ``prefer``: it is accepted, with a warning in the log and
  ``lienthong_signature_revocation_total{outcome="unknown"}`` counted;
- ``off``: nothing is checked (the default when no ``revocation`` is configured).

A revoked certificate is refused in every mode but ``off`` (``certificate_revoked``), whatever
the revocation date: a revocation for key compromise dates from when it was noticed, not from
when the key was stolen, and a result's issue time is the signer's claim. OCSP is not asked.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter

from adapters.aiohttp_session import LazySession, ReplyTooLarge, read_reply_bounded
from adapters.signatures import SIGNATURE_MEMBER, Reason, SignatureRejected, TrustAnchors

log = logging.getLogger("lienthong.revocation")

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# how long a CRL without nextUpdate is kept before it is fetched again
DEFAULT_REFRESH_S = 3600.0

Clock = Callable[[], dt.datetime]


class Mode(StrEnum):
    REQUIRE = "require"
    PREFER = "prefer"
    OFF = "off"


class Status(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class RevocationSettings:
    mode: Mode = Mode.OFF
    crl_files: tuple[Path, ...] = ()
    crl_urls: tuple[str, ...] = ()
    crl_hosts: frozenset[str] = frozenset()  # "host" or "host:port" of distribution points
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(slots=True)
class _Cached:
    crl: x509.CertificateRevocationList | None
    fetched: dt.datetime
    stale_at: dt.datetime


@dataclass(slots=True)
class _Metrics:
    checks: Counter


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()


def _metrics(registry: CollectorRegistry) -> _Metrics:
    metrics = _BY_REGISTRY.get(registry)
    if metrics is None:
        counter = Counter(
            "lienthong_signature_revocation",
            "Revocation checks of signing certificates, by outcome (good, revoked, unknown).",
            ["outcome"],
            registry=registry,
        )
        metrics = _BY_REGISTRY[registry] = _Metrics(counter)
    return metrics


@dataclass
class RevocationChecker:
    """Checks signing certificates against CRLs (see the module's docstring)."""

    settings: RevocationSettings
    registry: CollectorRegistry | None = None
    clock: Clock = field(default=lambda: dt.datetime.now(dt.UTC))
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _files: dict[Path, tuple[int, x509.CertificateRevocationList]] = field(default_factory=dict)
    _session: LazySession | None = None

    def __post_init__(self) -> None:
        self._session = LazySession(self._new_session)
        self._counter = _metrics(self.registry).checks if self.registry is not None else None

    async def check(self, document: Mapping[str, Any], anchors: TrustAnchors) -> Status:
        """The status of the signer's certificate of a verified document; raises
        SignatureRejected when it is revoked, or unknown under ``require``."""
        if self.settings.mode is Mode.OFF:
            return Status.NOT_CHECKED
        leaf, issuer = _signer_and_issuer(document, anchors)
        status = await self.status(leaf, issuer)
        if self._counter is not None:
            self._counter.labels(status.value).inc()
        name = leaf.subject.rfc4514_string()
        serial = format(leaf.serial_number, "X")
        if status is Status.REVOKED:
            raise SignatureRejected(
                Reason.REVOKED, f"the certificate {serial} of {name} is on its CA's revocation list"
            )
        if status is Status.UNKNOWN:
            what = f"the revocation status of the certificate {serial} of {name} cannot be obtained"
            if self.settings.mode is Mode.REQUIRE:
                raise SignatureRejected(Reason.REVOCATION_UNKNOWN, f"{what} (revocation mode require)")
            log.warning("%s; accepted (revocation mode prefer)", what)
        return status

    async def status(self, leaf: x509.Certificate, issuer: x509.Certificate | None) -> Status:
        now = self.clock()
        for crl in await self._crls(leaf):
            if not _authoritative(crl, leaf, issuer, now):
                continue
            if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
                return Status.REVOKED
            return Status.GOOD
        return Status.UNKNOWN

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.aclose()

    # --- where CRLs come from ----------------------------------------------------------------------

    async def _crls(self, leaf: x509.Certificate) -> list[x509.CertificateRevocationList]:
        found = [crl for path in self.settings.crl_files if (crl := await self._file(path)) is not None]
        for url in (*self.settings.crl_urls, *self._distribution_points(leaf)):
            crl = await self._fetched(url)
            if crl is not None:
                found.append(crl)
        return found

    async def _file(self, path: Path) -> x509.CertificateRevocationList | None:
        """The file's CRL, read again when the file changed (an operator copies a new one in)."""
        try:
            changed = (await asyncio.to_thread(path.stat)).st_mtime_ns
            known = self._files.get(path)
            if known is not None and known[0] == changed:
                return known[1]
            crl = _load(await asyncio.to_thread(path.read_bytes))
        except (OSError, ValueError) as error:
            log.warning("the CRL file %s cannot be read: %s", path, error)
            return None
        self._files[path] = (changed, crl)
        return crl

    def _distribution_points(self, leaf: x509.Certificate) -> list[str]:
        try:
            points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return []
        urls: list[str] = []
        for point in points:
            for name in point.full_name or ():
                if isinstance(name, x509.UniformResourceIdentifier) and self._allowed(name.value):
                    urls.append(name.value)
        return urls

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        hosts = self.settings.crl_hosts
        return parts.hostname in hosts or (
            parts.port is not None and f"{parts.hostname}:{parts.port}" in hosts
        )

    async def _fetched(self, url: str) -> x509.CertificateRevocationList | None:
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:  # one fetch per URL, whoever asks at the same time
            now = self.clock()
            cached = self._cache.get(url)
            if cached is not None and now < cached.stale_at:
                return cached.crl
            crl = await self._download(url)
            if crl is None:
                # keep a CRL that is still current; the next check tries again
                return cached.crl if cached is not None and _current(cached.crl, now) else None
            next_update = crl.next_update_utc
            stale_at = (
                next_update if next_update is not None else now + dt.timedelta(seconds=DEFAULT_REFRESH_S)
            )
            self._cache[url] = _Cached(crl, now, stale_at)
            return crl

    async def _download(self, url: str) -> x509.CertificateRevocationList | None:
        assert self._session is not None
        limit = self.settings.max_bytes
        try:
            session = self._session.get()
            async with session.get(url, allow_redirects=False) as reply:
                if reply.status != 200:
                    log.warning("the CRL at %s: HTTP %s", url, reply.status)
                    return None
                body = await read_reply_bounded(reply, limit)
            return _load(body)
        except ReplyTooLarge:
            log.warning("the CRL at %s is larger than %s bytes", url, limit)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            log.warning("the CRL at %s cannot be fetched: %s: %s", url, type(error).__name__, error)
        except ValueError as error:
            log.warning("the CRL at %s is not a CRL: %s", url, error)
        return None

    def _new_session(self) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        return aiohttp.ClientSession(timeout=timeout, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())


# --- the checks of a CRL ---------------------------------------------------------------------------


def _load(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _current(crl: x509.CertificateRevocationList | None, now: dt.datetime) -> bool:
    if crl is None:
        return False
    next_update = crl.next_update_utc
    return crl.last_update_utc <= now and (next_update is None or now <= next_update)


def _authoritative(
    crl: x509.CertificateRevocationList,
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    now: dt.datetime,
) -> bool:
    """The CRL speaks for the certificate: its issuer's, signed by it, and current."""
    if issuer is None or crl.issuer != leaf.issuer or issuer.subject != leaf.issuer:
        return False
    key = issuer.public_key()
    try:
        if not crl.is_signature_valid(key):  # type: ignore[arg-type]  # EC and RSA keys only here
            return False
    except (TypeError, ValueError):
        return False
    return _current(crl, now)


def _signer_and_issuer(
    document: Mapping[str, Any], anchors: TrustAnchors
) -> tuple[x509.Certificate, x509.Certificate | None]:
    """The signer's certificate of a verified document and its issuer's: the next one in the
    chain, or the trust anchor that issued it."""
    signature = document[SIGNATURE_MEMBER]
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in signature["certificates"]]
    leaf = chain[0]
    candidates: Sequence[x509.Certificate] = (*chain[1:], *anchors.certificates)
    issuer = next((c for c in candidates if c.subject == leaf.issuer), None)
    return leaf, issuer


# --- the configuration -----------------------------------------------------------------------------

SETTINGS = frozenset({"mode", "crl_files", "crl_urls", "crl_hosts", "timeout_s", "max_bytes"})


def settings_of(raw: object, base: Path) -> RevocationSettings:
    """The settings of a ``revocation:`` mapping (file names relative to ``base``); ValueError
    naming the setting and the fix. Without ``mode`` the mode is ``prefer``."""
    if not isinstance(raw, Mapping):
        raise ValueError("revocation: a mapping, e.g. {mode: prefer, crl_files: [ca.crl]}")
    unknown = sorted(set(raw) - SETTINGS)
    if unknown:
        raise ValueError(
            f"revocation: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(SETTINGS))}"
        )
    try:
        mode = Mode(raw.get("mode", Mode.PREFER.value))
    except ValueError:
        raise ValueError(f"revocation.mode: one of {', '.join(m.value for m in Mode)}") from None
    files = tuple((base / str(f)).resolve() for f in _strings(raw, "crl_files"))
    urls = _strings(raw, "crl_urls")
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError(f"revocation.crl_urls: {url!r} is not an http(s) URL")
    timeout = raw.get("timeout_s", DEFAULT_TIMEOUT_S)
    max_bytes = raw.get("max_bytes", DEFAULT_MAX_BYTES)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ValueError("revocation.timeout_s: seconds, more than 0 and at most 60")
    if not isinstance(max_bytes, int) or not 0 < max_bytes <= 100 * 1024 * 1024:
        raise ValueError("revocation.max_bytes: bytes, more than 0 and at most 104857600")
    if mode is not Mode.OFF and not (files or urls or raw.get("crl_hosts")):
        raise ValueError("revocation: give crl_files, crl_urls or crl_hosts (or mode: off)")
    return RevocationSettings(
        mode=mode,
        crl_files=files,
        crl_urls=urls,
        crl_hosts=frozenset(_strings(raw, "crl_hosts")),
        timeout_s=float(timeout),
        max_bytes=max_bytes,
    )


def _strings(raw: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"revocation.{key}: a list of strings")
    return tuple(value)
