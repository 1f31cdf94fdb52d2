"""``lienthong results``: sign and verify issued results (docs/results.md), and make the DEMO keys.

These are tools for demos, tests and integrators checking their own signatures; a real agency
signs with its own key on its own token or HSM.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

app = typer.Typer(no_args_is_help=True, help="Issued results: sign, verify, demo keys.")

FileArgument = Annotated[
    Path, typer.Argument(help="the result: dossier.result.issued data (JSON); - for stdin")
]


def _read(path: Path) -> dict[str, Any]:
    raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise typer.BadParameter("the result must be a JSON object")
    return data


@app.command("sign")
def sign_result(
    result: FileArgument,
    key: Annotated[Path, typer.Option(help="the agency's private key (PEM, unencrypted PKCS #8)")],
    cert: Annotated[Path, typer.Option(help="its certificate, then any intermediates (PEM)")],
    algorithm: Annotated[
        str | None, typer.Option(help="ECDSA-SHA256, RSA-PSS-SHA256 or RSA-SHA256 (default: by key)")
    ] = None,
) -> None:
    """Print the result with the agency's detached signature added (or replaced)."""
    from adapters.signatures import sign
    from adapters.signer_files import read_signer

    signed = sign(_read(result), read_signer(key, cert), algorithm)
    sys.stdout.write(orjson.dumps(signed, option=orjson.OPT_INDENT_2).decode() + "\n")


@app.command("verify")
def verify_result(
    result: FileArgument,
    trust_anchors: Annotated[Path, typer.Option(help="PEM file of the trusted root CA certificates")],
) -> None:
    """Check a signed result as the citizen_store connector does (now); exit 1 with the reason."""
    from adapters.signatures import SignatureRejected, TrustAnchors, verify
    from connectors.citizen_store.mapping import instant

    data = _read(result)
    agency = data.get("issuingAgency", {}).get("code", "")
    try:
        verified = verify(
            data,
            TrustAnchors.from_file(trust_anchors),
            agency_code=str(agency),
            signed_at=instant(data.get("issuedAt"), "issuedAt"),
            received_at=dt.datetime.now(dt.UTC),
        )
    except SignatureRejected as rejected:
        typer.echo(f"rejected: {rejected.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"verified: {verified.algorithm} by {verified.signer} (serial {verified.certificate_serial})")


@app.command("demo-pki")
def demo_pki(
    folder: Annotated[Path, typer.Argument(help="where to write the files")],
    agency: Annotated[str, typer.Option(help="the agency code")] = "000.00.00.H46",
    name: Annotated[str, typer.Option(help="the agency's name")] = "UBND tỉnh Quảng Bình",
) -> None:
    """Write the DEMO CA's certificate and a DEMO signing key and certificate for an agency.

    The demo CA's key is derived from a public seed: the files are for demos only."""
    # demo material, loaded by this command only: production code never imports lienthong.demo
    from lienthong.demo.pki import write_demo_pki

    ca, key, certificate = write_demo_pki(folder, agency, name)
    typer.echo(f"{folder}/{ca.name}, {key.name}, {certificate.name} (DEMO ONLY: not real keys)")
