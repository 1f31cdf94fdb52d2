"""Replies mapped to a dataset's record, and "not found" recognised, as the configuration says.

Paths into a reply are JSON pointers (RFC 6901) into the reply as plain data: zeep's result for a
SOAP operation (the reply element's content: ``/CongDan/HoVaTen/Ho``), the JSON body of a REST
call. A field of the record is one of (in YAML):

- ``/a/b``: the value there; or ``{path: /a/b, map: {Nam: male, Nữ: female}, type: date,
  optional: true}``: a value map (a value it does not list is an invalid reply), or ``formats:
  {vn-personal-id: person, vn-tax-code: enterprise}``: the value of the first identifier format
  (:data:`router.identifiers.FORMATS`) the reply's value has (none: an invalid reply), a type
  (``string``, ``integer``, ``number``, ``boolean``, ``date``: a date is written ``yyyy-mm-dd``,
  a year alone stays as it is), absent allowed (the field is left out);
- ``{join: [/Ho, /ChuDem, /Ten], separator: " "}``: the values found, empty ones skipped;
- ``{each: /PhuHieu, fields: {...}}`` or ``{each: /NganhNghe, item: /maNganh}``: a list, one item
  per element of the array there, its paths relative to the element;
- ``{fields: {...}}``: a nested object; ``{value: x}``: a fixed value;
- for a SOAP reply, ``{xpath: l:ThuaDat/l:DienTich}`` (with the options of ``path``) and
  ``{each: {xpath: ...}, fields: {...}}``: XPath on the reply element, with the connector's
  namespace prefixes.

A "not found" rule: ``{fault: KHONG_TIM_THAY}`` (a SOAP fault's code or string), ``{status: 404}``
(a REST status), ``{empty: /CongDan}`` (nothing, null, an empty list or text there), or
``{path: /TrangThai, equals: "0"}``.

Errors name pointers only, never a value: a reply may be about a person whom the requester may
not see in full.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from connectors.generic.problems import SpecPath, SpecProblem
from router.identifiers import FORMATS, FormatCheck
from router.providers import InvalidProviderReply

TYPES = ("string", "integer", "number", "boolean", "date")
_ABSENT = object()


@functools.lru_cache(maxsize=4096)  # the pointers of the configuration, read at every reply
def tokens(pointer: str) -> tuple[str, ...]:
    """The reference tokens of an RFC 6901 pointer (``""`` is the whole document)."""
    if pointer == "":
        return ()
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def valid_pointer(pointer: Any) -> bool:
    if not isinstance(pointer, str) or not (pointer == "" or pointer.startswith("/")):
        return False
    escapes = pointer.replace("~0", "").replace("~1", "")
    return "~" not in escapes


def at(data: Any, pointer: str) -> Any:
    """The value at ``pointer``, or ``_ABSENT``; a null on the way is absence (zeep gives None
    for an optional element the reply left out)."""
    node = data
    for token in tokens(pointer):
        # a dict first: what a JSON reply holds, and a cheaper check than the Mapping ABC's
        if type(node) is dict or isinstance(node, Mapping):
            node = node.get(token, _ABSENT)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _ABSENT
        if node is None or node is _ABSENT:
            return _ABSENT
    return node


# the largest decimal exponent a number of a reply may have: a double's range; converting a
# decimal with a huge exponent to int takes time growing with its square (1E+999999: a minute)
MAX_EXPONENT = 308


def json_number(value: decimal.Decimal) -> int | float:
    """A reply's decimal as a JSON number; a non-finite one or one beyond a double's range is
    refused (ValueError) before any conversion."""
    if not value.is_finite() or (value and abs(value.adjusted()) > MAX_EXPONENT):
        raise ValueError("not finite or out of range")
    if not value:
        return 0
    return int(value) if value == value.to_integral_value() else float(value)


_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_OUT_OF_RANGE = "the reply holds a number that is not finite or is out of range"


def json_ready(value: Any) -> Any:
    """Dates as ISO text, decimals as numbers, containers recursively."""
    if type(value) in _JSON_SCALARS:  # most of a reply: returned as they are, checked first
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        try:
            return json_number(value)
        except ValueError:
            raise MappingFailed(_OUT_OF_RANGE) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise MappingFailed(_OUT_OF_RANGE)
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


class MappingFailed(InvalidProviderReply):
    """The reply lacks what the mapping reads, or holds a value it cannot take."""


@dataclass(frozen=True, slots=True)
class Source:
    """A reply as the mapping reads it: as data (JSON pointers) and, for a SOAP reply whose
    mapping uses XPath, as its XML reply element."""

    data: Any
    element: Any = None


def _data(data: Any) -> Any:
    return data.data if isinstance(data, Source) else data


def _element(data: Any) -> Any:
    return data.element if isinstance(data, Source) else data


def _xpath_value(xpath: Any, element: Any, where: str) -> Any:
    """The first node or value an XPath selects, a node as its text; ``_ABSENT`` for none."""
    if not isinstance(element, etree._Element):
        raise MappingFailed(f"{where} reads the reply with XPath, but there is no XML to read")
    try:
        result = xpath(element)
    except etree.XPathError:
        raise MappingFailed(f"the XPath of {where} cannot be evaluated on the reply") from None
    if isinstance(result, list):
        if not result:
            return _ABSENT
        result = result[0]
    if isinstance(result, etree._Element):
        return (result.text or "").strip()
    if isinstance(result, float) and math.isfinite(result) and result.is_integer():
        return int(result)
    return result if result != "" else _ABSENT


@dataclass(frozen=True, slots=True)
class Node:
    """One field of the record: how its value is read from the reply (or from an item)."""

    where: str  # the record field's pointer, for messages
    optional: bool
    origin: SpecPath = field(default=(), kw_only=True)  # where the configuration says it

    def read(self, data: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class PathNode(Node):
    pointer: str
    kind: str | None = None
    values: Mapping[str, Any] | None = None
    # instead of a value map: the value of the first identifier format the reply's value has
    formats: tuple[tuple[FormatCheck, Any], ...] | None = field(default=None, kw_only=True)
    # instead of the pointer: an XPath (compiled, with the connector's namespaces) into the XML
    xpath: Any = field(default=None, kw_only=True)
    expression: str = field(default="", kw_only=True)

    def read(self, data: Any) -> Any:
        if self.xpath is not None:
            value = _xpath_value(self.xpath, _element(data), self.where)
        else:
            value = at(_data(data), self.pointer)
        if value is _ABSENT:
            return self._absent()
        if self.values is not None:
            text = _text(value)
            if text not in self.values:
                raise MappingFailed(f"the value at {self._place} is none that the map of {self.where} lists")
            return self.values[text]
        if self.formats is not None:
            text = _text(value)
            for fits, mapped in self.formats:
                if fits(text):
                    return mapped
            raise MappingFailed(f"the value at {self._place} has none of the formats {self.where} lists")
        return _convert(value, self.kind, self._place, self.where)

    @property
    def _place(self) -> str:
        return self.expression or self.pointer or "/"

    def _absent(self) -> Any:
        if self.optional:
            return _ABSENT
        raise MappingFailed(f"the reply has nothing at {self._place} (mapped to {self.where})")


@dataclass(frozen=True, slots=True)
class JoinNode(Node):
    pointers: tuple[str, ...]
    separator: str = " "

    def read(self, data: Any) -> Any:
        found = [at(_data(data), p) for p in self.pointers]
        parts = [_text(v) for v in found if v is not _ABSENT and _text(v).strip()]
        if not parts:
            if self.optional:
                return _ABSENT
            raise MappingFailed(
                f"the reply has nothing at {', '.join(self.pointers)} (joined into {self.where})"
            )
        return self.separator.join(parts)


@dataclass(frozen=True, slots=True)
class EachNode(Node):
    pointer: str
    item: Node
    xpath: Any = field(default=None, kw_only=True)  # selects the elements instead of the pointer

    def read(self, data: Any) -> Any:
        if self.xpath is not None:
            element = _element(data)
            if not isinstance(element, etree._Element):
                raise MappingFailed(f"{self.where} reads the reply with XPath, but there is no XML to read")
            try:
                selected = self.xpath(element)
            except etree.XPathError:
                raise MappingFailed(f"the XPath of {self.where} cannot be evaluated on the reply") from None
            elements = (
                [e for e in selected if isinstance(e, etree._Element)] if isinstance(selected, list) else []
            )
            found: Any = elements or _ABSENT
        else:
            found = at(_data(data), self.pointer)
        if found is _ABSENT:
            if self.optional:
                return []
            raise MappingFailed(f"the reply has nothing at {self.pointer or '/'} (mapped to {self.where})")
        items = found if isinstance(found, list) else [found]
        out = []
        for element in items:
            value = self.item.read(element)
            if value is not _ABSENT:
                out.append(value)
        return out


@dataclass(frozen=True, slots=True)
class ObjectNode(Node):
    fields: Mapping[str, Node]

    def read(self, data: Any) -> Any:
        out = {}
        for name, node in self.fields.items():
            value = node.read(data)
            if value is not _ABSENT:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class ValueNode(Node):
    value: Any

    def read(self, data: Any) -> Any:
        return self.value


def map_record(root: ObjectNode, reply: Any, element: Any = None) -> dict[str, Any]:
    """The dataset's record from ``reply`` (and its XML reply ``element``, for XPath);
    :class:`MappingFailed` when the reply lacks what the mapping reads."""
    record: dict[str, Any] = root.read(Source(reply, element))
    return record


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _convert(value: Any, kind: str | None, pointer: str, where: str) -> Any:
    if kind is None:
        return json_ready(value)
    try:
        if kind == "string":
            return _text(value)
        if kind == "date":
            # a date of birth may be the year alone: passed on, never completed with a made-up day
            return value.date().isoformat() if isinstance(value, datetime.datetime) else _text(value)
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            number = json_number(decimal.Decimal(str(value)))
            if not isinstance(number, int):
                raise ValueError
            return number
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            return json_number(decimal.Decimal(str(value)))
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError
    except (ValueError, OverflowError, decimal.InvalidOperation, TypeError, AttributeError):
        raise MappingFailed(f"the value at {pointer or '/'} is not a {kind} (mapped to {where})") from None


# --- compiling the configuration --------------------------------------------------------------

_NODE_KEYS = ("path", "xpath", "join", "each", "fields", "value")
_OPTIONS = {
    "path": {"path", "map", "formats", "type", "optional"},
    "xpath": {"xpath", "map", "formats", "type", "optional"},
    "join": {"join", "separator", "optional"},
    "each": {"each", "fields", "item", "optional"},
    "fields": {"fields", "optional"},
    "value": {"value"},
}


Namespaces = Mapping[str, str] | None  # XPath prefixes (SOAP); None where XPath has no XML to read


def compile_fields(
    raw: Any, path: SpecPath, problems: list[SpecProblem], where: str = "", namespaces: Namespaces = None
) -> ObjectNode:
    """The record's mapping (``reply:``): field names to their specs."""
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            SpecProblem(
                path,
                "the reply mapping is a mapping of the record's fields",
                "write field: /pointer/into/the/reply",
            )
        )
        return ObjectNode(where or "/", False, {})
    fields = {}
    for name, spec in raw.items():
        fields[str(name)] = compile_node(spec, (*path, str(name)), problems, f"{where}/{name}", namespaces)
    return ObjectNode(where or "/", False, fields)


def compile_node(
    raw: Any, path: SpecPath, problems: list[SpecProblem], where: str, namespaces: Namespaces = None
) -> Node:
    """One field's spec (see the module's doc), remembering where it is written."""
    return replace(_node(raw, path, problems, where, namespaces), origin=path)


def _node(raw: Any, path: SpecPath, problems: list[SpecProblem], where: str, namespaces: Namespaces) -> Node:
    if isinstance(raw, str):
        return PathNode(where, False, _pointer(raw, path, problems))
    if not isinstance(raw, Mapping):
        problems.append(
            SpecProblem(
                path,
                "a field is a pointer into the reply or a mapping",
                "write /pointer, or {path: /pointer, ...}",
            )
        )
        return ValueNode(where, False, None)
    present = [key for key in _NODE_KEYS if key in raw]
    if "each" in raw:
        present = ["each"]
    if len(present) != 1:
        problems.append(
            SpecProblem(
                path,
                "a field says where its value comes from with one of path, join, each, fields or value",
                "keep exactly one of them",
            )
        )
        return ValueNode(where, False, None)
    shape = present[0]
    for key in raw:
        if key not in _OPTIONS[shape]:
            problems.append(
                SpecProblem(
                    (*path, str(key)),
                    f"a {shape} field does not take '{key}'",
                    f"use {', '.join(sorted(_OPTIONS[shape]))}",
                )
            )
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        problems.append(SpecProblem((*path, "optional"), "optional is true or false", "write optional: true"))
        optional = False
    if shape == "value":
        return ValueNode(where, False, raw["value"])
    if shape == "fields":
        nested = compile_fields(raw["fields"], (*path, "fields"), problems, where, namespaces)
        return ObjectNode(where, optional, nested.fields)
    if shape == "join":
        parts = raw["join"]
        if not isinstance(parts, list) or not parts:
            problems.append(
                SpecProblem((*path, "join"), "join lists pointers into the reply", "write join: [/Ho, /Ten]")
            )
            parts = []
        separator = raw.get("separator", " ")
        if not isinstance(separator, str):
            problems.append(
                SpecProblem((*path, "separator"), "the separator is text", 'write separator: " "')
            )
            separator = " "
        pointers = tuple(_pointer(p, (*path, "join", i), problems) for i, p in enumerate(parts))
        return JoinNode(where, optional, pointers, separator)
    if shape == "each":
        select = None
        if isinstance(raw["each"], Mapping) and set(raw["each"]) == {"xpath"}:
            select = _xpath(raw["each"]["xpath"], (*path, "each", "xpath"), problems, namespaces)
            pointer = ""
        else:
            pointer = _pointer(raw["each"], (*path, "each"), problems)
        if "fields" in raw and "item" in raw:
            problems.append(SpecProblem(path, "each takes fields or item, not both", "keep one"))
        if "fields" in raw:
            item: Node = compile_fields(raw["fields"], (*path, "fields"), problems, f"{where}/*", namespaces)
        elif "item" in raw:
            item = compile_node(raw["item"], (*path, "item"), problems, f"{where}/*", namespaces)
        elif select is not None:
            item = PathNode(f"{where}/*", False, "", xpath=etree.XPath("."), expression=".")
        else:
            item = PathNode(f"{where}/*", False, "")
        return EachNode(where, optional, pointer, item, xpath=select)
    kind = raw.get("type")
    if kind is not None and kind not in TYPES:
        problems.append(
            SpecProblem((*path, "type"), f"no type '{str(kind)[:40]}'", f"use one of {', '.join(TYPES)}")
        )
        kind = None
    values = raw.get("map")
    if values is not None:
        if not isinstance(values, Mapping) or not values:
            problems.append(
                SpecProblem(
                    (*path, "map"),
                    "map lists the reply's values and the record's",
                    "write map: {Nam: male, Nữ: female}",
                )
            )
            values = None
        else:
            values = {_text(k): v for k, v in values.items()}
    formats = _formats(raw.get("formats"), (*path, "formats"), problems)
    if values is not None and formats is not None:
        problems.append(SpecProblem(path, "a field takes map or formats, not both", "keep one"))
    if shape == "xpath":
        expression = str(raw["xpath"])
        compiled = _xpath(raw["xpath"], (*path, "xpath"), problems, namespaces)
        return PathNode(
            where, optional, "", kind, values, xpath=compiled, expression=expression, formats=formats
        )
    return PathNode(
        where, optional, _pointer(raw["path"], (*path, "path"), problems), kind, values, formats=formats
    )


def _formats(
    raw: Any, path: SpecPath, problems: list[SpecProblem]
) -> tuple[tuple[FormatCheck, Any], ...] | None:
    """``formats: {vn-personal-id: person, vn-tax-code: enterprise}``: checked in order."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            SpecProblem(
                path,
                "formats maps identifier formats to the record's values",
                "write formats: {vn-personal-id: person, vn-tax-code: enterprise}",
            )
        )
        return None
    unknown = [str(name) for name in raw if name not in FORMATS]
    if unknown:
        problems.append(
            SpecProblem(
                path, f"no identifier format {unknown[0][:40]!r}", f"use {', '.join(sorted(FORMATS))}"
            )
        )
        return None
    return tuple((FORMATS[name], value) for name, value in raw.items())


def _xpath(raw: Any, path: SpecPath, problems: list[SpecProblem], namespaces: Namespaces) -> Any:
    if namespaces is None:
        problems.append(
            SpecProblem(
                path, "XPath reads the XML of a SOAP reply; this reply is JSON", "write a JSON pointer"
            )
        )
        return None
    try:
        compiled = etree.XPath(str(raw), namespaces=dict(namespaces))
        compiled(etree.Element("probe"))  # an undeclared prefix shows only when evaluated
        return compiled
    except etree.XPathError as error:
        problems.append(
            SpecProblem(
                path,
                f"{str(raw)[:80]!r} is not an XPath expression ({error})",
                "write an XPath with the prefixes of options.namespaces, e.g. land:ThuaDat/land:DienTich",
            )
        )
        return None


def _pointer(raw: Any, path: SpecPath, problems: list[SpecProblem]) -> str:
    if not valid_pointer(raw):
        problems.append(
            SpecProblem(
                path,
                f"{str(raw)[:80]!r} is not a JSON pointer into the reply",
                "write a pointer such as /CongDan/HoVaTen/Ten (~1 for a '/' in a name, ~0 for '~')",
            )
        )
        return ""
    return str(raw)


def pointers_of(node: Node, base: str = "") -> list[tuple[str, SpecPath]]:
    """Every reply pointer a mapping reads, with where the configuration says it; pointers of list
    items follow the list's pointer and ``/*``: what ``config check`` looks up in the document's
    types."""
    if isinstance(node, PathNode):
        return [(base + node.pointer, node.origin)] if node.xpath is None else []
    if isinstance(node, JoinNode):
        return [(base + p, node.origin) for p in node.pointers]
    if isinstance(node, EachNode):
        if node.xpath is not None:
            return []
        return [(base + node.pointer, node.origin), *pointers_of(node.item, f"{base}{node.pointer}/*")]
    if isinstance(node, ObjectNode):
        return [pair for child in node.fields.values() for pair in pointers_of(child, base)]
    return []


# --- "not found" ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotFoundRules:
    faults: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    empty: tuple[str, ...] = ()
    equals: tuple[tuple[str, str], ...] = ()

    def fault(self, code: str, message: str) -> bool:
        return code in self.faults or message.strip() in self.faults

    def status(self, status: int) -> bool:
        return status in self.statuses

    def reply(self, reply: Any) -> bool:
        for pointer in self.empty:
            value = at(reply, pointer)
            if value is _ABSENT or value in ("", [], {}):
                return True
        return any(
            (value := at(reply, pointer)) is not _ABSENT and _text(value) == expected
            for pointer, expected in self.equals
        )


def compile_not_found(raw: Any, path: SpecPath, problems: list[SpecProblem]) -> NotFoundRules:
    if raw is None:
        return NotFoundRules()
    rules = raw if isinstance(raw, list) else [raw]
    faults: set[str] = set()
    statuses: set[int] = set()
    empty: list[str] = []
    equals: list[tuple[str, str]] = []
    fix = "write {fault: CODE}, {status: 404}, {empty: /pointer} or {path: /pointer, equals: value}"
    for i, rule in enumerate(rules):
        here = (*path, i) if isinstance(raw, list) else path
        if not isinstance(rule, Mapping):
            problems.append(SpecProblem(here, "a not-found rule is a mapping", fix))
        elif set(rule) == {"fault"} and isinstance(rule["fault"], str) and rule["fault"]:
            faults.add(rule["fault"])
        elif set(rule) == {"status"} and isinstance(rule["status"], int) and 400 <= rule["status"] <= 599:
            statuses.add(rule["status"])
        elif set(rule) == {"empty"}:
            empty.append(_pointer(rule["empty"], (*here, "empty"), problems))
        elif set(rule) == {"path", "equals"} and isinstance(rule["equals"], str | int | bool):
            equals.append((_pointer(rule["path"], (*here, "path"), problems), _text(rule["equals"])))
        else:
            problems.append(SpecProblem(here, "not a not-found rule", fix))
    return NotFoundRules(frozenset(faults), frozenset(statuses), tuple(empty), tuple(equals))


def uses_xpath(node: Node) -> bool:
    """Whether a mapping reads the reply's XML (so the SOAP kind keeps it)."""
    if isinstance(node, PathNode | EachNode) and node.xpath is not None:
        return True
    if isinstance(node, EachNode):
        return uses_xpath(node.item)
    if isinstance(node, ObjectNode):
        return any(uses_xpath(child) for child in node.fields.values())
    return False
