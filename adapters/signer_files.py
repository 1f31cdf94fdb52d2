"""An agency's signer as files: its private key (PEM, unencrypted PKCS #8) and its certificate
chain (PEM), as ``lienthong results sign`` reads them and the demo writes them."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from adapters.signatures import PrivateKey, Signer


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def write_signer(signer: Signer, key_file: Path, certificate_file: Path) -> None:
    key_file.write_bytes(key_pem(signer.key))
    key_file.chmod(0o600)
    certificate_file.write_bytes(b"".join(certificate_pem(c) for c in signer.certificates))


def read_signer(key_file: Path, certificate_file: Path) -> Signer:
    """A signer from a PEM private key (unencrypted PKCS #8) and its PEM certificate chain."""
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{key_file}: an EC or RSA private key is needed")
    certificates = tuple(x509.load_pem_x509_certificates(certificate_file.read_bytes()))
    return Signer(key, certificates)
