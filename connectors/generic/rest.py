"""``kind: rest``: datasets from a REST/JSON service, mapped as configured: a method and a path
template (``/parcels/{subject.parcel_id}``, each value put in as one encoded path segment), query
parameters and headers from the query, the reply mapped with JSON pointers, "not found" by status
or body, a list reply read a page at a time up to a hard cap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from adapters.rest import RestEndpoint, RestProvider
from connectors.generic.auth import OutboundAuth, outbound_auth
from connectors.generic.problems import SpecProblems
from connectors.generic.records import check, record_of, record_schemas
from connectors.generic.replies import at, map_record
from connectors.generic.spec import DatasetSpec, ServiceSpec, rest_spec
from connectors.generic.templates import fill, values_of
from connectors.provider_connector import ProviderConnector
from router.providers import (
    DataRequest,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderFault,
    SubjectNotFound,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings


class RestDatasets:
    """The data provider of a ``kind: rest`` connector."""

    def __init__(self, name: str, spec: ServiceSpec, provider: RestProvider, auth: OutboundAuth) -> None:
        self._name = name
        self.spec = spec
        self.rest = provider
        self.auth = auth
        self.schemas = record_schemas(spec.datasets)
        self.datasets = frozenset(spec.datasets)

    @property
    def name(self) -> str:
        return self._name

    @property
    def circuit_state(self) -> str:
        return self.rest.circuit_state

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        spec = self.spec.datasets.get(request.dataset)
        if spec is None:
            raise InvalidProviderRequest(
                f"{self.name} does not provide {request.dataset}", provider=self.name
            )
        values = values_of(request)
        segments = {name: quote(value, safe="") for name, value in values.items()}
        path = fill(spec.path, segments)
        query = {str(k): str(v) for k, v in (fill(spec.query, values) or {}).items() if v not in (None, "")}
        headers = {str(k): str(v) for k, v in (fill(spec.headers, values) or {}).items()}
        body = fill(spec.body, values) if spec.body is not None else None
        try:
            if spec.items is None:
                reply = await self._call(spec, path, query, headers, body, request)
                return record_of(spec, reply, self.schemas.get(spec.name), self.name)
            return await self._list(spec, path, query, headers, body, request)
        except ProviderFault as fault:
            if fault.fault_code.isdigit() and spec.not_found.status(int(fault.fault_code)):
                raise SubjectNotFound(
                    f"{self.name} holds no record for this {spec.name} request", provider=self.name
                ) from None
            raise

    async def _list(
        self,
        spec: DatasetSpec,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        request: DataRequest,
    ) -> dict[str, Any]:
        """A list reply: one record per item, under ``items`` of the dataset's record."""
        assert spec.items is not None
        records: list[Any] = []
        pages = spec.pages
        limit = pages.max_pages if pages is not None else 1
        target = path
        for page in range(1, limit + 1):
            if pages is not None and pages.page_param is not None:
                query = {**query, pages.page_param: str(page)}
            reply = await self._call(spec, target, query, headers, body, request)
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
            if pages.next is not None:
                link = at(reply, pages.next)
                if not isinstance(link, str) or not link:
                    break
                target = self._same_host(link)
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

    def _same_host(self, link: str) -> str:
        """A next-page link: a path, or a URL on the provider's own host (never another)."""
        parts, base = urlsplit(link), urlsplit(self.rest.endpoint.base_url)
        if not parts.scheme and not parts.netloc and link.startswith("/"):
            return link
        if (parts.scheme, parts.hostname, parts.port) != (base.scheme, base.hostname, base.port):
            raise InvalidProviderReply(
                f"{self.name}: the next page's link leads to another host", provider=self.name
            )
        return link

    async def _call(
        self,
        spec: DatasetSpec,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: Any,
        request: DataRequest,
    ) -> Any:
        context = request.context
        for attempt in (1, 2):
            auth = await self.auth.headers()
            try:
                return await self.rest.request(
                    spec.method,
                    path,
                    params=query or None,
                    json=body,
                    headers={**headers, **auth},
                    deadline=context.deadline,
                    traceparent=context.traceparent,
                )
            except ProviderFault as fault:
                if (
                    fault.fault_code != "401"
                    or attempt == 2
                    or not await self.auth.refresh_after_unauthorized()
                ):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self.rest.aclose()
        await self.auth.aclose()


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
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
    )
    auth = outbound_auth(settings.name, settings.auth, settings.call_policy.timeout_s)
    return ProviderConnector(
        RestDatasets(settings.name, spec, RestProvider(endpoint, deps.rest_client), auth)
    )
