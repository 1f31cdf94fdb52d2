"""``lienthong results demo-pki``: the DEMO CA's certificate and a DEMO signing key and certificate
for an agency, written to a folder (:mod:`simulators.pki`: the demo CA's key comes from a public
seed, so the files are for demos only)."""

from __future__ import annotations

from pathlib import Path

from adapters.signer_files import certificate_pem, write_signer
from simulators.pki import demo_authority, issue_agency_certificate


def write_demo_pki(folder: Path, agency: str, name: str) -> tuple[Path, Path, Path]:
    """The files written: the CA's certificate, the agency's key, the agency's certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = demo_authority()
    ca = folder / "demo-ca.pem"
    ca.write_bytes(certificate_pem(authority.certificate))
    # the demo CA's own period, so that committed demo files keep working for years
    signer = issue_agency_certificate(
        authority,
        agency,
        name,
        not_before=authority.certificate.not_valid_before_utc,
        not_after=authority.certificate.not_valid_after_utc,
    )
    stem = f"demo-agency-{agency.replace('.', '-')}"
    key, certificate = folder / f"{stem}.key", folder / f"{stem}.pem"
    write_signer(signer, key, certificate)
    return ca, key, certificate
