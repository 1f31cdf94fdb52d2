"""docs/architecture.md names only what exists: every module path and dotted module is in the tree,
a name followed by its module is defined in it, the layer table follows the ``layers`` contract of
pyproject.toml, and the layer diagram is the one the import graph draws (docs/architecture_diagram.py).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("router", "schemas", "adapters", "connectors", "lienthong", "simulators")
FOLDERS = (*PACKAGES, "bench", "tests", "docs", "deploy", "examples")

# adapters/http/app.py, lienthong/config/, docs/architecture_diagram.py
PATH = re.compile(rf"(?<![\w./<-])((?:{'|'.join(FOLDERS)})/[\w./-]*)")
# router.ports, lienthong.demo
DOTTED = re.compile(rf"(?<![\w./<-])((?:{'|'.join(PACKAGES)})(?:\.[a-z_]\w*)+)")
# `EmbeddedLog` (`adapters/embedded/log.py`), `current_caller` in `adapters/http/auth.py`,
# `Bus.publish` (`router/bus.py`)
DEFINED_IN = re.compile(r"`([A-Za-z_][\w.]*)`\s+(?:\(|in\s+)`([\w/]+\.py)`")


def _diagram_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "architecture_diagram", ROOT / "docs" / "architecture_diagram.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _defines(source: str, name: str) -> bool:
    return (
        re.search(rf"^\s*(?:class|def|async def)\s+{name}\b|^{name}\s*[:=]", source, re.MULTILINE) is not None
    )


def test_every_path_named_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    paths = {match.rstrip(".") for match in PATH.findall(text)}
    assert len(paths) > 40  # the pattern still finds the page's paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []


def test_every_dotted_module_named_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    modules = set(DOTTED.findall(text))
    assert modules  # the pattern still finds the page's modules
    missing = sorted(
        module
        for module in modules
        if not (ROOT.joinpath(*module.split(".")).with_suffix(".py").exists())
        and not (ROOT.joinpath(*module.split(".")) / "__init__.py").exists()
    )
    assert missing == []


def test_a_name_is_defined_in_the_module_named_with_it() -> None:
    text = PAGE.read_text(encoding="utf-8")
    pairs = DEFINED_IN.findall(text)
    assert len(pairs) > 30
    wrong = sorted(
        f"{name} in {path}"
        for name, path in pairs
        if not (ROOT / path).is_file()
        or not all(_defines((ROOT / path).read_text(encoding="utf-8"), part) for part in name.split("."))
    )
    assert wrong == []


def test_the_layer_table_follows_the_contract() -> None:
    script = _diagram_script()
    rows = re.findall(r"^\| (\d) \| `(\w+)` \|", PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert [package for _, package in rows] == script.layers_contract()["layers"]
    assert [int(n) for n, _ in rows] == list(range(1, len(rows) + 1))


def test_the_layer_diagram_is_the_import_graphs() -> None:
    script = _diagram_script()
    drawn = script.diagram()
    assert 'lienthong -. "lienthong.demo only" .-> simulators' in drawn  # the contract's one exception
    assert script.page_diagram(PAGE.read_text(encoding="utf-8")) == drawn, (
        "the layer diagram of docs/architecture.md is stale: run .venv/bin/python docs/architecture_diagram.py"
    )
