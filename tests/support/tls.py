"""A private PKI for TLS tests: a CA, a server certificate for 127.0.0.1, client certificates.

The CA is the one :mod:`simulators.pki` makes for signed results; only the TLS
leaves (server name, extended key usage) are made here. Files are PEM, written to a folder; keys
are EC P-256 (fast to make). Nothing here is used outside tests.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters import signer_files
from adapters.signatures import PrivateKey
from simulators import pki


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    name: str
    cert: Path
    key: Path
    ca: pki.Authority

    def issue(self, folder: Path, common_name: str, *, server: bool) -> Issued:
        """A leaf certificate: for a TLS server on 127.0.0.1, or for a TLS client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        return _write(folder, common_name, builder.sign(self.ca.key, hashes.SHA256()), key)


def new_authority(folder: Path, name: str) -> Authority:
    ca = pki.new_authority(name)
    files = _write(folder, name, ca.certificate, ca.key)
    return Authority(name, files.cert, files.key, ca)


def _write(folder: Path, name: str, certificate: x509.Certificate, key: PrivateKey) -> Issued:
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.replace(" ", "-")
    cert_file, key_file = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_file.write_bytes(signer_files.certificate_pem(certificate))
    key_file.write_bytes(signer_files.key_pem(key))
    return Issued(cert_file, key_file)
