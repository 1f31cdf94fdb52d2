"""The command line around results: DEMO keys, signing, verifying, and ``lienthong simulate
citizen_store`` as a real server that refuses bad records."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from lienthong.cli import app
from tests.integration.cli.test_simulators_cli import start
from tests.support.paths import EXAMPLES
from tests.support.results import AGENCY, result

RUNNER = CliRunner()


def lienthong(*args: str) -> Result:
    """The command line, in this process (the simulator below runs as its own process)."""
    return RUNNER.invoke(app, list(args))


def test_demo_keys_sign_a_result_that_verifies_and_a_changed_one_that_does_not(tmp_path: Path) -> None:
    assert lienthong("results", "demo-pki", str(tmp_path), "--agency", AGENCY).exit_code == 0
    stem = tmp_path / f"demo-agency-{AGENCY.replace('.', '-')}"
    (tmp_path / "result.json").write_text(json.dumps(result(1)))
    signed = lienthong(
        "results", "sign", str(tmp_path / "result.json"), "--key", f"{stem}.key", "--cert", f"{stem}.pem"
    )
    assert signed.exit_code == 0, signed.output
    (tmp_path / "signed.json").write_text(signed.stdout)
    anchors = str(tmp_path / "demo-ca.pem")
    ok = lienthong("results", "verify", str(tmp_path / "signed.json"), "--trust-anchors", anchors)
    assert ok.exit_code == 0 and ok.stdout.startswith("verified: ECDSA-SHA256"), ok.output
    changed = json.loads(signed.stdout)
    changed["resultCode"] = "2/GP-UBND"
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    refused = lienthong("results", "verify", str(tmp_path / "changed.json"), "--trust-anchors", anchors)
    assert refused.exit_code == 1 and "signature_invalid" in refused.stderr


def test_the_committed_demo_keys_chain_to_the_committed_demo_ca(tmp_path: Path) -> None:
    examples = EXAMPLES
    event = json.loads((examples / "events" / "result-issued.json").read_text())
    (tmp_path / "signed.json").write_text(json.dumps(event["data"]))
    ok = lienthong(
        "results",
        "verify",
        str(tmp_path / "signed.json"),
        "--trust-anchors",
        str(examples / "results" / "demo-ca.pem"),
    )
    assert ok.exit_code == 0, ok.output


def test_the_store_simulator_process_refuses_a_record_without_a_signed_result() -> None:
    process, url = start("citizen_store")
    try:
        reply = httpx.post(f"{url}/api/v1/results", json={"soHieuKetQua": "1/GP"}, timeout=5)
        assert reply.status_code == 400 and reply.json()["code"] == "invalid_record"
        query = httpx.get(f"{url}/api/v1/results", params={"holder": "x"}, timeout=5)
        assert query.status_code == 400 and query.json()["code"] == "invalid_query"
        assert httpx.get(f"{url}/_sim/results", timeout=5).json() == {"results": []}
    finally:
        process.kill()
        process.wait(10)
