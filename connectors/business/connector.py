"""The business registry connector: ``business.registration`` over REST/JSON."""

from __future__ import annotations

from typing import Any

from adapters.rest import OAuth2ClientCredentials, RestEndpoint, RestProvider
from connectors.business import mapping
from router.providers import CallPolicy, InvalidProviderRequest, RequestContext
from schemas.formats import is_tax_code


class BusinessConnector:
    def __init__(self, provider: RestProvider) -> None:
        self.provider = provider

    async def business_registration(
        self, tax_code: str, context: RequestContext | None = None
    ) -> dict[str, Any]:
        # checked before it becomes part of a URL path
        if not is_tax_code(tax_code):
            raise InvalidProviderRequest(f"{tax_code!r} is not a tax code")
        context = context or RequestContext()
        reply = await self.provider.get(f"/api/v1/enterprises/{tax_code}", deadline=context.deadline)
        return mapping.business_registration(reply)

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(
    base_url: str,
    *,
    policy: CallPolicy | None = None,
    oauth2: OAuth2ClientCredentials | None = None,
    name: str = "business",
) -> BusinessConnector:
    endpoint = RestEndpoint(name=name, base_url=base_url, policy=policy or CallPolicy(), oauth2=oauth2)
    return BusinessConnector(RestProvider(endpoint))
