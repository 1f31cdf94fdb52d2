"""An OpenAPI document (3.0 or 3.1) read for a ``kind: rest`` connector: its operations by
``operationId`` (method, path, parameters) and each one's JSON reply schema, compiled against the
document so that a reply is checked against the types the provider publishes.

A document comes from outside: it is read from a file beside the configuration or from a URL on
the connector's own host, at most :data:`MAX_DOCUMENT_BYTES`, as JSON or as YAML (at most
:data:`MAX_YAML_BYTES`) without anchors and aliases (no expansion bombs, no custom tags), nested at
most :data:`MAX_DEPTH` levels; a ``$ref`` must point into the document itself
(nothing is fetched on its behalf). Anything else is an ``InvalidProviderContract``.

Hand-written rather than openapi-spec-validator or prance: what the bus needs is an index by
operationId and local ``$ref`` resolution, and those libraries resolve remote references (which a
hostile document must not make the bus fetch) and bring a dependency tree larger than this module.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs
import orjson
import yaml

from connectors.generic.replies import tokens
from router.providers import InvalidProviderContract
from schemas.validation import CompiledSchema

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# YAML costs far more to read than JSON (seconds a MiB even with libyaml, Python objects built node
# by node, against milliseconds for orjson) and holds the interpreter while it does; a
# provider's YAML OpenAPI document is tens to hundreds of KiB, and a larger one can be served as JSON.
MAX_YAML_BYTES = 1024 * 1024
# no real OpenAPI document nests this deep; the YAML composer and the checks below recurse per level
MAX_DEPTH = 64
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOCUMENT_ID = "urn:lienthong:openapi-document"


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    where: str  # path, query, header, cookie
    required: bool


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # the path template, ``/insured/{personalId}``
    parameters: Mapping[str, Parameter]
    # the JSON reply schema of a 200 (or the first 2xx), as a pointer into the document
    reply_schema: str | None = None


@dataclass(frozen=True)
class OpenApiDocument:
    version: str
    operations: Mapping[str, Operation]
    document: Mapping[str, Any] = field(repr=False)
    _compiled: dict[str, CompiledSchema] = field(default_factory=dict, repr=False)

    def operation(self, operation_id: str) -> Operation:
        found = self.operations.get(operation_id)
        if found is None:
            known = ", ".join(sorted(self.operations)) or "none"
            raise InvalidProviderContract(
                f"the OpenAPI document has no operationId {operation_id!r}; it has {known}"
            )
        return found

    def reply_schema(self, operation: Operation) -> CompiledSchema | None:
        """The operation's reply schema, compiled once (a 3.0 document's ``nullable`` read as 3.1)."""
        if operation.reply_schema is None:
            return None
        compiled = self._compiled.get(operation.operation_id)
        if compiled is None:
            fragment = quote(operation.reply_schema, safe="/~")
            try:
                registry = jsonschema_rs.Registry([(DOCUMENT_ID, dict(self.document))])
                compiled = CompiledSchema({"$ref": f"{DOCUMENT_ID}#{fragment}"}, registry)
            except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
                raise InvalidProviderContract(
                    f"the reply schema of {operation.operation_id} does not compile ({type(error).__name__})"
                ) from None
            self._compiled[operation.operation_id] = compiled
        return compiled

    def schema_at(self, pointer: str) -> Any:
        return resolve(self.document, pointer)


# YAML 1.2's core schema, near enough: ``yes``/``no``/``on``/``off`` and dates stay text (YAML 1.1
# would make them booleans and ``datetime.date``s, and an ``enum: [yes, no]`` would match no reply)
_CORE_SCALARS = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
)


class _CoreResolver(yaml.resolver.BaseResolver):
    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 (PyYAML fills it per class)


for _tag, _pattern, _first in _CORE_SCALARS:
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


if yaml.__with_libyaml__:  # libyaml's parser in C: an order of magnitude faster than PyYAML's
    from yaml._yaml import CParser

    class _Loader(CParser, yaml.constructor.SafeConstructor, _CoreResolver):
        def __init__(self, stream: bytes) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _CoreResolver.__init__(self)

else:  # pragma: no cover (PyYAML built without libyaml)

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        yaml.constructor.SafeConstructor,
        _CoreResolver,
    ):
        def __init__(self, stream: bytes) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            _CoreResolver.__init__(self)


def _scan_yaml(content: bytes) -> None:
    """Refuses, from the parser's events and before anything is built, anchors and aliases (a
    document bomb's means) and nesting deeper than :data:`MAX_DEPTH` (the composer recurses once
    per level)."""
    loader = _Loader(content)
    try:
        depth = 0
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.AliasEvent):
                raise InvalidProviderContract("the OpenAPI document uses YAML aliases, which are refused")
            if getattr(event, "anchor", None) is not None:
                raise InvalidProviderContract("the OpenAPI document uses YAML anchors, which are refused")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep()
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _load_yaml(content: bytes) -> Any:
    if len(content) > MAX_YAML_BYTES:
        raise InvalidProviderContract(
            f"the OpenAPI document is YAML larger than {MAX_YAML_BYTES} bytes (JSON may be larger)"
        )
    try:
        _scan_yaml(content)
        loader = _Loader(content)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise InvalidProviderContract(
            f"the OpenAPI document is neither JSON nor YAML ({type(error).__name__})"
        ) from None


def _depth(node: Any) -> int:
    """How deep ``node`` nests, counted without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            values = current.values() if isinstance(current, dict) else current
            stack.extend((value, level + 1) for value in values)
    return deepest


def _too_deep() -> InvalidProviderContract:
    return InvalidProviderContract(f"the OpenAPI document nests deeper than {MAX_DEPTH} levels")


def read_file(path: str) -> bytes:
    file = Path(path)
    if file.stat().st_size > MAX_DOCUMENT_BYTES:
        raise InvalidProviderContract(f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes")
    return file.read_bytes()


def parse(content: bytes) -> OpenApiDocument:
    """The document in ``content`` (JSON or YAML), checked and indexed. CPU-bound for a large
    document: the bus calls it in a worker thread (:func:`read`), never on its event loop."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidProviderContract(f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return _parsed(content)
    except RecursionError:  # a belt to the depth checks' braces: never a 500
        raise _too_deep() from None


async def read(content: bytes) -> OpenApiDocument:
    """:func:`parse` in a worker thread: a large YAML document takes seconds even with libyaml,
    which must not freeze every request and heartbeat on the event loop."""
    return await asyncio.to_thread(parse, content)


def _parsed(content: bytes) -> OpenApiDocument:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("depth limit exceeded"):  # orjson's 1024 levels
            raise _too_deep() from None
        data = _load_yaml(content)
    if not isinstance(data, dict):
        raise InvalidProviderContract("the OpenAPI document is not a mapping")
    if _depth(data) > MAX_DEPTH:
        raise _too_deep()
    data = _string_keys(data)
    version = str(data.get("openapi", ""))
    if not version.startswith(("3.0.", "3.1.")):
        raise InvalidProviderContract(f"not an OpenAPI 3.0 or 3.1 document (openapi: {version[:20]!r})")
    for reference in _references(data):
        if not reference.startswith("#/") and reference != "#":
            raise InvalidProviderContract(
                f"the OpenAPI document refers outside itself ({reference[:100]}), which is refused"
            )
    if version.startswith("3.0."):
        data = _as_31(copy.deepcopy(data))
    return OpenApiDocument(version, _operations(data), data)


def resolve(document: Any, pointer: str, depth: int = 0) -> Any:
    """What ``pointer`` (``/a/b``) designates in ``document``, following local ``$ref``s."""
    node = document
    for token in tokens(pointer):
        node = _follow(document, node, depth)
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return _follow(document, node, depth)


def _follow(document: Any, node: Any, depth: int) -> Any:
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        if depth > 32:
            raise InvalidProviderContract("the OpenAPI document's $ref chain is too long or circular")
        depth += 1
        node = resolve(document, node["$ref"][1:], depth)
    return node


def _references(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            reference = current.get("$ref")
            if isinstance(reference, str):
                yield reference
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _string_keys(node: Any) -> Any:
    """YAML reads ``200:`` as a number; JSON pointers and JSON Schema see text."""
    if isinstance(node, dict):
        return {str(k): _string_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_string_keys(v) for v in node]
    return node


def _as_31(node: Any) -> Any:
    """OpenAPI 3.0's schema dialect read as JSON Schema 2020-12 (``nullable``, boolean exclusive bounds)."""
    if isinstance(node, dict):
        if node.get("nullable") is True and "type" in node:
            kind = node["type"]
            node["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
        node.pop("nullable", None)
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if node.get(exclusive) is True and bound in node:
                node[exclusive] = node.pop(bound)
            elif node.get(exclusive) is False:
                node.pop(exclusive)
        for value in node.values():
            _as_31(value)
    elif isinstance(node, list):
        for value in node:
            _as_31(value)
    return node


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _operations(document: Mapping[str, Any]) -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    paths = document.get("paths") or {}
    if not isinstance(paths, Mapping):
        raise InvalidProviderContract("the OpenAPI document's paths is not a mapping")
    for path, raw in paths.items():
        item = _follow(document, raw, 0)
        if not isinstance(item, Mapping):
            continue
        shared = _parameters(document, item.get("parameters"))
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping) or not isinstance(operation.get("operationId"), str):
                continue
            here = f"/paths/{_escape(str(path))}/{method}"
            parameters = {**shared, **_parameters(document, operation.get("parameters"))}
            found[operation["operationId"]] = Operation(
                operation["operationId"],
                method.upper(),
                str(path),
                parameters,
                _reply_schema(document, operation, here),
            )
    return found


def _parameters(document: Mapping[str, Any], raw: Any) -> dict[str, Parameter]:
    out = {}
    for listed in raw if isinstance(raw, list) else []:
        entry = _follow(document, listed, 0)
        if (
            isinstance(entry, Mapping)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("in"), str)
        ):
            out[entry["name"]] = Parameter(
                entry["name"], entry["in"], bool(entry.get("required", entry["in"] == "path"))
            )
    return out


def _reply_schema(document: Mapping[str, Any], operation: Mapping[str, Any], here: str) -> str | None:
    responses = operation.get("responses")
    if not isinstance(responses, Mapping):
        return None
    codes = sorted(c for c in responses if c.startswith("2"))
    for code in (["200"] if "200" in codes else []) + [c for c in codes if c != "200"]:
        response = _follow(document, responses[code], 0)
        content = response.get("content") if isinstance(response, Mapping) else None
        if not isinstance(content, Mapping):
            continue
        for media in content:
            json_media = str(media).split(";")[0].strip() == "application/json" or str(media).endswith(
                "+json"
            )
            if json_media and isinstance(content[media], Mapping) and "schema" in content[media]:
                return _schema_pointer(responses, code, media, here)
    return None


def _schema_pointer(responses: Mapping[str, Any], code: str, media: str, here: str) -> str:
    """Where the reply schema is: under the response's own place when it is a ``$ref``."""
    response = responses[code]
    if isinstance(response, Mapping) and isinstance(response.get("$ref"), str):
        base = response["$ref"][1:]
    else:
        base = f"{here}/responses/{_escape(code)}"
    return f"{base}/content/{_escape(media)}/schema"
