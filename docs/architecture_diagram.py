"""The layer diagram of docs/architecture.md, drawn from the code: which top-level package imports
which, from grimp's import graph (the graph import-linter checks), the packages in the order of
the ``layers`` contract in pyproject.toml. An import the contract ignores (``ignore_imports``) is
drawn dotted, labelled with the importing package it is allowed from.

Run ``.venv/bin/python docs/architecture_diagram.py`` to write the diagram into the page;
``--check`` exits 1 when the page's diagram differs from the code's
(tests/unit/test_architecture_doc.py runs the same comparison).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- layers: written by docs/architecture_diagram.py from the import graph; do not edit -->"
END = "<!-- end of layers -->"


def _importlinter() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]
    return config


def layers_contract() -> dict[str, object]:
    """The ``layers`` contract of pyproject.toml."""
    contracts = _importlinter()["contracts"]
    assert isinstance(contracts, list)
    return next(c for c in contracts if c["type"] == "layers")


def _prefix(pattern: str) -> str:
    """``lienthong.demo.**`` -> ``lienthong.demo``: the package a pattern of ignore_imports covers."""
    return pattern.removesuffix(".**").removesuffix(".*")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def diagram() -> str:
    """The mermaid block of the layers, as the code imports."""
    contract = layers_contract()
    layers = [str(layer) for layer in contract["layers"]]  # type: ignore[attr-defined]
    ignored = [
        tuple(_prefix(side.strip()) for side in str(rule).split("->"))
        for rule in contract.get("ignore_imports", [])  # type: ignore[attr-defined]
    ]
    graph = grimp.build_graph(*layers, cache_dir=None)
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    %% layer {n}: {layer}" for n, layer in enumerate(layers, 1)]
    for importer in layers:
        for imported in layers:
            if importer == imported:
                continue
            imports = {
                (module, target)
                for module in graph.find_descendants(importer) | {importer}
                for target in graph.find_modules_directly_imported_by(module)
                if _within(target, imported)
            }
            if not imports:
                continue
            # every import of this pair ignored by one rule: allowed from that rule's package only
            allowed = {
                allowed_from
                for allowed_from, allowed_to in ignored
                if all(_within(m, allowed_from) and _within(t, allowed_to) for m, t in imports)
            }
            if allowed:
                lines.append(f'    {importer} -. "{min(allowed)} only" .-> {imported}')
            else:
                lines.append(f"    {importer} --> {imported}")
    lines.append("```")
    return "\n".join(lines)


def page_diagram(text: str) -> str:
    """The diagram between the markers of the page."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END, start)].strip("\n")


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    drawn = diagram()
    if "--check" in argv:
        if page_diagram(text) != drawn:
            print(f"{PAGE}: the layer diagram differs from the code; run {Path(__file__).name}")
            return 1
        return 0
    start = text.index(BEGIN) + len(BEGIN)
    PAGE.write_text(text[:start] + "\n" + drawn + "\n" + text[text.index(END, start) :], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
