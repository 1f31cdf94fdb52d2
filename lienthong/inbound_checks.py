"""The router's side of a configuration: which inbound messages the router checks itself."""

from __future__ import annotations

from lienthong.config import Settings
from router.publishing import EventChecks
from router.routing import InboundChecks
from schemas.registry import SchemaRegistry


def inbound_checks_of(settings: Settings, registry: SchemaRegistry) -> InboundChecks | None:
    """The checks the router makes of every inbound message, or None when it need make none."""
    # On Kafka agencies may produce straight into the inbound topic, so the router checks every
    # inbound message; on the embedded log only the HTTP API (which checked) writes it.
    if settings.transport.kafka is None:
        return None
    return InboundChecks(settings.directory, EventChecks(registry, settings.policy))
