"""The layer contracts of ``make lint`` (``[tool.importlinter]`` in pyproject.toml): the tree keeps
every one, and each fails, by name, on an import planted in a copy of the tree to break it.

The real ``lint-imports`` runs on the copy with the project's own configuration; the copy comes
first on ``PYTHONPATH``, so the import graph is the copy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# each test runs lint-imports in a process of its own; `make lint` checks the tree in the fast loop
pytestmark = pytest.mark.slow


def _contracts() -> dict[str, str]:
    """The contracts' names by id."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract["name"] for contract in config["contracts"]}


CONTRACTS = _contracts()
PACKAGES: list[str] = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["tool"]["importlinter"][
    "root_packages"
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(CONFIG)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout


# (the contracts the import breaks, the module it is planted in, the planted lines); simulators
# sit above every production layer, so production code importing one breaks the layers too
PLANTS = [
    (("layers",), "router/planted.py", "import schemas.walk\n"),
    (("layers",), "schemas/planted.py", "from adapters import webhook\n"),
    (("layers",), "adapters/planted.py", "import connectors.provider_connector\n"),
    (("layers",), "connectors/planted.py", "from lienthong.config import settings\n"),
    (("core-without-framework",), "router/planted.py", "import sqlite3\n"),
    (("core-without-framework",), "router/planted.py", "from starlette.requests import Request\n"),
    (("layers", "no-simulators-in-production"), "lienthong/planted.py", "import simulators\n"),
    (("layers", "no-simulators-in-production"), "connectors/planted.py", "from simulators import server\n"),
    (("acyclic",), "router/planted.py", "from router import planted_too\n"),
]


@pytest.mark.parametrize(("broken", "module", "lines"), PLANTS)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, broken: tuple[str, ...], module: str, lines: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / module).write_text(lines, encoding="utf-8")
    if "acyclic" in broken:  # the other half of the cycle
        (tmp_path / "router" / "planted_too.py").write_text("from router import planted\n", encoding="utf-8")

    result = _lint(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "planted" in result.stdout.split("Broken contracts", 1)[1]  # the import is named
    for contract, name in CONTRACTS.items():
        assert f"{name} {'BROKEN' if contract in broken else 'KEPT'}" in result.stdout
