"""The business registry connector: ``business.registration`` over REST/JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.outbound_auth import OAuth2ClientCredentials, OutboundAuth
from adapters.provider_http import AiohttpClient, ClientFactory
from adapters.rest import RestEndpoint, RestProvider
from connectors.business import mapping
from connectors.business.contract import ENTERPRISES
from connectors.client_auth import outbound_auth
from connectors.provider_connector import ProviderConnector, RegistryProvider, check_options
from router.identifiers import is_personal_id, is_tax_code
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderRequest,
    ProviderFault,
    RequestContext,
    SubjectNotFound,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings


class BusinessConnector:
    def __init__(self, provider: RestProvider) -> None:
        self.provider = provider

    @property
    def circuit_state(self) -> str:
        return self.provider.circuit_state

    async def business_registration(
        self, tax_code: str, context: RequestContext | None = None
    ) -> dict[str, Any]:
        # checked before it becomes part of a URL path. The registry holds enterprises, whose code
        # is never 12 digits: a personal ID (the tax code of an individual or a household
        # business) is refused, and not quoted back.
        if is_personal_id(tax_code):
            raise InvalidProviderRequest(
                "a 12-digit personal ID is the tax code of an individual or a household business; "
                "the business registry holds enterprises, whose code is 10 or 13 digits"
            )
        if not is_tax_code(tax_code):
            # not quoted: a 10-digit code may be an individual's
            raise InvalidProviderRequest("the key is not a tax code: 10 digits, or 13 (10 and a branch)")
        context = context or RequestContext()
        reply = await self.provider.get(
            f"{ENTERPRISES}/{tax_code}", deadline=context.deadline, traceparent=context.traceparent
        )
        return mapping.business_registration(reply)

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(
    base_url: str,
    *,
    policy: CallPolicy | None = None,
    oauth2: OAuth2ClientCredentials | None = None,
    name: str = "business",
    client_cert: tuple[str, str] | None = None,
    ca_file: str | None = None,
    client: ClientFactory = AiohttpClient,
    auth: OutboundAuth | None = None,
) -> BusinessConnector:
    """``client_cert`` (certificate file, key file) for mutual TLS; ``ca_file`` a private CA."""
    endpoint = RestEndpoint(
        name=name,
        base_url=base_url,
        policy=policy or CallPolicy(),
        oauth2=oauth2,
        client_cert=client_cert,
        ca_file=ca_file,
        auth=auth,
    )
    return BusinessConnector(RestProvider(endpoint, client))


class BusinessProvider(RegistryProvider[BusinessConnector]):
    """The business registry as a data provider: ``business.registration`` keyed by ``tax_code``."""

    datasets = frozenset({"business.registration"})

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        if request.dataset != "business.registration":
            raise InvalidProviderRequest(
                f"{self.name} does not provide {request.dataset}", provider=self.name
            )
        tax_code = request.key.get("tax_code", "")
        try:
            return await self.connector.business_registration(tax_code, request.context)
        except ProviderFault as fault:
            if fault.fault_code == "404":
                raise SubjectNotFound(f"no enterprise with tax code {tax_code}", provider=self.name) from None
            raise


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
    """``connectors: [{kind: business, url}]``: the registry's REST API, no options."""
    check_options(settings.options, {})
    return ProviderConnector(
        BusinessProvider(
            connect(
                settings.url,
                policy=settings.call_policy,
                name=settings.name,
                client_cert=settings.tls.client_cert,
                ca_file=settings.tls.ca_file,
                client=deps.rest_client,
                auth=outbound_auth(settings, deps.metrics_registry),
            ),
            settings.name,
        )
    )
