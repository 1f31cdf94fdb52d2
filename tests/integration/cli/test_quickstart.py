"""docs/quickstart.md works as written: its shell blocks, its webhook subscription and its Python
(CloudEvents SDK) block, run in order against a running demo, do what the text says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.demo import ROOT, demo_env, running_demo

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SUBMITTED = "000.00.00.H46-240502-0001"


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "docs" / "quickstart.md").read_text("utf-8"))


def _merge(config: Path, snippet: dict[str, Any]) -> None:
    """Adds a snippet's list entries to the configuration's lists, as the quickstart says to."""
    data = yaml.safe_load(config.read_text("utf-8"))
    for name, entries in snippet.items():
        data.setdefault(name, []).extend(entries)
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    found = blocks()
    shell = [text for lang, text in found if lang == "sh" and "make run" not in text]
    assert len(shell) == 5, "the quickstart's shell blocks changed: update this test"
    [python] = [text for lang, text in found if lang == "python"]
    snippets = [yaml.safe_load(text) for lang, text in found if lang == "yaml"]
    subscription = next(s for s in snippets if "subscriptions" in s)
    with running_demo(tmp_path) as demo:
        bus, config = demo.summary["bus"], Path(demo.summary["bus_config"])
        warehouse = demo.summary["simulators"]["000.00.00.H46/khodulieu"]["url"]
        onestop = demo.summary["simulators"]["000.00.00.H46/motcua"]["url"]
        env = {**demo_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

        def sh(script: str) -> str:
            # the demo runs on free ports: the documented addresses, moved to where it listens
            script = (shell[0] + "\n" + script).replace("http://127.0.0.1:8080", bus)
            script = script.replace("--config examples/lienthong.yaml", f"--config {config}")
            done = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
            return done.stdout

        assert sh("").strip()  # readyz
        keys = sh(shell[1])
        assert re.search(r"key:  lt_\S+\nhash: sha256:[0-9a-f]{64}\n", keys), keys
        # 2. the subscription, added to the bus's configuration, then the reload and the check
        for entry in subscription["subscriptions"]:
            entry["sink"]["webhook"]["url"] = entry["sink"]["webhook"]["url"].replace(
                "http://127.0.0.1:9102", warehouse
            )
        _merge(config, subscription)
        listed = sh(shell[2])
        assert '"warehouse-statuses"' in listed, listed
        # 3. publish with curl: the submission, whose evidence the one-stop system then receives
        sh(shell[3])
        deadline = time.monotonic() + 30
        while not httpx.get(f"{onestop}/_sim/events", params={"subject": SUBMITTED}).json()["events"]:
            assert time.monotonic() < deadline, "no evidence for the quickstart's submission"
            time.sleep(0.1)
        # 4. the CloudEvents SDK: a status change, delivered to the new webhook
        sdk = sh(f"python - <<'PY'\n{python}PY")
        assert "202 " in sdk, sdk
        deadline = time.monotonic() + 30
        while not httpx.get(f"{warehouse}/_sim/events", params={"path": "/statuses"}).json()["events"]:
            assert time.monotonic() < deadline, "the status change did not reach the subscribed webhook"
            time.sleep(0.1)
        # 5. query a dataset
        answer = sh(shell[4])
        assert '"taxCode":"0755548094"' in answer.replace(" ", "") and '"provenance"' in answer, answer
