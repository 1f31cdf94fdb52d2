"""Revocation of signing certificates, checked against a real CRL (made here with cryptography's
builder) served over HTTP on loopback: a revoked certificate is refused with a stable code, one
not listed is accepted, and a CRL server that is down gives what the mode says."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.revocation import Mode, RevocationChecker, RevocationSettings, Status, settings_of
from adapters.signatures import Reason, SignatureRejected
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.citizen_store.connector import CitizenStoreConnector, ResultSink
from connectors.citizen_store.connector import from_settings as store_from_settings
from router.errors import ConfigError
from router.ports import StoredMessage
from router.providers import DataRequest, InvalidProviderReply
from router.received import RECEIVED_AT_HEADER
from router.sinks import SinkError
from router.subscriptions import SinkSpec
from simulators.citizen_store import create_app
from simulators.pki import Authority, issue_agency_certificate
from simulators.server import SimulatorServer
from tests.support.results import AGENCY, AGENCY_NAME, NOW, SigningPki, result


@dataclass
class CrlServer:
    """Serves ``body`` at /ca.crl and counts the requests."""

    body: bytes = b""
    requests: int = 0
    server: SimulatorServer | None = field(default=None, repr=False)

    async def crl(self, request: Request) -> Response:
        self.requests += 1
        return Response(self.body, media_type="application/pkix-crl")

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/ca.crl"


def crl_of(
    authority: Authority, revoked: list[int], *, key: ec.EllipticCurvePrivateKey | None = None
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=1))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - dt.timedelta(minutes=30))
            .build()
        )
    signing_key = key or authority.key
    return builder.sign(signing_key, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def pki() -> SigningPki:
    return SigningPki()


@pytest.fixture
def crls() -> Iterator[CrlServer]:
    served = CrlServer()
    app = Starlette(routes=[Route("/ca.crl", served.crl)])
    served.server = SimulatorServer(app).start()
    yield served
    served.server.stop()


def checker(mode: Mode, url: str, registry: CollectorRegistry | None = None) -> RevocationChecker:
    return RevocationChecker(RevocationSettings(mode=mode, crl_urls=(url,), timeout_s=2.0), registry)


def signed(pki: SigningPki) -> tuple[dict[str, Any], int]:
    signer = issue_agency_certificate(pki.ca, AGENCY, AGENCY_NAME)
    return pki.signed(result(), signer), signer.certificates[0].serial_number


@pytest.mark.parametrize("mode", [Mode.REQUIRE, Mode.PREFER])
async def test_a_revoked_certificate_is_refused(mode: Mode, pki: SigningPki, crls: CrlServer) -> None:
    document, serial = signed(pki)
    crls.body = crl_of(pki.ca, [serial])
    revocation = checker(mode, crls.url)
    try:
        with pytest.raises(SignatureRejected) as refused:
            await revocation.check(document, pki.anchors)
    finally:
        await revocation.aclose()
    assert refused.value.reason is Reason.REVOKED
    assert refused.value.detail.startswith("certificate_revoked: ")


@pytest.mark.parametrize("mode", [Mode.REQUIRE, Mode.PREFER])
async def test_a_certificate_not_listed_is_accepted_and_the_crl_is_cached(
    mode: Mode, pki: SigningPki, crls: CrlServer
) -> None:
    document, serial = signed(pki)
    crls.body = crl_of(pki.ca, [serial + 1])
    revocation = checker(mode, crls.url)
    try:
        assert await revocation.check(document, pki.anchors) is Status.GOOD
        assert await revocation.check(document, pki.anchors) is Status.GOOD
    finally:
        await revocation.aclose()
    assert crls.requests == 1  # until its nextUpdate


async def test_a_crl_not_signed_by_the_issuer_says_nothing(pki: SigningPki, crls: CrlServer) -> None:
    document, serial = signed(pki)
    crls.body = crl_of(pki.ca, [serial], key=ec.generate_private_key(ec.SECP256R1()))
    revocation = checker(Mode.REQUIRE, crls.url)
    try:
        with pytest.raises(SignatureRejected) as refused:
            await revocation.check(document, pki.anchors)
    finally:
        await revocation.aclose()
    assert refused.value.reason is Reason.REVOCATION_UNKNOWN


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (Mode.REQUIRE, Reason.REVOCATION_UNKNOWN),
        (Mode.PREFER, Status.UNKNOWN),
        (Mode.OFF, Status.NOT_CHECKED),
    ],
)
async def test_a_crl_server_that_is_down_gives_what_the_mode_says(
    mode: Mode, expected: Reason | Status, pki: SigningPki, crls: CrlServer
) -> None:
    document, _ = signed(pki)
    url = crls.url
    assert crls.server is not None
    crls.server.stop()
    registry = CollectorRegistry()
    revocation = checker(mode, url, registry)
    try:
        if isinstance(expected, Reason):
            with pytest.raises(SignatureRejected) as refused:
                await revocation.check(document, pki.anchors)
            assert refused.value.reason is expected
            assert refused.value.detail.startswith("certificate_revocation_unknown: ")
        else:
            assert await revocation.check(document, pki.anchors) is expected
    finally:
        await revocation.aclose()
    counted = registry.get_sample_value("lienthong_signature_revocation_total", {"outcome": "unknown"})
    assert counted == (None if mode is Mode.OFF else 1.0)


def certificate_with_distribution_point(authority: Authority, url: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "signer")]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.CRLDistributionPoints([point]), critical=False)
        .sign(authority.key, hashes.SHA256())
    )


@pytest.mark.parametrize("allowed", [True, False])
async def test_a_distribution_point_is_fetched_only_from_a_configured_host(
    allowed: bool, pki: SigningPki, crls: CrlServer
) -> None:
    leaf = certificate_with_distribution_point(pki.ca, crls.url)
    crls.body = crl_of(pki.ca, [leaf.serial_number])
    hosts = frozenset({"127.0.0.1"} if allowed else {"crl.example.vn"})
    revocation = RevocationChecker(RevocationSettings(mode=Mode.PREFER, crl_hosts=hosts))
    try:
        status = await revocation.status(leaf, pki.ca.certificate)
    finally:
        await revocation.aclose()
    assert status is (Status.REVOKED if allowed else Status.UNKNOWN)
    assert crls.requests == (1 if allowed else 0)


async def test_the_citizen_store_sink_refuses_a_result_signed_with_a_revoked_certificate(
    pki: SigningPki, crls: CrlServer, tmp_path: Path
) -> None:
    document, serial = signed(pki)
    crls.body = crl_of(pki.ca, [serial])
    settings = ConnectorSettings(
        name="kho",
        kind="citizen_store",
        url="http://127.0.0.1:9",
        options={
            "trust_anchors": str(pki.write_anchors(tmp_path)),
            "revocation": {"mode": "require", "crl_urls": [crls.url]},
        },
    )
    connector = store_from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    sink = connector.sink(SinkSpec("connector", {"name": "kho"}))
    assert isinstance(sink, ResultSink)
    headers = (
        ("ce_type", b"dossier.result.issued"),
        (RECEIVED_AT_HEADER, str(int(NOW.timestamp() * 1000)).encode()),
    )
    message = StoredMessage("deliver.kho", 0, 0, "k", orjson.dumps(document), headers, 0)
    try:
        with pytest.raises(SinkError) as refused:
            await sink.send([message], "key")
    finally:
        await sink.close()
        await connector.aclose()
    assert str(refused.value).startswith("certificate_revoked: ")
    assert not refused.value.retryable


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"mode": "sometimes", "crl_urls": ["http://crl.example.vn/a.crl"]}, "revocation.mode"),
        ({"mode": "require"}, "crl_files, crl_urls or crl_hosts"),
        ({"crl_urls": ["file:///etc/passwd"]}, "not an http(s) URL"),
        ({"crl_hosts": ["crl.example.vn"], "proxy": "x"}, "unknown setting(s) proxy"),
    ],
)
def test_bad_revocation_settings_are_refused(raw: dict[str, Any], words: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as refused:
        settings_of(raw, tmp_path)
    assert words in str(refused.value)
    settings = ConnectorSettings(
        name="kho",
        kind="citizen_store",
        url="http://127.0.0.1:9",
        options={"trust_anchors": str(SigningPki().write_anchors(tmp_path)), "revocation": raw},
    )
    with pytest.raises(ConfigError, match="option revocation"):
        store_from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path))


def test_without_a_mode_the_mode_is_prefer(tmp_path: Path) -> None:
    assert settings_of({"crl_files": ["ca.crl"]}, tmp_path).mode is Mode.PREFER
    assert RevocationSettings().mode is Mode.OFF


async def test_a_stored_result_whose_certificate_was_revoked_since_is_not_served(
    pki: SigningPki, crls: CrlServer, tmp_path: Path
) -> None:
    document, serial = signed(pki)
    crls.body = crl_of(pki.ca, [serial])
    app, _ = create_app()
    store = SimulatorServer(app).start()
    anchors = str(pki.write_anchors(tmp_path))

    def connector(revocation: dict[str, Any] | None) -> CitizenStoreConnector:
        options: dict[str, Any] = {"trust_anchors": anchors}
        if revocation is not None:
            options["revocation"] = revocation
        settings = ConnectorSettings(name="kho", kind="citizen_store", url=store.url, options=options)
        return store_from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path))

    storing, serving = connector(None), connector({"mode": "require", "crl_urls": [crls.url]})
    sink = storing.sink(SinkSpec("connector", {"name": "kho"}))
    provider = serving.provider()
    assert sink is not None
    headers = (
        ("ce_type", b"dossier.result.issued"),
        (RECEIVED_AT_HEADER, str(int(NOW.timestamp() * 1000)).encode()),
    )
    try:
        # stored while its certificate was not yet revoked (no revocation check here)
        await sink.send([StoredMessage("deliver.kho", 0, 0, "k", orjson.dumps(document), headers, 0)], "key")
        with pytest.raises(InvalidProviderReply) as refused:
            await provider.fetch(DataRequest("result.document", {"result_code": document["resultCode"]}))
    finally:
        await sink.close()
        await storing.aclose()
        await serving.aclose()
        store.stop()
    assert "no longer verifies: certificate_revoked: " in refused.value.detail


@pytest.mark.parametrize("current", [True, False])
async def test_a_crl_file_copied_in_works_offline_until_its_next_update(
    current: bool, pki: SigningPki, tmp_path: Path
) -> None:
    document, serial = signed(pki)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.ca.certificate.subject)
        .last_update(NOW - dt.timedelta(days=8))
        .next_update(NOW + dt.timedelta(days=1) if current else NOW - dt.timedelta(days=1))
    )
    crl = builder.sign(pki.ca.key, hashes.SHA256())
    path = tmp_path / "ca.crl"
    path.write_bytes(crl.public_bytes(Encoding.PEM))
    revocation = RevocationChecker(settings_of({"mode": "require", "crl_files": ["ca.crl"]}, tmp_path))
    try:
        if current:
            assert await revocation.check(document, pki.anchors) is Status.GOOD
        else:
            with pytest.raises(SignatureRejected) as refused:
                await revocation.check(document, pki.anchors)
            assert refused.value.reason is Reason.REVOCATION_UNKNOWN
        # a new CRL copied in over it is read again
        listed = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(pki.ca.certificate.subject)
            .last_update(NOW - dt.timedelta(hours=1))
            .next_update(NOW + dt.timedelta(days=1))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
            )
        )
        path.write_bytes(listed.sign(pki.ca.key, hashes.SHA256()).public_bytes(Encoding.DER))
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        with pytest.raises(SignatureRejected) as revoked:
            await revocation.check(document, pki.anchors)
        assert revoked.value.reason is Reason.REVOKED
    finally:
        await revocation.aclose()
