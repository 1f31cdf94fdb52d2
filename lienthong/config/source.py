"""Reading a configuration file into data, keeping the YAML node tree so that any path into the
data can be traced back to a line and column.

The YAML subset accepted is deliberately small: one document, no aliases (so no "billion laughs"
expansion), no merge keys, no duplicate keys (YAML parsers silently keep the last one), string keys
only, bounded size and nesting, and only the safe tags (yaml.SafeLoader's constructors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lienthong.config.problems import JsonPath, Problem

MAX_FILE_BYTES = 1 << 20
# Deeper than any sensible configuration; bounds the recursion of the schema validator.
MAX_DEPTH = 64
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class SourceProblems(Exception):
    """The file cannot be turned into data; ``problems`` say why and where."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "invalid")
        self.problems = problems


def _at(mark: yaml.Mark | None, message: str, fix: str, what: str = "YAML") -> Problem:
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    return Problem((), message, fix, line=line, column=column, pointer_text=what)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases while composing, before anything is expanded."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            raise SourceProblems(
                [
                    _at(
                        event.start_mark,
                        "YAML aliases (*name) are not allowed",
                        "write the value out in full where it is needed",
                    )
                ]
            )
        return super().compose_node(parent, index)


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed file: its data and the node tree the data came from."""

    path: Path
    data: Any
    root: yaml.Node | None

    def position(self, path: JsonPath, at_key: bool = False) -> tuple[int, int]:
        """The 1-based line and column of the value (or key) at ``path``, or of the deepest
        node on the way there that exists (a missing property is reported at its object)."""
        node = self.root
        if node is None:
            return 1, 1
        target = node
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                found = next(
                    ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                    None,
                )
                if found is None:
                    break
                key, node = found
                target = key if last and at_key else node
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                target = node
            else:
                break
        mark = target.start_mark
        return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        # Columns count characters, like YAML's marks: decode what precedes on the line.
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise SourceProblems(
            [
                Problem(
                    (),
                    f"the file is not UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
                    "save the file as UTF-8",
                    line=line,
                    column=column,
                    pointer_text="encoding",
                )
            ]
        ) from None


def _read(path: Path) -> bytes:
    def fail(message: str, fix: str) -> SourceProblems:
        return SourceProblems([Problem((), message, fix, line=1, column=1, pointer_text="file")])

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail("the file does not exist", "give the path of an existing configuration file") from None
    except IsADirectoryError:
        raise fail("this is a folder, not a file", "give the path of the YAML file") from None
    except OSError as error:
        raise fail(
            f"the file cannot be read ({error.strerror})", "check the path and its permissions"
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(
            f"the file is larger than {MAX_FILE_BYTES // 1024} KiB",
            "a configuration is far smaller; check that this is the right file",
        )
    return raw


def _check_tree(node: yaml.Node, path: JsonPath, problems: list[Problem]) -> None:
    """Duplicate, non-string and merge keys anywhere in the tree; nesting depth."""
    if len(path) > MAX_DEPTH:
        mark = node.start_mark
        problems.append(
            Problem(
                path,
                f"the document nests deeper than {MAX_DEPTH} levels",
                "flatten the structure",
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        )
        return
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_tree(item, (*path, index), problems)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            mark = key.start_mark
            where = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
            if key.tag == _MERGE:
                problems.append(
                    Problem(
                        path, "YAML merge keys (<<) are not allowed", "write the keys out in full", **where
                    )
                )
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                problems.append(
                    Problem(
                        (*path, str(shown)),
                        f"the key {shown!r} is not read as a string (YAML reads it as {key.tag.rsplit(':', 1)[-1]})",
                        f"quote the key: '{shown}'"
                        if isinstance(key, yaml.ScalarNode)
                        else "use a plain key",
                        **where,
                    )
                )
                continue
            first = seen.get(key.value)
            if first is not None:
                first_line = first.start_mark.line + 1 if first.start_mark else 0
                problems.append(
                    Problem(
                        (*path, key.value),
                        f"the key '{key.value}' appears twice in the same mapping (first on line {first_line})",
                        "keep one of them",
                        at_key=True,
                        **where,
                    )
                )
                continue
            seen[key.value] = key
            _check_tree(value, (*path, key.value), problems)


def _bad_character(text: str, error: yaml.reader.ReaderError) -> Problem:
    position = int(error.position)
    before = text[:position]
    # PyYAML gives the code point for text input, the byte for bytes input (not used here).
    shown = chr(error.character) if isinstance(error.character, int) else error.character
    return Problem(
        (),
        f"the file holds a character YAML does not allow ({shown!r})",
        "remove the control character",
        line=before.count("\n") + 1,
        column=position - (before.rfind("\n") + 1) + 1,
        pointer_text="YAML",
    )


def read_document(path: Path) -> Document:
    """Reads and parses a configuration file; raises SourceProblems with every problem found."""
    text = _decode(_read(path))
    try:
        loader = _StrictLoader(text)  # the reader checks the characters here
    except yaml.reader.ReaderError as error:
        raise SourceProblems([_bad_character(text, error)]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            # PyYAML's messages read as "<context>, <problem>": "while parsing..., expected ..."
            problem = ", ".join(part for part in (error.context, error.problem) if part) or "invalid YAML"
            raise SourceProblems(
                [_at(error.problem_mark or error.context_mark, problem, "correct the YAML syntax here")]
            ) from None
        except yaml.reader.ReaderError as error:
            raise SourceProblems([_bad_character(text, error)]) from None
        except RecursionError:
            raise SourceProblems(
                [_at(None, "the document nests too deeply to be read", "flatten the structure")]
            ) from None
        if root is None:
            return Document(path, None, None)
        problems: list[Problem] = []
        _check_tree(root, (), problems)
        if problems:
            raise SourceProblems(problems)
        try:
            data = loader.construct_document(root)
        except yaml.MarkedYAMLError as error:
            raise SourceProblems(
                [
                    _at(
                        error.problem_mark or error.context_mark,
                        error.problem or "this value cannot be read",
                        "use plain YAML values (strings, numbers, booleans, lists, mappings), without tags",
                    )
                ]
            ) from None
        return Document(path, data, root)
    finally:
        loader.dispose()
