"""Data minimisation: a requester gets only the fields its purpose may see.

A field is a top-level name (``fullName``) or a JSON pointer (``/legalRepresentative/fullName``);
a ``*`` token keeps the rest of the pointer for every item of an array (``/badges/*/number``).
Fields the record does not have are left out, not invented.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

Tree = dict[str, Any]


def field_tokens(field: str) -> list[str]:
    """The tokens of a field: a top-level name is one; a JSON pointer's are unescaped (RFC 6901)."""
    if not field.startswith("/"):
        return [field]
    return [t.replace("~1", "/").replace("~0", "~") for t in field.split("/")[1:]]


@functools.lru_cache(maxsize=256)
def _plan(fields: tuple[str, ...]) -> Tree:
    """The fields as a tree of tokens; a leaf (``{}`` reached by a whole field) keeps everything.

    Built once per field list (a purpose's fields are fixed by the configuration), not for every
    query: the trees are only read."""
    tree: Tree = {}
    for field in fields:
        node = tree
        tokens = field_tokens(field)
        for i, token in enumerate(tokens):
            if i == len(tokens) - 1:
                node[token] = None  # keep the whole value
            else:
                child = node.get(token, {})
                if child is None:  # already kept whole by a shorter field
                    break
                node[token] = child
                node = child
    return tree


def _apply(value: Any, plan: Tree | None) -> Any:
    if plan is None:
        return value
    if isinstance(value, list) and "*" in plan:
        return [_apply(item, plan["*"]) for item in value]
    if isinstance(value, dict):
        return {k: _apply(value[k], sub) for k, sub in plan.items() if k in value}
    return None


def minimise(record: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The part of ``record`` that ``fields`` name (all of it for ``None``)."""
    if fields is None:
        return record
    kept = _apply(record, _plan(tuple(fields)))
    return kept if isinstance(kept, dict) else {}
