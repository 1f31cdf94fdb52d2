"""``make run`` tells the whole story: the demo's scenario passes, its summary's figures are what
the simulators and the bus recorded, Ctrl-C stops everything, and a failed step fails ``--once``."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from lienthong.demo.scenario import OFFICIAL, demo_keys, transport_company, written_at
from simulators.identity import DEMO_ISSUER, mint_token
from tests.support.demo import ROOT, copy_of_examples, demo_env, running_demo

STATUSES = {"licence": {1, 2, 4, 9, 10}, "badge": {1, 2, 9, 10}}


def _statuses(log: list[dict[str, Any]]) -> set[int]:
    """The statuses the portal accepted (DongBoHoSoMC calls answered 0), from its call log."""
    return {
        int(e["status"])
        for e in log
        if e.get("service") == "DongBoHoSoMC" and str(e.get("error_code")) == "0"
    }


def test_the_summary_tells_what_the_simulators_recorded(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        report, figures = demo.summary, demo.summary["figures"]
        assert report["ok"], [s for s in report["steps"] if not s["ok"]]
        sims = {name: s["url"] for name, s in report["simulators"].items()}
        codes = figures["dossiers"]
        # calls per system: the simulators' own counts
        for name, url in sims.items():
            assert httpx.get(f"{url}/_sim/stats").json()["requests"] == figures["calls"][name], name
        assert all(
            figures["calls"][name] > 0
            for name in ("population", "business", "vehicle", "portal", "kho-ketqua")
        )
        # data items pulled: what the one-stop system received
        onestop = sims["000.00.00.H46/motcua"]
        received = httpx.get(f"{onestop}/_sim/events", params={"type": "dossier.evidence.collected"}).json()
        ours = [e["data"] for e in received["events"] if e["subject"] in codes.values()]
        assert len(ours) == 2
        assert figures["items_pulled"] == sum(len(d["found"]) for d in ours) > 0
        assert figures["items_to_ask"] == sum(len(d["toAsk"]) for d in ours) == 0
        badge = next(d for d in ours if d["dossierCode"] == codes["badge"])
        reused = next(f for f in badge["found"] if f["dataset"] == "result.document")
        assert reused["data"]["resultCode"] == figures["result"]["code"]
        # the licence in the citizen data store
        stored = httpx.get(f"{sims['kho-ketqua']}/_sim/results").json()["results"]
        assert [r["soHieuKetQua"] for r in stored] == [figures["result"]["code"]]
        # statuses: the portal's records and call logs
        portal = sims["portal"]
        synced = 0
        for which, code in codes.items():
            assert httpx.get(f"{portal}/_sim/dossiers/{code}").json()["TrangThaiHoSo"] == "10"
            seen = _statuses(httpx.get(f"{portal}/_sim/log/{code}").json())
            assert STATUSES[which] <= seen, (which, seen)
            synced += len(STATUSES[which])
        assert figures["statuses_synchronised"] == synced
        assert figures["portal_unsynced_dossiers"] == 0
        # the sync lag: each status's receipt in the portal's own record, less the event's 202
        syncs = figures["syncs"]
        assert len(syncs) == synced
        for sync in syncs:
            log = httpx.get(f"{portal}/_sim/log/{sync['dossier']}").json()
            assert sync["portal_received_at"] == written_at(log, sync["status"]), sync
        lags = sorted((s["portal_received_at"] - s["acknowledged_at"]) * 1000 for s in syncs)
        assert figures["sync_lag_ms"] == {
            "median": round(statistics.median(lags), 1),
            "max": round(lags[-1], 1),
        }
        # audit entries: the audit log's records of this run's dossiers, as `lienthong audit show` prints them
        shown = subprocess.run(
            [
                sys.executable,
                "-m",
                "lienthong",
                "audit",
                "show",
                "--config",
                report["bus_config"],
                "--limit",
                "1000",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
        audited = [line.split("\t") for line in shown if line.split("\t")[7] in codes.values()]
        assert figures["audit_entries"] == len(audited) > 0
        # the transport manager: collected by the bus, then opened by the one-stop shop's official
        assert figures["audit_entries_by_dataset"]["citizen.identity"] == 2
        verified = f"verified:{DEMO_ISSUER}"
        assert figures["official_basis"] == figures["access_report_reader_basis"] == verified
        # the citizen's access report shows the manager's identity read for the licence, the
        # official's reading verified by the DEMO identity provider's token
        firm, _ = transport_company()
        keys = demo_keys(tmp_path / "examples")
        access_log = f"{report['bus']}/v1/subjects/{firm.legal_representative}/access-log"
        reply = httpx.get(
            access_log,
            headers={"Authorization": f"Bearer {keys['dvcqg']}", "X-Official-Token": mint_token("citizen")},
        )
        assert reply.status_code == 200, reply.text
        entries = reply.json()["entries"]
        identity = [e for e in entries if e["dataset"] == "citizen.identity"]
        assert {e["dossier"] for e in identity} == {codes["licence"]}
        assert [e["official_basis"] for e in identity if e["official"] == OFFICIAL] == [verified]
        # the example trusts tokens only: the asserted header is refused for the portal
        asserted = httpx.get(
            access_log, headers={"Authorization": f"Bearer {keys['dvcqg']}", "X-Official-Id": "citizen"}
        )
        assert asserted.status_code == 403 and asserted.json()["code"] == "official_token_required"
        bus = report["bus"]
        for path in ("/docs", "/metrics", "/console"):
            assert httpx.get(bus + path).status_code < 400, path  # the console redirects to its sign-in
        asyncapi = httpx.get(bus + "/v1/asyncapi.json", headers={"Authorization": f"Bearer {keys['motcua']}"})
        assert asyncapi.status_code == 200 and asyncapi.json()["asyncapi"].startswith("3.")
        status, out = demo.interrupt()
    assert status == 0, out
    assert "== Summary" in out and f"{bus}/console" in out
    assert "Stopped: the bus exited with status 0" in out
    for url in sims.values():  # the simulators are closed
        try:
            httpx.get(f"{url}/_sim/stats", timeout=1)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"{url} still answers")


def test_make_run_once_passes_and_a_second_run_works_too(tmp_path: Path) -> None:
    copy_of_examples(tmp_path)
    (tmp_path / "Makefile").write_bytes((ROOT / "Makefile").read_bytes())
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    for _ in range(2):  # the log in var/ persists: the second run's dossiers are new ones
        done = subprocess.run(
            ["make", "-o", ".venv/.installed-stamp", "run", "ARGS=--once --free-ports"],
            cwd=tmp_path,
            env=demo_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "✗" not in done.stdout and "== Summary" in done.stdout
    assert (tmp_path / "var" / "lienthong.db").exists()


def test_once_exits_non_zero_when_a_step_fails(tmp_path: Path) -> None:
    config = copy_of_examples(tmp_path)
    for key in (tmp_path / "examples" / "results").glob("demo-agency-*"):
        key.unlink()  # the province cannot sign the licence
    done = subprocess.run(
        [sys.executable, "-m", "lienthong", "demo", "--config", str(config), "--once", "--free-ports"],
        cwd=tmp_path,
        env={**demo_env(), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✗ the province signs the licence" in done.stdout
    assert "Stopped: the bus exited with status 0" in done.stdout
    assert os.path.isdir(tmp_path / "var")
