"""The catalogue's port (:class:`connectors.portal.catalogue.CatalogueCalls`) on the connector's
portal client: the service on the integration or the share endpoint, answering the reply's
``result`` array (a session the portal refused is renewed by the client, as for dossier calls).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.portal.catalogue import CatalogueError, Endpoint
from connectors.portal.session import PortalClient, PortalError


@dataclass(frozen=True, slots=True)
class ClientCatalogueCalls:
    client: PortalClient

    async def call(
        self, service: str, fields: Mapping[str, Any], *, endpoint: Endpoint
    ) -> Sequence[Mapping[str, Any]]:
        try:
            reply = await self.client.call(service, fields, endpoint=endpoint)
        except PortalError as error:
            raise CatalogueError(f"{service}: {error.detail}") from None
        if not reply.ok:
            raise CatalogueError(f"{service} refused: error_code {reply.code}: {reply.message}")
        if not isinstance(reply.result, list):
            self.client.metrics.call(service, "malformed")
            raise CatalogueError(
                f"{service}: the reply's result is {type(reply.result).__name__}, not an array"
            )
        return reply.result
