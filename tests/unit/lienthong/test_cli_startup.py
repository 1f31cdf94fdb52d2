"""The command line starts without loading the bus: ``lienthong --help``, a mistyped argument or a
call of a running bus's API must not wait for the web stack, the Kafka client, the SOAP client,
the connectors and the configuration's checks to load (lienthong/cli.py)."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.support.paths import ROOT

# what only serving, a connector or loading a configuration needs
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "aiokafka",
    "zeep",
    "lxml",
    "jsonschema",
    "asyncpg",
    "aiohttp",
    "prometheus_client",
    "cryptography",
    "connectors",
    "lienthong.config",
    "lienthong.loading",
    "lienthong.serving",
    "adapters.http",
    "adapters.state",
    "adapters.audit",
)


def loaded_after(statement: str) -> list[str]:
    probe = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    modules: list[str] = orjson.loads(done.stdout.splitlines()[-1])
    return modules


def heavy_among(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)]


def test_importing_the_command_line_loads_none_of_the_bus() -> None:
    assert heavy_among(loaded_after("import lienthong.cli")) == []


def test_a_command_loads_what_it_uses_when_it_runs() -> None:
    # the probe sees a heavy module load: the check above is not vacuous
    assert "lienthong.config" in heavy_among(loaded_after("import lienthong.cli, lienthong.loading"))
