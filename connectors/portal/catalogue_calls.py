"""The catalogue's port (:class:`connectors.portal.catalogue.CatalogueCalls`) on the connector's
portal client: the service on the integration or the share endpoint, in the session's envelope,
answering the reply's ``result`` array.

A session the portal calls expired is renewed and the call repeated once, as for dossier calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.portal import protocol
from connectors.portal.catalogue import CatalogueError, Endpoint
from connectors.portal.session import PortalClient, PortalError


@dataclass(frozen=True, slots=True)
class ClientCatalogueCalls:
    client: PortalClient
    paths: Mapping[Endpoint, str]  # endpoint -> the adapter's path

    async def call(
        self, service: str, fields: Mapping[str, Any], *, endpoint: Endpoint
    ) -> Sequence[Mapping[str, Any]]:
        try:
            session = await self.client.session()
            for attempt in range(2):
                body = {"session": session, "madonvi": self.client.credentials.agency, "service": service}
                data = await self.client._post(service, self.paths[endpoint], {**body, **fields})
                code = protocol.code_of(data["error_code"])[:40]
                outcome = self.client.codes.outcome(code)
                if outcome == "session_expired" and attempt == 0:
                    session = await self.client.session(stale=session)
                    continue
                self.client.metrics.call(service, outcome)
                if outcome != "ok":
                    message = str(data.get("message", ""))[:200]
                    raise CatalogueError(f"{service} refused: error_code {code}: {message}")
                result = data.get("result")
                if not isinstance(result, list):
                    self.client.metrics.call(service, "malformed")
                    raise CatalogueError(
                        f"{service}: the reply's result is {type(result).__name__}, not an array"
                    )
                return result
        except PortalError as error:
            raise CatalogueError(f"{service}: {error.detail}") from None
        raise CatalogueError(f"{service}: the portal refused a fresh session")
