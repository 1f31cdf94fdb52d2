"""A DEMO public-key infrastructure: a certification authority and agency signing certificates,
for the demo and the tests. Nothing here is a real CA or a real agency's key.

The demo CA's key is derived from a public seed (:data:`DEMO_SEED`), so anyone can make it again:
it proves nothing and must never be trusted outside a demo. Tests make their own CAs with fresh
keys (:func:`new_authority`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from adapters.signatures import PrivateKey, Signer

DEMO_SEED = b"lienthong DEMO certification authority - not a real CA - public seed"
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
KeyKind = Literal["ec", "rsa"]  # P-256, or RSA of 2048 bits


@dataclass(frozen=True, slots=True)
class Authority:
    key: PrivateKey
    certificate: x509.Certificate


def _key(kind: KeyKind, seed: bytes | None = None) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if seed is None:
        return ec.generate_private_key(ec.SECP256R1())
    return seeded_ec_key(seed)


def seeded_ec_key(seed: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 key from a seed: the same seed, the same key (for DEMO keys only: the demo CA,
    the demo identity provider)."""
    scalar = int.from_bytes(hashlib.sha256(seed).digest(), "big") % (2**256 - 2**224 - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _period(
    not_before: dt.datetime | None, not_after: dt.datetime | None, days: int
) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return start, not_after or start + dt.timedelta(days=days)


def new_authority(
    name: str = "lienthong TEST CA",
    *,
    issuer: Authority | None = None,
    seed: bytes | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Authority:
    """A root CA (or, with ``issuer``, an intermediate CA) with an EC P-256 key."""
    key = _key("ec", seed)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lienthong DEMO - not a real CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    start, end = _period(not_before, not_after, 3650)
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        )
    )
    return Authority(key, builder.sign(signing_key, hashes.SHA256()))


def issue_agency_certificate(
    authority: Authority,
    agency_code: str,
    agency_name: str,
    *,
    key_kind: KeyKind = "ec",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
    extended_key_usage: tuple[ObjectIdentifier, ...] = (DOCUMENT_SIGNING,),
    chain: tuple[x509.Certificate, ...] = (),
) -> Signer:
    """An agency's signing key and certificate (subject O = the agency's name,
    organizationIdentifier = its code), and ``chain`` (intermediates) after it."""
    key = _key(key_kind)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, agency_code),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{agency_name} (DEMO signing certificate)"),
        ]
    )
    start, end = _period(not_before, not_after, 730)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=digital_signature,
                key_encipherment=not digital_signature,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False
        )
    )
    if extended_key_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False)
    return Signer(key, (builder.sign(authority.key, hashes.SHA256()), *chain))


def demo_authority() -> Authority:
    """The demo CA: its key comes from the public :data:`DEMO_SEED` (the same every time)."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return new_authority(
        "lienthong DEMO CA (not a real certification authority)",
        seed=DEMO_SEED,
        not_before=start,
        not_after=start + dt.timedelta(days=20 * 365),
    )
