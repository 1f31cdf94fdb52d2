"""Detached digital signatures of issued results, made and checked with ``cryptography``.

The format (docs/results.md): the issuing agency signs the RFC 8785 (JSON Canonicalization
Scheme) bytes of the result's JSON document without its ``signature`` member, and puts the
signature beside the document::

    "signature": {"algorithm": "ECDSA-SHA256", "value": "<base64>", "certificates": ["<base64 DER>", ...]}

``certificates`` is the signer's certificate first, then any intermediate CA certificates (JWS
``x5c`` order). Algorithms: ``ECDSA-SHA256`` (DER-encoded ECDSA signature, P-256 or P-384 key),
``RSA-PSS-SHA256`` (MGF1-SHA256; salt of 32 bytes when signing, any when checking) and ``RSA-SHA256`` (PKCS #1 v1.5, what the
Vietnamese public CAs' signing tokens mostly produce); RSA keys of 2048 bits at least.

:func:`verify` accepts a signature only if all of these hold, and otherwise raises
:class:`SignatureRejected` naming the first that failed (``reason`` is a stable code):

1. the certificate was valid (not before / not after) when the result says it was issued and
   when it reached the bus (a result signed with an expired key cannot be back-dated in);
2. its subject names the issuing agency: ``organizationIdentifier`` (2.5.4.97) or ``UID`` equal
   to the agency code, or ending with ``:<code>`` (the CAs write identifiers with a prefix);
3. its key usage allows signing documents (``digitalSignature`` or ``nonRepudiation``) and its
   extended key usage, if it has one, allows document signing;
4. it chains to one of the configured trust anchors (path validation by
   ``cryptography.x509.verification``, CA certificates held to the RFC 5280 profile);
5. the signature verifies over the canonical bytes with the certificate's key;
6. every file the document carries inline matches the SHA-256 digest the document gives for it.

Revocation needs outside data (a CA's revocation list) and I/O: :mod:`adapters.revocation` checks
it after these checks, where the configuration gives CRLs.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from router.errors import LienthongError

SIGNATURE_MEMBER = "signature"
ALGORITHMS = ("ECDSA-SHA256", "RSA-PSS-SHA256", "RSA-SHA256")
MIN_RSA_BITS = 2048
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
MAX_CHAIN = 5
UID = NameOID.USER_ID

# Extended key usages that allow signing documents: id-kp-documentSigning (RFC 9336),
# emailProtection (S/MIME signing certificates), Microsoft document signing, Adobe AATL, any.
DOCUMENT_SIGNING_EKUS = frozenset(
    {
        ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
        ObjectIdentifier("1.2.840.113583.1.1.5"),
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class Reason(StrEnum):
    """Why a signature was rejected: stable codes, shown in dead letters and by the CLI."""

    UNSIGNED = "result_unsigned"
    MALFORMED = "signature_malformed"
    ALGORITHM = "signature_algorithm_mismatch"
    INVALID = "signature_invalid"
    EXPIRED = "certificate_expired"
    NOT_YET_VALID = "certificate_not_yet_valid"
    AGENCY = "certificate_agency_mismatch"
    KEY_USAGE = "certificate_key_usage"
    UNTRUSTED = "certificate_untrusted"
    DIGEST = "document_digest_mismatch"
    REVOKED = "certificate_revoked"  # adapters.revocation
    REVOCATION_UNKNOWN = "certificate_revocation_unknown"  # adapters.revocation, mode require


class SignatureRejected(LienthongError):
    """The result's signature cannot be accepted; ``reason`` says which check failed."""

    code = "signature_rejected"
    status = 422
    title = "The result's digital signature is not valid"

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """The root CA certificates a signer's chain must end at."""

    certificates: tuple[x509.Certificate, ...]

    @classmethod
    def from_pem(cls, data: bytes) -> TrustAnchors:
        certificates = tuple(x509.load_pem_x509_certificates(data))
        if not certificates:
            raise ValueError("no certificate in the PEM data")
        return cls(certificates)

    @classmethod
    def from_file(cls, path: Path) -> TrustAnchors:
        return cls.from_pem(path.read_bytes())


@dataclass(frozen=True, slots=True)
class Signer:
    """A signing key and its certificate chain (the key's certificate first)."""

    key: PrivateKey
    certificates: tuple[x509.Certificate, ...]

    @property
    def algorithm(self) -> str:
        return "ECDSA-SHA256" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "RSA-PSS-SHA256"


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What a verified signature tells about the result and its signer."""

    algorithm: str
    signer: str  # the certificate's subject, RFC 4514
    certificate_serial: str  # hex
    certificate_issuer: str  # RFC 4514
    certificate_not_after: dt.datetime
    document_sha256: str  # hex digest of the signed (canonical) bytes
    verified_at: dt.datetime


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: RFC 8785 JSON of the document without its signature member."""
    unsigned = {k: v for k, v in document.items() if k != SIGNATURE_MEMBER}
    try:
        return rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as error:
        raise SignatureRejected(Reason.MALFORMED, f"the document cannot be canonicalised: {error}") from None


def sign(document: Mapping[str, Any], signer: Signer, algorithm: str | None = None) -> dict[str, Any]:
    """A copy of the document with its ``signature`` member (replacing any it had)."""
    algorithm = algorithm or signer.algorithm
    data = canonical_bytes(document)
    key = signer.key
    if algorithm == "ECDSA-SHA256" and isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif algorithm == "RSA-PSS-SHA256" and isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(data, _pss(), hashes.SHA256())
    elif algorithm == "RSA-SHA256" and isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError(f"a {type(key).__name__} cannot sign with {algorithm}")
    signed = copy.deepcopy(dict(document))
    signed[SIGNATURE_MEMBER] = {
        "algorithm": algorithm,
        "value": base64.b64encode(value).decode("ascii"),
        "certificates": [_der64(c) for c in signer.certificates],
    }
    return signed


def verify(
    document: Mapping[str, Any],
    anchors: TrustAnchors,
    *,
    agency_code: str,
    signed_at: dt.datetime,
    received_at: dt.datetime,
) -> VerifiedSignature:
    """Checks the document's signature (see the module's docstring); raises SignatureRejected."""
    signature = document.get(SIGNATURE_MEMBER)
    if not isinstance(signature, Mapping):
        raise SignatureRejected(Reason.UNSIGNED, "the result carries no digital signature")
    algorithm, value, chain = _parse(signature)
    leaf = chain[0]
    for moment, what in ((signed_at, "when the result was issued"), (received_at, "when it reached the bus")):
        _check_period(leaf, moment, what)
    _check_agency(leaf, agency_code)
    _check_key_usage(leaf)
    _check_chain(leaf, list(chain[1:]), anchors, received_at)
    data = canonical_bytes(document)
    _check_signature(leaf, algorithm, value, data)
    _check_inline_files(document)
    return VerifiedSignature(
        algorithm=algorithm,
        signer=leaf.subject.rfc4514_string(),
        certificate_serial=format(leaf.serial_number, "X"),
        certificate_issuer=leaf.issuer.rfc4514_string(),
        certificate_not_after=leaf.not_valid_after_utc,
        document_sha256=hashlib.sha256(data).hexdigest(),
        verified_at=received_at,
    )


# --- the checks ----------------------------------------------------------------------------------


def _parse(signature: Mapping[str, Any]) -> tuple[str, bytes, tuple[x509.Certificate, ...]]:
    algorithm = signature.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise SignatureRejected(
            Reason.MALFORMED, f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}"
        )
    raw_value, raw_chain = signature.get("value"), signature.get("certificates")
    if not isinstance(raw_value, str) or not isinstance(raw_chain, list) or not raw_chain:
        raise SignatureRejected(
            Reason.MALFORMED,
            "the signature needs 'value' (base64) and 'certificates' (base64 DER, signer first)",
        )
    if len(raw_chain) > MAX_CHAIN:
        raise SignatureRejected(Reason.MALFORMED, f"more than {MAX_CHAIN} certificates")
    try:
        value = base64.b64decode(raw_value, validate=True)
        chain = tuple(x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in raw_chain)
    except (binascii.Error, TypeError, ValueError) as error:
        raise SignatureRejected(
            Reason.MALFORMED, f"the signature or a certificate is not valid: {error}"
        ) from None
    return str(algorithm), value, chain


def _check_period(certificate: x509.Certificate, moment: dt.datetime, what: str) -> None:
    subject = _common_name(certificate)
    if moment < certificate.not_valid_before_utc:
        raise SignatureRejected(
            Reason.NOT_YET_VALID,
            f"the certificate of {subject} is valid only from {_iso(certificate.not_valid_before_utc)}, "
            f"after {_iso(moment)} ({what})",
        )
    if moment > certificate.not_valid_after_utc:
        raise SignatureRejected(
            Reason.EXPIRED,
            f"the certificate of {subject} expired on {_iso(certificate.not_valid_after_utc)}, "
            f"before {_iso(moment)} ({what})",
        )


def agency_codes(certificate: x509.Certificate) -> list[str]:
    """The identifiers the certificate's subject gives its holder (organizationIdentifier, UID)."""
    values: list[str] = []
    for oid in (NameOID.ORGANIZATION_IDENTIFIER, UID):
        values.extend(str(a.value) for a in certificate.subject.get_attributes_for_oid(oid))
    return values


def _check_agency(certificate: x509.Certificate, agency_code: str) -> None:
    codes = agency_codes(certificate)
    if not any(v == agency_code or v.endswith(f":{agency_code}") for v in codes):
        held = ", ".join(codes) or "no agency identifier"
        raise SignatureRejected(
            Reason.AGENCY,
            f"the result is issued in the name of agency {agency_code}, but the certificate belongs to "
            f"{certificate.subject.rfc4514_string()} ({held})",
        )


def _check_key_usage(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SignatureRejected(Reason.KEY_USAGE, "the certificate has no key usage extension") from None
    if not (usage.digital_signature or usage.content_commitment):
        raise SignatureRejected(
            Reason.KEY_USAGE, "the certificate's key usage allows neither digitalSignature nor nonRepudiation"
        )
    try:
        extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not DOCUMENT_SIGNING_EKUS.intersection(extended):
        names = ", ".join(oid.dotted_string for oid in extended)
        raise SignatureRejected(
            Reason.KEY_USAGE,
            f"the certificate's extended key usage ({names}) does not allow signing documents",
        )


def _check_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], anchors: TrustAnchors, at: dt.datetime
) -> None:
    # The leaf's own extensions were checked above with document-signing rules; the web PKI's
    # end-entity rules (a SAN, serverAuth/clientAuth) do not apply to signing certificates.
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors.certificates)))
        .time(at)
        .max_chain_depth(MAX_CHAIN)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as error:
        raise SignatureRejected(
            Reason.UNTRUSTED,
            f"the certificate of {_common_name(leaf)} (issued by {leaf.issuer.rfc4514_string()}) does not "
            f"chain to a trusted certification authority: {error}",
        ) from None


def _check_signature(certificate: x509.Certificate, algorithm: str, value: bytes, data: bytes) -> None:
    key = certificate.public_key()
    try:
        if algorithm == "ECDSA-SHA256" and isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, EC_CURVES):
                raise SignatureRejected(Reason.ALGORITHM, f"the EC curve {key.curve.name} is not accepted")
            key.verify(value, data, ec.ECDSA(hashes.SHA256()))
        elif algorithm.startswith("RSA-") and isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise SignatureRejected(Reason.ALGORITHM, f"an RSA key of {key.key_size} bits is too short")
            # any PSS salt length is accepted (signers differ); a signature made here uses 32 bytes
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
                if algorithm == "RSA-PSS-SHA256"
                else padding.PKCS1v15()
            )
            key.verify(value, data, pad, hashes.SHA256())
        else:
            raise SignatureRejected(
                Reason.ALGORITHM, f"the certificate's {type(key).__name__} cannot verify {algorithm}"
            )
    except (InvalidSignature, UnsupportedAlgorithm):
        raise SignatureRejected(
            Reason.INVALID,
            f"the signature does not match the document and the certificate of {_common_name(certificate)}: "
            "the document was changed after signing, or signed with another key",
        ) from None


def _check_inline_files(document: Mapping[str, Any]) -> None:
    documents = document.get("documents")
    if not isinstance(documents, Sequence):
        return
    for index, entry in enumerate(documents):
        if not isinstance(entry, Mapping) or "content" not in entry:
            continue
        try:
            content = base64.b64decode(str(entry["content"]), validate=True)
        except binascii.Error:
            raise SignatureRejected(Reason.MALFORMED, f"/documents/{index}/content is not base64") from None
        actual = hashlib.sha256(content).hexdigest()
        if actual != str(entry.get("sha256", "")).lower():
            raise SignatureRejected(
                Reason.DIGEST,
                f"the file /documents/{index} ({entry.get('name', '?')}) has SHA-256 {actual}, "
                f"not the {entry.get('sha256')} the signed document gives",
            )


# --- helpers -------------------------------------------------------------------------------------


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _der64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return repr(str(names[0].value)) if names else certificate.subject.rfc4514_string()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
