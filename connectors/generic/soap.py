"""``kind: soap``: datasets from a SOAP service described by its WSDL, mapped as configured.

The WSDL is a file beside the configuration or a URL on the service's own host; it and what it
imports are loaded under :class:`adapters.soap.ContractSources`' rules (no DTD, no other host, a
size cap). zeep parses replies strictly against the WSDL's types; the mapped record is then
checked against the dataset's schema file (and by the bus against the shipped dataset schema).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from adapters.soap import SoapEndpoint, SoapProvider
from connectors.client_auth import outbound_auth
from connectors.generic.contract_check import soap_problems
from connectors.generic.problems import SpecProblem, SpecProblems
from connectors.generic.records import not_found_fault, record_of, record_schemas, requested_dataset
from connectors.generic.spec import DatasetSpec, ServiceSpec, is_url, soap_spec
from connectors.generic.templates import fill, values_of
from connectors.provider_connector import ProviderConnector
from router.providers import (
    DataRequest,
    InvalidProviderContract,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
    SubjectNotFound,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings


class SoapDatasets:
    """The data provider of a ``kind: soap`` connector."""

    def __init__(self, name: str, spec: ServiceSpec, provider: SoapProvider) -> None:
        self._name = name
        self.spec = spec
        self.soap = provider
        self.schemas = record_schemas(spec.datasets)
        self.datasets = frozenset(spec.datasets)
        # by operation: the one child zeep takes out of its reply element, put back by fetch
        self._unwrapped: dict[str, str | None] | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def circuit_state(self) -> str:
        return self.soap.circuit_state

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        spec = requested_dataset(self.spec.datasets, request, self.name)
        values = values_of(request)
        kept: list[Any] | None = [] if spec.xml else None
        try:
            if spec.calls:
                # several operations at the same time, each reply under its call's name; every
                # call ends before the lookup does (none left running), the first failure raised
                replies = await asyncio.gather(
                    *(self._reply(c.operation, fill(c.request, values), request, None) for c in spec.calls),
                    return_exceptions=True,
                )
                failed = next((r for r in replies if isinstance(r, BaseException)), None)
                if failed is not None:
                    raise failed
                reply: Any = {c.name: r for c, r in zip(spec.calls, replies, strict=True)}
            else:
                reply = await self._reply(spec.operation, fill(spec.request, values), request, kept)
        except ProviderFault as fault:
            if not_found_fault(spec.not_found, fault):
                raise SubjectNotFound(
                    f"{self.name} holds no record for this {spec.name} request", provider=self.name
                ) from None
            raise
        # XPath reads the reply element: the first element in the last reply's SOAP Body
        element = next((e for e in kept[-1] if isinstance(e.tag, str)), None) if kept else None
        return record_of(spec, reply, self.schemas.get(spec.name), self.name, element)

    async def _reply(self, operation: str, payload: Any, request: DataRequest, kept: list[Any] | None) -> Any:
        """The reply of one operation as the mapping reads it (the reply element's content)."""
        context = request.context
        reply = await self._call(operation, payload, context.deadline, context.traceparent, kept)
        if self._unwrapped is None:
            self._unwrapped = {
                name: unwrapped_child(op) for name, op in (await self.soap.operations()).items()
            }
        child = self._unwrapped.get(operation)
        return {child: reply} if child is not None else reply

    async def _call(
        self,
        operation: str,
        payload: Any,
        deadline: float | None,
        traceparent: str | None,
        kept: list[Any] | None = None,
    ) -> Any:
        # the endpoint's credentials go on each request, renewed once after a 401 (adapters.soap)
        return await self.soap.call(
            operation, payload, deadline=deadline, traceparent=traceparent, keep_reply=kept
        )

    async def check_contract(self) -> None:
        """Loads the WSDL and checks that each dataset's operation is in the bound port."""
        operations = await self.soap.operations()
        missing = [
            f"{s.name}: {operation}"
            for s in self.spec.datasets.values()
            for operation in operations_of(s)
            if operation not in operations
        ]
        if missing:
            raise InvalidProviderContract(
                f"{self.name}: the WSDL's port has no operation for {'; '.join(missing)}; it has {', '.join(sorted(operations))}"
            )

    async def aclose(self) -> None:
        await self.soap.aclose()


def operations_of(spec: DatasetSpec) -> tuple[str, ...]:
    """The operations a dataset calls."""
    return tuple(c.operation for c in spec.calls) if spec.calls else (spec.operation,)


def unwrapped_child(operation: Any) -> str | None:
    """The name of the reply element's only child, when it has one and no attribute: zeep then
    returns that child's content, and paths (``/ThuaDat/MaThuaDat``) would depend on how many
    children the reply has; the kind puts the child back so that they never do."""
    try:
        body = operation.output.body
        if body.type.elements and len(body.type.elements) == 1 and operation.binding is not None:
            style = getattr(operation, "style", "document")
            inner = body.type if style == "document" else body.type.elements[0][1].type
        else:
            return None
        children, attributes = inner.elements, inner.attributes
    except AttributeError:  # a simple type, no body: nothing is taken out
        return None
    if len(children) == 1 and not attributes:
        name: str = children[0][0]
        return name
    return None


class SoapConnector(ProviderConnector):
    def __init__(self, provider: SoapDatasets) -> None:
        super().__init__(provider)
        self.datasets_provider = provider

    async def start(self) -> None:
        """A WSDL file is checked now (a mistake stops the start); one served by the registry is
        loaded on the first lookup, so that a registry down at start delays only its datasets."""
        if not is_url(self.datasets_provider.spec.document or ""):
            await self.datasets_provider.check_contract()

    async def contract_problems(self) -> list[SpecProblem]:
        """What ``config check`` finds against the WSDL (loaded from its file or URL)."""
        provider = self.datasets_provider
        try:
            operations = await provider.soap.operations()
        except (ProviderUnavailable, ProviderTimeout):
            raise  # not the configuration's fault: the caller says it could not check
        except ProviderError as error:
            return [
                SpecProblem(
                    ("wsdl",), f"the WSDL cannot be used: {error.detail}", "fix the WSDL or its location"
                )
            ]
        return [
            problem
            for name, spec in provider.spec.datasets.items()
            for problem in soap_problems(("datasets", name), spec, operations)
        ]


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> SoapConnector:
    """``connectors: [{kind: soap, url, auth?, tls?, options: {wsdl, service?, port?,
    retryable_faults?, reply_xsd?, datasets}}]``."""
    folder = deps.config_dir or deps.data_dir
    spec, problems = soap_spec(settings.options, folder, settings.url)
    if problems:
        raise SpecProblems(problems).config_error()
    assert spec.document is not None  # required: a problem otherwise
    endpoint = SoapEndpoint(
        name=settings.name,
        wsdl=spec.document,
        address=settings.url,
        service=spec.service,
        port=spec.port,
        policy=settings.call_policy,
        retryable_faults=spec.retryable_faults,
        reply_xsd=spec.reply_xsd,
        client_cert=settings.tls.client_cert,
        ca_file=settings.tls.ca_file,
        auth=outbound_auth(settings, deps.metrics_registry, platform_tokens=deps.platform_tokens),
        guarded_contract=True,
    )
    return SoapConnector(SoapDatasets(settings.name, spec, SoapProvider(endpoint)))
