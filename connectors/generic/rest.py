"""``kind: rest``: datasets from a REST/JSON service, mapped as configured: a method and a path
template (``/parcels/{subject.parcel_id}``, each value put in as one encoded path segment, ``.``
and ``..`` refused), query
parameters and headers from the query, the reply mapped with JSON pointers, "not found" by status
or body, a list reply read a page at a time up to a hard cap."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from adapters.rest import RestEndpoint, RestProvider
from connectors.client_auth import outbound_auth
from connectors.generic.contract_check import rest_problems
from connectors.generic.openapi import MAX_DOCUMENT_BYTES, OpenApiDocument, Operation, read, read_file
from connectors.generic.problems import SpecProblem, SpecProblems
from connectors.generic.records import check, record_of, record_schemas, requested_dataset
from connectors.generic.replies import at, map_record
from connectors.generic.spec import DatasetSpec, ServiceSpec, is_url, rest_spec
from connectors.generic.templates import fill, values_of
from connectors.provider_connector import ProviderConnector
from router.providers import (
    DataRequest,
    InvalidProviderContract,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
    SubjectNotFound,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings
    from schemas.validation import CompiledSchema

_PATH_PARAMETER = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True, slots=True)
class Call:
    """One request, ready to send: what a dataset's mapping and the query make of it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    schema: CompiledSchema | None = None  # the OpenAPI operation's reply schema


class RestDatasets:
    """The data provider of a ``kind: rest`` connector."""

    def __init__(self, name: str, spec: ServiceSpec, provider: RestProvider) -> None:
        self._name = name
        self.spec = spec
        self.rest = provider
        self.schemas = record_schemas(spec.datasets)
        self.datasets = frozenset(spec.datasets)
        self._contract: OpenApiDocument | None = None
        self._contract_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    async def contract(self) -> OpenApiDocument:
        """The OpenAPI document, read once: from its file, or from the connector's own host."""
        async with self._contract_lock:
            if self._contract is None:
                location = self.spec.document
                assert location is not None  # only datasets by operationId ask
                if is_url(location):
                    self._contract = await read(await self._served(location))
                else:
                    self._contract = await read(await asyncio.to_thread(read_file, location))
            return self._contract

    async def _served(self, url: str) -> bytes:
        """The OpenAPI document as the provider serves it (JSON or YAML: :func:`parse` reads
        either, with the same refusals as for a file)."""
        try:
            return await self.rest.document(url, MAX_DOCUMENT_BYTES)
        except InvalidProviderReply:  # the only one: a document past the cap
            raise InvalidProviderContract(
                f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes"
            ) from None

    async def check_contract(self) -> None:
        """Each dataset's operation is in the document, with the parameters it is given and all
        those it requires."""
        for spec in self.spec.datasets.values():
            if spec.operation:
                _arguments(spec, (await self.contract()).operation(spec.operation), {}, self.name)

    async def start(self) -> None:
        if self.spec.document is not None and not is_url(self.spec.document):
            await self.check_contract()

    @property
    def circuit_state(self) -> str:
        return self.rest.circuit_state

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        spec = requested_dataset(self.spec.datasets, request, self.name)
        call = await self._prepare(spec, values_of(request))
        try:
            if spec.items is None:
                reply = await self._call(call, request)
                return record_of(spec, reply, self.schemas.get(spec.name), self.name)
            return await self._list(spec, call, request)
        except ProviderFault as fault:
            if fault.fault_code.isdigit() and spec.not_found.status(int(fault.fault_code)):
                raise SubjectNotFound(
                    f"{self.name} holds no record for this {spec.name} request", provider=self.name
                ) from None
            raise

    async def _prepare(self, spec: DatasetSpec, values: Mapping[str, str]) -> Call:
        headers = {str(k): str(v) for k, v in (fill(spec.headers, values) or {}).items()}
        body = fill(spec.body, values) if spec.body is not None else None
        if spec.operation:
            contract = await self.contract()
            operation = contract.operation(spec.operation)
            path, query, named = _arguments(spec, operation, values, self.name)
            return Call(
                operation.method, path, query, {**headers, **named}, body, contract.reply_schema(operation)
            )
        # each value is one path segment: a '/' stays inside it, and '.' or '..' is refused
        segments = _Segments(values, self.name)
        query = {str(k): str(v) for k, v in (fill(spec.query, values) or {}).items() if v not in (None, "")}
        return Call(spec.method, fill(spec.path, segments), query, headers, body)

    async def _list(self, spec: DatasetSpec, call: Call, request: DataRequest) -> dict[str, Any]:
        """A list reply: one record per item, under ``items`` of the dataset's record."""
        assert spec.items is not None
        records: list[Any] = []
        pages = spec.pages
        limit = pages.max_pages if pages is not None else 1
        target, query = call.path, call.query
        full = 0  # the size of a full page: the first page's
        for page in range(1, limit + 1):
            if pages is not None and pages.page_param is not None:
                query = {**query, pages.page_param: str(page)}
            reply = await self._call(
                Call(call.method, target, query, call.headers, call.body, call.schema), request
            )
            found = at(reply, spec.items)
            if not isinstance(found, list):
                raise InvalidProviderReply(
                    f"{self.name}: the reply has no list at {spec.items}", provider=self.name
                )
            if not found:
                break
            records.extend(map_record(spec.reply, item) for item in found)
            if pages is None:
                break
            full = full or len(found)
            if pages.page_param is not None and len(found) < full:
                break  # a short page is the last
            if pages.next is not None:
                link = at(reply, pages.next)
                if not isinstance(link, str) or not link:
                    break
                target = self._next_page(link, target)
                query = {}
        else:
            if pages is not None and limit > 1:
                raise InvalidProviderReply(
                    f"{self.name}: the list goes on past {limit} pages, the configured cap",
                    provider=self.name,
                )
        if not records and (spec.not_found.empty or spec.not_found.statuses or spec.not_found.faults):
            raise SubjectNotFound(
                f"{self.name} holds no record for this {spec.name} request", provider=self.name
            )
        record = {"items": records}
        check(spec.name, record, self.schemas.get(spec.name), self.name)
        return record

    def _next_page(self, link: str, current: str) -> str:
        """A next-page link as an absolute URL, resolved against the page it came in (RFC 3986,
        section 5): ``/svc/records?page=2`` is a path from the provider's origin. The bus's
        credentials (a platform's token shared by every service on its gateway) go with the call,
        so the link must stay on the connector's scheme, host and port (``:443`` is an
        ``https`` URL's own) and under its base path (a platform service's path, ``../admin``
        and its percent-encoded forms included), without credentials of its own."""
        base = urlsplit(self.rest.endpoint.base_url)
        try:
            page = current if "://" in current else self.rest.endpoint.base_url.rstrip("/") + current
            parts = urlsplit(urljoin(page, link))
            place = (parts.scheme, parts.hostname, _port(parts))
            credentials = parts.username is not None or parts.password is not None
        except ValueError:  # a port that is not a number, an unclosed IPv6 bracket
            raise InvalidProviderReply(
                f"{self.name}: the next page's link is not a URL", provider=self.name
            ) from None
        if place != (base.scheme, base.hostname, _port(base)):
            raise InvalidProviderReply(
                f"{self.name}: the next page's link leads to another host", provider=self.name
            )
        if credentials:  # the HTTP client could send them in place of the bus's own
            raise InvalidProviderReply(
                f"{self.name}: the next page's link carries credentials", provider=self.name
            )
        path = _without_dot_segments(parts.path)
        if not _under(_without_dot_segments(_decoded_separators(parts.path)), base.path):
            raise InvalidProviderReply(
                f"{self.name}: the next page's link leads outside the service's path", provider=self.name
            )
        return parts._replace(path=path).geturl()

    async def _call(self, call: Call, request: DataRequest) -> Any:
        context = request.context
        # the endpoint's credentials go on each request, renewed once after a 401 (adapters.rest)
        return await self.rest.request(
            call.method,
            call.path,
            params=call.query or None,
            json=call.body,
            schema=call.schema,
            headers=dict(call.headers),
            deadline=context.deadline,
            traceparent=context.traceparent,
        )

    async def aclose(self) -> None:
        await self.rest.aclose()


def _arguments(
    spec: DatasetSpec, operation: Operation, values: Mapping[str, str], provider: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The path, query and headers of an OpenAPI operation from the dataset's ``parameters``."""
    given = fill(spec.parameters, values) or {}
    unknown = sorted(set(given) - set(operation.parameters))
    missing = sorted(n for n, p in operation.parameters.items() if p.required and n not in given)
    if unknown or missing:
        known = ", ".join(sorted(operation.parameters)) or "none"
        raise InvalidProviderContract(
            f"{spec.name}: operation {operation.operation_id} "
            + (f"has no parameter {', '.join(unknown)}" if unknown else f"requires {', '.join(missing)}")
            + f"; its parameters: {known}"
        )
    located = {name: operation.parameters[name].where for name in given}
    query = {n: str(v) for n, v in given.items() if located[n] == "query" and v not in (None, "")}
    headers = {n: str(v) for n, v in given.items() if located[n] == "header"}
    segments = {n: segment(str(v), provider) for n, v in given.items() if located[n] == "path"}
    path = _PATH_PARAMETER.sub(lambda m: segments.get(m.group(1), m.group(0)), operation.path)
    return path, query, headers


_DEFAULT_PORTS = {"http": 80, "https": 443}
_SEPARATORS = re.compile(r"%2e|%2f|%5c|\\", re.IGNORECASE)


def _port(parts: SplitResult) -> int | None:
    """The port a URL reaches: its own, or its scheme's."""
    return parts.port if parts.port is not None else _DEFAULT_PORTS.get(parts.scheme)


def _decoded_separators(path: str) -> str:
    """``path`` as a server that decodes percent-encoded dots and slashes, and reads a backslash
    as a slash, before resolving it reads it."""
    return _SEPARATORS.sub(lambda m: "." if m.group(0).lower() == "%2e" else "/", path)


def _without_dot_segments(path: str) -> str:
    """RFC 3986, section 5.2.4: ``/a/b/../c/./d`` is ``/a/c/d``."""
    out: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if len(out) > 1:
                out.pop()
        elif part != ".":
            out.append(part)
    ended = path.endswith(("/.", "/..")) and len(out) > 0
    return "/".join(out) + ("/" if ended else "") if out != [""] else "/"


def _under(path: str, base: str) -> bool:
    prefix = base.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def segment(value: str, provider: str) -> str:
    """``value`` as one path segment, encoded so that a '/' stays inside it. '.' and '..' are
    refused: resolving the URL's dot segments (RFC 3986, section 5.2.4) would climb out of the
    segment to another path on the provider, called with the bus's credentials."""
    if value in (".", ".."):
        raise InvalidProviderRequest(
            f"{provider}: a value put in the path cannot be a dot segment", provider=provider
        )
    return quote(value, safe="")


class _Segments(Mapping[str, str]):
    """A lookup's values as path segments (:func:`segment`), each checked as the path uses it."""

    def __init__(self, values: Mapping[str, str], provider: str) -> None:
        self._values, self._provider = values, provider

    def __getitem__(self, name: str) -> str:
        return segment(self._values[name], self._provider)

    def get(self, name: str, default: Any = None) -> Any:  # what Text.fill calls: one lookup
        return segment(self._values[name], self._provider) if name in self._values else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class RestConnector(ProviderConnector):
    def __init__(self, provider: RestDatasets) -> None:
        super().__init__(provider)
        self.datasets_provider = provider

    async def start(self) -> None:
        await self.datasets_provider.start()

    async def contract_problems(self) -> list[SpecProblem]:
        """What ``config check`` finds against the OpenAPI document (from its file or URL)."""
        provider = self.datasets_provider
        if provider.spec.document is None:
            return []
        try:
            contract = await provider.contract()
        except (ProviderUnavailable, ProviderTimeout):
            raise  # not the configuration's fault: the caller says it could not check
        except ProviderError as error:
            return [
                SpecProblem(
                    ("openapi",),
                    f"the OpenAPI document cannot be used: {error.detail}",
                    "fix the document or its location",
                )
            ]
        return [
            problem
            for name, spec in provider.spec.datasets.items()
            if spec.operation
            for problem in rest_problems(("datasets", name), spec, contract)
        ]


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> RestConnector:
    """``connectors: [{kind: rest, url, auth?, tls?, options: {openapi?, datasets}}]``."""
    folder = deps.config_dir or deps.data_dir
    spec, problems = rest_spec(settings.options, folder, settings.url)
    if problems:
        raise SpecProblems(problems).config_error()
    endpoint = RestEndpoint(
        name=settings.name,
        base_url=settings.url,
        policy=settings.call_policy,
        client_cert=settings.tls.client_cert,
        ca_file=settings.tls.ca_file,
        auth=outbound_auth(settings, deps.metrics_registry, platform_tokens=deps.platform_tokens),
    )
    return RestConnector(RestDatasets(settings.name, spec, RestProvider(endpoint, deps.rest_client)))
