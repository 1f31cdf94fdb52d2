"""Detached signatures of results: what is accepted, and each reason for a refusal."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from typing import Any, Literal

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.signatures import Reason, SignatureRejected, VerifiedSignature, canonical_bytes, verify
from simulators.pki import issue_agency_certificate
from tests.support.results import AGENCY, AGENCY_NAME, NOW, SigningPki, result


@pytest.fixture(scope="module")
def pki() -> SigningPki:
    return SigningPki()


def check(pki: SigningPki, data: dict[str, Any], *, at: dt.datetime = NOW) -> VerifiedSignature:
    return verify(
        data,
        pki.anchors,
        agency_code=data["issuingAgency"]["code"],
        signed_at=dt.datetime.fromisoformat(data["issuedAt"]),
        received_at=at,
    )


def rejected(pki: SigningPki, data: dict[str, Any], **options: Any) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as caught:
        check(pki, data, **options)
    return caught.value


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [("ec", "ECDSA-SHA256"), ("rsa", "RSA-PSS-SHA256"), ("rsa", "RSA-SHA256")],
)
def test_a_signed_result_verifies(pki: SigningPki, kind: Literal["ec", "rsa"], algorithm: str) -> None:
    signer = issue_agency_certificate(pki.ca, AGENCY, AGENCY_NAME, key_kind=kind)
    data = pki.signed(result(), signer, algorithm)
    verified = check(pki, data)
    assert verified.algorithm == algorithm
    assert "2.5.4.97=000.00.00.H49" in verified.signer
    assert verified.document_sha256 == hashlib.sha256(canonical_bytes(data)).hexdigest()


def test_a_certificate_of_an_intermediate_ca_verifies_with_its_chain(pki: SigningPki) -> None:
    signer = issue_agency_certificate(
        pki.intermediate, AGENCY, AGENCY_NAME, chain=(pki.intermediate.certificate,)
    )
    assert check(pki, pki.signed(result(), signer)).certificate_issuer.startswith(
        "CN=lienthong TEST issuing CA"
    )
    without_chain = pki.signed(result(), issue_agency_certificate(pki.intermediate, AGENCY, AGENCY_NAME))
    assert rejected(pki, without_chain).reason is Reason.UNTRUSTED


def test_the_signed_bytes_ignore_key_order_and_the_signature_itself(pki: SigningPki) -> None:
    data = pki.signed(result())
    reordered = dict(reversed(list(data.items())))
    assert canonical_bytes(reordered) == canonical_bytes(data) == canonical_bytes(result())
    check(pki, reordered)


def test_a_changed_document_is_refused(pki: SigningPki) -> None:
    error = rejected(pki, pki.tampered(result()))
    assert error.reason is Reason.INVALID
    assert "changed after signing" in error.detail


def test_a_signature_by_another_key_is_refused(pki: SigningPki) -> None:
    assert rejected(pki, pki.wrong_key(result())).reason is Reason.INVALID


def test_an_expired_certificate_is_refused_with_its_date(pki: SigningPki) -> None:
    error = rejected(pki, pki.expired(result()))
    assert error.reason is Reason.EXPIRED
    assert "expired on" in error.detail and "when the result was issued" in error.detail


def test_a_result_back_dated_into_the_certificates_period_is_refused_on_arrival(pki: SigningPki) -> None:
    old = pki.expired(result(issuedAt=(NOW - dt.timedelta(days=100)).isoformat()))
    error = rejected(pki, old)
    assert error.reason is Reason.EXPIRED and "when it reached the bus" in error.detail
    # the same result, had it arrived in time, was fine
    check(pki, old, at=NOW - dt.timedelta(days=99))


def test_a_certificate_not_yet_valid_is_refused(pki: SigningPki) -> None:
    signer = issue_agency_certificate(
        pki.ca,
        AGENCY,
        AGENCY_NAME,
        not_before=NOW + dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=9),
    )
    assert rejected(pki, pki.signed(result(), signer)).reason is Reason.NOT_YET_VALID


def test_a_certificate_of_another_agency_is_refused(pki: SigningPki) -> None:
    error = rejected(pki, pki.other_agency(result()))
    assert error.reason is Reason.AGENCY
    assert "000.00.00.H49" in error.detail and "000.00.00.H56" in error.detail


def test_a_certificate_of_an_untrusted_ca_is_refused(pki: SigningPki) -> None:
    error = rejected(pki, pki.untrusted(result()))
    assert error.reason is Reason.UNTRUSTED
    assert "does not chain to a trusted certification authority" in error.detail


def test_a_certificate_not_meant_for_signing_is_refused(pki: SigningPki) -> None:
    no_signing = issue_agency_certificate(pki.ca, AGENCY, AGENCY_NAME, digital_signature=False)
    assert rejected(pki, pki.signed(result(), no_signing)).reason is Reason.KEY_USAGE
    tls_only = issue_agency_certificate(
        pki.ca, AGENCY, AGENCY_NAME, extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    error = rejected(pki, pki.signed(result(), tls_only))
    assert error.reason is Reason.KEY_USAGE and "extended key usage" in error.detail


def test_an_unsigned_or_malformed_signature_is_refused(pki: SigningPki) -> None:
    assert rejected(pki, result()).reason is Reason.UNSIGNED
    data = pki.signed(result())
    broken = copy.deepcopy(data)
    broken["signature"]["value"] = "not base64!"
    assert rejected(pki, broken).reason is Reason.MALFORMED
    unknown = copy.deepcopy(data)
    unknown["signature"]["algorithm"] = "DSA-SHA1"
    assert rejected(pki, unknown).reason is Reason.MALFORMED
    mismatched = copy.deepcopy(data)
    mismatched["signature"]["algorithm"] = "RSA-PSS-SHA256"  # an EC key
    assert rejected(pki, mismatched).reason is Reason.ALGORITHM


def test_an_inline_file_must_match_its_signed_digest(pki: SigningPki) -> None:
    content = b"%PDF-1.7 a result"
    entry = {
        "name": "Giấy phép",
        "url": "https://example.gov.vn/kq.pdf",
        "sha256": hashlib.sha256(content).hexdigest(),
        "content": base64.b64encode(content).decode(),
    }
    check(pki, pki.signed(result(documents=[entry])))
    wrong = {**entry, "content": base64.b64encode(b"another file").decode()}
    error = rejected(pki, pki.signed(result(documents=[wrong])))
    assert error.reason is Reason.DIGEST
