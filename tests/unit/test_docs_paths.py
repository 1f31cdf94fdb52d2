"""Every file the documentation names exists: a module, test, deployment file or example that moves
takes its mentions along, or this fails naming the page and line."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import ROOT

PAGES = [ROOT / "README.md", ROOT / "schemas" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a path in backticks that starts at one of the repository's folders; globs and templates
# (`*`, `{...}`) name families of files and are left out
NAMED = re.compile(
    r"`((?:tests|router|schemas|adapters|connectors|lienthong|simulators|bench|deploy|docs|examples)"
    r"/[\w./-]+?)(?:::[\w\[\]-]+)?`"
)


def named_paths(page: Path) -> list[tuple[int, str]]:
    return [
        (number, match.group(1).rstrip("."))
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        for match in NAMED.finditer(line)
    ]


def test_every_path_a_page_names_exists() -> None:
    missing = [
        f"{page.relative_to(ROOT)}:{number}: {path}"
        for page in PAGES
        for number, path in named_paths(page)
        if not (ROOT / path).exists()
    ]
    assert missing == []


def test_the_check_sees_a_missing_path(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("see `tests/unit/test_no_such_file.py` and `docs/security.md`\n", encoding="utf-8")
    assert [path for _, path in named_paths(page) if not (ROOT / path).exists()] == [
        "tests/unit/test_no_such_file.py"
    ]
