"""Every file the documentation names exists: a module, test, deployment file or example that moves
takes its mentions along, or this fails naming the page and line. A path git ignores is something a
command makes (the broker's downloaded jars, `deploy/kafka/dist/`): a fresh clone has none yet."""

from __future__ import annotations

import re
import subprocess
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


def missing(path: str) -> bool:
    """Whether ``path`` is neither in the tree nor a path git ignores (made by a command)."""
    if (ROOT / path).exists():
        return False
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    return ignored.returncode != 0


def test_every_path_a_page_names_exists() -> None:
    absent = [
        f"{page.relative_to(ROOT)}:{number}: {path}"
        for page in PAGES
        for number, path in named_paths(page)
        if missing(path)
    ]
    assert absent == []


def test_the_check_sees_a_missing_path_and_lets_a_made_one_pass(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "see `tests/unit/test_no_such_file.py`, `docs/security.md` and `deploy/kafka/dist/lib/x.jar`\n",
        encoding="utf-8",
    )
    assert [path for _, path in named_paths(page) if missing(path)] == ["tests/unit/test_no_such_file.py"]
