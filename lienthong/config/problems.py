"""What is wrong with a configuration file, where, and how to fix it.

Every stage of loading (reading, YAML, schema, meaning) reports :class:`Problem` values located
by a path into the document; the loader turns all of them into one ConfigError whose lines read
``<file>:<line>:<col>: <json pointer>: <what is wrong>. Fix: <how to fix it>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from router.errors import ConfigError, FieldError

JsonPath = tuple[str | int, ...]
# A file with hundreds of mistakes is better fixed a hundred at a time than printed whole.
MAX_REPORTED = 100


@dataclass(frozen=True, slots=True)
class Problem:
    path: JsonPath  # where in the document; () is the whole document
    message: str  # what is wrong
    fix: str  # how to fix it
    at_key: bool = False  # the key at ``path`` is wrong (unknown, duplicate), not its value
    line: int | None = None  # 1-based; known directly for problems found below the YAML level
    column: int | None = None
    pointer_text: str | None = None  # shown instead of the pointer when there is no path (syntax)


def pointer(path: JsonPath) -> str:
    """The RFC 6901 JSON pointer of a path."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _sentence(text: str) -> str:
    return text.strip().rstrip(".")


def config_error(
    source: Path, problems: Iterable[Problem], locate: Callable[[Problem], tuple[int, int]]
) -> ConfigError:
    """One error listing every problem, in file order, each once."""
    located: dict[tuple[int, int, str, str], Problem] = {}
    for problem in problems:
        if problem.line is not None:
            line, column = problem.line, problem.column or 1
        else:
            line, column = locate(problem)
        where = problem.pointer_text or pointer(problem.path) or "/"
        located.setdefault((line, column, where, problem.message), problem)
    ordered = sorted(located.items(), key=lambda item: item[0][:2])
    lines = [
        f"{source}:{line}:{column}: {where}: {_sentence(p.message)}. Fix: {_sentence(p.fix)}."
        for (line, column, where, _), p in ordered[:MAX_REPORTED]
    ]
    if len(ordered) > MAX_REPORTED:
        lines.append(f"... and {len(ordered) - MAX_REPORTED} more problem(s)")
    count = len(ordered)
    header = f"{source}: invalid configuration, {count} problem{'s' if count != 1 else ''}:"
    errors = tuple(FieldError(pointer(p.path), _sentence(p.message)) for _, p in ordered[:MAX_REPORTED])
    return ConfigError("\n".join([header, *lines]), errors)
