"""``lienthong demo`` as a newcomer runs it, in a temporary copy of the repository's examples (so
the repository's var/ is untouched), on free ports: the process, its output and its summary."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_WITHIN_S = 90.0


def copy_of_examples(folder: Path) -> Path:
    """``folder``/examples as in the repository, beside the simulated registries' contracts it
    names (``../simulators/contracts/``); returns the example configuration's path."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "simulators" / "contracts", folder / "simulators" / "contracts")
    return folder / "examples" / "lienthong.yaml"


def demo_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("LIENTHONG_CONFIG", "LIENTHONG_PORTAL_USER", "LIENTHONG_PORTAL_PASSWORD"):
        env.pop(name, None)
    return env


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    summary: dict[str, Any]
    folder: Path

    def interrupt(self, timeout_s: float = 45.0) -> tuple[int, str]:
        """Ctrl-C; the exit status and everything the demo printed."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, out


@contextmanager
def running_demo(folder: Path) -> Iterator[RunningDemo]:
    """The demo serving after its scenario (``--free-ports``); stopped with SIGINT at the end."""
    config = copy_of_examples(folder)
    summary = folder / "summary.json"
    command = [sys.executable, "-m", "lienthong", "demo", "--config", str(config), "--free-ports"]
    process = subprocess.Popen(
        [*command, "--summary-json", str(summary)],
        cwd=folder,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + SUMMARY_WITHIN_S
        while not summary.exists() or not summary.read_text():
            if process.poll() is not None:
                raise AssertionError(
                    f"the demo exited ({process.returncode}):\n{process.stdout.read() if process.stdout else ''}"
                )
            assert time.monotonic() < deadline, "no summary from the demo"
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one call; let it land
        yield RunningDemo(process, json.loads(summary.read_text("utf-8")), folder)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
