"""``lienthong config check``'s look at a configured dataset against the provider's own document:
the operation exists, the request's elements and parameters are the operation's, and each reply
pointer the mapping reads exists in the reply's types (zeep's type tree of the WSDL; the OpenAPI
operation's reply schema). Each finding is a problem at its place under the connector's
``options``, so that the loader reports it at its file and line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.generic.openapi import OpenApiDocument, resolve
from connectors.generic.problems import SpecPath, SpecProblem
from connectors.generic.replies import pointers_of, tokens
from connectors.generic.spec import DatasetSpec

# --- SOAP: zeep's type tree -------------------------------------------------------------------


def _children(xsd_type: Any) -> Mapping[str, Any] | None:
    elements = getattr(xsd_type, "elements", None)
    if elements is None:
        return None
    return {name: element for name, element in elements}


def _repeated(element: Any) -> bool:
    return getattr(element, "max_occurs", 1) != 1


def zeep_path_exists(xsd_type: Any, pointer: str) -> bool:
    """Whether ``pointer`` (names, ``*`` or an index after a repeated element) leads somewhere in
    the type, through the elements' children by name."""
    current, repeated = xsd_type, False
    for part in tokens(pointer):
        if part == "*" or part.isdigit():
            repeated = False  # an item of a list, or the one value a non-repeated element holds
            continue
        if repeated:
            return False  # a name after a list needs the item first: /list/*/name, /list/0/name
        children = _children(current)
        if children is None or part not in children:
            return False
        element = children[part]
        current, repeated = element.type, _repeated(element)
    return True


def soap_problems(here: SpecPath, spec: DatasetSpec, operations: Mapping[str, Any]) -> list[SpecProblem]:
    if not spec.calls:
        return _operation_problems(here, spec.operation, spec.request, spec, operations, None)
    problems = []
    for call in spec.calls:
        problems += _operation_problems(
            (*here, "calls", call.name), call.operation, call.request, spec, operations, call.name
        )
    names = {call.name for call in spec.calls}
    for pointer, origin in pointers_of(spec.reply):
        first = next(iter(tokens(pointer)), "")
        if first not in names:
            problems.append(
                SpecProblem(
                    origin or (*here, "reply"),
                    f"{pointer or '/'} does not start with the name of one of the dataset's calls",
                    f"start it with /{' or /'.join(sorted(names))}",
                )
            )
    return problems


def _operation_problems(
    here: SpecPath,
    name: str,
    request: Any,
    spec: DatasetSpec,
    operations: Mapping[str, Any],
    call: str | None,
) -> list[SpecProblem]:
    """One operation's: it exists, its request's elements are the request element's, and each reply
    pointer (those under ``/call`` for one of several calls) is in its reply's types."""
    operation = operations.get(name)
    if operation is None:
        return [
            SpecProblem(
                (*here, "operation"),
                f"the WSDL's port has no operation {name!r}",
                f"use one of {', '.join(sorted(operations))}",
            )
        ]
    problems: list[SpecProblem] = []
    request_type = getattr(getattr(operation.input, "body", None), "type", None)
    if isinstance(request, dict) and request_type is not None:
        problems += _request_problems(request_type, request, (*here, "request"))
    reply_type = getattr(getattr(operation.output, "body", None), "type", None)
    if reply_type is None:
        return problems
    prefix = f"/{call}" if call is not None else ""
    for full, origin in pointers_of(spec.reply):
        if call is not None and full != prefix and not full.startswith(prefix + "/"):
            continue
        pointer = full.removeprefix(prefix)
        if pointer and not zeep_path_exists(reply_type, pointer):
            problems.append(
                SpecProblem(
                    origin or (*here, "reply"),
                    f"the reply of {name} has no {pointer} in the WSDL's types",
                    "write a pointer through the reply element's children, /item/* for each of a list",
                )
            )
    return problems


def _request_problems(xsd_type: Any, template: Mapping[str, Any], path: SpecPath) -> list[SpecProblem]:
    children = _children(xsd_type)
    if children is None:
        return []
    problems = []
    for name, value in template.items():
        if name not in children:
            problems.append(
                SpecProblem(
                    (*path, name),
                    f"the request element has no child {name!r}",
                    f"use {', '.join(children) or 'no child'}",
                )
            )
        elif isinstance(value, dict):
            problems += _request_problems(children[name].type, value, (*path, name))
    return problems


# --- REST: the OpenAPI reply schema -------------------------------------------------------------


def _alternatives(document: Any, schema: Any) -> list[Any]:
    """The schema and those it combines (allOf, anyOf, oneOf), references followed."""
    schema = _follow(document, schema)
    found = [schema]
    if isinstance(schema, Mapping):
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, ()):
                found += _alternatives(document, sub)
    return found


def _follow(document: Any, schema: Any) -> Any:
    if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        return resolve(document, schema["$ref"][1:])
    return schema


def schema_path_exists(document: Any, schema: Any, pointer: str) -> bool:
    """Whether ``pointer`` may exist in data valid against ``schema``: through ``properties`` and
    ``items``; a schema that does not close its object (no properties, or additional ones
    allowed) admits any name."""
    current = [schema]
    for part in tokens(pointer):
        following = []
        for option in (alt for s in current for alt in _alternatives(document, s)):
            if not isinstance(option, Mapping):
                continue
            if part == "*" or part.isdigit():
                if "items" in option:
                    following.append(option["items"])
                elif "prefixItems" in option and part.isdigit() and int(part) < len(option["prefixItems"]):
                    following.append(option["prefixItems"][int(part)])
                continue
            properties = option.get("properties", {})
            if part in properties:
                following.append(properties[part])
            elif _open(option):
                return True
        if not following:
            return False
        current = following
    return True


def _open(schema: Mapping[str, Any]) -> bool:
    """Whether an object schema admits names it does not list: it lists none (and combines
    nothing), or says so (``additionalProperties`` a schema or true, ``patternProperties``). A
    name missing from a schema that lists its properties is taken for a mistake."""
    if "properties" not in schema and not any(k in schema for k in ("allOf", "anyOf", "oneOf", "items")):
        return schema.get("type") in (None, "object")
    extra = schema.get("additionalProperties")
    return "patternProperties" in schema or extra is True or isinstance(extra, Mapping)


def rest_problems(here: SpecPath, spec: DatasetSpec, contract: OpenApiDocument) -> list[SpecProblem]:
    operation = contract.operations.get(spec.operation)
    if operation is None:
        return [
            SpecProblem(
                (*here, "operation"),
                f"the OpenAPI document has no operationId {spec.operation!r}",
                f"use one of {', '.join(sorted(contract.operations)) or 'none'}",
            )
        ]
    problems = []
    given = spec.parameters if isinstance(spec.parameters, dict) else {}
    for name in given:
        if name not in operation.parameters:
            problems.append(
                SpecProblem(
                    (*here, "parameters", name),
                    f"{spec.operation} has no parameter {name!r}",
                    f"use {', '.join(sorted(operation.parameters)) or 'none'}",
                )
            )
    for name, parameter in operation.parameters.items():
        if parameter.required and name not in given:
            problems.append(
                SpecProblem(
                    (*here, "parameters"),
                    f"{spec.operation} requires the {parameter.where} parameter {name!r}",
                    f"add {name}: <a value or a {{placeholder}}>",
                )
            )
    if operation.reply_schema is None:
        return problems
    schema = contract.schema_at(operation.reply_schema)
    base = f"{spec.items}/*" if spec.items is not None else ""
    checked = [(spec.items, (*here, "list"))] if spec.items is not None else []
    if spec.pages is not None and spec.pages.next is not None:
        checked.append((spec.pages.next, (*here, "pages", "next")))
    checked += pointers_of(spec.reply, base)
    for pointer, origin in checked:
        if pointer and not schema_path_exists(contract.document, schema, pointer):
            problems.append(
                SpecProblem(
                    origin or (*here, "reply"),
                    f"the reply of {spec.operation} has no {pointer} in the OpenAPI document's schema",
                    "write a pointer through the reply schema's properties, /list/* for each item",
                )
            )
    return problems
