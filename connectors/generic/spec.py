"""The options of ``kind: soap`` and ``kind: rest`` connectors, read and checked: every problem
found at once, each at its path under ``options`` (the configuration loader reports them at their
file and line; a connector's builder refuses options with problems).

One connector is one service (a WSDL, or an OpenAPI document or a base URL); each dataset it
provides names its operation, how its request is built from the query (:mod:`.templates`), how
the reply maps to the record and how "not found" shows (:mod:`.replies`), and optionally a JSON
Schema file its records must match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.generic.problems import SpecPath, SpecProblem
from connectors.generic.replies import (
    NotFoundRules,
    ObjectNode,
    compile_fields,
    compile_not_found,
    uses_xpath,
    valid_pointer,
)
from connectors.generic.templates import Template, compile_template
from router.identifiers import DESCRIPTIONS, FORMATS

DATASET_NAME = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
METHODS = ("GET", "POST", "PUT")
MAX_PAGES = 100  # the hard cap of a paginated list, whatever the configuration says

SOAP_OPTIONS = {
    "wsdl": "the WSDL: a file (relative to the configuration's folder) or a URL on the connector's host",
    "service": "the WSDL's service, when it has several",
    "port": "the service's port, when it has several (SOAP 1.1 or 1.2 binding)",
    "retryable_faults": "fault codes or strings that are worth trying again (the provider's 'busy')",
    "reply_xsd": "an XSD file every reply element must match, facets included (the WSDL's parsing checks structure only)",
    "namespaces": "XPath prefixes to namespace URIs, for replies read with xpath",
    "datasets": "by dataset name: operation and request (or calls), key_formats, reply, not_found, schema",
}
REST_OPTIONS = {
    "openapi": "the OpenAPI document (3.0 or 3.1): a file or a URL on the connector's host",
    "datasets": "by dataset name: operation (operationId) or method and path, parameters, key_formats, reply, not_found, pages, schema",
}
_SOAP_DATASET = {"operation", "request", "calls", "key_formats", "reply", "not_found", "schema"}
_SOAP_CALL = {"operation", "request"}
_REST_DATASET = {
    "operation",
    "parameters",
    "method",
    "path",
    "query",
    "headers",
    "body",
    "reply",
    "not_found",
    "list",
    "pages",
    "schema",
    "key_formats",
}
_PAGES = {"next", "page_param", "max_pages"}


@dataclass(frozen=True, slots=True)
class Pages:
    """A list that comes a page at a time: ``next`` a pointer to the next page's link in the reply,
    or ``page_param`` a query parameter counted from 1; never more than ``max_pages``."""

    next: str | None = None
    page_param: str | None = None
    max_pages: int = 10


@dataclass(frozen=True, slots=True)
class KeyFormat:
    """The form one key of the subject must have before anything is sent to the provider: an
    identifier format of :data:`router.identifiers.FORMATS`, or a regular expression."""

    key: str
    fits: Callable[[str], bool]
    description: str


@dataclass(frozen=True, slots=True)
class SoapCall:
    """One of the operations a SOAP dataset calls at the same time (``calls:``); its reply is
    under ``name`` in the data the mapping reads."""

    name: str
    operation: str
    request: Template = None


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    name: str
    operation: str  # the WSDL operation, or the OpenAPI operationId ("" with method and path)
    reply: ObjectNode
    not_found: NotFoundRules
    request: Template = None  # SOAP: the request element's content
    schema: Path | None = None
    # REST
    method: str = "GET"
    path: Template = None
    query: Template = None
    headers: Template = None
    parameters: Template = None  # by the OpenAPI operation's parameter names (path, query, header)
    body: Template = None
    items: str | None = None  # a list reply: the pointer of its items (one record per item)
    pages: Pages | None = None
    xml: bool = False  # the reply mapping reads the XML reply element with XPath (SOAP)
    key_formats: tuple[KeyFormat, ...] = ()
    # SOAP: several operations called at the same time instead of ``operation`` and ``request``
    calls: tuple[SoapCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    document: str | None  # a file's absolute path, or a URL
    datasets: Mapping[str, DatasetSpec]
    service: str | None = None
    port: str | None = None
    retryable_faults: frozenset[str] = field(default_factory=frozenset)
    reply_xsd: str | None = None  # SOAP: a file's absolute path


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def same_origin(location: str, url: str) -> bool:
    a, b = urlsplit(location), urlsplit(url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _document(
    raw: Any, name: str, folder: Path, url: str, problems: list[SpecProblem], *, required: bool
) -> str | None:
    if raw is None:
        if required:
            problems.append(
                SpecProblem((name,), f"the {name} is required", f"write {name}: contracts/service.{name}")
            )
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append(
            SpecProblem((name,), f"the {name} is a file or a URL", f"write {name}: contracts/service.{name}")
        )
        return None
    if is_url(raw):
        if not same_origin(raw, url):
            problems.append(
                SpecProblem(
                    (name,),
                    f"the {name} URL is not on the connector's host ({urlsplit(url).netloc})",
                    f"save the document beside the configuration and name the file, or serve it from {urlsplit(url).netloc}",
                )
            )
        return raw
    candidate = Path(raw).expanduser()
    path = candidate if candidate.is_absolute() else (folder / candidate).resolve()
    if not path.is_file():
        problems.append(
            SpecProblem(
                (name,),
                f"'{raw}' is not a file",
                f"give the {name} file's path, relative to the configuration's folder",
            )
        )
    return str(path)


def _string(raw: Mapping[str, Any], key: str, path: SpecPath, problems: list[SpecProblem]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(SpecProblem((*path, key), f"{key} is a name", f"write {key}: <name>"))
        return None
    return value


def _schema(raw: Mapping[str, Any], path: SpecPath, folder: Path, problems: list[SpecProblem]) -> Path | None:
    value = raw.get("schema")
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(
            SpecProblem(
                (*path, "schema"), "schema is a JSON Schema file", "write schema: contracts/dataset.json"
            )
        )
        return None
    candidate = Path(value).expanduser()
    file = candidate if candidate.is_absolute() else (folder / candidate).resolve()
    if not file.is_file():
        problems.append(
            SpecProblem(
                (*path, "schema"),
                f"'{value}' is not a file",
                "give the JSON Schema file's path, relative to the configuration's folder",
            )
        )
    return file


def _datasets(raw: Any, problems: list[SpecProblem]) -> list[tuple[str, Mapping[str, Any], SpecPath]]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            SpecProblem(
                ("datasets",),
                "the connector provides datasets: list them",
                "write datasets: {land.parcel: {operation: ..., reply: {...}}}",
            )
        )
        return []
    found = []
    for name, entry in raw.items():
        here: SpecPath = ("datasets", str(name))
        if not isinstance(name, str) or DATASET_NAME.fullmatch(name) is None:
            problems.append(
                SpecProblem(
                    here, f"'{name}' is not a dataset name", "write a dataset name such as land.parcel"
                )
            )
            continue
        if not isinstance(entry, Mapping):
            problems.append(
                SpecProblem(here, "a dataset's mapping is a mapping", "write {operation: ..., reply: {...}}")
            )
            continue
        found.append((name, entry, here))
    return found


def _unknown(
    entry: Mapping[str, Any], known: set[str], path: SpecPath, what: str, problems: list[SpecProblem]
) -> None:
    for key in entry:
        if key not in known:
            problems.append(
                SpecProblem(
                    (*path, str(key)), f"a {what} takes no '{key}'", f"use {', '.join(sorted(known))}"
                )
            )


# The key names of the catalogue's datasets, by name: a placeholder {subject.<key>} must name one
# of its dataset's (None where the catalogue is not known: any key name is taken)
DatasetKeys = Mapping[str, tuple[str, ...]] | None


def soap_spec(
    options: Mapping[str, Any], folder: Path, url: str, keys: DatasetKeys = None
) -> tuple[ServiceSpec, list[SpecProblem]]:
    problems: list[SpecProblem] = []
    document = _document(options.get("wsdl"), "wsdl", folder, url, problems, required=True)
    faults = options.get("retryable_faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, str) and f for f in faults):
        problems.append(
            SpecProblem(
                ("retryable_faults",),
                "retryable_faults lists fault codes",
                "write retryable_faults: [BUSY, TIMEOUT]",
            )
        )
        faults = []
    namespaces = _namespaces(options.get("namespaces", {}), problems)
    reply_xsd = _document(options.get("reply_xsd"), "reply_xsd", folder, url, problems, required=False)
    if reply_xsd is not None and is_url(reply_xsd):
        problems.append(
            SpecProblem(
                ("reply_xsd",),
                "the reply XSD is a file",
                "save the XSD beside the configuration and name the file: reply_xsd: contracts/service.xsd",
            )
        )
    datasets = {}
    for name, entry, here in _datasets(options.get("datasets"), problems):
        known = keys.get(name) if keys is not None else None
        _unknown(entry, _SOAP_DATASET, here, "SOAP dataset", problems)
        operation = _string(entry, "operation", here, problems)
        reply = compile_fields(entry.get("reply"), (*here, "reply"), problems, namespaces=namespaces)
        calls = _calls(entry.get("calls"), (*here, "calls"), known, problems)
        if calls and ("operation" in entry or "request" in entry):
            problems.append(
                SpecProblem(
                    here,
                    "a dataset names one operation or several calls",
                    "keep operation and request, or calls",
                )
            )
        elif operation is None and not calls:
            problems.append(
                SpecProblem(
                    (*here, "operation"),
                    "the dataset names its operation",
                    "write operation: <the WSDL operation>",
                )
            )
        if calls and uses_xpath(reply):
            problems.append(
                SpecProblem(
                    (*here, "reply"),
                    "XPath reads the reply of one operation; this dataset has several calls",
                    "write JSON pointers starting with the call's name",
                )
            )
        datasets[name] = DatasetSpec(
            name=name,
            operation=operation or "",
            request=compile_template(entry.get("request", {}), (*here, "request"), known, problems),
            reply=reply,
            not_found=compile_not_found(entry.get("not_found"), (*here, "not_found"), problems),
            schema=_schema(entry, here, folder, problems),
            xml=uses_xpath(reply),
            key_formats=_key_formats(entry.get("key_formats"), (*here, "key_formats"), known, problems),
            calls=calls,
        )
    spec = ServiceSpec(
        document,
        datasets,
        service=_string(options, "service", (), problems),
        port=_string(options, "port", (), problems),
        retryable_faults=frozenset(faults),
        reply_xsd=reply_xsd,
    )
    return spec, problems


def _namespaces(raw: Any, problems: list[SpecProblem]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k) and isinstance(v, str) and v
        for k, v in raw.items()
    ):
        problems.append(
            SpecProblem(
                ("namespaces",),
                "namespaces maps prefixes to namespace URIs",
                "write namespaces: {land: urn:...}",
            )
        )
        return {}
    return dict(raw)


def rest_spec(
    options: Mapping[str, Any], folder: Path, url: str, keys: DatasetKeys = None
) -> tuple[ServiceSpec, list[SpecProblem]]:
    problems: list[SpecProblem] = []
    document = _document(options.get("openapi"), "openapi", folder, url, problems, required=False)
    datasets = {}
    for name, entry, here in _datasets(options.get("datasets"), problems):
        known = keys.get(name) if keys is not None else None
        _unknown(entry, _REST_DATASET, here, "REST dataset", problems)
        operation = _string(entry, "operation", here, problems)
        method = str(entry.get("method", "GET")).upper()
        if method not in METHODS:
            problems.append(
                SpecProblem(
                    (*here, "method"), f"no method '{method[:10]}'", f"use one of {', '.join(METHODS)}"
                )
            )
        path_template = entry.get("path")
        if operation is None and path_template is None:
            problems.append(
                SpecProblem(
                    here,
                    "the dataset names its operation (operationId) or its path",
                    "write operation: getParcel, or path: /parcels/{subject.parcel_id}",
                )
            )
        if operation is not None and ("path" in entry or "method" in entry):
            problems.append(
                SpecProblem(
                    here, "an operationId gives the method and path", "keep operation, or method and path"
                )
            )
        if "parameters" in entry and operation is None:
            problems.append(
                SpecProblem(
                    (*here, "parameters"),
                    "parameters are an OpenAPI operation's",
                    "use path and query without an operationId",
                )
            )
        if operation is not None and document is None:
            problems.append(
                SpecProblem(
                    (*here, "operation"),
                    "an operationId needs the OpenAPI document",
                    "add openapi: <file or URL>, or write method and path",
                )
            )
        if isinstance(path_template, str) and not path_template.startswith("/"):
            problems.append(
                SpecProblem(
                    (*here, "path"), "the path starts with '/'", "write path: /resources/{subject.id}"
                )
            )
        items = entry.get("list")
        if items is not None:
            items = _list_pointer(items, (*here, "list"), problems)
        datasets[name] = DatasetSpec(
            name=name,
            operation=operation or "",
            method=method,
            path=compile_template(path_template, (*here, "path"), known, problems) if path_template else None,
            query=compile_template(entry.get("query", {}), (*here, "query"), known, problems),
            parameters=compile_template(entry.get("parameters", {}), (*here, "parameters"), known, problems),
            headers=compile_template(entry.get("headers", {}), (*here, "headers"), known, problems),
            body=compile_template(entry["body"], (*here, "body"), known, problems)
            if "body" in entry
            else None,
            reply=compile_fields(entry.get("reply"), (*here, "reply"), problems),
            not_found=compile_not_found(entry.get("not_found"), (*here, "not_found"), problems),
            items=items,
            pages=_pages(entry.get("pages"), (*here, "pages"), items, problems),
            schema=_schema(entry, here, folder, problems),
            key_formats=_key_formats(entry.get("key_formats"), (*here, "key_formats"), known, problems),
        )
    return ServiceSpec(document, datasets), problems


def _list_pointer(raw: Any, path: SpecPath, problems: list[SpecProblem]) -> str | None:
    if not valid_pointer(raw):
        problems.append(SpecProblem(path, "list is the pointer of the reply's items", "write list: /items"))
        return None
    return str(raw)


def _pages(raw: Any, path: SpecPath, items: str | None, problems: list[SpecProblem]) -> Pages | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(
            SpecProblem(path, "pages is a mapping", "write pages: {next: /links/next} or {page_param: page}")
        )
        return None
    _unknown(raw, _PAGES, path, "pages setting", problems)
    if items is None:
        problems.append(
            SpecProblem(path, "pages need a list reply", "add list: /items, the pointer of the items")
        )
    if ("next" in raw) == ("page_param" in raw):
        problems.append(
            SpecProblem(
                path,
                "pages follow a next link or count a page parameter",
                "give next or page_param, one of them",
            )
        )
    limit = raw.get("max_pages", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGES:
        problems.append(
            SpecProblem((*path, "max_pages"), f"max_pages is from 1 to {MAX_PAGES}", "write max_pages: 10")
        )
        limit = 10
    next_link = raw.get("next")
    if next_link is not None:
        next_link = _list_pointer(next_link, (*path, "next"), problems)
    page_param = raw.get("page_param")
    if page_param is not None and (not isinstance(page_param, str) or not page_param):
        problems.append(
            SpecProblem(
                (*path, "page_param"), "page_param is a query parameter's name", "write page_param: page"
            )
        )
        page_param = None
    return Pages(next_link, page_param, limit)


def _calls(
    raw: Any, path: SpecPath, keys: tuple[str, ...] | None, problems: list[SpecProblem]
) -> tuple[SoapCall, ...]:
    """``calls: {vehicle: {operation: A, request: {...}}, badges: {operation: B, ...}}``."""
    if raw is None:
        return ()
    fix = "write calls: {name: {operation: <the WSDL operation>, request: {...}}, ...}"
    if not isinstance(raw, Mapping) or not raw:
        problems.append(SpecProblem(path, "calls maps names to operations and their requests", fix))
        return ()
    calls = []
    for name, entry in raw.items():
        here = (*path, str(name))
        if not isinstance(name, str) or _CALL_NAME.fullmatch(name) is None:
            problems.append(
                SpecProblem(here, f"'{str(name)[:40]}' is not a call's name", "write a name such as vehicle")
            )
            continue
        if not isinstance(entry, Mapping):
            problems.append(SpecProblem(here, "a call is a mapping", fix))
            continue
        _unknown(entry, _SOAP_CALL, here, "call", problems)
        operation = _string(entry, "operation", here, problems)
        if operation is None:
            problems.append(
                SpecProblem(
                    (*here, "operation"),
                    "the call names its operation",
                    "write operation: <the WSDL operation>",
                )
            )
        request = compile_template(entry.get("request", {}), (*here, "request"), keys, problems)
        calls.append(SoapCall(name, operation or "", request))
    return tuple(calls)


_CALL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _key_formats(
    raw: Any, path: SpecPath, keys: tuple[str, ...] | None, problems: list[SpecProblem]
) -> tuple[KeyFormat, ...]:
    """``key_formats: {personal_id: vn-personal-id, plate: {pattern: '[0-9]{2}[A-Z]-[0-9]{4}'}}``:
    a key that does not have its form is refused before the provider is called, and never quoted."""
    if raw is None:
        return ()
    fix = "write key_formats: {personal_id: vn-personal-id} or {plate: {pattern: <regular expression>}}"
    if not isinstance(raw, Mapping) or not raw:
        problems.append(SpecProblem(path, "key_formats maps the dataset's keys to their forms", fix))
        return ()
    found = []
    for key, form in raw.items():
        here = (*path, str(key))
        if keys is not None and key not in keys:
            problems.append(
                SpecProblem(here, f"the dataset has no key '{str(key)[:64]}'", f"use {', '.join(keys)}")
            )
            continue
        if isinstance(form, str) and form in FORMATS:
            found.append(KeyFormat(str(key), FORMATS[form], DESCRIPTIONS.get(form, form)))
        elif isinstance(form, Mapping) and set(form) == {"pattern"} and isinstance(form["pattern"], str):
            try:
                pattern = re.compile(form["pattern"])
            except re.error as error:
                problems.append(SpecProblem((*here, "pattern"), f"not a regular expression ({error})", fix))
                continue
            found.append(KeyFormat(str(key), _matcher(pattern), f"in the form {form['pattern']}"))
        else:
            problems.append(
                SpecProblem(
                    here,
                    "a key's form is an identifier format or {pattern: ...}",
                    f"use one of {', '.join(sorted(FORMATS))}, or {{pattern: <regular expression>}}",
                )
            )
    return tuple(found)


def _matcher(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    def fits(value: str) -> bool:
        return pattern.fullmatch(value) is not None

    return fits
